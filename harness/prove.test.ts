// The short version of `npm run prove` (issue 7): each planted bug that the
// chaos suite catches runs with a seed known to catch it (found with
// `npm run prove`) and must be judged illegal with a counterexample; the
// correct node runs with the same settings and seed and must be judged
// linearizable. Run directories stay under store/ for review.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { check } from '../checker/check.ts';
import type { CheckResult } from '../checker/types.ts';
import type { BugName } from './bugs.ts';
import { runChaos } from './chaos.ts';
import { repoRoot } from './cluster.ts';
import { cellOptions, detectionSeconds } from './prove.ts';

const store = join(repoRoot, 'store');

/** Seeds that caught each bug in `npm run prove` (harness/PROVE.md has the full table). */
const caughtBy: { bug: BugName; seed: number }[] = [
  { bug: 'stale-read', seed: 1 },
  { bug: 'no-fsync', seed: 1 },
  { bug: 'no-dedup', seed: 1 },
  { bug: 'lease-without-clock-bound', seed: 1 },
];

for (const { bug, seed } of caughtBy) {
  test(`planted bug ${bug} is caught (seed ${seed}) and the correct node passes the same run`, async () => {
    const buggy = await runChaos(cellOptions(bug, true, seed, store), check);
    assert.equal(buggy.error, undefined, `run error: ${buggy.error}`);
    assert.equal(buggy.verdict, 'illegal', `bug ${bug} not caught, see ${buggy.runDir}`);
    assert.equal(buggy.exitCode, 1);
    const testFile = JSON.parse(readFileSync(join(buggy.runDir, 'test.json'), 'utf8')) as { options: { bug?: string } };
    assert.equal(testFile.options.bug, bug, 'test.json names the bug');
    const results = JSON.parse(readFileSync(join(buggy.runDir, 'results.json'), 'utf8')) as { check: CheckResult };
    const illegal = results.check.partitions.filter((p) => p.verdict === 'illegal');
    assert.ok(illegal.length > 0 && illegal.every((p) => (p.counterexample?.ops.length ?? 0) > 0), 'a counterexample with its operations');
    assert.ok((detectionSeconds(results.check) ?? -1) >= 0, 'a detection time');
    assert.match(readFileSync(join(buggy.runDir, 'report.html'), 'utf8'), new RegExp(`PLANTED BUG.*${bug}`), 'the report header names the bug');

    const correct = await runChaos(cellOptions(bug, false, seed, store), check);
    assert.equal(correct.error, undefined, `run error: ${correct.error}`);
    assert.equal(correct.verdict, 'linearizable', `false alarm on the correct node, see ${correct.runDir}`);
  });
}
