// The checker's entry point: prepare the history, split it into partitions
// (P-compositionality: Herlihy & Wing 1990, linearizability is local, so a
// history is linearizable iff each per-key sub-history is), search each
// partition within its own budget, and explain the illegal ones.
import { availableParallelism } from 'node:os';
import { CheckerError } from './errors.ts';
import { type Operation, prepareHistory } from './history.ts';
import { createModel } from './models.ts';
import { checkPartitions, combineVerdicts, type PartitionsOutcome, resolveOptions } from './partitions.ts';
import type { CheckOptions, CheckResult, HistoryEvent, Model } from './types.ts';
import { valueKey } from './values.ts';

// Worker threads pay off only when there is a lot to search: starting one
// (with the tsx loader) cost 1.2-1.8 s on the loaded 2-core dev box, while
// 100k synthetic ops over 100 keys check in ~0.7 s in-thread (README).
const WORKER_MIN_OPS = 200_000;
const WORKER_MIN_PARTITIONS = 4;
const WORKER_MIN_CORES = 4;

/** The model of the options: a built-in one by name (default raftlab-kv) or the object given. */
export function resolveModel(options: CheckOptions): Model<any> {
  const model = options.model ?? 'raftlab-kv';
  if (typeof model !== 'string') return model;
  // Models are immutable, so one instance per configuration is shared: this
  // saves rebuilding it per call and keeps the search's call sites on one
  // set of functions (cheaper for small histories).
  const cacheKey = `${model}|${valueKey(options.init)}|${options.nullRead ?? ''}`;
  let built = modelCache.get(cacheKey);
  if (built === undefined) {
    built = createModel(model, { init: options.init, nullRead: options.nullRead });
    if (modelCache.size >= MODEL_CACHE_MAX) modelCache.clear();
    modelCache.set(cacheKey, built);
  }
  return built;
}

const MODEL_CACHE_MAX = 64;
const modelCache = new Map<string, Model<any>>();

function partitionList(prepared: {
  partitions: Map<string | undefined, Operation[]>;
}): { key: string | undefined; ops: Operation[] }[] {
  return [...prepared.partitions].map(([key, ops]) => ({ key, ops }));
}

function sortPartitions<P extends { key?: string }>(partitions: P[]): P[] {
  return partitions.sort((a, b) => {
    const x = a.key ?? '';
    const y = b.key ?? '';
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

/**
 * Checks a history in this thread. Same result as `check` but never uses
 * worker threads (so it is synchronous).
 */
export function checkSync(events: readonly HistoryEvent[], options: CheckOptions = {}): CheckResult {
  const started = performance.now();
  const model = resolveModel(options);
  const prepared = prepareHistory(events, model);
  const outcome = checkPartitions(partitionList(prepared), model, resolveOptions(options));
  return finish(started, model, prepared.clientOps, outcome, 0);
}

function finish(
  started: number,
  model: Model<any>,
  ops: number,
  outcome: PartitionsOutcome,
  workers: number,
): CheckResult {
  const timeMs = performance.now() - started;
  let shrinkTimeMs = 0;
  for (const p of outcome.results) shrinkTimeMs += p.shrinkTimeMs ?? 0;
  return {
    verdict: combineVerdicts(outcome.results),
    model: model.name,
    ops,
    partitions: sortPartitions(outcome.results),
    unsearched: sortPartitions(outcome.unsearched),
    timeMs,
    // Shrinking runs after each illegal verdict, so the rest is the verdict's.
    verdictTimeMs: Math.max(0, timeMs - shrinkTimeMs),
    shrinkTimeMs,
    workers,
  };
}

function workerCount(options: CheckOptions, partitions: Map<string | undefined, Operation[]>): number {
  const wanted = options.workers ?? 'auto';
  if (typeof options.model === 'object') return 0; // a custom model cannot cross threads
  const cores = Math.max(1, availableParallelism());
  if (wanted !== 'auto') {
    if (!Number.isInteger(wanted) || wanted < 0)
      throw new CheckerError('CHECKER_OPTIONS', `workers must be 'auto' or an integer >= 0`);
    return Math.min(wanted, partitions.size);
  }
  if (cores < WORKER_MIN_CORES || partitions.size < WORKER_MIN_PARTITIONS) return 0;
  let total = 0;
  for (const ops of partitions.values()) total += ops.length;
  return total >= WORKER_MIN_OPS ? Math.min(cores, 4, partitions.size) : 0;
}

/**
 * Checks a history: the main entry point. `check(events, { model:
 * 'raftlab-kv', budgetMs: 10_000 })`. Partitions go to worker threads when
 * there are enough large ones (options.workers).
 */
export async function check(events: readonly HistoryEvent[], options: CheckOptions = {}): Promise<CheckResult> {
  const started = performance.now();
  const model = resolveModel(options);
  const resolved = resolveOptions(options);
  const prepared = prepareHistory(events, model);
  const workers = workerCount(options, prepared.partitions);
  let outcome: PartitionsOutcome;
  if (workers === 0) {
    outcome = checkPartitions(partitionList(prepared), model, resolved);
  } else {
    const { checkOnWorkers } = await import('./pool.ts');
    outcome = await checkOnWorkers(
      partitionList(prepared),
      { model: model.name, init: options.init, nullRead: options.nullRead },
      resolved,
      workers,
    );
  }
  return finish(started, model, prepared.clientOps, outcome, workers);
}
