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

/** How an operation completed (Jepsen's ok / fail / info). */
export type Completion =
  | { type: 'ok'; value: Value }
  | { type: 'fail'; error: string }
  | { type: 'info'; error: string };

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
  /** Why an op failed or is unknown (extra field). */
  error?: string;
  /** Nemesis events: index of the planned fault (extra field). */
  fault?: number;
  /** Nemesis events: human description of the fault (extra field). */
  detail?: string;
}
