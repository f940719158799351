// Property tests (fast-check, fixed seeds): generated-valid histories are
// linearizable, planted anomalies are not, and small random histories get
// the same verdict as an exhaustive brute force.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { checkSync } from '../check.ts';
import { prepareHistory } from '../history.ts';
import { createModel } from '../models.ts';
import { proveOverwrittenRead } from '../proofs.ts';
import { searchPartition } from '../search.ts';
import {
  bruteForceLinearizable,
  linearizableRegisterHistory,
  plantRegisterAnomaly,
  randomSmallHistory,
  randomUniqueValueHistory,
  type RegisterAnomaly,
  toEvents,
} from './helpers.ts';

const SEED = 20261127;

test('histories generated from a sequential execution are linearizable', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      fc.integer({ min: 1, max: 120 }),
      fc.integer({ min: 1, max: 3 }),
      (seed, count, keys) => {
        const events = toEvents(linearizableRegisterHistory(seed, count, keys));
        const result = checkSync(events, { model: 'raftlab-kv', budgetMs: 10_000 });
        assert.equal(result.verdict, 'linearizable', `seed ${seed} count ${count} keys ${keys}`);
      },
    ),
    { seed: SEED, numRuns: 150 },
  );
});

for (const kind of ['stale-read', 'lost-write', 'duplicated-apply'] as RegisterAnomaly[]) {
  test(`a planted ${kind} makes the history illegal, and the window shows it`, () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.integer({ min: 5, max: 60 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (seed, count, where) => {
          const ops = linearizableRegisterHistory(seed, count, 1);
          const events = toEvents(plantRegisterAnomaly(ops, kind, where * count, 'k0'));
          const result = checkSync(events, { model: 'raftlab-kv', budgetMs: 10_000, shrinkBudgetMs: 300 });
          assert.equal(result.verdict, 'illegal', `seed ${seed} count ${count} at ${where}`);
          const cx = result.partitions.find((p) => p.verdict === 'illegal')?.counterexample;
          assert.ok(cx, 'counterexample present');
          // The planted ops use fresh values; the window must involve one of them.
          assert.ok(
            cx.ops.some((op) => JSON.stringify([op.input, op.output]).includes('fresh-')),
            `window misses the planted ops: ${JSON.stringify(cx.ops.map((o) => o.description))}`,
          );
        },
      ),
      { seed: SEED + 1, numRuns: 40 },
    );
  });
}

test('on small random histories the verdict equals the brute force', () => {
  let illegal = 0;
  let linearizable = 0;
  for (const nullRead of ['value', 'wildcard'] as const) {
    const model = createModel('cas-register', { init: 0, nullRead });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 8 }), (seed, count) => {
        const events = toEvents(randomSmallHistory(seed, count));
        const expected = bruteForceLinearizable(events, model);
        const result = checkSync(events, { model: 'cas-register', init: 0, nullRead, counterexample: false });
        assert.equal(result.verdict, expected ? 'linearizable' : 'illegal', `seed ${seed} count ${count} ${nullRead}`);
        if (expected) linearizable++;
        else illegal++;
      }),
      { seed: SEED + 2, numRuns: 400 },
    );
  }
  // Both verdicts must actually be exercised for the comparison to mean much.
  assert.ok(illegal > 50 && linearizable > 50, `illegal ${illegal}, linearizable ${linearizable}`);
});

test('on small spread-out histories (quiescent cuts, carried unknown ops) the verdict equals the brute force', () => {
  const model = createModel('cas-register', { init: 0, nullRead: 'value' });
  let cuts = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 2, max: 9 }), (seed, count) => {
      const events = toEvents(randomSmallHistory(seed, count, 30));
      const expected = bruteForceLinearizable(events, model);
      // Cut at every quiescent point (the default skips cuts that leave tiny segments).
      const ops = prepareHistory(events, model).partitions.get(undefined) ?? [];
      const outcome = searchPartition(ops, model, { deadline: Infinity, memoBytesMax: 2 ** 30, minSegmentEntries: 2 });
      assert.equal(outcome.verdict, expected ? 'linearizable' : 'illegal', `seed ${seed} count ${count}`);
      if (outcome.segments > 1) cuts++;
    }),
    { seed: SEED + 3, numRuns: 500 },
  );
  assert.ok(cuts > 100, `only ${cuts} histories had a quiescent cut`);
});

test('a direct proof of a stale or phantom read is only ever given for illegal histories (brute force)', () => {
  const model = createModel('cas-register', { init: 0, nullRead: 'value' });
  let proofs = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 2, max: 9 }), (seed, count) => {
      const events = toEvents(randomSmallHistory(seed, count, 20));
      const ops = prepareHistory(events, model).partitions.get(undefined) ?? [];
      const proof = proveOverwrittenRead(ops, model, model.init());
      if (proof === undefined) return;
      proofs++;
      assert.equal(bruteForceLinearizable(events, model), false, `seed ${seed} count ${count}`);
      // Its window alone is illegal too (what the counterexample starts from).
      const window = proof.failure!.ops.map((i) => ops[i]!);
      assert.equal(searchPartition(window, model, { deadline: Infinity, memoBytesMax: 2 ** 30 }).verdict, 'illegal');
    }),
    { seed: SEED + 4, numRuns: 1500 },
  );
  assert.ok(proofs > 50, `only ${proofs} proofs were exercised`);
});

test('with the value rules on every segment (guard, precedence, dead states, eager writes) the verdict equals the brute force', () => {
  // The search turns these rules on only for segments of 48+ ops; here they
  // run on every segment, over mostly unique values (where they cut most).
  const model = createModel('raftlab-kv', {});
  let illegal = 0;
  let linearizable = 0;
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      fc.integer({ min: 2, max: 9 }),
      fc.boolean(),
      (seed, count, cutEverywhere) => {
        const events = toEvents(randomUniqueValueHistory(seed, count));
        const expected = bruteForceLinearizable(events, model);
        const ops = prepareHistory(events, model).partitions.get(undefined) ?? [];
        const limits = { deadline: Infinity, memoBytesMax: 2 ** 30, guardMinOps: 1 };
        const outcome = searchPartition(ops, model, cutEverywhere ? { ...limits, minSegmentEntries: 2 } : limits);
        assert.equal(
          outcome.verdict,
          expected ? 'linearizable' : 'illegal',
          `seed ${seed} count ${count} ${cutEverywhere}`,
        );
        if (expected) linearizable++;
        else illegal++;
      },
    ),
    { seed: SEED + 5, numRuns: 3000 },
  );
  assert.ok(illegal > 300 && linearizable > 300, `illegal ${illegal}, linearizable ${linearizable}`);
});
