import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePorts } from './local-cluster.ts';
import { jsonLogger } from './logger.ts';
import type { Message } from './raft/types.ts';
import { NodeRuntime } from './runtime.ts';
import { createNodeServer } from './server.ts';
import { CLUSTER_HEADER, STREAM_PATH } from './transport.ts';
import { encodeFrame } from './validation.ts';

/** Opens a message stream to `url` and returns it with a promise of the server's answer (status and body). */
function openStream(
  url: string,
  clusterId: string,
): { write: (text: string) => void; end: () => void; answer: Promise<{ status: number; body: string }> } {
  const u = new URL(url);
  const req = request({
    host: u.hostname,
    port: u.port,
    path: STREAM_PATH,
    method: 'POST',
    agent: false,
    headers: { 'transfer-encoding': 'chunked', [CLUSTER_HEADER]: clusterId },
  });
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
  });
  req.flushHeaders();
  return { write: (text) => void req.write(text), end: () => void req.end(), answer };
}

async function status(url: string): Promise<{ term: number; leader: string | null }> {
  const res = await fetch(`${url}/status`);
  assert.equal(res.status, 200);
  return (await res.json()) as { term: number; leader: string | null };
}

async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function heartbeat(term: number, to = 'n1'): Message {
  return { type: 'heartbeat-request', from: 'n2', to, term, commit: 0, context: null };
}

describe('peer message stream endpoint', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'raftlab-peer-stream-'));
  const logLines: string[] = [];
  let runtime: NodeRuntime;
  let server: Server;
  let url: string;

  before(async () => {
    const [p2, p3] = await freePorts(2);
    const log = jsonLogger('n1', (line) => void logLines.push(line));
    runtime = NodeRuntime.open({
      id: 'n1',
      peerUrls: new Map([
        ['n1', 'http://127.0.0.1:1'],
        ['n2', `http://127.0.0.1:${p2}`],
        ['n3', `http://127.0.0.1:${p3}`],
      ]),
      dataDir,
      clusterId: 'c1',
      // No election of our own during the test: n1 only follows what the stream tells it.
      electionTimeoutMs: 600_000,
      heartbeatMs: 100,
      snapshotEvery: 1000,
      requestTimeoutMs: 1000,
      log,
    });
    server = createNodeServer({
      runtime,
      peerIds: new Set(['n1', 'n2', 'n3']),
      clusterId: 'c1',
      forwardTimeoutMs: 1000,
      log,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (typeof address !== 'object' || address === null) throw new Error('no address');
    url = `http://127.0.0.1:${address.port}`;
  });

  after(async () => {
    server.closeAllConnections();
    server.close();
    await runtime.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('frames are stepped as they arrive; a clean end is answered 204', async () => {
    const stream = openStream(url, 'c1');
    // One frame split across two writes, then two frames in one write.
    const frame = encodeFrame([heartbeat(3)]);
    stream.write(frame.slice(0, 10));
    stream.write(frame.slice(10));
    await waitFor('term 3 from the stream', async () => (await status(url)).term === 3);
    stream.write(encodeFrame([heartbeat(4)]) + encodeFrame([heartbeat(5)]));
    await waitFor('term 5 and leader n2', async () => {
      const s = await status(url);
      return s.term === 5 && s.leader === 'n2';
    });
    stream.end();
    assert.equal((await stream.answer).status, 204);
  });

  test('a garbage frame is refused with 400 and logged, the stream dropped, and the node keeps serving', async () => {
    const stream = openStream(url, 'c1');
    stream.write(encodeFrame([heartbeat(6)]));
    stream.write('not json\n');
    const answer = await stream.answer;
    assert.equal(answer.status, 400);
    assert.equal((JSON.parse(answer.body) as { error: string }).error, 'bad-json');
    assert.ok(
      logLines.some((l) => l.includes('"peer-stream-refused"')),
      'logged',
    );
    // The frame before the garbage was stepped; the node still answers.
    await waitFor('term 6', async () => (await status(url)).term === 6);
  });

  test('messages addressed elsewhere, another cluster id, or a stream cut inside a frame are refused', async () => {
    const misaddressed = openStream(url, 'c1');
    misaddressed.write(encodeFrame([heartbeat(7, 'n3')]));
    const a = await misaddressed.answer;
    assert.equal(a.status, 400);
    assert.equal((JSON.parse(a.body) as { error: string }).error, 'bad-message');

    const foreign = openStream(url, 'other');
    foreign.write(encodeFrame([heartbeat(8)]));
    const b = await foreign.answer;
    assert.equal(b.status, 403);
    assert.equal((JSON.parse(b.body) as { error: string }).error, 'wrong-cluster');

    const truncated = openStream(url, 'c1');
    truncated.write('[{"type":"heartbeat-request"');
    truncated.end();
    const c = await truncated.answer;
    assert.equal(c.status, 400);
    assert.match(c.body, /ended inside a frame/);
    assert.equal((await status(url)).term, 6, 'none of them was stepped');
  });
});
