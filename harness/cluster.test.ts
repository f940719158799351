import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, repoRoot } from './cluster.ts';
import { pidAlive, waitFor } from './testing.ts';

const fakeNode = join(repoRoot, 'harness', 'testdata', 'fake-node.ts');

test('a direct cluster starts, elects, survives kill/restart and pause/resume, and stops every process', async () => {
  const runDir = mkdtempSync(join(tmpdir(), 'raftlab-cluster-'));
  const cluster = new Cluster({ nodes: 3, runDir, mode: 'direct', nodeMain: fakeNode });
  let pids: number[] = [];
  try {
    await cluster.start();
    assert.equal(await cluster.waitForLeader(20_000), 'n1');
    assert.equal(cluster.clientUrls.length, 3);
    const n2 = cluster.pid('n2');
    assert.ok(n2 !== undefined && pidAlive(n2));
    await cluster.kill('n2');
    assert.ok(!cluster.isRunning('n2'));
    assert.ok(!pidAlive(n2));
    await cluster.restart('n2');
    await waitFor(async () => (await cluster.statuses()).has('n2'), 20_000, 'n2 answers after restart');
    cluster.pause('n3');
    assert.ok(!(await cluster.statuses()).has('n3'));
    pids = cluster.allPids();
    assert.equal(pids.length, 4, 'three nodes and the reaper');
  } finally {
    await cluster.stop();
  }
  for (const pid of pids) await waitFor(() => !pidAlive(pid), 10_000, `pid ${pid} gone`);
  const log = readFileSync(join(runDir, 'nodes', 'n2.log'), 'utf8');
  assert.match(log, /exit n2: SIGKILL/);
  assert.match(log, /"event":"listening"/);
  rmSync(runDir, { recursive: true, force: true });
});
