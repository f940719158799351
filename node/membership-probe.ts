/**
 * Membership probe: a 3-node cluster under a steady put load grows to 5
 * through the admin API (POST /members, thesis §4.2.1: each new node joins
 * as a learner, catches up, and is promoted). Reports per added node how
 * long it took until it was a voter (the POST's 200) and the put throughput
 * before and while it caught up.
 *
 *   tsx node/membership-probe.ts --clients 16 --warmup 5 --keys 5000
 *
 * Starts 5 real node processes (local-cluster.ts, fsync on), n1-n3 the
 * bootstrap voters and n4, n5 non-members. Clients put to n1-n3 round-robin
 * (a follower forwards to the leader), one request in flight each.
 * Throughput is counted in 250 ms windows of completed puts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool, request } from 'undici';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { LocalCluster } from './local-cluster.ts';

const argv = await yargs(hideBin(process.argv))
  .scriptName('tsx node/membership-probe.ts')
  .usage('$0 [--clients 16] [--warmup 5] [--keys 5000]\n\nGrows a loaded 3-node cluster to 5 and measures it.')
  .option('clients', { type: 'number', default: 16, describe: 'concurrent put clients' })
  .option('warmup', { type: 'number', default: 5, describe: 'seconds of load before the first node is added' })
  .option('keys', { type: 'number', default: 5000, describe: 'distinct keys written (the state a new node receives)' })
  .option('snapshot-every', { type: 'number', default: 2000, describe: "the nodes' --snapshot-every" })
  .option('json', { type: 'boolean', default: false, describe: 'print one JSON line with the results' })
  .check((a) => {
    for (const k of ['clients', 'warmup', 'keys', 'snapshot-every'] as const)
      if (!(Number.isInteger(a[k]) && a[k] >= 1)) throw new Error(`--${k} must be a positive integer`);
    return true;
  })
  .strict()
  .help()
  .parseAsync();

const WINDOW_MS = 250;
const dataDir = mkdtempSync(join(tmpdir(), 'raftlab-membership-'));
const cluster = await LocalCluster.start({
  nodes: 5,
  initialMembers: 3,
  dataDir,
  snapshotEvery: argv['snapshot-every'],
  requestTimeoutMs: 30_000,
});
const bootstrap = ['n1', 'n2', 'n3'];
const pools = bootstrap.map((id) => new Pool(cluster.url(id), { connections: argv.clients }));
/** Completion times (performance.now() ms) of successful puts. */
const completed: number[] = [];
let stopLoad = false;

async function putLoop(c: number): Promise<void> {
  for (let i = 0; !stopLoad; i++) {
    const pool = pools[(c + i) % pools.length] as Pool;
    try {
      const res = await pool.request({
        path: `/kv/k${(c * 7919 + i) % argv.keys}`,
        method: 'PUT',
        body: `{"value":${i}}`,
        headers: { 'content-type': 'application/json' },
        headersTimeout: 2000,
        bodyTimeout: 2000,
      });
      await res.body.dump();
      if (res.statusCode === 200) completed.push(performance.now());
      else await sleep(5);
    } catch {
      await sleep(5);
    }
  }
}

/** Puts per second in each WINDOW_MS window of [fromMs, toMs). */
function windows(fromMs: number, toMs: number): number[] {
  const out: number[] = [];
  for (let t = fromMs; t + WINDOW_MS <= toMs; t += WINDOW_MS) {
    out.push((completed.filter((x) => x >= t && x < t + WINDOW_MS).length * 1000) / WINDOW_MS);
  }
  return out;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : (s[Math.floor((s.length - 1) / 2)] as number);
}

/** POSTs the node, retrying "not yet" answers; resolves with the final answer's time. */
async function addMember(id: string): Promise<{ status: number; doneMs: number }> {
  for (;;) {
    const res = await request(`${cluster.url('n1')}/members`, {
      method: 'POST',
      body: JSON.stringify({ id, url: cluster.url(id) }),
      headers: { 'content-type': 'application/json' },
      headersTimeout: 60_000,
      bodyTimeout: 60_000,
    });
    const body = await res.body.text();
    if (res.statusCode === 409 && body.includes('not-ready')) continue;
    if (res.statusCode === 503 && /no-leader|not-leader/.test(body)) {
      await sleep(50);
      continue;
    }
    if (res.statusCode !== 200) throw new Error(`POST /members ${id}: ${res.statusCode} ${body}`);
    return { status: res.statusCode, doneMs: performance.now() };
  }
}

const loadBefore = loadavg()[0] as number;
const load = Array.from({ length: argv.clients }, (_, c) => putLoop(c));
const out: Record<string, unknown> = { clients: argv.clients, keys: argv.keys, snapshotEvery: argv['snapshot-every'] };
try {
  await sleep(argv.warmup * 1000);
  const added: Record<string, unknown>[] = [];
  for (const id of ['n4', 'n5']) {
    const beforeFrom = performance.now() - 3000;
    const startMs = performance.now();
    const { doneMs } = await addMember(id);
    const during = windows(startMs, Math.max(doneMs, startMs + WINDOW_MS));
    const before = windows(beforeFrom, startMs);
    added.push({
      id,
      toVoterMs: Math.round(doneMs - startMs),
      putsPerSecBefore: Math.round(median(before)),
      putsPerSecWhileJoining: Math.round(median(during)),
      lowestWindowPutsPerSec: Math.round(Math.min(...during)),
    });
    if (!argv.json) console.log(added[added.length - 1]);
    await sleep(3000);
  }
  const status = (await (await request(`${cluster.url('n5')}/status`)).body.json()) as Record<string, unknown>;
  Object.assign(out, { added, n5: { configuration: status.configuration, appliedIndex: status.appliedIndex } });
} finally {
  stopLoad = true;
  await Promise.allSettled(load);
  await Promise.allSettled(pools.map((p) => p.close()));
  await cluster.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
out.loadAverage = [loadBefore, loadavg()[0]].map((x) => Number((x as number).toFixed(2)));
console.log(argv.json ? JSON.stringify(out) : out);
