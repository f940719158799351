// The disk and clock nemesis kinds: what the planner draws and what the executor asks of the disk and clock controls.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Recorder } from '../run/recorder.ts';
import type { ClockControl, DiskControl, ProcessControl } from './controls.ts';
import { Nemesis } from './execute.ts';
import {
  CLOCK_DRIFT_MAX,
  CLOCK_SKEW_MAX_MS,
  minorityOf,
  parseNemesisKinds,
  parseSchedule,
  planSchedule,
  processLoad,
  scheduleKinds,
} from './plan.ts';

const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'];

test('disk and clock kinds are asked for by name only, not by "all"', () => {
  const all = parseNemesisKinds('all');
  for (const kind of ['lose-unsynced', 'torn-write', 'fsync-error', 'clock-skew', 'clock-drift'] as const) {
    assert.ok(!all.includes(kind), kind);
    assert.deepEqual(parseNemesisKinds(kind), [kind]);
  }
});

test('lose-unsynced hits every node at once or at most a minority; clock faults stay within their bounds', () => {
  const plan = planSchedule({
    kinds: parseNemesisKinds('lose-unsynced,torn-write,fsync-error,clock-skew,clock-drift'),
    nodes,
    intervalMs: 100,
    durationMs: 40_000,
    seed: 21,
  });
  const seen = new Set<string>();
  for (const { fault } of plan) {
    switch (fault.kind) {
      case 'lose-unsynced':
      case 'torn-write':
        seen.add(`${fault.kind} ${fault.target.by === 'all' ? 'all' : 'some'}`);
        if (fault.target.by === 'all') assert.deepEqual(fault.target.nodes, nodes);
        else assert.ok(processLoad(fault) <= minorityOf(nodes.length));
        if (fault.kind === 'torn-write') assert.ok(fault.fraction > 0 && fault.fraction < 1);
        break;
      case 'fsync-error':
        seen.add(fault.kind);
        assert.ok(fault.target.by !== 'all' && processLoad(fault) <= minorityOf(nodes.length));
        break;
      case 'clock-skew':
        seen.add(fault.kind);
        assert.ok(Math.abs(fault.deltaMs) <= CLOCK_SKEW_MAX_MS && fault.deltaMs !== 0);
        assert.ok(fault.nodes.length >= 1 && fault.nodes.length <= minorityOf(nodes.length));
        break;
      case 'clock-drift':
        seen.add(fault.kind);
        assert.ok(
          Math.abs(fault.rate - 1) <= CLOCK_DRIFT_MAX + 1e-9 && Math.abs(fault.rate - 1) >= CLOCK_DRIFT_MAX / 4,
        );
        break;
      default:
        assert.fail(`unexpected fault ${fault.kind}`);
    }
  }
  assert.deepEqual([...seen].sort(), [
    'clock-drift',
    'clock-skew',
    'fsync-error',
    'lose-unsynced all',
    'lose-unsynced some',
    'torn-write all',
    'torn-write some',
  ]);
  // An explicit schedule with these faults reads back as it was planned, with its kinds.
  assert.deepEqual(parseSchedule(plan, nodes, 40_000), plan);
  assert.deepEqual(scheduleKinds(plan).sort(), [
    'clock-drift',
    'clock-skew',
    'fsync-error',
    'lose-unsynced',
    'torn-write',
  ]);
});

test('with overlap, a power loss of every node is planned only while no other process fault holds a node', () => {
  const plan = planSchedule({
    kinds: parseNemesisKinds('lose-unsynced,kill'),
    nodes,
    intervalMs: 1000,
    durationMs: 120_000,
    seed: 4,
    overlap: 3,
  });
  assert.ok(plan.some((p) => p.fault.kind === 'lose-unsynced' && p.fault.target.by === 'all'));
  for (const p of plan) {
    const load = plan
      .filter((q) => q.startMs <= p.startMs && q.stopMs > p.startMs)
      .reduce((sum, q) => sum + processLoad(q.fault), 0);
    if (p.fault.kind === 'lose-unsynced' && p.fault.target.by === 'all') assert.equal(load, nodes.length, 'alone');
    else assert.ok(load <= minorityOf(nodes.length), `load ${load} at ${p.startMs}`);
  }
});

test('the executor kills before it drops unsynced data, restarts at the stop, and undoes clock and fsync faults', async () => {
  const actions: string[] = [];
  const running = new Set(['n1', 'n2', 'n3']);
  const processes: ProcessControl = {
    ids: ['n1', 'n2', 'n3'],
    leader: async () => 'n2',
    kill: async (id) => {
      running.delete(id);
      actions.push(`kill ${id}`);
    },
    restart: async (id) => {
      running.add(id);
      actions.push(`restart ${id}`);
    },
    pause: () => assert.fail('no pauses'),
    resume: () => assert.fail('no pauses'),
    isRunning: (id) => running.has(id),
    isPaused: () => false,
    status: async () => undefined,
  };
  const disk: DiskControl = {
    loseUnsynced: async (id) => void actions.push(`lose ${id} (running: ${running.has(id)})`),
    tornWrite: async (id, fraction) => void actions.push(`tear ${id} ${fraction}`),
    failNextFsync: async (id) => {
      actions.push(`fail-fsync ${id}`);
      // The node stops on the failed fsync, as it should.
      running.delete(id);
    },
    clearDiskFaults: async (id) => void actions.push(`clear ${id}`),
  };
  const clock: ClockControl = {
    skew: async (id, deltaMs) => void actions.push(`skew ${id} ${deltaMs}`),
    drift: async (id, rate) => void actions.push(`drift ${id} ${rate}`),
    resetClock: async (id) => void actions.push(`reset ${id}`),
  };
  const recorder = new Recorder();
  const nemesis = new Nemesis({ processes, disk, clock, record: (e) => recorder.record(e), now: () => recorder.now() });
  const faults = [
    { kind: 'lose-unsynced', target: { by: 'all', nodes: ['n1', 'n2', 'n3'] } },
    { kind: 'torn-write', target: { by: 'leader' }, fraction: 0.5 },
    { kind: 'fsync-error', target: { by: 'random', nodes: ['n3'] } },
    { kind: 'clock-skew', nodes: ['n1'], deltaMs: -2000 },
    { kind: 'clock-drift', nodes: ['n2'], rate: 1.05 },
  ] as const;
  for (const [index, fault] of faults.entries()) {
    const applied = await nemesis.start({ index, startMs: 0, stopMs: 1, fault: structuredClone(fault) as never });
    await nemesis.stop(applied);
  }
  assert.deepEqual(actions, [
    'kill n1',
    'kill n2',
    'kill n3',
    'lose n1 (running: false)',
    'lose n2 (running: false)',
    'lose n3 (running: false)',
    'restart n1',
    'restart n2',
    'restart n3',
    'kill n2',
    'tear n2 0.5',
    'restart n2',
    'fail-fsync n3',
    'clear n3',
    'restart n3',
    'skew n1 -2000',
    'reset n1',
    'drift n2 1.05',
    'reset n2',
  ]);
  assert.deepEqual(
    recorder.events.map((e) => e.f),
    faults.flatMap((f) => [`${f.kind}-start`, `${f.kind}-stop`]),
  );
});

test('a disk fault without a disk control is an error, not a silent no-op', async () => {
  const recorder = new Recorder();
  const nemesis = new Nemesis({
    processes: {
      ids: ['n1'],
      leader: async () => 'n1',
      kill: async () => {},
      restart: async () => {},
      pause: () => {},
      resume: () => {},
      isRunning: () => true,
      isPaused: () => false,
      status: async () => undefined,
    },
    record: (e) => recorder.record(e),
    now: () => recorder.now(),
  });
  await assert.rejects(
    nemesis.start({
      index: 0,
      startMs: 0,
      stopMs: 1,
      fault: { kind: 'fsync-error', target: { by: 'random', nodes: ['n1'] } },
    }),
    /lazy file system/,
  );
});
