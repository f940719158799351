import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClientAdapter } from './client.ts';
import { RetryClient } from './retry-client.ts';
import type { Completion, Op } from './types.ts';

/**
 * An in-memory register store whose first answer to each request is lost
 * (the command applies, the client sees a timeout), with or without client
 * sessions: the situation a retry exists for.
 */
class LossyStore implements ClientAdapter {
  readonly values = new Map<string, unknown>();
  readonly sessions = new Map<string, { seq: number; result: Completion }>();
  readonly calls: { node: string; seq: number }[] = [];
  constructor(
    private readonly dedup: boolean,
    private readonly script: (call: number) => 'apply-lose-answer' | 'answer' | 'not-leader' | 'timeout' = (call) =>
      call === 0 ? 'apply-lose-answer' : 'answer',
  ) {}

  private execute(op: Op): Completion {
    switch (op.f) {
      case 'read':
        return { type: 'ok', value: this.values.get(op.key) ?? null };
      case 'write':
        this.values.set(op.key, op.value);
        return { type: 'ok', value: op.value };
      case 'cas': {
        const current = this.values.get(op.key) ?? null;
        if (current !== op.value[0]) return { type: 'fail', error: 'cas-mismatch' };
        this.values.set(op.key, op.value[1]);
        return { type: 'ok', value: op.value };
      }
    }
  }

  private apply(op: Op, session: { client: string; seq: number }): Completion {
    if (!this.dedup) return this.execute(op);
    const s = this.sessions.get(session.client);
    if (s !== undefined && s.seq === session.seq) return s.result;
    const result = this.execute(op);
    this.sessions.set(session.client, { seq: session.seq, result });
    return result;
  }

  invoke(op: Op, node: string, session: { client: string; seq: number }): Promise<Completion> {
    const step = this.script(this.calls.length);
    this.calls.push({ node, seq: session.seq });
    switch (step) {
      case 'apply-lose-answer':
        this.apply(op, session);
        return Promise.resolve({ type: 'info', error: 'timeout' });
      case 'answer':
        return Promise.resolve(this.apply(op, session));
      case 'not-leader':
        return Promise.resolve({ type: 'fail', error: 'not-leader' });
      case 'timeout':
        return Promise.resolve({ type: 'info', error: 'timeout' });
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

const session = { client: 'c1', seq: 7 };
const nodes = ['n1', 'n2', 'n3'];

describe('RetryClient', () => {
  it('a retried CAS on a node with sessions answers ok (applied exactly once)', async () => {
    const store = new LossyStore(true);
    store.values.set('k', 1);
    const client = new RetryClient(store, { retries: 3, nodes, retryDelayMs: 0 });
    const completion = await client.invoke({ f: 'cas', key: 'k', value: [1, 2] }, 'n1', session);
    assert.deepEqual(completion, { type: 'ok', value: [1, 2] });
    assert.equal(store.values.get('k'), 2);
    assert.deepEqual(
      store.calls,
      [
        { node: 'n1', seq: 7 },
        { node: 'n2', seq: 7 },
      ],
      'the retry reuses the seq and moves to the next node',
    );
  });

  it('a retried CAS on a node without sessions answers cas-mismatch, recorded as fail although it applied', async () => {
    const store = new LossyStore(false);
    store.values.set('k', 1);
    const client = new RetryClient(store, { retries: 3, nodes, retryDelayMs: 0 });
    const completion = await client.invoke({ f: 'cas', key: 'k', value: [1, 2] }, 'n1', session);
    assert.deepEqual(completion, { type: 'fail', error: 'cas-mismatch' });
    assert.equal(store.values.get('k'), 2, 'the first copy did apply: the checker will see an effect with no op');
  });

  it('keeps the outcome unknown when every retry is refused or times out', async () => {
    const store = new LossyStore(true, (call) =>
      call === 0 ? 'apply-lose-answer' : call % 2 === 1 ? 'not-leader' : 'timeout',
    );
    const client = new RetryClient(store, { retries: 2, nodes, retryDelayMs: 0 });
    const completion = await client.invoke({ f: 'write', key: 'k', value: 5 }, 'n3', session);
    assert.equal(completion.type, 'info', 'a not-leader retry says nothing about the first copy');
    assert.equal(store.calls.length, 3);
    assert.deepEqual(
      store.calls.map((c) => c.node),
      ['n3', 'n1', 'n2'],
    );
    assert.equal(client.stats.gaveUp, 1);
  });

  it('never retries reads or definite answers, and retries nothing with --retry 0', async () => {
    const store = new LossyStore(true, () => 'timeout');
    const none = new RetryClient(store, { retries: 0, nodes, retryDelayMs: 0 });
    assert.equal((await none.invoke({ f: 'write', key: 'k', value: 1 }, 'n1', session)).type, 'info');
    const some = new RetryClient(store, { retries: 3, nodes, retryDelayMs: 0 });
    assert.equal((await some.invoke({ f: 'read', key: 'k', value: null }, 'n1', session)).type, 'info');
    assert.equal(store.calls.length, 2, 'one call each, no retries');
  });

  it('rejects a negative or fractional retry count with a clear error', () => {
    const store = new LossyStore(true);
    assert.throws(() => new RetryClient(store, { retries: -1, nodes }), /--retry must be a non-negative integer/);
    assert.throws(() => new RetryClient(store, { retries: 1.5, nodes }), /--retry must be a non-negative integer/);
  });
});
