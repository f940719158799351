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
  | { readonly type: 'session-expired' }
  /** Nothing applied: the state would outgrow what a snapshot can hold (STATE_CHARS_MAX). */
  | { readonly type: 'state-full' };

/** The result of a read. */
export interface ReadResult {
  readonly found: boolean;
  readonly value: JsonValue;
}

interface Session {
  seq: number;
  result: CommandResult;
  /** Its share of the snapshot text. */
  chars: number;
}

/** Sessions beyond this count are evicted oldest-first (deterministically, on every replica alike). */
export const SESSIONS_MAX = 100_000;

/** Ids of evicted sessions remembered beyond the live ones (oldest forgotten first). */
export const EXPIRED_SESSIONS_MAX = 100_000;

/**
 * Session client ids: 1-128 printable ASCII characters other than space, `"`
 * and `\\`, so a session's record has a known bounded size (checked at the API).
 */
export const CLIENT_ID_PATTERN = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/;

/**
 * The state machine refuses a put or cas (`state-full`) that would make its
 * snapshot text longer than this many characters. Records without a value
 * (a session's small result, an expired session id) are bounded by count
 * instead and may go beyond it; `snapshotBytesBound` adds them up.
 */
export const STATE_CHARS_MAX = 40 * 1024 * 1024;

/** Most characters of a session record holding no value: `[client,seq,result],` (CLIENT_ID_PATTERN, seq < 2^53). */
const SMALL_SESSION_RECORD_CHARS = 256;
/** Most characters of an expired id in the snapshot: `"client",`. */
const EXPIRED_RECORD_CHARS = 131;
/** `{"version":1,"data":[],"sessions":[],"expired":[]}` and slack. */
const SNAPSHOT_FRAME_CHARS = 64;

/** Limits of one state machine; every replica must use the same (apply is deterministic). */
export interface KvLimits {
  readonly sessionsMax: number;
  readonly expiredMax: number;
  readonly stateCharsMax: number;
}

export const KV_LIMITS: KvLimits = {
  sessionsMax: SESSIONS_MAX,
  expiredMax: EXPIRED_SESSIONS_MAX,
  stateCharsMax: STATE_CHARS_MAX,
};

/**
 * Upper bound on the UTF-8 bytes of a snapshot's text once embedded as a
 * JSON string (the snapshot file's record, the InstallSnapshot frame): each
 * character of the text is at most 3 bytes, raw or escaped (`\"` and `\\\\`
 * are 2; JSON text holds no raw control characters, and a lone surrogate is
 * already written as a 6-character `\\uXXXX`), plus the frame around it.
 */
export function snapshotBytesBound(limits: KvLimits = KV_LIMITS): number {
  const chars =
    limits.stateCharsMax +
    limits.sessionsMax * SMALL_SESSION_RECORD_CHARS +
    limits.expiredMax * EXPIRED_RECORD_CHARS +
    SNAPSHOT_FRAME_CHARS;
  return 3 * chars + 1024;
}

function entryChars(key: string, value: JsonValue): number {
  return JSON.stringify(key).length + JSON.stringify(value).length + 4;
}

function sessionChars(client: string, seq: number, result: CommandResult): number {
  return JSON.stringify([client, seq, result]).length + 1;
}

/** Whether a session record is one of the small ones bounded by count rather than by STATE_CHARS_MAX. */
function holdsValue(result: CommandResult): boolean {
  return result.type === 'cas-mismatch' && result.current !== null;
}

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
  /** Each key's share of the snapshot text. */
  private entrySizes = new Map<string, number>();
  private sessions = new Map<string, Session>();
  /** Evicted session ids, oldest first (a Map for its insertion order). */
  private expired = new Map<string, true>();
  /** Characters of the snapshot text as `snapshot()` would write it, at most (kept up to date on every change). */
  private chars = SNAPSHOT_FRAME_CHARS;
  /** PLANTED BUG `no-dedup` (node/planted-bugs.ts): sessions are ignored, so a retried command applies again. */
  private readonly ignoreSessions: boolean;
  private readonly limits: KvLimits;

  /** Smaller `limits` are for tests; every replica must use the same (apply is deterministic). */
  constructor(options: { ignoreSessions?: boolean } & Partial<KvLimits> = {}) {
    this.ignoreSessions = options.ignoreSessions === true;
    this.limits = {
      sessionsMax: options.sessionsMax ?? KV_LIMITS.sessionsMax,
      expiredMax: options.expiredMax ?? KV_LIMITS.expiredMax,
      stateCharsMax: options.stateCharsMax ?? KV_LIMITS.stateCharsMax,
    };
  }

  /** Applies one command (exactly once per session seq). */
  apply(cmd: Command): CommandResult {
    const client = cmd.client;
    const seq = cmd.seq;
    if (client === undefined || seq === undefined || this.ignoreSessions) return this.execute(cmd, 0);
    const session = this.sessions.get(client);
    if (session !== undefined) {
      if (seq === session.seq) return session.result;
      if (seq < session.seq) return { type: 'stale-seq', lastSeq: session.seq };
    } else if (this.expired.has(client)) {
      // Thesis §6.3: the session's record is gone, so a retry cannot be
      // told from a new command; executing it could apply it twice.
      return { type: 'session-expired' };
    }
    // The session's old record goes, the new one comes: a put must leave room for the latter.
    const freed = session?.chars ?? 0;
    let result = this.execute(cmd, sessionChars(client, seq, { type: 'ok' }) - freed);
    let chars = sessionChars(client, seq, result);
    if (holdsValue(result) && this.chars - freed + chars > this.limits.stateCharsMax) {
      // A recorded mismatch would carry the current value: it must fit too.
      result = { type: 'state-full' };
      chars = sessionChars(client, seq, result);
    }
    // Re-insert so Map order is "least recently written first" for eviction.
    this.sessions.delete(client);
    this.sessions.set(client, { seq, result, chars });
    this.chars += chars - freed;
    if (this.sessions.size > this.limits.sessionsMax) this.evictOldestSession();
    return result;
  }

  get(key: string): ReadResult {
    const value = this.data.get(key);
    return value === undefined ? { found: false, value: null } : { found: true, value };
  }

  /** Number of keys held. */
  get size(): number {
    return this.data.size;
  }

  /** Serializes keys and sessions (sessions are part of the snapshot, §8); at most `snapshotBytesBound()` bytes. */
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
    this.data = new Map();
    this.entrySizes = new Map();
    this.sessions = new Map();
    this.expired = new Map();
    this.chars = SNAPSHOT_FRAME_CHARS;
    if (snapshotData === '') return;
    const parsed = JSON.parse(snapshotData) as {
      version: number;
      data: [string, JsonValue][];
      sessions: [string, number, CommandResult][];
      /** Absent in snapshots taken before expired sessions were remembered. */
      expired?: string[];
    };
    if (parsed.version !== 1) throw new Error(`unsupported KV snapshot version ${String(parsed.version)}`);
    for (const [k, v] of parsed.data) this.store(k, v, entryChars(k, v));
    for (const [client, seq, result] of parsed.sessions) {
      const chars = sessionChars(client, seq, result);
      this.sessions.set(client, { seq, result, chars });
      this.chars += chars;
    }
    for (const client of parsed.expired ?? []) this.addExpired(client);
  }

  private store(key: string, value: JsonValue, chars: number): void {
    this.chars += chars - (this.entrySizes.get(key) ?? 0);
    this.data.set(key, value);
    this.entrySizes.set(key, chars);
  }

  private evictOldestSession(): void {
    const oldest = this.sessions.entries().next();
    if (oldest.done === true) return;
    const [client, session] = oldest.value;
    this.sessions.delete(client);
    this.chars -= session.chars;
    this.addExpired(client);
    if (this.expired.size > this.limits.expiredMax) {
      const forgotten = this.expired.keys().next();
      if (forgotten.done !== true) {
        this.expired.delete(forgotten.value);
        this.chars -= JSON.stringify(forgotten.value).length + 1;
      }
    }
  }

  private addExpired(client: string): void {
    this.expired.set(client, true);
    this.chars += JSON.stringify(client).length + 1;
  }

  /**
   * Writes a value if the snapshot text stays within the limit; `reserved`
   * is what the caller adds besides (a session record), negative when it
   * frees more than it adds.
   */
  private tryStore(key: string, value: JsonValue, reserved: number): boolean {
    const chars = entryChars(key, value);
    const after = this.chars + reserved + chars - (this.entrySizes.get(key) ?? 0);
    if (after > this.limits.stateCharsMax && chars > (this.entrySizes.get(key) ?? 0)) return false;
    this.store(key, value, chars);
    return true;
  }

  /** Runs a command on the data; `reserved`: see tryStore. */
  private execute(cmd: Command, reserved: number): CommandResult {
    switch (cmd.op) {
      case 'put':
        return this.tryStore(cmd.key, cmd.value, reserved) ? { type: 'ok' } : { type: 'state-full' };
      case 'delete':
        // Always allowed: it only frees space.
        this.chars -= this.entrySizes.get(cmd.key) ?? 0;
        this.data.delete(cmd.key);
        this.entrySizes.delete(cmd.key);
        return { type: 'ok' };
      case 'cas': {
        const current = this.data.get(cmd.key);
        // `expected: null` means "the key is absent", unless `present` says the key must hold JSON null.
        const expectAbsent = cmd.expected === null && cmd.present !== true;
        const matches = expectAbsent
          ? current === undefined
          : current !== undefined && jsonEqual(current, cmd.expected);
        if (!matches) return { type: 'cas-mismatch', current: current ?? null, found: current !== undefined };
        return this.tryStore(cmd.key, cmd.value, reserved) ? { type: 'ok' } : { type: 'state-full' };
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
