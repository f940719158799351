// A direct proof of illegality for register-like partitions, before (or
// instead of) an exhaustive search: a read that returns a value which was
// certainly overwritten, or a value nobody wrote.
//
// Let R be an ok op that requires value v (a read of v, a cas from v), with
// v not the initial value. If no op writes v, R can never be placed (a
// phantom). If every op that writes v is ok, and some ok op O that writes
// another value was invoked after all of them completed and completed before
// R was invoked, then in every linearization O comes after every write of v
// and before R, so the state at R is not v: a stale read (or a lost write
// seen as one). Either way the partition is illegal whatever else happened,
// and the few ops involved are the window to explain it with.
//
// A value consumed more often than it is produced: call an ok op that
// requires v and writes another value a consumer of v (a cas from v). Each
// consumer leaves a state other than v, so before each one the state must
// have become v again: by the initial state (once) or by a write of v. So
// there can be at most as many consumers as ops that write v (ok or
// unknown), plus one when v is the initial value; more is illegal (two
// acknowledged cas from the same value written once: one request applied
// twice, or a lost update). No read shows this, so the stale-read rule does
// not see it, and a search must explore everything before it.
//
// The exhaustive search proves the same, but on one long, busy key (50
// clients, no quiescent point) it must first explore every configuration
// before the read, which is exponential in the clients; this takes a sort
// and a binary search per read. The search stays the judge of everything
// else: this only ever answers "illegal".
import type { Operation } from './history.ts';
import type { SearchOutcome } from './search.ts';
import type { Model, ValueFlow } from './types.ts';

/** lastEnd of a value that an unknown op may write: no proof from it. */
const UNKNOWN = -2;

/** The latest completion of the writers `ws` (but `except`), or UNKNOWN when one of them is not ok. */
function latestEnd(ops: readonly Operation[], ws: readonly number[], except: number): number {
  let lastEnd = -1;
  for (const w of ws) {
    if (w === except) continue;
    if (!ops[w]!.ok) return UNKNOWN;
    lastEnd = Math.max(lastEnd, ops[w]!.completeIndex);
  }
  return lastEnd;
}

/** A proof that `ops` are illegal (an outcome as the search gives it), or undefined. */
export function proveOverwrittenRead(
  ops: readonly Operation[],
  model: Model<any>,
  initialState: unknown,
): SearchOutcome | undefined {
  if (model.valueFlow === undefined || model.stateValue === undefined) return undefined;
  const maybe = ops.map((op) => model.valueFlow!(op.f, op.input, op.output));
  if (!maybe.every((flow) => flow !== undefined)) return undefined;
  const flows = maybe as ValueFlow[];
  const initial = model.stateValue(initialState);
  const writers = new Map<string, number[]>();
  // Ok ops that write, by invoke index, with the suffix minimum of their completions.
  const okWriters: number[] = [];
  for (let i = 0; i < ops.length; i++) {
    const v = flows[i]!.writes;
    if (v === undefined) continue;
    const list = writers.get(v);
    if (list === undefined) writers.set(v, [i]);
    else list.push(i);
    if (ops[i]!.ok) okWriters.push(i);
  }
  // Per written value, once: a value written by many ops is read by many,
  // and rescanning its writers per read was quadratic.
  const lastEndOf = new Map<string, number>();
  for (const [v, ws] of writers) lastEndOf.set(v, latestEnd(ops, ws, -1));
  okWriters.sort((a, b) => ops[a]!.invokeIndex - ops[b]!.invokeIndex);
  const suffixMin = new Array<number>(okWriters.length + 1);
  suffixMin[okWriters.length] = -1;
  for (let k = okWriters.length - 1; k >= 0; k--) {
    const here = okWriters[k]!;
    const later = suffixMin[k + 1]!;
    suffixMin[k] = later === -1 || ops[here]!.completeIndex < ops[later]!.completeIndex ? here : later;
  }
  const proof = (window: number[], stuck: number): SearchOutcome => ({
    verdict: 'illegal',
    steps: 0,
    memoEntries: 0,
    segments: 1,
    prunedOps: 0,
    failure: {
      ops: [...new Set(window)].sort((a, b) => ops[a]!.invokeIndex - ops[b]!.invokeIndex),
      starts: [{ state: initialState, applied: [] }],
      stuck,
    },
  });
  for (let r = 0; r < ops.length; r++) {
    const read = ops[r]!;
    const v = flows[r]!.requires;
    if (!read.ok || v === undefined || v === initial) continue;
    const all = writers.get(v);
    if (all === undefined) return proof([r], r);
    let lastEnd = lastEndOf.get(v)!;
    // A cas v -> v is a writer of the value it reads: leave it out.
    if (flows[r]!.writes === v) {
      if (all.length === 1) continue;
      lastEnd = latestEnd(ops, all, r);
    }
    if (lastEnd === UNKNOWN) continue;
    // First ok writer invoked after lastEnd; the earliest completion from there on.
    let lo = 0;
    let hi = okWriters.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ops[okWriters[mid]!]!.invokeIndex <= lastEnd) lo = mid + 1;
      else hi = mid;
    }
    const o = suffixMin[lo]!;
    if (o !== -1 && ops[o]!.completeIndex < read.invokeIndex) {
      return proof([...all.filter((w) => w !== r), o, r], r);
    }
  }
  return proveOverconsumedValue(ops, flows, initial, writers, proof);
}

function proveOverconsumedValue(
  ops: readonly Operation[],
  flows: readonly ValueFlow[],
  initial: string,
  writers: ReadonlyMap<string, number[]>,
  proof: (window: number[], stuck: number) => SearchOutcome,
): SearchOutcome | undefined {
  const consumers = new Map<string, number[]>();
  for (let i = 0; i < ops.length; i++) {
    const { requires, writes } = flows[i]!;
    if (!ops[i]!.ok || requires === undefined || writes === undefined || writes === requires) continue;
    const list = consumers.get(requires);
    if (list === undefined) consumers.set(requires, [i]);
    else list.push(i);
  }
  for (const [v, list] of consumers) {
    const produced = (writers.get(v)?.length ?? 0) + (v === initial ? 1 : 0);
    if (list.length <= produced) continue;
    // The last consumer (by invoke) is the one a search gets stuck at.
    let stuck = list[0]!;
    for (const c of list) if (ops[c]!.invokeIndex > ops[stuck]!.invokeIndex) stuck = c;
    return proof([...list, ...(writers.get(v) ?? [])], stuck);
  }
  return undefined;
}
