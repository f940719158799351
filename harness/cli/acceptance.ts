/**
 * The acceptance matrix: many chaos runs (nemesis kinds × cluster
 * sizes × seeds), one after the other, with a summary table. Every run is a
 * normal run directory under `--store`; the table (markdown) and a JSON
 * summary are written to `<store>/acceptance-<stamp>.{md,json}`.
 *
 *   npx tsx harness/cli/acceptance.ts --seeds 20 --time 60 --nodes 3,5
 *   npx tsx harness/cli/acceptance.ts --seeds 2 --time 20 --nemesis kill,partition   (a quick look)
 */
import { runStamp } from '../../lib/time.ts';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { check } from '../../checker/index.ts';
import { runChaos } from '../run/chaos.ts';
import { parseNemesisKinds } from '../nemesis/plan.ts';

const argv = await yargs(hideBin(process.argv))
  .scriptName('tsx harness/cli/acceptance.ts')
  .usage(
    '$0 [options]\n\nRuns chaos for every (nemesis config, cluster size, seed) and prints a table: verdict, ops, info, final reads, checker time.',
  )
  .option('seeds', { type: 'number', default: 20, describe: 'seeds per configuration (first-seed, first-seed+1, ...)' })
  .option('first-seed', { type: 'number', default: 1, describe: 'first seed' })
  .option('time', { type: 'number', default: 60, describe: 'seconds of workload per run' })
  .option('interval', { type: 'number', default: 5, describe: 'nemesis interval, seconds' })
  .option('nodes', { type: 'string', default: '3,5', describe: 'comma-separated cluster sizes' })
  .option('nemesis', {
    type: 'string',
    default: 'kill;pause;partition;latency;kill,pause,partition,latency',
    describe: 'semicolon-separated nemesis configurations (each a --nemesis value)',
  })
  .option('store', { type: 'string', default: 'store', describe: 'run store' })
  .strict()
  .help()
  .parseAsync();

interface Row {
  nemesis: string;
  nodes: number;
  seed: number;
  verdict: string;
  exitCode: number;
  ops: number;
  ok: number;
  info: number;
  finalReadsOk: boolean;
  checkMs: number;
  runDir: string;
}

const configs = argv.nemesis
  .split(';')
  .map((c) => c.trim())
  .filter((c) => c !== '');
const sizes = argv.nodes.split(',').map(Number);
const rows: Row[] = [];
const store = resolve(argv.store);
const stamp = runStamp();
const total = configs.length * sizes.length * argv.seeds;
for (const config of configs) {
  const nemesis = parseNemesisKinds(config);
  for (const nodes of sizes) {
    for (let i = 0; i < argv.seeds; i++) {
      const seed = argv['first-seed'] + i;
      const outcome = await runChaos(
        {
          nodes,
          timeS: argv.time,
          nemesis,
          intervalS: argv.interval,
          workload: 'cas-register',
          keys: 8,
          concurrency: 10,
          seed,
          store,
          timeoutMs: 1000,
          name: `acceptance-${nodes}n-${nemesis.join('+')}`,
          command: `npm run chaos -- --nodes ${nodes} --time ${argv.time} --nemesis ${nemesis.join(',')} --interval ${argv.interval} --seed ${seed}`,
        },
        check,
      );
      const row: Row = {
        nemesis: nemesis.join(','),
        nodes,
        seed,
        verdict: outcome.verdict,
        exitCode: outcome.exitCode,
        ops: outcome.counts?.invoked ?? 0,
        ok: outcome.counts?.ok ?? 0,
        info: outcome.counts?.info ?? 0,
        finalReadsOk: outcome.availabilityOk === true,
        checkMs: outcome.checkTimeMs ?? 0,
        runDir: outcome.runDir,
      };
      rows.push(row);
      console.log(
        `[${rows.length}/${total}] ${row.nemesis} n=${nodes} seed ${seed}: ${row.verdict} (exit ${row.exitCode}) ops ${row.ops} ok ${row.ok} info ${row.info} final reads ${row.finalReadsOk ? 'ok' : 'FAILED'} check ${row.checkMs.toFixed(0)} ms${outcome.error !== undefined ? ` error: ${outcome.error}` : ''}`,
      );
    }
  }
}

const lines = [
  '| nemesis | nodes | seed | verdict | exit | ops | ok | info | final reads | checker ms | run |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map(
    (r) =>
      `| ${r.nemesis} | ${r.nodes} | ${r.seed} | ${r.verdict} | ${r.exitCode} | ${r.ops} | ${r.ok} | ${r.info} | ${r.finalReadsOk ? 'ok' : 'FAILED'} | ${r.checkMs.toFixed(0)} | ${r.runDir} |`,
  ),
];
const passed = rows.filter((r) => r.exitCode === 0).length;
lines.push('', `${passed}/${rows.length} runs linearizable with every final read ok.`);
writeFileSync(join(store, `acceptance-${stamp}.md`), `${lines.join('\n')}\n`);
writeFileSync(join(store, `acceptance-${stamp}.json`), `${JSON.stringify(rows, null, 2)}\n`);
console.log(lines.join('\n'));
process.exit(passed === rows.length ? 0 : 1);
