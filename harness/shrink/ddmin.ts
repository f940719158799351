/**
 * Delta debugging (Zeller and Hildebrandt, "Simplifying and Isolating Failure-Inducing Input", 2002): the ddmin
 * algorithm finds a 1-minimal subset of `items` for which `fails` still holds, that is one from which no single
 * item can be dropped. It splits the current set into n parts and tries each part, then each complement; on a
 * failing part it restarts from that part with n = 2, on a failing complement it continues with n - 1, and otherwise
 * doubles the granularity until the parts are single items.
 *
 * Pure: `fails` is the only effect. A subset is never tested twice (results are cached by the items' positions), and
 * `shouldStop` (a time budget) ends the search early with the smallest failing set found so far.
 */

/** What ddmin reports besides the result. */
export interface DdminResult<T> {
  /** The smallest failing subset found (the input itself if nothing smaller failed). */
  items: T[];
  /** Subsets tested (cache hits excluded). */
  tests: number;
  /** False when `shouldStop` ended the search before the result was 1-minimal. */
  complete: boolean;
}

export async function ddmin<T>(
  items: readonly T[],
  fails: (subset: T[]) => Promise<boolean>,
  shouldStop: () => boolean = () => false,
): Promise<DdminResult<T>> {
  const cache = new Map<string, boolean>();
  let tests = 0;
  let stopped = false;
  // Subsets are tracked as positions in `items`, so equal-looking items are still told apart.
  const test = async (positions: number[]): Promise<boolean> => {
    const key = positions.join(',');
    const known = cache.get(key);
    if (known !== undefined) return known;
    if (shouldStop()) {
      stopped = true;
      return false;
    }
    tests++;
    const result = await fails(positions.map((p) => items[p] as T));
    cache.set(key, result);
    return result;
  };
  let current = items.map((_, i) => i);
  let n = 2;
  while (current.length >= 2 && !stopped) {
    const parts = split(current, n);
    let next: { set: number[]; n: number } | undefined;
    for (const part of parts) {
      if (await test(part)) {
        next = { set: part, n: 2 };
        break;
      }
    }
    // With two parts each complement is the other part, already tested.
    if (next === undefined && n > 2) {
      for (const part of parts) {
        const complement = current.filter((p) => !part.includes(p));
        if (await test(complement)) {
          next = { set: complement, n: Math.max(n - 1, 2) };
          break;
        }
      }
    }
    if (next !== undefined) {
      current = next.set;
      n = next.n;
    } else if (n >= current.length) {
      break;
    } else {
      n = Math.min(current.length, 2 * n);
    }
  }
  return { items: current.map((p) => items[p] as T), tests, complete: !stopped };
}

/** `list` in n parts of nearly equal size, in order. */
function split(list: readonly number[], n: number): number[][] {
  const parts: number[][] = [];
  let start = 0;
  for (let i = 0; i < n; i++) {
    const end = start + Math.floor((list.length - start) / (n - i));
    parts.push(list.slice(start, end));
    start = end;
  }
  return parts.filter((p) => p.length > 0);
}
