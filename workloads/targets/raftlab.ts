/**
 * Bench target adapter for raftlab's own client API (routes and bodies: ../raftlab-api.ts).
 */
import { decodeRead, keyPath } from '../raftlab-api.ts';
import { httpError, isErrorOutcome, pooledTarget } from './http.ts';
import type { GetOutcome, KvTarget, PutOutcome, ReadConsistency, TargetOptions } from './target.ts';

/** The request path of a key (keys are URL-encoded). */
export function raftlabKeyPath(key: string, consistency?: ReadConsistency): string {
  return keyPath(key, consistency === 'stale');
}

/** Reads a `GET /kv/{key}` answer body: `{"found": bool, "value": V or null}`. */
export function decodeRaftlabGet(body: unknown): GetOutcome {
  const read = decodeRead(body);
  if (read === undefined) {
    return { type: 'error', code: 'bad-response', message: `unexpected get answer: ${JSON.stringify(body)}` };
  }
  if (read.value === null) return { type: 'ok', value: null };
  // Values are any JSON; the bench writes strings, anything else is shown as JSON.
  return { type: 'ok', value: typeof read.value === 'string' ? read.value : JSON.stringify(read.value) };
}

/** Connects to a raftlab cluster given its members' client URLs (`kind` names it in the results). */
export function connectRaftlab(
  memberUrls: readonly string[],
  options: TargetOptions = {},
  kind: 'raftlab' | 'raftlab-lazyfs' = 'raftlab',
): KvTarget {
  return pooledTarget(kind, memberUrls, options, {
    async put(pools, memberIndex, key, value): Promise<PutOutcome> {
      const r = await pools.request(memberIndex, 'PUT', raftlabKeyPath(key), { value });
      if (isErrorOutcome(r)) return r;
      return r.status === 200 ? { type: 'ok' } : httpError(r);
    },
    async get(pools, memberIndex, key, consistency): Promise<GetOutcome> {
      const r = await pools.request(memberIndex, 'GET', raftlabKeyPath(key, consistency));
      if (isErrorOutcome(r)) return r;
      return r.status === 200 ? decodeRaftlabGet(r.body) : httpError(r);
    },
  });
}
