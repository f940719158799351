// A useful "no": for an illegal partition, find a small window of operations
// that cannot be linearized, and the longest partial linearizations of it.
//
// The search already narrows it down: an illegal verdict means it explored
// every configuration reachable at every quiescent cut, and it reports the
// first segment that no configuration got through, with all configurations
// it entered that segment with. That segment, started from those
// configurations, is an exact window: the history is illegal because of it.
//
// Within the window, shrinking only ever RELAXES it, so the smaller window's
// illegality still implies the original's: an ok op is relaxed by turning it
// into an op of unknown outcome (it may take effect any time after its
// invoke, or never), and a read-only ok op is removed (a read that is gone
// constrains nothing). Steps, each checked with the real search:
//   1. the shortest illegal prefix of the window (ops still running at the
//      cut become unknown), by binary search, since legality is monotone;
//   2. delta-debugging passes that relax chunks of the remaining ok ops,
//      halving the chunk size down to single ops.
// All under a time cap; when it runs out the window found so far is
// reported with `minimal: false`.
import type { Operation } from './history.ts';
import { StateTable, searchPartition } from './search.ts';
import type { Counterexample, LinearizationStep, Model, OperationInfo } from './types.ts';

/** Limits of building one counterexample. */
export interface ShrinkLimits {
  deadline: number;
  memoBytesMax: number;
}

const PARTIAL_LINEARIZATIONS_MAX = 3;
const WINDOW_SEARCH_STEPS_MAX = 50_000;

interface WindowOp extends Operation {
  relaxed: boolean;
}

function relax(op: WindowOp): WindowOp {
  return { ...op, ok: false, output: undefined, completeIndex: -1, completeTimeNs: undefined, relaxed: true };
}

/** Ops of the history cut just after event `cut`: later ops gone, running ones unknown. */
function prefix(ops: readonly WindowOp[], cut: number): WindowOp[] {
  const out: WindowOp[] = [];
  for (const op of ops) {
    if (op.invokeIndex > cut) break;
    out.push(op.ok && op.completeIndex > cut ? relax(op) : op);
  }
  return out;
}

/** A configuration the window may start from: a state and the carried unknown ops that took effect. */
interface Start {
  state: unknown;
  applied: ReadonlySet<number>;
}

class Shrinker {
  timedOut = false;
  constructor(
    private readonly model: Model<any>,
    private readonly limits: ShrinkLimits,
    private readonly starts: readonly Start[],
  ) {}

  /** True only when the search proves the ops illegal from every start. */
  illegal(ops: readonly WindowOp[]): boolean {
    for (const start of this.starts) {
      if (performance.now() > this.limits.deadline) {
        this.timedOut = true;
        return false;
      }
      const fromStart = start.applied.size === 0 ? ops : ops.filter((op) => !start.applied.has(op.id));
      const outcome = searchPartition(fromStart, this.model, this.limits, start.state);
      if (outcome.verdict === 'unknown') this.timedOut = true;
      if (outcome.verdict !== 'illegal') return false;
    }
    return true;
  }

  relaxOrDrop(ops: readonly WindowOp[], chosen: (op: WindowOp, index: number) => boolean): WindowOp[] {
    const out: WindowOp[] = [];
    ops.forEach((op, i) => {
      if (!op.ok || !chosen(op, i)) out.push(op);
      else if (!(this.model.readOnly?.(op.f, op.input) ?? false)) out.push(relax(op));
    });
    return out;
  }
}

/** Smallest illegal prefix by binary search over ok completion points. */
function shortestIllegalPrefix(shrinker: Shrinker, ops: WindowOp[]): WindowOp[] {
  const cuts = ops
    .filter((op) => op.ok)
    .map((op) => op.completeIndex)
    .sort((a, b) => a - b);
  let lo = 0;
  let hi = cuts.length - 1; // the full history is known to be illegal
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (shrinker.illegal(prefix(ops, cuts[mid]!))) hi = mid;
    else lo = mid + 1;
  }
  return hi >= 0 ? prefix(ops, cuts[hi]!) : ops;
}

/** Delta debugging over the remaining ok ops: relax chunks while still illegal. */
function relaxChunks(shrinker: Shrinker, start: WindowOp[]): WindowOp[] {
  let ops = start;
  let chunk = Math.max(1, Math.floor(ops.filter((op) => op.ok).length / 2));
  for (;;) {
    let i = 0;
    for (;;) {
      const okIds = ops.filter((op) => op.ok).map((op) => op.id);
      if (i >= okIds.length) break;
      const group = new Set(okIds.slice(i, i + chunk));
      const candidate = shrinker.relaxOrDrop(ops, (op) => group.has(op.id));
      if (shrinker.illegal(candidate)) ops = candidate;
      else i += chunk;
      if (shrinker.timedOut) return ops;
    }
    if (chunk === 1) return ops;
    chunk = Math.max(1, Math.floor(chunk / 2));
  }
}

interface ScoredPath {
  score: number;
  steps: LinearizationStep[];
}

/**
 * Longest partial linearizations of a small window from one start: an
 * exhaustive WGL walk recording dead ends, bounded in steps and time. The
 * score counts ok ops first (an unknown op that took effect is not progress).
 */
function partialLinearizations(
  ops: readonly WindowOp[],
  model: Model<any>,
  initialState: unknown,
  deadline: number,
  everLinearized: Set<number>,
): ScoredPath[] {
  const n = ops.length;
  // Real-time order: op j must precede op i when j returned before i was invoked.
  const preds: number[][] = ops.map((op) =>
    ops.flatMap((other, j) => (other.ok && other.completeIndex < op.invokeIndex ? [j] : [])),
  );
  const done = new Uint8Array(n);
  const okCount = ops.filter((op) => op.ok).length;
  const seen = new Set<string>();
  const stateIds = new StateTable(model);
  const path: { op: number; state: unknown }[] = [];
  let best: ScoredPath[] = [];
  let steps = 0;
  const record = (doneOk: number): void => {
    const score = doneOk * (n + 1) + path.length;
    if (best.length === PARTIAL_LINEARIZATIONS_MAX && score <= best[best.length - 1]!.score) return;
    const stepsOut = path.map((p) => ({ id: ops[p.op]!.id, state: model.describeState(p.state) }));
    best.push({ score, steps: stepsOut });
    best.sort((x, y) => y.score - x.score);
    best = best.slice(0, PARTIAL_LINEARIZATIONS_MAX);
  };
  const walk = (state: unknown, doneOk: number): void => {
    if (++steps > WINDOW_SEARCH_STEPS_MAX || (steps % 1024 === 0 && performance.now() > deadline)) return;
    const key = `${stateIds.intern(state)}|${done.join('')}`;
    if (seen.has(key)) return;
    seen.add(key);
    let extended = false;
    for (let i = 0; i < n; i++) {
      if (done[i] || !preds[i]!.every((j) => done[j])) continue;
      const op = ops[i]!;
      const next = model.step(state, op.f, op.input, op.output);
      if (next === undefined) continue;
      extended = true;
      done[i] = 1;
      everLinearized.add(op.id);
      path.push({ op: i, state: next });
      walk(next, doneOk + (op.ok ? 1 : 0));
      path.pop();
      done[i] = 0;
    }
    if (!extended || doneOk === okCount) record(doneOk);
  };
  walk(initialState, 0);
  return best;
}

/** Operation as drawn by the report. */
export function describeOp(op: Operation & { relaxed?: boolean }, model: Model<any>): OperationInfo {
  const info: OperationInfo = {
    id: op.id,
    process: op.process,
    f: op.f,
    input: op.input,
    outcome: op.ok ? 'ok' : 'info',
    invokeIndex: op.invokeIndex,
    description: model.describeOperation(op.f, op.input, op.output),
  };
  if (op.key !== undefined) info.key = op.key;
  if (op.ok) {
    info.output = op.output;
    info.completeIndex = op.completeIndex;
  }
  if (op.relaxed) info.relaxed = true;
  if (op.invokeTimeNs !== undefined) info.invokeTimeNs = op.invokeTimeNs;
  if (op.completeTimeNs !== undefined) info.completeTimeNs = op.completeTimeNs;
  return info;
}

/** Where the search found an illegal partition failing (SearchOutcome.failure). */
export interface FailurePoint {
  ops: number[];
  starts: { state: unknown; applied: number[] }[];
}

const STARTS_DRAWN_MAX = 8;
const PARTIAL_WINDOW_OPS_MAX = 400;

/** Builds the counterexample of a partition the search proved illegal. */
export function explainIllegal(
  ops: readonly Operation[],
  model: Model<any>,
  key: string | undefined,
  failure: FailurePoint,
  limits: ShrinkLimits,
): Counterexample {
  const starts: Start[] = failure.starts.map((st) => ({
    state: st.state,
    applied: new Set(st.applied.map((i) => ops[i]!.id)),
  }));
  const shrinker = new Shrinker(model, limits, starts);
  let window: WindowOp[] = failure.ops
    .map((i) => ({ ...ops[i]!, relaxed: false }))
    .sort((a, b) => a.invokeIndex - b.invokeIndex);
  window = shortestIllegalPrefix(shrinker, window);
  if (!shrinker.timedOut) window = relaxChunks(shrinker, window);
  // Unknown read-only ops constrain nothing: leave them out of the drawing.
  window = window.filter((op) => op.ok || !(model.readOnly?.(op.f, op.input) ?? false));
  const everLinearized = new Set<number>();
  let paths: ScoredPath[] = [];
  // The walk is quadratic in the window; a window the shrinking could not cut
  // down (time cap) is reported without partial linearizations.
  const drawable = window.length <= PARTIAL_WINDOW_OPS_MAX ? starts.slice(0, STARTS_DRAWN_MAX) : [];
  for (const start of drawable) {
    const fromStart = window.filter((op) => !start.applied.has(op.id));
    paths.push(...partialLinearizations(fromStart, model, start.state, limits.deadline + 200, everLinearized));
  }
  const signatures = new Set<string>();
  paths = paths
    .sort((a, b) => b.score - a.score)
    .filter((p) => {
      const signature = p.steps.map((step) => `${step.id}:${step.state}`).join(' ');
      if (signatures.has(signature)) return false;
      signatures.add(signature);
      return true;
    })
    .slice(0, PARTIAL_LINEARIZATIONS_MAX);
  const okOps = window.filter((op) => op.ok);
  const initialStates = [...new Set(starts.map((st) => model.describeState(st.state)))];
  const result: Counterexample = {
    initialState: initialStates.length === 1 ? initialStates[0]! : `one of ${initialStates.join(', ')}`,
    initialStates,
    ops: window.map((op) => describeOp(op, model)),
    partialLinearizations: paths.map((p) => p.steps),
    stuckOps: okOps.filter((op) => !everLinearized.has(op.id)).map((op) => op.id),
    windowStartIndex: window.reduce((m, op) => Math.min(m, op.invokeIndex), Infinity),
    windowEndIndex: window.reduce((m, op) => Math.max(m, op.ok ? op.completeIndex : op.invokeIndex), -1),
    minimal: !shrinker.timedOut,
  };
  if (key !== undefined) result.key = key;
  return result;
}
