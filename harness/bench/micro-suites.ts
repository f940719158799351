/**
 * Micro-benchmarks (tinybench) of the parts the node's speed rests on:
 * WAL append + fdatasync (group commit) and the pure Raft core stepping a
 * batch of proposals. The checker and the proxy hop have their own bench
 * scripts in their areas; `npm run bench -- checker|toxiproxy` runs those.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bench } from 'tinybench';
import type { Entry } from '../../node/raft/types.ts';
import { TestNetwork } from '../../node/raft/testing/network.ts';
import { WriteAheadLog } from '../../node/storage/wal.ts';
import type { MicroResult } from '../../reports/bench-schema.ts';

/** Micro suites this file runs in-process. */
export type MicroSuite = 'wal' | 'raft';

/** Every in-process suite. */
export const MICRO_SUITES: readonly MicroSuite[] = ['wal', 'raft'];

/** Options of a micro run. */
export type MicroOptions = { timeMs?: number; warmupMs?: number };

/** Turns tinybench's finished tasks into result rows. */
export function microResults(bench: Bench, suite: string, notes: Record<string, string> = {}): MicroResult[] {
  return bench.tasks.flatMap((task) => {
    const r = task.result;
    if (r.state !== 'completed') return [];
    return [
      {
        suite,
        name: task.name,
        // Not tinybench's throughput.mean: that averages 1/latency per sample, which rare slow
        // samples (GC, fsync stalls) barely move. Ops per second of wall time is 1 / mean latency.
        opsPerSec: r.latency.mean > 0 ? Math.round((1000 / r.latency.mean) * 10) / 10 : 0,
        meanMs: Math.round(r.latency.mean * 1e4) / 1e4,
        p50Ms: Math.round(r.latency.p50 * 1e4) / 1e4,
        p99Ms: Math.round(r.latency.p99 * 1e4) / 1e4,
        samples: r.latency.samplesCount,
        ...(notes[task.name] === undefined ? {} : { note: notes[task.name] }),
      },
    ];
  });
}

function entries(fromIndex: number, count: number, valueBytes: number): Entry[] {
  const data = JSON.stringify({ op: 'put', key: 'bench/k0001', value: 'x'.repeat(valueBytes) });
  return Array.from({ length: count }, (_, i) => ({ index: fromIndex + i, term: 1, kind: 'normal' as const, data }));
}

/** WAL: one durable batch (one write + one fdatasync) of 1, 16 and 128 entries. */
async function walSuite(options: MicroOptions): Promise<MicroResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-micro-wal-'));
  try {
    const { wal } = WriteAheadLog.open(dir);
    let nextIndex = 1;
    const bench = new Bench({ name: 'wal', time: options.timeMs ?? 1000, warmupTime: options.warmupMs ?? 200 });
    const notes: Record<string, string> = {};
    for (const batch of [1, 16, 128]) {
      const name = `append ${batch} + fdatasync`;
      notes[name] = `${batch} entries of a 64-byte put, one write and one fdatasync`;
      bench.add(name, async () => {
        wal.appendEntries(entries(nextIndex, batch, 64));
        nextIndex += batch;
        await wal.flush(true);
      });
    }
    await bench.run();
    wal.close();
    return microResults(bench, 'wal', notes);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs the chosen in-process suites. */
export async function runMicro(suites: readonly MicroSuite[], options: MicroOptions = {}): Promise<MicroResult[]> {
  const results: MicroResult[] = [];
  for (const suite of suites) {
    switch (suite) {
      case 'wal':
        results.push(...(await walSuite(options)));
        break;
      case 'raft':
        results.push(...(await raftSuite(options)));
        break;
      default: {
        const never: never = suite;
        throw new Error(`unknown micro suite ${String(never)}`);
      }
    }
  }
  return results;
}

/**
 * Raft core: a 3-node in-memory cluster (node/raft/testing's TestNetwork,
 * which handles each Ready in the contract's order) commits and applies a
 * batch of proposals on every node. Measures the core's stepping cost alone:
 * no disk, no network, no HTTP.
 */
async function raftSuite(options: MicroOptions): Promise<MicroResult[]> {
  const bench = new Bench({ name: 'raft', time: options.timeMs ?? 1000, warmupTime: options.warmupMs ?? 200 });
  const notes: Record<string, string> = {};
  const payload = JSON.stringify({ op: 'put', key: 'bench/k0001', value: 'x'.repeat(64) });
  for (const batch of [1, 64]) {
    const network = new TestNetwork(['n1', 'n2', 'n3'], { seed: 7 });
    const leader = network.electLeader();
    const proposals = Array.from({ length: batch }, () => payload);
    let rounds = 0;
    const name = `commit ${batch} proposal${batch === 1 ? '' : 's'} on 3 nodes`;
    notes[name] = `proposeBatch(${batch}) on the leader, then every Ready and message until all 3 applied`;
    bench.add(name, () => {
      const result = network.node(leader).proposeBatch(proposals);
      if (!result.ok) throw new Error(`proposal refused: ${JSON.stringify(result)}`);
      network.settle();
      // Keep memory flat over millions of entries: compact and forget what the harness recorded.
      if (++rounds % 256 === 0) {
        for (const id of network.ids) {
          network.compact(id);
          network.applied.get(id)!.length = 0;
        }
        network.sent.length = 0;
      }
    });
  }
  await bench.run();
  return microResults(bench, 'raft', notes);
}
