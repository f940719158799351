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
import { StateTable, searchPartition, unobservedUnknownOps } from './search.ts';
import { describeOp, explainWindow } from './explain.ts';
import type { Counterexample, LinearizationStep, Model } from './types.ts';

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

/**
 * Smallest illegal prefix by binary search over ok completion points. The
 * op where the search got stuck (`stuckAt`, its completion) is tried first:
 * the prefix up to it is usually illegal already, which narrows the range
 * to the short history before it.
 */
function shortestIllegalPrefix(shrinker: Shrinker, ops: WindowOp[], stuckAt: number | undefined): WindowOp[] {
  const cuts = ops
    .filter((op) => op.ok)
    .map((op) => op.completeIndex)
    .sort((a, b) => a - b);
  let lo = 0;
  let hi = cuts.length - 1; // the full history is known to be illegal
  const guess = stuckAt === undefined ? -1 : cuts.indexOf(stuckAt);
  if (guess >= 0 && guess < hi) {
    if (shrinker.illegal(prefix(ops, cuts[guess]!))) hi = guess;
    else lo = guess + 1;
  }
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (shrinker.illegal(prefix(ops, cuts[mid]!))) hi = mid;
    else lo = mid + 1;
  }
  return hi >= 0 ? prefix(ops, cuts[hi]!) : ops;
}

/**
 * Latest start by binary search: relaxing every ok op invoked before a cut
 * is monotone (relaxing more can only make it linearizable), and with
 * distinct values most relaxed writes are then unobserved and cost the
 * search nothing. A few searches drop everything well before the anomaly.
 */
function latestIllegalStart(shrinker: Shrinker, ops: WindowOp[]): WindowOp[] {
  const cuts = ops.filter((op) => op.ok).map((op) => op.invokeIndex);
  const relaxedBefore = (k: number): WindowOp[] => {
    const cut = cuts[k]!;
    return shrinker.relaxOrDrop(ops, (op) => op.invokeIndex < cut);
  };
  let lo = 0; // relaxing nothing is known to be illegal
  let hi = cuts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (shrinker.illegal(relaxedBefore(mid))) lo = mid;
    else hi = mid - 1;
    if (shrinker.timedOut) return lo === 0 ? ops : relaxedBefore(lo);
  }
  return lo === 0 ? ops : relaxedBefore(lo);
}

/**
 * Unknown ops (relaxed or recorded) whose value no op of the window
 * observes cannot matter (search.ts, pruneUnknownOps): leave them out.
 */
function withoutUnobserved(ops: WindowOp[], model: Model<any>): WindowOp[] {
  const gone = unobservedUnknownOps(ops, model);
  return gone.size === 0 ? ops : ops.filter((_op, i) => !gone.has(i));
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
): { paths: ScoredPath[]; truncated: boolean } {
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
  let truncated = false;
  const walk = (state: unknown, doneOk: number): void => {
    if (truncated) return;
    if (++steps > WINDOW_SEARCH_STEPS_MAX || (steps % 1024 === 0 && performance.now() > deadline)) {
      truncated = true;
      return;
    }
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
  return { paths: best, truncated };
}

/** Where the search found an illegal partition failing (SearchOutcome.failure). */
export interface FailurePoint {
  ops: number[];
  starts: { state: unknown; applied: number[] }[];
  stuck?: number | undefined;
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
  // Shrinking gets 85% of what is left; the walk for partial linearizations
  // the rest, so the whole stays within the budget.
  const now = performance.now();
  const shrinkDeadline = now + Math.max(0, limits.deadline - now) * 0.85;
  const shrinker = new Shrinker(model, { ...limits, deadline: shrinkDeadline }, starts);
  let window: WindowOp[] = failure.ops
    .map((i) => ({ ...ops[i]!, relaxed: false }))
    .sort((a, b) => a.invokeIndex - b.invokeIndex);
  const stuckAt = failure.stuck === undefined ? undefined : ops[failure.stuck]!.completeIndex;
  window = shortestIllegalPrefix(shrinker, window, stuckAt);
  if (!shrinker.timedOut) window = latestIllegalStart(shrinker, window);
  if (!shrinker.timedOut) window = relaxChunks(shrinker, window);
  window = withoutUnobserved(window, model);
  // Unknown read-only ops constrain nothing: leave them out of the drawing.
  window = window.filter((op) => op.ok || !(model.readOnly?.(op.f, op.input) ?? false));
  const everLinearized = new Set<number>();
  let paths: ScoredPath[] = [];
  // The walk is quadratic in the window; a window the shrinking could not cut
  // down (time cap) is reported without partial linearizations.
  // Starts with the fewest unknown ops already applied leave the most to place: walk those.
  const byFreedom = [...starts].sort((a, b) => a.applied.size - b.applied.size);
  const drawable = window.length <= PARTIAL_WINDOW_OPS_MAX ? byFreedom.slice(0, STARTS_DRAWN_MAX) : [];
  let truncated = drawable.length < starts.length;
  for (const start of drawable) {
    const fromStart = window.filter((op) => !start.applied.has(op.id));
    const walked = partialLinearizations(fromStart, model, start.state, limits.deadline, everLinearized);
    paths.push(...walked.paths);
    truncated ||= walked.truncated;
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
  const stuckOps = truncated ? [] : okOps.filter((op) => !everLinearized.has(op.id)).map((op) => op.id);
  const windowStartIndex = window.reduce((m, op) => Math.min(m, op.invokeIndex), Infinity);
  const result: Counterexample = {
    initialState: initialStates.length === 1 ? initialStates[0]! : `one of ${initialStates.join(', ')}`,
    initialStates,
    ops: window.map((op) => describeOp(op, model)),
    partialLinearizations: paths.map((p) => p.steps),
    stuckOps,
    windowStartIndex,
    windowEndIndex: window.reduce((m, op) => Math.max(m, op.ok ? op.completeIndex : op.invokeIndex), -1),
    minimal: !shrinker.timedOut,
    partialLinearizationsTruncated: truncated,
  };
  // The op to explain: one no partial linearization placed, else where the search got stuck.
  const indexOf = (id: number | undefined): number | undefined => {
    const i = id === undefined ? -1 : ops.findIndex((op) => op.id === id);
    return i === -1 ? undefined : i;
  };
  const stuck = stuckOps.length > 0 ? indexOf(stuckOps[0]) : (failure.stuck ?? indexOf(okOps.at(-1)?.id));
  const words = explainWindow(ops, model, initialStates, windowStartIndex, stuck);
  result.initialStateCauses = words.causes;
  if (words.explanation !== undefined) result.explanation = words.explanation;
  if (key !== undefined) result.key = key;
  return result;
}
