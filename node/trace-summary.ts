/**
 * Summarizes a latency trace (node/trace.ts) of single-client puts: for each
 * put the leader answered, the time from the leader reading the request to
 * each later step on any node, then percentiles over all puts.
 *
 *   RAFTLAB_TRACE=/tmp/t npm run bench -- --target raftlab --concurrency 1 --ops put --time 5 --rate off
 *   npx tsx node/trace-summary.ts /tmp/t
 *
 * Meant for C=1, where one put's steps do not interleave with another's.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';

const argv = await yargs(hideBin(process.argv))
  .scriptName('tsx node/trace-summary.ts')
  .usage(
    "$0 <prefix>\n\nReads <prefix>-<node>.trace files written by nodes run with RAFTLAB_TRACE=<prefix> and prints where a put's time goes.",
  )
  .demandCommand(1, 'give the RAFTLAB_TRACE prefix the nodes ran with, e.g. /tmp/t')
  .strict()
  .help()
  .parseAsync();

interface TraceLine {
  readonly timeMs: number;
  readonly node: string;
  readonly event: string;
  readonly index: number;
}

const prefix = String(argv._[0]);
const dir = dirname(prefix);
const files = readdirSync(dir).filter((f) => f.startsWith(`${basename(prefix)}-`) && f.endsWith('.trace'));
if (files.length === 0) {
  process.stderr.write(`no ${prefix}-<node>.trace files; run the nodes with RAFTLAB_TRACE=${prefix} first\n`);
  process.exit(2);
}
const events: TraceLine[] = [];
for (const f of files) {
  for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
    const [time, node, event, index] = line.split(' ');
    if (time === undefined || node === undefined || event === undefined) continue;
    events.push({ timeMs: Number(time), node, event, index: Number(index ?? 0) });
  }
}
events.sort((a, b) => a.timeMs - b.timeMs);
const requestsByNode = new Map<string, number>();
for (const e of events)
  if (e.event === 'client-request') requestsByNode.set(e.node, (requestsByNode.get(e.node) ?? 0) + 1);
const leader = [...requestsByNode.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
if (leader === undefined) {
  process.stderr.write('the trace holds no client puts\n');
  process.exit(2);
}

/** Offsets (ms after the leader read the request) per step, one sample per put that reached it. */
const steps = new Map<string, number[]>();
const add = (step: string, ms: number): void => {
  const list = steps.get(step) ?? [];
  list.push(ms);
  steps.set(step, list);
};
let puts = 0;
let leaderDiskLast = 0;
let answeredBeforeOwnDisk = 0;
for (let i = 0; i < events.length; i++) {
  const start = events[i] as TraceLine;
  if (start.node !== leader || start.event !== 'client-request') continue;
  let end = i + 1;
  while (
    end < events.length &&
    !((events[end] as TraceLine).node === leader && (events[end] as TraceLine).event === 'client-response')
  )
    end++;
  if (end >= events.length) break;
  const window = events.slice(i + 1, end + 1);
  const t0 = start.timeMs;
  const first = (pred: (e: TraceLine) => boolean): number | undefined => {
    const e = window.find(pred);
    return e === undefined ? undefined : e.timeMs - t0;
  };
  const leaderStep = (event: string): number | undefined => first((e) => e.node === leader && e.event === event);
  const ownDiskDone = first((e) => e.node === leader && e.event === 'persist-done' && e.index > 0);
  const replies = window.filter((e) => e.node === leader && e.event === 'reply-in').map((e) => e.timeMs - t0);
  const applied = leaderStep('applied');
  puts++;
  const record: [string, number | undefined][] = [
    ['leader: pass (proposal handed to the core)', leaderStep('pass')],
    ['leader: frames written to both followers', leaderStep('frames-sent')],
    ['follower (first): append arrived', first((e) => e.event === 'append-in')],
    [
      'follower (first): persist started',
      first((e) => e.node !== leader && e.event === 'persist-start' && e.index > 0),
    ],
    ['follower (first): persisted', first((e) => e.node !== leader && e.event === 'persist-done' && e.index > 0)],
    ['follower (first): reply written', first((e) => e.node !== leader && e.event === 'reply-sent')],
    ['leader: own persist started', leaderStep('persist-start')],
    ['leader: own fdatasync done', ownDiskDone],
    ['leader: first reply read', replies[0]],
    ['leader: second reply read', replies[1]],
    ['leader: entry applied', applied],
    ['leader: answer written', events[end] === undefined ? undefined : (events[end] as TraceLine).timeMs - t0],
  ];
  for (const [step, ms] of record) if (ms !== undefined) add(step, ms);
  if (ownDiskDone !== undefined && replies[0] !== undefined && ownDiskDone > replies[0]) leaderDiskLast++;
  if (applied !== undefined && (ownDiskDone === undefined || applied < ownDiskDone)) answeredBeforeOwnDisk++;
}

const pct = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
process.stdout.write(`leader ${leader}; ${puts} puts; times in microseconds after the leader read the request\n`);
process.stdout.write(`${'step'.padEnd(46)} ${'p50'.padStart(7)} ${'p90'.padStart(7)} ${'puts'.padStart(6)}\n`);
for (const [step, list] of steps) {
  const sorted = [...list].sort((a, b) => a - b);
  process.stdout.write(
    `${step.padEnd(46)} ${(pct(sorted, 0.5) * 1000).toFixed(0).padStart(7)} ${(pct(sorted, 0.9) * 1000).toFixed(0).padStart(7)} ${String(list.length).padStart(6)}\n`,
  );
}
const share = (n: number): string => `${((100 * n) / Math.max(1, puts)).toFixed(0)}%`;
process.stdout.write(`leader's own fdatasync finished after the first reply: ${share(leaderDiskLast)} of puts\n`);
process.stdout.write(
  `answered before the leader's own fdatasync finished (both followers first): ${share(answeredBeforeOwnDisk)} of puts\n`,
);
