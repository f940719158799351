/**
 * The nemesis: a fault schedule planned up front from one seed (so
 * `--seed N` replays the same schedule), then executed against the cluster
 * and its proxies, with each fault's start and stop recorded in the history
 * (process "nemesis", type "info", f "<kind>-start" / "<kind>-stop").
 *
 * Faults do not overlap: wait `interval`, start a fault, hold it for
 * `interval`, stop it, repeat. Choices that depend on the cluster's state at
 * run time (who is the leader) are resolved when the fault starts; every
 * other choice (which node, which links, which delay) is in the plan.
 */
import { Random } from '../workloads/random.ts';
import type { RecordFn } from '../workloads/runner.ts';
import type { NodeStatus } from './cluster.ts';
import {
  abortableSleep,
  createScenarioContext,
  type Scenario,
  type ScenarioNetwork,
  type ScenarioOutcome,
  type ScenarioProcesses,
} from './scenarios/context.ts';
import { scenarios, type ScenarioName } from './scenarios/index.ts';

/** Fault kinds `--nemesis all` stands for. */
export const nemesisKinds = ['kill', 'pause', 'partition', 'latency', 'blackhole', 'bandwidth'] as const;
/**
 * Kinds that must be asked for by name: `kill-majority` SIGKILLs a majority
 * at once (the cluster is unavailable until they restart; a node that
 * acknowledges before fsync loses acknowledged writes); `kill-all` SIGKILLs
 * every node at once (a power loss: only what is durable survives, where a
 * majority kill is repaired from the survivor's memory); `pause-leader`
 * always SIGSTOPs the leader (where leases and retries go wrong);
 * `figure8` and `double-vote` run a scripted scenario
 * (harness/scenarios/) that watches the nodes' status and combines kills,
 * pauses and per-link cuts to build one dangerous state on purpose.
 */
export const explicitNemesisKinds = ['kill-majority', 'kill-all', 'pause-leader', 'figure8', 'double-vote'] as const;
export type NemesisKind = (typeof nemesisKinds)[number] | (typeof explicitNemesisKinds)[number];
const allNemesisNames: readonly string[] = [...nemesisKinds, ...explicitNemesisKinds];

/** A directed peer link: traffic from `from`'s requests to `to` (proxy `from->to`). */
export type Link = readonly [from: string, to: string];

/** Which nodes a process fault hits. */
export type ProcessTarget =
  | { by: 'random'; nodes: string[] }
  | { by: 'leader' }
  | { by: 'minority'; nodes: string[] }
  | { by: 'majority'; nodes: string[] }
  | { by: 'all'; nodes: string[] };

/** One fault, fully described (except the leader, resolved at run time). */
export type Fault =
  | { kind: 'kill'; target: ProcessTarget }
  | { kind: 'pause'; target: ProcessTarget }
  | { kind: 'partition'; mode: 'halves' | 'ring' | 'bridge' | 'one-way'; cut: Link[]; groups: string[][] }
  | { kind: 'partition'; mode: 'isolate-leader' }
  | { kind: 'latency'; links: Link[]; delayMs: number; jitterMs: number }
  | { kind: 'blackhole'; links: Link[] }
  | { kind: 'bandwidth'; links: Link[]; rateKBps: number }
  | { kind: 'scenario'; name: ScenarioName };

/** A fault with its window, in ms from the start of the workload. */
export interface PlannedFault {
  index: number;
  startMs: number;
  stopMs: number;
  fault: Fault;
}

/** What the schedule is planned from. */
export interface ScheduleOptions {
  kinds: readonly NemesisKind[];
  nodes: readonly string[];
  intervalMs: number;
  durationMs: number;
  seed: number;
}

/** Parses `--nemesis kill,partition` (also `none` / `all`), with an error that lists valid kinds. */
export function parseNemesisKinds(text: string): NemesisKind[] {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed === 'none') return [];
  if (trimmed === 'all') return [...nemesisKinds];
  const kinds: NemesisKind[] = [];
  for (const part of trimmed.split(',')) {
    const name = part.trim();
    if (!allNemesisNames.includes(name)) {
      throw new Error(
        `unknown nemesis "${name}"; use a comma-separated list of ${allNemesisNames.join(', ')} (or all, none)`,
      );
    }
    if (!kinds.includes(name as NemesisKind)) kinds.push(name as NemesisKind);
  }
  return kinds;
}

/** All directed links between two groups, both ways (a node in both groups gets no link to itself). */
export function linksBetween(a: readonly string[], b: readonly string[]): Link[] {
  const links: Link[] = [];
  for (const x of a) for (const y of b) if (x !== y) links.push([x, y], [y, x]);
  return links;
}

function allLinks(nodes: readonly string[]): Link[] {
  const links: Link[] = [];
  for (const from of nodes) for (const to of nodes) if (from !== to) links.push([from, to]);
  return links;
}

function randomLinks(random: Random, nodes: readonly string[]): Link[] {
  const links = random.shuffle(allLinks(nodes));
  return links.slice(0, random.int(1, Math.max(1, Math.ceil(links.length / 2))));
}

function processTarget(random: Random, nodes: readonly string[]): ProcessTarget {
  const roll = random.next();
  if (roll < 0.4) return { by: 'random', nodes: [random.pick(nodes)] };
  if (roll < 0.7) return { by: 'leader' };
  // A minority: at most (n-1)/2 nodes, so a majority can still make progress.
  const size = random.int(1, Math.max(1, Math.floor((nodes.length - 1) / 2)));
  return { by: 'minority', nodes: random.shuffle(nodes).slice(0, size).sort() };
}

function planPartition(random: Random, nodes: readonly string[]): Fault {
  const modes = ['halves', 'isolate-leader', 'ring', 'bridge', 'one-way'] as const;
  const mode = random.pick(modes);
  const order = random.shuffle(nodes);
  const n = order.length;
  switch (mode) {
    case 'isolate-leader':
      return { kind: 'partition', mode };
    case 'halves': {
      const small = order.slice(0, Math.floor(n / 2));
      const large = order.slice(Math.floor(n / 2));
      return { kind: 'partition', mode, groups: [small.sort(), large.sort()], cut: linksBetween(small, large) };
    }
    case 'ring': {
      // Jepsen's "majorities ring": every node reaches a majority (itself and
      // the next ⌊n/2⌋ nodes clockwise), but no two nodes share the same view.
      const cut: Link[] = [];
      for (let i = 0; i < n; i++) {
        for (let d = Math.floor(n / 2) + 1; d < n; d++) cut.push([order[i] as string, order[(i + d) % n] as string]);
      }
      return { kind: 'partition', mode, groups: [order], cut };
    }
    case 'bridge': {
      // Two sides that cannot talk, and one node that talks to both.
      const bridge = order[0] as string;
      const rest = order.slice(1);
      const a = rest.slice(0, Math.floor(rest.length / 2));
      const b = rest.slice(Math.floor(rest.length / 2));
      return { kind: 'partition', mode, groups: [a.sort(), [bridge], b.sort()], cut: linksBetween(a, b) };
    }
    case 'one-way': {
      // One node can receive requests but its own requests go nowhere (or the reverse).
      const node = order[0] as string;
      const others = order.slice(1);
      const outgoing = random.next() < 0.5;
      const cut: Link[] = others.map((other) => (outgoing ? [node, other] : [other, node]) as Link);
      return { kind: 'partition', mode, groups: [[node], others.sort()], cut };
    }
    default: {
      const unreachable: never = mode;
      throw new Error(`unknown partition mode ${String(unreachable)}`);
    }
  }
}

function planFault(kind: NemesisKind, random: Random, nodes: readonly string[]): Fault {
  switch (kind) {
    case 'kill':
      return { kind, target: processTarget(random, nodes) };
    case 'kill-majority':
      return {
        kind: 'kill',
        target: {
          by: 'majority',
          nodes: random
            .shuffle(nodes)
            .slice(0, Math.floor(nodes.length / 2) + 1)
            .sort(),
        },
      };
    case 'kill-all':
      return { kind: 'kill', target: { by: 'all', nodes: [...nodes] } };
    case 'pause':
      return { kind, target: processTarget(random, nodes) };
    case 'pause-leader':
      return { kind: 'pause', target: { by: 'leader' } };
    case 'partition':
      return planPartition(random, nodes);
    case 'latency': {
      const delayMs = random.int(20, 300);
      return { kind, links: randomLinks(random, nodes), delayMs, jitterMs: random.int(0, Math.floor(delayMs / 2)) };
    }
    case 'blackhole':
      return { kind, links: randomLinks(random, nodes) };
    case 'bandwidth':
      return { kind, links: randomLinks(random, nodes), rateKBps: random.int(1, 64) };
    case 'figure8':
    case 'double-vote':
      // The script makes its choices at run time from the statuses, with a random stream seeded per fault.
      return { kind: 'scenario', name: kind };
    default: {
      const unreachable: never = kind;
      throw new Error(`unknown nemesis ${String(unreachable)}`);
    }
  }
}

/** Plans the whole fault schedule from the seed: a pure function of its options. */
export function planSchedule(options: ScheduleOptions): PlannedFault[] {
  if (options.kinds.length === 0) return [];
  if (!(options.intervalMs > 0)) throw new Error(`--interval must be positive, got ${options.intervalMs / 1000}`);
  const random = new Random(options.seed);
  const nodes = [...options.nodes].sort();
  const plan: PlannedFault[] = [];
  for (let startMs = options.intervalMs; startMs + 500 < options.durationMs; startMs += 2 * options.intervalMs) {
    const kind = random.pick(options.kinds);
    plan.push({
      index: plan.length,
      startMs,
      stopMs: Math.min(startMs + options.intervalMs, options.durationMs),
      fault: planFault(kind, random, nodes),
    });
  }
  return plan;
}

/** Short text for a fault, for progress lines and the report. */
export function describeFault(fault: Fault): string {
  const links = (list: readonly Link[]): string => `${list.length} link${list.length === 1 ? '' : 's'}`;
  const target = (t: ProcessTarget): string => (t.by === 'leader' ? 'leader' : `${t.by} ${t.nodes.join(',')}`);
  switch (fault.kind) {
    case 'kill':
    case 'pause':
      return `${fault.kind} ${target(fault.target)}`;
    case 'partition':
      return fault.mode === 'isolate-leader'
        ? 'partition isolate-leader'
        : `partition ${fault.mode} ${fault.groups.map((g) => g.join(',')).join(' | ')}`;
    case 'latency':
      return `latency ${fault.delayMs}±${fault.jitterMs} ms on ${links(fault.links)}`;
    case 'blackhole':
      return `blackhole ${links(fault.links)}`;
    case 'bandwidth':
      return `bandwidth ${fault.rateKBps} KB/s on ${links(fault.links)}`;
    case 'scenario':
      return `scenario ${fault.name}`;
    default: {
      const unreachable: never = fault;
      throw new Error(`unknown fault ${JSON.stringify(unreachable)}`);
    }
  }
}

/** Process-level control the nemesis needs (implemented by Cluster). */
export interface ProcessControl {
  readonly ids: readonly string[];
  leader(): Promise<string | undefined>;
  kill(id: string): Promise<void>;
  restart(id: string): Promise<void>;
  pause(id: string): void;
  resume(id: string): void;
  /** A node's /status straight from the node, undefined when it does not answer (needed by scenarios). */
  status?(id: string): Promise<NodeStatus | undefined>;
}

/** Network control the nemesis needs (implemented over the Toxiproxy proxies). */
export interface NetworkControl {
  /** Stops all traffic of these directed links (requests and their replies). */
  cut(links: readonly Link[]): Promise<void>;
  latency(links: readonly Link[], delayMs: number, jitterMs: number): Promise<void>;
  /** Data stops flowing but connections stay open (timeout toxic with timeout 0). */
  blackhole(links: readonly Link[]): Promise<void>;
  bandwidth(links: readonly Link[], rateKBps: number): Promise<void>;
  /** Removes every toxic and re-enables every proxy. */
  healAll(): Promise<void>;
  /** Scenarios only (harness/scenarios/context.ts ScenarioNetwork): heal some links, remove latency, hold client requests. */
  heal?(links: readonly Link[]): Promise<void>;
  removeBlackhole?(links: readonly Link[]): Promise<void>;
  removeLatency?(links: readonly Link[]): Promise<void>;
  holdClientRequests?(ids?: readonly string[]): Promise<void>;
  releaseClientRequests?(ids?: readonly string[]): Promise<void>;
}

/** A fault as it actually ran: what it hit (leader resolved). */
export interface AppliedFault {
  planned: PlannedFault;
  description: string;
  /** Nodes (process faults) or "a->b" links (network faults) it hit. */
  targets: string[];
  startNs: number;
  stopNs?: number;
  /** Scenarios: what the script reported (whether it built its dangerous state). */
  outcome?: ScenarioOutcome;
  /** Scenarios: nodes the script left killed or paused (undone by `stop`). */
  leftKilled?: readonly string[];
  leftPaused?: readonly string[];
}

/** Attempts of a scenario's proxy call, 250 ms apart (see Nemesis.scenarioRetrying). */
const SCENARIO_PROXY_ATTEMPTS = 20;

/** Runs a planned schedule; `stop()` of the last fault always runs, also when aborted. */
export class Nemesis {
  readonly applied: AppliedFault[] = [];
  /** The fault that is active right now (for the progress line). */
  current: AppliedFault | undefined;
  private readonly processes: ProcessControl;
  private readonly network: NetworkControl | undefined;
  private readonly record: RecordFn;
  private readonly now: () => number;
  private readonly seed: number;
  private readonly scripts: Readonly<Record<ScenarioName, Scenario>>;

  /**
   * `seed` seeds the scenarios' random streams (with the fault index);
   * `scenarios` replaces the scripts (tests).
   */
  constructor(options: {
    processes: ProcessControl;
    network?: NetworkControl;
    record: RecordFn;
    now: () => number;
    seed?: number;
    scenarios?: Readonly<Record<ScenarioName, Scenario>>;
  }) {
    this.processes = options.processes;
    this.network = options.network;
    this.record = options.record;
    this.now = options.now;
    this.seed = options.seed ?? 0;
    this.scripts = options.scenarios ?? scenarios;
  }

  private async resolveTarget(target: ProcessTarget): Promise<string[]> {
    if (target.by !== 'leader') return target.nodes;
    const leader = await this.processes.leader();
    // No leader right now (e.g. mid-election): hit the first node, deterministically.
    return [leader ?? (this.processes.ids[0] as string)];
  }

  /**
   * Runs a proxy API call, retrying twice after 250 ms: on a loaded machine
   * one HTTP call to Toxiproxy can fail, and that must not break the run.
   * The calls are idempotent (enable/disable, set toxic, heal).
   */
  private async retrying(action: () => Promise<void>, attempts = 3): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await action();
        return;
      } catch (error) {
        if (attempt >= attempts) throw error;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /**
   * A scenario keeps proxies disabled for many seconds, and a disabled
   * proxy's port is free: another process's port probe (harness/cluster.ts
   * `freePort` binds candidates briefly) can hold it just when the proxy is
   * enabled again (bind fails: HTTP 500). So scenario calls retry for ~5 s.
   */
  private scenarioRetrying(action: () => Promise<void>): Promise<void> {
    return this.retrying(action, SCENARIO_PROXY_ATTEMPTS);
  }

  private requireNetwork(kind: string): NetworkControl {
    if (this.network === undefined)
      throw new Error(`the ${kind} nemesis needs proxies (run the cluster in proxied mode)`);
    return this.network;
  }

  /** The process and network control a scenario needs, or a clear error saying what is missing. */
  private scenarioControls(name: string): { processes: ScenarioProcesses; network: ScenarioNetwork } {
    const network = this.requireNetwork(name);
    const { heal, removeBlackhole, removeLatency, holdClientRequests, releaseClientRequests } = network;
    const status = this.processes.status;
    if (
      heal === undefined ||
      removeLatency === undefined ||
      holdClientRequests === undefined ||
      releaseClientRequests === undefined
    ) {
      throw new Error(
        `the ${name} nemesis needs a network control with heal, removeLatency and client holds (harness/proxies.ts)`,
      );
    }
    if (status === undefined) throw new Error(`the ${name} nemesis needs node statuses (harness/cluster.ts)`);
    const processes = this.processes;
    return {
      processes: {
        ids: processes.ids,
        leader: () => processes.leader(),
        kill: (id) => processes.kill(id),
        restart: (id) => processes.restart(id),
        pause: (id) => processes.pause(id),
        resume: (id) => processes.resume(id),
        status: (id) => status.call(processes, id),
      },
      network: {
        cut: (links) => this.scenarioRetrying(() => network.cut(links)),
        latency: (links, delayMs, jitterMs) => this.scenarioRetrying(() => network.latency(links, delayMs, jitterMs)),
        blackhole: (links) => this.scenarioRetrying(() => network.blackhole(links)),
        bandwidth: (links, rateKBps) => this.scenarioRetrying(() => network.bandwidth(links, rateKBps)),
        healAll: () => this.scenarioRetrying(() => network.healAll()),
        heal: (links) => this.scenarioRetrying(() => heal.call(network, links)),
        ...(removeBlackhole !== undefined
          ? {
              removeBlackhole: (links: readonly Link[]) =>
                this.scenarioRetrying(() => removeBlackhole.call(network, links)),
            }
          : {}),
        removeLatency: (links) => this.scenarioRetrying(() => removeLatency.call(network, links)),
        holdClientRequests: (ids) => this.scenarioRetrying(() => holdClientRequests.call(network, ids)),
        releaseClientRequests: (ids) => this.scenarioRetrying(() => releaseClientRequests.call(network, ids)),
      },
    };
  }

  /**
   * Runs a scenario's script to completion (it may outlast the interval) and
   * records its outcome. A script that throws is a scenario that did not
   * reach its state: the error is recorded, the run goes on, and `stop`
   * undoes whatever it did.
   */
  private async runScenario(applied: AppliedFault, name: ScenarioName, signal: AbortSignal): Promise<void> {
    const tracked = createScenarioContext({
      name,
      ...this.scenarioControls(name),
      record: this.record,
      seed: this.seed,
      faultIndex: applied.planned.index,
      signal,
    });
    let outcome: ScenarioOutcome;
    try {
      outcome = await this.scripts[name](tracked.context);
    } catch (error) {
      outcome = { reached: false, detail: `script error: ${error instanceof Error ? error.message : String(error)}` };
    }
    applied.outcome = outcome;
    applied.leftKilled = [...tracked.killed];
    applied.leftPaused = [...tracked.paused];
    applied.description = `${applied.description}: ${outcome.reached ? 'reached' : 'not reached'} (${outcome.detail})`;
    this.record({
      process: 'nemesis',
      type: 'info',
      f: 'scenario-outcome',
      value: { name, reached: outcome.reached, detail: outcome.detail },
      fault: applied.planned.index,
    });
  }

  /**
   * Starts one fault; returns what it hit. A scenario runs its whole script
   * here (until done or `signal` aborts).
   */
  async start(planned: PlannedFault, signal: AbortSignal = new AbortController().signal): Promise<AppliedFault> {
    const fault = planned.fault;
    let targets: string[];
    const linkNames = (links: readonly Link[]): string[] => links.map(([a, b]) => `${a}->${b}`);
    switch (fault.kind) {
      case 'kill': {
        targets = await this.resolveTarget(fault.target);
        break;
      }
      case 'pause': {
        targets = await this.resolveTarget(fault.target);
        break;
      }
      case 'partition': {
        if (fault.mode === 'isolate-leader') {
          const [leader] = await this.resolveTarget({ by: 'leader' });
          const others = this.processes.ids.filter((id) => id !== leader);
          const cut = linksBetween([leader as string], others);
          targets = linkNames(cut);
        } else {
          targets = linkNames(fault.cut);
        }
        break;
      }
      case 'latency':
      case 'blackhole':
      case 'bandwidth':
        targets = linkNames(fault.links);
        break;
      case 'scenario':
        // What a script hits is decided as it runs; its steps are recorded as `<name>-step` events.
        targets = [...this.processes.ids];
        break;
      default: {
        const unreachable: never = fault;
        throw new Error(`unknown fault ${JSON.stringify(unreachable)}`);
      }
    }
    const description =
      fault.kind === 'partition' && fault.mode === 'isolate-leader'
        ? `partition isolate-leader ${targets[0]?.split('->')[0] ?? ''}`
        : describeFault(fault);
    // Record the start before acting: the fault may take effect at any point after this line.
    const event = this.record({
      process: 'nemesis',
      type: 'info',
      f: `${fault.kind}-start`,
      value: targets,
      detail: description,
      fault: planned.index,
    });
    const applied: AppliedFault = { planned, description, targets, startNs: event.time };
    this.current = applied;
    this.applied.push(applied);
    switch (fault.kind) {
      case 'kill':
        await Promise.all(targets.map((id) => this.processes.kill(id)));
        break;
      case 'pause':
        for (const id of targets) this.processes.pause(id);
        break;
      case 'partition':
        await this.retrying(() =>
          this.requireNetwork('partition').cut(targets.map((t) => t.split('->') as unknown as Link)),
        );
        break;
      case 'latency':
        await this.retrying(() => this.requireNetwork('latency').latency(fault.links, fault.delayMs, fault.jitterMs));
        break;
      case 'blackhole':
        await this.retrying(() => this.requireNetwork('blackhole').blackhole(fault.links));
        break;
      case 'bandwidth':
        await this.retrying(() => this.requireNetwork('bandwidth').bandwidth(fault.links, fault.rateKBps));
        break;
      case 'scenario':
        await this.runScenario(applied, fault.name, signal);
        break;
      default: {
        const unreachable: never = fault;
        throw new Error(`unknown fault ${JSON.stringify(unreachable)}`);
      }
    }
    return applied;
  }

  /** Stops a fault: restarts killed nodes, resumes paused ones, heals the network. */
  async stop(applied: AppliedFault): Promise<void> {
    const fault = applied.planned.fault;
    switch (fault.kind) {
      case 'kill':
        await Promise.all(applied.targets.map((id) => this.processes.restart(id)));
        break;
      case 'pause':
        for (const id of applied.targets) this.processes.resume(id);
        break;
      case 'partition':
      case 'latency':
      case 'blackhole':
      case 'bandwidth':
        await this.retrying(() => this.requireNetwork(fault.kind).healAll());
        break;
      case 'scenario': {
        // Undo everything the script may have done: paused nodes resumed,
        // killed nodes restarted, client requests released, every link healed.
        for (const id of applied.leftPaused ?? []) this.processes.resume(id);
        await Promise.all((applied.leftKilled ?? []).map((id) => this.processes.restart(id)));
        if (this.network !== undefined) {
          const network = this.network;
          await this.scenarioRetrying(() => network.healAll());
        }
        break;
      }
      default: {
        const unreachable: never = fault;
        throw new Error(`unknown fault ${JSON.stringify(unreachable)}`);
      }
    }
    const event = this.record({
      process: 'nemesis',
      type: 'info',
      f: `${fault.kind}-stop`,
      value: applied.targets,
      fault: applied.planned.index,
      // A scenario's description now carries its outcome (the report's fault table shows it).
      ...(fault.kind === 'scenario' ? { detail: applied.description } : {}),
    });
    applied.stopNs = event.time;
    if (this.current === applied) this.current = undefined;
  }

  /**
   * Runs the schedule; times are relative to `startedAtMs` (performance.now()
   * when the workload started). On abort, the active fault is still stopped.
   */
  async run(plan: readonly PlannedFault[], startedAtMs: number, signal?: AbortSignal): Promise<void> {
    // A scenario may outlast its window; the faults after it move later by
    // the overrun, so the cluster still gets its quiet interval.
    let shiftMs = 0;
    const runSignal = signal ?? new AbortController().signal;
    for (const planned of plan) {
      await abortableSleep(startedAtMs + shiftMs + planned.startMs - performance.now(), signal);
      if (signal?.aborted === true) return;
      const applied = await this.start(planned, runSignal);
      await abortableSleep(startedAtMs + shiftMs + planned.stopMs - performance.now(), signal);
      await this.stop(applied);
      shiftMs = Math.max(shiftMs, performance.now() - startedAtMs - planned.stopMs);
    }
  }

  /** Final heal: resumes and restarts every node, heals every link (idempotent; recorded as "heal"). */
  async healAll(isRunning: (id: string) => boolean, isPaused: (id: string) => boolean): Promise<void> {
    if (this.current !== undefined) await this.stop(this.current);
    for (const id of this.processes.ids) {
      if (isPaused(id)) this.processes.resume(id);
      if (!isRunning(id)) await this.processes.restart(id);
    }
    const network = this.network;
    if (network !== undefined) await this.retrying(() => network.healAll());
    this.record({ process: 'nemesis', type: 'info', f: 'heal', value: [...this.processes.ids] });
  }
}
