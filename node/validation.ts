/**
 * Validation of everything that arrives over HTTP: peer messages and client
 * request bodies. Bad input becomes a `WireError` (answered 4xx), never an
 * exception inside the core or the state machine.
 */
import { CLIENT_ID_PATTERN, type JsonValue } from './kv.ts';
import { decodeConfiguration } from './raft/configuration.ts';
import type { Entry, Message, NodeId } from './raft/types.ts';

/** A request the node refuses; `status` is 4xx, `code` goes into the JSON body. */
export class WireError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function need(cond: boolean, what: string): void {
  if (!cond) throw new WireError(400, 'bad-message', what);
}

function checkEntry(e: unknown, i: number): asserts e is Entry {
  need(isObj(e), `entries[${i}] is not an object`);
  const o = e as Obj;
  need(isIndex(o.index) && isIndex(o.term), `entries[${i}] needs integer index and term`);
  need(
    o.kind === 'normal' || o.kind === 'empty' || o.kind === 'config',
    `entries[${i}].kind must be "normal", "empty" or "config"`,
  );
  need(typeof o.data === 'string', `entries[${i}].data must be a string`);
  if (o.kind === 'config') checkConfiguration(o.data as string, `entries[${i}].data`);
}

/** A configuration (entry data or a snapshot's) must decode, or the core would throw on it. */
function checkConfiguration(data: string, what: string): void {
  try {
    decodeConfiguration(data);
  } catch (err) {
    throw new WireError(400, 'bad-message', `${what}: ${(err as Error).message}`);
  }
}

/**
 * A member id: what `--id` accepts, at most 64 characters of letters, digits,
 * `_`, `.` and `-` (it appears in URLs, flags and file names).
 */
export const MEMBER_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

export function isMemberId(v: unknown): v is NodeId {
  return typeof v === 'string' && MEMBER_ID_PATTERN.test(v);
}

/**
 * Checks a decoded `POST /raft/messages` body: an array of messages addressed
 * to `selfId` from known peers (`'any'`: any well-formed id, since a server
 * added to the configuration may not be in this node's address book, and
 * thesis §4.1 has servers answer RPCs without consulting the configuration),
 * each with the fields its type requires.
 */
export function parsePeerMessages(body: unknown, selfId: NodeId, peers: ReadonlySet<NodeId> | 'any'): Message[] {
  need(Array.isArray(body), 'body must be a JSON array of messages');
  const list = body as unknown[];
  list.forEach((m, i) => {
    need(isObj(m), `message ${i} is not an object`);
    const o = m as Obj;
    need(
      typeof o.from === 'string' && (peers === 'any' ? isMemberId(o.from) : peers.has(o.from)) && o.from !== selfId,
      `message ${i}: unknown sender ${JSON.stringify(o.from)}`,
    );
    need(o.to === selfId, `message ${i} is addressed to ${JSON.stringify(o.to)}, not ${selfId}`);
    need(isIndex(o.term), `message ${i}: term must be a non-negative integer`);
    const type = o.type;
    switch (type) {
      case 'vote-request':
        need(
          typeof o.preVote === 'boolean' && isIndex(o.lastLogIndex) && isIndex(o.lastLogTerm),
          `message ${i}: bad vote-request`,
        );
        break;
      case 'vote-response':
        need(typeof o.preVote === 'boolean' && typeof o.granted === 'boolean', `message ${i}: bad vote-response`);
        break;
      case 'append-request': {
        need(
          isIndex(o.prevLogIndex) && isIndex(o.prevLogTerm) && isIndex(o.commit) && Array.isArray(o.entries),
          `message ${i}: bad append-request`,
        );
        (o.entries as unknown[]).forEach(checkEntry);
        break;
      }
      case 'append-response':
        need(
          typeof o.success === 'boolean' &&
            isIndex(o.matchIndex) &&
            isIndex(o.conflictIndex) &&
            isIndex(o.conflictTerm),
          `message ${i}: bad append-response`,
        );
        break;
      case 'heartbeat-request':
        need(
          isIndex(o.commit) && (o.context === null || typeof o.context === 'string'),
          `message ${i}: bad heartbeat-request`,
        );
        break;
      case 'heartbeat-response':
        need(o.context === null || typeof o.context === 'string', `message ${i}: bad heartbeat-response`);
        break;
      case 'snapshot-request': {
        const s = o.snapshot;
        need(
          isObj(s) && isObj(s.meta) && isIndex(s.meta.index) && isIndex(s.meta.term) && typeof s.data === 'string',
          `message ${i}: bad snapshot-request`,
        );
        const meta = (s as Obj).meta as Obj;
        if (meta.config !== undefined) checkConfiguration(JSON.stringify(meta.config), `message ${i}: snapshot config`);
        break;
      }
      default:
        throw new WireError(400, 'bad-message', `message ${i}: unknown type ${JSON.stringify(type)}`);
    }
  });
  return list as Message[];
}

/** A member id from a URL path segment (`DELETE /members/{id}`). */
export function decodeMemberId(raw: string): NodeId {
  let id: string;
  try {
    id = decodeURIComponent(raw);
  } catch {
    throw new WireError(400, 'bad-request', `member id ${JSON.stringify(raw)} is not valid URL encoding`);
  }
  if (!isMemberId(id))
    throw new WireError(
      400,
      'bad-request',
      `member id ${JSON.stringify(id)} must be 1-64 letters, digits, "_", "." or "-"`,
    );
  return id;
}

/** `POST /members` body: `{"id": "n4", "url": "http://127.0.0.1:PORT"}`. */
export function parseAddMemberBody(text: string): { id: NodeId; url: string } {
  const o = parseJsonObject(text);
  if (!isMemberId(o.id))
    throw new WireError(400, 'bad-request', '"id" must be a string of 1-64 letters, digits, "_", "." or "-"');
  if (typeof o.url !== 'string')
    throw new WireError(400, 'bad-request', '"url" must be a string like http://127.0.0.1:7004');
  let parsed: URL;
  try {
    parsed = new URL(o.url);
  } catch {
    throw new WireError(400, 'bad-request', `"url" ${JSON.stringify(o.url)} is not a URL`);
  }
  if (parsed.protocol !== 'http:' || parsed.pathname !== '/' || parsed.search !== '' || parsed.hash !== '')
    throw new WireError(
      400,
      'bad-request',
      `"url" must be http://HOST:PORT with no path (got ${JSON.stringify(o.url)})`,
    );
  return { id: o.id, url: `${parsed.protocol}//${parsed.host}` };
}

/** Client session fields of a write body (§8). */
export interface SessionFields {
  readonly client?: string;
  readonly seq?: number;
}

function parseSession(o: Obj): SessionFields {
  const client = o.client;
  const seq = o.seq;
  if (client === undefined && seq === undefined) return {};
  if (client === undefined || seq === undefined)
    throw new WireError(400, 'bad-request', '"client" and "seq" must be given together');
  // Strings only: accepting numbers too would either make 1 and "1" one
  // session (a retry of one answered with the other's result) or need a
  // typed session key in every log entry and snapshot.
  if (!(typeof client === 'string' && CLIENT_ID_PATTERN.test(client)))
    throw new WireError(
      400,
      'bad-request',
      '"client" must be a string of 1-128 printable ASCII characters without spaces, quotes or backslashes',
    );
  if (!isIndex(seq)) throw new WireError(400, 'bad-request', '"seq" must be a non-negative integer');
  return { client, seq };
}

/**
 * Deepest nesting of arrays and objects accepted in a client value. Values
 * are copied, compared and serialized on every replica (and in snapshots);
 * a bound far below what the call stack and JSON.stringify survive keeps
 * every one of those steps safe.
 */
export const JSON_DEPTH_MAX = 100;

/**
 * Checks a client value before it can enter the log: nesting at most
 * JSON_DEPTH_MAX deep and every number finite (JSON.parse turns 1e400 into
 * Infinity, which JSON.stringify would write back as null). Iterative, so
 * a hostile body cannot overflow the stack here either.
 */
function checkValue(value: unknown, field: string): JsonValue {
  const stack: [unknown, number][] = [[value, 0]];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [v, depth] = item;
    if (typeof v === 'number' && !Number.isFinite(v))
      throw new WireError(400, 'bad-request', `"${field}" holds a number out of the double range (e.g. 1e400)`);
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= JSON_DEPTH_MAX)
      throw new WireError(
        400,
        'bad-request',
        `"${field}" is nested more than ${JSON_DEPTH_MAX} levels deep (arrays and objects)`,
      );
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return value as JsonValue;
}

/** Parses a JSON body that must be an object. */
export function parseJsonObject(text: string): Obj {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new WireError(400, 'bad-json', `body is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObj(v)) throw new WireError(400, 'bad-request', 'body must be a JSON object');
  return v;
}

/** `PUT /kv/{key}` body: `{"value": V, "client"?, "seq"?}`. */
export function parsePutBody(text: string): { value: JsonValue } & SessionFields {
  const o = parseJsonObject(text);
  if (!('value' in o)) throw new WireError(400, 'bad-request', 'body needs a "value" field (any JSON value)');
  return { value: checkValue(o.value, 'value'), ...parseSession(o) };
}

/**
 * `POST /kv/{key}/cas` body: `{"expected": V|null, "present"?: boolean, "value": V, "client"?, "seq"?}`.
 * `"expected": null` means "the key is absent"; with `"present": true` it
 * means "the key holds JSON null" instead.
 */
export function parseCasBody(text: string): { expected: JsonValue; present?: true; value: JsonValue } & SessionFields {
  const o = parseJsonObject(text);
  if (!('expected' in o))
    throw new WireError(400, 'bad-request', 'body needs an "expected" field (null means the key is absent)');
  if (!('value' in o)) throw new WireError(400, 'bad-request', 'body needs a "value" field (any JSON value)');
  const expected = checkValue(o.expected, 'expected');
  const present = o.present;
  if (present !== undefined && typeof present !== 'boolean')
    throw new WireError(400, 'bad-request', '"present" must be true or false');
  if (present === false && expected !== null)
    throw new WireError(400, 'bad-request', '"present": false expects the key absent, so "expected" must be null');
  return {
    expected,
    ...(present === true && expected === null ? { present: true as const } : {}),
    value: checkValue(o.value, 'value'),
    ...parseSession(o),
  };
}

/** `DELETE /kv/{key}` body: empty, or `{"client"?, "seq"?}`. */
export function parseDeleteBody(text: string): SessionFields {
  if (text.trim() === '') return {};
  return parseSession(parseJsonObject(text));
}

/**
 * Splits a peer message stream (`POST /raft/stream`) into frames. The stream
 * is newline-delimited JSON: each frame is one JSON array of messages
 * followed by `\n`. JSON text never contains a raw newline (JSON.stringify
 * escapes control characters inside strings), so `\n` is an unambiguous
 * delimiter and a frame needs no length prefix.
 */
export class FrameDecoder {
  /** Bytes of the frame not yet terminated, in arrival order. */
  private parts: Buffer[] = [];
  private partBytes = 0;

  constructor(private readonly frameBytesMax: number) {}

  /** Feeds one chunk; returns the frames it completed (UTF-8 text without the newline). Throws a 413 WireError on an oversized frame. */
  push(chunk: Buffer): string[] {
    const frames: string[] = [];
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(10, start);
      if (newline === -1) break;
      let frame = chunk.subarray(start, newline);
      if (this.partBytes > 0) {
        this.parts.push(frame);
        frame = Buffer.concat(this.parts);
        this.parts = [];
        this.partBytes = 0;
      }
      this.checkSize(frame.length);
      frames.push(frame.toString('utf8'));
      start = newline + 1;
    }
    if (start < chunk.length) {
      this.partBytes += chunk.length - start;
      this.checkSize(this.partBytes);
      this.parts.push(chunk.subarray(start));
    }
    return frames;
  }

  /** Bytes received after the last complete frame (a stream that ends with some is truncated). */
  get pendingBytes(): number {
    return this.partBytes;
  }

  private checkSize(bytes: number): void {
    if (bytes > this.frameBytesMax)
      throw new WireError(413, 'body-too-large', `peer message frame exceeds the limit of ${this.frameBytesMax} bytes`);
  }
}

/** Encodes one frame of a peer message stream (see FrameDecoder). */
export function encodeFrame(messages: readonly Message[]): string {
  return `${JSON.stringify(messages)}\n`;
}

/** Decodes and checks one frame: a JSON array of messages addressed to `selfId` (a 400 WireError otherwise). */
export function parseFrame(frame: string, selfId: NodeId, peers: ReadonlySet<NodeId> | 'any'): Message[] {
  let body: unknown;
  try {
    body = JSON.parse(frame);
  } catch (err) {
    throw new WireError(400, 'bad-json', `peer message frame is not valid JSON: ${(err as Error).message}`);
  }
  return parsePeerMessages(body, selfId, peers);
}
