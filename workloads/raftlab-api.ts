/**
 * raftlab's client API, as both of its clients speak it: the chaos client (client.ts: ops become ok/fail/info) and
 * the bench target (targets/raftlab.ts: throughput and latency). One place knows the routes, the bodies and the
 * answers (docs/architecture.md "The client API": `PUT /kv/{key}`, `GET /kv/{key}[?stale=true]`,
 * `POST /kv/{key}/cas`, `DELETE /kv/{key}`, `GET /status`).
 */
import { sendJson } from './http-json.ts';
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
