/**
 * The config-overlap scenario: builds the state in which a leader that starts a second membership change before the
 * first has committed (the planted `config-overlap` bug) lets two disjoint majorities commit, using only per-link
 * cuts and membership requests.
 *
 * Single-server changes are safe because any majority of the old configuration and any majority of the new one
 * share a server (thesis §4.1), which holds only for configurations one server apart; so a leader may start a change
 * only once the previous one has committed. Two changes in a row, adding X and then Y to {L, F1, F2}, reach
 * {L, F1, F2, X, Y}, whose majority {L, X, Y} shares nobody with the old configuration's majority {F1, F2}. A server
 * uses the newest configuration in its log, committed or not, so the script:
 *
 * 1. makes X and Y recently removed members: each is added and removed again by ordinary, committed changes (so
 *    each has almost the whole log and catches up in a moment when added again), while the configuration returns
 *    to three voters {L, F1, F2};
 * 2. splits the cluster into {L, X, Y} and {F1, F2} (every link between the sides cut) and at once asks L to add X,
 *    then keeps asking it to add Y;
 * 3. a correct L adds X as a learner whose entry cannot commit without F1 or F2, answers 409 for Y, and steps down
 *    when it no longer hears from a majority (CheckQuorum); F1 and F2 elect a leader among themselves. A buggy L
 *    adds X and Y before either change commits, commits {L, F1, F2, X, Y} with the acknowledgements of X and Y, and
 *    goes on leading while F1 and F2 elect a leader of their own: the state is reached once L reports that
 *    configuration committed and F1 or F2 leads a later term.
 *
 * Then both sides serve clients for a while (each commits its own writes to the same keys) before the links heal.
 * With a correct node the script gives up cleanly (`reached: false`) and nothing is lost.
 */
import type { MembersView, MemberStatus } from '../controls.ts';
import { linksBetween, type Link } from '../plan.ts';
import type { Scenario, ScenarioContext, ScenarioMembership, ScenarioOutcome } from './context.ts';

/** The waits of the script (ms); tests shorten them. */
export interface ConfigOverlapTimings {
  /** Bound of each ordinary change of the preparation. */
  readonly changeWithinMs: number;
  /** Bound of the wait for one leader that every voter follows. */
  readonly settleWaitMs: number;
  /** Bound of the wait for both sides to lead (a few election timeouts, also on a loaded machine). */
  readonly electionWaitMs: number;
  /** How long the two sides serve clients, cut from each other, before the links heal. */
  readonly divergenceMs: number;
  /** Pause between the requests to add Y (and before the first of them). */
  readonly retryMs: number;
}

/** The timings `--nemesis config-overlap` runs with (node defaults: 1 s election timeout, 100 ms heartbeat). */
export const CONFIG_OVERLAP_TIMINGS: ConfigOverlapTimings = {
  changeWithinMs: 15_000,
  settleWaitMs: 8_000,
  electionWaitMs: 6_000,
  divergenceMs: 4_000,
  retryMs: 100,
};

/** The roles of one attempt. */
interface Roles {
  readonly leader: string;
  readonly followers: readonly [string, string];
  readonly joiners: readonly [string, string];
  readonly term: number;
}

/** The config-overlap scenario (see the file comment) with the given timings. */
export function configOverlapScenario(timings: ConfigOverlapTimings = CONFIG_OVERLAP_TIMINGS): Scenario {
  return async (ctx) => {
    const membership = ctx.membership;
    if (membership === undefined) return { reached: false, detail: 'the system has no membership API' };
    if (membership.potential.length < 5) {
      return { reached: false, detail: `needs 5 potential members, the cluster has ${membership.potential.length}` };
    }
    const cut: Link[] = [];
    try {
      return await steer(ctx, membership, cut, timings);
    } finally {
      if (cut.length > 0) await ctx.heal(cut);
      if (!ctx.signal.aborted) await membership.refresh();
    }
  };
}

/** The config-overlap scenario (see the file comment). */
export const configOverlap: Scenario = configOverlapScenario();

async function steer(
  ctx: ScenarioContext,
  membership: ScenarioMembership,
  cut: Link[],
  timings: ConfigOverlapTimings,
): Promise<ScenarioOutcome> {
  const prepared = await prepare(ctx, membership, timings);
  if (typeof prepared === 'string') return gaveUp(ctx, prepared);
  const { leader, followers, joiners, term } = prepared;
  const [x, y] = joiners;
  ctx.note('roles', { leader, followers: [...followers], joiners: [...joiners], term });

  const sides = linksBetween([leader, x, y], [...followers]);
  cut.push(...sides);
  await ctx.cut(sides);
  // The node answers an addition only once the promotion commits (or with 202 after its request timeout), so the
  // second request goes out while the first is still waiting: a moment later, once X's learner entry is in L's log.
  const first = membership.requestAdd(leader, x).then((answer) => {
    ctx.note('asked to add the first', { via: leader, id: x, answer: answer.status });
    return answer;
  });
  await ctx.sleep(timings.retryMs);
  const deadline = performance.now() + timings.electionWaitMs;
  let second: string | number = 'not asked';
  while (performance.now() < deadline && !ctx.signal.aborted) {
    const answer = await membership.requestAdd(leader, y);
    second = answer.status;
    // 200/202: taken; unknown: the request waited for a promotion, so it was taken too.
    if (answer.status === 200 || answer.status === 202 || answer.status === 'unknown') break;
    await ctx.sleep(timings.retryMs);
  }
  await first;
  ctx.note('asked to add the second', { via: leader, id: y, answer: second });

  const overlapped = await ctx.waitFor(
    `${leader} commits ${x} and ${y} as voters`,
    async () => {
      const view = await membership.configuration(leader);
      return view !== undefined && !view.pending && hasVoters(view, [leader, x, y, ...followers]) ? view : undefined;
    },
    timings.electionWaitMs,
  );
  if (overlapped === undefined) return gaveUp(ctx, `${leader} did not commit ${x} and ${y} while cut off`);
  const rival = await ctx.waitFor(
    `${followers.join(' or ')} leads`,
    () => leadsLaterTerm(ctx, followers, term),
    timings.electionWaitMs,
  );
  if (rival === undefined) return gaveUp(ctx, `${followers.join(' and ')} did not elect a leader`);
  ctx.note('two majorities', { leader, configIndex: overlapped.configIndex, rival: rival.id, rivalTerm: rival.term });
  await ctx.sleep(timings.divergenceMs);
  return {
    reached: true,
    detail: `${leader} committed ${x} and ${y} as voters with their acknowledgements while ${rival.id} led term ${rival.term} with the old configuration`,
  };
}

/**
 * Step 1: three voters led by one leader, and two non-members that were members a moment ago. Returns the roles, or
 * why the cluster could not be brought there.
 */
async function prepare(
  ctx: ScenarioContext,
  membership: ScenarioMembership,
  timings: ConfigOverlapTimings,
): Promise<Roles | string> {
  let settled = await ctx.waitFor('one leader', () => settledLeader(ctx, membership), timings.settleWaitMs);
  if (settled === undefined) return 'the cluster did not settle on one leader';
  let voters = settled.voters;
  // Back to three voters: drop voters other than the leader (a former run of the script may have left five).
  for (const extra of voters.filter((id) => id !== settled?.leader).slice(0, Math.max(0, voters.length - 3))) {
    const removed = await membership.remove(extra, timings.changeWithinMs);
    if (!removed.ok) return `could not shrink to three voters: ${removed.detail}`;
  }
  const outside = ctx.random.shuffle(membership.potential.filter((id) => !membership.members().includes(id)));
  if (outside.length < 2) return `needs two non-members, there are ${outside.length}`;
  const joiners = [outside[0], outside[1]] as [string, string];
  // Recently removed: each holds almost the whole log, so it catches up at once when added again.
  for (const id of joiners) {
    const added = await membership.add(id, timings.changeWithinMs);
    if (!added.ok) return `could not add ${id}: ${added.detail}`;
  }
  for (const id of joiners) {
    const removed = await membership.remove(id, timings.changeWithinMs);
    if (!removed.ok) return `could not remove ${id}: ${removed.detail}`;
  }
  ctx.note('joiners were members a moment ago', { joiners });
  settled = await ctx.waitFor('one leader of three voters', () => settledLeader(ctx, membership), timings.settleWaitMs);
  if (settled === undefined) return 'the cluster did not settle again';
  voters = settled.voters;
  const followers = voters.filter((id) => id !== settled?.leader);
  if (voters.length !== 3 || followers.length !== 2 || joiners.some((id) => voters.includes(id))) {
    return `expected three voters without ${joiners.join(', ')}, the leader reports ${voters.join(', ')}`;
  }
  return {
    leader: settled.leader,
    followers: [followers[0], followers[1]] as [string, string],
    joiners,
    term: settled.term,
  };
}

/** A leader whose committed configuration every voter follows in its term. */
async function settledLeader(
  ctx: ScenarioContext,
  membership: ScenarioMembership,
): Promise<{ leader: string; term: number; voters: string[] } | undefined> {
  const view = await membership.refresh();
  if (view === undefined || view.pending || view.leader === null) return undefined;
  const voters = view.members.filter((m) => m.role === 'voter').map((m) => m.id);
  const statuses = await Promise.all(voters.map((id) => ctx.status(id)));
  const leader = view.leader;
  const agree = statuses.every((s) => s !== undefined && s.term === view.term && s.leader === leader);
  return agree ? { leader, term: view.term, voters: voters.sort() } : undefined;
}

function hasVoters(view: MembersView, ids: readonly string[]): boolean {
  const voters = new Set(view.members.filter((m) => m.role === 'voter').map((m) => m.id));
  return ids.every((id) => voters.has(id));
}

async function leadsLaterTerm(
  ctx: ScenarioContext,
  ids: readonly string[],
  term: number,
): Promise<MemberStatus | undefined> {
  for (const id of ids) {
    const status = await ctx.status(id);
    if (status?.role === 'leader' && status.term > term) return status;
  }
  return undefined;
}

function gaveUp(ctx: ScenarioContext, detail: string): ScenarioOutcome {
  ctx.note('gave up', { detail });
  return { reached: false, detail };
}
