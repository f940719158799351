// Chaos runs against systems we did not write: a naive node brought through --system exec must be caught, and
// etcd (Debian's etcd-server, installed by .ci/run) must pass with linearizable reads under process faults and be
// caught with serializable reads under pauses. Run directories stay under store/ for review.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { check } from '../../checker/index.ts';
import { repoRoot } from '../../lib/repo.ts';
import { runChaos, type ChaosOptions } from '../run/chaos.ts';
import { hostsUnavailableReason } from '../hosts/hosts.ts';
import { etcdVersion } from './etcd.ts';

const store = join(repoRoot, 'store');

function options(name: string, overrides: Partial<ChaosOptions>): ChaosOptions {
  return {
    nodes: 3,
    timeS: 8,
    nemesis: [],
    intervalS: 2,
    workload: 'cas-register',
    keys: 4,
    concurrency: 6,
    seed: 11,
    store,
    timeoutMs: 1000,
    name,
    recoveryBoundMs: 30_000,
    checkBudgetMs: 30_000,
    ...overrides,
  };
}

test('a naive node brought with --system exec (each member its own map) is caught', async () => {
  const outcome = await runChaos(
    options('test-exec-naive', { system: 'exec', nodeCmd: 'node examples/naive-kv.mjs --port {port}' }),
    check,
  );
  assert.equal(outcome.verdict, 'illegal', outcome.error);
  assert.equal(outcome.exitCode, 1);
  const testFile = JSON.parse(readFileSync(join(outcome.runDir, 'test.json'), 'utf8')) as {
    system: { name: string; version: string; command: string };
  };
  assert.equal(testFile.system.name, 'exec');
  assert.match(testFile.system.command, /examples\/naive-kv\.mjs --port '\d+'/);
});

const etcdMissing =
  (await etcdVersion()) === undefined ? 'etcd is not installed (apt-get install -y etcd-server)' : false;

test('etcd with linearizable reads passes kills and pauses', { skip: etcdMissing }, async () => {
  const outcome = await runChaos(options('test-etcd', { system: 'etcd', nemesis: ['kill', 'pause'] }), check);
  assert.equal(outcome.verdict, 'linearizable', outcome.error);
  assert.equal(outcome.exitCode, 0);
  const results = JSON.parse(readFileSync(join(outcome.runDir, 'results.json'), 'utf8')) as {
    system: { name: string; version: string };
  };
  assert.equal(results.system.name, 'etcd');
  assert.match(results.system.version, /^3\.\d+\.\d+/);
});

test('etcd refuses a per-link fault instead of faking it', { skip: etcdMissing }, async () => {
  await assert.rejects(
    runChaos(options('test-etcd-partition', { system: 'etcd', nemesis: ['partition'] }), check),
    /the partition nemesis needs per-link proxies, and system etcd has none here/,
  );
});

const hostsMissing = etcdMissing || (hostsUnavailableReason() ?? false);

test('etcd in hosts mode passes kernel partitions and per-link latency', { skip: hostsMissing }, async () => {
  const outcome = await runChaos(
    options('test-etcd-hosts', { system: 'etcd', net: 'hosts', nemesis: ['partition', 'latency'], timeS: 12 }),
    check,
  );
  assert.equal(outcome.verdict, 'linearizable', outcome.error);
  const history = readFileSync(join(outcome.runDir, 'history.jsonl'), 'utf8');
  assert.match(history, /"f":"(partition|latency)-start".*"layer":"(kernel|proxy)"/);
});

test('etcd serializable reads under kernel partitions are caught (one of seeds 1, 2, 3)', {
  skip: hostsMissing,
}, async () => {
  const verdicts: string[] = [];
  for (const seed of [1, 2, 3]) {
    const outcome = await runChaos(
      options(`test-etcd-serializable-${seed}`, {
        system: 'etcd',
        net: 'hosts',
        etcdReadMode: 'serializable',
        nemesis: ['partition'],
        timeS: 20,
        intervalS: 3,
        seed,
      }),
      check,
    );
    verdicts.push(`seed ${seed}: ${outcome.verdict} (${outcome.runDir})`);
    if (outcome.verdict === 'illegal') return;
  }
  assert.fail(`serializable reads were never caught: ${verdicts.join('; ')}`);
});
