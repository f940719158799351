/**
 * Per planted bug (node/planted-bugs.ts), the chaos settings that can expose it:
 * `npm run chaos -- --bug NAME` starts from these and the user's explicit
 * flags win; `npm run prove` runs them as they are. harness/PROVE.md
 * explains each choice.
 */
import { bugNames, isBugName, type BugName } from '../../node/planted-bugs.ts';
import type { WorkloadName } from '../../workloads/generator.ts';
import type { NemesisKind } from '../nemesis/plan.ts';

export { bugNames, isBugName, type BugName };

/** Chaos settings that expose one bug. */
export interface BugPreset {
  readonly nemesis: readonly NemesisKind[];
  /** Seconds between faults and how long each lasts. */
  readonly intervalS: number;
  /** Seconds of workload. */
  readonly timeS: number;
  readonly workload: WorkloadName;
  readonly keys: number;
  readonly concurrency: number;
  /** Client request timeout (ms): after it, an op is unknown (and retried, with `retry`). */
  readonly timeoutMs: number;
  /** Retries of an unknown write (the retrying client), 0 = none. */
  readonly retry: number;
  /** Read mode of the nodes. */
  readonly readMode: 'index' | 'lease';
  readonly nodes: number;
  /**
   * The nodes' election timeout and heartbeat. Pinned: the scenarios and pause lengths of the presets were tuned and
   * their detection rates measured with these (docs/results/2026-11-28-prove-detection.md), and the node's own
   * defaults may change for other reasons (failover speed).
   */
  readonly electionTimeoutMs: number;
  readonly heartbeatMs: number;
  /** `false`: the nodes run with `--no-restart-quiet` (the correct node of `npm run prove` too). */
  readonly restartQuiet?: boolean;
  /** Why these settings expose the bug (shown by --help and PROVE.md). */
  readonly why: string;
}

/** What every preset shares unless it says otherwise: 3 nodes, cas-register on 2 hot keys, ReadIndex, no retries. */
const BASE = {
  workload: 'cas-register',
  keys: 2,
  concurrency: 8,
  timeoutMs: 1000,
  retry: 0,
  readMode: 'index',
  nodes: 3,
  electionTimeoutMs: 1000,
  heartbeatMs: 100,
} as const;

/** The settings of each bug; the correct node is run with the same ones by `npm run prove`. */
export const BUG_PRESETS: Readonly<Record<BugName, BugPreset>> = {
  'stale-read': {
    ...BASE,
    nemesis: ['partition'],
    intervalS: 2,
    timeS: 12,
    why: 'reads go to random nodes; a follower lags the leader by a round trip, and a partitioned one by seconds',
  },
  'no-fsync': {
    ...BASE,
    nemesis: ['kill-all'],
    intervalS: 2,
    timeS: 12,
    why: 'every node killed at once loses its unsynced tail, so writes a majority acknowledged vanish; one kill at a time would be repaired from the survivors',
  },
  'commit-old-term': {
    ...BASE,
    nemesis: ['figure8'],
    intervalS: 10,
    timeS: 50,
    nodes: 5,
    keys: 12,
    concurrency: 15,
    timeoutMs: 20_000,
    why: 'the figure8 scenario builds Figure 8 on 5 nodes: a deposed leader with entries only it and one follower hold wins again with a third vote and commits them by counting; the node that won in between with a newer entry then overwrites them. Clients wait up to 20 s, so the writes held in the partition are still waiting when they are acknowledged',
  },
  'vote-twice': {
    ...BASE,
    nemesis: ['double-vote'],
    intervalS: 10,
    timeS: 50,
    // The scenario needs the restarted voter to answer B at once; the node's restart quiet period (a second,
    // independent defence: it ignores votes for an election timeout after start) would hide the forgotten vote.
    restartQuiet: false,
    why: 'the double-vote scenario (two attempts, each about 13 s) makes a voter grant a candidate its vote, freezes the candidate before the grant arrives, restarts the voter and lets the old leader, which never heard of that term, campaign in it: a voter that forgot its vote elects it too, and two leaders of one term each commit their own writes with its acknowledgements',
  },
  'config-overlap': {
    ...BASE,
    nemesis: ['config-overlap'],
    // Five potential members, three voters at the start: the scenario adds the other two while the leader is cut
    // off from its followers. Three attempts (at 10, 30 and 50 s; each takes about 15 s and may push the next).
    nodes: 5,
    intervalS: 10,
    timeS: 60,
    why: 'the config-overlap scenario cuts the leader and two recently removed members off from the other two voters and asks the leader to add both: a leader that starts the second change before the first commits makes {leader, X, Y} a majority of five while the two others, still in the old configuration of three, elect a leader of their own; both sides commit writes to the same keys',
  },
  'no-dedup': {
    ...BASE,
    nemesis: ['latency', 'pause-leader'],
    intervalS: 2,
    // Seven faults (at 2, 6, ..., 26 s): with the streamed peer transport
    // fewer writes outlast the client timeout, and with three faults in 15 s
    // two seeds in ten never retried a write that had committed.
    timeS: 30,
    timeoutMs: 150,
    retry: 8,
    why: 'slow links and a paused leader make writes outlast the 150 ms client timeout although they commit; the client retries them (same session seq, 300 ms apart), and a node that ignores sessions applies both copies',
  },
  'fsync-skipped': {
    ...BASE,
    nemesis: ['lose-unsynced'],
    intervalS: 2,
    // Half of the power losses hit every node at once, which loses what a majority had acknowledged; a loss of a
    // minority is repaired from the others' page caches. A restart on a loaded machine takes seconds, so 20 s fitted
    // only three losses, all of a minority for one seed in ten (and a loss at 2 s finds little acknowledged yet).
    timeS: 30,
    why: 'a power loss of every node drops what their WALs wrote but never synced, so writes a majority acknowledged vanish; a SIGKILL alone keeps them in the page cache, so the kill presets never see it',
  },
  'lease-without-clock-bound': {
    ...BASE,
    nemesis: ['pause-leader'],
    intervalS: 3,
    // Four pauses (at 3, 9, 15 and 21 s): a pause exposes the bug only if a
    // read reaches the old leader in the moment it wakes, and with two pauses
    // one seed in ten missed both.
    timeS: 27,
    readMode: 'lease',
    why: 'a paused leader wakes up believing its tick-based lease still runs, and serves reads a new leader has overwritten (four pauses per run)',
  },
};

/** Parses `--bugs a,b` (or `all`), with an error that lists the valid names. */
export function parseBugList(text: string): BugName[] {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed === 'all') return [...bugNames];
  const out: BugName[] = [];
  for (const part of trimmed.split(',')) {
    const name = part.trim();
    if (!isBugName(name)) throw new Error(`unknown bug "${name}"; valid bugs: ${bugNames.join(', ')} (or all)`);
    if (!out.includes(name)) out.push(name);
  }
  return out;
}
