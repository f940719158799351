/**
 * Client adapters: how an op becomes a request to the system under test and
 * how the answer becomes ok / fail / info (docs/architecture.md "Clients and the
 * history"):
 * - ok: it happened (with the value read);
 * - fail: it certainly did not happen: 409 cas-mismatch, any other 4xx, 503
 *   with error no-leader / not-leader;
 * - info: unknown: timeout, connection reset/refused mid-request, any other 5xx.
 * A read has no effect on state, so an unknown read is reported as fail
 * (Jepsen does the same): dropping it from the history loses nothing and the
 * process need not be retired.
 */
import { Pool, errors as undiciErrors } from 'undici';
import { sendJson } from './http-json.ts';
import { decodeRead, requestFor, SERVED_BY_HEADER } from './raftlab-api.ts';
import type { Completion, Op } from './types.ts';

/** Runs one op against one node; must never throw (errors become fail/info). */
export interface ClientAdapter {
  /** `process` and `seq` identify the request for client sessions (Raft §8). */
  invoke(op: Op, node: string, session: { client: string; seq: number }): Promise<Completion>;
  /** Closes connections. */
  close(): Promise<void>;
}

/** Options of the raftlab HTTP client. */
export interface RaftlabClientOptions {
  /** Base URL per node id, e.g. the client proxies `{ n1: 'http://127.0.0.1:PORT' }`. */
  urls: Record<string, string>;
  /** Per-request deadline; a request still running after it is `info`. */
  timeoutMs: number;
}

interface ErrorBody {
  error?: unknown;
  message?: unknown;
}

/** Maps an HTTP status and error body to fail or info. */
export function classifyHttpError(statusCode: number, body: ErrorBody | undefined): Completion {
  const code = typeof body?.error === 'string' ? body.error : `http-${statusCode}`;
  if (statusCode >= 400 && statusCode < 500) return { type: 'fail', error: code };
  if (statusCode === 503 && (code === 'no-leader' || code === 'not-leader')) return { type: 'fail', error: code };
  return { type: 'info', error: code };
}

/** Names a transport error compactly for the history. */
function transportError(error: unknown): string {
  if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError)
    return 'timeout';
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'timeout';
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.message : String(error);
}

/**
 * Connection refused before anything was sent means the request certainly did
 * not reach the node; everything else (reset, socket closed, timeout) may have.
 */
function certainlyNotSent(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ECONNREFUSED';
}

/** The client for our node's JSON API, one keep-alive undici Pool per node URL. */
export class RaftlabClient implements ClientAdapter {
  private readonly pools = new Map<string, Pool>();
  private readonly options: RaftlabClientOptions;

  constructor(options: RaftlabClientOptions) {
    this.options = options;
    for (const [node, url] of Object.entries(options.urls)) {
      this.pools.set(node, new Pool(url, { connections: 64, pipelining: 1, keepAliveTimeout: 10_000 }));
    }
  }

  async invoke(op: Op, node: string, session: { client: string; seq: number }): Promise<Completion> {
    const pool = this.pools.get(node);
    if (pool === undefined) return { type: 'fail', error: `unknown node ${node}` };
    const { method, path, body } = requestFor(op, session);
    let completion: Completion;
    try {
      const answer = await sendJson(pool, { method, path, body, timeoutMs: this.options.timeoutMs });
      if (answer.statusCode === 200) {
        if (op.f === 'read') {
          const read = decodeRead(answer.body);
          completion =
            read === undefined ? { type: 'info', error: 'bad-read-body' } : { type: 'ok', value: read.value };
        } else {
          completion = { type: 'ok', value: op.value };
        }
      } else {
        completion = classifyHttpError(answer.statusCode, answer.body as ErrorBody | undefined);
      }
      const servedBy = answer.headers[SERVED_BY_HEADER];
      if (typeof servedBy === 'string') completion.servedBy = servedBy;
    } catch (error) {
      completion = certainlyNotSent(error)
        ? { type: 'fail', error: transportError(error) }
        : { type: 'info', error: transportError(error) };
    }
    // §"Clients and the history": reads never change state, so an unknown read is a failed read.
    if (op.f === 'read' && completion.type === 'info') return { type: 'fail', error: completion.error };
    return completion;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.pools.values()].map((pool) => pool.destroy()));
  }
}

/**
 * TEST ONLY: wraps a real client and, with probability `staleProbability`,
 * answers a read with an older value it saw written for the key instead of
 * asking the node. Used to prove the pipeline can say "not linearizable".
 */
export class StaleReadClient implements ClientAdapter {
  private readonly inner: ClientAdapter;
  private readonly history = new Map<string, unknown[]>();
  private counter = 0;
  private readonly everyNth: number;

  /** `everyNth`: every n-th read (deterministic) returns a stale value when one exists. */
  constructor(inner: ClientAdapter, everyNth = 3) {
    this.inner = inner;
    this.everyNth = everyNth;
  }

  async invoke(op: Op, node: string, session: { client: string; seq: number }): Promise<Completion> {
    if (op.f === 'read') {
      const values = this.history.get(op.key) ?? [];
      this.counter++;
      if (values.length >= 2 && this.counter % this.everyNth === 0) {
        // The first value ever written to the key: stale once anything else was acknowledged.
        return { type: 'ok', value: values[0] };
      }
    }
    const completion = await this.inner.invoke(op, node, session);
    if (completion.type === 'ok' && op.f !== 'read') {
      const list = this.history.get(op.key) ?? [];
      list.push(op.f === 'write' ? op.value : op.value[1]);
      this.history.set(op.key, list);
    }
    return completion;
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
