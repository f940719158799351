// Short chaos runs of raftlab in hosts mode (every member in its own network namespace): partitions are kernel cuts
// and latency is a proxy toxic reached by dnat; the run must be linearizable, say which layer applied each fault
// (history, test.json, report), and leave no namespace, link or nftables table behind. A run with the stale-read
// client must still be called illegal. Linux and root only (CI runs as root).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { check } from '../../checker/index.ts';
import { repoRoot } from '../../lib/repo.ts';
import { parseJsonLines, type RunEvent } from '../../reports/run-files.ts';
import { runChaos, type ChaosOptions } from '../run/chaos.ts';
import { hostsUnavailableReason } from './hosts.ts';

function options(name: string, seed: number, extra: Partial<ChaosOptions> = {}): ChaosOptions {
  return {
    nodes: 3,
    timeS: 10,
    nemesis: ['partition', 'latency'],
    intervalS: 2,
    workload: 'cas-register',
    keys: 4,
    concurrency: 6,
    seed,
    store: join(repoRoot, 'store'),
    timeoutMs: 1000,
    name,
    recoveryBoundMs: 30_000,
    checkBudgetMs: 30_000,
    net: 'hosts',
    ...extra,
  };
}

/** Lines of `ip netns list`, `ip link` and `nft list tables` that name something of run `runId`. */
function leftOf(runId: string): string[] {
  return ['ip netns list', 'ip -o link show', 'nft list tables']
    .flatMap((command) => spawnSync('sh', ['-c', command], { encoding: 'utf8' }).stdout.split('\n'))
    .filter((line) => line.includes(`rlab-${runId}`) || line.includes(`rlab_${runId}`));
}

describe('chaos in hosts mode', { skip: hostsUnavailableReason() }, () => {
  test('partition and latency runs are linearizable, the layers are recorded, nothing is left behind', async () => {
    const outcome = await runChaos(options('hosts-partition-latency', 515), check, () => {});
    assert.equal(outcome.verdict, 'linearizable', outcome.error);
    assert.equal(outcome.exitCode, 0);
    const events = parseJsonLines<RunEvent>(readFileSync(join(outcome.runDir, 'history.jsonl'), 'utf8'), 'history');
    const starts = events.filter((e) => e.process === 'nemesis' && e.f.endsWith('-start'));
    assert.ok(starts.length > 0, 'the nemesis ran');
    for (const start of starts) {
      assert.equal(start.layer, start.f === 'partition-start' ? 'kernel' : 'proxy', JSON.stringify(start));
    }
    const testFile = JSON.parse(readFileSync(join(outcome.runDir, 'test.json'), 'utf8')) as {
      schedule: { fault: { kind: string }; layer?: string }[];
      cluster: { hosts?: { subnet: string; namespaces: Record<string, string> } };
    };
    for (const entry of testFile.schedule) {
      assert.equal(entry.layer, entry.fault.kind === 'partition' ? 'kernel' : 'proxy');
    }
    assert.match(testFile.cluster.hosts?.subnet ?? '', /^10\.213\.\d+\.0\/24$/);
    const report = readFileSync(join(outcome.runDir, 'report.html'), 'utf8');
    assert.match(report, /<th class="l">layer<\/th>/);
    assert.match(report, /<td class="l">kernel<\/td>/);
    // Other runs may be going on in parallel: only this run's names must be gone.
    const runId = /^rlab-([0-9a-f]{6})-/.exec(testFile.cluster.hosts?.namespaces.n1 ?? '')?.[1];
    assert.ok(runId !== undefined, 'test.json names the namespaces');
    assert.deepEqual(leftOf(runId), []);
  });

  test('a stale-read client is still caught in hosts mode', async () => {
    const outcome = await runChaos(
      options('hosts-stale-client', 616, { adapter: 'stale', nemesis: ['partition'] }),
      check,
      () => {},
    );
    assert.equal(outcome.verdict, 'illegal');
    assert.equal(outcome.exitCode, 1);
  });
});
