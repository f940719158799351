/**
 * The Figure 8 scenario (Raft paper §5.4.2, Figure 8), on 5 nodes, built
 * from real faults only. Roles are picked at run time from the statuses:
 * L leads term t, F1 is one follower, M, S3, S4 the other three.
 *
 *  a. Partition {L, F1} | {M, S3, S4} and cut the client proxies of M, S3
 *     and S4 (their clients fail fast and move on, many to L). L appends
 *     client writes that only L and F1 store; their clients wait.
 *     CheckQuorum deposes L; M, S3, S4 elect one of themselves (call it M,
 *     term u > t). With no client requests reaching them, M's log gets no
 *     entry of term u unless the node appends a start-of-term no-op (§8).
 *  b. Cut M from everyone, open its client proxy until a client write is in
 *     its log (a term-u entry only M stores), then close it again.
 *  c. Hold client requests at L and F1 (answers still flow back), heal
 *     L <-> S3. L (last term t, longest log) wins term v > u with F1 and S3
 *     and, with the planted `commit-old-term` bug, commits its term-t entries
 *     by counting (L, F1, S3) although no term-v entry exists: the pending
 *     clients get `ok`. The correct node cannot (its §8 no-op makes S3's
 *     last term u, so L cannot win; or it commits them legitimately).
 *  d. Kill L and F1, heal M's links, release the clients. M (last term u)
 *     wins with S3 and S4 (last term t) and overwrites the entries L
 *     committed; restart L and F1. Acknowledged writes are gone, and the
 *     reads that follow make the checker say illegal.
 *
 * Peer links are cut with a blackhole (the proxy keeps its port while the
 * link is down for seconds, so no other process on the machine can take it);
 * client links are cut by disabling their proxy, because a client must see
 * its connection refused (a certain failure) rather than a request that
 * vanishes (an unknown op that hides lost writes from the checker).
 *
 * Every wait has a deadline; when the cluster does something else (another
 * node wins, a leader steps down early), the script says so in its outcome,
 * still runs the remaining faults where they make sense, and returns. The
 * nemesis heals whatever is left when the fault stops.
 */
import type { MemberStatus } from '../controls.ts';
import { linksBetween, type Link } from '../plan.ts';
import type { Scenario, ScenarioContext, ScenarioOutcome } from './context.ts';

/** Waits, in ms: generous because the machine may be loaded; each ends as soon as its condition holds. */
const WAIT = {
  stableLeader: 10_000,
  /** How long L collects entries only it and F1 hold (it is deposed after about one election timeout anyway). */
  accumulate: 4_000,
  newLeader: 10_000,
  entryOnM: 4_000,
  oldLeaderBack: 12_000,
  applied: 8_000,
  finalLeader: 12_000,
} as const;

/**
 * Entries beyond the majority's log that are enough for L to have. Each is a
 * waiting client's write; more of them, on more keys, make it likelier that
 * a lost one is not hidden by the later writes (M's own entry among them).
 */
const ENOUGH_EXTRA_ENTRIES = 12;

const clientLinks = (ids: readonly string[]): Link[] => ids.map((id) => ['client', id] as const);

async function statusesOf(ctx: ScenarioContext, ids: readonly string[]): Promise<MemberStatus[]> {
  const all = await Promise.all(ids.map((id) => ctx.status(id)));
  return all.filter((s): s is MemberStatus => s !== undefined);
}

/** The Figure 8 script (see the file comment): three steps, each building on the state the one before left. */
export const figure8: Scenario = async (ctx) => {
  if (ctx.ids.length !== 5) return { reached: false, detail: `needs 5 nodes, the cluster has ${ctx.ids.length}` };
  const a = await partitionOldLeader(ctx);
  if (a === undefined) return { reached: false, detail: 'no stable leader to start from' };
  const b = await isolateNewLeader(ctx, a);
  if (b === undefined) {
    const cut = { L: a.L, F1: a.F1, others: a.others, healed: [] };
    return await finish(ctx, cut, { reached: false, detail: 'the majority side elected no leader' });
  }
  const outcome = await reuniteOldLeader(ctx, a, b);
  return await finish(ctx, { L: a.L, F1: a.F1, others: a.others, healed: [b.S3], M: b.M }, outcome);
};

/** What step a leaves: the old leader L and its follower F1 cut off from the others, with entries only they hold. */
interface StepA {
  L: string;
  F1: string;
  others: string[];
  /** L's term when it was cut off. */
  t: number;
  /** The others' last index: what a majority held at the cut. */
  majorityIndex: number;
}

/** a. {L, F1} | others; the others' clients fail fast so no request reaches their side; L collects extra entries. */
async function partitionOldLeader(ctx: ScenarioContext): Promise<StepA | undefined> {
  // A leader every node agrees on, so the roles below are what they seem.
  const start = await ctx.waitFor(
    'a leader all nodes follow',
    async () => {
      const all = await ctx.statuses();
      if (all.size < ctx.ids.length) return undefined;
      const leader = [...all.values()].find((s) => s.role === 'leader');
      if (leader === undefined || ![...all.values()].every((s) => s.term === leader.term && s.leader === leader.id))
        return undefined;
      return leader;
    },
    WAIT.stableLeader,
  );
  if (start === undefined) return undefined;
  const L = start.id;
  const t = start.term;
  const [F1, ...others] = ctx.random.shuffle(ctx.ids.filter((id) => id !== L)) as [string, ...string[]];
  await ctx.blackhole(linksBetween([L, F1], others));
  await ctx.cut(clientLinks(others));
  const majorityStatuses = await ctx.waitFor(
    'the others to answer after the cut',
    async () => {
      const list = await statusesOf(ctx, others);
      return list.length === others.length ? list : undefined;
    },
    WAIT.stableLeader,
  );
  const majorityIndex = Math.max(0, ...(majorityStatuses ?? []).map((s) => s.lastIndex ?? 0));
  ctx.note('partitioned', { leader: L, follower: F1, others, term: t, majorityIndex });

  const extraOf = (s: MemberStatus): number => (s.lastIndex ?? 0) - majorityIndex;
  const collected = await ctx.waitFor(
    `${L} to collect ${ENOUGH_EXTRA_ENTRIES} entries only it and ${F1} hold`,
    async () => {
      const s = await ctx.status(L);
      return s !== undefined && (extraOf(s) >= ENOUGH_EXTRA_ENTRIES || s.role !== 'leader') ? s : undefined;
    },
    WAIT.accumulate,
  );
  const extra = extraOf(collected ?? (await ctx.status(L)) ?? start);
  ctx.note('collected', { leader: L, extraEntries: extra });
  return { L, F1, others, t, majorityIndex };
}

/** What step b leaves: the new leader M, alone with one entry of its term u; S3 the voter that will let L back. */
interface StepB {
  M: string;
  u: number;
  S3: string;
  /** M's status once its term-u entry was in its log; undefined when no client write reached it in time. */
  withEntry: MemberStatus | undefined;
}

/** b. The others elect M; M is cut off alone, then one client write puts a term-u entry only M stores. */
async function isolateNewLeader(ctx: ScenarioContext, a: StepA): Promise<StepB | undefined> {
  const elected = await ctx.waitFor(
    `a leader among ${a.others.join(',')} in a term after ${a.t}`,
    async () => (await statusesOf(ctx, a.others)).find((s) => s.role === 'leader' && s.term > a.t),
    WAIT.newLeader,
  );
  if (elected === undefined) return undefined;
  const M = elected.id;
  const u = elected.term;
  const rest = a.others.filter((id) => id !== M);
  await ctx.blackhole(linksBetween([M], rest));
  const restStatuses = await statusesOf(ctx, rest);
  // S3 must be less up to date than L (last term below u) to vote for it; prefer one that is.
  const behind = rest.filter((id) => (restStatuses.find((s) => s.id === id)?.lastTerm ?? u) < u);
  const S3 = ctx.random.pick(behind.length > 0 ? behind : rest);
  ctx.note('isolated-new-leader', {
    newLeader: M,
    term: u,
    lastTerm: elected.lastTerm,
    voter: S3,
    othersBehind: behind,
  });
  await ctx.heal(clientLinks([M]));
  const withEntry = await ctx.waitFor(
    `a client write of term ${u} in ${M}'s log`,
    async () => {
      const s = await ctx.status(M);
      return s !== undefined && s.lastTerm === u ? s : undefined;
    },
    WAIT.entryOnM,
  );
  await ctx.cut(clientLinks([M]));
  ctx.note('entry-on-new-leader', { newLeader: M, lastIndex: withEntry?.lastIndex, lastTerm: withEntry?.lastTerm });
  return { M, u, S3, withEntry };
}

/**
 * c. No new requests anywhere (L's and F1's waiting clients still get their answers); L and S3 meet again. The state
 * is reached when L leads a later term and commits past the majority's log without an entry of that term.
 */
async function reuniteOldLeader(ctx: ScenarioContext, a: StepA, b: StepB): Promise<ScenarioOutcome> {
  const { L, majorityIndex } = a;
  await ctx.holdClientRequests([L, a.F1]);
  await ctx.removeBlackhole(linksBetween([L], [b.S3]));
  const back = await ctx.waitFor(
    `${L} to lead again after term ${b.u}, or another leader`,
    async () => (await statusesOf(ctx, [L, a.F1, b.S3])).find((s) => s.role === 'leader' && s.term > b.u),
    WAIT.oldLeaderBack,
  );
  const missingEntry = b.withEntry === undefined ? `; no client write reached ${b.M} in time` : '';
  if (back === undefined) return { reached: false, detail: `${L} did not lead again${missingEntry}` };
  if (back.id !== L) {
    const detail = `${back.id} won term ${back.term} instead of ${L} (its log was more up to date)`;
    return { reached: false, detail: `${detail}${missingEntry}` };
  }
  // L leads term v; did it commit entries past the majority's log without any entry of term v?
  const committed = await ctx.waitFor(
    `${L} to commit and apply past index ${majorityIndex}`,
    async () => {
      const s = await ctx.status(L);
      if (s === undefined || s.role !== 'leader') return s === undefined ? undefined : s;
      return s.commitIndex > majorityIndex && s.appliedIndex >= s.commitIndex ? s : undefined;
    },
    WAIT.applied,
  );
  if (committed === undefined || committed.role !== 'leader' || committed.commitIndex <= majorityIndex) {
    return {
      reached: false,
      detail: `${L} led term ${back.term} but committed nothing past ${majorityIndex}${missingEntry}`,
    };
  }
  const oldTerm = (committed.lastTerm ?? committed.term) < committed.term;
  const detail = oldTerm
    ? `${L} (term ${committed.term}, last entry of term ${committed.lastTerm}) committed up to ${committed.commitIndex} past the majority's ${majorityIndex} by counting; ${b.M} holds term ${b.u}`
    : `${L} committed up to ${committed.commitIndex} with an entry of its term ${committed.term}`;
  ctx.note('old-leader-committed', {
    leader: L,
    term: committed.term,
    lastTerm: committed.lastTerm,
    commitIndex: committed.commitIndex,
    majorityIndex,
    oldTerm,
  });
  // The answers to the waiting clients leave as the entries apply; give them a moment on the wire.
  await ctx.sleep(300);
  return { reached: oldTerm && b.withEntry !== undefined, detail: `${detail}${missingEntry}` };
}

/**
 * A leader without an entry of its term (the variant appends no §8 no-op)
 * serves no ReadIndex read until a client write of its term commits (§6.4),
 * so if every client came back at once, reads would wait behind the first
 * writes, one per key, and read their values instead of the old ones. So
 * one client write is let in first (the leader's client proxy opens until
 * an entry of its term is in its log) and allowed to commit; after that
 * reads are served at once and race the writes as usual.
 */
async function primeReads(ctx: ScenarioContext, leader: string): Promise<void> {
  await ctx.heal(clientLinks([leader]));
  const appended = await ctx.waitFor(
    `a client write of ${leader}'s term in its log`,
    async () => {
      const s = await ctx.status(leader);
      return s !== undefined && s.lastTerm === s.term ? s : undefined;
    },
    WAIT.entryOnM,
  );
  await ctx.cut(clientLinks([leader]));
  const committed = await ctx.waitFor(
    `${leader} to commit an entry of its term`,
    async () => {
      const s = await ctx.status(leader);
      return s !== undefined && s.lastTerm === s.term && s.commitIndex >= (s.lastIndex ?? 0) ? s : undefined;
    },
    WAIT.entryOnM,
  );
  ctx.note('reads-primed', { leader, appendedIndex: appended?.lastIndex, commitIndex: committed?.commitIndex });
}

/**
 * d. Kill L and F1, reconnect the others (M included), wait for a leader of
 * the majority side that has committed its whole log, then let the clients
 * in and restart L and F1. The clients stay out until then: a request to a
 * dead node would be an unknown op (the proxy accepts, then drops it) and a
 * follower forwarding to the dead leader answers "unknown", and unknown
 * writes can be placed anywhere by the checker, hiding the lost ones.
 */
async function finish(
  ctx: ScenarioContext,
  roles: { L: string; F1: string; others: readonly string[]; healed: readonly string[]; M?: string },
  outcome: ScenarioOutcome,
): Promise<ScenarioOutcome> {
  const { L, F1, others } = roles;
  // Refused connections make a client's request a certain failure, not an unknown one.
  await ctx.cut([...clientLinks([L, F1, ...others])]);
  await Promise.all([ctx.kill(L), ctx.kill(F1)]);
  await ctx.removeBlackhole(linksBetween(others, others));
  const winner = await ctx.waitFor(
    `a leader among ${others.join(',')} with its log committed`,
    async () => {
      const list = await statusesOf(ctx, others);
      const leader = list.find((s) => s.role === 'leader');
      if (leader === undefined || list.filter((s) => s.term === leader.term && s.leader === leader.id).length < 3)
        return undefined;
      return leader.commitIndex >= (leader.lastIndex ?? 0) ? leader : undefined;
    },
    WAIT.finalLeader,
  );
  ctx.note('majority-leader', {
    leader: winner?.id,
    term: winner?.term,
    commitIndex: winner?.commitIndex,
    expected: roles.M,
  });
  if (winner !== undefined && winner.lastTerm !== winner.term) await primeReads(ctx, winner.id);
  await ctx.heal(clientLinks(others));
  await Promise.all([ctx.restart(L), ctx.restart(F1)]);
  await ctx.removeBlackhole(linksBetween([L, F1], others));
  await ctx.heal(clientLinks([L, F1]));
  await ctx.releaseClientRequests();
  const suffix =
    winner === undefined
      ? '; no leader among the others after the kill'
      : `; then ${winner.id} led term ${winner.term}`;
  return { reached: outcome.reached, detail: `${outcome.detail}${suffix}` };
}
