// The harness proxy layer against the embedded server and tiny local HTTP servers standing in for nodes:
// cut one way only, heal, partition groups, latency, blackhole, reset, cleanup, and no orphan servers.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { Toxiproxy } from 'toxiproxy-node-client';
import type { ProxyLayerStarter } from './proxies.ts';
import { ClusterProxies, planClusterProxies, proxyLayerStarter } from './proxies.ts';
import { startToxiproxyProcess, type ToxiproxyProcess } from './toxiproxy-process.ts';

// Upper-bound slack for timing checks on a loaded machine (see toxiproxy/README.md).
const margin = Number(process.env.RAFTLAB_TIMING_MARGIN_MS ?? 1000);

interface FakeNode {
  id: string;
  port: number;
  server: http.Server;
}

/** Requests to `/held` wait here until the test answers them (a write waiting for its commit). */
const heldRequests: ((answer: string) => void)[] = [];

/** An HTTP server that answers every request with its own id, like a node's /status. */
async function startFakeNode(id: string): Promise<FakeNode> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/held') heldRequests.push((answer) => res.end(answer));
      else res.end(id);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { id, port: (server.address() as AddressInfo).port, server };
}

let toxiproxy: ToxiproxyProcess;
let nodes: FakeNode[];
let network: ClusterProxies;

/** GET through the proxy of link from->to; resolves to the answering node id or the error code. */
async function call(from: string, to: string, timeoutMs = 1000, dispatcher?: Agent): Promise<string> {
  try {
    const response = await request(`http://${network.address(from, to)}/status`, {
      signal: AbortSignal.timeout(timeoutMs),
      dispatcher,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    return await response.body.text();
  } catch (error) {
    const e = error as { code?: unknown; cause?: { code?: string }; name?: string };
    return typeof e.code === 'string' ? e.code : (e.cause?.code ?? e.name ?? 'error');
  }
}

before(async () => {
  toxiproxy = await startToxiproxyProcess({ seed: 3 });
  nodes = await Promise.all(['n1', 'n2', 'n3'].map(startFakeNode));
  network = await ClusterProxies.create(toxiproxy.url, planClusterProxies({ nodes }));
});

after(async () => {
  await network?.cleanup().catch(() => {});
  await toxiproxy?.stop();
  for (const node of nodes ?? []) {
    node.server.closeAllConnections();
    node.server.close();
  }
});

describe('harness proxy layer', () => {
  test('creates n*(n-1) peer proxies and n client proxies on concrete loopback ports', async () => {
    assert.equal(network.entries.length, 3 * 2 + 3);
    const all = await new Toxiproxy(toxiproxy.url).getAll();
    for (const entry of network.entries) {
      assert.match(entry.listen, /^127\.0\.0\.1:[1-9]\d*$/);
      assert.equal(all[entry.name]?.listen, entry.listen);
    }
    assert.deepEqual(Object.keys(network.peersOf('n1')).sort(), ['n2', 'n3']);
    assert.equal(network.peersOf('n1').n2, `http://${network.address('n1', 'n2')}`);
    assert.equal(await call('n1', 'n2'), 'n2');
    assert.equal(await call('client', 'n3'), 'n3');
  });

  test('cut n1->n2 stops n1 reaching n2 (also on a kept-alive connection) while n2 still reaches n1; heal restores', async () => {
    const agent = new Agent({ keepAliveTimeout: 30_000 });
    try {
      assert.equal(await call('n1', 'n2', 1000, agent), 'n2');
      await network.cut([['n1', 'n2']]);
      assert.notEqual(await call('n1', 'n2', 1000, agent), 'n2');
      assert.notEqual(await call('n1', 'n2'), 'n2');
      assert.equal(await call('n2', 'n1'), 'n1');
      assert.equal(await call('n1', 'n3'), 'n3');
      await network.heal([['n1', 'n2']]);
      assert.equal(await call('n1', 'n2', 1000, agent), 'n2');
    } finally {
      await agent.close();
    }
  });

  test('partition [[n1], [n2, n3]] cuts both directions across groups only; healAll restores', async () => {
    await network.partition([['n1'], ['n2', 'n3']]);
    for (const [from, to] of [
      ['n1', 'n2'],
      ['n2', 'n1'],
      ['n1', 'n3'],
      ['n3', 'n1'],
    ] as const) {
      assert.notEqual(await call(from, to), to, `${from}->${to} should be cut`);
    }
    assert.equal(await call('n2', 'n3'), 'n3');
    assert.equal(await call('n3', 'n2'), 'n2');
    assert.equal(await call('client', 'n1'), 'n1');
    await network.healAll();
    assert.equal(await call('n1', 'n2'), 'n2');
    assert.equal(await call('n3', 'n1'), 'n1');
  });

  test('latency on n1->n2 delays its round trips and leaves n2->n1 alone', async () => {
    await network.latency([['n1', 'n2']], 100, 0);
    try {
      const start = performance.now();
      assert.equal(await call('n1', 'n2', 5000), 'n2');
      const slowMs = performance.now() - start;
      // Both streams carry 100 ms, so a request/response takes at least ~200 ms.
      assert.ok(slowMs >= 180, `n1->n2 took ${slowMs} ms`);
      const otherStart = performance.now();
      assert.equal(await call('n2', 'n1', 5000), 'n1');
      assert.ok(performance.now() - otherStart < 180 + margin, 'n2->n1 is not delayed');
      // Changing the latency updates the toxic in place.
      await network.latency([['n1', 'n2']], 5, 1);
      const toxics = (
        await new Toxiproxy(toxiproxy.url)
          .getApi()
          .get<{ attributes: { latency: number } }[]>(`${toxiproxy.url}/proxies/${encodeURIComponent('n1->n2')}/toxics`)
      ).data;
      assert.deepEqual(
        toxics.map((t) => t.attributes.latency),
        [5, 5],
      );
    } finally {
      await network.removeLatency([['n1', 'n2']]);
    }
    const start = performance.now();
    assert.equal(await call('n1', 'n2', 5000), 'n2');
    assert.ok(performance.now() - start < 180 + margin, 'latency removed');
  });

  test('blackhole: requests time out instead of failing fast; removing it restores the link', async () => {
    await network.blackhole([['n2', 'n3']]);
    const outcome = await call('n2', 'n3', 300);
    assert.ok(['UND_ERR_HEADERS_TIMEOUT', 'TimeoutError', 'AbortError'].includes(outcome), outcome);
    assert.equal(await call('n3', 'n2'), 'n2');
    await network.removeBlackhole([['n2', 'n3']]);
    assert.equal(await call('n2', 'n3'), 'n3');
  });

  test('bandwidth and resetConnections: a kept-alive connection is dropped, the link keeps working', async () => {
    await network.bandwidth([['n3', 'n1']], 1000);
    assert.equal(await call('n3', 'n1'), 'n1');
    await network.removeBandwidth([['n3', 'n1']]);
    const seen = new Set<unknown>();
    const target = nodes[0] as FakeNode;
    target.server.on('connection', (socket) => seen.add(socket));
    const agent = new Agent({ keepAliveTimeout: 30_000 });
    try {
      assert.equal(await call('n3', 'n1', 1000, agent), 'n1');
      const before = seen.size;
      await network.resetConnections(['n3', 'n1']);
      assert.equal(await call('n3', 'n1', 1000, agent), 'n1');
      // The old connection was closed, so the agent had to open a new one through the proxy.
      assert.equal(seen.size, before + 1);
    } finally {
      await agent.close();
    }
  });

  test('client hold: requests stop at the client proxies, answers to delivered ones still flow, peers unaffected', async () => {
    const held = request(`http://${network.address('client', 'n1')}/held`, {
      signal: AbortSignal.timeout(10_000),
    }).then((r) => r.body.text());
    const deadline = performance.now() + 10_000;
    while (heldRequests.length === 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(heldRequests.length, 1, 'the request reached the node before the hold');
    await network.holdClientRequests(['n1', 'n2']);
    try {
      const dropped = await call('client', 'n2', 300);
      assert.ok(['UND_ERR_HEADERS_TIMEOUT', 'TimeoutError', 'AbortError'].includes(dropped), dropped);
      assert.equal(await call('n1', 'n2'), 'n2', 'peer links are not held');
      assert.equal(await call('client', 'n3'), 'n3', 'only the named nodes are held');
      heldRequests.shift()?.('acknowledged');
      assert.equal(await held, 'acknowledged', 'the answer to a delivered request crosses the hold');
    } finally {
      await network.releaseClientRequests(['n1', 'n2']);
    }
    assert.equal(await call('client', 'n2'), 'n2');
  });

  test('cleanup deletes every proxy of the layer', async () => {
    const layout = {
      nodes: [
        { id: 'x1', port: nodes[0]?.port ?? 0 },
        { id: 'x2', port: nodes[1]?.port ?? 0 },
      ],
    };
    const extra = await ClusterProxies.create(toxiproxy.url, planClusterProxies(layout));
    assert.equal(extra.entries.length, 4);
    await extra.cleanup();
    const names = Object.keys(await new Toxiproxy(toxiproxy.url).getAll());
    assert.equal(names.filter((n) => n.includes('x1') || n.includes('x2')).length, 0);
    assert.ok(names.includes('n1->n2'), 'other proxies are untouched');
  });
});

describe('embedded server process', () => {
  test('proxyLayerStarter starts the server, creates the proxies, and stop() leaves no process', async () => {
    // `satisfies` keeps the starter plug-compatible with the cluster's `startProxies` at compile time.
    const starter = proxyLayerStarter({ seed: 5 }) satisfies ProxyLayerStarter;
    const layer = await starter(planClusterProxies({ nodes: [{ id: 'a', port: nodes[0]?.port ?? 0 }] }));
    const pid = layer.pids[0] ?? -1;
    assert.ok(pid > 0, `pid ${pid}`);
    assert.equal(layer.network.entries.length, 1);
    await layer.stop();
    assert.equal(isAlive(pid), false);
  });

  test('--exit-with-parent: the server exits when the process that started it is SIGKILLed', async () => {
    const modulePath = fileURLToPath(new URL('./toxiproxy-process.ts', import.meta.url));
    const parent = spawn(
      process.execPath,
      [
        '--import',
        import.meta.resolve('tsx'),
        '--input-type=module',
        '-e',
        `const m = await import(${JSON.stringify(modulePath)}); const p = await m.startToxiproxyProcess(); console.log(p.pid); setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let serverPid = -1;
    try {
      serverPid = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('parent did not report the server pid')), 30_000);
        parent.stdout.once('data', (d: Buffer) => {
          clearTimeout(timer);
          resolve(Number(d.toString().trim()));
        });
      });
      assert.ok(isAlive(serverPid), 'server running');
      parent.kill('SIGKILL');
      const deadline = performance.now() + 10_000;
      while (isAlive(serverPid) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(isAlive(serverPid), false, 'the server outlived its parent');
    } finally {
      parent.kill('SIGKILL');
      if (serverPid > 0 && isAlive(serverPid)) process.kill(serverPid, 'SIGKILL');
    }
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
