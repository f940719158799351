import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import type { Entry } from '../raft/types.ts';
import { frameRecords, readRecordAt } from './records.ts';
import { SnapshotCorruptionError, SnapshotStore } from './snapshot-file.ts';
import { LogGapError, NodeStorage, replay } from './storage.ts';
import { WalCorruptionError, WriteAheadLog } from './wal.ts';

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
  for (let i = from; i <= to; i++) out.push({ index: i, term, kind: 'normal', data: `{"op":"put","key":"k${i}","value":${i}}` });
  return out;
}

function onlySegment(dir: string): string {
  const segs = readdirSync(join(dir, 'wal'));
  assert.equal(segs.length, 1);
  return join(dir, 'wal', segs[0] as string);
}

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

  test('a torn tail (incomplete last record) is truncated and reported', async () => {
    const dir = tempDir();
    const { storage } = NodeStorage.open(dir);
    await storage.persist({ snapshot: null, entries: entries(1, 3, 1), hardState: { term: 1, vote: null, commit: 0 } });
    await storage.persist({ snapshot: null, entries: entries(4, 4, 1), hardState: null });
    storage.close();
    const seg = onlySegment(dir);
    const size = statSync(seg).size;
    truncateSync(seg, size - 5);
    const { recovered, truncations } = NodeStorage.open(dir);
    assert.equal(truncations.length, 1);
    assert.equal(truncations[0]?.reason, 'incomplete record');
    assert.deepEqual(recovered.entries, entries(1, 3, 1));
    assert.ok(statSync(seg).size < size - 5, 'the torn bytes were cut off the file');
    // A second open finds a clean log.
    assert.deepEqual(NodeStorage.open(dir).truncations, []);
  });

  test('a torn tail loses entries, never the term they were written in', async () => {
    const dir = tempDir();
    const { storage } = NodeStorage.open(dir);
    await storage.persist({ snapshot: null, entries: entries(1, 2, 1), hardState: { term: 1, vote: 'n1', commit: 0 } });
    // A new term and its first entries arrive in one Ready.
    await storage.persist({ snapshot: null, entries: entries(3, 4, 2), hardState: { term: 2, vote: 'n2', commit: 2 } });
    storage.close();
    const seg = onlySegment(dir);
    truncateSync(seg, statSync(seg).size - 3);
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
    buf[buf.length - 3] = (buf[buf.length - 3] as number) ^ 0xff;
    writeFileSync(seg, buf);
    const { recovered, truncations } = NodeStorage.open(dir);
    assert.equal(truncations[0]?.reason, 'checksum mismatch');
    assert.deepEqual(recovered.entries, entries(1, 2, 2));
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
      (err: unknown) => err instanceof WalCorruptionError && err.file === seg && err.offset === offset && err.message.includes(seg) && err.message.includes(`offset ${offset}`),
    );
    // Nothing was truncated: the evidence is kept.
    assert.equal(statSync(seg).size, buf.length);
  });

  test('a later record for an index replaces it and every entry after it (§5.3)', () => {
    const { entries: log } = replay(
      [...entries(1, 5, 1).map((entry) => ({ type: 'entry' as const, entry })), ...entries(3, 3, 2).map((entry) => ({ type: 'entry' as const, entry }))],
      null,
    );
    assert.deepEqual(log, [...entries(1, 2, 1), ...entries(3, 3, 2)]);
  });

  test('a gap in the log is refused', () => {
    assert.throws(() => replay([...entries(1, 2, 1), ...entries(5, 5, 1)].map((entry) => ({ type: 'entry' as const, entry })), null), LogGapError);
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
    assert.throws(() => store.loadLatest(), (err: unknown) => err instanceof SnapshotCorruptionError && err.message.includes(path));
  });

  test('compaction drops covered WAL segments; restart loads snapshot plus log suffix', async () => {
    const dir = tempDir();
    const { storage } = NodeStorage.open(dir);
    await storage.persist({ snapshot: null, entries: entries(1, 100, 1), hardState: { term: 1, vote: 'n2', commit: 100 } });
    await storage.saveSnapshot({ index: 100, term: 1 }, { meta: { index: 100, term: 1 }, data: 'at-100' });
    await storage.persist({ snapshot: null, entries: entries(101, 120, 1), hardState: { term: 1, vote: 'n2', commit: 110 } });
    // The first segment (entries 1..100) is fully covered and gone.
    assert.equal(storage.walSegments().length, 1);
    await storage.saveSnapshot({ index: 110, term: 1 }, { meta: { index: 110, term: 1 }, data: 'at-110' });
    // The segment holding 101..120 is not fully covered by 110: kept.
    assert.equal(storage.walSegments().length, 2);
    storage.close();
    const { recovered } = NodeStorage.open(dir);
    assert.deepEqual(recovered.snapshot, { meta: { index: 110, term: 1 }, data: 'at-110' });
    assert.deepEqual(recovered.entries, entries(111, 120, 1));
    assert.deepEqual(recovered.hardState, { term: 1, vote: 'n2', commit: 110 });
  });

  test('a received snapshot that conflicts with the log discards the whole log (§7)', async () => {
    const dir = tempDir();
    const { storage } = NodeStorage.open(dir);
    await storage.persist({ snapshot: null, entries: entries(1, 30, 1), hardState: { term: 1, vote: null, commit: 5 } });
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
