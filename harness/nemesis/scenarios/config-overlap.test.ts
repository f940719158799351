import { test } from 'node:test';
import assert from 'node:assert/strict';
import type {
  MemberChangeAnswer,
  MembershipControl,
  MembersView,
  MemberStatus,
  NetworkControl,
  ProcessControl,
} from '../controls.ts';
import type { Link } from '../plan.ts';
import { createScenarioContext } from './context.ts';
import { configOverlapScenario, type ConfigOverlapTimings } from './config-overlap.ts';

const FAST: ConfigOverlapTimings = {
  changeWithinMs: 300,
  settleWaitMs: 300,
  electionWaitMs: 300,
  divergenceMs: 5,
  retryMs: 5,
};

/**
 * Five nodes, voters n1..n3 led by n1, at the level the script watches (GET /members, /status). Ordinary changes
 * commit at once. While n1 is cut from its followers, they elect n2 in a later term; `overlapping` is the planted
 * bug: n1 then takes a second change before the first commits and commits both with the new members' votes. The
 * correct n1 keeps the first as an uncommitted learner and refuses the second (409).
 */
class Puppet implements ProcessControl, MembershipControl {
  readonly ids = ['n1', 'n2', 'n3', 'n4', 'n5'];
  readonly potential = this.ids;
  readonly actions: string[] = [];
  private voters = new Set(['n1', 'n2', 'n3']);
  private learners = new Set<string>();
  private pending = false;
  private view: readonly string[] = ['n1', 'n2', 'n3'];
  private readonly cut = new Set<string>();
  private rival: string | undefined;

  constructor(private readonly overlapping: boolean) {}

  private get isolated(): boolean {
    return this.cut.has('n1>n2') && this.cut.has('n1>n3');
  }

  private snapshot(): MembersView {
    return {
      leader: 'n1',
      term: 2,
      configIndex: 7,
      pending: this.pending,
      members: [
        ...[...this.voters].map((id) => ({ id, url: id, role: 'voter' as const })),
        ...[...this.learners].map((id) => ({ id, url: id, role: 'learner' as const })),
      ],
    };
  }

  network(): NetworkControl {
    const noop = async (): Promise<void> => {};
    return {
      cut: async (links: readonly Link[]) => {
        for (const [a, b] of links) this.cut.add(`${a}>${b}`);
        this.actions.push(`cut ${links.length}`);
        if (this.isolated) this.rival = 'n2';
      },
      heal: async (links: readonly Link[]) => {
        for (const [a, b] of links) this.cut.delete(`${a}>${b}`);
        this.actions.push(`heal ${links.length}`);
      },
      latency: noop,
      removeLatency: noop,
      blackhole: noop,
      removeBlackhole: noop,
      bandwidth: noop,
      removeBandwidth: noop,
      holdClientRequests: noop,
      releaseClientRequests: noop,
      healAll: noop,
    };
  }

  members(): readonly string[] {
    return this.view;
  }
  setMembers(ids: readonly string[]): void {
    this.view = [...ids];
  }
  async configuration(): Promise<MembersView> {
    return this.snapshot();
  }
  async requestAdd(via: string, id: string): Promise<MemberChangeAnswer> {
    this.actions.push(`add ${id} via ${via}${this.isolated ? ' (isolated)' : ''}`);
    if (!this.isolated) {
      this.voters.add(id);
      return { status: 200, body: this.snapshot() };
    }
    if (this.overlapping) {
      // Both changes go in before either commits; with n4 and n5 voting, {n1, n4, n5} is a majority of five.
      this.voters.add(id);
      this.pending = this.voters.size < 5;
      return { status: 200, body: this.snapshot() };
    }
    if (this.pending) return { status: 409, body: { error: 'change-pending' } };
    this.learners.add(id);
    this.pending = true;
    return { status: 202, body: { status: 'catching-up', poll: '/members' } };
  }
  async requestRemove(via: string, id: string): Promise<MemberChangeAnswer> {
    this.actions.push(`remove ${id} via ${via}`);
    this.voters.delete(id);
    return { status: 200, body: this.snapshot() };
  }
  async restartEmpty(id: string): Promise<void> {
    this.actions.push(`empty ${id}`);
  }
  async leader(): Promise<string> {
    return 'n1';
  }
  async kill(): Promise<void> {}
  async restart(): Promise<void> {}
  pause(): void {}
  resume(): void {}
  isRunning(): boolean {
    return true;
  }
  isPaused(): boolean {
    return false;
  }
  async status(id: string): Promise<MemberStatus | undefined> {
    if (this.rival !== undefined && (id === 'n2' || id === 'n3')) {
      return {
        id,
        role: id === this.rival ? 'leader' : 'follower',
        term: 3,
        leader: this.rival,
        commitIndex: 9,
        appliedIndex: 9,
      };
    }
    return { id, role: id === 'n1' ? 'leader' : 'follower', term: 2, leader: 'n1', commitIndex: 7, appliedIndex: 7 };
  }
}

async function run(
  overlapping: boolean,
): Promise<{ outcome: { reached: boolean; detail: string }; puppet: Puppet; steps: unknown[] }> {
  const puppet = new Puppet(overlapping);
  const steps: unknown[] = [];
  const { context } = createScenarioContext({
    name: 'config-overlap',
    processes: puppet,
    network: puppet.network(),
    record: (e) => {
      steps.push(e.value);
      return { ...e, time: 0 };
    },
    seed: 1,
    faultIndex: 0,
    signal: new AbortController().signal,
    pollMs: 1,
    membership: {
      control: puppet,
      add: async (id) => ({ ok: (await puppet.requestAdd('n1', id)).status === 200, detail: `added ${id}` }),
      remove: async (id) => ({ ok: (await puppet.requestRemove('n1', id)).status === 200, detail: `removed ${id}` }),
      refresh: async () => {
        const view = await puppet.configuration();
        if (!view.pending) puppet.setMembers(view.members.filter((m) => m.role === 'voter').map((m) => m.id));
        return view;
      },
    },
  });
  const outcome = await configOverlapScenario(FAST)(context);
  return { outcome, puppet, steps };
}

test('config-overlap: a leader that takes a second change while cut off commits five voters; the script says reached', async () => {
  const { outcome, puppet, steps } = await run(true);
  assert.equal(outcome.reached, true, outcome.detail);
  assert.match(outcome.detail, /n1 committed n\d and n\d as voters with their acknowledgements while n2 led term 3/);
  const joiners = puppet.actions.filter((a) => a.startsWith('add')).map((a) => a.split(' ')[1]);
  // Prepared: both joiners added and removed by ordinary changes, then asked for again while n1 is isolated.
  assert.deepEqual(puppet.actions.slice(0, 4), [
    `add ${joiners[0]} via n1`,
    `add ${joiners[1]} via n1`,
    `remove ${joiners[0]} via n1`,
    `remove ${joiners[1]} via n1`,
  ]);
  assert.ok(puppet.actions.includes(`add ${joiners[0]} via n1 (isolated)`));
  assert.ok(puppet.actions.includes(`add ${joiners[1]} via n1 (isolated)`));
  assert.ok(steps.includes('two majorities'));
  assert.equal(puppet.actions.at(-1), 'heal 12', 'every cut link between the sides healed');
});

test('config-overlap: a correct leader refuses the second change; the script gives up and heals', async () => {
  const { outcome, puppet, steps } = await run(false);
  assert.equal(outcome.reached, false);
  assert.match(outcome.detail, /did not commit n\d and n\d while cut off/);
  assert.ok(steps.includes('gave up'));
  assert.ok(steps.includes('asked to add the second'));
  assert.equal(puppet.actions.at(-1), 'heal 12');
});
