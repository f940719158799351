import {
  applyConfChange,
  bootstrapConfiguration,
  decodeConfiguration,
  encodeConfiguration,
  learnerIds,
  sameConfiguration,
  voterIds,
} from './configuration.ts';
import { RaftLog } from './log.ts';
import { Progress } from './progress.ts';
import type {
  AppendRequest,
  ConfChange,
  ConfChangeResult,
  Configuration,
  ConfigurationState,
  MemberProgress,
  AppendResponse,
  Entry,
  HardState,
  HeartbeatRequest,
  HeartbeatResponse,
  Message,
  NodeId,
  PlantedBug,
  ProposeResult,
  RaftConfig,
  RaftStatus,
  ReadIndexResult,
  ReadState,
  Ready,
  RecoveredState,
  Role,
  Snapshot,
  SnapshotRequest,
  SoftState,
  VoteRequest,
  VoteResponse,
} from './types.ts';

const DEFAULT_MAX_INFLIGHT_APPENDS = 64;
const DEFAULT_MAX_ENTRIES_PER_APPEND = 512;

/** A ReadIndex heartbeat round (thesis §6.4): reads batched behind one leadership confirmation. */
interface ReadRound {
  readonly id: number;
  /** The commit index recorded when the round started: the reads' read index. */
  readonly index: number;
  readonly contexts: readonly string[];
}

/** What a Ready handed out, so `advance` can tell what became durable and applied. */
interface OutstandingReady {
  readonly ready: Ready;
}

type StepFn = (message: Message) => void;
type TickFn = () => void;

/**
 * One Raft peer as a pure state machine (extended Raft paper, Ongaro's thesis).
 * Ticks, messages and client calls go in; everything the caller must do comes
 * out as a `Ready` (see types.ts for the ordering rules). No I/O, no clocks,
 * no ambient randomness.
 *
 * Invariants: appliedIndex <= commitIndex <= lastIndex; snapshotIndex <= appliedIndex except
 * while a snapshot received from the leader waits for advance();
 * stableIndex <= lastIndex (leader counts itself only up to stableIndex).
 */
export class RawNode {
  private readonly id: NodeId;
  /** The configuration at log index 0, used until the snapshot or the log holds one. */
  private readonly bootstrap: Configuration;
  /**
   * Thesis §4.1: a server uses the latest configuration in its log, committed
   * or not. The first element is the one in force at the snapshot index (or
   * the bootstrap); then one per `config` entry still in the log, in order,
   * so truncating a conflicting suffix rolls the configuration back.
   */
  private configs: ConfigurationState[];
  /** Derived from the latest configuration (refreshConfiguration). */
  private voters: ReadonlySet<NodeId> = new Set();
  private members: ReadonlySet<NodeId> = new Set();
  private quorum = 1;
  /** RaftStatus.configuration, rebuilt only when the configuration changes (status() is called often). */
  private configurationSummary: RaftStatus['configuration'] = { index: 0, voters: [], learners: [] };
  private readonly autoPromote: boolean;
  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly random: () => number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly maxInflightAppends: number;
  private readonly maxEntriesPerAppend: number;
  private readonly bugs: ReadonlySet<PlantedBug>;

  // Persistent state (Figure 2), durable through Ready.hardState / Ready.entries.
  private term: number;
  private vote: NodeId | null;
  private readonly log: RaftLog;

  // Volatile state.
  private commit: number;
  private applied: number;
  /** Highest index known durable in this node's own storage. */
  private stableIndex: number;
  /** First log index not yet handed out in a Ready. */
  private unstableFromIndex: number;
  private role: Role = 'follower';
  private leader: NodeId | null = null;
  private stepRole: StepFn;
  private tickRole: TickFn;
  private electionElapsedTicks = 0;
  /**
   * Ticks since this node last heard from a leader (or started: it may have
   * acknowledged one just before a crash). Only leader contact resets it,
   * no role or term change, so the time a follower ignores votes after
   * acknowledging a leader (thesis §6.2 / §6.4.1) cannot be cut short.
   */
  private ticksSinceLeaderContact = 0;
  private heartbeatElapsedTicks = 0;
  private randomizedElectionTimeoutTicks = 0;
  /** Votes received in the current (pre-)campaign, by voter. */
  private readonly votes = new Map<NodeId, boolean>();
  /** Leader only: progress of every other peer. */
  private readonly progress = new Map<NodeId, Progress>();
  /** The latest snapshot (made by compact, received, or recovered), sent to followers that need it. */
  private snapshot: Snapshot | null;
  /** A snapshot received from the leader, to hand out in the next Ready. */
  private pendingSnapshot: Snapshot | null = null;
  /** Leader: proposals or a commit change wait to be broadcast when the next Ready is built. */
  private broadcastPending = false;

  // ReadIndex (thesis §6.4).
  private readsAwaitingCommit: string[] = [];
  private readsAwaitingRound: string[] = [];
  private readRounds: ReadRound[] = [];
  private nextReadRoundId = 1;
  /** Highest read round each peer acknowledged in this term. */
  private readonly readAcks = new Map<NodeId, number>();

  // Output accumulated for the next Ready.
  private messages: Message[] = [];
  private eagerMessages: Message[] = [];
  private readStates: ReadState[] = [];
  private droppedReads: string[] = [];
  private lastSoftState: SoftState;
  private lastHardState: HardState;
  private outstanding: OutstandingReady | null = null;

  constructor(config: RaftConfig, recovered: RecoveredState) {
    if (config.peers.length === 0) throw new Error('config.peers (the bootstrap voters) must not be empty');
    if (new Set(config.peers).size !== config.peers.length) throw new Error('config.peers has duplicates');
    if (!(config.electionTicks >= 1) || !(config.heartbeatTicks >= 1)) {
      throw new Error('electionTicks and heartbeatTicks must be >= 1');
    }
    if (config.heartbeatTicks >= config.electionTicks) {
      // §5.6: broadcastTime << electionTimeout, or followers time out on a healthy leader.
      throw new Error('heartbeatTicks must be smaller than electionTicks');
    }
    this.id = config.id;
    this.bootstrap = bootstrapConfiguration(config.peers, config.peerUrls);
    this.autoPromote = config.autoPromote ?? true;
    this.electionTicks = config.electionTicks;
    this.heartbeatTicks = config.heartbeatTicks;
    this.random = config.random;
    this.preVote = config.preVote ?? true;
    this.checkQuorum = config.checkQuorum ?? true;
    this.maxInflightAppends = Math.max(1, config.maxInflightAppends ?? DEFAULT_MAX_INFLIGHT_APPENDS);
    this.maxEntriesPerAppend = Math.max(1, config.maxEntriesPerAppend ?? DEFAULT_MAX_ENTRIES_PER_APPEND);
    this.bugs = new Set(config.plantedBugs ?? []);
    if (config.quietAtStart === false) this.ticksSinceLeaderContact = this.electionTicks;

    const snap = recovered.snapshot;
    this.log = new RaftLog(snap?.meta.index ?? 0, snap?.meta.term ?? 0, recovered.entries);
    this.snapshot = snap;
    this.configs = [{ index: snap?.meta.index ?? 0, configuration: snap?.meta.config ?? this.bootstrap }];
    for (const entry of recovered.entries) if (entry.kind === 'config') this.configs.push(configState(entry));
    this.refreshConfiguration();
    this.term = recovered.hardState.term;
    this.vote = recovered.hardState.vote;
    if (this.log.lastTerm() > this.term) {
      // A torn write kept entries but not the hard state written with them. We
      // were in at least that term; no vote of ours in it can have left (its
      // response waits for the persist), so starting it with no vote is safe.
      this.term = this.log.lastTerm();
      this.vote = null;
    }
    // commitIndex is volatile (Figure 2): the persisted one is a hint that a
    // torn write may leave ahead of the surviving log, so clamp it.
    this.commit = Math.min(Math.max(this.log.snapshotIndex, recovered.hardState.commit), this.log.lastIndex());
    // The state machine restarts from the snapshot; committed entries after it are handed out again.
    this.applied = this.log.snapshotIndex;
    this.stableIndex = this.log.lastIndex();
    this.unstableFromIndex = this.log.lastIndex() + 1;
    this.lastHardState = { term: this.term, vote: this.vote, commit: this.commit };
    this.stepRole = this.stepFollower;
    this.tickRole = this.tickElection;
    this.becomeFollower(this.term, null);
    this.lastSoftState = { role: this.role, leader: this.leader };
  }

  // ---------------------------------------------------------------- inputs

  /** One logical clock tick (§5.2 election timeout, heartbeats, CheckQuorum). */
  tick(): void {
    if (this.ticksSinceLeaderContact < this.electionTicks) this.ticksSinceLeaderContact += 1;
    this.tickRole();
  }

  /** Handles a message from a peer. Applies the term rules of §5.1 once, then the role's step function. */
  step(message: Message): void {
    // Thesis §4.1: requests are processed without consulting the
    // configuration (a new server must be able to receive entries, and a
    // voter must vote for a candidate whose configuration it has not seen
    // yet); only counting votes and acknowledgements looks at it.
    if (message.to !== this.id || message.from === this.id) return;
    if (message.type === 'vote-request' && message.term >= this.term && this.inLease(message.from)) {
      // Thesis §6.2/§9.6: a node that heard from a leader within the minimum
      // election timeout ignores vote requests, so a node that was cut off
      // cannot depose a healthy leader by bumping terms, and a leader's lease
      // (thesis §6.4.1) holds. Also in its own term: a higher-term message
      // that is not a vote may have moved this node on without a leader.
      return;
    }
    if (message.term > this.term) {
      const isPreVoteTraffic =
        (message.type === 'vote-request' && message.preVote) ||
        (message.type === 'vote-response' && message.preVote && message.granted);
      if (!isPreVoteTraffic) {
        // §5.1: a higher term makes this node a follower in that term.
        const fromLeader =
          message.type === 'append-request' ||
          message.type === 'heartbeat-request' ||
          message.type === 'snapshot-request';
        this.becomeFollower(message.term, fromLeader ? message.from : null);
      }
    } else if (message.term < this.term) {
      // §5.1: a stale request is rejected. A stale leader is told our term so
      // it steps down; with PreVote/CheckQuorum this also frees a leader whose
      // term fell behind a node that cannot win (thesis §9.6).
      if (
        (message.type === 'append-request' || message.type === 'heartbeat-request') &&
        (this.checkQuorum || this.preVote)
      ) {
        this.send({
          type: 'append-response',
          from: this.id,
          to: message.from,
          term: this.term,
          success: false,
          matchIndex: 0,
          conflictIndex: 0,
          conflictTerm: 0,
        });
      } else if (message.type === 'vote-request' && message.preVote) {
        this.send({
          type: 'vote-response',
          from: this.id,
          to: message.from,
          term: this.term,
          preVote: true,
          granted: false,
        });
      }
      return;
    }
    if (message.type === 'vote-request') {
      this.handleVoteRequest(message);
      return;
    }
    this.stepRole(message);
  }

  /**
   * Leader: bytes of an InstallSnapshot to `peer` left this node (the
   * caller's transport saw progress). A large snapshot on a slow link takes
   * longer than an election timeout to arrive; resending it then would
   * start the transfer over and never finish. So the resend timer counts
   * from the last progress, not from the send (§7).
   */
  reportSnapshotProgress(peer: NodeId): void {
    const pr = this.progress.get(peer);
    if (pr?.state === 'snapshot') pr.snapshotElapsedTicks = 0;
  }

  /** Appends a client command (leader only, §5.3). Replication starts when the next Ready is built. */
  propose(data: string): ProposeResult {
    return this.proposeBatch([data]);
  }

  /** Appends several commands at once; the result names the last one. O(datas), independent of log length. */
  proposeBatch(datas: readonly string[]): ProposeResult {
    if (this.role !== 'leader') return { ok: false, reason: 'not-leader', leader: this.leader };
    if (datas.length === 0) throw new RangeError('proposeBatch needs at least one command');
    let index = this.log.lastIndex();
    for (const data of datas) {
      index += 1;
      this.log.push({ index, term: this.term, kind: 'normal', data });
    }
    this.broadcastPending = true;
    return { ok: true, index, term: this.term };
  }

  /**
   * Starts a single-server configuration change (thesis §4.1), leader only:
   * appends a `config` entry that takes effect here at once, and on each
   * follower as soon as it is in its log. Refused while another change is
   * uncommitted and until the leader has committed an entry of its own term
   * (the fix to the single-server algorithm: without it a new leader could
   * start a change that overlaps one of a previous term it does not know
   * to be committed or lost).
   */
  proposeConfChange(change: ConfChange): ConfChangeResult {
    if (this.role !== 'leader') return { ok: false, reason: 'not-leader', leader: this.leader };
    const next = applyConfChange(this.currentConfig().configuration, change);
    if (typeof next === 'string') return { ok: false, reason: next };
    if (!this.bugs.has('config-overlap')) {
      if (this.hasPendingConfChange()) return { ok: false, reason: 'change-pending' };
      if (!this.committedInCurrentTerm()) return { ok: false, reason: 'term-not-committed' };
    }
    const entry: Entry = {
      index: this.log.lastIndex() + 1,
      term: this.term,
      kind: 'config',
      data: encodeConfiguration(next),
    };
    this.log.push(entry);
    this.configs.push({ index: entry.index, configuration: next });
    this.refreshConfiguration();
    this.broadcastPending = true;
    // A smaller quorum may commit what is already replicated.
    this.maybeCommit();
    return { ok: true, index: entry.index, term: this.term };
  }

  /** Whether the latest configuration in the log is not committed yet (as far as this node knows). */
  hasPendingConfChange(): boolean {
    return this.currentConfig().index > this.commit;
  }

  /** The configuration in use: the latest in the log (thesis §4.1). */
  configuration(): ConfigurationState {
    return this.currentConfig();
  }

  /**
   * The configuration in force at `index` (the latest at or before it), for
   * a snapshot at that index or the caller's committed view. Below the
   * snapshot index the log no longer tells: the snapshot's is returned.
   */
  configurationAt(index: number): Configuration {
    let found = this.configs[0]!;
    for (const c of this.configs) if (c.index <= index) found = c;
    return found.configuration;
  }

  /**
   * The configurations this node's log still knows, oldest first: the one in
   * force at the snapshot index (or the bootstrap), then one per `config`
   * entry (for inspection and the simulator's invariants; a copy).
   */
  configurationHistory(): ConfigurationState[] {
    return [...this.configs];
  }

  /** Every member with its role and, on the leader, its match index (thesis §4.2.1 catch-up). */
  memberProgress(): MemberProgress[] {
    return this.currentConfig().configuration.members.map((m) => {
      let matchIndex: number | null = null;
      if (this.role === 'leader')
        matchIndex = m.id === this.id ? this.log.lastIndex() : (this.progress.get(m.id)?.match ?? null);
      return { ...m, matchIndex };
    });
  }

  /**
   * Asks for a linearizable read point (thesis §6.4). The answer comes later
   * as a Ready.readStates entry with this `context` (or in droppedReads).
   */
  readIndex(context: string): ReadIndexResult {
    if (this.role !== 'leader') return { ok: false, reason: 'not-leader', leader: this.leader };
    if (this.bugs.has('read-without-quorum')) {
      this.readStates.push({ context, index: this.commit });
      return { ok: true };
    }
    if (!this.committedInCurrentTerm()) {
      // §6.4 step 1: until an entry of its term commits, the leader may not know the latest commit index.
      this.readsAwaitingCommit.push(context);
    } else if (this.isSoleVoter()) {
      this.readStates.push({ context, index: this.commit });
    } else {
      this.readsAwaitingRound.push(context);
    }
    return { ok: true };
  }

  /**
   * The app has snapshotted its state machine at `snapshot.meta.index`
   * (<= applied): drop the log up to there (§7) and keep the snapshot for
   * followers that need it.
   */
  compact(snapshot: Snapshot): void {
    const { index, term } = snapshot.meta;
    if (index <= this.log.snapshotIndex) return;
    if (index > this.applied) throw new RangeError(`cannot compact at ${index}: only ${this.applied} is applied`);
    const termAtIndex = this.log.termAt(index);
    if (termAtIndex !== term) {
      throw new RangeError(
        `snapshot term ${term} at index ${index} does not match the log's term ${String(termAtIndex)}`,
      );
    }
    // The snapshot carries the configuration at its index (thesis §5.1), so
    // a follower that installs it, or this node after a restart, knows the
    // members the compacted log no longer names.
    const config = this.configurationAt(index);
    if (snapshot.meta.config !== undefined && !sameConfiguration(snapshot.meta.config, config))
      throw new RangeError(`snapshot at ${index} names a configuration other than the log's`);
    this.log.compactTo(index, term);
    this.snapshot = snapshot.meta.config !== undefined ? snapshot : { ...snapshot, meta: { ...snapshot.meta, config } };
    if (this.unstableFromIndex <= index) this.unstableFromIndex = index + 1;
    let base = 0;
    for (let k = 0; k < this.configs.length; k++) if (this.configs[k]!.index <= index) base = k;
    this.configs = this.configs.slice(base);
  }

  // --------------------------------------------------------------- outputs

  /** Whether `ready()` has anything for the caller. False while a Ready is outstanding. */
  hasReady(): boolean {
    if (this.outstanding !== null) return false;
    this.flushPending();
    return (
      this.messages.length > 0 ||
      this.eagerMessages.length > 0 ||
      this.readStates.length > 0 ||
      this.droppedReads.length > 0 ||
      this.pendingSnapshot !== null ||
      this.unstableFromIndex <= this.log.lastIndex() ||
      this.commit > this.applied ||
      this.softStateChanged() ||
      this.hardStateChanged()
    );
  }

  /** Everything to persist, send and apply now. Call `advance` before asking again. */
  ready(): Ready {
    if (this.outstanding !== null) throw new Error('ready() called again before advance() of the previous Ready');
    this.flushPending();
    const softState = this.softStateChanged() ? { role: this.role, leader: this.leader } : null;
    if (softState !== null) this.lastSoftState = softState;
    const hardState = this.hardStateChanged()
      ? { term: this.term, vote: this.vote, commit: this.durableCommit() }
      : null;
    if (hardState !== null) this.lastHardState = hardState;
    const entries = this.log.slice(this.unstableFromIndex, this.log.lastIndex() + 1);
    this.unstableFromIndex = this.log.lastIndex() + 1;
    const snapshot = this.pendingSnapshot;
    this.pendingSnapshot = null;
    const applyFrom = Math.max(this.applied, snapshot?.meta.index ?? 0) + 1;
    const committedEntries = this.log.slice(applyFrom, this.commit + 1);
    const ready: Ready = {
      softState,
      hardState,
      snapshot,
      entries,
      messages: this.messages,
      eagerMessages: this.eagerMessages,
      committedEntries,
      readStates: this.readStates,
      droppedReads: this.droppedReads,
    };
    this.messages = [];
    this.eagerMessages = [];
    this.readStates = [];
    this.droppedReads = [];
    this.outstanding = { ready };
    return ready;
  }

  /** The caller persisted, sent and applied `ready` (types.ts ordering). */
  advance(ready: Ready): void {
    if (this.outstanding === null || this.outstanding.ready !== ready) {
      throw new Error('advance() must be given the Ready returned by the last ready()');
    }
    this.outstanding = null;
    if (ready.snapshot !== null) {
      const index = ready.snapshot.meta.index;
      if (index > this.applied) this.applied = index;
      if (this.log.snapshotIndex === index && this.stableIndex < index) this.stableIndex = index;
    }
    const lastEntry = ready.entries[ready.entries.length - 1];
    if (lastEntry !== undefined) {
      // Entries below unstableFromIndex were not rewritten since this Ready was
      // built, so they are exactly what the caller made durable.
      const durable = Math.min(lastEntry.index, this.unstableFromIndex - 1);
      if (durable > this.stableIndex) this.stableIndex = durable;
    }
    const lastApplied = ready.committedEntries[ready.committedEntries.length - 1];
    if (lastApplied !== undefined && lastApplied.index > this.applied) this.applied = lastApplied.index;
    if (this.role === 'leader') this.maybeCommit();
  }

  /** Observable state for status endpoints and logs. */
  status(): RaftStatus {
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      leader: this.leader,
      commitIndex: this.commit,
      appliedIndex: this.applied,
      snapshotIndex: this.log.snapshotIndex,
      lastIndex: this.log.lastIndex(),
      lastTerm: this.log.lastTerm(),
      vote: this.vote,
      configuration: this.configurationSummary,
    };
  }

  /** Term of the log entry at `index`, or undefined if compacted away or beyond the end. */
  logTerm(index: number): number | undefined {
    return this.log.termAt(index);
  }

  /** Entries in [lo, hi) still held in memory (for inspection and tests; a copy). */
  logEntries(lo: number, hi: number): Entry[] {
    return this.log.slice(lo, hi);
  }

  // ----------------------------------------------------------------- roles

  private becomeFollower(term: number, leader: NodeId | null): void {
    this.leaveLeadership();
    if (term !== this.term) {
      this.term = term;
      this.vote = null;
    }
    this.role = 'follower';
    this.leader = leader;
    this.stepRole = this.stepFollower;
    this.tickRole = this.tickElection;
    this.resetElectionTimer();
  }

  /** Thesis §9.6: ask whether we could win, without disturbing anyone's term. */
  private becomePreCandidate(): void {
    this.leaveLeadership();
    this.role = 'pre-candidate';
    this.leader = null;
    this.votes.clear();
    this.stepRole = this.stepCandidate;
    this.tickRole = this.tickElection;
    this.resetElectionTimer();
  }

  /** §5.2: increment the term and vote for self. */
  private becomeCandidate(): void {
    this.leaveLeadership();
    this.term += 1;
    this.vote = this.id;
    this.role = 'candidate';
    this.leader = null;
    this.votes.clear();
    this.stepRole = this.stepCandidate;
    this.tickRole = this.tickElection;
    this.resetElectionTimer();
  }

  private becomeLeader(): void {
    this.role = 'leader';
    this.leader = this.id;
    this.stepRole = this.stepLeader;
    this.tickRole = this.tickLeader;
    this.electionElapsedTicks = 0;
    this.heartbeatElapsedTicks = 0;
    this.progress.clear();
    this.readAcks.clear();
    // §5.3: nextIndex starts just after the leader's last entry; learners
    // get entries too (thesis §4.2.1).
    this.syncProgress(false);
    this.broadcastPending = true;
    // The planted Figure 8 mistake comes with its usual companion: a leader
    // that believes counting replicas of any term is enough sees no reason
    // for the start-of-term no-op (harness/PROVE.md). Without the no-op its
    // first AppendEntries carries only old entries, which it then commits by
    // counting (mayCommitByCounting).
    if (this.bugs.has('commit-old-term')) return;
    // §8: a no-op entry at the start of the term lets the leader commit
    // earlier-term entries (§5.4.2) and learn the commit index for reads (§6.4).
    const index = this.log.lastIndex() + 1;
    this.log.push({ index, term: this.term, kind: 'empty', data: '' });
    if (this.isSoleVoter()) this.maybeCommit();
  }

  /** Pending reads cannot be served by a node that no longer leads (thesis §6.4). */
  private leaveLeadership(): void {
    if (this.role !== 'leader') return;
    for (const context of this.readsAwaitingCommit) this.droppedReads.push(context);
    for (const context of this.readsAwaitingRound) this.droppedReads.push(context);
    for (const round of this.readRounds) for (const context of round.contexts) this.droppedReads.push(context);
    this.readsAwaitingCommit = [];
    this.readsAwaitingRound = [];
    this.readRounds = [];
    this.readAcks.clear();
    this.progress.clear();
    this.broadcastPending = false;
  }

  private resetElectionTimer(): void {
    this.electionElapsedTicks = 0;
    // §5.2: randomized timeouts in [T, 2T) make split votes rare.
    this.randomizedElectionTimeoutTicks = this.electionTicks + Math.floor(this.random() * this.electionTicks);
  }

  // ----------------------------------------------------------------- ticks

  private tickElection(): void {
    if (!this.mayCampaign()) {
      // A learner or a server outside the configuration never campaigns
      // (thesis §4.2.1, §4.2.3): it could not be elected, and its term
      // bumps would only disturb the voters.
      this.electionElapsedTicks = 0;
      return;
    }
    this.electionElapsedTicks += 1;
    if (this.electionElapsedTicks >= this.randomizedElectionTimeoutTicks) this.campaign();
  }

  private tickLeader(): void {
    this.heartbeatElapsedTicks += 1;
    this.electionElapsedTicks += 1;
    if (this.electionElapsedTicks >= this.electionTicks) {
      this.electionElapsedTicks = 0;
      if (this.checkQuorum && !this.quorumRecentlyActive()) {
        // Thesis §6.2: a leader cut off from a majority steps down so clients look elsewhere.
        this.becomeFollower(this.term, null);
        return;
      }
      for (const pr of this.progress.values()) pr.recentActive = false;
    }
    for (const pr of this.progress.values()) if (pr.learner) pr.catchUpRoundTicks += 1;
    this.maybePromoteLearner();
    for (const pr of this.progress.values()) {
      if (pr.state !== 'snapshot') continue;
      pr.snapshotElapsedTicks += 1;
      // No transfer progress for an election timeout: the snapshot or its
      // reply was lost; probe again (which re-sends it if still needed).
      if (pr.snapshotElapsedTicks >= this.electionTicks) pr.becomeProbe();
    }
    if (this.heartbeatElapsedTicks >= this.heartbeatTicks) {
      this.heartbeatElapsedTicks = 0;
      const latestRound = this.readRounds[this.readRounds.length - 1];
      this.broadcastHeartbeat(latestRound === undefined ? null : String(latestRound.id));
    }
  }

  /** Thesis §6.2 over the voters of the configuration in use (a leader being removed does not count itself, §4.2.2). */
  private quorumRecentlyActive(): boolean {
    let active = 0;
    for (const voter of this.voters) {
      if (voter === this.id || this.progress.get(voter)?.recentActive === true) active += 1;
    }
    return active >= this.quorum;
  }

  // -------------------------------------------------------------- election

  private campaign(): void {
    if (this.preVote) this.becomePreCandidate();
    else this.becomeCandidate();
    this.startPoll();
  }

  private startPoll(): void {
    const preVote = this.role === 'pre-candidate';
    // A pre-vote asks about the term we would campaign in, without taking it (thesis §9.6).
    const voteTerm = preVote ? this.term + 1 : this.term;
    this.votes.set(this.id, true);
    if (this.tallyVotes()) return;
    for (const peer of this.voters) {
      if (peer === this.id) continue;
      this.send({
        type: 'vote-request',
        from: this.id,
        to: peer,
        term: voteTerm,
        preVote,
        lastLogIndex: this.log.lastIndex(),
        lastLogTerm: this.log.lastTerm(),
      });
    }
  }

  /** Acts on the votes so far; returns whether the poll is decided. */
  private tallyVotes(): boolean {
    let granted = 0;
    let rejected = 0;
    // Only voters of the configuration in use count (thesis §4.1).
    for (const [voter, vote] of this.votes) {
      if (!this.voters.has(voter)) continue;
      if (vote) granted += 1;
      else rejected += 1;
    }
    if (granted >= this.quorum) {
      if (this.role === 'pre-candidate') {
        this.becomeCandidate();
        this.startPoll();
      } else {
        this.becomeLeader();
      }
      return true;
    }
    if (rejected >= this.quorum) {
      this.becomeFollower(this.term, null);
      return true;
    }
    return false;
  }

  /** §5.4.1: a vote goes only to a candidate whose log is at least as up to date as ours. */
  private isUpToDate(lastLogIndex: number, lastLogTerm: number): boolean {
    const ourLastTerm = this.log.lastTerm();
    return lastLogTerm > ourLastTerm || (lastLogTerm === ourLastTerm && lastLogIndex >= this.log.lastIndex());
  }

  private handleVoteRequest(m: VoteRequest): void {
    // §5.2: at most one vote per term, first come first served; a pre-vote for a later term binds nothing.
    const canVote =
      this.vote === m.from || (this.vote === null && this.leader === null) || (m.preVote && m.term > this.term);
    if (canVote && this.isUpToDate(m.lastLogIndex, m.lastLogTerm)) {
      if (!m.preVote) {
        this.vote = m.from;
        this.electionElapsedTicks = 0;
      }
      // The response goes out in Ready.messages, after the vote is durable (Figure 2, "Persistent state").
      this.send({ type: 'vote-response', from: this.id, to: m.from, term: m.term, preVote: m.preVote, granted: true });
    } else {
      this.send({
        type: 'vote-response',
        from: this.id,
        to: m.from,
        term: this.term,
        preVote: m.preVote,
        granted: false,
      });
    }
  }

  // ------------------------------------------------------- role step funcs

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'append-request':
        this.heardFromLeader(m.from);
        this.handleAppendRequest(m);
        return;
      case 'heartbeat-request':
        this.heardFromLeader(m.from);
        this.handleHeartbeatRequest(m);
        return;
      case 'snapshot-request':
        this.heardFromLeader(m.from);
        this.handleSnapshotRequest(m);
        return;
      case 'vote-request':
      case 'vote-response':
      case 'append-response':
      case 'heartbeat-response':
        return;
      default:
        assertNever(m);
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'append-request':
      case 'heartbeat-request':
      case 'snapshot-request':
        // §5.2: a candidate that hears from a leader of its term becomes its follower.
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case 'vote-response':
        this.handleVoteResponse(m);
        return;
      case 'vote-request':
      case 'append-response':
      case 'heartbeat-response':
        return;
      default:
        assertNever(m);
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'append-response':
        this.handleAppendResponse(m);
        return;
      case 'heartbeat-response':
        this.handleHeartbeatResponse(m);
        return;
      case 'append-request':
      case 'heartbeat-request':
      case 'snapshot-request':
        // Another leader in our term would break election safety (§5.2); ignore.
        return;
      case 'vote-request':
      case 'vote-response':
        return;
      default:
        assertNever(m);
    }
  }

  private handleVoteResponse(m: VoteResponse): void {
    if (m.preVote !== (this.role === 'pre-candidate')) return;
    if (!this.votes.has(m.from)) this.votes.set(m.from, m.granted);
    this.tallyVotes();
  }

  private heardFromLeader(leader: NodeId): void {
    this.electionElapsedTicks = 0;
    this.ticksSinceLeaderContact = 0;
    this.leader = leader;
  }

  /**
   * Whether a vote request from `candidate` is ignored: with CheckQuorum, a
   * leader always; anyone else until an election timeout has passed since it
   * last heard from a leader or started. A candidate this node already voted
   * for in this term is answered again (the answer may have been lost).
   */
  private inLease(candidate: NodeId): boolean {
    if (!this.checkQuorum) return false;
    if (this.role === 'leader') return true;
    if (this.vote === candidate) return false;
    return this.ticksSinceLeaderContact < this.electionTicks;
  }

  // ------------------------------------------------------ follower handlers

  /** §5.3 AppendEntries receiver implementation (Figure 2, steps 2-5). */
  private handleAppendRequest(m: AppendRequest): void {
    if (m.prevLogIndex < this.commit) {
      // Everything up to our commit matches the leader (Leader Completeness, §5.4); a stale request.
      this.replyAppend(m.from, true, this.commit, 0, 0);
      return;
    }
    if (!this.log.matchTerm(m.prevLogIndex, m.prevLogTerm)) {
      // Log Matching check failed (§5.3). Hint: our term at prevLogIndex and its first index,
      // so the leader can skip the whole conflicting term in one round trip.
      if (m.prevLogIndex > this.log.lastIndex()) {
        this.replyAppend(m.from, false, m.prevLogIndex, this.log.lastIndex() + 1, 0);
      } else {
        const conflictTerm = this.log.termAt(m.prevLogIndex) ?? 0;
        const first = this.log.firstIndexOfTermAtOrAfter(conflictTerm, m.prevLogIndex);
        this.replyAppend(m.from, false, m.prevLogIndex, Math.max(first, this.commit + 1), conflictTerm);
      }
      return;
    }
    if (!entriesFollow(m)) return; // malformed: entries must continue prevLogIndex in order, in terms <= the leader's
    const lastNewIndex = m.prevLogIndex + m.entries.length;
    this.appendFromLeader(m.entries);
    // Figure 2 step 5: commitIndex = min(leaderCommit, index of last new entry).
    this.commitTo(Math.min(m.commit, lastNewIndex));
    this.replyAppend(m.from, true, lastNewIndex, 0, 0);
  }

  /**
   * Figure 2 steps 3-4: skip entries we already hold, truncate only at a real
   * conflict (same index, different term), append the rest. A stale or
   * duplicated request never truncates anything.
   */
  private appendFromLeader(entries: readonly Entry[]): void {
    let k = 0;
    for (; k < entries.length; k++) {
      const entry = entries[k]!;
      const ours = this.log.termAt(entry.index);
      if (ours === undefined) break; // beyond our end
      if (ours !== entry.term) {
        if (entry.index <= this.commit) {
          throw new Error(`safety: leader asked to overwrite committed index ${entry.index} (commit ${this.commit})`);
        }
        this.log.truncateFrom(entry.index);
        this.dropConfigsFrom(entry.index);
        if (this.unstableFromIndex > entry.index) this.unstableFromIndex = entry.index;
        if (this.stableIndex >= entry.index) this.stableIndex = entry.index - 1;
        break;
      }
    }
    let configChanged = false;
    for (; k < entries.length; k++) {
      const entry = entries[k]!;
      this.log.push(entry);
      if (entry.kind === 'config') {
        this.configs.push(configState(entry));
        configChanged = true;
      }
    }
    if (configChanged) this.refreshConfiguration();
  }

  private handleHeartbeatRequest(m: HeartbeatRequest): void {
    // The leader caps `commit` at what it knows we hold (our match index).
    this.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ type: 'heartbeat-response', from: this.id, to: m.from, term: this.term, context: m.context });
  }

  /** §7 InstallSnapshot receiver. */
  private handleSnapshotRequest(m: SnapshotRequest): void {
    const { index, term } = m.snapshot.meta;
    if (index <= this.commit) {
      this.replyAppend(m.from, true, this.commit, 0, 0);
      return;
    }
    if (this.log.matchTerm(index, term)) {
      // §7: "If existing log entry has same index and term as snapshot's last
      // included entry, retain log entries following it": we hold it, so it is
      // enough to learn it is committed.
      this.commitTo(index);
      this.replyAppend(m.from, true, index, 0, 0);
      return;
    }
    // §7: otherwise discard the entire log and reset the state machine from the snapshot.
    const previousCommit = this.commit;
    this.log.resetToSnapshot(index, term);
    this.configs = [{ index, configuration: m.snapshot.meta.config ?? this.bootstrap }];
    this.refreshConfiguration();
    this.snapshot = m.snapshot;
    this.pendingSnapshot = m.snapshot;
    this.commit = index;
    this.unstableFromIndex = index + 1;
    // Until the snapshot is durable, only entries up to the old commit (which
    // match any leader's history) are known durable.
    if (this.stableIndex > previousCommit) this.stableIndex = previousCommit;
    this.replyAppend(m.from, true, index, 0, 0);
  }

  private replyAppend(
    to: NodeId,
    success: boolean,
    matchIndex: number,
    conflictIndex: number,
    conflictTerm: number,
  ): void {
    const reply: AppendResponse = {
      type: 'append-response',
      from: this.id,
      to,
      term: this.term,
      success,
      matchIndex,
      conflictIndex,
      conflictTerm,
    };
    this.send(reply);
  }

  private commitTo(index: number): void {
    if (index > this.commit) this.commit = index;
  }

  // -------------------------------------------------------- leader handlers

  private handleAppendResponse(m: AppendResponse): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    if (!m.success) {
      this.handleAppendRejection(pr, m);
      return;
    }
    if (pr.maybeUpdate(m.matchIndex)) {
      if (pr.learner) this.trackCatchUp(pr);
      if (pr.state === 'probe') {
        pr.becomeReplicate();
      } else if (pr.state === 'snapshot') {
        // §7: the follower holds the snapshot; continue from its index.
        if (pr.match >= pr.pendingSnapshotIndex) pr.becomeReplicate();
      } else {
        pr.freeInflightUpTo(m.matchIndex);
      }
      this.maybeCommit();
    } else if (pr.state === 'replicate') {
      pr.freeInflightUpTo(m.matchIndex);
    } else if (pr.state === 'probe' && m.matchIndex >= pr.next - 1) {
      pr.probeSent = false;
    }
    this.sendAppends(m.from, pr);
  }

  /** §5.3 fast backtracking: skip the follower's whole conflicting term. */
  private handleAppendRejection(pr: Progress, m: AppendResponse): void {
    if (m.matchIndex === 0 && m.conflictIndex === 0) return; // a stale-term notice, handled by §5.1 rules
    const rejected = m.matchIndex;
    let hint: number;
    if (m.conflictTerm > 0) {
      const found = this.log.lastIndexWithTermAtMost(m.conflictTerm, rejected);
      // Leader has entries of that term: resume after its last one; else skip to the follower's first of it.
      hint = found.term === m.conflictTerm ? found.index : m.conflictIndex - 1;
    } else {
      hint = m.conflictIndex - 1;
    }
    if (!pr.maybeDecrTo(rejected, hint)) return;
    if (pr.state === 'replicate') pr.becomeProbe();
    this.sendAppends(m.from, pr);
  }

  private handleHeartbeatResponse(m: HeartbeatResponse): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    pr.probeSent = false;
    if (pr.state === 'replicate') {
      // Requests in flight but no progress over two heartbeat replies: one was
      // probably lost. Probe from the known match (re-sends are harmless:
      // duplicates never truncate, §5.3).
      if (pr.inflightCountNow() > 0 && pr.match < this.log.lastIndex() && pr.match === pr.matchAtLastHeartbeat) {
        pr.stalledHeartbeats += 1;
        if (pr.stalledHeartbeats >= 2) pr.becomeProbe();
      } else {
        pr.stalledHeartbeats = 0;
      }
      pr.matchAtLastHeartbeat = pr.match;
    }
    this.sendAppends(m.from, pr);
    if (m.context !== null) this.handleReadAck(m.from, m.context);
  }

  // ------------------------------------------------------------ replication

  /** Sends as much as flow control allows; returns whether anything was sent. */
  private sendAppends(to: NodeId, pr: Progress): boolean {
    let sent = false;
    while (!pr.isPaused() && pr.next <= this.log.lastIndex()) {
      if (!this.sendAppend(to, pr, false)) break;
      sent = true;
      if (pr.state !== 'replicate') break;
    }
    // A follower in replicate state learns a new commit index from the next
    // AppendRequest or heartbeat, which both carry it (§5.3: "the leader
    // includes leaderCommit in future AppendEntries RPCs (including
    // heartbeats)"). Sending a request that carries only the commit index
    // would double the peer traffic of a lone client's write for nothing the
    // leader's clients wait on: they are answered when the leader applies.
    if (!sent && pr.state !== 'replicate' && pr.sentCommit < this.commit && !pr.isPaused())
      sent = this.sendAppend(to, pr, true);
    return sent;
  }

  /** One AppendRequest (§5.3), or an InstallSnapshot when the entries are compacted (§7). */
  private sendAppend(to: NodeId, pr: Progress, allowEmpty: boolean): boolean {
    const prevLogIndex = pr.next - 1;
    const prevLogTerm = this.log.termAt(prevLogIndex);
    if (prevLogTerm === undefined) {
      if (prevLogIndex > this.log.lastIndex()) return false;
      return this.sendSnapshot(to, pr);
    }
    const entries = this.log.slice(pr.next, pr.next + this.maxEntriesPerAppend);
    if (entries.length === 0 && !allowEmpty) return false;
    // An empty request in replicate state only carries the commit index: anchor it at
    // the known match, since next-1 may still be in flight and would look like a conflict.
    const anchorIndex = entries.length === 0 && pr.state === 'replicate' ? pr.match : prevLogIndex;
    const anchorTerm = anchorIndex === prevLogIndex ? prevLogTerm : this.log.termAt(anchorIndex);
    if (anchorTerm === undefined) return this.sendSnapshot(to, pr);
    this.send({
      type: 'append-request',
      from: this.id,
      to,
      term: this.term,
      prevLogIndex: anchorIndex,
      prevLogTerm: anchorTerm,
      entries,
      commit: this.commit,
    });
    pr.sentCommit = this.commit;
    const last = entries[entries.length - 1];
    if (pr.state === 'replicate') {
      if (last !== undefined) {
        // Pipelining: assume success and move on, bounded by the in-flight window.
        pr.next = last.index + 1;
        pr.addInflight(last.index);
      }
    } else {
      pr.probeSent = true;
    }
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    const snapshot = this.snapshot;
    if (snapshot === null) throw new Error('internal: log compacted without a snapshot');
    pr.becomeSnapshot(snapshot.meta.index);
    this.send({ type: 'snapshot-request', from: this.id, to, term: this.term, snapshot });
    return true;
  }

  private broadcastHeartbeat(context: string | null): void {
    for (const [peer, pr] of this.progress) {
      // Capped at the follower's match so it never commits entries it may not hold.
      const commit = Math.min(pr.match, this.commit);
      this.send({ type: 'heartbeat-request', from: this.id, to: peer, term: this.term, commit, context });
    }
  }

  /** Builds leader traffic that was deferred so many proposals share one AppendRequest per follower. */
  private flushPending(): void {
    if (this.role !== 'leader') return;
    if (this.broadcastPending) {
      this.broadcastPending = false;
      for (const [peer, pr] of this.progress) this.sendAppends(peer, pr);
    }
    if (this.readsAwaitingRound.length > 0) {
      // Thesis §6.4 step 2-3: record the commit index as the read index, then
      // confirm leadership with one heartbeat round for the whole batch.
      const round: ReadRound = { id: this.nextReadRoundId++, index: this.commit, contexts: this.readsAwaitingRound };
      this.readsAwaitingRound = [];
      this.readRounds.push(round);
      this.broadcastHeartbeat(String(round.id));
    }
  }

  /** The commit rule, in one place (§5.4.2). */
  private maybeCommit(): void {
    const candidate = this.quorumMatchIndex();
    if (!this.mayCommitByCounting(candidate)) return;
    this.commit = candidate;
    this.broadcastPending = true; // tell followers the new commit index
    if (this.currentConfig().index <= this.commit) this.releaseDeparted();
    if (!this.voters.has(this.id) && this.currentConfig().index <= this.commit) {
      // Thesis §4.2.2: a leader removed from the configuration steps down
      // once that configuration is committed. Tell the others the commit
      // index first, so the entry that removed it is known committed.
      this.broadcastHeartbeat(null);
      this.becomeFollower(this.term, null);
      return;
    }
    if (this.readsAwaitingCommit.length > 0 && this.committedInCurrentTerm()) {
      const reads = this.readsAwaitingCommit;
      this.readsAwaitingCommit = [];
      if (this.isSoleVoter()) {
        for (const context of reads) this.readStates.push({ context, index: this.commit });
      } else {
        for (const context of reads) this.readsAwaitingRound.push(context);
      }
    }
  }

  /**
   * §5.4.2 / Figure 8: only an entry of the current term is committed by
   * counting replicas; earlier entries commit indirectly with it.
   */
  private mayCommitByCounting(index: number): boolean {
    if (index <= this.commit) return false;
    if (this.bugs.has('commit-old-term')) return true;
    return this.log.termAt(index) === this.term;
  }

  /**
   * The highest index stored on a majority of the voters in use; the leader
   * counts only its durable entries, and not at all while it is being
   * removed (thesis §4.2.2).
   */
  private quorumMatchIndex(): number {
    return this.quorumValue(this.stableIndex, (pr) => pr.match);
  }

  /** The `quorum`-th highest value among the voters (the leader's own is `own`; a voter with no progress counts 0). */
  private quorumValue(own: number, valueOf: (pr: Progress, id: NodeId) => number): number {
    const values: number[] = [];
    for (const voter of this.voters) {
      if (voter === this.id) values.push(own);
      else {
        const pr = this.progress.get(voter);
        values.push(pr === undefined ? 0 : valueOf(pr, voter));
      }
    }
    values.sort((a, b) => b - a);
    return values[this.quorum - 1] ?? 0;
  }

  private committedInCurrentTerm(): boolean {
    return this.log.termAt(this.commit) === this.term;
  }

  // ------------------------------------------------------------ membership

  private currentConfig(): ConfigurationState {
    return this.configs[this.configs.length - 1]!;
  }

  private isSoleVoter(): boolean {
    return this.voters.size === 1 && this.voters.has(this.id);
  }

  /** Rolls the configuration back with a truncated suffix (a server uses the latest in its log, §4.1). */
  private dropConfigsFrom(index: number): void {
    const before = this.configs.length;
    while (this.configs.length > 1 && this.currentConfig().index >= index) this.configs.pop();
    if (this.configs.length !== before) this.refreshConfiguration();
  }

  /** Recomputes voters and quorum from the latest configuration; a leader starts or stops replicating to members. */
  private refreshConfiguration(): void {
    const configuration = this.currentConfig().configuration;
    this.voters = new Set(voterIds(configuration));
    this.members = new Set(configuration.members.map((m) => m.id));
    this.quorum = Math.floor(this.voters.size / 2) + 1;
    this.configurationSummary = {
      index: this.currentConfig().index,
      voters: voterIds(configuration),
      learners: learnerIds(configuration),
    };
    if (this.role === 'leader') this.syncProgress(true);
  }

  /** Leader: a Progress for every other member (voters and learners), none for servers no longer in the configuration. */
  private syncProgress(graceForNew: boolean): void {
    // A server the latest (uncommitted) configuration removed keeps getting
    // entries until that configuration commits, so it learns of its removal
    // and, from the commit index, that the removal is final (see mayCampaign).
    const departing = this.departingServers();
    for (const id of [...this.progress.keys()]) {
      if (!this.members.has(id) && !departing.has(id)) this.progress.delete(id);
    }
    for (const member of this.currentConfig().configuration.members) {
      if (member.id === this.id) continue;
      const pr = this.progressFor(member.id, graceForNew);
      pr.learner = member.role === 'learner';
      pr.departing = false;
    }
    // Also for a leader elected while the removal is uncommitted, so the removed servers still hear of it.
    for (const id of departing) if (id !== this.id) this.progressFor(id, graceForNew).markDeparting();
  }

  /** The Progress of `id`, created (next after the leader's last entry) if it has none. */
  private progressFor(id: NodeId, graceForNew: boolean): Progress {
    let pr = this.progress.get(id);
    if (pr === undefined) {
      pr = new Progress(this.log.lastIndex() + 1, this.maxInflightAppends);
      // A member added while leading has not had the chance to answer: do
      // not count it as silent in the current CheckQuorum window.
      pr.recentActive = graceForNew;
      pr.startCatchUpRound(this.log.lastIndex());
      this.progress.set(id, pr);
    }
    return pr;
  }

  /** Servers of the previous configuration that the latest one, still uncommitted, no longer has. */
  private departingServers(): Set<NodeId> {
    const previous = this.configs[this.configs.length - 2];
    if (previous === undefined || this.currentConfig().index <= this.commit) return new Set();
    return new Set(previous.configuration.members.map((m) => m.id).filter((id) => !this.members.has(id)));
  }

  /**
   * Leader, once the latest configuration committed: tells the servers it
   * removed the commit index (a heartbeat, capped at what each holds) and
   * stops replicating to them.
   */
  private releaseDeparted(): void {
    for (const [id, pr] of this.progress) {
      if (!pr.departing) continue;
      this.send({
        type: 'heartbeat-request',
        from: this.id,
        to: id,
        term: this.term,
        commit: Math.min(pr.match, this.commit),
        context: null,
      });
      this.progress.delete(id);
    }
  }

  /**
   * Thesis §4.2.2: a voter campaigns; so does a server that the latest
   * configuration removed while that configuration is not known committed,
   * since it may still be needed to commit it (it then does not count its
   * own vote). A learner, a server outside the configuration, and one whose
   * removal is known committed never do.
   */
  private mayCampaign(): boolean {
    if (this.voters.has(this.id)) return true;
    const previous = this.configs[this.configs.length - 2];
    return (
      previous !== undefined &&
      this.currentConfig().index > this.commit &&
      voterIds(previous.configuration).includes(this.id)
    );
  }

  /**
   * Thesis §4.2.1: replication to a new server goes in rounds, each carrying
   * what the leader's log held when it started; when a round takes less than
   * an election timeout the server is caught up (its promotion will not hold
   * up commits for long). A slower round starts the next one.
   */
  private trackCatchUp(pr: Progress): void {
    if (pr.caughtUp || pr.match < pr.catchUpRoundEnd) return;
    if (pr.catchUpRoundTicks < this.electionTicks) pr.caughtUp = true;
    else {
      pr.startCatchUpRound(this.log.lastIndex());
      // Nothing was appended during the slow round: the next one is empty, so done at once.
      if (pr.match >= pr.catchUpRoundEnd) pr.caughtUp = true;
    }
    this.maybePromoteLearner();
  }

  /** Leader: promotes one caught-up learner when no other change is in flight. */
  private maybePromoteLearner(): void {
    if (!this.autoPromote || this.role !== 'leader') return;
    for (const member of this.currentConfig().configuration.members) {
      if (member.role !== 'learner') continue;
      if (this.progress.get(member.id)?.caughtUp !== true) continue;
      const result = this.proposeConfChange({ type: 'promote', id: member.id });
      // Correctly, one change at a time; the planted bug promotes every caught-up learner at once.
      if (result.ok && !this.bugs.has('config-overlap')) return;
      if (!result.ok) return;
    }
  }

  // --------------------------------------------------------------- ReadIndex

  private handleReadAck(from: NodeId, context: string): void {
    const roundId = Number(context);
    if (!Number.isSafeInteger(roundId)) return;
    if (roundId > (this.readAcks.get(from) ?? 0)) this.readAcks.set(from, roundId);
    // An ack of round r confirms leadership after every round <= r started (voters only).
    const confirmedUpTo = this.quorumValue(Number.MAX_SAFE_INTEGER, (_pr, id) => this.readAcks.get(id) ?? 0);
    let served = 0;
    for (const round of this.readRounds) {
      if (round.id > confirmedUpTo) break;
      for (const ctx of round.contexts) this.readStates.push({ context: ctx, index: round.index });
      served += 1;
    }
    if (served > 0) this.readRounds = this.readRounds.slice(served);
  }

  // ------------------------------------------------------------------ output

  /**
   * Routes a message: a leader's replication traffic depends only on its
   * durable term, so it may leave before the persist (thesis §10.2.1);
   * everything else waits for it (types.ts rule 2).
   */
  private send(message: Message): void {
    if (
      this.role === 'leader' &&
      (message.type === 'append-request' || message.type === 'heartbeat-request' || message.type === 'snapshot-request')
    ) {
      this.eagerMessages.push(message);
    } else {
      this.messages.push(message);
    }
  }

  private softStateChanged(): boolean {
    return this.lastSoftState.role !== this.role || this.lastSoftState.leader !== this.leader;
  }

  private hardStateChanged(): boolean {
    const hs = this.lastHardState;
    return hs.term !== this.term || hs.vote !== this.vote || hs.commit !== this.durableCommit();
  }

  /**
   * The commit index to persist: never beyond the entries already durable
   * before this Ready. Otherwise a torn write that kept the hard state but
   * lost the entries after a truncation would leave a persisted commit
   * pointing at the old, divergent entries, which a restart would apply.
   * This way any write order within a Ready is safe.
   */
  private durableCommit(): number {
    return Math.min(this.commit, this.stableIndex);
  }
}

/** Whether an AppendRequest's entries are contiguous after prevLogIndex with non-decreasing terms up to its term. */
function entriesFollow(m: AppendRequest): boolean {
  let expectedIndex = m.prevLogIndex + 1;
  let lastTerm = m.prevLogTerm;
  for (const e of m.entries) {
    if (e.index !== expectedIndex || e.term < lastTerm || e.term > m.term) return false;
    expectedIndex += 1;
    lastTerm = e.term;
  }
  return true;
}

function configState(entry: Entry): ConfigurationState {
  return { index: entry.index, configuration: decodeConfiguration(entry.data) };
}

function assertNever(value: never): never {
  throw new Error(`unexpected message ${JSON.stringify(value)}`);
}
