// Public types of the linearizability checker. This file has no runtime code
// so that other areas (reports/) can import the result shapes alone.

/** Event kind. `fail` = certainly did not happen; `info` = unknown outcome. */
export type EventType = 'invoke' | 'ok' | 'fail' | 'info';

/**
 * One history event, as in a run's history.jsonl (`docs/architecture.md`, "Clients
 * and the history"). `process` is an integer for clients; any other value
 * (e.g. "nemesis") marks a nemesis event, which the checker ignores.
 */
export interface HistoryEvent {
  process: number | string;
  type: EventType;
  f: string;
  key?: string;
  value?: unknown;
  /** Nanoseconds on one monotonic clock. Informational: order is line order. */
  time?: number;
  error?: unknown;
}

/**
 * A model is data (porcupine's idea): pure functions over immutable states.
 * `step` returns the state after the operation, or `undefined` when the
 * operation cannot happen in `state`. `output` is `undefined` for an
 * operation whose outcome is unknown (`info`, or no completion): step then
 * says what the operation would do if it took effect.
 * `hash` must give equal states equal hashes; different states may share a
 * hash (the checker then tells them apart with `equal`).
 */
export interface Model<State = unknown> {
  name: string;
  init(): State;
  step(state: State, f: string, input: unknown, output: unknown): State | undefined;
  hash(state: State): string | number;
  equal(a: State, b: State): boolean;
  /** Partition key of an event; `undefined` = the single default partition. */
  partition(event: HistoryEvent): string | undefined;
  /**
   * Every key an op touches, for ops that span several keys (transactions).
   * When given, it replaces `partition`: ops that share a key, directly or
   * through other ops, are checked together as one object.
   */
  partitionKeys?(f: string, input: unknown): string[];
  /**
   * Checks an op before the search: `undefined` when the model knows it,
   * else a message (unknown op name, malformed value). `output` is
   * `undefined` at the invoke and for ops whose outcome is unknown.
   */
  checkOperation?(f: string, input: unknown, output: unknown): string | undefined;
  /** True when the op never changes any state (an unknown one can be dropped). */
  readOnly?(f: string, input: unknown): boolean;
  /**
   * Register-like value flow, used to drop unknown writes nobody observed.
   * Return `undefined` when the op is not register-like (then the partition
   * gets no pruning). Contract: the op either requires the state to equal
   * `requires` (a canonical value key) or accepts any state, and it either
   * leaves the state as is or overwrites it with `writes` regardless of
   * the previous state (after its `requires` test).
   */
  valueFlow?(f: string, input: unknown, output: unknown): ValueFlow | undefined;
  /**
   * For register-like models: the value key (as in ValueFlow) a state holds.
   * With it the search drops any step that changes the state while an ok op
   * of the same segment still needs the current value and no op left can
   * write it again.
   */
  stateValue?(state: State): string;
  describeOperation(f: string, input: unknown, output: unknown): string;
  describeState(state: State): string;
}

/** See Model.valueFlow. Keys are canonical JSON of the values. */
export interface ValueFlow {
  requires?: string;
  writes?: string;
}

/** How an `ok` read of `null` is read: literally, or as "value unknown". */
export type NullRead = 'value' | 'wildcard';

/** Names of the built-in models (see checker/README.md). */
export type ModelName = 'raftlab-kv' | 'register' | 'cas-register' | 'kv' | 'multi-register' | 'mutex';

/** Options of `check`. Every field is optional. */
export interface CheckOptions {
  /** A built-in model name or a Model object. Default 'raftlab-kv'. */
  model?: ModelName | Model<any>;
  /** Initial register value (register, cas-register, raftlab-kv) or state (multi-register). */
  init?: unknown;
  /** Null-read rule for register models. Default 'value'. */
  nullRead?: NullRead;
  /** Time budget per partition in ms. Default 30000. Exceeded -> 'unknown'. */
  budgetMs?: number;
  /**
   * With allPartitions: budget of each partition checked after one was
   * found illegal (the history is illegal then anyway). Default min(2000, budgetMs).
   */
  budgetAfterIllegalMs?: number;
  /**
   * Time budget for all partitions of one call together (each still gets
   * at least a few ms). Default unlimited: only the per-partition budget.
   * With worker threads it applies per worker.
   */
  totalBudgetMs?: number;
  /** Memory budget per partition for the search memo, in bytes. Default 512 MiB. */
  memoBytesMax?: number;
  /** Worker threads: 'auto' (default) uses them when there are several large partitions. */
  workers?: 'auto' | number;
  /** Build counterexamples for illegal partitions (default true). */
  counterexample?: boolean;
  /**
   * Time cap for building one counterexample (shrinking and the partial
   * linearizations), in ms. Default min(500, budgetMs).
   */
  shrinkBudgetMs?: number;
  /**
   * Search every partition even after one is proven illegal (each later one
   * within budgetAfterIllegalMs). Default false: the first proof settles the
   * verdict and the rest are listed in `CheckResult.unsearched`.
   */
  allPartitions?: boolean;
}

/** Verdict of a partition or a whole history. */
export type Verdict = 'linearizable' | 'illegal' | 'unknown';

/** Why a partition is unknown. */
export type UnknownReason = 'time' | 'memory';

/**
 * One operation as drawn on a timeline. Indices are event indices in the
 * checked history (0-based, nemesis events included, line order).
 */
export interface OperationInfo {
  /** Operation id: the index of its invoke event in the history. */
  id: number;
  process: number;
  f: string;
  key?: string;
  /** Argument (the invoke's value). */
  input: unknown;
  /** Result for `ok` ops; absent when the outcome is unknown. */
  output?: unknown;
  /** 'ok' or 'info' (info also for an invoke that never completed). */
  outcome: 'ok' | 'info';
  /** True when an ok op was relaxed to "may or may not have happened" while shrinking. */
  relaxed?: boolean;
  invokeIndex: number;
  /** Event index of the completion; absent for info/pending ops. */
  completeIndex?: number;
  invokeTimeNs?: number;
  completeTimeNs?: number;
  /** Human text, e.g. "write 3" or "read -> 3". */
  description: string;
}

/** One step of a partial linearization: the op and the state right after it. */
export interface LinearizationStep {
  id: number;
  state: string;
}

/**
 * Why a partition is illegal, for the report's timeline. `ops` are every
 * operation of the smallest window found (ok ops as recorded, plus relaxed
 * and unknown ops that may or may not have happened) and the window cannot be
 * linearized even though the relaxed and unknown ops are free.
 * `partialLinearizations` are the longest prefixes of a linearization that
 * the search reached (longest first), each a sequence of steps.
 */
export interface Counterexample {
  key?: string;
  /** Initial state of the window, described ("one of a, b" when several). */
  initialState: string;
  /**
   * Every state the window may start in (the search reached the window's
   * first op in each of them, possibly with some unknown ops already applied).
   */
  initialStates: string[];
  ops: OperationInfo[];
  partialLinearizations: LinearizationStep[][];
  /** Ops of the window that could never be linearized in any partial linearization. */
  stuckOps: number[];
  /** Event index range of the window (first invoke .. last completion), inclusive. */
  windowStartIndex: number;
  windowEndIndex: number;
  /** True when shrinking ran to completion; false when its time cap cut it short. */
  minimal: boolean;
  /**
   * True when the walk for partialLinearizations and stuckOps stopped at its
   * step or time cap (or the window was too large to walk): then they are
   * the longest found, not the longest there are, and stuckOps may be empty.
   */
  partialLinearizationsTruncated?: boolean;
  /**
   * For each initial state, the ops before the window that forced it: the
   * latest writes of that value and the latest ok reads that observed it
   * (register-like models; empty lists otherwise).
   */
  initialStateCauses?: InitialStateCause[];
  /**
   * One sentence naming the lost or phantom value, e.g. "write 843 by p36
   * was acknowledged at 12.41 s; no linearization keeps it: 847 (...)
   * overwrote it before p36 read 843 at 13.02 s."
   */
  explanation?: string;
}

/** The ops that forced one initial state of a counterexample window. */
export interface InitialStateCause {
  /** The state, described as in initialStates. */
  state: string;
  /** Latest writes of this value before the window (latest first). */
  writes: OperationInfo[];
  /** Latest ok reads that observed it before the window (latest first). */
  reads: OperationInfo[];
}

/** Result for one partition (one key). */
export interface PartitionResult {
  /** The partition key, absent for the single default partition. */
  key?: string;
  verdict: Verdict;
  /** Set when verdict is 'unknown'. */
  unknownReason?: UnknownReason;
  /** Operations in the partition (fail ops excluded). */
  ops: number;
  /** Unknown-outcome ops dropped without search cost (read-only or unobserved). */
  prunedOps: number;
  /** Quiescent segments the search was split into. */
  segments: number;
  /** Search steps taken and memo entries stored. */
  steps: number;
  memoEntries: number;
  /** Time of the search that gave the verdict (all its attempts), counterexample excluded. */
  timeMs: number;
  /** Time spent building the counterexample (illegal partitions only). */
  shrinkTimeMs?: number;
  counterexample?: Counterexample;
}

/** A partition left undecided because another one had already been proven illegal. */
export interface UnsearchedPartition {
  key?: string;
  ops: number;
  /** Time its cancelled or budget-limited attempts took before the stop (0 = never started). */
  searchedMs: number;
}

/** Result of checking one history. */
export interface CheckResult {
  verdict: Verdict;
  model: string;
  /** Client operations (fail ops included, nemesis excluded). */
  ops: number;
  partitions: PartitionResult[];
  /**
   * Partitions not searched to a verdict because another was proven illegal
   * first (empty unless the verdict is illegal and allPartitions is off).
   */
  unsearched?: UnsearchedPartition[];
  /** Wall time of the check itself (parse excluded): verdict plus counterexamples. */
  timeMs: number;
  /**
   * The part of timeMs spent reaching the verdict, and the part spent on
   * counterexamples. (Optional in the type for results built elsewhere;
   * `check` always sets them and `unsearched`.)
   */
  verdictTimeMs?: number;
  shrinkTimeMs?: number;
  /** Worker threads used (0 = all in this thread). */
  workers: number;
}
