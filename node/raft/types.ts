/**
 * The contract between the pure Raft core (`node/raft/`) and whoever drives it
 * (the node runtime in `node/`, the deterministic simulator in tests).
 *
 * The core does no I/O: time comes in as ticks, messages come in through
 * `step`, and everything the caller must do comes out as a `Ready` batch.
 * Ordering rules for a Ready (same as etcd-io/raft's, see raft paper §5 and
 * thesis §10.2.1):
 *   1. Persist `snapshot` (if any), then `entries` (appending; an entry whose
 *      index already exists in the log replaces it and every entry after it),
 *      then `hardState` (if any). One fsync may cover all three (group commit).
 *   2. Only after that persist: send `messages`.
 *      `eagerMessages` may be sent before or during the persist: they are the
 *      leader's AppendEntries, which depend only on state already durable
 *      (a leader's term and vote were persisted before it won the election),
 *      so the leader's own disk write runs in parallel with replication. The
 *      leader counts itself toward a commit only after `advance()`.
 *   3. Apply `committedEntries` in order (and `snapshot` to the state machine
 *      if present), and serve `readStates` once the applied index reaches
 *      their index.
 *   4. Call `advance(ready)`.
 * The core never hands out a second Ready before `advance` of the first.
 */

/** A node's id in the cluster, e.g. "n1". */
export type NodeId = string;

/**
 * One log entry. `data` is opaque to the core (the KV runtime stores an
 * encoded command there). `kind: 'empty'` is the no-op a new leader appends
 * at the start of its term (§8), so it can commit entries of earlier terms
 * and serve ReadIndex. `kind: 'config'` holds a whole cluster configuration
 * (thesis §4.1), `data` being `encodeConfiguration(...)`: it takes effect on
 * every server as soon as it is in its log, committed or not.
 */
export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly kind: EntryKind;
  readonly data: string;
}

export type EntryKind = 'normal' | 'empty' | 'config';

/**
 * A voter counts in elections and commit quorums; a learner (thesis §4.2.1,
 * "non-voting member") receives the log but counts in neither, so a new
 * server can catch up without making the cluster less available.
 */
export type MemberRole = 'voter' | 'learner';

/** One server of a configuration. `url` is opaque to the core: how the others may reach it. */
export interface Member {
  readonly id: NodeId;
  readonly url: string;
  readonly role: MemberRole;
}

/** A cluster configuration (thesis §4): the members, in id order. */
export interface Configuration {
  readonly members: readonly Member[];
}

/** One change of the single-server algorithm (thesis §4.1): each moves the set of voters by at most one. */
export type ConfChange =
  | { readonly type: 'add-learner'; readonly id: NodeId; readonly url: string }
  | { readonly type: 'promote'; readonly id: NodeId }
  | { readonly type: 'remove'; readonly id: NodeId };

/** Why a configuration change was refused (nothing entered the log). */
export type ConfChangeRefusal =
  /** Another change is in the log and not committed yet (thesis §4.1: one at a time). */
  | 'change-pending'
  /** The leader has not committed an entry of its term yet (the fix to the single-server algorithm, thesis §4.1 / raft-dev 2015). */
  | 'term-not-committed'
  | 'duplicate'
  | 'unknown-member'
  | 'not-learner'
  /** Removing the only voter would leave nobody to decide anything. */
  | 'last-voter';

export type ConfChangeResult =
  | { readonly ok: true; readonly index: number; readonly term: number }
  | { readonly ok: false; readonly reason: 'not-leader'; readonly leader: NodeId | null }
  | { readonly ok: false; readonly reason: ConfChangeRefusal };

/** The configuration a node uses (the latest in its log, thesis §4.1) and where it came from. */
export interface ConfigurationState {
  /** Log index of the entry that holds it (0: the bootstrap configuration; the snapshot index when it came from a snapshot). */
  readonly index: number;
  readonly configuration: Configuration;
}

/** A member as the leader sees it: its match index (null when this node does not lead or it is the leader's own). */
export interface MemberProgress extends Member {
  readonly matchIndex: number | null;
}

/** State that must be durable before messages that depend on it leave (§5.1, Figure 2 "Persistent state"). */
export interface HardState {
  readonly term: number;
  /** Candidate voted for in `term`, or null. */
  readonly vote: NodeId | null;
  /** Highest index known committed. Persisting it is an optimisation, not a safety requirement. */
  readonly commit: number;
}

/**
 * Metadata of a snapshot: the last entry it covers (§7) and the latest
 * configuration at that entry (thesis §5.1: "the last configuration as of
 * the last included index"), which the compacted log no longer holds.
 * A snapshot without one (written before membership changes existed) stands
 * for the bootstrap configuration.
 */
export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly config?: Configuration;
}

/** A snapshot of the state machine up to and including `meta.index`. `data` is opaque to the core. */
export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: string;
}

/** Fields every message carries. `term` is the sender's current term (§5.1). */
interface MessageBase {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

/** RequestVote (§5.2) or its PreVote variant (thesis §9.6: `term` is the term the sender would campaign in). */
export interface VoteRequest extends MessageBase {
  readonly type: 'vote-request';
  readonly preVote: boolean;
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
}

export interface VoteResponse extends MessageBase {
  readonly type: 'vote-response';
  readonly preVote: boolean;
  readonly granted: boolean;
}

/** AppendEntries (§5.3). An empty `entries` is a heartbeat that still carries the consistency check. */
export interface AppendRequest extends MessageBase {
  readonly type: 'append-request';
  readonly prevLogIndex: number;
  readonly prevLogTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}

/**
 * Reply to AppendRequest or InstallSnapshot. On success `matchIndex` is the
 * index of the last entry the follower now holds that matches the leader.
 * On a Log Matching failure the follower sends a hint so the leader can skip
 * a whole conflicting term at once (§5.3, "the follower can include the term
 * of the conflicting entry and the first index it stores for that term").
 */
export interface AppendResponse extends MessageBase {
  readonly type: 'append-response';
  readonly success: boolean;
  /** On a rejection, `matchIndex` carries the prevLogIndex that was rejected (so the leader can ignore stale rejections). */
  readonly matchIndex: number;
  readonly conflictIndex: number;
  readonly conflictTerm: number;
}

/**
 * Leader heartbeat used for CheckQuorum and ReadIndex (thesis §6.4): `context`
 * identifies the ReadIndex round it confirms, or is null. Carries the
 * leader's commit (capped at what the follower is known to hold).
 */
export interface HeartbeatRequest extends MessageBase {
  readonly type: 'heartbeat-request';
  readonly commit: number;
  readonly context: string | null;
}

export interface HeartbeatResponse extends MessageBase {
  readonly type: 'heartbeat-response';
  readonly context: string | null;
}

/** InstallSnapshot (§7), sent whole (no chunking: snapshots here are small). */
export interface SnapshotRequest extends MessageBase {
  readonly type: 'snapshot-request';
  readonly snapshot: Snapshot;
}

export type Message =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | HeartbeatRequest
  | HeartbeatResponse
  | SnapshotRequest;

export type MessageType = Message['type'];

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/** Volatile state a caller may want to observe (status endpoint, logs). */
export interface SoftState {
  readonly role: Role;
  /** The leader this node currently follows (or itself), null if unknown. */
  readonly leader: NodeId | null;
}

/**
 * A ReadIndex result (thesis §6.4): once the state machine has applied
 * `index`, the read identified by `context` may be served.
 */
export interface ReadState {
  readonly context: string;
  readonly index: number;
}

/** Everything the caller must do, in the order given in the file comment. */
export interface Ready {
  /** Set only when role or leader changed since the last Ready. */
  readonly softState: SoftState | null;
  /** Set only when it changed since the last Ready: persist before sending `messages`. */
  readonly hardState: HardState | null;
  /**
   * A snapshot received from the leader: persist, then load into the state
   * machine. It replaces the whole log: every stored entry is discarded
   * (entries after it arrive later in `entries`).
   */
  readonly snapshot: Snapshot | null;
  /** Entries to append to the durable log (may overwrite a conflicting suffix). */
  readonly entries: readonly Entry[];
  /** Send only after persisting the above. */
  readonly messages: readonly Message[];
  /** May be sent right away, in parallel with the persist (leader AppendEntries). */
  readonly eagerMessages: readonly Message[];
  /** Committed entries to apply to the state machine, in index order. */
  readonly committedEntries: readonly Entry[];
  /** ReadIndex results. */
  readonly readStates: readonly ReadState[];
  /** Contexts of ReadIndex requests that cannot be served here (lost leadership): answer "not leader". */
  readonly droppedReads: readonly string[];
}

/** A seeded source of randomness, injected so runs are reproducible. Returns a float in [0, 1). */
export type RandomSource = () => number;

export interface RaftConfig {
  readonly id: NodeId;
  /**
   * The voters of the bootstrap configuration (the configuration at log
   * index 0), used until the snapshot or the log holds one. `id` need not be
   * among them: a node outside it starts as a non-member that never
   * campaigns and joins only through configuration entries it receives.
   */
  readonly peers: readonly NodeId[];
  /** URLs of the bootstrap members, recorded in the configuration (opaque to the core). Default: empty strings. */
  readonly peerUrls?: Readonly<Record<NodeId, string>>;
  /**
   * Leader: promote a learner to voter once it has caught up (thesis
   * §4.2.1: its last replication round took less than an election timeout).
   * Default true. Whoever leads does it, so a learner whose adding leader
   * died is still promoted.
   */
  readonly autoPromote?: boolean;
  /** Base election timeout; each timeout is drawn from [base, 2*base) (§5.2). */
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly random: RandomSource;
  /** Thesis §9.6. Default true. */
  readonly preVote?: boolean;
  /** Thesis §6.2: a leader that has not heard from a majority within an election timeout steps down. Default true. */
  readonly checkQuorum?: boolean;
  /**
   * With checkQuorum: ignore vote requests for one election timeout after
   * start, as if a leader had just been heard from; the node may have
   * acknowledged one just before it stopped, and that leader's lease
   * (thesis §6.4.1) counts on it. Default true; scenario tests that build a
   * cluster in the middle of its history switch it off.
   */
  readonly quietAtStart?: boolean;
  /** Bound on AppendRequests in flight per follower while replicating (pipelining). */
  readonly maxInflightAppends?: number;
  /** Bound on entries per AppendRequest (batching). */
  readonly maxEntriesPerAppend?: number;
  /**
   * Deliberate bugs, for proving that the simulator and the chaos suite catch
   * them. Never set in production; empty by default.
   */
  readonly plantedBugs?: readonly PlantedBug[];
}

/**
 * A realistic mistake the core can be told to make:
 *  - `commit-old-term`: the leader commits entries of earlier terms by
 *    counting replicas (the Figure 8 error that §5.4.2 forbids), and, like
 *    implementations that make that mistake, appends no empty entry at the
 *    start of its term (§8), so the old entries are not carried to a
 *    majority together with a current-term entry that would commit them
 *    legitimately;
 *  - `read-without-quorum`: ReadIndex answers at once with the leader's
 *    commit index, without the heartbeat round that confirms leadership
 *    (thesis §6.4 step 3), so a deposed leader serves stale reads;
 *  - `config-overlap`: the leader starts a configuration change while
 *    another is uncommitted and before it has committed an entry of its own
 *    term (both checks of thesis §4.1 skipped), so two changes can overlap
 *    and two disjoint majorities can exist (the single-server bug).
 */
export type PlantedBug = 'commit-old-term' | 'read-without-quorum' | 'config-overlap';

/** What the caller recovered from durable storage at start. */
export interface RecoveredState {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | null;
  /** Entries after the snapshot, contiguous. */
  readonly entries: readonly Entry[];
}

export type ProposeResult =
  | { readonly ok: true; readonly index: number; readonly term: number }
  | { readonly ok: false; readonly reason: 'not-leader'; readonly leader: NodeId | null };

export type ReadIndexResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'not-leader'; readonly leader: NodeId | null };

export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly leader: NodeId | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly snapshotIndex: number;
  readonly lastIndex: number;
  /** Term of the last log entry (§5.4.1's "up-to-date" compares this first). */
  readonly lastTerm: number;
  /** Who this node voted for in `term` (Figure 2 votedFor), or null. */
  readonly vote: NodeId | null;
  /** The configuration in use (the latest in the log) and its index. */
  readonly configuration: { readonly index: number; readonly voters: NodeId[]; readonly learners: NodeId[] };
}
