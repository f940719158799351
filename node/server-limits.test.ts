// The HTTP layer's limits against hostile or broken clients, on one in-process node.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePorts } from './local-cluster.ts';
import { jsonLogger } from './logger.ts';
import { NodeRuntime } from './runtime.ts';
import { createNodeServer } from './server.ts';
import { CLUSTER_HEADER, MESSAGES_PATH } from './transport.ts';

/**
 * Sends `head` (and nothing more) on a raw connection and resolves with what
 * the server wrote before it closed the connection, or with what it wrote so
 * far once `waitMs` passed (the server then did not give up on the request).
 */
function rawExchange(port: number, head: string, waitMs: number): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed: false });
    }, waitMs);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.write(head);
  });
}

describe('HTTP limits', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'raftlab-server-limits-'));
  let runtime: NodeRuntime;
  let server: Server;
  let port: number;

  before(async () => {
    const [p2, p3] = await freePorts(2);
    const log = jsonLogger('n1', () => {});
    runtime = NodeRuntime.open({
      id: 'n1',
      peerUrls: new Map([
        ['n1', 'http://127.0.0.1:1'],
        ['n2', `http://127.0.0.1:${p2}`],
        ['n3', `http://127.0.0.1:${p3}`],
      ]),
      dataDir,
      clusterId: 'c1',
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
      bodyTimeoutMs: 300,
      log,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (typeof address !== 'object' || address === null) throw new Error('no address');
    port = address.port;
  });

  after(async () => {
    server.closeAllConnections();
    server.close();
    await runtime.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('a peer request with another cluster id is refused at once, before its body is read', async () => {
    // 400 MiB announced, 10 bytes sent: refusing must not wait for (or buffer) the rest.
    const head =
      `POST ${MESSAGES_PATH} HTTP/1.1\r\nhost: x\r\n${CLUSTER_HEADER}: other\r\n` +
      `content-length: ${400 * 1024 * 1024}\r\n\r\n[{"type":`;
    const r = await rawExchange(port, head, 5000);
    assert.match(r.text, /^HTTP\/1\.1 403/, `answer: ${JSON.stringify(r.text.slice(0, 200))}`);
    assert.match(r.text, /wrong-cluster/);
    assert.equal(r.closed, true, 'the connection is closed: its unread body cannot be skipped');
  });

  test('a client that never finishes its body gets 408 and the connection closed after the body timeout', async () => {
    const head =
      'PUT /kv/slow HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"value"';
    const r = await rawExchange(port, head, 5000);
    assert.match(r.text, /^HTTP\/1\.1 408/, `answer: ${JSON.stringify(r.text.slice(0, 200))}`);
    assert.match(r.text, /request-timeout/);
    assert.equal(r.closed, true);
  });

  test('the node keeps serving after both', async () => {
    const r = await rawExchange(port, 'GET /status HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n', 5000);
    assert.match(r.text, /^HTTP\/1\.1 200/);
  });
});
