// Checking a list of partitions in this thread: the piece both the entry
// point (check.ts) and the worker threads (worker.ts) run, kept apart so
// imports point one way (check -> pool -> partitions, worker -> partitions).
import { explainIllegal } from './counterexample.ts';
import { CheckerError } from './errors.ts';
import type { Operation } from './history.ts';
import type { ModelOptions } from './models.ts';
import { searchPartition } from './search.ts';
import type { CheckOptions, Model, PartitionResult, Verdict } from './types.ts';

const DEFAULT_BUDGET_MS = 30_000;
const DEFAULT_MEMO_BYTES_MAX = 512 * 1024 * 1024;
const DEFAULT_SHRINK_MS = 2_000;
const DEFAULT_AFTER_ILLEGAL_MS = 2_000;
const MIN_PARTITION_BUDGET_MS = 5;
/** Options with every default filled in (also what a worker receives). */
export interface ResolvedOptions {
  budgetMs: number;
  memoBytesMax: number;
  counterexample: boolean;
  shrinkBudgetMs: number;
  budgetAfterIllegalMs: number;
  totalBudgetMs: number;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0)) {
    throw new CheckerError('CHECKER_OPTIONS', `${name} must be a positive number, got ${String(value)}`);
  }
  return value;
}

/** Fills in defaults and validates numbers. */
export function resolveOptions(options: CheckOptions): ResolvedOptions {
  const budgetMs = positive('budgetMs', options.budgetMs, DEFAULT_BUDGET_MS);
  return {
    budgetMs,
    memoBytesMax: positive('memoBytesMax', options.memoBytesMax, DEFAULT_MEMO_BYTES_MAX),
    counterexample: options.counterexample ?? true,
    shrinkBudgetMs: positive('shrinkBudgetMs', options.shrinkBudgetMs, Math.min(DEFAULT_SHRINK_MS, budgetMs)),
    budgetAfterIllegalMs: Math.min(
      budgetMs,
      positive('budgetAfterIllegalMs', options.budgetAfterIllegalMs, DEFAULT_AFTER_ILLEGAL_MS),
    ),
    totalBudgetMs: positive('totalBudgetMs', options.totalBudgetMs, Infinity),
  };
}

/** Searches one partition and, when illegal, explains it. */
export function checkPartition(
  key: string | undefined,
  ops: readonly Operation[],
  model: Model<any>,
  options: ResolvedOptions,
  budgetMs: number = options.budgetMs,
): PartitionResult {
  const started = performance.now();
  const outcome = searchPartition(ops, model, { deadline: started + budgetMs, memoBytesMax: options.memoBytesMax });
  const result: PartitionResult = {
    verdict: outcome.verdict,
    ops: ops.length,
    prunedOps: outcome.prunedOps,
    segments: outcome.segments,
    steps: outcome.steps,
    memoEntries: outcome.memoEntries,
    timeMs: 0,
  };
  if (key !== undefined) result.key = key;
  if (outcome.unknownReason !== undefined) result.unknownReason = outcome.unknownReason;
  result.timeMs = performance.now() - started;
  if (outcome.verdict === 'illegal' && options.counterexample && outcome.failure !== undefined) {
    const now = performance.now();
    const limits = { deadline: now + options.shrinkBudgetMs, memoBytesMax: options.memoBytesMax };
    // The verdict's search skips cuts that leave tiny segments; cutting at
    // every quiescent point gives the smallest failing segment to start from.
    const fine = searchPartition(ops, model, { ...limits, minSegmentEntries: 2 });
    const failure = fine.verdict === 'illegal' && fine.failure !== undefined ? fine.failure : outcome.failure;
    result.counterexample = explainIllegal(ops, model, key, failure, limits);
  }
  return result;
}

/** Overall verdict: illegal if any partition is, else unknown if any is, else linearizable. */
export function combineVerdicts(partitions: readonly PartitionResult[]): Verdict {
  let verdict: Verdict = 'linearizable';
  for (const p of partitions) {
    if (p.verdict === 'illegal') return 'illegal';
    if (p.verdict === 'unknown') verdict = 'unknown';
  }
  return verdict;
}

/**
 * Checks partitions in this thread, smallest first. Once one is illegal the
 * history is illegal whatever the others say, so the rest get the shorter
 * budgetAfterIllegalMs: they still get a verdict when it is cheap, and an
 * expensive one cannot hold the answer up (porcupine stops at the first).
 */
export function checkPartitions(
  partitions: readonly { key: string | undefined; ops: readonly Operation[] }[],
  model: Model<any>,
  options: ResolvedOptions,
): PartitionResult[] {
  const order = [...partitions].sort((a, b) => a.ops.length - b.ops.length);
  const results: PartitionResult[] = [];
  const totalDeadline = performance.now() + options.totalBudgetMs;
  let illegalSeen = false;
  for (const { key, ops } of order) {
    const own = illegalSeen ? options.budgetAfterIllegalMs : options.budgetMs;
    // Every partition gets at least a token budget, so each has a verdict
    // (cheap ones still finish; the rest say unknown).
    const budgetMs = Math.max(MIN_PARTITION_BUDGET_MS, Math.min(own, totalDeadline - performance.now()));
    const result = checkPartition(key, ops, model, options, budgetMs);
    if (result.verdict === 'illegal') illegalSeen = true;
    results.push(result);
  }
  return results;
}

/** A message to a worker: partitions to check, in order. */
export interface WorkerRequest {
  model: string;
  modelOptions: ModelOptions;
  options: ResolvedOptions;
  partitions: { key: string | undefined; ops: Operation[] }[];
}
