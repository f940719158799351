/**
 * Records real answers of etcd's v3 JSON gateway into the fixture that the
 * etcd adapter's unit test replays (workloads/targets/testdata/etcd-gateway.json).
 * Run it again after an etcd upgrade:
 *
 *   npx tsx harness/bench/record-etcd-fixture.ts [--out FILE]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { encodeEtcdPut, encodeEtcdRange } from '../../workloads/targets/etcd.ts';
import { repoRoot } from '../../lib/repo.ts';
import { EtcdSystem } from '../systems/etcd.ts';

/** One recorded exchange. */
export type RecordedExchange = {
  name: string;
  path: string;
  request: unknown;
  status: number;
  response: unknown;
};

const outIndex = process.argv.indexOf('--out');
const out =
  outIndex > 0 ? (process.argv[outIndex + 1] ?? '') : join(repoRoot, 'workloads/targets/testdata/etcd-gateway.json');
const dir = mkdtempSync(join(tmpdir(), 'raftlab-etcd-record-'));
const cluster = new EtcdSystem({ nodes: 3, runDir: dir });
await cluster.start();
await cluster.waitForLeader(30_000);
try {
  const base = cluster.clientUrls()[cluster.ids[0] ?? 'n1'] ?? '';
  const exchanges: RecordedExchange[] = [];
  const call = async (name: string, path: string, body: unknown): Promise<void> => {
    const r = await request(`${base}${path}`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });
    const text = await r.body.text();
    exchanges.push({ name, path, request: body, status: r.statusCode, response: JSON.parse(text) as unknown });
  };
  await call('put ascii', '/v3/kv/put', encodeEtcdPut('bench/k0001', 'hello'));
  await call('range linearizable, found', '/v3/kv/range', encodeEtcdRange('bench/k0001', 'linearizable'));
  await call('range stale, found', '/v3/kv/range', encodeEtcdRange('bench/k0001', 'stale'));
  await call('range linearizable, absent', '/v3/kv/range', encodeEtcdRange('bench/absent', 'linearizable'));
  await call('put unicode', '/v3/kv/put', encodeEtcdPut('ключ/ü', 'värde ✓'));
  await call('range unicode', '/v3/kv/range', encodeEtcdRange('ключ/ü', 'linearizable'));
  await call('put empty value', '/v3/kv/put', encodeEtcdPut('bench/empty', ''));
  await call('range empty value', '/v3/kv/range', encodeEtcdRange('bench/empty', 'stale'));
  await call('put bad base64', '/v3/kv/put', { key: '!!not base64', value: 'eA==' });
  await call('put without key', '/v3/kv/put', { value: 'eA==' });
  writeFileSync(
    out,
    `${JSON.stringify({ etcdVersion: cluster.version(), recordedAt: new Date().toISOString(), exchanges }, null, 1)}\n`,
  );
  process.stdout.write(`recorded ${exchanges.length} exchanges from etcd ${cluster.version()} into ${out}\n`);
} finally {
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
}
