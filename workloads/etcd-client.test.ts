import { test } from 'node:test';
import assert from 'node:assert/strict';
import { etcdCompletion, etcdRequestFor } from './etcd-client.ts';
import { toBase64 } from './targets/etcd.ts';
import type { Op } from './types.ts';

test('a cas is a txn comparing the stored JSON text, or the create revision 0 for an absent key', () => {
  const present = etcdRequestFor({ f: 'cas', key: 'k1', value: [3, 4] }, 'linearizable');
  assert.equal(present.path, '/v3/kv/txn');
  assert.deepEqual(present.body, {
    compare: [{ key: toBase64('k1'), target: 'VALUE', result: 'EQUAL', value: toBase64('3') }],
    success: [{ request_put: { key: toBase64('k1'), value: toBase64('4') } }],
  });
  const absent = etcdRequestFor({ f: 'cas', key: 'k1', value: [null, 1] }, 'linearizable');
  assert.deepEqual((absent.body as { compare: unknown[] }).compare, [
    { key: toBase64('k1'), target: 'CREATE', result: 'EQUAL', create_revision: '0' },
  ]);
});

test('serializable reads ask etcd for a local read; linearizable ones do not', () => {
  assert.deepEqual(etcdRequestFor({ f: 'read', key: 'a', value: null }, 'serializable').body, {
    key: toBase64('a'),
    serializable: true,
  });
  assert.deepEqual(etcdRequestFor({ f: 'read', key: 'a', value: null }, 'linearizable').body, { key: toBase64('a') });
});

test('answers become completions: values round-trip as JSON, a txn that did not succeed is a certain failure', () => {
  const header = { revision: '7' };
  const read: Op = { f: 'read', key: 'a', value: null };
  assert.deepEqual(etcdCompletion(read, { header, kvs: [{ value: toBase64('{"x":[1,2]}') }] }), {
    type: 'ok',
    value: { x: [1, 2] },
  });
  assert.deepEqual(etcdCompletion(read, { header }), { type: 'ok', value: null });
  const cas: Op = { f: 'cas', key: 'a', value: [1, 2] };
  assert.deepEqual(etcdCompletion(cas, { header, succeeded: true }), { type: 'ok', value: [1, 2] });
  assert.deepEqual(etcdCompletion(cas, { header }), { type: 'fail', error: 'cas-mismatch' });
  assert.deepEqual(etcdCompletion(cas, undefined), { type: 'info', error: 'bad-answer' });
});
