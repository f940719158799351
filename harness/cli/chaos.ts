/**
 * `npm run chaos`: one chaos run with a verdict and a report (see
 * harness/README.md). Exit codes: 0 linearizable, 1 illegal, 2 unknown,
 * 3 the run broke, 4 linearizable but no recovery after the heal.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { EXIT_BROKEN, exitBrokenOnCrash, failUsage } from '../../lib/cli.ts';
import { check } from '../../checker/index.ts';
import { randomSeed } from '../../lib/random.ts';
import { workloadNames, type WorkloadName } from '../../workloads/generator.ts';
import { runChaos, type ChaosOptions, type ChaosProgress } from '../run/chaos.ts';
import { chaosCommandLine } from '../run/command-line.ts';
import { SYSTEM_NAMES, type SystemName } from '../systems/system.ts';
import { BUG_PRESETS, bugNames, isBugName } from '../run/bug-presets.ts';
import {
  clockNemesisKinds,
  diskNemesisKinds,
  explicitNemesisKinds,
  nemesisKinds,
  parseNemesisKinds,
  scheduleKinds,
  type PlannedFault,
} from '../nemesis/plan.ts';
import { hostsUnavailableReason } from '../hosts/hosts.ts';
import { writeCiFiles } from '../run/ci-files.ts';

// --bug picks the nemesis and workload that can expose the bug (harness/run/bug-presets.ts,
// harness/PROVE.md); flags given explicitly still win, so these defaults are
// applied after parsing instead of by yargs.

exitBrokenOnCrash('npm run chaos');
const DEFAULTS = {
  nodes: 3,
  time: 30,
  nemesis: 'kill,pause,partition,latency',
  interval: 5,
  workload: 'cas-register',
  keys: 8,
  concurrency: 10,
  timeoutMs: 1000,
  retry: 0,
} as const;

/** Flags that only some systems understand: the wrong combination is a usage error naming the flag and the system. */
function checkSystemFlags(a: {
  system?: string;
  bug?: string;
  'node-cmd'?: string;
  'etcd-bin'?: string;
  'read-mode'?: string;
  retry?: number;
  'election-timeout-ms'?: number;
  'heartbeat-ms'?: number;
  'restart-quiet'?: boolean;
}): void {
  const system = a.system ?? 'raftlab';
  const refuse = (flag: string, why: string): never => {
    throw new Error(`${flag} is not supported by --system ${system}: ${why}`);
  };
  if (a.bug !== undefined && system !== 'raftlab') refuse('--bug', "planted bugs exist only in raftlab's node");
  if (a['node-cmd'] !== undefined && system !== 'exec') refuse('--node-cmd', 'it is the command of --system exec');
  if (system === 'exec' && a['node-cmd'] === undefined)
    refuse('(missing --node-cmd)', 'exec starts each member from it');
  if (a['etcd-bin'] !== undefined && system !== 'etcd') refuse('--etcd-bin', 'it is the binary of --system etcd');
  const mode = a['read-mode'];
  if (mode !== undefined && system === 'exec') refuse('--read-mode', 'the read mode of an exec node is its own');
  if ((mode === 'index' || mode === 'lease') && system !== 'raftlab')
    refuse(`--read-mode ${mode}`, 'index and lease are raftlab read modes');
  if ((mode === 'linearizable' || mode === 'serializable') && system !== 'etcd')
    refuse(`--read-mode ${mode}`, 'linearizable and serializable are etcd read modes');
  if (a.retry !== undefined && a.retry > 0 && system === 'etcd')
    refuse('--retry', 'etcd has no client sessions, so a resent put may apply twice');
}

const argv = await yargs(hideBin(process.argv))
  .scriptName('npm run chaos --')
  .usage(
    '$0 [options]\n\nStarts a Raft KV cluster as real processes with Toxiproxy between every pair, runs concurrent clients while a seeded nemesis injects faults, checks the history for linearizability and writes store/<name>/<stamp>/report.html.\n\nExit codes: 0 linearizable, 1 not linearizable, 2 checker undecided, 3 the run broke, 4 linearizable but the cluster did not recover after the final heal.',
  )
  .option('nodes', {
    type: 'number',
    describe:
      'cluster size (3, 5 or 7); with the member nemesis the number of potential members, of which 3 form the configuration at the start' +
      ' [default: 3; with --bug: its preset]',
  })
  .option('time', {
    type: 'number',
    describe:
      'seconds of workload (faults included); the heal, final reads and check come after' +
      ' [default: 30; with --bug: its preset]',
  })
  .option('nemesis', {
    type: 'string',
    describe: `comma-separated faults to draw from: ${nemesisKinds.join(', ')}; "all" (those six) or "none"; also, only by name, ${explicitNemesisKinds.join(', ')} (figure8 and double-vote are scripted scenarios that build one dangerous state from the nodes' statuses, harness/nemesis/scenarios/; see harness/README.md); the disk faults ${diskNemesisKinds.join(', ')} (the nodes' data on the lazy file system, lazyfs/; needs libfuse2 and fuse) and the clock faults ${clockNemesisKinds.join(', ')} (libfaketime; needs faketime; not for etcd) [default: ${DEFAULTS.nemesis}; for etcd without --net hosts: kill,pause; with --bug: its preset]`,
  })
  .option('interval', {
    type: 'number',
    describe:
      'seconds between faults and how long each lasts (quiet, fault, quiet, fault, ...)' +
      ' [default: 5; with --bug: its preset]',
  })
  .option('workload', {
    type: 'string',
    choices: workloadNames,
    describe:
      'register (one key), multi-register (read/write on --keys keys), cas-register (read/write/cas on --keys keys) [default: cas-register; with --bug: its preset]',
  })
  .option('keys', {
    type: 'number',
    describe: 'number of keys (multi-register, cas-register)' + ' [default: 8; with --bug: its preset]',
  })
  .option('concurrency', {
    type: 'number',
    describe: 'logical client processes, each with one op in flight' + ' [default: 10; with --bug: its preset]',
  })
  .option('rate', {
    type: 'number',
    describe: 'target ops/s across all clients (open loop); default: closed loop, as fast as answers come',
  })
  .option('seed', {
    type: 'number',
    describe:
      'seed of every random choice (fault schedule, targets, ops); printed at start; reuse it to replay the same schedule',
  })
  .option('toxiproxy', {
    type: 'string',
    describe:
      'URL of a running Toxiproxy (e.g. http://127.0.0.1:8474 from docker-compose.toxiproxy.yml); default: start the embedded one',
  })
  .option('net', {
    choices: ['proxy', 'hosts'] as const,
    default: 'proxy' as const,
    describe:
      'proxy: every member on 127.0.0.1 behind per-link Toxiproxy proxies; hosts: every member in its own ' +
      'network namespace, partitions as nftables rules in the kernel, latency/blackhole/bandwidth on per-link ' +
      'proxies reached by dnat (Linux, root)',
  })
  .option('store', {
    type: 'string',
    default: 'store',
    describe: 'directory of run folders; store/latest points to the newest run',
  })
  .option('timeout-ms', {
    type: 'number',
    describe:
      'per-request client timeout; a timed-out write is recorded as info (unknown)' +
      ' [default: 1000; with --bug: its preset]',
  })
  .option('name', { type: 'string', describe: 'run name (folder under --store); default <workload>-<nemesis>' })
  .option('recovery-ms', {
    type: 'number',
    default: 30_000,
    describe: 'after the final heal, how long the cluster may take to serve a read of every key',
  })
  .option('retry', {
    type: 'number',
    describe:
      'retry a write whose outcome is unknown up to N times with the same session seq (the retrying client) before recording it as info' +
      ' [default: 0; with --bug: its preset]',
  })
  .option('system', {
    type: 'string',
    choices: SYSTEM_NAMES,
    default: 'raftlab',
    describe:
      "the system under test: raftlab (this repo's node), etcd (etcd 3.4 from Debian's etcd-server), or exec (any node serving docs/kv-api.md, started from --node-cmd)",
  })
  .option('node-cmd', {
    type: 'string',
    describe:
      'exec: command template per member, run by /bin/sh; placeholders {id} {port} {peers} {data} (docs/kv-api.md), e.g. "node examples/naive-kv.mjs --port {port}"',
  })
  .option('etcd-bin', { type: 'string', describe: 'etcd: the etcd binary [default: /usr/bin/etcd]' })
  .option('read-mode', {
    type: 'string',
    choices: ['index', 'lease', 'linearizable', 'serializable'],
    describe:
      "raftlab: the nodes' read mode, index (ReadIndex, the default) or lease; etcd: linearizable (the default) or serializable (etcd's local, possibly stale read)",
  })
  .option('election-timeout-ms', {
    type: 'number',
    describe: "raftlab: the nodes' base election timeout [default: the node's own; with --bug: its preset's]",
  })
  .option('heartbeat-ms', {
    type: 'number',
    describe: "raftlab: the nodes' heartbeat [default: the node's own; with --bug: its preset's]",
  })
  .option('restart-quiet', {
    type: 'boolean',
    describe:
      "raftlab: the nodes ignore votes for an election timeout after start (the node's default); --no-restart-quiet turns it off [with --bug: its preset's]",
  })
  .option('overlap', {
    type: 'number',
    default: 1,
    describe:
      'up to N faults of the chosen kinds active at once, each with its own start and length drawn from the seed (gaps a quarter to one --interval, faults half to one and a half --interval or, about a third of them, a blip of 200 ms to a fifth of it); kills and pauses together never take out more than a minority (kill-majority, kill-all only while no other process fault is active); cannot be combined with figure8 or double-vote. 1 = one fault at a time, the same schedule as ever for a seed',
  })
  .option('schedule', {
    type: 'string',
    describe:
      'replay the fault schedule in FILE instead of planning one from the seed: a JSON array of planned faults, or any object with a "schedule" array (a run\'s test.json; what `npm run shrink` writes). --nemesis defaults to the kinds it uses',
  })
  .option('shrunk-from', {
    type: 'string',
    describe:
      'the run directory this run was shrunk from (npm run shrink sets it; test.json and the report link to it)',
  })
  .option('bug', {
    type: 'string',
    describe: `run every node with a PLANTED BUG (${bugNames.join(', ')}) under the nemesis and workload that can expose it (harness/PROVE.md); flags given explicitly still win`,
  })
  .option('min-ok-ops', {
    type: 'number',
    default: 10,
    describe:
      'the minimum evidence for a pass: a linearizable history with fewer acknowledged workload writes, or reads, than this is "unknown" (exit 2)',
  })
  .option('junit', {
    type: 'string',
    describe:
      'also write JUnit XML of the run to FILE: one test case, a failure (verdict and what went wrong) unless it passed, an error if it broke',
  })
  .option('summary', {
    type: 'string',
    describe:
      'append a Markdown summary of the run to FILE (verdict, seed, replay command, figures, what went wrong, the report); e.g. "$GITHUB_STEP_SUMMARY"',
  })
  .option('check-budget-ms', {
    type: 'number',
    default: 60_000,
    describe: 'checker time budget per key; exceeding it gives "unknown" (exit 2), never a false pass',
  })
  .check((a) => {
    // Fewer than 3 nodes leave no majority to survive a fault.
    if (a.bug !== undefined && !isBugName(a.bug))
      throw new Error(`--bug ${JSON.stringify(a.bug)} is not a known bug; valid bugs: ${bugNames.join(', ')}`);
    if (a.nodes !== undefined && !(Number.isInteger(a.nodes) && a.nodes >= 3 && a.nodes <= 9)) {
      throw new Error('--nodes must be an integer from 3 to 9 (usually 3, 5 or 7)');
    }
    if (a.time !== undefined && !(a.time > 0)) throw new Error('--time must be > 0 seconds');
    if (a.interval !== undefined && !(a.interval > 0)) throw new Error('--interval must be > 0 seconds');
    if (a.keys !== undefined && !(Number.isInteger(a.keys) && a.keys >= 1))
      throw new Error('--keys must be a positive integer');
    if (a.concurrency !== undefined && !(Number.isInteger(a.concurrency) && a.concurrency >= 1))
      throw new Error('--concurrency must be a positive integer');
    if (a.rate !== undefined && !(a.rate > 0)) throw new Error('--rate must be > 0 ops/s');
    if (a['timeout-ms'] !== undefined && !(a['timeout-ms'] > 0)) throw new Error('--timeout-ms must be > 0');
    if (a.seed !== undefined && !Number.isSafeInteger(a.seed)) throw new Error('--seed must be an integer');
    if (!(Number.isInteger(a['min-ok-ops']) && a['min-ok-ops'] >= 0))
      throw new Error('--min-ok-ops must be an integer >= 0');
    if (a.retry !== undefined && !(Number.isInteger(a.retry) && a.retry >= 0))
      throw new Error('--retry must be an integer >= 0');
    if (a.nemesis !== undefined) parseNemesisKinds(a.nemesis);
    checkSystemFlags(a);
    if (!(Number.isInteger(a.overlap) && a.overlap >= 1)) throw new Error('--overlap must be an integer >= 1');
    if (a.overlap > 1 && a.schedule !== undefined) throw new Error('--overlap plans a schedule; --schedule gives one');
    return true;
  })
  .strict()
  .fail(failUsage('npm run chaos'))
  .help()
  .parseAsync();

const seed = argv.seed ?? randomSeed();
const bug = argv.bug !== undefined && isBugName(argv.bug) ? argv.bug : undefined;
const preset = bug !== undefined ? BUG_PRESETS[bug] : undefined;
const settings = {
  nodes: argv.nodes ?? preset?.nodes ?? DEFAULTS.nodes,
  time: argv.time ?? preset?.timeS ?? DEFAULTS.time,
  interval: argv.interval ?? preset?.intervalS ?? DEFAULTS.interval,
  workload: (argv.workload ?? preset?.workload ?? DEFAULTS.workload) as WorkloadName,
  keys: argv.keys ?? preset?.keys ?? DEFAULTS.keys,
  concurrency: argv.concurrency ?? preset?.concurrency ?? DEFAULTS.concurrency,
  timeoutMs: argv['timeout-ms'] ?? preset?.timeoutMs ?? DEFAULTS.timeoutMs,
  retry: argv.retry ?? preset?.retry ?? DEFAULTS.retry,
  restartQuiet: argv['restart-quiet'] ?? preset?.restartQuiet,
  electionTimeoutMs: argv['election-timeout-ms'] ?? preset?.electionTimeoutMs,
  heartbeatMs: argv['heartbeat-ms'] ?? preset?.heartbeatMs,
  readMode: (argv.system === 'raftlab' ? (argv['read-mode'] ?? preset?.readMode) : undefined) as
    | 'index'
    | 'lease'
    | undefined,
};
const schedule = argv.schedule !== undefined ? readScheduleFile(argv.schedule) : undefined;
const nemesis =
  argv.nemesis !== undefined
    ? parseNemesisKinds(argv.nemesis)
    : schedule !== undefined
      ? scheduleKinds(schedule)
      : preset !== undefined
        ? [...preset.nemesis]
        : parseNemesisKinds(argv.system === 'etcd' && argv.net !== 'hosts' ? 'kill,pause' : DEFAULTS.nemesis);
const options: ChaosOptions = {
  nodes: settings.nodes,
  timeS: settings.time,
  nemesis,
  intervalS: settings.interval,
  workload: settings.workload,
  keys: settings.keys,
  concurrency: settings.concurrency,
  ...(argv.rate !== undefined ? { rate: argv.rate } : {}),
  seed,
  ...(argv.toxiproxy !== undefined ? { toxiproxy: argv.toxiproxy } : {}),
  net: argv.net,
  store: argv.store,
  timeoutMs: settings.timeoutMs,
  ...(argv.name !== undefined ? { name: argv.name } : {}),
  recoveryBoundMs: argv['recovery-ms'],
  checkBudgetMs: argv['check-budget-ms'],
  minOkOps: argv['min-ok-ops'],
  retry: settings.retry,
  ...(settings.readMode !== undefined ? { readMode: settings.readMode } : {}),
  ...(settings.electionTimeoutMs !== undefined ? { electionTimeoutMs: settings.electionTimeoutMs } : {}),
  ...(settings.heartbeatMs !== undefined ? { heartbeatMs: settings.heartbeatMs } : {}),
  ...(settings.restartQuiet === false ? { restartQuiet: false } : {}),
  system: argv.system as SystemName,
  ...(argv['node-cmd'] !== undefined ? { nodeCmd: argv['node-cmd'] } : {}),
  ...(argv['etcd-bin'] !== undefined ? { etcdBinary: argv['etcd-bin'] } : {}),
  ...(argv.system === 'etcd' && argv['read-mode'] !== undefined
    ? { etcdReadMode: argv['read-mode'] as 'linearizable' | 'serializable' }
    : {}),
  ...(bug !== undefined ? { bug } : {}),
  overlap: argv.overlap,
  ...(schedule !== undefined ? { schedule } : {}),
  ...(argv['shrunk-from'] !== undefined ? { shrunkFrom: resolve(argv['shrunk-from']) } : {}),
};
const command = chaosCommandLine(options, {
  ...(argv.schedule !== undefined ? { scheduleFile: argv.schedule } : {}),
  ...(argv['shrunk-from'] !== undefined ? { shrunkFrom: argv['shrunk-from'] } : {}),
});

/** The JSON of `--schedule FILE`; a file that cannot be read or parsed is a usage error (exit 3). */
function readScheduleFile(file: string): PlannedFault[] {
  try {
    const json: unknown = JSON.parse(readFileSync(file, 'utf8'));
    const list = Array.isArray(json) ? json : (json as { schedule?: unknown } | null)?.schedule;
    if (!Array.isArray(list)) throw new Error('expected a JSON array of faults or an object with a "schedule" array');
    // The entries are checked against the cluster when the run is prepared (plan.ts parseSchedule).
    return list as PlannedFault[];
  } catch (error) {
    return failUsage('npm run chaos')(`--schedule ${file}: ${(error as Error).message}`, undefined);
  }
}

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

if (argv.net === 'hosts') {
  const reason = hostsUnavailableReason();
  if (reason !== undefined) {
    console.error(`npm run chaos: ${reason}`);
    process.exit(EXIT_BROKEN);
  }
}
if (bug !== undefined)
  console.log(`PLANTED BUG ${bug}: every node is deliberately broken (harness/PROVE.md); a working suite exits 1`);
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
// A request the system cannot honour, or a store that cannot be written, ends here with exit 3 before any run.
const outcome = await runChaos({ ...options, command }, check, show, abort.signal).catch((error: unknown) => {
  console.error(`npm run chaos: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(EXIT_BROKEN);
});
clearProgress();
const counts = outcome.counts;
console.log(`verdict: ${outcome.verdict}${outcome.error !== undefined ? ` (${outcome.error})` : ''}`);
if (counts !== undefined) {
  console.log(
    `ops: ${counts.invoked} invoked, ${counts.ok} ok, ${counts.fail} fail, ${counts.info} info; ${counts.processes} process ids`,
  );
}
if (outcome.availabilityOk !== undefined) {
  console.log(
    `availability: ${outcome.availabilityOk ? 'every final read succeeded after the heal' : 'FAILED: not every key could be read after the heal'}`,
  );
}
if (outcome.checkTimeMs !== undefined) console.log(`checker: ${outcome.checkTimeMs.toFixed(0)} ms`);
console.log(`run dir: ${outcome.runDir}`);
if (outcome.reportPath !== undefined) console.log(`report: ${outcome.reportPath}`);
if (outcome.exitCode !== 0) console.log(`reproduce with: ${command}`);
if (argv.junit !== undefined || argv.summary !== undefined) {
  try {
    const written = writeCiFiles(outcome.runDir, outcome.reportPath, { junit: argv.junit, summary: argv.summary });
    for (const path of written) console.log(`ci: ${path}`);
  } catch (error) {
    // The verdict stands in the run directory, but what CI was promised is missing: that is a broken run.
    console.error(`npm run chaos: ${(error as Error).message}`);
    process.exit(EXIT_BROKEN);
  }
}
process.exit(outcome.exitCode);
