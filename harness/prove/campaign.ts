/**
 * `npm run prove`: runs every planted bug with a fixed seed set and
 * the correct node with the same seeds and settings, and tells how often
 * the chaos suite caught each bug, how fast, and whether it ever flagged the
 * correct node. Every run is an ordinary chaos run directory; the summary
 * goes to `<store>/prove/<stamp>/prove.json` and `prove.html`.
 */
import { runStamp } from '../../lib/time.ts';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CheckResult } from '../../checker/types.ts';
import { writeProveReport, type ProveFile, type ProveRun, type ProveSummaryRow } from '../../reports/prove-report.ts';
import { BUG_PRESETS, type BugName } from '../run/bug-presets.ts';
import { chaosCommandLine } from '../run/command-line.ts';
import { runChaos, type ChaosOptions, type CheckFn } from '../run/chaos.ts';

/** What `npm run prove` is asked to do. */
export interface ProveOptions {
  bugs: readonly BugName[];
  seeds: readonly number[];
  store: string;
  /** Run the correct node under each bug's settings too (the false-alarm check). */
  correct: boolean;
  /** Overrides each preset's workload seconds. */
  timeS?: number;
  /** The command line, stored in prove.json. */
  command: string;
}

/** Progress of a prove session, one event per finished run. */
export interface ProveProgress {
  done: number;
  total: number;
  run: ProveRun;
}

/** The chaos options of one cell: a bug's preset, with that bug planted or not. */
export function cellOptions(bug: BugName, planted: boolean, seed: number, store: string, timeS?: number): ChaosOptions {
  const p = BUG_PRESETS[bug];
  const options: ChaosOptions = {
    nodes: p.nodes,
    timeS: timeS ?? p.timeS,
    nemesis: [...p.nemesis],
    intervalS: p.intervalS,
    workload: p.workload,
    keys: p.keys,
    concurrency: p.concurrency,
    seed,
    store,
    timeoutMs: p.timeoutMs,
    name: planted ? `prove-${bug}` : `prove-correct-${bug}`,
    recoveryBoundMs: 30_000,
    checkBudgetMs: 30_000,
    retry: p.retry,
    readMode: p.readMode,
    electionTimeoutMs: p.electionTimeoutMs,
    heartbeatMs: p.heartbeatMs,
    ...(p.restartQuiet === false ? { restartQuiet: false } : {}),
    ...(planted ? { bug } : {}),
  };
  return { ...options, command: chaosCommandLine(options) };
}

/**
 * Seconds from the workload's start to the anomaly: the earliest invoke
 * among the operations the checker blames (those no partial linearization
 * could place, `stuckOps`), else among every operation of the
 * counterexample window; the earliest over all illegal keys.
 */
export function detectionSeconds(check: CheckResult | undefined): number | undefined {
  let earliestNs: number | undefined;
  for (const p of check?.partitions ?? []) {
    const cx = p.counterexample;
    if (p.verdict !== 'illegal' || cx === undefined) continue;
    const stuck = cx.ops.filter((op) => cx.stuckOps.includes(op.id));
    for (const op of stuck.length > 0 ? stuck : cx.ops) {
      if (op.invokeTimeNs === undefined) continue;
      if (earliestNs === undefined || op.invokeTimeNs < earliestNs) earliestNs = op.invokeTimeNs;
    }
  }
  return earliestNs === undefined ? undefined : earliestNs / 1e9;
}

function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Summarises runs into the table rows: one per bug, then the correct node. */
export function summarise(runs: readonly ProveRun[], bugs: readonly BugName[]): ProveSummaryRow[] {
  const rows: ProveSummaryRow[] = [];
  for (const bug of bugs) {
    const mine = runs.filter((r) => r.variant === bug);
    const caught = mine.filter((r) => r.verdict === 'illegal');
    const times = caught.flatMap((r) => (r.detectionS !== undefined ? [r.detectionS] : []));
    const med = median(times);
    rows.push({
      variant: bug,
      runs: mine.length,
      caught: caught.length,
      ...(med !== undefined ? { medianDetectionS: med } : {}),
      undecided: mine.filter((r) => r.verdict === 'unknown' || r.verdict === 'broken').length,
    });
  }
  const correct = runs.filter((r) => r.variant === 'correct');
  if (correct.length > 0) {
    rows.push({
      variant: 'correct',
      runs: correct.length,
      caught: 0,
      falseAlarms: correct.filter((r) => r.verdict === 'illegal').length,
      undecided: correct.filter((r) => r.verdict === 'unknown' || r.verdict === 'broken').length,
    });
  }
  return rows;
}

/** Runs the whole matrix, writing prove.json after every run (so an interrupted session keeps what it did). */
export async function runProve(
  options: ProveOptions,
  check: CheckFn,
  onProgress: (p: ProveProgress) => void = () => {},
  signal?: AbortSignal,
): Promise<{ dir: string; file: ProveFile }> {
  const store = resolve(options.store);
  const dir = join(store, 'prove', runStamp());
  mkdirSync(dir, { recursive: true });
  const cells: { bug: BugName; planted: boolean; seed: number }[] = [];
  for (const bug of options.bugs) {
    for (const seed of options.seeds) {
      cells.push({ bug, planted: true, seed });
      if (options.correct) cells.push({ bug, planted: false, seed });
    }
  }
  const file: ProveFile = {
    startedAt: new Date().toISOString(),
    command: options.command,
    seeds: [...options.seeds],
    bugs: [...options.bugs],
    presets: Object.fromEntries(options.bugs.map((b) => [b, BUG_PRESETS[b]])),
    runs: [],
    summary: [],
  };
  const save = (): void => {
    file.summary = summarise(file.runs, options.bugs);
    writeFileSync(join(dir, 'prove.json'), `${JSON.stringify(file, null, 2)}\n`);
    writeProveReport(dir, file);
  };
  save();
  for (const cell of cells) {
    if (signal?.aborted === true) break;
    const chaos = cellOptions(cell.bug, cell.planted, cell.seed, store, options.timeS);
    const startedMs = performance.now();
    const outcome = await runChaos(chaos, check, () => {}, signal);
    let checkResult: CheckResult | undefined;
    try {
      checkResult = (JSON.parse(readFileSync(join(outcome.runDir, 'results.json'), 'utf8')) as { check?: CheckResult })
        .check;
    } catch {
      // A broken run may have no results: it counts as undecided.
    }
    const detectionS = detectionSeconds(checkResult);
    const run: ProveRun = {
      variant: cell.planted ? cell.bug : 'correct',
      settings: cell.bug,
      seed: cell.seed,
      verdict: outcome.verdict,
      exitCode: outcome.exitCode,
      runDir: outcome.runDir,
      wallS: (performance.now() - startedMs) / 1000,
      ...(detectionS !== undefined ? { detectionS } : {}),
      ...(outcome.error !== undefined ? { error: outcome.error } : {}),
      command: chaos.command ?? '',
    };
    file.runs.push(run);
    save();
    onProgress({ done: file.runs.length, total: cells.length, run });
  }
  file.finishedAt = new Date().toISOString();
  save();
  return { dir, file };
}
