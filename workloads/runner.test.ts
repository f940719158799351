import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientAdapter } from './client.ts';
import { classifyHttpError } from './client.ts';
import { OpGenerator } from './generator.ts';
import { Random } from '../lib/random.ts';
import { runWorkload } from './runner.ts';
import type { Completion, HistoryEvent, Op } from './types.ts';

/** An in-memory register store; every third write answers info (after applying), like a lost reply. */
class MemoryAdapter implements ClientAdapter {
  readonly store = new Map<string, unknown>();
  readonly seenInvokesBeforeRequest: boolean[] = [];
  private writes = 0;
  constructor(private readonly history: HistoryEvent[]) {}
  async invoke(op: Op): Promise<Completion> {
    // The runner must have recorded this op's invoke before calling us.
    const last = this.history[this.history.length - 1];
    this.seenInvokesBeforeRequest.push(last?.type === 'invoke' && last.key === op.key && last.f === op.f);
    await new Promise((r) => setImmediate(r));
    switch (op.f) {
      case 'read':
        return { type: 'ok', value: this.store.get(op.key) ?? null };
      case 'write':
        this.store.set(op.key, op.value);
        return ++this.writes % 3 === 0 ? { type: 'info', error: 'timeout' } : { type: 'ok', value: op.value };
      case 'cas':
        if ((this.store.get(op.key) ?? null) !== op.value[0]) return { type: 'fail', error: 'cas-mismatch' };
        this.store.set(op.key, op.value[1]);
        return { type: 'ok', value: op.value };
    }
  }
  async close(): Promise<void> {}
}

test('every op is invoked before its request, completes once, and an info retires its process', async () => {
  const history: HistoryEvent[] = [];
  let time = 0;
  const adapter = new MemoryAdapter(history);
  const stats = await runWorkload({
    generator: new OpGenerator({ workload: 'cas-register', keys: 2 }),
    adapter,
    nodes: ['n1', 'n2'],
    concurrency: 4,
    durationMs: 200,
    random: new Random(1),
    record: (e) => {
      const stamped = { ...e, time: time++ };
      history.push(stamped);
      return stamped;
    },
    clientPrefix: 'test',
  });
  assert.ok(stats.invoked > 20);
  assert.ok(adapter.seenInvokesBeforeRequest.every(Boolean));
  assert.equal(stats.ok + stats.fail + stats.info, stats.invoked);
  assert.ok(stats.info > 0);
  assert.equal(stats.processes, 4 + stats.info, 'one fresh process per info');
  // Per process: strictly alternating invoke/completion, and nothing after an info.
  const state = new Map<number, 'idle' | 'open' | 'retired'>();
  for (const event of history) {
    const p = event.process as number;
    const s = state.get(p) ?? 'idle';
    assert.notEqual(s, 'retired', `process ${p} used after its info`);
    if (event.type === 'invoke') {
      assert.equal(s, 'idle');
      state.set(p, 'open');
    } else {
      assert.equal(s, 'open');
      state.set(p, event.type === 'info' ? 'retired' : 'idle');
    }
  }
  assert.ok(history.every((e) => e.node === 'n1' || e.node === 'n2'));
});

test('open loop keeps close to the target rate', async () => {
  let invoked = 0;
  const adapter: ClientAdapter = { invoke: async (op) => ({ type: 'ok', value: op.value }), close: async () => {} };
  await runWorkload({
    generator: new OpGenerator({ workload: 'register', keys: 1 }),
    adapter,
    nodes: ['n1'],
    concurrency: 4,
    durationMs: 500,
    ratePerSec: 40,
    random: new Random(2),
    record: (e) => {
      if (e.type === 'invoke') invoked++;
      return { ...e, time: 0 };
    },
    clientPrefix: 'rate',
  });
  // 40 ops/s for 0.5 s is 20 ops; a closed loop would do thousands. (A count bound, not a timing assertion.)
  assert.ok(invoked >= 4 && invoked <= 30, `invoked ${invoked}`);
});

test('HTTP errors map to fail when certainly not applied and info otherwise', () => {
  assert.deepEqual(classifyHttpError(409, { error: 'cas-mismatch' }), { type: 'fail', error: 'cas-mismatch' });
  assert.deepEqual(classifyHttpError(400, { error: 'bad-request' }), { type: 'fail', error: 'bad-request' });
  assert.deepEqual(classifyHttpError(503, { error: 'no-leader' }), { type: 'fail', error: 'no-leader' });
  assert.deepEqual(classifyHttpError(503, { error: 'not-leader' }), { type: 'fail', error: 'not-leader' });
  assert.deepEqual(classifyHttpError(503, { error: 'overloaded' }), { type: 'info', error: 'overloaded' });
  assert.deepEqual(classifyHttpError(504, { error: 'unknown' }), { type: 'info', error: 'unknown' });
  assert.deepEqual(classifyHttpError(500, undefined), { type: 'info', error: 'http-500' });
});
