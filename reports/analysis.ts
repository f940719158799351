/**
 * Figures a report shows, computed from a run's history and status samples:
 * completed ops with latencies, throughput per second, per-op-type counts
 * and percentiles, fault windows with recovery, leader changes.
 */
import type { RunEvent, StatusSample } from './run-files.ts';

/** A client op with its completion. */
export interface CompletedOp {
  process: number;
  f: string;
  key?: string;
  outcome: 'ok' | 'fail' | 'info' | 'pending';
  invokeNs: number;
  /** Completion time; the end of the history for pending ops. */
  completeNs: number;
  latencyMs: number;
  node?: string;
}

/** A nemesis fault window. */
export interface FaultWindow {
  index: number;
  kind: string;
  description: string;
  targets: unknown;
  startNs: number;
  /** Network faults: the layer that applied it (`kernel` or `proxy`). */
  layer?: string;
  /** Stop time; undefined when the history ends before the stop. */
  stopNs?: number;
}

/** Recovery figures of one fault. */
export interface FaultRecovery extends FaultWindow {
  /** ms from the fault's start to the first ok write/CAS invoked after it; undefined = none. */
  firstWriteAfterStartMs?: number;
  /** ms from the fault's stop to the first ok write/CAS invoked after it. */
  firstWriteAfterStopMs?: number;
  /** Longest stretch without any ok write/CAS completion, from the start to the first write after the stop. */
  unavailableMs?: number;
  /** Leader changes seen by the status poller from the start until the next fault. */
  leaderChanges: number;
  /** Ops that ended info while the fault was active. */
  infoOps: number;
}

/** Counts and latency percentiles of one op type. */
export interface OpTypeStats {
  f: string;
  ok: number;
  fail: number;
  info: number;
  /** Latency of ok ops, ms. */
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** A leader as seen by the status poller. */
export interface LeaderSample {
  timeNs: number;
  leader: string | null;
  term: number;
}

/** Pairs invokes with completions (by process; the first completion after an invoke ends it). */
export function completedOps(events: readonly RunEvent[]): CompletedOp[] {
  const open = new Map<number, RunEvent>();
  const ops: CompletedOp[] = [];
  const endNs = events.length > 0 ? (events[events.length - 1]?.time ?? 0) : 0;
  for (const event of events) {
    if (typeof event.process !== 'number') continue;
    if (event.type === 'invoke') {
      open.set(event.process, event);
      continue;
    }
    const invoke = open.get(event.process);
    if (invoke === undefined) continue;
    open.delete(event.process);
    ops.push({
      process: event.process,
      f: invoke.f,
      ...(invoke.key !== undefined ? { key: invoke.key } : {}),
      outcome: event.type,
      invokeNs: invoke.time,
      completeNs: event.time,
      latencyMs: (event.time - invoke.time) / 1e6,
      ...(invoke.node !== undefined ? { node: invoke.node } : {}),
    });
  }
  for (const invoke of open.values()) {
    ops.push({
      process: invoke.process as number,
      f: invoke.f,
      ...(invoke.key !== undefined ? { key: invoke.key } : {}),
      outcome: 'pending',
      invokeNs: invoke.time,
      completeNs: endNs,
      latencyMs: (endNs - invoke.time) / 1e6,
    });
  }
  return ops.sort((a, b) => a.invokeNs - b.invokeNs);
}

/** Nearest-rank percentile of an ascending array; 0 for an empty one. */
export function percentile(sortedAscending: readonly number[], p: number): number {
  if (sortedAscending.length === 0) return 0;
  const rank = Math.min(sortedAscending.length - 1, Math.max(0, Math.ceil((p / 100) * sortedAscending.length) - 1));
  return sortedAscending[rank] ?? 0;
}

/** Per-op-type counts and ok-latency percentiles, plus an "all" row. */
export function opTypeStats(ops: readonly CompletedOp[]): OpTypeStats[] {
  const groups = new Map<string, CompletedOp[]>();
  for (const op of ops) {
    const list = groups.get(op.f) ?? [];
    list.push(op);
    groups.set(op.f, list);
  }
  const row = (f: string, list: readonly CompletedOp[]): OpTypeStats => {
    const latencies = list
      .filter((o) => o.outcome === 'ok')
      .map((o) => o.latencyMs)
      .sort((a, b) => a - b);
    return {
      f,
      ok: list.filter((o) => o.outcome === 'ok').length,
      fail: list.filter((o) => o.outcome === 'fail').length,
      info: list.filter((o) => o.outcome === 'info' || o.outcome === 'pending').length,
      p50Ms: percentile(latencies, 50),
      p95Ms: percentile(latencies, 95),
      p99Ms: percentile(latencies, 99),
      maxMs: latencies[latencies.length - 1] ?? 0,
    };
  };
  const rows = [...groups.keys()].sort().map((f) => row(f, groups.get(f) ?? []));
  rows.push(row('all', ops));
  return rows;
}

/** Fault windows from the nemesis events (start/stop paired by fault index or kind). */
export function faultWindows(events: readonly RunEvent[]): FaultWindow[] {
  const windows: FaultWindow[] = [];
  const open = new Map<string, FaultWindow>();
  for (const event of events) {
    if (event.process !== 'nemesis') continue;
    const match = /^(.*)-(start|stop)$/.exec(event.f);
    if (match === null) continue;
    const kind = match[1] ?? event.f;
    const id = event.fault !== undefined ? `#${event.fault}` : kind;
    if (match[2] === 'start') {
      const window: FaultWindow = {
        index: event.fault ?? windows.length,
        kind,
        description: event.detail ?? kind,
        targets: event.value,
        startNs: event.time,
        ...(event.layer !== undefined ? { layer: event.layer } : {}),
      };
      windows.push(window);
      open.set(id, window);
    } else {
      const window = open.get(id);
      if (window !== undefined) {
        window.stopNs = event.time;
        // A scripted scenario's stop says what it achieved ("scenario figure8: reached (...)").
        if (event.detail !== undefined) window.description = event.detail;
      }
      open.delete(id);
    }
  }
  return windows;
}

/**
 * Overlapping fault windows (`--overlap`): a lane per window, the lowest one free at its start, so windows that
 * overlap get different lanes and a run without overlap has every window in lane 0. An open window lasts to `endNs`.
 */
export function faultLanes(windows: readonly FaultWindow[], endNs: number): number[] {
  const laneEnds: number[] = [];
  return windows.map((window) => {
    let lane = laneEnds.findIndex((end) => end <= window.startNs);
    if (lane < 0) lane = laneEnds.length;
    laneEnds[lane] = window.stopNs ?? endNs;
    return lane;
  });
}

/** Per window, the indices of the other windows active at some instant of it. */
export function concurrentFaults(windows: readonly FaultWindow[], endNs: number): number[][] {
  const stop = (w: FaultWindow): number => w.stopNs ?? endNs;
  return windows.map((w) =>
    windows.filter((o) => o !== w && o.startNs < stop(w) && w.startNs < stop(o)).map((o) => o.index),
  );
}

/** The leader over time: the leader of the highest term any node reports, per status sample. */
export function leaderTimeline(samples: readonly StatusSample[]): LeaderSample[] {
  return samples.map((sample) => {
    let best: { leader: string | null; term: number } = { leader: null, term: -1 };
    for (const status of Object.values(sample.nodes)) {
      if (status === null) continue;
      if (status.role === 'leader' && status.term >= best.term)
        best = { leader: status.leader ?? null, term: status.term };
      else if (status.term > best.term) best = { leader: null, term: status.term };
    }
    // A node that says it leads reports itself (or its id) as leader.
    for (const [id, status] of Object.entries(sample.nodes)) {
      if (status !== null && status.role === 'leader' && status.term === best.term)
        best = { leader: id, term: best.term };
    }
    return { timeNs: sample.time, leader: best.leader, term: Math.max(0, best.term) };
  });
}

/** The samples at which a known leader appears that differs in id or term from the last known one. */
export function leaderChangePoints(timeline: readonly LeaderSample[]): LeaderSample[] {
  const changes: LeaderSample[] = [];
  let previous: LeaderSample | undefined;
  for (const sample of timeline) {
    if (sample.leader === null) continue;
    if (previous === undefined || previous.leader !== sample.leader || previous.term !== sample.term)
      changes.push(sample);
    previous = sample;
  }
  return changes;
}

/** Number of times the (leader, term) pair changed in [fromNs, toNs), counting only known leaders. */
export function leaderChanges(timeline: readonly LeaderSample[], fromNs: number, toNs: number): number {
  let changes = 0;
  let previous: LeaderSample | undefined;
  for (const sample of timeline) {
    if (sample.leader === null) continue;
    if (sample.timeNs < fromNs) {
      previous = sample;
      continue;
    }
    if (sample.timeNs >= toNs) break;
    if (previous !== undefined && (previous.leader !== sample.leader || previous.term !== sample.term)) changes++;
    previous = sample;
  }
  return changes;
}

const isWrite = (op: CompletedOp): boolean => op.f === 'write' || op.f === 'cas';

/** Recovery figures per fault window. */
export function faultRecovery(
  windows: readonly FaultWindow[],
  ops: readonly CompletedOp[],
  timeline: readonly LeaderSample[],
  endNs: number,
): FaultRecovery[] {
  const okWrites = ops.filter((o) => o.outcome === 'ok' && isWrite(o)).sort((a, b) => a.completeNs - b.completeNs);
  const firstOkWriteInvokedAfter = (t: number): CompletedOp | undefined => {
    let best: CompletedOp | undefined;
    for (const op of okWrites)
      if (op.invokeNs >= t && (best === undefined || op.completeNs < best.completeNs)) best = op;
    return best;
  };
  return windows.map((window, i) => {
    const nextStart = windows[i + 1]?.startNs ?? endNs;
    const afterStart = firstOkWriteInvokedAfter(window.startNs);
    const afterStop = window.stopNs === undefined ? undefined : firstOkWriteInvokedAfter(window.stopNs);
    // Longest gap between consecutive ok write completions over [start, first write after stop].
    const until = afterStop?.completeNs ?? window.stopNs ?? endNs;
    let unavailableNs = 0;
    let last = window.startNs;
    for (const op of okWrites) {
      if (op.completeNs < window.startNs) continue;
      if (op.completeNs > until) break;
      unavailableNs = Math.max(unavailableNs, op.completeNs - last);
      last = op.completeNs;
    }
    unavailableNs = Math.max(unavailableNs, until - last);
    const activeEnd = window.stopNs ?? endNs;
    return {
      ...window,
      ...(afterStart !== undefined ? { firstWriteAfterStartMs: (afterStart.completeNs - window.startNs) / 1e6 } : {}),
      ...(afterStop !== undefined && window.stopNs !== undefined
        ? { firstWriteAfterStopMs: (afterStop.completeNs - window.stopNs) / 1e6 }
        : {}),
      unavailableMs: unavailableNs / 1e6,
      leaderChanges: leaderChanges(timeline, window.startNs, nextStart),
      infoOps: ops.filter(
        (o) =>
          (o.outcome === 'info' || o.outcome === 'pending') &&
          o.completeNs >= window.startNs &&
          o.invokeNs <= activeEnd,
      ).length,
    };
  });
}

/** Throughput per `bucketMs` by outcome: x = bucket start in s. */
export function throughputSeries(
  ops: readonly CompletedOp[],
  endNs: number,
  bucketMs = 1000,
): { x: number[]; ok: number[]; fail: number[]; info: number[] } {
  const buckets = Math.max(1, Math.ceil(endNs / 1e6 / bucketMs));
  const series = {
    x: [] as number[],
    ok: new Array<number>(buckets).fill(0),
    fail: new Array<number>(buckets).fill(0),
    info: new Array<number>(buckets).fill(0),
  };
  for (let i = 0; i < buckets; i++) series.x.push((i * bucketMs) / 1000);
  const perSecond = 1000 / bucketMs;
  for (const op of ops) {
    const bucket = Math.min(buckets - 1, Math.floor(op.completeNs / 1e6 / bucketMs));
    const outcome = op.outcome === 'pending' ? 'info' : op.outcome;
    series[outcome][bucket] = (series[outcome][bucket] ?? 0) + perSecond;
  }
  return series;
}
