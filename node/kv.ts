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
      readonly expected: JsonValue;
      readonly value: JsonValue;
    } & SessionTag);

/** The outcome of applying one command. */
export type CommandResult =
  | { readonly type: 'ok' }
  /** cas did not apply: the key held `current` (null = absent). */
  | { readonly type: 'cas-mismatch'; readonly current: JsonValue }
  /** The seq is older than the session's latest: its own outcome is no longer known. */
  | { readonly type: 'stale-seq'; readonly lastSeq: number };

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

/** Structural equality of two JSON values (object key order does not matter). */
export function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => jsonEqual(x, b[i] as JsonValue));
  }
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k] as JsonValue, b[k] as JsonValue));
}

/** The KV state machine of one replica. */
export class KvStateMachine {
  private data = new Map<string, JsonValue>();
  private sessions = new Map<string, Session>();
  /** PLANTED BUG `no-dedup` (node/bugs.ts): sessions are ignored, so a retried command applies again. */
  private readonly ignoreSessions: boolean;

  constructor(options: { ignoreSessions?: boolean } = {}) {
    this.ignoreSessions = options.ignoreSessions === true;
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
      }
      const result = this.execute(cmd);
      // Re-insert so Map order is "least recently written first" for eviction.
      this.sessions.delete(client);
      this.sessions.set(client, { seq, result });
      if (this.sessions.size > SESSIONS_MAX) {
        const oldest = this.sessions.keys().next();
        if (oldest.done !== true) this.sessions.delete(oldest.value);
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
    });
  }

  /** Replaces the whole state with a snapshot made by `snapshot()` (an empty string is the empty state). */
  restore(snapshotData: string): void {
    const data = new Map<string, JsonValue>();
    const sessions = new Map<string, Session>();
    if (snapshotData !== '') {
      const parsed = JSON.parse(snapshotData) as {
        version: number;
        data: [string, JsonValue][];
        sessions: [string, number, CommandResult][];
      };
      if (parsed.version !== 1) throw new Error(`unsupported KV snapshot version ${String(parsed.version)}`);
      for (const [k, v] of parsed.data) data.set(k, v);
      for (const [client, seq, result] of parsed.sessions) sessions.set(client, { seq, result });
    }
    this.data = data;
    this.sessions = sessions;
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
        // `expected: null` means "the key is absent".
        const matches =
          cmd.expected === null ? current === undefined : current !== undefined && jsonEqual(current, cmd.expected);
        if (!matches) return { type: 'cas-mismatch', current: current ?? null };
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
