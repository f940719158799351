// The raftlab adapter against a loopback server that answers like the node's
// client API (docs/architecture.md): paths, bodies, and error codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connectRaftlab, raftlabKeyPath } from './raftlab.ts';

test('keys are URL-encoded and stale reads ask for ?stale=true', () => {
  assert.equal(raftlabKeyPath('bench/k1'), '/kv/bench%2Fk1');
  assert.equal(raftlabKeyPath('a b', 'stale'), '/kv/a%20b?stale=true');
  assert.equal(raftlabKeyPath('a', 'linearizable'), '/kv/a');
});

test('put, get and errors map onto outcomes; clients spread over members', async () => {
  const store = new Map<string, unknown>();
  const seen: string[] = [];
  const servers = await Promise.all(
    [0, 1].map(async (member) => {
      const server = createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString('utf8')));
        req.on('end', () => {
          seen.push(`${member} ${req.method} ${req.url}`);
          const url = new URL(req.url ?? '/', 'http://x');
          const key = decodeURIComponent(url.pathname.slice('/kv/'.length));
          res.setHeader('content-type', 'application/json');
          if (key === 'busy') {
            res.writeHead(503);
            res.end(JSON.stringify({ error: 'no-leader', message: 'no leader known' }));
          } else if (req.method === 'PUT') {
            store.set(key, (JSON.parse(body) as { value: unknown }).value);
            res.end(JSON.stringify({ ok: true }));
          } else {
            res.end(JSON.stringify({ found: store.has(key), value: store.get(key) ?? null }));
          }
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return server;
    }),
  );
  const target = connectRaftlab(servers.map((s) => `http://127.0.0.1:${(s.address() as AddressInfo).port}/`));
  try {
    const c0 = target.client(0);
    const c1 = target.client(1);
    assert.deepEqual([c0.memberIndex, c1.memberIndex, target.client(2).memberIndex], [0, 1, 0]);
    assert.deepEqual(await c0.put('bench/k1', 'v1'), { type: 'ok' });
    assert.deepEqual(await c1.get('bench/k1', 'linearizable'), { type: 'ok', value: 'v1' });
    assert.deepEqual(await c1.get('bench/nope', 'stale'), { type: 'ok', value: null });
    const busy = await c0.put('busy', 'x');
    assert.equal(busy.type === 'error' && busy.code, 'no-leader');
    assert.equal(busy.type === 'error' && busy.status, 503);
    assert.deepEqual(seen, [
      '0 PUT /kv/bench%2Fk1',
      '1 GET /kv/bench%2Fk1',
      '1 GET /kv/bench%2Fnope?stale=true',
      '0 PUT /kv/busy',
    ]);
  } finally {
    await target.close();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
});
