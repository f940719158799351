// Real processes: 3 node processes on loopback, driven over HTTP.
import assert from 'node:assert/strict';
import {
  closeSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually, http, leaderOf, type Reply } from './http-test-helpers.ts';
import { LocalCluster } from './local-cluster.ts';
import { readRecordAt } from './storage/records.ts';

/** PUT through `id`, retrying only answers that say "certainly not applied" (no leader yet). */
async function putAcknowledged(cluster: LocalCluster, id: string, key: string, value: unknown): Promise<void> {
  await eventually(`PUT ${key} through ${id}`, async () => {
    const r = await http(`${cluster.url(id)}/kv/${encodeURIComponent(key)}`, 'PUT', JSON.stringify({ value }));
    if (r.status === 200) return true;
    if (r.status === 503 && (r.body.error === 'no-leader' || r.body.error === 'not-leader')) return undefined;
    throw new Error(`PUT ${key} via ${id} answered ${r.status} ${JSON.stringify(r.body)}`);
  });
}

async function get(cluster: LocalCluster, id: string, key: string, stale = false): Promise<Reply> {
  return http(`${cluster.url(id)}/kv/${encodeURIComponent(key)}${stale ? '?stale=true' : ''}`, 'GET');
}

const root = mkdtempSync(join(tmpdir(), 'raftlab-node-proc-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('a 3-node cluster of real processes', () => {
  let cluster: LocalCluster;
  /** Every write acknowledged with 200, key -> value. */
  const acknowledged = new Map<string, number>();

  before(async () => {
    cluster = await LocalCluster.start({
      nodes: 3,
      dataDir: join(root, 'main'),
      electionTimeoutMs: 400,
      heartbeatMs: 50,
      requestTimeoutMs: 2500,
    });
  });
  after(async () => {
    await cluster?.stop();
  });

  test('a leader is elected and every node follows it', async () => {
    const leader = await leaderOf(cluster);
    assert.ok(cluster.ids.includes(leader));
    for (const id of cluster.ids) assert.match(cluster.output(id), /"event":"listening"/);
  });

  test('a write through any node is read back from every node', async () => {
    for (const id of cluster.ids) {
      await putAcknowledged(cluster, id, `via-${id}`, id.length * 10);
      acknowledged.set(`via-${id}`, id.length * 10);
    }
    for (const reader of cluster.ids) {
      for (const key of acknowledged.keys()) {
        // Linearizable read (a follower forwards it to the leader).
        assert.deepEqual((await get(cluster, reader, key)).body, { found: true, value: acknowledged.get(key) });
        // The node's own state catches up too.
        await eventually(`${key} applied on ${reader}`, async () =>
          (await get(cluster, reader, key, true)).body.found === true ? true : undefined,
        );
      }
    }
  });

  test('a follower forwards to the leader; a forwarded request at a follower is not forwarded again', async () => {
    const leader = await leaderOf(cluster);
    const follower = cluster.ids.find((id) => id !== leader) as string;
    const r = await http(`${cluster.url(follower)}/kv/fwd`, 'PUT', JSON.stringify({ value: 'x' }));
    assert.equal(r.status, 200);
    // The answer names the leader that applied it, not the follower that was asked.
    assert.equal(r.headers['x-raftlab-served-by'], leader);
    assert.equal((await get(cluster, leader, 'fwd')).headers['x-raftlab-served-by'], leader);
    acknowledged.set('fwd', 0);
    await putAcknowledged(cluster, leader, 'fwd', 0);
    const again = await http(`${cluster.url(follower)}/kv/fwd`, 'PUT', JSON.stringify({ value: 1 }), {
      'x-raftlab-forwarded': 'n9',
    });
    assert.equal(again.status, 503);
    assert.equal(again.body.error, 'not-leader');
    assert.equal(again.body.leader, leader);
    assert.deepEqual((await get(cluster, leader, 'fwd')).body, { found: true, value: 0 });
  });

  test('a cas mismatch answers 409 with the current value and writes nothing', async () => {
    const leader = await leaderOf(cluster);
    await putAcknowledged(cluster, leader, 'c', 5);
    const miss = await http(`${cluster.url(leader)}/kv/c/cas`, 'POST', JSON.stringify({ expected: 4, value: 6 }));
    assert.equal(miss.status, 409);
    assert.equal(miss.body.error, 'cas-mismatch');
    assert.equal(miss.body.current, 5);
    const absent = await http(`${cluster.url(leader)}/kv/c/cas`, 'POST', JSON.stringify({ expected: null, value: 6 }));
    assert.equal(absent.status, 409);
    const hit = await http(`${cluster.url(leader)}/kv/c/cas`, 'POST', JSON.stringify({ expected: 5, value: 6 }));
    assert.equal(hit.status, 200);
    assert.deepEqual((await get(cluster, leader, 'c')).body, { found: true, value: 6 });
    acknowledged.set('c', 6);
  });

  test('a retried write with the same client seq applies once', async () => {
    const leader = await leaderOf(cluster);
    await putAcknowledged(cluster, leader, 'once', 0);
    const body = JSON.stringify({ expected: 0, value: 1, client: 'tester', seq: 1 });
    assert.equal((await http(`${cluster.url(leader)}/kv/once/cas`, 'POST', body)).status, 200);
    await putAcknowledged(cluster, leader, 'once', 0); // reset by someone else
    // The retry returns the recorded outcome and does NOT apply again (else the key would be 1).
    const retry = await http(`${cluster.url(leader)}/kv/once/cas`, 'POST', body);
    assert.equal(retry.status, 200);
    assert.deepEqual((await get(cluster, leader, 'once')).body, { found: true, value: 0 });
    acknowledged.set('once', 0);
  });

  test('malformed requests get 4xx JSON errors and the node keeps serving', async () => {
    const url = cluster.url('n1');
    const cases: [string, string, string | undefined, Record<string, string>, number, string][] = [
      ['/kv/a', 'PUT', '{not json', {}, 400, 'bad-json'],
      ['/kv/a', 'PUT', '{"val": 1}', {}, 400, 'bad-request'],
      ['/kv/a', 'PUT', '[1]', {}, 400, 'bad-request'],
      ['/kv/a', 'PUT', JSON.stringify({ value: 1, client: 'x' }), {}, 400, 'bad-request'],
      ['/kv/a/cas', 'POST', '{"value": 1}', {}, 400, 'bad-request'],
      ['/kv/a', 'PUT', JSON.stringify({ value: 'x'.repeat(2 * 1024 * 1024) }), {}, 413, 'body-too-large'],
      ['/kv/%E0%A4%A', 'GET', undefined, {}, 400, 'bad-key'],
      ['/kv/a?stale=maybe', 'GET', undefined, {}, 400, 'bad-request'],
      ['/nothing', 'GET', undefined, {}, 404, 'not-found'],
      ['/kv/a', 'PATCH', '{}', {}, 405, 'method-not-allowed'],
      ['/status', 'POST', '{}', {}, 405, 'method-not-allowed'],
      ['/raft/messages', 'POST', '[]', { 'x-raftlab-cluster': 'other' }, 403, 'wrong-cluster'],
      [
        '/raft/messages',
        'POST',
        '[{"type":"vote-request","from":"n2","to":"n1"}]',
        { 'x-raftlab-cluster': 'raftlab' },
        400,
        'bad-message',
      ],
      [
        '/raft/messages',
        'POST',
        '[{"type":"bogus","from":"n2","to":"n1","term":1}]',
        { 'x-raftlab-cluster': 'raftlab' },
        400,
        'bad-message',
      ],
      ['/raft/messages', 'POST', '{', { 'x-raftlab-cluster': 'raftlab' }, 400, 'bad-json'],
    ];
    for (const [path, method, body, headers, status, error] of cases) {
      const r = await http(url + path, method, body, headers);
      assert.equal(r.status, status, `${method} ${path} -> ${r.status} ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error, error, `${method} ${path}`);
      assert.equal(typeof r.body.message, 'string');
    }
    assert.equal((await http(`${url}/status`, 'GET')).status, 200);
    await putAcknowledged(cluster, 'n1', 'after-bad-input', 1);
    acknowledged.set('after-bad-input', 1);
  });

  test('a write the leader proposed but could not commit is answered "unknown", never "not applied"', async () => {
    const leader = await leaderOf(cluster);
    const followers = cluster.ids.filter((id) => id !== leader);
    for (const id of followers) cluster.pause(id);
    try {
      const r = await http(`${cluster.url(leader)}/kv/limbo`, 'PUT', JSON.stringify({ value: 1 }));
      assert.ok(r.status === 503 || r.status === 504, `status ${r.status}`);
      assert.equal(r.body.error, 'unknown', JSON.stringify(r.body));
    } finally {
      for (const id of followers) cluster.resume(id);
    }
    await leaderOf(cluster);
  });

  test('kill -9 of the leader: writes continue through the others', async () => {
    const leader = await leaderOf(cluster);
    await cluster.kill(leader);
    const survivors = cluster.ids.filter((id) => id !== leader);
    const next = await leaderOf(cluster, survivors);
    assert.notEqual(next, leader);
    for (let i = 0; i < 20; i++) {
      const via = survivors[i % 2] as string;
      await putAcknowledged(cluster, via, `after-kill-${i}`, i);
      acknowledged.set(`after-kill-${i}`, i);
    }
    await cluster.startNode(leader);
  });

  test('after restarting every node, every acknowledged write is there', async () => {
    await Promise.all(cluster.ids.map((id) => cluster.kill(id)));
    await Promise.all(cluster.ids.map((id) => cluster.startNode(id)));
    const leader = await leaderOf(cluster);
    for (const [key, value] of acknowledged) {
      assert.deepEqual((await get(cluster, leader, key)).body, { found: true, value }, key);
    }
  });

  test('a torn WAL tail is truncated, logged, and the node starts', async () => {
    const leader = await leaderOf(cluster);
    const victim = cluster.ids.find((id) => id !== leader) as string;
    await putAcknowledged(cluster, leader, 'before-tear', 1);
    await cluster.stopNode(victim);
    assert.deepEqual(
      await cluster.exited(victim),
      { exitCode: 0, signal: undefined },
      'SIGTERM stops cleanly with exit code 0',
    );
    assert.match(cluster.output(victim), /"event":"stopped","id":"[^"]+","reason":"SIGTERM"/);
    const walDir = join(cluster.dataDir(victim), 'wal');
    const segments = readdirSync(walDir).sort();
    const last = join(walDir, segments[segments.length - 1] as string);
    // A crash in the middle of writing a batch leaves its last record cut
    // short. Simulate that write (a copy of the final record, all but its
    // last 3 bytes) where the records end and the segment's zero fill
    // begins. Damaging records that were already synced and acknowledged
    // would be data loss, which no torn write can cause.
    const wal = readFileSync(last);
    let lastRecordOffset = 0;
    let endOfRecords = 0;
    for (;;) {
      const r = readRecordAt(wal, endOfRecords);
      if (r.type !== 'record') break;
      lastRecordOffset = endOfRecords;
      endOfRecords = r.nextOffset;
    }
    assert.ok(endOfRecords > 0, 'the segment holds records');
    const torn = wal.subarray(lastRecordOffset, endOfRecords - 3);
    const fd = openSync(last, 'r+');
    writeSync(fd, torn, 0, torn.length, endOfRecords);
    closeSync(fd);
    await cluster.startNode(victim);
    assert.match(cluster.output(victim), /"event":"wal-torn-tail-truncated"/);
    assert.ok(cluster.output(victim).includes(last.replaceAll('\\', '\\\\')));
    await putAcknowledged(cluster, leader, 'after-tear', 2);
    for (const key of ['before-tear', 'after-tear']) {
      await eventually(`${victim} has ${key}`, async () =>
        (await get(cluster, victim, key, true)).body.found === true ? true : undefined,
      ).catch(async (err: Error) => {
        const statuses = await Promise.all(
          cluster.ids.map(async (id) => JSON.stringify((await http(`${cluster.url(id)}/status`, 'GET')).body)),
        );
        throw new Error(`${err.message}\n${statuses.join('\n')}\n${cluster.output(victim).slice(-3000)}`);
      });
    }
  });

  test('a corrupted WAL middle refuses to start with an error naming file and offset', async () => {
    const leader = await leaderOf(cluster);
    const victim = cluster.ids.find((id) => id !== leader) as string;
    await cluster.stopNode(victim);
    const walDir = join(cluster.dataDir(victim), 'wal');
    const segment = join(walDir, readdirSync(walDir).sort()[0] as string);
    const buf = readFileSync(segment);
    const first = readRecordAt(buf, 0);
    assert.equal(first.type, 'record');
    const offset = first.type === 'record' ? first.nextOffset : 0;
    buf[offset + 10] = (buf[offset + 10] as number) ^ 0x20;
    writeFileSync(segment, buf);
    await assert.rejects(cluster.startNode(victim), /exited before listening/);
    const exit = await cluster.exited(victim);
    assert.equal(exit.exitCode, 1);
    assert.ok(
      cluster.output(victim).includes(`${segment} is corrupt at byte offset ${offset}`),
      cluster.output(victim).slice(-800),
    );
    assert.equal(statSync(segment).size, buf.length, 'the corrupt file is left as it was');
  });
});

describe('a single node process', () => {
  test('--exit-with-parent: the node exits cleanly when its stdin reaches end-of-file', async () => {
    const cluster = await LocalCluster.start({
      nodes: 1,
      dataDir: join(root, 'single'),
      electionTimeoutMs: 300,
      heartbeatMs: 50,
    });
    try {
      await putAcknowledged(cluster, 'n1', 'solo', true);
      cluster.closeStdin('n1');
      assert.deepEqual(await cluster.exited('n1'), { exitCode: 0, signal: undefined });
      assert.match(cluster.output('n1'), /"reason":"stdin closed \(parent exited\)"/);
    } finally {
      await cluster.stop();
    }
  });

  test('bad flags exit non-zero with a message saying what to fix', async () => {
    const cluster = await LocalCluster.start({
      nodes: 1,
      dataDir: join(root, 'flags'),
      heartbeatMs: 300,
      electionTimeoutMs: 400,
    }).catch((err: Error) => err);
    assert.ok(cluster instanceof Error);
    assert.match(cluster.message, /--election-timeout-ms must be at least twice --heartbeat-ms/);
  });
});

describe('snapshots in a real cluster', () => {
  let cluster: LocalCluster;
  before(async () => {
    cluster = await LocalCluster.start({
      nodes: 3,
      dataDir: join(root, 'snap'),
      electionTimeoutMs: 400,
      heartbeatMs: 50,
      snapshotEvery: 20,
    });
  });
  after(async () => {
    await cluster?.stop();
  });

  test('a follower that missed compacted entries catches up through InstallSnapshot, and restarts from its snapshot', async () => {
    const leader = await leaderOf(cluster);
    const lagging = cluster.ids.find((id) => id !== leader) as string;
    await cluster.kill(lagging);
    for (let i = 0; i < 60; i++) await putAcknowledged(cluster, leader, `s${i}`, i);
    const status = (await http(`${cluster.url(leader)}/status`, 'GET')).body;
    assert.ok((status.snapshotIndex as number) >= 40, `leader compacted: ${JSON.stringify(status)}`);
    await cluster.startNode(lagging);
    await eventually(`${lagging} has s59`, async () =>
      (await get(cluster, lagging, 's59', true)).body.value === 59 ? true : undefined,
    );
    assert.match(cluster.output(lagging), /"event":"snapshot-installed"/);
    assert.deepEqual((await get(cluster, lagging, 's0', true)).body, { found: true, value: 0 });
    await cluster.kill(lagging);
    await cluster.startNode(lagging);
    assert.deepEqual((await get(cluster, lagging, 's30', true)).body, { found: true, value: 30 });
  });
});
