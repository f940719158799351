import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { decodeCommand, encodeCommand, type JsonValue, jsonEqual, KvStateMachine, snapshotBytesBound } from './kv.ts';
import { PEER_BODY_BYTES_MAX } from './server.ts';
import { RECORD_PAYLOAD_BYTES_MAX } from './storage/records.ts';

function nestedValue(depth: number): JsonValue {
  let v: JsonValue = 1;
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { k: v };
  return v;
}

describe('KV state machine', () => {
  test('put, get, delete', () => {
    const kv = new KvStateMachine();
    assert.deepEqual(kv.get('a'), { found: false, value: null });
    assert.deepEqual(kv.apply({ op: 'put', key: 'a', value: { x: [1, 2] } }), { type: 'ok' });
    assert.deepEqual(kv.get('a'), { found: true, value: { x: [1, 2] } });
    kv.apply({ op: 'delete', key: 'a' });
    assert.deepEqual(kv.get('a'), { found: false, value: null });
  });

  test('cas applies only when the current value equals expected; null expects absence', () => {
    const kv = new KvStateMachine();
    assert.deepEqual(kv.apply({ op: 'cas', key: 'k', expected: 1, value: 2 }), {
      type: 'cas-mismatch',
      current: null,
      found: false,
    });
    assert.deepEqual(kv.apply({ op: 'cas', key: 'k', expected: null, value: 1 }), { type: 'ok' });
    assert.deepEqual(kv.apply({ op: 'cas', key: 'k', expected: null, value: 5 }), {
      type: 'cas-mismatch',
      current: 1,
      found: true,
    });
    assert.deepEqual(kv.apply({ op: 'cas', key: 'k', expected: 1, value: { b: 1, a: 2 } }), { type: 'ok' });
    // Object key order does not matter for equality.
    assert.deepEqual(kv.apply({ op: 'cas', key: 'k', expected: { a: 2, b: 1 }, value: 'z' }), { type: 'ok' });
    assert.deepEqual(kv.get('k'), { found: true, value: 'z' });
  });

  test('a retried session command applies once and returns the recorded result (§8)', () => {
    const kv = new KvStateMachine();
    kv.apply({ op: 'put', key: 'c', value: 0 });
    const first = kv.apply({ op: 'cas', key: 'c', expected: 0, value: 1, client: 'w1', seq: 1 });
    assert.deepEqual(first, { type: 'ok' });
    // The retry would fail as a fresh cas (c is 1 now); the session returns the first outcome.
    assert.deepEqual(kv.apply({ op: 'cas', key: 'c', expected: 0, value: 1, client: 'w1', seq: 1 }), { type: 'ok' });
    kv.apply({ op: 'put', key: 'c', value: 7, client: 'w1', seq: 2 });
    assert.deepEqual(kv.apply({ op: 'put', key: 'c', value: 9, client: 'w1', seq: 1 }), {
      type: 'stale-seq',
      lastSeq: 2,
    });
    assert.deepEqual(kv.get('c'), { found: true, value: 7 });
    // Another client's seq space is separate.
    kv.apply({ op: 'put', key: 'c', value: 8, client: 'w2', seq: 1 });
    assert.deepEqual(kv.get('c'), { found: true, value: 8 });
  });

  test('snapshot and restore carry data and sessions', () => {
    const kv = new KvStateMachine();
    kv.apply({ op: 'put', key: 'a', value: 1, client: 'c', seq: 4 });
    kv.apply({ op: 'put', key: 'b', value: [true] });
    const copy = new KvStateMachine();
    copy.restore(kv.snapshot());
    assert.deepEqual(copy.get('a'), { found: true, value: 1 });
    assert.deepEqual(copy.get('b'), { found: true, value: [true] });
    // The session came along: seq 4 is a duplicate on the copy too.
    copy.apply({ op: 'put', key: 'a', value: 2, client: 'c', seq: 4 });
    assert.deepEqual(copy.get('a'), { found: true, value: 1 });
    copy.restore('');
    assert.equal(copy.size, 0);
  });

  test('commands round-trip through log entry data; garbage is rejected', () => {
    const cmd = { op: 'cas' as const, key: 'k', expected: null, value: 'v', client: 'x', seq: 3 };
    assert.deepEqual(decodeCommand(encodeCommand(cmd)), cmd);
    assert.throws(() => decodeCommand('{"op":"drop","key":"k"}'));
  });

  test('jsonEqual is structural', () => {
    assert.equal(jsonEqual([1, { a: null }], [1, { a: null }]), true);
    assert.equal(jsonEqual([1], [1, 2]), false);
    assert.equal(jsonEqual({ a: 1 }, { b: 1 }), false);
    assert.equal(jsonEqual(null, {}), false);
  });

  test('a cas on a value nested far deeper than the API allows applies without overflowing the stack', () => {
    // Entries written before the API bounded nesting may hold such values
    // (up to what JSON.stringify could encode into the log); apply must never throw.
    const kv = new KvStateMachine();
    kv.apply({ op: 'put', key: 'd', value: nestedValue(3000) });
    assert.deepEqual(kv.apply({ op: 'cas', key: 'd', expected: nestedValue(3000), value: 1 }), { type: 'ok' });
    assert.equal(jsonEqual(nestedValue(20_000), nestedValue(20_001)), false);
    assert.equal(jsonEqual(nestedValue(3000), nestedValue(3000)), true);
  });

  test('JSON null is stored as a value, distinct from an absent key', () => {
    const kv = new KvStateMachine();
    assert.deepEqual(kv.apply({ op: 'cas', key: 'n', expected: 1, value: 2 }), {
      type: 'cas-mismatch',
      current: null,
      found: false,
    });
    kv.apply({ op: 'put', key: 'n', value: null });
    assert.deepEqual(kv.get('n'), { found: true, value: null });
    // "expected: null" alone still means "absent": the key holds null, so it mismatches, and says it was found.
    assert.deepEqual(kv.apply({ op: 'cas', key: 'n', expected: null, value: 3 }), {
      type: 'cas-mismatch',
      current: null,
      found: true,
    });
    assert.deepEqual(kv.apply({ op: 'cas', key: 'n', expected: null, present: true, value: 3 }), { type: 'ok' });
    assert.deepEqual(kv.get('n'), { found: true, value: 3 });
    assert.deepEqual(kv.apply({ op: 'cas', key: 'gone', expected: null, present: true, value: 3 }), {
      type: 'cas-mismatch',
      current: null,
      found: false,
    });
  });

  test('an evicted session answers "session expired" instead of applying a retry again (thesis §6.3)', () => {
    const kv = new KvStateMachine({ sessionsMax: 2 });
    kv.apply({ op: 'put', key: 'x', value: 0 });
    assert.deepEqual(kv.apply({ op: 'cas', key: 'x', expected: 0, value: 1, client: 'a', seq: 1 }), { type: 'ok' });
    kv.apply({ op: 'put', key: 'x', value: 0 });
    kv.apply({ op: 'put', key: 'y', value: 1, client: 'b', seq: 1 });
    kv.apply({ op: 'put', key: 'y', value: 2, client: 'c', seq: 1 }); // evicts a, the least recently written
    // The retry of a's seq 1 must not run again (it would match x = 0 and set it to 1).
    assert.deepEqual(kv.apply({ op: 'cas', key: 'x', expected: 0, value: 1, client: 'a', seq: 1 }), {
      type: 'session-expired',
    });
    assert.deepEqual(kv.apply({ op: 'put', key: 'x', value: 5, client: 'a', seq: 2 }), { type: 'session-expired' });
    assert.deepEqual(kv.get('x'), { found: true, value: 0 });
    // The expiry survives a snapshot.
    const copy = new KvStateMachine({ sessionsMax: 2 });
    copy.restore(kv.snapshot());
    assert.deepEqual(copy.apply({ op: 'put', key: 'x', value: 5, client: 'a', seq: 3 }), { type: 'session-expired' });
    // Still-live sessions work as before.
    assert.deepEqual(copy.apply({ op: 'put', key: 'y', value: 9, client: 'c', seq: 1 }), { type: 'ok' });
    assert.deepEqual(copy.get('y'), { found: true, value: 2 });
  });

  test('a snapshot of a state holding deeply nested values restores', () => {
    const kv = new KvStateMachine();
    kv.apply({ op: 'put', key: 'd', value: nestedValue(3000) });
    const copy = new KvStateMachine();
    copy.restore(kv.snapshot());
    assert.equal(jsonEqual(copy.get('d').value, nestedValue(3000)), true);
  });

  test('a put or cas that would outgrow what a snapshot can hold is refused (state-full); deletes make room', () => {
    const limits = { stateCharsMax: 4000, sessionsMax: 5, expiredMax: 5 };
    const kv = new KvStateMachine(limits);
    const big = 'x'.repeat(300);
    let refusedAt = -1;
    for (let i = 0; i < 50 && refusedAt === -1; i++) {
      const r = kv.apply({ op: 'put', key: `k${i}`, value: big, client: `c${i}`, seq: i });
      if (r.type === 'state-full') refusedAt = i;
      else assert.deepEqual(r, { type: 'ok' });
    }
    assert.ok(refusedAt > 5, `refused at ${refusedAt}`);
    assert.equal(kv.get(`k${refusedAt}`).found, false, 'nothing written');
    assert.ok(kv.snapshot().length <= limits.stateCharsMax + 5 * 256 + 5 * 131 + 64);
    // Deleting frees room for the next write.
    kv.apply({ op: 'delete', key: 'k0' });
    assert.deepEqual(kv.apply({ op: 'put', key: 'again', value: big }), { type: 'ok' });
    // The full state snapshots and restores.
    const copy = new KvStateMachine(limits);
    copy.restore(kv.snapshot());
    assert.deepEqual(copy.get('again'), { found: true, value: big });
  });

  test('property: any accepted state snapshots within snapshotBytesBound; the real bound fits the caps', () => {
    // The real limits: a full state's snapshot is always writable as one
    // record and readable back, and fits one peer frame (InstallSnapshot).
    assert.ok(snapshotBytesBound() <= RECORD_PAYLOAD_BYTES_MAX, `${snapshotBytesBound()} > record cap`);
    assert.ok(snapshotBytesBound() <= PEER_BODY_BYTES_MAX);
    const limits = { stateCharsMax: 3000, sessionsMax: 4, expiredMax: 3 };
    const text = fc.string({ unit: 'binary', maxLength: 200 });
    const value = fc.oneof(text, fc.array(text, { maxLength: 3 }), fc.constant(null), fc.integer());
    const command = fc.record({
      op: fc.constantFrom('put', 'delete', 'cas'),
      key: fc.string({ unit: 'binary', maxLength: 20 }),
      value,
      expected: value,
      client: fc.option(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g'), { nil: undefined }),
      seq: fc.nat(5),
    });
    fc.assert(
      fc.property(fc.array(command, { maxLength: 80 }), (cmds) => {
        const kv = new KvStateMachine(limits);
        for (const c of cmds) {
          const session = c.client === undefined ? {} : { client: c.client, seq: c.seq };
          if (c.op === 'put') kv.apply({ op: 'put', key: c.key, value: c.value, ...session });
          else if (c.op === 'delete') kv.apply({ op: 'delete', key: c.key, ...session });
          else kv.apply({ op: 'cas', key: c.key, expected: c.expected, value: c.value, ...session });
          const snap = kv.snapshot();
          const embedded = Buffer.byteLength(JSON.stringify({ index: 1, term: 1, data: snap }));
          if (embedded > snapshotBytesBound(limits)) return false;
        }
        const copy = new KvStateMachine(limits);
        copy.restore(kv.snapshot());
        return copy.snapshot() === kv.snapshot();
      }),
      { seed: 7, numRuns: 300 },
    );
  });
});
