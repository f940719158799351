/**
 * The nemesis' plan: a fault schedule computed up front from one seed, a pure function of its options (so
 * `--seed N` replays the same schedule and test.json keeps it). Choices that depend on the cluster's state at run
 * time (who is the leader) are resolved when the fault starts (execute.ts); every other choice (which node, which
 * links, which delay) is in the plan.
 *
 * Faults do not overlap: wait `interval`, start a fault, hold it for `interval`, stop it, repeat.
 */
import { Random } from '../../lib/random.ts';

/** Scripted scenarios (scenarios/): each builds one dangerous state on purpose. */
export const scenarioNames = ['figure8', 'double-vote'] as const;
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
