import type { Entry } from './types.ts';

/**
 * The in-memory Raft log after the last snapshot (§7): an array of entries
 * with an offset, so appends are O(1) amortised, lookups O(1), and a
 * conflict search is a binary search (terms never decrease along a log, §5.3).
 *
 * Invariants: `entries[k].index === snapshotIndex + 1 + k`; terms are
 * non-decreasing and >= `snapshotTerm`.
 */
export class RaftLog {
  /** Index of the last entry covered by the snapshot (0: none). */
  snapshotIndex: number;
  snapshotTerm: number;
  private entries: Entry[];

  constructor(snapshotIndex: number, snapshotTerm: number, entries: readonly Entry[]) {
    this.snapshotIndex = snapshotIndex;
    this.snapshotTerm = snapshotTerm;
    this.entries = [];
    let expected = snapshotIndex + 1;
    let lastTerm = snapshotTerm;
    for (const entry of entries) {
      if (entry.index !== expected) {
        throw new Error(`recovered log is not contiguous: expected index ${expected}, got ${entry.index}`);
      }
      if (entry.term < lastTerm) {
        throw new Error(`recovered log has a decreasing term at index ${entry.index} (${entry.term} < ${lastTerm})`);
      }
      this.entries.push(entry);
      expected += 1;
      lastTerm = entry.term;
    }
  }

  /** First index still held in memory (may be lastIndex()+1 when empty). */
  firstIndex(): number {
    return this.snapshotIndex + 1;
  }

  lastIndex(): number {
    return this.snapshotIndex + this.entries.length;
  }

  lastTerm(): number {
    const last = this.entries[this.entries.length - 1];
    return last === undefined ? this.snapshotTerm : last.term;
  }

  /** Term of the entry at `index`, or undefined when it is compacted away or beyond the end. */
  termAt(index: number): number | undefined {
    if (index === this.snapshotIndex) return this.snapshotTerm;
    const entry = this.entries[index - this.snapshotIndex - 1];
    return entry === undefined ? undefined : entry.term;
  }

  /** The entry at `index` if held in memory. */
  entryAt(index: number): Entry | undefined {
    if (index <= this.snapshotIndex) return undefined;
    return this.entries[index - this.snapshotIndex - 1];
  }

  /** True when the log holds an entry at `index` with `term` (the §5.3 consistency check). */
  matchTerm(index: number, term: number): boolean {
    return this.termAt(index) === term;
  }

  /** Entries in [lo, hi) (clamped to what is held), as a fresh array. */
  slice(lo: number, hi: number): Entry[] {
    const from = Math.max(lo, this.firstIndex()) - this.snapshotIndex - 1;
    const to = Math.min(hi, this.lastIndex() + 1) - this.snapshotIndex - 1;
    return from >= to ? [] : this.entries.slice(from, to);
  }

  /** Appends one entry; its index must be lastIndex()+1. */
  push(entry: Entry): void {
    this.entries.push(entry);
  }

  /** Drops every entry with index >= `index` (a conflicting suffix, §5.3). */
  truncateFrom(index: number): void {
    const keep = index - this.snapshotIndex - 1;
    if (keep < 0) throw new Error(`cannot truncate at ${index}: at or below the snapshot index ${this.snapshotIndex}`);
    if (keep < this.entries.length) this.entries.length = keep;
  }

  /** Drops entries up to and including `index`, which becomes the snapshot index (§7 log compaction). */
  compactTo(index: number, term: number): void {
    const drop = index - this.snapshotIndex;
    if (drop <= 0) return;
    this.entries = drop >= this.entries.length ? [] : this.entries.slice(drop);
    this.snapshotIndex = index;
    this.snapshotTerm = term;
  }

  /** Replaces the whole log with a snapshot (§7: "discard the entire log"). */
  resetToSnapshot(index: number, term: number): void {
    this.entries = [];
    this.snapshotIndex = index;
    this.snapshotTerm = term;
  }

  /**
   * First index whose term is >= `term`, searching (snapshotIndex, upTo].
   * Used for the follower's conflict hint: the first index it stores for the
   * conflicting term (§5.3, end). Binary search: terms never decrease.
   */
  firstIndexOfTermAtOrAfter(term: number, upTo: number): number {
    let lo = this.firstIndex();
    let hi = Math.min(upTo, this.lastIndex());
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.termAt(mid) ?? 0) >= term) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /**
   * Last index in [snapshotIndex, upTo] whose term is <= `term`, and its term.
   * The leader uses it to skip a follower's whole conflicting term at once.
   */
  lastIndexWithTermAtMost(term: number, upTo: number): { index: number; term: number } {
    let lo = this.snapshotIndex;
    let hi = Math.min(upTo, this.lastIndex());
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((this.termAt(mid) ?? Number.MAX_SAFE_INTEGER) <= term) lo = mid;
      else hi = mid - 1;
    }
    return { index: lo, term: this.termAt(lo) ?? 0 };
  }
}
