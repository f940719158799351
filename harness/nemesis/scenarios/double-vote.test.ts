import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MemberStatus as NodeStatus } from '../controls.ts';
import type { Link } from '../plan.ts';
import { createScenarioContext } from './context.ts';
import { doubleVoteScenario, type DoubleVoteTimings } from './double-vote.ts';

const FAST: DoubleVoteTimings = { voteReplyDelayMs: 5, divergenceMs: 5, electionWaitMs: 400, settleWaitMs: 200 };

interface PuppetNode {
  role: string;
  term: number;
  leader: string | null;
  vote: string | null;
  alive: boolean;
  paused: boolean;
}

/**
 * A 3-node cluster that reacts to the script's faults the way the real one
 * does (node/raft/raw-node.ts: PreVote with leader stickiness, votes, §8
 * no-op) at the level of the statuses the script watches. `forgetsVote` is
 * the planted bug: a restarted node comes back without its vote.
 */
class Puppet {
  readonly actions: string[] = [];
  readonly nodes = new Map<string, PuppetNode>();
  readonly cut = new Set<string>();
  readonly delayed = new Set<string>();
  holding = false;
  /** V's grant to A: on the wire (delayed), in A's socket (A paused), or nowhere. */
  private grant: 'none' | 'on-the-wire' | 'in-socket' = 'none';
  private readonly oldLeader = 'n1';

  constructor(
    private readonly forgetsVote: boolean,
    twoLeadersAtStart = false,
  ) {
    for (const id of ['n1', 'n2', 'n3']) {
      const leads = id === this.oldLeader || (twoLeadersAtStart && id === 'n2');
      this.nodes.set(id, {
        role: leads ? 'leader' : 'follower',
        term: 1,
        leader: leads ? id : this.oldLeader,
        vote: null,
        alive: true,
        paused: false,
      });
    }
  }

  private node(id: string): PuppetNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  private up(id: string): boolean {
    const n = this.node(id);
    return n.alive && !n.paused;
  }

  /** The voter: the first node the old leader is cut from; the candidate is the other follower. */
  private voter: string | undefined;

  cutLinks(links: readonly string[]): void {
    for (const link of links) {
      this.cut.add(link);
      if (this.voter === undefined && link.startsWith(`${this.oldLeader}>`))
        this.voter = link.slice(this.oldLeader.length + 1);
    }
  }

  private roles(): { v: string; a: string } | undefined {
    const v = this.voter;
    if (v === undefined) return undefined;
    return { v, a: v === 'n2' ? 'n3' : 'n2' };
  }

  /** Advances elections as far as the current faults let them go. */
  private react(): void {
    const roles = this.roles();
    if (roles === undefined) return;
    const { v, a } = roles;
    const b = this.oldLeader;
    const nv = this.node(v);
    const na = this.node(a);
    const nb = this.node(b);
    // V no longer hears B: it polls, in vain while A and B hear a leader.
    if (this.up(v) && nv.term === 1 && nv.role === 'follower' && nv.leader === b)
      Object.assign(nv, { role: 'pre-candidate', leader: null });
    // A no longer hears B once B is dead or cut from it.
    if (this.up(a) && na.role === 'follower' && na.term === 1 && (!nb.alive || this.cut.has(`${b}>${a}`)))
      Object.assign(na, { role: 'pre-candidate', leader: null });
    // A polls V; V, not knowing a leader, grants the pre-vote and then the vote.
    if (this.up(a) && this.up(v) && na.role === 'pre-candidate' && nv.term === 1 && nv.leader === null) {
      Object.assign(na, { role: 'candidate', term: 2, vote: a });
      Object.assign(nv, { role: 'follower', term: 2, vote: a, leader: null });
      this.grant = this.delayed.has(`${v}>${a}`) ? 'on-the-wire' : 'none';
      if (this.grant === 'none') Object.assign(na, { role: 'leader', leader: a });
    }
    // The grant is delivered when A is running (it leads) or waits in its socket.
    if (this.grant === 'on-the-wire' && !this.delayed.has(`${v}>${a}`)) {
      this.grant = na.paused ? 'in-socket' : 'none';
      if (!na.paused && na.role === 'candidate') Object.assign(na, { role: 'leader', leader: a });
    }
    if (this.grant === 'in-socket' && this.up(a)) {
      this.grant = 'none';
      if (na.role === 'candidate') Object.assign(na, { role: 'leader', leader: a });
    }
    // The restarted B polls; V grants it only without a vote in term 2.
    if (this.up(b) && nb.term === 1 && nb.role === 'follower' && nb.leader === null) nb.role = 'pre-candidate';
    if (
      this.up(b) &&
      this.up(v) &&
      nb.role === 'pre-candidate' &&
      !this.cut.has(`${b}>${v}`) &&
      nv.term === 2 &&
      nv.vote === null
    ) {
      Object.assign(nb, { role: 'leader', term: 2, vote: b, leader: b });
      Object.assign(nv, { vote: b, leader: b });
    }
  }

  status(id: string): NodeStatus | undefined {
    this.react();
    const n = this.node(id);
    if (!this.up(id)) return undefined;
    return {
      id,
      role: n.role,
      term: n.term,
      leader: n.leader,
      vote: n.vote,
      commitIndex: 9,
      appliedIndex: 9,
      lastIndex: 9,
      lastTerm: 1,
    };
  }

  restart(id: string): void {
    const n = this.node(id);
    Object.assign(n, {
      alive: true,
      paused: false,
      role: 'follower',
      leader: null,
      vote: this.forgetsVote ? null : n.vote,
    });
  }
}

function run(puppet: Puppet): ReturnType<ReturnType<typeof doubleVoteScenario>> {
  const links = (list: readonly Link[]): string[] => list.map(([from, to]) => `${from}>${to}`);
  const log = (text: string): void => void puppet.actions.push(text);
  const { context } = createScenarioContext({
    name: 'double-vote',
    processes: {
      ids: ['n1', 'n2', 'n3'],
      leader: async () => 'n1',
      kill: async (id) => (log(`kill ${id}`), void (puppet.nodes.get(id)!.alive = false)),
      restart: async (id) => (log(`restart ${id}`), puppet.restart(id)),
      pause: (id) => (log(`pause ${id}`), void (puppet.nodes.get(id)!.paused = true)),
      resume: (id) => (log(`resume ${id}`), void (puppet.nodes.get(id)!.paused = false)),
      status: async (id) => puppet.status(id),
      isRunning: (id) => puppet.nodes.get(id)?.alive === true,
      isPaused: (id) => puppet.nodes.get(id)?.paused === true,
    },
    network: {
      // A disabled proxy frees its port for seconds (another run on the machine can take it): the script must not.
      cut: async () => assert.fail('the script cuts links with a blackhole, which keeps the proxy and its port'),
      heal: async () => assert.fail('the script cuts links with a blackhole, which keeps the proxy and its port'),
      latency: async (list) => (
        log(`latency ${links(list).join(' ')}`), links(list).forEach((l) => puppet.delayed.add(l))
      ),
      removeBandwidth: async () => {},
      removeLatency: async (list) => (
        log(`remove-latency ${links(list).join(' ')}`), links(list).forEach((l) => puppet.delayed.delete(l))
      ),
      blackhole: async (list) => (log(`cut ${links(list).join(' ')}`), puppet.cutLinks(links(list))),
      removeBlackhole: async (list) => (
        log(`heal ${links(list).join(' ')}`), links(list).forEach((l) => puppet.cut.delete(l))
      ),
      bandwidth: async () => assert.fail('not used'),
      healAll: async () => assert.fail('the script heals what it did itself'),
      holdClientRequests: async () => (log('hold'), void (puppet.holding = true)),
      releaseClientRequests: async () => (log('release'), void (puppet.holding = false)),
    },
    record: (event) => ({ ...event, time: 0 }),
    seed: 7,
    faultIndex: 0,
    signal: new AbortController().signal,
    pollMs: 1,
  });
  return doubleVoteScenario(FAST)(context);
}

/** Nothing the script did outlives it: nodes up, links healed, latency gone, clients released. */
function assertUndone(puppet: Puppet): void {
  for (const [id, n] of puppet.nodes) assert.ok(n.alive && !n.paused, `${id} left ${n.alive ? 'paused' : 'killed'}`);
  assert.deepEqual([...puppet.cut], [], 'links left cut');
  assert.deepEqual([...puppet.delayed], [], 'latency left on links');
  assert.equal(puppet.holding, false, 'client requests left held');
}

function indexOf(actions: readonly string[], action: string): number {
  const at = actions.indexOf(action);
  assert.ok(at >= 0, `expected "${action}" in ${JSON.stringify(actions)}`);
  return at;
}

test('a voter that forgets its vote elects two leaders in one term, and the script undoes its faults', async () => {
  const puppet = new Puppet(true);
  const outcome = await run(puppet);
  assert.equal(outcome.reached, true, `${outcome.detail}; actions ${JSON.stringify(puppet.actions)}`);
  assert.match(outcome.detail, /both led term 2/);
  const { actions } = puppet;
  const v = actions.includes('cut n1>n2') ? 'n2' : 'n3';
  const a = v === 'n2' ? 'n3' : 'n2';
  // The orderings the real cluster needs (see the file comment of double-vote.ts).
  assert.ok(
    indexOf(actions, `restart ${v}`) < indexOf(actions, `pause ${v}`),
    'V restarts (no leader, a fresh timer), then is frozen',
  );
  assert.ok(
    indexOf(actions, `pause ${v}`) < indexOf(actions, 'kill n1'),
    'V is frozen before the old leader dies, or V would poll on its own',
  );
  assert.ok(
    indexOf(actions, `latency ${v}>${a}`) < indexOf(actions, `resume ${v}`),
    'the grant must be delayed before V can send it',
  );
  assert.ok(
    indexOf(actions, `pause ${a}`) < indexOf(actions, `remove-latency ${v}>${a}`),
    'A is frozen before the grant reaches it',
  );
  assert.ok(indexOf(actions, `resume ${a}`) > indexOf(actions, 'restart n1'), 'A leads only after B led the same term');
  assert.ok(indexOf(actions, 'release') > indexOf(actions, `resume ${a}`), 'clients wait until both lead');
  assert.ok(indexOf(actions, `cut ${a}>n1 n1>${a}`) < indexOf(actions, 'kill n1'), 'A never reaches B');
  assertUndone(puppet);
});

test('a correct voter refuses the second candidate: not reached, every fault undone', async () => {
  const puppet = new Puppet(false);
  const outcome = await run(puppet);
  assert.equal(outcome.reached, false);
  assert.match(outcome.detail, /did not vote again in term 2/);
  const leaders = ['n1', 'n2', 'n3'].map((id) => puppet.status(id)).filter((s) => s?.role === 'leader' && s.term === 2);
  assert.equal(leaders.length, 1, 'once resumed, A alone leads term 2');
  assertUndone(puppet);
});

test('a cluster that does not settle on one leader: gives up before any fault but the client hold', async () => {
  const puppet = new Puppet(true, true);
  const outcome = await run(puppet);
  assert.equal(outcome.reached, false);
  assert.match(outcome.detail, /did not settle/);
  assert.deepEqual(puppet.actions, ['hold', 'release']);
  assertUndone(puppet);
});
