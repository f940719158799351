/**
 * The history format (docs/architecture.md "Clients and the history") and the operations a workload produces.
 */
import type { HistoryEvent as CheckedEvent } from '../checker/index.ts';

/** Register operation names. */
export type OpName = 'read' | 'write' | 'cas';

/** Value of a register: any JSON; workloads write unique integers per key. */
export type Value = unknown;

/** One operation a logical client process wants to run. */
export type Op =
  | { f: 'read'; key: string; value: null }
  | { f: 'write'; key: string; value: Value }
  | { f: 'cas'; key: string; value: [expected: Value, next: Value] };

/**
 * How an operation completed (Jepsen's ok / fail / info). `servedBy`: the node that answered, when the system says
 * (raftlab's `x-raftlab-served-by` header: the leader that applied a forwarded write, not the follower asked).
 */
export type Completion =
  | { type: 'ok'; value: Value; servedBy?: string }
  | { type: 'fail'; error: string; servedBy?: string }
  | { type: 'info'; error: string; servedBy?: string };

/**
 * One line of history.jsonl as the harness records it: the checker's event with the fields a recorder always sets,
 * plus fields only the report reads. `time` is ns since the run's start on one monotonic clock.
 */
export interface HistoryEvent extends CheckedEvent {
  process: number | 'nemesis';
  type: 'invoke' | 'ok' | 'fail' | 'info';
  f: string;
  key?: string;
  value: unknown;
  time: number;
  /** Node the client sent the request to (extra field; the checker ignores it). */
  node?: string;
  /** Completions: the node that answered, when the system names it (extra field; see Completion). */
  servedBy?: string;
  /** Why an op failed or is unknown (extra field). */
  error?: string;
  /** Nemesis events: index of the planned fault (extra field). */
  fault?: number;
  /** Nemesis events: human description of the fault (extra field). */
  detail?: string;
}
