/**
 * What the nemesis needs from the system under test: control of its processes and of the network between its
 * members. Every method is required: a system that cannot do something says so up front (System.supports), and the
 * run refuses a nemesis kind it cannot apply instead of discovering a missing method mid-run.
 */
import type { MemberChangeAnswer, MembersView, MemberStatus } from '../../workloads/raftlab-api.ts';
import type { Fault, Link } from './plan.ts';

export type { MemberChangeAnswer, MembersView, MemberStatus };

/** Process-level control of the members. */
export interface ProcessControl {
  readonly ids: readonly string[];
  /** The member that leads right now, if the system can tell. */
  leader(): Promise<string | undefined>;
  /** SIGKILL; the member stays down until `restart`. */
  kill(id: string): Promise<void>;
  /** Starts a member again on its data; resolves once it serves (or after the system's ready timeout). */
  restart(id: string): Promise<void>;
  /** SIGSTOP. */
  pause(id: string): void;
  /** SIGCONT. */
  resume(id: string): void;
  isRunning(id: string): boolean;
  isPaused(id: string): boolean;
  /** A member's status straight from the member; undefined when it does not answer. */
  status(id: string, timeoutMs?: number): Promise<MemberStatus | undefined>;
}

/** Per-link network control (over Toxiproxy proxies in front of every directed link and every client link). */
export interface NetworkControl {
  /** Stops all traffic of these directed links (requests and their replies). */
  cut(links: readonly Link[]): Promise<void>;
  /** Undoes `cut` for these links only. */
  heal(links: readonly Link[]): Promise<void>;
  latency(links: readonly Link[], delayMs: number, jitterMs: number): Promise<void>;
  removeLatency(links: readonly Link[]): Promise<void>;
  /** Data stops flowing but connections stay open (timeout toxic with timeout 0). */
  blackhole(links: readonly Link[]): Promise<void>;
  removeBlackhole(links: readonly Link[]): Promise<void>;
  bandwidth(links: readonly Link[], rateKBps: number): Promise<void>;
  removeBandwidth(links: readonly Link[]): Promise<void>;
  /** Client->member request bytes are dropped at the client links of `ids` (default: every member). */
  holdClientRequests(ids?: readonly string[]): Promise<void>;
  releaseClientRequests(ids?: readonly string[]): Promise<void>;
  /** Removes every toxic and re-enables every link. */
  healAll(): Promise<void>;
}

/** Where a network fault is applied: nftables rules in the members' namespaces, or Toxiproxy toxics and states. */
export type FaultLayer = 'kernel' | 'proxy';

/** The network faults a system applies, by mechanism (a partition is a set of cuts; a client hold stops requests). */
export type NetworkFault = 'cut' | 'latency' | 'blackhole' | 'bandwidth' | 'hold';

/**
 * The network mechanism a planned fault uses, for its layer in the history and test.json: a partition cuts links,
 * a scripted scenario is recorded with the layer of its cuts (its client holds are proxy toxics), process faults have
 * none.
 */
export function networkFaultOf(fault: Fault): NetworkFault | undefined {
  switch (fault.kind) {
    case 'partition':
    case 'scenario':
      return 'cut';
    case 'latency':
    case 'blackhole':
    case 'bandwidth':
      return fault.kind;
    default:
      return undefined;
  }
}

/**
 * Control of the members' disks, where their data directories live on the lazy file system (lazyfs/): written data
 * that was not fsynced yet is held there and can be lost on command.
 */
export interface DiskControl {
  /** Power loss of `id`'s disk: drops every write not yet fsynced. Kill the member first. */
  loseUnsynced(id: string): Promise<void>;
  /** A torn write: of each file's unsynced data only a prefix (`fraction`, cut at a sector) of its last write stays. */
  tornWrite(id: string, fraction: number): Promise<void>;
  /** The next fsync of any file on `id`'s disk fails with EIO (and, as on Linux, its unsynced data is lost). */
  failNextFsync(id: string): Promise<void>;
  /** Disarms armed fsync failures of `id`'s disk. */
  clearDiskFaults(id: string): Promise<void>;
}

/** Control of the members' clocks (libfaketime): what CLOCK_REALTIME and CLOCK_MONOTONIC read in each member. */
export interface ClockControl {
  /** Jumps `id`'s clock by `deltaMs` (negative: back) from where it is now. */
  skew(id: string, deltaMs: number): Promise<void>;
  /** Lets `id`'s clock run at `rate` times real time from now on (1.05: 5% fast), continuing from where it is. */
  drift(id: string, rate: number): Promise<void>;
  /** Puts `id`'s clock back on real time (offset 0, rate 1). */
  resetClock(id: string): Promise<void>;
}

/**
 * Membership control (thesis §4): ask a member to add or remove a member, read the configuration, and keep the
 * harness's own view of who the members are (clients, status polling and the final reads go to those). Every call
 * is a single request to exactly the member named (direct, bypassing the proxies); retries are the caller's.
 */
export interface MembershipControl {
  /** Every id that can ever be a member: each member's address book names all of them. */
  readonly potential: readonly string[];
  /** The voters the harness treats as the cluster right now. */
  members(): readonly string[];
  /** Replaces the harness's view (after a change committed, or after reading the configuration). */
  setMembers(ids: readonly string[]): void;
  /** `GET /members` on `id`; undefined when it does not answer in time. */
  configuration(id: string, timeoutMs: number): Promise<MembersView | undefined>;
  /** `POST /members {"id","url"}` on `via`: 200 when the new voter committed, 202 while it catches up. */
  requestAdd(via: string, id: string, timeoutMs: number): Promise<MemberChangeAnswer>;
  /** `DELETE /members/{id}` on `via`: 200 when the change committed. */
  requestRemove(via: string, id: string, timeoutMs: number): Promise<MemberChangeAnswer>;
  /**
   * SIGKILLs `id`, empties its data directory and starts it again, as a non-member: its bootstrap configuration
   * (`--initial-members`) leaves it out, so it waits for a configuration entry instead of campaigning. Resolves once
   * it serves.
   */
  restartEmpty(id: string): Promise<void>;
}
