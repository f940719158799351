/**
 * raftlab's own node as a {@link System}: every member a real OS process (`node/main.ts`), each with its own data
 * directory and log under `<runDir>/nodes/`.
 *
 * Topology: in `proxied` mode member i reaches member j only through the Toxiproxy proxy `ni->nj` (raftlab's
 * `--peers` names every peer's URL, so each directed link gets its own proxy), and clients reach member j through
 * `client->nj`; in `direct` mode there are no proxies and only process faults apply.
 *
 * With `net: 'hosts'` every member runs in a network namespace of its own (harness/hosts/) and is served on its
 * own address there (the node listens on loopback only, so its namespace forwards that address's port to it); peers
 * dial each other's real addresses, cuts are nftables rules in the kernel, and (with `peerProxies`) a dnat rule per
 * link sends each member's peer traffic through that link's proxy, so latency, blackhole and bandwidth still apply
 * per link. Clients still go through the client proxies on 127.0.0.1.
 *
 * No orphans: members run with `--exit-with-parent` (they exit when their stdin pipe reaches EOF) and are registered
 * with a {@link Reaper}, which also takes down a member that is SIGSTOPped when the harness dies.
 *
 * Usage:
 *   const system = new RaftlabSystem({ nodes: 3, runDir, mode: 'direct' });
 *   await system.start();
 *   const leader = await system.waitForLeader(10_000);
 *   await system.kill('n2'); await system.restart('n2');
 *   await system.stop();
 */
import { createWriteStream, mkdirSync, readFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { ResultPromise } from 'execa';
import { freePort } from '../../lib/ports.ts';
import { Reaper, startChild, stopChild } from '../../lib/process.ts';
import { repoRoot, tsxImport } from '../../lib/repo.ts';
import { sleep } from '../../lib/time.ts';
import { Hosts } from '../hosts/hosts.ts';
import {
  fetchStatus,
  RaftlabClient,
  StaleReadClient,
  type ClientAdapter,
  type MemberStatus,
} from '../../workloads/client.ts';
import { RetryClient } from '../../workloads/retry-client.ts';
import type { FaultLayer, NetworkControl, NetworkFault } from '../nemesis/controls.ts';
import { HostsNetwork, hostsFaultLayer } from './hosts-network.ts';
import { proxyLayerStarter, type ProxyLayer, type ProxyLayerStarter, type ProxySpec } from './proxies.ts';
import type { ClientOptions, PeerRouting, System, SystemDescription } from './system.ts';

export type { ProxySpec };

/** Options of a raftlab system. */
export interface RaftlabSystemOptions {
  /** Number of nodes, usually 3, 5 or 7. */
  nodes: number;
  /** Run directory: logs go to `<runDir>/nodes/<id>.log`, data to `<runDir>/nodes/<id>/`. */
  runDir: string;
  /** `proxied`: peers and clients through per-link proxies; `direct`: none. */
  mode: 'proxied' | 'direct';
  /** `proxy` (default): every member on 127.0.0.1; `hosts`: every member in a network namespace of its own. */
  net?: 'proxy' | 'hosts';
  /**
   * Hosts mode: route peer traffic through per-link proxies (dnat), so latency, blackhole and bandwidth apply;
   * default true. Without it peers talk directly and only kernel cuts and client holds are available.
   */
  peerProxies?: boolean;
  /** A running Toxiproxy to create the proxies on; default: start the embedded server. */
  toxiproxyUrl?: string;
  /** Seed of the embedded Toxiproxy's random draws. */
  proxySeed?: number;
  /** Creates the proxies; default: the Toxiproxy layer of proxies.ts (tests replace it). */
  startProxies?: ProxyLayerStarter;
  electionTimeoutMs?: number;
  heartbeatMs?: number;
  snapshotEvery?: number;
  clusterId?: string;
  /** Extra flags for every node. */
  nodeArgs?: readonly string[];
  /** Node entry point; defaults to `<repo>/node/main.ts` (tests use a double). */
  nodeMain?: string;
  /** Node i listens on `basePort + i - 1` (hands-on clusters with stable URLs); default: free ports. */
  basePort?: number;
  /** Called when a member's process exits (killed by us or on its own). */
  onMemberExit?: (id: string, exit: { code: number | null; signal: string | null }) => void;
  /** TEST ONLY: `stale` wraps the client so some reads return stale values (the checker must catch it). */
  clientKind?: 'raftlab' | 'stale';
}

interface Member {
  id: string;
  /** The address it listens on: 127.0.0.1, or its namespace's address in hosts mode. */
  host: string;
  port: number;
  dataDir: string;
  logPath: string;
  child: ResultPromise | undefined;
  paused: boolean;
}

/** How often the proxies are created again with new ports after a bind race. */
const PROXY_START_ATTEMPTS = 4;
/** In hosts mode every member has a namespace (and port space) of its own, so all listen on the same port. */
const HOSTS_PORT = 7000;

/** raftlab's Raft KV node, run as real processes. */
export class RaftlabSystem implements System {
  readonly name = 'raftlab';
  readonly options: RaftlabSystemOptions;
  readonly ids: readonly string[];
  private readonly members = new Map<string, Member>();
  private readonly logStreams = new Map<string, WriteStream>();
  private proxySpecs: ProxySpec[] = [];
  private proxyLayer: ProxyLayer | undefined;
  private reaper: Reaper | undefined;
  private hosts: Hosts | undefined;
  private stopping: Promise<void> | undefined;
  private started = false;

  constructor(options: RaftlabSystemOptions) {
    if (!Number.isInteger(options.nodes) || options.nodes < 1) {
      throw new Error(`--nodes must be a positive integer, got ${options.nodes}`);
    }
    this.options = options;
    this.ids = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`);
  }

  get peerRouting(): PeerRouting {
    return this.options.mode === 'proxied' || this.inHosts ? 'per-link' : 'none';
  }

  get network(): NetworkControl | undefined {
    if (this.hosts !== undefined) return new HostsNetwork(this.hosts, this.proxyLayer?.network, this.peerProxies);
    return this.proxyLayer?.network;
  }

  faultLayer(fault: NetworkFault): FaultLayer | undefined {
    if (this.peerRouting !== 'per-link') return undefined;
    return this.inHosts ? hostsFaultLayer(fault) : 'proxy';
  }

  private get inHosts(): boolean {
    return this.options.net === 'hosts';
  }

  /** Whether peer traffic goes through per-link proxies (always when proxied on loopback). */
  private get peerProxies(): boolean {
    return this.options.mode === 'proxied' && (!this.inHosts || this.options.peerProxies !== false);
  }

  /** Direct URL of each node (bypassing proxies), for status polling and the final checks. */
  get directUrls(): Record<string, string> {
    const urls: Record<string, string> = {};
    for (const [id, member] of this.members) urls[id] = `http://${member.host}:${member.port}`;
    return urls;
  }

  /** URL clients use for each node: its client proxy in `proxied` mode, the node itself in `direct` mode. */
  clientUrls(): Record<string, string> {
    if (this.options.mode === 'direct') return this.directUrls;
    const urls: Record<string, string> = {};
    for (const spec of this.proxySpecs) if (spec.kind === 'client') urls[spec.to] = `http://${spec.listen}`;
    return urls;
  }

  /** The proxies of a `proxied` system (empty when direct). */
  get proxies(): readonly ProxySpec[] {
    return this.proxySpecs;
  }

  createClient(options: ClientOptions): ClientAdapter {
    const real = new RaftlabClient({ urls: this.clientUrls(), timeoutMs: options.timeoutMs });
    const base: ClientAdapter = this.options.clientKind === 'stale' ? new StaleReadClient(real) : real;
    // raftlab has client sessions: a resent write with the same (client, seq) is applied at most once.
    return options.retry > 0 ? new RetryClient(base, { retries: options.retry, nodes: this.ids }) : base;
  }

  dataDir(id: string): string {
    return this.member(id).dataDir;
  }

  describe(): SystemDescription {
    const direct = this.directUrls;
    const client = this.clientUrls();
    return {
      name: this.name,
      version: raftlabVersion(),
      command: `node ${this.nodeArgs(this.ids[0] ?? 'n1')
        .slice(2)
        .join(' ')}`,
      peerRouting: this.peerRouting,
      members: [...this.members.values()].map((m) => ({
        id: m.id,
        clientUrl: client[m.id] ?? '',
        directUrl: direct[m.id] ?? '',
        dataDir: m.dataDir,
        logPath: m.logPath,
      })),
      ...(this.proxyLayer !== undefined ? { toxiproxy: this.proxyLayer.url, proxies: this.proxySpecs } : {}),
      ...(this.hosts !== undefined
        ? {
            hosts: {
              subnet: this.hosts.subnet,
              namespaces: this.hosts.names.namespaces,
              peerProxies: this.peerProxies,
            },
          }
        : {}),
    };
  }

  /** Pid of a node's current process, if running. */
  pid(id: string): number | undefined {
    return this.members.get(id)?.child?.pid;
  }

  /** Pids of every process this system runs right now (nodes, proxy layer, reaper). */
  allPids(): number[] {
    const pids: number[] = [];
    for (const member of this.members.values()) if (member.child?.pid !== undefined) pids.push(member.child.pid);
    pids.push(...(this.proxyLayer?.pids ?? []));
    if (this.reaper?.pid !== undefined) pids.push(this.reaper.pid);
    return pids;
  }

  /** Whether a node's process is currently running (not killed). */
  isRunning(id: string): boolean {
    return this.members.get(id)?.child !== undefined;
  }

  /** Whether a node is SIGSTOPped. */
  isPaused(id: string): boolean {
    return this.members.get(id)?.paused ?? false;
  }

  /** Allocates ports, creates proxies (proxied mode), and starts every node. */
  async start(): Promise<void> {
    if (this.started) throw new Error('system already started');
    this.started = true;
    this.reaper = new Reaper();
    // The namespaces are undone by the reaper too (after it killed the members) if the harness dies.
    if (this.inHosts) this.hosts = await Hosts.create({ members: this.ids, reaper: this.reaper });
    const nodesDir = join(this.options.runDir, 'nodes');
    mkdirSync(nodesDir, { recursive: true });
    for (const id of this.ids) await this.hosts?.exposeLoopback(id, HOSTS_PORT);
    for (const [i, id] of this.ids.entries()) {
      const dataDir = join(nodesDir, id);
      mkdirSync(dataDir, { recursive: true });
      this.members.set(id, {
        id,
        host: this.hosts?.address(id) ?? '127.0.0.1',
        port:
          this.hosts !== undefined
            ? HOSTS_PORT
            : this.options.basePort !== undefined
              ? this.options.basePort + i
              : await freePort(),
        dataDir,
        logPath: join(nodesDir, `${id}.log`),
        child: undefined,
        paused: false,
      });
    }
    if (this.options.mode === 'proxied') await this.startProxies();
    for (const id of this.ids) void this.spawnNode(id);
  }

  /**
   * Creates the proxies. A free port can be taken by another process between our pick and Toxiproxy's bind (several
   * harnesses on one machine): creating the proxies then fails with 500 ("address already in use"; the client
   * library drops the body). We chose every field ourselves, so a 500 means a port: pick new ports and try again.
   */
  private async startProxies(): Promise<void> {
    const starter =
      this.options.startProxies ??
      proxyLayerStarter({
        ...(this.options.toxiproxyUrl !== undefined ? { toxiproxyUrl: this.options.toxiproxyUrl } : {}),
        ...(this.options.proxySeed !== undefined ? { seed: this.options.proxySeed } : {}),
        logPath: join(this.options.runDir, 'toxiproxy.log'),
      });
    for (let attempt = 1; ; attempt++) {
      const specs = await this.planProxySpecs();
      try {
        this.proxyLayer = await starter(specs);
        this.proxySpecs = specs;
        break;
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (attempt >= PROXY_START_ATTEMPTS || !message.includes('status code 500')) {
          throw new Error(
            `cannot create the cluster's proxies (attempt ${attempt}): ${message}; Toxiproxy answers 500 when a listen port is taken`,
          );
        }
      }
    }
    for (const pid of this.proxyLayer.pids) this.reaper?.add(pid);
    // Hosts mode: each member dials its peers' real addresses; a dnat rule per link sends that to the link's proxy.
    for (const spec of this.proxySpecs) {
      if (spec.kind === 'peer' && spec.from !== undefined) {
        await this.hosts?.redirect(spec.from, spec.to, this.member(spec.to).port, spec.listen);
      }
    }
  }

  /** One proxy per directed peer link and one per node for clients, each on a fresh free port. */
  private async planProxySpecs(): Promise<ProxySpec[]> {
    const specs: ProxySpec[] = [];
    const upstream = (id: string): string => `${this.member(id).host}:${this.member(id).port}`;
    // In hosts mode peer proxies listen on the gateway (the root namespace's address on the run's bridge), where the
    // members' namespaces can reach them.
    const peerHost = this.hosts?.gateway ?? '127.0.0.1';
    for (const from of this.peerProxies ? this.ids : []) {
      for (const to of this.ids) {
        if (from === to) continue;
        const listen = `${peerHost}:${await freePort()}`;
        specs.push({ name: `${from}->${to}`, kind: 'peer', from, to, listen, upstream: upstream(to) });
      }
    }
    for (const to of this.ids) {
      const listen = `127.0.0.1:${await freePort()}`;
      specs.push({ name: `client->${to}`, kind: 'client', to, listen, upstream: upstream(to) });
    }
    return specs;
  }

  private member(id: string): Member {
    const member = this.members.get(id);
    if (member === undefined) throw new Error(`unknown node ${id}; nodes are ${this.ids.join(', ')}`);
    return member;
  }

  private peerUrl(from: string, to: string): string {
    // Hosts mode: the real address; the dnat rule in `from`'s namespace does the routing.
    if (this.options.mode === 'direct' || this.inHosts) return `http://${this.member(to).host}:${this.member(to).port}`;
    const spec = this.proxySpecs.find((s) => s.kind === 'peer' && s.from === from && s.to === to);
    if (spec === undefined) throw new Error(`no proxy ${from}->${to}`);
    return `http://${spec.listen}`;
  }

  private logStream(id: string): WriteStream {
    let stream = this.logStreams.get(id);
    if (stream === undefined) {
      stream = createWriteStream(this.member(id).logPath, { flags: 'a' });
      this.logStreams.set(id, stream);
    }
    return stream;
  }

  /** The node's command line (after `node`). */
  private nodeArgs(id: string): string[] {
    const member = this.members.get(id);
    const peers = this.ids
      .filter((other) => other !== id)
      .map((other) => `${other}=${member === undefined ? '?' : this.peerUrl(id, other)}`)
      .join(',');
    const o = this.options;
    return [
      '--import',
      tsxImport,
      o.nodeMain ?? join(repoRoot, 'node', 'main.ts'),
      ...['--id', id, '--listen', `127.0.0.1:${member?.port ?? 0}`, '--peers', peers],
      ...['--data-dir', member?.dataDir ?? '', '--exit-with-parent'],
      ...(o.electionTimeoutMs !== undefined ? ['--election-timeout-ms', String(o.electionTimeoutMs)] : []),
      ...(o.heartbeatMs !== undefined ? ['--heartbeat-ms', String(o.heartbeatMs)] : []),
      ...(o.snapshotEvery !== undefined ? ['--snapshot-every', String(o.snapshotEvery)] : []),
      ...(o.clusterId !== undefined ? ['--cluster-id', o.clusterId] : []),
      ...(o.nodeArgs ?? []),
    ];
  }

  /** Starts a node's process; resolves when it prints its `listening` line (or exits, or never does). */
  private spawnNode(id: string): Promise<void> {
    const member = this.member(id);
    const args = this.nodeArgs(id);
    const log = this.logStream(id);
    log.write(`# ${new Date().toISOString()} start ${id}: node ${args.slice(2).join(' ')}\n`);
    // Hosts mode: `ip netns exec NS node ...` (ip execs node, so the pid, signals and stdin pipe are the node's own).
    const [command = process.execPath, ...prefix] = [...(this.hosts?.exec(id) ?? []), process.execPath];
    const started = startChild({
      command,
      args: [...prefix, ...args],
      cwd: repoRoot,
      log,
      name: `node ${id}`,
      readyLine: (line) => (line.includes('"event":"listening"') ? true : undefined),
    });
    const child = started.process;
    member.child = child;
    member.paused = false;
    this.reaper?.add(started.pid);
    void started.exited.then((exit) => {
      this.reaper?.remove(started.pid);
      log.write(`# ${new Date().toISOString()} exit ${id}: ${exit.signal ?? `code ${exit.code}`}\n`);
      if (member.child === child) member.child = undefined;
      this.options.onMemberExit?.(id, exit);
    });
    return started.ready.then(
      () => {},
      () => {},
    );
  }

  /** Status of every node that answers (direct, bypassing proxies). */
  async statuses(timeoutMs = 500): Promise<Map<string, MemberStatus>> {
    const urls = this.directUrls;
    const entries = await Promise.all(
      this.ids.map(
        async (id) => [id, this.isPaused(id) ? undefined : await fetchStatus(urls[id] ?? '', timeoutMs)] as const,
      ),
    );
    const result = new Map<string, MemberStatus>();
    for (const [id, status] of entries) if (status !== undefined) result.set(id, status);
    return result;
  }

  /** One node's status (direct, bypassing proxies); undefined when it is down, paused or does not answer in time. */
  async status(id: string, timeoutMs = 500): Promise<MemberStatus | undefined> {
    if (!this.isRunning(id) || this.isPaused(id)) return undefined;
    return fetchStatus(this.directUrls[id] ?? '', timeoutMs);
  }

  /** The node that says it is leader in the highest term, if any answers so right now. */
  async leader(): Promise<string | undefined> {
    let best: MemberStatus | undefined;
    for (const status of (await this.statuses()).values()) {
      if (status.role === 'leader' && (best === undefined || status.term > best.term)) best = status;
    }
    return best?.id;
  }

  /**
   * Polls /status until a leader exists that a majority of the answering
   * nodes agree on (so a stale leader on the minority side does not count).
   */
  async waitForLeader(timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.ids.every((id) => !this.isRunning(id))) {
        throw new Error(
          `every node exited before electing a leader; see the node logs in ${join(this.options.runDir, 'nodes')}`,
        );
      }
      const statuses = await this.statuses();
      for (const status of statuses.values()) {
        if (status.role !== 'leader') continue;
        const followers = [...statuses.values()].filter((s) => s.leader === status.id && s.term === status.term);
        if (followers.length + (followers.some((f) => f.id === status.id) ? 0 : 1) > this.ids.length / 2)
          return status.id;
      }
      await sleep(100);
    }
    throw new Error(
      `no leader elected within ${timeoutMs} ms; see the node logs in ${join(this.options.runDir, 'nodes')}`,
    );
  }

  /** SIGKILLs a node (no chance to flush; the data dir stays for restart). Resolves when it is gone. */
  async kill(id: string): Promise<void> {
    const node = this.member(id);
    const child = node.child;
    if (child === undefined) return;
    child.kill('SIGKILL');
    node.paused = false;
    await child;
  }

  /** Starts a killed node again with the same id, port and data directory. */
  /**
   * Starts a killed node again with the same id, port and data directory.
   * Resolves once it serves (or after `readyTimeoutMs`): on a loaded machine a
   * restart can take seconds, and the nemesis must not count a node that is
   * still booting as back (the next fault could otherwise take a majority).
   */
  async restart(id: string, readyTimeoutMs = 20_000): Promise<void> {
    const node = this.member(id);
    if (node.child !== undefined) await this.kill(id);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.spawnNode(id), new Promise<void>((r) => (timer = setTimeout(r, readyTimeoutMs)))]);
    clearTimeout(timer);
  }

  /** SIGSTOPs a node: it keeps its sockets but does nothing (a long GC pause, a frozen VM). */
  pause(id: string): void {
    const node = this.member(id);
    if (node.child === undefined || node.paused) return;
    node.child.kill('SIGSTOP');
    node.paused = true;
  }

  /** SIGCONTs a paused node. */
  resume(id: string): void {
    const node = this.member(id);
    if (node.child === undefined || !node.paused) return;
    node.child.kill('SIGCONT');
    node.paused = false;
  }

  /** Stops every process this system started (nodes, proxies, reaper). Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.stopNow();
    return this.stopping;
  }

  private async stopNow(): Promise<void> {
    const children = [...this.members.values()].flatMap((member) => (member.child === undefined ? [] : [member.child]));
    for (const member of this.members.values()) member.paused = false;
    await Promise.all(children.map((child) => stopChild(child)));
    if (this.proxyLayer !== undefined) {
      try {
        await this.proxyLayer.stop();
      } catch {
        // Best effort: the reaper kills its processes when we close its pipe.
      }
    }
    await Promise.all([...this.logStreams.values()].map((s) => new Promise<void>((r) => s.end(r))));
    this.logStreams.clear();
    await this.hosts?.teardown();
    if (this.reaper !== undefined) await Promise.race([this.reaper.close(), sleep(2_000)]);
  }
}

/** The package version and git commit of this checkout, e.g. `0.1.0 (abc1234)`. */
function raftlabVersion(): string {
  let version = 'unknown';
  try {
    version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // A missing package.json only loses the label.
  }
  return version;
}
