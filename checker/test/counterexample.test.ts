// A counterexample a person can follow: the sentence naming the lost value,
// the ops that forced the window's initial state, and an honest mark when
// the walk for partial linearizations was cut short.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkSync } from '../check.ts';
import type { EventType, HistoryEvent } from '../types.ts';

function at(process: number, type: EventType, f: string, value: unknown, seconds: number): HistoryEvent {
  return { process, type, f, key: 'x', value, time: Math.round(seconds * 1e9) };
}

test('a stale read is explained in one sentence, with the write that forced the initial state', () => {
  const events = [
    at(1, 'invoke', 'write', 840, 0),
    at(1, 'ok', 'write', 840, 0.1),
    at(2, 'invoke', 'read', null, 0.2),
    at(2, 'ok', 'read', 840, 0.3),
    at(36, 'invoke', 'write', 843, 12.3),
    at(36, 'ok', 'write', 843, 12.41),
    at(12, 'invoke', 'write', 847, 12.5),
    at(12, 'ok', 'write', 847, 12.6),
    at(36, 'invoke', 'read', null, 13.02),
    at(36, 'ok', 'read', 843, 13.05),
  ];
  const cx = checkSync(events).partitions[0]!.counterexample!;
  assert.equal(
    cx.explanation,
    'write 843 by p36 was acknowledged at 12.41 s; no linearization keeps it: ' +
      '847 (write 847 by p12, acknowledged at 12.60 s) overwrote it before p36 read 843 at 13.02 s.',
  );
  assert.deepEqual(cx.initialStates, ['847']);
  assert.deepEqual(
    cx.initialStateCauses?.map((c) => [c.state, c.writes.map((w) => w.description), c.reads.length]),
    [['847', ['write 847'], 0]],
  );
  assert.equal(cx.partialLinearizationsTruncated, false);
  assert.deepEqual(cx.stuckOps, [8]);
});

test('a value nobody wrote is named as a phantom', () => {
  const events = [
    at(1, 'invoke', 'write', 1, 0),
    at(1, 'ok', 'write', 1, 1),
    at(2, 'invoke', 'read', null, 2),
    at(2, 'ok', 'read', 99, 3),
  ];
  const cx = checkSync(events).partitions[0]!.counterexample!;
  assert.match(cx.explanation ?? '', /^p2 read 99 at 2\.00 s, a value no op ever wrote \(a phantom value\)/);
  // The initial state 1 was forced by the write of 1.
  assert.deepEqual(
    cx.initialStateCauses?.map((c) => [c.state, c.writes.map((w) => w.id)]),
    [['1', [0]]],
  );
});

test('partial linearizations walked from only some of the start configurations are marked truncated', () => {
  // Ten unknown writes (two of each value) before a cut: the last segment
  // is entered with many configurations, more than the walk draws.
  const events: HistoryEvent[] = [];
  const e = (process: number, type: EventType, f: string, value: unknown): void => {
    events.push({ process, type, f, key: 'k', value });
  };
  for (let i = 1; i <= 10; i++) e(i, 'invoke', 'write', ((i - 1) % 5) + 1);
  e(0, 'invoke', 'write', 100);
  for (let i = 1; i <= 10; i++) e(i, 'info', 'write', ((i - 1) % 5) + 1);
  e(0, 'ok', 'write', 100);
  // Reads chained so that no quiescent point separates them, each value read
  // twice in order and 1 a third time (each write takes effect at most once).
  const values = [1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1];
  e(20, 'invoke', 'read', null);
  for (let i = 0; i < values.length; i++) {
    if (i + 1 < values.length) e(21 + i, 'invoke', 'read', null);
    e(20 + i, 'ok', 'read', values[i]);
  }
  const cx = checkSync(events).partitions[0]!.counterexample!;
  assert.equal(cx.partialLinearizationsTruncated, true);
  // Stuck ops are only claimed from a complete walk.
  assert.deepEqual(cx.stuckOps, []);
  assert.match(cx.explanation ?? '', /^read → \d by p\d+ \(invoked at event \d+/);
});

test('values built by appends are not called phantoms (kv is not register-like)', () => {
  const kv = (process: number, type: EventType, f: string, value: unknown): HistoryEvent => ({
    process,
    type,
    f,
    key: 'k',
    value,
  });
  const events = [
    kv(0, 'invoke', 'append', 'a'),
    kv(0, 'ok', 'append', 'a'),
    kv(0, 'invoke', 'append', 'b'),
    kv(0, 'ok', 'append', 'b'),
    kv(1, 'invoke', 'get', null),
    kv(1, 'ok', 'get', 'ba'),
  ];
  const cx = checkSync(events, { model: 'kv' }).partitions[0]!.counterexample!;
  assert.equal(
    cx.explanation,
    'get → "ba" by p1 (invoked at event 4, acknowledged at event 5) ' +
      'cannot be placed in any order of the ops around it.',
  );
  assert.deepEqual(cx.initialStateCauses, []);
});
