// Proxies: the listener, its live connections, the toxic lists, and the lifecycle rules of compat §5.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import net from 'node:net';
import { Connection, closeSocket } from './link.ts';
import type { Random } from '../lib/random.ts';
import type { Direction, ToxicSpec } from './toxics.ts';

/** An error the API turns into `{"error": message, "status": status}` (compat §2 error catalogue). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A listen address resolved to what we bind and how Go would print it. */
export interface ResolvedListen {
  bindHost: string;
  port: number;
  /** Go's formatting of the address (compat §3): `127.0.0.1:P`, `[::1]:P`, `[::]:P` for wildcards. */
  formatted: string;
  wildcard: boolean;
}

function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Splits `host:port` like Go's net.SplitHostPort; messages follow Go's `listen tcp: address …` texts. */
export function splitHostPort(address: string): { host: string; portText: string } {
  const colon = address.lastIndexOf(':');
  if (colon < 0) throw new ApiError(500, `listen tcp: address ${address}: missing port in address`);
  let host = address.slice(0, colon);
  const portText = address.slice(colon + 1);
  if (host.startsWith('[')) {
    if (!host.endsWith(']')) throw new ApiError(500, `listen tcp: address ${address}: missing ']' in address`);
    host = host.slice(1, -1);
  } else if (host.includes(':')) {
    throw new ApiError(500, `listen tcp: address ${address}: too many colons in address`);
  }
  return { host, portText };
}

/** Resolves a listen string the way Go's net.Listen("tcp", …) does (compat §3, §8.5, §8.6). */
export async function resolveListen(listen: string): Promise<ResolvedListen> {
  // An empty listen is a wildcard ephemeral port in Go (compat §5.1).
  const { host, portText } = listen === '' ? { host: '', portText: '0' } : splitHostPort(listen);
  const port = portText === '' ? 0 : Number(portText);
  if (!/^\d*$/.test(portText) || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ApiError(500, `listen tcp: address ${portText}: invalid port`);
  }
  if (host === '' || host === '0.0.0.0' || host === '::') {
    // Go opens one dual-stack socket for a wildcard and reports it as [::]:PORT.
    return { bindHost: '::', port, formatted: formatHostPort('::', port), wildcard: true };
  }
  if (isIP(host) !== 0) return { bindHost: host, port, formatted: formatHostPort(host, port), wildcard: false };
  let addresses: { address: string; family: number }[];
  try {
    addresses = await lookup(host, { all: true });
  } catch {
    throw new ApiError(500, `listen tcp: lookup ${host}: no such host`);
  }
  // Go prefers the IPv4 address for a hostname such as localhost.
  const chosen = addresses.find((a) => a.family === 4) ?? addresses[0];
  if (chosen === undefined) throw new ApiError(500, `listen tcp: lookup ${host}: no such host`);
  return { bindHost: chosen.address, port, formatted: formatHostPort(chosen.address, port), wildcard: false };
}

const BIND_ERROR_TEXT: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'cannot assign requested address',
};

function listenOn(resolved: ResolvedListen, onConnection: (socket: net.Socket) => void): Promise<net.Server> {
  return bind(resolved, resolved.bindHost, onConnection).catch((error: unknown) => {
    // Go falls back to IPv4 for a wildcard on a host without IPv6; so do we (still reported as [::]:PORT).
    if (resolved.wildcard && error instanceof BindError && ['EAFNOSUPPORT', 'EADDRNOTAVAIL'].includes(error.code)) {
      return bind(resolved, '0.0.0.0', onConnection);
    }
    throw error;
  });
}

/** A failed bind, with the errno code kept for the IPv4 fallback. */
class BindError extends ApiError {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(500, message);
  }
}

function bind(resolved: ResolvedListen, host: string, onConnection: (socket: net.Socket) => void): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, onConnection);
    server.once('error', (error: NodeJS.ErrnoException) => {
      const reason = BIND_ERROR_TEXT[error.code ?? ''] ?? error.message;
      const shownHost = resolved.wildcard ? '' : resolved.bindHost;
      reject(
        new BindError(`listen tcp ${formatHostPort(shownHost, resolved.port)}: bind: ${reason}`, error.code ?? ''),
      );
    });
    server.listen({ host, port: resolved.port, ipv6Only: false }, () => {
      server.removeAllListeners('error');
      server.on('error', () => {});
      resolve(server);
    });
  });
}

/** The fields a client may send when creating or updating a proxy. */
export interface ProxyFields {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
}

/** A proxy with its listener, connections and toxics. */
export class Proxy {
  listen: string;
  upstream: string;
  enabled = false;
  private server: net.Server | null = null;
  private readonly connections = new Set<Connection>();
  /** Sockets accepted whose upstream dial has not finished yet. */
  private readonly dialing = new Map<net.Socket, boolean>();
  readonly toxics: { upstream: ToxicSpec[]; downstream: ToxicSpec[] } = { upstream: [], downstream: [] };

  constructor(
    readonly name: string,
    listen: string,
    upstream: string,
    private readonly random: Random,
  ) {
    this.listen = listen;
    this.upstream = upstream;
  }

  /** Binds the listener (compat §5.1); the stored listen becomes the address actually bound. */
  async start(): Promise<void> {
    if (this.enabled) return;
    const resolved = await resolveListen(this.listen);
    const server = await listenOn(resolved, (socket) => this.accept(socket));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : resolved.port;
    this.listen = resolved.wildcard ? formatHostPort('::', port) : formatHostPort(resolved.bindHost, port);
    this.server = server;
    this.enabled = true;
  }

  /** Closes the listener and every connection on both sides; toxics are kept (compat §5.3). */
  stop(): void {
    if (!this.enabled) return;
    this.enabled = false;
    this.server?.close();
    this.server = null;
    this.closeConnections();
  }

  closeConnections(): void {
    // A connection still dialling upstream is closed like a live one: with RST when it was marked for it.
    for (const [socket, resetOnClose] of this.dialing) closeSocket(socket, resetOnClose);
    this.dialing.clear();
    for (const connection of [...this.connections]) connection.close();
  }

  /** Compat §5.3: differs when the resolved listen is not the stored string or the upstream changed. */
  async differs(fields: { listen: string; upstream: string }): Promise<boolean> {
    if (fields.upstream !== this.upstream) return true;
    if (fields.listen === this.listen) return false;
    const resolved = await resolveListen(fields.listen);
    return resolved.formatted !== this.listen;
  }

  toxicsOf(direction: Direction): ToxicSpec[] {
    return this.toxics[direction];
  }

  allToxics(): ToxicSpec[] {
    return [...this.toxics.upstream, ...this.toxics.downstream];
  }

  findToxic(name: string): ToxicSpec | undefined {
    return this.allToxics().find((t) => t.name === name);
  }

  addToxic(spec: ToxicSpec): void {
    this.toxics[spec.direction].push(spec);
    for (const connection of this.connections) connection.link(spec.direction).addToxic(spec);
  }

  updateToxic(spec: ToxicSpec): void {
    const list = this.toxics[spec.direction];
    const index = list.findIndex((t) => t.name === spec.name);
    if (index >= 0) list[index] = spec;
    for (const connection of this.connections) connection.link(spec.direction).updateToxic(spec);
  }

  removeToxic(spec: ToxicSpec): void {
    const list = this.toxics[spec.direction];
    const index = list.findIndex((t) => t.name === spec.name);
    if (index >= 0) list.splice(index, 1);
    for (const connection of this.connections) connection.link(spec.direction).removeToxic(spec.name);
    // Compat §6.5: removing a timeout toxic closes every live connection of the proxy, even where its toxicity
    // draw made it a no-op.
    if (spec.type === 'timeout') this.closeConnections();
  }

  removeAllToxics(): void {
    for (const spec of this.allToxics()) this.removeToxic(spec);
  }

  toJSON(): object {
    return {
      name: this.name,
      listen: this.listen,
      upstream: this.upstream,
      enabled: this.enabled,
      // A serialisation accident of the Go server that is on the wire in v2.12.0 (compat §3).
      Logger: {},
      toxics: this.allToxics().map(toxicJson),
    };
  }

  /** Compat §5.2: dial upstream after accept; a failed dial closes the client normally (clean EOF). */
  private accept(client: net.Socket): void {
    if (!this.enabled) {
      client.destroy();
      return;
    }
    client.setNoDelay(true);
    client.on('error', () => {});
    const resetOnClose = this.allToxics().some((t) => t.type === 'reset_peer');
    const { host, port } = parseUpstream(this.upstream);
    if (port === 0) {
      // An upstream without a usable port cannot be dialled: behave like a refused dial.
      closeClientAfterFailedDial(client, resetOnClose);
      return;
    }
    this.dialing.set(client, resetOnClose);
    const upstream = net.connect({ host, port, allowHalfOpen: true, noDelay: true });
    upstream.on('error', () => {});
    const abandon = (): void => {
      upstream.destroy();
    };
    client.once('close', abandon);
    upstream.once('connect', () => {
      client.off('close', abandon);
      this.dialing.delete(client);
      if (client.destroyed || !this.enabled) {
        upstream.destroy();
        return;
      }
      upstream.setNoDelay(true);
      const connection = new Connection(client, upstream, this.toxics, this.random, resetOnClose, (c) =>
        this.connections.delete(c),
      );
      this.connections.add(connection);
      client.resume();
    });
    upstream.once('close', () => {
      if (!this.dialing.delete(client)) return;
      client.off('close', abandon);
      closeClientAfterFailedDial(client, resetOnClose);
    });
  }
}

function closeClientAfterFailedDial(client: net.Socket, reset: boolean): void {
  if (reset) {
    closeSocket(client, true);
    return;
  }
  client.end();
  client.once('finish', () => client.destroy());
}

/** `host:port` of an upstream; the string is stored verbatim and only parsed when dialling (compat §3). */
function parseUpstream(upstream: string): { host: string; port: number } {
  const colon = upstream.lastIndexOf(':');
  if (colon < 0) return { host: upstream, port: 0 };
  let host = upstream.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const port = Number(upstream.slice(colon + 1));
  return {
    host: host === '' ? '127.0.0.1' : host,
    port: Number.isInteger(port) && port > 0 && port < 65536 ? port : 0,
  };
}

/** The toxic object on the wire (compat §3). */
export function toxicJson(spec: ToxicSpec): object {
  return {
    attributes: spec.attributes,
    name: spec.name,
    type: spec.type,
    stream: spec.stream,
    toxicity: spec.toxicity,
  };
}
