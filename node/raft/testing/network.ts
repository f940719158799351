import { RawNode } from '../raw-node.ts';
import { Prng } from '../sim/prng.ts';
import type { Entry, Message, NodeId, PlantedBug, RaftConfig, ReadState, Ready, Snapshot } from '../types.ts';
import { MemoryStorage } from './memory-storage.ts';

/** Options of a test cluster; the defaults suit readable scenario tests. */
export interface TestNetworkOptions {
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  readonly maxInflightAppends?: number;
  readonly maxEntriesPerAppend?: number;
  readonly plantedBugs?: readonly PlantedBug[];
  readonly seed?: number;
  /**
   * Durable state to start each listed node from: its current term and the
   * terms of its log entries (index 1, 2, ...). Entry data is `i<index>t<term>`.
   */
  /** RaftConfig.quietAtStart (default true). */
  readonly quietAtStart?: boolean;
  /** The bootstrap voters (default: every id); the other ids start as non-members. */
  readonly initialMembers?: readonly NodeId[];
  /** RaftConfig.autoPromote (default true). */
  readonly autoPromote?: boolean;
  readonly logs?: Readonly<Record<NodeId, { readonly term: number; readonly terms: readonly number[] }>>;
}

/** The url a test network records for a member (opaque to the core). */
export function memberUrl(id: NodeId): string {
  return `http://${id}.test`;
}

/** Builds log entries with the given terms, starting at index 1 (data names index and term). */
export function entriesWithTerms(terms: readonly number[]): Entry[] {
  return terms.map((term, k) => ({ index: k + 1, term, kind: 'normal', data: `i${k + 1}t${term}` }));
}

/**
 * An in-memory cluster for scenario tests: every node has MemoryStorage, a
 * Ready is handled in the types.ts order (persist, send, apply, advance), and
 * messages wait in a queue until `deliver` hands them over, dropping those
 * on cut links.
 */
export class TestNetwork {
  readonly ids: readonly NodeId[];
  readonly nodes = new Map<NodeId, RawNode>();
  readonly storage = new Map<NodeId, MemoryStorage>();
  /** Entries each node applied, in order (reset on restart: the state machine is volatile). */
  readonly applied = new Map<NodeId, Entry[]>();
  readonly readStates = new Map<NodeId, ReadState[]>();
  readonly droppedReads = new Map<NodeId, string[]>();
  /** Every message ever sent, for assertions about traffic. */
  readonly sent: Message[] = [];
  queue: Message[] = [];
  private readonly cut = new Set<string>();
  private readonly prng: Prng;
  private readonly options: TestNetworkOptions;

  constructor(ids: readonly NodeId[], options: TestNetworkOptions = {}) {
    this.ids = ids;
    this.options = options;
    this.prng = new Prng(options.seed ?? 1);
    for (const id of ids) {
      const storage = new MemoryStorage();
      const log = options.logs?.[id];
      if (log !== undefined) {
        storage.hardState = { term: log.term, vote: null, commit: 0 };
        storage.entries = entriesWithTerms(log.terms);
      }
      this.storage.set(id, storage);
      this.start(id);
    }
  }

  config(id: NodeId): RaftConfig {
    const random = this.prng.fork();
    return {
      id,
      peers: this.options.initialMembers ?? this.ids,
      peerUrls: Object.fromEntries(this.ids.map((peer) => [peer, memberUrl(peer)])),
      autoPromote: this.options.autoPromote ?? true,
      electionTicks: this.options.electionTicks ?? 10,
      heartbeatTicks: this.options.heartbeatTicks ?? 1,
      random: () => random.next(),
      preVote: this.options.preVote ?? true,
      checkQuorum: this.options.checkQuorum ?? true,
      maxInflightAppends: this.options.maxInflightAppends ?? 64,
      maxEntriesPerAppend: this.options.maxEntriesPerAppend ?? 512,
      plantedBugs: this.options.plantedBugs ?? [],
      quietAtStart: this.options.quietAtStart ?? true,
    };
  }

  /** (Re)starts a node from its durable storage. */
  start(id: NodeId): RawNode {
    const node = new RawNode(this.config(id), this.storage.get(id)!.recovered());
    this.nodes.set(id, node);
    this.applied.set(id, []);
    this.readStates.set(id, []);
    this.droppedReads.set(id, []);
    return node;
  }

  node(id: NodeId): RawNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  /** Handles one Ready of `id` if it has one; returns it. */
  processReady(id: NodeId): Ready | null {
    const node = this.node(id);
    if (!node.hasReady()) return null;
    const ready = node.ready();
    this.post(ready.eagerMessages);
    this.storage.get(id)!.persist(ready);
    this.post(ready.messages);
    const applied = this.applied.get(id)!;
    if (ready.snapshot !== null) applied.length = 0; // state machine reset from the snapshot
    for (const entry of ready.committedEntries) applied.push(entry);
    for (const rs of ready.readStates) this.readStates.get(id)!.push(rs);
    for (const ctx of ready.droppedReads) this.droppedReads.get(id)!.push(ctx);
    node.advance(ready);
    return ready;
  }

  private post(messages: readonly Message[]): void {
    for (const m of messages) {
      this.sent.push(m);
      if (!this.cut.has(`${m.from}->${m.to}`)) this.queue.push(m);
    }
  }

  /** Processes Readies and delivers messages until nothing moves (bounded). */
  settle(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      let moved = false;
      for (const id of this.ids) if (this.processReady(id) !== null) moved = true;
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) {
        if (this.cut.has(`${m.from}->${m.to}`)) continue;
        this.node(m.to).step(m);
        moved = true;
      }
      if (!moved) return;
    }
    throw new Error(`network did not settle in ${maxRounds} rounds`);
  }

  /** Ticks every node once, then settles. */
  tickAll(times = 1): void {
    for (let t = 0; t < times; t++) {
      for (const id of this.ids) this.node(id).tick();
      this.settle();
    }
  }

  /** Ticks until some node leads (bounded); returns its id. */
  electLeader(maxTicks = 500): NodeId {
    for (let t = 0; t < maxTicks; t++) {
      const leader = this.leader();
      if (leader !== null) return leader;
      this.tickAll();
    }
    throw new Error(`no leader after ${maxTicks} ticks`);
  }

  /** Makes `id` campaign now (ticks only it past its election timeout). */
  campaign(id: NodeId): void {
    const node = this.node(id);
    for (let t = 0; t < 1000 && node.status().role === 'follower'; t++) node.tick();
    this.settle();
  }

  /** The node that leads in the highest term, or null. */
  leader(): NodeId | null {
    let best: NodeId | null = null;
    let bestTerm = -1;
    for (const id of this.ids) {
      const st = this.node(id).status();
      if (st.role === 'leader' && st.term > bestTerm) {
        best = id;
        bestTerm = st.term;
      }
    }
    return best;
  }

  /** Cuts both directions between `a` and each of `others`. */
  partition(a: NodeId, others: readonly NodeId[]): void {
    for (const b of others) {
      this.cut.add(`${a}->${b}`);
      this.cut.add(`${b}->${a}`);
    }
  }

  /** Cuts one direction only: messages from `from` to `to` are dropped. */
  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}->${to}`);
  }

  /** Cuts a node off from everyone. */
  isolate(id: NodeId): void {
    this.partition(
      id,
      this.ids.filter((x) => x !== id),
    );
  }

  heal(): void {
    this.cut.clear();
  }

  /** Compacts node `id` at its applied index, as the app would after a snapshot. */
  compact(id: NodeId, data = 'snap'): Snapshot {
    const node = this.node(id);
    const index = node.status().appliedIndex;
    const snapshot: Snapshot = {
      meta: { index, term: node.logTerm(index) ?? 0, config: node.configurationAt(index) },
      data,
    };
    this.storage.get(id)!.saveSnapshot(snapshot);
    node.compact(snapshot);
    return snapshot;
  }

  /** Terms of the log `id` holds in memory, from index 1 (for comparing logs). */
  logTerms(id: NodeId): number[] {
    const node = this.node(id);
    return node.logEntries(1, node.status().lastIndex + 1).map((e) => e.term);
  }

  appliedData(id: NodeId): string[] {
    return this.applied
      .get(id)!
      .filter((e) => e.kind === 'normal')
      .map((e) => e.data);
  }
}

/** A lone RawNode for unit tests that feed it messages by hand. `random` defaults to 0 (timeout = electionTicks). */
export function makeNode(
  id: NodeId,
  peers: readonly NodeId[],
  overrides: Partial<RaftConfig> = {},
  recovered: {
    term?: number;
    vote?: NodeId | null;
    commit?: number;
    terms?: readonly number[];
    snapshot?: Snapshot | null;
  } = {},
): RawNode {
  const config: RaftConfig = {
    id,
    peers,
    electionTicks: 10,
    heartbeatTicks: 1,
    random: () => 0,
    ...overrides,
  };
  return new RawNode(config, {
    hardState: { term: recovered.term ?? 0, vote: recovered.vote ?? null, commit: recovered.commit ?? 0 },
    snapshot: recovered.snapshot ?? null,
    entries: entriesWithTerms(recovered.terms ?? []),
  });
}

/** Takes the node's Ready, advances it, and returns it (the caller "persisted, sent, applied"). */
export function drain(node: RawNode): Ready {
  const ready = node.ready();
  node.advance(ready);
  return ready;
}

/** All messages of a Ready (eager first), optionally of one type. */
export function readyMessages<T extends Message['type']>(ready: Ready, type?: T): Array<Extract<Message, { type: T }>> {
  const all = [...ready.eagerMessages, ...ready.messages];
  return all.filter((m) => type === undefined || m.type === type) as Array<Extract<Message, { type: T }>>;
}

/** Makes a lone node (configured without PreVote) leader by feeding it the votes it asks for. */
export function electByHand(node: RawNode, voters: readonly NodeId[]): void {
  for (let t = 0; t < 100 && node.status().role !== 'candidate'; t++) node.tick();
  if (node.status().role !== 'candidate')
    throw new Error('electByHand: the node did not become a candidate (is preVote off?)');
  const term = node.status().term;
  drain(node);
  for (const v of voters)
    node.step({ type: 'vote-response', from: v, to: node.status().id, term, preVote: false, granted: true });
  if (node.status().role !== 'leader') throw new Error('electByHand: not enough votes');
  drain(node);
}
