// A useful "no": for an illegal partition, find a small window of operations
// that cannot be linearized, and the longest partial linearizations of it.
//
// Shrinking only ever RELAXES the history, so the window's illegality implies
// the original's: an ok op is relaxed by turning it into an op of unknown
// outcome (it may take effect any time after its invoke, or never), and a
// read-only ok op is removed outright (removing a read removes a constraint).
// Both make a history easier to linearize, so if the relaxed history is still
// illegal, so was the original. Steps, each checked with the real search:
//   1. the shortest illegal prefix (ops still running at the cut become
//      unknown), by binary search on the cut, since legality is monotone;
//   2. relax every ok op invoked before some point a, largest a by binary
//      search (monotone again);
//   3. delta-debugging passes that relax chunks of the remaining ok ops,
//      halving the chunk size down to single ops.
// All under a time cap; when it runs out the window is reported as found so
// far with `minimal: false`.
import type { Operation } from './history.ts';
import { searchPartition } from './search.ts';
import type { Counterexample, LinearizationStep, Model, OperationInfo } from './types.ts';

/** Limits of building one counterexample. */
export interface ShrinkLimits {
  deadline: number;
  memoBytesMax: number;
}

const PARTIAL_LINEARIZATIONS_MAX = 3;
const WINDOW_SEARCH_STEPS_MAX = 200_000;

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

class Shrinker {
  timedOut = false;
  constructor(
    private readonly model: Model<any>,
    private readonly limits: ShrinkLimits,
  ) {}

  /** True only when the search proves the ops illegal. */
  illegal(ops: readonly WindowOp[]): boolean {
    if (performance.now() > this.limits.deadline) {
      this.timedOut = true;
      return false;
    }
    const outcome = searchPartition(ops, this.model, this.limits);
    if (outcome.verdict === 'unknown') this.timedOut = true;
    return outcome.verdict === 'illegal';
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
  const cuts = ops.filter((op) => op.ok).map((op) => op.completeIndex).sort((a, b) => a - b);
  let lo = 0;
  let hi = cuts.length - 1; // the full history is known to be illegal
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (shrinker.illegal(prefix(ops, cuts[mid]!))) hi = mid;
    else lo = mid + 1;
  }
  return hi >= 0 ? prefix(ops, cuts[hi]!) : ops;
}

/** Relax every ok op invoked before the largest cut that keeps it illegal. */
function relaxFront(shrinker: Shrinker, ops: WindowOp[]): WindowOp[] {
  const okIdx = ops.map((op, i) => (op.ok ? i : -1)).filter((i) => i >= 0);
  let lo = 0; // number of leading ok ops relaxed; 0 is known illegal
  let hi = okIdx.length;
  let best = ops;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    const limit = okIdx[mid - 1]!;
    const candidate = shrinker.relaxOrDrop(ops, (_op, i) => i <= limit);
    if (shrinker.illegal(candidate)) {
      lo = mid;
      best = candidate;
    } else hi = mid - 1;
  }
  return best;
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

/**
 * Longest partial linearizations of a small window: an exhaustive WGL walk
 * recording dead ends, bounded in steps and time.
 */
function partialLinearizations(
  ops: readonly WindowOp[],
  model: Model<any>,
  deadline: number,
): { paths: LinearizationStep[][]; everLinearized: Set<number> } {
  const n = ops.length;
  // Real-time order: op j must precede op i when j returned before i was invoked.
  const preds: number[][] = ops.map((op) => ops.flatMap((other, j) => (other.ok && other.completeIndex < op.invokeIndex ? [j] : [])));
  const done = new Uint8Array(n);
  const okCount = ops.filter((op) => op.ok).length;
  const seen = new Set<string>();
  const everLinearized = new Set<number>();
  const path: { op: number; state: unknown }[] = [];
  let best: { score: number; steps: LinearizationStep[] }[] = [];
  let steps = 0;
  const score = (): number => path.reduce((s, p) => s + (ops[p.op]!.ok ? n + 1 : 1), 0);
  const record = (): void => {
    const s = score();
    if (best.length === PARTIAL_LINEARIZATIONS_MAX && s <= best[best.length - 1]!.score) return;
    const stepsOut = path.map((p) => ({ id: ops[p.op]!.id, state: model.describeState(p.state) }));
    const sig = stepsOut.map((x) => x.id).join(',');
    if (best.some((b) => b.steps.map((x) => x.id).join(',') === sig)) return;
    best.push({ score: s, steps: stepsOut });
    best.sort((a, b) => b.score - a.score);
    best = best.slice(0, PARTIAL_LINEARIZATIONS_MAX);
  };
  const walk = (state: unknown, doneOk: number): void => {
    if (++steps > WINDOW_SEARCH_STEPS_MAX || (steps % 1024 === 0 && performance.now() > deadline)) return;
    const key = String(model.hash(state)) + '|' + done.join('');
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
    if (!extended || doneOk === okCount) record();
  };
  walk(model.init(), 0);
  return { paths: best.map((b) => b.steps), everLinearized };
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

/** Builds the counterexample of a partition known to be illegal. */
export function explainIllegal(ops: readonly Operation[], model: Model<any>, key: string | undefined, limits: ShrinkLimits): Counterexample {
  const shrinker = new Shrinker(model, limits);
  let window: WindowOp[] = ops.map((op) => ({ ...op, relaxed: false }));
  window = shortestIllegalPrefix(shrinker, window);
  if (!shrinker.timedOut) window = relaxFront(shrinker, window);
  if (!shrinker.timedOut) window = relaxChunks(shrinker, window);
  // Unknown ops that cannot matter (see pruneUnknownOps) are left out of the
  // drawing; everything else stays, since the window is illegal only with them.
  const readOnly = (op: WindowOp): boolean => model.readOnly?.(op.f, op.input) ?? false;
  window = window.filter((op) => op.ok || !readOnly(op));
  const firstOk = window.find((op) => op.ok);
  const okOps = window.filter((op) => op.ok);
  const start = firstOk?.invokeIndex ?? 0;
  // Unknown ops invoked long before the first ok op of the window are still
  // free to take effect, but drawing hundreds of them helps nobody: keep the
  // ones invoked inside the window plus any that some ok op observes.
  const flow = model.valueFlow?.bind(model);
  if (flow !== undefined) {
    const observed = new Set(okOps.map((op) => flow(op.f, op.input, op.output)?.requires));
    window = window.filter((op) => op.ok || op.invokeIndex >= start || observed.has(flow(op.f, op.input, undefined)?.writes));
  }
  const { paths, everLinearized } = partialLinearizations(window, model, limits.deadline + 200);
  const end = Math.max(...window.map((op) => (op.ok ? op.completeIndex : op.invokeIndex)));
  const result: Counterexample = {
    initialState: model.describeState(model.init()),
    ops: window.map((op) => describeOp(op, model)),
    partialLinearizations: paths,
    stuckOps: okOps.filter((op) => !everLinearized.has(op.id)).map((op) => op.id),
    windowStartIndex: Math.min(...window.map((op) => op.invokeIndex)),
    windowEndIndex: end,
    minimal: !shrinker.timedOut,
  };
  if (key !== undefined) result.key = key;
  return result;
}
