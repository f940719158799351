import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeCommand, encodeCommand, jsonEqual, KvStateMachine } from './kv.ts';

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
    assert.deepEqual(kv.apply({ op: 'cas', key: 'k', expected: 1, value: 2 }), { type: 'cas-mismatch', current: null });
    assert.deepEqual(kv.apply({ op: 'cas', key: 'k', expected: null, value: 1 }), { type: 'ok' });
    assert.deepEqual(kv.apply({ op: 'cas', key: 'k', expected: null, value: 5 }), { type: 'cas-mismatch', current: 1 });
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
});
