/**
 * The small adapter interface every benchmark target implements, so that the
 * same load generator drives raftlab and etcd back to back.
 *
 * Outcomes are values, not exceptions: a closed loop at 128 clients must not
 * pay for stack traces, and the bench only counts errors by code.
 */

/**
 * Which system a target talks to. `raftlab-lazyfs` is raftlab with every member's data on the lazy file system
 * (lazyfs/, what the disk faults need): beside `raftlab` in one bench run it measures what that costs.
 */
export type TargetKind = 'raftlab' | 'etcd' | 'raftlab-lazyfs';

/** Every target kind, in the order the bench runs them. */
export const TARGET_KINDS: readonly TargetKind[] = ['raftlab', 'etcd', 'raftlab-lazyfs'];

/**
 * `linearizable` reads go through the leader's read barrier (raftlab's
 * ReadIndex, etcd's default range); `stale` reads are answered locally by
 * the member asked (raftlab `?stale=true`, etcd `serializable: true`).
 */
export type ReadConsistency = 'linearizable' | 'stale';

/** A failed request: `code` is stable and is what the bench counts. */
export type ErrorOutcome = {
  type: 'error';
  /** e.g. `http-503`, `not-leader`, `UND_ERR_HEADERS_TIMEOUT`, `bad-response`. */
  code: string;
  message: string;
  /** HTTP status when an answer arrived at all. */
  status?: number;
};

/** Result of a put. */
export type PutOutcome = { type: 'ok' } | ErrorOutcome;

/** Result of a get: `value` is null when the key does not exist. */
export type GetOutcome = { type: 'ok'; value: string | null } | ErrorOutcome;

/** One logical client's view of the cluster: bound to one member. */
export interface KvClient {
  /** Index of the member this client sends to. */
  readonly memberIndex: number;
  put(key: string, value: string): Promise<PutOutcome>;
  get(key: string, consistency: ReadConsistency): Promise<GetOutcome>;
}

/** A connected target: keep-alive connection pools to every member. */
export interface KvTarget {
  readonly kind: TargetKind;
  /** Client base URLs, e.g. `http://127.0.0.1:7001`. */
  readonly memberUrls: readonly string[];
  /**
   * The client for logical client number `clientIndex`; clients are spread
   * round-robin over the members so that followers forward as in real use.
   */
  client(clientIndex: number): KvClient;
  /** Closes every connection; outstanding requests fail. */
  close(): Promise<void>;
}

/** Options shared by every target. */
export type TargetOptions = {
  /** Upper bound on keep-alive connections per member. */
  connectionsPerMember?: number;
  /** A request with no answer after this long fails with a timeout code. */
  requestTimeoutMs?: number;
};
