/**
 * The latency chart's data, kept small: a long run has tens of thousands of ops, and embedding every one made a
 * 60 s report several MB. Every fail and info op is kept, and every op near a violation window; ok ops beyond a
 * bound are sampled per second (each second's slowest op first, then evenly by invoke order), so outliers and
 * stalls stay visible. The per-second p50/p99 lines use every ok op, and a second without an ok op is a gap (null),
 * never a line drawn across it. Values are rounded to what a chart can show (0.1 ms on x, 0.01 ms on y).
 */
import { type CompletedOp, percentile } from './analysis.ts';

/** Points of one outcome: x (s since start), y (latency ms), column-wise. */
export type Points = [x: number[], y: number[]];

/** What the page embeds for the latency chart. */
export interface LatencyData {
  ok: Points;
  fail: Points;
  info: Points;
  /** Per-second p50 and p99 of ok ops at each second's middle; null = no ok op that second. */
  buckets: { x: number[]; p50: (number | null)[]; p99: (number | null)[] };
  /** Ops in the run and points drawn; what the sampling kept whole. */
  total: number;
  shown: number;
  okTotal: number;
  okShown: number;
  nearViolation: number;
}

/** Default bound on sampled ok points. */
export const OK_POINTS_MAX = 8000;

const roundX = (ns: number): number => Math.round(ns / 1e5) / 1e4;
// A log axis cannot show 0: clamp to 1 µs.
const roundY = (ms: number): number => Math.max(0.001, Math.round(ms * 100) / 100);

function pushPoint(points: Points, op: CompletedOp): void {
  points[0].push(roundX(op.invokeNs));
  points[1].push(roundY(op.latencyMs));
}

/** Ok ops to draw: all when within the bound, else a per-second sample that keeps each second's slowest. */
export function sampleOk(ok: readonly CompletedOp[], bound: number, bucketMs = 1000): CompletedOp[] {
  if (ok.length <= bound) return [...ok];
  const buckets = new Map<number, CompletedOp[]>();
  for (const op of ok) {
    const b = Math.floor(op.invokeNs / 1e6 / bucketMs);
    const list = buckets.get(b) ?? [];
    list.push(op);
    buckets.set(b, list);
  }
  const kept: CompletedOp[] = [];
  for (const list of buckets.values()) {
    const quota = Math.max(1, Math.floor((list.length * bound) / ok.length));
    const slowest = list.reduce((a, b) => (b.latencyMs > a.latencyMs ? b : a));
    kept.push(slowest);
    const rest = list.filter((op) => op !== slowest);
    const take = Math.min(rest.length, quota - 1);
    for (let i = 0; i < take; i++) kept.push(rest[Math.floor((i * rest.length) / take)]!);
  }
  return kept.sort((a, b) => a.invokeNs - b.invokeNs);
}

/**
 * The chart data. `keepNear`: [from, to] ns ranges (violation windows); every op overlapping one of them, widened
 * by `nearMs` on each side, is kept whatever the bound.
 */
export function latencyData(
  ops: readonly CompletedOp[],
  endNs: number,
  keepNear: readonly [number, number][] = [],
  bound = OK_POINTS_MAX,
  nearMs = 1000,
): LatencyData {
  const near = (op: CompletedOp): boolean =>
    keepNear.some(([from, to]) => op.completeNs >= from - nearMs * 1e6 && op.invokeNs <= to + nearMs * 1e6);
  const data: LatencyData = {
    ok: [[], []],
    fail: [[], []],
    info: [[], []],
    buckets: { x: [], p50: [], p99: [] },
    total: ops.length,
    shown: 0,
    okTotal: 0,
    okShown: 0,
    nearViolation: 0,
  };
  const okOps = ops.filter((op) => op.outcome === 'ok');
  const okNear = okOps.filter(near);
  const okFar = okOps.filter((op) => !near(op));
  const okDrawn = [...okNear, ...sampleOk(okFar, bound)].sort((a, b) => a.invokeNs - b.invokeNs);
  for (const op of okDrawn) pushPoint(data.ok, op);
  for (const op of ops) {
    if (op.outcome === 'fail') pushPoint(data.fail, op);
    else if (op.outcome === 'info' || op.outcome === 'pending') pushPoint(data.info, op);
  }
  data.okTotal = okOps.length;
  data.okShown = okDrawn.length;
  data.nearViolation = ops.filter(near).length;
  data.shown = okDrawn.length + data.fail[0].length + data.info[0].length;
  const seconds = Math.max(1, Math.ceil(endNs / 1e9));
  const perSecond: number[][] = Array.from({ length: seconds }, () => []);
  for (const op of okOps) perSecond[Math.min(seconds - 1, Math.floor(op.invokeNs / 1e9))]!.push(op.latencyMs);
  perSecond.forEach((list, s) => {
    list.sort((a, b) => a - b);
    data.buckets.x.push(s + 0.5);
    data.buckets.p50.push(list.length === 0 ? null : roundY(percentile(list, 50)));
    data.buckets.p99.push(list.length === 0 ? null : roundY(percentile(list, 99)));
  });
  return data;
}
