/**
 * `npx tsx harness/cli/member-join.ts [--preload-mb 8] [--concurrency 16]`: what adding members to a loaded cluster
 * costs. Starts 5 raftlab nodes of which 3 form the configuration (no proxies), fills the log with `--preload-mb` of
 * values, runs closed-loop writers against the members, and then adds the 4th and the 5th node one after the other
 * (thesis §4.2.1: each joins as a learner, catches up, and is promoted). For each addition it prints the time from the
 * request to a committed configuration in which the node votes, and the writers' throughput before, during and
 * after, in 250 ms buckets (the dip while the learner catches up). `--json` prints the measurement as JSON.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { exitBrokenOnCrash, failUsage } from '../../lib/cli.ts';
import { sleep } from '../../lib/time.ts';
import { RaftlabClient } from '../../workloads/client.ts';
import { MembershipChanger } from '../nemesis/membership.ts';
import { RaftlabSystem } from '../systems/raftlab.ts';

exitBrokenOnCrash('member-join');

const argv = await yargs(hideBin(process.argv))
  .scriptName('npx tsx harness/cli/member-join.ts')
  .option('preload-mb', { type: 'number', default: 8, describe: 'values written before the load starts (MB)' })
  .option('concurrency', { type: 'number', default: 16, describe: 'closed-loop writers' })
  .option('baseline-s', { type: 'number', default: 5, describe: 'load before the first addition (s)' })
  .option('settle-s', { type: 'number', default: 5, describe: 'load after each addition (s)' })
  .option('json', { type: 'boolean', default: false })
  .check((a) => {
    if (!(a['preload-mb'] >= 0 && a.concurrency >= 1 && a['baseline-s'] > 0 && a['settle-s'] > 0))
      throw new Error('--preload-mb >= 0, --concurrency >= 1, --baseline-s and --settle-s > 0');
    return true;
  })
  .strict()
  .fail(failUsage('member-join'))
  .help()
  .parseAsync();

const BUCKET_MS = 250;
const runDir = mkdtempSync(join(tmpdir(), 'raftlab-member-join-'));
const system = new RaftlabSystem({ nodes: 5, initialMembers: ['n1', 'n2', 'n3'], runDir, mode: 'direct' });
/** The members' URLs are known once the system started. */
let client: RaftlabClient | undefined;

const note = (text: string): void => {
  process.stderr.write(`[member-join] ${text}\n`);
};

/** Acknowledged writes per bucket since `t0`. */
const buckets: number[] = [];
let t0 = 0;
let loading = true;
let sessionSeq = 0;

async function writer(client: RaftlabClient, index: number): Promise<void> {
  let i = 0;
  while (loading) {
    const members = system.members();
    const node = members[(index + i++) % members.length] as string;
    const answer = await client.invoke({ f: 'write', key: `k${(index * 7 + i) % 64}`, value: i }, node, {
      client: `w${index}`,
      seq: ++sessionSeq,
    });
    if (answer.type === 'ok') {
      const bucket = Math.floor((performance.now() - t0) / BUCKET_MS);
      buckets[bucket] = (buckets[bucket] ?? 0) + 1;
    } else await sleep(20);
  }
}

/** Writes `mb` megabytes of 16 KiB values, so a joining node has a long log (or a large snapshot) to catch up on. */
async function preload(client: RaftlabClient, mb: number): Promise<void> {
  const value = 'x'.repeat(16 * 1024);
  const count = Math.ceil((mb * 1024 * 1024) / value.length);
  let next = 0;
  let failures = 0;
  await Promise.all(
    Array.from({ length: 8 }, async (_, w) => {
      for (let seq = 1; next < count; seq++) {
        const n = next++;
        // Each value is written until acknowledged (a new session seq each time: a lost write is only a lost fill).
        for (let attempt = 0; ; attempt++, seq++) {
          const node = system.members()[(n + attempt) % 3] as string;
          const session = { client: `fill${w}`, seq };
          const answer = await client.invoke({ f: 'write', key: `fill${n}`, value }, node, session);
          if (answer.type === 'ok') break;
          if (++failures % 50 === 1) note(`preload write to ${node}: ${answer.type} ${answer.error}`);
          await sleep(50);
        }
      }
    }),
  );
}

/** Writes per second over buckets [from, to). */
function rate(from: number, to: number): number {
  let sum = 0;
  for (let b = Math.max(0, from); b < to; b++) sum += buckets[b] ?? 0;
  return to > from ? (sum * 1000) / ((to - from) * BUCKET_MS) : 0;
}

/** The slowest bucket in [from, to), as writes per second. */
function lowest(from: number, to: number): number {
  let min = Number.POSITIVE_INFINITY;
  for (let b = Math.max(0, from); b < to; b++) min = Math.min(min, ((buckets[b] ?? 0) * 1000) / BUCKET_MS);
  return Number.isFinite(min) ? min : 0;
}

const bucketAt = (ms: number): number => Math.floor((ms - t0) / BUCKET_MS);

try {
  await system.start();
  const started = new RaftlabClient({ urls: system.clientUrls(), timeoutMs: 2000 });
  client = started;
  await system.waitForLeader(60_000);
  note(`3 voters up; writing ${argv['preload-mb']} MB`);
  await preload(started, argv['preload-mb']);
  note('preloaded; starting the writers');
  const changer = new MembershipChanger(system.membership, system);
  t0 = performance.now();
  const writers = Array.from({ length: argv.concurrency }, (_, i) => writer(started, i));
  await sleep(argv['baseline-s'] * 1000);
  const additions: Record<string, unknown>[] = [];
  for (const id of ['n4', 'n5']) {
    const votersBefore = system.members().length;
    const before = bucketAt(performance.now());
    const asked = performance.now();
    note(`adding ${id}`);
    const result = await changer.add(id, 120_000);
    note(`${id}: ${result.detail}`);
    const voterAfterMs = performance.now() - asked;
    const during = bucketAt(performance.now());
    await sleep(argv['settle-s'] * 1000);
    const after = bucketAt(performance.now());
    const baseline = Math.round(argv['baseline-s'] * (1000 / BUCKET_MS));
    additions.push({
      node: id,
      votersBefore,
      ok: result.ok,
      detail: result.detail,
      voterAfterMs: Math.round(voterAfterMs),
      writesPerSecBefore: Math.round(rate(before - baseline, before)),
      writesPerSecWhileJoining: Math.round(rate(before, Math.max(during, before + 1))),
      slowestBucketWhileJoining: Math.round(lowest(before, Math.max(during, before + 1))),
      writesPerSecAfter: Math.round(rate(during, after)),
    });
  }
  loading = false;
  await Promise.all(writers);
  const summary = { preloadMb: argv['preload-mb'], concurrency: argv.concurrency, bucketMs: BUCKET_MS, additions };
  if (argv.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  else {
    for (const a of additions) {
      process.stdout.write(
        `${a.node} (${a.votersBefore} -> ${Number(a.votersBefore) + 1} voters): voter after ${a.voterAfterMs} ms (${a.ok ? 'ok' : 'FAILED'}: ${a.detail}); writes/s before ${a.writesPerSecBefore}, while joining ${a.writesPerSecWhileJoining} (slowest ${BUCKET_MS} ms bucket ${a.slowestBucketWhileJoining}/s), after ${a.writesPerSecAfter}\n`,
      );
    }
  }
  process.exitCode = additions.every((a) => a.ok === true) ? 0 : 1;
} finally {
  loading = false;
  await client?.close();
  await system.stop();
  rmSync(runDir, { recursive: true, force: true });
}
