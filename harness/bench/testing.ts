/** Assertions shared by the bench tests. */
import assert from 'node:assert/strict';
import type { ClosedLoopResult, LatencySummary } from '../../reports/bench-schema.ts';

/** min <= p50 <= p90 <= p99 <= p99.9 <= max. */
export function assertOrdered(l: LatencySummary): void {
  const chain = [l.minMs, l.p50Ms, l.p90Ms, l.p99Ms, l.p999Ms, l.maxMs];
  for (let i = 1; i < chain.length; i++)
    assert.ok((chain[i - 1] ?? 0) <= (chain[i] ?? 0), `percentiles ordered: ${chain.join(' <= ')}`);
}

/** The consistency every closed-loop result must have; shared with the real-cluster test. */
export function assertConsistent(r: ClosedLoopResult): void {
  assert.equal(r.opsCompleted, r.opsStarted, 'every op started in the window completed');
  assert.equal(r.ok + r.errors, r.opsCompleted);
  assert.equal(r.latency.count, r.ok, 'one latency sample per successful op');
  assert.equal(
    r.timeline.reduce((s, p) => s + p.ok, 0),
    r.ok,
    'timeline ok sums to ok',
  );
  assert.equal(
    r.timeline.reduce((s, p) => s + p.errors, 0),
    r.errors,
    'timeline errors sum to errors',
  );
  assert.equal(
    Object.values(r.errorsByCode).reduce((s, n) => s + n, 0),
    r.errors,
    'errors by code sum to errors',
  );
  assert.ok(Math.abs(r.opsPerSec - r.ok / r.durationSec) < 0.1, 'ops/s is ok ops over the window');
  assertOrdered(r.latency);
  for (const p of r.timeline) assert.ok(p.p50Ms <= p.p99Ms && p.p99Ms <= p.maxMs);
}
