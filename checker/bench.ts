// Checker benchmark (not a test): times the check call (parse excluded, as
// porcupine's figures were taken) on every corpus file beside porcupine's
// recorded `porcupine_jsonl_median_ms`, then large synthetic chaos histories.
//
//   tsx checker/bench.ts [--time-ms 100] [--rounds 1] [--filter etcd] [--synthetic-ops 100000]
//                        [--no-synthetic] [--no-corpus] [--no-workers] [--clock wall|cpu]
//   tsx checker/bench.ts --grid [--grid-budget-ms 20000] [--grid-filter 1k]
//     the chaos grid: every cell in its own process (peak RSS per cell)
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Bench } from 'tinybench';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { check, checkSync, resolveModel } from './check.ts';
import { CORPUS_DIR, corpusEntries, corpusOptions } from './corpus.ts';
import { prepareHistory } from './history.ts';
import { parseJsonl } from './parse.ts';
import { type ChaosOptions, chaosHistory, syntheticHistory } from './synthetic.ts';
import type { CheckOptions, HistoryEvent } from './types.ts';

const argv = await yargs(hideBin(process.argv))
  .scriptName('tsx checker/bench.ts')
  .usage('$0 [options]\n\nTimes the checker on the corpus (beside porcupine) and on synthetic chaos histories.')
  .option('time-ms', { type: 'number', default: 100, describe: 'tinybench time per corpus file and round' })
  .option('rounds', {
    type: 'number',
    default: 1,
    describe: 'corpus rounds (each file timed once per round; the median of the rounds is shown)',
  })
  .option('filter', { type: 'string', describe: 'only corpus files whose name contains this (a,b: either)' })
  .option('corpus', { type: 'boolean', default: true, describe: 'bench the corpus (--no-corpus skips it)' })
  .option('synthetic', {
    type: 'boolean',
    default: true,
    describe: 'bench synthetic histories (--no-synthetic skips them)',
  })
  .option('synthetic-ops', { type: 'number', default: 100_000, describe: 'ops in each synthetic history' })
  .option('clock', {
    choices: ['wall', 'cpu'] as const,
    default: 'wall' as const,
    describe: "what the corpus timings measure: wall time, or this process's CPU time (steadier on a busy machine)",
  })
  .option('workers', {
    type: 'boolean',
    default: true,
    describe: 'also time the synthetic histories on 2 worker threads',
  })
  .option('grid', { type: 'boolean', default: false, describe: 'run the chaos grid instead (see gridCells)' })
  .option('grid-budget-ms', { type: 'number', default: 20_000, describe: 'time budget per grid cell (per key)' })
  .option('grid-filter', { type: 'string', describe: 'only grid cells whose label contains this' })
  .option('grid-seed-offset', {
    type: 'number',
    default: 0,
    describe: 'add this to every grid seed (other histories of the same shapes)',
  })
  .option('cell', { type: 'string', hidden: true, describe: 'internal: run one grid cell (JSON ChaosOptions)' })
  .strict()
  .help()
  .parse();

const cpuNow = (): number => {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1000;
};
const clock = argv.clock === 'cpu' ? cpuNow : () => performance.now();

const tty = process.stderr.isTTY;
const progress = (text: string): void => {
  if (tty) process.stderr.write(`\r${text}\x1b[K`);
};

function cpuMs(fn: () => void): number {
  const before = process.cpuUsage();
  fn();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

async function p50(name: string, fn: () => unknown, timeMs: number, iterations: number): Promise<number> {
  const bench = new Bench({
    time: timeMs,
    iterations,
    warmupTime: Math.min(50, timeMs),
    warmupIterations: 2,
    now: clock,
  });
  bench.add(name, fn);
  await bench.run();
  const result = bench.tasks[0]!.result as { latency?: { p50: number } };
  if (result.latency === undefined) throw new Error(`benchmark of ${name} failed`);
  return result.latency.p50;
}

/** The chaos grid: sizes x keys x processes, each with and without unknown ops and an anomaly. */
function gridCells(seedOffset: number): ChaosOptions[] {
  const cells: ChaosOptions[] = [];
  let seed = 1 + seedOffset;
  for (const ops of [1_000, 10_000, 100_000])
    for (const keys of [1, 10, 100])
      for (const processes of [5, 50])
        for (const [unknownRate, anomaly] of [
          [0, 'none'],
          [0.2, 'stale-read'],
        ] as const)
          cells.push({ ops, keys, processes, unknownRate, anomaly, seed: seed++ });
  cells.push({ ops: 10_000, keys: 1, processes: 20, unknownRate: 0.05, anomaly: 'phantom-read', seed: seed++ });
  cells.push({ ops: 10_000, keys: 1, processes: 20, unknownRate: 0.1, anomaly: 'none', seed: seed++ });
  cells.push({ ops: 1_000, keys: 1, processes: 50, unknownRate: 0.2, anomaly: 'none', seed: seed++ });
  cells.push({ ops: 10_000, keys: 1, processes: 50, unknownRate: 0.2, anomaly: 'none', seed: seed++ });
  cells.push({ ops: 10_000, keys: 1, processes: 50, unknownRate: 0.05, anomaly: 'phantom-read', seed: seed++ });
  cells.push({ ops: 100_000, keys: 10, processes: 20, unknownRate: 0.1, anomaly: 'stale-read', seed: seed++ });
  // One busy key: linearizable with unknown ops, and an anomaly no read shows.
  cells.push({ ops: 100_000, keys: 1, processes: 50, unknownRate: 0.2, anomaly: 'none', seed: seed++ });
  cells.push({ ops: 10_000, keys: 1, processes: 50, unknownRate: 0, anomaly: 'double-cas', seed: seed++ });
  cells.push({ ops: 100_000, keys: 1, processes: 50, unknownRate: 0.05, anomaly: 'double-cas', seed: seed++ });
  return cells;
}

function cellLabel(c: ChaosOptions): string {
  return `${c.ops / 1000}k ops, ${c.keys} keys, ${c.processes} procs, ${c.unknownRate * 100}% unknown, ${c.anomaly}`;
}

if (argv.cell !== undefined) {
  // One grid cell in this process: print one JSON line.
  const cell = JSON.parse(argv.cell) as ChaosOptions;
  const { events, planted } = chaosHistory(cell);
  const cpuBefore = process.cpuUsage();
  const result = checkSync(events, {
    model: 'raftlab-kv',
    budgetMs: argv['grid-budget-ms'],
    memoBytesMax: 1536 * 2 ** 20,
  });
  const cpu = process.cpuUsage(cpuBefore);
  const unknown = result.partitions.filter((p) => p.verdict === 'unknown');
  console.log(
    JSON.stringify({
      verdict: result.verdict,
      expected: planted ? 'illegal' : 'linearizable',
      timeMs: result.timeMs,
      verdictTimeMs: result.verdictTimeMs,
      shrinkTimeMs: result.shrinkTimeMs,
      cpuMs: (cpu.user + cpu.system) / 1000,
      maxRssMb: process.resourceUsage().maxRSS / 1024,
      unknownKeys: unknown.map((p) => `${p.key}:${p.unknownReason}:${p.ops}ops`),
      unsearched: result.unsearched?.length ?? 0,
    }),
  );
  process.exit(0);
}

if (argv.grid) {
  const self = fileURLToPath(import.meta.url);
  console.log(
    `chaos grid, budget ${argv['grid-budget-ms']} ms per key, memo budget 1.5 GiB; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  console.log(
    `${'cell'.padEnd(54)}${'expected'.padEnd(14)}${'verdict'.padEnd(14)}` +
      `${'verdict ms'.padStart(11)}${'cx ms'.padStart(8)}${'CPU ms'.padStart(8)}${'RSS MB'.padStart(8)}  note`,
  );
  let decided = 0;
  let wrong = 0;
  const cells = gridCells(argv['grid-seed-offset']).filter(
    (c) => argv['grid-filter'] === undefined || cellLabel(c).includes(argv['grid-filter']),
  );
  for (const cell of cells) {
    const run = spawnSync(
      process.execPath,
      [...process.execArgv, self, '--cell', JSON.stringify(cell), '--grid-budget-ms', String(argv['grid-budget-ms'])],
      { encoding: 'utf8', maxBuffer: 1 << 24 },
    );
    const line = run.stdout.trim().split('\n').at(-1) ?? '';
    let r: {
      verdict: string;
      expected: string;
      verdictTimeMs: number;
      shrinkTimeMs: number;
      cpuMs: number;
      maxRssMb: number;
      unknownKeys: string[];
    };
    try {
      r = JSON.parse(line);
    } catch {
      console.log(
        `${cellLabel(cell).padEnd(54)}crashed (exit ${run.status}, ${run.signal ?? ''}): ${run.stderr.slice(-300)}`,
      );
      continue;
    }
    const ok = r.verdict === r.expected;
    if (ok) decided++;
    else if (r.verdict !== 'unknown') wrong++;
    const note = r.verdict === 'unknown' ? `unknown keys: ${r.unknownKeys.slice(0, 3).join(', ')}` : ok ? '' : 'WRONG';
    console.log(
      cellLabel(cell).padEnd(54) +
        r.expected.padEnd(14) +
        r.verdict.padEnd(14) +
        r.verdictTimeMs.toFixed(0).padStart(11) +
        r.shrinkTimeMs.toFixed(0).padStart(8) +
        r.cpuMs.toFixed(0).padStart(8) +
        r.maxRssMb.toFixed(0).padStart(8) +
        `  ${note}`,
    );
  }
  console.log(
    `decided right: ${decided}/${cells.length}; wrong: ${wrong}; load average now ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  process.exit(0);
}

interface CorpusTiming {
  file: string;
  porcupine: number;
  porcupineCpu: number;
  /** Our p50 per round. */
  ours: number[];
  /** p50 of pairing and partitioning alone (prepareHistory), per round. */
  pairing: number[];
  withCx?: number;
}

/** The median of a list of numbers. */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

if (argv.corpus) {
  console.log(
    `corpus: ${CORPUS_DIR}; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  console.log(
    `times: median ms (${argv.clock} clock) of checkSync on the parsed events, verdict only (parse excluded; ` +
      'pairing, partitioning, the direct proofs and the search included; "pairing" = prepareHistory alone), median over ' +
      `${argv.rounds} round(s) of ${argv['time-ms']} ms each; porcupine = manifest porcupine_jsonl_median_ms ` +
      '(wall) and porcupine_cpu_median_ms (CPU, of its main pipeline)',
  );
  console.log(
    'file'.padEnd(62) +
      'porc wall'.padStart(10) +
      'porc cpu'.padStart(10) +
      'ours'.padStart(10) +
      'range'.padStart(16) +
      '/wall'.padStart(7) +
      '/cpu'.padStart(7) +
      'pairing'.padStart(9) +
      '  +counterexample',
  );
  const filters = argv.filter?.split(',');
  const entries = corpusEntries().filter((e) => filters === undefined || filters.some((f) => e.file.includes(f)));
  const loaded = entries.map((entry) => ({
    entry,
    events: parseJsonl(readFileSync(join(CORPUS_DIR, entry.file), 'utf8')) as HistoryEvent[],
  }));
  const timings: CorpusTiming[] = loaded.map(({ entry }) => ({
    file: entry.file,
    porcupine: entry.porcupine_jsonl_median_ms ?? NaN,
    porcupineCpu: entry.porcupine_cpu_median_ms ?? NaN,
    ours: [],
    pairing: [],
  }));
  // Rounds go over every file in turn, so a burst of load on the machine
  // hits one round of a file, not all of its measurements.
  for (let round = 0; round < argv.rounds; round++) {
    for (const [i, { entry, events }] of loaded.entries()) {
      progress(`round ${round + 1}/${argv.rounds} ${i + 1}/${loaded.length} ${entry.file}`);
      // Verdict only, as porcupine's CheckEvents: no counterexample (and, by
      // default, no partition searched on once one is illegal, as porcupine).
      const verdictOnly: CheckOptions = { ...corpusOptions(entry), counterexample: false };
      timings[i]!.ours.push(await p50(entry.file, () => checkSync(events, verdictOnly), argv['time-ms'], 10));
      const model = resolveModel(verdictOnly);
      timings[i]!.pairing.push(
        await p50(`${entry.file} pairing`, () => prepareHistory(events, model), argv['time-ms'] / 4, 10),
      );
      if (round === 0 && checkSync(events, verdictOnly).verdict === 'illegal') {
        timings[i]!.withCx = await p50(
          `${entry.file}+cx`,
          () => checkSync(events, corpusOptions(entry)),
          argv['time-ms'],
          3,
        );
      }
    }
  }
  progress('');
  let oursTotal = 0;
  let porcupineTotal = 0;
  let porcupineCpuTotal = 0;
  let cxTotal = 0;
  let over2x = 0;
  let over2xCpu = 0;
  let worst = { file: '', ratio: 0 };
  for (const t of timings) {
    const ours = median(t.ours);
    const ratio = ours / t.porcupine;
    const ratioCpu = ours / t.porcupineCpu;
    oursTotal += ours;
    porcupineTotal += t.porcupine;
    porcupineCpuTotal += t.porcupineCpu;
    cxTotal += t.withCx ?? 0;
    if (ratio > 2) over2x++;
    if (ratioCpu > 2) over2xCpu++;
    if (ratio > worst.ratio) worst = { file: t.file, ratio };
    const range = `${Math.min(...t.ours).toFixed(3)}-${Math.max(...t.ours).toFixed(3)}`;
    console.log(
      t.file.padEnd(62) +
        t.porcupine.toFixed(3).padStart(10) +
        t.porcupineCpu.toFixed(3).padStart(10) +
        ours.toFixed(3).padStart(10) +
        range.padStart(16) +
        ratio.toFixed(2).padStart(7) +
        ratioCpu.toFixed(2).padStart(7) +
        median(t.pairing).toFixed(3).padStart(9) +
        (t.withCx === undefined ? '' : t.withCx.toFixed(3).padStart(10)) +
        (ratio > 2 ? ' !' : ''),
    );
  }
  console.log(
    `total: ours ${oursTotal.toFixed(1)} ms, porcupine ${porcupineTotal.toFixed(1)} ms wall (${(oursTotal / porcupineTotal).toFixed(2)}x), ` +
      `${porcupineCpuTotal.toFixed(1)} ms CPU (${(oursTotal / porcupineCpuTotal).toFixed(2)}x); ` +
      `files over 2x porcupine: ${over2x}/${timings.length} (wall), ${over2xCpu}/${timings.length} (CPU); ` +
      `worst ${worst.file} ${worst.ratio.toFixed(2)}x; illegal files with counterexample: ${cxTotal.toFixed(1)} ms in total; ` +
      `load average now ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
  );
}

if (argv.synthetic) {
  const ops = argv['synthetic-ops'];
  const shapes = [
    { keys: 100, values: 'unique' as const, concurrency: 10 },
    { keys: 100, values: 5, concurrency: 10 },
    // One key, ~14 in flight: few quiescent points, so long segments.
    { keys: 1, values: 'unique' as const, concurrency: 14 },
  ];
  for (const { keys, values, concurrency } of shapes) {
    const events = syntheticHistory({ ops, keys, infoRate: 0.05, concurrency, values, seed: 1 });
    const label = `synthetic ${ops} ops, ${keys} keys, 5% info, ~${concurrency} in flight, values ${values === 'unique' ? 'unique' : 'in 0..4'}`;
    progress(label);
    const options: CheckOptions = { model: 'raftlab-kv', workers: 0 };
    let verdict = '';
    const firstCpu = cpuMs(() => {
      verdict = checkSync(events, options).verdict;
    });
    const started = performance.now();
    checkSync(events, options);
    const secondWall = performance.now() - started;
    const warm = await p50(label, () => checkSync(events, options), 1, 3);
    let workerText = '';
    if (argv.workers) {
      const t = performance.now();
      const result = await check(events, { ...options, workers: 2 });
      workerText = `; on 2 worker threads ${(performance.now() - t).toFixed(0)} ms wall (${result.verdict})`;
    }
    progress('');
    console.log(
      `${label}: ${verdict}; first call ${firstCpu.toFixed(0)} ms CPU, then ${secondWall.toFixed(0)} ms wall, warm median ${warm.toFixed(0)} ms${workerText}`,
    );
  }
}
