// The search of one partition: Wing-Gong-Lowe (WGL) linearizability checking
// with memoization (Lowe, "Testing for linearizability", 2017, §3-4), plus
// three things porcupine does not do:
//
//  1. Unknown ops (info / never completed) that cannot matter are dropped
//     before the search: read-only ones always, and register-like writes
//     whose value no later op observes (see pruneUnknownOps for the proof).
//  2. The history is cut at quiescent points (no ok op open). Each segment is
//     searched on its own, with a small bitset; what crosses a cut is a
//     configuration (state, which still-open unknown ops already took
//     effect). Segments are searched lazily, depth first: segment k yields
//     its end configurations one by one, segment k+1 is searched from each
//     new one, so a linearizable history stops at the first full path and an
//     illegal one explores every reachable configuration exactly once (each
//     segment's memo is shared by all its start configurations).
//  3. A budget (time, memo bytes) ends the search with `unknown`, never with
//     a verdict it has not proved. The clock is read every 1024 steps.
import type { Operation } from './history.ts';
import { type MemoAccount, MemoSet } from './memo.ts';
import type { Model, UnknownReason, ValueFlow, Verdict } from './types.ts';

/** Limits of one partition search. `deadline` is a performance.now() value. */
export interface SearchLimits {
  deadline: number;
  memoBytesMax: number;
  /** Smallest segment worth a cut (entries); tests lower it to exercise cuts. */
  minSegmentEntries?: number;
  /** Smallest segment (ops) searched with the value guard and the rules built on it; tests lower it. */
  guardMinOps?: number;
  /** Shared stop flag (another partition was proven illegal): checked with the clock. */
  cancel?: Int32Array;
}

/** What one partition search found. */
export interface SearchOutcome {
  verdict: Verdict;
  unknownReason?: UnknownReason | 'cancelled';
  steps: number;
  memoEntries: number;
  segments: number;
  prunedOps: number;
  /**
   * For an illegal partition: the first segment no configuration got
   * through (partition op indices, carried unknown ops first) and every
   * configuration the search entered it with (state, carried ops that had
   * taken effect). Since an illegal verdict means the search was exhaustive,
   * these are exactly the configurations reachable at that cut.
   */
  failure?: {
    ops: number[];
    starts: { state: unknown; applied: number[] }[];
    /** The first ok op (call order) that no explored path linearized: where the search got stuck. */
    stuck?: number;
  };
}

/** Thrown inside the search when a budget runs out. */
class BudgetExceeded {
  constructor(readonly reason: UnknownReason | 'cancelled') {}
}

const STEPS_PER_CLOCK_CHECK = 1024;
/** Segments (and partitions) with fewer ops do without the value guard. */
const GUARD_MIN_OPS = 48;
// Rough V8 costs of one Map entry, for the memory budget.
const TRANSITION_BYTES = 40;
const STATE_BYTES = 80;

/**
 * States interned to small integers. Equal states get one id: a hash match
 * is confirmed with `equal` (a custom model's hash may collide).
 */
export class StateTable {
  readonly states: unknown[] = [];
  /** State ids by hash; a hash maps to every id that has it. */
  private readonly ids = new Map<string | number, number | number[]>();

  constructor(
    readonly model: Model<any>,
    private readonly account: MemoAccount = { bytes: 0 },
  ) {}

  intern(state: unknown): number {
    const h = this.model.hash(state);
    const known = this.ids.get(h);
    if (typeof known === 'number') {
      if (this.model.equal(this.states[known], state)) return known;
    } else if (known !== undefined) {
      for (const id of known) if (this.model.equal(this.states[id], state)) return id;
    }
    const id = this.states.length;
    this.states.push(state);
    if (known === undefined) this.ids.set(h, id);
    else if (typeof known === 'number') this.ids.set(h, [known, id]);
    else known.push(id);
    // Interned states count against the memory budget too (rough size).
    this.account.bytes += STATE_BYTES + (typeof h === 'string' ? 2 * h.length : 0);
    return id;
  }
}

/** Interned states and a cache of transitions, shared by all segments. */
class StateSpace extends StateTable {
  private readonly transitions = new Map<number, number>();
  /** Value ids of the flows' value keys (register-like partitions only). */
  readonly valueIds = new Map<string, number>();
  private readonly stateValues: number[] = [];

  constructor(
    model: Model<any>,
    readonly ops: readonly Operation[],
    private readonly memoAccount: MemoAccount,
    /** Per op, when every op is register-like and the model has stateValue; else undefined. */
    readonly flows: readonly ValueFlow[] | undefined,
    /** The ops the search keeps (pruneUnknownOps). */
    private readonly kept: readonly number[] = [],
    /** The initial state's value key (for the precedence rule). */
    private readonly initialValue?: string,
  ) {
    super(model, memoAccount);
  }

  /**
   * Per value id, for the precedence rule (see ValuePrecedence): computed on
   * first use, from the ops the search keeps.
   */
  private clusterInfo: ValueClusters | undefined;

  clusters(): ValueClusters {
    this.clusterInfo ??= valueClusters(this.ops, this.kept, this.flows!, this.initialValue, (v) => this.valueId(v));
    return this.clusterInfo;
  }

  valueId(key: string): number {
    let id = this.valueIds.get(key);
    if (id === undefined) {
      id = this.valueIds.size;
      this.valueIds.set(key, id);
    }
    return id;
  }

  /** The value id the state holds, -1 when no op reads or writes that value. */
  valueOfState(stateId: number): number {
    let v = this.stateValues[stateId];
    if (v === undefined) {
      v = this.valueIds.get(this.model.stateValue!(this.states[stateId])) ?? -1;
      this.stateValues[stateId] = v;
    }
    return v;
  }

  /** Next state id after op `opIndex` from `stateId`, or -1 when illegal. */
  step(stateId: number, opIndex: number): number {
    const key = stateId * this.ops.length + opIndex;
    const cached = this.transitions.get(key);
    if (cached !== undefined) return cached;
    const op = this.ops[opIndex]!;
    const next = this.model.step(this.states[stateId], op.f, op.input, op.output);
    const id = next === undefined ? -1 : this.intern(next);
    this.transitions.set(key, id);
    this.memoAccount.bytes += TRANSITION_BYTES;
    return id;
  }
}

/**
 * Per value, for the precedence rule: only values with exactly one writer
 * among the searched ops that are not the initial value take part.
 * `minEnd`: the earliest completion of an ok op that writes or requires the
 * value; `maxInvoke`: the latest invoke of its writer or of an ok op that
 * requires it (-Infinity: the value does not take part).
 */
interface ValueClusters {
  /** Per value id (every value, one writer or not): the latest invoke of an op (ok or unknown) that requires it. */
  lastRequireInvoke: Map<number, number>;
  minEnd: Map<number, number>;
  maxInvoke: Map<number, number>;
}

function valueClusters(
  ops: readonly Operation[],
  kept: readonly number[],
  flows: readonly ValueFlow[],
  initialValue: string | undefined,
  valueId: (key: string) => number,
): ValueClusters {
  const writerCount = new Map<string, number>();
  const writer = new Map<string, number>();
  for (const i of kept) {
    const w = flows[i]!.writes;
    if (w === undefined) continue;
    writerCount.set(w, (writerCount.get(w) ?? 0) + 1);
    writer.set(w, i);
  }
  const minEnd = new Map<number, number>();
  const maxInvoke = new Map<number, number>();
  const eligible = (v: string | undefined): v is string =>
    v !== undefined && v !== initialValue && writerCount.get(v) === 1;
  for (const [v, i] of writer) {
    if (!eligible(v)) continue;
    const op = ops[i]!;
    const id = valueId(v);
    maxInvoke.set(id, op.invokeIndex);
    minEnd.set(id, op.ok ? op.completeIndex : Infinity);
  }
  const lastRequireInvoke = new Map<number, number>();
  for (const i of kept) {
    const op = ops[i]!;
    const v = flows[i]!.requires;
    if (v === undefined) continue;
    const any = valueId(v);
    lastRequireInvoke.set(any, Math.max(lastRequireInvoke.get(any) ?? -1, op.invokeIndex));
    if (!op.ok || !eligible(v)) continue;
    const id = valueId(v);
    maxInvoke.set(id, Math.max(maxInvoke.get(id)!, op.invokeIndex));
    minEnd.set(id, Math.min(minEnd.get(id)!, op.completeIndex));
  }
  return { lastRequireInvoke, minEnd, maxInvoke };
}

/**
 * The precedence rule of a segment (register-like ops, values with one
 * writer). For such values x != y, let x's cluster be its writer w_x and the
 * ops that require x. If an ok op of x's cluster completes before an ok op
 * of y's cluster (or w_y) is invoked, w_x is linearized before w_y in every
 * linearization. Why: the state is x only from w_x to the next
 * state-changing op s_x (nothing else writes x), so every op that requires x
 * sits in (w_x, s_x]; if w_y came first, s_y would be at or before w_x, and
 * the whole cluster of y would precede the whole cluster of x, against the
 * real-time order of those two ops. So linearizing w_y while some such w_x
 * (an ok op of this segment, hence one that must happen) is not linearized
 * yet leads nowhere, and the search cuts it at once instead of finding out
 * when a return entry is reached, maybe thousands of steps later.
 *
 * Kept as a min segment tree over this segment's ok writers of such values,
 * keyed by minEnd (Infinity once linearized): w_y may go iff the minimum
 * over the others is at least maxInvoke(y).
 */
class ValuePrecedence {
  private constructor(
    /** Per local value: its leaf, or -1. */
    private readonly leafOf: Int32Array,
    /** Per local value: maxInvoke, -Infinity when it takes no part. */
    private readonly limit: Float64Array,
    private readonly leafKey: Float64Array,
    private readonly tree: Float64Array,
    private readonly size: number,
  ) {}

  static build(
    plan: SegmentPlan,
    space: StateSpace,
    localValue: ReadonlyMap<number, number>,
    writes: Int32Array,
    account: MemoAccount,
  ): ValuePrecedence | undefined {
    const clusters = space.clusters();
    const d = localValue.size;
    const limit = new Float64Array(d).fill(-Infinity);
    const leafOf = new Int32Array(d).fill(-1);
    const keys: number[] = [];
    const globalOf = new Int32Array(d);
    let any = false;
    for (const [id, local] of localValue) {
      globalOf[local] = id;
      const max = clusters.maxInvoke.get(id);
      if (max === undefined) continue;
      limit[local] = max;
      any = true;
    }
    if (!any) return undefined;
    for (let l = 0; l < plan.okCount; l++) {
      const v = writes[l]!;
      if (v < 0 || limit[v] === -Infinity || leafOf[v] !== -1) continue;
      leafOf[v] = keys.length;
      keys.push(clusters.minEnd.get(globalOf[v]!)!);
    }
    let size = 1;
    while (size < keys.length) size *= 2;
    account.bytes += 64 + 16 * d + 8 * keys.length + 16 * size;
    const precedence = new ValuePrecedence(leafOf, limit, Float64Array.from(keys), new Float64Array(2 * size), size);
    precedence.reset();
    return precedence;
  }

  /** Back to no writer linearized (a segment's fresh start). */
  reset(): void {
    const { tree, size, leafKey } = this;
    tree.fill(Infinity, size);
    tree.set(leafKey, size);
    for (let k = size - 1; k >= 1; k--) tree[k] = Math.min(tree[2 * k]!, tree[2 * k + 1]!);
  }

  private setLeaf(leaf: number, key: number): void {
    const { tree } = this;
    let k = this.size + leaf;
    tree[k] = key;
    for (k >>= 1; k >= 1; k >>= 1) tree[k] = Math.min(tree[2 * k]!, tree[2 * k + 1]!);
  }

  /** May an op that writes local value `v` (-1: none) be linearized now? */
  mayWrite(v: number): boolean {
    if (v < 0) return true;
    const limit = this.limit[v]!;
    if (limit === -Infinity) return true;
    const leaf = this.leafOf[v]!;
    if (leaf < 0) return this.tree[1]! >= limit;
    this.setLeaf(leaf, Infinity);
    const ok = this.tree[1]! >= limit;
    this.setLeaf(leaf, this.leafKey[leaf]!);
    return ok;
  }

  /** Marks local value `v`'s writer as linearized (true) or not any more. */
  setWritten(v: number, written: boolean): void {
    const leaf = this.leafOf[v]!;
    if (leaf >= 0) this.setLeaf(leaf, written ? Infinity : this.leafKey[leaf]!);
  }
}

/** memoState's id of every dead state (state ids are array indices, far below it). */
const DEAD_STATE = 0xffffffff;
const STATE_ALWAYS_DEAD = -1;
const STATE_NEVER_DEAD = -2;

/** Shared counters and limits of one partition search. */
class SearchContext {
  steps = 0;
  constructor(
    readonly space: StateSpace,
    readonly limits: SearchLimits,
    readonly account: MemoAccount,
  ) {}

  /**
   * One search step. Memory is checked on every step (a comparison): every
   * structure that grows with the search adds to the account as it grows,
   * so the budget holds to within one step's allocation.
   */
  tick(): void {
    if (this.account.bytes > this.limits.memoBytesMax) throw new BudgetExceeded('memory');
    if (++this.steps % STEPS_PER_CLOCK_CHECK === 0) {
      if (performance.now() > this.limits.deadline) throw new BudgetExceeded('time');
      if (this.limits.cancel !== undefined && Atomics.load(this.limits.cancel, 0) !== 0) {
        throw new BudgetExceeded('cancelled');
      }
    }
  }

  checkMemory(): void {
    if (this.account.bytes > this.limits.memoBytesMax) throw new BudgetExceeded('memory');
  }
}

/**
 * The static description of one quiescent segment. Local op indices: the
 * segment's ok ops in call order (0..okCount-1), then its unknown ops
 * (carried and new) sorted by `infoDeadAt`.
 */
interface SegmentPlan {
  /** Partition op index of each local op. */
  ops: number[];
  okCount: number;
  /**
   * For each unknown op (local okCount + j): once the first `infoDeadAt[j]`
   * ok ops are all linearized, every observer of its value is, so it can no
   * longer matter (pruneUnknownOps' argument) and the search ignores it.
   * okCount + 1 = never within this segment.
   */
  infoDeadAt: number[];
  /** Local indices of the carried unknown ops, and each one's local index in the previous segment. */
  carriedLocal: number[];
  carriedFrom: number[];
  /** Entries in real-time order: op local index and whether it is the call. */
  entryOps: number[];
  entryIsCall: boolean[];
}

/**
 * One segment's WGL search, resumable: `nextEnd` finds the next end
 * configuration (every ok op of the segment linearized) not found before.
 *
 * The memo key is compact: with m the first ok op (in call order) not yet
 * linearized, all ok ops before m are linearized, and any linearized op
 * after m was invoked before m returned, so only the bitset words from m to
 * the highest linearized ok op differ between configurations. The key is
 * (m, state, those words, the words of the unknown ops still alive): its
 * size follows the concurrency, not the segment's length.
 */
class SegmentSearch implements Segment {
  private readonly n: number;
  private readonly okTotal: number;
  private readonly words: number;
  private readonly globalOp: readonly number[];
  /** Ok read-only ops: linearized eagerly (see nextEnd). */
  private readonly eager: Uint8Array;
  /**
   * The value guard (see Model.stateValue), undefined when off: per local
   * op the local value id it requires (ok ops only) and writes (-1: none),
   * and per value how many ok ops still need it and how many ops left can
   * write it, in the current configuration.
   */
  private readonly guard:
    | {
        requires: Int32Array;
        writes: Int32Array;
        localValue: Map<number, number>;
        needInit: Int32Array;
        writersInit: Int32Array;
        need: Int32Array;
        writers: Int32Array;
        precedence: ValuePrecedence | undefined;
        /** Per local op (ok or unknown) the local value it requires (-1: none); see memoState. */
        requiresAny: Int32Array;
        needAnyInit: Int32Array;
        needAny: Int32Array;
        /** Per local value: some op of a later segment requires it. */
        requiredLater: Uint8Array;
        /** The latest invoke of an op of this segment: later segments' ops are all invoked after it. */
        lastInvoke: number;
        /** Per state id: its local value, STATE_ALWAYS_DEAD or STATE_NEVER_DEAD (cache of stateClass). */
        stateClasses: number[];
      }
    | undefined;
  private readonly deadCountAt: Int32Array;
  private readonly entryOp: readonly number[];
  private readonly entryIsCall: readonly boolean[];
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly head: number;
  private readonly callEntry: Int32Array;
  private readonly returnEntry: Int32Array;
  readonly bits: Uint32Array;
  private readonly key: Uint32Array;
  /** The DFS stack, 4 slots per level: op, state before, m before, hi before. */
  private readonly stack: Int32Array;
  private depth = 0;
  /** Per stack level: the op there was taken eagerly, so its node has nothing else to offer. */
  private readonly eagerAt: Uint8Array;
  /** The op the current node takes eagerly (firstCandidate), -1: none. */
  private eagerNext = -1;
  private readonly memo: MemoSet;
  state = 0;
  /** First ok op not linearized, and the highest linearized ok op (-1: none). */
  private m = 0;
  private hi = -1;
  /** The highest m reached by any path (from any start). */
  deepest = 0;
  private cur = -1;
  private pendingBacktrack = false;
  /** Fresh start configurations (state id, applied local ops) and end configurations found. */
  readonly starts: { stateId: number; applied: number[] }[] = [];
  ends = 0;

  constructor(
    plan: SegmentPlan,
    private readonly ctx: SearchContext,
  ) {
    const n = plan.ops.length;
    this.n = n;
    this.okTotal = plan.okCount;
    this.words = Math.max(1, Math.ceil(n / 32));
    // Plan arrays are used as they are: small segments are many, and each
    // typed array costs an allocation.
    this.globalOp = plan.ops;
    this.eager = new Uint8Array(n);
    const model = ctx.space.model;
    if (model.readOnly !== undefined) {
      for (let l = 0; l < plan.okCount; l++) {
        const op = ctx.space.ops[plan.ops[l]!]!;
        if (model.readOnly(op.f, op.input)) this.eager[l] = 1;
      }
    }
    // Small segments are cheap to search exhaustively: the guard's set-up would cost more than it saves.
    const guardMinOps = ctx.limits.guardMinOps ?? GUARD_MIN_OPS;
    this.guard = ctx.space.flows === undefined || n < guardMinOps ? undefined : this.buildGuard(plan, ctx.space);
    const k = plan.okCount;
    this.deadCountAt = new Int32Array(k + 2);
    let j = 0;
    for (let m = 0; m <= k + 1; m++) {
      while (j < plan.infoDeadAt.length && plan.infoDeadAt[j]! <= m) j++;
      this.deadCountAt[m] = j;
    }
    const entries = plan.entryOps.length;
    this.entryOp = plan.entryOps;
    this.entryIsCall = plan.entryIsCall;
    this.head = entries;
    this.next = new Int32Array(entries + 1);
    this.prev = new Int32Array(entries + 1);
    this.callEntry = new Int32Array(n);
    this.returnEntry = new Int32Array(n).fill(-1);
    for (let e = 0; e < entries; e++) {
      if (this.entryIsCall[e]) this.callEntry[this.entryOp[e]!] = e;
      else this.returnEntry[this.entryOp[e]!] = e;
    }
    this.bits = new Uint32Array(this.words);
    this.key = new Uint32Array(this.words + 3);
    this.stack = new Int32Array(4 * n);
    this.eagerAt = new Uint8Array(n + 1);
    // The typed arrays above (and the memo's, which count themselves).
    ctx.account.bytes += 256 + 30 * n + 8 * entries + 8 * this.words;
    // A segment's search visits at least one configuration per op.
    this.memo = new MemoSet(ctx.account, n);
  }

  get memoEntries(): number {
    return this.memo.count;
  }

  private buildGuard(plan: SegmentPlan, space: StateSpace): NonNullable<SegmentSearch['guard']> {
    const n = plan.ops.length;
    const requires = new Int32Array(n).fill(-1);
    const writes = new Int32Array(n).fill(-1);
    const localValue = new Map<number, number>();
    const local = (key: string): number => {
      const id = space.valueId(key);
      let l = localValue.get(id);
      if (l === undefined) {
        l = localValue.size;
        localValue.set(id, l);
      }
      return l;
    };
    const requiresAny = new Int32Array(n).fill(-1);
    let lastInvoke = -1;
    for (let l = 0; l < n; l++) {
      const flow = space.flows![plan.ops[l]!]!;
      if (flow.requires !== undefined) requiresAny[l] = local(flow.requires);
      // Only ok ops must happen; an unknown op that needs a value may never run.
      if (l < plan.okCount) requires[l] = requiresAny[l]!;
      if (flow.writes !== undefined) writes[l] = local(flow.writes);
      lastInvoke = Math.max(lastInvoke, space.ops[plan.ops[l]!]!.invokeIndex);
    }
    const d = localValue.size;
    const needInit = new Int32Array(d);
    const writersInit = new Int32Array(d);
    const needAnyInit = new Int32Array(d);
    for (let l = 0; l < n; l++) {
      if (requires[l]! >= 0) needInit[requires[l]!]!++;
      if (requiresAny[l]! >= 0) needAnyInit[requiresAny[l]!]!++;
      if (writes[l]! >= 0) writersInit[writes[l]!]!++;
    }
    const clusters = space.clusters();
    const requiredLater = new Uint8Array(d);
    for (const [id, l] of localValue) if ((clusters.lastRequireInvoke.get(id) ?? -1) > lastInvoke) requiredLater[l] = 1;
    this.ctx.account.bytes += 64 + 12 * n + 41 * d;
    return {
      requires,
      writes,
      localValue,
      needInit,
      writersInit,
      need: new Int32Array(d),
      writers: new Int32Array(d),
      precedence: ValuePrecedence.build(plan, space, localValue, writes, this.ctx.account),
      requiresAny,
      needAnyInit,
      needAny: new Int32Array(d),
      requiredLater,
      lastInvoke,
      stateClasses: [],
    };
  }

  /**
   * False when linearizing `op` (from the current state to `nextState`)
   * would strand the current value: an ok op of this segment still needs it
   * and no op left can write it again. Sound for register-like ops: such a
   * configuration can reach no end, since every op of the segment must be
   * linearized before any later one and the state only returns to a value
   * by a write of it.
   */
  private keepsNeededValue(op: number, nextState: number): boolean {
    const g = this.guard!;
    const id = this.ctx.space.valueOfState(this.state);
    if (id < 0 || nextState === this.state) return true;
    const v = g.localValue.get(id);
    if (v === undefined) return true;
    const need = g.need[v]! - (g.requires[op] === v ? 1 : 0);
    return need === 0 || g.writers[v]! > 0;
  }

  /** The value guard and the precedence rule: may `op` go next (from the current state to `nextState`)? */
  private allowed(op: number, nextState: number): boolean {
    if (!this.keepsNeededValue(op, nextState)) return false;
    const p = this.guard!.precedence;
    return p === undefined || p.mayWrite(this.guard!.writes[op]!);
  }

  /** Counts `op` as linearized (delta -1) or not any more (+1) in the guard. */
  private account(op: number, delta: number): void {
    const g = this.guard;
    if (g === undefined) return;
    const r = g.requires[op]!;
    if (r >= 0) g.need[r]! += delta;
    const any = g.requiresAny[op]!;
    if (any >= 0) g.needAny[any]! += delta;
    const w = g.writes[op]!;
    if (w >= 0) {
      g.writers[w]! += delta;
      g.precedence?.setWritten(w, delta < 0);
    }
  }

  private unlink(e: number): void {
    const p = this.prev[e]!;
    const nx = this.next[e]!;
    this.next[p] = nx;
    if (nx !== -1) this.prev[nx] = p;
  }

  private relink(e: number): void {
    const p = this.prev[e]!;
    const nx = this.next[e]!;
    this.next[p] = e;
    if (nx !== -1) this.prev[nx] = e;
  }

  private lift(op: number): void {
    this.unlink(this.callEntry[op]!);
    const r = this.returnEntry[op]!;
    if (r !== -1) this.unlink(r);
  }

  private unlift(op: number): void {
    const r = this.returnEntry[op]!;
    if (r !== -1) this.relink(r);
    this.relink(this.callEntry[op]!);
  }

  private flip(op: number): void {
    this.bits[op >>> 5]! ^= 1 << (op & 31);
  }

  /** First local index of the unknown ops still alive at m. */
  private liveInfoStart(): number {
    return this.okTotal + this.deadCountAt[this.m]!;
  }

  /**
   * The state as the memo sees it. A state whose value no op left (in this
   * segment, linearized or not yet, ok or unknown, or in a later segment)
   * requires is "dead": every op left treats all dead states alike (a
   * register-like op that requires nothing accepts any state and either
   * leaves it or overwrites it; one that requires a value rejects them all),
   * so configurations that differ only in which dead value they hold have
   * the same continuations and the memo keeps one of them. This merges the
   * orders of concurrent writes whose values nobody reads.
   */
  private memoState(stateId: number): number {
    const g = this.guard;
    if (g === undefined) return stateId;
    let c = g.stateClasses[stateId];
    if (c === undefined) {
      c = this.stateClass(stateId);
      g.stateClasses[stateId] = c;
      this.ctx.account.bytes += 8;
    }
    if (c === STATE_ALWAYS_DEAD) return DEAD_STATE;
    if (c === STATE_NEVER_DEAD) return stateId;
    return g.needAny[c] === 0 && g.requiredLater[c] === 0 ? DEAD_STATE : stateId;
  }

  /** A state's local value, or STATE_ALWAYS_DEAD / STATE_NEVER_DEAD when no op of this segment has its value. */
  private stateClass(stateId: number): number {
    const g = this.guard!;
    const id = this.ctx.space.valueOfState(stateId);
    if (id < 0) return STATE_ALWAYS_DEAD; // no op reads or writes it
    const local = g.localValue.get(id);
    if (local !== undefined) return local;
    return (this.ctx.space.clusters().lastRequireInvoke.get(id) ?? -1) > g.lastInvoke
      ? STATE_NEVER_DEAD
      : STATE_ALWAYS_DEAD;
  }

  /** Memo insert of the current configuration with `stateId`; false if seen. */
  private remember(stateId: number): boolean {
    const { key, bits, m, hi } = this;
    key[0] = m;
    key[1] = this.memoState(stateId);
    let len = 2;
    if (hi >= m) for (let w = m >>> 5; w <= hi >>> 5; w++) key[len++] = bits[w]!;
    const infoStart = this.liveInfoStart();
    if (infoStart < this.n) {
      const first = infoStart >>> 5;
      key[len++] = bits[first]! & ~((1 << (infoStart & 31)) - 1 || 0);
      for (let w = first + 1; w < this.words; w++) key[len++] = bits[w]!;
    }
    return this.memo.insert(key, len);
  }

  /**
   * Starts from a configuration: `stateId` and the carried unknown ops that
   * already took effect (local indices). Returns false when this
   * configuration was explored before (nothing new can come of it).
   */
  start(stateId: number, applied: readonly number[]): boolean {
    const { head, next, prev } = this;
    const entries = head;
    for (let e = 0; e < entries; e++) {
      prev[e] = e === 0 ? head : e - 1;
      next[e] = e + 1 < entries ? e + 1 : -1;
    }
    next[head] = entries > 0 ? 0 : -1;
    this.bits.fill(0);
    if (this.guard !== undefined) {
      this.guard.need.set(this.guard.needInit);
      this.guard.writers.set(this.guard.writersInit);
      this.guard.precedence?.reset();
      this.guard.needAny.set(this.guard.needAnyInit);
    }
    for (const op of applied) {
      this.flip(op);
      this.lift(op);
      this.account(op, -1);
    }
    this.depth = 0;
    this.m = 0;
    this.hi = -1;
    this.state = stateId;
    this.pendingBacktrack = false;
    this.eagerNext = -1;
    const fresh = this.remember(stateId);
    this.cur = this.firstCandidate();
    this.ctx.checkMemory();
    if (fresh) {
      this.starts.push({ stateId, applied: [...applied] });
      this.ctx.account.bytes += 32 + 8 * applied.length;
    }
    return fresh;
  }

  /**
   * Pops the last op and resumes scanning after it. When the popped op was
   * an eager read, its node has nothing else to offer (see nextEnd), so
   * popping goes on.
   */
  private backtrack(): boolean {
    this.eagerNext = -1;
    for (;;) {
      if (this.depth === 0) return false;
      const d = --this.depth;
      const at = 4 * d;
      const op = this.stack[at]!;
      this.state = this.stack[at + 1]!;
      this.m = this.stack[at + 2]!;
      this.hi = this.stack[at + 3]!;
      this.unlift(op);
      this.flip(op);
      this.account(op, 1);
      this.cur = this.next[this.callEntry[op]!]!;
      if (!this.eagerAt[d]) return true;
    }
  }

  /**
   * Where a fresh node's scan starts: at an op that can be taken eagerly
   * (a partial-order reduction; the node then tries nothing else), or at the
   * first entry. Eager: an ok read-only op that matches the state, or, when
   * the state is dead (memoState), an ok op that requires nothing and
   * writes a dead value. The write case: take any continuation from here
   * that places that write w later, after ops a1..ak. Moved to the front,
   * w leaves a dead state for a dead one, so up to the first write among
   * the a's every a sees a dead state as before (and requires nothing,
   * since it accepted one), and from that write on the states are the
   * same; if no a writes, the state after a_k is what w would have
   * overwritten with a dead value, and every later op up to the next write
   * requires nothing, so it accepts it as well, and the end configuration
   * reached can continue as the original did. So if any continuation from
   * here reaches an end, one that starts with w does.
   */
  private firstCandidate(): number {
    const { next, head, entryIsCall, entryOp, okTotal } = this;
    const g = this.guard;
    const dead = g !== undefined && this.memoState(this.state) === DEAD_STATE;
    const space = this.ctx.space;
    for (let e = next[head]!; e !== -1 && entryIsCall[e]; e = next[e]!) {
      const op = entryOp[e]!;
      if (op >= okTotal) continue;
      if (this.eager[op]) {
        if (space.step(this.state, this.globalOp[op]!) === -1) continue;
      } else {
        if (!dead) continue;
        const w = g!.writes[op]!;
        if (g!.requiresAny[op]! >= 0 || w < 0 || g!.needAny[w]! > 0 || g!.requiredLater[w] === 1) continue;
        const nextState = space.step(this.state, this.globalOp[op]!);
        if (nextState === -1 || !this.allowed(op, nextState)) continue;
      }
      this.eagerNext = op;
      return e;
    }
    return next[head]!;
  }

  /** Advances to the next new end configuration; false when exhausted. */
  nextEnd(): boolean {
    if (this.pendingBacktrack) {
      this.pendingBacktrack = false;
      if (!this.backtrack()) return false;
    }
    const { ctx, next, entryOp, entryIsCall, globalOp, okTotal } = this;
    const space = ctx.space;
    for (;;) {
      if (this.m === okTotal) {
        // Every ok op of the segment is linearized. Unknown ops still open
        // can as well take effect after the cut, so stop here (no need to
        // enumerate them at the end of this segment).
        this.pendingBacktrack = true;
        this.ends++;
        return true;
      }
      const e = this.cur;
      if (entryIsCall[e]) {
        const op = entryOp[e]!;
        // Eager reads (a partial-order reduction): an ok read-only op that
        // may go now and matches the state can be moved to the front of any
        // continuation from this node without changing where it ends (it
        // leaves the state alone, and its real-time predecessors are all
        // linearized), so trying it is enough: once its subtree is explored,
        // this node is too. That is why backtrack() pops past it.
        // An unknown op whose observers are all linearized cannot matter.
        // (Trying ok ops before unknown ones at each node was measured: it
        // took more steps on the corpus and on long one-key segments.)
        if (op >= okTotal && op < this.liveInfoStart()) {
          this.cur = next[e]!;
          continue;
        }
        const nextState = space.step(this.state, globalOp[op]!);
        if (nextState !== -1 && (this.guard === undefined || this.allowed(op, nextState))) {
          const { m, hi } = this;
          this.flip(op);
          if (op < okTotal) {
            if (op > hi) this.hi = op;
            if (op === m) {
              let mm = m + 1;
              while (mm < okTotal && (this.bits[mm >>> 5]! & (1 << (mm & 31))) !== 0) mm++;
              this.m = mm;
              if (mm > this.deepest) this.deepest = mm;
            }
          }
          const eager = this.eager[op] === 1 || op === this.eagerNext;
          this.eagerNext = -1;
          if (this.remember(nextState)) {
            ctx.tick();
            const d = this.depth++;
            const at = 4 * d;
            this.stack[at] = op;
            this.stack[at + 1] = this.state;
            this.stack[at + 2] = m;
            this.stack[at + 3] = hi;
            this.eagerAt[d] = eager ? 1 : 0;
            this.lift(op);
            this.account(op, -1);
            this.state = nextState;
            this.cur = this.firstCandidate();
            continue;
          }
          this.flip(op);
          this.m = m;
          this.hi = hi;
          // An eager op seen before from this node: nothing new here either.
          if (eager) {
            if (!this.backtrack()) return false;
            continue;
          }
        }
        this.cur = next[e]!;
      } else {
        // The first remaining entry is a return: that op must have been
        // linearized before this point, so this path is dead (WGL).
        ctx.tick();
        if (!this.backtrack()) return false;
      }
    }
  }

  /** Whether local op `op` is linearized in the current configuration. */
  has(op: number): boolean {
    return (this.bits[op >>> 5]! & (1 << (op & 31))) !== 0;
  }
}

/** What the driver needs of a segment search. */
interface Segment {
  state: number;
  /** The highest count of leading ok ops (call order) any path linearized. */
  readonly deepest: number;
  readonly starts: { stateId: number; applied: number[] }[];
  readonly memoEntries: number;
  start(stateId: number, applied: readonly number[]): boolean;
  nextEnd(): boolean;
  has(op: number): boolean;
}

/**
 * A segment of one ok op and nothing carried: the common case in sparse
 * per-key histories. Its only end configuration is the op applied, so no
 * list, bitset or memo is needed (the seen set plays the memo's part).
 */
class SingleOpSegment implements Segment {
  state = 0;
  deepest = 0;
  readonly starts: { stateId: number; applied: number[] }[] = [];
  private readonly seen = new Set<number>();
  private done = true;

  constructor(
    private readonly opIndex: number,
    private readonly ctx: SearchContext,
  ) {}

  get memoEntries(): number {
    return this.seen.size;
  }

  start(stateId: number): boolean {
    if (this.seen.has(stateId)) return false;
    this.seen.add(stateId);
    this.starts.push({ stateId, applied: [] });
    this.ctx.account.bytes += 64;
    this.state = stateId;
    this.done = false;
    return true;
  }

  nextEnd(): boolean {
    if (this.done) return false;
    this.done = true;
    this.ctx.tick();
    const next = this.ctx.space.step(this.state, this.opIndex);
    if (next === -1) return false;
    this.deepest = 1;
    this.state = next;
    return true;
  }

  has(): boolean {
    return true;
  }
}

/**
 * Drops unknown-outcome ops that cannot change the verdict:
 * - read-only ones (a read with unknown result constrains nothing);
 * - when every op of the partition is register-like (Model.valueFlow), an
 *   unknown op that writes value v while no op observes v after the unknown
 *   op's invoke. Proof sketch: take a linearization where the op takes
 *   effect at point i; until the next overwrite j the state is v; every op
 *   linearized in (i, j) accepts state v, and since none requires v, each
 *   requires nothing and changes nothing, so it accepts the state before i
 *   too; the op at j overwrites regardless. Removing the op leaves a valid
 *   linearization. The converse is trivial (unknown ops may never happen).
 * The same argument lets an op be forgotten at a quiescent cut once all its
 * observers have completed: `expiry` is the last completion index of an ok
 * observer (+Infinity if an unknown op observes v, since it never completes).
 */
function pruneUnknownOps(
  ops: readonly Operation[],
  model: Model<any>,
  known?: readonly (ValueFlow | undefined)[],
): { kept: number[]; expiry: Float64Array; pruned: number } {
  const expiry = new Float64Array(ops.length).fill(Infinity);
  let unknown = 0;
  for (const op of ops) if (!op.ok) unknown++;
  if (unknown === 0) return { kept: ops.map((_op, i) => i), expiry, pruned: 0 };
  const flows =
    known ?? (model.valueFlow === undefined ? undefined : ops.map((op) => model.valueFlow!(op.f, op.input, op.output)));
  const registerLike = flows?.every((flow) => flow !== undefined);
  if (registerLike) {
    const lastObserved = new Map<string, number>();
    for (let i = 0; i < ops.length; i++) {
      const need = flows[i]!.requires;
      if (need === undefined) continue;
      const op = ops[i]!;
      const at = op.ok ? op.completeIndex : Infinity;
      lastObserved.set(need, Math.max(lastObserved.get(need) ?? -1, at));
    }
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      if (op.ok) continue;
      const writes = flows[i]!.writes;
      expiry[i] = writes === undefined ? -1 : (lastObserved.get(writes) ?? -1);
    }
  }
  const kept: number[] = [];
  let pruned = 0;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (!op.ok && ((model.readOnly?.(op.f, op.input) ?? false) || expiry[i]! < op.invokeIndex)) {
      pruned++;
      continue;
    }
    kept.push(i);
  }
  return { kept, expiry, pruned };
}

/**
 * Indices of the unknown ops that cannot matter (pruneUnknownOps' argument):
 * removing them leaves the verdict as it is.
 */
export function unobservedUnknownOps(ops: readonly Operation[], model: Model<any>): Set<number> {
  const kept = new Set(pruneUnknownOps(ops, model).kept);
  const gone = new Set<number>();
  for (let i = 0; i < ops.length; i++) if (!kept.has(i)) gone.add(i);
  return gone;
}

const MIN_SEGMENT_ENTRIES = 64;
const NONE: number[] = [];
const NO_LOCALS = new Map<number, number>();
const SINGLE_ENTRY_OPS = [0, 0];
const SINGLE_ENTRY_IS_CALL = [true, false];

/**
 * The kept ops' call and return entries in real-time (event index) order, as
 * parallel arrays. Ops are in invoke order, so the calls are sorted already;
 * only the returns are sorted, then merged in (cheaper than sorting one
 * object per entry, which showed in the profile of small histories).
 */
function realTimeEntries(
  ops: readonly Operation[],
  kept: readonly number[],
): { pos: Float64Array; op: Int32Array; call: Uint8Array } {
  const returns: number[] = [];
  for (const i of kept) if (ops[i]!.ok) returns.push(i);
  returns.sort((a, b) => ops[a]!.completeIndex - ops[b]!.completeIndex);
  const total = kept.length + returns.length;
  const pos = new Float64Array(total);
  const op = new Int32Array(total);
  const call = new Uint8Array(total);
  let c = 0;
  let r = 0;
  for (let e = 0; e < total; e++) {
    const callPos = c < kept.length ? ops[kept[c]!]!.invokeIndex : Infinity;
    const returnPos = r < returns.length ? ops[returns[r]!]!.completeIndex : Infinity;
    if (callPos < returnPos) {
      pos[e] = callPos;
      op[e] = kept[c++]!;
      call[e] = 1;
    } else {
      pos[e] = returnPos;
      op[e] = returns[r++]!;
    }
  }
  return { pos, op, call };
}

/** Splits the kept ops into quiescent segments with their carried unknown ops. */
function planSegments(
  ops: readonly Operation[],
  kept: readonly number[],
  expiry: Float64Array,
  minSegmentEntries: number,
): SegmentPlan[] {
  const entries = realTimeEntries(ops, kept);
  const plans: SegmentPlan[] = [];
  let live: number[] = []; // unknown ops invoked before the current segment
  let prevLocal = new Map<number, number>();
  // The current segment is entries [segFrom, segTo).
  let segFrom = 0;
  let segHasOk = false;
  let openOk = 0;
  const flush = (cutPos: number, segTo: number): void => {
    const carried = live.length === 0 ? live : live.filter((i) => expiry[i]! >= cutPos);
    if (carried.length === 0 && segTo - segFrom === 2) {
      // One ok op, nothing carried: the common case, kept allocation-light.
      plans.push({
        ops: [entries.op[segFrom]!],
        okCount: 1,
        infoDeadAt: NONE,
        carriedLocal: NONE,
        carriedFrom: NONE,
        entryOps: SINGLE_ENTRY_OPS,
        entryIsCall: SINGLE_ENTRY_IS_CALL,
      });
      prevLocal = NO_LOCALS; // an ok op is never carried
      live = carried;
      return;
    }
    const okOps: number[] = [];
    const okInvokes: number[] = [];
    const infoOps: number[] = [...carried];
    for (let e = segFrom; e < segTo; e++) {
      if (!entries.call[e]) continue;
      const i = entries.op[e]!;
      if (ops[i]!.ok) {
        okOps.push(i);
        okInvokes.push(entries.pos[e]!);
      } else infoOps.push(i);
    }
    const okCount = okOps.length;
    const segEnd = entries.pos[segTo - 1]!;
    // Ok ops (in call order) invoked before `position`: all observers of a
    // value whose last observer completed at `position` are among them.
    const okInvokedBefore = (position: number): number => {
      let lo = 0;
      let hi = okCount;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (okInvokes[mid]! < position) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    };
    const deadAt = new Map<number, number>();
    for (const i of infoOps) deadAt.set(i, expiry[i]! > segEnd ? okCount + 1 : okInvokedBefore(expiry[i]!));
    infoOps.sort((x, y) => deadAt.get(x)! - deadAt.get(y)!);
    const local = new Map<number, number>();
    const planOps = [...okOps, ...infoOps];
    for (const [l, i] of planOps.entries()) local.set(i, l);
    const entryOps: number[] = [];
    const entryIsCall: boolean[] = [];
    for (const i of carried) {
      entryOps.push(local.get(i)!);
      entryIsCall.push(true);
    }
    for (let e = segFrom; e < segTo; e++) {
      entryOps.push(local.get(entries.op[e]!)!);
      entryIsCall.push(entries.call[e] === 1);
    }
    plans.push({
      ops: planOps,
      okCount,
      infoDeadAt: infoOps.map((i) => deadAt.get(i)!),
      carriedLocal: carried.map((i) => local.get(i)!),
      carriedFrom: carried.map((i) => prevLocal.get(i)!),
      entryOps,
      entryIsCall,
    });
    prevLocal = local;
    live = carried;
    for (let e = segFrom; e < segTo; e++) {
      const i = entries.op[e]!;
      if (entries.call[e] && !ops[i]!.ok) live.push(i);
    }
  };
  let segStart = 0;
  const total = entries.pos.length;
  for (let e = 0; e < total; e++) {
    const isCall = entries.call[e] === 1;
    const ok = ops[entries.op[e]!]!.ok;
    // Cut at a quiescent point, unless the segment so far is small and
    // would not be a lone op (which needs no search structures at all):
    // each segment costs a few allocations, and tiny ones are not worth it.
    const size = e - segFrom;
    const worthCutting = size >= minSegmentEntries || (size === 2 && live.length === 0);
    if (isCall && ok && openOk === 0 && segHasOk && worthCutting) {
      flush(segStart, e);
      segStart = entries.pos[e]!;
      segFrom = e;
      segHasOk = false;
    }
    if (ok) {
      if (isCall) {
        openOk++;
        segHasOk = true;
      } else openOk--;
    }
  }
  if (total > segFrom) flush(segStart, total);
  return plans;
}

/**
 * Unknown ops that must have taken effect become ok ops with a deadline.
 * With register-like ops: when an unknown op is the only op that writes v,
 * the initial state is not v, and ok ops observe v (all completing after its
 * invoke), then in every linearization it took effect before the first of
 * those observers, R (R's state v can only come from it). So it is
 * equivalent to an ok op invoked as it was and returning just before R
 * returns: any linearization of one is a linearization of the other. An ok
 * op with a return is far cheaper to search than one open forever (it is
 * no longer a candidate at every later step).
 */
function promoteForcedUnknownOps(
  ops: readonly Operation[],
  flows: readonly ValueFlow[] | undefined,
  initialValue: string | undefined,
): readonly Operation[] {
  if (flows === undefined || initialValue === undefined || ops.every((op) => op.ok)) return ops;
  const writers = new Map<string, number>();
  const firstObserverEnd = new Map<string, number>();
  for (let i = 0; i < ops.length; i++) {
    const { writes, requires } = flows[i]!;
    if (writes !== undefined) writers.set(writes, (writers.get(writes) ?? 0) + 1);
    const op = ops[i]!;
    if (requires !== undefined && op.ok) {
      if (op.completeIndex < (firstObserverEnd.get(requires) ?? Infinity))
        firstObserverEnd.set(requires, op.completeIndex);
    }
  }
  let out: Operation[] | undefined;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    const v = flows[i]!.writes;
    if (op.ok || v === undefined || v === initialValue || writers.get(v) !== 1) continue;
    const end = firstObserverEnd.get(v);
    // Every observer must complete after the invoke (else nothing is forced here).
    if (end === undefined || end < op.invokeIndex) continue;
    out ??= [...ops];
    out[i] = { ...op, ok: true, completeIndex: end - 0.5 };
  }
  return out ?? ops;
}

/** Checks one partition's operations against the model within the limits. */
export function searchPartition(
  recorded: readonly Operation[],
  model: Model<any>,
  limits: SearchLimits,
  initialState?: unknown,
): SearchOutcome {
  const init = initialState === undefined ? model.init() : initialState;
  // Value flows feed the promotion of forced unknown ops, the pruning and
  // the value guard; a short partition with no unknown op needs none of them.
  const wanted =
    model.valueFlow !== undefined &&
    model.stateValue !== undefined &&
    (recorded.length >= (limits.guardMinOps ?? GUARD_MIN_OPS) || recorded.some((op) => !op.ok));
  const flows = wanted ? recorded.map((op) => model.valueFlow!(op.f, op.input, op.output)) : undefined;
  const registerLike = flows?.every((flow) => flow !== undefined) ? (flows as ValueFlow[]) : undefined;
  const ops = promoteForcedUnknownOps(recorded, registerLike, registerLike && model.stateValue!(init));
  const { kept, expiry, pruned } = pruneUnknownOps(ops, model, flows);
  const outcome: SearchOutcome = { verdict: 'linearizable', steps: 0, memoEntries: 0, segments: 0, prunedOps: pruned };
  if (!kept.some((i) => ops[i]!.ok)) return outcome;
  const plans = planSegments(ops, kept, expiry, limits.minSegmentEntries ?? MIN_SEGMENT_ENTRIES);
  outcome.segments = plans.length;
  const account: MemoAccount = { bytes: 0 };
  const space = new StateSpace(model, ops, account, registerLike, kept, registerLike && model.stateValue!(init));
  const ctx = new SearchContext(space, limits, account);
  const searches: (Segment | undefined)[] = new Array(plans.length);
  const segment = (k: number): Segment => {
    let search = searches[k];
    if (search === undefined) {
      const plan = plans[k]!;
      search =
        plan.ops.length === 1 && plan.carriedLocal.length === 0
          ? new SingleOpSegment(plan.ops[0]!, ctx)
          : new SegmentSearch(plan, ctx);
      searches[k] = search;
    }
    return search;
  };
  try {
    segment(0).start(space.intern(init), []);
    let k = 0;
    const last = plans.length - 1;
    for (;;) {
      const seg = segment(k);
      if (seg.nextEnd()) {
        if (k === last) break;
        // The carried ops of segment k+1 are a subset of segment k's ops
        // (carried or invoked in k); pass on which of them took effect.
        const nextPlan = plans[k + 1]!;
        const applied: number[] = [];
        for (let j = 0; j < nextPlan.carriedLocal.length; j++) {
          if (seg.has(nextPlan.carriedFrom[j]!)) applied.push(nextPlan.carriedLocal[j]!);
        }
        if (segment(k + 1).start(seg.state, applied)) k++;
      } else {
        if (k === 0) {
          outcome.verdict = 'illegal';
          // The deepest segment reached is the one nothing got through.
          let failed = 0;
          while (failed + 1 < plans.length && searches[failed + 1] !== undefined) failed++;
          const plan = plans[failed]!;
          const deepest = searches[failed]!.deepest;
          outcome.failure = {
            stuck: deepest < plan.okCount ? plan.ops[deepest]! : undefined,
            ops: plan.ops,
            starts: searches[failed]!.starts.map((st) => ({
              state: space.states[st.stateId],
              applied: st.applied.map((local) => plan.ops[local]!),
            })),
          };
          break;
        }
        k--;
      }
    }
  } catch (error) {
    outcome.verdict = 'unknown';
    if (error instanceof BudgetExceeded) outcome.unknownReason = error.reason;
    // V8's own limits (a Map past 2^24 entries, an array too long) when the
    // memory budget is set beyond them: out of memory all the same.
    else if (error instanceof RangeError) outcome.unknownReason = 'memory';
    else throw error;
  }
  outcome.steps = ctx.steps;
  for (const s of searches) if (s !== undefined) outcome.memoEntries += s.memoEntries;
  return outcome;
}
