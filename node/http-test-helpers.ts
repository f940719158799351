/** HTTP helpers shared by the node's real-process tests. */
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import type { LocalCluster } from './local-cluster.ts';

export interface Reply {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
}

export async function http(
  url: string,
  method: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const res = await request(url, {
    method: method as 'GET',
    body,
    headers: { 'content-type': 'application/json', ...headers },
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
  });
  const text = await res.body.text();
  return {
    status: res.statusCode,
    body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
    headers: res.headers,
  };
}

/** Polls `probe` until it returns a value (not undefined) or the deadline passes. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}${lastError !== undefined ? `: ${String(lastError)}` : ''}`);
}

export async function leaderOf(cluster: LocalCluster, among = cluster.ids): Promise<string> {
  return eventually('a leader that every running node follows', async () => {
    const statuses = await Promise.all(among.map(async (id) => (await http(`${cluster.url(id)}/status`, 'GET')).body));
    const leaders = statuses.filter((s) => s.role === 'leader');
    if (leaders.length !== 1) return undefined;
    const leader = leaders[0]?.id as string;
    return statuses.every((s) => s.leader === leader) ? leader : undefined;
  });
}
