/**
 * etcd on loopback: a 3-member cluster for the bench (`startEtcdCluster`, etcd's default durability: fsync on every
 * commit), and etcd as a system under chaos (`EtcdSystem`).
 *
 * Each member runs under a tiny `sh` guard that reads its stdin pipe: when
 * this process dies for any reason, even SIGKILL, the pipe closes and the
 * guard kills etcd, so no member outlives the bench.
 */
import { execa, type ResultPromise } from 'execa';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { freePorts } from '../../lib/ports.ts';
import type { ClientAdapter, MemberStatus } from '../../workloads/client.ts';
import { EtcdClient } from '../../workloads/etcd-client.ts';
import { sendJson } from '../../workloads/http-json.ts';
import {
  ProcessCluster,
  type MemberLaunch,
  type MemberPlacement,
  type ProcessClusterOptions,
} from './process-cluster.ts';
import type { NemesisKind } from '../nemesis/plan.ts';
import { isScenarioKind, type ClientOptions, type PeerRouting } from './system.ts';

/** etcd's registered peer port, used by every member in hosts mode (each has a port space of its own). */
const ETCD_PEER_PORT = 2380;

/** Where Debian's `etcd-server` package puts the binary. */
export const DEFAULT_ETCD_BINARY = '/usr/bin/etcd';

/** What to tell a user without etcd. */
export const ETCD_INSTALL_HINT =
  'etcd is not installed: run `apt-get install -y etcd-server` (Debian/Ubuntu) to compare against it';

/** Options for {@link startEtcdCluster}. */
export type EtcdClusterOptions = {
  /** Directory for data dirs and logs (created). */
  dir: string;
  members?: number;
  binary?: string;
  /** Give up waiting for a healthy cluster after this long. */
  startTimeoutMs?: number;
};

/** One running member. */
export type EtcdMember = { name: string; clientUrl: string; peerUrl: string; dataDir: string; logPath: string };

/** A running etcd cluster. */
export type EtcdCluster = {
  members: readonly EtcdMember[];
  clientUrls: readonly string[];
  version: string;
  /** Index of the current leader in `members` (asked through the maintenance status API). */
  leaderIndex(timeoutMs?: number): Promise<number>;
  /** Stops every member (SIGTERM, then SIGKILL after a grace period). */
  stop(): Promise<void>;
};

/** The etcd version string (`3.4.23`), or undefined when etcd cannot be run. */
export async function etcdVersion(binary = DEFAULT_ETCD_BINARY): Promise<string | undefined> {
  try {
    const r = await execa(binary, ['--version'], { timeout: 10_000, reject: false });
    const m = /etcd Version:\s*(\S+)/.exec(r.stdout);
    return m?.[1];
  } catch {
    return undefined;
  }
}

// The guard: start etcd in the background, wait for stdin to close (our
// death or stop()), then TERM etcd, KILL it after 3 s, and reap it.
const GUARD_SCRIPT = [
  '"$@" & child=$!',
  'echo "$child" > "$PIDFILE"',
  // Through fd 3: dash gives a background job /dev/null as stdin even with an explicit <&0.
  'exec 3<&0',
  'cat <&3 > /dev/null & reader=$!',
  // A signal to the guard (execa's cleanup on our exit) also stops etcd.
  `trap 'kill "$reader" 2>/dev/null' TERM INT HUP`,
  'wait "$reader"',
  'kill -TERM "$child" 2>/dev/null',
  '( sleep 3; kill -KILL "$child" 2>/dev/null ) & killer=$!',
  'wait "$child"; status=$?',
  'kill "$killer" 2>/dev/null',
  'exit $status',
].join('\n');

/** Starts the cluster and resolves once every member reports healthy. */
export async function startEtcdCluster(options: EtcdClusterOptions): Promise<EtcdCluster> {
  const binary = options.binary ?? DEFAULT_ETCD_BINARY;
  const version = await etcdVersion(binary);
  if (version === undefined) throw new Error(ETCD_INSTALL_HINT);
  const count = options.members ?? 3;
  const ports = await freePorts(count * 2);
  mkdirSync(options.dir, { recursive: true });
  const members: EtcdMember[] = Array.from({ length: count }, (_, i) => ({
    name: `e${i + 1}`,
    clientUrl: `http://127.0.0.1:${ports[2 * i]}`,
    peerUrl: `http://127.0.0.1:${ports[2 * i + 1]}`,
    dataDir: join(options.dir, `e${i + 1}`),
    logPath: join(options.dir, `e${i + 1}.log`),
  }));
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  const token = `raftlab-bench-${process.pid}-${Date.now()}`;
  const processes: ResultPromise[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(
      processes.map(async (p) => {
        p.stdin?.end();
        const timer = setTimeout(() => p.kill('SIGKILL'), 6_000);
        await p.catch(() => undefined);
        clearTimeout(timer);
      }),
    );
    // The guard may have been killed before reaping: make sure etcd is gone.
    for (const m of members) killPidFile(join(options.dir, `${m.name}.pid`));
  };
  try {
    for (const m of members) {
      const args = [
        binary,
        '--name',
        m.name,
        '--data-dir',
        m.dataDir,
        '--listen-client-urls',
        m.clientUrl,
        '--advertise-client-urls',
        m.clientUrl,
        '--listen-peer-urls',
        m.peerUrl,
        '--initial-advertise-peer-urls',
        m.peerUrl,
        '--initial-cluster',
        initialCluster,
        '--initial-cluster-state',
        'new',
        '--initial-cluster-token',
        token,
        '--logger',
        'zap',
        '--log-outputs',
        'stderr',
      ];
      const p = execa('/bin/sh', ['-c', GUARD_SCRIPT, 'etcd-guard', ...args], {
        stdin: 'pipe',
        stdout: { file: m.logPath, append: true },
        stderr: { file: m.logPath, append: true },
        env: { PIDFILE: join(options.dir, `${m.name}.pid`) },
        reject: false,
        cleanup: true,
      });
      processes.push(p);
    }
    await waitHealthy(members, processes, options.startTimeoutMs ?? 30_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    members,
    clientUrls: members.map((m) => m.clientUrl),
    version,
    stop,
    leaderIndex: (ms) => findLeader(members, ms ?? 10_000),
  };
}

function killPidFile(path: string): void {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 1) process.kill(pid, 'SIGKILL');
  } catch {
    // No file or no such process: already gone.
  }
}

async function waitHealthy(
  members: readonly EtcdMember[],
  processes: readonly ResultPromise[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const exited = new Set<number>();
  processes.forEach((p, i) => void p.finally(() => exited.add(i)));
  const pending = new Set(members.map((_, i) => i));
  while (pending.size > 0) {
    for (const i of exited) {
      throw new Error(`etcd member ${members[i]?.name} exited during start; see ${members[i]?.logPath}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`etcd cluster not healthy after ${timeoutMs} ms; see the logs in ${members[0]?.logPath ?? ''}`);
    }
    for (const i of [...pending]) {
      const m = members[i];
      if (m === undefined) continue;
      try {
        const r = await request(`${m.clientUrl}/health`, { headersTimeout: 1_000, bodyTimeout: 1_000 });
        const body = (await r.body.json()) as { health?: unknown };
        if (r.statusCode === 200 && body.health === 'true') pending.delete(i);
      } catch {
        // Not listening yet.
      }
    }
    if (pending.size > 0) await new Promise((r) => setTimeout(r, 100));
  }
}

// POST /v3/maintenance/status answers with the member's own id (header) and
// the id of the leader it knows; the leader is the member whose ids agree.
async function findLeader(members: readonly EtcdMember[], timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const [i, m] of members.entries()) {
      try {
        const r = await request(`${m.clientUrl}/v3/maintenance/status`, {
          method: 'POST',
          body: '{}',
          headersTimeout: 1_000,
          bodyTimeout: 1_000,
        });
        const body = (await r.body.json()) as { header?: { member_id?: unknown }; leader?: unknown };
        if (r.statusCode === 200 && body.leader !== undefined && body.leader === body.header?.member_id) return i;
      } catch {
        // Member busy or down: ask the next one.
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no etcd leader found within ${timeoutMs} ms`);
}

/** Options of etcd under chaos. */
export interface EtcdSystemOptions extends Omit<ProcessClusterOptions, 'mode'> {
  /** The etcd binary; default /usr/bin/etcd (Debian's etcd-server). */
  binary?: string;
  /** How the chaos client reads (`serializable`: local, possibly stale reads). */
  readMode?: 'linearizable' | 'serializable';
}

/**
 * etcd 3.4 as a system under test: every member a real process with its own data directory. Every etcd member dials
 * a peer by the one URL that peer advertises, so per-link proxies cannot be expressed with flags: in proxy mode etcd
 * runs without proxies and only process faults apply (per-link faults need each member on a host of its own).
 */
export class EtcdSystem extends ProcessCluster {
  readonly name = 'etcd';
  declare readonly options: ProcessClusterOptions & EtcdSystemOptions;
  private readonly peerPorts = new Map<string, number>();
  private readonly token = `raftlab-${process.pid}-${Date.now().toString(36)}`;
  private versionText = 'unknown';
  /** etcd's member ids (hex) to ours, learnt from each member's status answer. */
  private readonly idsByMemberId = new Map<string, string>();

  /**
   * On loopback etcd runs without proxies: its peers cannot be routed per link. In hosts mode every member is on a
   * host of its own, and a dnat rule per link sends the peer traffic it dials to the advertised URL through that
   * link's proxy (when a fault needs toxics), so per-link faults apply as for raftlab.
   */
  constructor(options: EtcdSystemOptions) {
    super({ ...options, mode: options.net === 'hosts' ? 'proxied' : 'direct' });
  }

  protected override peerPort(id: string): number {
    return this.peerPorts.get(id) ?? ETCD_PEER_PORT;
  }

  /** In hosts mode every link can be cut in the kernel; on loopback no link can be faulted alone. */
  override get peerRouting(): PeerRouting {
    return this.inHosts ? 'per-link' : 'none';
  }

  override describeRouting(): string {
    return this.inHosts
      ? 'every member is in a network namespace of its own: links are cut in the kernel and redirected through per-link proxies for toxics'
      : 'every etcd member dials a peer by the one URL that peer advertises, so a proxy cannot sit on one directed link; per-link faults need each member on a host of its own (--net hosts)';
  }

  override unsupportedNemesis(kind: NemesisKind): string | undefined {
    if (isScenarioKind(kind)) {
      return `the ${kind} nemesis is a scripted scenario that reads raftlab's log positions from its /status; it builds its state on raftlab's node only`;
    }
    return super.unsupportedNemesis(kind);
  }

  /** Refuses to start without etcd, with the install command; picks every member's peer port. */
  override async start(): Promise<void> {
    const version = await etcdVersion(this.options.binary ?? DEFAULT_ETCD_BINARY);
    if (version === undefined) {
      throw new Error(
        'etcd is not installed: run `apt-get install -y etcd-server` (Debian/Ubuntu), or pass --etcd-bin',
      );
    }
    this.versionText = version;
    // In hosts mode every member has a port space of its own: etcd's usual peer port serves them all.
    const ports = this.inHosts ? this.ids.map(() => ETCD_PEER_PORT) : await freePorts(this.ids.length);
    for (const [i, id] of this.ids.entries()) this.peerPorts.set(id, ports[i] as number);
    await super.start();
  }

  version(): string {
    return this.versionText;
  }

  /**
   * Peers meet on each member's own address (its namespace's in hosts mode, where a kernel rule can cut one link).
   * Clients reach 127.0.0.1 inside the member's namespace: in hosts mode the namespace forwards its client port there.
   */
  protected launch(placement: MemberPlacement): MemberLaunch {
    const peerUrl = (id: string): string => `http://${this.memberHost(id)}:${this.peerPorts.get(id)}`;
    const listenClient = `http://127.0.0.1:${placement.port}`;
    const advertiseClient = `http://${placement.host}:${placement.port}`;
    const initialCluster = this.ids.map((id) => `${id}=${peerUrl(id)}`).join(',');
    return {
      command: this.options.binary ?? DEFAULT_ETCD_BINARY,
      args: [
        ...['--name', placement.id, '--data-dir', placement.dataDir],
        ...['--listen-client-urls', listenClient, '--advertise-client-urls', advertiseClient],
        ...['--listen-peer-urls', peerUrl(placement.id), '--initial-advertise-peer-urls', peerUrl(placement.id)],
        ...['--initial-cluster', initialCluster, '--initial-cluster-state', 'new'],
        ...['--initial-cluster-token', this.token, '--logger', 'zap', '--log-outputs', 'stderr'],
      ],
      processGroup: false,
    };
  }

  /** etcd's `POST /v3/maintenance/status`, mapped onto the harness's member status. */
  protected override async probeStatus(id: string, url: string, timeoutMs: number): Promise<MemberStatus | undefined> {
    try {
      const answer = await sendJson(url, { method: 'POST', path: '/v3/maintenance/status', body: {}, timeoutMs });
      if (answer.statusCode !== 200 || answer.body === undefined) return undefined;
      const body = answer.body as {
        header?: { member_id?: string; raft_term?: string };
        leader?: string;
        raftIndex?: string;
        raftAppliedIndex?: string;
      };
      const self = body.header?.member_id;
      if (self !== undefined) this.idsByMemberId.set(self, id);
      const leader = body.leader === undefined ? null : (this.idsByMemberId.get(body.leader) ?? null);
      return {
        id,
        role: body.leader !== undefined && body.leader === self ? 'leader' : 'follower',
        term: Number(body.header?.raft_term ?? 0),
        leader,
        commitIndex: Number(body.raftIndex ?? 0),
        appliedIndex: Number(body.raftAppliedIndex ?? 0),
      };
    } catch {
      return undefined;
    }
  }

  createClient(options: ClientOptions): ClientAdapter {
    if (options.retry > 0)
      throw new Error('--retry needs client sessions, and etcd has none: a resent put may apply twice');
    return new EtcdClient({
      urls: this.clientUrls(),
      timeoutMs: options.timeoutMs,
      readMode: this.options.readMode ?? 'linearizable',
    });
  }
}
