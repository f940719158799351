/**
 * The write-ahead log: a directory of numbered segment files, each a sequence
 * of framed records (see records.ts). A record is one log entry, one hard
 * state, or a snapshot marker. Appends are buffered and made durable together
 * with one write and one fdatasync (group commit); the runtime calls `sync`
 * once per Ready, so everything that accumulated while the previous fsync ran
 * shares the next one.
 *
 * Recovery (on open) replays every segment in order. A bad or incomplete
 * record with nothing valid after it in the LAST segment is a torn tail from a
 * crash mid-write: it is truncated and reported. Anything else (a bad record
 * followed by valid data, or a bad record in an older, already-synced
 * segment) is corruption: `open` throws a `WalCorruptionError` naming the file
 * and byte offset, because continuing could silently drop acknowledged writes.
 */
import { closeSync, fdatasync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Entry, HardState, SnapshotMeta } from '../raft/types.ts';
import { findValidRecordAfter, frameRecords, readRecordAt } from './records.ts';

const fdatasyncAsync = promisify(fdatasync);

/** One replayed WAL record, in file order. */
export type WalRecord =
  | { readonly type: 'entry'; readonly entry: Entry }
  | { readonly type: 'hard-state'; readonly hardState: HardState }
  /** The log was reset to a snapshot here (own compaction or one received from the leader). */
  | { readonly type: 'snapshot-marker'; readonly meta: SnapshotMeta };

/** A torn tail that recovery cut off. */
export interface WalTruncation {
  readonly file: string;
  readonly offset: number;
  readonly droppedBytes: number;
  readonly reason: string;
}

/** Corruption that recovery must not paper over: the node refuses to start. */
export class WalCorruptionError extends Error {
  readonly code = 'WAL_CORRUPT';
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(
      `write-ahead log ${file} is corrupt at byte offset ${offset} (${reason}) and valid records follow it, ` +
        'so this is not a torn tail from a crash; refusing to start rather than lose acknowledged writes. ' +
        'Restore the data directory from a replica or remove it to rejoin as a new empty member.',
    );
  }
}

interface Segment {
  readonly seq: number;
  readonly path: string;
  /** Highest entry index written to this segment, 0 if none. */
  maxEntryIndex: number;
}

const SEGMENT_SUFFIX = '.wal';

function segmentName(seq: number): string {
  return `${String(seq).padStart(16, '0')}${SEGMENT_SUFFIX}`;
}

/** Encodes one record payload. Short keys keep the hot path's bytes small. */
function encodeEntry(e: Entry): Buffer {
  return Buffer.from(JSON.stringify({ t: 'e', i: e.index, m: e.term, k: e.kind === 'empty' ? 'e' : 'n', d: e.data }));
}
function encodeHardState(h: HardState): Buffer {
  return Buffer.from(JSON.stringify({ t: 'h', term: h.term, vote: h.vote, commit: h.commit }));
}
function encodeMarker(m: SnapshotMeta): Buffer {
  return Buffer.from(JSON.stringify({ t: 's', i: m.index, m: m.term }));
}

function decodeRecord(payload: Buffer): WalRecord | null {
  let raw: unknown;
  try {
    raw = JSON.parse(payload.toString('utf8'));
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null) return null;
  const r = raw as Record<string, unknown>;
  switch (r['t']) {
    case 'e':
      if (typeof r['i'] !== 'number' || typeof r['m'] !== 'number' || typeof r['d'] !== 'string') return null;
      return { type: 'entry', entry: { index: r['i'], term: r['m'], kind: r['k'] === 'e' ? 'empty' : 'normal', data: r['d'] } };
    case 'h':
      if (typeof r['term'] !== 'number' || typeof r['commit'] !== 'number') return null;
      if (r['vote'] !== null && typeof r['vote'] !== 'string') return null;
      return { type: 'hard-state', hardState: { term: r['term'], vote: r['vote'], commit: r['commit'] } };
    case 's':
      if (typeof r['i'] !== 'number' || typeof r['m'] !== 'number') return null;
      return { type: 'snapshot-marker', meta: { index: r['i'], term: r['m'] } };
    default:
      return null;
  }
}

/** An open WAL positioned at the end of its newest segment. */
export class WriteAheadLog {
  private readonly segments: Segment[];
  private fd: number;
  private pending: Buffer[] = [];
  private pendingMaxEntryIndex = 0;
  /** Bytes written (page cache) but not yet covered by an fdatasync. */
  private unsynced = false;
  private closed = false;
  /** Counters for status and tests: fdatasync calls and bytes written. */
  readonly stats = { syncs: 0, bytesWritten: 0 };

  private constructor(
    private readonly dir: string,
    segments: Segment[],
    fd: number,
  ) {
    this.segments = segments;
    this.fd = fd;
  }

  /**
   * Opens (creating if needed) the WAL in `dir`, replays it, truncates a torn
   * tail, and returns the records in order. Throws `WalCorruptionError` on
   * corruption before the tail.
   */
  static open(dir: string): { wal: WriteAheadLog; records: WalRecord[]; truncations: WalTruncation[] } {
    mkdirSync(dir, { recursive: true });
    const seqs = readdirSync(dir)
      .filter((n) => n.endsWith(SEGMENT_SUFFIX))
      .map((n) => Number.parseInt(n.slice(0, -SEGMENT_SUFFIX.length), 10))
      .filter((n) => Number.isSafeInteger(n) && n > 0)
      .sort((a, b) => a - b);
    const records: WalRecord[] = [];
    const truncations: WalTruncation[] = [];
    const segments: Segment[] = [];
    for (let s = 0; s < seqs.length; s++) {
      const seq = seqs[s] as number;
      const path = join(dir, segmentName(seq));
      const isLast = s === seqs.length - 1;
      const segment: Segment = { seq, path, maxEntryIndex: 0 };
      const buf = readFileSync(path);
      let offset = 0;
      while (offset < buf.length) {
        const r = readRecordAt(buf, offset);
        if (r.type === 'record') {
          const rec = decodeRecord(r.payload);
          if (rec === null) throw new WalCorruptionError(path, offset, 'checksum matches but the record does not decode');
          if (rec.type === 'entry') segment.maxEntryIndex = Math.max(segment.maxEntryIndex, rec.entry.index);
          records.push(rec);
          offset = r.nextOffset;
          continue;
        }
        const reason = r.type === 'incomplete' ? 'incomplete record' : r.reason;
        // Only the segment being written when the process died can have a
        // torn tail; older segments were fully synced before rotation.
        if (!isLast || findValidRecordAfter(buf, offset + 1) !== null) throw new WalCorruptionError(path, offset, reason);
        const fd = openSync(path, 'r+');
        try {
          ftruncateSync(fd, offset);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        truncations.push({ file: path, offset, droppedBytes: buf.length - offset, reason });
        break;
      }
      segments.push(segment);
    }
    if (segments.length === 0) {
      const seq = 1;
      const path = join(dir, segmentName(seq));
      segments.push({ seq, path, maxEntryIndex: 0 });
      closeSync(openSync(path, 'a'));
      syncDirectory(dir);
    }
    const last = segments[segments.length - 1] as Segment;
    const fd = openSync(last.path, 'a');
    return { wal: new WriteAheadLog(dir, segments, fd), records, truncations };
  }

  /** Buffers entries; durable after the next `sync`. */
  appendEntries(entries: readonly Entry[]): void {
    for (const e of entries) {
      this.pending.push(encodeEntry(e));
      if (e.index > this.pendingMaxEntryIndex) this.pendingMaxEntryIndex = e.index;
    }
  }

  appendHardState(h: HardState): void {
    this.pending.push(encodeHardState(h));
  }

  appendSnapshotMarker(meta: SnapshotMeta): void {
    this.pending.push(encodeMarker(meta));
  }

  /**
   * Writes everything buffered in one write; with `durable`, also fdatasyncs
   * (covering earlier non-durable writes too). One call per Ready: group commit.
   */
  async flush(durable: boolean): Promise<void> {
    this.assertOpen();
    this.writePending();
    if (durable && this.unsynced) {
      this.stats.syncs++;
      await fdatasyncAsync(this.fd);
      this.unsynced = false;
    }
  }

  /**
   * Starts a new segment whose first records are `first` (the current hard
   * state and the snapshot marker, so deleting older segments loses neither),
   * durably, then deletes the oldest segments whose entries are all at or
   * below `coveredIndex`.
   */
  async rotate(first: { hardState: HardState; marker: SnapshotMeta }, coveredIndex: number): Promise<void> {
    this.assertOpen();
    await this.flush(true);
    const prev = this.segments[this.segments.length - 1] as Segment;
    const seq = prev.seq + 1;
    const path = join(this.dir, segmentName(seq));
    const fd = openSync(path, 'a');
    closeSync(this.fd);
    this.fd = fd;
    this.segments.push({ seq, path, maxEntryIndex: 0 });
    this.appendSnapshotMarker(first.marker);
    this.appendHardState(first.hardState);
    this.writePending();
    this.stats.syncs++;
    await fdatasyncAsync(this.fd);
    this.unsynced = false;
    syncDirectory(this.dir);
    while (this.segments.length > 1 && (this.segments[0] as Segment).maxEntryIndex <= coveredIndex) {
      const old = this.segments.shift() as Segment;
      rmSync(old.path, { force: true });
    }
    syncDirectory(this.dir);
  }

  /** Paths of the live segments, oldest first (for tests and status). */
  segmentPaths(): string[] {
    return this.segments.map((s) => s.path);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.writePending();
      fsyncSync(this.fd);
    } finally {
      closeSync(this.fd);
    }
  }

  private writePending(): void {
    if (this.pending.length === 0) return;
    const buf = frameRecords(this.pending);
    this.pending = [];
    let written = 0;
    while (written < buf.length) written += writeSync(this.fd, buf, written, buf.length - written);
    this.stats.bytesWritten += buf.length;
    const current = this.segments[this.segments.length - 1] as Segment;
    if (this.pendingMaxEntryIndex > current.maxEntryIndex) current.maxEntryIndex = this.pendingMaxEntryIndex;
    this.pendingMaxEntryIndex = 0;
    this.unsynced = true;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('write-ahead log is closed');
  }
}

/** fsync a directory so a create, rename or unlink in it is durable. */
export function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
