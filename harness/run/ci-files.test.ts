import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeStaleReadRun } from '../../reports/testing.ts';
import { writeCiFiles } from './ci-files.ts';

test('--junit replaces its file, --summary appends (a job summary gathers every run), parents are created', () => {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-ci-files-'));
  try {
    const runDir = join(dir, 'run');
    writeStaleReadRun(runDir);
    const junit = join(dir, 'out', 'junit', 'chaos.xml');
    const summary = join(dir, 'out', 'summary.md');
    for (let i = 0; i < 2; i++)
      assert.deepEqual(writeCiFiles(runDir, join(runDir, 'report.html'), { junit, summary }), [junit, summary]);
    assert.equal((readFileSync(junit, 'utf8').match(/<testcase /g) ?? []).length, 1, 'one test case per run');
    const text = readFileSync(summary, 'utf8');
    assert.equal((text.match(/^### FAIL /gm) ?? []).length, 2, 'both runs in the summary');
    // Outside the working directory the report's path is absolute, not a chain of "..".
    assert.ok(text.includes(`Report: \`${join(runDir, 'report.html')}\``));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
