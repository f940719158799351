/**
 * Op generators for the register workloads (Jepsen/Knossos style):
 * - `register`: read/write on one key,
 * - `multi-register`: read/write on K keys,
 * - `cas-register`: read/write/cas on K keys.
 * Every written value is unique per key (1, 2, 3, ... per key), so the checker
 * can tell which write a read saw, which keeps its search small.
 */
import type { Random } from '../lib/random.ts';
import type { Completion, Op, OpName, Value } from './types.ts';

/** The workloads a run can use. */
export const workloadNames = ['register', 'multi-register', 'cas-register'] as const;
export type WorkloadName = (typeof workloadNames)[number];

/** Relative weights of op kinds. */
export type OpMix = Partial<Record<OpName, number>>;

/** What a generator produces. */
export interface GeneratorOptions {
  workload: WorkloadName;
  /** Key count (ignored by `register`, which uses one key). */
  keys: number;
  /** Op weights; defaults per workload (reads 50%, writes 25%, cas 25% for cas-register). */
  mix?: OpMix;
}

/** Default op weights for a workload. */
export function defaultMix(workload: WorkloadName): Record<OpName, number> {
  switch (workload) {
    case 'register':
    case 'multi-register':
      return { read: 1, write: 1, cas: 0 };
    case 'cas-register':
      return { read: 2, write: 1, cas: 1 };
    default: {
      const unreachable: never = workload;
      throw new Error(`unknown workload ${String(unreachable)}`);
    }
  }
}

/** Produces ops for all logical processes of a run; learns recent values so CAS ops can succeed. */
export class OpGenerator {
  readonly keys: readonly string[];
  private readonly weights: [OpName, number][];
  private readonly totalWeight: number;
  private readonly nextValue = new Map<string, number>();
  private readonly lastSeen = new Map<string, Value>();

  constructor(options: GeneratorOptions) {
    const keyCount = options.workload === 'register' ? 1 : options.keys;
    if (!Number.isInteger(keyCount) || keyCount < 1)
      throw new Error(`--keys must be a positive integer, got ${options.keys}`);
    this.keys = Array.from({ length: keyCount }, (_, i) => `k${i}`);
    const mix = { ...defaultMix(options.workload), ...options.mix };
    if (options.workload !== 'cas-register') mix.cas = 0;
    this.weights = (Object.entries(mix) as [OpName, number][]).filter(([, w]) => w > 0);
    this.totalWeight = this.weights.reduce((sum, [, w]) => sum + w, 0);
    if (this.totalWeight <= 0) throw new Error('the op mix has no positive weight');
  }

  /** A fresh value for `key`, never written before in this run. */
  private freshValue(key: string): number {
    const value = (this.nextValue.get(key) ?? 0) + 1;
    this.nextValue.set(key, value);
    return value;
  }

  private pickKind(random: Random): OpName {
    let roll = random.next() * this.totalWeight;
    for (const [name, weight] of this.weights) {
      roll -= weight;
      if (roll < 0) return name;
    }
    return this.weights[this.weights.length - 1]?.[0] ?? 'read';
  }

  /** The next op, drawn with `random`. */
  next(random: Random): Op {
    const key = random.pick(this.keys);
    const kind = this.pickKind(random);
    switch (kind) {
      case 'read':
        return { f: 'read', key, value: null };
      case 'write':
        return { f: 'write', key, value: this.freshValue(key) };
      case 'cas': {
        // Expect the last value we saw for the key (null = absent) most of the
        // time so a good share of CAS ops succeed; otherwise a likely stale one.
        const seen = this.lastSeen.has(key) ? this.lastSeen.get(key) : null;
        const written = this.nextValue.get(key) ?? 0;
        const expected = random.next() < 0.8 || written === 0 ? seen : random.int(1, written);
        return { f: 'cas', key, value: [expected ?? null, this.freshValue(key)] };
      }
      default: {
        const unreachable: never = kind;
        throw new Error(`unknown op ${String(unreachable)}`);
      }
    }
  }

  /** Learns from a completed op (the value a read saw, the value a write or CAS set). */
  observe(op: Op, completion: Completion): void {
    if (completion.type !== 'ok') return;
    switch (op.f) {
      case 'read':
        this.lastSeen.set(op.key, completion.value);
        return;
      case 'write':
        this.lastSeen.set(op.key, op.value);
        return;
      case 'cas':
        this.lastSeen.set(op.key, op.value[1]);
        return;
      default: {
        const unreachable: never = op;
        throw new Error(`unknown op ${JSON.stringify(unreachable)}`);
      }
    }
  }
}
