/**
 * Durable storage of one node: the WAL (entries, hard state, snapshot
 * markers) plus the snapshot directory. `open` rebuilds the core's
 * `RecoveredState`; `persist` makes one Ready's snapshot, entries and hard
 * state durable with a single fdatasync (group commit); `saveSnapshot`
 * records a compaction and drops the full WAL segments the snapshot covers.
 *
 * Layout of a data directory:
 *   wal/0000000000000001.wal ...   framed records, see wal.ts
 *   snap/<index>.snap              the newest snapshot, see snapshot-file.ts
 */
import { join } from 'node:path';
import type { Entry, HardState, RecoveredState, Snapshot, SnapshotMeta } from '../raft/types.ts';
import { SnapshotStore } from './snapshot-file.ts';
import { WriteAheadLog, type WalOptions, type WalRecord, type WalTruncation } from './wal.ts';

/** The log is inconsistent in a way a crash cannot explain (e.g. entries missing in the middle). */
export class LogGapError extends Error {
  readonly code = 'LOG_GAP';
  constructor(message: string) {
    super(
      `${message}; refusing to start. Restore the data directory from a replica or remove it to rejoin as a new empty member.`,
    );
  }
}

/** What `persist` needs from a Ready. */
export interface PersistBatch {
  readonly snapshot: Snapshot | null;
  readonly entries: readonly Entry[];
  readonly hardState: HardState | null;
}

/** Planted storage bugs (node/planted-bugs.ts); all off for the correct node. */
export interface PlantedStorageBugs {
  /** `no-fsync`: persist returns before anything is written or synced. */
  readonly noFsync?: boolean;
  /** `vote-twice`: the vote is left out of the hard state written to disk. */
  readonly forgetVote?: boolean;
  /** `fsync-skipped`: the WAL writes its records but never fdatasyncs them. */
  readonly skipFsync?: boolean;
}

/** Result of opening a data directory. */
export interface OpenedStorage {
  readonly storage: NodeStorage;
  readonly recovered: RecoveredState;
  readonly truncations: readonly WalTruncation[];
}

const EMPTY_HARD_STATE: HardState = { term: 0, vote: null, commit: 0 };

/** The durable state of one node. Calls must not overlap (the runtime runs one at a time). */
export class NodeStorage {
  private hardState: HardState;
  /** The latest hard state differs from the last one written (only in commit). */
  private hardStateUnwritten = false;

  private constructor(
    private readonly wal: WriteAheadLog,
    private readonly snapshots: SnapshotStore,
    hardState: HardState,
    private readonly planted: PlantedStorageBugs,
  ) {
    this.hardState = hardState;
  }

  /** Opens `dataDir`, recovering the state left by the last run. Throws on corruption. */
  static open(dataDir: string, planted: PlantedStorageBugs = {}, walOptions: WalOptions = {}): OpenedStorage {
    const snapshots = new SnapshotStore(join(dataDir, 'snap'));
    const snapshot = snapshots.loadLatest();
    const { wal, records, truncations } = WriteAheadLog.open(join(dataDir, 'wal'), {
      ...walOptions,
      ...(planted.skipFsync === true ? { skipFsync: true } : {}),
    });
    const { hardState, entries } = replay(records, snapshot?.meta ?? null);
    return {
      storage: new NodeStorage(wal, snapshots, hardState, planted),
      recovered: { hardState, snapshot, entries },
      truncations,
    };
  }

  /** The hard state as written to disk; the planted `vote-twice` bug leaves the vote out (Figure 2 says it must be there). */
  private hardStateRecord(): HardState {
    return this.planted.forgetVote === true ? { ...this.hardState, vote: null } : this.hardState;
  }

  /**
   * Makes one Ready's durable part durable: snapshot first, then hard state
   * and entries (types.ts ordering rule 1; within one fsync the order only
   * matters for torn tails). Only term and vote must be durable before
   * messages leave (§5.1); a change of the commit index alone is an
   * optimisation (types.ts), so it is not written on its own but rides along
   * with the next write that needs a sync. `syncOnThisThread` runs the
   * fdatasync on the calling thread instead of the thread pool (wal.ts `flush`).
   */
  async persist(batch: PersistBatch, options: { syncOnThisThread?: boolean } = {}): Promise<void> {
    if (batch.snapshot !== null) await this.saveSnapshot(batch.snapshot.meta, batch.snapshot);
    let durable = batch.entries.length > 0;
    if (batch.hardState !== null) {
      const h = batch.hardState;
      if (h.term !== this.hardState.term || h.vote !== this.hardState.vote) durable = true;
      this.hardState = h;
      this.hardStateUnwritten = true;
    }
    if (!durable) return;
    // The hard state goes in front of the entries: a torn tail can then only
    // lose entries, never the term that the entries before it belong to.
    if (this.hardStateUnwritten) this.wal.appendHardState(this.hardStateRecord());
    this.hardStateUnwritten = false;
    this.wal.appendEntries(batch.entries);
    // PLANTED BUG `no-fsync`: acknowledge with the records still in the WAL's
    // user-space buffer (written only at the next snapshot or a clean close),
    // so a SIGKILL loses everything since.
    if (this.planted.noFsync === true) return;
    await this.wal.flush(true, options.syncOnThisThread === true);
  }

  /** Records a snapshot (own compaction or one received, §7) and drops WAL segments it fully covers. */
  async saveSnapshot(meta: SnapshotMeta, snapshot: Snapshot): Promise<void> {
    this.snapshots.save(snapshot);
    await this.wal.recordSnapshot(meta, this.hardStateRecord(), meta.index);
    this.hardStateUnwritten = false;
  }

  /**
   * WAL counters since start: fdatasync calls, bytes written, and segments
   * begun without a zero-filled spare (each one means slower syncs until the
   * next rotation; non-zero only if the disk is too slow or full).
   */
  stats(): { walSyncs: number; walBytesWritten: number; walSegmentsNotPreallocated: number } {
    return {
      walSyncs: this.wal.stats.syncs,
      walBytesWritten: this.wal.stats.bytesWritten,
      walSegmentsNotPreallocated: this.wal.stats.unpreparedSegments,
    };
  }

  /** Paths of the live WAL segments, oldest first. */
  walSegments(): string[] {
    return this.wal.segmentPaths();
  }

  close(): void {
    if (this.hardStateUnwritten) this.wal.appendHardState(this.hardStateRecord());
    this.hardStateUnwritten = false;
    this.wal.close();
  }
}

/**
 * Rebuilds the log from WAL records. An entry whose index already exists
 * replaces it and everything after it (the Ready rule for conflicting
 * suffixes, §5.3). A snapshot marker resets the log the way the core does
 * when it installs a snapshot (§7): if the log holds the snapshot's last
 * entry, the suffix after it is kept, otherwise the whole log is discarded.
 */
export function replay(
  records: readonly WalRecord[],
  snapshot: SnapshotMeta | null,
): { hardState: HardState; entries: Entry[] } {
  let hardState = EMPTY_HARD_STATE;
  let log: Entry[] = [];
  const resetTo = (meta: SnapshotMeta): void => {
    const first = log[0];
    // Entries that all come after the snapshot were written after it: keep.
    if (first === undefined || first.index > meta.index) return;
    const at = log[meta.index - first.index];
    log = at !== undefined && at.term === meta.term ? log.slice(meta.index - first.index + 1) : [];
  };
  for (const rec of records) {
    switch (rec.type) {
      case 'entry': {
        const e = rec.entry;
        const first = log[0];
        if (first === undefined) {
          log.push(e);
        } else if (e.index < first.index) {
          log = [e];
        } else {
          const lastIndex = first.index + log.length - 1;
          if (e.index > lastIndex + 1)
            throw new LogGapError(`write-ahead log jumps from index ${lastIndex} to ${e.index}`);
          log.length = e.index - first.index;
          log.push(e);
        }
        break;
      }
      case 'hard-state':
        hardState = rec.hardState;
        break;
      case 'snapshot-marker':
        resetTo(rec.meta);
        break;
      default: {
        const never: never = rec;
        throw new Error(`unknown WAL record ${JSON.stringify(never)}`);
      }
    }
  }
  if (snapshot !== null) resetTo(snapshot);
  const base = snapshot?.index ?? 0;
  const first = log[0];
  if (first !== undefined && first.index !== base + 1) {
    throw new LogGapError(`log starts at index ${first.index} but the snapshot ends at ${base}`);
  }
  const lastIndex = base + log.length;
  const commit = Math.min(Math.max(hardState.commit, base), lastIndex);
  return { hardState: { ...hardState, commit }, entries: log };
}
