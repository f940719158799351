/** Free loopback TCP ports for the servers and proxies a run starts. */
import { connect, createServer } from 'node:net';

/** Binds `port` (0: any) on 127.0.0.1 and releases it; the bound port, or undefined if it was taken. */
function tryBind(port: number): Promise<number | undefined> {
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

/** Ports handed out by this process, so two picks in a row never collide. */
const portsHandedOut = new Set<number>();

/**
 * Picks a currently free loopback TCP port. By default it is below Linux's ephemeral range (32768-60999): a node's
 * or proxy's port is free while the node is killed or the proxy is cut, and a port from the ephemeral range could
 * meanwhile become the local port of some outgoing connection, so the restart could not bind it again.
 * `ephemeral: true` asks the kernel (port 0).
 */
export async function freePort(options: { ephemeral?: boolean } = {}): Promise<number> {
  if (options.ephemeral !== true) {
    for (let attempt = 0; attempt < 200; attempt++) {
      const candidate = 20_000 + Math.floor(Math.random() * 12_000);
      if (portsHandedOut.has(candidate)) continue;
      const bound = await tryBind(candidate);
      if (bound !== undefined) {
        portsHandedOut.add(bound);
        return bound;
      }
    }
  }
  const bound = await tryBind(0);
  if (bound === undefined) throw new Error('cannot bind any loopback port');
  return bound;
}

/** `count` distinct free loopback ports. */
export async function freePorts(count: number, options: { ephemeral?: boolean } = {}): Promise<number[]> {
  const ports = new Set<number>();
  for (let attempt = 0; ports.size < count && attempt < count * 10; attempt++) ports.add(await freePort(options));
  if (ports.size < count) throw new Error(`could not find ${count} free loopback ports`);
  return [...ports];
}

/** The first of `count` consecutive free loopback ports (below the ephemeral range, like {@link freePort}). */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * (12_000 - count));
    let free = true;
    for (let port = base; port < base + count && free; port++) {
      free = !portsHandedOut.has(port) && (await tryBind(port)) !== undefined;
    }
    if (!free) continue;
    for (let port = base; port < base + count; port++) portsHandedOut.add(port);
    return base;
  }
  throw new Error(`cannot find ${count} consecutive free loopback ports`);
}

/** Whether a TCP connection to 127.0.0.1:`port` is accepted within `timeoutMs`. */
export function acceptsConnections(port: number, timeoutMs = 500, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolveAccepted) => {
    const socket = connect({ host, port });
    const done = (accepted: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolveAccepted(accepted);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
