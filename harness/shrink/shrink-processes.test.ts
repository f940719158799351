// One end-to-end shrink on real processes: a run made illegal by the test-only stale client (it needs no fault to
// fail) is shrunk with a small budget; the search must reproduce it, find that no fault is needed, and write
// shrink.json, the schedule files and a smallest run whose test.json points back at the original.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { check } from '../../checker/index.ts';
import { repoRoot } from '../../lib/repo.ts';
import { runChaos } from '../run/chaos.ts';
import { shrinkRun } from './shrink-run.ts';

test('shrinking a failing run on real processes drops the faults it does not need', async () => {
  const original = await runChaos(
    {
      nodes: 3,
      timeS: 5,
      nemesis: ['pause'],
      intervalS: 1,
      workload: 'cas-register',
      keys: 2,
      concurrency: 4,
      seed: 707,
      store: join(repoRoot, 'store'),
      timeoutMs: 1000,
      name: 'test-shrink',
      adapter: 'stale',
      schedule: [
        { index: 0, startMs: 1000, stopMs: 2000, fault: { kind: 'pause', target: { by: 'random', nodes: ['n2'] } } },
        { index: 1, startMs: 1500, stopMs: 3000, fault: { kind: 'pause', target: { by: 'leader' } } },
      ],
    },
    check,
  );
  assert.equal(original.exitCode, 1, `the original must fail; see ${original.runDir}`);
  // The budget must hold the replay, the time the search keeps back for the confirmation run (one more replay's
  // worth) and at least the "no faults" candidate, also on a loaded machine where a 5 s run takes 10 s.
  const result = await shrinkRun({ runDir: original.runDir, tries: 1, budgetS: 40, check });
  assert.ok(result.reproduced, 'the replay of the original failed again');
  assert.ok(result.smaller, 'a smaller failing run was found');
  assert.equal(result.smallest.schedule.length, 0);
  assert.equal(result.attempts[1]?.step, 'no faults');
  assert.ok(result.reproduction.runs >= 1 && result.reproduction.illegal >= 1);
  const shrinkJson = JSON.parse(readFileSync(join(result.shrinkDir, 'shrink.json'), 'utf8'));
  assert.equal(shrinkJson.originalRunDir, original.runDir);
  assert.equal(shrinkJson.attempts.length, result.attempts.length);
  assert.ok(existsSync(join(result.shrinkDir, 'smallest-schedule.json')));
  assert.match(result.replay, /--schedule \S+smallest-schedule\.json --shrunk-from \S+ --seed 707$/);
  assert.ok(result.smallestRunDir !== undefined);
  const smallestTest = JSON.parse(readFileSync(join(result.smallestRunDir, 'test.json'), 'utf8'));
  assert.equal(smallestTest.shrunkFrom, original.runDir);
  assert.deepEqual(smallestTest.schedule, []);
  assert.match(readFileSync(join(result.smallestRunDir, 'report.html'), 'utf8'), /id="shrunk-from"/);
});
