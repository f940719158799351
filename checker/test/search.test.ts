// Behaviours of the search itself: unknown ops carried across quiescent
// cuts, pruning of unobserved unknown ops, and budgets that end in unknown.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkSync } from '../check.ts';
import type { HistoryEvent } from '../types.ts';

type Op = [process: number, f: string, input: unknown, type: 'ok' | 'info' | 'fail' | 'none', output?: unknown];

/** Ops run one after another (each completes before the next is invoked). */
function sequential(ops: Op[], key = 'k'): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  for (const [process, f, input, type, output] of ops) {
    events.push({ process, type: 'invoke', f, key, value: input });
    if (type !== 'none') events.push({ process, type, f, key, value: type === 'ok' && f === 'read' ? output : input });
  }
  return events;
}

/** An unknown write of 5 at the start, then many quiescent segments of other writes and reads. */
function lateEffect(readsOfFive: number): HistoryEvent[] {
  const ops: Op[] = [[0, 'write', 5, 'info']];
  for (let i = 0; i < 300; i++) {
    ops.push([1, 'write', 100 + i, 'ok']);
    ops.push([1, 'read', null, 'ok', 100 + i]);
  }
  for (let i = 0; i < readsOfFive; i++) {
    if (i > 0) ops.push([1, 'write', 7, 'ok']);
    ops.push([1, 'read', null, 'ok', 5]);
  }
  return sequential(ops);
}

// With the initial value 5 too, the unknown write is not the only source of
// 5, so it stays an unknown op carried across cuts (not turned into an ok op
// that must precede the read).
test('an unknown write can take effect many quiescent cuts after its invoke', () => {
  const result = checkSync(lateEffect(1), { init: 5 });
  assert.equal(result.verdict, 'linearizable');
  assert.ok(result.partitions[0]!.segments > 5, 'the history was cut into segments');
});

test('an unknown write takes effect at most once, even across cuts', () => {
  const result = checkSync(lateEffect(2), { init: 5 });
  assert.equal(result.verdict, 'illegal');
  const cx = result.partitions[0]!.counterexample!;
  assert.ok(cx.stuckOps.length >= 1);
});

test('unknown writes nobody observes and unknown reads are pruned before the search', () => {
  const ops: Op[] = [];
  for (let i = 0; i < 30; i++) ops.push([i, 'write', 1000 + i, 'info']); // never read
  ops.push([100, 'read', null, 'info']);
  ops.push([101, 'write', 1, 'ok'], [101, 'read', null, 'ok', 1]);
  const result = checkSync(sequential(ops));
  assert.equal(result.verdict, 'linearizable');
  assert.equal(result.partitions[0]!.prunedOps, 31);
});

test('an unknown cas whose new value is read is not pruned and can explain the read', () => {
  const events = sequential([
    [0, 'write', 1, 'ok'],
    [1, 'cas', [1, 2], 'info'],
    [2, 'read', null, 'ok', 2],
  ]);
  const result = checkSync(events);
  assert.equal(result.verdict, 'linearizable');
  assert.equal(result.partitions[0]!.prunedOps, 0);
});

test('a failed op never happened: reading its value is illegal', () => {
  const events = sequential([
    [0, 'write', 1, 'ok'],
    [1, 'write', 2, 'fail'],
    [2, 'read', null, 'ok', 2],
  ]);
  assert.equal(checkSync(events).verdict, 'illegal');
});

test('delete makes the key read as null (raftlab-kv)', () => {
  const ok = sequential([
    [0, 'write', 1, 'ok'],
    [0, 'delete', null, 'ok'],
    [0, 'read', null, 'ok', null],
    [0, 'cas', [null, 3], 'ok'],
    [0, 'read', null, 'ok', 3],
  ]);
  assert.equal(checkSync(ok).verdict, 'linearizable');
  const bad = sequential([
    [0, 'write', 1, 'ok'],
    [0, 'delete', null, 'ok'],
    [0, 'read', null, 'ok', 1],
  ]);
  assert.equal(checkSync(bad).verdict, 'illegal');
});

/**
 * One key, many concurrent unknown writes whose values are all read, then
 * reads in an order no single application of each write explains: every
 * subset of the writes is a reachable configuration, so an exhaustive
 * search is exponential (2^n configurations).
 */
/**
 * Concurrent unknown writes, two of each value, then reads of every value
 * twice and of 1 a third time: illegal (each write takes effect at most
 * once), but only an exhaustive search over which writes took effect shows it.
 */
function explosive(writers: number, key = 'hot'): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  const values = writers / 2;
  for (let i = 0; i < writers; i++)
    events.push({ process: i, type: 'invoke', f: 'write', key, value: (i % values) + 1 });
  for (let i = 0; i < writers; i++) events.push({ process: i, type: 'info', f: 'write', key, value: (i % values) + 1 });
  const reader = writers;
  const each = Array.from({ length: values }, (_, i) => i + 1);
  for (const value of [...each, ...each, 1]) {
    events.push({ process: reader, type: 'invoke', f: 'read', key, value: null });
    events.push({ process: reader, type: 'ok', f: 'read', key, value });
  }
  return events;
}

test('an explosive partition ends in unknown within its time budget', () => {
  const budgetMs = 300;
  const started = performance.now();
  const result = checkSync(explosive(28), { budgetMs });
  const elapsedMs = performance.now() - started;
  assert.equal(result.verdict, 'unknown');
  assert.equal(result.partitions[0]!.unknownReason, 'time');
  // A bound, not a benchmark: generous margin for a loaded machine.
  assert.ok(elapsedMs < budgetMs + 5_000, `took ${elapsedMs} ms`);
});

test('an explosive partition ends in unknown when the memo memory budget runs out', () => {
  const result = checkSync(explosive(28), { budgetMs: 60_000, memoBytesMax: 256 * 1024 });
  assert.equal(result.verdict, 'unknown');
  assert.equal(result.partitions[0]!.unknownReason, 'memory');
});

test('other partitions still get their verdict when one runs out of budget', () => {
  const cold = sequential(
    [
      [100, 'write', 1, 'ok'],
      [100, 'read', null, 'ok', 1],
    ],
    'cold',
  );
  const bad = sequential(
    [
      [200, 'write', 1, 'ok'],
      [200, 'write', 2, 'ok'],
      [200, 'read', null, 'ok', 1],
    ],
    'stale',
  );
  const unknownOnly = checkSync([...explosive(28), ...cold], { budgetMs: 200 });
  assert.equal(unknownOnly.verdict, 'unknown');
  assert.deepEqual(
    unknownOnly.partitions.map((p) => [p.key, p.verdict]),
    [
      ['cold', 'linearizable'],
      ['hot', 'unknown'],
    ],
  );
  const withIllegal = checkSync([...explosive(28), ...cold, ...bad], { budgetMs: 200 });
  assert.equal(withIllegal.verdict, 'illegal');
});

test('a small explosive history is decided exactly (illegal), not given up on', () => {
  assert.equal(checkSync(explosive(8)).verdict, 'illegal');
});

test('a total budget caps the whole call while every partition still gets a verdict', () => {
  const hot = [explosive(28, 'hot1'), explosive(28, 'hot2'), explosive(28, 'hot3')].flat();
  const cold = sequential(
    [
      [100, 'write', 1, 'ok'],
      [100, 'read', null, 'ok', 1],
    ],
    'cold',
  );
  const started = performance.now();
  const result = checkSync([...hot, ...cold], { budgetMs: 10_000, totalBudgetMs: 300 });
  const elapsedMs = performance.now() - started;
  assert.equal(result.verdict, 'unknown');
  assert.deepEqual(
    result.partitions.map((p) => [p.key, p.verdict]),
    [
      ['cold', 'linearizable'],
      ['hot1', 'unknown'],
      ['hot2', 'unknown'],
      ['hot3', 'unknown'],
    ],
  );
  assert.ok(elapsedMs < 300 + 5_000, `took ${elapsedMs} ms`);
});

/** A sequential partition of `n` ok ops that ends in a stale read (illegal, cheap to prove). */
function longStale(n: number, key: string): HistoryEvent[] {
  const ops: Op[] = [];
  for (let i = 0; i < n - 1; i++) ops.push([300, 'write', i + 1, 'ok']);
  ops.push([300, 'read', null, 'ok', 1]);
  return sequential(ops, key);
}

test('stop at the first proof: once a partition is illegal, a hard one is not searched on', () => {
  // The hard partition is the smaller one, so it comes first in the order.
  const events = [...explosive(28), ...longStale(80, 'stale')];
  const result = checkSync(events, { budgetMs: 1_000, counterexample: false });
  assert.equal(result.verdict, 'illegal');
  assert.deepEqual(
    result.partitions.map((p) => [p.key, p.verdict]),
    [['stale', 'illegal']],
  );
  assert.deepEqual(
    result.unsearched?.map((u) => [u.key, u.ops]),
    [['hot', 57]],
  );
  // With allPartitions every partition gets its own verdict.
  const all = checkSync(events, { budgetMs: 300, counterexample: false, allPartitions: true });
  assert.deepEqual(
    all.partitions.map((p) => [p.key, p.verdict]),
    [
      ['hot', 'unknown'],
      ['stale', 'illegal'],
    ],
  );
  assert.deepEqual(all.unsearched, []);
});

test('the memory budget is checked on every step, so the search stops close to it', () => {
  // A 16 KiB budget holds a few hundred memo entries; a check every few
  // thousand entries (or only at segment starts) would overshoot it by far.
  const result = checkSync(explosive(28), { budgetMs: 20_000, memoBytesMax: 16 * 1024, counterexample: false });
  assert.equal(result.verdict, 'unknown');
  assert.equal(result.partitions[0]!.unknownReason, 'memory');
  assert.ok(result.partitions[0]!.memoEntries <= 2048, `${result.partitions[0]!.memoEntries} memo entries`);
});

test('two acknowledged cas from a value written once are proven illegal without a search', async () => {
  const { chaosHistory } = await import('../synthetic.ts');
  // One busy key, 50 clients, no quiescent point: the exhaustive search of
  // everything before the anomaly took millions of steps (unknown at 20 s).
  const { events, planted } = chaosHistory({
    ops: 10_000,
    keys: 1,
    processes: 50,
    unknownRate: 0,
    anomaly: 'double-cas',
    seed: 101,
  });
  assert.ok(planted);
  const result = checkSync(events, { budgetMs: 60_000, shrinkBudgetMs: 2_000 });
  assert.equal(result.verdict, 'illegal');
  const partition = result.partitions[0]!;
  assert.equal(partition.steps, 0, 'proven directly, no search steps');
  const cx = partition.counterexample!;
  const cas = cx.ops.filter((op) => op.f === 'cas');
  assert.ok(cas.length >= 2, `the window holds both cas: ${cx.ops.map((o) => o.description).join(', ')}`);
  assert.equal(JSON.stringify((cas[0]!.input as unknown[])[0]), JSON.stringify((cas[1]!.input as unknown[])[0]));
});

test('fewer cas from a value than writes of it is no proof', () => {
  // write 1, cas 1->2, write 1, cas 1->3: each cas has its own write of 1.
  const events = sequential([
    [0, 'write', 1, 'ok'],
    [0, 'cas', [1, 2], 'ok'],
    [0, 'write', 1, 'ok'],
    [0, 'cas', [1, 3], 'ok'],
  ]);
  assert.equal(checkSync(events).verdict, 'linearizable');
  // Drop the second write: now 1 is consumed twice but written once.
  const broken = sequential([
    [0, 'write', 1, 'ok'],
    [0, 'cas', [1, 2], 'ok'],
    [0, 'cas', [1, 3], 'ok'],
  ]);
  assert.equal(checkSync(broken).verdict, 'illegal');
});
