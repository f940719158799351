/**
 * Failover probe: how long a 3-node cluster under a steady put load is
 * unavailable after kill -9 of its leader, and how many elections a
 * fault-free load causes.
 *
 *   tsx node/failover-probe.ts --rounds 5                    # failover, median of 5
 *   tsx node/failover-probe.ts --steady 60 --clients 128     # elections during 60 s of load, no faults
 *
 * Starts the nodes as real processes (local-cluster.ts, fsync on). Clients
 * send puts round-robin to every node (a follower forwards to the leader)
 * with a 300 ms timeout each, one in flight per client. Failover of one
 * round = from the SIGKILL of the leader to the answer of the first
 * successful put that was SENT after the kill; the killed node is then
 * restarted and given time to catch up before the next round. Elections are
 * counted from the nodes' `elected` log lines, terms from /status.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { NODE_DEFAULTS } from './config.ts';
import { LocalCluster } from './local-cluster.ts';

const argv = await yargs(hideBin(process.argv))
  .scriptName('tsx node/failover-probe.ts')
  .usage('$0 [--rounds 5] [--steady SECONDS] [--clients 8]\n\nMeasures failover after kill -9 of the leader.')
  .option('rounds', { type: 'number', default: 5, describe: 'leader kills (failover mode)' })
  .option('steady', { type: 'number', default: 0, describe: 'instead: seconds of fault-free load, counting elections' })
  .option('clients', { type: 'number', default: 8, describe: 'concurrent put clients' })
  .option('timeout-ms', { type: 'number', default: 300, describe: 'client timeout per put' })
  .option('election-timeout-ms', { type: 'number', default: NODE_DEFAULTS.electionTimeoutMs })
  .option('heartbeat-ms', { type: 'number', default: NODE_DEFAULTS.heartbeatMs })
  .option('json', { type: 'boolean', default: false, describe: 'print one JSON line with the results' })
  .check((a) => {
    if (!(Number.isInteger(a.rounds) && a.rounds >= 1)) throw new Error('--rounds must be a positive integer');
    if (!(Number.isInteger(a.clients) && a.clients >= 1)) throw new Error('--clients must be a positive integer');
    if (!(a['timeout-ms'] > 0)) throw new Error('--timeout-ms must be > 0');
    return true;
  })
  .strict()
  .help()
  .parseAsync();

interface PutRecord {
  readonly sentMs: number;
  readonly doneMs: number;
  readonly ok: boolean;
}

const dataDir = mkdtempSync(join(tmpdir(), 'raftlab-failover-'));
let elections = 0;
const cluster = await LocalCluster.start({
  nodes: 3,
  dataDir,
  electionTimeoutMs: argv['election-timeout-ms'],
  heartbeatMs: argv['heartbeat-ms'],
  onLine: (_id, line) => {
    if (line.includes('"event":"elected"')) elections++;
  },
});
const pools = new Map(cluster.ids.map((id) => [id, new Pool(cluster.url(id), { connections: argv.clients })]));
const records: PutRecord[] = [];
let stopLoad = false;

async function client(c: number): Promise<void> {
  for (let i = 0; !stopLoad; i++) {
    const id = cluster.ids[(c + i) % cluster.ids.length] as string;
    const pool = pools.get(id) as Pool;
    const sentMs = performance.now();
    let ok = false;
    try {
      const res = await pool.request({
        path: `/kv/c${c}-${i % 100}`,
        method: 'PUT',
        body: `{"value":${i}}`,
        headers: { 'content-type': 'application/json' },
        headersTimeout: argv['timeout-ms'],
        bodyTimeout: argv['timeout-ms'],
        signal: AbortSignal.timeout(argv['timeout-ms']),
      });
      await res.body.dump();
      ok = res.statusCode === 200;
    } catch {
      // refused (the killed node), timed out, reset: not a success
    }
    records.push({ sentMs, doneMs: performance.now(), ok });
    // A failed put to a dead node returns at once; do not spin on it.
    if (!ok) await sleep(1);
  }
}

async function statusOf(id: string): Promise<{ role: string; term: number } | null> {
  try {
    const res = await fetch(`${cluster.url(id)}/status`, { signal: AbortSignal.timeout(1000) });
    return (await res.json()) as { role: string; term: number };
  } catch {
    return null;
  }
}

async function leader(): Promise<string> {
  for (let attempt = 0; attempt < 300; attempt++) {
    for (const id of cluster.ids) if ((await statusOf(id))?.role === 'leader') return id;
    await sleep(100);
  }
  throw new Error('no leader within 30 s');
}

async function maxTerm(): Promise<number> {
  let term = 0;
  for (const id of cluster.ids) term = Math.max(term, (await statusOf(id))?.term ?? 0);
  return term;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1
    ? (s[(s.length - 1) / 2] as number)
    : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
}

const load = Array.from({ length: argv.clients }, (_, c) => client(c));
const loadBefore = loadavg()[0] as number;
const out: Record<string, unknown> = {
  electionTimeoutMs: argv['election-timeout-ms'],
  heartbeatMs: argv['heartbeat-ms'],
  clients: argv.clients,
  timeoutMs: argv['timeout-ms'],
};
try {
  await leader();
  await sleep(2000);
  if (argv.steady > 0) {
    const termBefore = await maxTerm();
    const electionsBefore = elections;
    const from = records.length;
    await sleep(argv.steady * 1000);
    const window = records.slice(from);
    Object.assign(out, {
      mode: 'steady',
      seconds: argv.steady,
      puts: window.filter((r) => r.ok).length,
      failedPuts: window.filter((r) => !r.ok).length,
      elections: elections - electionsBefore,
      termChanges: (await maxTerm()) - termBefore,
    });
  } else {
    const failoverMs: number[] = [];
    for (let round = 0; round < argv.rounds; round++) {
      const victim = await leader();
      const killedAt = performance.now();
      const kill = cluster.kill(victim);
      let first: PutRecord | undefined;
      while (first === undefined && performance.now() - killedAt < 30_000) {
        await sleep(5);
        first = records.find((r) => r.ok && r.sentMs >= killedAt);
      }
      await kill;
      if (first === undefined) throw new Error(`round ${round + 1}: no successful put within 30 s of the kill`);
      failoverMs.push(first.doneMs - killedAt);
      if (!argv.json)
        console.log(`round ${round + 1}: killed ${victim}, failover ${(first.doneMs - killedAt).toFixed(0)} ms`);
      await cluster.startNode(victim);
      await sleep(3000);
      records.splice(0, records.length);
    }
    Object.assign(out, {
      mode: 'failover',
      failoverMs: failoverMs.map((x) => Math.round(x)),
      medianMs: Math.round(median(failoverMs)),
      elections,
    });
  }
} finally {
  stopLoad = true;
  await Promise.allSettled(load);
  await Promise.allSettled([...pools.values()].map((p) => p.close()));
  await cluster.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
out.loadAverage = [loadBefore, loadavg()[0]].map((x) => Number((x as number).toFixed(2)));
console.log(argv.json ? JSON.stringify(out) : out);
