// Edges of the models and the input: exact big integers, transactions over
// several keys, custom models whose hash collides, op names checked up front.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkSync } from '../check.ts';
import { CheckerError } from '../errors.ts';
import { parseJsonl } from '../parse.ts';
import type { HistoryEvent, Model } from '../types.ts';
import { jsonText } from '../values.ts';

function jsonl(events: object[]): string {
  return events.map((e) => JSON.stringify(e)).join('\n');
}

test('integers beyond 2^53 stay exact: two different big values do not compare equal', () => {
  // 2^53 + 1 and 2^53 are the same double.
  const text = [
    '{"process":0,"type":"invoke","f":"write","key":"a","value":9007199254740993}',
    '{"process":0,"type":"ok","f":"write","key":"a","value":9007199254740993}',
    '{"process":1,"type":"invoke","f":"read","key":"a","value":null}',
    '{"process":1,"type":"ok","f":"read","key":"a","value":9007199254740992}',
  ].join('\n');
  const events = parseJsonl(text);
  assert.equal(events[0]!.value, 9007199254740993n);
  assert.equal(checkSync(events).verdict, 'illegal');
  const same = parseJsonl(text.replace('9007199254740992}', '9007199254740993}'));
  assert.equal(checkSync(same).verdict, 'linearizable');
  // Strings that look like big numbers are left alone; output keeps the digits.
  const [quoted] = parseJsonl('{"process":0,"type":"invoke","f":"write","value":["12345678901234567890", -1e400]}');
  assert.deepEqual(quoted!.value, ['12345678901234567890', -Infinity]);
  assert.equal(jsonText({ v: events[0]!.value }), '{"v":9007199254740993}');
});

test('multi-register: a txn over several keys joins them into one partition', () => {
  // Each event carries one key (as a recorder might); the txn touches x and y.
  const events: HistoryEvent[] = [
    {
      process: 0,
      type: 'invoke',
      f: 'txn',
      key: 'x',
      value: [
        ['write', 'x', 1],
        ['write', 'y', 1],
      ],
    },
    {
      process: 0,
      type: 'ok',
      f: 'txn',
      key: 'x',
      value: [
        ['write', 'x', 1],
        ['write', 'y', 1],
      ],
    },
    { process: 1, type: 'invoke', f: 'txn', key: 'y', value: [['read', 'y', null]] },
    { process: 1, type: 'ok', f: 'txn', key: 'y', value: [['read', 'y', 0]] },
    { process: 2, type: 'invoke', f: 'txn', key: 'z', value: [['write', 'z', 5]] },
    { process: 2, type: 'ok', f: 'txn', key: 'z', value: [['write', 'z', 5]] },
  ];
  const result = checkSync(events, { model: 'multi-register', init: { x: 0, y: 0, z: 0 } });
  assert.equal(result.verdict, 'illegal');
  assert.deepEqual(
    result.partitions.map((p) => [p.key, p.verdict]),
    [
      ['x,y', 'illegal'],
      ['z', 'linearizable'],
    ],
  );
});

test('a custom model whose hash collides is told apart by equal', () => {
  // Every state hashes to its parity: 1 and 3 collide.
  const parity: Model<number> = {
    name: 'parity-hash-register',
    init: () => 0,
    step: (state, f, input, output) => (f === 'write' ? (input as number) : output === state ? state : undefined),
    hash: (state) => state % 2,
    equal: (a, b) => a === b,
    partition: () => undefined,
    describeOperation: (f, input, output) => `${f} ${String(f === 'write' ? input : output)}`,
    describeState: (state) => String(state),
  };
  const events = parseJsonl(
    jsonl([
      { process: 0, type: 'invoke', f: 'write', value: 1 },
      { process: 0, type: 'ok', f: 'write', value: 1 },
      { process: 0, type: 'invoke', f: 'write', value: 3 },
      { process: 0, type: 'ok', f: 'write', value: 3 },
      { process: 1, type: 'invoke', f: 'read', value: null },
      { process: 1, type: 'ok', f: 'read', value: 1 },
    ]),
  );
  const result = checkSync(events, { model: parity });
  assert.equal(result.verdict, 'illegal');
  assert.ok(result.partitions[0]!.counterexample !== undefined);
});

test('an op name the model does not know is rejected up front, even where the search never steps it', () => {
  // Key b has only an unknown-outcome op: no search step would ever reach it.
  const events: HistoryEvent[] = [
    { process: 0, type: 'invoke', f: 'write', key: 'a', value: 1 },
    { process: 0, type: 'ok', f: 'write', key: 'a', value: 1 },
    { process: 1, type: 'invoke', f: 'wrte', key: 'b', value: 2 },
    { process: 1, type: 'info', f: 'wrte', key: 'b', value: 2 },
  ];
  assert.throws(
    () => checkSync(events),
    (error: unknown) =>
      error instanceof CheckerError &&
      error.code === 'CHECKER_MODEL' &&
      /^event 2: model raftlab-kv has no operation "wrte" \(it knows read, write, cas, delete/.test(error.message),
  );
  const badCas: HistoryEvent[] = [
    { process: 0, type: 'invoke', f: 'cas', key: 'a', value: 1 },
    { process: 0, type: 'fail', f: 'cas', key: 'a', value: 1 },
  ];
  assert.throws(() => checkSync(badCas), /event 0: model raftlab-kv: cas value must be \[expected, new\]/);
});
