/**
 * The Ready loop: drives the pure core (`node/raft/`) with real time, real
 * disk and real network, and runs the KV state machine on what it commits.
 *
 * One processing pass at a time (types.ts ordering rules):
 *   1. hand the queued client proposals to the core as one batch, and the
 *      queued linearizable reads as one ReadIndex round (thesis §6.4);
 *   2. take the Ready; send `eagerMessages` (leader AppendEntries) at once,
 *      so followers write to disk while we do;
 *   3. apply committed entries, answer the clients waiting on them, serve
 *      reads whose index is applied: committed entries are durable on a
 *      majority already, so this need not wait for our own write (a
 *      snapshot from the leader is the exception: installed after step 4);
 *   4. persist snapshot + entries + hard state with ONE fdatasync; while
 *      the leader waits for it, entries that followers' acknowledgements
 *      commit are applied and answered at once (applyCommittedEarly);
 *   5. send `messages` (votes and append replies leave only after their
 *      state is durable, §5.1);
 *   6. advance; maybe snapshot and compact.
 * Requests arriving while a pass waits for the disk accumulate and share the
 * next pass's fsync: that is the group commit that gives throughput.
 */
import { RawNode } from './raft/index.ts';
import { voterIds } from './raft/configuration.ts';
import type {
  ConfChange,
  ConfChangeRefusal,
  Entry,
  Message,
  MemberRole,
  NodeId,
  RaftConfig,
  RaftStatus,
  Ready,
  Role,
  Snapshot,
} from './raft/types.ts';
import {
  decodeCommand,
  encodeCommand,
  KvStateMachine,
  type Command,
  type CommandResult,
  type ReadResult,
} from './kv.ts';
import { NodeStorage } from './storage/storage.ts';
import { tickConfig } from './config.ts';
import type { BugName } from './planted-bugs.ts';
import { LeaderLease } from './lease.ts';
import type { Logger } from './logger.ts';
import { trace, traceOn } from './trace.ts';
import { PeerTransport } from './transport.ts';

/** How a client request ended, as far as this node knows. */
export type Outcome =
  | { readonly type: 'applied'; readonly result: CommandResult }
  | { readonly type: 'read'; readonly result: ReadResult }
  /** Certainly not applied: this node is not the leader (or stopped leading before proposing). */
  | { readonly type: 'not-leader'; readonly leader: NodeId | null }
  /** Certainly not applied: too many requests waiting. */
  | { readonly type: 'overloaded' }
  /** May or may not have been applied (proposed, then leadership was lost, the entry was replaced, or time ran out). */
  | { readonly type: 'unknown'; readonly timedOut: boolean; readonly reason: string };

/** How a membership change ended, as far as this node knows. */
export type MemberChangeOutcome =
  /** The configuration entry committed (and this node applied it). */
  | { readonly type: 'committed' }
  /** Certainly not started: this node is not the leader. */
  | { readonly type: 'not-leader'; readonly leader: NodeId | null }
  /** Certainly not started: the core refused it (types.ts ConfChangeRefusal). */
  | { readonly type: 'refused'; readonly reason: ConfChangeRefusal }
  /** In the log, fate unknown (leadership lost, the entry replaced, or time ran out). */
  | { readonly type: 'unknown'; readonly timedOut: boolean; readonly reason: string };

/** `GET /members`: the configuration in use (the latest in this node's log) and, on the leader, each member's match index. */
export interface MembersView {
  readonly leader: NodeId | null;
  readonly term: number;
  readonly configIndex: number;
  /** The configuration in use is not known committed yet. */
  readonly pending: boolean;
  readonly members: readonly {
    readonly id: NodeId;
    readonly url: string;
    readonly role: MemberRole;
    readonly matchIndex: number | null;
  }[];
}

/** Configuration of one running node. */
export interface RuntimeOptions {
  readonly id: NodeId;
  /**
   * The address book: how THIS node reaches each id (possibly through a
   * proxy), including its own. A member missing from it is reached by the
   * url its configuration entry records.
   */
  readonly peerUrls: ReadonlyMap<NodeId, string>;
  /**
   * The voters of the configuration at log index 0, used while neither the
   * log nor a snapshot holds one (`--initial-members`). Default: every id of
   * `peerUrls`. A node not among them starts as a non-member.
   */
  readonly initialMembers?: readonly NodeId[];
  readonly dataDir: string;
  readonly clusterId: string;
  readonly electionTimeoutMs: number;
  readonly heartbeatMs: number;
  /** Snapshot and compact after this many applied entries. */
  readonly snapshotEvery: number;
  /** Longest a client waits for its proposal or read before "unknown". */
  readonly requestTimeoutMs: number;
  readonly log: Logger;
  readonly random?: () => number;
  /** Linearizable reads through ReadIndex (default) or, while the leader lease holds, locally (thesis §6.4.1). */
  readonly readMode?: 'index' | 'lease';
  /** A planted bug (node/planted-bugs.ts, `--bug`); null or absent = the correct node. */
  readonly bug?: BugName | null;
  /**
   * Ignore vote requests for one election timeout after start (default true; see RaftConfig.quietAtStart). Off only
   * for experiments that need a restarted voter to answer at once; leases rely on it.
   */
  readonly restartQuiet?: boolean;
}

/** Something a client waits for, until its deadline (Date.now() ms). */
interface Waiting<T> {
  readonly deadlineMs: number;
  readonly resolve: (outcome: T) => void;
}

/** A proposal in the log at the index it is filed under, proposed in `term`. */
interface PendingProposal extends Waiting<Outcome> {
  readonly term: number;
}

interface QueuedProposal extends Waiting<Outcome> {
  readonly data: string;
}

/** A configuration entry proposed in `term` at the index it is filed under. */
interface PendingConfChange extends Waiting<MemberChangeOutcome> {
  readonly term: number;
}

/** A client waiting until the committed configuration makes `id` a voter. */
interface VoterWaiter extends Waiting<boolean> {
  readonly id: NodeId;
}

interface PendingRead extends Waiting<Outcome> {
  readonly key: string;
}

type UnknownOutcome = { readonly type: 'unknown'; readonly timedOut: boolean; readonly reason: string };

/** Answers every waiter filed at an index up to `upTo` "unknown": a snapshot from the leader replaced those entries. */
function resolveCoveredBySnapshot(waiting: Map<number, Waiting<UnknownOutcome>>, upTo: number): void {
  for (const [index, p] of waiting) {
    if (index > upTo) continue;
    waiting.delete(index);
    p.resolve({ type: 'unknown', timedOut: false, reason: `entry ${index} was covered by a snapshot from the leader` });
  }
}

/** CPU time of this process so far (user and system, microseconds): a load-independent cost measure for benchmarks. */
function cpuMicros(): { cpuUserMicros: number; cpuSystemMicros: number } {
  const u = process.cpuUsage();
  return { cpuUserMicros: u.user, cpuSystemMicros: u.system };
}

/** Requests waiting in one node beyond which new ones are refused (503 overloaded, certainly not applied). */
const WAITING_REQUESTS_MAX = 50_000;

/** A follower fdatasyncs batches of at most this many entries on its event loop thread (see `pass`). */
const INLINE_SYNC_MAX_ENTRIES = 4;

/** A Raft KV node: storage, core, transport and state machine wired together. */
export class NodeRuntime {
  readonly id: NodeId;
  readonly tickMs: number;
  private readonly raw: RawNode;
  private readonly storage: NodeStorage;
  readonly transport: PeerTransport;
  private readonly kv: KvStateMachine;
  private readonly log: Logger;
  private readonly options: RuntimeOptions;
  private ticker: NodeJS.Timeout | undefined;

  private role: Role = 'follower';
  private leader: NodeId | null = null;
  private appliedIndex: number;
  private appliedTerm: number;
  private snapshotIndex: number;

  private proposalQueue: QueuedProposal[] = [];
  private readonly pendingProposals = new Map<number, PendingProposal>();
  /** Configuration entries proposed here, by index, resolved as they are applied. */
  private readonly pendingConfChanges = new Map<number, PendingConfChange>();
  private voterWaiters: VoterWaiter[] = [];
  /** Index of the configuration whose members the transport was last given routes to. */
  private routedConfigIndex = -1;
  private readQueue: PendingRead[] = [];
  private readRoundSeq = 0;
  /** ReadIndex rounds asked of the core, by context. */
  private readonly readRounds = new Map<string, PendingRead[]>();
  /** When each ReadIndex round was asked for (ms, performance.now()): the start of the lease it confirms. */
  private readonly readRoundStartMs = new Map<string, number>();
  /** `--read-mode lease` only. */
  private readonly lease: LeaderLease | null;
  /** Rounds confirmed by the core, waiting for apply to reach `index` (FIFO, indexes non-decreasing). */
  private readonly readsAwaitingApply: { index: number; reads: PendingRead[] }[] = [];

  private passScheduled = false;
  private passRunning: Promise<void> | null = null;
  private stopped = false;
  private failed: Error | null = null;
  private lastSendErrorLogMs = new Map<NodeId, number>();

  /** Counters for /status. */
  readonly stats = { passes: 0, entriesPersisted: 0, entriesApplied: 0, snapshotsTaken: 0, snapshotsInstalled: 0 };

  private constructor(
    options: RuntimeOptions,
    storage: NodeStorage,
    raw: RawNode,
    snapshot: Snapshot | null,
    tickMs: number,
    electionTicks: number,
  ) {
    this.id = options.id;
    this.kv = new KvStateMachine({ ignoreSessions: options.bug === 'no-dedup' });
    this.lease =
      options.readMode === 'lease' || options.bug === 'lease-without-clock-bound'
        ? new LeaderLease({
            clock: options.bug === 'lease-without-clock-bound' ? 'ticks' : 'wall',
            electionTimeoutMs: options.electionTimeoutMs,
            electionTicks,
            tickMs,
          })
        : null;
    this.options = options;
    this.log = options.log;
    this.storage = storage;
    this.raw = raw;
    this.tickMs = tickMs;
    if (snapshot !== null) this.kv.restore(snapshot.data);
    this.appliedIndex = snapshot?.meta.index ?? 0;
    this.appliedTerm = snapshot?.meta.term ?? 0;
    this.snapshotIndex = this.appliedIndex;
    this.transport = new PeerTransport({
      selfId: options.id,
      peerUrls: options.peerUrls,
      clusterId: options.clusterId,
      // Generous: a slowed or bandwidth-limited link should deliver late
      // rather than fail forever; a dead peer costs only queued messages.
      messageTimeoutMs: Math.max(2000, 2 * options.electionTimeoutMs),
      onSendError: (peer, reason) => this.logSendError(peer, reason),
      onSnapshotProgress: (peer) => this.raw.reportSnapshotProgress(peer),
    });
  }

  /** Opens the data directory (recovering, or refusing on corruption) and starts ticking. */
  static open(options: RuntimeOptions): NodeRuntime {
    const opened = NodeStorage.open(options.dataDir, {
      noFsync: options.bug === 'no-fsync',
      forgetVote: options.bug === 'vote-twice',
      skipFsync: options.bug === 'fsync-skipped',
    });
    for (const t of opened.truncations) {
      options.log.warn('wal-torn-tail-truncated', {
        file: t.file,
        offset: t.offset,
        droppedBytes: t.droppedBytes,
        reason: t.reason,
      });
    }
    const { recovered } = opened;
    options.log.info('recovered', {
      term: recovered.hardState.term,
      vote: recovered.hardState.vote,
      commit: recovered.hardState.commit,
      snapshotIndex: recovered.snapshot?.meta.index ?? 0,
      entries: recovered.entries.length,
      lastIndex: (recovered.snapshot?.meta.index ?? 0) + recovered.entries.length,
    });
    const { tickMs, electionTicks, heartbeatTicks } = tickConfig(options.electionTimeoutMs, options.heartbeatMs);
    const config: RaftConfig = {
      id: options.id,
      peers: [...(options.initialMembers ?? options.peerUrls.keys())].sort(),
      peerUrls: Object.fromEntries(options.peerUrls),
      electionTicks,
      heartbeatTicks,
      random: options.random ?? Math.random,
      preVote: true,
      checkQuorum: true,
      quietAtStart: options.restartQuiet !== false,
      maxInflightAppends: 64,
      maxEntriesPerAppend: 1024,
      // The core's own planted bugs (raft/types.ts PlantedBug); the others live in this folder.
      plantedBugs: options.bug === 'commit-old-term' || options.bug === 'config-overlap' ? [options.bug] : [],
    };
    const raw = new RawNode(config, recovered);
    const node = new NodeRuntime(options, opened.storage, raw, recovered.snapshot, tickMs, config.electionTicks);
    node.routeMembers();
    node.ticker = setInterval(() => node.tick(), tickMs);
    node.schedule();
    return node;
  }

  private tick(): void {
    if (this.stopped) return;
    this.raw.tick();
    this.lease?.tick();
    this.expireWaiting(Date.now());
    this.schedule();
  }

  /** Hands peer messages to the core. */
  stepMessages(messages: readonly Message[]): void {
    if (this.stopped) return;
    for (const m of messages) {
      if (traceOn) this.traceMessage(m);
      this.raw.step(m);
    }
    if (this.passRunning !== null) this.applyCommittedEarly();
    this.schedule();
  }

  private traceMessage(m: Message): void {
    if (m.type === 'append-request' && m.entries.length > 0)
      trace(this.id, 'append-in', m.entries[m.entries.length - 1]?.index);
    else if (m.type === 'append-response') trace(this.id, 'reply-in', m.matchIndex);
  }

  /**
   * Leader only, while a pass waits for its own disk write: applies what the
   * core has just committed and answers its clients now. An entry stored by
   * two followers is on a majority of three without us, so it is committed
   * (§5.3) and survives our crash; the core counts the leader only once its
   * own write is durable, so followers' acknowledgements alone move the
   * commit index here. Otherwise a put would wait for the slower of our
   * fdatasync and the first follower's, instead of the second fastest of the
   * three. The next Ready's committedEntries repeat these entries; apply
   * skips what is applied.
   */
  private applyCommittedEarly(): void {
    if (this.role !== 'leader') return;
    const core = this.raw.status();
    if (core.role !== 'leader' || core.commitIndex <= this.appliedIndex) return;
    this.applyEntries(this.raw.logEntries(this.appliedIndex + 1, core.commitIndex + 1));
    this.serveReads();
  }

  /** Whether this node currently believes it leads. */
  isLeader(): boolean {
    return this.role === 'leader';
  }

  /** The leader this node follows (itself when leading), null if unknown. */
  knownLeader(): NodeId | null {
    return this.leader;
  }

  /** Proposes a command through Raft and resolves once it is applied (or the outcome is known to be unknown). */
  submit(cmd: Command): Promise<Outcome> {
    if (this.stopped) return Promise.resolve({ type: 'not-leader', leader: null });
    if (this.role !== 'leader') return Promise.resolve({ type: 'not-leader', leader: this.leader });
    if (this.waitingCount() >= WAITING_REQUESTS_MAX) return Promise.resolve({ type: 'overloaded' });
    return new Promise((resolve) => {
      this.proposalQueue.push({
        data: encodeCommand(cmd),
        deadlineMs: Date.now() + this.options.requestTimeoutMs,
        resolve,
      });
      this.schedule();
    });
  }

  /** Reads a key: linearizable through ReadIndex (thesis §6.4) unless `stale`. */
  read(key: string, stale: boolean): Promise<Outcome> {
    if (stale) return Promise.resolve({ type: 'read', result: this.kv.get(key) });
    if (this.stopped) return Promise.resolve({ type: 'not-leader', leader: null });
    if (this.role !== 'leader') return Promise.resolve({ type: 'not-leader', leader: this.leader });
    if (this.waitingCount() >= WAITING_REQUESTS_MAX) return Promise.resolve({ type: 'overloaded' });
    if (this.lease?.valid(performance.now()) === true) {
      // Thesis §6.4.1: while the lease holds no other leader can exist, so
      // our commit index is the latest; answer once it is applied.
      return new Promise((resolve) => {
        const read = { key, deadlineMs: Date.now() + this.options.requestTimeoutMs, resolve };
        this.readsAwaitingApply.push({ index: this.raw.status().commitIndex, reads: [read] });
        this.serveReads();
      });
    }
    return new Promise((resolve) => {
      this.readQueue.push({ key, deadlineMs: Date.now() + this.options.requestTimeoutMs, resolve });
      this.schedule();
    });
  }

  /** The longest a client request waits (ms). */
  get requestTimeoutMs(): number {
    return this.options.requestTimeoutMs;
  }

  /** `GET /members` from this node's view. */
  members(): MembersView {
    const core = this.raw.status();
    return {
      leader: this.leader,
      term: core.term,
      configIndex: core.configuration.index,
      pending: this.raw.hasPendingConfChange(),
      members: this.raw.memberProgress().map((m) => ({ id: m.id, url: m.url, role: m.role, matchIndex: m.matchIndex })),
    };
  }

  /**
   * Starts a single-server membership change (leader only) and resolves once
   * its configuration entry is applied here, or its fate is unknown by
   * `deadlineMs` (Date.now() ms).
   */
  changeMembers(change: ConfChange, deadlineMs: number): Promise<MemberChangeOutcome> {
    if (this.stopped || this.role !== 'leader')
      return Promise.resolve({ type: 'not-leader', leader: this.stopped ? null : this.leader });
    const result = this.raw.proposeConfChange(change);
    if (!result.ok) {
      return Promise.resolve(
        result.reason === 'not-leader'
          ? { type: 'not-leader', leader: result.leader }
          : { type: 'refused', reason: result.reason },
      );
    }
    this.log.info('member-change-proposed', { change, index: result.index, term: result.term });
    return new Promise((resolve) => {
      this.pendingConfChanges.set(result.index, { term: result.term, deadlineMs, resolve });
      this.schedule();
    });
  }

  /** Resolves true once the committed configuration has `id` as a voter, false at `deadlineMs`. */
  waitForVoter(id: NodeId, deadlineMs: number): Promise<boolean> {
    if (this.committedVoters().includes(id)) return Promise.resolve(true);
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => this.voterWaiters.push({ id, deadlineMs, resolve }));
  }

  /** Whether `id` is in the configuration this node uses (committed or not). */
  isMember(id: NodeId): boolean {
    return this.raw.configuration().configuration.members.some((m) => m.id === id);
  }

  private committedVoters(): NodeId[] {
    return voterIds(this.raw.configurationAt(this.appliedIndex));
  }

  private wakeVoterWaiters(): void {
    if (this.voterWaiters.length === 0) return;
    const voters = this.committedVoters();
    this.voterWaiters = this.voterWaiters.filter((w) => {
      if (!voters.includes(w.id)) return true;
      w.resolve(true);
      return false;
    });
  }

  /** Gives the transport a route to every member the address book lacks, by the url its configuration records. */
  private routeMembers(): void {
    const state = this.raw.configuration();
    if (state.index === this.routedConfigIndex) return;
    this.routedConfigIndex = state.index;
    for (const member of state.configuration.members) {
      if (member.id === this.id || this.options.peerUrls.has(member.id) || this.transport.hasPeer(member.id)) continue;
      try {
        this.transport.addPeer(member.id, member.url);
        this.log.info('member-route', { id: member.id, url: member.url });
      } catch (err) {
        this.log.warn('member-unreachable', { id: member.id, url: member.url, error: (err as Error).message });
      }
    }
  }

  /** Status for `GET /status`. */
  status(): RaftStatus & {
    bug?: BugName;
    readMode: 'index' | 'lease';
    logEntries: number;
    appliedIndex: number;
    keys: number;
    waiting: number;
    stats: Record<string, number>;
  } {
    const s = this.raw.status();
    return {
      ...s,
      role: this.role,
      leader: this.leader,
      ...(this.options.bug !== undefined && this.options.bug !== null ? { bug: this.options.bug } : {}),
      readMode: this.lease !== null ? 'lease' : 'index',
      appliedIndex: this.appliedIndex,
      snapshotIndex: this.snapshotIndex,
      logEntries: s.lastIndex - s.snapshotIndex,
      keys: this.kv.size,
      waiting: this.waitingCount(),
      stats: { ...this.stats, ...this.storage.stats(), ...this.transport.stats, ...cpuMicros() },
    };
  }

  /** The fatal error that stopped this node (a storage failure), or null. */
  get failure(): Error | null {
    return this.failed;
  }

  /** Stops ticking, finishes the pass in progress (its fsync), closes storage and transport. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.ticker !== undefined) clearInterval(this.ticker);
    if (this.passRunning !== null) await this.passRunning.catch(() => {});
    this.failAllWaiting('node is shutting down');
    await this.transport.close();
    try {
      this.storage.close();
    } catch (err) {
      this.log.error('storage-close-failed', { error: (err as Error).message });
    }
  }

  private waitingCount(): number {
    return (
      this.proposalQueue.length +
      this.pendingProposals.size +
      this.readQueue.length +
      this.readRounds.size +
      this.readsAwaitingApply.length
    );
  }

  private schedule(): void {
    if (this.passScheduled || this.stopped) return;
    this.passScheduled = true;
    // setImmediate, not a microtask: every request that arrived in this turn
    // of the event loop joins the batch first.
    setImmediate(() => {
      this.passScheduled = false;
      if (this.passRunning !== null || this.stopped) return;
      this.passRunning = this.runPasses().finally(() => {
        this.passRunning = null;
        if (this.needsPass()) this.schedule();
      });
    });
  }

  private needsPass(): boolean {
    return !this.stopped && (this.proposalQueue.length > 0 || this.readQueue.length > 0 || this.raw.hasReady());
  }

  private async runPasses(): Promise<void> {
    try {
      while (this.needsPass()) await this.pass();
    } catch (err) {
      this.fail(err as Error);
    }
  }

  private async pass(): Promise<void> {
    this.stats.passes++;
    this.submitQueued();
    if (!this.raw.hasReady()) return;
    const ready = this.raw.ready();
    this.routeMembers();
    const lastNewIndex = ready.entries[ready.entries.length - 1]?.index ?? 0;
    if (traceOn) trace(this.id, 'pass', lastNewIndex);
    if (ready.softState !== null) this.onSoftState(ready);
    this.transport.send(ready.eagerMessages);
    if (traceOn && ready.eagerMessages.length > 0) trace(this.id, 'frames-sent', lastNewIndex);
    // Committed entries are already durable on a majority (§5.3, §5.4), so
    // applying them and answering their clients does not wait for this
    // Ready's own write (as etcd's server applies in parallel with its disk
    // write). Otherwise clients of batch N would wait for the fsync of batch
    // N+1 as well. A snapshot from the leader is the exception: it replaces
    // the state machine and is installed only once durable.
    const applyEarly = ready.snapshot === null;
    if (applyEarly) this.applyAndServe(ready);
    if (traceOn) trace(this.id, 'persist-start', lastNewIndex);
    // A follower's write is most of a put's latency (leader -> follower disk
    // -> leader); for a small batch the thread pool's round trip adds about
    // 25 us to it and buys nothing, so the follower syncs on this thread. A
    // large batch keeps the pool, so the next one can be decoded meanwhile.
    // The leader always uses the pool: its event loop must read the replies
    // that, more often than its own disk, complete the commit.
    const syncOnThisThread = this.role !== 'leader' && ready.entries.length <= INLINE_SYNC_MAX_ENTRIES;
    await this.storage.persist(ready, { syncOnThisThread });
    if (traceOn) trace(this.id, 'persist-done', lastNewIndex);
    this.stats.entriesPersisted += ready.entries.length;
    this.transport.send(ready.messages);
    if (traceOn && ready.messages.length > 0) trace(this.id, 'reply-sent', lastNewIndex);
    if (ready.snapshot !== null) this.installSnapshot(ready.snapshot);
    if (!applyEarly) this.applyAndServe(ready);
    this.raw.advance(ready);
    // The core compacts only up to what it has seen applied; entries applied
    // early are snapshotted once the next Ready has carried them.
    const snapshotDue = this.appliedIndex - this.snapshotIndex >= this.options.snapshotEvery;
    if (snapshotDue && this.appliedIndex <= this.raw.status().appliedIndex) await this.takeSnapshot();
  }

  /** Applies committed entries, answers their clients, and serves reads whose index is applied. */
  private applyAndServe(ready: Ready): void {
    this.applyEntries(ready.committedEntries);
    for (const rs of ready.readStates) {
      const reads = this.readRounds.get(rs.context);
      if (reads === undefined) continue;
      this.readRounds.delete(rs.context);
      const startMs = this.readRoundStartMs.get(rs.context);
      this.readRoundStartMs.delete(rs.context);
      // A majority acknowledged us after the round started (thesis §6.4.1).
      if (startMs !== undefined && this.role === 'leader') this.lease?.confirmed(startMs);
      this.readsAwaitingApply.push({ index: rs.index, reads });
    }
    for (const ctx of ready.droppedReads) {
      const reads = this.readRounds.get(ctx);
      this.readRounds.delete(ctx);
      this.readRoundStartMs.delete(ctx);
      for (const r of reads ?? []) r.resolve({ type: 'not-leader', leader: this.leader });
    }
    this.serveReads();
  }

  /** Gives queued proposals to the core as one batch and queued reads as one ReadIndex round. */
  private submitQueued(): void {
    if (this.proposalQueue.length > 0) {
      const batch = this.proposalQueue;
      this.proposalQueue = [];
      const res = this.raw.proposeBatch(batch.map((p) => p.data));
      if (!res.ok) {
        // Never entered the log: certainly not applied.
        for (const p of batch) p.resolve({ type: 'not-leader', leader: res.leader });
      } else {
        const firstIndex = res.index - batch.length + 1;
        batch.forEach((p, i) => {
          const index = firstIndex + i;
          // An older proposal waiting on this index was truncated away (we
          // lost leadership, then won again and reused the index, §5.3).
          this.pendingProposals
            .get(index)
            ?.resolve({ type: 'unknown', timedOut: false, reason: `entry ${index} was replaced by a later term` });
          this.pendingProposals.set(index, { term: res.term, deadlineMs: p.deadlineMs, resolve: p.resolve });
        });
      }
    }
    if (this.readQueue.length > 0) {
      const reads = this.readQueue;
      this.readQueue = [];
      const context = `${this.id}:${++this.readRoundSeq}`;
      // Every read in this round arrived before the round started, so one
      // leadership confirmation serves them all (thesis §6.4).
      const startMs = performance.now();
      const res = this.raw.readIndex(context);
      if (!res.ok) {
        for (const r of reads) r.resolve({ type: 'not-leader', leader: res.leader });
      } else {
        this.readRounds.set(context, reads);
        if (this.lease !== null) this.readRoundStartMs.set(context, startMs);
      }
    }
  }

  private onSoftState(ready: Ready): void {
    const soft = ready.softState;
    if (soft === null) return;
    const prevRole = this.role;
    this.role = soft.role;
    this.leader = soft.leader;
    const term = ready.hardState?.term ?? this.raw.status().term;
    this.log.info('role', { role: soft.role, leader: soft.leader, term, previousRole: prevRole });
    if (soft.role === 'candidate') this.log.info('election-started', { term });
    if (soft.role === 'leader' && prevRole !== 'leader') {
      this.log.info('elected', { term });
      this.lease?.becameLeader(performance.now());
    }
    if (prevRole === 'leader' && soft.role !== 'leader') {
      this.lease?.lostLeadership();
      // Reads not yet confirmed can no longer be: nothing was applied by them.
      for (const r of this.readQueue) r.resolve({ type: 'not-leader', leader: this.leader });
      this.readQueue = [];
      // Proposals are left waiting: they may still commit under the next
      // leader, and applying them here tells their fate exactly (same index
      // and term: applied; otherwise replaced). The deadline bounds the wait.
      for (const p of this.proposalQueue) p.resolve({ type: 'not-leader', leader: this.leader });
      this.proposalQueue = [];
    }
  }

  private applyEntries(entries: readonly Entry[]): void {
    let configApplied = false;
    for (const e of entries) {
      if (e.index <= this.appliedIndex) continue;
      let result: CommandResult | null = null;
      if (e.kind === 'normal') result = this.kv.apply(decodeCommand(e.data));
      this.appliedIndex = e.index;
      this.appliedTerm = e.term;
      this.stats.entriesApplied++;
      if (e.kind === 'config') {
        configApplied = true;
        this.log.info('member-change-committed', { index: e.index, term: e.term, configuration: e.data });
        const change = this.pendingConfChanges.get(e.index);
        if (change !== undefined) {
          this.pendingConfChanges.delete(e.index);
          change.resolve(
            change.term === e.term
              ? { type: 'committed' }
              : {
                  type: 'unknown',
                  timedOut: false,
                  reason: `entry ${e.index} was replaced by a leader of term ${e.term}`,
                },
          );
        }
      }
      const pending = this.pendingProposals.get(e.index);
      if (pending === undefined) continue;
      this.pendingProposals.delete(e.index);
      if (pending.term === e.term && result !== null) {
        if (traceOn) trace(this.id, 'applied', e.index);
        pending.resolve({ type: 'applied', result });
      } else {
        // Log Matching (§5.3): a different term at our index means our entry
        // was replaced. Reported as unknown to stay on the safe side.
        pending.resolve({
          type: 'unknown',
          timedOut: false,
          reason: `entry ${e.index} was replaced by a leader of term ${e.term}`,
        });
      }
    }
    if (configApplied) this.wakeVoterWaiters();
  }

  private installSnapshot(snapshot: Snapshot): void {
    this.kv.restore(snapshot.data);
    this.stats.snapshotsInstalled++;
    this.log.info('snapshot-installed', { index: snapshot.meta.index, term: snapshot.meta.term, keys: this.kv.size });
    resolveCoveredBySnapshot(this.pendingProposals, snapshot.meta.index);
    resolveCoveredBySnapshot(this.pendingConfChanges, snapshot.meta.index);
    this.appliedIndex = snapshot.meta.index;
    this.appliedTerm = snapshot.meta.term;
    this.snapshotIndex = snapshot.meta.index;
    this.wakeVoterWaiters();
  }

  private serveReads(): void {
    while (this.readsAwaitingApply.length > 0) {
      const head = this.readsAwaitingApply[0];
      if (head === undefined || head.index > this.appliedIndex) break;
      this.readsAwaitingApply.shift();
      for (const r of head.reads) r.resolve({ type: 'read', result: this.kv.get(r.key) });
    }
  }

  private async takeSnapshot(): Promise<void> {
    const snapshot: Snapshot = { meta: { index: this.appliedIndex, term: this.appliedTerm }, data: this.kv.snapshot() };
    await this.storage.saveSnapshot(snapshot.meta, snapshot);
    this.raw.compact(snapshot);
    this.snapshotIndex = snapshot.meta.index;
    this.stats.snapshotsTaken++;
    this.log.info('snapshot-taken', {
      index: snapshot.meta.index,
      term: snapshot.meta.term,
      bytes: snapshot.data.length,
      keys: this.kv.size,
    });
  }

  private expireWaiting(nowMs: number): void {
    for (const [index, p] of this.pendingConfChanges) {
      if (p.deadlineMs > nowMs) continue;
      this.pendingConfChanges.delete(index);
      p.resolve({ type: 'unknown', timedOut: true, reason: `configuration entry ${index} not committed in time` });
    }
    if (this.voterWaiters.some((w) => w.deadlineMs <= nowMs)) {
      this.voterWaiters = this.voterWaiters.filter((w) => {
        if (w.deadlineMs > nowMs) return true;
        w.resolve(false);
        return false;
      });
    }
    for (const [index, p] of this.pendingProposals) {
      if (p.deadlineMs > nowMs) continue;
      this.pendingProposals.delete(index);
      p.resolve({
        type: 'unknown',
        timedOut: true,
        reason: `entry ${index} not applied within ${this.options.requestTimeoutMs} ms`,
      });
    }
    const expired = (r: { deadlineMs: number }): boolean => r.deadlineMs <= nowMs;
    for (const [ctx, reads] of this.readRounds) {
      if (!reads.some(expired)) continue;
      this.readRounds.delete(ctx);
      this.readRoundStartMs.delete(ctx);
      for (const r of reads) r.resolve({ type: 'unknown', timedOut: true, reason: 'leadership not confirmed in time' });
    }
    for (let i = this.readsAwaitingApply.length - 1; i >= 0; i--) {
      const round = this.readsAwaitingApply[i];
      if (round === undefined || !round.reads.some(expired)) continue;
      this.readsAwaitingApply.splice(i, 1);
      for (const r of round.reads)
        r.resolve({ type: 'unknown', timedOut: true, reason: 'read index not applied in time' });
    }
  }

  private failAllWaiting(reason: string): void {
    for (const p of this.pendingConfChanges.values()) p.resolve({ type: 'unknown', timedOut: false, reason });
    this.pendingConfChanges.clear();
    for (const w of this.voterWaiters.splice(0)) w.resolve(false);
    for (const p of this.proposalQueue) p.resolve({ type: 'not-leader', leader: null });
    this.proposalQueue = [];
    for (const r of this.readQueue) r.resolve({ type: 'not-leader', leader: null });
    this.readQueue = [];
    for (const p of this.pendingProposals.values()) p.resolve({ type: 'unknown', timedOut: false, reason });
    this.pendingProposals.clear();
    for (const reads of this.readRounds.values())
      for (const r of reads) r.resolve({ type: 'unknown', timedOut: false, reason });
    this.readRounds.clear();
    this.readRoundStartMs.clear();
    for (const round of this.readsAwaitingApply.splice(0))
      for (const r of round.reads) r.resolve({ type: 'unknown', timedOut: false, reason });
  }

  /** A storage failure: durability can no longer be promised, so the node stops (the process exits non-zero). */
  private fail(err: Error): void {
    if (this.failed !== null) return;
    this.failed = err;
    this.log.error('fatal', { error: err.message });
    this.onFatal?.(err);
  }

  /** Set by main.ts: called once on a fatal error. */
  onFatal: ((err: Error) => void) | undefined;

  private logSendError(peer: NodeId, reason: string): void {
    // At most one line per peer per second: an unreachable peer is expected under faults.
    const now = Date.now();
    if ((this.lastSendErrorLogMs.get(peer) ?? 0) + 1000 > now) return;
    this.lastSendErrorLogMs.set(peer, now);
    this.log.warn('peer-send-failed', { peer, reason });
  }
}
