/**
 * A Raft KV cluster as real OS processes (`node/main.ts`), used by the chaos
 * harness and the benchmarks.
 *
 * Every process the cluster starts (nodes, the proxy layer's children) is
 * stopped by `stop()`, which is idempotent and also runs on SIGINT, SIGTERM
 * and uncaught errors. Against a SIGKILL of the harness itself, two layers:
 * nodes run with `--exit-with-parent` (they exit when their stdin pipe hits
 * EOF), and a tiny reaper process (plain node, stdin piped from us) SIGKILLs
 * every pid we registered when our end of its pipe closes — the only way to
 * also take down a node that is SIGSTOPped at that moment, since a stopped
 * process never sees its stdin EOF.
 *
 * Topology (architecture.md "Processes and proxies"): in `proxied` mode node i
 * reaches node j only through proxy `ni->nj`, and clients reach node j through
 * proxy `client->nj`; in `direct` mode there are no proxies.
 *
 * Usage:
 *   const cluster = new Cluster({ nodes: 3, runDir, mode: 'direct' });
 *   await cluster.start();
 *   const leader = await cluster.waitForLeader(10_000);
 *   cluster.clientUrls;          // ['http://127.0.0.1:PORT', ...]
 *   await cluster.kill('n2'); await cluster.restart('n2');
 *   await cluster.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { request } from 'undici';

/** Absolute path of the repository root (this file lives in `<root>/harness/`). */
export const repoRoot: string = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** `--import` value that loads tsx no matter the child's cwd. */
export const tsxImport: string = import.meta.resolve('tsx');

/** The node's `/status` answer (architecture.md, client API). */
export interface NodeStatus {
  id: string;
  role: string;
  term: number;
  leader: string | null;
  commitIndex: number;
  appliedIndex: number;
  snapshotIndex?: number;
  logEntries?: number;
  /** Last log entry's index and term, and the vote in the current term (node/raft RaftStatus). */
  lastIndex?: number;
  lastTerm?: number;
  vote?: string | null;
}

/** One proxy the cluster needs in `proxied` mode. */
export interface ProxySpec {
  /** Toxiproxy proxy name: `n1->n2` for a peer link, `client->n2` for client traffic. */
  name: string;
  kind: 'peer' | 'client';
  /** Source node of a peer link (absent for client proxies). */
  from?: string;
  to: string;
  /** `127.0.0.1:PORT` the proxy listens on. */
  listen: string;
  /** `127.0.0.1:PORT` of the node it forwards to. */
  upstream: string;
}

/** What the proxy layer (the toxiproxy helpers) gives back to the cluster. */
export interface ProxyLayer {
  /** Pids of processes it started (the embedded server), so the reaper covers them. */
  readonly pids: readonly number[];
  /** Removes the proxies and stops whatever it started; idempotent. */
  stop(): Promise<void>;
}

/** Creates all proxies of a plan, e.g. with harness/proxies.ts. */
export type ProxyLayerStarter = (specs: readonly ProxySpec[]) => Promise<ProxyLayer>;

/** Options of a cluster. */
export interface ClusterOptions {
  /** Number of nodes, usually 3, 5 or 7. */
  nodes: number;
  /** Run directory: logs go to `<runDir>/nodes/<id>.log`, data to `<runDir>/nodes/<id>/`. */
  runDir: string;
  /** `proxied`: peers and clients through proxies (needs `startProxies`); `direct`: none. */
  mode: 'proxied' | 'direct';
  startProxies?: ProxyLayerStarter;
  electionTimeoutMs?: number;
  heartbeatMs?: number;
  snapshotEvery?: number;
  clusterId?: string;
  /** Extra flags for every node. */
  nodeArgs?: readonly string[];
  /** Node entry point; defaults to `<repo>/node/main.ts`. */
  nodeMain?: string;
}

interface NodeProcess {
  id: string;
  port: number;
  dataDir: string;
  logPath: string;
  child: ResultPromise | undefined;
  paused: boolean;
}

function canBind(port: number): Promise<number | undefined> {
  return new Promise((resolvePort) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolvePort(undefined));
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : undefined;
      server.close(() => resolvePort(bound));
    });
  });
}

/** How often the proxies are created again with new ports after a bind race. */
const PROXY_START_ATTEMPTS = 4;

/** Ports handed out by this process, so two picks in a row never collide. */
const portsHandedOut = new Set<number>();

/**
 * Picks a currently free loopback TCP port. By default it is below Linux's
 * ephemeral range (32768-60999): a node's or proxy's port is free while the
 * node is killed or the proxy is cut, and a port from the ephemeral range
 * could meanwhile become the local port of some outgoing connection, so the
 * restart could not bind it again. `ephemeral: true` asks the kernel (port 0).
 */
export async function freePort(options: { ephemeral?: boolean } = {}): Promise<number> {
  if (options.ephemeral !== true) {
    for (let attempt = 0; attempt < 200; attempt++) {
      const candidate = 20_000 + Math.floor(Math.random() * 12_000);
      if (portsHandedOut.has(candidate)) continue;
      const bound = await canBind(candidate);
      if (bound !== undefined) {
        portsHandedOut.add(bound);
        return bound;
      }
    }
  }
  const bound = await canBind(0);
  if (bound === undefined) throw new Error('cannot bind any loopback port');
  return bound;
}

/** GET /status of one node with a short timeout; undefined when it does not answer. */
export async function fetchStatus(baseUrl: string, timeoutMs = 500): Promise<NodeStatus | undefined> {
  try {
    const response = await request(`${baseUrl}/status`, {
      method: 'GET',
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (response.statusCode !== 200) {
      await response.body.dump();
      return undefined;
    }
    return (await response.body.json()) as NodeStatus;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// The reaper: reads pids (one per line) from stdin; on EOF (our process died
// or closed the pipe) it SIGCONTs and SIGKILLs every one that is still alive.
const reaperSource = `
const pids = new Set(); let buf = '';
process.on('SIGINT', () => {}); process.on('SIGTERM', () => {});
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => { buf += d; let i; while ((i = buf.indexOf('\\n')) >= 0) {
  const line = buf.slice(0, i).trim(); buf = buf.slice(i + 1);
  if (line.startsWith('-')) pids.delete(Number(line.slice(1))); else if (line) pids.add(Number(line)); } });
process.stdin.on('end', () => { for (const p of pids) { try { process.kill(p, 'SIGCONT'); } catch {} try { process.kill(p, 'SIGKILL'); } catch {} } process.exit(0); });
`;

const liveClusters = new Set<Cluster>();
let signalHandlersInstalled = false;

function installSignalHandlers(): void {
  if (signalHandlersInstalled) return;
  signalHandlersInstalled = true;
  const stopAll = async (): Promise<void> => {
    await Promise.allSettled([...liveClusters].map((c) => c.stop()));
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      // When the program has its own handler (the chaos CLI finishes its run
      // directory on Ctrl-C), only stop the processes and let it exit.
      const programHandles = process.listenerCount(signal) > 0;
      void stopAll().finally(() => {
        if (!programHandles) process.exit(signal === 'SIGINT' ? 130 : 143);
      });
    });
  }
  process.on('uncaughtException', (error) => {
    console.error(error);
    void stopAll().finally(() => process.exit(3));
  });
  process.on('unhandledRejection', (error) => {
    console.error(error);
    void stopAll().finally(() => process.exit(3));
  });
}

/** A running (or stopped) set of node processes plus their proxies. */
export class Cluster {
  readonly options: ClusterOptions;
  readonly ids: readonly string[];
  private readonly nodes = new Map<string, NodeProcess>();
  private readonly logStreams = new Map<string, WriteStream>();
  private proxySpecs: ProxySpec[] = [];
  private proxyLayer: ProxyLayer | undefined;
  private reaper: ChildProcess | undefined;
  private stopping: Promise<void> | undefined;
  private started = false;

  constructor(options: ClusterOptions) {
    if (!Number.isInteger(options.nodes) || options.nodes < 1) {
      throw new Error(`--nodes must be a positive integer, got ${options.nodes}`);
    }
    if (options.mode === 'proxied' && options.startProxies === undefined) {
      throw new Error('a proxied cluster needs startProxies');
    }
    this.options = options;
    this.ids = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`);
  }

  /** Direct URL of each node (bypassing proxies), for status polling and the final checks. */
  get directUrls(): Record<string, string> {
    const urls: Record<string, string> = {};
    for (const [id, node] of this.nodes) urls[id] = `http://127.0.0.1:${node.port}`;
    return urls;
  }

  /** URL clients use for each node: its client proxy in `proxied` mode, the node itself in `direct` mode. */
  get clientUrlById(): Record<string, string> {
    if (this.options.mode === 'direct') return this.directUrls;
    const urls: Record<string, string> = {};
    for (const spec of this.proxySpecs) if (spec.kind === 'client') urls[spec.to] = `http://${spec.listen}`;
    return urls;
  }

  /** Client URLs in node order. */
  get clientUrls(): string[] {
    const byId = this.clientUrlById;
    return this.ids.map((id) => byId[id] ?? '');
  }

  /** The proxies of a `proxied` cluster (empty when direct). */
  get proxies(): readonly ProxySpec[] {
    return this.proxySpecs;
  }

  /** Pid of a node's current process, if running. */
  pid(id: string): number | undefined {
    return this.nodes.get(id)?.child?.pid;
  }

  /** Pids of every process this cluster runs right now (nodes, proxy layer, reaper). */
  allPids(): number[] {
    const pids: number[] = [];
    for (const node of this.nodes.values()) if (node.child?.pid !== undefined) pids.push(node.child.pid);
    pids.push(...(this.proxyLayer?.pids ?? []));
    if (this.reaper?.pid !== undefined) pids.push(this.reaper.pid);
    return pids;
  }

  /** Whether a node's process is currently running (not killed). */
  isRunning(id: string): boolean {
    return this.nodes.get(id)?.child !== undefined;
  }

  /** Whether a node is SIGSTOPped. */
  isPaused(id: string): boolean {
    return this.nodes.get(id)?.paused ?? false;
  }

  /** Allocates ports, creates proxies (proxied mode), and starts every node. */
  async start(): Promise<void> {
    if (this.started) throw new Error('cluster already started');
    this.started = true;
    liveClusters.add(this);
    installSignalHandlers();
    this.startReaper();
    const nodesDir = join(this.options.runDir, 'nodes');
    mkdirSync(nodesDir, { recursive: true });
    for (const id of this.ids) {
      const dataDir = join(nodesDir, id);
      mkdirSync(dataDir, { recursive: true });
      this.nodes.set(id, {
        id,
        port: await freePort(),
        dataDir,
        logPath: join(nodesDir, `${id}.log`),
        child: undefined,
        paused: false,
      });
    }
    if (this.options.mode === 'proxied') {
      const starter = this.options.startProxies;
      if (starter === undefined) throw new Error('a proxied cluster needs startProxies');
      // A free port can be taken by another process between our pick and
      // Toxiproxy's bind (several harnesses on one machine): creating the
      // proxies then fails with 500 ("address already in use"; the client
      // library drops the body). We chose every field ourselves, so a 500
      // means a port: pick new ports and try again.
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
      for (const pid of this.proxyLayer.pids) this.reaperAdd(pid);
    }
    for (const id of this.ids) void this.spawnNode(id);
  }

  /** One proxy per directed peer link and one per node for clients, each on a fresh free port. */
  private async planProxySpecs(): Promise<ProxySpec[]> {
    const specs: ProxySpec[] = [];
    for (const from of this.ids) {
      for (const to of this.ids) {
        if (from === to) continue;
        specs.push({
          name: `${from}->${to}`,
          kind: 'peer',
          from,
          to,
          listen: `127.0.0.1:${await freePort()}`,
          upstream: `127.0.0.1:${this.node(to).port}`,
        });
      }
    }
    for (const to of this.ids) {
      specs.push({
        name: `client->${to}`,
        kind: 'client',
        to,
        listen: `127.0.0.1:${await freePort()}`,
        upstream: `127.0.0.1:${this.node(to).port}`,
      });
    }
    return specs;
  }

  private node(id: string): NodeProcess {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`unknown node ${id}; nodes are ${this.ids.join(', ')}`);
    return node;
  }

  private peerUrl(from: string, to: string): string {
    if (this.options.mode === 'direct') return `http://127.0.0.1:${this.node(to).port}`;
    const spec = this.proxySpecs.find((s) => s.kind === 'peer' && s.from === from && s.to === to);
    if (spec === undefined) throw new Error(`no proxy ${from}->${to}`);
    return `http://${spec.listen}`;
  }

  private startReaper(): void {
    this.reaper = spawn(process.execPath, ['-e', reaperSource], { stdio: ['pipe', 'ignore', 'ignore'] });
    this.reaper.on('error', () => {});
    this.reaper.stdin?.on('error', () => {});
    // The reaper must not keep our event loop alive, and it ignores the
    // Ctrl-C that the terminal sends to our whole process group, so it is
    // still there to do its job if our own cleanup is cut short.
    this.reaper.unref();
    (this.reaper.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  }

  private reaperAdd(pid: number): void {
    this.reaper?.stdin?.write(`${pid}\n`);
  }

  private reaperRemove(pid: number): void {
    this.reaper?.stdin?.write(`-${pid}\n`);
  }

  private logStream(id: string): WriteStream {
    let stream = this.logStreams.get(id);
    if (stream === undefined) {
      stream = createWriteStream(this.node(id).logPath, { flags: 'a' });
      this.logStreams.set(id, stream);
    }
    return stream;
  }

  /** Starts a node's process; resolves when it prints its `listening` line (or exits, or never does). */
  private spawnNode(id: string): Promise<void> {
    const node = this.node(id);
    const peers = this.ids
      .filter((other) => other !== id)
      .map((other) => `${other}=${this.peerUrl(id, other)}`)
      .join(',');
    const args = [
      '--import',
      tsxImport,
      this.options.nodeMain ?? join(repoRoot, 'node', 'main.ts'),
      '--id',
      id,
      '--listen',
      `127.0.0.1:${node.port}`,
      '--peers',
      peers,
      '--data-dir',
      node.dataDir,
      '--exit-with-parent',
      ...(this.options.electionTimeoutMs !== undefined
        ? ['--election-timeout-ms', String(this.options.electionTimeoutMs)]
        : []),
      ...(this.options.heartbeatMs !== undefined ? ['--heartbeat-ms', String(this.options.heartbeatMs)] : []),
      ...(this.options.snapshotEvery !== undefined ? ['--snapshot-every', String(this.options.snapshotEvery)] : []),
      ...(this.options.clusterId !== undefined ? ['--cluster-id', this.options.clusterId] : []),
      ...(this.options.nodeArgs ?? []),
    ];
    const log = this.logStream(id);
    log.write(`# ${new Date().toISOString()} start ${id}: node ${args.slice(2).join(' ')}\n`);
    const child = execa(process.execPath, args, {
      cwd: repoRoot,
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      reject: false,
      cleanup: true,
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    child.stdin?.on('error', () => {});
    const listening = new Promise<void>((resolveListening) => {
      let seen = '';
      const onData = (chunk: Buffer): void => {
        // Keep only a tail: the listening line is short, logs go to stderr.
        seen = (seen + chunk.toString('utf8')).slice(-4096);
        if (seen.includes('"event":"listening"')) {
          child.stdout?.off('data', onData);
          resolveListening();
        }
      };
      child.stdout?.on('data', onData);
      void child.then(() => resolveListening());
    });
    node.child = child;
    node.paused = false;
    const pid = child.pid;
    if (pid !== undefined) this.reaperAdd(pid);
    void child.then((result) => {
      if (pid !== undefined) this.reaperRemove(pid);
      log.write(`# ${new Date().toISOString()} exit ${id}: ${result.signal ?? `code ${result.exitCode}`}\n`);
      if (node.child === child) node.child = undefined;
    });
    return listening;
  }

  /** Status of every node that answers (direct, bypassing proxies). */
  async statuses(timeoutMs = 500): Promise<Map<string, NodeStatus>> {
    const urls = this.directUrls;
    const entries = await Promise.all(
      this.ids.map(
        async (id) => [id, this.isPaused(id) ? undefined : await fetchStatus(urls[id] ?? '', timeoutMs)] as const,
      ),
    );
    const result = new Map<string, NodeStatus>();
    for (const [id, status] of entries) if (status !== undefined) result.set(id, status);
    return result;
  }

  /** One node's status (direct, bypassing proxies); undefined when it is down, paused or does not answer in time. */
  async status(id: string, timeoutMs = 500): Promise<NodeStatus | undefined> {
    if (!this.isRunning(id) || this.isPaused(id)) return undefined;
    return fetchStatus(this.directUrls[id] ?? '', timeoutMs);
  }

  /** The node that says it is leader in the highest term, if any answers so right now. */
  async leader(): Promise<string | undefined> {
    let best: NodeStatus | undefined;
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
    const node = this.node(id);
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
    const node = this.node(id);
    if (node.child !== undefined) await this.kill(id);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.spawnNode(id), new Promise<void>((r) => (timer = setTimeout(r, readyTimeoutMs)))]);
    clearTimeout(timer);
  }

  /** SIGSTOPs a node: it keeps its sockets but does nothing (a long GC pause, a frozen VM). */
  pause(id: string): void {
    const node = this.node(id);
    if (node.child === undefined || node.paused) return;
    node.child.kill('SIGSTOP');
    node.paused = true;
  }

  /** SIGCONTs a paused node. */
  resume(id: string): void {
    const node = this.node(id);
    if (node.child === undefined || !node.paused) return;
    node.child.kill('SIGCONT');
    node.paused = false;
  }

  /** Stops every process this cluster started (nodes, proxies, reaper). Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.stopNow();
    return this.stopping;
  }

  private async stopNow(): Promise<void> {
    const children = [...this.nodes.values()].flatMap((node) => (node.child === undefined ? [] : [node.child]));
    for (const node of this.nodes.values()) {
      if (node.child === undefined) continue;
      if (node.paused) node.child.kill('SIGCONT');
      node.paused = false;
      node.child.kill('SIGTERM');
    }
    const killTimer = setTimeout(() => {
      for (const child of children) child.kill('SIGKILL');
    }, 2_000);
    await Promise.allSettled(children);
    clearTimeout(killTimer);
    if (this.proxyLayer !== undefined) {
      try {
        await this.proxyLayer.stop();
      } catch {
        // Best effort: the reaper kills its processes when we close its pipe.
      }
    }
    await Promise.all([...this.logStreams.values()].map((s) => new Promise<void>((r) => s.end(r))));
    this.logStreams.clear();
    if (this.reaper !== undefined) {
      const reaper = this.reaper;
      const exited = new Promise<void>((r) => {
        if (reaper.exitCode !== null || reaper.signalCode !== null) r();
        else reaper.once('exit', () => r());
      });
      reaper.stdin?.end();
      await Promise.race([exited, sleep(2_000)]);
    }
    liveClusters.delete(this);
  }
}
