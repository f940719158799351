/**
 * raftlab's own node as a {@link System}: every member runs `node/main.ts` as a real OS process. Members take
 * `--exit-with-parent` (they exit when their stdin pipe reaches EOF) on top of the cluster's reaper, and print a
 * `listening` line once they serve.
 *
 * Usage:
 *   const system = new RaftlabSystem({ nodes: 3, runDir, mode: 'direct' });
 *   await system.start();
 *   const leader = await system.waitForLeader(10_000);
 *   await system.kill('n2'); await system.restart('n2');
 *   await system.stop();
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, tsxImport } from '../../lib/repo.ts';
import { RaftlabClient, StaleReadClient, type ClientAdapter } from '../../workloads/client.ts';
import { RetryClient } from '../../workloads/retry-client.ts';
import { fetchMembers, requestMemberAdd, requestMemberRemove } from '../../workloads/raftlab-api.ts';
import type { MembershipControl } from '../nemesis/controls.ts';
import {
  ProcessCluster,
  type MemberLaunch,
  type MemberPlacement,
  type ProcessClusterOptions,
} from './process-cluster.ts';
import type { ClientOptions } from './system.ts';

export type { ProxySpec } from './proxies.ts';

/** Options of a raftlab system. */
export interface RaftlabSystemOptions extends ProcessClusterOptions {
  electionTimeoutMs?: number;
  heartbeatMs?: number;
  snapshotEvery?: number;
  clusterId?: string;
  /** Extra flags for every node. */
  nodeArgs?: readonly string[];
  /** Node entry point; defaults to `<repo>/node/main.ts` (tests use a double). */
  nodeMain?: string;
  /** TEST ONLY: `stale` wraps the client so some reads return stale values (the checker must catch it). */
  clientKind?: 'raftlab' | 'stale';
}

/** raftlab's Raft KV node, run as real processes. */
export class RaftlabSystem extends ProcessCluster {
  readonly name = 'raftlab';
  declare readonly options: RaftlabSystemOptions;

  /** Narrows the options to raftlab's flags. */
  constructor(options: RaftlabSystemOptions) {
    super(options);
  }

  protected launch(placement: MemberPlacement): MemberLaunch {
    const o = this.options;
    const peers = Object.entries(placement.peers)
      .map(([id, url]) => `${id}=${url}`)
      .join(',');
    return {
      command: process.execPath,
      args: [
        '--import',
        tsxImport,
        o.nodeMain ?? join(repoRoot, 'node', 'main.ts'),
        ...['--id', placement.id, '--listen', `127.0.0.1:${placement.port}`, '--peers', peers],
        ...['--data-dir', placement.dataDir, '--exit-with-parent'],
        ...(o.electionTimeoutMs !== undefined ? ['--election-timeout-ms', String(o.electionTimeoutMs)] : []),
        ...(o.heartbeatMs !== undefined ? ['--heartbeat-ms', String(o.heartbeatMs)] : []),
        ...(o.snapshotEvery !== undefined ? ['--snapshot-every', String(o.snapshotEvery)] : []),
        ...(o.clusterId !== undefined ? ['--cluster-id', o.clusterId] : []),
        ...this.bootstrapArgs(placement.id),
        ...(o.nodeArgs ?? []),
      ],
      cwd: repoRoot,
      processGroup: false,
      readyLine: (line) => line.includes('"event":"listening"'),
    };
  }

  /**
   * `--initial-members` (the configuration at log index 0, used only while the data directory is empty): the
   * initial members, except for a member started from an emptied data directory, which is left out so it waits to be
   * added instead of campaigning in a configuration the cluster has left. Omitted when every node starts as a member
   * (the node's default is every id of --peers).
   */
  private bootstrapArgs(id: string): string[] {
    if (this.options.initialMembers === undefined && !this.emptied.has(id)) return [];
    const bootstrap = this.initialMembers.filter((member) => !this.emptied.has(id) || member !== id);
    return ['--initial-members', bootstrap.join(',')];
  }

  protected override membershipGap(): string | undefined {
    return undefined;
  }

  /** The admin API of every member (`GET /members`, `POST /members`, `DELETE /members/{id}`), asked directly. */
  override get membership(): MembershipControl {
    const url = (id: string): string => {
      const direct = this.directUrls[id];
      if (direct === undefined) throw new Error(`unknown node ${id}; nodes are ${this.ids.join(', ')}`);
      return direct;
    };
    return {
      potential: this.ids,
      members: () => this.members(),
      setMembers: (ids) => this.setMembers(ids),
      configuration: (id, timeoutMs) => fetchMembers(url(id), timeoutMs),
      requestAdd: (via, id, timeoutMs) => requestMemberAdd(url(via), id, url(id), timeoutMs),
      requestRemove: (via, id, timeoutMs) => requestMemberRemove(url(via), id, timeoutMs),
      restartEmpty: (id) => this.restartEmpty(id),
    };
  }

  /** The package version of this checkout. */
  version(): string {
    try {
      return (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      return 'unknown';
    }
  }

  createClient(options: ClientOptions): ClientAdapter {
    const real = new RaftlabClient({ urls: this.clientUrls(), timeoutMs: options.timeoutMs });
    const base: ClientAdapter = this.options.clientKind === 'stale' ? new StaleReadClient(real) : real;
    // raftlab has client sessions: a resent write with the same (client, seq) is applied at most once.
    // Retries go to the members the harness sees at that moment.
    return options.retry > 0 ? new RetryClient(base, { retries: options.retry, nodes: () => this.members() }) : base;
  }
}
