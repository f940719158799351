/**
 * A small seeded PRNG (splitmix32-style mixing over a 32-bit counter) so that
 * one `--seed` drives every random choice of a run: the same seed gives the
 * same op stream and the same fault schedule (TigerBeetle VOPR / FoundationDB
 * simulation practice). Not cryptographic.
 */
export class Random {
  private state: number;

  constructor(seed: number) {
    // Fold any integer (also > 2^32) into 32 bits so seeds from the CLI are all valid.
    this.state = (Math.trunc(seed) ^ Math.trunc(seed / 2 ** 32)) >>> 0;
  }

  /** Next 32-bit unsigned integer. */
  nextUint32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.nextUint32() / 2 ** 32;
  }

  /** Uniform integer in [0, bound) for bound >= 1 (0 for smaller bounds). */
  below(bound: number): number {
    return Math.floor(this.next() * Math.max(1, bound));
  }

  /** Uniform integer in [min, max] (inclusive). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** A new array with the elements in random order (Fisher-Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  }

  /** A derived, independent generator (e.g. one per client process), stable for a given parent state. */
  fork(): Random {
    return new Random(this.nextUint32());
  }
}

/** A fresh random seed for runs started without `--seed`. */
export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 31);
}
