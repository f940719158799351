import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePorts } from './local-cluster.ts';
import { jsonLogger } from './logger.ts';
import { NodeRuntime, type Outcome } from './runtime.ts';
import { createNodeServer } from './server.ts';
import type { PersistBatch } from './storage/storage.ts';

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** The leader's storage, reached past `private` to hold its own disk writes back. */
interface HeldStorage {
  persist(batch: PersistBatch): Promise<void>;
}

describe('a leader answers once followers alone form a majority', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'raftlab-early-commit-'));
  const runtimes: NodeRuntime[] = [];
  const servers: Server[] = [];

  before(async () => {
    const ports = await freePorts(3);
    const ids = ['n1', 'n2', 'n3'];
    const peerUrls = new Map(ids.map((id, i) => [id, `http://127.0.0.1:${ports[i] ?? 0}`]));
    for (const [i, id] of ids.entries()) {
      const log = jsonLogger(id, () => {});
      // snapshotEvery 2: the first put (index 2, after the leader's no-op) makes a snapshot due.
      const runtime = NodeRuntime.open({
        id,
        peerUrls,
        dataDir: join(dataDir, id),
        clusterId: 'c1',
        electionTimeoutMs: 2000,
        heartbeatMs: 100,
        snapshotEvery: 2,
        requestTimeoutMs: 20_000,
        log,
      });
      const server = createNodeServer({ runtime, peerIds: new Set(ids), clusterId: 'c1', forwardTimeoutMs: 1000, log });
      await new Promise<void>((resolve) => server.listen(ports[i], '127.0.0.1', resolve));
      runtimes.push(runtime);
      servers.push(server);
    }
  });

  after(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
    await Promise.all(runtimes.map((r) => r.stop()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("a put is applied and answered while the leader's own fdatasync is still pending; the snapshot waits for the core", async () => {
    const leader = await waitFor('a leader', () => runtimes.find((r) => r.isLeader() && r.status().commitIndex >= 1));
    const storage = (leader as unknown as { storage: HeldStorage }).storage;
    const persist = storage.persist.bind(storage);
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    let held = 0;
    storage.persist = async (batch) => {
      if (batch.entries.length > 0) {
        held++;
        await gate;
      }
      return persist(batch);
    };
    try {
      let answer: Outcome | undefined;
      void leader.submit({ op: 'put', key: 'k', value: 1 }).then((o) => (answer = o));
      const outcome = await waitFor('the put to be answered', () => answer);
      assert.equal(outcome.type, 'applied');
      assert.equal(held, 1, "the leader's write of the entry is still held");
      assert.equal(leader.status().appliedIndex, 2);
      assert.equal(leader.status().snapshotIndex, 0, 'no snapshot of entries the core has not seen applied');
    } finally {
      release();
      storage.persist = persist;
    }
    // Once the core has caught up the due snapshot is taken, and nothing failed on the way.
    await waitFor('the snapshot', () => (leader.status().snapshotIndex >= 2 ? true : undefined));
    assert.equal(leader.failure, null);
    const again = await leader.submit({ op: 'put', key: 'k', value: 2 });
    assert.equal(again.type, 'applied');
  });
});
