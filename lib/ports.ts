/** Free loopback TCP ports for the servers and proxies a run starts. */
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isProcessAlive } from './pid.ts';

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
 * Claims of ports across the processes of this machine: a file per port naming the process that handed it out.
 * A run keeps its nodes' and proxies' ports for its whole life, but a killed node's or a cut (disabled) proxy's port
 * is unbound for seconds; without the claim another run's probe finds it free and takes it, and the restart or heal
 * then fails (EADDRINUSE). A claim holds while its process lives; a dead process's claim is taken over.
 */
export const PORT_CLAIMS_DIR = join(tmpdir(), 'raftlab-ports');

/** Claims `port` for this process; false when another live process of this machine holds it. */
export function claimPort(port: number): boolean {
  const file = join(PORT_CLAIMS_DIR, String(port));
  mkdirSync(PORT_CLAIMS_DIR, { recursive: true });
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  let holder = Number.NaN;
  try {
    holder = Number(readFileSync(file, 'utf8'));
  } catch {
    // Released between our write and our read: ours to take.
  }
  if (holder !== process.pid && Number.isInteger(holder) && holder > 0 && isProcessAlive(holder)) return false;
  writeFileSync(file, String(process.pid));
  return true;
}

/** Gives up this process's claim of `port` (a candidate that turned out taken). */
function releaseClaim(port: number): void {
  try {
    if (Number(readFileSync(join(PORT_CLAIMS_DIR, String(port)), 'utf8')) === process.pid) {
      unlinkSync(join(PORT_CLAIMS_DIR, String(port)));
    }
  } catch {
    // Nothing to release.
  }
}

/** Claims `port` and checks it binds now; the claim is dropped again when it does not. */
async function claimIfFree(port: number): Promise<boolean> {
  if (portsHandedOut.has(port) || !claimPort(port)) return false;
  if ((await tryBind(port)) !== undefined) return true;
  releaseClaim(port);
  return false;
}

/**
 * Picks a currently free loopback TCP port. By default it is below Linux's ephemeral range (32768-60999): a node's
 * or proxy's port is free while the node is killed or the proxy is cut, and a port from the ephemeral range could
 * meanwhile become the local port of some outgoing connection, so the restart could not bind it again. For the same
 * reason the port is claimed machine-wide for this process's life (claimPort), so another run's pick skips it.
 * `ephemeral: true` asks the kernel (port 0).
 */
export async function freePort(options: { ephemeral?: boolean } = {}): Promise<number> {
  if (options.ephemeral !== true) {
    for (let attempt = 0; attempt < 200; attempt++) {
      const candidate = 20_000 + Math.floor(Math.random() * 12_000);
      if (await claimIfFree(candidate)) {
        portsHandedOut.add(candidate);
        return candidate;
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
    const claimed: number[] = [];
    for (let port = base; port < base + count && claimed.length === port - base; port++) {
      if (await claimIfFree(port)) claimed.push(port);
    }
    if (claimed.length < count) {
      for (const port of claimed) releaseClaim(port);
      continue;
    }
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
