// Fuzzing a real 3-node cluster over HTTP: generated garbage and edge cases
// on the client API and the peer endpoints. After each batch every node must
// still run and answer /status, and every write acknowledged in the batch
// must read back. Seeded and bounded; RAFTLAB_FUZZ_RUNS=N runs N batches
// (default 4) and RAFTLAB_FUZZ_SEED picks another seed, for longer local runs.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { LocalCluster } from './local-cluster.ts';

const RUNS = Number(process.env.RAFTLAB_FUZZ_RUNS ?? 6);
const SEED = Number(process.env.RAFTLAB_FUZZ_SEED ?? 16);

/** One generated request. `raw` requests are written byte for byte on a socket. */
type FuzzRequest =
  | {
      readonly kind: 'http';
      readonly node: number;
      readonly method: string;
      readonly path: string;
      readonly headers: Readonly<Record<string, string>>;
      readonly body: string | null;
      /** Send the body in this many pieces, 15 ms apart. */
      readonly pieces: number;
      /** A valid put whose answer 200 means "acknowledged": the value it stores. */
      readonly ackValue?: unknown;
    }
  | { readonly kind: 'truncated'; readonly node: number; readonly path: string; readonly sent: string }
  | { readonly kind: 'garbage'; readonly node: number; readonly bytes: Uint8Array };

const node = fc.integer({ min: 0, max: 2 });
const key = fc.oneof(
  fc.stringMatching(/^[a-z0-9]{1,12}$/),
  fc.string({ maxLength: 20 }).map((s) => encodeURIComponent(s) || 'empty'),
  fc.constantFrom('%E0%A4%A', '%', 'a/b', '', '..', '%2F'),
);
const numberText = fc.constantFrom('1e400', '-1e400', '1e-400', '-0', '123456789012345678901234567890', '0.1', 'NaN');
const nested = fc.integer({ min: 1, max: 5000 }).map((d) => `${'['.repeat(d)}1${']'.repeat(d)}`);
const jsonText = fc.oneof(
  fc.json({ maxDepth: 4 }),
  numberText,
  nested,
  fc.string({ maxLength: 40 }),
  fc.constantFrom('{', '{"value":', '[]', 'null', '{"value":1,"client":1,"seq":1}', '{"value":1,"seq":-1}'),
);
const sessionFields = fc.oneof(
  fc.constant(''),
  fc
    .record({ client: fc.oneof(fc.string({ maxLength: 8 }), fc.integer()), seq: fc.oneof(fc.nat(), fc.double()) })
    .map((s) => `,"client":${JSON.stringify(s.client)},"seq":${JSON.stringify(s.seq)}`),
);
const kvBody = fc.oneof(
  jsonText,
  fc.tuple(jsonText, sessionFields).map(([v, s]) => `{"value":${v}${s}}`),
  fc
    .tuple(jsonText, jsonText, fc.constantFrom('', ',"present":true', ',"present":"x"'))
    .map(([e, v, p]) => `{"expected":${e},"value":${v}${p}}`),
);

/** Makes every acknowledged key unique (the generators run in a fixed order for a seed). */
let ackCounter = 0;

/** A valid put of a fresh key: its 200 is an acknowledgement to check later. */
const validPut = fc.tuple(node, fc.jsonValue({ maxDepth: 3 })).map(([n, value]): FuzzRequest => {
  // JSON text is what the node stores; -0 comes back as 0, so compare the parsed text.
  const body = JSON.stringify({ value });
  return {
    kind: 'http',
    node: n,
    method: 'PUT',
    path: `/kv/ack-${++ackCounter}`,
    headers: { 'content-type': 'application/json' },
    body,
    pieces: 1,
    ackValue: (JSON.parse(body) as { value: unknown }).value,
  };
});

/** Mostly a method that fits the route, so bodies reach validation; sometimes anything. */
const kvRoute: fc.Arbitrary<readonly [string, string]> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(['PUT', ''], ['POST', '/cas'], ['DELETE', ''], ['GET', ''], ['GET', '?stale=true']),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(
      fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
      fc.constantFrom('', '/cas', '/cas/x', '?stale=true', '?stale=maybe'),
    ),
  },
);

const kvRequest = fc
  .record({
    node,
    route: kvRoute,
    key,
    body: fc.option(kvBody, { nil: null, freq: 8 }),
    pieces: fc.integer({ min: 1, max: 3 }),
  })
  .map(({ route: [method, suffix], ...r }) => ({ ...r, method, suffix }))
  .map(
    (r): FuzzRequest => ({
      kind: 'http',
      node: r.node,
      method: r.method,
      path: `/kv/${r.key}${r.suffix}`,
      headers: { 'content-type': 'application/json' },
      body: r.method === 'GET' || r.method === 'HEAD' ? null : r.body,
      pieces: r.pieces,
    }),
  );

const otherRoute = fc
  .record({
    node,
    method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'TRACE'),
    path: fc.oneof(
      fc.constantFrom('/', '/status', '/kv', '/kv/', '/raft', '/raft/messages', '/raft/stream', '/%00', '/status?x=1'),
      fc.webPath().map((p) => p || '/'),
    ),
    cluster: fc.constantFrom('raftlab', 'other', ''),
    body: fc.option(
      fc.oneof(
        jsonText,
        fc.constantFrom(
          '[{"type":"heartbeat-request","from":"n2","to":"n1","term":"x"}]',
          '[{"type":"vote-request","from":"zz","to":"n1","term":1}]\n',
          'not a frame\n',
          '[]\n[',
        ),
      ),
      { nil: null },
    ),
  })
  .map(
    (r): FuzzRequest => ({
      kind: 'http',
      node: r.node,
      method: r.method,
      path: r.path,
      headers: r.cluster === '' ? {} : { 'x-raftlab-cluster': r.cluster },
      body: r.body,
      pieces: 1,
    }),
  );

const oversized = node.map(
  (n): FuzzRequest => ({
    kind: 'http',
    node: n,
    method: 'PUT',
    path: '/kv/big',
    headers: { 'content-type': 'application/json' },
    body: `{"value":"${'x'.repeat(1024 * 1024 + 10)}"}`,
    pieces: 2,
  }),
);

const truncated = fc.record({ node, path: fc.constantFrom('/kv/t', '/kv/t/cas', '/raft/messages'), body: kvBody }).map(
  (r): FuzzRequest => ({
    kind: 'truncated',
    node: r.node,
    path: r.path,
    sent: r.body.slice(0, Math.max(0, r.body.length - 1)),
  }),
);

const garbage = fc.record({ node, bytes: fc.uint8Array({ minLength: 1, maxLength: 300 }), httpish: fc.boolean() }).map(
  (r): FuzzRequest => ({
    kind: 'garbage',
    node: r.node,
    bytes: r.httpish
      ? Buffer.concat([Buffer.from('POST /raft/stream HTTP/1.1\r\nx-raftlab-cluster: raftlab\r\n'), r.bytes])
      : r.bytes,
  }),
);

const fuzzRequest = fc.oneof(
  { weight: 4, arbitrary: validPut },
  { weight: 6, arbitrary: kvRequest },
  { weight: 3, arbitrary: otherRoute },
  { weight: 2, arbitrary: truncated },
  { weight: 2, arbitrary: garbage },
  { weight: 2, arbitrary: oversized },
);

interface Answer {
  readonly status: number;
  readonly body: string;
}

/** Writes `head` + body pieces on a fresh socket; resolves with the status line's code (0: none) and the body. */
function rawRequest(port: number, head: string, pieces: readonly Buffer[], endEarly: boolean): Promise<Answer> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const finish = (): void => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const split = text.indexOf('\r\n\r\n');
      resolve({ status, body: split === -1 ? '' : text.slice(split + 4) });
    };
    // Every answer here is immediate or bounded by the node's own limits (body timeout 10 s).
    const timer = setTimeout(() => socket.destroy(), 15_000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', finish);
    socket.on('error', () => {});
    socket.on('connect', async () => {
      socket.write(head);
      for (const [i, piece] of pieces.entries()) {
        if (i > 0) await sleep(15);
        if (socket.destroyed) return;
        socket.write(piece);
      }
      if (endEarly) socket.end();
    });
  });
}

async function send(cluster: LocalCluster, r: FuzzRequest): Promise<Answer> {
  const port = Number(new URL(cluster.url(cluster.ids[r.node] as string)).port);
  switch (r.kind) {
    case 'garbage':
      return rawRequest(port, '', [Buffer.from(r.bytes), Buffer.from('\r\n\r\n')], true);
    case 'truncated': {
      // Announces one byte more than it sends, then closes its side.
      const body = Buffer.from(r.sent);
      const head =
        `POST ${r.path} HTTP/1.1\r\nhost: x\r\ncontent-length: ${body.length + 1}\r\n` +
        'x-raftlab-cluster: raftlab\r\n\r\n';
      return rawRequest(port, head, [body], true);
    }
    case 'http': {
      const body = r.body === null ? Buffer.alloc(0) : Buffer.from(r.body);
      const headers = { host: 'x', connection: 'close', ...r.headers, 'content-length': String(body.length) };
      const head = `${r.method} ${r.path} HTTP/1.1\r\n${Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}`)
        .join('\r\n')}\r\n\r\n`;
      const size = Math.ceil(body.length / r.pieces);
      const pieces = Array.from({ length: r.pieces }, (_, i) => body.subarray(i * size, (i + 1) * size));
      return rawRequest(port, head, pieces, false);
    }
    default: {
      const never: never = r;
      throw new Error(`unknown request ${JSON.stringify(never)}`);
    }
  }
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const root = mkdtempSync(join(tmpdir(), 'raftlab-fuzz-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('HTTP fuzzing of a 3-node cluster', () => {
  let cluster: LocalCluster;
  before(async () => {
    cluster = await LocalCluster.start({ nodes: 3, dataDir: root });
  });
  after(async () => {
    await cluster?.stop();
  });

  test(`${RUNS} batches of generated requests (seed ${SEED}): nodes survive, acked writes read back`, async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.array(fuzzRequest, { minLength: 20, maxLength: 40 }), async (batch) => {
        const acked: { node: number; path: string; value: unknown }[] = [];
        // Two at a time: overlapping requests, still bounded work.
        for (let i = 0; i < batch.length; i += 2) {
          const pair = batch.slice(i, i + 2);
          const answers = await Promise.all(pair.map((r) => send(cluster, r)));
          pair.forEach((r, j) => {
            const a = answers[j] as Answer;
            seen.set(`${r.kind}:${a.status}`, (seen.get(`${r.kind}:${a.status}`) ?? 0) + 1);
            assert.ok(
              a.status < 500 || a.status === 503 || a.status === 504,
              `5xx other than 503/504: ${a.status} ${a.body}`,
            );
            if (r.kind === 'http' && r.ackValue !== undefined && a.status === 200)
              acked.push({ node: r.node, path: r.path, value: r.ackValue });
          });
        }
        for (const id of cluster.ids) {
          assert.ok(cluster.isRunning(id), `${id} is running\n${cluster.output(id).slice(-2000)}`);
          assert.equal((await getJson(`${cluster.url(id)}/status`)).status, 200, `${id} answers /status`);
        }
        for (const w of acked) {
          const reader = cluster.ids[(w.node + 1) % 3] as string;
          const r = await getJson(`${cluster.url(reader)}${w.path}`);
          assert.equal(r.status, 200, `read of ${w.path}: ${JSON.stringify(r.body)}`);
          assert.deepEqual(r.body, { found: true, value: w.value }, w.path);
        }
        return true;
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    // The generators must reach the interesting answers, not only 404s (checked for the default seed,
    // where it is certain; another seed may by chance miss one).
    if (process.env.RAFTLAB_FUZZ_SEED !== undefined) return;
    const statuses = new Set([...seen.keys()].map((k) => k.split(':')[1]));
    for (const s of ['200', '400', '404', '405', '413']) assert.ok(statuses.has(s), `no ${s} among ${[...statuses]}`);
  });
});
