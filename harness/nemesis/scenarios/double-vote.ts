/**
 * The double-vote scenario: builds the one state in which a voter that forgot
 * its vote (the planted `vote-twice` bug) elects two leaders in one term, using
 * only kills, pauses, per-link cuts (blackholes) and latency.
 *
 * Election Safety (Raft §5.2, Figure 3) rests on every vote being durable
 * before it is answered (Figure 2, "Persistent state on all servers"): a
 * voter that restarts must remember whom it voted for in its current term.
 * To catch a node that forgets, a 3-node cluster is steered so that:
 *
 * 1. the voter V grants candidate A its vote in term T while V's reply to A
 *    is still on the wire (latency on the link V->A), and A is frozen
 *    (SIGSTOP) before the reply arrives, so A is not yet leader and has not
 *    appended its §8 no-op (which would make V's log more up to date than
 *    any other candidate's, §5.4.1);
 * 2. V is killed and restarted: it is in term T and, with the bug, has no
 *    vote;
 * 3. the third node B, the old leader of term T-1, cut off from A so it
 *    never heard of term T, is restarted and campaigns: its pre-vote (thesis
 *    §9.6) asks for term T, V knows no leader and has no vote, B's log is as
 *    long as V's (client requests are held during the maneuver), so V grants
 *    the pre-vote and then the vote: B is leader of term T;
 * 4. A is resumed, reads V's old vote and is leader of term T as well.
 *
 * Then client requests are released while A and B stay cut from each other:
 * V acknowledges the appends of both leaders (same term, same indexes: the
 * Log Matching check cannot tell them apart, §5.3), so each commits its own
 * writes, and clients see two diverged histories. A correct node refuses B
 * in step 3 (its vote for A survived the restart), B never leads term T, and
 * the script gives up cleanly (`reached: false`).
 *
 * Pauses keep the timers of a node from running (its ticks are timer
 * callbacks), so they also keep V and B from campaigning at the wrong moment:
 * V waits paused, with a request from the right candidate queued in its
 * socket, until that candidate has asked; when it resumes, it answers the
 * queued request before its own election timeout can fire.
 */
import type { MemberStatus } from '../controls.ts';
import type { Link } from '../plan.ts';
import type { Scenario, ScenarioContext, ScenarioOutcome } from './context.ts';

/** The waits and delays of the script (ms); tests shorten them. */
export interface DoubleVoteTimings {
  /**
   * Delay on the link V->A: V's grants reach A this late, which gives the
   * script time to see V's vote and freeze A before the grant arrives.
   * Shorter than an election timeout (1 s by default), so A, a candidate,
   * does not start a new election meanwhile.
   */
  readonly voteReplyDelayMs: number;
  /** How long the two leaders of one term serve clients, cut from each other, before the links heal. */
  readonly divergenceMs: number;
  /** Bound of each wait for an election step: a few election timeouts, also on a loaded machine. */
  readonly electionWaitMs: number;
  /** Bound of the wait for the logs to settle after client requests are held. */
  readonly settleWaitMs: number;
}

/** The timings `--nemesis double-vote` runs with (node defaults: 1 s election timeout, 100 ms heartbeat). */
export const DOUBLE_VOTE_TIMINGS: DoubleVoteTimings = {
  voteReplyDelayMs: 600,
  divergenceMs: 4_000,
  electionWaitMs: 6_000,
  settleWaitMs: 6_000,
};

/** The cluster at rest: one leader, every log equal and committed. */
interface Settled {
  readonly leader: string;
  readonly term: number;
  readonly lastIndex: number;
}

/** What the script changed, so it can undo it on every path out. */
class Undo {
  readonly paused = new Set<string>();
  readonly killed = new Set<string>();
  readonly cut: Link[] = [];
  readonly delayed: Link[] = [];
  holding = false;

  constructor(private readonly ctx: ScenarioContext) {}

  pause(id: string): void {
    this.ctx.pause(id);
    this.paused.add(id);
  }

  resume(id: string): void {
    this.ctx.resume(id);
    this.paused.delete(id);
  }

  async kill(id: string): Promise<void> {
    this.killed.add(id);
    await this.ctx.kill(id);
  }

  async restart(id: string): Promise<void> {
    await this.ctx.restart(id);
    this.killed.delete(id);
  }

  /**
   * Cuts with a blackhole, not by disabling the proxies: the links stay down for seconds, and a disabled proxy's port
   * is free for another process on the machine to take, after which the heal cannot enable it again.
   */
  async cutLinks(links: readonly Link[]): Promise<void> {
    this.cut.push(...links);
    await this.ctx.blackhole(links);
  }

  async healLinks(links: readonly Link[]): Promise<void> {
    await this.ctx.removeBlackhole(links);
    for (const [from, to] of links) {
      const at = this.cut.findIndex(([a, b]) => a === from && b === to);
      if (at >= 0) this.cut.splice(at, 1);
    }
  }

  async delay(links: readonly Link[], delayMs: number): Promise<void> {
    this.delayed.push(...links);
    await this.ctx.latency(links, delayMs);
  }

  async undelay(links: readonly Link[]): Promise<void> {
    await this.ctx.removeLatency(links);
    this.delayed.splice(
      0,
      this.delayed.length,
      ...this.delayed.filter(([a, b]) => !links.some(([x, y]) => x === a && y === b)),
    );
  }

  async hold(): Promise<void> {
    this.holding = true;
    await this.ctx.holdClientRequests();
  }

  async release(): Promise<void> {
    await this.ctx.releaseClientRequests();
    this.holding = false;
  }

  /**
   * Puts the cluster back together: nodes resumed and restarted, links and
   * client requests released. After an abort only the quick part runs: the
   * nemesis' stop restarts and heals the rest.
   */
  async all(): Promise<void> {
    for (const id of [...this.paused]) this.resume(id);
    if (this.ctx.signal.aborted) return;
    for (const id of [...this.killed]) await this.restart(id);
    if (this.delayed.length > 0) await this.undelay([...this.delayed]);
    if (this.cut.length > 0) await this.healLinks([...this.cut]);
    if (this.holding) await this.release();
  }
}

/** The double-vote scenario (see the file comment) with the given timings. */
export function doubleVoteScenario(timings: DoubleVoteTimings = DOUBLE_VOTE_TIMINGS): Scenario {
  return async (ctx) => {
    if (ctx.ids.length !== 3)
      return { reached: false, detail: `needs exactly 3 nodes, the cluster has ${ctx.ids.length}` };
    const undo = new Undo(ctx);
    try {
      return await steer(ctx, undo, timings);
    } finally {
      await undo.all();
    }
  };
}

/** The double-vote scenario (see the file comment). */
export const doubleVote: Scenario = doubleVoteScenario();

async function steer(ctx: ScenarioContext, undo: Undo, timings: DoubleVoteTimings): Promise<ScenarioOutcome> {
  const { voteReplyDelayMs, divergenceMs, electionWaitMs, settleWaitMs } = timings;
  // Frozen logs: every candidate below is exactly as up to date as V (§5.4.1).
  await undo.hold();
  const settled = await ctx.waitFor('one leader, equal committed logs', () => settledCluster(ctx), settleWaitMs);
  if (settled === undefined) return gaveUp(ctx, 'the cluster did not settle on one leader with equal logs');
  const b = settled.leader;
  const [a, v] = ctx.random.shuffle(ctx.ids.filter((id) => id !== b)) as [string, string];
  const term = settled.term + 1;
  ctx.note('roles', {
    candidate: a,
    voter: v,
    oldLeader: b,
    oldTerm: settled.term,
    term,
    lastIndex: settled.lastIndex,
  });

  // V comes back knowing no leader, so it will grant A's pre-vote (no leader
  // stickiness, thesis §9.6), with a fresh election timer, and is frozen at
  // once: a paused node's timer does not run, so V cannot poll before it has
  // answered A. (Waiting for V to time out instead leaves its next poll at an
  // unknown point: one that fires as V resumes goes out before its grant and
  // splits the vote.) B->V stays cut so V never hears B again.
  await undo.cutLinks([[b, v]]);
  await undo.kill(v);
  await undo.restart(v);
  undo.pause(v);
  // B leaves for good, and A never reaches it, so B stays in the old term.
  await undo.cutLinks([
    [a, b],
    [b, a],
  ]);
  await undo.kill(b);
  ctx.note('voter paused, old leader killed', { voter: v, oldLeader: b });
  const aPolling = await ctx.waitFor(
    'candidate polling',
    () => inRole(ctx, a, 'pre-candidate', settled.term),
    electionWaitMs,
  );
  if (aPolling === undefined) return gaveUp(ctx, `${a} did not start polling`);

  // V answers A's queued pre-vote; every later message of V to A (grants, and
  // V's own pre-votes behind them) arrives voteReplyDelayMs late, in order.
  await undo.delay([[v, a]], voteReplyDelayMs);
  undo.resume(v);
  const voted = await ctx.waitFor('voter grants the candidate', () => votedFor(ctx, v, a, term), electionWaitMs);
  if (voted === undefined) return gaveUp(ctx, `${v} did not vote for ${a} in term ${term}`);
  // A is a candidate and V's grant is on the wire: freeze A before it arrives.
  undo.pause(a);
  ctx.note('vote granted, candidate paused', { voter: v, candidate: a, term });
  // The grant leaves V after V's vote is durable; give it time to enter the
  // proxy, then let it through into the paused A's socket.
  await ctx.sleep(voteReplyDelayMs);
  await undo.undelay([[v, a]]);

  // The restart is what a buggy V forgets its vote in. Paused again at once,
  // V cannot campaign before B has asked it.
  await undo.kill(v);
  await undo.restart(v);
  const restarted = await ctx.status(v);
  undo.pause(v);
  ctx.note('voter restarted', { voter: v, term: restarted?.term, vote: restarted?.vote ?? null });
  await undo.healLinks([[b, v]]);
  await undo.restart(b);
  const bPolling = await ctx.waitFor(
    'old leader polling',
    () => inRole(ctx, b, 'pre-candidate', settled.term),
    electionWaitMs,
  );
  if (bPolling === undefined) return gaveUp(ctx, `${b} did not start polling after its restart`);
  undo.resume(v);
  const bLeads = await ctx.waitFor('second leader of the term', () => leaderOf(ctx, b, term), electionWaitMs / 2);
  if (bLeads === undefined) return gaveUp(ctx, `${v} did not vote again in term ${term}: ${b} did not become leader`);
  ctx.note('second leader', { leader: b, term });

  // A reads V's old grant and leads term T too.
  undo.resume(a);
  const both = await ctx.waitFor('two leaders in one term', () => twoLeaders(ctx, a, b, term), electionWaitMs / 2);
  if (both === undefined) return gaveUp(ctx, `${a} did not become leader of term ${term} beside ${b}`);
  ctx.note('two leaders', { leaders: [a, b], term });

  // Each leader commits its own clients' writes with V's acknowledgements.
  await undo.release();
  await ctx.sleep(divergenceMs);
  await undo.healLinks([
    [a, b],
    [b, a],
  ]);
  return { reached: true, detail: `${a} and ${b} both led term ${term}: ${v} voted for each` };
}

function gaveUp(ctx: ScenarioContext, detail: string): ScenarioOutcome {
  ctx.note('gave up', { reason: detail });
  return { reached: false, detail };
}

/** One leader, all nodes in its term, every log ending at the same committed entry. */
async function settledCluster(ctx: ScenarioContext): Promise<Settled | undefined> {
  const statuses = await ctx.statuses();
  if (statuses.size !== ctx.ids.length) return undefined;
  const all = [...statuses.values()];
  const leaders = all.filter((s) => s.role === 'leader');
  const leader = leaders[0];
  if (leaders.length !== 1 || leader === undefined || leader.lastIndex === undefined) return undefined;
  const same = (s: MemberStatus): boolean =>
    s.term === leader.term &&
    s.lastIndex === leader.lastIndex &&
    s.lastTerm === leader.lastTerm &&
    s.commitIndex === leader.lastIndex;
  if (!all.every(same)) return undefined;
  return { leader: leader.id, term: leader.term, lastIndex: leader.lastIndex };
}

async function inRole(ctx: ScenarioContext, id: string, role: string, term: number): Promise<true | undefined> {
  const s = await ctx.status(id);
  return s !== undefined && s.role === role && s.term === term ? true : undefined;
}

async function votedFor(
  ctx: ScenarioContext,
  voter: string,
  candidate: string,
  term: number,
): Promise<true | undefined> {
  const s = await ctx.status(voter);
  return s !== undefined && s.term === term && s.vote === candidate ? true : undefined;
}

async function leaderOf(ctx: ScenarioContext, id: string, term: number): Promise<true | undefined> {
  const s = await ctx.status(id);
  return s !== undefined && s.role === 'leader' && s.term === term ? true : undefined;
}

async function twoLeaders(ctx: ScenarioContext, a: string, b: string, term: number): Promise<true | undefined> {
  const [sa, sb] = await Promise.all([ctx.status(a), ctx.status(b)]);
  const leads = (s: MemberStatus | undefined): boolean => s !== undefined && s.role === 'leader' && s.term === term;
  return leads(sa) && leads(sb) ? true : undefined;
}
