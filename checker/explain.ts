// Words for an illegal window: which ops forced the states the window starts
// in, and one sentence naming the value that was lost or never written. For
// register-like models (Model.valueFlow) the sentence is specific (a stale
// read, a phantom value); for others it names the op that cannot be placed.
import type { Operation } from './history.ts';
import type { InitialStateCause, Model, OperationInfo, ValueFlow } from './types.ts';

const CAUSES_MAX = 3;

/** Operation as drawn by the report. */
export function describeOp(op: Operation & { relaxed?: boolean }, model: Model<any>): OperationInfo {
  const info: OperationInfo = {
    id: op.id,
    process: op.process,
    f: op.f,
    input: op.input,
    outcome: op.ok ? 'ok' : 'info',
    invokeIndex: op.invokeIndex,
    description: model.describeOperation(op.f, op.input, op.output),
  };
  if (op.key !== undefined) info.key = op.key;
  if (op.ok) {
    info.output = op.output;
    info.completeIndex = op.completeIndex;
  }
  if (op.relaxed) info.relaxed = true;
  if (op.invokeTimeNs !== undefined) info.invokeTimeNs = op.invokeTimeNs;
  if (op.completeTimeNs !== undefined) info.completeTimeNs = op.completeTimeNs;
  return info;
}

/** The partition's ops with their value flows, and how to print when they happened. */
class Flows {
  private readonly flows: (ValueFlow | undefined)[];
  private readonly t0: number | undefined;
  /** Every op has a value flow: only then do values have a single source each (a write of them). */
  readonly registerLike: boolean;

  constructor(
    readonly ops: readonly Operation[],
    readonly model: Model<any>,
  ) {
    this.flows = ops.map((op) => model.valueFlow?.(op.f, op.input, op.output));
    this.registerLike = this.flows.every((flow) => flow !== undefined);
    let t0: number | undefined;
    for (const op of ops)
      if (op.invokeTimeNs !== undefined && (t0 === undefined || op.invokeTimeNs < t0)) t0 = op.invokeTimeNs;
    this.t0 = t0;
  }

  flow(i: number): ValueFlow | undefined {
    return this.flows[i];
  }

  /** "at 12.41 s" (seconds since the partition's first invoke) or "at event 812". */
  at(timeNs: number | undefined, index: number): string {
    return timeNs !== undefined && this.t0 !== undefined
      ? `at ${((timeNs - this.t0) / 1e9).toFixed(2)} s`
      : `at event ${index}`;
  }

  acknowledged(op: Operation): string {
    return op.ok ? `acknowledged ${this.at(op.completeTimeNs, op.completeIndex)}` : 'of unknown outcome';
  }

  name(op: Operation): string {
    return `${this.model.describeOperation(op.f, op.input, op.output)} by p${op.process}`;
  }

  /** Ops before `before` (an event index) that wrote `value` (latest first) and ok ops that read it. */
  causes(value: string, before: number): { writes: Operation[]; reads: Operation[] } {
    const writes: Operation[] = [];
    const reads: Operation[] = [];
    for (let i = this.ops.length - 1; i >= 0; i--) {
      const op = this.ops[i]!;
      if (op.invokeIndex >= before) continue;
      const flow = this.flows[i];
      if (flow === undefined) continue;
      if (flow.writes === value && writes.length < CAUSES_MAX) writes.push(op);
      if (op.ok && op.completeIndex < before && flow.requires === value && reads.length < CAUSES_MAX) reads.push(op);
    }
    reads.sort((a, b) => b.completeIndex - a.completeIndex);
    return { writes, reads };
  }
}

/**
 * For each state the window may start in: the latest writes of that value
 * before the window and the latest reads that observed it (register-like
 * models, where a described state is the value's key).
 */
function initialStateCauses(flows: Flows, states: readonly string[], windowStart: number): InitialStateCause[] {
  const model = flows.model;
  if (!flows.registerLike) return [];
  return states.map((state) => {
    const { writes, reads } = flows.causes(state, windowStart);
    return {
      state,
      writes: writes.map((op) => describeOp(op, model)),
      reads: reads.map((op) => describeOp(op, model)),
    };
  });
}

/**
 * One sentence on why the op `stuck` (an index into `ops`) cannot be
 * placed. For a read (or cas) of v: if nothing ever wrote v, v is a phantom;
 * if the last write of v was followed, strictly in real time, by an
 * acknowledged write of another value that completed before the read
 * began, v was overwritten (a stale read, or a lost write seen as one).
 */
function explainStuck(flows: Flows, stuck: number, initialState: string | undefined): string {
  const { ops, model } = flows;
  const op = ops[stuck]!;
  const generic =
    `${flows.name(op)} (invoked ${flows.at(op.invokeTimeNs, op.invokeIndex)}, ${flows.acknowledged(op)}) ` +
    'cannot be placed in any order of the ops around it';
  // Ops that are not register-like (kv's append) build values from others: no single write to name.
  const need = flows.registerLike ? flows.flow(stuck)?.requires : undefined;
  if (need === undefined) return `${generic}.`;
  const seen = `${op.f === 'read' ? 'read' : op.f} ${need}`;
  const verb = op.f === 'read' ? 'read' : 'needed';
  const observedAt = `p${op.process} ${verb} ${need} ${flows.at(op.invokeTimeNs, op.invokeIndex)}`;
  // Writers of the value that could come before the op's completion.
  const writers: number[] = [];
  for (let i = 0; i < ops.length; i++) {
    const w = ops[i]!;
    if (i !== stuck && flows.flow(i)?.writes === need && w.invokeIndex < (op.ok ? op.completeIndex : Infinity))
      writers.push(i);
  }
  if (writers.length === 0) {
    if (initialState === need) return `${generic}.`;
    return `${observedAt}, a value no op ever wrote (a phantom value): ${seen} has no write to come from.`;
  }
  // The latest-completing writer; an unknown one can take effect any time, so no overwrite argument.
  const last = writers
    .map((i) => ops[i]!)
    .reduce((a, b) => (b.ok && a.ok && b.completeIndex > a.completeIndex ? b : a));
  const lastWrite = `last ${flows.name(last)}, ${flows.acknowledged(last)}`;
  if (writers.some((i) => !ops[i]!.ok)) {
    const hidden = 'is overwritten or not yet visible in every order the window allows';
    return `${generic}: every write of ${need} (${lastWrite}) ${hidden}.`;
  }
  // An acknowledged overwrite strictly between the last write of v and the read.
  const latestWriterEnd = Math.max(...writers.map((i) => ops[i]!.completeIndex));
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i]!;
    const writes = flows.flow(i)?.writes;
    if (!o.ok || writes === undefined || writes === need) continue;
    if (o.invokeIndex > latestWriterEnd && o.completeIndex < op.invokeIndex) {
      const what = model.describeOperation(o.f, o.input, o.output);
      return (
        `${flows.name(last)} was ${flows.acknowledged(last)}; no linearization keeps it: ` +
        `${writes} (${what} by p${o.process}, ${flows.acknowledged(o)}) overwrote it before ${observedAt}.`
      );
    }
  }
  return `${generic}: every write of ${need} (${lastWrite}) is overwritten before it in every order the window allows.`;
}

/**
 * The words of a counterexample: the causes of each initial state (see
 * initialStateCauses) and, when `stuck` (an index into `ops`) is known, the
 * sentence on why it cannot be placed. One pass over the partition's value flows.
 */
export function explainWindow(
  ops: readonly Operation[],
  model: Model<any>,
  states: readonly string[],
  windowStart: number,
  stuck: number | undefined,
): { causes: InitialStateCause[]; explanation: string | undefined } {
  const flows = new Flows(ops, model);
  return {
    causes: initialStateCauses(flows, states, windowStart),
    explanation:
      stuck === undefined ? undefined : explainStuck(flows, stuck, states.length === 1 ? states[0] : undefined),
  };
}
