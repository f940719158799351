/**
 * Target adapter for etcd's v3 JSON gateway (grpc-gateway in front of the
 * KV service). etcd 3.4 serves it under `/v3/` (`/v3beta/` is the deprecated
 * alias); checked against Debian's etcd 3.4.23. Keys and values are base64 in
 * both directions, int64 fields come back as strings, and an absent key
 * simply has no `kvs` array.
 */
import { isErrorOutcome, pooledTarget } from './http.ts';
import type {
  ErrorOutcome,
  GetOutcome,
  KvClient,
  KvTarget,
  PutOutcome,
  ReadConsistency,
  TargetOptions,
} from './target.ts';

/** Gateway prefix for etcd >= 3.4. */
export const ETCD_GATEWAY_PREFIX = '/v3';

/** Base64 of a UTF-8 string (the gateway's encoding of `bytes` fields). */
export function toBase64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/** UTF-8 string of a base64 `bytes` field. */
export function fromBase64(b64: string): string {
  return Buffer.from(b64, 'base64').toString('utf8');
}

/** Body of `POST /v3/kv/put`. */
export function encodeEtcdPut(key: string, value: string): { key: string; value: string } {
  return { key: toBase64(key), value: toBase64(value) };
}

/**
 * Body of `POST /v3/kv/range` for one key. etcd's range is linearizable by
 * default (it goes through its ReadIndex); `serializable: true` answers from
 * the local member, which may be stale.
 */
export function encodeEtcdRange(key: string, consistency: ReadConsistency): { key: string; serializable?: true } {
  return consistency === 'stale' ? { key: toBase64(key), serializable: true } : { key: toBase64(key) };
}

/**
 * Error outcome of a gateway error answer: `{"error", "message", "code"}`
 * where `code` is the gRPC status code (14 = unavailable, 4 = deadline).
 */
export function decodeEtcdError(status: number, body: unknown): ErrorOutcome {
  const b = body as { code?: unknown; message?: unknown; error?: unknown } | undefined;
  const grpcCode = typeof b?.code === 'number' ? b.code : undefined;
  const message = typeof b?.message === 'string' ? b.message : typeof b?.error === 'string' ? b.error : '';
  return {
    type: 'error',
    code: grpcCode === undefined ? `http-${status}` : `etcd-grpc-${grpcCode}`,
    message: message || `HTTP ${status}`,
    status,
  };
}

/** Reads a put answer: success carries a `header` with the new revision. */
export function decodeEtcdPut(status: number, body: unknown): PutOutcome {
  if (status !== 200) return decodeEtcdError(status, body);
  const b = body as { header?: { revision?: unknown } } | undefined;
  if (typeof b?.header?.revision !== 'string') {
    return { type: 'error', code: 'bad-response', message: `unexpected put answer: ${JSON.stringify(body)}` };
  }
  return { type: 'ok' };
}

/** Reads a range answer for one key. */
export function decodeEtcdRange(status: number, body: unknown, key: string): GetOutcome {
  if (status !== 200) return decodeEtcdError(status, body);
  const b = body as { header?: unknown; kvs?: unknown } | undefined;
  if (b === undefined || typeof b.header !== 'object' || b.header === null) {
    return { type: 'error', code: 'bad-response', message: `unexpected range answer: ${JSON.stringify(body)}` };
  }
  if (b.kvs === undefined) return { type: 'ok', value: null };
  if (!Array.isArray(b.kvs)) return { type: 'error', code: 'bad-response', message: 'kvs is not an array' };
  const wanted = toBase64(key);
  const kv = (b.kvs as { key?: unknown; value?: unknown }[]).find((e) => e.key === wanted);
  if (kv === undefined) return { type: 'ok', value: null };
  // proto3 JSON leaves out empty fields, so an empty value has no `value`.
  return { type: 'ok', value: typeof kv.value === 'string' ? fromBase64(kv.value) : '' };
}

/** Connects to an etcd cluster given its members' client URLs. */
export function connectEtcd(memberUrls: readonly string[], options: TargetOptions = {}): KvTarget {
  return pooledTarget('etcd', memberUrls, options, {
    async put(pools, memberIndex, key, value): Promise<PutOutcome> {
      const r = await pools.request(memberIndex, 'POST', `${ETCD_GATEWAY_PREFIX}/kv/put`, encodeEtcdPut(key, value));
      return isErrorOutcome(r) ? r : decodeEtcdPut(r.status, r.body);
    },
    async get(pools, memberIndex, key, consistency): Promise<GetOutcome> {
      const body = encodeEtcdRange(key, consistency);
      const r = await pools.request(memberIndex, 'POST', `${ETCD_GATEWAY_PREFIX}/kv/range`, body);
      return isErrorOutcome(r) ? r : decodeEtcdRange(r.status, r.body, key);
    },
  });
}
