// The etcd adapter against answers recorded from a real etcd 3.4.23 gateway
// (testdata/etcd-gateway.json, made by harness/bench/record-etcd-fixture.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connectEtcd, decodeEtcdPut, decodeEtcdRange, encodeEtcdPut, encodeEtcdRange } from './etcd.ts';

type Exchange = { name: string; path: string; request: Record<string, unknown>; status: number; response: unknown };
const fixture = JSON.parse(readFileSync(new URL('./testdata/etcd-gateway.json', import.meta.url), 'utf8')) as {
  exchanges: Exchange[];
};

function exchange(name: string): Exchange {
  const e = fixture.exchanges.find((x) => x.name === name);
  assert.ok(e, `fixture has "${name}"`);
  return e;
}

test('put and range bodies are byte-for-byte what the real gateway accepted', () => {
  assert.deepEqual(encodeEtcdPut('bench/k0001', 'hello'), exchange('put ascii').request);
  assert.deepEqual(encodeEtcdPut('ключ/ü', 'värde ✓'), exchange('put unicode').request);
  assert.deepEqual(encodeEtcdPut('bench/empty', ''), exchange('put empty value').request);
  assert.deepEqual(encodeEtcdRange('bench/k0001', 'linearizable'), exchange('range linearizable, found').request);
  // A stale read asks for a serializable (member-local) range; a linearizable one must not.
  assert.deepEqual(encodeEtcdRange('bench/k0001', 'stale'), exchange('range stale, found').request);
  assert.equal('serializable' in encodeEtcdRange('x', 'linearizable'), false);
});

test('recorded range answers decode to the stored values', () => {
  const found = exchange('range linearizable, found');
  assert.deepEqual(decodeEtcdRange(found.status, found.response, 'bench/k0001'), { type: 'ok', value: 'hello' });
  const unicode = exchange('range unicode');
  assert.deepEqual(decodeEtcdRange(unicode.status, unicode.response, 'ключ/ü'), { type: 'ok', value: 'värde ✓' });
  const absent = exchange('range linearizable, absent');
  assert.deepEqual(decodeEtcdRange(absent.status, absent.response, 'bench/absent'), { type: 'ok', value: null });
  // proto3 JSON omits an empty value: found, and empty, not absent.
  const empty = exchange('range empty value');
  assert.deepEqual(decodeEtcdRange(empty.status, empty.response, 'bench/empty'), { type: 'ok', value: '' });
});

test('recorded put answers decode; gateway errors keep their gRPC code', () => {
  const ok = exchange('put ascii');
  assert.deepEqual(decodeEtcdPut(ok.status, ok.response), { type: 'ok' });
  const bad = exchange('put without key');
  const outcome = decodeEtcdPut(bad.status, bad.response);
  assert.equal(outcome.type, 'error');
  assert.equal(outcome.type === 'error' && outcome.code, 'etcd-grpc-3');
  assert.equal(outcome.type === 'error' && outcome.status, 400);
  assert.match(outcome.type === 'error' ? outcome.message : '', /key is not provided/);
  // An answer that is not the gateway's shape is an error, never a silent ok.
  assert.equal(decodeEtcdPut(200, { unexpected: true }).type, 'error');
  assert.equal(decodeEtcdRange(200, 'nonsense', 'k').type, 'error');
});

// A loopback server that answers exactly the recorded exchanges, and 500 for
// any request body the real gateway was not shown.
async function replayServer(): Promise<{ server: Server; url: string; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      seen.push(`${req.method} ${req.url} ${body}`);
      const match = fixture.exchanges.find((e) => e.path === req.url && JSON.stringify(e.request) === body);
      res.writeHead(match?.status ?? 500, { 'content-type': 'application/json' });
      res.end(JSON.stringify(match?.response ?? { error: 'unrecorded request', message: body, code: 2 }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

test('the adapter speaks the recorded protocol end to end over HTTP', async () => {
  const { server, url, seen } = await replayServer();
  const target = connectEtcd([url]);
  try {
    const client = target.client(0);
    assert.deepEqual(await client.put('bench/k0001', 'hello'), { type: 'ok' });
    assert.deepEqual(await client.get('bench/k0001', 'linearizable'), { type: 'ok', value: 'hello' });
    assert.deepEqual(await client.get('bench/k0001', 'stale'), { type: 'ok', value: 'hello' });
    assert.deepEqual(await client.get('bench/absent', 'linearizable'), { type: 'ok', value: null });
    assert.deepEqual(await client.get('ключ/ü', 'linearizable'), { type: 'ok', value: 'värde ✓' });
    assert.equal(seen.length, 5);
    assert.ok(
      seen.every((s) => s.startsWith('POST /v3/kv/')),
      seen.join('\n'),
    );
    const unrecorded = await client.put('other', 'value');
    assert.equal(unrecorded.type, 'error');
  } finally {
    await target.close();
    await new Promise((r) => server.close(r));
  }
});

test('a member that refuses connections gives an error outcome, not an exception', async () => {
  const { server, url } = await replayServer();
  await new Promise((r) => server.close(r));
  const target = connectEtcd([url], { requestTimeoutMs: 2_000 });
  try {
    const outcome = await target.client(0).put('bench/k0001', 'hello');
    assert.equal(outcome.type, 'error');
    assert.equal(outcome.type === 'error' && outcome.code, 'ECONNREFUSED');
  } finally {
    await target.close();
  }
});
