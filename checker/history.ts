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
  const byKeys = model.partitionKeys !== undefined ? new KeyComponents() : undefined;
  const opsByKeys: Operation[] = [];
  const validate = (i: number, f: string, input: unknown, output: unknown): void => {
    const problem = model.checkOperation?.(f, input, output);
    if (problem !== undefined) throw new CheckerError('CHECKER_MODEL', `event ${i}: ${problem}`);
  };
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    const process = event.process;
    if (typeof process !== 'number') continue;
    switch (event.type) {
      case 'invoke': {
        clientOps++;
        validate(i, event.f, event.value ?? null, undefined);
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
        if (byKeys !== undefined) {
          byKeys.add(op.id, model.partitionKeys!(op.f, op.input));
          opsByKeys.push(op);
          break;
        }
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
          validate(i, event.f, op.input, event.value ?? null);
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
  if (byKeys !== undefined) {
    for (const op of opsByKeys) {
      const key = byKeys.label(op.id);
      const list = partitions.get(key);
      if (list === undefined) partitions.set(key, [op]);
      else list.push(op);
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
