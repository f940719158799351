// Helpers shared by the conformance tests and the benchmark: the server under test (a child process, or an
// external server named by TOXIPROXY_URL), tiny TCP upstreams, and bounded socket reads. Everything listens on
// 127.0.0.1 only and every wait has a deadline.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, afterEach, before, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EMBEDDED_HEADER } from './api.ts';

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

/**
 * Parses TOXIPROXY_URL: the API of a server the conformance tests run against instead of spawning the embedded
 * one. It must be on this machine's loopback: the tests' upstreams listen on 127.0.0.1 and the tests connect to
 * the proxies' ports on 127.0.0.1, so a server elsewhere (or in a Docker bridge network) could reach neither.
 */
export function parseExternalUrl(value: string | undefined): string | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new Error(`TOXIPROXY_URL is not a URL: ${JSON.stringify(value)} (expected e.g. http://127.0.0.1:8474)`);
  }
  if (url.protocol !== 'http:') throw new Error(`TOXIPROXY_URL must be an http:// URL, got ${url.protocol}//`);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
    throw new Error(
      `TOXIPROXY_URL must name a server on this machine's loopback (127.0.0.1, localhost or [::1]), got ` +
        `${url.hostname}: the tests' upstreams listen on 127.0.0.1 and the tests connect to the proxies there`,
    );
  }
  if (url.port === '') throw new Error(`TOXIPROXY_URL needs an explicit port, e.g. http://127.0.0.1:8474`);
  return url.origin;
}

/** The external server the conformance tests run against, or undefined to spawn the embedded one per file. */
export const EXTERNAL_URL = parseExternalUrl(process.env.TOXIPROXY_URL);

/** Skip reason of tests that start, signal or need a fresh server process of their own. */
export const NEEDS_OWN_SERVER: string | undefined =
  EXTERNAL_URL === undefined
    ? undefined
    : 'starts, stops or signals a server process of its own, or needs a fresh one; not possible with TOXIPROXY_URL';

/** Skip reason of tests that call POST /reset, which strips the toxics of every proxy on the server. */
export const RESETS_EVERY_PROXY: string | undefined =
  EXTERNAL_URL === undefined
    ? undefined
    : 'POST /reset changes every proxy on the server, and the server of TOXIPROXY_URL is shared';

/** Skip reason of the embedded server's safer behaviour on inputs that crash the real server. */
export const REAL_SERVER_PANICS = 'the real Toxiproxy 2.12.0 panics on this input; see docs/toxiproxy-compat.md';

/** The server one test file runs against. `url` and `embedded` are set once `ready()` resolved. */
export interface ServerUnderTest {
  /**
   * Starts the server (or checks the external one) once; later calls return the same promise. A file's own
   * `before` hook must await it before using `url`: Node 20 runs a file's top-level `before` hooks concurrently.
   */
  ready(): Promise<void>;
  /** The API's base URL. */
  readonly url: string;
  /** True when the server came from TOXIPROXY_URL (shared and long-lived), false when this file spawned it. */
  readonly external: boolean;
  /** True when the server is raftlab's embedded one: spawned here, or external and sending EMBEDDED_HEADER. */
  readonly embedded: boolean;
  /**
   * A proxy name that no other test run uses (run prefix + label + counter). Every proxy a test creates on the
   * server under test is named by this, so the sweep at the end deletes ours and nothing else.
   */
  name(label: string): string;
  /**
   * Call first in a test of the embedded server's own behaviour where the real one differs: against any other
   * server it marks the test skipped with `reason` and returns true (the test returns at once, sending nothing).
   */
  skipUnlessEmbedded(t: TestContext, reason: string): boolean;
}

/**
 * Sets up the server for the test file that calls it (at module level). It registers a `before` hook that spawns
 * the embedded server with `seed` or checks TOXIPROXY_URL (`ready()`), an `afterEach` that counts the tests that
 * ran, and an `after` that deletes the proxies this run left behind, stops a spawned server and, against an
 * external server, prints its URL and how many of the file's tests ran against it.
 */
export function useServerUnderTest(file: string, seed: number): ServerUnderTest {
  const prefix = `rl${process.pid.toString(36)}${randomBytes(3).toString('hex')}_`;
  let counter = 0;
  let spawned: ServerProcess | undefined;
  const ran = new Set<string>();
  const skipped = new Set<string>();
  let starting: Promise<void> | undefined;
  const state = {
    ready: (): Promise<void> => {
      starting ??= start();
      return starting;
    },
    url: EXTERNAL_URL ?? '',
    external: EXTERNAL_URL !== undefined,
    embedded: EXTERNAL_URL === undefined,
    name: (label: string): string => `${prefix}${label}_${++counter}`,
    skipUnlessEmbedded: (t: TestContext, reason: string): boolean => {
      if (state.embedded) return false;
      skipped.add(t.name);
      t.skip(reason);
      return true;
    },
  };

  async function start(): Promise<void> {
    if (EXTERNAL_URL === undefined) {
      spawned = await startServer(seed);
      state.url = spawned.url;
      return;
    }
    let version: Awaited<ReturnType<typeof api>>;
    try {
      version = await api(EXTERNAL_URL, 'GET', '/version');
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      throw new Error(`TOXIPROXY_URL=${EXTERNAL_URL}: no Toxiproxy API answers there (${why})`);
    }
    if (version.status !== 200) {
      throw new Error(`TOXIPROXY_URL=${EXTERNAL_URL}: GET /version answered ${version.status}, not a Toxiproxy API`);
    }
    state.embedded = version.headers.get(EMBEDDED_HEADER) === '1';
  }

  before(() => state.ready());

  afterEach((t) => {
    ran.add(t.name);
  });

  after(async () => {
    try {
      if (state.url !== '') await deleteProxiesNamed(state.url, prefix);
    } finally {
      await spawned?.stop();
    }
    if (!state.external) return;
    const count = [...ran].filter((name) => !skipped.has(name)).length;
    const kind = state.embedded ? "raftlab's embedded server" : "not raftlab's embedded server";
    console.log(`${file}: ${count} tests ran against the external Toxiproxy at ${state.url} (${kind})`);
  });

  return state;
}

/** Deletes every proxy whose name starts with `prefix`; proxies of anyone else on the server are left alone. */
async function deleteProxiesNamed(url: string, prefix: string): Promise<void> {
  const listed = await api(url, 'GET', '/proxies');
  const names = Object.keys((listed.json ?? {}) as Record<string, unknown>).filter((n) => n.startsWith(prefix));
  for (const name of names) await api(url, 'DELETE', `/proxies/${encodeURIComponent(name)}`);
}
