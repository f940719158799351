/**
 * The nemesis' plan: a fault schedule computed up front from one seed, a pure function of its options (so
 * `--seed N` replays the same schedule and test.json keeps it). Choices that depend on the cluster's state at run
 * time (who is the leader) are resolved when the fault starts (execute.ts); every other choice (which node, which
 * links, which delay) is in the plan.
 *
 * With `overlap` 1 (the default) faults do not overlap: wait `interval`, start a fault, hold it for `interval`, stop
 * it, repeat. With `overlap` N > 1 there are N lanes, each an independent sequence of quiet gaps and faults whose
 * lengths are drawn from the seed (gaps a quarter to one `interval`; faults half to one and a half `interval`, or a
 * short blip), so up to N faults are active at once and faults come denser than one at a time. Two
 * rules keep overlapping faults meaningful: process faults (kill, pause) never take out more than a minority at
 * once, and never two of them the same node (only kill-majority and kill-all exceed the minority, and only when no
 * other process fault is active); the scripted scenarios run alone, so they cannot be combined with overlap.
 */
import { Random } from '../../lib/random.ts';

/** Scripted scenarios (scenarios/): each builds one dangerous state on purpose. */
export const scenarioNames = ['figure8', 'double-vote', 'config-overlap'] as const;
export type ScenarioName = (typeof scenarioNames)[number];

/** Fault kinds `--nemesis all` stands for. */
export const nemesisKinds = ['kill', 'pause', 'partition', 'latency', 'blackhole', 'bandwidth'] as const;
/**
 * Kinds that must be asked for by name: `kill-majority` SIGKILLs a majority
 * at once (the cluster is unavailable until they restart; a node that
 * acknowledges before fsync loses acknowledged writes); `kill-all` SIGKILLs
 * every node at once (a power loss: only what is durable survives, where a
 * majority kill is repaired from the survivor's memory); `pause-leader`
 * always SIGSTOPs the leader (where leases and retries go wrong);
 * `figure8`, `double-vote` and `config-overlap` run a scripted scenario
 * (harness/nemesis/scenarios/) that watches the nodes' status and combines kills,
 * pauses, per-link cuts and membership requests to build one dangerous state on purpose;
 * `member` changes the cluster's membership (thesis §4): it removes a member
 * (a random one or the leader) and adds it back with an empty data directory
 * or its old one, or grows the cluster to every potential member and shrinks
 * it back. A run with `member` (or `config-overlap`) starts with 3 of its
 * `--nodes` potential members as the configuration ({@link initialMembersFor}).
 */
export const explicitNemesisKinds = [
  'kill-majority',
  'kill-all',
  'pause-leader',
  'member',
  'figure8',
  'double-vote',
  'config-overlap',
] as const;
/**
 * Disk faults (the members' data on the lazy file system, lazyfs/): `lose-unsynced` SIGKILLs a minority or every
 * node and drops what they wrote but did not fsync (a power loss); `torn-write` does the same but keeps a torn prefix
 * of each file's last write; `fsync-error` makes the next fsync of a minority fail with EIO.
 */
export const diskNemesisKinds = ['lose-unsynced', 'torn-write', 'fsync-error'] as const;
/** Clock faults (libfaketime): `clock-skew` jumps a minority's clocks by up to 5 s, `clock-drift` runs them up to 10% fast or slow. */
export const clockNemesisKinds = ['clock-skew', 'clock-drift'] as const;
export type NemesisKind =
  | (typeof nemesisKinds)[number]
  | (typeof explicitNemesisKinds)[number]
  | (typeof diskNemesisKinds)[number]
  | (typeof clockNemesisKinds)[number];
const allNemesisNames: readonly string[] = [
  ...nemesisKinds,
  ...explicitNemesisKinds,
  ...diskNemesisKinds,
  ...clockNemesisKinds,
];
/** Largest clock jump of `clock-skew`, and largest rate change of `clock-drift` (0.1: 10% fast or slow). */
export const CLOCK_SKEW_MAX_MS = 5_000;
export const CLOCK_DRIFT_MAX = 0.1;

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
  | { kind: 'scenario'; name: ScenarioName }
  | { kind: 'lose-unsynced'; target: ProcessTarget }
  | { kind: 'torn-write'; target: ProcessTarget; fraction: number }
  | { kind: 'fsync-error'; target: ProcessTarget }
  | { kind: 'clock-skew'; nodes: string[]; deltaMs: number }
  | { kind: 'clock-drift'; nodes: string[]; rate: number }
  | MemberFault;

/** Faults that take their target's process down or may (a disk fault kills, a failed fsync crashes the node). */
export type ProcessFault = Extract<Fault, { target: ProcessTarget }>;

/** Whether a fault acts on processes (and so counts against the minority rule). */
export function isProcessFault(fault: Fault): fault is ProcessFault {
  return fault.kind !== 'member' && 'target' in fault;
}

/**
 * A membership change and its undoing, one window (thesis §4.1, single-server changes, one after the other):
 * - `rejoin`: at the start remove a member (a random one or the leader, resolved at run time); at the stop add it
 *   back, with its old data directory or an empty one (`data`);
 * - `grow`: at the start add every node in `add` (non-members: they catch up as learners, then vote); at the stop
 *   remove the nodes in `remove` (as many, drawn among all members then), so the cluster shrinks back to its size.
 * `data` says what an added node starts from: `old` keeps whatever its data directory holds, `fresh` empties it.
 */
export type MemberFault =
  | {
      kind: 'member';
      change: 'rejoin';
      target: { by: 'random'; node: string } | { by: 'leader' };
      data: 'fresh' | 'old';
    }
  | { kind: 'member'; change: 'grow'; add: string[]; remove: string[]; data: 'fresh' | 'old' };

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
  /** Faults active at once, at most; default 1 (the schedule one fault at a time, as before overlap existed). */
  overlap?: number;
  /**
   * The configuration the cluster starts with, when it is smaller than `nodes` (membership runs, see
   * {@link initialMembersFor}); default every node. Membership changes are planned from it, and the other faults
   * over the members they are planned to meet.
   */
  initialMembers?: readonly string[];
}

/** Kinds that change the configuration, so the run starts with fewer members than potential ones. */
const membershipKinds: readonly NemesisKind[] = ['member', 'config-overlap'];

/** Whether a run with these kinds changes membership. */
export function changesMembership(kinds: readonly NemesisKind[]): boolean {
  return kinds.some((kind) => membershipKinds.includes(kind));
}

/**
 * The configuration a run starts with: every node, except in a membership run, which starts with the first 3
 * (all when there are fewer) so that `member` can grow it to every potential node and shrink it back.
 */
export function initialMembersFor(nodes: readonly string[], kinds: readonly NemesisKind[]): string[] {
  const sorted = [...nodes].sort();
  return changesMembership(kinds) ? sorted.slice(0, Math.min(3, sorted.length)) : sorted;
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

/** At most this many nodes may be down or paused at once: (n-1)/2, so a majority can still make progress. */
export function minorityOf(nodeCount: number): number {
  return Math.max(1, Math.floor((nodeCount - 1) / 2));
}

/**
 * A process fault's target among `free` nodes (those no other active process fault holds), of at most `budget`
 * nodes. With every node free and the whole minority as budget it draws exactly what it drew before overlap existed.
 */
function processTarget(
  random: Random,
  nodes: readonly string[],
  free: readonly string[] = nodes,
  budget = minorityOf(nodes.length),
): ProcessTarget {
  const roll = random.next();
  if (roll < 0.4) return { by: 'random', nodes: [random.pick(free)] };
  if (roll < 0.7) return { by: 'leader' };
  const size = random.int(1, Math.max(1, Math.min(budget, free.length, Math.floor((nodes.length - 1) / 2))));
  return { by: 'minority', nodes: random.shuffle(free).slice(0, size).sort() };
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

/** What the faults already active leave to a new process fault (overlap): free nodes and the minority budget. */
interface ProcessRoom {
  free: readonly string[];
  budget: number;
}

function planFault(kind: NemesisKind, random: Random, nodes: readonly string[], room?: ProcessRoom): Fault {
  switch (kind) {
    case 'kill':
      return { kind, target: processTarget(random, nodes, room?.free, room?.budget) };
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
      return { kind, target: processTarget(random, nodes, room?.free, room?.budget) };
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
    case 'config-overlap':
      // The script makes its choices at run time from the statuses, with a random stream seeded per fault.
      return { kind: 'scenario', name: kind };
    case 'lose-unsynced':
    case 'torn-write': {
      // Half of them hit every node at once (a power loss of the whole cluster), but only when nothing else holds a node.
      const everyNodeFree =
        room === undefined || (room.free.length === nodes.length && room.budget >= minorityOf(nodes.length));
      const target: ProcessTarget =
        everyNodeFree && random.next() < 0.5
          ? { by: 'all', nodes: [...nodes] }
          : processTarget(random, nodes, room?.free, room?.budget);
      return kind === 'torn-write' ? { kind, target, fraction: random.int(1, 99) / 100 } : { kind, target };
    }
    case 'fsync-error':
      return { kind, target: processTarget(random, nodes, room?.free, room?.budget) };
    case 'clock-skew': {
      const magnitude = random.int(CLOCK_SKEW_MAX_MS / 10, CLOCK_SKEW_MAX_MS);
      return { kind, nodes: clockTargets(random, nodes), deltaMs: random.next() < 0.5 ? -magnitude : magnitude };
    }
    case 'clock-drift': {
      // At least a quarter of the bound away from real time, so every drift is noticeable.
      const change = (random.int(25, 100) / 100) * CLOCK_DRIFT_MAX;
      return { kind, nodes: clockTargets(random, nodes), rate: 1 + (random.next() < 0.5 ? -change : change) };
    }
    case 'member':
      throw new Error('member faults are planned against the configuration (planMemberChange)');
    default: {
      const unreachable: never = kind;
      throw new Error(`unknown nemesis ${String(unreachable)}`);
    }
  }
}

/** A minority of nodes whose clocks a clock fault changes (the others keep real time to compare against). */
function clockTargets(random: Random, nodes: readonly string[]): string[] {
  return random
    .shuffle(nodes)
    .slice(0, random.int(1, minorityOf(nodes.length)))
    .sort();
}

/** Plans the whole fault schedule from the seed: a pure function of its options. */
export function planSchedule(options: ScheduleOptions): PlannedFault[] {
  if (options.kinds.length === 0) return [];
  if (!(options.intervalMs > 0)) throw new Error(`--interval must be positive, got ${options.intervalMs / 1000}`);
  const overlap = options.overlap ?? 1;
  if (!(Number.isInteger(overlap) && overlap >= 1))
    throw new Error(`--overlap must be an integer >= 1, got ${overlap}`);
  return overlap === 1 ? planOneAtATime(options) : planOverlapping(options, overlap);
}

/** One fault at a time: quiet `interval`, fault for `interval`, repeat (the schedule old seeds replay). */
function planOneAtATime(options: ScheduleOptions): PlannedFault[] {
  const random = new Random(options.seed);
  const nodes = [...options.nodes].sort();
  const members = new PlannedMembers(nodes, options.initialMembers);
  const plan: PlannedFault[] = [];
  for (let startMs = options.intervalMs; startMs + 500 < options.durationMs; startMs += 2 * options.intervalMs) {
    const kind = random.pick(options.kinds);
    const stopMs = Math.min(startMs + options.intervalMs, options.durationMs);
    const fault =
      kind === 'member' ? members.change(random, startMs, stopMs) : planFault(kind, random, members.at(startMs));
    plan.push({ index: plan.length, startMs, stopMs, fault });
  }
  return plan;
}

/**
 * The configuration a schedule is planned against: each membership change is planned from the configuration the
 * previous one left (changes never overlap: the node makes one at a time, thesis §4.1), and the other faults are
 * planned over the members they are planned to meet. Without a smaller initial configuration every node is always a
 * member, and the schedule is exactly the one planned before membership changes existed.
 */
class PlannedMembers {
  private readonly nodes: readonly string[];
  private readonly initial: readonly string[];
  /** Planned changes in start order: who is a member during each and after it. */
  private readonly changes: {
    startMs: number;
    stopMs: number;
    during: string[];
    after: string[];
    /** The fewest voters the configuration has while the change runs. */
    fewest: number;
  }[] = [];

  constructor(nodes: readonly string[], initial: readonly string[] | undefined) {
    this.nodes = nodes;
    this.initial = initial === undefined ? nodes : [...initial].sort();
  }

  /** The members at `ms` (during a change: everyone it makes a member at some point, a superset). */
  at(ms: number): readonly string[] {
    const last = [...this.changes].reverse().find((c) => c.startMs <= ms);
    if (last === undefined) return this.initial;
    return ms < last.stopMs ? last.during : last.after;
  }

  /** The fewest voters the cluster is planned to have at `ms` (what a minority of process faults is measured by). */
  fewestAt(ms: number): number {
    const last = [...this.changes].reverse().find((c) => c.startMs <= ms);
    if (last === undefined) return this.initial.length;
    return ms < last.stopMs ? last.fewest : last.after.length;
  }

  /** Whether a change is planned to be in progress at `ms`. */
  busy(ms: number): boolean {
    return this.changes.some((c) => c.startMs <= ms && ms < c.stopMs);
  }

  /**
   * Plans a change from the configuration at `startMs`: grow to every potential node and shrink back by as many
   * random members (when some node is not a member, half the time), else remove a member and add it back.
   */
  change(random: Random, startMs: number, stopMs: number): MemberFault {
    const config = [...this.at(startMs)];
    const outside = this.nodes.filter((node) => !config.includes(node));
    const data = random.next() < 0.5 ? 'fresh' : 'old';
    if (outside.length > 0 && random.next() < 0.5) {
      const grown = [...config, ...outside].sort();
      const remove = random.shuffle(grown).slice(0, outside.length).sort();
      const after = grown.filter((node) => !remove.includes(node));
      this.changes.push({ startMs, stopMs, during: grown, after, fewest: Math.min(config.length, after.length) });
      return { kind: 'member', change: 'grow', add: outside, remove, data };
    }
    const target =
      random.next() < 0.5 ? ({ by: 'leader' } as const) : { by: 'random' as const, node: random.pick(config) };
    this.changes.push({ startMs, stopMs, during: config, after: config, fewest: config.length - 1 });
    return { kind: 'member', change: 'rejoin', target, data };
  }
}

/** Kinds that may take out more than a minority at once (planned only while no other process fault is active). */
const beyondMinorityKinds: readonly NemesisKind[] = ['kill-majority', 'kill-all'];
const processKinds: readonly NemesisKind[] = [
  'kill',
  'pause',
  'pause-leader',
  'lose-unsynced',
  'torn-write',
  'fsync-error',
  ...beyondMinorityKinds,
];

/** Nodes a process fault takes out (a leader target is one node, resolved at run time); 0 for other faults. */
export function processLoad(fault: Fault): number {
  if (!isProcessFault(fault)) return 0;
  return fault.target.by === 'leader' ? 1 : fault.target.nodes.length;
}

/**
 * `overlap` lanes, each an independent sequence of quiet gaps and faults (both half to one and a half `interval`
 * long, from the seed). Faults are planned in order of their start, each against the faults still active then, so
 * the minority rule holds at every instant (the number of active faults only grows at a start).
 */
function planOverlapping(options: ScheduleOptions, overlap: number): PlannedFault[] {
  const scripted = options.kinds.filter((kind) => (scenarioNames as readonly string[]).includes(kind));
  if (scripted.length > 0) {
    throw new Error(`--overlap ${overlap} cannot be combined with the scripted scenarios (${scripted.join(', ')})`);
  }
  const random = new Random(options.seed);
  const nodes = [...options.nodes].sort();
  const members = new PlannedMembers(nodes, options.initialMembers);
  const gap = (): number => overlapGapMs(random, options.intervalMs);
  const nextStart = Array.from({ length: overlap }, gap);
  const plan: PlannedFault[] = [];
  for (;;) {
    const startMs = Math.min(...nextStart);
    if (!(startMs + 500 < options.durationMs)) return plan;
    const lane = nextStart.indexOf(startMs);
    const stopMs = Math.min(startMs + overlapWindowMs(random, options.intervalMs), options.durationMs);
    const active = plan.filter((p) => p.stopMs > startMs).map((p) => p.fault);
    const current = members.at(startMs);
    const minority = minorityOf(members.fewestAt(startMs));
    const load = active.reduce((sum, fault) => sum + processLoad(fault), 0);
    const held = new Set(active.flatMap((f) => (isProcessFault(f) && f.target.by !== 'leader' ? f.target.nodes : [])));
    // A leader target is resolved at run time to a node no other fault holds, so it only costs budget here.
    const free = current.filter((node) => !held.has(node));
    const eligible = options.kinds.filter((kind) => {
      // One membership change at a time (the node refuses a second one while the first is pending).
      if (kind === 'member') return !members.busy(startMs);
      if (!processKinds.includes(kind)) return true;
      if (beyondMinorityKinds.includes(kind)) return load === 0;
      return load + 1 <= minority && free.length > 0;
    });
    if (eligible.length > 0) {
      const kind = random.pick(eligible);
      const fault =
        kind === 'member'
          ? members.change(random, startMs, stopMs)
          : planFault(kind, random, current, { free, budget: minority - load });
      plan.push({ index: plan.length, startMs, stopMs, fault });
    }
    nextStart[lane] = stopMs + gap();
  }
}

/** Share of overlapping faults that are blips: a window shorter than an election or two. */
const BLIP_SHARE = 0.3;

/** A lane's quiet gap: a quarter to one `interval` (denser than one at a time, where the gap is a whole interval). */
function overlapGapMs(random: Random, intervalMs: number): number {
  return random.int(Math.max(1, Math.round(intervalMs / 4)), Math.max(1, Math.round(intervalMs)));
}

/**
 * A fault's window: usually half to one and a half `interval`, but a blip (BLIP_SHARE of faults) lasts 200 ms to a
 * fifth of the interval. A blip kill is a crash followed at once by a restart (as a supervisor restarts a process), so
 * the node comes back into the term it left, with only what it made durable; a blip partition or pause ends while an
 * election it caused is still running. Long windows alone let every election finish before the fault ends.
 */
function overlapWindowMs(random: Random, intervalMs: number): number {
  if (random.next() < BLIP_SHARE) return random.int(200, Math.max(300, Math.round(intervalMs / 5)));
  return random.int(Math.round(intervalMs / 2), Math.round(intervalMs * 1.5));
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
    case 'lose-unsynced':
    case 'fsync-error':
      return `${fault.kind} ${target(fault.target)}`;
    case 'torn-write':
      return `torn-write ${target(fault.target)} (keeps ${Math.round(fault.fraction * 100)}% of the last write)`;
    case 'clock-skew':
      return `clock-skew ${fault.deltaMs >= 0 ? '+' : ''}${(fault.deltaMs / 1000).toFixed(1)} s on ${fault.nodes.join(',')}`;
    case 'clock-drift':
      return `clock-drift x${fault.rate.toFixed(3)} on ${fault.nodes.join(',')}`;
    case 'member':
      return fault.change === 'rejoin'
        ? `member remove ${fault.target.by === 'leader' ? 'the leader' : fault.target.node}, add it back (${fault.data} data)`
        : `member add ${fault.add.join(',')} (${fault.data} data), then remove ${fault.remove.join(',')}`;
    default: {
      const unreachable: never = fault;
      throw new Error(`unknown fault ${JSON.stringify(unreachable)}`);
    }
  }
}

/** The kinds a schedule uses, as `--nemesis` names (what the system must support to run it). */
export function scheduleKinds(schedule: readonly PlannedFault[]): NemesisKind[] {
  const kinds = new Set<NemesisKind>();
  for (const { fault } of schedule) {
    // Tolerates a schedule not checked yet (parseSchedule reports what is wrong with it).
    if (fault === null || typeof fault !== 'object') continue;
    const by = fault.kind === 'kill' ? (fault.target as ProcessTarget | undefined)?.by : undefined;
    // A disk fault's kind is its own name whatever its target (lose-unsynced may hit every node).
    if (fault.kind === 'scenario') kinds.add(fault.name);
    else if (by === 'majority') kinds.add('kill-majority');
    else if (by === 'all') kinds.add('kill-all');
    else kinds.add(fault.kind);
  }
  return [...kinds];
}

/**
 * Reads a schedule given explicitly (`--schedule FILE`: a JSON array of planned faults, or any object with a
 * `schedule` array such as a run's test.json) and checks it against the cluster and the run's length. Faults are
 * renumbered in order of their start (the history pairs each start with its stop by that number).
 */
export function parseSchedule(json: unknown, nodes: readonly string[], durationMs: number): PlannedFault[] {
  const list =
    json !== null && typeof json === 'object' && !Array.isArray(json)
      ? (json as { schedule?: unknown }).schedule
      : json;
  if (!Array.isArray(list))
    throw new Error('a schedule is a JSON array of faults or an object with a "schedule" array');
  const planned = list.map((entry: unknown, position) => {
    const where = `schedule entry ${position}`;
    if (entry === null || typeof entry !== 'object') throw new Error(`${where} is not an object`);
    const { startMs, stopMs, fault } = entry as { startMs?: unknown; stopMs?: unknown; fault?: unknown };
    if (typeof startMs !== 'number' || typeof stopMs !== 'number' || !(startMs >= 0 && stopMs > startMs)) {
      throw new Error(`${where}: needs numbers startMs >= 0 and stopMs > startMs`);
    }
    if (stopMs > durationMs) {
      throw new Error(`${where} stops at ${stopMs} ms, after the run's ${durationMs} ms (give a longer --time)`);
    }
    return { index: position, startMs, stopMs, fault: checkFault(fault, nodes, where) };
  });
  return planned.sort((a, b) => a.startMs - b.startMs || a.index - b.index).map((p, index) => ({ ...p, index }));
}

function checkFault(value: unknown, nodes: readonly string[], where: string): Fault {
  if (value === null || typeof value !== 'object') throw new Error(`${where}: "fault" is not an object`);
  const fault = value as Fault;
  const node = (id: unknown): void => {
    if (typeof id !== 'string' || !nodes.includes(id)) {
      throw new Error(`${where}: unknown node ${JSON.stringify(id)} (the cluster has ${nodes.join(', ')})`);
    }
  };
  const links = (list: unknown): void => {
    if (!Array.isArray(list)) throw new Error(`${where}: links must be an array of [from, to] pairs`);
    for (const link of list) {
      if (!Array.isArray(link) || link.length !== 2 || link[0] === link[1]) {
        throw new Error(`${where}: bad link ${JSON.stringify(link)}`);
      }
      for (const id of link) node(id);
    }
  };
  const number = (field: string, x: unknown): void => {
    if (typeof x !== 'number' || !(x >= 0)) throw new Error(`${where}: ${field} must be a number >= 0`);
  };
  switch (fault.kind) {
    case 'kill':
    case 'pause':
    case 'lose-unsynced':
    case 'torn-write':
    case 'fsync-error': {
      if (fault.kind === 'torn-write' && !(fault.fraction >= 0 && fault.fraction < 1)) {
        throw new Error(`${where}: fraction must be a number in [0, 1)`);
      }
      const target = fault.target as ProcessTarget | undefined;
      const by = target?.by;
      if (target === undefined || !['random', 'leader', 'minority', 'majority', 'all'].includes(String(by))) {
        throw new Error(`${where}: target.by must be random, leader, minority, majority or all`);
      }
      if (target.by !== 'leader') {
        if (!Array.isArray(target.nodes) || target.nodes.length === 0) throw new Error(`${where}: target.nodes`);
        for (const id of target.nodes) node(id);
      }
      return fault;
    }
    case 'partition':
      if (fault.mode === 'isolate-leader') return fault;
      if (!['halves', 'ring', 'bridge', 'one-way'].includes(String(fault.mode))) {
        throw new Error(`${where}: unknown partition mode ${JSON.stringify(fault.mode)}`);
      }
      links(fault.cut);
      if (!Array.isArray(fault.groups)) throw new Error(`${where}: a partition needs "groups"`);
      return fault;
    case 'latency':
      links(fault.links);
      number('delayMs', fault.delayMs);
      number('jitterMs', fault.jitterMs);
      return fault;
    case 'blackhole':
      links(fault.links);
      return fault;
    case 'bandwidth':
      links(fault.links);
      number('rateKBps', fault.rateKBps);
      return fault;
    case 'scenario':
      if (!(scenarioNames as readonly string[]).includes(fault.name)) {
        throw new Error(`${where}: unknown scenario ${JSON.stringify(fault.name)}`);
      }
      return fault;
    case 'clock-skew':
    case 'clock-drift':
      if (!Array.isArray(fault.nodes) || fault.nodes.length === 0) throw new Error(`${where}: "nodes" must list nodes`);
      for (const id of fault.nodes) node(id);
      if (fault.kind === 'clock-skew' && typeof fault.deltaMs !== 'number') throw new Error(`${where}: deltaMs`);
      if (fault.kind === 'clock-drift' && !(typeof fault.rate === 'number' && fault.rate > 0)) {
        throw new Error(`${where}: rate must be a number > 0`);
      }
      return fault;
    case 'member': {
      if (!['fresh', 'old'].includes(String(fault.data))) throw new Error(`${where}: data must be fresh or old`);
      if (fault.change === 'rejoin') {
        const target = fault.target as { by?: unknown; node?: unknown } | undefined;
        if (target?.by === 'random') node(target.node);
        else if (target?.by !== 'leader') throw new Error(`${where}: target.by must be random or leader`);
        return fault;
      }
      if (fault.change !== 'grow') throw new Error(`${where}: a member change is rejoin or grow`);
      for (const list of [fault.add, fault.remove] as unknown[]) {
        if (!Array.isArray(list)) throw new Error(`${where}: add and remove must be arrays of nodes`);
        for (const id of list) node(id);
      }
      return fault;
    }
    default:
      throw new Error(`${where}: unknown fault kind ${JSON.stringify((value as { kind?: unknown }).kind)}`);
  }
}
