/**
 * `npm run shrink` on a run directory: reads the failing run's test.json (options and schedule), runs candidates
 * with runChaos (each with an explicit schedule, `shrunkFrom` pointing back at the original) and writes, in
 * `<run>/shrink-<stamp>/`, one schedule file per attempt, `smallest-schedule.json` and `shrink.json` (every attempt:
 * schedule, runs, verdicts, times; the result, its reproduction rate and the command that replays it).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { runStamp } from '../../lib/time.ts';
import { workloadNames, type WorkloadName } from '../../workloads/generator.ts';
import { parseNemesisKinds, parseSchedule, type PlannedFault } from '../nemesis/plan.ts';
import { type ChaosOptions, type CheckFn, runChaos } from '../run/chaos.ts';
import { type Attempt, type RunShape, type ShrinkResult, shrinkSearch } from './search.ts';
import { chaosCommandLine } from '../run/command-line.ts';

/** A run directory that cannot be shrunk (not a run, not failing, unreadable): a usage error. */
export class ShrinkInputError extends Error {
  override readonly name = 'ShrinkInputError';
}

export interface ShrinkRunOptions {
  runDir: string;
  tries: number;
  budgetS: number;
  /** Where candidate runs go; default the store the original is in. */
  store?: string;
  check: CheckFn;
  onAttempt?: (attempt: Attempt, best: RunShape) => void;
  /** Called before each run of a candidate. */
  onTry?: (label: string, shape: RunShape) => void;
  signal?: AbortSignal;
}

export interface ShrinkRunResult extends ShrinkResult {
  shrinkDir: string;
  /** `npm run chaos` command that replays the smallest failing run. */
  replay: string;
  /** A run directory of the smallest shape that was illegal. */
  smallestRunDir?: string;
}

/** The original run as the search sees it: chaos options, the shape to shrink, the store. */
export function readFailingRun(runDir: string): { base: ChaosOptions; shape: RunShape; name: string } {
  const dir = resolve(runDir);
  const read = (file: string): Record<string, unknown> => {
    const path = join(dir, file);
    if (!existsSync(path)) throw new ShrinkInputError(`${path} does not exist: ${runDir} is not a finished chaos run`);
    try {
      return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new ShrinkInputError(`${path}: ${(error as Error).message}`);
    }
  };
  const test = read('test.json');
  const results = read('results.json');
  if (results.exitCode !== 1) {
    throw new ShrinkInputError(
      `${runDir} did not fail (exit ${String(results.exitCode)}, verdict ${String(results.verdict)}): shrink takes a run that was not linearizable (exit 1)`,
    );
  }
  const o = (test.options ?? {}) as Record<string, unknown>;
  const num = (key: string): number => {
    const value = o[key];
    if (typeof value !== 'number') throw new ShrinkInputError(`test.json options.${key} is missing or not a number`);
    return value;
  };
  const workload = String(o.workload);
  if (!(workloadNames as readonly string[]).includes(workload)) {
    throw new ShrinkInputError(`test.json options.workload ${JSON.stringify(o.workload)} is not a workload`);
  }
  const nodes = num('nodes');
  const timeS = num('time');
  const nodeIds = Array.from({ length: nodes }, (_, i) => `n${i + 1}`);
  let schedule: PlannedFault[];
  try {
    schedule = parseSchedule(test.schedule ?? [], nodeIds, timeS * 1000);
  } catch (error) {
    throw new ShrinkInputError(`test.json schedule: ${(error as Error).message}`);
  }
  const base: ChaosOptions = {
    nodes,
    timeS,
    nemesis: Array.isArray(o.nemesis) ? parseNemesisKinds(o.nemesis.join(',')) : [],
    intervalS: num('interval'),
    workload: workload as WorkloadName,
    keys: num('keys'),
    concurrency: num('concurrency'),
    ...(typeof o.rate === 'number' ? { rate: o.rate } : {}),
    seed: typeof test.seed === 'number' ? test.seed : 0,
    store: dirname(dirname(dir)),
    timeoutMs: num('timeout-ms'),
    ...(typeof o.bug === 'string' ? { bug: o.bug } : {}),
    ...(o['read-mode'] === 'index' || o['read-mode'] === 'lease' ? { readMode: o['read-mode'] } : {}),
    ...(o['read-mode'] === 'linearizable' || o['read-mode'] === 'serializable' ? { etcdReadMode: o['read-mode'] } : {}),
    ...(typeof o.retry === 'number' ? { retry: o.retry } : {}),
    // The system and the node settings the run had: a shrunk run must test the same thing.
    ...(o.system === 'raftlab' || o.system === 'exec' || o.system === 'etcd' ? { system: o.system } : {}),
    ...(typeof o['node-cmd'] === 'string' ? { nodeCmd: o['node-cmd'] } : {}),
    ...(o.net === 'hosts' ? { net: 'hosts' as const } : {}),
    ...(typeof o['election-timeout-ms'] === 'number' ? { electionTimeoutMs: o['election-timeout-ms'] } : {}),
    ...(typeof o['heartbeat-ms'] === 'number' ? { heartbeatMs: o['heartbeat-ms'] } : {}),
    ...(o['restart-quiet'] === false ? { restartQuiet: false } : {}),
    ...(typeof o.adapter === 'string' && o.adapter.startsWith('stale') ? { adapter: 'stale' as const } : {}),
  };
  const shape: RunShape = { timeS, concurrency: base.concurrency, keys: base.keys, schedule };
  return { base, shape, name: typeof test.name === 'string' ? test.name : basename(dirname(dir)) };
}

/** The `npm run chaos` command line of `base` with `shape` and its schedule file. */
export function chaosCommand(base: ChaosOptions, shape: RunShape, scheduleFile: string, shrunkFrom: string): string {
  const options = { ...base, timeS: shape.timeS, keys: shape.keys, concurrency: shape.concurrency };
  return chaosCommandLine(options, { scheduleFile, shrunkFrom });
}

export async function shrinkRun(options: ShrinkRunOptions): Promise<ShrinkRunResult> {
  const runDir = resolve(options.runDir);
  const { base, shape, name } = readFailingRun(runDir);
  const shrinkDir = join(runDir, `shrink-${runStamp()}`);
  mkdirSync(shrinkDir, { recursive: true });
  const cwd = process.cwd();
  // Paths in commands: relative to where the shrink runs when under it, absolute otherwise.
  const shown = (path: string): string => {
    const rel = relative(cwd, path);
    return rel === '' ? '.' : rel.startsWith('..') ? path : rel;
  };
  const runs = new Map<string, string>();
  let file = 0;
  const result = await shrinkSearch(
    shape,
    async (candidate, label) => {
      const scheduleFile = join(shrinkDir, `schedule-${String(++file).padStart(3, '0')}.json`);
      writeFileSync(scheduleFile, `${JSON.stringify(candidate.schedule, null, 2)}\n`);
      options.onTry?.(label, candidate);
      const startedMs = performance.now();
      const outcome = await runChaos(
        {
          ...base,
          ...(options.store !== undefined ? { store: options.store } : {}),
          name: `${name}-shrink`,
          timeS: candidate.timeS,
          concurrency: candidate.concurrency,
          keys: candidate.keys,
          schedule: candidate.schedule,
          shrunkFrom: runDir,
          command: chaosCommand(base, candidate, shown(scheduleFile), shown(runDir)),
        },
        options.check,
        () => {},
        options.signal,
      );
      if (outcome.exitCode === 1) runs.set(JSON.stringify(candidate), outcome.runDir);
      return {
        exitCode: outcome.exitCode,
        verdict: outcome.verdict,
        runDir: outcome.runDir,
        wallMs: performance.now() - startedMs,
        ...(outcome.error !== undefined ? { error: outcome.error } : {}),
      };
    },
    {
      tries: options.tries,
      budgetMs: options.budgetS * 1000,
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
      ...(options.onAttempt !== undefined ? { onAttempt: options.onAttempt } : {}),
    },
  );
  const smallestFile = join(shrinkDir, 'smallest-schedule.json');
  writeFileSync(smallestFile, `${JSON.stringify(result.smallest.schedule, null, 2)}\n`);
  const replay = chaosCommand(base, result.smallest, shown(smallestFile), shown(runDir));
  const smallestRunDir = runs.get(JSON.stringify(result.smallest));
  const report: ShrinkRunResult = {
    ...result,
    shrinkDir,
    replay,
    ...(smallestRunDir !== undefined ? { smallestRunDir } : {}),
  };
  writeFileSync(
    join(shrinkDir, 'shrink.json'),
    `${JSON.stringify({ originalRunDir: runDir, tries: options.tries, budgetS: options.budgetS, ...report }, null, 2)}\n`,
  );
  return report;
}
