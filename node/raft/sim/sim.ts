import { RawNode } from '../raw-node.ts';
import { MemoryStorage } from '../testing/memory-storage.ts';
import { decodeConfiguration, voterIds } from '../configuration.ts';
import type {
  ConfChange,
  Configuration,
  Entry,
  Message,
  NodeId,
  PlantedBug,
  RaftConfig,
  Ready,
  Snapshot,
} from '../types.ts';
import { EventQueue } from './event-queue.ts';
import { Prng } from './prng.ts';

/**
 * A deterministic simulator of a Raft cluster built from RawNodes (in the
 * spirit of FoundationDB's simulation and TigerBeetle's VOPR): one seed drives
 * every choice (timing, message loss, delay, reordering, duplication,
 * partitions, crashes that lose unsynced writes, client proposals and reads,
 * compaction). Safety invariants are checked after every event; then the
 * faults heal and the cluster must elect a leader and commit a new entry on
 * every node within a bound (liveness).
 *
 * Per seed it also switches on what the node runtime does beyond the core:
 *  - early apply: a Ready's committed entries are applied when the Ready is
 *    taken, before its own write is durable, and a leader applies what its
 *    followers' acknowledgements commit while its write is pending
 *    (node/runtime.ts `applyCommittedEarly`);
 *  - leader leases (thesis §6.4.1): every node's clock runs at its own rate
 *    within a drift bound D; a leader whose ReadIndex round started at local
 *    time s holds a lease until s + G / D, G being the true time a follower
 *    surely ignores votes after hearing from it ((electionTicks - 1) of the
 *    shortest tick), and answers reads at its commit index while it holds.
 *    Invariant: a lease read is never older than an entry committed before
 *    it began;
 *  - membership changes (thesis ch. 4, half the seeds unless forced): the
 *    cluster starts with some ids outside its configuration; the nemesis
 *    adds them as learners (sometimes with a wiped data directory, once no
 *    log anywhere names them) and removes members, the leader too, while
 *    partitions and crashes go on. Invariants: at most one configuration
 *    entry beyond the committed prefix in any log (one change at a time),
 *    consecutive configurations differ by at most one voter, only voters
 *    campaign, and a leader whose removal committed does not lead; liveness
 *    after healing is asked of the members of the final configuration.
 */

/** A storage-level bug the simulator can plant, to prove it catches one. */
export type SimStorageBug = 'forget-vote';

export interface SimOptions {
  readonly seed: number;
  /** Cluster size (3 or 5 are typical). */
  readonly nodes: number;
  /** Events to run with faults on, before healing. */
  readonly steps: number;
  /** Bugs planted in the core (types.ts PlantedBug). */
  readonly plantedBugs?: readonly PlantedBug[];
  /** A bug planted in the simulated storage. */
  readonly storageBug?: SimStorageBug | null;
  /** Liveness bound after healing, in election timeouts. Default 30. */
  readonly healElectionTimeouts?: number;
  /** Collects a line per event, included in the failure message (slow; for debugging one seed). */
  readonly trace?: boolean;
  /** How many trace lines a failure message includes. Default 40. */
  readonly traceTail?: number;
  /** Planted lease bug: leases of five election timeouts and no wait after election (must be caught). */
  readonly leaseTooLong?: boolean;
  /** Membership changes on (true), off (false), or drawn per seed (undefined: half the seeds). */
  readonly membership?: boolean;
  /**
   * Check the structural rule "one configuration change at a time" (default
   * true). Off only to show that the planted `config-overlap` bug also breaks
   * the protocol's end-to-end guarantees, not just the rule it skips.
   */
  readonly oneChangeCheck?: boolean;
}

export interface SimStats {
  readonly seed: number;
  readonly events: number;
  readonly leaders: number;
  readonly maxTerm: number;
  readonly committed: number;
  readonly crashes: number;
  readonly readsServed: number;
  readonly snapshotsInstalled: number;
  readonly messagesDelivered: number;
  /** Reads answered from a leader lease, and entries a leader applied before its own write was durable. */
  readonly leaseReads: number;
  readonly earlyApplied: number;
  /** Simulated ticks from healing until every member applied the heal marker. */
  readonly healTicks: number;
  /** Configuration changes the nemesis started (accepted by a leader), and data directories it wiped before a re-add. */
  readonly configChanges: number;
  readonly wipes: number;
}

/** A violated invariant or a liveness failure, with the command that replays it. */
export class SimFailure extends Error {
  readonly seed: number;
  readonly invariant: string;
  constructor(invariant: string, detail: string, options: SimOptions, trace: readonly string[]) {
    const flags = [`--seed ${options.seed}`, `--nodes ${options.nodes}`, `--steps ${options.steps}`];
    for (const bug of options.plantedBugs ?? []) flags.push(`--bug ${bug}`);
    if (options.leaseTooLong === true) flags.push('--lease-too-long');
    if (options.membership !== undefined) flags.push(`--membership ${options.membership ? 'on' : 'off'}`);
    if (options.oneChangeCheck === false) flags.push('--no-one-change-check');
    if (options.storageBug) flags.push(`--storage-bug ${options.storageBug}`);
    const tail = trace.length > 0 ? `\nlast events:\n${trace.join('\n')}` : '';
    super(`${invariant}: ${detail}\nreproduce: tsx node/raft/sim/run.ts ${flags.join(' ')}${tail}`);
    this.name = 'SimFailure';
    this.seed = options.seed;
    this.invariant = invariant;
  }
}

/** Time unit: one tick is TICK_UNITS; message and disk latencies are a fraction of it. */
const TICK_UNITS = 10;
const ELECTION_TICKS = 10;
const HEARTBEAT_TICKS = 2;
/** Ticks fire TICK_UNITS +- this apart on a node's own clock (timer jitter). */
const TICK_JITTER = 2;
/** Largest ratio of two nodes' clock rates when leases are on (10%, as the node's default). */
const DRIFT_BOUND = 1.1;
/**
 * True time a follower surely ignores votes after hearing from a leader:
 * the first of its electionTicks ticks may fire right after, each later one
 * at least TICK_UNITS - TICK_JITTER apart on a clock that is never faster
 * than true time (rates are in [1, DRIFT_BOUND]).
 */
const VOTE_SUPPRESSION_UNITS = (ELECTION_TICKS - 1) * (TICK_UNITS - TICK_JITTER);

type SimEvent =
  | { readonly kind: 'tick'; readonly node: number; readonly incarnation: number }
  | { readonly kind: 'deliver'; readonly message: Message }
  | { readonly kind: 'persist'; readonly node: number; readonly incarnation: number }
  | { readonly kind: 'client' }
  | { readonly kind: 'nemesis' }
  | { readonly kind: 'restart'; readonly node: number }
  | { readonly kind: 'heal-check' };

interface SimNode {
  readonly id: NodeId;
  readonly index: number;
  raft: RawNode | null;
  incarnation: number;
  /** Replaced by an empty one when the nemesis wipes the node's data directory. */
  storage: MemoryStorage;
  /** The configuration summary (RawNode status) last checked by checkConfigurations. */
  checkedConfiguration: unknown;
  /**
   * Its bootstrap voters (RaftConfig.peers). A node that rejoins with a wiped
   * data directory is started with a bootstrap that excludes it (the voters
   * of the moment), as an operator must (node/README.md): otherwise it would
   * take itself for a voter of the original configuration, with an empty log.
   */
  bootstrap: readonly NodeId[] | null;
  pending: Ready | null;
  /** Volatile state machine: applied index and a hash chain over applied entries. */
  appliedIndex: number;
  appliedHash: number;
  /** Highest commit index already recorded as committed from this node. */
  commitSeen: number;
  appliedMarker: boolean;
  /** True time per local time unit: in [1, DRIFT_BOUND] with leases on, else 1. */
  readonly clockRate: number;
  /** Lease state (volatile): the term it belongs to, when this node started leading, and until when it holds. */
  leaseTerm: number;
  leaderSinceLocal: number;
  leaseUntilLocal: number;
}

interface PendingRead {
  readonly node: number;
  /** Highest index known committed anywhere when the read was asked. */
  readonly minIndex: number;
  /** Local time of the asking node when the round started (the lease it may confirm starts there). */
  readonly startLocal: number;
}

export function runSimulation(options: SimOptions): SimStats {
  return new Simulation(options).run();
}

class Simulation {
  private readonly options: SimOptions;
  private readonly rng: Prng;
  private readonly queue = new EventQueue<SimEvent>();
  private readonly nodes: SimNode[] = [];
  private readonly ids: NodeId[];
  private readonly nodeIndex = new Map<NodeId, number>();
  private now = 0;
  private events = 0;
  private healing = false;
  private healStartTime = 0;
  private markerProposedAt = -1;
  private readonly trace: string[] = [];

  // Fault settings drawn per seed.
  private readonly lossRate: number;
  private readonly duplicateRate: number;
  private readonly longDelayRate: number;
  private readonly crashWeight: number;
  /** Slowest persist (time units): a slow disk keeps Readies unsynced longer, so crashes lose more. */
  private readonly diskDelayMax: number;
  /** Longest pause between nemesis actions, and before a crashed node restarts (time units). */
  private readonly nemesisGapMax: number;
  private readonly restartDelayMax: number;
  private readonly earlyApply: boolean;
  private readonly leases: boolean;
  private readonly membership: boolean;
  /** Membership draws come from their own stream, so seeds without membership keep their history. */
  private readonly memberRng: Prng;
  /** The bootstrap voters (RaftConfig.peers); with membership on, the other ids start outside. */
  private readonly bootstrap: NodeId[];
  private readonly configBase: Pick<
    RaftConfig,
    'preVote' | 'checkQuorum' | 'maxInflightAppends' | 'maxEntriesPerAppend'
  >;
  /** Partition group of each node; nodes talk only within a group. */
  private group: number[];

  // Invariant bookkeeping.
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** committedTerm[i]: term of the entry committed at index i (as first seen). */
  private readonly committedTerm: number[] = [0];
  /**
   * commitTermAt[i]: an upper bound on the term in which entry i was committed
   * (the observer's current term). Leader Completeness (§5.4) binds leaders of
   * later terms only: a stale leader of an earlier term may lack it.
   */
  private readonly commitTermAt: number[] = [0];
  private maxCommitted = 0;
  /** Durable log matching: "index:term" -> data, kind and previous entry's term. */
  private readonly durableEntries = new Map<string, { data: string; kind: string; prevTerm: number | undefined }>();
  /** State machine safety: what was applied at each index, and the hash chain after it. */
  private readonly appliedKeyAt: string[] = [''];
  private readonly appliedHashAt: number[] = [0];
  private readonly pendingReads = new Map<string, PendingRead>();
  private nextValue = 1;
  private nextRead = 1;
  private readonly marker = 'heal-marker';

  // Stats.
  private leaders = 0;
  private crashes = 0;
  private readsServed = 0;
  private snapshotsInstalled = 0;
  private messagesDelivered = 0;
  private leaseReads = 0;
  private earlyApplied = 0;
  private configChanges = 0;
  private wipes = 0;

  constructor(options: SimOptions) {
    this.options = options;
    this.rng = new Prng(options.seed);
    this.ids = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`);
    this.group = this.ids.map(() => 0);
    this.lossRate = this.rng.pick([0, 0.01, 0.05, 0.15]);
    this.duplicateRate = this.rng.pick([0, 0.02, 0.1]);
    this.longDelayRate = this.rng.pick([0, 0.02, 0.1]);
    this.crashWeight = this.rng.pick([0, 1, 2, 4]);
    this.diskDelayMax = this.rng.pick([2, 8, 40]);
    this.nemesisGapMax = this.rng.pick([100, 400]);
    this.restartDelayMax = this.rng.pick([50, 600]);
    const features = this.rng.below(10);
    this.configBase = {
      // Safety must hold with and without the optimisations.
      preVote: features !== 0,
      checkQuorum: features !== 1,
      maxInflightAppends: this.rng.pick([1, 2, 4, 64]),
      maxEntriesPerAppend: this.rng.pick([2, 3, 16, 512]),
    };
    // Drawn from their own stream, so seeds keep the rest of their history.
    const extras = new Prng(options.seed * 7919 + 17);
    this.earlyApply = extras.chance(0.5);
    // Leases rest on CheckQuorum's rule that followers ignore votes (thesis §6.4.1); the node always runs with it.
    this.leases = this.configBase.checkQuorum === true && (options.leaseTooLong === true || extras.chance(0.5));
    for (let i = 0; i < options.nodes; i++) {
      const node: SimNode = {
        id: this.ids[i]!,
        index: i,
        raft: null,
        incarnation: 0,
        storage: new MemoryStorage(),
        checkedConfiguration: null,
        bootstrap: null,
        pending: null,
        appliedIndex: 0,
        appliedHash: 0,
        commitSeen: 0,
        appliedMarker: false,
        clockRate: this.leases ? 1 + extras.next() * (DRIFT_BOUND - 1) : 1,
        leaseTerm: -1,
        leaderSinceLocal: 0,
        leaseUntilLocal: Number.NEGATIVE_INFINITY,
      };
      this.nodes.push(node);
      this.nodeIndex.set(node.id, i);
    }
    this.membership = options.membership ?? extras.chance(0.5);
    this.memberRng = new Prng(options.seed * 104_729 + 3);
    const bootstrapSize = this.membership
      ? this.memberRng.int(Math.max(1, options.nodes - 2), options.nodes)
      : options.nodes;
    this.bootstrap = this.ids.slice(0, bootstrapSize);
  }

  run(): SimStats {
    for (const node of this.nodes) this.start(node);
    this.schedule(this.rng.int(1, 20), { kind: 'client' });
    this.schedule(this.rng.int(50, 300), { kind: 'nemesis' });
    while (this.events < this.options.steps) this.processNext();
    this.heal();
    // Bound: election timeouts to settle leadership, plus time to ship the backlog of the
    // furthest-behind node at the slowest configured pace (one request in flight, slowest disk).
    const lastIndexes = this.nodes.map((n) => n.storage.lastIndex());
    const backlogEntries = Math.max(...lastIndexes) - Math.min(...this.nodes.map((n) => n.appliedIndex));
    const roundTripUnits = this.diskDelayMax + 2 * 4 + 2;
    const catchUpUnits = Math.ceil(backlogEntries / (this.configBase.maxEntriesPerAppend ?? 1)) * roundTripUnits;
    const boundTime = this.now + (this.options.healElectionTimeouts ?? 30) * ELECTION_TICKS * TICK_UNITS + catchUpUnits;
    this.schedule(TICK_UNITS, { kind: 'heal-check' });
    // Bounded in events too, so a runaway (a message storm from a broken core) ends in a failure, not a hang.
    const maxEvents = this.events + Math.max(100_000, 20 * this.options.steps);
    while (!this.healed()) {
      if (this.events > maxEvents)
        this.fail('liveness', `no progress after ${maxEvents} events (runaway message traffic?)`);
      if ((this.queue.peekTime() ?? Infinity) > boundTime) {
        const state = this.nodes.map((n) => {
          const st = n.raft?.status();
          return st === undefined
            ? `${n.id}:down`
            : `${n.id}:${st.role}/t${st.term}/c${st.commitIndex}/a${n.appliedIndex}` +
                (this.membership ? `/voters@${st.configuration.index}=${st.configuration.voters.join('+')}` : '');
        });
        this.fail(
          'liveness',
          `no leader committed a new entry on every node within ${this.options.healElectionTimeouts ?? 30} election timeouts (+${Math.round(catchUpUnits / TICK_UNITS)} ticks to ship a backlog of ${backlogEntries} entries) after healing (${state.join(' ')})`,
        );
      }
      this.processNext();
    }
    return {
      seed: this.options.seed,
      events: this.events,
      leaders: this.leaders,
      maxTerm: Math.max(...this.leaderOfTerm.keys(), 0),
      committed: this.maxCommitted,
      crashes: this.crashes,
      readsServed: this.readsServed,
      snapshotsInstalled: this.snapshotsInstalled,
      messagesDelivered: this.messagesDelivered,
      leaseReads: this.leaseReads,
      earlyApplied: this.earlyApplied,
      healTicks: Math.round((this.now - this.healStartTime) / TICK_UNITS),
      configChanges: this.configChanges,
      wipes: this.wipes,
    };
  }

  /**
   * Liveness reached: every node applied the marker, or with membership
   * changes every member of the newest leader's configuration (removed
   * servers receive nothing more, §4.2.2).
   */
  private healed(): boolean {
    if (!this.membership) return this.nodes.every((n) => n.appliedMarker);
    const leader = this.newestLeader();
    if (leader === null) return false;
    return leader.raft!.configuration().configuration.members.every((m) => this.nodeById(m.id).appliedMarker);
  }

  private newestLeader(): SimNode | null {
    let best: SimNode | null = null;
    for (const n of this.nodes) {
      const st = n.raft?.status();
      if (st?.role === 'leader' && (best === null || st.term > best.raft!.status().term)) best = n;
    }
    return best;
  }

  private nodeById(id: NodeId): SimNode {
    return this.nodes[this.nodeIndex.get(id)!]!;
  }

  // ------------------------------------------------------------- event loop

  private schedule(delay: number, event: SimEvent): void {
    this.queue.push(this.now + delay, event);
  }

  private processNext(): void {
    const next = this.queue.pop();
    if (next === undefined) throw new Error('simulation ran out of events');
    this.now = next.time;
    this.events += 1;
    const event = next.item;
    if (this.options.trace) this.note(describe(event));
    switch (event.kind) {
      case 'tick': {
        const node = this.nodes[event.node]!;
        if (node.raft === null || node.incarnation !== event.incarnation) break;
        node.raft.tick();
        const localUnits = this.rng.int(TICK_UNITS - TICK_JITTER, TICK_UNITS + TICK_JITTER);
        this.schedule(Math.ceil(localUnits * node.clockRate), event);
        break;
      }
      case 'deliver':
        this.deliver(event.message);
        break;
      case 'persist': {
        const node = this.nodes[event.node]!;
        if (node.raft !== null && node.incarnation === event.incarnation) this.completePersist(node);
        break;
      }
      case 'client':
        if (!this.healing) {
          this.clientAction();
          this.schedule(this.rng.int(1, 15), event);
        }
        break;
      case 'nemesis':
        if (!this.healing) {
          this.nemesisAction();
          this.schedule(this.rng.int(10, this.nemesisGapMax), event);
        }
        break;
      case 'restart': {
        const node = this.nodes[event.node]!;
        if (node.raft === null) this.start(node);
        break;
      }
      case 'heal-check':
        this.healCheck();
        this.schedule(TICK_UNITS, event);
        break;
      default: {
        const never: never = event;
        throw new Error(`unknown event ${JSON.stringify(never)}`);
      }
    }
    for (const node of this.nodes) this.pump(node);
    if (this.earlyApply) for (const node of this.nodes) this.applyCommittedEarly(node);
    this.checkAfterEvent();
  }

  /** This node's own clock (local units). */
  private localNow(node: SimNode): number {
    return this.now / node.clockRate;
  }

  // ---------------------------------------------------------------- nodes

  private config(node: SimNode): RaftConfig {
    const random = this.rng.fork();
    return {
      ...this.configBase,
      id: node.id,
      peers: node.bootstrap ?? this.bootstrap,
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: HEARTBEAT_TICKS,
      random: () => random.next(),
      plantedBugs: this.options.plantedBugs ?? [],
    };
  }

  /** Starts (or restarts) a node from its synced storage; the state machine reloads the snapshot. */
  private start(node: SimNode): void {
    node.raft = new RawNode(this.config(node), node.storage.recovered());
    node.incarnation += 1;
    node.pending = null;
    const snap = node.storage.snapshot;
    node.appliedIndex = snap?.meta.index ?? 0;
    node.appliedHash = snap === null ? 0 : parseSnapshotHash(snap);
    node.commitSeen = node.appliedIndex;
    node.leaseTerm = -1;
    node.leaseUntilLocal = Number.NEGATIVE_INFINITY;
    this.schedule(this.rng.int(1, TICK_UNITS), { kind: 'tick', node: node.index, incarnation: node.incarnation });
  }

  /**
   * Crash: the process dies. The Ready being persisted was written but not
   * synced: it is lost, or (torn write) a prefix of its records survives.
   */
  private crash(node: SimNode): void {
    if (node.raft === null) return;
    const pending = node.pending;
    if (pending !== null && this.rng.chance(0.5)) {
      const records = this.rng.below(MemoryStorage.recordCount(pending) + 1);
      node.storage.persistTorn(pending, records, this.rng.chance(0.5));
      for (const entry of pending.entries) {
        if (node.storage.termAt(entry.index) !== entry.term) break; // this record did not survive
        this.checkDurableEntry(node, entry);
      }
    }
    for (const [ctx, read] of this.pendingReads) if (read.node === node.index) this.pendingReads.delete(ctx);
    node.raft = null;
    node.pending = null;
    node.incarnation += 1;
    this.crashes += 1;
    this.schedule(this.rng.int(5, this.restartDelayMax), { kind: 'restart', node: node.index });
  }

  /** Takes a Ready if the node has one and none is in progress; eager messages leave at once. */
  private pump(node: SimNode): void {
    const raft = node.raft;
    if (raft === null || node.pending !== null || !raft.hasReady()) return;
    const ready = raft.ready();
    node.pending = ready;
    for (const m of ready.eagerMessages) this.send(m);
    // Early apply: committed entries are durable on a majority already, so
    // the runtime applies them before this Ready's own write (not a snapshot:
    // that replaces the state machine only once durable).
    if (this.earlyApply && ready.snapshot === null) this.applyEntries(node, ready.committedEntries);
    // Disk latency: sometimes immediate, sometimes slower than a network hop.
    const delay = this.rng.chance(0.3) ? 0 : this.rng.int(1, this.diskDelayMax);
    this.schedule(delay, { kind: 'persist', node: node.index, incarnation: node.incarnation });
  }

  /** The fsync of a Ready completed: persist, send, apply, advance (types.ts order). */
  private completePersist(node: SimNode): void {
    const ready = node.pending;
    const raft = node.raft;
    if (ready === null || raft === null) return;
    node.pending = null;
    this.persist(node, ready);
    for (const m of ready.messages) this.send(m);
    if (ready.snapshot !== null) this.installSnapshot(node, ready.snapshot);
    this.applyEntries(node, ready.committedEntries);
    for (const rs of ready.readStates) this.serveRead(node, rs.context, rs.index);
    for (const ctx of ready.droppedReads) this.pendingReads.delete(ctx);
    raft.advance(ready);
  }

  private persist(node: SimNode, ready: Ready): void {
    const storage = node.storage;
    storage.persist(ready);
    if (this.options.storageBug === 'forget-vote' && ready.hardState !== null) {
      // Planted bug: the vote never reaches the disk (only term and commit do).
      storage.hardState = { ...ready.hardState, vote: null };
    }
    for (const entry of ready.entries) this.checkDurableEntry(node, entry);
  }

  // -------------------------------------------------------------- network

  private send(m: Message): void {
    const from = this.nodeIndex.get(m.from)!;
    const to = this.nodeIndex.get(m.to)!;
    if (this.group[from] !== this.group[to]) return;
    if (!this.healing && this.rng.chance(this.lossRate)) return;
    const copies = this.rng.chance(this.duplicateRate) ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      const delay = this.rng.chance(this.longDelayRate) ? this.rng.int(TICK_UNITS, 6 * TICK_UNITS) : this.rng.int(1, 4);
      this.schedule(delay, { kind: 'deliver', message: m });
    }
  }

  private deliver(m: Message): void {
    const to = this.nodes[this.nodeIndex.get(m.to)!]!;
    const from = this.nodeIndex.get(m.from)!;
    if (to.raft === null || this.group[from] !== this.group[to.index]) return;
    this.messagesDelivered += 1;
    to.raft.step(m);
  }

  // -------------------------------------------------------------- clients

  private clientAction(): void {
    const alive = this.nodes.filter((n) => n.raft !== null);
    if (alive.length === 0) return;
    const leaders = alive.filter((n) => n.raft!.status().role === 'leader');
    // Clients mostly find a leader, sometimes ask anyone (and get "not leader").
    const target = leaders.length > 0 && this.rng.chance(0.9) ? this.rng.pick(leaders) : this.rng.pick(alive);
    const raft = target.raft!;
    const roll = this.rng.next();
    if (roll < 0.45) {
      raft.propose(`v${this.nextValue++}`);
    } else if (roll < 0.6) {
      const count = this.rng.int(1, 8);
      const datas = Array.from({ length: count }, () => `v${this.nextValue++}`);
      raft.proposeBatch(datas);
    } else if (roll < 0.9) {
      if (this.leases && this.rng.chance(0.5) && this.leaseRead(target)) return;
      const context = `r${this.nextRead++}`;
      const startLocal = this.localNow(target);
      const result = raft.readIndex(context);
      if (result.ok) this.pendingReads.set(context, { node: target.index, minIndex: this.maxCommitted, startLocal });
    } else {
      this.maybeCompact(this.rng.pick(alive));
    }
  }

  /** The app snapshots its state machine at the applied index and the core compacts (§7). */
  private maybeCompact(node: SimNode): void {
    const raft = node.raft;
    if (raft === null) return;
    const st = raft.status();
    if (node.appliedIndex - st.snapshotIndex < 3) return;
    // As the runtime: entries applied early are snapshotted once the core has seen them applied.
    if (node.appliedIndex > st.appliedIndex) return;
    const index = node.appliedIndex;
    const term = raft.logTerm(index);
    if (term === undefined) throw new Error(`internal: applied index ${index} not in ${node.id}'s log`);
    const snapshot: Snapshot = {
      meta: { index, term, config: raft.configurationAt(index) },
      data: `${index}:${node.appliedHash}`,
    };
    node.storage.saveSnapshot(snapshot);
    raft.compact(snapshot);
  }

  // -------------------------------------------------------------- nemesis

  private nemesisAction(): void {
    if (this.membership && this.memberRng.chance(0.3)) {
      this.membershipAction();
      return;
    }
    const roll = this.rng.next() * (4 + this.crashWeight);
    if (roll < 1) {
      // Random halves.
      const shuffled = this.rng.shuffle(this.nodes.map((n) => n.index));
      const cut = this.rng.int(1, this.nodes.length - 1);
      this.group = this.nodes.map(() => 0);
      for (const i of shuffled.slice(0, cut)) this.group[i] = 1;
    } else if (roll < 2) {
      // Isolate one node (often the leader: the interesting case for PreVote/CheckQuorum).
      const leaders = this.nodes.filter((n) => n.raft?.status().role === 'leader');
      const victim =
        leaders.length > 0 && this.rng.chance(0.6) ? this.rng.pick(leaders).index : this.rng.below(this.nodes.length);
      this.group = this.nodes.map((n) => (n.index === victim ? 1 : 0));
    } else if (roll < 4) {
      this.group = this.nodes.map(() => 0);
    } else {
      // Crash, often exactly while a write is in flight: that is when unsynced state is lost.
      const alive = this.nodes.filter((n) => n.raft !== null);
      const writing = alive.filter((n) => n.pending !== null);
      if (writing.length > 0 && this.rng.chance(0.6)) this.crash(this.rng.pick(writing));
      else if (alive.length > 0) this.crash(this.rng.pick(alive));
    }
  }

  /**
   * A single-server change at the newest leader (thesis §4.1): add an id
   * outside its configuration as a learner (the leader promotes it once
   * caught up), or remove a member, the leader itself now and then. The
   * leader may refuse (a change pending, its term's first entry not
   * committed): as an operator's request would be.
   */
  private membershipAction(): void {
    const leader = this.newestLeader();
    if (leader === null) return;
    const raft = leader.raft!;
    const members = raft.configuration().configuration.members.map((m) => m.id);
    const outside = this.ids.filter((id) => !members.includes(id));
    let change: ConfChange;
    if (outside.length > 0 && (this.memberRng.chance(0.5) || members.length === 1)) {
      const id = this.memberRng.pick(outside);
      // A fresh data directory, as an operator re-adding a removed server may
      // do, but only once no log anywhere names it: wiping a server some
      // configuration still counts would lose votes and entries.
      if (this.memberRng.chance(0.5) && !this.anyLogNames(id))
        this.wipe(this.nodeById(id), voterIds(raft.configuration().configuration));
      change = { type: 'add-learner', id, url: `sim://${id}` };
    } else {
      change = { type: 'remove', id: this.memberRng.chance(0.25) ? leader.id : this.memberRng.pick(members) };
    }
    const result = raft.proposeConfChange(change);
    if (result.ok) this.configChanges += 1;
    if (this.options.trace)
      this.note(`member change at ${leader.id}: ${JSON.stringify(change)} ${JSON.stringify(result)}`);
  }

  /** Whether any node's log (in memory, or on disk for a crashed node) or snapshot names `id` in a configuration. */
  private anyLogNames(id: NodeId): boolean {
    return this.nodes.some((n) => {
      const configs: Configuration[] =
        n.raft !== null
          ? n.raft.configurationHistory().map((c) => c.configuration)
          : [
              ...(n.storage.snapshot?.meta.config !== undefined ? [n.storage.snapshot.meta.config] : []),
              ...n.storage.entries.filter((e) => e.kind === 'config').map((e) => decodeConfiguration(e.data)),
            ];
      const bootstrapNamed =
        n.storage.snapshot?.meta.config === undefined && (n.bootstrap ?? this.bootstrap).includes(id);
      return bootstrapNamed || configs.some((c) => c.members.some((m) => m.id === id));
    });
  }

  /** Stops a node and gives it an empty data directory; it restarts at once as a non-member of `bootstrap`. */
  private wipe(node: SimNode, bootstrap: readonly NodeId[]): void {
    node.bootstrap = bootstrap;
    for (const [ctx, read] of this.pendingReads) if (read.node === node.index) this.pendingReads.delete(ctx);
    node.raft = null;
    node.pending = null;
    node.incarnation += 1;
    node.storage = new MemoryStorage();
    node.appliedMarker = false;
    this.wipes += 1;
    this.start(node);
  }

  /** End of chaos: the network heals, crashed nodes restart, loss stops; clients pause. */
  private heal(): void {
    this.healing = true;
    this.healStartTime = this.now;
    this.group = this.nodes.map(() => 0);
    for (const node of this.nodes) if (node.raft === null) this.start(node);
  }

  private healCheck(): void {
    const leaders = this.nodes.filter((n) => n.raft?.status().role === 'leader');
    if (leaders.length === 0) return;
    // Re-propose the marker now and then: a leader may lose it when it is deposed.
    if (this.markerProposedAt >= 0 && this.now - this.markerProposedAt < ELECTION_TICKS * TICK_UNITS) return;
    if (this.nodes.some((n) => n.appliedMarker)) return; // committed somewhere: wait for the rest
    const leader = leaders.reduce((a, b) => (a.raft!.status().term >= b.raft!.status().term ? a : b));
    leader.raft!.propose(this.marker);
    this.markerProposedAt = this.now;
  }

  // ----------------------------------------------------------- invariants

  private fail(invariant: string, detail: string): never {
    throw new SimFailure(
      invariant,
      `${detail} (event ${this.events}, time ${this.now})`,
      this.options,
      this.trace.slice(-(this.options.traceTail ?? 40)),
    );
  }

  private note(line: string): void {
    this.trace.push(`${this.now} ${line}`);
    if (this.trace.length > 40000) this.trace.splice(0, 20000);
  }

  private checkAfterEvent(): void {
    for (const node of this.nodes) {
      const raft = node.raft;
      if (raft === null) continue;
      const st = raft.status();
      if (this.leases) this.trackLeadership(node, st.role, st.term);
      if (st.role === 'leader') {
        // Election Safety (Figure 3): at most one leader per term, ever.
        const known = this.leaderOfTerm.get(st.term);
        if (known === undefined) {
          this.leaderOfTerm.set(st.term, node.id);
          this.leaders += 1;
          if (this.options.trace) this.note(`${node.id} leads term ${st.term}`);
          this.checkLeaderHasCommitted(node, 1);
        } else if (known !== node.id) {
          this.fail('election safety', `${known} and ${node.id} both lead term ${st.term}`);
        }
      }
      if (!(st.appliedIndex <= st.commitIndex && st.commitIndex <= st.lastIndex)) {
        this.fail(
          'index order',
          `${node.id}: snapshot ${st.snapshotIndex} applied ${st.appliedIndex} commit ${st.commitIndex} last ${st.lastIndex}`,
        );
      }
      if (st.commitIndex > node.commitSeen) this.recordCommits(node, st.commitIndex);
    }
    if (this.membership || (this.options.plantedBugs ?? []).includes('config-overlap')) this.checkConfigurations();
  }

  /** Configuration invariants (thesis §4.1, §4.2.2), on every running node. */
  private checkConfigurations(): void {
    for (const node of this.nodes) {
      const raft = node.raft;
      if (raft === null) continue;
      const st = raft.status();
      this.checkCampaigner(node, raft, st);
      // The history changes only with a new configuration entry, a truncation or a compaction (the summary object is
      // rebuilt then); the committed prefix only grows, so checking at those moments is enough.
      if (node.checkedConfiguration === st.configuration) continue;
      node.checkedConfiguration = st.configuration;
      const history = raft.configurationHistory();
      // One change at a time: no log holds two configuration entries beyond
      // what is committed. (A leader appends one only when the previous one
      // is committed, §4.1, and every log is a prefix of some leader's.)
      const uncommitted = history.filter((c) => c.index > this.maxCommitted);
      if (uncommitted.length > 1 && this.options.oneChangeCheck !== false) {
        this.fail(
          'configuration overlap',
          `${node.id} holds configuration entries ${uncommitted.map((c) => c.index).join(', ')} beyond the committed index ${this.maxCommitted}`,
        );
      }
      // Single-server changes: consecutive configurations differ by at most one voter. (The bootstrap is
      // no entry: a server that rejoined wiped has one of its own, which the log's first entry need not follow.)
      for (let k = history[0]!.index === 0 ? 2 : 1; k < history.length; k++) {
        const before = new Set(voterIds(history[k - 1]!.configuration));
        const after = new Set(voterIds(history[k]!.configuration));
        const moved = [...before].filter((v) => !after.has(v)).length + [...after].filter((v) => !before.has(v)).length;
        if (moved > 1) {
          this.fail(
            'single-server change',
            `${node.id}: configuration ${history[k]!.index} moves ${moved} voters at once`,
          );
        }
      }
    }
  }

  /** Only voters campaign (and a leader whose removal committed does not lead). */
  private checkCampaigner(node: SimNode, raft: RawNode, st: ReturnType<RawNode['status']>): void {
    const isVoter = st.configuration.voters.includes(node.id);
    if (isVoter || st.role === 'follower') return;
    if (st.role === 'leader') {
      if (st.configuration.index <= st.commitIndex)
        this.fail('removed leader steps down', `${node.id} leads term ${st.term} after its removal committed`);
      return;
    }
    // Thesis §4.2.2: besides voters, only a server the uncommitted latest configuration removed may campaign.
    const history = raft.configurationHistory();
    const previous = history[history.length - 2];
    const justRemoved =
      previous !== undefined &&
      st.configuration.index > st.commitIndex &&
      voterIds(previous.configuration).includes(node.id);
    if (!justRemoved) this.fail('only voters campaign', `${node.id} is a ${st.role} in term ${st.term} but no voter`);
  }

  /** Records entries a node reports committed; the same index must always hold the same term. */
  private recordCommits(node: SimNode, commit: number): void {
    const raft = node.raft!;
    const observerTerm = raft.status().term;
    const from = node.commitSeen + 1;
    node.commitSeen = commit;
    for (let i = from; i <= commit; i++) {
      const term = raft.logTerm(i);
      if (term === undefined) continue; // covered by a snapshot: committed earlier by its leader
      const known = this.committedTerm[i];
      if (known === undefined) {
        this.committedTerm[i] = term;
        this.commitTermAt[i] = observerTerm;
        if (i > this.maxCommitted) this.maxCommitted = i;
        // Leader Completeness (§5.4): every leader of a later term must already hold it.
        for (const other of this.nodes) {
          const st = other.raft?.status();
          if (st === undefined || st.role !== 'leader' || st.term <= observerTerm) continue;
          if (i > st.snapshotIndex && other.raft!.logTerm(i) !== term) {
            this.fail(
              'leader completeness',
              `${other.id} leads term ${st.term} but lacks committed entry ${i} (term ${term})`,
            );
          }
        }
      } else if (known === term) {
        if (observerTerm < (this.commitTermAt[i] ?? Infinity)) this.commitTermAt[i] = observerTerm;
      } else {
        this.fail(
          'state machine safety',
          `index ${i} committed with term ${known} and, on ${node.id}, with term ${term}`,
        );
      }
    }
  }

  /** Leader Completeness (§5.4) at election: the new leader holds every committed entry. */
  private checkLeaderHasCommitted(node: SimNode, from: number): void {
    const raft = node.raft!;
    const st = raft.status();
    for (let i = Math.max(from, st.snapshotIndex + 1); i <= this.maxCommitted; i++) {
      const term = this.committedTerm[i];
      if (term === undefined || (this.commitTermAt[i] ?? Infinity) >= st.term) continue;
      if (raft.logTerm(i) !== term) {
        this.fail(
          'leader completeness',
          `${node.id} leads term ${st.term} without committed entry ${i} (term ${term}); its term there is ${String(raft.logTerm(i))}`,
        );
      }
    }
  }

  /** Log Matching (§5.3) across durable logs: same index and term => same entry and same predecessor. */
  private checkDurableEntry(node: SimNode, entry: Entry): void {
    const key = `${entry.index}:${entry.term}`;
    const prevTerm = node.storage.termAt(entry.index - 1);
    const known = this.durableEntries.get(key);
    if (known === undefined) {
      this.durableEntries.set(key, { data: entry.data, kind: entry.kind, prevTerm });
      return;
    }
    if (known.data !== entry.data || known.kind !== entry.kind) {
      this.fail(
        'log matching',
        `two different entries at index ${entry.index} term ${entry.term} (${known.data} vs ${entry.data} on ${node.id})`,
      );
    }
    if (known.prevTerm !== undefined && prevTerm !== undefined && known.prevTerm !== prevTerm) {
      this.fail(
        'log matching',
        `entry ${key} follows term ${known.prevTerm} in one log and term ${prevTerm} on ${node.id}`,
      );
    }
  }

  /** Applies entries in order, skipping those already applied early. */
  private applyEntries(node: SimNode, entries: readonly Entry[]): void {
    for (const entry of entries) if (entry.index > node.appliedIndex) this.apply(node, entry);
  }

  /**
   * A leader whose own write is pending applies what its followers'
   * acknowledgements alone committed (§5.3: a majority holds it), as the
   * runtime does; these entries must be exactly what every node applies.
   */
  private applyCommittedEarly(node: SimNode): void {
    const raft = node.raft;
    if (raft === null || node.pending === null) return;
    const st = raft.status();
    if (st.role !== 'leader' || st.commitIndex <= node.appliedIndex || node.appliedIndex < st.snapshotIndex) return;
    const entries = raft.logEntries(node.appliedIndex + 1, st.commitIndex + 1);
    this.earlyApplied += entries.length;
    this.applyEntries(node, entries);
  }

  // ---------------------------------------------------------------- leases

  /** Lease length on the leader's own clock: G / D (the planted bug: five election timeouts). */
  private leaseLocalUnits(): number {
    return this.options.leaseTooLong === true ? 5 * ELECTION_TICKS * TICK_UNITS : VOTE_SUPPRESSION_UNITS / DRIFT_BOUND;
  }

  /** Tracks leadership for leases: a new term of leading starts without a lease. */
  private trackLeadership(node: SimNode, role: string, term: number): void {
    if (role !== 'leader') {
      node.leaseTerm = -1;
      node.leaseUntilLocal = Number.NEGATIVE_INFINITY;
    } else if (node.leaseTerm !== term) {
      node.leaseTerm = term;
      node.leaderSinceLocal = this.localNow(node);
      node.leaseUntilLocal = Number.NEGATIVE_INFINITY;
    }
  }

  /** Serves a read from the lease if it holds; returns whether it did. */
  private leaseRead(node: SimNode): boolean {
    const raft = node.raft;
    if (raft === null) return false;
    const st = raft.status();
    this.trackLeadership(node, st.role, st.term);
    const local = this.localNow(node);
    // As the runtime: a new leader waits one election timeout before its first lease read.
    const waitUnits = this.options.leaseTooLong === true ? 0 : ELECTION_TICKS * TICK_UNITS;
    if (st.role !== 'leader' || local < node.leaderSinceLocal + waitUnits || local >= node.leaseUntilLocal)
      return false;
    this.leaseReads += 1;
    // No other leader can exist while the lease holds, so our commit index covers every committed entry.
    if (st.commitIndex < this.maxCommitted) {
      this.fail(
        'lease read safety',
        `${node.id} (term ${st.term}) served a lease read at index ${st.commitIndex}, ` +
          `but ${this.maxCommitted} was committed before it began`,
      );
    }
    return true;
  }

  /** State Machine Safety (§5.4.3): every node applies the same entry at each index, in order. */
  private apply(node: SimNode, entry: Entry): void {
    if (entry.index !== node.appliedIndex + 1) {
      this.fail('apply order', `${node.id} applied index ${entry.index} after ${node.appliedIndex}`);
    }
    const key = `${entry.term}:${entry.kind}:${entry.data}`;
    node.appliedHash = mixHash(node.appliedHash, key);
    node.appliedIndex = entry.index;
    const knownKey = this.appliedKeyAt[entry.index];
    if (knownKey === undefined) {
      this.appliedKeyAt[entry.index] = key;
      this.appliedHashAt[entry.index] = node.appliedHash;
    } else if (knownKey !== key || this.appliedHashAt[entry.index] !== node.appliedHash) {
      this.fail(
        'state machine safety',
        `${node.id} applied ${key} at index ${entry.index}, another node applied ${knownKey}`,
      );
    }
    if (entry.data === this.marker) node.appliedMarker = true;
  }

  private installSnapshot(node: SimNode, snapshot: Snapshot): void {
    this.snapshotsInstalled += 1;
    const hash = parseSnapshotHash(snapshot);
    const known = this.appliedHashAt[snapshot.meta.index];
    if (known !== undefined && known !== hash) {
      this.fail(
        'state machine safety',
        `${node.id} installed a snapshot at ${snapshot.meta.index} whose state differs from what others applied`,
      );
    }
    node.appliedIndex = snapshot.meta.index;
    node.appliedHash = hash;
    // The marker may be inside the snapshot.
    if (this.nodes.some((n) => n.appliedMarker) && this.markerIndex() <= snapshot.meta.index) node.appliedMarker = true;
  }

  private markerIndex(): number {
    for (let i = this.appliedKeyAt.length - 1; i > 0; i--) {
      if (this.appliedKeyAt[i]?.endsWith(`:normal:${this.marker}`)) return i;
    }
    return Infinity;
  }

  /** ReadIndex safety (thesis §6.4): a read point covers everything committed before the read was asked. */
  private serveRead(node: SimNode, context: string, index: number): void {
    const read = this.pendingReads.get(context);
    if (read === undefined) return;
    this.pendingReads.delete(context);
    this.readsServed += 1;
    const st = node.raft?.status();
    if (this.leases && st !== undefined && st.role === 'leader') {
      // A majority acknowledged us after the round started: the lease runs from its start (thesis §6.4.1).
      this.trackLeadership(node, st.role, st.term);
      node.leaseUntilLocal = Math.max(node.leaseUntilLocal, read.startLocal + this.leaseLocalUnits());
    }
    if (index < read.minIndex) {
      this.fail(
        'read index safety',
        `${node.id} served read ${context} at index ${index}, but ${read.minIndex} was committed before it was asked`,
      );
    }
  }
}

function parseSnapshotHash(snapshot: Snapshot): number {
  const hash = Number(snapshot.data.split(':')[1]);
  if (!Number.isFinite(hash)) throw new Error(`bad simulated snapshot data ${snapshot.data}`);
  return hash;
}

/** FNV-1a over the previous hash and the entry key: a chain, so equal hashes mean equal prefixes (whp). */
function mixHash(previous: number, key: string): number {
  let h = (previous ^ 0x811c9dc5) >>> 0;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

function describe(event: SimEvent): string {
  switch (event.kind) {
    case 'tick':
      return `tick n${event.node + 1}`;
    case 'deliver': {
      const m = event.message;
      const extra =
        m.type === 'append-request'
          ? ` prev=${m.prevLogIndex}/${m.prevLogTerm} n=${m.entries.length} commit=${m.commit}`
          : m.type === 'append-response'
            ? ` ok=${m.success} match=${m.matchIndex} hint=${m.conflictIndex}/${m.conflictTerm}`
            : m.type === 'vote-request'
              ? ` pre=${m.preVote} last=${m.lastLogIndex}/${m.lastLogTerm}`
              : m.type === 'vote-response'
                ? ` pre=${m.preVote} granted=${m.granted}`
                : '';
      return `deliver ${m.type} ${m.from}->${m.to} t${m.term}${extra}`;
    }
    case 'persist':
      return `persist n${event.node + 1}`;
    case 'restart':
      return `restart n${event.node + 1}`;
    case 'client':
    case 'nemesis':
    case 'heal-check':
      return event.kind;
    default: {
      const never: never = event;
      return String(never);
    }
  }
}
