import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MemberStatus as NodeStatus } from '../controls.ts';
import { describeFault, parseNemesisKinds, planSchedule, type Link } from '../plan.ts';
import type { NetworkControl } from '../controls.ts';
import { Nemesis } from '../execute.ts';
import { Recorder } from '../../run/recorder.ts';
import type { Scenario } from './context.ts';

const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'];

test('figure8 and double-vote are explicit kinds planned as scenario faults', () => {
  assert.ok(!parseNemesisKinds('all').includes('figure8'));
  assert.deepEqual(parseNemesisKinds('figure8,double-vote'), ['figure8', 'double-vote']);
  const plan = planSchedule({ kinds: ['figure8'], nodes, intervalMs: 10_000, durationMs: 40_000, seed: 1 });
  assert.equal(plan.length, 2);
  for (const { fault } of plan) {
    assert.deepEqual(fault, { kind: 'scenario', name: 'figure8' });
    assert.equal(describeFault(fault), 'scenario figure8');
  }
  const mixed = planSchedule({ kinds: ['double-vote', 'kill'], nodes, intervalMs: 1000, durationMs: 40_000, seed: 2 });
  assert.ok(mixed.some((p) => p.fault.kind === 'scenario' && p.fault.name === 'double-vote'));
  assert.ok(mixed.some((p) => p.fault.kind === 'kill'));
});

/** A fake cluster: statuses from a table, actions logged. */
function fakes(actions: string[]): {
  processes: ConstructorParameters<typeof Nemesis>[0]['processes'];
  network: NetworkControl;
} {
  const status = (id: string): NodeStatus => ({
    id,
    role: id === 'n1' ? 'leader' : 'follower',
    term: 3,
    leader: 'n1',
    commitIndex: 7,
    appliedIndex: 7,
    lastIndex: 7,
    lastTerm: 3,
  });
  const down = new Set<string>();
  const links = (list: readonly Link[]): string => list.map(([a, b]) => `${a}>${b}`).join(' ');
  return {
    processes: {
      ids: ['n3', 'n1', 'n2'],
      leader: async () => 'n1',
      kill: async (id) => void (actions.push(`kill ${id}`), down.add(id)),
      restart: async (id) => void (actions.push(`restart ${id}`), down.delete(id)),
      pause: (id) => void (actions.push(`pause ${id}`), down.add(id)),
      resume: (id) => void (actions.push(`resume ${id}`), down.delete(id)),
      status: async (id) => (down.has(id) ? undefined : status(id)),
      isRunning: (id) => !down.has(id),
      isPaused: () => false,
    },
    network: {
      cut: async (list) => void actions.push(`cut ${links(list)}`),
      heal: async (list) => void actions.push(`heal ${links(list)}`),
      latency: async () => void actions.push('latency'),
      removeBandwidth: async () => {},
      removeLatency: async () => void actions.push('remove-latency'),
      blackhole: async (list) => void actions.push(`blackhole ${links(list)}`),
      removeBlackhole: async (list) => void actions.push(`remove-blackhole ${links(list)}`),
      bandwidth: async () => void actions.push('bandwidth'),
      holdClientRequests: async () => void actions.push('hold'),
      releaseClientRequests: async () => void actions.push('release'),
      healAll: async () => void actions.push('heal-all'),
    },
  };
}

test('a scenario runs to completion, records its steps and outcome, and stopping it undoes what it left', async () => {
  const actions: string[] = [];
  const recorder = new Recorder();
  const seen: { ids: readonly string[]; leader?: string; draws: number[] } = { ids: [], draws: [] };
  const script: Scenario = async (ctx) => {
    seen.ids = ctx.ids;
    seen.draws = [ctx.random.nextUint32(), ctx.random.nextUint32()];
    const statuses = await ctx.statuses();
    seen.leader = [...statuses.values()].find((s) => s.role === 'leader')?.id;
    ctx.note('isolate', { leader: seen.leader });
    await ctx.cut([['n1', 'n2']]);
    await ctx.blackhole([['n2', 'n3']]);
    await ctx.removeBlackhole([['n2', 'n3']]);
    await ctx.holdClientRequests();
    ctx.pause('n2');
    await ctx.kill('n3');
    await ctx.kill('n1');
    await ctx.restart('n1');
    assert.equal(await ctx.status('n3'), undefined, 'a killed node does not answer');
    const never = await ctx.waitFor('n3 back', () => ctx.status('n3'), 60);
    assert.equal(never, undefined);
    return { reached: true, detail: 'built it' };
  };
  const nemesis = new Nemesis({
    ...fakes(actions),
    record: (e) => recorder.record(e),
    now: () => recorder.now(),
    seed: 42,
    scenarios: { figure8: script, 'double-vote': script, 'config-overlap': script },
  });
  const applied = await nemesis.start({
    index: 4,
    startMs: 0,
    stopMs: 1,
    fault: { kind: 'scenario', name: 'figure8' },
  });
  assert.deepEqual(seen.ids, ['n1', 'n2', 'n3'], 'ids sorted');
  assert.equal(seen.leader, 'n1');
  assert.deepEqual(applied.outcome, { reached: true, detail: 'built it' });
  assert.match(applied.description, /^scenario figure8: reached \(built it\)$/);
  await nemesis.stop(applied);
  assert.deepEqual(actions, [
    'cut n1>n2',
    'blackhole n2>n3',
    'remove-blackhole n2>n3',
    'hold',
    'pause n2',
    'kill n3',
    'kill n1',
    'restart n1',
    'resume n2',
    'restart n3',
    'heal-all',
  ]);
  assert.deepEqual(
    recorder.events.map((e) => [e.f, e.value]),
    [
      ['scenario-start', ['n3', 'n1', 'n2']],
      ['figure8-step', 'isolate'],
      ['figure8-step', 'timeout'],
      ['scenario-outcome', { name: 'figure8', reached: true, detail: 'built it' }],
      ['scenario-stop', ['n3', 'n1', 'n2']],
    ],
  );
  assert.equal((recorder.events[1] as unknown as { leader: string }).leader, 'n1', 'a step carries its detail');
  assert.equal(
    recorder.events[4]?.detail,
    'scenario figure8: reached (built it)',
    'the stop event carries the outcome for the report',
  );

  // Same seed and fault index: the same random draws; another index: different ones.
  const again: number[][] = [];
  const drawing: Scenario = async (ctx) => (
    again.push([ctx.random.nextUint32(), ctx.random.nextUint32()]), { reached: false, detail: '' }
  );
  const second = new Nemesis({
    ...fakes([]),
    record: (e) => recorder.record(e),
    now: () => recorder.now(),
    seed: 42,
    scenarios: { figure8: drawing, 'double-vote': drawing, 'config-overlap': drawing },
  });
  await second.start({ index: 4, startMs: 0, stopMs: 1, fault: { kind: 'scenario', name: 'figure8' } });
  await second.start({ index: 5, startMs: 0, stopMs: 1, fault: { kind: 'scenario', name: 'figure8' } });
  assert.deepEqual(again[0], seen.draws);
  assert.notDeepEqual(again[1], seen.draws);
});

test('a script that throws is recorded as not reached and the run goes on; an aborted run ends a waiting script', async () => {
  const recorder = new Recorder();
  const throwing: Scenario = async () => {
    throw new Error('boom');
  };
  const waiting: Scenario = async (ctx) => {
    const value = await ctx.waitFor('forever', async () => undefined, 3_600_000);
    return { reached: value !== undefined, detail: ctx.signal.aborted ? 'aborted' : 'odd' };
  };
  const nemesis = new Nemesis({
    ...fakes([]),
    record: (e) => recorder.record(e),
    now: () => recorder.now(),
    scenarios: { figure8: throwing, 'double-vote': waiting, 'config-overlap': waiting },
  });
  const thrown = await nemesis.start({ index: 0, startMs: 0, stopMs: 1, fault: { kind: 'scenario', name: 'figure8' } });
  assert.deepEqual(thrown.outcome, { reached: false, detail: 'script error: boom' });
  await nemesis.stop(thrown);
  const abort = new AbortController();
  const started = nemesis.start(
    { index: 1, startMs: 0, stopMs: 1, fault: { kind: 'scenario', name: 'double-vote' } },
    abort.signal,
  );
  setTimeout(() => abort.abort(), 30);
  const aborted = await started;
  assert.deepEqual(aborted.outcome, { reached: false, detail: 'aborted' });
});

test('a scenario without proxies or statuses fails with a clear error', async () => {
  const recorder = new Recorder();
  const { processes } = fakes([]);
  const nemesis = new Nemesis({ processes, record: (e) => recorder.record(e), now: () => recorder.now() });
  await assert.rejects(
    nemesis.start({ index: 0, startMs: 0, stopMs: 1, fault: { kind: 'scenario', name: 'figure8' } }),
    /needs proxies/,
  );
});
