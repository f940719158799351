// The bench report renders in headless Chromium without errors, draws every
// chart, opens offline, and carries the ratios and the compared run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderBenchReport, writeBenchReport } from './bench-report.ts';
import { sampleBenchRun } from './bench-sample.ts';

test('the report carries ratios, the compared run and the open-loop maxima', () => {
  const html = renderBenchReport(sampleBenchRun());
  assert.match(html, /<td>2\.00×<\/td><td>0\.50×<\/td>/, 'raftlab/etcd at C=1: ops/s and p50 ratios');
  assert.match(html, /<td>6,000<\/td><td>\+50%<\/td>/, 'raftlab put C=8 against the compared run');
  assert.match(html, /store\/bench\/old/);
  assert.match(html, /raftlab<\/b> put: highest rate held with p99 ≤ 25 ms: <b>1,000 ops\/s/);
  assert.match(html, /etcd<\/b> put: highest rate held with p99 ≤ 25 ms: <b>500 ops\/s/);
  assert.match(html, /append 1 \+ fdatasync/);
});

test('a bench.json that is not one is refused with the file named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-bench-report-'));
  try {
    writeFileSync(join(dir, 'bench.json'), '{"schema":"other"}');
    assert.throws(() => writeBenchReport(dir), /bench\.json is not a raftlab bench\.json/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Its rendering in Chromium is checked with every other page in one launch: pages-browser.test.ts.
