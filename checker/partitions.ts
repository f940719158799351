// Checking a list of partitions in this thread: the piece both the entry
// point (check.ts) and the worker threads (worker.ts) run, kept apart so
// imports point one way (check -> pool -> partitions, worker -> partitions).
import { explainIllegal } from './counterexample.ts';
import { proveOverwrittenRead } from './proofs.ts';
import { CheckerError } from './errors.ts';
import type { Operation } from './history.ts';
import type { ModelOptions } from './models.ts';
import { type SearchLimits, searchPartition } from './search.ts';
import type { CheckOptions, Model, PartitionResult, UnsearchedPartition, Verdict } from './types.ts';

const DEFAULT_BUDGET_MS = 30_000;
const DEFAULT_MEMO_BYTES_MAX = 512 * 1024 * 1024;
const DEFAULT_SHRINK_MS = 500;
const DEFAULT_AFTER_ILLEGAL_MS = 2_000;
const MIN_PARTITION_BUDGET_MS = 5;
const PROOF_FIRST_MIN_OPS = 100;
/** Options with every default filled in (also what a worker receives). */
export interface ResolvedOptions {
  budgetMs: number;
  memoBytesMax: number;
  counterexample: boolean;
  shrinkBudgetMs: number;
  budgetAfterIllegalMs: number;
  totalBudgetMs: number;
  allPartitions: boolean;
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
    allPartitions: options.allPartitions ?? false,
  };
}

/**
 * Searches one partition and, when illegal, explains it. `timeMs` is the
 * search's time; building the counterexample is `shrinkTimeMs`, on its own
 * budget (options.shrinkBudgetMs).
 */
export function checkPartition(
  key: string | undefined,
  ops: readonly Operation[],
  model: Model<any>,
  options: ResolvedOptions,
  budgetMs: number = options.budgetMs,
  cancel?: Int32Array,
  tryProofs = false,
): PartitionResult & { cancelled?: true } {
  const started = performance.now();
  const limits: SearchLimits = { deadline: started + budgetMs, memoBytesMax: options.memoBytesMax };
  if (cancel !== undefined) limits.cancel = cancel;
  // When the first short attempt did not settle it: a stale or phantom read
  // is proven directly (proofs.ts), long before an exhaustive search of a
  // long, busy partition could finish.
  const proven = tryProofs ? proveOverwrittenRead(ops, model, model.init()) : undefined;
  const outcome = proven ?? searchPartition(ops, model, limits);
  const result: PartitionResult & { cancelled?: true } = {
    verdict: outcome.verdict,
    ops: ops.length,
    prunedOps: outcome.prunedOps,
    segments: outcome.segments,
    steps: outcome.steps,
    memoEntries: outcome.memoEntries,
    timeMs: 0,
  };
  if (key !== undefined) result.key = key;
  if (outcome.unknownReason === 'cancelled') result.cancelled = true;
  else if (outcome.unknownReason !== undefined) result.unknownReason = outcome.unknownReason;
  result.timeMs = performance.now() - started;
  if (outcome.verdict === 'illegal' && options.counterexample && outcome.failure !== undefined) {
    const shrinkStarted = performance.now();
    const shrinkLimits = { deadline: shrinkStarted + options.shrinkBudgetMs, memoBytesMax: options.memoBytesMax };
    // The verdict's search skips cuts that leave tiny segments; cutting at
    // every quiescent point gives the smallest failing segment to start from.
    // It gets a quarter of the shrinking budget: on a long segment with no
    // quiescent point it finds nothing finer, and the shrinker needs the rest.
    const fineDeadline = shrinkStarted + options.shrinkBudgetMs / 4;
    // A direct proof's window is already small.
    const fine =
      proven === undefined
        ? searchPartition(ops, model, { ...shrinkLimits, deadline: fineDeadline, minSegmentEntries: 2 })
        : undefined;
    const failure = fine?.verdict === 'illegal' && fine.failure !== undefined ? fine.failure : outcome.failure;
    result.counterexample = explainIllegal(ops, model, key, failure, shrinkLimits);
    result.shrinkTimeMs = performance.now() - shrinkStarted;
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

/** A partition to check. */
export interface PartitionInput {
  key: string | undefined;
  ops: readonly Operation[];
}

/** What checking a list of partitions gives. */
export interface PartitionsOutcome {
  results: PartitionResult[];
  /** Partitions left undecided because another one was proven illegal (stop at the first proof). */
  unsearched: UnsearchedPartition[];
}

// The first attempt's budget, and the factor between attempts (see checkPartitions).
const FIRST_ATTEMPT_MS = 10;
const ATTEMPT_GROWTH = 4;

/**
 * Checks partitions in this thread, in rounds of growing budgets: every
 * undecided partition gets 10 ms, then 40, 160, ... and a last attempt with
 * what is left of its own budget (at least 3/7 of it, since each attempt
 * costs a quarter of the next). So a cheap illegal partition is found before
 * an expensive one eats the budget, and once one is illegal the verdict is
 * settled: the rest are not searched (porcupine stops at the first illegal
 * partition too), unless `allPartitions`, where they get
 * `budgetAfterIllegalMs` each. `cancel` (shared with other workers) is set
 * on the first illegal partition and stops this call when another sets it.
 */
export function checkPartitions(
  partitions: readonly PartitionInput[],
  model: Model<any>,
  options: ResolvedOptions,
  cancel: Int32Array = new Int32Array(1),
): PartitionsOutcome {
  const pending = [...partitions]
    .sort((a, b) => a.ops.length - b.ops.length)
    .map((p) => ({ ...p, spentMs: 0, last: undefined as PartitionResult | undefined, scanned: false }));
  const results: PartitionResult[] = [];
  const totalDeadline = performance.now() + options.totalBudgetMs;
  let illegalSeen = false;
  let attemptMs = FIRST_ATTEMPT_MS;
  const stopped = (): boolean => !options.allPartitions && Atomics.load(cancel, 0) !== 0;
  while (pending.length > 0 && !stopped()) {
    for (let i = 0; i < pending.length && !stopped(); ) {
      const p = pending[i]!;
      const own = illegalSeen ? options.budgetAfterIllegalMs : options.budgetMs;
      const left = Math.max(MIN_PARTITION_BUDGET_MS, own - p.spentMs);
      // The last attempt takes all that is left when the next growth step
      // would leave less than itself for later; a partition left alone gets
      // it all at once (there is nothing else to find first).
      let budget = pending.length === 1 || 2 * attemptMs > left ? left : attemptMs;
      const totalLeft = totalDeadline - performance.now();
      // Every partition gets at least a token budget, so each has a verdict
      // (cheap ones still finish; the rest say unknown).
      if (totalLeft <= budget) budget = Math.max(MIN_PARTITION_BUDGET_MS, totalLeft);
      const final = budget >= left || budget >= totalLeft;
      // The direct proofs run once per partition: in its second attempt, or
      // in its first when it is long (a cost linear-logarithmic in its ops).
      const scan = (p.last !== undefined || p.ops.length >= PROOF_FIRST_MIN_OPS) && !p.scanned;
      if (scan) p.scanned = true;
      const result = checkPartition(
        p.key,
        p.ops,
        model,
        options,
        budget,
        options.allPartitions ? undefined : cancel,
        scan,
      );
      p.spentMs += result.timeMs;
      if (result.cancelled) break;
      const decided = result.verdict !== 'unknown' || result.unknownReason === 'memory' || final;
      if (!decided) {
        p.last = result;
        i++;
        continue;
      }
      result.timeMs = p.spentMs;
      results.push(result);
      pending.splice(i, 1);
      if (result.verdict === 'illegal') {
        illegalSeen = true;
        if (!options.allPartitions) Atomics.store(cancel, 0, 1);
      }
    }
    attemptMs *= ATTEMPT_GROWTH;
  }
  return {
    results,
    unsearched: pending.map((p) => {
      const u: UnsearchedPartition = { ops: p.ops.length, searchedMs: p.spentMs };
      if (p.key !== undefined) u.key = p.key;
      return u;
    }),
  };
}

/** A message to a worker: partitions to check, in order. */
export interface WorkerRequest {
  model: string;
  modelOptions: ModelOptions;
  options: ResolvedOptions;
  partitions: { key: string | undefined; ops: Operation[] }[];
  /** Shared flag: set once a partition is illegal, so every worker stops (unless allPartitions). */
  cancel: Int32Array;
}
