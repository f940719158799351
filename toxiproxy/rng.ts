/**
 * A small seeded pseudo-random source (mulberry32), so that `--seed N` makes every toxicity draw, jitter and
 * slicer split of a server run reproducible for the same sequence of connections and API calls.
 */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, bound) for bound >= 1. */
  nextInt(bound: number): number;
}

/** Creates a seeded generator; the same seed gives the same sequence. */
export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = (): number => {
    // mulberry32: one 32-bit state word, good enough statistical quality for fault injection.
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    nextInt: (bound) => Math.floor(next() * Math.max(1, bound)),
  };
}
