/** A hand-made bench run for tests (numbers chosen so ratios are easy to check). */
import type { BenchRun, ClosedLoopResult } from './bench-schema.ts';

function cell(
  target: string,
  op: 'put' | 'get',
  concurrency: number,
  opsPerSec: number,
  p50Ms: number,
): ClosedLoopResult {
  const latency = {
    count: 10,
    minMs: p50Ms / 2,
    meanMs: p50Ms,
    p50Ms,
    p90Ms: p50Ms * 2,
    p99Ms: p50Ms * 3,
    p999Ms: p50Ms * 4,
    maxMs: p50Ms * 5,
  };
  return {
    target,
    op,
    concurrency,
    warmupSec: 1,
    durationSec: 2,
    opsStarted: 10,
    opsCompleted: 10,
    ok: 10,
    errors: 0,
    errorsByCode: {},
    opsPerSec,
    latency,
    intervalSec: 0.5,
    timeline: [0, 0.5, 1, 1.5].map((tSec, i) => ({
      tSec,
      ok: 5,
      errors: 0,
      p50Ms: p50Ms + i * 0.1,
      p99Ms: p50Ms * 3 + i * 0.1,
      maxMs: p50Ms * 5,
    })),
  };
}

/** A small hand-made run with two targets and a compared run, for tests of the printers and the report. */
export function sampleBenchRun(): BenchRun {
  return {
    schema: 'raftlab-bench/1',
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:01:00.000Z',
    options: {
      targets: ['raftlab', 'etcd'],
      concurrency: [1, 8],
      ops: ['put', 'get'],
      timeSec: 2,
      warmupSec: 1,
      rates: 'auto',
      openLoopOp: 'put',
      p99BoundMs: 25,
      via: 'spread',
      keys: 100,
      valueBytes: 64,
    },
    machine: {
      cores: 2,
      cpuModel: 'test cpu',
      totalMemBytes: 2 ** 33,
      platform: 'linux',
      loadavgStart: [1, 1, 1],
      loadavgEnd: [1.5, 1, 1],
    },
    versions: { node: 'v20', raftlab: '0.1.0', etcd: '3.4.23' },
    targets: [
      { kind: 'raftlab', memberUrls: ['http://127.0.0.1:1'] },
      { kind: 'etcd', memberUrls: ['http://127.0.0.1:2'], version: '3.4.23' },
    ],
    closedLoop: [
      cell('raftlab', 'put', 1, 2000, 0.5),
      cell('etcd', 'put', 1, 1000, 1),
      cell('raftlab', 'put', 8, 6000, 1.2),
      cell('etcd', 'put', 8, 4000, 2),
    ],
    openLoop: ['raftlab', 'etcd'].map((target, t) => {
      const steps = [500, 1000, 2000].map((rateTarget, i) => {
        const p50Ms = (t + 1) * (i + 1);
        const latency = {
          count: 100,
          minMs: p50Ms / 2,
          meanMs: p50Ms,
          p50Ms,
          p90Ms: p50Ms * 2,
          p99Ms: p50Ms * 10,
          p999Ms: p50Ms * 11,
          maxMs: p50Ms * 12,
        };
        const held = latency.p99Ms <= 25;
        return {
          target,
          op: 'put' as const,
          rateTarget,
          durationSec: 2,
          opsScheduled: rateTarget * 2,
          ok: rateTarget * 2,
          errors: 0,
          dropped: 0,
          achievedOpsPerSec: rateTarget,
          latency,
          held,
        };
      });
      const held = steps.filter((s) => s.held).map((s) => s.rateTarget);
      return {
        target,
        op: 'put' as const,
        p99BoundMs: 25,
        steps,
        maxRateHeld: held.length > 0 ? Math.max(...held) : null,
      };
    }),
    micro: [
      {
        suite: 'wal',
        name: 'append 1 + fdatasync',
        opsPerSec: 1000,
        meanMs: 1,
        p50Ms: 0.9,
        p99Ms: 3,
        samples: 1000,
        note: 'one entry',
      },
    ],
    compare: {
      runDir: 'store/bench/old',
      startedAt: '2025-12-31T00:00:00.000Z',
      closedLoop: [{ ...cell('raftlab', 'put', 8, 4000, 1.2) }].map(({ timeline: _t, ...rest }) => rest),
      openLoop: [],
    },
  };
}
