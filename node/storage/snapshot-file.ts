/**
 * Snapshot files (Raft §7): one framed record `{meta, data}` per file, named
 * by the last index it covers. Saved crash-safely: write a temporary file,
 * fsync it, rename it into place, fsync the directory; only then are older
 * snapshots removed, so a crash at any point leaves one complete snapshot.
 */
import {
  closeSync,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeSync,
  renameSync,
  mkdirSync,
} from 'node:fs';
import { join } from 'node:path';
import { decodeConfiguration, encodeConfiguration } from '../raft/configuration.ts';
import type { Configuration, Snapshot } from '../raft/types.ts';
import { frameRecords, RECORD_PAYLOAD_BYTES_MAX, readRecordAt } from './records.ts';
import { syncDirectory } from './wal.ts';

const SUFFIX = '.snap';
const TMP_SUFFIX = '.tmp';

/** A snapshot file that exists but cannot be read: the node refuses to start. */
export class SnapshotCorruptionError extends Error {
  readonly code = 'SNAPSHOT_CORRUPT';
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(
      `snapshot ${file} is corrupt (${reason}); refusing to start because the log before it was compacted away. ` +
        'Restore the data directory from a replica or remove it to rejoin as a new empty member.',
    );
  }
}

/** The snapshot directory of one node. */
export class SnapshotStore {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  /** Makes `snapshot` durable and removes older ones. */
  save(snapshot: Snapshot): string {
    const name = `${String(snapshot.meta.index).padStart(16, '0')}${SUFFIX}`;
    const path = join(this.dir, name);
    const tmp = path + TMP_SUFFIX;
    const payload = Buffer.from(
      JSON.stringify({
        index: snapshot.meta.index,
        term: snapshot.meta.term,
        // The configuration at the snapshot's index (thesis §5.1); absent in files written before membership changes.
        ...(snapshot.meta.config !== undefined ? { config: encodeConfiguration(snapshot.meta.config) } : {}),
        data: snapshot.data,
      }),
    );
    // The state machine keeps its snapshots under this (kv.ts snapshotBytesBound); refusing
    // here, before anything is replaced, keeps the last good snapshot and says why.
    if (payload.length > RECORD_PAYLOAD_BYTES_MAX)
      throw new Error(
        `snapshot at index ${snapshot.meta.index} is ${payload.length} bytes, over the ` +
          `${RECORD_PAYLOAD_BYTES_MAX}-byte record limit; it could not be read back, so it is not written`,
      );
    const buf = frameRecords([payload]);
    const fd = openSync(tmp, 'w');
    try {
      let written = 0;
      while (written < buf.length) written += writeSync(fd, buf, written, buf.length - written);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    syncDirectory(this.dir);
    for (const other of readdirSync(this.dir)) {
      if (other !== name && (other.endsWith(SUFFIX) || other.endsWith(TMP_SUFFIX)))
        rmSync(join(this.dir, other), { force: true });
    }
    return path;
  }

  /** The newest snapshot, or null if none was ever saved. Throws `SnapshotCorruptionError`. */
  loadLatest(): Snapshot | null {
    const names = readdirSync(this.dir)
      .filter((n) => n.endsWith(SUFFIX))
      .sort();
    // Leftover temporaries are from a crash before the rename: never valid.
    for (const n of readdirSync(this.dir)) if (n.endsWith(TMP_SUFFIX)) rmSync(join(this.dir, n), { force: true });
    const newest = names[names.length - 1];
    if (newest === undefined) return null;
    // A crash between the rename and the directory sync leaves the new name
    // only in the page cache: make it durable before the WAL relies on it.
    syncDirectory(this.dir);
    const path = join(this.dir, newest);
    const buf = readFileSync(path);
    const r = readRecordAt(buf, 0);
    if (r.type === 'incomplete') throw new SnapshotCorruptionError(path, 'file is shorter than its record');
    if (r.type === 'invalid') throw new SnapshotCorruptionError(path, r.reason);
    if (r.nextOffset !== buf.length) throw new SnapshotCorruptionError(path, 'trailing bytes after the record');
    let raw: unknown;
    try {
      raw = JSON.parse(r.payload.toString('utf8'));
    } catch {
      throw new SnapshotCorruptionError(path, 'payload is not JSON');
    }
    const o = raw as Record<string, unknown> | null;
    if (
      o === null ||
      typeof o !== 'object' ||
      typeof o.index !== 'number' ||
      typeof o.term !== 'number' ||
      typeof o.data !== 'string'
    ) {
      throw new SnapshotCorruptionError(path, 'payload lacks index, term or data');
    }
    let config: Configuration | undefined;
    if (o.config !== undefined) {
      if (typeof o.config !== 'string') throw new SnapshotCorruptionError(path, 'config is not a string');
      try {
        config = decodeConfiguration(o.config);
      } catch (err) {
        throw new SnapshotCorruptionError(path, (err as Error).message);
      }
    }
    return { meta: { index: o.index, term: o.term, ...(config !== undefined ? { config } : {}) }, data: o.data };
  }
}
