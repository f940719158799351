// Conformance of the data plane with Toxiproxy 2.12.0: checklist items 33-48 of docs/toxiproxy-compat.md §11.
// The server runs as a child process, or is the external one of TOXIPROXY_URL. Where the real server is known to
// behave differently ("Where the real server differs" in docs/toxiproxy-compat.md), the test of the embedded
// server's behaviour says so in its name and is skipped against any other server. Timing checks are bounds with a
// generous margin (RAFTLAB_TIMING_MARGIN_MS), never exact values; long Go test durations are scaled down (e.g.
// 2 x 150 ms instead of 2 x 500 ms) to keep the suite fast.
import assert from 'node:assert/strict';
import type net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Toxiproxy, type Proxy } from 'toxiproxy-node-client';
import {
  NEEDS_OWN_SERVER,
  REAL_SERVER_PANICS,
  RESETS_EVERY_PROXY,
  TIMING_MARGIN_MS,
  api,
  collect,
  connect,
  freePort,
  startServer,
  startUpstream,
  useServerUnderTest,
  type Upstream,
} from './testing.ts';

const server = useServerUnderTest('toxiproxy/dataplane.test.ts', 11);
let tp: Toxiproxy;
let echo: Upstream;

before(async () => {
  await server.ready();
  tp = new Toxiproxy(server.url);
  echo = await startUpstream();
});

after(async () => {
  await echo?.close();
});

/** Skip reasons of the embedded server's behaviour where the real 2.12.0 was seen to do otherwise. */
const REAL_NOOP_CHURN =
  'the real Toxiproxy 2.12.0 dropped or held a message when a noop toxic was added and removed on a live ' +
  'connection (4 of 4 tries); see docs/toxiproxy-compat.md';
const REAL_PARTIAL_RELEASE =
  'the real Toxiproxy 2.12.0 delivered only part of 256 KiB within 5 s after two rate-0 bandwidth toxics were ' +
  'removed; see docs/toxiproxy-compat.md';

const portOf = (proxy: Proxy): number => Number(proxy.listen.slice(proxy.listen.lastIndexOf(':') + 1));

async function newProxy(upstreamAddress: string = echo.address): Promise<Proxy> {
  return tp.createProxy({ name: server.name('d'), listen: '127.0.0.1:0', upstream: upstreamAddress });
}

/** Adds a toxic through the client (its TS type wants every field; the server fills defaults). */
function addToxic(
  proxy: Proxy,
  body: { name?: string; type: string; stream?: string; toxicity?: number; attributes: object },
) {
  return proxy.addToxic(body as never);
}

/** A proxy to a fresh upstream that does not echo, plus one connected client and its upstream-side socket. */
async function openPair(setup?: (proxy: Proxy) => Promise<unknown>): Promise<{
  proxy: Proxy;
  client: net.Socket;
  serverSide: net.Socket;
  upstream: Upstream;
  close(): Promise<void>;
}> {
  const upstream = await startUpstream(() => {});
  const proxy = await newProxy(upstream.address);
  if (setup !== undefined) await setup(proxy);
  const accepted = upstream.nextConnection();
  const client = await connect(portOf(proxy));
  client.on('error', () => {});
  const serverSide = await accepted;
  return {
    proxy,
    client,
    serverSide,
    upstream,
    close: async () => {
      client.destroy();
      await proxy.remove().catch(() => {});
      await upstream.close();
    },
  };
}

/** Milliseconds from writing `data` on `from` until `bytes` bytes arrived on `to`. */
async function oneWayMs(from: net.Socket, to: net.Socket, data: string): Promise<number> {
  const received = collect(to);
  const start = performance.now();
  from.write(data);
  await received.waitForBytes(Buffer.byteLength(data), 10_000);
  return performance.now() - start;
}

async function echoRoundTripMs(client: net.Socket, message: string): Promise<number> {
  return oneWayMs(client, client, message);
}

describe('Data plane', () => {
  test('#33 bytes pass intact: 11 bytes, 64 KiB, and two writes concatenated', async () => {
    const pair = await openPair();
    try {
      const atServer = collect(pair.serverSide);
      pair.client.write('hello world');
      assert.equal((await atServer.waitForBytes(11)).toString(), 'hello world');
      const big = Buffer.alloc(64 * 1024, 0).map((_, i) => i % 251);
      pair.client.write(big);
      const got = await atServer.waitForBytes(11 + big.length);
      assert.deepEqual(got.subarray(11), big);
      const atClient = collect(pair.client);
      pair.serverSide.write('part one,');
      pair.serverSide.write('part two');
      assert.equal((await atClient.waitForBytes(17)).toString(), 'part one,part two');
    } finally {
      await pair.close();
    }
  });

  test('#34 upstream down: the client connect succeeds and its first read is EOF within 500 ms', async () => {
    const proxy = await newProxy(`127.0.0.1:${await freePort()}`);
    try {
      const client = await connect(portOf(proxy));
      const start = performance.now();
      const ended = await collect(client).waitForEnd(500 + TIMING_MARGIN_MS);
      assert.equal(ended, 'eof');
      assert.ok(performance.now() - start < 500 + TIMING_MARGIN_MS, 'EOF in time');
      client.destroy();
    } finally {
      await proxy.remove();
    }
  });

  test('#35 latency 100 ms upstream, downstream, both, and zero', async () => {
    const pair = await openPair();
    try {
      const up = await addToxic(pair.proxy, {
        type: 'latency',
        stream: 'upstream',
        attributes: { latency: 100, jitter: 0 },
      });
      const upMs = await oneWayMs(pair.client, pair.serverSide, 'up-leg');
      assert.ok(upMs >= 90 && upMs < 100 + TIMING_MARGIN_MS, `upstream leg ${upMs} ms`);
      // The best of three legs, so one stall of a loaded machine does not look like a delay.
      const downFast = Math.min(
        await oneWayMs(pair.serverSide, pair.client, 'down1'),
        await oneWayMs(pair.serverSide, pair.client, 'down2'),
        await oneWayMs(pair.serverSide, pair.client, 'down3'),
      );
      assert.ok(downFast < 90, `downstream without toxic ${downFast} ms`);
      const down = await addToxic(pair.proxy, {
        type: 'latency',
        stream: 'downstream',
        attributes: { latency: 100, jitter: 0 },
      });
      const downMs = await oneWayMs(pair.serverSide, pair.client, 'down-leg-2');
      assert.ok(downMs >= 90 && downMs < 100 + TIMING_MARGIN_MS, `downstream leg ${downMs} ms`);
      await up.remove();
      await down.remove();
      const zero = await addToxic(pair.proxy, {
        type: 'latency',
        stream: 'upstream',
        attributes: { latency: 0, jitter: 0 },
      });
      const zeroMs = await oneWayMs(pair.client, pair.serverSide, 'zero');
      assert.ok(zeroMs < TIMING_MARGIN_MS, `zero latency ${zeroMs} ms`);
      await zero.remove();
    } finally {
      await pair.close();
    }
    // Both directions through an echo: the round trip is the sum of the legs.
    const proxy = await newProxy();
    try {
      await addToxic(proxy, { type: 'latency', stream: 'upstream', attributes: { latency: 100, jitter: 0 } });
      await addToxic(proxy, { type: 'latency', stream: 'downstream', attributes: { latency: 100, jitter: 0 } });
      const client = await connect(portOf(proxy));
      const rttMs = await echoRoundTripMs(client, 'ping');
      assert.ok(rttMs >= 180 && rttMs < 200 + TIMING_MARGIN_MS, `round trip ${rttMs} ms`);
      client.destroy();
    } finally {
      await proxy.remove();
    }
  });

  test('#36 two latency toxics on one stream add up', async () => {
    const pair = await openPair(async (proxy) => {
      await addToxic(proxy, {
        name: 'l1',
        type: 'latency',
        stream: 'upstream',
        attributes: { latency: 150, jitter: 0 },
      });
      await addToxic(proxy, {
        name: 'l2',
        type: 'latency',
        stream: 'upstream',
        attributes: { latency: 150, jitter: 0 },
      });
    });
    try {
      const ms = await oneWayMs(pair.client, pair.serverSide, 'twice');
      assert.ok(ms >= 280 && ms < 300 + TIMING_MARGIN_MS, `two toxics ${ms} ms`);
    } finally {
      await pair.close();
    }
  });

  test('#37 a 100 ms latency toxic does not cap throughput (delays overlap)', async () => {
    const floorMBps = Number(process.env.RAFTLAB_LATENCY_THROUGHPUT_FLOOR_MBPS ?? 20);
    const pair = await openPair((proxy) =>
      addToxic(proxy, { type: 'latency', stream: 'upstream', attributes: { latency: 100, jitter: 0 } }),
    );
    try {
      const totalBytes = 32 * 1024 * 1024;
      const atServer = collect(pair.serverSide);
      const block = Buffer.alloc(64 * 1024, 7);
      const start = performance.now();
      let firstAtMs = 0;
      pair.serverSide.once('data', () => (firstAtMs = performance.now()));
      for (let sent = 0; sent < totalBytes; sent += block.length) pair.client.write(block);
      await atServer.waitForBytes(totalBytes, 30_000);
      const afterFirstMs = performance.now() - firstAtMs;
      const mbps = totalBytes / 1e6 / (afterFirstMs / 1000);
      assert.ok(firstAtMs - start >= 90, 'the first byte waited for the latency');
      assert.ok(mbps > floorMBps, `${mbps.toFixed(0)} MB/s after the first delay (floor ${floorMBps})`);
    } finally {
      await pair.close();
    }
  });

  test('#38 bandwidth rate 1000 KB/s: 480 000 bytes take about 480 ms', async () => {
    const pair = await openPair((proxy) =>
      addToxic(proxy, { type: 'bandwidth', stream: 'upstream', attributes: { rate: 1000 } }),
    );
    try {
      const ms = await oneWayMs(pair.client, pair.serverSide, 'x'.repeat(480_000));
      assert.ok(ms >= 430 && ms < 480 + TIMING_MARGIN_MS, `480 kB took ${ms} ms`);
    } finally {
      await pair.close();
    }
  });

  test('#39 timeout 0 drops data; removing it closes both sides within 1 s', async () => {
    const pair = await openPair((proxy) =>
      addToxic(proxy, { type: 'timeout', stream: 'upstream', attributes: { timeout: 0 } }),
    );
    try {
      const atServer = collect(pair.serverSide);
      const atClient = collect(pair.client);
      pair.client.write('into the void');
      // A bounded observation window: had the toxic let data through, it would arrive well within it.
      await new Promise((resolve) => setTimeout(resolve, 150));
      assert.equal(atServer.data().length, 0);
      await (await pair.proxy.getToxic('timeout_upstream')).remove();
      await atServer.waitForEnd(1000 + TIMING_MARGIN_MS);
      await atClient.waitForEnd(1000 + TIMING_MARGIN_MS);
      assert.equal(atServer.data().length, 0);
    } finally {
      await pair.close();
    }
  });

  test('#40 removing a latency toxic in front of a timeout 0 toxic with data in flight does not hang', async () => {
    const pair = await openPair(async (proxy) => {
      await addToxic(proxy, {
        name: 'slow',
        type: 'latency',
        stream: 'upstream',
        attributes: { latency: 1000, jitter: 0 },
      });
      await addToxic(proxy, { name: 'hole', type: 'timeout', stream: 'upstream', attributes: { timeout: 0 } });
    });
    try {
      pair.client.write('in flight');
      const start = performance.now();
      await (await pair.proxy.getToxic('slow')).remove();
      assert.ok(performance.now() - start < 1000, 'the API call returned within 1 s');
    } finally {
      await pair.close();
    }
  });

  test('#41 toxicity 0 timeout passes data; updated to toxicity 1 / timeout 100 the link closes', async () => {
    const pair = await openPair((proxy) =>
      addToxic(proxy, {
        name: 'maybe',
        type: 'timeout',
        stream: 'upstream',
        toxicity: 0,
        attributes: { timeout: 100 },
      }),
    );
    try {
      const atServer = collect(pair.serverSide);
      pair.client.write('passes');
      assert.equal((await atServer.waitForBytes(6)).toString(), 'passes');
      const atClient = collect(pair.client);
      const start = performance.now();
      await (await pair.proxy.getToxic('maybe')).update({ toxicity: 1, attributes: { timeout: 100 } } as never);
      await atClient.waitForEnd(150 + TIMING_MARGIN_MS);
      assert.ok(performance.now() - start >= 90, 'closed after the timeout, not at once');
    } finally {
      await pair.close();
    }
  });

  test('#42 reset_peer: the client reads ECONNRESET, at once or after the timeout, both streams', async () => {
    for (const timeoutMs of [0, 100]) {
      const pair = await openPair((proxy) =>
        addToxic(proxy, { type: 'reset_peer', stream: 'upstream', attributes: { timeout: timeoutMs } }),
      );
      try {
        const atClient = collect(pair.client);
        const start = performance.now();
        pair.client.write('trigger');
        assert.equal(await atClient.waitForEnd(timeoutMs + TIMING_MARGIN_MS + 500), 'reset', `timeout ${timeoutMs}`);
        const ms = performance.now() - start;
        assert.ok(ms >= timeoutMs - 10 && ms < timeoutMs + TIMING_MARGIN_MS + 500, `reset after ${ms} ms`);
      } finally {
        await pair.close();
      }
    }
    const pair = await openPair((proxy) =>
      addToxic(proxy, { type: 'reset_peer', stream: 'downstream', attributes: { timeout: 100 } }),
    );
    try {
      const atClient = collect(pair.client);
      const start = performance.now();
      pair.serverSide.write('reply');
      assert.equal(await atClient.waitForEnd(100 + TIMING_MARGIN_MS + 500), 'reset');
      assert.ok(performance.now() - start >= 90, 'reset after the timeout');
      assert.equal(atClient.data().length, 0, 'the first downstream chunk is discarded');
    } finally {
      await pair.close();
    }
  });

  test('#43 limit_data 100: 50 passes, 150 is cut at 100, 90+20 gives 100, 0 gives nothing, live add counts after', async () => {
    const cases: { bytes: number; writes: number[]; expected: number; closes: boolean }[] = [
      { bytes: 100, writes: [50], expected: 50, closes: false },
      { bytes: 100, writes: [100], expected: 100, closes: true },
      { bytes: 100, writes: [150], expected: 100, closes: true },
      { bytes: 100, writes: [90, 20], expected: 100, closes: true },
      { bytes: 100, writes: [25, 25, 25, 25], expected: 100, closes: true },
      { bytes: 0, writes: [10], expected: 0, closes: true },
    ];
    for (const { bytes, writes, expected, closes } of cases) {
      const pair = await openPair((proxy) =>
        addToxic(proxy, { type: 'limit_data', stream: 'upstream', attributes: { bytes } }),
      );
      try {
        const atServer = collect(pair.serverSide);
        const atClient = collect(pair.client);
        let writtenBytes = 0;
        for (const [index, size] of writes.entries()) {
          pair.client.write(Buffer.alloc(size, 1));
          writtenBytes += size;
          // Each write reaches the proxy as its own chunk: wait for it to pass before the next one (not after the
          // last, which may close the link).
          if (index < writes.length - 1) await atServer.waitForBytes(Math.min(writtenBytes, bytes));
        }
        if (closes) {
          await atClient.waitForEnd(2000);
          // The upstream side sees its data and then the EOF; the client's EOF may be read before that data.
          await atServer.waitForEnd(2000);
          assert.equal(atServer.data().length, expected, `limit ${bytes} writes ${writes.join('+')}`);
        } else {
          await atServer.waitForBytes(expected);
          pair.serverSide.write('still open');
          assert.equal((await atClient.waitForBytes(10)).toString(), 'still open');
        }
      } finally {
        await pair.close();
      }
    }
    const live = await openPair();
    try {
      const atServer = collect(live.serverSide);
      live.client.write(Buffer.alloc(80, 2));
      await atServer.waitForBytes(80);
      await addToxic(live.proxy, { type: 'limit_data', stream: 'upstream', attributes: { bytes: 50 } });
      live.client.write(Buffer.alloc(60, 3));
      await collect(live.client).waitForEnd(2000);
      await atServer.waitForEnd(2000);
      assert.equal(atServer.data().length, 130, 'counting starts when the toxic is added');
    } finally {
      await live.close();
    }
  });

  test('#44 slicer cuts data into many pieces and keeps the bytes; size 1 variation 0 gives 1-byte pieces', async () => {
    // About 94 pieces 2 ms apart: well beyond the 0.5 ms within which the
    // server writes due pieces together (README), so they arrive as separate
    // reads unless the receiver stalls for many ms at a time. (With a 10 us
    // delay the whole payload is due within a few timer ticks, and 64 KiB
    // socket reads alone give about as many reads as there are ticks.)
    const pair = await openPair((proxy) =>
      addToxic(proxy, {
        type: 'slicer',
        stream: 'upstream',
        attributes: { average_size: 1024, size_variation: 512, delay: 2000 },
      }),
    );
    try {
      const atServer = collect(pair.serverSide);
      const payload = Buffer.alloc(96_000).map((_, i) => (i * 7) % 256);
      const startedAt = performance.now();
      pair.client.write(payload);
      assert.deepEqual(await atServer.waitForBytes(payload.length, 30_000), payload);
      // Pieces are at most 1,536 bytes, so at least 63 of them, each 2 ms after the one before: the payload cannot
      // arrive in less than 62 delays. (How many reads the receiver sees depends on how busy the machine is, so the
      // count of reads is no evidence; a slow machine only makes the elapsed time longer.)
      assert.ok(performance.now() - startedAt >= 62 * 2, 'the payload was cut into delayed pieces');
    } finally {
      await pair.close();
    }
    const tiny = await openPair((proxy) =>
      addToxic(proxy, {
        type: 'slicer',
        stream: 'upstream',
        attributes: { average_size: 1, size_variation: 0, delay: 3000 },
      }),
    );
    try {
      const atServer = collect(tiny.serverSide);
      const startedAt = performance.now();
      tiny.client.write('abcdefghijklmnopqrstuvwx');
      assert.equal((await atServer.waitForBytes(24)).toString(), 'abcdefghijklmnopqrstuvwx');
      // 24 one-byte pieces 3 ms apart: at least 23 delays before the last byte.
      assert.ok(performance.now() - startedAt >= 23 * 3, 'one byte per piece, each delayed');
    } finally {
      await tiny.close();
    }
  });

  test('#45 slow_close delays the EOF, not the data', async () => {
    const pair = await openPair((proxy) =>
      addToxic(proxy, { type: 'slow_close', stream: 'downstream', attributes: { delay: 300 } }),
    );
    try {
      const atClient = collect(pair.client);
      const start = performance.now();
      pair.serverSide.end('bye');
      await atClient.waitForBytes(3);
      assert.ok(performance.now() - start < 280, 'data is not held back with the EOF');
      await atClient.waitForEnd(300 + TIMING_MARGIN_MS);
      const ms = (atClient.endedAtMs ?? 0) - start;
      assert.ok(ms >= 280, `EOF after ${ms} ms`);
    } finally {
      await pair.close();
    }
  });

  test('#46 noop toxic churn on a live link loses nothing (embedded; real 2.12.0 dropped or held a message)', async (t) => {
    if (server.skipUnlessEmbedded(t, REAL_NOOP_CHURN)) return;
    const proxy = await newProxy();
    const client = await connect(portOf(proxy));
    try {
      const atClient = collect(client);
      for (let i = 0; i < 100; i++) {
        const toxic = await addToxic(proxy, { name: `noop${i}`, type: 'noop', attributes: {} });
        const message = `msg-${i};`;
        client.write(message);
        await toxic.remove();
        await atClient.waitForBytes(atClient.data().length + message.length);
      }
      const expected = Array.from({ length: 100 }, (_, i) => `msg-${i};`).join('');
      assert.equal(atClient.data().toString(), expected);
    } finally {
      client.destroy();
      await proxy.remove();
    }
  });

  test('#46 a live connection still echoes after each of two resets', { skip: RESETS_EVERY_PROXY }, async () => {
    const proxy = await newProxy();
    const client = await connect(portOf(proxy));
    try {
      const atClient = collect(client);
      await addToxic(proxy, { type: 'latency', attributes: { latency: 1, jitter: 0 } });
      for (let round = 0; round < 2; round++) {
        await tp.reset();
        const before = atClient.data().length;
        client.write('after-reset');
        assert.equal((await atClient.waitForBytes(before + 11)).subarray(before).toString(), 'after-reset');
      }
      assert.equal((await api(server.url, 'GET', `/proxies/${proxy.name}/toxics`)).text, '[]');
    } finally {
      client.destroy();
      await proxy.remove();
    }
  });

  test('#46 65 535 sequence numbers arrive complete and in order while a latency toxic churns', async () => {
    // Added and removed over and over on the live link (Go's TestNoDataDropped).
    const pair = await openPair();
    try {
      const atServer = collect(pair.serverSide);
      const count = 65_535;
      let next = 0;
      let churns = 0;
      while (next < count) {
        const batch = Buffer.alloc(4 * 512);
        for (let k = 0; k < 512 && next < count; k++, next++) batch.writeUInt32BE(next, k * 4);
        pair.client.write(next === count ? batch.subarray(0, (((count - 1) % 512) + 1) * 4) : batch);
        if (next % 8192 === 0 || next === count) {
          const toxic = await addToxic(pair.proxy, {
            name: `lat${churns++}`,
            type: 'latency',
            stream: 'upstream',
            attributes: { latency: 1000, jitter: 0 },
          });
          pair.client.write(Buffer.alloc(0));
          await toxic.remove();
        }
      }
      const data = await atServer.waitForBytes(count * 4, 20_000);
      for (let i = 0; i < count; i++) {
        if (data.readUInt32BE(i * 4) !== i) assert.fail(`sequence broken at ${i}: got ${data.readUInt32BE(i * 4)}`);
      }
      assert.ok(churns >= 8, `${churns} churns`);
    } finally {
      await pair.close();
    }
  });

  test('#47 stress: many add/connect/write/close/remove cycles leave no toxic behind', async () => {
    const proxy = await newProxy();
    try {
      for (let i = 0; i < 150; i++) {
        const toxic = await addToxic(proxy, { type: 'latency', attributes: { latency: 1, jitter: 0 } });
        const client = await connect(portOf(proxy));
        client.on('error', () => {});
        client.write('x');
        client.destroy();
        await toxic.remove();
      }
      assert.equal((await api(server.url, 'GET', `/proxies/${proxy.name}/toxics`)).text, '[]');
    } finally {
      await proxy.remove();
    }
  });

  /** A pair whose upstream link is stalled by two rate-0 bandwidth toxics, with 256 KiB written into it. */
  async function stalledPair() {
    const pair = await openPair(async (p) => {
      await addToxic(p, { name: 'b1', type: 'bandwidth', stream: 'upstream', attributes: { rate: 0 } });
      await addToxic(p, { name: 'b2', type: 'bandwidth', stream: 'upstream', attributes: { rate: 0 } });
    });
    const atServer = collect(pair.serverSide);
    pair.client.write(Buffer.alloc(256 * 1024, 9));
    return { ...pair, atServer };
  }

  test('#47 removing two stalled rate-0 bandwidth toxics while data is held returns', async () => {
    const pair = await stalledPair();
    try {
      await (await pair.proxy.getToxic('b1')).remove();
      await (await pair.proxy.getToxic('b2')).remove();
      assert.equal((await api(server.url, 'GET', `/proxies/${pair.proxy.name}/toxics`)).text, '[]');
    } finally {
      await pair.close();
    }
  });

  test('#47 then all 256 KiB the bandwidth toxics held arrive (embedded; real 2.12.0: only part within 5 s)', async (t) => {
    if (server.skipUnlessEmbedded(t, REAL_PARTIAL_RELEASE)) return;
    const pair = await stalledPair();
    try {
      await (await pair.proxy.getToxic('b1')).remove();
      await (await pair.proxy.getToxic('b2')).remove();
      assert.deepEqual(await pair.atServer.waitForBytes(256 * 1024), Buffer.alloc(256 * 1024, 9));
    } finally {
      await pair.close();
    }
  });

  // Where Go panics, the embedded server stays up. These inputs are never sent to another server: the real one
  // would crash, taking down every proxy on it (docs/toxiproxy-compat.md, "Where the real server differs").
  test('#48 negative bandwidth rate: the embedded server holds data until removal (real 2.12.0 panics)', async (t) => {
    if (server.skipUnlessEmbedded(t, REAL_SERVER_PANICS)) return;
    const pair = await openPair((p) =>
      addToxic(p, { name: 'neg', type: 'bandwidth', stream: 'upstream', attributes: { rate: -1 } }),
    );
    try {
      const atServer = collect(pair.serverSide);
      pair.client.write('held');
      // A bounded observation window: data let through would arrive well within it.
      await new Promise((resolve) => setTimeout(resolve, 150));
      assert.equal(atServer.data().length, 0, 'held while the toxic exists');
      await (await pair.proxy.getToxic('neg')).remove();
      assert.equal((await atServer.waitForBytes(4)).toString(), 'held');
      assert.equal((await api(server.url, 'GET', '/version')).status, 200);
    } finally {
      await pair.close();
    }
  });

  test('#48 slicer average_size 0 + size_variation 5: embedded passes data unsliced (real 2.12.0 panics)', async (t) => {
    if (server.skipUnlessEmbedded(t, REAL_SERVER_PANICS)) return;
    const pair = await openPair((p) =>
      addToxic(p, {
        name: 'deg',
        type: 'slicer',
        stream: 'downstream',
        attributes: { average_size: 0, size_variation: 5 },
      }),
    );
    try {
      const atClient = collect(pair.client);
      pair.serverSide.write('through the degenerate slicer');
      assert.equal((await atClient.waitForBytes(29)).toString(), 'through the degenerate slicer');
      assert.equal((await api(server.url, 'GET', '/version')).status, 200);
    } finally {
      await pair.close();
    }
  });
});

describe('Connection semantics', () => {
  test('a connection opened while a reset_peer toxic exists is reset when the proxy is disabled', async () => {
    const pair = await openPair((proxy) =>
      addToxic(proxy, { type: 'reset_peer', stream: 'upstream', toxicity: 0, attributes: { timeout: 0 } }),
    );
    try {
      const atClient = collect(pair.client);
      // A byte through the proxy first, so the connection is fully set up before the disable.
      pair.serverSide.write('!');
      await atClient.waitForBytes(1);
      await pair.proxy.update({ enabled: false, listen: pair.proxy.listen, upstream: pair.proxy.upstream });
      assert.equal(await atClient.waitForEnd(2000), 'reset');
    } finally {
      await pair.close();
    }
  });

  test('when one peer closes, data already in the proxy is delivered and then both sides close', async () => {
    const pair = await openPair((proxy) =>
      addToxic(proxy, { type: 'latency', stream: 'upstream', attributes: { latency: 100, jitter: 0 } }),
    );
    try {
      const atServer = collect(pair.serverSide);
      pair.client.end('last words');
      assert.equal((await atServer.waitForBytes(10)).toString(), 'last words');
      await atServer.waitForEnd(1000 + TIMING_MARGIN_MS);
    } finally {
      await pair.close();
    }
  });

  test('SIGTERM closes every proxied socket and the process exits 0', { skip: NEEDS_OWN_SERVER }, async () => {
    const own = await startServer(12);
    const upstream = await startUpstream();
    try {
      const proxy = await new Toxiproxy(own.url).createProxy({
        name: 'p',
        listen: '127.0.0.1:0',
        upstream: upstream.address,
      });
      const client = await connect(portOf(proxy));
      client.on('error', () => {});
      const atClient = collect(client);
      client.write('ping');
      await atClient.waitForBytes(4);
      const exited = new Promise<number | null>((resolve) => own.child.once('exit', (code) => resolve(code)));
      own.child.kill('SIGTERM');
      await atClient.waitForEnd(3000);
      assert.equal(await exited, 0);
    } finally {
      await own.stop();
      await upstream.close();
    }
  });
});
