import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeCommand, encodeCommand, type JsonValue, jsonEqual, KvStateMachine } from './kv.ts';

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
    // Entries written before the API bounded nesting may hold such values; apply must never throw.
    const kv = new KvStateMachine();
    const deep = nestedValue(20_000);
    kv.apply({ op: 'put', key: 'd', value: deep });
    assert.deepEqual(kv.apply({ op: 'cas', key: 'd', expected: nestedValue(20_000), value: 1 }), { type: 'ok' });
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
});
