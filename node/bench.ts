/**
 * Node benchmark: a closed loop of C concurrent clients against a fresh
 * 3-node cluster (fsync on, real processes), 64-byte values, printing
 * ops/s and p50/p99 latency per op type and concurrency.
 *
 *   tsx node/bench.ts --concurrency 1,128 --ops put,get --time 5
 *
 * Each client has one request in flight and sends the next as soon as the
 * answer arrives. Requests go to the leader (`--via follower` measures the
 * forwarding path). Reads are linearizable (ReadIndex) unless --stale.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { LocalCluster } from './local-cluster.ts';

type Op = 'put' | 'get' | 'cas';
const OPS: readonly Op[] = ['put', 'get', 'cas'];

const argv = await yargs(hideBin(process.argv))
  .scriptName('tsx node/bench.ts')
  .usage(
    '$0 [--concurrency 1,128] [--ops put,get] [--time 5]\n\nCloses a loop of C clients over a fresh local 3-node cluster and prints throughput and latency.',
  )
  .option('concurrency', { type: 'string', default: '1,128', describe: 'comma-separated client counts' })
  .option('ops', { type: 'string', default: 'put,get', describe: `comma-separated op types (${OPS.join(', ')})` })
  .option('time', { type: 'number', default: 5, describe: 'seconds measured per (op, concurrency)' })
  .option('warmup', { type: 'number', default: 1, describe: 'seconds of unmeasured load before each measurement' })
  .option('nodes', { type: 'number', default: 3, describe: 'cluster size' })
  .option('keys', { type: 'number', default: 1000, describe: 'distinct keys the clients spread over' })
  .option('via', {
    choices: ['leader', 'follower'] as const,
    default: 'leader' as const,
    describe: 'send requests to the leader or to a follower (forwarding)',
  })
  .option('stale', { type: 'boolean', default: false, describe: 'reads with ?stale=true (not linearizable)' })
  .option('json', { type: 'boolean', default: false, describe: 'print one JSON line per result instead of a table' })
  .check((a) => {
    for (const op of a.ops.split(','))
      if (!OPS.includes(op as Op)) throw new Error(`unknown op ${op}; use ${OPS.join(', ')}`);
    for (const c of a.concurrency.split(','))
      if (!(Number.isInteger(Number(c)) && Number(c) >= 1)) throw new Error(`bad concurrency ${c}`);
    if (!(a.time > 0)) throw new Error('--time must be > 0');
    return true;
  })
  .strict()
  .help()
  .parseAsync();

const ops = argv.ops.split(',') as Op[];
const concurrencies = argv.concurrency.split(',').map(Number);
const value64 = 'v'.repeat(64);
const dataDir = mkdtempSync(join(tmpdir(), 'raftlab-node-bench-'));

interface Result {
  op: Op;
  concurrency: number;
  ops: number;
  errors: number;
  seconds: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU (user + system) each node spent per completed op, microseconds: a figure the machine's load barely moves. */
  cpuMicrosPerOp: Record<string, number>;
}

async function cpuMicrosByNode(cluster: LocalCluster): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const id of cluster.ids) {
    const res = await fetch(`${cluster.url(id)}/status`);
    const s = (await res.json()) as { stats: { cpuUserMicros: number; cpuSystemMicros: number } };
    out[id] = s.stats.cpuUserMicros + s.stats.cpuSystemMicros;
  }
  return out;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function findLeader(cluster: LocalCluster): Promise<string> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    for (const id of cluster.ids) {
      try {
        const res = await fetch(`${cluster.url(id)}/status`);
        const s = (await res.json()) as { role: string; id: string };
        if (s.role === 'leader') return s.id;
      } catch {
        // not up yet
      }
    }
    await sleep(100);
  }
  throw new Error('no leader within 30 s');
}

async function run(pool: Pool, op: Op, concurrency: number, seconds: number, record: boolean): Promise<Result> {
  const latencies: number[] = [];
  let errors = 0;
  let done = 0;
  const endAt = performance.now() + seconds * 1000;
  let seq = 0;
  const worker = async (w: number): Promise<void> => {
    while (performance.now() < endAt) {
      const key = `k${(w * 7919 + seq++) % argv.keys}`;
      const started = performance.now();
      try {
        let res: Awaited<ReturnType<Pool['request']>>;
        switch (op) {
          case 'put':
            res = await pool.request({
              path: `/kv/${key}`,
              method: 'PUT',
              body: `{"value":"${value64}"}`,
              headers: { 'content-type': 'application/json' },
            });
            break;
          case 'get':
            res = await pool.request({ path: `/kv/${key}${argv.stale ? '?stale=true' : ''}`, method: 'GET' });
            break;
          case 'cas':
            res = await pool.request({
              path: `/kv/${key}/cas`,
              method: 'POST',
              body: `{"expected":"${value64}","value":"${value64}"}`,
              headers: { 'content-type': 'application/json' },
            });
            break;
        }
        await res.body.dump();
        // A cas on a key never written answers 409: a valid, complete operation.
        if (res.statusCode === 200 || (op === 'cas' && res.statusCode === 409)) {
          done++;
          if (record) latencies.push(performance.now() - started);
        } else {
          errors++;
        }
      } catch {
        errors++;
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  const elapsed = (performance.now() - t0) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  return {
    op,
    concurrency,
    ops: done,
    errors,
    seconds: elapsed,
    opsPerSec: done / elapsed,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    cpuMicrosPerOp: {},
  };
}

let cluster: LocalCluster | undefined;
const cleanup = async (): Promise<void> => {
  await cluster?.stop();
  rmSync(dataDir, { recursive: true, force: true });
};
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

try {
  process.stderr.write(`starting a ${argv.nodes}-node cluster in ${dataDir}\n`);
  cluster = await LocalCluster.start({ nodes: argv.nodes, dataDir });
  const leader = await findLeader(cluster);
  const target = argv.via === 'leader' ? leader : (cluster.ids.find((id) => id !== leader) as string);
  process.stderr.write(`leader ${leader}; sending to ${target} (${argv.via})\n`);
  // Make sure every key exists so reads and cas hit real values.
  const pool = new Pool(cluster.url(target), { connections: Math.max(...concurrencies), pipelining: 1 });
  await run(pool, 'put', 32, 0, false);
  for (let k = 0; k < argv.keys; k += 1) {
    const r = await pool.request({
      path: `/kv/k${k}`,
      method: 'PUT',
      body: `{"value":"${value64}"}`,
      headers: { 'content-type': 'application/json' },
    });
    await r.body.dump();
  }
  if (!argv.json)
    process.stdout.write(
      `${'op'.padEnd(5)} ${'C'.padStart(5)} ${'ops/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'errors'.padStart(7)}  node CPU us/op\n`,
    );
  for (const op of ops) {
    for (const c of concurrencies) {
      if (argv.warmup > 0) await run(pool, op, c, argv.warmup, false);
      const cpuBefore = await cpuMicrosByNode(cluster);
      const r = await run(pool, op, c, argv.time, true);
      const cpuAfter = await cpuMicrosByNode(cluster);
      for (const id of cluster.ids)
        r.cpuMicrosPerOp[id === leader ? `${id}(leader)` : id] = Math.round(
          ((cpuAfter[id] ?? 0) - (cpuBefore[id] ?? 0)) / Math.max(1, r.ops),
        );
      if (argv.json) process.stdout.write(`${JSON.stringify(r)}\n`);
      else {
        process.stdout.write(
          `${r.op.padEnd(5)} ${String(r.concurrency).padStart(5)} ${r.opsPerSec.toFixed(0).padStart(9)} ${r.p50Ms.toFixed(3).padStart(8)} ${r.p99Ms.toFixed(3).padStart(8)} ${String(r.errors).padStart(7)}  ${Object.entries(
            r.cpuMicrosPerOp,
          )
            .map(([id, us]) => `${id} ${us}`)
            .join(', ')}\n`,
        );
      }
    }
  }
  await pool.close();
} finally {
  await cleanup();
}
