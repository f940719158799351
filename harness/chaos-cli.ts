/**
 * `npm run chaos`: one chaos run with a verdict and a report (see
 * harness/README.md). Exit codes: 0 linearizable, 1 illegal, 2 unknown,
 * 3 the run broke, 4 linearizable but no recovery after the heal.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { check } from '../checker/check.ts';
import { randomSeed } from '../workloads/random.ts';
import { workloadNames, type WorkloadName } from '../workloads/generator.ts';
import { runChaos, type ChaosProgress } from './chaos.ts';
import { explicitNemesisKinds, nemesisKinds, parseNemesisKinds } from './nemesis.ts';

const argv = await yargs(hideBin(process.argv))
  .scriptName('npm run chaos --')
  .usage(
    '$0 [options]\n\nStarts a Raft KV cluster as real processes with Toxiproxy between every pair, runs concurrent clients while a seeded nemesis injects faults, checks the history for linearizability and writes store/<name>/<stamp>/report.html.\n\nExit codes: 0 linearizable, 1 not linearizable, 2 checker undecided, 3 the run broke, 4 linearizable but the cluster did not recover after the final heal.',
  )
  .option('nodes', { type: 'number', default: 3, describe: 'cluster size (3, 5 or 7)' })
  .option('time', { type: 'number', default: 30, describe: 'seconds of workload (faults included); the heal, final reads and check come after' })
  .option('nemesis', {
    type: 'string',
    default: 'kill,pause,partition,latency',
    describe: `comma-separated faults to draw from: ${nemesisKinds.join(', ')}; "all" (those six) or "none"; also ${explicitNemesisKinds.join(', ')} (SIGKILL a majority at once)`,
  })
  .option('interval', { type: 'number', default: 5, describe: 'seconds between faults and how long each lasts (quiet, fault, quiet, fault, ...)' })
  .option('workload', { type: 'string', choices: workloadNames, default: 'cas-register', describe: 'register (one key), multi-register (read/write on --keys keys), cas-register (read/write/cas on --keys keys)' })
  .option('keys', { type: 'number', default: 8, describe: 'number of keys (multi-register, cas-register)' })
  .option('concurrency', { type: 'number', default: 10, describe: 'logical client processes, each with one op in flight' })
  .option('rate', { type: 'number', describe: 'target ops/s across all clients (open loop); default: closed loop, as fast as answers come' })
  .option('seed', { type: 'number', describe: 'seed of every random choice (fault schedule, targets, ops); printed at start; reuse it to replay the same schedule' })
  .option('toxiproxy', { type: 'string', describe: 'URL of a running Toxiproxy (e.g. http://127.0.0.1:8474 from docker-compose.toxiproxy.yml); default: start the embedded one' })
  .option('store', { type: 'string', default: 'store', describe: 'directory of run folders; store/latest points to the newest run' })
  .option('timeout-ms', { type: 'number', default: 1000, describe: 'per-request client timeout; a timed-out write is recorded as info (unknown)' })
  .option('name', { type: 'string', describe: 'run name (folder under --store); default <workload>-<nemesis>' })
  .option('recovery-ms', { type: 'number', default: 30_000, describe: 'after the final heal, how long the cluster may take to serve a read of every key' })
  .option('retry', { type: 'number', default: 0, describe: 'retry a write whose outcome is unknown up to N times with the same session seq (the retrying client) before recording it as info' })
  .option('read-mode', { type: 'string', choices: ['index', 'lease'], describe: 'nodes\' read mode (--read-mode of node/main.ts); default: the node\'s default (ReadIndex)' })
  .option('bug', { type: 'string', describe: 'run the nodes with a planted bug (node --bug NAME, see node/bugs.ts); for proving the suite catches it' })
  .option('check-budget-ms', { type: 'number', default: 60_000, describe: 'checker time budget per key; exceeding it gives "unknown" (exit 2), never a false pass' })
  .check((a) => {
    // Fewer than 3 nodes leave no majority to survive a fault.
    if (!(Number.isInteger(a.nodes) && a.nodes >= 3 && a.nodes <= 9)) {
      throw new Error('--nodes must be an integer from 3 to 9 (usually 3, 5 or 7)');
    }
    if (!(a.time > 0)) throw new Error('--time must be > 0 seconds');
    if (!(a.interval > 0)) throw new Error('--interval must be > 0 seconds');
    if (!(Number.isInteger(a.keys) && a.keys >= 1)) throw new Error('--keys must be a positive integer');
    if (!(Number.isInteger(a.concurrency) && a.concurrency >= 1)) throw new Error('--concurrency must be a positive integer');
    if (a.rate !== undefined && !(a.rate > 0)) throw new Error('--rate must be > 0 ops/s');
    if (!(a['timeout-ms'] > 0)) throw new Error('--timeout-ms must be > 0');
    if (a.seed !== undefined && !Number.isSafeInteger(a.seed)) throw new Error('--seed must be an integer');
    if (!(Number.isInteger(a.retry) && a.retry >= 0)) throw new Error('--retry must be an integer >= 0');
    parseNemesisKinds(a.nemesis);
    return true;
  })
  .strict()
  .help()
  .parseAsync();

const seed = argv.seed ?? randomSeed();
const nemesis = parseNemesisKinds(argv.nemesis);
const command = [
  'npm run chaos --',
  `--nodes ${argv.nodes}`,
  `--time ${argv.time}`,
  `--nemesis ${nemesis.join(',') || 'none'}`,
  `--interval ${argv.interval}`,
  `--workload ${argv.workload}`,
  `--keys ${argv.keys}`,
  `--concurrency ${argv.concurrency}`,
  ...(argv.rate !== undefined ? [`--rate ${argv.rate}`] : []),
  `--timeout-ms ${argv['timeout-ms']}`,
  ...(argv.retry > 0 ? [`--retry ${argv.retry}`] : []),
  ...(argv['read-mode'] !== undefined ? [`--read-mode ${argv['read-mode']}`] : []),
  ...(argv.bug !== undefined ? [`--bug ${argv.bug}`] : []),
  `--seed ${seed}`,
].join(' ');

const tty = process.stdout.isTTY === true;
let progressShown = false;
const clearProgress = (): void => {
  if (tty && progressShown) process.stdout.write('\r\x1b[2K');
  progressShown = false;
};
const show = (progress: ChaosProgress): void => {
  switch (progress.phase) {
    case 'workload': {
      if (!tty) return;
      const line = `${progress.elapsedS.toFixed(0).padStart(4)}/${progress.totalS}s  ok ${progress.ok}  fail ${progress.fail}  info ${progress.info}  leader ${progress.leader ?? '?'}  ${progress.fault !== undefined ? `fault: ${progress.fault}` : 'no fault'}`;
      process.stdout.write(`\r\x1b[2K${line.slice(0, (process.stdout.columns ?? 120) - 1)}`);
      progressShown = true;
      return;
    }
    case 'setup':
    case 'heal':
    case 'check':
    case 'report':
      clearProgress();
      console.log(`[${progress.phase}] ${progress.message}`);
      return;
    default: {
      const unreachable: never = progress;
      throw new Error(`unknown progress ${JSON.stringify(unreachable)}`);
    }
  }
};

console.log(`seed ${seed} (replay: ${command})`);
const abort = new AbortController();
// First Ctrl-C: stop the workload and every process, still write what we have (verdict broken, exit 3).
// A second Ctrl-C exits at once; the cluster's reaper still takes every child down.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (abort.signal.aborted) process.exit(130);
    clearProgress();
    console.log(`${signal}: stopping the workload and the cluster, then writing the run directory (again to quit now)`);
    abort.abort();
  });
}
const outcome = await runChaos(
  {
    nodes: argv.nodes,
    timeS: argv.time,
    nemesis,
    intervalS: argv.interval,
    workload: argv.workload as WorkloadName,
    keys: argv.keys,
    concurrency: argv.concurrency,
    ...(argv.rate !== undefined ? { rate: argv.rate } : {}),
    seed,
    ...(argv.toxiproxy !== undefined ? { toxiproxy: argv.toxiproxy } : {}),
    store: argv.store,
    timeoutMs: argv['timeout-ms'],
    ...(argv.name !== undefined ? { name: argv.name } : {}),
    recoveryBoundMs: argv['recovery-ms'],
    checkBudgetMs: argv['check-budget-ms'],
    retry: argv.retry,
    ...(argv['read-mode'] !== undefined ? { readMode: argv['read-mode'] as 'index' | 'lease' } : {}),
    ...(argv.bug !== undefined ? { bug: argv.bug } : {}),
    command,
  },
  check,
  show,
  abort.signal,
);
clearProgress();
const counts = outcome.counts;
console.log(`verdict: ${outcome.verdict}${outcome.error !== undefined ? ` (${outcome.error})` : ''}`);
if (counts !== undefined) {
  console.log(`ops: ${counts.invoked} invoked, ${counts.ok} ok, ${counts.fail} fail, ${counts.info} info; ${counts.processes} process ids`);
}
if (outcome.availabilityOk !== undefined) {
  console.log(`availability: ${outcome.availabilityOk ? 'every final read succeeded after the heal' : 'FAILED: not every key could be read after the heal'}`);
}
if (outcome.checkTimeMs !== undefined) console.log(`checker: ${outcome.checkTimeMs.toFixed(0)} ms`);
console.log(`run dir: ${outcome.runDir}`);
if (outcome.reportPath !== undefined) console.log(`report: ${outcome.reportPath}`);
if (outcome.exitCode !== 0) console.log(`reproduce with: ${command}`);
process.exit(outcome.exitCode);
