/**
 * The nemesis at run time: executes a planned schedule (plan.ts) against the system's process and network controls
 * (controls.ts), with each fault's start and stop recorded in the history (process "nemesis", type "info",
 * f "<kind>-start" / "<kind>-stop"); a network fault's start also says which layer applied it (`layer`: `kernel` for
 * nftables rules in hosts mode, `proxy` for Toxiproxy).
 *
 * Overlapping faults (a schedule planned with overlap > 1) run concurrently. Two rules keep them independent:
 * a process fault never takes a node another active process fault holds (it takes the first free node instead, so
 * a leader resolved at run time cannot double up with a planned target), and a network fault's stop undoes only what
 * no other active fault still needs (network-ledger.ts), never the whole network.
 */
import type { RecordFn } from '../../workloads/runner.ts';
import { sleep } from '../../lib/time.ts';
import {
  networkFaultOf,
  type ClockControl,
  type DiskControl,
  type FaultLayer,
  type MembershipControl,
  type NetworkControl,
  type NetworkFault,
  type ProcessControl,
} from './controls.ts';
import { describeView, MembershipChanger, type ChangeResult } from './membership.ts';
import {
  describeFault,
  isProcessFault,
  linksBetween,
  minorityOf,
  type Link,
  type MemberFault,
  type PlannedFault,
  type ProcessTarget,
  type ScenarioName,
} from './plan.ts';
import { type LinkActions, type LinkEffect, NetworkLedger } from './network-ledger.ts';
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
  /** Membership faults: what each change did, in order (the stop event's description lists them). */
  changes?: string[];
}

/** How long one membership change may take (a learner catching up, an election after a removed leader). */
const MEMBER_CHANGE_WITHIN_MS = 20_000;

/** How often a process fault that waits for its nodes to be free looks again. */
const ROOM_POLL_MS = 50;

/** Attempts of a scenario's proxy call, 250 ms apart (see Nemesis.scenarioRetrying). */
const SCENARIO_PROXY_ATTEMPTS = 20;

/** Runs a planned schedule; `stop()` of the last fault always runs, also when aborted. */
export class Nemesis {
  readonly applied: AppliedFault[] = [];
  /** Faults active right now, in the order they started (for the progress line). */
  readonly active: AppliedFault[] = [];
  /** Node -> the fault index of the process fault that holds it (killed or paused). */
  private readonly held = new Map<string, number>();
  private readonly ledger = new NetworkLedger();
  /** Serialises target choice, so two faults starting together cannot pick the same free node. */
  private choosing: Promise<unknown> = Promise.resolve();
  private readonly processes: ProcessControl;
  private readonly network: NetworkControl | undefined;
  private readonly disk: DiskControl | undefined;
  private readonly clock: ClockControl | undefined;
  private readonly membership: MembershipControl | undefined;
  private readonly changer: MembershipChanger | undefined;
  private readonly record: RecordFn;
  private readonly now: () => number;
  private readonly seed: number;
  private readonly scripts: Readonly<Record<ScenarioName, Scenario>>;
  private readonly layerOf: (fault: NetworkFault) => FaultLayer | undefined;

  /**
   * `seed` seeds the scenarios' random streams (with the fault index);
   * `scenarios` replaces the scripts (tests); `layer` says which layer applies each network fault (the system's
   * `faultLayer`; default: the proxies, whenever there is a network control); `membership` makes the `member` faults.
   */
  constructor(options: {
    processes: ProcessControl;
    network?: NetworkControl;
    /** The members' disks (lazy file system) and clocks (libfaketime), when the run asked for those faults. */
    disk?: DiskControl;
    clock?: ClockControl;
    membership?: MembershipControl;
    record: RecordFn;
    now: () => number;
    seed?: number;
    scenarios?: Readonly<Record<ScenarioName, Scenario>>;
    layer?: (fault: NetworkFault) => FaultLayer | undefined;
  }) {
    this.processes = options.processes;
    this.network = options.network;
    this.disk = options.disk;
    this.clock = options.clock;
    this.membership = options.membership;
    this.changer =
      options.membership !== undefined ? new MembershipChanger(options.membership, options.processes) : undefined;
    this.record = options.record;
    this.now = options.now;
    this.seed = options.seed ?? 0;
    this.scripts = options.scenarios ?? scenarios;
    this.layerOf = options.layer ?? (() => (this.network !== undefined ? 'proxy' : undefined));
  }

  /** The most recently started active fault (the progress line). */
  get current(): AppliedFault | undefined {
    return this.active[this.active.length - 1];
  }

  private async resolveTarget(target: ProcessTarget): Promise<string[]> {
    if (target.by !== 'leader') return target.nodes;
    const leader = await this.processes.leader();
    // No leader right now (e.g. mid-election): hit the first member, deterministically.
    return [leader ?? (this.memberIds[0] as string)];
  }

  /** The members as the harness sees them (every node, unless membership changes). */
  private get memberIds(): readonly string[] {
    return this.membership?.members() ?? this.processes.ids;
  }

  /**
   * A process fault's nodes, none of them held by another active process fault: a held node is replaced by the
   * first free one (sorted ids), so overlapping kills and pauses stay a minority as planned. A majority or all-node
   * target is taken as planned (the plan starts one only while no other process fault is active).
   */
  private claimTarget(target: ProcessTarget, index: number, signal: AbortSignal): Promise<string[]> {
    const claim = this.choosing.then(async () => {
      // Overlapping faults only: a restart that outlasts its window still holds its node (see waitForRoom).
      while (!this.hasRoomFor(target) && !signal.aborted) await sleep(ROOM_POLL_MS, signal);
      // The run ended while it waited: a fault that would exceed the minority hits nobody.
      if (!this.hasRoomFor(target)) return [];
      const wanted = await this.resolveTarget(target);
      const nodes: string[] = [];
      for (const node of wanted) {
        const free =
          target.by === 'majority' || target.by === 'all' || !this.held.has(node)
            ? node
            : [...this.processes.ids]
                .sort()
                .find((id) => !this.held.has(id) && !nodes.includes(id) && !wanted.includes(id));
        if (free !== undefined && !nodes.includes(free)) nodes.push(free);
      }
      for (const node of nodes) this.held.set(node, index);
      return nodes;
    });
    this.choosing = claim.catch(() => undefined);
    return claim;
  }

  /** Whether a process fault on `target` keeps the nodes down or paused at once within a minority (plan.ts). */
  private hasRoomFor(target: ProcessTarget): boolean {
    if (target.by === 'majority' || target.by === 'all') return this.held.size === 0;
    const size = target.by === 'leader' ? 1 : target.nodes.length;
    return this.held.size + size <= minorityOf(this.memberIds.length);
  }

  /**
   * The plan keeps overlapping kills and pauses within a minority by their windows, but a killed node is held until
   * its restart is done, and on a loaded machine a restart can outlast its window by seconds. A process fault
   * therefore waits until the nodes it needs are free (it starts late and ends at its planned stop), or the run ends.
   */
  private async waitForRoom(planned: PlannedFault, signal: AbortSignal): Promise<void> {
    const fault = planned.fault;
    if (!isProcessFault(fault)) return;
    while (!this.hasRoomFor(fault.target) && !signal.aborted) await sleep(ROOM_POLL_MS, signal);
  }

  private release(nodes: readonly string[], index: number): void {
    for (const node of nodes) if (this.held.get(node) === index) this.held.delete(node);
  }

  /** Puts the ledger's verdict on the network. */
  private async act(actions: LinkActions): Promise<void> {
    const network = this.requireNetwork('network');
    for (const { effect, links } of actions.clear) await this.retrying(() => clearEffect(network, effect, links));
    for (const { effect, links } of actions.apply) await this.retrying(() => applyEffect(network, effect, links));
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

  private requireDisk(kind: string): DiskControl {
    if (this.disk === undefined) throw new Error(`the ${kind} nemesis needs the members' data on the lazy file system`);
    return this.disk;
  }

  private requireClock(kind: string): ClockControl {
    if (this.clock === undefined) throw new Error(`the ${kind} nemesis needs the members started under libfaketime`);
    return this.clock;
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
        removeBandwidth: retried(network.removeBandwidth),
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
      ...(this.membership !== undefined && this.changer !== undefined
        ? { membership: membershipFor(this.membership, this.changer) }
        : {}),
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
    const targets = await this.targetsOf(planned, signal);
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
    this.active.push(applied);
    this.applied.push(applied);
    await this.apply(applied, signal);
    return applied;
  }

  /** What a fault hits: nodes for process faults (the leader resolved now), `a->b` link names for network faults. */
  private async targetsOf(planned: PlannedFault, signal: AbortSignal): Promise<string[]> {
    const fault = planned.fault;
    const linkNames = (links: readonly Link[]): string[] => links.map(([a, b]) => `${a}->${b}`);
    switch (fault.kind) {
      case 'kill':
      case 'pause':
        return this.claimTarget(fault.target, planned.index, signal);
      case 'partition': {
        if (fault.mode !== 'isolate-leader') return linkNames(fault.cut);
        const [leader] = await this.resolveTarget({ by: 'leader' });
        const others = this.memberIds.filter((id) => id !== leader);
        return linkNames(linksBetween([leader as string], others));
      }
      case 'latency':
      case 'blackhole':
      case 'bandwidth':
        return linkNames(fault.links);
      case 'scenario':
        // What a script hits is decided as it runs; its steps are recorded as `<name>-step` events.
        return [...this.processes.ids];
      case 'lose-unsynced':
      case 'torn-write':
      case 'fsync-error':
        return this.claimTarget(fault.target, planned.index, signal);
      case 'clock-skew':
      case 'clock-drift':
        return [...fault.nodes];
      case 'member':
        if (fault.change === 'grow') return [...fault.add];
        return fault.target.by === 'leader' ? this.resolveTarget(fault.target) : [fault.target.node];
      default: {
        const unreachable: never = fault;
        throw new Error(`unknown fault ${JSON.stringify(unreachable)}`);
      }
    }
  }

  /** Makes a started fault take effect (network effects through the ledger, so overlapping faults compose). */
  private async apply(applied: AppliedFault, signal: AbortSignal): Promise<void> {
    const { planned, targets } = applied;
    const fault = planned.fault;
    switch (fault.kind) {
      case 'kill':
        await Promise.all(targets.map((id) => this.processes.kill(id)));
        break;
      case 'pause':
        for (const id of targets) this.processes.pause(id);
        break;
      case 'partition': {
        this.requireNetwork('partition');
        const links = targets.map((t) => t.split('->') as unknown as Link);
        await this.act(this.ledger.add(planned.index, links, { effect: 'cut' }));
        break;
      }
      case 'latency': {
        this.requireNetwork('latency');
        const effect = { effect: 'latency', delayMs: fault.delayMs, jitterMs: fault.jitterMs } as const;
        await this.act(this.ledger.add(planned.index, fault.links, effect));
        break;
      }
      case 'blackhole':
        this.requireNetwork('blackhole');
        await this.act(this.ledger.add(planned.index, fault.links, { effect: 'blackhole' }));
        break;
      case 'bandwidth':
        this.requireNetwork('bandwidth');
        await this.act(this.ledger.add(planned.index, fault.links, { effect: 'bandwidth', rateKBps: fault.rateKBps }));
        break;
      case 'scenario':
        await this.runScenario(applied, fault.name, signal);
        break;
      case 'lose-unsynced':
      case 'torn-write': {
        // A power loss: the processes die first, then their disks forget what was not synced.
        const disk = this.requireDisk(fault.kind);
        await Promise.all(targets.map((id) => this.processes.kill(id)));
        await Promise.all(
          targets.map((id) =>
            fault.kind === 'torn-write' ? disk.tornWrite(id, fault.fraction) : disk.loseUnsynced(id),
          ),
        );
        break;
      }
      case 'fsync-error': {
        const disk = this.requireDisk(fault.kind);
        await Promise.all(targets.map((id) => disk.failNextFsync(id)));
        break;
      }
      case 'clock-skew': {
        const clock = this.requireClock(fault.kind);
        await Promise.all(targets.map((id) => clock.skew(id, fault.deltaMs)));
        break;
      }
      case 'clock-drift': {
        const clock = this.requireClock(fault.kind);
        await Promise.all(targets.map((id) => clock.drift(id, fault.rate)));
        break;
      }
      case 'member':
        await this.startMemberChange(applied, fault);
        break;
      default: {
        const unreachable: never = fault;
        throw new Error(`unknown fault ${JSON.stringify(unreachable)}`);
      }
    }
  }

  /**
   * Stops a fault: restarts killed nodes, resumes paused ones, and undoes on the network only what no other active
   * fault still needs. Stopping a fault that is not active does nothing.
   */
  async stop(applied: AppliedFault): Promise<void> {
    const at = this.active.indexOf(applied);
    if (at < 0) return;
    this.active.splice(at, 1);
    const fault = applied.planned.fault;
    switch (fault.kind) {
      case 'kill':
      case 'lose-unsynced':
      case 'torn-write':
        try {
          await Promise.all(applied.targets.map((id) => this.processes.restart(id)));
        } finally {
          this.release(applied.targets, applied.planned.index);
        }
        break;
      case 'fsync-error': {
        // A node that stops on a failed fsync (as it should: durability can no longer be promised) starts again.
        const disk = this.requireDisk(fault.kind);
        try {
          await Promise.all(applied.targets.map((id) => disk.clearDiskFaults(id)));
          await Promise.all(
            applied.targets.filter((id) => !this.processes.isRunning(id)).map((id) => this.processes.restart(id)),
          );
        } finally {
          this.release(applied.targets, applied.planned.index);
        }
        break;
      }
      case 'clock-skew':
      case 'clock-drift': {
        const clock = this.requireClock(fault.kind);
        await Promise.all(applied.targets.map((id) => clock.resetClock(id)));
        break;
      }
      case 'pause':
        for (const id of applied.targets) this.processes.resume(id);
        this.release(applied.targets, applied.planned.index);
        break;
      case 'partition':
      case 'latency':
      case 'blackhole':
      case 'bandwidth':
        await this.act(this.ledger.remove(applied.planned.index));
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
        // A script may have changed the configuration: the harness's view follows the leader's.
        await this.changer?.refresh();
        break;
      }
      case 'member':
        await this.stopMemberChange(applied, fault);
        break;
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
      // A scenario's description now carries its outcome, a membership fault's what each change did (the report's
      // fault table shows it).
      ...(fault.kind === 'scenario' ? { detail: applied.description } : {}),
      ...(fault.kind === 'member' ? { detail: `${applied.description}: ${(applied.changes ?? []).join('; ')}` } : {}),
    });
    applied.stopNs = event.time;
  }

  /**
   * Runs the schedule; times are relative to `startedAtMs` (performance.now()
   * when the workload started). On abort, the active fault is still stopped.
   */
  async run(plan: readonly PlannedFault[], startedAtMs: number, signal?: AbortSignal): Promise<void> {
    if (overlaps(plan)) return this.runConcurrently(plan, startedAtMs, signal);
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

  /**
   * Overlapping windows: every fault runs on its own clock (start at its start, stop at its stop). All of them are
   * awaited, also when one fails, so no fault is left acting behind the final heal; the first error is rethrown.
   */
  private async runConcurrently(
    plan: readonly PlannedFault[],
    startedAtMs: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const runSignal = signal ?? new AbortController().signal;
    const results = await Promise.allSettled(
      plan.map(async (planned) => {
        await sleep(startedAtMs + planned.startMs - performance.now(), signal);
        await this.waitForRoom(planned, runSignal);
        if (signal?.aborted === true) return;
        const applied = await this.start(planned, runSignal);
        await sleep(startedAtMs + planned.stopMs - performance.now(), signal);
        await this.stop(applied);
      }),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }

  /** Final heal: resumes and restarts every node, heals every link (idempotent; recorded as "heal"). */
  async healAll(): Promise<void> {
    for (const applied of [...this.active].reverse()) await this.stop(applied);
    for (const id of this.processes.ids) {
      if (this.processes.isPaused(id)) this.processes.resume(id);
      if (!this.processes.isRunning(id)) await this.processes.restart(id);
    }
    const network = this.network;
    if (network !== undefined) await this.retrying(() => network.healAll());
    this.ledger.reset();
    this.held.clear();
    this.record({ process: 'nemesis', type: 'info', f: 'heal', value: [...this.processes.ids] });
    if (this.changer !== undefined) await this.settleMembers(this.changer);
  }

  /**
   * After the final heal the harness's view becomes the configuration the cluster reports (the final reads go to
   * those members only), recorded as a `member-view` event; it waits up to the change bound for a committed one.
   */
  private async settleMembers(changer: MembershipChanger): Promise<void> {
    const deadline = performance.now() + MEMBER_CHANGE_WITHIN_MS;
    let view = await changer.refresh();
    while ((view === undefined || view.pending) && performance.now() < deadline) {
      await sleep(ROOM_POLL_MS * 4);
      view = await changer.refresh();
    }
    this.record({
      process: 'nemesis',
      type: 'info',
      f: 'member-view',
      value: [...(this.membership?.members() ?? [])],
      detail: view === undefined ? 'no member reports a configuration' : describeView(view),
    });
  }

  /** Records one membership change (process "nemesis", f "member-change") and keeps it for the stop's description. */
  private noteChange(applied: AppliedFault, action: string, id: string, result: ChangeResult): void {
    const text = result.ok ? result.detail : `FAILED ${result.detail}`;
    applied.changes = [...(applied.changes ?? []), text];
    this.record({
      process: 'nemesis',
      type: 'info',
      f: 'member-change',
      value: { action, id, ok: result.ok, members: [...(this.membership?.members() ?? [])] },
      detail: text,
      fault: applied.planned.index,
    });
  }

  private requireChanger(): MembershipChanger {
    if (this.changer === undefined) throw new Error('the member nemesis needs a system with a membership API');
    return this.changer;
  }

  /** A member fault's start: remove the target (rejoin), or add every node of `add` (grow). */
  private async startMemberChange(applied: AppliedFault, fault: MemberFault): Promise<void> {
    const changer = this.requireChanger();
    if (fault.change === 'rejoin') {
      for (const id of applied.targets) {
        this.noteChange(applied, 'remove', id, await changer.remove(id, MEMBER_CHANGE_WITHIN_MS));
      }
      return;
    }
    for (const id of fault.add) await this.addMember(applied, changer, id, fault.data);
  }

  /** A member fault's stop: add the removed node back (rejoin), or remove the nodes of `remove` (grow). */
  private async stopMemberChange(applied: AppliedFault, fault: MemberFault): Promise<void> {
    const changer = this.requireChanger();
    if (fault.change === 'rejoin') {
      for (const id of applied.targets) await this.addMember(applied, changer, id, fault.data);
      return;
    }
    for (const id of fault.remove) {
      this.noteChange(applied, 'remove', id, await changer.remove(id, MEMBER_CHANGE_WITHIN_MS));
    }
  }

  /** Starts `id` from an empty data directory (`fresh`) or makes sure it runs on its old one, then adds it. */
  private async addMember(
    applied: AppliedFault,
    changer: MembershipChanger,
    id: string,
    data: 'fresh' | 'old',
  ): Promise<void> {
    if (this.membership?.members().includes(id) === true) {
      this.noteChange(applied, 'add', id, { ok: true, detail: `${id} is a member already` });
      return;
    }
    if (data === 'fresh') await this.membership?.restartEmpty(id);
    else if (!this.processes.isRunning(id)) await this.processes.restart(id);
    this.noteChange(applied, `add (${data} data)`, id, await changer.add(id, MEMBER_CHANGE_WITHIN_MS));
  }
}

/** The membership a scenario script gets: the system's control and the nemesis' own whole changes. */
function membershipFor(control: MembershipControl, changer: MembershipChanger) {
  return {
    control,
    add: (id: string, withinMs: number) => changer.add(id, withinMs),
    remove: (id: string, withinMs: number) => changer.remove(id, withinMs),
    refresh: () => changer.refresh(),
  };
}

/** Whether any two windows of a plan overlap. */
export function overlaps(plan: readonly PlannedFault[]): boolean {
  const sorted = [...plan].sort((a, b) => a.startMs - b.startMs);
  return sorted.some((p, i) => i > 0 && p.startMs < (sorted[i - 1] as PlannedFault).stopMs);
}

function clearEffect(network: NetworkControl, effect: LinkEffect['effect'], links: readonly Link[]): Promise<void> {
  const undo: Record<LinkEffect['effect'], (links: readonly Link[]) => Promise<void>> = {
    cut: (l) => network.heal(l),
    latency: (l) => network.removeLatency(l),
    blackhole: (l) => network.removeBlackhole(l),
    bandwidth: (l) => network.removeBandwidth(l),
  };
  return undo[effect](links);
}

function applyEffect(network: NetworkControl, effect: LinkEffect, links: readonly Link[]): Promise<void> {
  switch (effect.effect) {
    case 'cut':
      return network.cut(links);
    case 'blackhole':
      return network.blackhole(links);
    case 'latency':
      return network.latency(links, effect.delayMs, effect.jitterMs);
    case 'bandwidth':
      return network.bandwidth(links, effect.rateKBps);
    default: {
      const unreachable: never = effect;
      throw new Error(`unknown link effect ${JSON.stringify(unreachable)}`);
    }
  }
}
