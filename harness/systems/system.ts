/**
 * `System`: the one seam between the harness and what it tests. chaos, bench, prove and the final reads talk to a
 * system under test only through this interface; raftlab's node is one implementation (raftlab.ts).
 *
 * A system says up front what it can do: which nemesis kinds it supports follows from whether its peer traffic can
 * be routed through per-link proxies (network faults) and whether it answers a status probe (leader-aware faults
 * and scripted scenarios). Asking for a kind it cannot apply is an error before the run starts, never a silent no-op.
 */
import type { ClientAdapter } from '../../workloads/client.ts';
import type {
  ClockControl,
  DiskControl,
  FaultLayer,
  MembershipControl,
  NetworkControl,
  NetworkFault,
  ProcessControl,
} from '../nemesis/controls.ts';
import type { NemesisKind } from '../nemesis/plan.ts';

/** The systems the harness can put under test. */
export const SYSTEM_NAMES = ['raftlab', 'exec', 'etcd'] as const;
export type SystemName = (typeof SYSTEM_NAMES)[number];

/** How a member's peer traffic can be routed, i.e. which links the proxy layer can fault. */
export type PeerRouting =
  /** One proxy per directed pair of members (and one per member for clients): every link can be faulted alone. */
  | 'per-link'
  /** Members talk to each other directly: only process faults apply. */
  | 'none';

/** One member as test.json and the report show it. */
export interface MemberDescription {
  id: string;
  /** What clients use (its client proxy when proxied). */
  clientUrl: string;
  /** The member itself, bypassing proxies (status probes, final checks). */
  directUrl: string;
  dataDir: string;
  logPath: string;
}

/** What the system is and how it was started, for test.json, results.json and the report header. */
export interface SystemDescription {
  name: string;
  version: string;
  /** The command a member runs, with this member's flags as an example. */
  command: string;
  peerRouting: PeerRouting;
  members: MemberDescription[];
  /** The Toxiproxy API the proxies live on, when proxied. */
  toxiproxy?: string;
  proxies?: readonly { name: string; listen: string; upstream: string }[];
  /** Hosts mode: the run's subnet and each member's network namespace (harness/hosts/). */
  hosts?: { subnet: string; namespaces: Record<string, string>; peerProxies: boolean };
}

/** What the workload's client is asked for. */
export interface ClientOptions {
  /** Per-request timeout; an op that times out is `info` (outcome unknown). */
  timeoutMs: number;
  /** Resend a write of unknown outcome up to N times in the same session (0: never). */
  retry: number;
}

/** The system under test, as the harness drives it. Process control (kill, pause, restart, status) is inherited. */
export interface System extends ProcessControl {
  readonly name: string;
  readonly peerRouting: PeerRouting;
  /** One sentence on how peer traffic is routed and why, for error messages (e.g. why per-link faults are refused). */
  describeRouting(): string;
  /** Why this system cannot apply nemesis `kind` faithfully here, or undefined when it can. */
  unsupportedNemesis(kind: NemesisKind): string | undefined;
  /** Per-link network control; present exactly when `peerRouting` is `per-link` and the system is started. */
  readonly network: NetworkControl | undefined;
  /** The members' disks (disk faults); present when the system was asked for them and is started. */
  readonly disk: DiskControl | undefined;
  /** The members' clocks (clock faults); present when the system was asked for them and is started. */
  readonly clock: ClockControl | undefined;
  /** Membership changes (the `member` nemesis); present exactly when the members speak a membership API. */
  readonly membership: MembershipControl | undefined;
  /** Starts every member (and the proxies in front of them). */
  start(): Promise<void>;
  /** Stops everything the system started; idempotent, safe after a failed start. */
  stop(): Promise<void>;
  /** Resolves with a leader a majority agrees on; rejects with a clear error after `timeoutMs`. */
  waitForLeader(timeoutMs: number): Promise<string>;
  /** The URL clients use for each member. */
  clientUrls(): Record<string, string>;
  /** The client adapter the workload uses (invoke -> ok / fail / info). */
  createClient(options: ClientOptions): ClientAdapter;
  /** A member's data directory (kept as evidence when a run fails). */
  dataDir(id: string): string;
  describe(): SystemDescription;
  /** Pids of every process the system runs right now (for orphan checks). */
  allPids(): number[];
  /**
   * Which layer applies a network fault in this system's configuration (known before `start`, for test.json): in
   * proxy mode every fault is a Toxiproxy state or toxic; in hosts mode cuts are nftables rules in the kernel and the
   * rest stays with the per-link proxies. Undefined when the system has no per-link routing.
   */
  faultLayer(fault: NetworkFault): FaultLayer | undefined;
}

/** Nemesis kinds that act on the network between members. */
const NETWORK_KINDS: ReadonlySet<NemesisKind> = new Set(['partition', 'latency', 'blackhole', 'bandwidth']);
/** Scripted scenarios: they need per-link faults and the members' status. */
const SCENARIO_KINDS: ReadonlySet<NemesisKind> = new Set(['figure8', 'double-vote', 'config-overlap']);
/** Kinds that change the configuration: they need the system's membership API. */
const MEMBERSHIP_KINDS: ReadonlySet<NemesisKind> = new Set(['member', 'config-overlap']);

/** Scripted scenarios read raftlab's log positions from /status: they build their states on raftlab's node only. */
export function isScenarioKind(kind: NemesisKind): boolean {
  return SCENARIO_KINDS.has(kind);
}

/**
 * The rules every system shares: network kinds and scenarios need per-link routing; membership kinds need a
 * membership API (`membershipGap` says why a system has none).
 */
export function unsupportedReason(
  system: Pick<System, 'name' | 'peerRouting' | 'describeRouting'>,
  kind: NemesisKind,
  membershipGap?: string,
): string | undefined {
  if ((NETWORK_KINDS.has(kind) || SCENARIO_KINDS.has(kind)) && system.peerRouting !== 'per-link') {
    return `the ${kind} nemesis needs per-link proxies, and system ${system.name} has none here: ${system.describeRouting()}`;
  }
  if (MEMBERSHIP_KINDS.has(kind) && membershipGap !== undefined) {
    return `the ${kind} nemesis changes the cluster's membership, and system ${system.name} cannot: ${membershipGap}`;
  }
  return undefined;
}

/** Throws one error naming every requested kind the system cannot apply. */
export function assertSupported(system: Pick<System, 'unsupportedNemesis'>, kinds: readonly NemesisKind[]): void {
  const reasons = kinds.flatMap((kind) => system.unsupportedNemesis(kind) ?? []);
  if (reasons.length > 0) throw new UnsupportedError(reasons.join('; '));
}

/** A request the system under test cannot honour (exit 3 before anything starts). */
export class UnsupportedError extends Error {
  override readonly name = 'UnsupportedError';
}
