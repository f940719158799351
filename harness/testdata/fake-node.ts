/**
 * A test double of node/main.ts for harness tests: same flags, same client
 * API, but no Raft. The first node in sorted id order holds the only copy of
 * the data and is always "leader"; every other node forwards client requests
 * to it over its peer URL (so through the peer proxy, like the real node).
 * It is linearizable as long as the leader process lives; killing the leader
 * loses its data (it keeps nothing on disk), which is a deliberate way to get
 * a non-linearizable history from real processes.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { request } from 'undici';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const id = flag('id') ?? 'n1';
const listen = flag('listen') ?? '127.0.0.1:0';
const peers = new Map<string, string>(
  (flag('peers') ?? '')
    .split(',')
    .filter((p) => p.includes('='))
    .map((p) => p.split('=') as [string, string]),
);
const leaderId = [id, ...peers.keys()].sort()[0] ?? id;
const isLeader = leaderId === id;
const store = new Map<string, unknown>();
let applied = 0;

if (process.argv.includes('--exit-with-parent')) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += String(chunk);
  return body;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function forward(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
  const url = peers.get(leaderId);
  if (url === undefined) return send(res, 503, { error: 'no-leader', message: 'no leader known' });
  try {
    const upstream = await request(`${url}${req.url ?? '/'}`, {
      method: (req.method ?? 'GET') as 'GET',
      body: body === '' ? undefined : body,
      headers: { 'content-type': 'application/json' },
      headersTimeout: 2_000,
      bodyTimeout: 2_000,
    });
    send(res, upstream.statusCode, await upstream.body.json());
  } catch (error) {
    send(res, 500, { error: 'forward-failed', message: String(error) });
  }
}

const server = createServer((req, res) => {
  void (async () => {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/status') {
      return send(res, 200, { id, role: isLeader ? 'leader' : 'follower', term: 1, leader: leaderId, commitIndex: applied, appliedIndex: applied });
    }
    const match = /^\/kv\/([^/]+)(\/cas)?$/.exec(url.pathname);
    if (match === null) return send(res, 404, { error: 'not-found', message: 'no such route' });
    if (!isLeader) return forward(req, res, body);
    const key = decodeURIComponent(match[1] ?? '');
    let parsed: { value?: unknown; expected?: unknown } = {};
    try {
      parsed = body === '' ? {} : (JSON.parse(body) as typeof parsed);
    } catch {
      return send(res, 400, { error: 'bad-request', message: 'body is not JSON' });
    }
    if (req.method === 'GET') return send(res, 200, { found: store.has(key), value: store.get(key) ?? null });
    if (req.method === 'PUT') {
      store.set(key, parsed.value);
      applied++;
      return send(res, 200, { ok: true });
    }
    if (req.method === 'POST' && match[2] !== undefined) {
      const current = store.has(key) ? store.get(key) : null;
      if (JSON.stringify(current) !== JSON.stringify(parsed.expected ?? null)) {
        return send(res, 409, { error: 'cas-mismatch', message: 'expected value differs', current });
      }
      store.set(key, parsed.value);
      applied++;
      return send(res, 200, { ok: true });
    }
    return send(res, 405, { error: 'bad-method', message: 'method not allowed' });
  })();
});

const [host, port] = listen.split(':');
server.listen(Number(port), host, () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ event: 'listening', id, address })}\n`);
});
