/**
 * The lazy file system's control API, on 127.0.0.1 (JSON over HTTP):
 *
 *   GET  /status           {"unsyncedBytes", "unsyncedFiles", "stats"}
 *   POST /lose-unsynced    power loss: every unsynced page is dropped       -> {"files", "bytes"}
 *   POST /torn-write       {"fraction": 0..1} a torn prefix of each file's last write survives, the rest is lost
 *                                                                           -> {"files", "bytes", "kept"}
 *   POST /fail-next-fsync  {"path"?: "/wal/x.wal"} the next fsync of that file (default: of any file) fails with EIO
 *   POST /clear-faults     disarms armed fsync failures                     -> {"armed"}
 *   POST /flush            writes every unsynced page back and syncs it      -> {"files", "bytes"}
 *
 * Errors are `{"error": code, "message": text}` with 400 (bad input) or 500.
 */
import { createServer, type IncomingMessage } from 'node:http';
import { FsError, type LazyCache } from './cache.ts';

/** A running control server. */
export interface ControlServer {
  url: string;
  close(): Promise<void>;
}

async function body(request: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  const parsed: unknown = JSON.parse(text);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new FsError('EINVAL', 'the body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

/** Serves the control API for `cache` on 127.0.0.1:`port` (0: a free port). */
export async function startControlServer(cache: LazyCache, port: number): Promise<ControlServer> {
  const routes: Record<string, (input: Record<string, unknown>) => unknown> = {
    'GET /status': () => ({
      unsyncedBytes: cache.unsyncedBytes(),
      unsyncedFiles: cache.unsyncedFiles(),
      stats: cache.stats,
    }),
    'POST /lose-unsynced': () => cache.loseUnsynced(),
    'POST /torn-write': (input) => {
      const fraction = input.fraction ?? 0.5;
      if (typeof fraction !== 'number') throw new FsError('EINVAL', '"fraction" must be a number in [0, 1)');
      return cache.tearLastWrites(fraction);
    },
    'POST /fail-next-fsync': (input) => {
      const path = input.path ?? '*';
      if (typeof path !== 'string' || (path !== '*' && !path.startsWith('/'))) {
        throw new FsError('EINVAL', '"path" must be a path inside the mount starting with "/", or "*"');
      }
      cache.failNextSyncOf(path);
      return { armed: path };
    },
    'POST /clear-faults': () => ({ armed: cache.clearSyncFailures() }),
    'POST /flush': () => cache.flushAll(),
  };
  const server = createServer((request, response) => {
    const reply = (status: number, value: unknown): void => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(`${JSON.stringify(value)}\n`);
    };
    const route = routes[`${request.method} ${(request.url ?? '').split('?')[0]}`];
    if (route === undefined) {
      reply(404, { error: 'not-found', message: `no route ${request.method} ${request.url}; see lazyfs/README.md` });
      return;
    }
    body(request).then(
      (input) => {
        try {
          reply(200, route(input));
        } catch (error) {
          const bad = error instanceof FsError && error.code === 'EINVAL';
          reply(bad ? 400 : 500, { error: bad ? 'bad-request' : 'internal', message: String(error) });
        }
      },
      (error: unknown) => reply(400, { error: 'bad-request', message: `invalid JSON body: ${String(error)}` }),
    );
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => done());
  });
  const address = server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  return {
    url: `http://127.0.0.1:${bound}`,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}
