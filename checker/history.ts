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
  const completion = pairEvents(events);
  // Ops are created in invoke order (so each partition list is in invoke
  // order), and only for invokes that did not fail: a history of mostly
  // failed ops costs little more than its pairing.
  const partitions = new Map<string | undefined, Operation[]>();
  let clientOps = 0;
  const byKeys = model.partitionKeys !== undefined ? new KeyComponents() : undefined;
  const opsByKeys: Operation[] = [];
  const checkOperation = model.checkOperation;
  const validate = (i: number, f: string, input: unknown, output: unknown): void => {
    const problem = checkOperation?.(f, input, output);
    if (problem !== undefined) throw new CheckerError('CHECKER_MODEL', `event ${i}: ${problem}`);
  };
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    if (typeof event.process !== 'number' || event.type !== 'invoke') continue;
    clientOps++;
    const input = event.value ?? null;
    validate(i, event.f, input, undefined);
    const c = completion[i]!;
    const completed = c >= 0 ? events[c]! : undefined;
    if (completed?.type === 'fail') continue;
    const op: Operation = {
      id: i,
      process: event.process,
      f: event.f,
      key: event.key === undefined ? undefined : String(event.key),
      input,
      output: undefined,
      ok: false,
      invokeIndex: i,
      completeIndex: -1,
      invokeTimeNs: typeof event.time === 'number' ? event.time : undefined,
      completeTimeNs: undefined,
    };
    if (completed?.type === 'ok') {
      const output = completed.value ?? null;
      validate(c, event.f, input, output);
      op.ok = true;
      op.output = output;
      op.completeIndex = c;
      op.completeTimeNs = typeof completed.time === 'number' ? completed.time : undefined;
    }
    // info, or no completion: stays open with unknown output.
    if (byKeys !== undefined) {
      byKeys.add(op.id, model.partitionKeys!(op.f, op.input));
      opsByKeys.push(op);
      continue;
    }
    const key = model.partition(event);
    const list = partitions.get(key);
    if (list === undefined) partitions.set(key, [op]);
    else list.push(op);
  }
  if (byKeys !== undefined) {
    for (const op of opsByKeys) {
      const key = byKeys.label(op.id);
      const list = partitions.get(key);
      if (list === undefined) partitions.set(key, [op]);
      else list.push(op);
    }
  }
  return { clientOps, partitions };
}

/**
 * Per event index: for an invoke, the index of its completion (-1 when it
 * never completed); for other events, -1. Client processes are small
 * integers in practice, so the open invoke per process lives in an array
 * indexed by process (a Map's set and delete per event cost more than all
 * the rest of the pairing); other numbers fall back to a Map.
 */
function pairEvents(events: readonly HistoryEvent[]): Int32Array {
  const completion = new Int32Array(events.length).fill(-1);
  const openSmall: number[] = [];
  const openOther = new Map<number, number>();
  const small = (p: number): boolean => p >= 0 && p < OPEN_ARRAY_MAX && Number.isInteger(p);
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    const process = event.process;
    if (typeof process !== 'number') continue;
    switch (event.type) {
      case 'invoke':
        // A previous op still open on this process stays open forever.
        if (small(process)) {
          while (openSmall.length < process) openSmall.push(-1); // dense, no holes
          openSmall[process] = i;
        } else openOther.set(process, i);
        break;
      case 'ok':
      case 'fail':
      case 'info': {
        let open: number;
        if (small(process)) {
          open = openSmall[process] ?? -1;
          if (open >= 0) openSmall[process] = -1;
        } else {
          open = openOther.get(process) ?? -1;
          openOther.delete(process);
        }
        if (open < 0) {
          throw new CheckerError(
            'CHECKER_HISTORY',
            `event ${i}: ${event.type} ${event.f} of process ${process} has no open invoke`,
          );
        }
        const f = events[open]!.f;
        if (f !== event.f) {
          throw new CheckerError(
            'CHECKER_HISTORY',
            `event ${i}: ${event.type} ${event.f} of process ${process} completes an invoke of ${f} (event ${open})`,
          );
        }
        completion[open] = i;
        break;
      }
      default:
        throw new CheckerError('CHECKER_HISTORY', `event ${i}: unknown type ${JSON.stringify(event.type)}`);
    }
  }
  return completion;
}

const OPEN_ARRAY_MAX = 1 << 16;

/**
 * Connected components of keys, where an op joins every key it touches
 * (union-find). Each component is one object for P-compositionality: ops in
 * different components share no key, so the components are independent.
 */
class KeyComponents {
  private readonly parent = new Map<string, string>();
  private readonly firstKey = new Map<number, string>();
  private labels: Map<string, string> | undefined;

  private find(key: string): string {
    let root = key;
    for (let up = this.parent.get(root); up !== undefined && up !== root; up = this.parent.get(root)) root = up;
    // Path compression keeps later finds short.
    for (let k = key; k !== root; ) {
      const up = this.parent.get(k)!;
      this.parent.set(k, root);
      k = up;
    }
    return root;
  }

  add(opId: number, keys: readonly string[]): void {
    if (keys.length === 0) return;
    for (const key of keys) if (!this.parent.has(key)) this.parent.set(key, key);
    const root = this.find(keys[0]!);
    for (const key of keys) {
      const other = this.find(key);
      if (other !== root) this.parent.set(other, root);
    }
    this.firstKey.set(opId, keys[0]!);
  }

  /** The partition name of an op: its component's keys, sorted, joined by ","; undefined for no key. */
  label(opId: number): string | undefined {
    const key = this.firstKey.get(opId);
    if (key === undefined) return undefined;
    if (this.labels === undefined) {
      const members = new Map<string, string[]>();
      for (const k of this.parent.keys()) {
        const root = this.find(k);
        const list = members.get(root);
        if (list === undefined) members.set(root, [k]);
        else list.push(k);
      }
      this.labels = new Map([...members].map(([root, keys]) => [root, keys.sort().join(',')]));
    }
    return this.labels.get(this.find(key))!;
  }
}
