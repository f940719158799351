/**
 * The replicated key-value state machine. Commands arrive as committed log
 * entries, in log order, on every replica; `apply` is deterministic, so every
 * replica computes the same state and the same results (§5.4.3 State Machine
 * Safety).
 *
 * Client sessions (§8): a command may carry `client` and `seq`. The machine
 * remembers, per client, the highest seq applied and its result; a command
 * whose seq was already applied returns the recorded result without applying
 * again, so a client that retries after a timeout gets exactly-once writes.
 * Sessions are evicted least recently written first; the ids of evicted
 * sessions are remembered (bounded) so that a retry from one is answered
 * "session expired" instead of being executed a second time (thesis §6.3).
 */

/** Any JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A client session tag (§8). */
export interface SessionTag {
  readonly client?: string;
  readonly seq?: number;
}

/** A state-changing command, as stored (JSON-encoded) in a log entry. */
export type Command =
  | ({ readonly op: 'put'; readonly key: string; readonly value: JsonValue } & SessionTag)
  | ({ readonly op: 'delete'; readonly key: string } & SessionTag)
  | ({
      readonly op: 'cas';
      readonly key: string;
      /** null means "the key is absent" unless `present` is true (then the key must hold JSON null). */
      readonly expected: JsonValue;
      readonly present?: boolean;
      readonly value: JsonValue;
    } & SessionTag);

/** The outcome of applying one command. */
export type CommandResult =
  | { readonly type: 'ok' }
  /** cas did not apply: the key held `current` (`found: false`: it was absent, `current` is null). */
  | { readonly type: 'cas-mismatch'; readonly current: JsonValue; readonly found?: boolean }
  /** The seq is older than the session's latest: its own outcome is no longer known. */
  | { readonly type: 'stale-seq'; readonly lastSeq: number }
  /** The client's session was evicted: nothing applied, and the fate of its earlier commands is unknown. */
  | { readonly type: 'session-expired' };

/** The result of a read. */
export interface ReadResult {
  readonly found: boolean;
  readonly value: JsonValue;
}

interface Session {
  seq: number;
  result: CommandResult;
}

/** Sessions beyond this count are evicted oldest-first (deterministically, on every replica alike). */
export const SESSIONS_MAX = 100_000;

/** Ids of evicted sessions remembered beyond the live ones (oldest forgotten first). */
export const EXPIRED_SESSIONS_MAX = 100_000;

/**
 * Structural equality of two JSON values (object key order does not matter).
 * Iterative: a value nested deeper than the call stack allows (entries
 * written before the API bounded nesting) must not crash apply on every
 * replica, again on every restart.
 */
export function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  const stack: [JsonValue, JsonValue][] = [[a, b]];
  for (let pair = stack.pop(); pair !== undefined; pair = stack.pop()) {
    const [x, y] = pair;
    if (x === y) continue;
    if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) return false;
    if (Array.isArray(x) || Array.isArray(y)) {
      if (!Array.isArray(x) || !Array.isArray(y) || x.length !== y.length) return false;
      for (let i = 0; i < x.length; i++) stack.push([x[i] as JsonValue, y[i] as JsonValue]);
      continue;
    }
    const keys = Object.keys(x);
    if (keys.length !== Object.keys(y).length) return false;
    for (const k of keys) {
      if (!Object.hasOwn(y, k)) return false;
      stack.push([x[k] as JsonValue, y[k] as JsonValue]);
    }
  }
  return true;
}

/** The KV state machine of one replica. */
export class KvStateMachine {
  private data = new Map<string, JsonValue>();
  private sessions = new Map<string, Session>();
  /** Evicted session ids, oldest first (a Map for its insertion order). */
  private expired = new Map<string, true>();
  /** PLANTED BUG `no-dedup` (node/bugs.ts): sessions are ignored, so a retried command applies again. */
  private readonly ignoreSessions: boolean;
  private readonly sessionsMax: number;
  private readonly expiredMax: number;

  /** `sessionsMax` / `expiredMax` are for tests; every replica must use the same values (apply is deterministic). */
  constructor(options: { ignoreSessions?: boolean; sessionsMax?: number; expiredMax?: number } = {}) {
    this.ignoreSessions = options.ignoreSessions === true;
    this.sessionsMax = options.sessionsMax ?? SESSIONS_MAX;
    this.expiredMax = options.expiredMax ?? EXPIRED_SESSIONS_MAX;
  }

  /** Applies one command (exactly once per session seq). */
  apply(cmd: Command): CommandResult {
    const client = cmd.client;
    const seq = cmd.seq;
    if (client !== undefined && seq !== undefined && !this.ignoreSessions) {
      const session = this.sessions.get(client);
      if (session !== undefined) {
        if (seq === session.seq) return session.result;
        if (seq < session.seq) return { type: 'stale-seq', lastSeq: session.seq };
      } else if (this.expired.has(client)) {
        // Thesis §6.3: the session's record is gone, so a retry cannot be
        // told from a new command; executing it could apply it twice.
        return { type: 'session-expired' };
      }
      const result = this.execute(cmd);
      // Re-insert so Map order is "least recently written first" for eviction.
      this.sessions.delete(client);
      this.sessions.set(client, { seq, result });
      if (this.sessions.size > this.sessionsMax) {
        const oldest = this.sessions.keys().next();
        if (oldest.done !== true) {
          this.sessions.delete(oldest.value);
          this.expired.set(oldest.value, true);
          if (this.expired.size > this.expiredMax) {
            const forgotten = this.expired.keys().next();
            if (forgotten.done !== true) this.expired.delete(forgotten.value);
          }
        }
      }
      return result;
    }
    return this.execute(cmd);
  }

  get(key: string): ReadResult {
    const value = this.data.get(key);
    return value === undefined ? { found: false, value: null } : { found: true, value };
  }

  /** Number of keys held. */
  get size(): number {
    return this.data.size;
  }

  /** Serializes keys and sessions (sessions are part of the snapshot, §8). */
  snapshot(): string {
    return JSON.stringify({
      version: 1,
      data: [...this.data],
      sessions: [...this.sessions].map(([client, s]) => [client, s.seq, s.result]),
      expired: [...this.expired.keys()],
    });
  }

  /** Replaces the whole state with a snapshot made by `snapshot()` (an empty string is the empty state). */
  restore(snapshotData: string): void {
    const data = new Map<string, JsonValue>();
    const sessions = new Map<string, Session>();
    const expired = new Map<string, true>();
    if (snapshotData !== '') {
      const parsed = JSON.parse(snapshotData) as {
        version: number;
        data: [string, JsonValue][];
        sessions: [string, number, CommandResult][];
        /** Absent in snapshots taken before expired sessions were remembered. */
        expired?: string[];
      };
      if (parsed.version !== 1) throw new Error(`unsupported KV snapshot version ${String(parsed.version)}`);
      for (const [k, v] of parsed.data) data.set(k, v);
      for (const [client, seq, result] of parsed.sessions) sessions.set(client, { seq, result });
      for (const client of parsed.expired ?? []) expired.set(client, true);
    }
    this.data = data;
    this.sessions = sessions;
    this.expired = expired;
  }

  private execute(cmd: Command): CommandResult {
    switch (cmd.op) {
      case 'put':
        this.data.set(cmd.key, cmd.value);
        return { type: 'ok' };
      case 'delete':
        this.data.delete(cmd.key);
        return { type: 'ok' };
      case 'cas': {
        const current = this.data.get(cmd.key);
        // `expected: null` means "the key is absent", unless `present` says the key must hold JSON null.
        const expectAbsent = cmd.expected === null && cmd.present !== true;
        const matches = expectAbsent
          ? current === undefined
          : current !== undefined && jsonEqual(current, cmd.expected);
        if (!matches) return { type: 'cas-mismatch', current: current ?? null, found: current !== undefined };
        this.data.set(cmd.key, cmd.value);
        return { type: 'ok' };
      }
      default: {
        const never: never = cmd;
        throw new Error(`unknown command ${JSON.stringify(never)}`);
      }
    }
  }
}

/** Encodes a command for a log entry's `data`. */
export function encodeCommand(cmd: Command): string {
  return JSON.stringify(cmd);
}

/** Decodes a log entry's `data`; throws on anything that is not a command (a bug, never user input). */
export function decodeCommand(data: string): Command {
  const c = JSON.parse(data) as Command;
  if (c === null || typeof c !== 'object' || typeof c.key !== 'string' || !['put', 'delete', 'cas'].includes(c.op)) {
    throw new Error(`log entry is not a KV command: ${data.slice(0, 200)}`);
  }
  return c;
}
