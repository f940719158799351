/**
 * The `npm run chaos` command line that replays a run: printed by the chaos CLI, stored in test.json, and written by
 * `npm run prove` and `npm run shrink`. One builder, so every flag that shapes a run is replayed by all of them.
 */
import type { ChaosOptions } from './chaos.ts';

/** Where an explicit schedule comes from, and the run a shrunk one was made from (both are files or directories). */
export interface ReplayFiles {
  scheduleFile?: string;
  shrunkFrom?: string;
}

/** The flags of `options` (a schedule file replaces `--nemesis` and `--interval`, which only plan a schedule). */
export function chaosCommandLine(options: ChaosOptions, files: ReplayFiles = {}): string {
  const o = options;
  const system = o.system ?? 'raftlab';
  const planned = files.scheduleFile === undefined;
  return [
    'npm run chaos --',
    ...(system !== 'raftlab' ? [`--system ${system}`] : []),
    ...(o.nodeCmd !== undefined ? [`--node-cmd ${JSON.stringify(o.nodeCmd)}`] : []),
    ...(o.etcdBinary !== undefined ? [`--etcd-bin ${o.etcdBinary}`] : []),
    ...(o.etcdReadMode !== undefined ? [`--read-mode ${o.etcdReadMode}`] : []),
    ...(o.bug !== undefined ? [`--bug ${o.bug}`] : []),
    `--nodes ${o.nodes}`,
    `--time ${o.timeS}`,
    ...(planned ? [`--nemesis ${o.nemesis.join(',') || 'none'}`, `--interval ${o.intervalS}`] : []),
    `--workload ${o.workload}`,
    `--keys ${o.keys}`,
    `--concurrency ${o.concurrency}`,
    ...(o.rate !== undefined ? [`--rate ${o.rate}`] : []),
    `--timeout-ms ${o.timeoutMs}`,
    ...(o.net === 'hosts' ? ['--net hosts'] : []),
    ...(o.retry !== undefined && o.retry > 0 ? [`--retry ${o.retry}`] : []),
    ...(o.readMode !== undefined ? [`--read-mode ${o.readMode}`] : []),
    ...(o.electionTimeoutMs !== undefined ? [`--election-timeout-ms ${o.electionTimeoutMs}`] : []),
    ...(o.heartbeatMs !== undefined ? [`--heartbeat-ms ${o.heartbeatMs}`] : []),
    ...(o.restartQuiet === false ? ['--no-restart-quiet'] : []),
    ...(planned && o.overlap !== undefined && o.overlap > 1 ? [`--overlap ${o.overlap}`] : []),
    ...(files.scheduleFile !== undefined ? [`--schedule ${files.scheduleFile}`] : []),
    ...(files.shrunkFrom !== undefined ? [`--shrunk-from ${files.shrunkFrom}`] : []),
    `--seed ${o.seed}`,
  ].join(' ');
}
