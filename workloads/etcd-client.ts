/**
 * The chaos client for etcd (v3 JSON gateway): read = range, write = put, cas = a txn comparing the value (or, for
 * an expected absent key, its create revision 0), with the same ok / fail / info rules as raftlab's client. Values
 * are stored as their JSON text, so any JSON value round-trips. etcd has no client sessions, so a write of unknown
 * outcome is never resent.
 */
import { Pool } from 'undici';
import type { ClientAdapter } from './client.ts';
import { sendJson } from './http-json.ts';
import { encodeEtcdPut, encodeEtcdRange, ETCD_GATEWAY_PREFIX, fromBase64, toBase64 } from './targets/etcd.ts';
import type { Completion, Op } from './types.ts';

/** Options of the etcd client. */
export interface EtcdClientOptions {
  /** Client URL per member id. */
  urls: Record<string, string>;
  timeoutMs: number;
  /** `serializable`: reads answered from the local member, which may be stale (etcd's documented trade-off). */
  readMode: 'linearizable' | 'serializable';
}

/** The gateway request that runs `op`. */
export function etcdRequestFor(op: Op, readMode: EtcdClientOptions['readMode']): { path: string; body: unknown } {
  switch (op.f) {
    case 'read':
      return {
        path: `${ETCD_GATEWAY_PREFIX}/kv/range`,
        body: encodeEtcdRange(op.key, readMode === 'serializable' ? 'stale' : 'linearizable'),
      };
    case 'write':
      return { path: `${ETCD_GATEWAY_PREFIX}/kv/put`, body: encodeEtcdPut(op.key, JSON.stringify(op.value)) };
    case 'cas': {
      const [expected, next] = op.value;
      const key = toBase64(op.key);
      const compare =
        expected === null
          ? { key, target: 'CREATE', result: 'EQUAL', create_revision: '0' }
          : { key, target: 'VALUE', result: 'EQUAL', value: toBase64(JSON.stringify(expected)) };
      return {
        path: `${ETCD_GATEWAY_PREFIX}/kv/txn`,
        body: { compare: [compare], success: [{ request_put: encodeEtcdPut(op.key, JSON.stringify(next)) }] },
      };
    }
    default: {
      const unreachable: never = op;
      throw new Error(`unknown op ${JSON.stringify(unreachable)}`);
    }
  }
}

/** Turns a 200 answer of the gateway into the op's completion. */
export function etcdCompletion(op: Op, body: unknown): Completion {
  const answer = body as { kvs?: { value?: string }[]; succeeded?: boolean; header?: unknown } | undefined;
  if (answer === undefined || typeof answer.header !== 'object') return { type: 'info', error: 'bad-answer' };
  switch (op.f) {
    case 'read': {
      const stored = answer.kvs?.[0]?.value;
      if (stored === undefined) return { type: 'ok', value: null };
      try {
        return { type: 'ok', value: JSON.parse(fromBase64(stored)) };
      } catch {
        return { type: 'info', error: 'value-not-json' };
      }
    }
    case 'write':
      return { type: 'ok', value: op.value };
    case 'cas':
      // proto3 JSON leaves `succeeded: false` out.
      return answer.succeeded === true ? { type: 'ok', value: op.value } : { type: 'fail', error: 'cas-mismatch' };
    default: {
      const unreachable: never = op;
      throw new Error(`unknown op ${JSON.stringify(unreachable)}`);
    }
  }
}

/** etcd's gateway as a chaos client adapter. */
export class EtcdClient implements ClientAdapter {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly options: EtcdClientOptions) {
    for (const [id, url] of Object.entries(options.urls)) {
      this.pools.set(id, new Pool(url, { connections: 64, pipelining: 1, keepAliveTimeout: 10_000 }));
    }
  }

  async invoke(op: Op, node: string): Promise<Completion> {
    const pool = this.pools.get(node);
    if (pool === undefined) return { type: 'fail', error: `unknown node ${node}` };
    const { path, body } = etcdRequestFor(op, this.options.readMode);
    let completion: Completion;
    try {
      const answer = await sendJson(pool, { method: 'POST', path, body, timeoutMs: this.options.timeoutMs });
      // A 4xx is a request etcd refused before proposing it; any 5xx (unavailable, timeout, leader lost) may still
      // be applied.
      if (answer.statusCode === 200) completion = etcdCompletion(op, answer.body);
      else if (answer.statusCode < 500) completion = { type: 'fail', error: `http-${answer.statusCode}` };
      else completion = { type: 'info', error: `http-${answer.statusCode}` };
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      completion =
        code === 'ECONNREFUSED'
          ? { type: 'fail', error: 'ECONNREFUSED' }
          : { type: 'info', error: typeof code === 'string' ? code : 'transport' };
    }
    // A read has no effect: an unknown read is a failed read.
    if (op.f === 'read' && completion.type === 'info') return { type: 'fail', error: completion.error };
    return completion;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.pools.values()].map((pool) => pool.destroy()));
  }
}
