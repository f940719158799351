/**
 * Scripted scenarios: a nemesis kind that runs a multi-step script
 * which watches the nodes' `/status` and drives kills, pauses and per-link
 * faults to build one exact dangerous state (Raft paper Figure 8; a vote
 * granted twice in one term) that random one-at-a-time faults almost never
 * build. A scenario only uses real faults (crashes, pauses, network), so the
 * correct node must stay linearizable under it.
 *
 * This file holds the interface a script sees (`ScenarioContext`) and the
 * implementation the nemesis hands to it (`createScenarioContext`), which
 * remembers what the script did so the nemesis can undo all of it.
 */
import { Random } from '../../../lib/random.ts';
import { sleep as sleepFor } from '../../../lib/time.ts';
import type { RecordFn } from '../../../workloads/runner.ts';
import type {
  MemberChangeAnswer,
  MembershipControl,
  MembersView,
  MemberStatus,
  NetworkControl,
  ProcessControl,
} from '../controls.ts';
import type { Link } from '../plan.ts';

/** What a script can observe and do. Every wait is bounded; every method is safe to call after the run ended. */
export interface ScenarioContext {
  /** Node ids, sorted. */
  readonly ids: readonly string[];
  /** Seeded from the run's seed and the fault index (replayable). */
  readonly random: Random;
  /** Aborted when the run ends: the script must return promptly. */
  readonly signal: AbortSignal;
  /** GET /status straight to the node (no proxy), short timeout; undefined if down, paused or slow. */
  status(id: string): Promise<MemberStatus | undefined>;
  /** Every answering node's status. */
  statuses(): Promise<Map<string, MemberStatus>>;
  /** SIGKILL; the node stays down until `restart`. */
  kill(id: string): Promise<void>;
  /** Resolves when the process is up and answers /status (or after the cluster's ready timeout). */
  restart(id: string): Promise<void>;
  /** SIGSTOP. */
  pause(id: string): void;
  /** SIGCONT. */
  resume(id: string): void;
  /**
   * Directed links [from, to]: `from`'s requests to `to` (and their replies) stop; the proxy closes its live
   * connections. `['client', id]` is the client proxy of node `id` (clients' requests then fail fast).
   */
  cut(links: readonly Link[]): Promise<void>;
  heal(links: readonly Link[]): Promise<void>;
  /**
   * Bytes on these links vanish both ways (a `timeout` toxic with timeout 0); connections stay open and, unlike
   * `cut`, the proxy keeps its port, so no other process can take it while the link is down (a long cut of many
   * links on a busy machine can lose a port that way, and the heal then fails).
   */
  blackhole(links: readonly Link[]): Promise<void>;
  /** Ends a blackhole; the proxy closes the link's connections, so the nodes reconnect. */
  removeBlackhole(links: readonly Link[]): Promise<void>;
  latency(links: readonly Link[], delayMs: number, jitterMs?: number): Promise<void>;
  removeLatency(links: readonly Link[]): Promise<void>;
  /**
   * Client->node request bytes are dropped at the client proxies of `ids` (default: every node), upstream
   * only: answers to requests a node already has still flow back to the waiting clients.
   */
  holdClientRequests(ids?: readonly string[]): Promise<void>;
  /** Ends a hold (default: on every node); the held connections are closed, so a dropped request fails at its client. */
  releaseClientRequests(ids?: readonly string[]): Promise<void>;
  /** Membership requests and changes; undefined when the system has no membership API. */
  readonly membership: ScenarioMembership | undefined;
  /** Records a history event {process:'nemesis', type:'info', f:'<scenario>-step', value: step, ...detail}. */
  note(step: string, detail?: Record<string, unknown>): void;
  /** Abort-aware sleep. */
  sleep(ms: number): Promise<void>;
  /**
   * Polls `probe` (about every 15 ms) until it returns a value; undefined on
   * timeout or abort (a timeout is noted in the history).
   */
  waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T | undefined>;
}

/**
 * What a script can do to the configuration: single requests to one member (which may break the rules on purpose,
 * e.g. a second change while one is pending) and whole changes made the way the `member` nemesis makes them.
 */
export interface ScenarioMembership {
  /** Every id that can be a member. */
  readonly potential: readonly string[];
  /** The voters the harness sends clients to. */
  members(): readonly string[];
  /** `GET /members` on `id`, short timeout. */
  configuration(id: string): Promise<MembersView | undefined>;
  /** One `POST /members` for `id` on `via`, no retry. */
  requestAdd(via: string, id: string): Promise<MemberChangeAnswer>;
  /** Adds `id` (retried until a committed configuration has it as a voter, or `withinMs`). */
  add(id: string, withinMs: number): Promise<{ ok: boolean; detail: string }>;
  /** Removes `id` (retried until a committed configuration leaves it out, or `withinMs`). */
  remove(id: string, withinMs: number): Promise<{ ok: boolean; detail: string }>;
  /** Kills `id`, empties its data directory and starts it as a non-member. */
  restartEmpty(id: string): Promise<void>;
  /** Sets the harness's view to the leader's committed configuration. */
  refresh(): Promise<MembersView | undefined>;
}

/** What a scenario reports: whether it built the dangerous state (shown in progress, report fault table, test.json). */
export interface ScenarioOutcome {
  readonly reached: boolean;
  readonly detail: string;
}

/** A scripted scenario: a state machine over polled statuses that never hangs and never throws on ordinary surprises. */
export type Scenario = (ctx: ScenarioContext) => Promise<ScenarioOutcome>;

/** What `createScenarioContext` is built from. */
export interface ScenarioContextOptions {
  name: string;
  processes: ProcessControl;
  network: NetworkControl;
  record: RecordFn;
  seed: number;
  faultIndex: number;
  signal: AbortSignal;
  /** Poll period of `waitFor`; default 15 ms. */
  pollMs?: number;
  /** The system's membership control and whole changes built on it (the nemesis' own), when it has one. */
  membership?: {
    control: MembershipControl;
    add(id: string, withinMs: number): Promise<{ ok: boolean; detail: string }>;
    remove(id: string, withinMs: number): Promise<{ ok: boolean; detail: string }>;
    refresh(): Promise<MembersView | undefined>;
  };
}

/** How long one membership request of a script may take. */
const MEMBER_REQUEST_TIMEOUT_MS = 2_000;

/** The context plus what the script left behind, for the nemesis' cleanup. */
export interface TrackedScenarioContext {
  readonly context: ScenarioContext;
  /** Nodes the script killed and did not restart. */
  readonly killed: ReadonlySet<string>;
  /** Nodes the script paused and did not resume. */
  readonly paused: ReadonlySet<string>;
}

/** Builds the context a scenario runs with; the random stream depends only on (seed, fault index). */
export function createScenarioContext(options: ScenarioContextOptions): TrackedScenarioContext {
  const { processes, network, signal } = options;
  const killed = new Set<string>();
  const paused = new Set<string>();
  const pollMs = options.pollMs ?? 15;
  // Mix the fault index in so two scenario faults of one run draw differently.
  const random = new Random(new Random(options.seed).nextUint32() ^ Math.imul(options.faultIndex + 1, 0x9e3779b1));
  const note = (step: string, detail?: Record<string, unknown>): void => {
    options.record({
      process: 'nemesis',
      type: 'info',
      f: `${options.name}-step`,
      value: step,
      fault: options.faultIndex,
      ...(detail ?? {}),
    });
  };
  const sleep = (ms: number): Promise<void> => sleepFor(ms, signal);
  const context: ScenarioContext = {
    ids: [...processes.ids].sort(),
    random,
    signal,
    status: (id) => processes.status(id),
    statuses: async () => {
      const entries = await Promise.all(context.ids.map(async (id) => [id, await processes.status(id)] as const));
      const out = new Map<string, MemberStatus>();
      for (const [id, status] of entries) if (status !== undefined) out.set(id, status);
      return out;
    },
    kill: async (id) => {
      killed.add(id);
      paused.delete(id);
      await processes.kill(id);
    },
    restart: async (id) => {
      await processes.restart(id);
      killed.delete(id);
      paused.delete(id);
    },
    pause: (id) => {
      processes.pause(id);
      paused.add(id);
    },
    resume: (id) => {
      processes.resume(id);
      paused.delete(id);
    },
    cut: (links) => network.cut(links),
    heal: (links) => network.heal(links),
    blackhole: (links) => network.blackhole(links),
    removeBlackhole: (links) => network.removeBlackhole(links),
    latency: (links, delayMs, jitterMs = 0) => network.latency(links, delayMs, jitterMs),
    removeLatency: (links) => network.removeLatency(links),
    holdClientRequests: (ids) => network.holdClientRequests(ids),
    releaseClientRequests: (ids) => network.releaseClientRequests(ids),
    membership: scenarioMembership(options.membership),
    note,
    sleep,
    waitFor: async <T>(
      what: string,
      probe: () => Promise<T | undefined>,
      timeoutMs: number,
    ): Promise<T | undefined> => {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        if (signal.aborted) return undefined;
        const value = await probe();
        if (value !== undefined) return value;
        if (performance.now() >= deadline) {
          note('timeout', { waitingFor: what, timeoutMs });
          return undefined;
        }
        await sleep(pollMs);
      }
    },
  };
  return { context, killed, paused };
}

function scenarioMembership(given: ScenarioContextOptions['membership']): ScenarioMembership | undefined {
  if (given === undefined) return undefined;
  const { control } = given;
  return {
    potential: control.potential,
    members: () => control.members(),
    configuration: (id) => control.configuration(id, MEMBER_REQUEST_TIMEOUT_MS),
    requestAdd: (via, id) => control.requestAdd(via, id, MEMBER_REQUEST_TIMEOUT_MS),
    add: (id, withinMs) => given.add(id, withinMs),
    remove: (id, withinMs) => given.remove(id, withinMs),
    restartEmpty: (id) => control.restartEmpty(id),
    refresh: () => given.refresh(),
  };
}
