/**
 * The shrink search: from a failing run, smaller runs that still fail. Real processes are not deterministic, so a
 * candidate is run up to `tries` times and counts as failing as soon as one run is illegal (exit 1). The search is
 * a fixed sequence of greedy steps, each of which only ever proposes something smaller than the best failing run so
 * far, so the result is never bigger than the original:
 *
 *   1. replay the original (if it never fails again, there is nothing to shrink);
 *   2. no faults at all (some bugs need none);
 *   3. drop faults by delta debugging (ddmin.ts) down to a 1-minimal set;
 *   4. simpler faults: a process fault on one node instead of several, each window halved;
 *   5. a shorter run: end shortly after the last fault (and halve a run without faults);
 *   6. fewer clients, then fewer keys (halving while it still fails);
 *   7. run the smallest failing run `tries` more times for its reproduction rate (the search keeps the time of
 *      those runs back from the budget, so they always happen).
 *
 * Pure but for the injected runner and clock: the CLI runs candidates with runChaos, tests with a fake.
 */
import type { PlannedFault } from '../nemesis/plan.ts';
import { ddmin } from './ddmin.ts';

/** What the search varies: the schedule, the run's length, clients and keys. */
export interface RunShape {
  timeS: number;
  concurrency: number;
  keys: number;
  schedule: PlannedFault[];
}

/** One run of a candidate. */
export interface TryOutcome {
  exitCode: number;
  verdict: string;
  runDir?: string;
  wallMs: number;
  /** Why the run broke (exit 3). */
  error?: string;
}

/** Runs a candidate once (`label` names the attempt for the run's files). */
export type CandidateRunner = (shape: RunShape, label: string) => Promise<TryOutcome>;

/** One candidate with all its runs. */
export interface Attempt {
  attempt: number;
  step: string;
  shape: RunShape;
  tries: TryOutcome[];
  failing: boolean;
  /** ms since the shrink started, when this attempt started. */
  atMs: number;
  wallMs: number;
}

export interface ShrinkOptions {
  /** Runs per candidate at most (it fails as soon as one run is illegal). */
  tries: number;
  budgetMs: number;
  /** Shortest run the search proposes, in s. */
  minTimeS?: number;
  /** Quiet time after the last fault when the run is shortened, in s (the heal and final reads come after it). */
  tailS?: number;
  now?: () => number;
  /** Ends the search like the budget does (Ctrl-C): what was found so far is the result. */
  signal?: AbortSignal;
  onAttempt?: (attempt: Attempt, best: RunShape) => void;
}

export interface ShrinkResult {
  /** Whether the original failed again at least once. */
  reproduced: boolean;
  original: RunShape;
  smallest: RunShape;
  /** Whether the smallest is smaller than the original. */
  smaller: boolean;
  /** Runs of exactly the smallest shape and how many of them were illegal. */
  reproduction: { illegal: number; runs: number };
  attempts: Attempt[];
  /** True when the budget (or an interrupt) ended the search before every step ran. */
  budgetExhausted: boolean;
  wallMs: number;
}

/** Exit code of an illegal (not linearizable) run. */
const ILLEGAL = 1;

/**
 * Shape size for "smaller": fewer faults, then fewer nodes and links hit, less fault time, a shorter run, fewer
 * clients, fewer keys.
 */
export function sizeOf(shape: RunShape): number[] {
  const faultMs = shape.schedule.reduce((sum, p) => sum + (p.stopMs - p.startMs), 0);
  const hit = shape.schedule.reduce((sum, p) => sum + reach(p.fault), 0);
  return [shape.schedule.length, hit, faultMs, shape.timeS, shape.concurrency, shape.keys];
}

/** How much of the cluster a fault touches: nodes of a process fault, links of a network fault. */
function reach(fault: PlannedFault['fault']): number {
  switch (fault.kind) {
    case 'kill':
    case 'pause':
      return fault.target.by === 'leader' ? 1 : fault.target.nodes.length;
    case 'partition':
      return fault.mode === 'isolate-leader' ? 0 : fault.cut.length;
    case 'latency':
    case 'blackhole':
    case 'bandwidth':
      return fault.links.length;
    default:
      return 0;
  }
}

export function isSmaller(a: RunShape, b: RunShape): boolean {
  const x = sizeOf(a);
  const y = sizeOf(b);
  for (let i = 0; i < x.length; i++)
    if ((x[i] as number) !== (y[i] as number)) return (x[i] as number) < (y[i] as number);
  return false;
}

const shapeKey = (shape: RunShape): string => JSON.stringify(shape);

/** A schedule renumbered in start order (the history pairs a fault's start and stop by its number). */
export function renumber(schedule: readonly PlannedFault[]): PlannedFault[] {
  return [...schedule].sort((a, b) => a.startMs - b.startMs).map((p, index) => ({ ...p, index }));
}

export async function shrinkSearch(
  original: RunShape,
  run: CandidateRunner,
  options: ShrinkOptions,
): Promise<ShrinkResult> {
  const now = options.now ?? (() => performance.now());
  const startedMs = now();
  const minTimeS = options.minTimeS ?? 2;
  const tailS = options.tailS ?? 2;
  const attempts: Attempt[] = [];
  const runsOf = new Map<string, { illegal: number; runs: number }>();
  let budgetExhausted = false;
  let best = original;
  /** The slowest run of the best shape so far: the search leaves `tries` of those for the confirmation runs. */
  let bestRunMs = 0;
  /**
   * Whether a search step may still start: the time of `tries` runs of the best shape is kept back from the
   * budget, so the reproduction rate of the result is always measured (without it the budget could end the search
   * in its last candidate and leave a result whose rate nobody measured). The confirmation runs themselves only
   * need the budget not to be over (`reserve` false).
   */
  const outOfBudget = (reserve = true): boolean => {
    const keptMs = reserve ? options.tries * bestRunMs : 0;
    if (now() - startedMs + keptMs >= options.budgetMs || options.signal?.aborted === true) budgetExhausted = true;
    return reserve ? budgetExhausted : now() - startedMs >= options.budgetMs || options.signal?.aborted === true;
  };

  /** Runs `shape` up to `tries` times (all of them when `confirm`); true if any run was illegal. */
  const check = async (step: string, shape: RunShape, confirm = false): Promise<boolean> => {
    if (outOfBudget(!confirm)) return false;
    const attempt: Attempt = {
      attempt: attempts.length + 1,
      step,
      shape,
      tries: [],
      failing: false,
      atMs: now() - startedMs,
      wallMs: 0,
    };
    attempts.push(attempt);
    const counts = runsOf.get(shapeKey(shape)) ?? { illegal: 0, runs: 0 };
    runsOf.set(shapeKey(shape), counts);
    let slowestMs = 0;
    for (let i = 0; i < options.tries; i++) {
      // The first try always runs; later ones only within the budget.
      if (i > 0 && outOfBudget(!confirm)) break;
      const runStartMs = now();
      const outcome = await run(shape, `attempt ${attempt.attempt} try ${i + 1}`);
      slowestMs = Math.max(slowestMs, now() - runStartMs);
      attempt.tries.push(outcome);
      counts.runs++;
      if (outcome.exitCode === ILLEGAL) {
        counts.illegal++;
        attempt.failing = true;
        if (!confirm) break;
      }
    }
    attempt.wallMs = now() - startedMs - attempt.atMs;
    if (attempt.failing && (isSmaller(shape, best) || shape === original)) {
      best = shape;
      bestRunMs = slowestMs;
    }
    options.onAttempt?.(attempt, best);
    return attempt.failing;
  };
  /** Tries a smaller variant of the best run; keeps it if it fails. */
  const propose = async (step: string, shape: RunShape): Promise<boolean> =>
    isSmaller(shape, best) ? check(step, shape) : false;

  const reproduced = await check('replay the original', original);
  if (reproduced) {
    // 2-3: fewer faults.
    if (best.schedule.length > 0 && !(await propose('no faults', { ...best, schedule: [] }))) {
      if (best.schedule.length > 1) {
        const base = best;
        await ddmin(
          base.schedule,
          (kept) => propose(`drop faults (keep ${kept.length} of ${base.schedule.length})`, withSchedule(base, kept)),
          outOfBudget,
        );
      }
    }
    // 4: simpler faults, one at a time.
    for (let i = 0; i < best.schedule.length; i++) {
      for (const how of simplifications) {
        const simpler = simplify(best.schedule[i] as PlannedFault, how);
        if (simpler === undefined) continue;
        const schedule = best.schedule.map((p, j) => (j === i ? simpler : p));
        await propose(`fault #${i}: ${how}`, withSchedule(best, schedule));
      }
    }
    // 5: a shorter run.
    const lastStopS = Math.max(0, ...best.schedule.map((p) => p.stopMs)) / 1000;
    await propose('end after the last fault', { ...best, timeS: Math.max(minTimeS, Math.ceil(lastStopS + tailS)) });
    while (best.schedule.length === 0 && best.timeS > minTimeS) {
      if (!(await propose('halve the run', { ...best, timeS: Math.max(minTimeS, Math.ceil(best.timeS / 2)) }))) break;
    }
    // 6: fewer clients, fewer keys.
    while (best.concurrency > 1) {
      if (!(await propose('halve the clients', { ...best, concurrency: Math.ceil(best.concurrency / 2) }))) break;
    }
    while (best.keys > 1) {
      if (!(await propose('halve the keys', { ...best, keys: Math.ceil(best.keys / 2) }))) break;
    }
    // 7: the reproduction rate of the smallest.
    await check('reproduction rate of the smallest', best, true);
  }
  return {
    reproduced,
    original,
    smallest: best,
    smaller: isSmaller(best, original),
    reproduction: runsOf.get(shapeKey(best)) ?? { illegal: 0, runs: 0 },
    attempts,
    budgetExhausted,
    wallMs: now() - startedMs,
  };
}

function withSchedule(shape: RunShape, schedule: readonly PlannedFault[]): RunShape {
  return { ...shape, schedule: renumber(schedule) };
}

const simplifications = ['one node', 'half the window'] as const;

/** A simpler version of one fault: one node instead of several, or half the window (never under 500 ms). */
function simplify(planned: PlannedFault, how: (typeof simplifications)[number]): PlannedFault | undefined {
  const fault = planned.fault;
  if (how === 'one node') {
    if ((fault.kind !== 'kill' && fault.kind !== 'pause') || fault.target.by !== 'minority') return undefined;
    const [first] = fault.target.nodes;
    if (fault.target.nodes.length < 2 || first === undefined) return undefined;
    return { ...planned, fault: { ...fault, target: { by: 'random', nodes: [first] } } };
  }
  const halfMs = Math.round((planned.stopMs - planned.startMs) / 2);
  return halfMs >= 500 ? { ...planned, stopMs: planned.startMs + halfMs } : undefined;
}
