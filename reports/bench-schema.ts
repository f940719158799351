/**
 * The shape of a bench run's `bench.json`: written by the harness
 * (`npm run bench`), read by the bench report. It lives here, with the
 * reader, so that reports/ depends on nothing in harness/ (harness -> reports).
 */

/** Schema tag written into every bench.json; bumped on incompatible change. */
export const BENCH_SCHEMA = 'raftlab-bench/1';

/** put, linearizable get, stale get (`sget`), and a 50/50 put/get mix. */
export type BenchOp = 'put' | 'get' | 'sget' | 'mix';

/** Every op kind, in sweep order. */
export const BENCH_OPS: readonly BenchOp[] = ['put', 'get', 'sget', 'mix'];

/** Latency percentiles of the successful operations of one measurement (milliseconds). */
export type LatencySummary = {
  count: number;
  minMs: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
};

/** One interval of a measured window (ops that started in it). */
export type TimelinePoint = {
  /** Interval start, seconds from the start of the measured window. */
  tSec: number;
  ok: number;
  errors: number;
  /** Latency percentiles of the interval's successful ops (0 when there were none). */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
};

/** One closed-loop measurement: `concurrency` clients, each with one op in flight. */
export type ClosedLoopResult = {
  target: string;
  op: BenchOp;
  concurrency: number;
  warmupSec: number;
  /** Length of the measured window; ops that started in it are counted. */
  durationSec: number;
  /** Ops started in the measured window. */
  opsStarted: number;
  /** Ops started in the window that finished (ok + errors); equals opsStarted. */
  opsCompleted: number;
  ok: number;
  errors: number;
  errorsByCode: Record<string, number>;
  /** Successful ops per second of the measured window. */
  opsPerSec: number;
  latency: LatencySummary;
  intervalSec: number;
  timeline: TimelinePoint[];
};

/** One open-loop step: requests sent on a fixed schedule, latency from the intended send time. */
export type OpenLoopStep = {
  target: string;
  op: BenchOp;
  rateTarget: number;
  durationSec: number;
  /** Ops whose intended send time fell in the measured window. */
  opsScheduled: number;
  ok: number;
  errors: number;
  /** Ops never sent because too many were already outstanding (the target fell behind). */
  dropped: number;
  /** Successful ops over the span from the window's start until the last of them finished (the drain included). */
  achievedOpsPerSec: number;
  /** Latency from the intended send time (so queueing is not hidden: coordinated omission). */
  latency: LatencySummary;
  /** The rate was held: no errors or drops, and p99 (from the intended send time) within the bound. */
  held: boolean;
};

/** The open-loop sweep of one target and op. */
export type OpenLoopSweep = {
  target: string;
  op: BenchOp;
  p99BoundMs: number;
  steps: OpenLoopStep[];
  /** Highest rate held (ops/s), or null when even the lowest was not. */
  maxRateHeld: number | null;
};

/** One micro-benchmark task (tinybench). */
export type MicroResult = {
  suite: string;
  name: string;
  opsPerSec: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  samples: number;
  /** What one op is (e.g. "append 64 entries + fdatasync"). */
  note?: string;
};

/** A target of the run: started, or skipped with the reason. */
export type BenchTargetInfo = {
  kind: string;
  memberUrls: string[];
  version?: string;
  skipped?: string;
  /** Errors of the prefill (keys written before the read sweeps). */
  prefillErrors?: number;
};

/** The options a run was started with, as recorded in bench.json. */
export type BenchRunOptions = {
  targets: string[];
  concurrency: number[];
  ops: BenchOp[];
  timeSec: number;
  warmupSec: number;
  /** Open-loop rates; `auto` derives them from the closed-loop peak; `off` skips the open loop. */
  rates: number[] | 'auto' | 'off';
  openLoopOp: BenchOp;
  p99BoundMs: number;
  /**
   * `spread`: clients round-robin over all members, the leader first (so C=1
   * talks to the leader); `leader`: every client talks to the leader.
   */
  via: 'spread' | 'leader';
  keys: number;
  valueBytes: number;
};

/** Everything a bench run measured, with the conditions it ran under. */
export type BenchRun = {
  schema: typeof BENCH_SCHEMA;
  startedAt: string;
  finishedAt: string;
  options: BenchRunOptions;
  machine: {
    cores: number;
    cpuModel: string;
    totalMemBytes: number;
    platform: string;
    loadavgStart: number[];
    loadavgEnd: number[];
  };
  versions: { node: string; raftlab: string; etcd?: string };
  targets: BenchTargetInfo[];
  closedLoop: ClosedLoopResult[];
  openLoop: OpenLoopSweep[];
  micro: MicroResult[];
  /** The earlier run given with `--compare`, reduced to its figures (no timelines), so the report stays self-contained. */
  compare?: BenchComparison;
};

/** An earlier run's figures, kept for drawing and printing the change. */
export type BenchComparison = {
  runDir: string;
  startedAt: string;
  closedLoop: Omit<ClosedLoopResult, 'timeline'>[];
  openLoop: { target: string; op: BenchOp; maxRateHeld: number | null }[];
};

/** Key of one closed-loop cell, to match a run against an earlier one. */
export function cellKey(r: { target: string; op: BenchOp; concurrency: number }): string {
  return `${r.target}/${r.op}/${r.concurrency}`;
}

/** Parses and minimally validates a bench.json text. */
export function parseBenchRun(text: string, source: string): BenchRun {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source} is not valid JSON: ${(err as Error).message}`);
  }
  const run = data as Partial<BenchRun> | null;
  if (run === null || typeof run !== 'object' || run.schema !== BENCH_SCHEMA) {
    throw new Error(`${source} is not a raftlab bench.json (schema ${BENCH_SCHEMA})`);
  }
  if (!Array.isArray(run.closedLoop) || !Array.isArray(run.openLoop) || !Array.isArray(run.targets)) {
    throw new Error(`${source} lacks closedLoop/openLoop/targets`);
  }
  return run as BenchRun;
}
