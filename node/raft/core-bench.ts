/**
 * Micro-benchmark of the pure core: a 3-node cluster in memory (no disk, no
 * network), so the figures are the core's own CPU cost per operation.
 *
 *   tsx node/raft/core-bench.ts [--seconds 2]
 *
 * Prints ops/s for single proposals, batched proposals and batched ReadIndex,
 * the core-only round trip of one proposal (propose -> committed on the
 * leader), and simulator speed (seeds/s).
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { runSimulation } from './sim/sim.ts';
import { TestNetwork } from './testing/network.ts';

const argv = yargs(hideBin(process.argv))
  .scriptName('tsx node/raft/core-bench.ts')
  .usage('$0 [--seconds N]\n\nMeasures the pure Raft core in memory (3 nodes) and the simulator speed.')
  .option('seconds', { type: 'number', default: 2, describe: 'time per measurement' })
  .strict()
  .help()
  .parseSync();

if (!(argv.seconds > 0)) {
  console.error('--seconds must be a positive number');
  process.exit(2);
}
const budgetMs = argv.seconds * 1000;

function cluster(): { net: TestNetwork; leader: string } {
  const net = new TestNetwork(['n1', 'n2', 'n3'], { seed: 1 });
  const leader = net.electLeader();
  net.tickAll(2);
  return { net, leader };
}

/** Runs `round` until the time budget is spent; returns operations per second and mean microseconds per round. */
function measure(name: string, opsPerRound: number, round: () => void): void {
  for (let i = 0; i < 200; i++) round(); // warm up the JIT
  let rounds = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < budgetMs) {
    for (let i = 0; i < 50; i++) round();
    rounds += 50;
    elapsed = performance.now() - start;
  }
  const opsPerSecond = (rounds * opsPerRound) / (elapsed / 1000);
  const usPerRound = (elapsed * 1000) / rounds;
  console.log(
    `${name.padEnd(48)} ${Math.round(opsPerSecond).toLocaleString('en-US').padStart(12)} ops/s   ${usPerRound.toFixed(1).padStart(8)} us/round`,
  );
}

function proposeRound(batch: number): () => void {
  const { net, leader } = cluster();
  const node = net.node(leader);
  let rounds = 0;
  const datas = Array.from({ length: batch }, () => 'x'.repeat(64));
  return () => {
    if (batch === 1) node.propose(`v${rounds}`);
    else node.proposeBatch(datas);
    net.settle();
    rounds += 1;
    // Keep memory flat, as the runtime does with snapshots.
    if (rounds % 1000 === 0) for (const id of net.ids) net.compact(id);
  };
}

function readRound(batch: number): () => void {
  const { net, leader } = cluster();
  const node = net.node(leader);
  let n = 0;
  return () => {
    for (let i = 0; i < batch; i++) node.readIndex(`r${n++}`);
    net.settle();
    net.readStates.get(leader)!.length = 0;
  };
}

console.log(`raft core, 3 nodes in memory, ${argv.seconds} s per line (node ${process.version})`);
measure('propose 1 entry, commit on all (one round trip)', 1, proposeRound(1));
measure('proposeBatch 100 entries of 64 B, commit on all', 100, proposeRound(100));
measure('readIndex 1 read (one heartbeat round)', 1, readRound(1));
measure('readIndex 100 reads sharing one round', 100, readRound(100));

const simStart = performance.now();
let seeds = 0;
let events = 0;
while (performance.now() - simStart < budgetMs) {
  seeds += 1;
  events += runSimulation({ seed: seeds, nodes: seeds % 2 === 0 ? 5 : 3, steps: 1500 }).events;
}
const simSeconds = (performance.now() - simStart) / 1000;
console.log(
  `${'simulator, 1500 steps per seed (3 and 5 nodes)'.padEnd(48)} ${(seeds / simSeconds).toFixed(0).padStart(12)} seeds/s  ${Math.round(events / simSeconds).toLocaleString('en-US')} events/s`,
);
