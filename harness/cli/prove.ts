/**
 * `npm run prove`: does the chaos suite catch planted bugs, and never flag
 * the correct node? See harness/PROVE.md.
 *
 * Exit codes: 0 every bug caught in every seed and no false alarm; 1
 * otherwise; 3 interrupted.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { exitBrokenOnCrash, failUsage } from '../../lib/cli.ts';
import { check } from '../../checker/index.ts';
import { proveTableLines } from '../../reports/prove-report.ts';
import { bugNames, parseBugList } from '../run/bug-presets.ts';
import { runProve } from '../prove/campaign.ts';

/** Parses `--seeds 1,2,3` (or `--count N`: seeds 1..N). */
export function parseSeeds(seeds: string | undefined, count: number): number[] {
  if (seeds === undefined || seeds.trim() === '') return Array.from({ length: count }, (_, i) => i + 1);
  return seeds.split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isSafeInteger(n)) throw new Error(`--seeds: "${s.trim()}" is not an integer; give e.g. --seeds 1,2,3`);
    return n;
  });
}

exitBrokenOnCrash('npm run prove');
const argv = await yargs(hideBin(process.argv))
  .scriptName('npm run prove --')
  .usage(
    `$0 [options]\n\nRuns every planted bug (${bugNames.join(', ')}) with a fixed seed set, each under the chaos settings that can expose it (harness/run/bug-presets.ts), and the correct node with the same seeds and settings; prints per bug the seeds caught, the median seconds to detection, and the correct node's false alarms. Results: <store>/prove/<stamp>/prove.json and prove.html, plus one chaos run directory per run.`,
  )
  .option('seeds', { type: 'string', describe: 'comma-separated seeds, e.g. 1,2,3 (default: 1..--count)' })
  .option('count', { type: 'number', default: 3, describe: 'number of seeds (1..N) when --seeds is not given' })
  .option('bugs', {
    type: 'string',
    default: 'all',
    describe: `comma-separated bugs to run, or all: ${bugNames.join(', ')}`,
  })
  .option('time', { type: 'number', describe: "seconds of workload per run (default: each bug preset's own)" })
  .option('correct', {
    type: 'boolean',
    default: true,
    describe: "also run the correct node with every bug's settings (the false-alarm check); --no-correct skips it",
  })
  .option('store', { type: 'string', default: 'store', describe: 'run store directory' })
  .check((a) => {
    if (!(Number.isInteger(a.count) && a.count >= 1)) throw new Error('--count must be a positive integer');
    if (a.time !== undefined && !(a.time > 0)) throw new Error('--time must be > 0 seconds');
    parseSeeds(a.seeds, a.count);
    parseBugList(a.bugs);
    return true;
  })
  .strict()
  .fail(failUsage('npm run prove'))
  .help()
  .parseAsync();

const seeds = parseSeeds(argv.seeds, argv.count);
const bugs = parseBugList(argv.bugs);
const command = [
  'npm run prove --',
  `--bugs ${bugs.join(',')}`,
  `--seeds ${seeds.join(',')}`,
  ...(argv.time !== undefined ? [`--time ${argv.time}`] : []),
  ...(argv.correct ? [] : ['--no-correct']),
].join(' ');
const abort = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (abort.signal.aborted) process.exit(130);
    console.log(`${signal}: finishing the current run, then writing what we have (again to quit now)`);
    abort.abort();
  });
}
const total = bugs.length * seeds.length * (argv.correct ? 2 : 1);
console.log(
  `prove: ${bugs.length} bug(s) x ${seeds.length} seed(s)${argv.correct ? ' x (bug, correct)' : ''} = ${total} chaos runs`,
);
const { dir, file } = await runProve(
  {
    bugs,
    seeds,
    store: argv.store,
    correct: argv.correct,
    ...(argv.time !== undefined ? { timeS: argv.time } : {}),
    command,
  },
  check,
  ({ done, total: all, run }) => {
    const what = run.variant === 'correct' ? `correct (${run.settings} settings)` : `bug ${run.variant}`;
    const mark =
      run.variant === 'correct'
        ? run.verdict === 'illegal'
          ? 'FALSE ALARM'
          : 'ok'
        : run.verdict === 'illegal'
          ? 'caught'
          : 'MISSED';
    const detection = run.detectionS !== undefined ? `, detected at ${run.detectionS.toFixed(1)} s` : '';
    console.log(
      `[${done}/${all}] ${what} seed ${run.seed}: ${run.verdict} -> ${mark}${detection} (${run.wallS.toFixed(0)} s) ${run.runDir}`,
    );
  },
  abort.signal,
);
console.log('');
for (const line of proveTableLines(file.summary)) console.log(line);
console.log(`\nprove.json: ${dir}/prove.json\nreport: ${dir}/prove.html`);
// The correct node must pass every run: a run it did not finish linearizable (a false alarm, or a run that ended
// unknown or broken) proves nothing about it, so it fails the campaign too.
const allCaught = file.summary.every((r) =>
  r.variant === 'correct' ? (r.falseAlarms ?? 0) === 0 && (r.undecided ?? 0) === 0 : r.caught === r.runs,
);
process.exit(abort.signal.aborted ? 3 : allCaught ? 0 : 1);
