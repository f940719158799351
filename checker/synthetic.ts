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
