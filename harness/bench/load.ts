/**
 * The load generator of `npm run bench`: closed-loop and open-loop sweeps
 * against any {@link KvTarget}, latency into HDR histograms.
 *
 * Closed loop: C logical clients, each with one request in flight, for a
 * warm-up and then a measured window; an op belongs to the window it started
 * in. Open loop: requests leave on a fixed schedule whatever the target does,
 * and latency is measured from the *intended* send time, so a target that
 * falls behind shows its queueing in the percentiles instead of silently
 * slowing the load (coordinated omission, Gil Tene's "How NOT to measure
 * latency").
 */
import { build, type Histogram } from 'hdr-histogram-js';
import { performance } from 'node:perf_hooks';
import { Random } from '../../lib/random.ts';
import type { GetOutcome, KvClient, KvTarget, PutOutcome } from '../../workloads/targets/index.ts';
import type {
  BenchOp,
  ClosedLoopResult,
  LatencySummary,
  OpenLoopStep,
  OpenLoopSweep,
  TimelinePoint,
} from '../../reports/bench-schema.ts';

/** Latencies are recorded in microseconds up to one minute (longer ones are clamped). */
const LATENCY_US_MAX = 60_000_000;

/** A fresh latency histogram: microseconds, 3 significant digits. */
export function newLatencyHistogram(): Histogram {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: LATENCY_US_MAX, numberOfSignificantValueDigits: 3 });
}

function recordMs(h: Histogram, latencyMs: number): void {
  h.recordValue(Math.min(LATENCY_US_MAX, Math.max(1, Math.round(latencyMs * 1000))));
}

/** Percentile summary of a histogram of microseconds, in milliseconds. */
export function summarize(h: Histogram): LatencySummary {
  if (h.totalCount === 0) return { count: 0, minMs: 0, meanMs: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0 };
  const ms = (us: number): number => Math.round(us) / 1000;
  // HDR answers a percentile with the top of its bucket, which can lie above
  // the exact maximum recorded; a percentile never exceeds the max.
  const at = (p: number): number => ms(Math.min(h.getValueAtPercentile(p), h.maxValue));
  return {
    count: h.totalCount,
    minMs: ms(h.minNonZeroValue),
    meanMs: ms(h.mean),
    p50Ms: at(50),
    p90Ms: at(90),
    p99Ms: at(99),
    p999Ms: at(99.9),
    maxMs: ms(h.maxValue),
  };
}

/** Exact percentile of a sorted array (nearest rank). */
function percentileSorted(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? 0;
}

/** The key space and value size of a workload. */
export type Workload = {
  /** Number of distinct keys (`bench/k0000` ...). */
  keys: number;
  /** Length of every written value in bytes (ASCII). */
  valueBytes: number;
  seed: number;
};

/** Default workload: 1,000 keys, 64-byte values (the node's latency targets were set with it). */
export const DEFAULT_WORKLOAD: Workload = { keys: 1000, valueBytes: 64, seed: 1 };

/** Name of key number `i`. */
export function benchKey(i: number): string {
  return `bench/k${String(i).padStart(4, '0')}`;
}

/** A value of exactly `bytes` ASCII characters that names its writer. */
export function benchValue(bytes: number, writer: number, seq: number): string {
  const tag = `c${writer}s${seq}:`;
  return (tag + 'x'.repeat(Math.max(0, bytes - tag.length))).slice(0, bytes);
}

type AnyOutcome = PutOutcome | GetOutcome;

/** Runs one operation of kind `op` for a client; `mix` is 50/50 put and linearizable get. */
function runOp(
  op: BenchOp,
  client: KvClient,
  random: Random,
  workload: Workload,
  writer: number,
  seq: number,
): Promise<AnyOutcome> {
  const key = benchKey(random.int(0, workload.keys - 1));
  switch (op) {
    case 'put':
      return client.put(key, benchValue(workload.valueBytes, writer, seq));
    case 'get':
      return client.get(key, 'linearizable');
    case 'sget':
      return client.get(key, 'stale');
    case 'mix':
      return random.next() < 0.5
        ? client.put(key, benchValue(workload.valueBytes, writer, seq))
        : client.get(key, 'linearizable');
    default: {
      const never: never = op;
      throw new Error(`unknown op ${String(never)}`);
    }
  }
}

/** Progress of a running measurement, reported about twice a second. */
export type Progress = { elapsedMs: number; totalMs: number; ok: number; errors: number; warmingUp: boolean };

/** Writes every key once so that reads find values; returns the number of failed writes. */
export async function prefill(target: KvTarget, workload: Workload, concurrency = 32): Promise<number> {
  let next = 0;
  let errors = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, c) => {
      const client = target.client(c);
      while (next < workload.keys) {
        const i = next++;
        const outcome = await client.put(benchKey(i), benchValue(workload.valueBytes, c, i));
        if (outcome.type === 'error') errors++;
      }
    }),
  );
  return errors;
}

/** One closed-loop measurement. */
export type ClosedLoopSpec = {
  op: BenchOp;
  concurrency: number;
  warmupMs: number;
  timeMs: number;
  workload?: Workload;
  /** Timeline resolution; default: the window in ~40 intervals, at least 100 ms. */
  intervalMs?: number;
  onProgress?: (p: Progress) => void;
};

/** Runs C clients in a closed loop and measures the window after the warm-up. */
export async function runClosedLoop(target: KvTarget, spec: ClosedLoopSpec): Promise<ClosedLoopResult> {
  const workload = spec.workload ?? DEFAULT_WORKLOAD;
  const intervalMs = spec.intervalMs ?? Math.max(100, Math.round(spec.timeMs / 40));
  const intervals = Math.max(1, Math.ceil(spec.timeMs / intervalMs));
  const histogram = newLatencyHistogram();
  const bucketLatencies: number[][] = Array.from({ length: intervals }, () => []);
  const bucketErrors = new Array<number>(intervals).fill(0);
  const errorsByCode: Record<string, number> = {};
  let opsStarted = 0;
  let ok = 0;
  let errors = 0;
  let warmOk = 0;
  let warmErrors = 0;

  const begin = performance.now();
  const measureStart = begin + spec.warmupMs;
  const measureEnd = measureStart + spec.timeMs;
  const progressTimer =
    spec.onProgress === undefined
      ? undefined
      : setInterval(() => {
          const now = performance.now();
          spec.onProgress?.({
            elapsedMs: now - begin,
            totalMs: spec.warmupMs + spec.timeMs,
            ok: now < measureStart ? warmOk : ok,
            errors: now < measureStart ? warmErrors : errors,
            warmingUp: now < measureStart,
          });
        }, 500);

  try {
    await Promise.all(
      Array.from({ length: spec.concurrency }, async (_, c) => {
        const client = target.client(c);
        const random = new Random(workload.seed * 1_000_003 + c);
        for (let seq = 0; ; seq++) {
          const start = performance.now();
          if (start >= measureEnd) return;
          const measured = start >= measureStart;
          if (measured) opsStarted++;
          const outcome = await runOp(spec.op, client, random, workload, c, seq);
          const latencyMs = performance.now() - start;
          if (!measured) {
            if (outcome.type === 'ok') warmOk++;
            else warmErrors++;
            continue;
          }
          const bucket = Math.min(intervals - 1, Math.floor((start - measureStart) / intervalMs));
          if (outcome.type === 'ok') {
            ok++;
            recordMs(histogram, latencyMs);
            bucketLatencies[bucket]?.push(latencyMs);
          } else {
            errors++;
            bucketErrors[bucket] = (bucketErrors[bucket] ?? 0) + 1;
            errorsByCode[outcome.code] = (errorsByCode[outcome.code] ?? 0) + 1;
          }
        }
      }),
    );
  } finally {
    if (progressTimer !== undefined) clearInterval(progressTimer);
  }

  const timeline: TimelinePoint[] = bucketLatencies.map((latencies, i) => {
    const sorted = Float64Array.from(latencies).sort();
    const round = (ms: number): number => Math.round(ms * 1000) / 1000;
    return {
      tSec: (i * intervalMs) / 1000,
      ok: latencies.length,
      errors: bucketErrors[i] ?? 0,
      p50Ms: round(percentileSorted(sorted, 50)),
      p99Ms: round(percentileSorted(sorted, 99)),
      maxMs: round(sorted.length === 0 ? 0 : (sorted[sorted.length - 1] ?? 0)),
    };
  });
  return {
    target: target.kind,
    op: spec.op,
    concurrency: spec.concurrency,
    warmupSec: spec.warmupMs / 1000,
    durationSec: spec.timeMs / 1000,
    opsStarted,
    opsCompleted: ok + errors,
    ok,
    errors,
    errorsByCode,
    opsPerSec: Math.round((ok / (spec.timeMs / 1000)) * 10) / 10,
    latency: summarize(histogram),
    intervalSec: intervalMs / 1000,
    timeline,
  };
}

/** One open-loop step. */
export type OpenLoopSpec = {
  op: BenchOp;
  /** Arrival rate, ops per second. */
  rate: number;
  warmupMs: number;
  timeMs: number;
  p99BoundMs: number;
  workload?: Workload;
  /** Ops allowed in flight before new arrivals are dropped (bounds memory when the target stalls). */
  maxOutstanding?: number;
  /** Logical clients the arrivals are spread over (round-robin, so over the members). */
  clients?: number;
  onProgress?: (p: Progress) => void;
};

/** Sends ops at a fixed rate and measures latency from each op's intended send time. */
export async function runOpenLoop(target: KvTarget, spec: OpenLoopSpec): Promise<OpenLoopStep> {
  if (!(spec.rate > 0)) throw new Error(`open-loop rate must be positive, got ${spec.rate}`);
  const workload = spec.workload ?? DEFAULT_WORKLOAD;
  const maxOutstanding = spec.maxOutstanding ?? 4096;
  const clientCount = spec.clients ?? 128;
  const clients = Array.from({ length: clientCount }, (_, c) => target.client(c));
  const random = new Random(workload.seed * 7_919 + Math.round(spec.rate));
  const histogram = newLatencyHistogram();
  const intervalMs = 1000 / spec.rate;
  const begin = performance.now();
  const measureStart = begin + spec.warmupMs;
  const end = measureStart + spec.timeMs;
  let scheduled = 0;
  let ok = 0;
  let errors = 0;
  let dropped = 0;
  let outstanding = 0;
  let lastCompletion = 0;
  const inFlight = new Set<Promise<void>>();

  const fire = (index: number, intendedAt: number): void => {
    const measured = intendedAt >= measureStart;
    if (measured) scheduled++;
    if (outstanding >= maxOutstanding) {
      if (measured) dropped++;
      return;
    }
    outstanding++;
    const client = clients[index % clientCount];
    if (client === undefined) return;
    const p = runOp(spec.op, client, random, workload, index % clientCount, index).then((outcome) => {
      outstanding--;
      if (!measured) return;
      lastCompletion = performance.now();
      if (outcome.type === 'ok') {
        ok++;
        recordMs(histogram, performance.now() - intendedAt);
      } else errors++;
    });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };

  let next = 0;
  let lastProgress = begin;
  while (true) {
    const now = performance.now();
    // Everything whose intended time has come leaves now; a late timer shows up as latency.
    for (
      let intended = begin + next * intervalMs;
      intended <= now && intended < end;
      intended = begin + next * intervalMs
    ) {
      fire(next, intended);
      next++;
    }
    if (begin + next * intervalMs >= end) break;
    if (spec.onProgress !== undefined && now - lastProgress >= 500) {
      lastProgress = now;
      spec.onProgress({
        elapsedMs: now - begin,
        totalMs: spec.warmupMs + spec.timeMs,
        ok,
        errors,
        warmingUp: now < measureStart,
      });
    }
    // Sleep until the next arrival is due (a late wake-up is charged to latency, as it should be).
    await new Promise((r) => setTimeout(r, Math.max(0, Math.min(50, begin + next * intervalMs - now))));
  }
  await Promise.all(inFlight);

  const latency = summarize(histogram);
  // Every measured op is waited for, so a target that fell behind needs
  // longer than the window to finish them: divide by that longer span.
  const spanMs = Math.max(spec.timeMs, lastCompletion - measureStart);
  const achievedOpsPerSec = Math.round((ok / (spanMs / 1000)) * 10) / 10;
  return {
    target: target.kind,
    op: spec.op,
    rateTarget: spec.rate,
    durationSec: spec.timeMs / 1000,
    opsScheduled: scheduled,
    ok,
    errors,
    dropped,
    achievedOpsPerSec,
    latency,
    // Falling behind needs no separate throughput test: measured from the
    // intended send time, a growing queue drives p99 over the bound.
    held: errors === 0 && dropped === 0 && latency.count > 0 && latency.p99Ms <= spec.p99BoundMs,
  };
}

/** How many halvings below the lowest rate an open-loop sweep tries when nothing was held. */
const OPEN_LOOP_DOWNWARD_STEPS = 3;

/** Rates for an automatic open-loop sweep: fractions of the best closed-loop throughput. */
export function autoRates(bestClosedLoopOpsPerSec: number | undefined): number[] {
  if (bestClosedLoopOpsPerSec === undefined || !(bestClosedLoopOpsPerSec > 0))
    return [250, 500, 1000, 2000, 4000, 8000];
  const niceRate = (x: number): number => {
    const magnitude = 10 ** Math.floor(Math.log10(x));
    return Math.max(10, Math.round(x / (magnitude / 4)) * (magnitude / 4));
  };
  return [...new Set([0.25, 0.5, 0.75, 0.9, 1.0, 1.2, 1.5].map((f) => niceRate(f * bestClosedLoopOpsPerSec)))];
}

/**
 * Steps through increasing rates until one is not held (p99 over the bound,
 * errors or drops) and reports the highest held rate;
 * when even the lowest is not held, halves it up to three times.
 */
export async function runOpenLoopSweep(
  target: KvTarget,
  rates: readonly number[],
  spec: Omit<OpenLoopSpec, 'rate' | 'onProgress'> & {
    /** Called as a step starts; may return its progress callback. */
    onStep?: (rate: number) => ((p: Progress) => void) | undefined;
    /** Called as a step ends. */
    onStepDone?: (step: OpenLoopStep) => void;
  },
): Promise<OpenLoopSweep> {
  const steps: OpenLoopStep[] = [];
  const runStep = async (rate: number): Promise<OpenLoopStep> => {
    const onProgress = spec.onStep?.(rate);
    const step = await runOpenLoop(target, { ...spec, rate, ...(onProgress === undefined ? {} : { onProgress }) });
    steps.push(step);
    spec.onStepDone?.(step);
    return step;
  };
  const sorted = [...rates].sort((a, b) => a - b);
  for (const rate of sorted) {
    if (!(await runStep(rate)).held) break;
  }
  // Even the lowest rate was too much (a busy machine): halve it a few times
  // so the sweep still finds a rate the target holds.
  let lower = sorted[0] ?? 0;
  for (let tries = 0; steps.length > 0 && steps.every((s) => !s.held) && tries < OPEN_LOOP_DOWNWARD_STEPS; tries++) {
    lower = Math.floor(lower / 2);
    if (lower < 1) break;
    await runStep(lower);
  }
  steps.sort((a, b) => a.rateTarget - b.rateTarget);
  const held = steps.filter((s) => s.held).map((s) => s.rateTarget);
  return {
    target: target.kind,
    op: spec.op,
    p99BoundMs: spec.p99BoundMs,
    steps,
    maxRateHeld: held.length === 0 ? null : Math.max(...held),
  };
}
