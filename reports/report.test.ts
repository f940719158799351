import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  completedOps,
  concurrentFaults,
  faultLanes,
  faultRecovery,
  faultWindows,
  leaderTimeline,
  opTypeStats,
  percentile,
} from './analysis.ts';
import { writeChaosReport } from './write-chaos-report.ts';
import { readRunFiles, type RunEvent, type StatusSample } from './run-files.ts';
import { listRuns, writeStoreIndex } from './store-index.ts';

const ms = 1e6;

/** A small synthetic run: writes every 100 ms, a kill from 1 s to 2 s during which writes stall. */
function syntheticEvents(): RunEvent[] {
  const events: RunEvent[] = [];
  let value = 0;
  for (let t = 0; t < 3000; t += 100) {
    if (t === 1000)
      events.push({
        process: 'nemesis',
        type: 'info',
        f: 'kill-start',
        value: ['n1'],
        time: t * ms,
        fault: 0,
        detail: 'kill leader',
      });
    if (t === 2000)
      events.push({ process: 'nemesis', type: 'info', f: 'kill-stop', value: ['n1'], time: t * ms, fault: 0 });
    const stalled = t >= 1000 && t < 1500;
    events.push({ process: 0, type: 'invoke', f: 'write', key: 'k0', value: ++value, time: t * ms });
    events.push({
      process: 0,
      type: stalled ? 'fail' : 'ok',
      f: 'write',
      key: 'k0',
      value,
      time: (t + 10) * ms,
      ...(stalled ? { error: 'no-leader' } : {}),
    });
    events.push({ process: 1, type: 'invoke', f: 'read', key: 'k0', value: null, time: (t + 20) * ms });
    events.push({ process: 1, type: 'ok', f: 'read', key: 'k0', value, time: (t + 60) * ms });
  }
  return events;
}

function syntheticStatus(): StatusSample[] {
  const samples: StatusSample[] = [];
  for (let t = 0; t < 3000; t += 250) {
    const leader = t < 1200 ? 'n1' : 'n2';
    const term = t < 1200 ? 1 : 2;
    samples.push({
      time: t * ms,
      nodes: {
        n1:
          t >= 1000 && t < 2000
            ? null
            : { role: leader === 'n1' ? 'leader' : 'follower', term, leader, commitIndex: t },
        n2: { role: leader === 'n2' ? 'leader' : 'follower', term, leader, commitIndex: t },
      },
    });
  }
  return samples;
}

test('percentiles use the nearest rank', () => {
  const values = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(values, 50), 50);
  assert.equal(percentile(values, 99), 99);
  assert.equal(percentile(values, 100), 100);
  assert.equal(percentile([], 50), 0);
});

test('ops pair with their completions and per-type stats count outcomes', () => {
  const ops = completedOps(syntheticEvents());
  assert.equal(ops.length, 60);
  const stats = opTypeStats(ops);
  const write = stats.find((s) => s.f === 'write');
  const read = stats.find((s) => s.f === 'read');
  assert.deepEqual([write?.ok, write?.fail, write?.info], [25, 5, 0]);
  assert.equal(read?.p50Ms, 40);
  assert.equal(write?.p99Ms, 10);
  assert.equal(stats[stats.length - 1]?.f, 'all');
});

test("a fault window takes the description its stop event gives (a scenario's outcome)", () => {
  const nemesis = (f: string, time: number, detail: string) => ({
    process: 'nemesis' as const,
    type: 'info' as const,
    f,
    value: ['n1'],
    fault: 0,
    time,
    detail,
  });
  const [window] = faultWindows([
    nemesis('scenario-start', 1, 'scenario figure8'),
    nemesis('scenario-stop', 9, 'scenario figure8: reached (n1 committed by counting)'),
  ]);
  assert.equal(window?.description, 'scenario figure8: reached (n1 committed by counting)');
  assert.equal(window?.stopNs, 9);
});

test('overlapping fault windows pair by fault index, get their own lanes and list each other', () => {
  const event = (f: string, fault: number, time: number): RunEvent => ({
    process: 'nemesis',
    type: 'info',
    f,
    value: [],
    fault,
    time,
  });
  // Two partitions overlap (same kind, so pairing by kind alone would mix them up); a kill overlaps the second.
  const windows = faultWindows([
    event('partition-start', 0, 10),
    event('partition-start', 1, 20),
    event('partition-stop', 0, 30),
    event('kill-start', 2, 35),
    event('partition-stop', 1, 40),
    event('kill-stop', 2, 50),
    event('pause-start', 3, 60),
  ]);
  assert.deepEqual(
    windows.map((w) => [w.index, w.startNs, w.stopNs]),
    [
      [0, 10, 30],
      [1, 20, 40],
      [2, 35, 50],
      [3, 60, undefined],
    ],
  );
  assert.deepEqual(faultLanes(windows, 70), [0, 1, 0, 0]);
  assert.deepEqual(concurrentFaults(windows, 70), [[1], [0, 2], [1], []]);
});

test('fault recovery measures the first ok write after start and after stop, and leader changes', () => {
  const events = syntheticEvents();
  const ops = completedOps(events);
  const [recovery] = faultRecovery(faultWindows(events), ops, leaderTimeline(syntheticStatus()), 3000 * ms);
  assert.ok(recovery !== undefined);
  assert.equal(recovery.description, 'kill leader');
  // Writes invoked at 1000..1400 fail; the one invoked at 1500 completes at 1510.
  assert.equal(recovery.firstWriteAfterStartMs, 510);
  assert.equal(recovery.firstWriteAfterStopMs, 10);
  assert.equal(recovery.unavailableMs, 510);
  assert.equal(recovery.leaderChanges, 1);
});

test('a synthetic run directory renders a report with verdict, faults and the violation timeline; the store index lists it', () => {
  const store = mkdtempSync(join(tmpdir(), 'raftlab-report-'));
  const dir = join(store, 'synthetic', '20260101T000000');
  mkdirSync(dir, { recursive: true });
  const events = syntheticEvents();
  writeFileSync(
    join(dir, 'test.json'),
    JSON.stringify({
      name: 'synthetic',
      seed: 42,
      startedAt: '2026-01-01T00:00:00Z',
      options: { nodes: 2, nemesis: ['kill'] },
      cluster: { nodes: ['n1', 'n2'], mode: 'proxied' },
    }),
  );
  writeFileSync(join(dir, 'history.jsonl'), `${events.map((e) => JSON.stringify(e)).join('\n')}\n`);
  writeFileSync(
    join(dir, 'status.jsonl'),
    `${syntheticStatus()
      .map((s) => JSON.stringify(s))
      .join('\n')}\n`,
  );
  writeFileSync(
    join(dir, 'results.json'),
    JSON.stringify({
      verdict: 'illegal',
      exitCode: 1,
      counts: { invoked: 60, ok: 55, fail: 5, info: 0, processes: 2 },
      availability: { ok: true, boundMs: 30000, finalReads: [{ key: 'k0', ok: true, value: 30, attempts: 1 }] },
      check: {
        verdict: 'illegal',
        model: 'raftlab-kv',
        ops: 60,
        timeMs: 3,
        workers: 0,
        partitions: [
          {
            key: 'k0',
            verdict: 'illegal',
            ops: 55,
            prunedOps: 0,
            segments: 1,
            steps: 10,
            memoEntries: 5,
            timeMs: 1,
            counterexample: {
              key: 'k0',
              initialState: 'null',
              windowStartIndex: 0,
              windowEndIndex: 5,
              minimal: true,
              stuckOps: [4],
              ops: [
                {
                  id: 0,
                  process: 0,
                  f: 'write',
                  key: 'k0',
                  input: 1,
                  output: 1,
                  outcome: 'ok',
                  invokeIndex: 0,
                  completeIndex: 1,
                  invokeTimeNs: 0,
                  completeTimeNs: 10 * ms,
                  description: 'write 1',
                },
                {
                  id: 4,
                  process: 1,
                  f: 'read',
                  key: 'k0',
                  input: null,
                  output: 7,
                  outcome: 'ok',
                  invokeIndex: 4,
                  completeIndex: 5,
                  invokeTimeNs: 20 * ms,
                  completeTimeNs: 60 * ms,
                  description: 'read -> 7</script>',
                },
              ],
              partialLinearizations: [[{ id: 0, state: '1' }]],
            },
          },
        ],
      },
    }),
  );
  const path = writeChaosReport(dir);
  const html = readFileSync(path, 'utf8');
  assert.match(html, /id="verdict">illegal</);
  assert.match(html, /<code id="seed">42<\/code>/);
  assert.match(html, /kill leader/);
  assert.match(html, /<h2>Violation<\/h2>/);
  assert.match(html, /read -&gt; 7&lt;\/script&gt;/, 'op descriptions are escaped');
  assert.equal((html.match(/<\/script>/g) ?? []).length, 4, 'data, helper, uPlot and page script blocks only');
  assert.match(html, /class="op [^"]*stuck"/);
  const files = readRunFiles(dir);
  assert.equal(files.events.length, events.length);
  writeStoreIndex(store);
  const runs = listRuns(store);
  assert.deepEqual(
    runs.map((r) => [r.path, r.verdict, r.seed]),
    [['synthetic/20260101T000000', 'illegal', '42']],
  );
  const index = readFileSync(join(store, 'index.html'), 'utf8');
  assert.match(index, /synthetic\/20260101T000000\/report.html/);
  assert.match(index, /<tr data-verdict="illegal">/);
  assert.match(index, /<td class="l">raftlab<\/td><td class="l">kill<\/td><td>42<\/td>/);
  assert.match(index, /id="filter"/);
  rmSync(store, { recursive: true, force: true });
});

test('reading a directory that is not a run explains what to pass', () => {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-empty-'));
  assert.throws(() => readRunFiles(dir), /not a run directory \(no test.json\); pass e.g. store\/latest/);
  rmSync(dir, { recursive: true, force: true });
});
