import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { LocalCluster } from './local-cluster.ts';

const root = mkdtempSync(join(tmpdir(), 'raftlab-trace-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('RAFTLAB_TRACE: a node records each put step at exit, and trace-summary lines them up per put', async () => {
  const prefix = join(root, 't');
  // Node processes inherit our environment.
  process.env.RAFTLAB_TRACE = prefix;
  let cluster: LocalCluster | undefined;
  try {
    cluster = await LocalCluster.start({ nodes: 1, dataDir: join(root, 'data') });
  } finally {
    delete process.env.RAFTLAB_TRACE;
  }
  const url = cluster.url('n1');
  try {
    const deadline = Date.now() + 20_000;
    let puts = 0;
    while (puts < 5) {
      if (Date.now() > deadline) throw new Error('no leader or puts not answered within 20 s');
      const res = await fetch(`${url}/kv/k${puts}`, { method: 'PUT', body: '{"value":1}' });
      if (res.status === 200) puts++;
      else await sleep(50);
    }
  } finally {
    await cluster.stop();
  }
  const lines = readFileSync(`${prefix}-n1.trace`, 'utf8').trim().split('\n');
  const events = lines.map((l) => l.split(' ')[2]);
  for (const e of ['client-request', 'pass', 'persist-start', 'persist-done', 'applied', 'client-response'])
    assert.ok(events.includes(e), `${e} recorded`);
  assert.equal(events.filter((e) => e === 'client-response').length, 5);
  const tsx = fileURLToPath(import.meta.resolve('tsx/cli'));
  const summary = await execa(process.execPath, [
    tsx,
    fileURLToPath(new URL('./trace-summary.ts', import.meta.url)),
    prefix,
  ]);
  assert.match(summary.stdout, /leader n1; 5 puts/);
  assert.match(summary.stdout, /leader: answer written\s+\d+\s+\d+\s+5/);
});
