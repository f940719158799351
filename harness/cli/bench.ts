/**
 * `npm run bench`: throughput and latency of raftlab beside etcd on this
 * machine, with an HTML report. See harness/BENCH.md.
 *
 *   npm run bench -- [--target raftlab,etcd] [--concurrency 1,8,32,128]
 *                    [--ops put,get,sget,mix] [--time 10] [--warmup 2] [--rate auto|off|R,...] [--json]
 *   npm run bench -- micro | checker | toxiproxy
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { exitBrokenOnCrash } from '../../lib/cli.ts';
import { BENCH_OPS, type BenchOp, type MicroResult } from '../../reports/bench-schema.ts';
import { TARGET_KINDS, type TargetKind } from '../../workloads/targets/index.ts';
import { DEFAULT_WORKLOAD } from '../bench/load.ts';
import { jsonSummary, microText, ProgressLine, summaryText } from '../bench/print.ts';
import { parseNumberList, parseRates, parseWordList, positive, UsageError } from '../bench/options.ts';
import { runBench, writeMicroRun, type BenchOptions } from '../bench/run.ts';
import { repoRoot, tsxImport } from '../../lib/repo.ts';
import { MICRO_SUITES, runMicro, type MicroSuite } from '../bench/micro-suites.ts';

// Delegates a micro-benchmark to the script another area owns.
// With `stdoutToStderr` (under --json) its figures go to stderr, keeping stdout one JSON document.
async function delegate(
  name: string,
  script: string,
  args: readonly string[],
  stdoutToStderr = false,
): Promise<number> {
  const path = join(repoRoot, script);
  if (!existsSync(path)) {
    process.stderr.write(
      `bench ${name}: ${script} is not there yet (it belongs to the ${name} area); nothing to run\n`,
    );
    return 1;
  }
  const r = await execa(process.execPath, ['--import', tsxImport, path, ...args], {
    cwd: repoRoot,
    stdin: 'inherit',
    stdout: stdoutToStderr ? 2 : 'inherit',
    stderr: 'inherit',
    reject: false,
  });
  return r.exitCode ?? 1;
}

exitBrokenOnCrash('npm run bench');
const log = new ProgressLine(process.stderr);

/** The command line, parsed and checked by yargs. */
function parseBenchArgs() {
  return yargs(hideBin(process.argv))
    .scriptName('npm run bench --')
    .usage(
      '$0 [options]\n$0 micro | checker | toxiproxy\n\n' +
        'Measures raftlab beside etcd on this machine: closed-loop throughput and latency per concurrency level, ' +
        'an open-loop sweep of arrival rates; writes store/bench/<stamp>/{bench.json,report.html}. See harness/BENCH.md.',
    )
    .command('$0', 'run the cluster benchmark (default)')
    .command(
      'micro',
      'micro-benchmarks: WAL append + fdatasync, Raft core stepping proposals, then the checker and proxy benches',
    )
    .command('checker', 'the checker micro-benchmark over the corpus (checker/bench.ts); extra args pass through')
    .command('toxiproxy', 'the proxy-hop micro-benchmark (toxiproxy/bench.ts); extra args pass through')
    .option('target', {
      type: 'string',
      default: 'raftlab,etcd',
      describe: `targets, comma-separated: ${TARGET_KINDS.join(', ')}`,
    })
    .option('concurrency', {
      alias: 'c',
      type: 'string',
      default: '1,8,32,128',
      describe: 'closed-loop levels (clients with one op in flight each)',
    })
    .option('ops', {
      type: 'string',
      default: BENCH_OPS.join(','),
      describe: 'put, get (linearizable), sget (stale get), mix (50/50 put/get)',
    })
    .option('time', { type: 'number', default: 10, describe: 'measured seconds per level' })
    .option('warmup', { type: 'number', default: 2, describe: 'warm-up seconds before each measured window' })
    .option('rate', {
      type: 'string',
      default: 'auto',
      describe: 'open-loop arrival rates in ops/s (e.g. 500,1000,2000), "auto" from the closed-loop peak, or "off"',
    })
    .option('open-op', { type: 'string', default: 'put', describe: 'op kind of the open-loop sweep' })
    .option('p99-bound', {
      type: 'number',
      default: 25,
      describe: 'open loop: a rate is held while p99 (from the intended send time) stays under this many ms',
    })
    .option('via', {
      choices: ['spread', 'leader'] as const,
      default: 'spread' as const,
      describe:
        'spread: clients round-robin over the members, leader first (C=1 hits the leader); leader: all clients on the leader',
    })
    .option('keys', { type: 'number', default: DEFAULT_WORKLOAD.keys, describe: 'distinct keys' })
    .option('value-bytes', {
      type: 'number',
      default: DEFAULT_WORKLOAD.valueBytes,
      describe: 'size of each written value',
    })
    .option('seed', { type: 'number', default: DEFAULT_WORKLOAD.seed, describe: 'seed of the key and op choices' })
    .option('compare', {
      type: 'string',
      describe: 'an earlier run directory (store/bench/<stamp>) to print and draw the change against',
    })
    .option('store', { type: 'string', default: 'store/bench', describe: 'parent directory of run directories' })
    .option('etcd', { type: 'string', default: '/usr/bin/etcd', describe: 'etcd binary' })
    .option('keep-data', {
      type: 'boolean',
      default: false,
      describe: "keep the members' data directories in the run directory",
    })
    .option('micro', {
      type: 'boolean',
      default: false,
      describe: 'also run the in-process micro suites (before the clusters start) and keep their figures in bench.json',
    })
    .option('micro-time', { type: 'number', default: 1000, describe: 'micro: milliseconds per task' })
    .option('suites', {
      type: 'string',
      default: MICRO_SUITES.join(','),
      describe: `micro: in-process suites (${MICRO_SUITES.join(', ')})`,
    })
    .option('json', {
      type: 'boolean',
      default: false,
      describe: 'print one JSON summary on stdout (progress goes to stderr)',
    })
    .option('node-main', { type: 'string', hidden: true, describe: 'node entry point (tests)' })
    .strict(false)
    .fail((message, error) => {
      process.stderr.write(`bench: ${error?.message ?? message}\nRun with --help for the options.\n`);
      process.exit(2);
    })
    .help()
    .parseAsync();
}

type BenchArgv = Awaited<ReturnType<typeof parseBenchArgs>>;

/** `npm run bench -- micro`: the in-process suites, then the checker and proxy benches. */
async function runMicroCommand(argv: BenchArgv, storeDir: string): Promise<number> {
  const startedAt = new Date().toISOString();
  const suites = parseWordList<MicroSuite>('suites', argv.suites, MICRO_SUITES);
  log.line(`micro: ${suites.join(', ')} (${argv['micro-time']} ms per task)`);
  const micro: MicroResult[] = await runMicro(suites, { timeMs: positive('micro-time', argv['micro-time']) });
  const outcome = await writeMicroRun(storeDir, micro, startedAt);
  if (argv.json)
    process.stdout.write(`${JSON.stringify(jsonSummary(outcome.run, outcome.runDir, outcome.reportPath))}\n`);
  else process.stdout.write(`${microText(micro)}\nreport: ${outcome.reportPath}\n`);
  // The checker and proxy benches print their own figures.
  const a = await delegate('checker', 'checker/bench.ts', [], argv.json);
  const b = await delegate('toxiproxy', 'toxiproxy/bench.ts', [], argv.json);
  return a === 0 && b === 0 ? 0 : 1;
}

/** The cluster bench's options from the flags (usage errors throw UsageError). */
function benchOptionsFrom(argv: BenchArgv, storeDir: string): BenchOptions {
  if (argv.compare !== undefined && !existsSync(join(argv.compare, 'bench.json'))) {
    throw new UsageError(
      `--compare ${argv.compare}: no bench.json there; pass a run directory such as store/bench/<stamp>`,
    );
  }
  return {
    targets: parseWordList<TargetKind>('target', argv.target, TARGET_KINDS),
    concurrency: parseNumberList('concurrency', argv.concurrency, true),
    ops: parseWordList<BenchOp>('ops', argv.ops, BENCH_OPS),
    timeSec: positive('time', argv.time),
    warmupSec: positive('warmup', argv.warmup, true),
    rates: parseRates(argv.rate),
    openLoopOp: parseWordList<BenchOp>('open-op', argv['open-op'], BENCH_OPS)[0] ?? 'put',
    p99BoundMs: positive('p99-bound', argv['p99-bound']),
    workload: {
      keys: Math.round(positive('keys', argv.keys)),
      valueBytes: Math.round(positive('value-bytes', argv['value-bytes'])),
      seed: argv.seed,
    },
    storeDir,
    ...(argv.compare === undefined ? {} : { compare: resolve(argv.compare) }),
    etcdBinary: argv.etcd,
    ...(argv['node-main'] === undefined ? {} : { nodeMain: resolve(argv['node-main']) }),
    via: argv.via,
    keepData: argv['keep-data'],
  };
}

async function main(): Promise<number> {
  const argv = await parseBenchArgs();
  const command = String(argv._[0] ?? '');
  const passThrough = process.argv.slice(process.argv.indexOf(command) + 1);
  const storeDir = resolve(argv.store);
  switch (command) {
    case 'checker':
      return delegate('checker', 'checker/bench.ts', passThrough);
    case 'toxiproxy':
      return delegate('toxiproxy', 'toxiproxy/bench.ts', passThrough);
    case 'micro':
      return runMicroCommand(argv, storeDir);
    case '':
      break;
    default:
      throw new UsageError(
        `unknown command "${command}"; use micro, checker or toxiproxy, or no command for the cluster bench`,
      );
  }

  const options = benchOptionsFrom(argv, storeDir);
  if (argv.micro) {
    log.line(`micro: ${MICRO_SUITES.join(', ')} (${argv['micro-time']} ms per task)`);
    options.micro = await runMicro(parseWordList<MicroSuite>('suites', argv.suites, MICRO_SUITES), {
      timeMs: positive('micro-time', argv['micro-time']),
    });
  }
  const outcome = await runBench(options, {
    phase: (line) => log.line(line),
    progress: (label, p) => log.update(label, p),
    warn: (line) => log.line(`warning: ${line}`),
  });
  if (argv.json) {
    process.stdout.write(`${JSON.stringify(jsonSummary(outcome.run, outcome.runDir, outcome.reportPath))}\n`);
  } else {
    process.stdout.write(`\n${summaryText(outcome.run)}\n\nbench.json and report: ${outcome.reportPath}\n`);
  }
  return 0;
}

try {
  process.exitCode = await main();
} catch (err) {
  if (err instanceof UsageError) {
    process.stderr.write(`bench: ${err.message}\nRun with --help for the options.\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`bench: the run broke: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 3;
  }
}
