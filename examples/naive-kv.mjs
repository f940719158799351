// A deliberately naive key-value node: every member keeps its own map and never talks to its peers. It serves the
// raftlab client API (docs/kv-api.md), so the harness can run it, and it is not linearizable as soon as a client
// writes through one member and reads through another. `npm run chaos -- --system exec --node-cmd "node
// examples/naive-kv.mjs --port {port}"` must catch it.
import { createServer } from 'node:http';

const portFlag = process.argv.indexOf('--port');
const port = Number(process.argv[portFlag + 1]);
if (portFlag < 0 || !Number.isInteger(port)) {
  process.stderr.write('usage: node examples/naive-kv.mjs --port PORT\n');
  process.exit(2);
}

const store = new Map();
const send = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

createServer((req, res) => {
  let text = '';
  req.on('data', (chunk) => {
    text += chunk;
  });
  req.on('end', () => {
    const match = /^\/kv\/([^/?]+)(\/cas)?/.exec(req.url ?? '');
    if (match === null) return send(res, 404, { error: 'not-found', message: `no route ${req.method} ${req.url}` });
    const key = decodeURIComponent(match[1]);
    let body = {};
    try {
      body = text === '' ? {} : JSON.parse(text);
    } catch {
      return send(res, 400, { error: 'bad-request', message: 'body is not JSON' });
    }
    if (req.method === 'GET') return send(res, 200, { found: store.has(key), value: store.get(key) ?? null });
    if (req.method === 'PUT') {
      store.set(key, body.value);
      return send(res, 200, { ok: true });
    }
    if (req.method === 'DELETE') {
      store.delete(key);
      return send(res, 200, { ok: true });
    }
    if (req.method === 'POST' && match[2] === '/cas') {
      const current = store.has(key) ? store.get(key) : null;
      if (JSON.stringify(current) !== JSON.stringify(body.expected)) {
        return send(res, 409, { error: 'cas-mismatch', current });
      }
      store.set(key, body.value);
      return send(res, 200, { ok: true });
    }
    send(res, 405, { error: 'bad-method', message: `${req.method} is not supported here` });
  });
}).listen(port, '127.0.0.1');
