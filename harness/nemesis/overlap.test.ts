import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  minorityOf,
  nemesisKinds,
  parseSchedule,
  planSchedule,
  processLoad,
  type Link,
  type NemesisKind,
  type PlannedFault,
} from './plan.ts';
import type { NetworkControl, ProcessControl } from './controls.ts';
import { Nemesis, overlaps } from './execute.ts';
import { Recorder } from '../run/recorder.ts';

const ids = (n: number): string[] => Array.from({ length: n }, (_, k) => `n${k + 1}`);

test('overlap 1 plans byte for byte what the planner planned before overlap existed (old seeds replay)', () => {
  // Hashes of JSON.stringify(plan) computed with the one-fault-at-a-time planner before overlap was added.
  const cases: [NemesisKind[], number, number, number][] = [
    [[...nemesisKinds], 3, 5000, 30_000],
    [[...nemesisKinds, 'kill-majority', 'kill-all', 'pause-leader'], 5, 2000, 60_000],
    [['kill', 'pause', 'partition'], 5, 10_000, 50_000],
    [['partition'], 3, 2000, 12_000],
    [['latency', 'pause-leader', 'double-vote', 'figure8'], 7, 1000, 40_000],
  ];
  const expected: Record<string, string> = {
    '0:1': '305d26fc1d719516',
    '0:2': '8f71c9043dd959f7',
    '0:3': '77d3e8003d55dbc8',
    '0:42': '4525240ac8fc92fc',
    '0:1234567': '2ba7540eae794686',
    '1:1': '34a61012017aee79',
    '1:2': 'b1da1566b7c64803',
    '1:3': '848eeec9feaee928',
    '1:42': 'b358ec8515e5cec2',
    '1:1234567': 'ae199db40308c74a',
    '2:1': '9d4dc0f5c2eb8072',
    '2:2': '6607c7c64df33a3b',
    '2:3': '802cab96fca6ca11',
    '2:42': 'cca21b3bf7967f65',
    '2:1234567': 'c7e83a6d3ce39770',
    '3:1': '67901149ddf1ef21',
    '3:2': '115c7e6e46b61a5e',
    '3:3': 'dfa09d90c8b3d8a0',
    '3:42': '3e75d7ef75b037df',
    '3:1234567': 'a087a3ba6709e7ba',
    '4:1': '73225d52e5b489d8',
    '4:2': 'd14c40f25220b04e',
    '4:3': '97a6acd9b5597c9d',
    '4:42': '2fd0015b214db35a',
    '4:1234567': 'f9fde953388388e9',
  };
  for (const [i, [kinds, n, intervalMs, durationMs]] of cases.entries()) {
    for (const seed of [1, 2, 3, 42, 1234567]) {
      const plan = planSchedule({ kinds, nodes: ids(n), intervalMs, durationMs, seed, overlap: 1 });
      const hash = createHash('sha256').update(JSON.stringify(plan)).digest('hex').slice(0, 16);
      assert.equal(hash, expected[`${i}:${seed}`], `case ${i} seed ${seed}`);
      assert.deepEqual(plan, planSchedule({ kinds, nodes: ids(n), intervalMs, durationMs, seed }));
    }
  }
});

/** The faults active at instant `t` (a window is [start, stop)). */
const activeAt = (plan: readonly PlannedFault[], t: number): PlannedFault[] =>
  plan.filter((p) => p.startMs <= t && t < p.stopMs);

test('overlapping plans: windows inside the run, at most N at once, never more than a minority killed or paused', () => {
  const kindsArb = fc.subarray([...nemesisKinds, 'kill-majority', 'kill-all', 'pause-leader'] as NemesisKind[], {
    minLength: 1,
  });
  fc.assert(
    fc.property(
      kindsArb,
      fc.constantFrom(3, 5, 7),
      fc.integer({ min: 2, max: 5 }),
      fc.integer({ min: 200, max: 10_000 }),
      fc.integer({ min: 1000, max: 120_000 }),
      fc.integer(),
      (kinds, n, overlap, intervalMs, durationMs, seed) => {
        const options = { kinds, nodes: ids(n), intervalMs, durationMs, seed, overlap };
        const plan = planSchedule(options);
        assert.deepEqual(plan, planSchedule(options), 'a pure function of the seed');
        const minority = minorityOf(n);
        for (const [i, p] of plan.entries()) {
          assert.equal(p.index, i);
          assert.ok(p.startMs > 0 && p.startMs < p.stopMs && p.stopMs <= durationMs, `window ${p.startMs}-${p.stopMs}`);
          if (i > 0) assert.ok(p.startMs >= (plan[i - 1] as PlannedFault).startMs, 'numbered in start order');
          const active = activeAt(plan, p.startMs);
          assert.ok(active.length <= overlap, `${active.length} active at ${p.startMs} with overlap ${overlap}`);
          const processFaults = active.filter((a) => processLoad(a.fault) > 0);
          const load = processFaults.reduce((sum, a) => sum + processLoad(a.fault), 0);
          const wide = processFaults.filter(
            (a) => a.fault.kind === 'kill' && (a.fault.target.by === 'majority' || a.fault.target.by === 'all'),
          );
          if (wide.length > 0) assert.equal(processFaults.length, 1, 'a majority kill runs alone among process faults');
          else assert.ok(load <= minority, `${load} nodes down or paused at ${p.startMs}, minority ${minority}`);
          const named = processFaults.flatMap((a) =>
            (a.fault.kind === 'kill' || a.fault.kind === 'pause') && a.fault.target.by !== 'leader'
              ? a.fault.target.nodes
              : [],
          );
          assert.equal(new Set(named).size, named.length, 'no node held by two process faults');
        }
      },
    ),
    { seed: 20261202, numRuns: 300 },
  );
});

test('overlap 3 over 60 s with the default kinds does overlap, and another seed plans another schedule', () => {
  const options = { kinds: ['kill', 'pause', 'partition', 'latency'] as NemesisKind[], nodes: ids(3) };
  const a = planSchedule({ ...options, intervalMs: 5000, durationMs: 60_000, seed: 1, overlap: 3 });
  const b = planSchedule({ ...options, intervalMs: 5000, durationMs: 60_000, seed: 2, overlap: 3 });
  assert.ok(overlaps(a) && a.length > 6, `${a.length} faults`);
  assert.notDeepEqual(a, b);
  assert.ok(!overlaps(planSchedule({ ...options, intervalMs: 5000, durationMs: 60_000, seed: 1 })));
});

test('overlapping plans are denser than one at a time and about a third of their faults are short blips', () => {
  // The settings of the vote-twice and commit-old-term presets (10 s interval, 50 s), seeds 1-20.
  const kinds: NemesisKind[] = ['kill', 'pause', 'partition'];
  const blipMaxMs = 10_000 / 5;
  let overlapping = 0;
  let oneAtATime = 0;
  let blips = 0;
  let blipKills = 0;
  for (const n of [3, 5]) {
    for (let seed = 1; seed <= 20; seed++) {
      const options = { kinds, nodes: ids(n), intervalMs: 10_000, durationMs: 50_000, seed };
      const plan = planSchedule({ ...options, overlap: 3 });
      oneAtATime += planSchedule(options).length;
      overlapping += plan.length;
      const short = plan.filter((p) => p.stopMs - p.startMs <= blipMaxMs);
      blips += short.length;
      blipKills += short.filter((p) => p.fault.kind === 'kill').length;
      for (const p of short) assert.ok(p.stopMs - p.startMs >= 200, `a blip of ${p.stopMs - p.startMs} ms`);
    }
  }
  assert.ok(overlapping >= 3 * oneAtATime, `${overlapping} overlapping faults against ${oneAtATime} one at a time`);
  const share = blips / overlapping;
  assert.ok(share > 0.15 && share < 0.45, `blip share ${share.toFixed(2)}`);
  assert.ok(blipKills > 0, 'some blips are fast restarts');
});

test('overlap refuses the scripted scenarios and bad values with a clear error', () => {
  const base = { nodes: ids(5), intervalMs: 1000, durationMs: 10_000, seed: 1 };
  assert.throws(
    () => planSchedule({ ...base, kinds: ['kill', 'figure8'], overlap: 2 }),
    /--overlap 2 cannot be combined with the scripted scenarios \(figure8\)/,
  );
  assert.throws(() => planSchedule({ ...base, kinds: ['kill'], overlap: 0 }), /--overlap must be an integer >= 1/);
});

test('a schedule read back from test.json is the planned one; bad entries are refused with the reason', () => {
  const plan = planSchedule({
    kinds: [...nemesisKinds],
    nodes: ids(5),
    intervalMs: 1000,
    durationMs: 20_000,
    seed: 7,
    overlap: 3,
  });
  const testJson = JSON.parse(JSON.stringify({ schedule: plan.map((p) => ({ ...p, description: 'x' })) }));
  assert.deepEqual(parseSchedule(testJson, ids(5), 20_000), plan);
  assert.deepEqual(parseSchedule(JSON.parse(JSON.stringify(plan)), ids(5), 20_000), plan);
  assert.throws(() => parseSchedule(testJson, ids(3), 20_000), /unknown node "n[45]" \(the cluster has n1, n2, n3\)/);
  assert.throws(() => parseSchedule(testJson, ids(5), 5000), /after the run's 5000 ms \(give a longer --time\)/);
  assert.throws(() => parseSchedule({ nope: 1 }, ids(3), 1000), /JSON array of faults/);
  assert.throws(
    () => parseSchedule([{ startMs: 1, stopMs: 2, fault: { kind: 'explode' } }], ids(3), 1000),
    /unknown fault kind "explode"/,
  );
  // Renumbered in start order, whatever the file said.
  const swapped = [
    { index: 0, startMs: 500, stopMs: 600, fault: { kind: 'blackhole', links: [['n1', 'n2']] } },
    { index: 0, startMs: 100, stopMs: 900, fault: { kind: 'pause', target: { by: 'leader' } } },
  ];
  assert.deepEqual(
    parseSchedule(swapped, ids(3), 1000).map((p) => [p.index, p.startMs]),
    [
      [0, 100],
      [1, 500],
    ],
  );
});

/** A network double with Toxiproxy's state per link: enabled or not, one toxic of each type with its attributes. */
function fakeNetwork(): { network: NetworkControl; disabled: Set<string>; toxics: Map<string, string> } {
  const disabled = new Set<string>();
  const toxics = new Map<string, string>();
  const name = ([a, b]: Link): string => `${a}->${b}`;
  const each = (links: readonly Link[], f: (link: string) => void): Promise<void> => {
    for (const link of links) f(name(link));
    return Promise.resolve();
  };
  const network: NetworkControl = {
    cut: (links) => each(links, (l) => disabled.add(l)),
    heal: (links) => each(links, (l) => disabled.delete(l)),
    latency: (links, delayMs, jitterMs) => each(links, (l) => toxics.set(`${l} latency`, `${delayMs}±${jitterMs}`)),
    removeLatency: (links) => each(links, (l) => toxics.delete(`${l} latency`)),
    blackhole: (links) => each(links, (l) => toxics.set(`${l} blackhole`, '0')),
    removeBlackhole: (links) => each(links, (l) => toxics.delete(`${l} blackhole`)),
    bandwidth: (links, rate) => each(links, (l) => toxics.set(`${l} bandwidth`, String(rate))),
    removeBandwidth: (links) => each(links, (l) => toxics.delete(`${l} bandwidth`)),
    holdClientRequests: () => Promise.resolve(),
    releaseClientRequests: () => Promise.resolve(),
    healAll: async () => {
      disabled.clear();
      toxics.clear();
    },
  };
  return { network, disabled, toxics };
}

function fakeProcesses(leader: string, log: string[]): ProcessControl {
  return {
    ids: ['n1', 'n2', 'n3', 'n4', 'n5'],
    leader: async () => leader,
    kill: async (id) => void log.push(`kill ${id}`),
    restart: async (id) => void log.push(`restart ${id}`),
    pause: (id) => void log.push(`pause ${id}`),
    resume: (id) => void log.push(`resume ${id}`),
    isRunning: () => true,
    isPaused: () => false,
    status: async () => undefined,
  };
}

const window = (index: number, fault: PlannedFault['fault']): PlannedFault => ({ index, startMs: 0, stopMs: 1, fault });

test('stopping one of two overlapping network faults undoes only what the other does not still need', async () => {
  const { network, disabled, toxics } = fakeNetwork();
  const recorder = new Recorder();
  const nemesis = new Nemesis({
    processes: fakeProcesses('n1', []),
    network,
    record: (e) => recorder.record(e),
    now: () => recorder.now(),
  });
  const halves = await nemesis.start(
    window(0, {
      kind: 'partition',
      mode: 'halves',
      groups: [['n1'], ['n2', 'n3']],
      cut: [
        ['n1', 'n2'],
        ['n2', 'n1'],
        ['n1', 'n3'],
        ['n3', 'n1'],
      ],
    }),
  );
  const oneWay = await nemesis.start(
    window(1, {
      kind: 'partition',
      mode: 'one-way',
      groups: [['n2'], ['n1', 'n3']],
      cut: [
        ['n2', 'n1'],
        ['n2', 'n3'],
      ],
    }),
  );
  const slow = await nemesis.start(window(2, { kind: 'latency', links: [['n2', 'n3']], delayMs: 100, jitterMs: 5 }));
  const slower = await nemesis.start(window(3, { kind: 'latency', links: [['n2', 'n3']], delayMs: 250, jitterMs: 0 }));
  assert.deepEqual([...disabled].sort(), ['n1->n2', 'n1->n3', 'n2->n1', 'n2->n3', 'n3->n1']);
  assert.equal(toxics.get('n2->n3 latency'), '250±0', 'the newest latency is in force');

  await nemesis.stop(halves);
  // n2->n1 is still cut by the one-way partition; the links only the halves cut are back.
  assert.deepEqual([...disabled].sort(), ['n2->n1', 'n2->n3']);
  await nemesis.stop(slower);
  assert.equal(toxics.get('n2->n3 latency'), '100±5', 'the older latency comes back when the newer one stops');
  await nemesis.stop(oneWay);
  assert.deepEqual([...disabled], []);
  assert.equal(toxics.get('n2->n3 latency'), '100±5', 'a partition stopping leaves the latency alone');
  await nemesis.stop(slow);
  assert.deepEqual([...toxics], []);
  await nemesis.stop(slow);
  assert.equal(recorder.events.filter((e) => e.f === 'latency-stop').length, 2, 'a second stop is a no-op');
});

test('overlapping process faults never take a node another one holds, also when the leader is resolved late', async () => {
  const log: string[] = [];
  const recorder = new Recorder();
  const nemesis = new Nemesis({
    processes: fakeProcesses('n2', log),
    record: (e) => recorder.record(e),
    now: () => recorder.now(),
  });
  // The leader (n2) is killed; a pause planned for n2 meanwhile takes the first free node instead.
  const [kill, pause] = await Promise.all([
    nemesis.start(window(0, { kind: 'kill', target: { by: 'leader' } })),
    nemesis.start(window(1, { kind: 'pause', target: { by: 'random', nodes: ['n2'] } })),
  ]);
  assert.deepEqual(kill.targets, ['n2']);
  assert.deepEqual(pause.targets, ['n1']);
  await nemesis.stop(kill);
  const again = await nemesis.start(window(2, { kind: 'pause', target: { by: 'random', nodes: ['n1'] } }));
  assert.deepEqual(again.targets, ['n2'], 'n1 is still paused, n2 is free again');
  await nemesis.healAll();
  assert.deepEqual(log, ['kill n2', 'pause n1', 'restart n2', 'pause n2', 'resume n2', 'resume n1']);
});

test('a process fault waits while a restart that outlasts its window still holds the minority', async () => {
  const log: string[] = [];
  let finishRestart: () => void = () => {};
  const processes: ProcessControl = {
    ...fakeProcesses('n1', log),
    ids: ['n1', 'n2', 'n3'],
    restart: (id) => {
      log.push(`restart ${id} begins`);
      return new Promise<void>((resolve) => {
        finishRestart = () => {
          log.push(`restart ${id} done`);
          resolve();
        };
      });
    },
  };
  const recorder = new Recorder();
  const nemesis = new Nemesis({ processes, record: (e) => recorder.record(e), now: () => recorder.now() });
  const kill = await nemesis.start(window(0, { kind: 'kill', target: { by: 'random', nodes: ['n1'] } }));
  const stopping = nemesis.stop(kill);
  const pausing = nemesis.start(window(1, { kind: 'pause', target: { by: 'random', nodes: ['n2'] } }));
  // With 3 nodes only one may be down or paused: the pause cannot start while n1 is still coming back.
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.deepEqual(log, ['kill n1', 'restart n1 begins']);
  finishRestart();
  await stopping;
  const pause = await pausing;
  assert.deepEqual(pause.targets, ['n2']);
  assert.deepEqual(log, ['kill n1', 'restart n1 begins', 'restart n1 done', 'pause n2']);
});

test('a process fault that waits for room gives up when the run ends', async () => {
  const log: string[] = [];
  const recorder = new Recorder();
  const nemesis = new Nemesis({
    processes: { ...fakeProcesses('n1', log), ids: ['n1', 'n2', 'n3'] },
    record: (e) => recorder.record(e),
    now: () => recorder.now(),
  });
  await nemesis.start(window(0, { kind: 'pause', target: { by: 'random', nodes: ['n1'] } }));
  const ended = new AbortController();
  const waiting = nemesis.start(window(1, { kind: 'pause', target: { by: 'random', nodes: ['n2'] } }), ended.signal);
  ended.abort();
  // The run ended: the claim stops waiting (no node is free within the minority, so none is taken twice).
  const late = await waiting;
  assert.ok(late.targets.length <= 1);
  await nemesis.healAll();
  assert.deepEqual(
    log.filter((l) => l.startsWith('resume')),
    log
      .filter((l) => l.startsWith('pause'))
      .map((l) => l.replace('pause', 'resume'))
      .reverse(),
  );
});
