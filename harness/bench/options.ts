/** Validation of the bench CLI's flags (kept apart from the CLI so tests can import it). */
import type { BenchOptions } from './run.ts';

/** A user mistake in the flags: printed with a hint, exit code 2. */
export class UsageError extends Error {}

/** Parses a comma list against the allowed words. */
export function parseWordList<T extends string>(flag: string, text: string, allowed: readonly T[]): T[] {
  const words = text
    .split(',')
    .map((w) => w.trim())
    .filter((w) => w.length > 0);
  if (words.length === 0) throw new UsageError(`--${flag} needs at least one of ${allowed.join(', ')}`);
  for (const w of words) {
    if (!(allowed as readonly string[]).includes(w))
      throw new UsageError(`--${flag}: unknown "${w}"; choose from ${allowed.join(', ')}`);
  }
  return [...new Set(words)] as T[];
}

/** Parses a comma list of positive numbers (integers when `integer`). */
export function parseNumberList(flag: string, text: string, integer: boolean): number[] {
  const parts = text
    .split(',')
    .map((w) => w.trim())
    .filter((w) => w.length > 0);
  if (parts.length === 0) throw new UsageError(`--${flag} needs at least one number, e.g. --${flag} 1,8,32`);
  return parts.map((p) => {
    const n = Number(p);
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
      throw new UsageError(`--${flag}: "${p}" is not a positive ${integer ? 'integer' : 'number'}`);
    }
    return n;
  });
}

/** `--rate`: `auto` (from the closed-loop peak), `off`, or explicit ops/s values. */
export function parseRates(text: string): BenchOptions['rates'] {
  if (text === 'auto' || text === 'off') return text;
  return parseNumberList('rate', text, false);
}

/** A positive (or, with `allowZero`, non-negative) number flag. */
export function positive(flag: string, n: number, allowZero = false): number {
  if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0))
    throw new UsageError(`--${flag} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${n}`);
  return n;
}
