// npm run check -- FILE... [--model M] [--init V] [--null-read value|wildcard]
//                          [--budget-ms N] [--json]
// Exit codes: 0 all linearizable, 1 any illegal, 2 any unknown and none
// illegal, 3 a file could not be read or parsed, a bad flag, or an internal
// error. A code other than 3 is only ever the verdict of a finished check.
import { pathToFileURL } from 'node:url';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { check } from './check.ts';
import { CheckerError } from './errors.ts';
import { MODEL_NAMES } from './models.ts';
import { readHistoryFile } from './parse.ts';
import { jsonText } from './values.ts';
import type {
  CheckOptions,
  CheckResult,
  Counterexample,
  ModelName,
  NullRead,
  OperationInfo,
  PartitionResult,
} from './types.ts';

const WINDOW_LINES_MAX = 25;

/** Exit codes of the CLI. */
export const EXIT = { linearizable: 0, illegal: 1, unknown: 2, badInput: 3 } as const;

function parseInit(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text; // a bare word: take it as a string
  }
}

function describePartition(p: PartitionResult): string {
  const name = p.key === undefined ? '(single partition)' : `key ${JSON.stringify(p.key)}`;
  const why =
    p.verdict === 'unknown'
      ? ` (${p.unknownReason === 'memory' ? 'memo memory budget' : 'time budget'} exhausted)`
      : '';
  return `  ${name}: ${p.verdict}${why}, ${p.ops} ops, ${p.segments} segments, ${p.prunedOps} pruned, ${p.timeMs.toFixed(1)} ms`;
}

/** Where the CLI writes and what it calls; tests swap these to inject faults. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  /** Progress text for a terminal (overwritten in place); undefined when not a TTY. */
  phase?: (text: string) => void;
  readHistory: typeof readHistoryFile;
  check: typeof check;
}

/** A usage error: a bad flag or value (exit 3 with the usage text). */
class UsageError extends Error {}

/** Rank of an exit code: bad input dominates, then illegal, then unknown. */
function rank(code: number): number {
  return code === EXIT.badInput ? 3 : code === EXIT.illegal ? 2 : code === EXIT.unknown ? 1 : 0;
}

function opLine(op: OperationInfo): string {
  const outcome = op.outcome === 'ok' ? 'ok  ' : op.relaxed ? 'free' : 'info';
  return `[${op.invokeIndex}..${op.completeIndex ?? '∞'}] p${op.process} ${outcome} ${op.description}`;
}

function printCounterexample(out: (line: string) => void, cx: Counterexample, verbose: boolean): void {
  if (cx.explanation !== undefined) out(`    why: ${cx.explanation}`);
  out(
    `    smallest window found${cx.minimal ? '' : ' (shrinking stopped at its time budget: not minimal)'}: ` +
      `events ${cx.windowStartIndex}..${cx.windowEndIndex}, starting in ${cx.initialState}`,
  );
  for (const cause of cx.initialStateCauses ?? []) {
    if (cause.writes.length === 0 && cause.reads.length === 0) continue;
    out(`    state ${cause.state} at the window's start comes from:`);
    for (const op of cause.writes.slice(0, 1)) out(`      write  ${opLine(op)}`);
    for (const op of cause.reads.slice(0, 1)) out(`      read   ${opLine(op)}`);
  }
  const shown = verbose ? cx.ops : cx.ops.slice(0, WINDOW_LINES_MAX);
  for (const op of shown) {
    const stuck = cx.stuckOps.includes(op.id) ? '   <- never linearizable here' : '';
    out(`      ${opLine(op)}${stuck}`);
  }
  if (shown.length < cx.ops.length)
    out(`      ... ${cx.ops.length - shown.length} more ops (--verbose or --json shows all)`);
  const longest = cx.partialLinearizations[0];
  const truncated = cx.partialLinearizationsTruncated ? ' (walk truncated at its cap: longest found, not longest)' : '';
  if (longest !== undefined) {
    // Its end is where it got stuck: show that part.
    const tail = verbose ? longest : longest.slice(-WINDOW_LINES_MAX);
    const skipped = longest.length - tail.length;
    const text = tail.map((s) => `#${s.id}→${s.state}`).join(', ') || '(empty)';
    out(`    longest partial linearization${truncated}: ${skipped > 0 ? `(${skipped} steps before) … ` : ''}${text}`);
  } else if (truncated !== '') out(`    no partial linearization${truncated}`);
}

function printHuman(out: (line: string) => void, file: string, result: CheckResult, verbose: boolean): void {
  const times =
    result.shrinkTimeMs !== undefined && result.shrinkTimeMs > 0
      ? `verdict ${(result.verdictTimeMs ?? 0).toFixed(1)} ms + counterexample ${result.shrinkTimeMs.toFixed(1)} ms`
      : `${result.timeMs.toFixed(1)} ms`;
  out(
    `${file}: ${result.verdict.toUpperCase()} (${result.model}, ${result.ops} ops, ${result.partitions.length} partitions, ${times})`,
  );
  const interesting = result.partitions.filter((p) => verbose || p.verdict !== 'linearizable');
  for (const p of interesting.slice(0, verbose ? Infinity : 20)) {
    out(describePartition(p));
    if (p.counterexample !== undefined) printCounterexample(out, p.counterexample, verbose);
  }
  if (interesting.length > 20 && !verbose) out(`  ... ${interesting.length - 20} more (use --verbose)`);
  const unsearched = result.unsearched ?? [];
  if (unsearched.length > 0) {
    const names = unsearched.map((u) => (u.key === undefined ? '(single partition)' : JSON.stringify(u.key)));
    const list = verbose || names.length <= 10 ? names.join(', ') : `${names.slice(0, 10).join(', ')}, ...`;
    out(
      `  not searched (the verdict was already proven; --all-partitions searches them): ` +
        `${unsearched.length} keys: ${list}`,
    );
  }
}

function buildParser(args: readonly string[]) {
  return yargs([...args])
    .scriptName('npm run check --')
    .usage('$0 FILE... [options]\n\nChecks histories (JSONL or Jepsen EDN) for linearizability.')
    .option('model', {
      alias: 'm',
      choices: MODEL_NAMES as ModelName[],
      default: 'raftlab-kv' as ModelName,
      describe: 'model of the object; raftlab-kv is our node (read/write/cas/delete per key)',
    })
    .option('init', {
      type: 'string',
      describe: 'initial value as JSON (registers: default null; multi-register: an object)',
    })
    .option('null-read', {
      choices: ['value', 'wildcard'] as NullRead[],
      default: 'value' as NullRead,
      describe: 'an ok read of null: the register is empty (value) or the value is unknown (wildcard, Knossos)',
    })
    .option('budget-ms', {
      type: 'number',
      default: 30_000,
      describe: 'time budget per partition; exceeded -> unknown',
    })
    .option('total-budget-ms', {
      type: 'number',
      describe: 'time budget for all partitions of a file together (default: none)',
    })
    .option('memo-mb', {
      type: 'number',
      default: 512,
      describe: 'memo memory budget per partition in MiB; exceeded -> unknown',
    })
    .option('json', { type: 'boolean', default: false, describe: 'one JSON object per file per line on stdout' })
    .option('counterexample', {
      type: 'boolean',
      default: true,
      describe: 'shrink illegal partitions to a small window (--no-counterexample skips it)',
    })
    .option('shrink-budget-ms', {
      type: 'number',
      describe: 'time budget for building one counterexample (default: min(500, budget-ms))',
    })
    .option('all-partitions', {
      type: 'boolean',
      default: false,
      describe: 'search every key even after one is proven illegal (default: stop at the first proof)',
    })
    .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'list every partition' })
    .demandCommand(1, 'give at least one history file (JSONL or .edn)')
    .example('$0 store/latest/history.jsonl', 'check a chaos run')
    .example('$0 --model cas-register --init 0 --null-read wildcard h.edn', 'a Knossos register history')
    .strict()
    .help()
    .version(false)
    .exitProcess(false)
    .fail((message, error) => {
      // yargs would print and exit 1 (which reads as "not linearizable").
      throw error ?? new UsageError(message);
    });
}

/** Numbers must be finite and positive (yargs turns `4x` into NaN). */
function positiveFlag(name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
    throw new UsageError(`--${name} must be a positive number`);
  }
}

/**
 * Runs the CLI on `args` (without node and the script). Returns the exit
 * code; `seen.exit` always holds the worst code of the files finished so
 * far, so a caller that must stop early (stdout closed) can exit with it.
 */
export async function runCli(args: readonly string[], io: CliIo, seen = { exit: 0 }): Promise<number> {
  const worse = (code: number): void => {
    if (rank(code) > rank(seen.exit)) seen.exit = code;
  };
  const parser = buildParser(args);
  let argv: Awaited<ReturnType<typeof parser.parse>>;
  try {
    let helpText = '';
    argv = await parser.parse([...args], {}, (_error, _argv, output) => {
      helpText = output;
    });
    if (argv.help === true) {
      io.out(helpText);
      return EXIT.linearizable;
    }
    positiveFlag('budget-ms', argv['budget-ms']);
    positiveFlag('total-budget-ms', argv['total-budget-ms']);
    positiveFlag('memo-mb', argv['memo-mb']);
    positiveFlag('shrink-budget-ms', argv['shrink-budget-ms']);
  } catch (error) {
    io.err(`${(error as Error).message}\n(npm run check -- --help lists the options)`);
    worse(EXIT.badInput);
    return seen.exit;
  }
  const files = argv._.map(String);
  const options: CheckOptions = {
    model: argv.model,
    nullRead: argv['null-read'],
    budgetMs: argv['budget-ms'],
    memoBytesMax: argv['memo-mb'] * 1024 * 1024,
    counterexample: argv.counterexample,
    allPartitions: argv['all-partitions'],
  };
  if (argv['shrink-budget-ms'] !== undefined) options.shrinkBudgetMs = argv['shrink-budget-ms'];
  if (argv['total-budget-ms'] !== undefined) options.totalBudgetMs = argv['total-budget-ms'];
  const init = parseInit(argv.init);
  if (init !== undefined) options.init = init;
  const phase = argv.json ? undefined : io.phase;
  for (const file of files) {
    try {
      phase?.(`${file}: reading`);
      const events = await io.readHistory(file);
      phase?.(`${file}: checking ${events.length} events`);
      const result = await io.check(events, options);
      phase?.('');
      // Recorded before printing: if stdout is gone, the verdict still counts.
      worse(EXIT[result.verdict]);
      if (argv.json) io.out(jsonText(jsonLine(file, result)));
      else printHuman(io.out, file, result, argv.verbose);
    } catch (error) {
      phase?.('');
      worse(EXIT.badInput);
      if (error instanceof CheckerError) {
        if (argv.json) io.out(JSON.stringify({ file, verdict: 'error', error: error.message, code: error.code }));
        else
          io.err(
            `${file}: ${error.message}\n  (is it a history file? JSONL: one {"process","type","f",...} per line; or Jepsen EDN)`,
          );
      } else {
        // A bug, not bad input: say so, and never let it pass for a verdict.
        const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
        if (argv.json) io.out(JSON.stringify({ file, verdict: 'error', error: String(error), code: 'INTERNAL' }));
        io.err(`${file}: internal error: ${text}`);
      }
    }
  }
  return seen.exit;
}

/** One line of --json output. */
function jsonLine(file: string, result: CheckResult): object {
  return {
    file,
    verdict: result.verdict,
    model: result.model,
    ops: result.ops,
    timeMs: Number(result.timeMs.toFixed(3)),
    verdictTimeMs: Number((result.verdictTimeMs ?? result.timeMs).toFixed(3)),
    shrinkTimeMs: Number((result.shrinkTimeMs ?? 0).toFixed(3)),
    partitions: result.partitions.map(({ counterexample: _drop, ...p }) => p),
    unsearched: result.unsearched ?? [],
    counterexample: result.partitions.filter((p) => p.counterexample).map((p) => p.counterexample),
  };
}

function main(): void {
  const seen = { exit: 0 };
  // `npm run check -- a b c | head` closes stdout early: stop, keeping the
  // worst verdict of the files finished so far (never a clean 0 after an
  // illegal file).
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    process.exit(error.code === 'EPIPE' ? seen.exit : EXIT.badInput);
  });
  // Node exits 1 on an uncaught exception, which would read as "illegal".
  const crash = (error: unknown): void => {
    process.stderr.write(
      `internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(EXIT.badInput);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
  const io: CliIo = {
    out: (line) => {
      process.stdout.write(`${line}\n`);
    },
    err: (line) => {
      process.stderr.write(`${line}\n`);
    },
    readHistory: readHistoryFile,
    check,
  };
  if (process.stderr.isTTY) io.phase = (text) => process.stderr.write(`\r${text}\x1b[K`);
  runCli(hideBin(process.argv), io, seen).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(
        `internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exitCode = EXIT.badInput;
    },
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
