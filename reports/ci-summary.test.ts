import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'test-results-parser';
import { validateWorkflow } from '@action-validator/core';
import { repoRoot } from '../lib/repo.ts';
import { junitXml, markdownSummary, summarizeRun } from './ci-summary.ts';
import { readRunFiles } from './run-files.ts';
import { writeStaleReadRun } from './testing.ts';

function withRun<T>(body: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-ci-'));
  try {
    writeStaleReadRun(dir);
    return body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the JUnit file of a failing run parses with a JUnit reader as one failed case carrying the story', () => {
  withRun((dir) => {
    const summary = summarizeRun(readRunFiles(dir), 'store/x/report.html');
    const path = join(dir, 'junit.xml');
    writeFileSync(path, junitXml(summary));
    const result = parse({ type: 'junit', files: [path] });
    assert.equal(result.total, 1);
    assert.equal(result.failed, 1);
    assert.equal(result.status, 'FAIL');
    const testCase = result.suites[0]?.cases[0];
    assert.equal(testCase?.status, 'FAIL');
    assert.equal(testCase?.name, 'raftlab stale-read-by-hand seed 7');
    assert.match(testCase?.failure ?? '', /^illegal: key k0: write 1 by p0 was acknowledged at 0\.12 s; /);
    assert.match(testCase?.stack_trace ?? '', /replay: npm run chaos -- --bug stale-read --seed 7/);
    assert.match(testCase?.stack_trace ?? '', /report: store\/x\/report\.html/);
  });
});

test('a passing run is a passed case; a broken run is an error', () => {
  withRun((dir) => {
    const files = readRunFiles(dir);
    const passing = {
      ...summarizeRun(files, undefined),
      verdict: 'linearizable',
      exitCode: 0,
      passed: true,
      stories: [],
    };
    const path = join(dir, 'pass.xml');
    writeFileSync(path, junitXml(passing));
    const ok = parse({ type: 'junit', files: [path] });
    assert.deepEqual([ok.total, ok.passed, ok.failed, ok.status], [1, 1, 0, 'PASS']);
    const broken = { ...passing, verdict: 'broken', exitCode: 3, passed: false, error: 'node n1 did not start <&>' };
    writeFileSync(path, junitXml(broken));
    const bad = parse({ type: 'junit', files: [path] });
    assert.equal(bad.status, 'FAIL');
    assert.equal(bad.suites[0]?.cases[0]?.failure, 'broken: node n1 did not start <&>');
  });
});

test('the Markdown summary names the verdict, seed, replay command, figures, story and report', () => {
  withRun((dir) => {
    const text = markdownSummary(summarizeRun(readRunFiles(dir), 'store/x/report.html'));
    assert.match(text, /^### FAIL raftlab chaos raftlab `stale-read-by-hand`: \*\*illegal\*\* \(exit 1\)/);
    assert.match(text, /\| illegal \| 7 \| raftlab \| partition \| 2\.0 s \| 43 \(43 ok, 0 fail, 0 info\) \|/);
    assert.match(text, /\*\*What went wrong on key `k0`:\*\* write 1 by p0/);
    assert.match(text, /Replay: `npm run chaos -- --bug stale-read --seed 7`/);
    assert.match(text, /Report: `store\/x\/report\.html`/);
  });
});

test('the example chaos workflow is a valid GitHub Actions workflow, and the validator catches a broken one', () => {
  const source = readFileSync(join(repoRoot, '.github/workflows/chaos.yml'), 'utf8');
  assert.deepEqual(validateWorkflow(source).errors, []);
  // It runs the chaos matrix with the CI outputs and uploads the store whatever the verdict.
  assert.match(source, /npm run chaos -- [\s\S]*--junit [\s\S]*--summary "\$GITHUB_STEP_SUMMARY"/);
  assert.match(source, /actions\/upload-artifact@v4[\s\S]*path: store\//);
  // A check that cannot fail proves nothing: a job without runs-on must be refused.
  const broken = source.replace(/runs-on: .*\n/, '');
  assert.notDeepEqual(validateWorkflow(broken).errors, []);
});
