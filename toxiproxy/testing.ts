// Helpers shared by the conformance tests and the benchmark: the server as a child process, tiny TCP upstreams,
// and bounded socket reads. Everything listens on 127.0.0.1 only and every wait has a deadline.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

/**
 * Slack for the upper bounds of timing checks. Generous by default because a 2-core machine shared with other
 * jobs stalls event loops for hundreds of ms; set RAFTLAB_TIMING_MARGIN_MS lower on a quiet machine.
 */
export const TIMING_MARGIN_MS = Number(process.env.RAFTLAB_TIMING_MARGIN_MS ?? 1000);

/** The embedded server running as a child process. */
export interface ServerProcess {
  url: string;
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

const mainPath = fileURLToPath(new URL('./main.ts', import.meta.url));

/** Starts toxiproxy/main.ts on a free port (with a fixed seed) and waits for its listening line. */
export function startServer(seed = 1, extraArgs: readonly string[] = []): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      import.meta.resolve('tsx'),
      mainPath,
      '--port',
      '0',
      '--seed',
      String(seed),
      '--exit-with-parent',
      '--quiet',
      ...extraArgs,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => {
      void stop();
      reject(new Error('server did not start within 20 s'));
    }, 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited early with code ${code}`));
    });
    child.stdout?.on('data', (part: Buffer) => {
      text += part.toString();
      const newline = text.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      const line = JSON.parse(text.slice(0, newline)) as { url: string; port: number };
      resolve({ url: line.url, port: line.port, child, stop });
    });
  });
}

/** A TCP server for tests; `connections` lists accepted sockets so a test can act as the upstream. */
export interface Upstream {
  port: number;
  address: string;
  connections: net.Socket[];
  /** Resolves with the next accepted socket. */
  nextConnection(timeoutMs?: number): Promise<net.Socket>;
  close(): Promise<void>;
}

/** Starts a loopback TCP server; `onConnection` (default: echo) handles each accepted socket. */
export async function startUpstream(onConnection: (socket: net.Socket) => void = (s) => s.pipe(s)): Promise<Upstream> {
  const connections: net.Socket[] = [];
  const waiters: ((socket: net.Socket) => void)[] = [];
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => {});
    connections.push(socket);
    onConnection(socket);
    waiters.shift()?.(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    address: `127.0.0.1:${port}`,
    connections,
    nextConnection: (timeoutMs = 5000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no upstream connection in time')), timeoutMs);
        waiters.push((socket) => {
          clearTimeout(timer);
          resolve(socket);
        });
      }),
    close: async () => {
      for (const socket of connections) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Connects to 127.0.0.1:port with Nagle off. */
export function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Everything a socket receives, with its reads and how it ended. */
export interface Collector {
  data(): Buffer;
  reads: number;
  /** 'eof', 'reset' (ECONNRESET) or 'error:<code>' once the socket ended. */
  ended: string | undefined;
  endedAtMs: number | undefined;
  /** Resolves once at least `bytes` bytes arrived. */
  waitForBytes(bytes: number, timeoutMs?: number): Promise<Buffer>;
  /** Resolves once the socket ended (EOF or error). */
  waitForEnd(timeoutMs?: number): Promise<string>;
}

/** Starts collecting a socket's input. */
export function collect(socket: net.Socket): Collector {
  const parts: Buffer[] = [];
  let size = 0;
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const waiter of [...waiters]) waiter();
  };
  const collector: Collector = {
    data: () => Buffer.concat(parts),
    reads: 0,
    ended: undefined,
    endedAtMs: undefined,
    waitForBytes: (bytes, timeoutMs = 5000) =>
      waitUntil(() => size >= bytes || collector.ended !== undefined, timeoutMs, `${bytes} bytes (have ${size})`).then(
        () => {
          if (size < bytes) throw new Error(`socket ended (${collector.ended}) after ${size} of ${bytes} bytes`);
          return collector.data();
        },
      ),
    waitForEnd: (timeoutMs = 5000) =>
      waitUntil(() => collector.ended !== undefined, timeoutMs, 'socket end').then(() => collector.ended ?? ''),
  };
  const finish = (how: string): void => {
    if (collector.ended !== undefined) return;
    collector.ended = how;
    collector.endedAtMs = performance.now();
    wake();
  };
  socket.on('data', (part: Buffer) => {
    parts.push(part);
    size += part.length;
    collector.reads++;
    wake();
  });
  socket.on('end', () => finish('eof'));
  socket.on('error', (error: NodeJS.ErrnoException) =>
    finish(error.code === 'ECONNRESET' ? 'reset' : `error:${error.code}`),
  );
  socket.on('close', () => finish('eof'));

  function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      if (condition()) {
        resolve();
        return;
      }
      const check = (): void => {
        if (!condition()) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      waiters.add(check);
    });
  }
  return collector;
}

/** Raw HTTP to the API, for statuses, headers and bodies the node client hides. */
export async function api(
  baseUrl: string,
  method: string,
  path: string,
  body?: string | object,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; json: unknown; headers: Headers }> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, text, json, headers: response.headers };
}

/** Whether a TCP connect to the port is refused (true) or accepted (false). */
export async function isRefused(port: number): Promise<boolean> {
  try {
    const socket = await connect(port);
    socket.destroy();
    return false;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ECONNREFUSED') return true;
    throw error;
  }
}

/** A port that is free right now (bind 0, read, close). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
