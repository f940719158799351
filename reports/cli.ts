/**
 * `npm run report -- store/<name>/<stamp>` re-renders the HTML report of a
 * finished (or broken) chaos or bench run from its files, and refreshes the store's
 * index.html.
 */
import { existsSync, realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { join } from 'node:path';
import { writeBenchReport } from './bench-report.ts';
import { writeChaosReport } from './write-chaos-report.ts';
import { writeStoreIndex } from './store-index.ts';

const argv = await yargs(hideBin(process.argv))
  .scriptName('npm run report --')
  .usage(
    '$0 <run-dir..>\n\nRe-renders report.html of chaos or bench run directories (e.g. store/latest) from their files.',
  )
  .positional('run-dir', { type: 'string', describe: 'a run directory: store/<name>/<stamp> or store/latest' })
  .option('index', {
    type: 'boolean',
    default: true,
    describe: "also rewrite <store>/index.html (the store is the run dir's grandparent)",
  })
  .demandCommand(1, 'pass at least one run directory, e.g. npm run report -- store/latest')
  .strict()
  .help()
  .parseAsync();

let failed = false;
for (const arg of argv._.map(String)) {
  try {
    if (!existsSync(arg)) throw new Error(`${arg} does not exist`);
    const runDir = realpathSync(resolve(arg));
    // A bench run directory has bench.json; a chaos run has test.json.
    const path =
      existsSync(join(runDir, 'bench.json')) && !existsSync(join(runDir, 'test.json'))
        ? writeBenchReport(runDir)
        : writeChaosReport(runDir);
    console.log(`report: ${path}`);
    if (argv.index) console.log(`index:  ${writeStoreIndex(dirname(dirname(runDir)))}`);
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
