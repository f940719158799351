import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePorts } from './local-cluster.ts';
import type { Message } from './raft/types.ts';
import { CLUSTER_HEADER, FORWARDED_HEADER, PeerTransport, STREAM_PATH } from './transport.ts';
import {
  encodeFrame,
  FrameDecoder,
  parseCasBody,
  parseDeleteBody,
  parsePeerMessages,
  parsePutBody,
  WireError,
} from './validation.ts';

function heartbeat(term: number, to = 'n2'): Message {
  return { type: 'heartbeat-request', from: 'n1', to, term, commit: 0, context: null };
}

async function listen(
  handler: (req: IncomingMessage, body: string) => { status: number; body: string },
): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = handler(req, Buffer.concat(chunks).toString('utf8'));
      res.writeHead(r.status, { 'content-type': 'application/json' });
      res.end(r.body);
    });
  });
  return { server, url: await start(server) };
}

async function start(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return `http://127.0.0.1:${address.port}`;
}

/** A peer that decodes message streams; `onFrame` returning false drops the stream's connection. */
interface StreamPeer {
  readonly server: Server;
  url: string;
  readonly frames: Message[][];
  streams: number;
}

async function streamPeer(
  onFrame: (messages: Message[], req: IncomingMessage, streamNo: number) => boolean = () => true,
): Promise<StreamPeer> {
  const peer: StreamPeer = { server: createServer(), url: '', frames: [], streams: 0 };
  peer.server.on('request', (req: IncomingMessage) => {
    assert.equal(req.url, STREAM_PATH);
    assert.equal(req.headers[CLUSTER_HEADER], 'c1');
    const streamNo = ++peer.streams;
    const decoder = new FrameDecoder(1 << 20);
    req.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        const messages = JSON.parse(frame) as Message[];
        peer.frames.push(messages);
        if (!onFrame(messages, req, streamNo)) req.socket.destroy();
      }
    });
  });
  peer.url = await start(peer.server);
  return peer;
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
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
  });

  test('messages for one peer go out in order on one stream, batched into frames, with the cluster id', async () => {
    const peer = await streamPeer();
    servers.push(peer.server);
    const t = new PeerTransport({
      selfId: 'n1',
      peerUrls: new Map([
        ['n1', 'http://unused'],
        ['n2', peer.url],
      ]),
      clusterId: 'c1',
    });
    transports.push(t);
    for (let term = 1; term <= 500; term++) t.send([heartbeat(term)]);
    const received = (): number[] => peer.frames.flat().map((m) => m.term);
    await waitFor('all 500 messages', () => received().length === 500);
    assert.deepEqual(
      received(),
      Array.from({ length: 500 }, (_, i) => i + 1),
      'in send order',
    );
    assert.ok(peer.frames.length < 500, `batched into fewer frames than messages (${peer.frames.length})`);
    assert.equal(peer.streams, 1);
    assert.equal(t.stats.streamsOpened, 1);
    assert.equal(t.stats.messagesSent, 500);
    assert.equal(t.stats.sendErrors, 0);
  });

  test('a stream the peer drops is reported and reopened; later messages arrive in order', async () => {
    // The first stream is cut after its first frame.
    const peer = await streamPeer((_messages, _req, streamNo) => streamNo > 1);
    servers.push(peer.server);
    const errors: string[] = [];
    const t = new PeerTransport({
      selfId: 'n1',
      peerUrls: new Map([['n2', peer.url]]),
      clusterId: 'c1',
      onSendError: (_p, reason) => errors.push(reason),
    });
    transports.push(t);
    t.send([heartbeat(1)]);
    await waitFor('the first stream to fail', () => t.stats.sendErrors > 0);
    for (let term = 2; term <= 50; term++) t.send([heartbeat(term)]);
    await waitFor('messages on a new stream', () => peer.frames.flat().some((m) => m.term === 50));
    const terms = peer.frames.flat().map((m) => m.term);
    assert.deepEqual(
      terms.slice(terms.indexOf(2)),
      Array.from({ length: 49 }, (_, i) => i + 2),
      'in order after the reconnect',
    );
    assert.ok(t.stats.streamsOpened >= 2);
    assert.ok(errors.length >= 1);
  });

  test("a refused stream is reported with the peer's answer and retried", async () => {
    const { server, url } = await listen(() => ({ status: 403, body: '{"error":"wrong-cluster"}' }));
    // The stub answers only at the end of a body; a stream never ends, so answer at once instead.
    server.removeAllListeners('request');
    server.on('request', (_req: IncomingMessage, res) => {
      res.writeHead(403, { 'content-type': 'application/json', connection: 'close' });
      res.end('{"error":"wrong-cluster"}');
    });
    servers.push(server);
    const errors: string[] = [];
    const t = new PeerTransport({
      selfId: 'n1',
      peerUrls: new Map([['n2', url]]),
      clusterId: 'c1',
      onSendError: (_p, reason) => errors.push(reason),
    });
    transports.push(t);
    // Heartbeats keep coming, as from a leader; each failure is followed by a new attempt.
    for (let term = 1; errors.length < 3 && term < 1000; term++) {
      t.send([heartbeat(term)]);
      await sleep(10);
    }
    assert.ok(errors.length >= 3, `retried after refusals (${errors.length} errors)`);
    assert.match(errors[0] ?? '', /HTTP 403.*wrong-cluster/);
    assert.ok(t.stats.streamsOpened >= 3);
  });

  test('a peer that stops reading gets its stream dropped after the message timeout', async () => {
    const server = createServer((req) => req.socket.pause());
    servers.push(server);
    const url = await start(server);
    const errors: string[] = [];
    const t = new PeerTransport({
      selfId: 'n1',
      peerUrls: new Map([['n2', url]]),
      clusterId: 'c1',
      messageTimeoutMs: 300,
      onSendError: (_p, reason) => errors.push(reason),
    });
    transports.push(t);
    const big: Message = {
      type: 'append-request',
      from: 'n1',
      to: 'n2',
      term: 1,
      prevLogIndex: 0,
      prevLogTerm: 0,
      commit: 0,
      entries: [{ index: 1, term: 1, kind: 'normal', data: 'x'.repeat(1 << 20) }],
    };
    t.send([heartbeat(1)]);
    await waitFor('the stream to connect', () => t.stats.framesSent > 0);
    // Fill the socket buffers until frames stay queued (bounded: 512 MiB at most).
    for (let i = 0; i < 512 && (t.queuedMessages().n2 ?? 0) === 0; i++) {
      t.send([big]);
      await sleep(1);
    }
    assert.ok((t.queuedMessages().n2 ?? 0) > 0, 'the stream backed up');
    await waitFor('the stalled stream to be dropped', () => errors.some((e) => e.includes('accepted no bytes')));
  });

  test('messages to an unknown peer are ignored, to an unreachable one bounded and dropped', async () => {
    const [deadPort] = await freePorts(1);
    const t = new PeerTransport({
      selfId: 'n1',
      peerUrls: new Map([['n3', `http://127.0.0.1:${deadPort}`]]),
      clusterId: 'c1',
      queuedMessagesMax: 10,
    });
    transports.push(t);
    t.send([heartbeat(1, 'n9')]);
    assert.equal(t.stats.streamsOpened, 0);
    t.send([heartbeat(1, 'n3')]);
    for (let i = 0; i < 50; i++) t.send([heartbeat(2 + i, 'n3')]);
    assert.ok((t.queuedMessages().n3 ?? 0) <= 10);
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
    const t = new PeerTransport({
      selfId: 'n2',
      peerUrls: new Map([
        ['n1', url],
        ['n3', `http://127.0.0.1:${deadPort}`],
      ]),
      clusterId: 'c1',
    });
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
    const t = new PeerTransport({
      selfId: 'n2',
      peerUrls: new Map([['n1', `http://127.0.0.1:${address.port}`]]),
      clusterId: 'c1',
    });
    transports.push(t);
    const r = await t.forward('n1', 'PUT', '/kv/a', '{"value":1}', 200);
    assert.equal(r.type, 'failed');
    if (r.type === 'failed') assert.equal(r.timedOut, true);
    silent.closeAllConnections();
  });
});

describe('wire validation', () => {
  const peers = new Set(['n1', 'n2', 'n3']);

  test('frames split at newlines whatever the chunking, and an oversized frame is refused', () => {
    const frames = [encodeFrame([heartbeat(1)]), encodeFrame([heartbeat(2), heartbeat(3)]), encodeFrame([])];
    const bytes = Buffer.from(frames.join(''));
    for (const size of [1, 2, 7, 64, bytes.length]) {
      const decoder = new FrameDecoder(1024);
      const out: string[] = [];
      for (let i = 0; i < bytes.length; i += size) out.push(...decoder.push(bytes.subarray(i, i + size)));
      assert.deepEqual(
        out.map((f) => JSON.parse(f) as unknown),
        [[heartbeat(1)], [heartbeat(2), heartbeat(3)], []],
        `chunks of ${size}`,
      );
      assert.equal(decoder.pendingBytes, 0);
    }
    const partial = new FrameDecoder(1024);
    assert.deepEqual(partial.push(Buffer.from('[{"a"')), []);
    assert.equal(partial.pendingBytes, 5);
    const small = new FrameDecoder(16);
    assert.throws(
      () => small.push(Buffer.from('x'.repeat(17))),
      (e: unknown) => e instanceof WireError && e.status === 413,
    );
    assert.throws(
      () => new FrameDecoder(16).push(Buffer.from(`${'x'.repeat(17)}\n`)),
      (e: unknown) => e instanceof WireError && e.status === 413,
    );
  });

  test('well-formed peer messages pass', () => {
    const msgs = [
      { type: 'vote-request', from: 'n2', to: 'n1', term: 3, preVote: true, lastLogIndex: 4, lastLogTerm: 2 },
      {
        type: 'append-request',
        from: 'n2',
        to: 'n1',
        term: 3,
        prevLogIndex: 1,
        prevLogTerm: 1,
        commit: 1,
        entries: [{ index: 2, term: 3, kind: 'normal', data: '{}' }],
      },
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
      [
        {
          type: 'append-request',
          from: 'n2',
          to: 'n1',
          term: 1,
          prevLogIndex: 0,
          prevLogTerm: 0,
          commit: 0,
          entries: [{ index: 1, term: 1, kind: 'x', data: '' }],
        },
      ],
      [
        {
          type: 'append-response',
          from: 'n2',
          to: 'n1',
          term: 1,
          success: 'yes',
          matchIndex: 0,
          conflictIndex: 0,
          conflictTerm: 0,
        },
      ],
      [{ type: 'gossip', from: 'n2', to: 'n1', term: 1 }],
    ];
    for (const b of bad)
      assert.throws(
        () => parsePeerMessages(b, 'n1', peers),
        (e: unknown) => e instanceof WireError && e.status === 400,
        JSON.stringify(b),
      );
  });

  test('client bodies: value required, client and seq together, any JSON value', () => {
    assert.deepEqual(parsePutBody('{"value":{"a":[1,null]}}'), { value: { a: [1, null] } });
    assert.deepEqual(parsePutBody('{"value":null,"client":"7","seq":2}'), { value: null, client: '7', seq: 2 });
    assert.deepEqual(parseCasBody('{"expected":null,"value":1}'), { expected: null, value: 1 });
    assert.deepEqual(parseDeleteBody(''), {});
    for (const [parse, text] of [
      [parsePutBody, '{}'],
      [parsePutBody, 'nope'],
      [parsePutBody, '{"value":1,"seq":1}'],
      [parsePutBody, '{"value":1,"client":"a","seq":-1}'],
      [parsePutBody, '{"value":1,"client":"","seq":1}'],
      [parsePutBody, '{"value":1,"client":7,"seq":1}'],
      [parsePutBody, '{"value":1,"client":"a b","seq":1}'],
      [parseCasBody, '{"value":1}'],
      [parseCasBody, '{"expected":1}'],
      [parseDeleteBody, '[]'],
    ] as const) {
      assert.throws(
        () => parse(text),
        (e: unknown) => e instanceof WireError && e.status === 400,
        text,
      );
    }
  });
});
