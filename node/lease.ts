/**
 * The leader lease for `--read-mode lease` (thesis §6.4.1): a leader that a
 * majority acknowledged at time t may serve reads from its own state until
 * t + G / clockDriftBound without a heartbeat round, where G is how long
 * every node that acknowledged it surely ignores votes (CheckQuorum's "in
 * lease" rule, thesis §4.2.3 / §6.2), so no other leader can exist before
 * then. A follower counts that time in ticks: it ignores votes until
 * electionTicks ticks have fired after it heard from the leader, and the
 * first of them may fire just after, so G = (electionTicks - 1) ticks, less
 * 1 ms because the event loop's timer clock is in whole milliseconds. That
 * is shorter than the election timeout (500 ms with 100 ms heartbeats is
 * 450 ms less 1), so the lease is derived from G, never from the timeout.
 * A restarted node ignores votes for one election timeout after start, so a
 * crash does not cut G short either.
 *
 * t is when the confirming ReadIndex round STARTED (not when its acks came
 * back): the acks only prove the followers heard from us after that time.
 * A new leader also waits out one election timeout before its first lease
 * read (the lead's rule for this project, conservative: a deposed leader's
 * lease, measured the same way, has surely run out by then).
 *
 * The planted bug `lease-without-clock-bound` measures the lease in this
 * node's own ticks from when the acks ARRIVED, with no drift bound and no
 * wait after election: ticks are timer callbacks that do not run while the
 * process is paused (SIGSTOP) or starved, so a leader that wakes up thinks
 * no time has passed and serves reads a new leader has long overwritten.
 */

/** How the lease measures time. */
export type LeaseClock = 'wall' | 'ticks';

/** Options of a lease. */
export interface LeaseOptions {
  readonly clock: LeaseClock;
  readonly electionTimeoutMs: number;
  /** Ticks per election timeout. */
  readonly electionTicks: number;
  /** Length of one tick of the followers' ticker (config.ts `tickConfig`). */
  readonly tickMs: number;
  /**
   * Largest ratio between two nodes' clock rates (thesis §6.4.1: "bounded
   * clock drift"); the lease is shortened by it. 1.1 = 10% drift.
   */
  readonly clockDriftBound?: number;
}

/** How long a follower surely ignores votes after hearing from the leader (G above), in ms; may be <= 0. */
export function voteSuppressionMs(electionTicks: number, tickMs: number): number {
  return (electionTicks - 1) * tickMs - 1;
}

/** The lease of a leader: extended by confirmed ReadIndex rounds, dropped on any role change. */
export class LeaderLease {
  private readonly options: LeaseOptions;
  private readonly driftBound: number;
  /** Length of a lease from the start of the round that confirmed it (wall clock). */
  private readonly leaseMs: number;
  private ticks = 0;
  private leaderSinceMs = Number.POSITIVE_INFINITY;
  private validUntilMs = Number.NEGATIVE_INFINITY;
  private validUntilTick = Number.NEGATIVE_INFINITY;

  constructor(options: LeaseOptions) {
    if (!(options.electionTimeoutMs > 0) || !(options.electionTicks >= 1))
      throw new Error('lease: the election timeout must be positive');
    this.options = options;
    this.driftBound = options.clockDriftBound ?? 1.1;
    if (!(this.driftBound >= 1)) throw new Error('lease: clockDriftBound must be >= 1');
    this.leaseMs = Math.max(0, voteSuppressionMs(options.electionTicks, options.tickMs)) / this.driftBound;
  }

  /** One tick of the node's ticker (only the `ticks` clock uses it). */
  tick(): void {
    this.ticks++;
  }

  /** This node became leader at `nowMs`: no lease until a round confirms it (and, on the wall clock, one election timeout has passed). */
  becameLeader(nowMs: number): void {
    this.leaderSinceMs = nowMs;
    this.drop();
  }

  /** This node stopped leading: the lease is gone. */
  lostLeadership(): void {
    this.leaderSinceMs = Number.POSITIVE_INFINITY;
    this.drop();
  }

  /** A ReadIndex round that started at `roundStartMs` was acknowledged by a majority. */
  confirmed(roundStartMs: number): void {
    switch (this.options.clock) {
      case 'wall':
        this.validUntilMs = Math.max(this.validUntilMs, roundStartMs + this.leaseMs);
        return;
      case 'ticks':
        // The planted bug: counted from now (when the acks arrived), in ticks.
        this.validUntilTick = Math.max(this.validUntilTick, this.ticks + this.options.electionTicks);
        return;
      default: {
        const never: never = this.options.clock;
        throw new Error(`unknown lease clock ${String(never)}`);
      }
    }
  }

  /** Whether a read may be served locally at `nowMs`. */
  valid(nowMs: number): boolean {
    switch (this.options.clock) {
      case 'wall':
        return nowMs >= this.leaderSinceMs + this.options.electionTimeoutMs && nowMs < this.validUntilMs;
      case 'ticks':
        return this.leaderSinceMs !== Number.POSITIVE_INFINITY && this.ticks < this.validUntilTick;
      default: {
        const never: never = this.options.clock;
        throw new Error(`unknown lease clock ${String(never)}`);
      }
    }
  }

  private drop(): void {
    this.validUntilMs = Number.NEGATIVE_INFINITY;
    this.validUntilTick = Number.NEGATIVE_INFINITY;
  }
}
