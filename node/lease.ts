/**
 * The leader lease for `--read-mode lease` (thesis §6.4.1): a leader that a
 * majority acknowledged at time t may serve reads from its own state until
 * t + electionTimeout / clockDriftBound without a heartbeat round, because
 * every node that acknowledged it ignores votes (CheckQuorum's "in lease"
 * rule, thesis §4.2.3 / §6.2) for at least an election timeout after
 * hearing from it, so no other leader can exist before then.
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
  /** Ticks per election timeout (the `ticks` clock). */
  readonly electionTicks: number;
  /**
   * Largest ratio between two nodes' clock rates (thesis §6.4.1: "bounded
   * clock drift"); the lease is shortened by it. 1.1 = 10% drift.
   */
  readonly clockDriftBound?: number;
}

/** The lease of a leader: extended by confirmed ReadIndex rounds, dropped on any role change. */
export class LeaderLease {
  private readonly options: LeaseOptions;
  private readonly driftBound: number;
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
        this.validUntilMs = Math.max(
          this.validUntilMs,
          roundStartMs + this.options.electionTimeoutMs / this.driftBound,
        );
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
