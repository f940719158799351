/**
 * The nemesis at run time: executes a planned schedule (plan.ts) against the system's process and network controls
 * (controls.ts), with each fault's start and stop recorded in the history (process "nemesis", type "info",
 * f "<kind>-start" / "<kind>-stop"); a network fault's start also says which layer applied it (`layer`: `kernel` for
 * nftables rules in hosts mode, `proxy` for Toxiproxy).
 */
import type { RecordFn } from '../../workloads/runner.ts';
import { sleep } from '../../lib/time.ts';
import {
  networkFaultOf,
  type FaultLayer,
  type NetworkControl,
  type NetworkFault,
  type ProcessControl,
} from './controls.ts';
import {
  describeFault,
  linksBetween,
  type Link,
  type PlannedFault,
  type ProcessTarget,
  type ScenarioName,
} from './plan.ts';
import { createScenarioContext, type Scenario, type ScenarioOutcome } from './scenarios/context.ts';
import { scenarios } from './scenarios/index.ts';

/** A fault as it actually ran: what it hit (leader resolved). */
export interface AppliedFault {
  planned: PlannedFault;
  description: string;
  /** Nodes (process faults) or "a->b" links (network faults) it hit. */
  targets: string[];
  startNs: number;
  stopNs?: number;
  /** Network faults: the layer that applied it. */
  layer?: FaultLayer;
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
  private readonly layerOf: (fault: NetworkFault) => FaultLayer | undefined;

  /**
   * `seed` seeds the scenarios' random streams (with the fault index);
   * `scenarios` replaces the scripts (tests); `layer` says which layer applies each network fault (the system's
   * `faultLayer`; default: the proxies, whenever there is a network control).
   */
  constructor(options: {
    processes: ProcessControl;
    network?: NetworkControl;
    record: RecordFn;
    now: () => number;
    seed?: number;
    scenarios?: Readonly<Record<ScenarioName, Scenario>>;
    layer?: (fault: NetworkFault) => FaultLayer | undefined;
  }) {
    this.processes = options.processes;
    this.network = options.network;
    this.record = options.record;
    this.now = options.now;
    this.seed = options.seed ?? 0;
    this.scripts = options.scenarios ?? scenarios;
    this.layerOf = options.layer ?? (() => (this.network !== undefined ? 'proxy' : undefined));
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
   * proxy's port is free: another process's port probe (harness/systems/raftlab.ts
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

  /**
   * The controls a scenario runs with: the system's own, with every network call retried for ~5 s (a scenario keeps
   * proxies disabled for many seconds, and re-enabling one can meet its port briefly held by another process's port
   * probe).
   */
  private scenarioControls(name: string): { processes: ProcessControl; network: NetworkControl } {
    const network = this.requireNetwork(name);
    const retried =
      <A extends unknown[]>(call: (...args: A) => Promise<void>) =>
      (...args: A): Promise<void> =>
        this.scenarioRetrying(() => call.apply(network, args));
    return {
      processes: this.processes,
      network: {
        cut: retried(network.cut),
        heal: retried(network.heal),
        latency: retried(network.latency),
        removeLatency: retried(network.removeLatency),
        blackhole: retried(network.blackhole),
        removeBlackhole: retried(network.removeBlackhole),
        bandwidth: retried(network.bandwidth),
        holdClientRequests: retried(network.holdClientRequests),
        releaseClientRequests: retried(network.releaseClientRequests),
        healAll: retried(network.healAll),
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
    const mechanism = networkFaultOf(fault);
    const layer = mechanism !== undefined ? this.layerOf(mechanism) : undefined;
    // Record the start before acting: the fault may take effect at any point after this line.
    const event = this.record({
      process: 'nemesis',
      type: 'info',
      f: `${fault.kind}-start`,
      value: targets,
      detail: description,
      fault: planned.index,
      ...(layer !== undefined ? { layer } : {}),
    });
    const applied: AppliedFault = {
      planned,
      description,
      targets,
      startNs: event.time,
      ...(layer !== undefined ? { layer } : {}),
    };
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
      await sleep(startedAtMs + shiftMs + planned.startMs - performance.now(), signal);
      if (signal?.aborted === true) return;
      const applied = await this.start(planned, runSignal);
      await sleep(startedAtMs + shiftMs + planned.stopMs - performance.now(), signal);
      await this.stop(applied);
      shiftMs = Math.max(shiftMs, performance.now() - startedAtMs - planned.stopMs);
    }
  }

  /** Final heal: resumes and restarts every node, heals every link (idempotent; recorded as "heal"). */
  async healAll(): Promise<void> {
    if (this.current !== undefined) await this.stop(this.current);
    for (const id of this.processes.ids) {
      if (this.processes.isPaused(id)) this.processes.resume(id);
      if (!this.processes.isRunning(id)) await this.processes.restart(id);
    }
    const network = this.network;
    if (network !== undefined) await this.retrying(() => network.healAll());
    this.record({ process: 'nemesis', type: 'info', f: 'heal', value: [...this.processes.ids] });
  }
}
