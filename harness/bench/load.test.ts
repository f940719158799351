// The load generator against in-process fake targets: the counting is
// consistent, errors are counted by code, and the open loop measures from the
// intended send time. Plus the CLI's flag parsing and the text summary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GetOutcome, KvClient, KvTarget, PutOutcome } from '../../workloads/targets/index.ts';
import { sampleBenchRun } from '../../reports/bench-sample.ts';
import { assertConsistent } from './testing.ts';
import {
  autoRates,
  benchValue,
  newLatencyHistogram,
  prefill,
  runClosedLoop,
  runOpenLoop,
  runOpenLoopSweep,
  summarize,
} from './load.ts';
import { parseNumberList, parseRates, parseWordList, UsageError } from './options.ts';
import { summaryText, jsonSummary } from './print.ts';
import { memberOrder } from './run.ts';

/** An in-memory target: answers on the next turn of the event loop; every `failEvery`-th request fails. */
function memoryTarget(failEvery = 0): KvTarget & { requests: () => number; store: Map<string, string> } {
  const store = new Map<string, string>();
  let requests = 0;
  const answer = <T>(value: T): Promise<T | { type: 'error'; code: string; message: string }> =>
    new Promise((resolve) =>
      setImmediate(() => {
        requests++;
        resolve(
          failEvery > 0 && requests % failEvery === 0
            ? { type: 'error', code: 'fake-error', message: 'planned' }
            : value,
        );
      }),
    );
  return {
    kind: 'raftlab',
    memberUrls: ['mem://a', 'mem://b'],
    store,
    requests: () => requests,
    client(clientIndex: number): KvClient {
      return {
        memberIndex: clientIndex % 2,
        put: (key, value) => {
          store.set(key, value);
          return answer<PutOutcome>({ type: 'ok' });
        },
        get: (key) => answer<GetOutcome>({ type: 'ok', value: store.get(key) ?? null }),
      };
    },
    close: async () => undefined,
  };
}

test('closed loop: counts are consistent and errors are counted by code', async () => {
  const target = memoryTarget(7);
  const result = await runClosedLoop(target, { op: 'mix', concurrency: 4, warmupMs: 50, timeMs: 300 });
  assertConsistent(result);
  assert.ok(result.ok > 0 && result.errors > 0);
  assert.deepEqual(Object.keys(result.errorsByCode), ['fake-error']);
  // Ops of the warm-up are not counted: the target saw more requests than the window holds.
  assert.ok(target.requests() > result.opsCompleted);
  assert.equal(result.target, 'raftlab');
  assert.equal(result.concurrency, 4);
});

test('prefill writes every key once with values of the requested size', async () => {
  const target = memoryTarget();
  const failed = await prefill(target, { keys: 40, valueBytes: 64, seed: 1 }, 8);
  assert.equal(failed, 0);
  assert.equal(target.store.size, 40);
  for (const v of target.store.values()) assert.equal(v.length, 64);
  assert.equal(benchValue(10, 123, 456).length, 10);
});

test('open loop: latency counts from the intended send time, so queueing shows', async () => {
  // One request at a time, 20 ms each (50/s capacity), offered 400/s: the
  // queue grows for the whole window, and the answer to the last arrivals
  // comes hundreds of ms after they were due.
  let busyUntil = Promise.resolve();
  const serial: KvTarget = {
    ...memoryTarget(),
    client: (i) => ({
      memberIndex: i,
      put: () => {
        const done = busyUntil.then(() => new Promise<PutOutcome>((r) => setTimeout(() => r({ type: 'ok' }), 20)));
        busyUntil = done.then(() => undefined);
        return done;
      },
      get: async () => ({ type: 'ok', value: null }),
    }),
  };
  const step = await runOpenLoop(serial, { op: 'put', rate: 400, warmupMs: 0, timeMs: 250, p99BoundMs: 1000 });
  assert.equal(step.ok + step.errors + step.dropped, step.opsScheduled);
  assert.ok(step.opsScheduled >= 90, `about 100 arrivals scheduled, got ${step.opsScheduled}`);
  // ~100 requests × 20 ms of service: the last ones wait well over a second
  // behind the queue. Measured from the actual send, each would take ~20 ms.
  assert.ok(step.latency.maxMs > 1000, `max latency includes the queue: ${step.latency.maxMs} ms`);
  assert.equal(step.held, false, 'a rate the target cannot keep up with is not held');
});

test('open loop: a rate the target keeps up with is held', async () => {
  const step = await runOpenLoop(memoryTarget(), {
    op: 'get',
    rate: 200,
    warmupMs: 0,
    timeMs: 200,
    p99BoundMs: 10_000,
  });
  assert.equal(step.errors, 0);
  assert.equal(step.dropped, 0);
  assert.equal(step.ok, step.opsScheduled);
  assert.equal(step.held, true);
});

test('auto rates rise and stay positive', () => {
  const rates = autoRates(5000);
  assert.ok(rates.length >= 5);
  for (let i = 1; i < rates.length; i++) assert.ok((rates[i] ?? 0) > (rates[i - 1] ?? 0));
  assert.ok(rates.every((r) => r > 0));
  assert.ok((rates.at(-1) ?? 0) > 5000, 'the sweep goes past the closed-loop peak');
  assert.deepEqual(autoRates(undefined), [250, 500, 1000, 2000, 4000, 8000]);
});

test('flag lists are validated with messages that say what to do', () => {
  assert.deepEqual(parseWordList('ops', 'put,get,put', ['put', 'get', 'sget', 'mix']), ['put', 'get']);
  assert.throws(
    () => parseWordList('ops', 'put,fly', ['put', 'get']),
    (e: unknown) => e instanceof UsageError && /unknown "fly"; choose from put, get/.test(e.message),
  );
  assert.deepEqual(parseNumberList('concurrency', '1, 8,32', true), [1, 8, 32]);
  assert.throws(() => parseNumberList('concurrency', '1,0', true), UsageError);
  assert.throws(() => parseNumberList('concurrency', '2.5', true), UsageError);
  assert.deepEqual(parseRates('500,1500.5'), [500, 1500.5]);
  assert.equal(parseRates('off'), 'off');
  assert.throws(() => parseRates('fast'), UsageError);
});

test('members are ordered leader first, or the leader alone', () => {
  assert.deepEqual(memberOrder(['a', 'b', 'c'], 1, 'spread'), ['b', 'a', 'c']);
  assert.deepEqual(memberOrder(['a', 'b', 'c'], 2, 'leader'), ['c']);
});

test('the summary prints same-run ratios and the change against a compared run', () => {
  const text = summaryText(sampleBenchRun());
  assert.match(text, /put\s+1\s+2\.00x\s+0\.50x/, 'raftlab/etcd at C=1: twice the ops/s, half the p50');
  assert.match(text, /put\s+8\s+1\.50x/);
  assert.match(text, /raftlab\s+put\s+8\s+6,000.*\+50%/, 'raftlab put C=8 went from 4,000 to 6,000 ops/s');
  const json = jsonSummary(sampleBenchRun(), '/tmp/x', '/tmp/x/report.html') as { results: unknown[] };
  assert.deepEqual(json.results[0], {
    target: 'raftlab',
    op: 'put',
    concurrency: 1,
    opsPerSec: 2000,
    p50Ms: 0.5,
    p99Ms: 1.5,
    errors: 0,
  });
});

test('a percentile summary never exceeds the recorded maximum', () => {
  // 88,786 us falls in an HDR bucket whose top is above it.
  const h = newLatencyHistogram();
  for (let i = 0; i < 9; i++) h.recordValue(1000 + i);
  h.recordValue(88_786);
  assert.ok(h.getValueAtPercentile(99.9) > h.maxValue, 'precondition: HDR rounds the top percentile up');
  const s = summarize(h);
  assert.equal(s.maxMs, 88.786);
  assert.ok(s.p999Ms <= s.maxMs && s.p99Ms <= s.p999Ms && s.p50Ms <= s.p99Ms, JSON.stringify(s));
  assert.equal(s.count, 10);
});

test('open-loop sweep: stops at the first rate not held, and steps down when none is', async () => {
  // Answers in 5 ms, but fails every request while more than 20 are in
  // flight: 40/s (about 0.2 in flight) is held, 8,000/s (about 40) is not.
  let inFlight = 0;
  const limited: KvTarget = {
    ...memoryTarget(),
    client: (i) => ({
      memberIndex: i,
      put: () => {
        inFlight++;
        const outcome: PutOutcome =
          inFlight > 20 ? { type: 'error', code: 'overload', message: 'too many' } : { type: 'ok' };
        return new Promise<PutOutcome>((r) =>
          setTimeout(() => {
            inFlight--;
            r(outcome);
          }, 5),
        );
      },
      get: async () => ({ type: 'ok', value: null }),
    }),
  };
  const spec = { op: 'put' as const, warmupMs: 0, timeMs: 300, p99BoundMs: 60_000 };
  const up = await runOpenLoopSweep(limited, [16_000, 40, 8_000], spec);
  assert.deepEqual(
    up.steps.map((s) => s.rateTarget),
    [40, 8_000],
    'sorted, and stopped after the first rate not held',
  );
  assert.deepEqual(
    up.steps.map((s) => s.held),
    [true, false],
  );
  assert.equal(up.maxRateHeld, 40);

  const failing: KvTarget = {
    ...memoryTarget(),
    client: (i) => ({
      memberIndex: i,
      put: async () => ({ type: 'error', code: 'down', message: 'down' }),
      get: async () => ({ type: 'ok', value: null }),
    }),
  };
  const down = await runOpenLoopSweep(failing, [640], { ...spec, timeMs: 100 });
  assert.deepEqual(
    down.steps.map((s) => s.rateTarget),
    [80, 160, 320, 640],
    'three halvings below the lowest rate',
  );
  assert.equal(down.maxRateHeld, null);
});
