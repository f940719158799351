/**
 * `npm run shrink -- RUN_DIR`: from a failing chaos run, the smallest run that still fails (see harness/README.md
 * "Shrinking a failing run"). Exit codes: 0 a smaller failing run was found, 1 the failure could not be reproduced at
 * all, 2 it reproduced but nothing smaller failed within the budget, 3 usage or internal error.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { check } from '../../checker/index.ts';
import { EXIT_BROKEN, exitBrokenOnCrash, failUsage } from '../../lib/cli.ts';
import { describeFault } from '../nemesis/plan.ts';
import type { Attempt, RunShape } from '../shrink/search.ts';
import { ShrinkInputError, shrinkRun } from '../shrink/shrink-run.ts';

exitBrokenOnCrash('npm run shrink');

const argv = await yargs(hideBin(process.argv))
  .scriptName('npm run shrink --')
  .command('$0 <run-dir>', false, (y) =>
    y.positional('run-dir', { type: 'string', describe: 'the failing run directory (e.g. store/latest)' }),
  )
  .usage(
    [
      '$0 RUN_DIR [options]',
      'Takes a chaos run that was not linearizable (exit 1) and searches for a smaller run that still fails: replays it, tries no faults, drops faults by delta debugging, simplifies the rest (one node, half the window), ends the run after the last fault, halves the clients and the keys. Real processes are not deterministic, so every candidate runs up to --tries times and counts as failing if any run is illegal; the result is run --tries more times for its reproduction rate.',
      'Writes RUN_DIR/shrink-<stamp>/: shrink.json (every attempt: schedule, runs, verdicts, times), a schedule file per attempt and smallest-schedule.json, and prints the npm run chaos command that replays the smallest failing run. Candidate runs are ordinary run directories (<name>-shrink in the same store) whose reports link back to RUN_DIR.',
      'Exit codes: 0 a smaller failing run was found, 1 the failure could not be reproduced at all, 2 it reproduced but nothing smaller failed within the budget, 3 usage or internal error.',
    ].join('\n\n'),
  )
  .option('tries', {
    type: 'number',
    default: 3,
    describe: 'runs per candidate at most (it fails as soon as one is illegal); also the runs of the reproduction rate',
  })
  .option('budget-s', {
    type: 'number',
    default: 900,
    describe:
      'time budget in seconds; no candidate starts after it (the one running finishes); the time of --tries runs of the smallest is kept back for its reproduction rate',
  })
  .option('store', { type: 'string', describe: "where candidate runs go; default: the original run's store" })
  .check((a) => {
    if (a._.length > 0) throw new Error('give exactly one RUN_DIR (a failing run directory, e.g. store/latest)');
    if (!(Number.isInteger(a.tries) && a.tries >= 1)) throw new Error('--tries must be an integer >= 1');
    if (!(a['budget-s'] > 0)) throw new Error('--budget-s must be > 0');
    return true;
  })
  .strict()
  .fail(failUsage('npm run shrink'))
  .help()
  .parseAsync();

const runDir = String(argv['run-dir']);
const summary = (shape: RunShape): string => {
  const faultS = shape.schedule.reduce((sum, p) => sum + (p.stopMs - p.startMs), 0) / 1000;
  return `${shape.schedule.length} faults (${faultS.toFixed(1)} s of faults), ${shape.timeS} s, ${shape.concurrency} clients, ${shape.keys} keys`;
};
const startedMs = performance.now();
const elapsed = (): string => `${((performance.now() - startedMs) / 1000).toFixed(0)}/${argv['budget-s']} s`;
const abort = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (abort.signal.aborted) process.exit(130);
    console.log(`${signal}: stopping after the current run, then writing shrink.json (again to quit now)`);
    abort.abort();
  });
}

let result: Awaited<ReturnType<typeof shrinkRun>>;
try {
  result = await shrinkRun({
    runDir,
    tries: argv.tries,
    budgetS: argv['budget-s'],
    ...(argv.store !== undefined ? { store: argv.store } : {}),
    check,
    signal: abort.signal,
    onTry: (label, shape) => console.log(`[${elapsed()}] ${label}: ${summary(shape)}`),
    onAttempt: (attempt: Attempt, best: RunShape) => {
      const illegal = attempt.tries.filter((t) => t.exitCode === 1).length;
      console.log(
        `[${elapsed()}] attempt ${attempt.attempt} (${attempt.step}): ${attempt.failing ? 'FAILS' : 'passes'} (${illegal}/${attempt.tries.length} illegal); smallest so far: ${summary(best)}`,
      );
    },
  });
} catch (error) {
  console.error(`npm run shrink: ${error instanceof Error ? error.message : String(error)}`);
  if (!(error instanceof ShrinkInputError)) console.error('(internal error)');
  process.exit(EXIT_BROKEN);
}

console.log('');
console.log(`original: ${summary(result.original)}`);
if (!result.reproduced) {
  console.log(`the failure did not reproduce in ${result.attempts[0]?.tries.length ?? 0} runs of the original`);
  console.log(`shrink.json: ${result.shrinkDir}/shrink.json`);
  process.exit(1);
}
console.log(`smallest: ${summary(result.smallest)}`);
for (const p of result.smallest.schedule) {
  console.log(
    `  #${p.index} ${(p.startMs / 1000).toFixed(1)}-${(p.stopMs / 1000).toFixed(1)} s ${describeFault(p.fault)}`,
  );
}
console.log(
  `reproduction rate: ${result.reproduction.illegal}/${result.reproduction.runs} runs illegal; ${result.attempts.length} attempts in ${(result.wallMs / 1000).toFixed(0)} s${result.budgetExhausted ? ' (budget reached)' : ''}`,
);
if (result.smallestRunDir !== undefined) console.log(`smallest failing run: ${result.smallestRunDir}`);
console.log(`shrink.json: ${result.shrinkDir}/shrink.json`);
console.log(`replay: ${result.replay}`);
process.exit(result.smaller ? 0 : 2);
