// Bug presets, the prove summary and the two nemesis kinds added for them:
// pure functions, no processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CheckResult, PartitionResult } from '../../checker/types.ts';
import { proveTableLines, type ProveRun } from '../../reports/prove-report.ts';
import { BUG_PRESETS, bugNames, parseBugList } from './bug-presets.ts';
import { parseNemesisKinds, planSchedule } from '../nemesis/plan.ts';
import { cellOptions, detectionSeconds, summarise } from '../prove/campaign.ts';

test('every planted bug has a preset, and --bugs rejects unknown names listing the valid ones', () => {
  assert.deepEqual(Object.keys(BUG_PRESETS).sort(), [...bugNames].sort());
  assert.deepEqual(parseBugList('all'), bugNames);
  assert.deepEqual(parseBugList('no-dedup, stale-read,no-dedup'), ['no-dedup', 'stale-read']);
  assert.throws(
    () => parseBugList('stale-read,typo'),
    /unknown bug "typo"; valid bugs: stale-read, no-fsync, commit-old-term, vote-twice, no-dedup, fsync-skipped, lease-without-clock-bound, config-overlap/,
  );
});

test('a cell runs the bug only when planted; the correct node gets the very same settings', () => {
  const buggy = cellOptions('no-dedup', true, 7, 'store');
  const correct = cellOptions('no-dedup', false, 7, 'store');
  assert.equal(buggy.bug, 'no-dedup');
  assert.equal(correct.bug, undefined);
  const { bug: _b, name: _n, command: _c, ...sameA } = buggy;
  const { name: _n2, command: _c2, ...sameB } = correct;
  assert.deepEqual(sameA, sameB);
  assert.equal(buggy.retry, BUG_PRESETS['no-dedup'].retry);
  assert.match(buggy.command ?? '', /^npm run chaos -- --bug no-dedup .*--seed 7$/);
});

test('kill-all and pause-leader are drawn only when named, and hit every node / the leader', () => {
  const nodes = ['n1', 'n2', 'n3'];
  const all = parseNemesisKinds('all');
  assert.ok(!all.includes('kill-all') && !all.includes('pause-leader'));
  const plan = planSchedule({
    kinds: parseNemesisKinds('kill-all,pause-leader'),
    nodes,
    intervalMs: 1000,
    durationMs: 20_000,
    seed: 4,
  });
  const kinds = new Set<string>();
  for (const { fault } of plan) {
    if (fault.kind === 'kill') {
      assert.deepEqual(fault.target, { by: 'all', nodes });
      kinds.add('kill-all');
    } else if (fault.kind === 'pause') {
      assert.deepEqual(fault.target, { by: 'leader' });
      kinds.add('pause-leader');
    } else {
      assert.fail(`unexpected fault ${fault.kind}`);
    }
  }
  assert.deepEqual([...kinds].sort(), ['kill-all', 'pause-leader']);
});

function illegalPartition(ops: { id: number; invokeTimeNs: number }[], stuck: number[]): PartitionResult {
  return {
    verdict: 'illegal',
    ops: ops.length,
    prunedOps: 0,
    segments: 1,
    steps: 1,
    memoEntries: 1,
    timeMs: 1,
    counterexample: {
      initialState: 'null',
      initialStates: ['null'],
      ops: ops.map((o) => ({
        ...o,
        process: 0,
        f: 'read',
        input: null,
        outcome: 'ok' as const,
        invokeIndex: o.id,
        description: 'read',
      })),
      partialLinearizations: [],
      stuckOps: stuck,
      windowStartIndex: 0,
      windowEndIndex: 1,
      minimal: true,
    },
  };
}

test('detection time is the earliest blamed op over all illegal keys, else the window start', () => {
  const check = (partitions: PartitionResult[]): CheckResult => ({
    verdict: 'illegal',
    model: 'raftlab-kv',
    ops: 4,
    partitions,
    timeMs: 1,
    workers: 0,
  });
  const a = illegalPartition(
    [
      { id: 1, invokeTimeNs: 1e9 },
      { id: 2, invokeTimeNs: 5e9 },
    ],
    [2],
  );
  const b = illegalPartition(
    [
      { id: 3, invokeTimeNs: 3e9 },
      { id: 4, invokeTimeNs: 4e9 },
    ],
    [],
  );
  assert.equal(detectionSeconds(check([a])), 5, 'the blamed op, not the window start');
  assert.equal(detectionSeconds(check([a, b])), 3, 'earliest over keys; no blamed op: the window');
  assert.equal(detectionSeconds(undefined), undefined);
});

test('the summary counts catches, medians and false alarms', () => {
  const run = (variant: string, verdict: ProveRun['verdict'], detectionS?: number): ProveRun => ({
    variant,
    settings: variant === 'correct' ? 'stale-read' : variant,
    seed: 1,
    verdict,
    exitCode: verdict === 'illegal' ? 1 : 0,
    runDir: '/tmp/x',
    wallS: 1,
    command: '',
    ...(detectionS !== undefined ? { detectionS } : {}),
  });
  const rows = summarise(
    [
      run('stale-read', 'illegal', 1),
      run('stale-read', 'illegal', 3),
      run('stale-read', 'linearizable'),
      run('correct', 'linearizable'),
      run('correct', 'illegal'),
    ],
    ['stale-read'],
  );
  assert.deepEqual(rows, [
    { variant: 'stale-read', runs: 3, caught: 2, medianDetectionS: 2, undecided: 0 },
    { variant: 'correct', runs: 2, caught: 0, falseAlarms: 1, undecided: 0 },
  ]);
  const lines = proveTableLines(rows);
  assert.match(lines[1] ?? '', /^stale-read\s+2\/3\s+2\.0\s+-\s+0$/);
  assert.match(lines[2] ?? '', /^correct\s+-\s+-\s+1\/2\s+0$/);
});
