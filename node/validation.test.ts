import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { JSON_DEPTH_MAX, parseCasBody, parseDeleteBody, parsePutBody, WireError } from './validation.ts';

function nested(depth: number): string {
  return `${'['.repeat(depth)}1${']'.repeat(depth)}`;
}

function refused(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof WireError, `not a WireError: ${String(err)}`);
    assert.equal(err.status, 400);
    assert.equal(err.code, 'bad-request');
    assert.match(err.message, pattern);
    return true;
  });
}

describe('client body validation', () => {
  test('values nested deeper than the limit are refused with 400; at the limit they pass', () => {
    // A value nested thousands deep used to reach the state machine and overflow its stack there.
    refused(() => parsePutBody(`{"value": ${nested(3000)}}`), /nest/);
    refused(() => parseCasBody(`{"expected": ${nested(3000)}, "value": 1}`), /nest/);
    refused(() => parseCasBody(`{"expected": 1, "value": {"a": ${nested(JSON_DEPTH_MAX)}}}`), /nest/);
    assert.doesNotThrow(() => parsePutBody(`{"value": ${nested(JSON_DEPTH_MAX)}}`));
  });

  test('numbers that JSON.parse turns into Infinity are refused, not stored as null', () => {
    refused(() => parseCasBody('{"expected": 1e400, "value": 1}'), /number/);
    refused(() => parsePutBody('{"value": [1, -1e999]}'), /number/);
    refused(() => parsePutBody('{"value": {"x": 2e308}}'), /number/);
    assert.deepEqual(parsePutBody('{"value": 1.7976931348623157e308}'), { value: 1.7976931348623157e308 });
  });

  test('JSON null is a value: "present": true compares it, without it null means "absent"', () => {
    assert.deepEqual(parseCasBody('{"expected": null, "value": 1}'), { expected: null, value: 1 });
    assert.deepEqual(parseCasBody('{"expected": null, "present": true, "value": 1}'), {
      expected: null,
      present: true,
      value: 1,
    });
    refused(() => parseCasBody('{"expected": 3, "present": false, "value": 1}'), /present/);
    refused(() => parseCasBody('{"expected": 3, "present": "yes", "value": 1}'), /present/);
  });

  test('a session client id must be a string: 1 and "1" cannot share a session', () => {
    refused(() => parsePutBody('{"value": 1, "client": 1, "seq": 1}'), /client/);
    refused(() => parseDeleteBody('{"client": 7, "seq": 1}'), /client/);
    assert.deepEqual(parsePutBody('{"value": 1, "client": "1", "seq": 1}'), { value: 1, client: '1', seq: 1 });
  });
});
