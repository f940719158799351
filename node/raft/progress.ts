/**
 * The leader's view of one follower (§5.3: nextIndex and matchIndex, Figure 2
 * "Volatile state on leaders"), plus the flow-control state that decides how
 * many AppendRequests may be in flight.
 *
 *  - probe: the leader does not know where the follower's log matches; it
 *    sends one AppendRequest at a time and waits for the answer (or the next
 *    heartbeat response) before sending another.
 *  - replicate: the logs match up to `match`; the leader streams entries,
 *    advancing `next` optimistically, with at most `maxInflight` requests
 *    outstanding (pipelining).
 *  - snapshot: the entries the follower needs were compacted; an
 *    InstallSnapshot is outstanding (§7).
 *
 * Invariant: match < next.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** probe: an AppendRequest was sent and no answer arrived since. */
  probeSent = false;
  /** snapshot: index of the snapshot sent, and leader ticks since it was sent or its transfer last progressed. */
  pendingSnapshotIndex = 0;
  snapshotElapsedTicks = 0;
  /** Heard from this follower since the last CheckQuorum round (thesis §6.2). */
  recentActive = false;
  /** replicate: match seen at the previous heartbeat reply, to notice a stalled pipeline. */
  matchAtLastHeartbeat = 0;
  stalledHeartbeats = 0;
  /** Commit index last sent to this follower, so a commit change is announced once. */
  sentCommit = 0;
  /** A learner (thesis §4.2.1): replicated to, counted in no quorum. */
  learner = false;
  /** Catch-up rounds (thesis §4.2.1): the last index of the current round, and leader ticks since it started. */
  catchUpRoundEnd = 0;
  catchUpRoundTicks = 0;
  /** The learner finished a round within an election timeout: it may be promoted. */
  caughtUp = false;
  /** Removed by the latest configuration, which is not committed yet: replicated to, counted nowhere. */
  departing = false;
  /** replicate: last index of each AppendRequest in flight, oldest first (a ring of fixed capacity). */
  private readonly inflight: number[];
  private inflightStart = 0;
  private inflightCount = 0;

  constructor(next: number, maxInflight: number) {
    this.next = next;
    this.inflight = new Array<number>(maxInflight).fill(0);
  }

  /** A successful reply says the follower matches up to `index`. Returns whether match moved. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    if (this.next < index + 1) this.next = index + 1;
    return updated;
  }

  /**
   * A rejection of an AppendRequest whose prevLogIndex was `rejected`; `hint`
   * is where the leader computed the follower's log may match (§5.3 fast
   * backtracking). Returns false for a stale rejection (a reply to an older
   * request, which must not move `next` backwards past newer knowledge).
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      // Only a rejection of something above match is news.
      if (rejected <= this.match) return false;
      this.next = Math.max(this.match + 1, Math.min(rejected, hint + 1));
      return true;
    }
    // probe / snapshot: only the reply to the probe outstanding counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(this.match + 1, Math.min(rejected, hint + 1));
    this.probeSent = false;
    return true;
  }

  markDeparting(): void {
    this.departing = true;
    this.learner = false;
  }

  /** Starts a catch-up round that ends once the follower holds `lastIndex`. */
  startCatchUpRound(lastIndex: number): void {
    this.catchUpRoundEnd = lastIndex;
    this.catchUpRoundTicks = 0;
  }

  becomeProbe(): void {
    this.next = this.match + 1;
    this.stalledHeartbeats = 0;
    this.state = 'probe';
    this.probeSent = false;
    this.pendingSnapshotIndex = 0;
    this.resetInflight();
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.probeSent = false;
    this.pendingSnapshotIndex = 0;
    this.resetInflight();
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.state = 'snapshot';
    this.pendingSnapshotIndex = snapshotIndex;
    this.snapshotElapsedTicks = 0;
    this.probeSent = false;
    this.resetInflight();
  }

  /** Whether the leader must hold back further AppendRequests to this follower. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflightCount >= this.inflight.length;
      case 'snapshot':
        return true;
      default: {
        const never: never = this.state;
        throw new Error(`unknown progress state ${String(never)}`);
      }
    }
  }

  /** Records an AppendRequest carrying entries up to `lastIndex` (replicate state). */
  addInflight(lastIndex: number): void {
    const slot = (this.inflightStart + this.inflightCount) % this.inflight.length;
    this.inflight[slot] = lastIndex;
    this.inflightCount += 1;
  }

  /** Frees every in-flight request acknowledged by a reply matching up to `index`. */
  freeInflightUpTo(index: number): void {
    while (this.inflightCount > 0 && (this.inflight[this.inflightStart] ?? 0) <= index) {
      this.inflightStart = (this.inflightStart + 1) % this.inflight.length;
      this.inflightCount -= 1;
    }
  }

  inflightCountNow(): number {
    return this.inflightCount;
  }

  private resetInflight(): void {
    this.inflightStart = 0;
    this.inflightCount = 0;
  }
}
