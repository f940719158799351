/**
 * The write-ahead log: a directory of numbered segment files, each a sequence
 * of framed records (see records.ts). A record is one log entry, one hard
 * state, or a snapshot marker. Appends are buffered and made durable together
 * with one write and one fdatasync (group commit); the runtime calls `flush`
 * once per Ready, so everything that accumulated while the previous fsync ran
 * shares the next one.
 *
 * Segments are preallocated: a segment file is filled with zeros (and synced)
 * before the first record goes in, and records overwrite the zeros in place.
 * An fdatasync after an append that grows the file must also commit the new
 * file size through the file system's journal; an overwrite inside the file
 * needs only the data flushed. On this project's reference machine that took
 * the p50 of a 200-byte write + fdatasync from 149 to 124 us for one process,
 * and from 205-218 to 177-199 us with three syncing at once, as a cluster on
 * one disk does (node/README.md, "Round 3"). The next
 * segment is zero-filled in the background once the current one is half
 * full, so a rotation is a rename, not a 4 MiB write. A segment is full when
 * the next batch would not fit; a batch larger than a whole segment is
 * written anyway (the file grows). A clean close trims the zeros off the
 * newest segment and open fills them in again.
 *
 * Recovery (on open) replays every segment in order. Zeros after the last
 * record are the unused, preallocated rest of the segment. A bad record in
 * the LAST segment is a torn write from a crash (it is zeroed out and
 * reported) when nothing valid follows it, or when it holds a zero-filled
 * piece of a disk sector: in a preallocated file the page cache may write an
 * unsynced batch back out of order, so a later record of the same batch can
 * survive a crash that lost an earlier one; none of it was ever acknowledged,
 * because an fdatasync covers the whole file. (A disk that silently loses a
 * whole sector it had acknowledged as synced looks the same and would lose
 * what follows it in that segment; etcd's WAL decoder likewise takes a record
 * with an all-zero sector for a torn write.) Anything else (a bad record
 * followed by valid data without such a hole, or any bad record in an older
 * segment, which was synced before the next one started) is corruption:
 * `open` throws a `WalCorruptionError` naming the file and byte offset,
 * because continuing could silently drop acknowledged writes.
 */
import {
  closeSync,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  write,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Entry, EntryKind, HardState, SnapshotMeta } from '../raft/types.ts';
import { findValidRecordAfter, frameRecords, readRecordAt, RECORD_HEADER_BYTES } from './records.ts';

const fdatasyncAsync = promisify(fdatasync);
const writeAsync = promisify(write);

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

/** One-letter codes of entry kinds in a WAL record (`n` also for records written before kinds other than `e` existed). */
const ENTRY_KIND_CODES: Record<EntryKind, string> = { normal: 'n', empty: 'e', config: 'c' };

function entryKindOf(code: unknown): EntryKind {
  return code === 'e' ? 'empty' : code === 'c' ? 'config' : 'normal';
}

/** Encodes one record payload. Short keys keep the hot path's bytes small. */
function encodeEntry(e: Entry): Buffer {
  return Buffer.from(JSON.stringify({ t: 'e', i: e.index, m: e.term, k: ENTRY_KIND_CODES[e.kind], d: e.data }));
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
  switch (r.t) {
    case 'e':
      if (typeof r.i !== 'number' || typeof r.m !== 'number' || typeof r.d !== 'string') return null;
      return {
        type: 'entry',
        entry: { index: r.i, term: r.m, kind: entryKindOf(r.k), data: r.d },
      };
    case 'h':
      if (typeof r.term !== 'number' || typeof r.commit !== 'number') return null;
      if (r.vote !== null && typeof r.vote !== 'string') return null;
      return { type: 'hard-state', hardState: { term: r.term, vote: r.vote, commit: r.commit } };
    case 's':
      if (typeof r.i !== 'number' || typeof r.m !== 'number') return null;
      return { type: 'snapshot-marker', meta: { index: r.i, term: r.m } };
    default:
      return null;
  }
}

/** Tunables; the defaults suit a node, tests use small segments. */
export interface WalOptions {
  /** Size of a preallocated segment in bytes. */
  readonly segmentBytes?: number;
  /** PLANTED BUG `fsync-skipped` (node/planted-bugs.ts): records are written but never fdatasynced. */
  readonly skipFsync?: boolean;
}

/** 4 MiB: a few seconds of writes at full load, a cheap background zero-fill. */
export const DEFAULT_SEGMENT_BYTES = 4 * 1024 * 1024;
/** The next segment while it is being zero-filled; not a `.wal`, so recovery never reads it. */
const SPARE_FILE = 'next-segment.tmp';
/** The unit a disk writes atomically; a torn write leaves whole sectors unwritten. */
const SECTOR_BYTES = 512;
/** Zero-fill in pieces of this size, so one background write never holds a pool thread for long. */
const ZERO_FILL_CHUNK_BYTES = 1024 * 1024;

/** The next segment, zero-filled in the background. */
interface Spare {
  readonly path: string;
  ready: boolean;
  /** Settles when the zero-fill ends, either way. */
  readonly done: Promise<void>;
}

/** An open WAL positioned at the end of the records of its newest segment. */
export class WriteAheadLog {
  private readonly segments: Segment[];
  private fd: number;
  /** Where the next record goes in the newest segment. */
  private writeOffset: number;
  private pending: Buffer[] = [];
  private pendingMaxEntryIndex = 0;
  /** Bytes written (page cache) but not yet covered by an fdatasync. */
  private unsynced = false;
  private closed = false;
  private spare: Spare | null = null;
  /** Counters for status and tests: fdatasync calls, bytes written, segments begun without a ready spare. */
  readonly stats = { syncs: 0, bytesWritten: 0, unpreparedSegments: 0 };

  private constructor(
    private readonly dir: string,
    private readonly segmentBytes: number,
    private readonly skipFsync: boolean,
    segments: Segment[],
    fd: number,
    writeOffset: number,
  ) {
    this.segments = segments;
    this.fd = fd;
    this.writeOffset = writeOffset;
  }

  /**
   * Opens (creating if needed) the WAL in `dir`, replays it, zeroes a torn
   * tail, and returns the records in order. Throws `WalCorruptionError` on
   * corruption before the tail.
   */
  static open(
    dir: string,
    options: WalOptions = {},
  ): { wal: WriteAheadLog; records: WalRecord[]; truncations: WalTruncation[] } {
    const segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    mkdirSync(dir, { recursive: true });
    // A spare left by the previous run may be half filled: start it again.
    rmSync(join(dir, SPARE_FILE), { force: true });
    const seqs = readdirSync(dir)
      .filter((n) => n.endsWith(SEGMENT_SUFFIX))
      .map((n) => Number.parseInt(n.slice(0, -SEGMENT_SUFFIX.length), 10))
      .filter((n) => Number.isSafeInteger(n) && n > 0)
      .sort((a, b) => a - b);
    const records: WalRecord[] = [];
    const truncations: WalTruncation[] = [];
    const segments: Segment[] = [];
    let endOfRecords = 0;
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
          if (rec === null)
            throw new WalCorruptionError(path, offset, 'checksum matches but the record does not decode');
          if (rec.type === 'entry') segment.maxEntryIndex = Math.max(segment.maxEntryIndex, rec.entry.index);
          records.push(rec);
          offset = r.nextOffset;
          continue;
        }
        const dataEnd = lastNonZeroByte(buf, offset) + 1;
        // Only zeros left: the preallocated, unused rest of the segment.
        if (dataEnd <= offset) break;
        const reason = r.type === 'incomplete' ? 'incomplete record' : r.reason;
        const nextValid = findValidRecordAfter(buf.subarray(0, dataEnd), offset + 1);
        const torn = isLast && (nextValid === null || hasUnwrittenSector(buf, offset, nextValid));
        if (!torn) throw new WalCorruptionError(path, offset, reason);
        zeroRange(path, offset, dataEnd);
        truncations.push({
          file: path,
          offset,
          droppedBytes: dataEnd - offset,
          reason:
            nextValid === null
              ? reason
              : `${reason}; a zero-filled sector inside it shows a torn write of an unsynced batch`,
        });
        break;
      }
      if (isLast) endOfRecords = offset;
      segments.push(segment);
    }
    if (segments.length === 0) {
      const seq = 1;
      const path = join(dir, segmentName(seq));
      segments.push({ seq, path, maxEntryIndex: 0 });
      zeroFillSync(path, segmentBytes);
      syncDirectory(dir);
    }
    const last = segments[segments.length - 1] as Segment;
    // Positional writes (never 'a': O_APPEND would ignore the offset).
    const fd = openSync(last.path, 'r+');
    // A cleanly closed segment was trimmed to its records: preallocate it again.
    const size = fstatSync(fd).size;
    if (size < segmentBytes) zeroFillFd(fd, size, segmentBytes);
    const wal = new WriteAheadLog(dir, segmentBytes, options.skipFsync === true, segments, fd, endOfRecords);
    // The records just read may exist only in the page cache: a process
    // killed between its write and its fdatasync leaves them readable but
    // not durable. The node is about to act on them as durable (a vote it
    // answers again, entries it acknowledges), so sync them and the
    // directory now. Older segments were synced before the next one began.
    wal.stats.syncs++;
    fdatasyncSync(fd);
    syncDirectory(dir);
    return { wal, records, truncations };
  }

  /** Buffers entries; durable after the next `flush(true)`. */
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
   * (covering earlier non-durable writes too). One call per Ready: group
   * commit. With `onThisThread` the fdatasync runs on the calling thread:
   * for a small batch the hop to the thread pool and back costs more
   * (about 25 us here) than what the caller could do meanwhile.
   */
  async flush(durable: boolean, onThisThread = false): Promise<void> {
    this.assertOpen();
    this.writePending();
    // PLANTED BUG `fsync-skipped`: the records are in the page cache only, yet the caller is told they are durable.
    if (this.skipFsync) return;
    if (durable && this.unsynced) {
      this.stats.syncs++;
      if (onThisThread) fdatasyncSync(this.fd);
      else await fdatasyncAsync(this.fd);
      this.unsynced = false;
    }
  }

  /**
   * Records a snapshot (own compaction or one received, §7): the marker and
   * the current hard state, durably, then deletes the oldest segments whose
   * entries are all at or below `coveredIndex` (the hard state just written
   * to the newest segment supersedes any they hold). The newest segment is never
   * deleted; it is dropped once a later snapshot covers it and it is full.
   */
  async recordSnapshot(marker: SnapshotMeta, hardState: HardState, coveredIndex: number): Promise<void> {
    this.assertOpen();
    this.appendSnapshotMarker(marker);
    this.appendHardState(hardState);
    await this.flush(true);
    let deleted = false;
    while (this.segments.length > 1 && (this.segments[0] as Segment).maxEntryIndex <= coveredIndex) {
      const old = this.segments.shift() as Segment;
      rmSync(old.path, { force: true });
      deleted = true;
    }
    if (deleted) syncDirectory(this.dir);
  }

  /** Paths of the live segments, oldest first (for tests and status). */
  segmentPaths(): string[] {
    return this.segments.map((s) => s.path);
  }

  /**
   * Writes what is buffered, syncs, and gives the unused zeros back: a stopped
   * node's data directory holds only its records (a failed run keeps it as
   * evidence), and the next `open` preallocates the segment again.
   */
  close(): void {
    if (this.closed) return;
    try {
      this.writePending();
      fsyncSync(this.fd);
      ftruncateSync(this.fd, this.writeOffset);
      fsyncSync(this.fd);
    } finally {
      this.closed = true;
      closeSync(this.fd);
      rmSync(join(this.dir, SPARE_FILE), { force: true });
    }
  }

  private writePending(): void {
    if (this.pending.length === 0) return;
    const buf = frameRecords(this.pending);
    this.pending = [];
    if (this.writeOffset > 0 && this.writeOffset + buf.length > this.segmentBytes) this.startNextSegment();
    let written = 0;
    while (written < buf.length)
      written += writeSync(this.fd, buf, written, buf.length - written, this.writeOffset + written);
    this.writeOffset += buf.length;
    this.stats.bytesWritten += buf.length;
    const current = this.segments[this.segments.length - 1] as Segment;
    if (this.pendingMaxEntryIndex > current.maxEntryIndex) current.maxEntryIndex = this.pendingMaxEntryIndex;
    this.pendingMaxEntryIndex = 0;
    this.unsynced = true;
    if (this.writeOffset > this.segmentBytes / 2) this.prepareSpare();
  }

  /**
   * Closes the full segment and continues in a new one: the zero-filled
   * spare if it is ready, else an empty file (appends, slower syncs, until
   * the next rotation).
   */
  private startNextSegment(): void {
    // Sync what the old segment holds first: then only the newest segment can
    // ever have a torn tail, and recovery may treat damage elsewhere as corruption.
    if (this.unsynced && !this.skipFsync) {
      this.stats.syncs++;
      fdatasyncSync(this.fd);
      this.unsynced = false;
    }
    const prev = this.segments[this.segments.length - 1] as Segment;
    const seq = prev.seq + 1;
    const path = join(this.dir, segmentName(seq));
    if (this.spare?.ready === true) {
      renameSync(this.spare.path, path);
      this.spare = null;
    } else {
      this.stats.unpreparedSegments++;
      closeSync(openSync(path, 'w'));
    }
    // The new name must be durable before records in it are acknowledged.
    syncDirectory(this.dir);
    closeSync(this.fd);
    this.fd = openSync(path, 'r+');
    this.writeOffset = 0;
    this.segments.push({ seq, path, maxEntryIndex: 0 });
  }

  /** Starts zero-filling the next segment in the background, once. */
  private prepareSpare(): void {
    if (this.spare !== null || this.closed) return;
    const path = join(this.dir, SPARE_FILE);
    const spare: Spare = {
      path,
      ready: false,
      done: zeroFill(path, this.segmentBytes).then(
        () => {
          if (this.spare === spare) spare.ready = true;
        },
        () => {
          // Out of space or similar: the next rotation starts an empty
          // segment instead, and the one after tries again.
          if (this.spare === spare) this.spare = null;
        },
      ),
    };
    this.spare = spare;
  }

  /** Whether the next segment is being (or has been) zero-filled (for tests). */
  preparingNextSegment(): boolean {
    return this.spare !== null;
  }

  /** Settles once the next segment's zero-fill, if one runs, has ended (for tests). */
  async nextSegmentReady(): Promise<void> {
    await this.spare?.done;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('write-ahead log is closed');
  }
}

/** Index of the last non-zero byte of `buf` at or after `from`, or `from - 1` if there is none. */
function lastNonZeroByte(buf: Buffer, from: number): number {
  for (let i = buf.length - 1; i >= from; i--) if (buf[i] !== 0) return i;
  return from - 1;
}

/**
 * Whether the bytes from `from` to `to` include a zero-filled piece of a
 * sector at least a record header long: what a sector that never reached
 * the disk leaves in a preallocated file. A header, payload or checksum of
 * ours never holds eight zero bytes in a row.
 */
function hasUnwrittenSector(buf: Buffer, from: number, to: number): boolean {
  for (let start = from; start < to; ) {
    const end = Math.min(to, (Math.floor(start / SECTOR_BYTES) + 1) * SECTOR_BYTES);
    if (end - start >= RECORD_HEADER_BYTES && lastNonZeroByte(buf.subarray(0, end), start) < start) return true;
    start = end;
  }
  return false;
}

/** Overwrites `[from, to)` of a file with zeros, durably. */
function zeroRange(path: string, from: number, to: number): void {
  const fd = openSync(path, 'r+');
  try {
    zeroFillFd(fd, from, to);
  } finally {
    closeSync(fd);
  }
}

/** Creates `path` as `bytes` zeros, durably (the first segment, on a new log). */
function zeroFillSync(path: string, bytes: number): void {
  const fd = openSync(path, 'w');
  try {
    zeroFillFd(fd, 0, bytes);
  } finally {
    closeSync(fd);
  }
}

/** Writes zeros to `[from, to)` of an open file and syncs it. */
function zeroFillFd(fd: number, from: number, to: number): void {
  const zeros = Buffer.alloc(Math.min(to - from, ZERO_FILL_CHUNK_BYTES));
  for (let offset = from; offset < to; ) offset += writeSync(fd, zeros, 0, Math.min(zeros.length, to - offset), offset);
  fdatasyncSync(fd);
}

/** Creates `path` as `bytes` zeros, durably, on the thread pool. */
async function zeroFill(path: string, bytes: number): Promise<void> {
  const fd = openSync(path, 'w');
  try {
    const zeros = Buffer.alloc(Math.min(bytes, ZERO_FILL_CHUNK_BYTES));
    for (let offset = 0; offset < bytes; )
      offset += (await writeAsync(fd, zeros, 0, Math.min(zeros.length, bytes - offset), offset)).bytesWritten;
    await fdatasyncAsync(fd);
  } finally {
    closeSync(fd);
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
