// From events to operations: pair each invoke with its completion, drop
// `fail` ops (they certainly did not happen) and keep `info` ops and invokes
// without completion as ops of unknown outcome, open until the end of time.
import { CheckerError } from './errors.ts';
import type { HistoryEvent, Model } from './types.ts';

/** One client operation of a history (fail ops are never built). */
export interface Operation {
  /** The invoke's event index: unique, and the op's id in results. */
  id: number;
  process: number;
  f: string;
  key: string | undefined;
  input: unknown;
  /** The value of an ok completion; undefined when the outcome is unknown. */
  output: unknown;
  ok: boolean;
  invokeIndex: number;
  /** Event index of the ok completion; -1 when the outcome is unknown. */
  completeIndex: number;
  invokeTimeNs: number | undefined;
  completeTimeNs: number | undefined;
}

/** Operations of one history grouped by partition, in invoke order. */
export interface PreparedHistory {
  /** Client ops invoked, fail ops included (for reports). */
  clientOps: number;
  partitions: Map<string | undefined, Operation[]>;
}

/** True for events of client processes (the checker ignores the rest). */
export function isClientEvent(event: HistoryEvent): boolean {
  return typeof event.process === 'number';
}

/**
 * Pairs events into operations and splits them by the model's partition key.
 * Throws CheckerError('CHECKER_HISTORY') for a completion without an invoke
 * or an unknown event type. A process that invokes again while an op is open
 * leaves that op open forever (treated like info: the safe reading).
 */
export function prepareHistory(events: readonly HistoryEvent[], model: Model<any>): PreparedHistory {
  // Ops are created at invoke time (so each partition list is in invoke
  // order) and completed in place when their completion arrives.
  const open = new Map<number, Operation>();
  const partitions = new Map<string | undefined, Operation[]>();
  let clientOps = 0;
  let anyFailed = false;
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    const process = event.process;
    if (typeof process !== 'number') continue;
    switch (event.type) {
      case 'invoke': {
        clientOps++;
        // A previous op still open on this process stays open forever.
        const op: Operation = {
          id: i,
          process,
          f: event.f,
          key: event.key === undefined ? undefined : String(event.key),
          input: event.value ?? null,
          output: undefined,
          ok: false,
          invokeIndex: i,
          completeIndex: -1,
          invokeTimeNs: typeof event.time === 'number' ? event.time : undefined,
          completeTimeNs: undefined,
        };
        open.set(process, op);
        const key = model.partition(event);
        const list = partitions.get(key);
        if (list === undefined) partitions.set(key, [op]);
        else list.push(op);
        break;
      }
      case 'ok':
      case 'fail':
      case 'info': {
        const op = open.get(process);
        if (op === undefined) {
          throw new CheckerError(
            'CHECKER_HISTORY',
            `event ${i}: ${event.type} ${event.f} of process ${process} has no open invoke`,
          );
        }
        open.delete(process);
        if (op.f !== event.f) {
          throw new CheckerError(
            'CHECKER_HISTORY',
            `event ${i}: ${event.type} ${event.f} of process ${process} completes an invoke of ${op.f} (event ${op.id})`,
          );
        }
        if (event.type === 'ok') {
          op.ok = true;
          op.output = event.value ?? null;
          op.completeIndex = i;
          op.completeTimeNs = typeof event.time === 'number' ? event.time : undefined;
        } else if (event.type === 'fail') {
          op.completeIndex = FAILED;
          anyFailed = true;
        }
        // info: stays open with unknown output.
        break;
      }
      default:
        throw new CheckerError('CHECKER_HISTORY', `event ${i}: unknown type ${JSON.stringify(event.type)}`);
    }
  }
  if (anyFailed) {
    for (const [key, list] of partitions) {
      const kept = list.filter((op) => op.completeIndex !== FAILED);
      if (kept.length === 0) partitions.delete(key);
      else partitions.set(key, kept);
    }
  }
  return { clientOps, partitions };
}

/** completeIndex marker of a failed op while pairing (removed before returning). */
const FAILED = -2;
