/**
 * The violation, explained: for one illegal key, the ops a reader needs to see (the checker's smallest window, the
 * ops that forced the state the window starts in, and the other ops of the key around the window), each with its
 * raw history events, the member the client asked and the member that answered; who led in which term (from
 * status.jsonl); the fault windows active meanwhile; and a paragraph that tells the story in words, starting from
 * the checker's own sentence. Pure: the drawing is timeline-svg.ts.
 *
 * Times are those of the history (ns since the workload started). A history without times (an EDN file given to
 * `npm run check --html`) is laid out by event index instead, and the story says "event N".
 */
import type { Counterexample, OperationInfo } from '../checker/index.ts';
import type { FaultWindow } from './analysis.ts';
import type { RunEvent, StatusSample } from './run-files.ts';

/** How an op takes part in the explanation. */
export type OpRole = 'window' | 'cause' | 'context';

/** One op drawn on the violation timeline. */
export interface TimelineOp {
  /** Event index of its invoke (the checker's op id when the op is the checker's). */
  id: number;
  process: number;
  f: string;
  description: string;
  /** Outcome as recorded in the history. */
  outcome: 'ok' | 'fail' | 'info' | 'pending';
  role: OpRole;
  /** The checker relaxed this ok op to "may or may not have happened" while shrinking. */
  relaxed: boolean;
  /** No partial linearization could place it. */
  stuck: boolean;
  /** 1-based position in the longest partial linearization. */
  order?: number;
  start: number;
  /** Completion time (or index); undefined when the op never completed. */
  end?: number;
  /** Member the client sent it to, and the member that answered (when the system names it). */
  node?: string;
  servedBy?: string;
  /** The raw history events (invoke, completion), for hover. */
  events: RunEvent[];
}

/** A member's role over a stretch of time, from the status samples. */
export interface RoleBand {
  node: string;
  role: string;
  term: number;
  start: number;
  end: number;
}

/** Everything the violation view of one key shows. */
export interface ViolationView {
  key: string;
  /** 'ns' when the history has times, 'index' when positions are event indices. */
  axis: 'ns' | 'index';
  ops: TimelineOp[];
  /** Span of the checker's window ops (not the causes or context). */
  windowStart: number;
  windowEnd: number;
  /** The op the longest partial linearization cannot get past (id), if known. */
  breaksAt?: number;
  /** Length of the longest partial linearization. */
  longestPrefix: number;
  truncated: boolean;
  minimal: boolean;
  initialState: string;
  bands: RoleBand[];
  faults: (FaultWindow & { lane: number })[];
  story: string;
  /** Context ops of the key left out because there were more than the bound. */
  contextOmitted: number;
  /** ns of the key's first op the checker saw: its sentence counts seconds from there (see formatAt). */
  clockOrigin?: number;
}

/** At most this many ops of the key around the window are drawn besides the window and its causes. */
const CONTEXT_OPS_MAX = 40;

interface PairedEvents {
  invoke: RunEvent;
  invokeIndex: number;
  completion?: RunEvent;
}

/** Every client op of the history by invoke index, with its completion event. */
function pairEvents(events: readonly RunEvent[]): Map<number, PairedEvents> {
  const open = new Map<number, PairedEvents>();
  const byInvoke = new Map<number, PairedEvents>();
  events.forEach((event, index) => {
    if (typeof event.process !== 'number') return;
    if (event.type === 'invoke') {
      const pair = { invoke: event, invokeIndex: index };
      open.set(event.process, pair);
      byInvoke.set(index, pair);
      return;
    }
    const pair = open.get(event.process);
    if (pair === undefined) return;
    pair.completion = event;
    open.delete(event.process);
  });
  return byInvoke;
}

const showValue = (value: unknown): string => (value === undefined ? '' : JSON.stringify(value));

function describeRaw(pair: PairedEvents): string {
  const { invoke, completion } = pair;
  // The checker's words for the same ops (checker/models.ts describeOperation).
  if (invoke.f === 'read') return completion?.type === 'ok' ? `read → ${showValue(completion.value)}` : 'read';
  if (invoke.f === 'cas' && Array.isArray(invoke.value))
    return `cas ${showValue(invoke.value[0])} → ${showValue(invoke.value[1])}`;
  return `${invoke.f} ${showValue(invoke.value)}`;
}

/** Finds the history's pair of a checker op: by id (same history), else by process and invoke time. */
function pairOf(op: OperationInfo, pairs: Map<number, PairedEvents>): PairedEvents | undefined {
  const byId = pairs.get(op.id);
  if (byId !== undefined && byId.invoke.process === op.process && byId.invoke.f === op.f) return byId;
  for (const pair of pairs.values())
    if (pair.invoke.process === op.process && pair.invoke.time === op.invokeTimeNs && pair.invoke.f === op.f)
      return pair;
  return undefined;
}

/**
 * An op the history does not have (results.json checked another history than the one beside it): drawn from the
 * checker's own record of it, so the view still shows the window.
 */
function pairFromInfo(info: OperationInfo): PairedEvents {
  const invoke: RunEvent = {
    process: info.process,
    type: 'invoke',
    f: info.f,
    value: info.input,
    time: info.invokeTimeNs ?? info.invokeIndex,
  };
  if (info.key !== undefined) invoke.key = info.key;
  const pair: PairedEvents = { invoke, invokeIndex: info.invokeIndex };
  if (info.outcome === 'ok' && info.relaxed !== true)
    pair.completion = {
      ...invoke,
      type: 'ok',
      value: info.output,
      time: info.completeTimeNs ?? info.completeIndex ?? info.invokeIndex,
    };
  return pair;
}

/** Chooses the time axis: ns when every op has a time, else event indices. */
function chooseAxis(events: readonly RunEvent[]): 'ns' | 'index' {
  return events.every((e) => typeof e.time === 'number') ? 'ns' : 'index';
}

function timelineOp(
  pair: PairedEvents,
  role: OpRole,
  axis: 'ns' | 'index',
  info: OperationInfo | undefined,
  events: readonly RunEvent[],
): TimelineOp {
  const completionIndex = pair.completion === undefined ? -1 : events.indexOf(pair.completion, pair.invokeIndex);
  const completion = pair.completion;
  const op: TimelineOp = {
    id: pair.invokeIndex,
    process: pair.invoke.process as number,
    f: pair.invoke.f,
    description: info?.description ?? describeRaw(pair),
    outcome: completion?.type === 'invoke' || completion === undefined ? 'pending' : completion.type,
    role,
    relaxed: info?.relaxed === true,
    stuck: false,
    start: axis === 'ns' ? pair.invoke.time : pair.invokeIndex,
    events: completion === undefined ? [pair.invoke] : [pair.invoke, completion],
  };
  if (completion !== undefined)
    op.end =
      axis === 'ns' ? completion.time : completionIndex >= 0 ? completionIndex : (info?.completeIndex ?? op.start);
  if (pair.invoke.node !== undefined) op.node = pair.invoke.node;
  if (completion?.servedBy !== undefined) op.servedBy = completion.servedBy;
  return op;
}

/** Role bands per member from the status samples that overlap [from, to] (ns). */
export function roleBands(samples: readonly StatusSample[], from: number, to: number): RoleBand[] {
  const bands: RoleBand[] = [];
  const open = new Map<string, RoleBand>();
  for (let i = 0; i < samples.length; i++) {
    const sample = samples[i]!;
    const next = samples[i + 1]?.time ?? sample.time + 250e6;
    if (next < from || sample.time > to) continue;
    for (const [node, status] of Object.entries(sample.nodes)) {
      const role = status === null ? 'down' : status.role;
      const term = status?.term ?? -1;
      const current = open.get(node);
      if (current !== undefined && current.role === role && current.term === term) {
        current.end = next;
        continue;
      }
      const band = { node, role, term, start: sample.time, end: next };
      bands.push(band);
      open.set(node, band);
    }
  }
  return bands;
}

/** Who claimed to lead at `t` (ns): the members that said leader in the last sample at or before it. */
export function leadersAt(samples: readonly StatusSample[], t: number): { node: string; term: number }[] | undefined {
  let sample: StatusSample | undefined;
  for (const s of samples) {
    if (s.time > t) break;
    sample = s;
  }
  if (sample === undefined) return undefined;
  return Object.entries(sample.nodes)
    .flatMap(([node, status]) => (status?.role === 'leader' ? [{ node, term: status.term }] : []))
    .sort((a, b) => b.term - a.term);
}

/** Builds the view of one counterexample against the history and status samples it came from. */
export function buildViolationView(
  example: Counterexample,
  events: readonly RunEvent[],
  status: readonly StatusSample[],
  faults: readonly (FaultWindow & { lane: number })[],
): ViolationView {
  const axis = chooseAxis(events);
  const pairs = pairEvents(events);
  const ops = new Map<number, TimelineOp>();
  const add = (info: OperationInfo, role: OpRole): void => {
    const pair = pairOf(info, pairs) ?? pairFromInfo(info);
    if (ops.has(pair.invokeIndex)) return;
    ops.set(pair.invokeIndex, timelineOp(pair, role, axis, info, events));
  };
  for (const info of example.ops) add(info, 'window');
  const windowOps = [...ops.values()];
  for (const cause of example.initialStateCauses ?? [])
    for (const info of [...cause.writes, ...cause.reads]) add(info, 'cause');
  addSources(ops, pairs, axis, events);
  const windowStart = Math.min(...windowOps.map((o) => o.start));
  const windowEnd = Math.max(...windowOps.map((o) => o.end ?? o.start));
  const contextOmitted = addContext(ops, pairs, example.key, windowStart, windowEnd, axis, events);
  // The checker's ids are event indices of the history it checked; the drawing uses this history's.
  const checkerToDrawn = new Map<number, number>();
  for (const info of example.ops) checkerToDrawn.set(info.id, pairOf(info, pairs)?.invokeIndex ?? info.invokeIndex);
  for (const id of example.stuckOps) {
    const drawn = ops.get(checkerToDrawn.get(id) ?? -1);
    if (drawn !== undefined) drawn.stuck = true;
  }
  const longest = example.partialLinearizations[0] ?? [];
  longest.forEach((step, i) => {
    const drawn = ops.get(checkerToDrawn.get(step.id) ?? -1);
    if (drawn !== undefined) drawn.order = i + 1;
  });
  const breaksAt = breakingOp(example, longest.length, checkerToDrawn);
  const spanStart = Math.min(...[...ops.values()].map((o) => o.start));
  const spanEnd = Math.max(...[...ops.values()].map((o) => o.end ?? o.start));
  const view: ViolationView = {
    key: example.key ?? '(all)',
    axis,
    ops: [...ops.values()].sort((a, b) => a.start - b.start),
    windowStart,
    windowEnd,
    longestPrefix: longest.length,
    truncated: example.partialLinearizationsTruncated === true,
    minimal: example.minimal,
    initialState: example.initialState,
    bands: axis === 'ns' ? roleBands(status, spanStart, spanEnd) : [],
    faults:
      axis === 'ns'
        ? faults.filter((f) => f.startNs <= spanEnd && (f.stopNs ?? Number.POSITIVE_INFINITY) >= spanStart)
        : [],
    story: '',
    contextOmitted,
  };
  if (breaksAt !== undefined) view.breaksAt = breaksAt;
  const clockOrigin = axis === 'ns' ? keyStartNs(events, example.key) : undefined;
  if (clockOrigin !== undefined) view.clockOrigin = clockOrigin;
  view.story = tellStory(example, view, events, status);
  return view;
}

const valueKey = (value: unknown): string => JSON.stringify(value ?? null);

/** The value an op requires (a read's result, a cas's expected value), from its raw events. */
function observedValue(op: TimelineOp): string | undefined {
  const [invoke, completion] = op.events;
  if (op.f === 'read' && completion?.type === 'ok') return valueKey(completion.value);
  if (op.f === 'cas' && Array.isArray(invoke?.value)) return valueKey(invoke.value[0]);
  return undefined;
}

/** The value an op writes, from its invoke. */
function writtenValue(event: RunEvent): string | undefined {
  if (event.f === 'write') return valueKey(event.value);
  if (event.f === 'cas' && Array.isArray(event.value)) return valueKey(event.value[1]);
  return undefined;
}

/**
 * For each window op of the checker's that needs a value (a read's result, a cas's expected value), the latest
 * write of that value invoked before it: the op the checker's sentence names as lost or overwritten, drawn so the
 * reader sees it. When only a write that was answered `fail` (certainly not applied) wrote the value, that write is
 * drawn instead: the value was read although its only writer was told it did not happen.
 */
function addSources(
  ops: Map<number, TimelineOp>,
  pairs: Map<number, PairedEvents>,
  axis: 'ns' | 'index',
  events: readonly RunEvent[],
): void {
  for (const op of [...ops.values()].filter((o) => o.role === 'window')) {
    const need = observedValue(op);
    if (need === undefined) continue;
    let source: PairedEvents | undefined;
    let failedSource: PairedEvents | undefined;
    for (const pair of pairs.values()) {
      if (pair.invokeIndex >= op.id || pair.invoke.key !== op.events[0]?.key) continue;
      if (writtenValue(pair.invoke) !== need) continue;
      if (pair.completion?.type === 'fail') failedSource = pair;
      else if (source === undefined || pair.invokeIndex > source.invokeIndex) source = pair;
    }
    const drawn = source ?? failedSource;
    if (drawn !== undefined && !ops.has(drawn.invokeIndex))
      ops.set(drawn.invokeIndex, timelineOp(drawn, 'cause', axis, undefined, events));
  }
}

/**
 * The checker's sentence counts seconds from the key's first op ("at 0.43 s"); the page counts from the workload's
 * start. Shifts each "at N s" by the key's first op time so the story reads on one clock.
 */
export function onRunClock(sentence: string, keyStartNs: number): string {
  return sentence.replace(/\bat (\d+(?:\.\d+)?) s\b/g, (_match, seconds: string) => {
    const decimals = seconds.split('.')[1]?.length ?? 0;
    return `at ${(Number(seconds) + keyStartNs / 1e9).toFixed(decimals)} s`;
  });
}

/** Other ops of the key overlapping the window, nearest first, up to the bound; returns how many were left out. */
function addContext(
  ops: Map<number, TimelineOp>,
  pairs: Map<number, PairedEvents>,
  key: string | undefined,
  from: number,
  to: number,
  axis: 'ns' | 'index',
  events: readonly RunEvent[],
): number {
  const candidates: TimelineOp[] = [];
  for (const pair of pairs.values()) {
    if (ops.has(pair.invokeIndex) || (key !== undefined && pair.invoke.key !== key)) continue;
    const op = timelineOp(pair, 'context', axis, undefined, events);
    if (op.start <= to && (op.end ?? Number.POSITIVE_INFINITY) >= from) candidates.push(op);
  }
  const middle = (from + to) / 2;
  candidates.sort((a, b) => Math.abs(a.start - middle) - Math.abs(b.start - middle));
  for (const op of candidates.slice(0, CONTEXT_OPS_MAX)) ops.set(op.id, op);
  return Math.max(0, candidates.length - CONTEXT_OPS_MAX);
}

/**
 * The op the longest partial linearization cannot get past: one no linearization places (stuckOps), else the
 * earliest-invoked ok op of the window that the longest one leaves out.
 */
function breakingOp(example: Counterexample, prefix: number, toDrawn: Map<number, number>): number | undefined {
  const placed = new Set((example.partialLinearizations[0] ?? []).slice(0, prefix).map((s) => s.id));
  const stuck = example.stuckOps[0];
  const id =
    stuck ??
    [...example.ops]
      .sort((a, b) => a.invokeIndex - b.invokeIndex)
      .find((op) => op.outcome === 'ok' && op.relaxed !== true && !placed.has(op.id))?.id;
  return id === undefined ? undefined : toDrawn.get(id);
}

/**
 * "12.41 s" (run time) or "event 812". With a clock origin (the key's first op, where the checker's sentence counts
 * from) the time is rounded on the checker's grid first, so an instant reads the same here and in its sentence.
 */
export function formatAt(view: Pick<ViolationView, 'axis' | 'clockOrigin'>, at: number): string {
  if (view.axis !== 'ns') return `event ${at}`;
  if (view.clockOrigin === undefined) return `${(at / 1e9).toFixed(2)} s`;
  const sinceOrigin = Number(((at - view.clockOrigin) / 1e9).toFixed(2));
  return `${(sinceOrigin + view.clockOrigin / 1e9).toFixed(2)} s`;
}

/** ", when n2 led (term 3)" at `t`, or "" when there is no status sample to say (a history without status.jsonl). */
function whenClause(status: readonly StatusSample[], t: number): string {
  const claims = leadersAt(status, t);
  return claims === undefined ? '' : `, when ${leaderWords(claims)}`;
}

function leaderWords(claims: { node: string; term: number }[]): string {
  if (claims.length === 0) return 'no member claimed to lead';
  if (claims.length === 1) return `${claims[0]!.node} led (term ${claims[0]!.term})`;
  return `${claims.map((c) => `${c.node} (term ${c.term})`).join(' and ')} both claimed to lead`;
}

/** What a member was doing at `t` (ns), from the last status sample at or before it: "a follower in term 3". */
function roleAt(status: readonly StatusSample[], node: string, t: number): string | undefined {
  let sample: StatusSample | undefined;
  for (const s of status) {
    if (s.time > t) break;
    sample = s;
  }
  if (sample === undefined || !(node in sample.nodes)) return undefined;
  const state = sample.nodes[node];
  if (state === null || state === undefined) return 'not answering /status';
  return `${state.role === 'leader' ? 'the leader' : `a ${state.role}`} in term ${state.term}`;
}

/** " (sent to n2, answered by n1, a follower in term 3)", or "" when the history does not say where an op went. */
function routeWords(op: TimelineOp, status: readonly StatusSample[], at: number): string {
  if (op.node === undefined) return '';
  if (op.servedBy === undefined) return ` (sent to ${op.node})`;
  const role = roleAt(status, op.servedBy, at);
  return ` (sent to ${op.node}, answered by ${op.servedBy}${role !== undefined ? `, then ${role}` : ''})`;
}

/** The error a completion carried, in words. */
function failedWords(op: TimelineOp, view: ViolationView, route: string): string | undefined {
  const completion = op.events[1];
  if (completion?.type !== 'fail') return undefined;
  const error = completion.error !== undefined ? ` (${completion.error})` : '';
  return `The write of that value before it, ${op.description} by p${op.process}${route}, was answered fail${error} at ${formatAt(view, op.end ?? op.start)}, which says it certainly did not happen; yet its value was read.`;
}

/**
 * The story: the checker's sentence, then where the op that breaks the linearization went and who led at that
 * moment, where the last acknowledged write before it was applied, and the faults active during the window.
 */
/** Invoke time of the key's first op that the checker saw (fail ops are not part of its partition). */
function keyStartNs(events: readonly RunEvent[], key: string | undefined): number | undefined {
  let start: number | undefined;
  for (const pair of pairEvents(events).values()) {
    if (key !== undefined && pair.invoke.key !== key) continue;
    if (pair.completion?.type === 'fail') continue;
    if (start === undefined || pair.invoke.time < start) start = pair.invoke.time;
  }
  return start;
}

function tellStory(
  example: Counterexample,
  view: ViolationView,
  events: readonly RunEvent[],
  status: readonly StatusSample[],
): string {
  const sentences: string[] = [];
  const keyStart = view.clockOrigin;
  sentences.push(
    example.explanation !== undefined
      ? keyStart !== undefined
        ? onRunClock(example.explanation, keyStart)
        : example.explanation
      : `No order of the ${example.ops.length} ops of the window on key ${view.key} is a legal history of the object.`,
  );
  for (const op of view.ops.filter((o) => o.role === 'cause')) {
    const words = failedWords(op, view, routeWords(op, status, op.end ?? op.start));
    if (words !== undefined) sentences.push(words);
  }
  const focus = view.ops.find((o) => o.id === view.breaksAt);
  if (focus !== undefined) {
    const when = view.axis === 'ns' ? whenClause(status, focus.start) : '';
    sentences.push(
      `The op the longest linearization cannot get past, ${focus.description} by p${focus.process}${routeWords(focus, status, focus.end ?? focus.start)}, was invoked at ${formatAt(view, focus.start)}${when}.`,
    );
    const lastWrite = view.ops
      .filter((o) => o.outcome === 'ok' && o.end !== undefined && o.end < focus.start && o.f !== 'read')
      .sort((a, b) => (b.end ?? 0) - (a.end ?? 0))[0];
    if (lastWrite !== undefined) {
      const at = lastWrite.end ?? lastWrite.start;
      const when = view.axis === 'ns' ? whenClause(status, at) : '';
      sentences.push(
        `The last write acknowledged before it, ${lastWrite.description} by p${lastWrite.process}${routeWords(lastWrite, status, at)}, was acknowledged at ${formatAt(view, at)}${when}.`,
      );
      // Two members disagree: the one that answered the read did not have the write the other acknowledged.
      if (focus.servedBy !== undefined && lastWrite.servedBy !== undefined && focus.servedBy !== lastWrite.servedBy)
        sentences.push(
          `So ${focus.servedBy} answered without ${lastWrite.description}, which ${lastWrite.servedBy} had acknowledged: either that write was lost or ${focus.servedBy} answered from stale state.`,
        );
    }
  }
  if (view.axis === 'ns') sentences.push(faultWords(view));
  return sentences.join(' ');
}

function faultWords(view: ViolationView): string {
  const active = view.faults.filter(
    (f) => f.startNs <= view.windowEnd && (f.stopNs ?? Number.POSITIVE_INFINITY) >= view.windowStart,
  );
  const span = `${formatAt(view, view.windowStart)}–${formatAt(view, view.windowEnd)}`;
  if (active.length === 0) return `No fault was active during the window (${span}).`;
  const list = active
    .map(
      (f) =>
        `#${f.index} ${f.description} (${formatAt(view, f.startNs)}–${f.stopNs === undefined ? 'end' : formatAt(view, f.stopNs)})`,
    )
    .join('; ');
  return `Active during the window (${span}): ${list}.`;
}
