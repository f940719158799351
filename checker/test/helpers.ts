// Test helpers: history generators (valid by construction, or with one
// planted anomaly) and an exhaustive brute-force checker that shares no code
// with the real search (only the model's step function).
import { mulberry32 } from '../synthetic.ts';
import type { HistoryEvent, Model } from '../types.ts';

/** The seeded PRNG of the synthetic histories. */
export const rng = mulberry32;

/** One operation placed on a time line (times are abstract numbers). */
export interface TimedOp {
  f: string;
  key?: string;
  input: unknown;
  output: unknown;
  outcome: 'ok' | 'info' | 'fail' | 'pending';
  invoke: number;
  complete: number;
}

/** Turns timed ops into events: processes assigned so none has two ops open. */
export function toEvents(ops: TimedOp[]): HistoryEvent[] {
  const sorted = [...ops].sort((a, b) => a.invoke - b.invoke);
  const busyUntil: number[] = [];
  const stamped: { time: number; order: number; event: HistoryEvent }[] = [];
  let order = 0;
  for (const op of sorted) {
    // A free process; info and pending ops retire theirs (`docs/architecture.md`).
    let process = busyUntil.findIndex((t) => t < op.invoke);
    if (process === -1) process = busyUntil.length;
    busyUntil[process] = op.outcome === 'info' || op.outcome === 'pending' ? Infinity : op.complete;
    const base: Omit<HistoryEvent, 'type'> = { process, f: op.f };
    if (op.key !== undefined) base.key = op.key;
    stamped.push({
      time: op.invoke,
      order: order++,
      event: { ...base, type: 'invoke', value: op.f === 'read' || op.f === 'get' ? null : op.input },
    });
    if (op.outcome !== 'pending') {
      const value = op.outcome === 'ok' ? op.output : op.f === 'read' || op.f === 'get' ? null : op.input;
      stamped.push({ time: op.complete, order: order++, event: { ...base, type: op.outcome, value } });
    }
  }
  stamped.sort((a, b) => a.time - b.time || a.order - b.order);
  return stamped.map((s) => s.event);
}

/**
 * A random concurrent register history (raftlab-kv ops on `keys` keys) that
 * is linearizable by construction: ops are executed sequentially at
 * linearization points 1, 2, 3, ...; each op's interval is stretched around
 * its point; some writes/cas become info (they did take effect), some extra
 * info writes never take effect, failed cas become fail.
 */
export function linearizableRegisterHistory(seed: number, count: number, keys: number): TimedOp[] {
  const random = rng(seed);
  const state = new Map<string, unknown>();
  const ops: TimedOp[] = [];
  let fresh = 1000;
  for (let i = 1; i <= count; i++) {
    const key = `k${Math.floor(random() * keys)}`;
    const current = state.get(key) ?? null;
    const invoke = i - random() * 3;
    const complete = i + random() * 3;
    const r = random();
    if (r < 0.4) {
      ops.push({ f: 'read', key, input: null, output: current, outcome: 'ok', invoke, complete });
    } else if (r < 0.7) {
      const value = Math.floor(random() * 4);
      state.set(key, value);
      ops.push({
        f: 'write',
        key,
        input: value,
        output: value,
        outcome: random() < 0.15 ? 'info' : 'ok',
        invoke,
        complete,
      });
    } else if (r < 0.85) {
      const expected = random() < 0.6 ? current : Math.floor(random() * 4);
      const value = Math.floor(random() * 4);
      const matches = JSON.stringify(expected) === JSON.stringify(current);
      if (matches) state.set(key, value);
      const outcome = matches ? (random() < 0.15 ? 'info' : 'ok') : 'fail';
      ops.push({ f: 'cas', key, input: [expected, value], output: [expected, value], outcome, invoke, complete });
    } else if (r < 0.92) {
      state.set(key, null);
      ops.push({ f: 'delete', key, input: null, output: null, outcome: 'ok', invoke, complete });
    } else {
      // An info write that never took effect (its value is fresh: never read).
      ops.push({
        f: 'write',
        key,
        input: fresh++,
        output: null,
        outcome: random() < 0.5 ? 'info' : 'pending',
        invoke,
        complete,
      });
    }
  }
  return ops;
}

/** Register anomalies planted with fresh values, at time `at` (see the test). */
export type RegisterAnomaly = 'stale-read' | 'lost-write' | 'duplicated-apply';

/**
 * Adds three or four sequential ops on one key around time `at`, with fresh
 * values nobody else writes, that no linearization can explain:
 * - stale-read: w(a), w(b), then r -> a;
 * - lost-write: w(a), cas(a->c) ok, then r -> a (the cas's write got lost);
 * - duplicated-apply: w(a), cas(a->b) ok, w(c), then cas(a->b) ok again
 *   (one request applied twice: the second apply needs state a again).
 */
export function plantRegisterAnomaly(ops: TimedOp[], kind: RegisterAnomaly, at: number, key: string): TimedOp[] {
  const a = 'fresh-a';
  const b = 'fresh-b';
  const c = 'fresh-c';
  const seq = (list: Omit<TimedOp, 'invoke' | 'complete' | 'outcome'>[]): TimedOp[] =>
    list.map((op, i) => ({ ...op, outcome: 'ok', invoke: at + i * 0.2, complete: at + i * 0.2 + 0.1 }));
  switch (kind) {
    case 'stale-read':
      return [
        ...ops,
        ...seq([
          { f: 'write', key, input: a, output: a },
          { f: 'write', key, input: b, output: b },
          { f: 'read', key, input: null, output: a },
        ]),
      ];
    case 'lost-write':
      return [
        ...ops,
        ...seq([
          { f: 'write', key, input: a, output: a },
          { f: 'cas', key, input: [a, c], output: [a, c] },
          { f: 'read', key, input: null, output: a },
        ]),
      ];
    case 'duplicated-apply':
      return [
        ...ops,
        ...seq([
          { f: 'write', key, input: a, output: a },
          { f: 'cas', key, input: [a, b], output: [a, b] },
          { f: 'write', key, input: c, output: c },
          { f: 'cas', key, input: [a, b], output: [a, b] },
        ]),
      ];
    default: {
      const never: never = kind;
      return never;
    }
  }
}

/** A random small history over a tiny value domain: may or may not be linearizable. */
export function randomSmallHistory(seed: number, count: number, spread = 10): TimedOp[] {
  const random = rng(seed);
  const ops: TimedOp[] = [];
  for (let i = 0; i < count; i++) {
    const invoke = random() * spread;
    const complete = invoke + random() * 4;
    const v = (): number => Math.floor(random() * 3);
    const r = random();
    const outcome = random() < 0.7 ? 'ok' : random() < 0.5 ? 'info' : random() < 0.5 ? 'fail' : 'pending';
    if (r < 0.45)
      ops.push({
        f: 'read',
        input: null,
        output: random() < 0.2 ? null : v(),
        outcome: outcome === 'ok' ? 'ok' : 'fail',
        invoke,
        complete,
      });
    else if (r < 0.8) {
      const x = v();
      ops.push({ f: 'write', input: x, output: x, outcome, invoke, complete });
    } else {
      const pair = [random() < 0.3 ? null : v(), v()];
      ops.push({ f: 'cas', input: pair, output: pair, outcome, invoke, complete });
    }
  }
  return ops;
}

/**
 * A random small raftlab-kv history (one key) where most written values are
 * unique and reads return a value written somewhere in the history (or
 * null): the shape the value rules of the search (value guard, precedence of
 * uniquely written values, dead states, eager writes) work on. May or may
 * not be linearizable.
 */
export function randomUniqueValueHistory(seed: number, count: number, spread = 6): TimedOp[] {
  const random = rng(seed);
  const ops: TimedOp[] = [];
  const written: number[] = [];
  let fresh = 1;
  // Mostly a fresh value; sometimes one written before (so not every value is unique).
  const value = (): number =>
    written.length > 0 && random() < 0.15 ? written[Math.floor(random() * written.length)]! : fresh++;
  const seen = (): unknown =>
    written.length === 0 || random() < 0.15 ? null : written[Math.floor(random() * written.length)];
  for (let i = 0; i < count; i++) {
    const invoke = random() * spread;
    const complete = invoke + random() * 3;
    const outcome = random() < 0.8 ? 'ok' : random() < 0.5 ? 'info' : random() < 0.5 ? 'fail' : 'pending';
    const r = random();
    if (r < 0.4) {
      // The value read is chosen once all writes are known (below).
      ops.push({
        f: 'read',
        input: null,
        output: undefined,
        outcome: outcome === 'ok' ? 'ok' : 'fail',
        invoke,
        complete,
      });
    } else if (r < 0.75) {
      const x = value();
      written.push(x);
      ops.push({ f: 'write', input: x, output: x, outcome, invoke, complete });
    } else if (r < 0.9) {
      const pair = [seen(), value()];
      written.push(pair[1] as number);
      ops.push({ f: 'cas', input: pair, output: pair, outcome, invoke, complete });
    } else ops.push({ f: 'delete', input: null, output: null, outcome, invoke, complete });
  }
  for (const op of ops) if (op.f === 'read') op.output = seen();
  return ops;
}

/**
 * Exhaustive brute force: tries every order of ops consistent with real
 * time, each unknown op either taking effect or not. No memo, no pruning,
 * no segments. Exponential: for histories of up to ~9 ops.
 */
export function bruteForceLinearizable(events: readonly HistoryEvent[], model: Model<any>): boolean {
  interface Op {
    f: string;
    input: unknown;
    output: unknown;
    ok: boolean;
    invoke: number;
    complete: number;
  }
  const ops: Op[] = [];
  const open = new Map<number, Op>();
  const failed = new Set<Op>();
  events.forEach((event, index) => {
    if (typeof event.process !== 'number') return;
    if (event.type === 'invoke') {
      const op: Op = {
        f: event.f,
        input: event.value ?? null,
        output: undefined,
        ok: false,
        invoke: index,
        complete: Infinity,
      };
      ops.push(op);
      open.set(event.process, op);
      return;
    }
    const op = open.get(event.process)!;
    open.delete(event.process);
    if (event.type === 'ok') {
      op.ok = true;
      op.output = event.value ?? null;
      op.complete = index;
    } else if (event.type === 'fail') failed.add(op);
  });
  const live = ops.filter((op) => !failed.has(op));
  const done = new Array<boolean>(live.length).fill(false);
  const okLeft = (): number => live.filter((op, i) => op.ok && !done[i]).length;
  const search = (state: unknown): boolean => {
    if (okLeft() === 0) return true;
    for (let i = 0; i < live.length; i++) {
      if (done[i]) continue;
      const op = live[i]!;
      // op may go next only if no pending ok op returned before op was invoked.
      if (live.some((other, j) => !done[j] && other.ok && other.complete < op.invoke)) continue;
      const next = model.step(state, op.f, op.input, op.output);
      if (next === undefined) continue;
      done[i] = true;
      const found = search(next);
      done[i] = false;
      if (found) return true;
    }
    return false;
  };
  return search(model.init());
}
