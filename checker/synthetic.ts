// Synthetic chaos-like histories for the benchmark (and large-scale tests):
// raftlab-kv ops on many keys from many clients, executed sequentially at
// linearization points and stretched into overlapping intervals, with a
// share of info outcomes (half took effect, half never did). Linearizable
// by construction.
import type { HistoryEvent } from './types.ts';

/** Shape of a synthetic history. */
export interface SyntheticOptions {
  ops: number;
  keys: number;
  /** Fraction of ops whose outcome is unknown (info). */
  infoRate: number;
  /** About how many ops are in flight at once. */
  concurrency: number;
  /** Values written per key: 'unique' (a counter) or a small domain of this size. */
  values: 'unique' | number;
  seed: number;
}

/** A tiny seeded PRNG (mulberry32): the same sequence for the same seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Builds the events of a linearizable synthetic history. */
export function syntheticHistory(options: SyntheticOptions): HistoryEvent[] {
  const random = mulberry32(options.seed);
  const state = new Map<string, unknown>();
  let counter = 0;
  const value = (): unknown => (options.values === 'unique' ? ++counter : Math.floor(random() * options.values));
  const stamped: { time: number; seq: number; event: HistoryEvent }[] = [];
  let seq = 0;
  // Processes: a pool of free ids; info retires an id for good.
  const busyUntil: number[] = [];
  const spread = options.concurrency / 2;
  for (let i = 1; i <= options.ops; i++) {
    const key = `k${Math.floor(random() * options.keys)}`;
    const invoke = i - random() * spread;
    const complete = i + random() * spread;
    const current = state.get(key) ?? null;
    const info = random() < options.infoRate;
    const tookEffect = !info || random() < 0.5;
    const r = random();
    let f: string;
    let input: unknown = null;
    let output: unknown = null;
    let failed = false;
    if (r < 0.5) {
      f = 'read';
      output = current;
    } else if (r < 0.8) {
      f = 'write';
      input = value();
      if (tookEffect) state.set(key, input);
    } else if (r < 0.95) {
      f = 'cas';
      const expected = random() < 0.7 ? current : value();
      const next = value();
      input = [expected, next];
      failed = JSON.stringify(expected) !== JSON.stringify(current);
      if (tookEffect && !failed) state.set(key, next);
    } else {
      f = 'delete';
      if (tookEffect) state.set(key, null);
    }
    let process = busyUntil.findIndex((t) => t < invoke);
    if (process === -1) process = busyUntil.length;
    busyUntil[process] = info ? Infinity : complete;
    stamped.push({ time: invoke, seq: seq++, event: { process, type: 'invoke', f, key, value: input } });
    let type: HistoryEvent['type'] = 'ok';
    if (info) type = 'info';
    else if (failed) type = 'fail';
    // A read that took effect returns what was there; info reads are not recorded with a value.
    const completion: HistoryEvent = {
      process,
      type,
      f,
      key,
      value: f === 'read' ? (type === 'ok' ? output : null) : input,
    };
    stamped.push({ time: complete, seq: seq++, event: completion });
  }
  stamped.sort((a, b) => a.time - b.time || a.seq - b.seq);
  return stamped.map((s) => s.event);
}

/** Shape of a chaos-like history (see chaosHistory). */
export interface ChaosOptions {
  ops: number;
  keys: number;
  /** Client processes running at once (closed loop: one op each at a time). */
  processes: number;
  /** Fraction of ops whose outcome is unknown (info); half of them took effect. */
  unknownRate: number;
  /**
   * A planted anomaly on one key, about 60% into the history: a stale read
   * (a read returns a value that an acknowledged write had overwritten
   * before the read began), a phantom read (a value nobody wrote), or a
   * double cas (two overlapping ok cas ops from the same expected value,
   * which was written once: one request applied where its value was gone;
   * no read shows it, so only the search can prove it).
   */
  anomaly: 'none' | 'stale-read' | 'phantom-read' | 'double-cas';
  seed: number;
}

interface ChaosOp {
  process: number;
  key: string;
  f: string;
  input: unknown;
  output: unknown;
  invoke: number;
  point: number;
  complete: number;
  info: boolean;
  failed: boolean;
}

/**
 * A seeded chaos-like raftlab-kv history: `processes` clients in a closed
 * loop with random latencies, each op taking effect at a random point of its
 * interval; an unknown op ends with `info` and its client is replaced by a
 * new process id (as Jepsen does). Values are unique per key, so a planted
 * anomaly is illegal by construction, and without one the history is
 * linearizable by construction.
 */
export function chaosHistory(options: ChaosOptions): { events: HistoryEvent[]; planted: boolean } {
  const random = mulberry32(options.seed);
  const ops: ChaosOp[] = [];
  // Each slot is a client; its process id changes when an op ends unknown.
  const freeAt = new Array<number>(options.processes).fill(0);
  const processOf = Array.from({ length: options.processes }, (_, i) => i);
  let nextProcess = options.processes;
  for (let i = 0; i < options.ops; i++) {
    let slot = 0;
    for (let s = 1; s < freeAt.length; s++) if (freeAt[s]! < freeAt[slot]!) slot = s;
    const invoke = freeAt[slot]! + random() * 0.2;
    // Latencies with a long tail (a few slow ops overlap many others).
    const duration = 0.2 + -Math.log(1 - random()) * (random() < 0.05 ? 8 : 1);
    const complete = invoke + duration;
    const info = random() < options.unknownRate;
    const r = random();
    const f = r < 0.5 ? 'read' : r < 0.8 ? 'write' : r < 0.95 ? 'cas' : 'delete';
    ops.push({
      process: processOf[slot]!,
      key: `k${Math.floor(random() * options.keys)}`,
      f,
      input: null,
      output: null,
      invoke,
      point: invoke + random() * duration,
      complete,
      info,
      failed: false,
    });
    freeAt[slot] = complete;
    if (info) processOf[slot] = nextProcess++;
  }
  // Execute at the linearization points; unknown ops take effect half the time.
  const state = new Map<string, unknown>();
  const counters = new Map<string, number>();
  const fresh = (key: string): number => {
    const n = (counters.get(key) ?? 0) + 1;
    counters.set(key, n);
    return n;
  };
  for (const op of [...ops].sort((a, b) => a.point - b.point)) {
    const current = state.get(op.key) ?? null;
    const applies = !op.info || random() < 0.5;
    if (op.f === 'read') op.output = current;
    else if (op.f === 'write') {
      op.input = fresh(op.key);
      if (applies) state.set(op.key, op.input);
    } else if (op.f === 'cas') {
      const expected = random() < 0.7 ? current : fresh(op.key);
      const next = fresh(op.key);
      op.input = [expected, next];
      op.failed = expected !== current;
      if (applies && !op.failed) state.set(op.key, next);
    } else if (applies) state.set(op.key, null);
  }
  const planted = options.anomaly !== 'none' && plantAnomaly(ops, options.anomaly, random);
  const stamped: { time: number; seq: number; event: HistoryEvent }[] = [];
  let seq = 0;
  for (const op of ops) {
    stamped.push({
      time: op.invoke,
      seq: seq++,
      event: { process: op.process, type: 'invoke', f: op.f, key: op.key, value: op.f === 'read' ? null : op.input },
    });
    const type: HistoryEvent['type'] = op.info ? 'info' : op.failed ? 'fail' : 'ok';
    const value = op.f === 'read' ? (type === 'ok' ? op.output : null) : op.input;
    stamped.push({ time: op.complete, seq: seq++, event: { process: op.process, type, f: op.f, key: op.key, value } });
  }
  stamped.sort((a, b) => a.time - b.time || a.seq - b.seq);
  return { events: stamped.map((s) => ({ ...s.event, time: Math.round(s.time * 1e6) })), planted };
}

/** Rewrites one ok read about 60% into the history (see ChaosOptions.anomaly); false if none fits. */
function plantAnomaly(
  ops: ChaosOp[],
  anomaly: Exclude<ChaosOptions['anomaly'], 'none'>,
  random: () => number,
): boolean {
  const from = Math.floor(ops.length * (0.55 + 0.1 * random()));
  if (anomaly === 'double-cas') return plantDoubleCas(ops, from);
  for (let i = from; i < ops.length; i++) {
    const read = ops[i]!;
    if (read.f !== 'read' || read.info) continue;
    if (anomaly === 'phantom-read') {
      read.output = 1e9 + i; // values are per-key counters: never written
      return true;
    }
    // A write w1 then an acknowledged write w2 invoked after w1 completed and
    // completed before the read began: w1's value cannot be read any more
    // (values are unique, so nothing writes it again).
    const writes = ops.filter((o) => o.key === read.key && o.f === 'write' && !o.info && o.complete < read.invoke);
    for (let a = writes.length - 1; a >= 0; a--) {
      const w2 = writes[a]!;
      const w1 = writes.findLast((o) => o.complete < w2.invoke);
      if (w1 !== undefined) {
        read.output = w1.input;
        return true;
      }
    }
  }
  return false;
}

/**
 * An ok cas(a -> b) about 60% in, and an ok write of c on the same key that
 * overlaps it and took effect after it, rewritten as cas(a -> c): both need
 * a, which one op wrote (values are unique), and whichever goes first takes
 * it away from the other, so no linearization exists.
 */
function plantDoubleCas(ops: ChaosOp[], from: number): boolean {
  for (let i = from; i < ops.length; i++) {
    const x = ops[i]!;
    if (x.f !== 'cas' || x.info || x.failed) continue;
    const [expected] = x.input as [unknown, unknown];
    if (expected === null) continue;
    const y = ops.find(
      (o) =>
        o !== x &&
        o.key === x.key &&
        o.f === 'write' &&
        !o.info &&
        o.point > x.point &&
        o.invoke < x.complete &&
        x.invoke < o.complete,
    );
    if (y === undefined) continue;
    y.f = 'cas';
    y.input = [expected, y.input];
    return true;
  }
  return false;
}
