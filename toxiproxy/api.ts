// The HTTP API (compat §2, §4): routing, middleware, status codes and error bodies of Toxiproxy v2.12.0.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PopulateError, ProxyCollection } from './collection.ts';
import { parseBody } from './decode.ts';
import { ApiError, toxicJson } from './proxy.ts';
import { createRandom } from './rng.ts';

/** The version the server claims; clients and docs compare against the real 2.12.0 (compat §0). */
export const TOXIPROXY_VERSION = '2.12.0';

/** A response header on every answer of the embedded server, absent from the real one's (value `1`). */
export const EMBEDDED_HEADER = 'X-Raftlab-Embedded';

/** Request bodies above this are refused (a bad client must not exhaust memory). */
const BODY_BYTES_MAX = 1 << 20;

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** A handler's result: a status and an optional JSON body, or a body sent exactly as given. */
interface Reply {
  status: number;
  body?: unknown;
  raw?: { contentType: string; text: string };
}

interface Route {
  pattern: RegExp;
  methods: Partial<Record<Method, (params: string[], body: () => Promise<unknown>) => Promise<Reply> | Reply>>;
}

/** Options of an embedded server instance. */
export interface ToxiproxyServerOptions {
  host: string;
  port: number;
  seed: number;
  /** Called with one line per notable event (start-up config errors); quiet by default. */
  log?: (line: string) => void;
}

/** A running server. */
export interface ToxiproxyServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly proxies: ProxyCollection;
  /** Closes the API, every proxy listener and every proxied connection. */
  close(): Promise<void>;
}

function buildRoutes(proxies: ProxyCollection): Route[] {
  const write = <T>(operation: () => Promise<T> | T): Promise<T> => proxies.serialize(operation);
  return [
    {
      pattern: /^\/proxies$/,
      methods: {
        GET: () => ({ status: 200, body: proxies.list() }),
        POST: async (_p, body) => {
          const parsed = await body();
          return write(async () => ({ status: 201, body: (await proxies.create(parsed)).toJSON() }));
        },
      },
    },
    {
      pattern: /^\/populate$/,
      methods: {
        POST: async (_p, body) => {
          let parsed: unknown;
          try {
            parsed = await body();
          } catch (error) {
            if (error instanceof ApiError) throw new PopulateError(error.status, error.message, null);
            throw error;
          }
          return write(async () => ({ status: 201, body: { proxies: await proxies.populate(parsed) } }));
        },
      },
    },
    {
      pattern: /^\/reset$/,
      methods: {
        POST: () =>
          write(async () => {
            await proxies.reset();
            return { status: 204 };
          }),
      },
    },
    {
      pattern: /^\/version$/,
      // Compat §4 E13: exactly this text, with the space after the colon and the newline.
      methods: {
        GET: () => ({
          status: 200,
          raw: { contentType: 'application/json;charset=utf-8', text: `{"version": "${TOXIPROXY_VERSION}"}\n` },
        }),
      },
    },
    {
      pattern: /^\/proxies\/([^/]+)$/,
      methods: {
        GET: ([name]) => ({ status: 200, body: proxies.get(name ?? '').toJSON() }),
        POST: async ([name], body) => updateProxy(name ?? '', await body()),
        PATCH: async ([name], body) => updateProxy(name ?? '', await body()),
        DELETE: ([name]) =>
          write(() => {
            proxies.remove(name ?? '');
            return { status: 204 };
          }),
      },
    },
    {
      pattern: /^\/proxies\/([^/]+)\/toxics$/,
      methods: {
        GET: ([name]) => ({ status: 200, body: proxies.listToxics(name ?? '') }),
        POST: async ([name], body) => {
          const parsed = await body();
          // E8 answers 200, not 201 (compat §4).
          return write(() => ({ status: 200, body: toxicJson(proxies.addToxic(name ?? '', parsed)) }));
        },
      },
    },
    {
      pattern: /^\/proxies\/([^/]+)\/toxics\/([^/]+)$/,
      methods: {
        GET: ([name, toxic]) => ({ status: 200, body: toxicJson(proxies.getToxic(name ?? '', toxic ?? '')) }),
        POST: async ([name, toxic], body) => updateToxic(name ?? '', toxic ?? '', await body()),
        PATCH: async ([name, toxic], body) => updateToxic(name ?? '', toxic ?? '', await body()),
        DELETE: ([name, toxic]) =>
          write(() => {
            proxies.removeToxic(name ?? '', toxic ?? '');
            return { status: 204 };
          }),
      },
    },
  ];

  function updateProxy(name: string, parsed: unknown): Promise<Reply> {
    return write(async () => ({ status: 200, body: (await proxies.update(name, parsed)).toJSON() }));
  }

  function updateToxic(name: string, toxic: string, parsed: unknown): Promise<Reply> {
    return write(() => ({ status: 200, body: toxicJson(proxies.updateToxic(name, toxic, parsed)) }));
  }
}

function readBody(request: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    request.on('data', (part: Buffer) => {
      size += part.length;
      // Past the limit the rest is read and dropped, so the answer still reaches the client.
      if (size <= BODY_BYTES_MAX) parts.push(part);
    });
    request.on('end', () => {
      if (size > BODY_BYTES_MAX) {
        reject(new ApiError(400, 'bad request body: http: request body too large'));
        return;
      }
      try {
        resolve(parseBody(Buffer.concat(parts).toString('utf8')));
      } catch (error) {
        reject(error);
      }
    });
    request.on('error', reject);
  });
}

function sendError(response: http.ServerResponse, error: ApiError): void {
  const body: Record<string, unknown> = { error: error.message, status: error.status };
  if (error instanceof PopulateError) body.proxies = error.proxies;
  // Go's http.Error: text/plain, nosniff, the JSON text plus a newline (compat §2).
  response.writeHead(error.status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'X-Content-Type-Options': 'nosniff',
  });
  response.end(`${JSON.stringify(body)}\n`);
}

function sendNotFound(response: http.ServerResponse): void {
  response.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
  response.end('404 page not found\n');
}

/** Decodes a path segment like gorilla/mux (percent-decoded); undecodable paths match nothing. */
function decodePath(rawUrl: string): string | null {
  const path = rawUrl.split('?')[0] ?? '';
  try {
    return decodeURIComponent(path);
  } catch {
    return null;
  }
}

async function handle(
  routes: Route[],
  request: http.IncomingMessage,
  response: http.ServerResponse,
  nextId: () => string,
): Promise<void> {
  // Not part of Toxiproxy's API: lets a client (the conformance suite run with TOXIPROXY_URL) tell this server from
  // the real one, whose /version answers the same text. Clients that do not look for it are unaffected.
  response.setHeader(EMBEDDED_HEADER, '1');
  const path = decodePath(request.url ?? '/');
  let params: string[] | null = null;
  let route: Route | undefined;
  for (const candidate of routes) {
    const match = path === null ? null : candidate.pattern.exec(path);
    if (match !== null) {
      route = candidate;
      params = match.slice(1);
      break;
    }
  }
  if (route === undefined || params === null) {
    sendNotFound(response);
    return;
  }
  const handler = route.methods[request.method as Method];
  if (handler === undefined) {
    response.writeHead(405);
    response.end();
    return;
  }
  response.setHeader('X-Toxiproxy-Request-Id', nextId());
  if ((request.headers['user-agent'] ?? '').startsWith('Mozilla/')) {
    // Compat §2 middleware: browsers are refused so a malicious page cannot drive the API (CSRF).
    response.writeHead(403, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
    response.end('User agent not allowed\n');
    return;
  }
  try {
    const reply = await handler(params, () => readBody(request));
    if (reply.raw !== undefined) {
      response.writeHead(reply.status, { 'Content-Type': reply.raw.contentType });
      response.end(reply.raw.text);
      return;
    }
    if (reply.body === undefined) {
      response.writeHead(reply.status);
      response.end();
      return;
    }
    response.writeHead(reply.status, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify(reply.body));
  } catch (error) {
    if (error instanceof ApiError) {
      sendError(response, error);
      return;
    }
    // Anything unexpected is a 500 with its text; the server keeps serving.
    sendError(response, new ApiError(500, error instanceof Error ? error.message : String(error)));
  }
}

/** Starts the API on host:port (port 0 picks a free port) with an empty set of proxies. */
export async function startToxiproxyServer(options: ToxiproxyServerOptions): Promise<ToxiproxyServer> {
  const proxies = new ProxyCollection(createRandom(options.seed));
  const routes = buildRoutes(proxies);
  const idPrefix = randomBytes(4).toString('hex');
  let requestCount = 0;
  const nextId = (): string => `${idPrefix}-${(++requestCount).toString(16)}`;
  const server = http.createServer({ keepAliveTimeout: 60_000, requestTimeout: 15_000 }, (request, response) => {
    handle(routes, request, response, nextId).catch(() => {
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const hostForUrl = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${hostForUrl}:${port}`,
    host: options.host,
    port,
    proxies,
    close: async () => {
      proxies.closeAll();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
