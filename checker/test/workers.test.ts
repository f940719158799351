// Partitions on worker threads give the same verdicts as in-thread checking.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { check, checkSync } from '../check.ts';
import type { HistoryEvent } from '../types.ts';
import { linearizableRegisterHistory, plantRegisterAnomaly, toEvents } from './helpers.ts';

test('worker threads return the same per-key verdicts as the in-thread check', async () => {
  const ops = plantRegisterAnomaly(linearizableRegisterHistory(7, 300, 4), 'stale-read', 150, 'k2');
  const events: HistoryEvent[] = toEvents(ops);
  // Every key searched, so both sides have a verdict for each.
  const inThread = checkSync(events, { allPartitions: true });
  const onWorkers = await check(events, { workers: 2, allPartitions: true });
  assert.equal(onWorkers.workers, 2);
  assert.equal(inThread.verdict, 'illegal');
  assert.equal(onWorkers.verdict, 'illegal');
  const summary = (r: typeof inThread): [string | undefined, string][] => r.partitions.map((p) => [p.key, p.verdict]);
  assert.deepEqual(summary(onWorkers), summary(inThread));
  assert.deepEqual(
    onWorkers.partitions.find((p) => p.key === 'k2')?.counterexample?.stuckOps,
    inThread.partitions.find((p) => p.key === 'k2')?.counterexample?.stuckOps,
  );
});

test('on worker threads the first illegal partition stops the others; each key is decided or listed', async () => {
  const ops = plantRegisterAnomaly(linearizableRegisterHistory(7, 300, 4), 'stale-read', 150, 'k2');
  const result = await check(toEvents(ops), { workers: 2 });
  assert.equal(result.verdict, 'illegal');
  const keys = [...result.partitions.map((p) => p.key), ...(result.unsearched ?? []).map((u) => u.key)].sort();
  assert.deepEqual(keys, ['k0', 'k1', 'k2', 'k3']);
  assert.ok(result.partitions.some((p) => p.key === 'k2' && p.verdict === 'illegal'));
});
