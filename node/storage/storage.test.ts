import assert from 'node:assert/strict';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import fc from 'fast-check';
import type { Entry } from '../raft/types.ts';
import { frameRecords, readRecordAt } from './records.ts';
import { SnapshotCorruptionError, SnapshotStore } from './snapshot-file.ts';
import { LogGapError, NodeStorage, replay } from './storage.ts';
import { DEFAULT_SEGMENT_BYTES, WalCorruptionError, WriteAheadLog } from './wal.ts';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'raftlab-storage-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function entries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++)
    out.push({ index: i, term, kind: 'normal', data: `{"op":"put","key":"k${i}","value":${i}}` });
  return out;
}

function onlySegment(dir: string): string {
  const segs = readdirSync(join(dir, 'wal'));
  assert.equal(segs.length, 1);
  return join(dir, 'wal', segs[0] as string);
}

/** Offsets of the records at the start of a segment file (up to the first non-record, e.g. the zero fill). */
function recordOffsets(buf: Buffer): { offsets: number[]; end: number } {
  const offsets: number[] = [];
  let offset = 0;
  for (;;) {
    const r = readRecordAt(buf, offset);
    if (r.type !== 'record') return { offsets, end: offset };
    offsets.push(offset);
    offset = r.nextOffset;
  }
}

/** Zeroes `count` bytes ending where the records end: a last write that reached the disk only in part. */
function tearEndOfRecords(seg: string, count: number): { end: number } {
  const buf = readFileSync(seg);
  const { end } = recordOffsets(buf);
  buf.fill(0, end - count, end);
  writeFileSync(seg, buf);
  return { end };
}

/** Small segments, so tests cross segment boundaries with a few hundred entries. */
const SMALL = { segmentBytes: 4096 };

describe('record framing', () => {
  test('a framed record reads back, a flipped payload byte fails the checksum', () => {
    const buf = frameRecords([Buffer.from('{"a":1}')]);
    const ok = readRecordAt(buf, 0);
    assert.equal(ok.type, 'record');
    buf[buf.length - 2] = 0x32;
    assert.deepEqual(readRecordAt(buf, 0), { type: 'invalid', reason: 'checksum mismatch' });
  });

  test('zeros never parse as a record', () => {
    assert.equal(readRecordAt(Buffer.alloc(64), 0).type, 'invalid');
  });
});

describe('write-ahead log', () => {
  test('entries and hard state survive close and reopen', async () => {
    const dir = tempDir();
    const { storage } = NodeStorage.open(dir);
    await storage.persist({ snapshot: null, entries: entries(1, 5, 1), hardState: { term: 1, vote: 'n1', commit: 3 } });
    storage.close();
    const { recovered, truncations } = NodeStorage.open(dir);
    assert.deepEqual(truncations, []);
    assert.deepEqual(recovered.entries, entries(1, 5, 1));
    assert.deepEqual(recovered.hardState, { term: 1, vote: 'n1', commit: 3 });
    assert.equal(recovered.snapshot, null);
  });

  test('a commit-only hard state change is not written on its own, but with the next entries', async () => {
    const dir = tempDir();
    const { storage } = NodeStorage.open(dir);
    await storage.persist({ snapshot: null, entries: entries(1, 3, 1), hardState: { term: 1, vote: 'n1', commit: 0 } });
    const before = storage.stats();
    await storage.persist({ snapshot: null, entries: [], hardState: { term: 1, vote: 'n1', commit: 3 } });
    assert.deepEqual(storage.stats(), before, 'no write, no sync');
    await storage.persist({ snapshot: null, entries: entries(4, 4, 1), hardState: null });
    storage.close();
    assert.deepEqual(NodeStorage.open(dir).recovered.hardState, { term: 1, vote: 'n1', commit: 3 });
  });

  test('a vote is synced before persist returns, even without entries (§5.1)', async () => {
    const dir = tempDir();
    const { storage } = NodeStorage.open(dir);
    const before = storage.stats().walSyncs;
    await storage.persist({ snapshot: null, entries: [], hardState: { term: 4, vote: 'n3', commit: 0 } });
    assert.equal(storage.stats().walSyncs, before + 1);
    // Reopen without close: what is there is what was synced.
    assert.deepEqual(NodeStorage.open(dir).recovered.hardState, { term: 4, vote: 'n3', commit: 0 });
  });

  test('records a killed process left only in the page cache are synced on open, before use', async () => {
    // A kill -9 after the write but before the fdatasync leaves the records
    // readable (page cache) but not durable. The restarted node treats them
    // as its own durable state (e.g. answers a retried vote request again
    // without writing anything), so open must make them durable first.
    const dir = tempDir();
    const { wal } = WriteAheadLog.open(join(dir, 'wal'));
    wal.appendHardState({ term: 3, vote: 'n2', commit: 0 });
    wal.appendEntries(entries(1, 5, 3));
    await wal.flush(false); // written, never synced; the process "dies" here (no close)
    const reopened = WriteAheadLog.open(join(dir, 'wal'));
    assert.equal(reopened.records.filter((r) => r.type === 'entry').length, 5);
    assert.equal(reopened.wal.stats.syncs, 1, 'the recovered tail was fdatasynced on open');
    const { storage } = NodeStorage.open(join(dir, 'copy'));
    assert.equal(storage.stats().walSyncs, 1, 'an empty new log is synced on open too');
  });

  test('group commit: many buffered appends are made durable by one fdatasync', async () => {
    const dir = tempDir();
    const { wal } = WriteAheadLog.open(join(dir, 'wal'));
    wal.appendEntries(entries(1, 10, 1));
    wal.appendHardState({ term: 1, vote: null, commit: 0 });
    wal.appendEntries(entries(11, 20, 1));
    const before = wal.stats.syncs;
    await wal.flush(true);
    assert.equal(wal.stats.syncs - before, 1);
    await wal.flush(true); // nothing new: no second sync
    assert.equal(wal.stats.syncs - before, 1);
    wal.close();
    const { records } = WriteAheadLog.open(join(dir, 'wal'));
    assert.equal(records.filter((r) => r.type === 'entry').length, 20);
  });

  test('a torn tail (the last record half written) is zeroed and reported', async () => {
    const dir = tempDir();
    const { storage } = NodeStorage.open(dir);
    await storage.persist({ snapshot: null, entries: entries(1, 3, 1), hardState: { term: 1, vote: null, commit: 0 } });
    await storage.persist({ snapshot: null, entries: entries(4, 4, 1), hardState: null });
    storage.close();
    const seg = onlySegment(dir);
    const { end } = tearEndOfRecords(seg, 5);
    const lastRecord = recordOffsets(readFileSync(seg)).end;
    const { recovered, truncations } = NodeStorage.open(dir);
    assert.deepEqual(truncations, [
      { file: seg, offset: lastRecord, droppedBytes: end - 5 - lastRecord, reason: 'checksum mismatch' },
    ]);
    assert.deepEqual(recovered.entries, entries(1, 3, 1));
    const after = readFileSync(seg);
    assert.equal(after.length, DEFAULT_SEGMENT_BYTES, 'the segment is preallocated again');
    assert.equal(
      after.subarray(lastRecord).some((b) => b !== 0),
      false,
      'the torn bytes were zeroed',
    );
    // A second open finds a clean log.
    assert.deepEqual(NodeStorage.open(dir).truncations, []);
  });

  test('a torn tail of a segment that was not preallocated (an incomplete record at the end of the file)', async () => {
    // What an older raftlab, or a rotation without a ready spare, leaves: records up to the end of the file.
    const dir = tempDir();
    const walDir = join(dir, 'wal');
    mkdirSync(walDir, { recursive: true });
    const seg = join(walDir, '0000000000000001.wal');
    const records = entries(1, 4, 1).map((e) =>
      Buffer.from(JSON.stringify({ t: 'e', i: e.index, m: e.term, k: 'n', d: e.data })),
    );
    const whole = frameRecords(records);
    writeFileSync(seg, whole.subarray(0, whole.length - 5));
    const first = NodeStorage.open(dir, {}, SMALL);
    assert.equal(first.truncations[0]?.reason, 'incomplete record');
    assert.deepEqual(first.recovered.entries, entries(1, 3, 1));
    // Writing continues where the valid records end.
    await first.storage.persist({ snapshot: null, entries: entries(4, 5, 1), hardState: null });
    first.storage.close();
    const second = NodeStorage.open(dir, {}, SMALL);
    assert.deepEqual(second.truncations, []);
    assert.deepEqual(second.recovered.entries, entries(1, 5, 1));
  });

  test('a torn tail loses entries, never the term they were written in', async () => {
    const dir = tempDir();
    const { storage } = NodeStorage.open(dir);
    await storage.persist({ snapshot: null, entries: entries(1, 2, 1), hardState: { term: 1, vote: 'n1', commit: 0 } });
    // A new term and its first entries arrive in one Ready.
    await storage.persist({ snapshot: null, entries: entries(3, 4, 2), hardState: { term: 2, vote: 'n2', commit: 2 } });
    storage.close();
    tearEndOfRecords(onlySegment(dir), 3);
    const { recovered } = NodeStorage.open(dir);
    assert.deepEqual(recovered.hardState, { term: 2, vote: 'n2', commit: 2 });
    assert.deepEqual(recovered.entries, [...entries(1, 2, 1), ...entries(3, 3, 2)]);
  });

  test('a checksum mismatch in the last record is a torn tail, not corruption', async () => {
    const dir = tempDir();
    const { storage } = NodeStorage.open(dir);
    await storage.persist({ snapshot: null, entries: entries(1, 3, 2), hardState: null });
    storage.close();
    const seg = onlySegment(dir);
    const buf = readFileSync(seg);
    const { end } = recordOffsets(buf);
    buf[end - 3] = (buf[end - 3] as number) ^ 0xff;
    writeFileSync(seg, buf);
    const { recovered, truncations } = NodeStorage.open(dir);
    assert.equal(truncations[0]?.reason, 'checksum mismatch');
    assert.deepEqual(recovered.entries, entries(1, 2, 2));
  });

  test('an unsynced batch written back out of order (a hole, then a whole record) is a torn tail', async () => {
    // In a preallocated file the page cache may write the pages of an
    // unsynced batch in any order: a crash can keep a later record and lose
    // the sector before it. None of that batch was acknowledged.
    const dir = tempDir();
    const { storage } = NodeStorage.open(dir);
    await storage.persist({ snapshot: null, entries: entries(1, 3, 1), hardState: { term: 1, vote: null, commit: 0 } });
    const synced = recordOffsets(readFileSync(onlySegment(dir))).end;
    await storage.persist({ snapshot: null, entries: entries(4, 40, 1), hardState: null });
    storage.close();
    const seg = onlySegment(dir);
    const buf = readFileSync(seg);
    const { offsets, end } = recordOffsets(buf);
    const holeStart = Math.ceil((synced + 600) / 512) * 512;
    assert.ok(holeStart + 512 < end - 200, 'the hole lies inside the second batch, with whole records after it');
    buf.fill(0, holeStart, holeStart + 512);
    writeFileSync(seg, buf);
    // The record the hole starts in (or at) is the first bad one.
    const firstHit = offsets.filter((o) => o <= holeStart).pop() as number;
    const { recovered, truncations } = NodeStorage.open(dir);
    assert.equal(truncations.length, 1);
    assert.equal(truncations[0]?.offset, firstHit);
    assert.match(truncations[0]?.reason ?? '', /zero-filled sector/);
    // Records before it: the hard state, then entries 1, 2, ...
    assert.deepEqual(recovered.entries, entries(1, offsets.filter((o) => o < firstHit).length - 1, 1));
    assert.equal(
      readFileSync(seg)
        .subarray(firstHit)
        .some((b) => b !== 0),
      false,
      'everything from the torn record on was zeroed',
    );
    assert.deepEqual(NodeStorage.open(dir).truncations, []);
  });

  test('corruption before the tail refuses to open, naming file and offset', async () => {
    const dir = tempDir();
    const { storage } = NodeStorage.open(dir);
    await storage.persist({ snapshot: null, entries: entries(1, 10, 1), hardState: null });
    storage.close();
    const seg = onlySegment(dir);
    const buf = readFileSync(seg);
    // Find the offset of the third record and flip a byte of its payload.
    let offset = 0;
    for (let i = 0; i < 2; i++) {
      const r = readRecordAt(buf, offset);
      assert.equal(r.type, 'record');
      if (r.type === 'record') offset = r.nextOffset;
    }
    buf[offset + 12] = (buf[offset + 12] as number) ^ 0x01;
    writeFileSync(seg, buf);
    assert.throws(
      () => NodeStorage.open(dir),
      (err: unknown) =>
        err instanceof WalCorruptionError &&
        err.file === seg &&
        err.offset === offset &&
        err.message.includes(seg) &&
        err.message.includes(`offset ${offset}`),
    );
    // Nothing was truncated: the evidence is kept.
    assert.equal(statSync(seg).size, buf.length);
  });

  test('a later record for an index replaces it and every entry after it (§5.3)', () => {
    const { entries: log } = replay(
      [
        ...entries(1, 5, 1).map((entry) => ({ type: 'entry' as const, entry })),
        ...entries(3, 3, 2).map((entry) => ({ type: 'entry' as const, entry })),
      ],
      null,
    );
    assert.deepEqual(log, [...entries(1, 2, 1), ...entries(3, 3, 2)]);
  });

  test('a gap in the log is refused', () => {
    assert.throws(
      () =>
        replay(
          [...entries(1, 2, 1), ...entries(5, 5, 1)].map((entry) => ({ type: 'entry' as const, entry })),
          null,
        ),
      LogGapError,
    );
  });
});

describe('snapshots', () => {
  test('save and load round-trip; older snapshots are removed', () => {
    const dir = tempDir();
    const store = new SnapshotStore(dir);
    store.save({ meta: { index: 10, term: 1 }, data: 'ten' });
    store.save({ meta: { index: 20, term: 2 }, data: 'twenty' });
    assert.deepEqual(store.loadLatest(), { meta: { index: 20, term: 2 }, data: 'twenty' });
    assert.equal(readdirSync(dir).length, 1);
  });

  test('a corrupt snapshot refuses to load with its file name', () => {
    const dir = tempDir();
    const store = new SnapshotStore(dir);
    const path = store.save({ meta: { index: 10, term: 1 }, data: 'state' });
    const buf = readFileSync(path);
    buf[buf.length - 4] = 0x00;
    writeFileSync(path, buf);
    assert.throws(
      () => store.loadLatest(),
      (err: unknown) => err instanceof SnapshotCorruptionError && err.message.includes(path),
    );
  });

  test('compaction drops full segments the snapshot covers; restart loads snapshot plus log suffix', async () => {
    const dir = tempDir();
    const { storage } = NodeStorage.open(dir, {}, SMALL);
    for (let i = 1; i <= 100; i += 10)
      await storage.persist({
        snapshot: null,
        entries: entries(i, i + 9, 1),
        hardState: { term: 1, vote: 'n2', commit: i - 1 },
      });
    const before = storage.walSegments();
    assert.ok(before.length >= 3, `100 entries fill several ${SMALL.segmentBytes}-byte segments (${before.length})`);
    await storage.saveSnapshot({ index: 100, term: 1 }, { meta: { index: 100, term: 1 }, data: 'at-100' });
    // Every full segment is covered and gone; the one being written stays.
    assert.deepEqual(storage.walSegments(), before.slice(-1));
    for (let i = 101; i <= 200; i += 10)
      await storage.persist({
        snapshot: null,
        entries: entries(i, i + 9, 1),
        hardState: { term: 1, vote: 'n2', commit: i - 1 },
      });
    const middle = storage.walSegments();
    await storage.saveSnapshot({ index: 150, term: 1 }, { meta: { index: 150, term: 1 }, data: 'at-150' });
    // Segments holding entries above 150 are kept.
    const after = storage.walSegments();
    assert.ok(after.length < middle.length && after.length >= 2, `${middle.length} -> ${after.length} segments`);
    storage.close();
    const { recovered } = NodeStorage.open(dir, {}, SMALL);
    assert.deepEqual(recovered.snapshot, { meta: { index: 150, term: 1 }, data: 'at-150' });
    assert.deepEqual(recovered.entries, entries(151, 200, 1));
    assert.deepEqual(recovered.hardState, { term: 1, vote: 'n2', commit: 190 });
  });

  test('a received snapshot that conflicts with the log discards the whole log (§7)', async () => {
    const dir = tempDir();
    const { storage } = NodeStorage.open(dir);
    await storage.persist({
      snapshot: null,
      entries: entries(1, 30, 1),
      hardState: { term: 1, vote: null, commit: 5 },
    });
    await storage.persist({
      snapshot: { meta: { index: 20, term: 3 }, data: 'leader-state' },
      entries: entries(21, 22, 3),
      hardState: { term: 3, vote: null, commit: 20 },
    });
    storage.close();
    const { recovered } = NodeStorage.open(dir);
    assert.deepEqual(recovered.entries, entries(21, 22, 3));
    assert.equal(recovered.hardState.commit, 20);
  });
});

describe('preallocated WAL segments', () => {
  test('a segment is zero-filled before use; the unused zeros are not a torn tail', async () => {
    const dir = tempDir();
    const { storage } = NodeStorage.open(dir, {}, SMALL);
    assert.equal(statSync(onlySegment(dir)).size, SMALL.segmentBytes, 'the first segment is preallocated at once');
    await storage.persist({ snapshot: null, entries: entries(1, 5, 1), hardState: { term: 1, vote: 'n1', commit: 0 } });
    // Reopen without close: what is there is what was synced.
    const reopened = NodeStorage.open(dir, {}, SMALL);
    assert.deepEqual(reopened.truncations, []);
    assert.deepEqual(reopened.recovered.entries, entries(1, 5, 1));
    assert.equal(statSync(onlySegment(dir)).size, SMALL.segmentBytes, 'records overwrote zeros; the file did not grow');
    // Writing resumes after the last record, not at the end of the file.
    await reopened.storage.persist({ snapshot: null, entries: entries(6, 6, 1), hardState: null });
    reopened.storage.close();
    assert.deepEqual(NodeStorage.open(dir, {}, SMALL).recovered.entries, entries(1, 6, 1));
  });

  test('a clean close trims the unused zeros; the next open preallocates again', async () => {
    const dir = tempDir();
    const { storage } = NodeStorage.open(dir, {}, SMALL);
    await storage.persist({ snapshot: null, entries: entries(1, 3, 1), hardState: { term: 1, vote: 'n1', commit: 0 } });
    storage.close();
    const seg = onlySegment(dir);
    const { end } = recordOffsets(readFileSync(seg));
    assert.equal(statSync(seg).size, end, 'only the records are left');
    const reopened = NodeStorage.open(dir, {}, SMALL);
    assert.equal(statSync(seg).size, SMALL.segmentBytes);
    await reopened.storage.persist({ snapshot: null, entries: entries(4, 4, 1), hardState: null });
    assert.equal(statSync(seg).size, SMALL.segmentBytes, 'the next write went into the zeros');
    reopened.storage.close();
    assert.deepEqual(NodeStorage.open(dir, {}, SMALL).recovered.entries, entries(1, 4, 1));
  });

  test('a full segment continues in the next; replay crosses segments', async () => {
    const dir = tempDir();
    const { storage } = NodeStorage.open(dir, {}, SMALL);
    await storage.persist({ snapshot: null, entries: [], hardState: { term: 3, vote: 'n3', commit: 0 } });
    for (let i = 1; i <= 150; i += 5)
      await storage.persist({ snapshot: null, entries: entries(i, i + 4, 3), hardState: null });
    const segments = storage.walSegments();
    assert.ok(segments.length >= 3, `${segments.length} segments`);
    for (const seg of segments)
      assert.ok(statSync(seg).size <= SMALL.segmentBytes, `${seg} stayed within its preallocated size`);
    storage.close();
    const { recovered, truncations } = NodeStorage.open(dir, {}, SMALL);
    assert.deepEqual(truncations, []);
    assert.deepEqual(recovered.entries, entries(1, 150, 3));
    assert.deepEqual(recovered.hardState, { term: 3, vote: 'n3', commit: 0 });
  });

  test('the next segment is zero-filled in the background and renamed into place when needed', async () => {
    const dir = tempDir();
    const { wal } = WriteAheadLog.open(join(dir, 'wal'), SMALL);
    let next = 1;
    // One entry is about 80 bytes: a segment holds about 50.
    const appendUntil = async (done: () => boolean, what: string): Promise<void> => {
      for (let i = 0; !done(); i++) {
        assert.ok(i < 200, `${what} within 200 entries`);
        wal.appendEntries(entries(next, next, 1));
        next++;
        await wal.flush(true);
      }
    };
    // Past half of the first segment: the spare is being prepared.
    await appendUntil(() => wal.preparingNextSegment(), 'the spare is started');
    assert.equal(wal.segmentPaths().length, 1);
    await wal.nextSegmentReady();
    await appendUntil(() => wal.segmentPaths().length > 1, 'the log rotates');
    assert.equal(wal.stats.unpreparedSegments, 0, 'the rotation used the zero-filled spare');
    assert.equal(statSync(wal.segmentPaths()[1] as string).size, SMALL.segmentBytes);
    wal.close();
    const { records } = WriteAheadLog.open(join(dir, 'wal'), SMALL);
    assert.deepEqual(
      records.filter((r) => r.type === 'entry').map((r) => (r.type === 'entry' ? r.entry.index : 0)),
      Array.from({ length: next - 1 }, (_, i) => i + 1),
    );
  });

  test('a spare left half filled by a crash is removed on open', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'wal'), { recursive: true });
    writeFileSync(join(dir, 'wal', 'next-segment.tmp'), Buffer.alloc(100));
    const { wal } = WriteAheadLog.open(join(dir, 'wal'), SMALL);
    assert.equal(existsSync(join(dir, 'wal', 'next-segment.tmp')), false);
    wal.close();
  });

  test('a batch larger than a whole segment is written whole into a new one', async () => {
    const dir = tempDir();
    const { storage } = NodeStorage.open(dir, {}, SMALL);
    await storage.persist({ snapshot: null, entries: entries(1, 2, 1), hardState: { term: 1, vote: null, commit: 0 } });
    await storage.persist({ snapshot: null, entries: entries(3, 200, 1), hardState: null });
    assert.equal(storage.walSegments().length, 2);
    assert.ok(statSync(storage.walSegments()[1] as string).size > SMALL.segmentBytes);
    storage.close();
    assert.deepEqual(NodeStorage.open(dir, {}, SMALL).recovered.entries, entries(1, 200, 1));
  });

  test('damage at the end of an older segment is corruption, not a torn tail', async () => {
    // A segment is synced before the next one starts, so only the newest can hold a torn write.
    const dir = tempDir();
    const { storage } = NodeStorage.open(dir, {}, SMALL);
    for (let i = 1; i <= 100; i += 5)
      await storage.persist({ snapshot: null, entries: entries(i, i + 4, 1), hardState: null });
    const [first] = storage.walSegments();
    storage.close();
    const buf = readFileSync(first as string);
    const { offsets } = recordOffsets(buf);
    const last = offsets[offsets.length - 1] as number;
    buf[last + 12] = (buf[last + 12] as number) ^ 0x01;
    writeFileSync(first as string, buf);
    assert.throws(
      () => NodeStorage.open(dir, {}, SMALL),
      (err: unknown) => err instanceof WalCorruptionError && err.file === first && err.offset === last,
    );
  });

  test('a sync on the calling thread is as durable as one on the thread pool', async () => {
    const dir = tempDir();
    const { storage } = NodeStorage.open(dir, {}, SMALL);
    const before = storage.stats().walSyncs;
    await storage.persist(
      { snapshot: null, entries: entries(1, 2, 1), hardState: { term: 1, vote: 'n1', commit: 0 } },
      { syncOnThisThread: true },
    );
    assert.equal(storage.stats().walSyncs, before + 1);
    assert.deepEqual(NodeStorage.open(dir, {}, SMALL).recovered.entries, entries(1, 2, 1));
  });
});

describe('storage against a model (fast-check, fixed seed)', () => {
  type Step =
    | { readonly kind: 'append'; readonly back: number; readonly count: number; readonly newTerm: boolean }
    | { readonly kind: 'snapshot'; readonly back: number }
    | { readonly kind: 'reopen' }
    | { readonly kind: 'crash' };
  const step: fc.Arbitrary<Step> = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        kind: fc.constant('append' as const),
        back: fc.nat(3),
        count: fc.integer({ min: 1, max: 30 }),
        newTerm: fc.boolean(),
      }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('snapshot' as const), back: fc.nat(20) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash' as const) }) },
  );

  test('appends that replace suffixes, snapshots, clean reopens and crashes across small segments recover exactly the model', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 40 }), async (steps) => {
        let dir = tempDir();
        const small = { segmentBytes: 1024 };
        let opened = NodeStorage.open(dir, {}, small);
        // The model: what recovery must return.
        let snapshot: { index: number; term: number } | null = null;
        let log: Entry[] = [];
        let hardState = { term: 0, vote: null as string | null, commit: 0 };
        const firstIndex = (): number => (snapshot?.index ?? 0) + 1;
        const lastIndex = (): number => firstIndex() + log.length - 1;
        const check = (recovered: ReturnType<typeof NodeStorage.open>['recovered']): void => {
          assert.deepEqual(recovered.entries, log);
          assert.deepEqual(recovered.snapshot?.meta ?? null, snapshot);
          assert.deepEqual(recovered.hardState, {
            ...hardState,
            commit: Math.min(Math.max(hardState.commit, snapshot?.index ?? 0), lastIndex()),
          });
        };
        for (const s of steps) {
          switch (s.kind) {
            case 'append': {
              // Replace up to `back` entries at the end (a conflicting suffix, §5.3), never below the snapshot.
              const from = Math.max(firstIndex(), lastIndex() + 1 - s.back);
              if (s.newTerm || hardState.term === 0)
                hardState = { term: hardState.term + 1, vote: `n${hardState.term % 3}`, commit: hardState.commit };
              const added = entries(from, from + s.count - 1, hardState.term);
              log = [...log.slice(0, from - firstIndex()), ...added];
              hardState = { ...hardState, commit: Math.max(hardState.commit, Math.max(firstIndex() - 1, from - 1)) };
              await opened.storage.persist({ snapshot: null, entries: added, hardState });
              break;
            }
            case 'snapshot': {
              const index = Math.max(snapshot?.index ?? 0, Math.min(hardState.commit, lastIndex() - s.back));
              if (index <= (snapshot?.index ?? 0)) break;
              const term = (log[index - firstIndex()] as Entry).term;
              log = log.slice(index - firstIndex() + 1);
              snapshot = { index, term };
              await opened.storage.saveSnapshot(snapshot, { meta: snapshot, data: `at-${index}` });
              break;
            }
            case 'reopen':
              opened.storage.close();
              opened = NodeStorage.open(dir, {}, small);
              assert.deepEqual(opened.truncations, []);
              check(opened.recovered);
              break;
            case 'crash': {
              // What the disk holds right now, opened by a new process; the old one is abandoned.
              const copy = tempDir();
              cpSync(dir, copy, { recursive: true });
              opened.storage.close();
              dir = copy;
              opened = NodeStorage.open(dir, {}, small);
              check(opened.recovered);
              break;
            }
          }
        }
        opened.storage.close();
        const final = NodeStorage.open(dir, {}, small);
        check(final.recovered);
        final.storage.close();
      }),
      { seed: 20261128, numRuns: 60 },
    );
  });
});
