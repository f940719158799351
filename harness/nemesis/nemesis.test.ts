import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNemesisKinds, planSchedule, type Link } from './plan.ts';
import type { NetworkControl } from './controls.ts';
import { Nemesis } from './execute.ts';
import { Recorder } from '../run/recorder.ts';

const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'];

test('the same seed plans the same schedule; another seed a different one', () => {
  const options = { kinds: parseNemesisKinds('all'), nodes, intervalMs: 2000, durationMs: 60_000 };
  const a = planSchedule({ ...options, seed: 1234 });
  const b = planSchedule({ ...options, seed: 1234 });
  const c = planSchedule({ ...options, seed: 1235 });
  assert.ok(a.length >= 10);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test('faults do not overlap and stay inside the run', () => {
  const plan = planSchedule({ kinds: ['kill', 'partition'], nodes, intervalMs: 3000, durationMs: 30_000, seed: 9 });
  let lastStop = 0;
  for (const fault of plan) {
    assert.ok(fault.startMs >= lastStop && fault.stopMs > fault.startMs && fault.stopMs <= 30_000);
    lastStop = fault.stopMs;
  }
});

test('kills and pauses never hit a majority; partitions cut only existing links', () => {
  const plan = planSchedule({
    kinds: ['kill', 'pause', 'partition'],
    nodes,
    intervalMs: 100,
    durationMs: 100_000,
    seed: 5,
  });
  const modes = new Set<string>();
  for (const { fault } of plan) {
    if ((fault.kind === 'kill' || fault.kind === 'pause') && fault.target.by !== 'leader') {
      assert.ok(fault.target.nodes.length <= 2, `${fault.kind} hit ${fault.target.nodes.join(',')}`);
    }
    if (fault.kind === 'partition') {
      modes.add(fault.mode);
      if (fault.mode !== 'isolate-leader') {
        for (const [from, to] of fault.cut) assert.ok(from !== to && nodes.includes(from) && nodes.includes(to));
      }
    }
  }
  assert.deepEqual([...modes].sort(), ['bridge', 'halves', 'isolate-leader', 'one-way', 'ring']);
});

test('a majorities ring leaves every node reaching exactly a majority', () => {
  const plan = planSchedule({ kinds: ['partition'], nodes, intervalMs: 100, durationMs: 50_000, seed: 11 });
  const ring = plan.map((p) => p.fault).find((f) => f.kind === 'partition' && f.mode === 'ring');
  assert.ok(ring !== undefined && ring.kind === 'partition' && ring.mode === 'ring');
  const cut: readonly Link[] = ring.cut;
  for (const node of nodes) {
    const reachable: string[] = nodes.filter(
      (other) => other !== node && !cut.some(([a, b]) => a === node && b === other),
    );
    assert.equal(reachable.length + 1, 3);
  }
});

test('unknown nemesis names are rejected with the list of valid ones', () => {
  assert.throws(() => parseNemesisKinds('kill,explode'), /unknown nemesis "explode".*kill, pause, partition/);
  assert.deepEqual(parseNemesisKinds('kill, kill,latency'), ['kill', 'latency']);
});

test('the nemesis records start before acting and stop after healing, with the leader resolved', async () => {
  const actions: string[] = [];
  const recorder = new Recorder();
  const network: NetworkControl = {
    cut: async (links: readonly Link[]) => void actions.push(`cut ${links.map((l) => l.join('>')).join(' ')}`),
    latency: async () => void actions.push('latency'),
    blackhole: async () => void actions.push('blackhole'),
    bandwidth: async () => void actions.push('bandwidth'),
    healAll: async () => assert.fail('a stop heals only its own links'),
    heal: async (links: readonly Link[]) => void actions.push(`heal ${links.map((l) => l.join('>')).join(' ')}`),
    removeLatency: async () => assert.fail('not used by random faults'),
    removeBlackhole: async () => assert.fail('not used by random faults'),
    removeBandwidth: async () => assert.fail('not used by random faults'),
    holdClientRequests: async () => assert.fail('not used by random faults'),
    releaseClientRequests: async () => assert.fail('not used by random faults'),
  };
  const nemesis = new Nemesis({
    processes: {
      ids: ['n1', 'n2', 'n3'],
      leader: async () => 'n2',
      kill: async (id) => void actions.push(`kill ${id}`),
      restart: async (id) => void actions.push(`restart ${id}`),
      pause: (id) => void actions.push(`pause ${id}`),
      resume: (id) => void actions.push(`resume ${id}`),
      isRunning: () => true,
      isPaused: () => false,
      status: async () => undefined,
    },
    network,
    record: (e) => recorder.record(e),
    now: () => recorder.now(),
  });
  const applied = await nemesis.start({
    index: 0,
    startMs: 0,
    stopMs: 1,
    fault: { kind: 'partition', mode: 'isolate-leader' },
  });
  await nemesis.stop(applied);
  const killed = await nemesis.start({
    index: 1,
    startMs: 0,
    stopMs: 1,
    fault: { kind: 'kill', target: { by: 'leader' } },
  });
  await nemesis.stop(killed);
  assert.deepEqual(actions, ['cut n2>n1 n1>n2 n2>n3 n3>n2', 'heal n2>n1 n1>n2 n2>n3 n3>n2', 'kill n2', 'restart n2']);
  assert.deepEqual(
    recorder.events.map((e) => [e.f, e.value]),
    [
      ['partition-start', ['n2->n1', 'n1->n2', 'n2->n3', 'n3->n2']],
      ['partition-stop', ['n2->n1', 'n1->n2', 'n2->n3', 'n3->n2']],
      ['kill-start', ['n2']],
      ['kill-stop', ['n2']],
    ],
  );
});

test('kill-majority is only drawn when named and kills a majority', () => {
  assert.ok(!parseNemesisKinds('all').includes('kill-majority'));
  const plan = planSchedule({
    kinds: parseNemesisKinds('kill-majority'),
    nodes,
    intervalMs: 1000,
    durationMs: 10_000,
    seed: 3,
  });
  assert.ok(plan.length > 0);
  for (const { fault } of plan) {
    assert.ok(fault.kind === 'kill' && fault.target.by === 'majority' && fault.target.nodes.length === 3);
  }
});

test('a proxy API call that fails once is retried instead of breaking the run', async () => {
  let cutCalls = 0;
  const recorder = new Recorder();
  const nemesis = new Nemesis({
    processes: {
      ids: ['n1', 'n2', 'n3'],
      leader: async () => 'n1',
      kill: async () => {},
      restart: async () => {},
      pause: () => {},
      resume: () => {},
      isRunning: () => true,
      isPaused: () => false,
      status: async () => undefined,
    },
    network: {
      cut: async () => {
        cutCalls++;
        if (cutCalls === 1) throw new Error('ECONNRESET from the proxy API');
      },
      latency: async () => {},
      blackhole: async () => {},
      bandwidth: async () => {},
      healAll: async () => {},
      heal: async () => {},
      removeLatency: async () => {},
      removeBlackhole: async () => {},
      removeBandwidth: async () => {},
      holdClientRequests: async () => {},
      releaseClientRequests: async () => {},
    },
    record: (e) => recorder.record(e),
    now: () => recorder.now(),
  });
  const fault = {
    kind: 'partition' as const,
    mode: 'halves' as const,
    groups: [['n1'], ['n2', 'n3']],
    cut: [['n1', 'n2'] as const],
  };
  await nemesis.start({ index: 0, startMs: 0, stopMs: 1, fault });
  assert.equal(cutCalls, 2);
});

test("a network fault's start event says which layer applied it; a process fault's has none", async () => {
  const recorder = new Recorder();
  const noop = async (): Promise<void> => {};
  const nemesis = new Nemesis({
    processes: {
      ids: ['n1', 'n2', 'n3'],
      leader: async () => 'n1',
      kill: noop,
      restart: noop,
      pause: () => {},
      resume: () => {},
      isRunning: () => true,
      isPaused: () => false,
      status: async () => undefined,
    },
    network: {
      cut: noop,
      heal: noop,
      latency: noop,
      removeLatency: noop,
      blackhole: noop,
      removeBlackhole: noop,
      bandwidth: noop,
      removeBandwidth: noop,
      holdClientRequests: noop,
      releaseClientRequests: noop,
      healAll: noop,
    },
    record: (e) => recorder.record(e),
    now: () => recorder.now(),
    layer: (fault) => (fault === 'cut' ? 'kernel' : 'proxy'),
  });
  const links = [['n1', 'n2'] as const];
  const faults = [
    { kind: 'partition' as const, mode: 'one-way' as const, groups: [['n1'], ['n2', 'n3']], cut: links },
    { kind: 'latency' as const, links, delayMs: 50, jitterMs: 0 },
    { kind: 'kill' as const, target: { by: 'random' as const, nodes: ['n3'] } },
  ];
  const layers: unknown[] = [];
  for (const [index, fault] of faults.entries()) {
    const applied = await nemesis.start({ index, startMs: 0, stopMs: 1, fault });
    layers.push(applied.layer);
    await nemesis.stop(applied);
  }
  assert.deepEqual(layers, ['kernel', 'proxy', undefined]);
  const starts = recorder.events.filter((e) => e.f.endsWith('-start')) as unknown as { layer?: string }[];
  assert.deepEqual(
    starts.map((e) => e.layer),
    ['kernel', 'proxy', undefined],
  );
});
