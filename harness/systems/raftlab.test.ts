import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RaftlabSystem } from './raftlab.ts';
import { repoRoot } from '../../lib/repo.ts';
import { pidAlive, waitFor } from '../testing.ts';

const fakeNode = join(repoRoot, 'harness', 'testdata', 'fake-node.ts');

test('a direct cluster starts, elects, survives kill/restart and pause/resume, and stops every process', async () => {
  const runDir = mkdtempSync(join(tmpdir(), 'raftlab-cluster-'));
  const cluster = new RaftlabSystem({ nodes: 3, runDir, mode: 'direct', nodeMain: fakeNode });
  let pids: number[] = [];
  try {
    await cluster.start();
    assert.equal(await cluster.waitForLeader(20_000), 'n1');
    assert.equal(Object.keys(cluster.clientUrls()).length, 3);
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

test('a proxied cluster picks new ports and retries when Toxiproxy answers 500 (a port taken meanwhile)', async () => {
  const runDir = mkdtempSync(join(tmpdir(), 'raftlab-cluster-'));
  const attempts: string[][] = [];
  const cluster = new RaftlabSystem({
    nodes: 3,
    runDir,
    mode: 'proxied',
    nodeMain: fakeNode,
    // Fails like toxiproxy-node-client does on a bind race, every time: the cluster gives up after its attempts.
    startProxies: async (specs) => {
      attempts.push(specs.map((s) => s.listen));
      throw new Error('Request failed with status code 500');
    },
  });
  try {
    await assert.rejects(
      cluster.start(),
      /cannot create the cluster's proxies \(attempt 4\): Request failed with status code 500/,
    );
  } finally {
    await cluster.stop();
  }
  assert.equal(attempts.length, 4);
  assert.equal(attempts[0]?.length, 3 * 2 + 3, 'six peer proxies and three client proxies');
  // Every retry asks for ports it has not tried before.
  const tried = attempts.flat();
  assert.equal(new Set(tried).size, tried.length);
  for (const id of cluster.ids) assert.equal(cluster.pid(id), undefined, `node ${id} was never started`);
  rmSync(runDir, { recursive: true, force: true });
});

test('a proxied cluster does not retry an error other than a 500', async () => {
  const runDir = mkdtempSync(join(tmpdir(), 'raftlab-cluster-'));
  let calls = 0;
  const cluster = new RaftlabSystem({
    nodes: 3,
    runDir,
    mode: 'proxied',
    nodeMain: fakeNode,
    startProxies: async () => {
      calls++;
      throw new Error('connect ECONNREFUSED 127.0.0.1:8474');
    },
  });
  try {
    await assert.rejects(cluster.start(), /attempt 1\): connect ECONNREFUSED/);
  } finally {
    await cluster.stop();
  }
  assert.equal(calls, 1);
  rmSync(runDir, { recursive: true, force: true });
});
