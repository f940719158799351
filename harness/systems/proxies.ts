/**
 * The harness's proxy layer: one Toxiproxy proxy per ordered pair of nodes (`n1->n2`: node n1 reaches n2 only
 * through it) and one per node for clients (`client->n2`), plus the network faults the nemesis needs.
 *
 * It talks to Toxiproxy only through toxiproxy-node-client and only with documented API calls, so it works the
 * same against the embedded server (toxiproxy/, started here with harness/systems/toxiproxy-process.ts) and against the
 * real one (docker-compose.toxiproxy.yml, `--toxiproxy http://127.0.0.1:8474`).
 *
 * Fault semantics (docs/architecture.md "Processes and proxies"): a link `[from, to]` is the proxy `from->to`, i.e.
 * the TCP connections `from` opens to `to`, carrying `from`'s requests (upstream) and `to`'s replies (downstream).
 * - cut: the proxy is disabled. Its listener closes (new connects are refused at once) and every live
 *   connection is closed on both sides, so a keep-alive connection cannot carry a request past the cut and a
 *   request in flight fails fast instead of hanging. `to` can still call `from` through `to->from`.
 * - blackhole: a `timeout` toxic with timeout 0 on both streams: connections stay open and bytes vanish, the way
 *   a dropped route looks (requests time out). Removing it closes the connections (Toxiproxy semantics).
 * - latency / bandwidth: toxics on both streams, so each traversal of the link is slowed.
 * - client hold (scenarios): a `timeout` toxic with timeout 0 on the upstream stream of every `client->nX` proxy:
 *   requests stop reaching the nodes while answers to requests already delivered still flow back.
 */
import { Toxiproxy, type Proxy } from 'toxiproxy-node-client';
import { validateToxic } from '../../lib/toxics.ts';
import type { Link } from '../nemesis/plan.ts';
import type { NetworkControl } from '../nemesis/controls.ts';
import { startToxiproxyProcess, type ToxiproxyProcess } from './toxiproxy-process.ts';

export type { Link };

/** One proxy to create. */
export interface ProxySpec {
  /** Toxiproxy proxy name: `n1->n2` for a peer link, `client->n2` for client traffic. */
  name: string;
  kind: 'peer' | 'client';
  /** Source member of a peer link (absent for client proxies). */
  from?: string;
  to: string;
  /** `127.0.0.1:PORT` the proxy listens on. */
  listen: string;
  /** `127.0.0.1:PORT` of the member it forwards to. */
  upstream: string;
}

/** One proxy to create (the name the proxy layer uses for a {@link ProxySpec}). */
export type ProxyPlanEntry = ProxySpec;

/** What a started proxy layer gives back to the system. */
export interface ProxyLayer {
  /** The network faults on these proxies. */
  readonly network: ClusterProxies;
  /** The Toxiproxy API the proxies live on. */
  readonly url: string;
  /** Pids of processes it started (the embedded server), so the reaper covers them. */
  readonly pids: readonly number[];
  /** Removes the proxies and stops whatever it started; idempotent. */
  stop(): Promise<void>;
}

/** Creates all proxies of a plan (tests replace the default Toxiproxy layer with a double). */
export type ProxyLayerStarter = (specs: readonly ProxySpec[]) => Promise<ProxyLayer>;

/** The cluster layout the proxies are planned from. */
export interface ClusterLayout {
  nodes: readonly { id: string; port: number }[];
}

/** The proxy name of a link. */
export function linkName(from: string, to: string): string {
  return `${from}->${to}`;
}

/** Plans the n*(n-1) peer proxies and n client proxies of a layout, each on a free loopback port. */
export function planClusterProxies(layout: ClusterLayout): ProxyPlanEntry[] {
  const entries: ProxyPlanEntry[] = [];
  for (const from of layout.nodes) {
    for (const to of layout.nodes) {
      if (from.id === to.id) continue;
      entries.push({
        name: linkName(from.id, to.id),
        kind: 'peer',
        from: from.id,
        to: to.id,
        listen: '127.0.0.1:0',
        upstream: `127.0.0.1:${to.port}`,
      });
    }
  }
  for (const to of layout.nodes) {
    entries.push({
      name: linkName('client', to.id),
      kind: 'client',
      to: to.id,
      listen: '127.0.0.1:0',
      upstream: `127.0.0.1:${to.port}`,
    });
  }
  return entries;
}

type Stream = 'upstream' | 'downstream';
const BOTH_STREAMS: readonly Stream[] = ['upstream', 'downstream'];

/** Names of the toxics this layer adds; a heal removes exactly these kinds. */
const TOXIC_PREFIX = 'raftlab_';

interface ToxicRequest {
  kind: 'latency' | 'blackhole' | 'bandwidth' | 'hold';
  type: 'latency' | 'timeout' | 'bandwidth';
  attributes: Record<string, number>;
}

/** The proxies of one cluster and the network faults on them. */
export class ClusterProxies implements NetworkControl {
  private readonly proxies = new Map<string, Proxy>();
  /** Names of the toxics added per proxy (what the next heal removes). */
  private readonly toxics = new Map<string, Set<string>>();

  private constructor(
    private readonly toxiproxy: Toxiproxy,
    readonly entries: readonly ProxyPlanEntry[],
  ) {}

  /**
   * Creates the proxies on the Toxiproxy at `toxiproxyUrl`. Same-named proxies left over from an earlier run
   * are deleted first, so no stale toxic or disabled state survives.
   */
  static async create(toxiproxyUrl: string, entries: readonly ProxyPlanEntry[]): Promise<ClusterProxies> {
    const toxiproxy = new Toxiproxy(toxiproxyUrl.replace(/\/+$/, ''));
    const existing = await toxiproxy.getAll();
    const wanted = new Set(entries.map((e) => e.name));
    await Promise.all(
      Object.values(existing)
        .filter((p) => wanted.has(p.name))
        .map((p) => p.remove()),
    );
    const created =
      entries.length === 0
        ? {}
        : await toxiproxy.populate(
            entries.map((e) => ({ name: e.name, listen: e.listen, upstream: e.upstream, enabled: true })),
          );
    const resolved = entries.map((entry) => {
      const proxy = created[entry.name];
      if (proxy === undefined) throw new Error(`toxiproxy did not return proxy ${entry.name}`);
      return { ...entry, listen: proxy.listen };
    });
    const layer = new ClusterProxies(toxiproxy, resolved);
    for (const entry of resolved) {
      const proxy = created[entry.name];
      if (proxy !== undefined) layer.proxies.set(entry.name, proxy);
    }
    return layer;
  }

  /** `127.0.0.1:PORT` the proxy of a link listens on. */
  address(from: string, to: string): string {
    const entry = this.entries.find((e) => e.name === linkName(from, to));
    if (entry === undefined) throw new Error(`no proxy ${linkName(from, to)}; known: ${this.names().join(', ')}`);
    return entry.listen;
  }

  /** The `--peers` map node `from` gets: each other node's id to the URL of proxy `from->id`. */
  peersOf(from: string): Record<string, string> {
    const peers: Record<string, string> = {};
    for (const entry of this.entries) {
      if (entry.kind === 'peer' && entry.from === from) peers[entry.to] = `http://${entry.listen}`;
    }
    return peers;
  }

  /** Client URL of node `to` (through proxy `client->to`). */
  clientUrl(to: string): string {
    return `http://${this.address('client', to)}`;
  }

  names(): string[] {
    return this.entries.map((e) => e.name);
  }

  /** Stops every request of `from` to `to` and the replies to them; `to -> from` keeps working. */
  async cut(links: readonly Link[]): Promise<void> {
    await Promise.all(links.map((link) => this.setEnabled(linkName(...link), false)));
  }

  /** Re-enables cut links (same ports as before). */
  async heal(links: readonly Link[]): Promise<void> {
    await Promise.all(links.map((link) => this.setEnabled(linkName(...link), true)));
  }

  /** Cuts every peer link between nodes of different groups, both directions; clients are not affected. */
  async partition(groups: readonly (readonly string[])[]): Promise<void> {
    const groupOf = new Map<string, number>();
    for (const [index, group] of groups.entries()) for (const id of group) groupOf.set(id, index);
    const links: Link[] = [];
    for (const entry of this.entries) {
      if (entry.kind !== 'peer' || entry.from === undefined) continue;
      const a = groupOf.get(entry.from);
      const b = groupOf.get(entry.to);
      if (a !== undefined && b !== undefined && a !== b) links.push([entry.from, entry.to]);
    }
    await this.cut(links);
  }

  /** Adds (or changes) latency ± jitter (ms) on both streams of each link. */
  async latency(links: readonly Link[], delayMs: number, jitterMs = 0): Promise<void> {
    const request: ToxicRequest = {
      kind: 'latency',
      type: 'latency',
      attributes: { latency: delayMs, jitter: jitterMs },
    };
    await Promise.all(links.map((link) => this.setToxic(linkName(...link), request)));
  }

  /** Removes the latency of each link. */
  async removeLatency(links: readonly Link[]): Promise<void> {
    await Promise.all(links.map((link) => this.removeToxics(linkName(...link), 'latency')));
  }

  /** Connections stay open but every byte is dropped, both ways (timeout toxic with timeout 0). */
  async blackhole(links: readonly Link[]): Promise<void> {
    const request: ToxicRequest = { kind: 'blackhole', type: 'timeout', attributes: { timeout: 0 } };
    await Promise.all(links.map((link) => this.setToxic(linkName(...link), request)));
  }

  /** Ends a blackhole; Toxiproxy closes the link's connections when a timeout toxic is removed. */
  async removeBlackhole(links: readonly Link[]): Promise<void> {
    await Promise.all(links.map((link) => this.removeToxics(linkName(...link), 'blackhole')));
  }

  /**
   * Client request bytes stop at every client proxy (upstream stream only, timeout 0: dropped, the connection
   * stays open) while the nodes' answers to requests they already have still reach the clients. Used by the
   * scenarios to freeze the logs without cutting the replies that acknowledge writes.
   */
  async holdClientRequests(nodes?: readonly string[]): Promise<void> {
    const request: ToxicRequest = { kind: 'hold', type: 'timeout', attributes: { timeout: 0 } };
    await Promise.all(this.clientProxyNames(nodes).map((name) => this.setToxic(name, request, ['upstream'])));
  }

  /** Ends a client hold; Toxiproxy closes the held connections, so a request that was dropped fails at the client. */
  async releaseClientRequests(nodes?: readonly string[]): Promise<void> {
    await Promise.all(this.clientProxyNames(nodes).map((name) => this.removeToxics(name, 'hold')));
  }

  /** Client proxy names of these nodes (default: all). */
  private clientProxyNames(nodes?: readonly string[]): string[] {
    return this.entries
      .filter((e) => e.kind === 'client' && (nodes === undefined || nodes.includes(e.to)))
      .map((e) => e.name);
  }

  /** Limits each link to `rateKBps` KB/s (1 KB = 1000 bytes, Toxiproxy's unit) in each direction. */
  async bandwidth(links: readonly Link[], rateKBps: number): Promise<void> {
    const request: ToxicRequest = { kind: 'bandwidth', type: 'bandwidth', attributes: { rate: Math.round(rateKBps) } };
    await Promise.all(links.map((link) => this.setToxic(linkName(...link), request)));
  }

  async removeBandwidth(links: readonly Link[]): Promise<void> {
    await Promise.all(links.map((link) => this.removeToxics(linkName(...link), 'bandwidth')));
  }

  /** Drops the live connections of a link (disable then enable, same port); a cut link stays cut. */
  async resetConnections(link: Link): Promise<void> {
    const name = linkName(...link);
    const proxy = this.proxy(name);
    if (!proxy.enabled) return;
    await this.setEnabled(name, false);
    await this.setEnabled(name, true);
  }

  /** Heals everything: every proxy enabled, every toxic on our proxies removed (also ones others added). */
  async healAll(): Promise<void> {
    await Promise.all(
      this.names().map(async (name) => {
        const listed = await this.toxiproxy
          .getApi()
          .get<{ name: string }[]>(`${this.toxiproxy.host}/proxies/${encodeURIComponent(name)}/toxics`);
        const proxy = this.proxy(name);
        for (const toxic of listed.data ?? []) await (await proxy.getToxic(toxic.name)).remove();
        this.toxics.delete(name);
        // Sent even when we believe it is enabled: the server is the truth (it may have been reset or edited).
        await this.setEnabled(name, true, true);
      }),
    );
  }

  /** Deletes every proxy of this layer (idempotent; a proxy already gone is fine). */
  async cleanup(): Promise<void> {
    await Promise.all(
      [...this.proxies.values()].map(async (proxy) => {
        try {
          await proxy.remove();
        } catch (error) {
          if (!String(error).includes('404')) throw error;
        }
      }),
    );
    this.proxies.clear();
    this.toxics.clear();
  }

  private proxy(name: string): Proxy {
    const proxy = this.proxies.get(name);
    if (proxy === undefined) throw new Error(`no proxy ${name}; known: ${this.names().join(', ')}`);
    return proxy;
  }

  private async setEnabled(name: string, enabled: boolean, force = false): Promise<void> {
    const proxy = this.proxy(name);
    if (proxy.enabled === enabled && !force) return;
    // The full body keeps listen and upstream as stored, so only the enabled state changes (no restart).
    const updated = await proxy.update({ listen: proxy.listen, upstream: proxy.upstream, enabled });
    this.proxies.set(name, updated);
  }

  private async setToxic(
    name: string,
    request: ToxicRequest,
    streams: readonly Stream[] = BOTH_STREAMS,
  ): Promise<void> {
    // Never send a toxic the real Toxiproxy would panic on (a negative rate, a degenerate slicer): refuse it here
    // with the attribute named, whichever server is behind the URL.
    validateToxic({ type: request.type, attributes: request.attributes, toxicity: 1 });
    const proxy = this.proxy(name);
    const added = this.toxics.get(name) ?? new Set<string>();
    this.toxics.set(name, added);
    for (const stream of streams) {
      const toxicName = `${TOXIC_PREFIX}${request.kind}_${stream}`;
      if (added.has(toxicName)) {
        const toxic = await proxy.getToxic(toxicName);
        await toxic.update({ attributes: request.attributes, toxicity: 1 } as Parameters<typeof toxic.update>[0]);
        continue;
      }
      await proxy.addToxic({
        name: toxicName,
        type: request.type,
        stream,
        toxicity: 1,
        attributes: request.attributes,
      } as Parameters<typeof proxy.addToxic>[0]);
      added.add(toxicName);
    }
  }

  private async removeToxics(name: string, kind: ToxicRequest['kind']): Promise<void> {
    const proxy = this.proxy(name);
    const added = this.toxics.get(name);
    if (added === undefined) return;
    for (const stream of BOTH_STREAMS) {
      const toxicName = `${TOXIC_PREFIX}${kind}_${stream}`;
      if (!added.delete(toxicName)) continue;
      await (await proxy.getToxic(toxicName)).remove();
    }
  }
}

/** Options of the proxy layer the cluster starts. */
export interface ProxyLayerOptions {
  /** A running Toxiproxy (e.g. the real one at http://127.0.0.1:8474); default: start the embedded server. */
  toxiproxyUrl?: string;
  /** Seed of the embedded server's random draws. */
  seed?: number;
  /** Where the embedded server's stderr goes. */
  logPath?: string;
}

/** The running proxy layer. */
export type RunningProxyLayer = ProxyLayer;

/**
 * Returns a starter the system calls with its planned proxies: it starts the embedded server unless a URL is given,
 * creates the proxies and hands back the network control.
 */
export function proxyLayerStarter(
  options: ProxyLayerOptions = {},
): (entries: readonly ProxyPlanEntry[]) => Promise<RunningProxyLayer> {
  return async (entries) => {
    let server: ToxiproxyProcess | undefined;
    if (options.toxiproxyUrl === undefined) {
      server = await startToxiproxyProcess({ seed: options.seed, logPath: options.logPath });
    }
    const url = options.toxiproxyUrl ?? server?.url ?? '';
    let network: ClusterProxies;
    try {
      network = await ClusterProxies.create(url, entries);
    } catch (error) {
      await server?.stop();
      throw error;
    }
    let stopped: Promise<void> | undefined;
    return {
      network,
      url,
      pids: server === undefined ? [] : [server.pid],
      stop: () => {
        stopped ??= (async () => {
          try {
            // The embedded server dies with its proxies; only a shared real server needs the cleanup.
            if (server === undefined) await network.cleanup();
          } finally {
            await server?.stop();
          }
        })();
        return stopped;
      },
    };
  };
}
