// npm run check -- FILE... [--model M] [--init V] [--null-read value|wildcard]
//                          [--budget-ms N] [--json]
// Exit codes: 0 all linearizable, 1 any illegal, 2 any unknown and none
// illegal, 3 a file could not be read or parsed (or a bad flag).
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { check } from './check.ts';
import { CheckerError } from './errors.ts';
import { MODEL_NAMES } from './models.ts';
import { readHistoryFile } from './parse.ts';
import type { CheckOptions, CheckResult, ModelName, NullRead, PartitionResult } from './types.ts';

const WINDOW_LINES_MAX = 25;

// `npm run check -- ... | head` closes stdout early: stop quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

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

function printHuman(file: string, result: CheckResult, verbose: boolean): void {
  console.log(
    `${file}: ${result.verdict.toUpperCase()} (${result.model}, ${result.ops} ops, ${result.partitions.length} partitions, ${result.timeMs.toFixed(1)} ms)`,
  );
  const interesting = result.partitions.filter((p) => verbose || p.verdict !== 'linearizable');
  for (const p of interesting.slice(0, verbose ? Infinity : 20)) {
    console.log(describePartition(p));
    const cx = p.counterexample;
    if (cx === undefined) continue;
    console.log(
      `    smallest window found${cx.minimal ? '' : ' (shrinking cut short)'}: events ${cx.windowStartIndex}..${cx.windowEndIndex}, starting in ${cx.initialState}`,
    );
    const shown = verbose ? cx.ops : cx.ops.slice(0, WINDOW_LINES_MAX);
    for (const op of shown) {
      const stuck = cx.stuckOps.includes(op.id) ? '   <- never linearizable here' : '';
      const outcome = op.outcome === 'ok' ? 'ok  ' : op.relaxed ? 'free' : 'info';
      console.log(
        `      [${op.invokeIndex}..${op.completeIndex ?? '∞'}] p${op.process} ${outcome} ${op.description}${stuck}`,
      );
    }
    if (shown.length < cx.ops.length)
      console.log(`      ... ${cx.ops.length - shown.length} more ops (--verbose or --json shows all)`);
    const longest = cx.partialLinearizations[0];
    if (longest !== undefined) {
      // Its end is where it got stuck: show that part.
      const tail = verbose ? longest : longest.slice(-WINDOW_LINES_MAX);
      const skipped = longest.length - tail.length;
      const text = tail.map((s) => `#${s.id}→${s.state}`).join(', ') || '(empty)';
      console.log(`    longest partial linearization: ${skipped > 0 ? `(${skipped} steps before) … ` : ''}${text}`);
    }
  }
  if (interesting.length > 20 && !verbose) console.log(`  ... ${interesting.length - 20} more (use --verbose)`);
}

async function main(): Promise<number> {
  const argv = await yargs(hideBin(process.argv))
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
    .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'list every partition' })
    .demandCommand(1, 'give at least one history file (JSONL or .edn)')
    .example('$0 store/latest/history.jsonl', 'check a chaos run')
    .example('$0 --model cas-register --init 0 --null-read wildcard h.edn', 'a Knossos register history')
    .strict()
    .help()
    .parse();
  const files = argv._.map(String);
  const options: CheckOptions = {
    model: argv.model,
    nullRead: argv['null-read'],
    budgetMs: argv['budget-ms'],
    memoBytesMax: argv['memo-mb'] * 1024 * 1024,
    counterexample: argv.counterexample,
  };
  if (argv['total-budget-ms'] !== undefined) options.totalBudgetMs = argv['total-budget-ms'];
  const init = parseInit(argv.init);
  if (init !== undefined) options.init = init;
  let exit: number = EXIT.linearizable;
  const worse = (code: number): void => {
    // Bad input dominates, then illegal, then unknown.
    const rank = (c: number): number => (c === EXIT.badInput ? 3 : c === EXIT.illegal ? 2 : c === EXIT.unknown ? 1 : 0);
    if (rank(code) > rank(exit)) exit = code;
  };
  for (const file of files) {
    const phase =
      process.stderr.isTTY && !argv.json ? (text: string) => process.stderr.write(`\r${text}\x1b[K`) : undefined;
    try {
      phase?.(`${file}: reading`);
      const events = await readHistoryFile(file);
      phase?.(`${file}: checking ${events.length} events`);
      const result = await check(events, options);
      phase?.('');
      if (argv.json) {
        console.log(
          JSON.stringify({
            file,
            verdict: result.verdict,
            model: result.model,
            ops: result.ops,
            timeMs: Number(result.timeMs.toFixed(3)),
            partitions: result.partitions.map(({ counterexample: _drop, ...p }) => p),
            counterexample: result.partitions.filter((p) => p.counterexample).map((p) => p.counterexample),
          }),
        );
      } else printHuman(file, result, argv.verbose);
      worse(EXIT[result.verdict]);
    } catch (error) {
      phase?.('');
      if (!(error instanceof CheckerError)) throw error;
      const message = `${file}: ${error.message}`;
      if (argv.json) console.log(JSON.stringify({ file, verdict: 'error', error: error.message, code: error.code }));
      else
        console.error(
          `${message}\n  (is it a history file? JSONL: one {"process","type","f",...} per line; or Jepsen EDN)`,
        );
      worse(EXIT.badInput);
    }
  }
  return exit;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exitCode = EXIT.badInput;
  },
);
