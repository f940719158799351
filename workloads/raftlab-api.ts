/**
 * raftlab's client API, as both of its clients speak it: the chaos client (client.ts: ops become ok/fail/info) and
 * the bench target (targets/raftlab.ts: throughput and latency). One place knows the routes, the bodies and the
 * answers (docs/architecture.md "The client API": `PUT /kv/{key}`, `GET /kv/{key}[?stale=true]`,
 * `POST /kv/{key}/cas`, `DELETE /kv/{key}`, `GET /status`).
 */
import { type JsonRequest, sendJson } from './http-json.ts';
import type { Op } from './types.ts';

/** Response header naming the node that executed a request (node/transport.ts SERVED_BY_HEADER; optional for other nodes). */
export const SERVED_BY_HEADER = 'x-raftlab-served-by';

/** A client session (Raft §8): a resent write with the same (client, seq) is applied at most once. */
export interface Session {
  client: string;
  seq: number;
}

/** One HTTP request of the API. */
export interface ApiRequest {
  method: 'GET' | 'PUT' | 'POST';
  path: string;
  /** JSON body, undefined for GET. */
  body: unknown;
}

/** The request path of a key (keys are URL-encoded); `stale` asks for a local, possibly stale read. */
export function keyPath(key: string, stale = false): string {
  const path = `/kv/${encodeURIComponent(key)}`;
  return stale ? `${path}?stale=true` : path;
}

/** The request that runs `op`, with the session fields when there is a session. */
export function requestFor(op: Op, session?: Session): ApiRequest {
  const path = keyPath(op.key);
  const sessionFields = session === undefined ? {} : { client: session.client, seq: session.seq };
  switch (op.f) {
    case 'read':
      return { method: 'GET', path, body: undefined };
    case 'write':
      return { method: 'PUT', path, body: { value: op.value, ...sessionFields } };
    case 'cas':
      return {
        method: 'POST',
        path: `${path}/cas`,
        body: { expected: op.value[0], value: op.value[1], ...sessionFields },
      };
    default: {
      const unreachable: never = op;
      throw new Error(`unknown op ${JSON.stringify(unreachable)}`);
    }
  }
}

/** Reads a `GET /kv/{key}` answer: `{"found": bool, "value": V or null}`; undefined when the body is not that. */
export function decodeRead(body: unknown): { found: boolean; value: unknown } | undefined {
  const read = body as { found?: unknown; value?: unknown } | undefined;
  if (read === undefined || read === null || typeof read.found !== 'boolean') return undefined;
  return { found: read.found, value: read.found ? (read.value ?? null) : null };
}

/** A member's answer to `GET /status` (raftlab's node; other systems map their status onto it). */
export interface MemberStatus {
  id: string;
  role: string;
  term: number;
  leader: string | null;
  commitIndex: number;
  appliedIndex: number;
  snapshotIndex?: number;
  logEntries?: number;
  /** Last log entry's index and term, and the vote in the current term. */
  lastIndex?: number;
  lastTerm?: number;
  vote?: string | null;
  /** The configuration in force at this member (thesis §4.1: the newest in its log, committed or not). */
  configuration?: { index: number; voters: string[]; learners: string[] };
}

/** `GET /status` of one member with a short timeout; undefined when it does not answer. */
export async function fetchStatus(baseUrl: string, timeoutMs = 500): Promise<MemberStatus | undefined> {
  try {
    const answer = await sendJson(baseUrl, { method: 'GET', path: '/status', timeoutMs });
    return answer.statusCode === 200 ? (answer.body as MemberStatus | undefined) : undefined;
  } catch {
    return undefined;
  }
}

/** A member's answer to `GET /members` (the admin API; also the body of a successful change). */
export interface MembersView {
  /** The leader this member knows of (null: none). */
  leader: string | null;
  term: number;
  /** Log index of the configuration entry in force at this member. */
  configIndex: number;
  /** Whether a change is still uncommitted. */
  pending: boolean;
  members: { id: string; url: string; role: 'voter' | 'learner'; matchIndex?: number }[];
}

/**
 * One answer of a membership request: the HTTP status and body, or `unreachable` (nothing was sent: connection
 * refused) or `unknown` (a timeout or a reset: the request may still take effect).
 */
export type MemberChangeAnswer =
  | { status: number; body: unknown }
  | { status: 'unreachable' | 'unknown'; error: string };

/** `GET /members` of one member; undefined when it does not answer 200 in time. */
export async function fetchMembers(baseUrl: string, timeoutMs = 1000): Promise<MembersView | undefined> {
  try {
    const answer = await sendJson(baseUrl, { method: 'GET', path: '/members', timeoutMs });
    const view = answer.body as MembersView | undefined;
    return answer.statusCode === 200 && Array.isArray(view?.members) ? view : undefined;
  } catch {
    return undefined;
  }
}

/** `POST /members {"id","url"}`: 200 once the new voter committed, 202 while it catches up, 409 / 400 refused. */
export function requestMemberAdd(
  baseUrl: string,
  id: string,
  url: string,
  timeoutMs: number,
): Promise<MemberChangeAnswer> {
  return memberRequest(baseUrl, { method: 'POST', path: '/members', body: { id, url }, timeoutMs });
}

/** `DELETE /members/{id}`: 200 once committed, 404 unknown id, 409 another change pending. */
export function requestMemberRemove(baseUrl: string, id: string, timeoutMs: number): Promise<MemberChangeAnswer> {
  return memberRequest(baseUrl, { method: 'DELETE', path: `/members/${encodeURIComponent(id)}`, timeoutMs });
}

async function memberRequest(baseUrl: string, request: JsonRequest): Promise<MemberChangeAnswer> {
  try {
    const answer = await sendJson(baseUrl, request);
    return { status: answer.statusCode, body: answer.body };
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    const text = typeof code === 'string' ? code : error instanceof Error ? error.message : String(error);
    return { status: code === 'ECONNREFUSED' ? 'unreachable' : 'unknown', error: text };
  }
}
