/**
 * A {@link System} whose members are local OS processes that take their peers' URLs on the command line (raftlab's
 * node, or any node a user brings): every member a real process with its own port, data directory and log under
 * `<runDir>/nodes/`. Subclasses say how a member is started and which client speaks to it.
 *
 * Topology: in `proxied` mode member i reaches member j only through the Toxiproxy proxy `ni->nj` (its peer list
 * names every peer's URL, so each directed link gets its own proxy), and clients reach member j through `client->nj`;
 * in `direct` mode there are no proxies and only process faults apply.
 *
 * With `net: 'hosts'` every member runs in a network namespace of its own (harness/hosts/) and is served on its own
 * address there (a member that listens on loopback only is reached through a dnat to loopback in its namespace);
 * peers dial each other's real addresses, cuts are nftables rules in the kernel, and (with `peerProxies`) a dnat rule
 * per link sends each member's peer traffic through that link's proxy, so latency, blackhole and bandwidth still
 * apply per link. Clients still go through the client proxies on 127.0.0.1.
 *
 * No orphans: every member is registered with a {@link Reaper}, which takes it down (its whole process group when it
 * has one) when the harness dies, even while it is SIGSTOPped.
 */
import { createWriteStream, mkdirSync, rmSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { ResultPromise } from 'execa';
import { acceptsConnections, freePort } from '../../lib/ports.ts';
import { Reaper, signalChild, startChild, stopChild } from '../../lib/process.ts';
import { sleep } from '../../lib/time.ts';
import { Hosts } from '../hosts/hosts.ts';
import type { ClientAdapter } from '../../workloads/client.ts';
import { fetchStatus, type MemberStatus } from '../../workloads/raftlab-api.ts';
import type {
  ClockControl,
  DiskControl,
  FaultLayer,
  MembershipControl,
  NetworkControl,
  NetworkFault,
} from '../nemesis/controls.ts';
import { FakeClocks, LazyDisks, memberFaultUnavailableReason } from './member-faults.ts';
import { HostsNetwork, hostsFaultLayer } from './hosts-network.ts';
import { proxyLayerStarter, type ProxyLayer, type ProxyLayerStarter, type ProxySpec } from './proxies.ts';
import type { NemesisKind } from '../nemesis/plan.ts';
import {
  unsupportedReason,
  type ClientOptions,
  type PeerRouting,
  type System,
  type SystemDescription,
} from './system.ts';

/** Options every process cluster shares. */
export interface ProcessClusterOptions {
  /** Number of members, usually 3, 5 or 7. */
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
  /** Member i listens on `basePort + i - 1` (hands-on clusters with stable URLs); default: free ports. */
  basePort?: number;
  /** Called when a member's process exits (killed by us or on its own). */
  onMemberExit?: (id: string, exit: { code: number | null; signal: string | null }) => void;
  /** How long a (re)started member may take to serve before the start counts as done anyway. */
  readyTimeoutMs?: number;
  /** Every member's data directory on a lazy file system of its own (lazyfs/), for the disk faults. */
  lazyFs?: boolean;
  /** Every member started under libfaketime, for the clock faults. */
  fakeClock?: boolean;
  /**
   * The configuration the cluster starts with when it is smaller than `nodes` (membership runs): every node is
   * started with the whole address book, and the others wait as non-members until they are added. Default: all.
   */
  initialMembers?: readonly string[];
}

/** What a member is started with. */
export interface MemberPlacement {
  id: string;
  /** The address the member is reached on: 127.0.0.1, or its namespace's address in hosts mode. */
  host: string;
  port: number;
  dataDir: string;
  /** Every other member's URL as this member must reach it (through its proxy when proxied), by id. */
  peers: Record<string, string>;
}

/** How to start one member. */
export interface MemberLaunch {
  command: string;
  args: readonly string[];
  cwd?: string;
  /** Run in a process group of its own (a wrapper such as `sh -c` or `npm run`): signals go to the whole group. */
  processGroup: boolean;
  /** The stdout line that says the member serves; without one, serving means accepting TCP connections. */
  readyLine?: (line: string) => boolean;
}

interface Member {
  id: string;
  /** The address it is reached on: 127.0.0.1, or its namespace's address in hosts mode. */
  host: string;
  port: number;
  dataDir: string;
  logPath: string;
  child: ResultPromise | undefined;
  processGroup: boolean;
  paused: boolean;
}

/** How often the proxies are created again with new ports after a bind race. */
const PROXY_START_ATTEMPTS = 4;
/** In hosts mode every member has a namespace (and port space) of its own, so all use the same port. */
const HOSTS_PORT = 7000;

/** Local processes with per-link proxies between them. */
export abstract class ProcessCluster implements System {
  abstract readonly name: string;
  readonly options: ProcessClusterOptions;
  readonly ids: readonly string[];
  private readonly memberProcesses = new Map<string, Member>();
  private readonly logStreams = new Map<string, WriteStream>();
  private proxySpecs: ProxySpec[] = [];
  private proxyLayer: ProxyLayer | undefined;
  private reaper: Reaper | undefined;
  private hosts: Hosts | undefined;
  private disks: LazyDisks | undefined;
  private clocks: FakeClocks | undefined;
  private stopping: Promise<void> | undefined;
  private started = false;
  /** The voters the harness sends clients to, polls and reads from at the end (membership changes update it). */
  private memberView: readonly string[];
  /** Members started from an emptied data directory: their bootstrap configuration leaves them out. */
  protected readonly emptied = new Set<string>();

  constructor(options: ProcessClusterOptions) {
    if (!Number.isInteger(options.nodes) || options.nodes < 1) {
      throw new Error(`--nodes must be a positive integer, got ${options.nodes}`);
    }
    this.options = options;
    this.ids = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`);
    const unknown = (options.initialMembers ?? []).filter((id) => !this.ids.includes(id));
    if (unknown.length > 0 || options.initialMembers?.length === 0) {
      throw new Error(
        `initial members must be some of ${this.ids.join(', ')}, got ${options.initialMembers?.join(', ')}`,
      );
    }
    this.memberView = [...(options.initialMembers ?? this.ids)].sort();
  }

  /**
   * Why the members cannot change membership, or undefined when they can (then `membership` is the control). By
   * default a process cluster knows no membership API.
   */
  protected membershipGap(): string | undefined {
    return 'the harness knows no membership API for its members';
  }

  /** Membership control, for a system whose members speak raftlab's admin API (thesis §4). */
  get membership(): MembershipControl | undefined {
    return undefined;
  }

  /** The voters the harness currently treats as the cluster. */
  members(): readonly string[] {
    return this.memberView;
  }

  /** Replaces the harness's view of the members. */
  setMembers(ids: readonly string[]): void {
    this.memberView = [...ids].sort();
  }

  /** The configuration the members are started with (their bootstrap configuration at log index 0). */
  get initialMembers(): readonly string[] {
    return [...(this.options.initialMembers ?? this.ids)].sort();
  }

  /**
   * SIGKILLs member `id`, empties its data directory and starts it again; from then on it is started with a
   * bootstrap configuration that leaves it out (see `emptied`), so it joins only when a configuration entry adds it.
   */
  async restartEmpty(id: string): Promise<void> {
    await this.kill(id);
    const dir = this.dataDir(id);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    this.emptied.add(id);
    await this.spawnMember(id);
  }

  /** How member `placement.id` is started. */
  protected abstract launch(placement: MemberPlacement): MemberLaunch;
  /** The system's version, for test.json and the report. */
  abstract version(): string;
  abstract createClient(options: ClientOptions): ClientAdapter;

  get peerRouting(): PeerRouting {
    return this.options.mode === 'proxied' || this.inHosts ? 'per-link' : 'none';
  }

  unsupportedNemesis(kind: NemesisKind): string | undefined {
    return unsupportedReason(this, kind, this.membershipGap()) ?? memberFaultUnavailableReason(kind);
  }

  /** The members' disks, when their data lives on the lazy file system (option `lazyFs`, once started). */
  get disk(): DiskControl | undefined {
    return this.disks;
  }

  /** The members' clocks, when they run under libfaketime (option `fakeClock`, once started). */
  get clock(): ClockControl | undefined {
    return this.clocks;
  }

  /** The port member `id` takes peer traffic on: its one port, unless the system has a separate peer port. */
  protected peerPort(id: string): number {
    return this.member(id).port;
  }

  /** The address member `id` is reached on (its namespace's in hosts mode); known once the system started. */
  protected memberHost(id: string): string {
    return this.member(id).host;
  }

  faultLayer(fault: NetworkFault): FaultLayer | undefined {
    if (this.peerRouting !== 'per-link') return undefined;
    return this.inHosts ? hostsFaultLayer(fault) : 'proxy';
  }

  /** Whether the members run in network namespaces of their own. */
  protected get inHosts(): boolean {
    return this.options.net === 'hosts';
  }

  /** Whether peer traffic goes through per-link proxies (always when proxied on loopback). */
  private get peerProxies(): boolean {
    return this.options.mode === 'proxied' && (!this.inHosts || this.options.peerProxies !== false);
  }

  describeRouting(): string {
    if (this.inHosts) {
      return this.peerProxies
        ? 'every member in a network namespace of its own; cuts in the kernel, toxics on per-link proxies (dnat)'
        : 'every member in a network namespace of its own; cuts in the kernel, peers talk directly';
    }
    return this.options.mode === 'proxied'
      ? 'every directed link between members goes through a proxy of its own'
      : 'the members talk to each other directly (direct mode, no proxies)';
  }

  get network(): NetworkControl | undefined {
    if (this.hosts !== undefined) return new HostsNetwork(this.hosts, this.proxyLayer?.network, this.peerProxies);
    return this.proxyLayer?.network;
  }

  /** Direct URL of each member (bypassing proxies), for status polling and the final checks. */
  get directUrls(): Record<string, string> {
    const urls: Record<string, string> = {};
    for (const [id, member] of this.memberProcesses) urls[id] = `http://${member.host}:${member.port}`;
    return urls;
  }

  /** URL clients use for each member: its client proxy in `proxied` mode, the member itself in `direct` mode. */
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

  dataDir(id: string): string {
    return this.member(id).dataDir;
  }

  describe(): SystemDescription {
    const direct = this.directUrls;
    const client = this.clientUrls();
    const first = this.ids[0] ?? 'n1';
    const example = this.memberProcesses.has(first) ? this.launch(this.placement(first)) : undefined;
    return {
      name: this.name,
      version: this.version(),
      command: example === undefined ? '' : [example.command, ...example.args].join(' '),
      peerRouting: this.peerRouting,
      members: [...this.memberProcesses.values()].map((m) => ({
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

  /** Pid of a member's current process, if running. */
  pid(id: string): number | undefined {
    return this.memberProcesses.get(id)?.child?.pid;
  }

  /** Pids of every process this system runs right now (members, proxy layer, reaper). */
  allPids(): number[] {
    const pids: number[] = [];
    for (const member of this.memberProcesses.values())
      if (member.child?.pid !== undefined) pids.push(member.child.pid);
    pids.push(...(this.proxyLayer?.pids ?? []));
    pids.push(...(this.disks?.pids() ?? []));
    if (this.reaper?.pid !== undefined) pids.push(this.reaper.pid);
    return pids;
  }

  /** Whether a member's process is currently running (not killed). */
  isRunning(id: string): boolean {
    return this.memberProcesses.get(id)?.child !== undefined;
  }

  /** Whether a member is SIGSTOPped. */
  isPaused(id: string): boolean {
    return this.memberProcesses.get(id)?.paused ?? false;
  }

  /** Allocates ports, creates proxies (proxied mode), and starts every member. */
  async start(): Promise<void> {
    if (this.started) throw new Error('system already started');
    this.started = true;
    this.reaper = new Reaper();
    // The namespaces are undone by the reaper too (after it killed the members) if the harness dies.
    if (this.inHosts) this.hosts = await Hosts.create({ members: this.ids, reaper: this.reaper });
    for (const id of this.ids) await this.hosts?.exposeLoopback(id, HOSTS_PORT);
    const nodesDir = join(this.options.runDir, 'nodes');
    mkdirSync(nodesDir, { recursive: true });
    for (const [i, id] of this.ids.entries()) {
      const dataDir = join(nodesDir, id);
      mkdirSync(dataDir, { recursive: true });
      this.memberProcesses.set(id, {
        id,
        host: this.hosts?.address(id) ?? '127.0.0.1',
        port: await this.memberPort(i),
        dataDir,
        logPath: join(nodesDir, `${id}.log`),
        child: undefined,
        processGroup: false,
        paused: false,
      });
    }
    if (this.options.lazyFs === true) {
      this.disks = new LazyDisks(nodesDir, this.reaper);
      await this.disks.start(this.ids.map((id) => ({ id, dataDir: this.member(id).dataDir, log: this.logStream(id) })));
    }
    if (this.options.fakeClock === true) this.clocks = new FakeClocks(nodesDir);
    if (this.options.mode === 'proxied') await this.startProxies();
    for (const id of this.ids) void this.spawnMember(id);
  }

  /** Hosts mode: the same port in every namespace; otherwise `basePort + i` or a free loopback port. */
  private async memberPort(index: number): Promise<number> {
    if (this.hosts !== undefined) return HOSTS_PORT;
    return this.options.basePort !== undefined ? this.options.basePort + index : await freePort();
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
        await this.hosts?.redirect(spec.from, spec.to, this.peerPort(spec.to), spec.listen);
      }
    }
  }

  /** One proxy per directed peer link and one per member for clients, each on a fresh free port. */
  private async planProxySpecs(): Promise<ProxySpec[]> {
    const specs: ProxySpec[] = [];
    const upstream = (id: string): string => `${this.member(id).host}:${this.member(id).port}`;
    const peerUpstream = (id: string): string => `${this.member(id).host}:${this.peerPort(id)}`;
    // In hosts mode peer proxies listen on the gateway (the root namespace's address on the run's bridge), where the
    // members' namespaces can reach them.
    const peerHost = this.hosts?.gateway ?? '127.0.0.1';
    for (const from of this.peerProxies ? this.ids : []) {
      for (const to of this.ids) {
        if (from === to) continue;
        const listen = `${peerHost}:${await freePort()}`;
        specs.push({ name: `${from}->${to}`, kind: 'peer', from, to, listen, upstream: peerUpstream(to) });
      }
    }
    for (const to of this.ids) {
      const listen = `127.0.0.1:${await freePort()}`;
      specs.push({ name: `client->${to}`, kind: 'client', to, listen, upstream: upstream(to) });
    }
    return specs;
  }

  private member(id: string): Member {
    const member = this.memberProcesses.get(id);
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

  /** Where member `id` lives and how it reaches its peers. */
  protected placement(id: string): MemberPlacement {
    const member = this.member(id);
    const peers: Record<string, string> = {};
    for (const other of this.ids) if (other !== id) peers[other] = this.peerUrl(id, other);
    // On the lazy file system the member works in the mount; its data directory holds what reached the disk.
    const dataDir = this.disks?.mountOf(id) ?? member.dataDir;
    return { id, host: member.host, port: member.port, dataDir, peers };
  }

  private logStream(id: string): WriteStream {
    let stream = this.logStreams.get(id);
    if (stream === undefined) {
      stream = createWriteStream(this.member(id).logPath, { flags: 'a' });
      this.logStreams.set(id, stream);
    }
    return stream;
  }

  /** Starts a member's process; resolves when it serves (or exits, or after the ready timeout). */
  private async spawnMember(id: string): Promise<void> {
    const member = this.member(id);
    const launch = this.launch(this.placement(id));
    const log = this.logStream(id);
    log.write(`# ${new Date().toISOString()} start ${id}: ${[launch.command, ...launch.args].join(' ')}\n`);
    const readyLine = launch.readyLine;
    // Hosts mode: `ip netns exec NS COMMAND ...` (ip execs the command: the pid, signals and stdin are its own).
    const [command = launch.command, ...prefix] = [...(this.hosts?.exec(id) ?? []), launch.command];
    const started = startChild({
      command,
      args: [...prefix, ...launch.args],
      ...(launch.cwd !== undefined ? { cwd: launch.cwd } : {}),
      ...(this.clocks !== undefined
        ? { env: { ...process.env, FORCE_COLOR: '0', ...this.clocks.environment(id) } }
        : {}),
      log,
      name: `${this.name} member ${id}`,
      processGroup: launch.processGroup,
      readyLine: (line) => (readyLine?.(line) === true ? true : undefined),
    });
    const child = started.process;
    member.child = child;
    member.processGroup = launch.processGroup;
    member.paused = false;
    this.reaper?.add(started.pid, launch.processGroup);
    void started.exited.then((exit) => {
      log.write(`# ${new Date().toISOString()} exit ${id}: ${exit.signal ?? `code ${exit.code}`}\n`);
      // A wrapper's group may outlive the wrapper: take it down with it, then forget it.
      if (launch.processGroup) signalChild(child, 'SIGKILL', true);
      this.reaper?.remove(started.pid, launch.processGroup);
      if (member.child === child) member.child = undefined;
      this.options.onMemberExit?.(id, exit);
    });
    const timeoutMs = this.options.readyTimeoutMs ?? 20_000;
    if (readyLine !== undefined) {
      await Promise.race([started.ready.catch(() => {}), sleep(timeoutMs)]);
      return;
    }
    const deadline = performance.now() + timeoutMs;
    while (member.child === child && performance.now() < deadline) {
      if (await acceptsConnections(member.port, 500, member.host)) return;
      await sleep(50);
    }
  }

  /** Status of every member that answers (direct, bypassing proxies). */
  async statuses(timeoutMs = 500): Promise<Map<string, MemberStatus>> {
    const entries = await Promise.all(this.ids.map(async (id) => [id, await this.status(id, timeoutMs)] as const));
    const result = new Map<string, MemberStatus>();
    for (const [id, status] of entries) if (status !== undefined) result.set(id, status);
    return result;
  }

  /** One member's status (direct, bypassing proxies); undefined when it is down, paused or does not answer in time. */
  async status(id: string, timeoutMs = 500): Promise<MemberStatus | undefined> {
    if (!this.isRunning(id) || this.isPaused(id)) return undefined;
    const status = await this.probeStatus(id, this.directUrls[id] ?? '', timeoutMs);
    // A node without a status route may answer something else: only a status with a role counts.
    return status !== undefined && typeof status.role === 'string' ? status : undefined;
  }

  /** Asks one member for its status (raftlab's `GET /status`; systems with another status API override this). */
  protected probeStatus(_id: string, url: string, timeoutMs: number): Promise<MemberStatus | undefined> {
    return fetchStatus(url, timeoutMs);
  }

  /** The member that says it is leader in the highest term, if any answers so right now. */
  async leader(): Promise<string | undefined> {
    let best: MemberStatus | undefined;
    for (const status of (await this.statuses()).values()) {
      if (status.role === 'leader' && (best === undefined || status.term > best.term)) best = status;
    }
    return best?.id;
  }

  /**
   * Polls /status until a leader exists that a majority of the answering members agree on (so a stale leader on the
   * minority side does not count). A system whose members answer no status is ready once every member accepts
   * connections; the first member then stands in for the leader.
   */
  async waitForLeader(timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    const logs = join(this.options.runDir, 'nodes');
    while (Date.now() < deadline) {
      if (this.ids.every((id) => !this.isRunning(id))) {
        throw new Error(`every member exited before electing a leader; see the member logs in ${logs}`);
      }
      const statuses = await this.statuses();
      for (const status of statuses.values()) {
        if (status.role !== 'leader') continue;
        const followers = [...statuses.values()].filter((s) => s.leader === status.id && s.term === status.term);
        if (followers.length + (followers.some((f) => f.id === status.id) ? 0 : 1) > this.memberView.length / 2)
          return status.id;
      }
      if (statuses.size === 0 && (await this.everyMemberAccepts())) return this.ids[0] as string;
      await sleep(100);
    }
    throw new Error(`no leader elected within ${timeoutMs} ms; see the member logs in ${logs}`);
  }

  private async everyMemberAccepts(): Promise<boolean> {
    const accepted = await Promise.all(
      [...this.memberProcesses.values()].map((m) => acceptsConnections(m.port, 300, m.host)),
    );
    return accepted.every(Boolean);
  }

  /** SIGKILLs a member (no chance to flush; the data dir stays for restart). Resolves when it is gone. */
  async kill(id: string): Promise<void> {
    const member = this.member(id);
    const child = member.child;
    if (child === undefined) return;
    signalChild(child, 'SIGKILL', member.processGroup);
    member.paused = false;
    await child.catch(() => undefined);
  }

  /**
   * Starts a killed member again with the same id, port and data directory. Resolves once it serves (or after the
   * ready timeout): on a loaded machine a restart can take seconds, and the nemesis must not count a member that is
   * still booting as back (the next fault could otherwise take a majority).
   */
  async restart(id: string): Promise<void> {
    if (this.member(id).child !== undefined) await this.kill(id);
    await this.spawnMember(id);
  }

  /** SIGSTOPs a member: it keeps its sockets but does nothing (a long GC pause, a frozen VM). */
  pause(id: string): void {
    const member = this.member(id);
    if (member.child === undefined || member.paused) return;
    signalChild(member.child, 'SIGSTOP', member.processGroup);
    member.paused = true;
  }

  /** SIGCONTs a paused member. */
  resume(id: string): void {
    const member = this.member(id);
    if (member.child === undefined || !member.paused) return;
    signalChild(member.child, 'SIGCONT', member.processGroup);
    member.paused = false;
  }

  /** Stops every process this system started (members, proxies, reaper). Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.stopNow();
    return this.stopping;
  }

  private async stopNow(): Promise<void> {
    const running = [...this.memberProcesses.values()].filter((m) => m.child !== undefined);
    for (const member of this.memberProcesses.values()) member.paused = false;
    await Promise.all(running.map((m) => stopChild(m.child as ResultPromise, 2_000, m.processGroup)));
    // After the members: a clean shutdown writes each disk's cache back before it unmounts.
    try {
      await this.disks?.stop();
    } catch {
      // Best effort: auto_unmount, the reaper and the next run's sweep take a mount down.
    }
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
