import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ddmin } from './ddmin.ts';
import { isSmaller, type RunShape, shrinkSearch, type TryOutcome } from './search.ts';
import type { PlannedFault } from '../nemesis/plan.ts';

test('ddmin finds the one item, and the pair, that make a test fail', async () => {
  const items = Array.from({ length: 16 }, (_, i) => i);
  const one = await ddmin(items, async (s) => s.includes(11));
  assert.deepEqual(one.items, [11]);
  assert.ok(one.complete);
  const pair = await ddmin(items, async (s) => s.includes(3) && s.includes(12));
  assert.deepEqual(pair.items, [3, 12]);
});

test('ddmin returns a 1-minimal failing subset and never tests one subset twice (property)', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 14 }),
      fc.array(fc.integer({ min: 0, max: 13 }), { minLength: 1, maxLength: 4 }),
      async (n, needed) => {
        const items = Array.from({ length: n }, (_, i) => i);
        const required = [...new Set(needed.filter((x) => x < n))];
        const seen = new Set<string>();
        const fails = async (s: number[]): Promise<boolean> => {
          const key = s.join(',');
          assert.ok(!seen.has(key), `tested ${key} twice`);
          seen.add(key);
          return required.every((r) => s.includes(r));
        };
        const result = await ddmin(items, fails);
        // Failing means "contains every required item", so the only 1-minimal failing subset is exactly those
        // (ddmin never tests the empty set: with nothing required, one item is as far as it goes).
        if (required.length > 0)
          assert.deepEqual(
            result.items,
            [...required].sort((a, b) => a - b),
          );
        else assert.equal(result.items.length, 1);
      },
    ),
    { seed: 4242, numRuns: 200 },
  );
});

test('ddmin stops when told to, with the smallest failing set found so far', async () => {
  let tests = 0;
  const result = await ddmin(
    Array.from({ length: 32 }, (_, i) => i),
    async (s) => s.includes(5),
    () => tests++ >= 2,
  );
  assert.equal(result.complete, false);
  assert.ok(result.items.includes(5) && result.items.length < 32 && result.items.length >= 8);
});

const fault = (index: number, startMs: number, stopMs: number, kind: 'partition' | 'kill'): PlannedFault => ({
  index,
  startMs,
  stopMs,
  fault:
    kind === 'kill'
      ? { kind, target: { by: 'minority', nodes: ['n1', 'n2'] } }
      : { kind, mode: 'one-way', groups: [['n1'], ['n2', 'n3', 'n4', 'n5']], cut: [['n1', 'n2']] },
});

/** A fake cluster: a run fails when a kill overlaps a later partition and at least 2 clients run. */
function fakeRunner(failEvery = 1): { runs: RunShape[]; runner: (s: RunShape) => Promise<TryOutcome> } {
  const runs: RunShape[] = [];
  return {
    runs,
    runner: async (shape) => {
      runs.push(shape);
      const kill = shape.schedule.find((p) => p.fault.kind === 'kill');
      const bad =
        kill !== undefined &&
        shape.concurrency >= 2 &&
        shape.schedule.some(
          (p) => p.fault.kind === 'partition' && p.startMs >= kill.startMs && p.startMs < kill.stopMs,
        );
      // A flaky failure: only every `failEvery`-th run of a bad shape is illegal.
      const illegal = bad && runs.length % failEvery === 0;
      return { exitCode: illegal ? 1 : 0, verdict: illegal ? 'illegal' : 'linearizable', wallMs: 1000 };
    },
  };
}

const original: RunShape = {
  timeS: 40,
  concurrency: 10,
  keys: 8,
  schedule: [
    fault(0, 1000, 3000, 'partition'),
    fault(1, 4000, 9000, 'kill'),
    fault(2, 5000, 7000, 'partition'),
    fault(3, 12_000, 15_000, 'partition'),
    fault(4, 20_000, 30_000, 'kill'),
    fault(5, 33_000, 36_000, 'partition'),
  ],
};

/** The search against the fake cluster on a fake clock where every run takes `runMs`; returns the clock's end. */
async function shrinkOnFakeClock(runMs: number, tries: number, budgetMs: number) {
  const { runner } = fakeRunner();
  let clock = 0;
  const result = await shrinkSearch(original, async (s) => ((clock += runMs), runner(s)), {
    tries,
    budgetMs,
    now: () => clock,
  });
  return { result, endMs: clock };
}

test('the search drops the faults that do not matter, shortens the run, and cuts clients and keys', async () => {
  const { result } = await shrinkOnFakeClock(1000, 2, 1e9);
  assert.ok(result.reproduced && result.smaller && !result.budgetExhausted);
  const kinds = result.smallest.schedule.map((p) => [p.index, p.fault.kind]);
  assert.deepEqual(kinds, [
    [0, 'kill'],
    [1, 'partition'],
  ]);
  const kill = result.smallest.schedule[0]?.fault;
  assert.ok(kill?.kind === 'kill' && kill.target.by === 'random', 'the kill hits one node');
  assert.ok(result.smallest.timeS < original.timeS && result.smallest.timeS >= 7);
  assert.equal(result.smallest.concurrency, 2);
  assert.equal(result.smallest.keys, 1);
  assert.deepEqual(result.reproduction, { illegal: 3, runs: 3 }, 'accepted once, then 2 of 2 confirmation runs');
  assert.equal(result.attempts[0]?.step, 'replay the original');
  assert.equal(result.attempts.at(-1)?.step, 'reproduction rate of the smallest');
  for (const attempt of result.attempts) {
    assert.equal(
      attempt.failing,
      attempt.tries.some((t) => t.exitCode === 1),
    );
    if (attempt.failing && attempt.step !== 'replay the original') {
      assert.ok(!isSmaller(original, attempt.shape), 'only smaller shapes are proposed');
    }
  }
});

test('a flaky failure is retried up to --tries times before a candidate counts as passing', async () => {
  const { runner, runs } = fakeRunner(2);
  const result = await shrinkSearch(original, runner, { tries: 2, budgetMs: 1e9 });
  assert.ok(result.reproduced && result.smaller);
  assert.equal(result.attempts[0]?.tries.length, 2, 'the first replay passed, the second failed');
  assert.ok(runs.length > result.attempts.length);
});

test('a failure that never comes back is reported as not reproduced, after --tries runs of the original', async () => {
  const result = await shrinkSearch(original, async () => ({ exitCode: 0, verdict: 'linearizable', wallMs: 1 }), {
    tries: 3,
    budgetMs: 1e9,
  });
  assert.equal(result.reproduced, false);
  assert.equal(result.attempts.length, 1);
  assert.equal(result.attempts[0]?.tries.length, 3);
  assert.deepEqual(result.smallest, original);
});

test('the budget ends the search with what it found; no candidate starts after it', async () => {
  const { result } = await shrinkOnFakeClock(10_000, 1, 45_000);
  assert.ok(result.budgetExhausted);
  assert.equal(result.attempts.length, 5);
  assert.ok(result.attempts.every((a) => a.atMs < 45_000));
  assert.ok(!isSmaller(original, result.smallest));
  assert.equal(result.attempts.at(-1)?.step, 'reproduction rate of the smallest');
});

test('the budget always leaves room to measure the reproduction rate of the smallest failing run', async () => {
  // Every run takes 10 s; 3 tries. Without time kept back, the search would use the whole 100 s on candidates.
  const { result, endMs } = await shrinkOnFakeClock(10_000, 3, 100_000);
  assert.ok(result.budgetExhausted && result.smaller);
  const last = result.attempts.at(-1);
  assert.equal(last?.step, 'reproduction rate of the smallest');
  assert.equal(last?.tries.length, 3, 'all three confirmation runs');
  assert.deepEqual(last?.shape, result.smallest);
  assert.ok(endMs <= 100_000, `the shrink took ${endMs} ms of a 100 s budget`);
  assert.equal(result.reproduction.runs, 4, 'the run that accepted it and the three confirmation runs');
});
