/**
 * Keep-alive undici pools, one per member, and one bounded JSON request
 * helper shared by the target adapters.
 */
import { Pool } from 'undici';
import type {
  ErrorOutcome,
  GetOutcome,
  KvClient,
  KvTarget,
  PutOutcome,
  ReadConsistency,
  TargetKind,
  TargetOptions,
} from './target.ts';

/** Default per-request deadline: long enough for an fsync storm, short enough to keep a sweep bounded. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
/** Default pool size per member: enough for 128 clients over 3 members. */
export const DEFAULT_CONNECTIONS_PER_MEMBER = 64;

/** A JSON answer, already read to the end (so the socket goes back to the pool). */
export type JsonResponse = { status: number; body: unknown; text: string };

/** Pools to every member of a cluster. */
export class MemberPools {
  readonly urls: readonly string[];
  readonly #pools: Pool[];
  readonly #timeoutMs: number;

  constructor(urls: readonly string[], options: TargetOptions = {}) {
    if (urls.length === 0) throw new Error('a target needs at least one member URL');
    this.urls = urls.map((u) => u.replace(/\/+$/, ''));
    this.#timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#pools = this.urls.map(
      (url) =>
        new Pool(url, {
          connections: options.connectionsPerMember ?? DEFAULT_CONNECTIONS_PER_MEMBER,
          pipelining: 1,
          keepAliveTimeout: 30_000,
          headersTimeout: this.#timeoutMs,
          bodyTimeout: this.#timeoutMs,
        }),
    );
  }

  /** Member index for a logical client: round-robin. */
  memberFor(clientIndex: number): number {
    return ((clientIndex % this.#pools.length) + this.#pools.length) % this.#pools.length;
  }

  /**
   * Sends one request and reads the whole answer. Never throws: transport
   * failures come back as an `ErrorOutcome` named after undici's error code.
   */
  async request(
    memberIndex: number,
    method: 'GET' | 'PUT' | 'POST',
    path: string,
    jsonBody?: unknown,
  ): Promise<JsonResponse | ErrorOutcome> {
    const pool = this.#pools[memberIndex];
    if (pool === undefined) return { type: 'error', code: 'no-such-member', message: `member ${memberIndex}` };
    try {
      const response = await pool.request({
        method,
        path,
        headers: jsonBody === undefined ? {} : { 'content-type': 'application/json' },
        body: jsonBody === undefined ? null : JSON.stringify(jsonBody),
      });
      const text = await response.body.text();
      let body: unknown;
      try {
        body = text.length === 0 ? undefined : JSON.parse(text);
      } catch {
        return {
          type: 'error',
          code: 'bad-response',
          message: `non-JSON answer (${response.statusCode}): ${text.slice(0, 200)}`,
          status: response.statusCode,
        };
      }
      return { status: response.statusCode, body, text };
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      return {
        type: 'error',
        code: typeof code === 'string' ? code : 'transport',
        message: err instanceof Error ? err.message : String(err),
      };
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.#pools.map((p) => p.destroy().catch(() => undefined)));
  }
}

/** True when `x` is a transport-level failure rather than an answer. */
export function isErrorOutcome(x: JsonResponse | ErrorOutcome): x is ErrorOutcome {
  return 'type' in x;
}

/** Builds the error outcome for a non-2xx answer, using the JSON `error` code when there is one. */
export function httpError(response: JsonResponse): ErrorOutcome {
  const body = response.body as { error?: unknown; message?: unknown } | undefined;
  const code = typeof body?.error === 'string' && body.error.length <= 64 ? body.error : `http-${response.status}`;
  const message = typeof body?.message === 'string' ? body.message : response.text.slice(0, 200);
  return { type: 'error', code, message, status: response.status };
}

/** How one system's put and get become requests on a member's pool. */
export interface TargetRequests {
  put(pools: MemberPools, memberIndex: number, key: string, value: string): Promise<PutOutcome>;
  get(pools: MemberPools, memberIndex: number, key: string, consistency: ReadConsistency): Promise<GetOutcome>;
}

/** A bench target over keep-alive pools: logical client i talks to member i mod n. */
export function pooledTarget(
  kind: TargetKind,
  memberUrls: readonly string[],
  options: TargetOptions,
  requests: TargetRequests,
): KvTarget {
  const pools = new MemberPools(memberUrls, options);
  return {
    kind,
    memberUrls: pools.urls,
    client(clientIndex: number): KvClient {
      const memberIndex = pools.memberFor(clientIndex);
      return {
        memberIndex,
        put: (key, value) => requests.put(pools, memberIndex, key, value),
        get: (key, consistency) => requests.get(pools, memberIndex, key, consistency),
      };
    },
    close: () => pools.close(),
  };
}
