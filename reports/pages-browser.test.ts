// Every kind of page this folder writes, loaded in one headless Chromium launch (a launch costs seconds on a loaded
// machine): the chaos report with a violation, the `npm run check --html` page of a timed history and of one without
// times, the store index, the bench report and prove.html. Each must load without console errors or network requests; charts must be drawn; every
// op of the checker's window must be a visible bar; hovering a bar must show its raw history events.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkPagesInBrowser } from '../lib/browser-check.ts';
import { repoRoot } from '../lib/repo.ts';
import { check, readHistoryFile } from '../checker/index.ts';
import { runCheckWithHtml } from '../harness/cli/check.ts';
import { readRunFiles } from './run-files.ts';
import { writeStaleReadRun } from './testing.ts';
import { writeChaosReport } from './write-chaos-report.ts';
import { writeStoreIndex } from './store-index.ts';
import { writeBenchReport } from './bench-report.ts';
import { sampleBenchRun } from './bench-sample.ts';
import { writeProveReport } from './prove-report.ts';
import { writeFileSync } from 'node:fs';

const quietIo = (lines: string[]) => ({
  out: (line: string) => void lines.push(line),
  err: (line: string) => void lines.push(line),
  readHistory: readHistoryFile,
  check,
});

test('every page renders in Chromium: no errors, no requests, charts drawn, a bar per window op, hover shows events', async () => {
  const store = mkdtempSync(join(tmpdir(), 'raftlab-pages-'));
  try {
    const runDir = join(store, 'stale-read-by-hand', '20261202T000000');
    mkdirSync(runDir, { recursive: true });
    const results = writeStaleReadRun(runDir);
    const report = writeChaosReport(runDir);
    const index = writeStoreIndex(store);
    const lines: string[] = [];
    const timedPage = join(store, 'check-timed.html');
    assert.equal(await runCheckWithHtml([join(runDir, 'history.jsonl'), '--html', timedPage], quietIo(lines)), 1);
    // The page keeps a run's extra fields (the checker's parser drops them): where each op was sent and who answered.
    assert.match(readFileSync(timedPage, 'utf8'), /read → 1 by p1 \(sent to n2, answered by n2\)/);
    const untimed = join(repoRoot, 'checker/testdata/histories/knossos/cas-register_bad_rethink-fail-minimal.jsonl');
    const untimedPage = join(store, 'check-untimed.html');
    assert.equal(
      await runCheckWithHtml(['--model', 'cas-register', untimed, '--html', untimedPage], quietIo(lines)),
      1,
      lines.join('\n'),
    );
    assert.match(readFileSync(untimedPage, 'utf8'), /the history has no times: positions are event indices/);
    const benchDir = join(store, 'bench');
    mkdirSync(benchDir);
    writeFileSync(join(benchDir, 'bench.json'), JSON.stringify(sampleBenchRun()));
    const benchPage = writeBenchReport(benchDir);
    const provePage = writeProveReport(store, {
      startedAt: '2026-12-02T00:00:00Z',
      command: 'npm run prove -- --bugs stale-read --count 1',
      seeds: [7],
      bugs: ['stale-read'],
      presets: {},
      runs: [
        {
          variant: 'stale-read',
          settings: 'stale-read',
          seed: 7,
          verdict: 'illegal',
          exitCode: 1,
          runDir,
          wallS: 3,
          detectionS: 0.7,
          command: 'npm run chaos -- --bug stale-read --seed 7',
        },
      ],
      summary: [{ variant: 'stale-read', runs: 1, caught: 1, medianDetectionS: 0.7, undecided: 0 }],
    });
    const [chaos, timed, noTimes, store_, bench, prove] = await checkPagesInBrowser([
      { path: report, hover: { selector: 'svg.timeline g.op.stuck', read: '#op-detail' } },
      { path: timedPage },
      { path: untimedPage },
      { path: index },
      { path: benchPage },
      { path: provePage },
    ]);
    for (const [name, seen] of Object.entries({ chaos, timed, noTimes, store_, bench, prove })) {
      assert.deepEqual(seen?.errors, [], `${name}: no console or page errors`);
      assert.deepEqual(seen?.externalRequests, [], `${name}: fetches nothing`);
    }
    assert.equal(chaos?.verdict, 'illegal');
    assert.equal(chaos?.canvases.length, 2, 'throughput and latency charts');
    for (const canvas of chaos?.canvases ?? [])
      assert.ok(canvas.drawnPixels > 100, `chart drawn: ${JSON.stringify(canvas)}`);
    // Every op of the checker's window is a drawn bar (ids are the history's event indices of the invokes).
    const windowOps = results.check?.partitions.find((p) => p.verdict === 'illegal')?.counterexample?.ops ?? [];
    assert.ok(windowOps.length > 0);
    for (const seen of [chaos, timed]) {
      const drawn = new Set(seen?.timelines[0]?.drawnOps);
      for (const op of windowOps) assert.ok(drawn.has(String(op.id)), `op ${op.id} (${op.description}) drawn`);
    }
    // Hovering the op no linearization can place shows its raw invoke and completion from history.jsonl.
    const events = readRunFiles(runDir).events.filter((e) => e.process === 1 && e.key === 'k0');
    assert.equal(chaos?.hoverText, events.map((e) => JSON.stringify(e)).join('\n'));
    assert.equal(noTimes?.verdict, 'illegal');
    assert.ok((noTimes?.timelines[0]?.drawnOps.length ?? 0) > 0, 'a history without times still gets its timeline');
    // The bench page: put throughput, two latency-percentile and two latency-over-time charts; open loop: two.
    assert.equal(bench?.canvases.length, 7);
    for (const c of bench?.canvases ?? []) assert.ok(c.drawnPixels > 0, 'every bench chart has pixels drawn');
    assert.match(bench?.title ?? '', /raftlab bench/);
    assert.match(prove?.title ?? '', /prove/);
    assert.equal(store_?.canvases.length, 1, 'the trend chart');
    assert.ok((store_?.canvases[0]?.drawnPixels ?? 0) > 100, 'the trend chart is drawn');
  } finally {
    rmSync(store, { recursive: true, force: true });
  }
});
