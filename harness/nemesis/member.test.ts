import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Recorder } from '../run/recorder.ts';
import type { MemberChangeAnswer, MembershipControl, MembersView, MemberStatus, ProcessControl } from './controls.ts';
import { Nemesis } from './execute.ts';
import { MembershipChanger } from './membership.ts';
import {
  changesMembership,
  describeFault,
  initialMembersFor,
  parseNemesisKinds,
  parseSchedule,
  planSchedule,
  scheduleKinds,
  type MemberFault,
  type PlannedFault,
} from './plan.ts';

const five = ['n1', 'n2', 'n3', 'n4', 'n5'];

/** Replays the planned configuration: applies each member fault's start and stop in time order. */
function configurations(plan: readonly PlannedFault[], initial: readonly string[]): { at: number; voters: string[] }[] {
  const events: { at: number; apply: (voters: Set<string>) => void }[] = [];
  for (const { startMs, stopMs, fault } of plan) {
    if (fault.kind !== 'member') continue;
    if (fault.change === 'grow') {
      events.push({ at: startMs, apply: (v) => fault.add.forEach((id) => v.add(id)) });
      events.push({ at: stopMs, apply: (v) => fault.remove.forEach((id) => v.delete(id)) });
    } else if (fault.target.by === 'random') {
      const node = fault.target.node;
      events.push({ at: startMs, apply: (v) => v.delete(node) });
      events.push({ at: stopMs, apply: (v) => v.add(node) });
    }
  }
  const voters = new Set(initial);
  return events
    .sort((a, b) => a.at - b.at)
    .map((e) => {
      e.apply(voters);
      return { at: e.at, voters: [...voters].sort() };
    });
}

test('a membership run starts with three of its nodes; other runs with all of them', () => {
  assert.deepEqual(initialMembersFor(five, ['member', 'kill']), ['n1', 'n2', 'n3']);
  assert.deepEqual(initialMembersFor(five, ['config-overlap']), ['n1', 'n2', 'n3']);
  assert.deepEqual(initialMembersFor(['n1', 'n2', 'n3'], ['member']), ['n1', 'n2', 'n3']);
  assert.deepEqual(initialMembersFor(five, ['kill', 'partition']), five);
  assert.equal(changesMembership(parseNemesisKinds('all')), false, '`all` does not change membership');
  assert.deepEqual(parseNemesisKinds('member,kill'), ['member', 'kill']);
});

test('member faults are planned from one seed: the same seed the same changes, another seed others', () => {
  const options = {
    kinds: parseNemesisKinds('member,kill,partition'),
    nodes: five,
    initialMembers: ['n1', 'n2', 'n3'],
    intervalMs: 1000,
    durationMs: 60_000,
  };
  const a = planSchedule({ ...options, seed: 3 });
  assert.deepEqual(a, planSchedule({ ...options, seed: 3 }));
  assert.notDeepEqual(a, planSchedule({ ...options, seed: 4 }));
  assert.deepEqual(scheduleKinds(a).sort(), ['kill', 'member', 'partition']);
});

test('grow adds every non-member and shrinks back by as many; rejoin removes one member and adds it back', () => {
  const initial = ['n1', 'n2', 'n3'];
  const plan = planSchedule({
    kinds: ['member'],
    nodes: five,
    initialMembers: initial,
    intervalMs: 100,
    durationMs: 40_000,
    seed: 17,
  });
  const changes = plan.map((p) => p.fault as MemberFault);
  assert.ok(changes.some((f) => f.change === 'grow'));
  assert.ok(changes.some((f) => f.change === 'rejoin' && f.target.by === 'leader'));
  assert.ok(changes.some((f) => f.change === 'rejoin' && f.target.by === 'random'));
  assert.ok(changes.some((f) => f.data === 'fresh') && changes.some((f) => f.data === 'old'));
  let members = new Set(initial);
  for (const fault of changes) {
    if (fault.change === 'grow') {
      assert.deepEqual(
        fault.add,
        five.filter((id) => !members.has(id)),
        'grow adds exactly the non-members',
      );
      assert.equal(fault.remove.length, fault.add.length, 'and shrinks back to the size it started from');
      members = new Set([...members, ...fault.add].filter((id) => !fault.remove.includes(id)));
    } else if (fault.target.by === 'random') {
      assert.ok(members.has(fault.target.node), `${fault.target.node} is a member when it is removed`);
    }
  }
  // The configuration over time stays between 2 (a rejoin's removal from 3) and every node.
  for (const { voters } of configurations(plan, initial)) assert.ok(voters.length >= 2 && voters.length <= 5);
});

test('with every node a member already, the member nemesis only removes and adds back', () => {
  const plan = planSchedule({
    kinds: ['member'],
    nodes: ['n1', 'n2', 'n3'],
    intervalMs: 100,
    durationMs: 5000,
    seed: 2,
  });
  assert.ok(plan.length > 5);
  for (const { fault } of plan) assert.ok(fault.kind === 'member' && fault.change === 'rejoin');
});

test('other faults of a membership run hit the members they are planned to meet', () => {
  const initial = ['n1', 'n2', 'n3'];
  const plan = planSchedule({
    kinds: ['member', 'kill', 'partition'],
    nodes: five,
    initialMembers: initial,
    intervalMs: 100,
    durationMs: 30_000,
    seed: 8,
  });
  const timeline = configurations(plan, initial);
  const membersAt = (ms: number): string[] =>
    [...timeline].reverse().find((c) => c.at <= ms)?.voters ?? [...initial].sort();
  let checked = 0;
  for (const { startMs, fault } of plan) {
    const members = membersAt(startMs);
    if (fault.kind === 'kill' && fault.target.by !== 'leader') {
      for (const id of fault.target.nodes) assert.ok(members.includes(id), `kill ${id} at ${startMs}: not a member`);
      assert.ok(fault.target.nodes.length <= Math.floor((members.length - 1) / 2) || fault.target.nodes.length === 1);
      checked++;
    }
    if (fault.kind === 'partition' && fault.mode !== 'isolate-leader') {
      for (const [from, to] of fault.cut) assert.ok(members.includes(from) && members.includes(to));
      checked++;
    }
  }
  assert.ok(checked > 10, `checked ${checked} faults`);
});

test('with overlapping faults no two membership changes overlap', () => {
  const plan = planSchedule({
    kinds: ['member', 'kill', 'latency'],
    nodes: five,
    initialMembers: ['n1', 'n2', 'n3'],
    intervalMs: 1000,
    durationMs: 120_000,
    seed: 21,
    overlap: 3,
  });
  const changes = plan.filter((p) => p.fault.kind === 'member');
  assert.ok(changes.length >= 3);
  for (const [i, a] of changes.entries()) {
    for (const b of changes.slice(i + 1)) assert.ok(b.startMs >= a.stopMs || a.startMs >= b.stopMs);
  }
});

test('a replayed schedule with member faults is checked: unknown nodes and shapes are refused', () => {
  const ok = parseSchedule(
    [
      { startMs: 100, stopMs: 200, fault: { kind: 'member', change: 'rejoin', target: { by: 'leader' }, data: 'old' } },
      {
        startMs: 300,
        stopMs: 400,
        fault: { kind: 'member', change: 'grow', add: ['n4', 'n5'], remove: ['n1', 'n4'], data: 'fresh' },
      },
    ],
    five,
    1000,
  );
  assert.equal(ok.length, 2);
  assert.match(describeFault(ok[0]?.fault as MemberFault), /remove the leader, add it back \(old data\)/);
  assert.match(describeFault(ok[1]?.fault as MemberFault), /add n4,n5 \(fresh data\), then remove n1,n4/);
  const bad =
    (fault: unknown): (() => unknown) =>
    () =>
      parseSchedule([{ startMs: 1, stopMs: 2, fault }], five, 1000);
  assert.throws(bad({ kind: 'member', change: 'grow', add: ['n9'], remove: [], data: 'old' }), /unknown node "n9"/);
  assert.throws(bad({ kind: 'member', change: 'rejoin', target: { by: 'x' }, data: 'old' }), /random or leader/);
  assert.throws(bad({ kind: 'member', change: 'rejoin', target: { by: 'leader' }, data: 'new' }), /fresh or old/);
  assert.throws(bad({ kind: 'member', change: 'split', data: 'old' }), /rejoin or grow/);
});

/**
 * A cluster whose admin API commits every change at once (the leader is n1 unless removed, then the lowest member);
 * `busyFor` answers 409 to the first N requests (a change pending), `lost` loses the answer of the first request
 * although it takes effect.
 */
class FakeCluster implements ProcessControl, MembershipControl {
  readonly ids = five;
  readonly potential = five;
  readonly log: string[] = [];
  private voters = new Set(['n1', 'n2', 'n3']);
  private view: readonly string[] = ['n1', 'n2', 'n3'];
  private readonly running = new Set(five);
  private requests = 0;

  constructor(
    private readonly busyFor = 0,
    private readonly lost = false,
  ) {}

  private get leaderId(): string {
    return [...this.voters].sort()[0] as string;
  }

  private snapshot(): MembersView {
    return {
      leader: this.leaderId,
      term: 2,
      configIndex: 10,
      pending: false,
      members: [...this.voters].sort().map((id) => ({ id, url: `http://${id}`, role: 'voter' as const })),
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
  private answer(change: () => void): MemberChangeAnswer {
    this.requests++;
    if (this.requests <= this.busyFor) return { status: 409, body: { error: 'change-pending' } };
    change();
    if (this.lost && this.requests === this.busyFor + 1) return { status: 'unknown', error: 'timeout' };
    return { status: 200, body: this.snapshot() };
  }
  async requestAdd(via: string, id: string): Promise<MemberChangeAnswer> {
    this.log.push(`add ${id} via ${via}`);
    return this.answer(() => this.voters.add(id));
  }
  async requestRemove(via: string, id: string): Promise<MemberChangeAnswer> {
    this.log.push(`remove ${id} via ${via}`);
    if (!this.voters.has(id)) return { status: 404, body: { error: 'unknown-member' } };
    return this.answer(() => this.voters.delete(id));
  }
  async restartEmpty(id: string): Promise<void> {
    this.log.push(`empty ${id}`);
  }
  async leader(): Promise<string> {
    return this.leaderId;
  }
  async kill(id: string): Promise<void> {
    this.running.delete(id);
  }
  async restart(id: string): Promise<void> {
    this.log.push(`restart ${id}`);
    this.running.add(id);
  }
  pause(): void {}
  resume(): void {}
  isRunning(id: string): boolean {
    return this.running.has(id);
  }
  isPaused(): boolean {
    return false;
  }
  async status(): Promise<MemberStatus | undefined> {
    return undefined;
  }
}

function nemesisOn(cluster: FakeCluster): { nemesis: Nemesis; recorder: Recorder } {
  const recorder = new Recorder();
  const nemesis = new Nemesis({
    processes: cluster,
    membership: cluster,
    record: (e) => recorder.record(e),
    now: () => recorder.now(),
  });
  return { nemesis, recorder };
}

test('a rejoin of the leader removes it, stops sending clients to it, and adds it back from an empty data dir', async () => {
  const cluster = new FakeCluster();
  const { nemesis, recorder } = nemesisOn(cluster);
  const planned: PlannedFault = {
    index: 0,
    startMs: 0,
    stopMs: 1,
    fault: { kind: 'member', change: 'rejoin', target: { by: 'leader' }, data: 'fresh' },
  };
  const applied = await nemesis.start(planned);
  assert.deepEqual(applied.targets, ['n1']);
  assert.deepEqual(cluster.members(), ['n2', 'n3']);
  await nemesis.stop(applied);
  assert.deepEqual(cluster.members(), ['n1', 'n2', 'n3']);
  assert.deepEqual(cluster.log, ['remove n1 via n1', 'empty n1', 'add n1 via n2']);
  const events = recorder.events.filter((e) => e.process === 'nemesis').map((e) => e.f);
  assert.deepEqual(events, ['member-start', 'member-change', 'member-change', 'member-stop']);
  const stop = recorder.events.find((e) => e.f === 'member-stop') as { detail?: string };
  assert.match(stop.detail ?? '', /removed n1 via n1: n2,n3; added n1 via n2: n1,n2,n3$/);
});

test('grow adds every planned node (restarting a stopped one on its old data) and its stop removes the planned ones', async () => {
  const cluster = new FakeCluster();
  await cluster.kill('n5');
  const { nemesis } = nemesisOn(cluster);
  const planned: PlannedFault = {
    index: 3,
    startMs: 0,
    stopMs: 1,
    fault: { kind: 'member', change: 'grow', add: ['n4', 'n5'], remove: ['n1', 'n4'], data: 'old' },
  };
  const applied = await nemesis.start(planned);
  assert.deepEqual(cluster.members(), five);
  await nemesis.stop(applied);
  assert.deepEqual(cluster.members(), ['n2', 'n3', 'n5']);
  assert.deepEqual(cluster.log, [
    'add n4 via n1',
    'restart n5',
    'add n5 via n1',
    'remove n1 via n1',
    'remove n4 via n2',
  ]);
});

test('a change refused while another is pending is asked again; a lost answer is settled by the configuration', async () => {
  const busy = new FakeCluster(2);
  const first = nemesisOn(busy);
  const rejoin: PlannedFault = {
    index: 0,
    startMs: 0,
    stopMs: 1,
    fault: { kind: 'member', change: 'rejoin', target: { by: 'random', node: 'n3' }, data: 'old' },
  };
  await first.nemesis.start(rejoin);
  assert.deepEqual(busy.members(), ['n1', 'n2']);
  assert.deepEqual(busy.log, ['remove n3 via n1', 'remove n3 via n1', 'remove n3 via n1']);

  const lossy = new FakeCluster(0, true);
  const second = nemesisOn(lossy);
  const applied = await second.nemesis.start(rejoin);
  assert.deepEqual(lossy.members(), ['n1', 'n2'], 'the removal took effect although its answer was lost');
  const change = second.recorder.events.find((e) => e.f === 'member-change') as { value: { ok: boolean } };
  assert.equal(change.value.ok, true);
  await second.nemesis.stop(applied);
  assert.deepEqual(lossy.members(), ['n1', 'n2', 'n3']);
});

test('the final heal settles the harness view on the configuration the cluster reports', async () => {
  const cluster = new FakeCluster();
  cluster.setMembers(['n1']);
  const { nemesis, recorder } = nemesisOn(cluster);
  await nemesis.healAll();
  assert.deepEqual(cluster.members(), ['n1', 'n2', 'n3']);
  const view = recorder.events.find((e) => e.f === 'member-view') as { value: unknown; detail?: string };
  assert.deepEqual(view.value, ['n1', 'n2', 'n3']);
  assert.equal(view.detail, 'n1,n2,n3');
});

test('a learner the leader never promotes is removed and added again', async () => {
  // n4 sits in the configuration as a learner nobody promotes: every add answers 409 duplicate until it is removed.
  const members = new Map<string, 'voter' | 'learner'>([
    ['n1', 'voter'],
    ['n2', 'voter'],
    ['n3', 'voter'],
    ['n4', 'learner'],
  ]);
  let view: readonly string[] = ['n1', 'n2', 'n3'];
  const log: string[] = [];
  const snapshot = (): MembersView => ({
    leader: 'n1',
    term: 3,
    configIndex: 9,
    pending: false,
    members: [...members].map(([id, role]) => ({ id, url: id, role })),
  });
  const control: MembershipControl = {
    potential: five,
    members: () => view,
    setMembers: (ids) => {
      view = [...ids];
    },
    configuration: async () => snapshot(),
    requestAdd: async (_via, id) => {
      log.push(`add ${id}`);
      if (members.has(id)) return { status: 409, body: { error: 'duplicate' } };
      members.set(id, 'voter');
      return { status: 200, body: snapshot() };
    },
    requestRemove: async (_via, id) => {
      log.push(`remove ${id}`);
      members.delete(id);
      return { status: 200, body: snapshot() };
    },
    restartEmpty: async () => {},
  };
  const changer = new MembershipChanger(control, { leader: async () => 'n1', isRunning: () => true });
  const result = await changer.add('n4', 20_000);
  assert.equal(result.ok, true, result.detail);
  assert.deepEqual(view, ['n1', 'n2', 'n3', 'n4']);
  assert.equal(log.filter((l) => l === 'remove n4').length, 1, log.join(', '));
  assert.equal(log.at(-1), 'add n4');
});
