import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CompletedOp } from './analysis.ts';
import { latencyData, sampleOk } from './latency-data.ts';

const op = (invokeMs: number, latencyMs: number, outcome: CompletedOp['outcome'] = 'ok'): CompletedOp => ({
  process: 0,
  f: 'write',
  outcome,
  invokeNs: invokeMs * 1e6,
  completeNs: (invokeMs + latencyMs) * 1e6,
  latencyMs,
});

test('beyond the bound ok ops are sampled per second, keeping each second’s slowest; fail, info and near-violation ops all stay', () => {
  const ops: CompletedOp[] = [];
  for (let ms = 0; ms < 10_000; ms++) ops.push(op(ms, ms % 1000 === 500 ? 900 : 1 + (ms % 7)));
  ops.push(op(2_000.5, 3, 'fail'), op(7_000.5, 1000, 'info'));
  const data = latencyData(ops, 10_000e6, [[5_000e6, 5_010e6]], 500);
  assert.equal(data.total, 10_002);
  assert.deepEqual([data.fail[0].length, data.info[0].length], [1, 1]);
  // Every ok op within 1 s of the violation window is kept: invoked 4.0 s .. 6.01 s.
  const near = data.ok[0].filter((x) => x >= 4 && x <= 6.01).length;
  assert.ok(near >= 2000, `${near} ops near the violation`);
  assert.ok(data.okShown < 2600, `${data.okShown} ok points: the near ones plus about the bound`);
  // Every second's slowest op (900 ms) is among the points.
  assert.equal(data.ok[1].filter((y) => y === 900).length, 10);
  assert.equal(sampleOk(ops.slice(0, 100), 500).length, 100, 'within the bound nothing is dropped');
});

test('a second without an ok op is a null in the p50/p99 lines, never a value carried across', () => {
  const ops = [op(100, 5), op(200, 7), op(3_100, 9), op(1_500, 20, 'fail')];
  const data = latencyData(ops, 4_000e6);
  assert.deepEqual(data.buckets.x, [0.5, 1.5, 2.5, 3.5]);
  assert.deepEqual(data.buckets.p50, [5, null, null, 9]);
  assert.deepEqual(data.buckets.p99, [7, null, null, 9]);
});
