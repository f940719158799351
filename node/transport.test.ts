import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePorts } from './local-cluster.ts';
import type { Message } from './raft/types.ts';
import { CLUSTER_HEADER, FORWARDED_HEADER, MESSAGES_PATH, PeerTransport } from './transport.ts';
import { parseCasBody, parseDeleteBody, parsePeerMessages, parsePutBody, WireError } from './wire.ts';

function heartbeat(term: number, to = 'n2'): Message {
  return { type: 'heartbeat-request', from: 'n1', to, term, commit: 0, context: null };
}

async function listen(handler: (req: IncomingMessage, body: string) => { status: number; body: string }): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = handler(req, Buffer.concat(chunks).toString('utf8'));
      res.writeHead(r.status, { 'content-type': 'application/json' });
      res.end(r.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return { server, url: `http://127.0.0.1:${address.port}` };
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('peer transport', () => {
  const servers: Server[] = [];
  const transports: PeerTransport[] = [];
  after(async () => {
    await Promise.all(transports.map((t) => t.close()));
    for (const s of servers) s.close();
  });

  test('messages for one peer go out in order, batched, with the cluster id', async () => {
    const received: number[] = [];
    let requests = 0;
    const { server, url } = await listen((req, body) => {
      assert.equal(req.url, MESSAGES_PATH);
      assert.equal(req.headers[CLUSTER_HEADER], 'c1');
      requests++;
      for (const m of JSON.parse(body) as Message[]) received.push(m.term);
      return { status: 204, body: '' };
    });
    servers.push(server);
    const t = new PeerTransport({ selfId: 'n1', peerUrls: new Map([['n1', 'http://unused'], ['n2', url]]), clusterId: 'c1', inflightMax: 2 });
    transports.push(t);
    for (let term = 1; term <= 500; term++) t.send([heartbeat(term)]);
    await waitFor('all 500 messages', () => received.length === 500);
    assert.deepEqual(received, Array.from({ length: 500 }, (_, i) => i + 1), 'in send order');
    assert.ok(requests < 500, `batched into fewer requests than messages (${requests})`);
    assert.equal(t.stats.messagesSent, 500);
  });

  test('messages to an unknown peer are ignored, to an unreachable one bounded and dropped', async () => {
    const [deadPort] = await freePorts(1);
    const t = new PeerTransport({
      selfId: 'n1',
      peerUrls: new Map([['n3', `http://127.0.0.1:${deadPort}`]]),
      clusterId: 'c1',
      inflightMax: 1,
      queuedMessagesMax: 10,
    });
    transports.push(t);
    t.send([heartbeat(1, 'n9')]);
    assert.equal(t.stats.requestsSent, 0);
    t.send([heartbeat(1, 'n3')]);
    for (let i = 0; i < 50; i++) t.send([heartbeat(2 + i, 'n3')]);
    assert.ok((t.queuedMessages()['n3'] ?? 0) <= 10);
    assert.ok(t.stats.messagesDropped >= 40);
    await waitFor('the send error', () => t.stats.sendErrors > 0);
  });

  test('forward relays the leader answer; a refused connection is "not sent", never "unknown"', async () => {
    const { server, url } = await listen((req, body) => ({
      status: 201,
      body: JSON.stringify({ method: req.method, url: req.url, from: req.headers[FORWARDED_HEADER], body }),
    }));
    servers.push(server);
    const [deadPort] = await freePorts(1);
    const t = new PeerTransport({ selfId: 'n2', peerUrls: new Map([['n1', url], ['n3', `http://127.0.0.1:${deadPort}`]]), clusterId: 'c1' });
    transports.push(t);
    const ok = await t.forward('n1', 'PUT', '/kv/a?x=1', '{"value":1}', 5000);
    assert.equal(ok.type, 'response');
    if (ok.type === 'response') {
      assert.equal(ok.status, 201);
      assert.deepEqual(JSON.parse(ok.body), { method: 'PUT', url: '/kv/a?x=1', from: 'n2', body: '{"value":1}' });
    }
    const refused = await t.forward('n3', 'PUT', '/kv/a', '{"value":1}', 5000);
    assert.equal(refused.type, 'not-sent');
  });

  test('a leader that accepts but never answers gives an unknown (timed out) outcome', async () => {
    const silent = createServer(() => {
      // never answers
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    servers.push(silent);
    const address = silent.address();
    if (typeof address !== 'object' || address === null) throw new Error('no address');
    const t = new PeerTransport({ selfId: 'n2', peerUrls: new Map([['n1', `http://127.0.0.1:${address.port}`]]), clusterId: 'c1' });
    transports.push(t);
    const r = await t.forward('n1', 'PUT', '/kv/a', '{"value":1}', 200);
    assert.equal(r.type, 'failed');
    if (r.type === 'failed') assert.equal(r.timedOut, true);
    silent.closeAllConnections();
  });
});

describe('wire validation', () => {
  const peers = new Set(['n1', 'n2', 'n3']);

  test('well-formed peer messages pass', () => {
    const msgs = [
      { type: 'vote-request', from: 'n2', to: 'n1', term: 3, preVote: true, lastLogIndex: 4, lastLogTerm: 2 },
      { type: 'append-request', from: 'n2', to: 'n1', term: 3, prevLogIndex: 1, prevLogTerm: 1, commit: 1, entries: [{ index: 2, term: 3, kind: 'normal', data: '{}' }] },
      { type: 'snapshot-request', from: 'n3', to: 'n1', term: 3, snapshot: { meta: { index: 9, term: 2 }, data: '' } },
    ];
    assert.equal(parsePeerMessages(msgs, 'n1', peers).length, 3);
  });

  test('peer messages with unknown senders, wrong target, bad fields or types are refused', () => {
    const bad: unknown[] = [
      {},
      [{ type: 'heartbeat-request', from: 'n7', to: 'n1', term: 1, commit: 0, context: null }],
      [{ type: 'heartbeat-request', from: 'n1', to: 'n1', term: 1, commit: 0, context: null }],
      [{ type: 'heartbeat-request', from: 'n2', to: 'n3', term: 1, commit: 0, context: null }],
      [{ type: 'heartbeat-request', from: 'n2', to: 'n1', term: -1, commit: 0, context: null }],
      [{ type: 'append-request', from: 'n2', to: 'n1', term: 1, prevLogIndex: 0, prevLogTerm: 0, commit: 0, entries: [{ index: 1, term: 1, kind: 'x', data: '' }] }],
      [{ type: 'append-response', from: 'n2', to: 'n1', term: 1, success: 'yes', matchIndex: 0, conflictIndex: 0, conflictTerm: 0 }],
      [{ type: 'gossip', from: 'n2', to: 'n1', term: 1 }],
    ];
    for (const b of bad) assert.throws(() => parsePeerMessages(b, 'n1', peers), (e: unknown) => e instanceof WireError && e.status === 400, JSON.stringify(b));
  });

  test('client bodies: value required, client and seq together, any JSON value', () => {
    assert.deepEqual(parsePutBody('{"value":{"a":[1,null]}}'), { value: { a: [1, null] } });
    assert.deepEqual(parsePutBody('{"value":null,"client":7,"seq":2}'), { value: null, client: '7', seq: 2 });
    assert.deepEqual(parseCasBody('{"expected":null,"value":1}'), { expected: null, value: 1 });
    assert.deepEqual(parseDeleteBody(''), {});
    for (const [parse, text] of [
      [parsePutBody, '{}'],
      [parsePutBody, 'nope'],
      [parsePutBody, '{"value":1,"seq":1}'],
      [parsePutBody, '{"value":1,"client":"a","seq":-1}'],
      [parsePutBody, '{"value":1,"client":"","seq":1}'],
      [parseCasBody, '{"value":1}'],
      [parseCasBody, '{"expected":1}'],
      [parseDeleteBody, '[]'],
    ] as const) {
      assert.throws(() => parse(text), (e: unknown) => e instanceof WireError && e.status === 400, text);
    }
  });
});
