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

const TYPES = new Set(['invoke', 'ok', 'fail', 'info']);

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
  const open = new Map<number, { index: number; event: HistoryEvent }>();
  const partitions = new Map<string | undefined, Operation[]>();
  let clientOps = 0;
  const pushOp = (op: Operation, invoke: HistoryEvent): void => {
    const key = model.partition(invoke);
    let list = partitions.get(key);
    if (list === undefined) partitions.set(key, (list = []));
    list.push(op);
  };
  const makeOp = (index: number, invoke: HistoryEvent, completion: HistoryEvent | undefined, completeIndex: number): Operation => ({
    id: index,
    process: invoke.process as number,
    f: invoke.f,
    key: invoke.key === undefined ? undefined : String(invoke.key),
    input: invoke.value ?? null,
    output: completion === undefined ? undefined : (completion.value ?? null),
    ok: completion !== undefined,
    invokeIndex: index,
    completeIndex,
    invokeTimeNs: typeof invoke.time === 'number' ? invoke.time : undefined,
    completeTimeNs: completion !== undefined && typeof completion.time === 'number' ? completion.time : undefined,
  });
  // Ops are created at invoke time (so each partition list is in invoke
  // order) and completed in place.
  const created = new Map<number, Operation>();
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    if (!isClientEvent(event)) continue;
    if (!TYPES.has(event.type)) {
      throw new CheckerError('CHECKER_HISTORY', `event ${i}: unknown type ${JSON.stringify(event.type)}`);
    }
    const process = event.process as number;
    if (event.type === 'invoke') {
      clientOps++;
      const previous = open.get(process);
      if (previous !== undefined) open.delete(process); // stays open forever
      open.set(process, { index: i, event });
      const op = makeOp(i, event, undefined, -1);
      created.set(i, op);
      pushOp(op, event);
      continue;
    }
    const pending = open.get(process);
    if (pending === undefined) {
      throw new CheckerError('CHECKER_HISTORY', `event ${i}: ${event.type} ${event.f} of process ${process} has no open invoke`);
    }
    open.delete(process);
    const op = created.get(pending.index)!;
    if (pending.event.f !== event.f) {
      throw new CheckerError(
        'CHECKER_HISTORY',
        `event ${i}: ${event.type} ${event.f} of process ${process} completes an invoke of ${pending.event.f} (event ${pending.index})`,
      );
    }
    if (event.type === 'ok') {
      op.ok = true;
      op.output = event.value ?? null;
      op.completeIndex = i;
      op.completeTimeNs = typeof event.time === 'number' ? event.time : undefined;
    } else if (event.type === 'fail') {
      op.completeIndex = -2; // marker: removed below
    }
    // info: stays open with unknown output.
  }
  for (const [key, list] of partitions) {
    const kept = list.filter((op) => op.completeIndex !== -2);
    if (kept.length === 0) partitions.delete(key);
    else partitions.set(key, kept);
  }
  return { clientOps, partitions };
}
