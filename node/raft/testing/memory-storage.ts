import type { Entry, HardState, Ready, RecoveredState, Snapshot } from '../types.ts';

/**
 * Durable storage of one node, in memory: what a WAL plus snapshot file would
 * hold after their fsync. Tests and the simulator apply a Ready to it when
 * its persist "completes"; a crash keeps exactly this.
 */
export class MemoryStorage {
  hardState: HardState = { term: 0, vote: null, commit: 0 };
  snapshot: Snapshot | null = null;
  /** Entries after the snapshot, contiguous. */
  entries: Entry[] = [];

  /** Applies the persist part of a Ready, in the order of types.ts rule 1. */
  persist(ready: Ready): void {
    if (ready.snapshot !== null) {
      this.snapshot = ready.snapshot;
      this.entries = [];
    }
    this.appendEntries(ready.entries);
    if (ready.hardState !== null) this.hardState = ready.hardState;
  }

  /**
   * A crash in the middle of writing a Ready: only the first `records` of its
   * records reach the disk, in the order `hardStateFirst` picks (snapshot
   * first either way, being a separate file renamed into place).
   */
  persistTorn(ready: Ready, records: number, hardStateFirst: boolean): void {
    let budget = records;
    if (ready.snapshot !== null) {
      if (budget === 0) return;
      budget -= 1;
      this.snapshot = ready.snapshot;
      this.entries = [];
    }
    if (hardStateFirst && ready.hardState !== null) {
      if (budget === 0) return;
      budget -= 1;
      this.hardState = ready.hardState;
    }
    const kept = ready.entries.slice(0, budget);
    this.appendEntries(kept);
    budget -= kept.length;
    if (!hardStateFirst && ready.hardState !== null && budget > 0) this.hardState = ready.hardState;
  }

  /** Number of records a Ready writes (snapshot, hard state, one per entry). */
  static recordCount(ready: Ready): number {
    return (ready.snapshot === null ? 0 : 1) + (ready.hardState === null ? 0 : 1) + ready.entries.length;
  }

  /** Appends entries, replacing any stored entry at or after the first new index. */
  appendEntries(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    const offset = this.snapshotIndex();
    const keep = first.index - offset - 1;
    if (keep < 0 || keep > this.entries.length) {
      throw new Error(
        `storage: entry ${first.index} does not follow the stored log (snapshot ${offset}, ${this.entries.length} entries)`,
      );
    }
    this.entries.length = keep;
    for (const entry of entries) this.entries.push(entry);
  }

  /** The app snapshotted and the core compacted: drop stored entries the snapshot covers. */
  saveSnapshot(snapshot: Snapshot): void {
    const drop = snapshot.meta.index - this.snapshotIndex();
    if (drop <= 0) return;
    this.entries = this.entries.slice(drop);
    this.snapshot = snapshot;
  }

  snapshotIndex(): number {
    return this.snapshot?.meta.index ?? 0;
  }

  /** Term of the stored entry at `index` (or of the snapshot), undefined if not stored. */
  termAt(index: number): number | undefined {
    if (index === this.snapshotIndex()) return this.snapshot?.meta.term ?? 0;
    return this.entries[index - this.snapshotIndex() - 1]?.term;
  }

  lastIndex(): number {
    return this.snapshotIndex() + this.entries.length;
  }

  recovered(): RecoveredState {
    return { hardState: this.hardState, snapshot: this.snapshot, entries: [...this.entries] };
  }
}
