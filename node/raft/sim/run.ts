/**
 * Runs the deterministic Raft simulator over many seeds (a soak) or replays one.
 *
 *   tsx node/raft/sim/run.ts --seeds 10000 --nodes 5
 *   tsx node/raft/sim/run.ts --seed 1234 --nodes 3 --trace
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import type { PlantedBug } from '../types.ts';
import { runSimulation, SimFailure, type SimStats, type SimStorageBug } from './sim.ts';

const PLANTED_BUGS: readonly PlantedBug[] = ['commit-old-term', 'read-without-quorum', 'config-overlap'];
const STORAGE_BUGS: readonly SimStorageBug[] = ['forget-vote'];

const argv = yargs(hideBin(process.argv))
  .scriptName('tsx node/raft/sim/run.ts')
  .usage('$0 [options]\n\nRuns the seeded Raft simulator: faults, invariants after every event, then a liveness check.')
  .option('seed', { type: 'number', describe: 'replay exactly this seed (overrides --seeds/--start)' })
  .option('seeds', { type: 'number', default: 1000, describe: 'how many seeds to run' })
  .option('start', { type: 'number', default: 1, describe: 'first seed' })
  .option('nodes', {
    type: 'string',
    default: '3,5',
    describe: 'cluster size(s), comma-separated; seeds alternate between them',
  })
  .option('steps', { type: 'number', default: 3000, describe: 'events per seed before healing' })
  .option('bug', {
    type: 'array',
    string: true,
    choices: PLANTED_BUGS,
    describe: 'plant a core bug (to see the simulator catch it)',
  })
  .option('storage-bug', { type: 'string', choices: STORAGE_BUGS, describe: 'plant a storage bug' })
  .option('lease-too-long', {
    type: 'boolean',
    default: false,
    describe: 'plant a lease bug: leases of five election timeouts, no wait after election',
  })
  .option('membership', {
    type: 'string',
    choices: ['on', 'off', 'auto'],
    default: 'auto',
    describe: 'membership changes in every seed (on), none (off), or in half the seeds (auto)',
  })
  .option('one-change-check', {
    type: 'boolean',
    default: true,
    describe: 'check "one configuration change at a time" (--no-one-change-check: only the end-to-end invariants)',
  })
  .option('trace', { type: 'boolean', default: false, describe: 'keep an event trace and print its tail on failure' })
  .option('keep-going', { type: 'boolean', default: false, describe: 'do not stop at the first failing seed' })
  .example('$0 --seeds 20000 --nodes 5 --steps 5000', 'a long soak')
  .example('$0 --seed 42 --nodes 3 --trace', 'replay one seed with a trace')
  .strict()
  .help()
  .parseSync();

const sizes = argv.nodes.split(',').map((s) => Number(s.trim()));
if (sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 9)) {
  console.error(`--nodes must be a comma-separated list of cluster sizes between 1 and 9, got "${argv.nodes}"`);
  process.exit(2);
}
if (!Number.isInteger(argv.steps) || argv.steps < 1) {
  console.error('--steps must be a positive integer');
  process.exit(2);
}

const plantedBugs = (argv.bug ?? []) as PlantedBug[];
const storageBug = (argv['storage-bug'] ?? null) as SimStorageBug | null;
const seeds: Array<{ seed: number; nodes: number }> = [];
if (argv.seed !== undefined) {
  seeds.push({ seed: argv.seed, nodes: sizes[0]! });
} else {
  for (let k = 0; k < argv.seeds; k++) seeds.push({ seed: argv.start + k, nodes: sizes[k % sizes.length]! });
}

const isTty = process.stderr.isTTY === true;
const started = performance.now();
let failures = 0;
let events = 0;
let lastProgress = 0;
const totals = {
  leaders: 0,
  committed: 0,
  crashes: 0,
  readsServed: 0,
  snapshotsInstalled: 0,
  configChanges: 0,
  wipes: 0,
  maxHealTicks: 0,
};

for (let k = 0; k < seeds.length; k++) {
  const { seed, nodes } = seeds[k]!;
  let stats: SimStats;
  try {
    stats = runSimulation({
      seed,
      nodes,
      steps: argv.steps,
      plantedBugs,
      storageBug,
      trace: argv.trace,
      leaseTooLong: argv['lease-too-long'],
      ...(argv.membership === 'auto' ? {} : { membership: argv.membership === 'on' }),
      oneChangeCheck: argv['one-change-check'],
    });
  } catch (error: unknown) {
    if (!(error instanceof SimFailure)) throw error;
    failures += 1;
    if (isTty) process.stderr.write('\n');
    console.error(`FAIL seed ${seed} (${nodes} nodes): ${error.message}`);
    if (!argv['keep-going']) break;
    continue;
  }
  events += stats.events;
  totals.leaders += stats.leaders;
  totals.committed += stats.committed;
  totals.crashes += stats.crashes;
  totals.readsServed += stats.readsServed;
  totals.snapshotsInstalled += stats.snapshotsInstalled;
  totals.configChanges += stats.configChanges;
  totals.wipes += stats.wipes;
  totals.maxHealTicks = Math.max(totals.maxHealTicks, stats.healTicks);
  if (seeds.length === 1) console.log(JSON.stringify(stats));
  const now = performance.now();
  if (isTty && now - lastProgress > 200) {
    lastProgress = now;
    const rate = ((k + 1) / ((now - started) / 1000)).toFixed(0);
    process.stderr.write(`\rseed ${k + 1}/${seeds.length}  ${rate} seeds/s  failures ${failures}`);
  }
}
if (isTty) process.stderr.write('\n');

const seconds = (performance.now() - started) / 1000;
console.log(
  `${seeds.length} seed(s) from ${seeds[0]?.seed ?? '-'}, nodes ${argv.nodes}, ${argv.steps} steps: ` +
    `${failures === 0 ? 'all invariants held' : `${failures} failed`} in ${seconds.toFixed(1)} s ` +
    `(${(seeds.length / seconds).toFixed(0)} seeds/s, ${(events / seconds / 1000).toFixed(0)}k events/s); ` +
    `leaders ${totals.leaders}, committed ${totals.committed}, crashes ${totals.crashes}, reads ${totals.readsServed}, ` +
    `snapshots installed ${totals.snapshotsInstalled}, configuration changes ${totals.configChanges} ` +
    `(${totals.wipes} re-adds with a wiped data dir), slowest heal ${totals.maxHealTicks} ticks`,
);
process.exit(failures === 0 ? 0 : 1);
