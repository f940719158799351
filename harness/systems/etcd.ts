/**
 * etcd 3.4 as a system under test, for chaos and the bench alike: every member a real process with its own data
 * directory, etcd's default durability (fsync on every commit). No member outlives the harness: the process
 * cluster's reaper SIGKILLs them when the harness dies, however it dies.
 */
import { execa } from 'execa';
import { freePorts } from '../../lib/ports.ts';
import type { ClientAdapter } from '../../workloads/client.ts';
import type { MemberStatus } from '../../workloads/raftlab-api.ts';
import { EtcdClient } from '../../workloads/etcd-client.ts';
import { sendJson } from '../../workloads/http-json.ts';
import {
  ProcessCluster,
  type MemberLaunch,
  type MemberPlacement,
  type ProcessClusterOptions,
} from './process-cluster.ts';
import { clockNemesisKinds, type NemesisKind } from '../nemesis/plan.ts';
import { isScenarioKind, type ClientOptions, type PeerRouting } from './system.ts';

/** etcd's registered peer port, used by every member in hosts mode (each has a port space of its own). */
const ETCD_PEER_PORT = 2380;

/** Where Debian's `etcd-server` package puts the binary. */
export const DEFAULT_ETCD_BINARY = '/usr/bin/etcd';

/** What to tell a user without etcd. */
export const ETCD_INSTALL_HINT =
  'etcd is not installed: run `apt-get install -y etcd-server` (Debian/Ubuntu) to compare against it';

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
    if ((clockNemesisKinds as readonly string[]).includes(kind)) {
      return `the ${kind} nemesis changes a member's clock through libfaketime (LD_PRELOAD), which does not reach etcd: Go reads the clock through the vDSO, not the C library (under FAKETIME=+400d etcd still logs real time)`;
    }
    if (isScenarioKind(kind)) {
      return `the ${kind} nemesis is a scripted scenario that reads raftlab's log positions from its /status; it builds its state on raftlab's node only`;
    }
    return super.unsupportedNemesis(kind);
  }

  protected override membershipGap(): string {
    return "etcd's own member API (etcdctl member add/remove) is not wired into the harness";
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
