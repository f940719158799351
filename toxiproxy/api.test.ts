// Conformance of the HTTP API with Toxiproxy 2.12.0: checklist items 1-32 of docs/toxiproxy-compat.md §11, plus bad
// input. The server runs as a child process, or is the external one of TOXIPROXY_URL (then every proxy a test makes
// has this run's name prefix and is deleted; tests that need a server of their own are skipped). The node client
// drives it, raw fetch checks what the client hides.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Toxiproxy, type Proxy } from 'toxiproxy-node-client';
import {
  NEEDS_OWN_SERVER,
  api,
  connect,
  freePort,
  isRefused,
  startServer,
  startUpstream,
  useServerUnderTest,
  type Upstream,
} from './testing.ts';

const server = useServerUnderTest('toxiproxy/api.test.ts', 7);
let tp: Toxiproxy;
let upstream: Upstream;
const uniqueName = (label: string): string => server.name(label);

before(async () => {
  await server.ready();
  tp = new Toxiproxy(server.url);
  upstream = await startUpstream();
});

after(async () => {
  await upstream?.close();
});

async function rejectsWithStatus(promise: Promise<unknown>, status: number): Promise<void> {
  await assert.rejects(promise, (error: Error) => {
    assert.equal(error.message, `Request failed with status code ${status}`);
    return true;
  });
}

async function newProxy(enabled = true): Promise<Proxy> {
  return tp.createProxy({ name: uniqueName('p'), listen: '127.0.0.1:0', upstream: upstream.address, enabled });
}

const portOf = (listen: string): number => Number(listen.slice(listen.lastIndexOf(':') + 1));

describe('API basics', () => {
  test('#1 version: getVersion returns {"version": "2.12.0"} with a trailing newline', async () => {
    const text = await tp.getVersion();
    assert.deepEqual(JSON.parse(text), { version: '2.12.0' });
    const raw = await api(server.url, 'GET', '/version');
    assert.equal(raw.text, '{"version": "2.12.0"}\n');
    assert.equal(raw.headers.get('content-type'), 'application/json;charset=utf-8');
  });

  test('#2 every matched route answers with an X-Toxiproxy-Request-Id header, unique per request', async () => {
    const a = await api(server.url, 'GET', '/proxies');
    const b = await api(server.url, 'GET', '/proxies/nope');
    assert.ok(a.headers.get('x-toxiproxy-request-id'), 'id on a 200');
    assert.ok(b.headers.get('x-toxiproxy-request-id'), 'id on a 404');
    assert.notEqual(a.headers.get('x-toxiproxy-request-id'), b.headers.get('x-toxiproxy-request-id'));
  });

  test('#3 a browser User-Agent gets 403, Wget and the client default do not', async () => {
    const browser = await api(server.url, 'GET', '/proxies', undefined, { 'User-Agent': 'Mozilla/5.0 (X11)' });
    assert.equal(browser.status, 403);
    assert.equal(browser.text, 'User agent not allowed\n');
    const wget = await api(server.url, 'GET', '/proxies', undefined, { 'User-Agent': 'Wget/2.1' });
    assert.equal(wget.status, 200);
  });

  test('#4 unknown path 404, wrong method 405, error bodies are {"error","status"} text/plain', async () => {
    const unknown = await api(server.url, 'GET', '/nothing-here');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.text, '404 page not found\n');
    const trailing = await api(server.url, 'GET', '/proxies/');
    assert.equal(trailing.status, 404);
    const wrongMethod = await api(server.url, 'PUT', '/proxies');
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.text, '');
    const missing = await api(server.url, 'GET', '/proxies/does-not-exist');
    assert.equal(missing.status, 404);
    assert.equal(missing.text, '{"error":"proxy not found","status":404}\n');
    assert.equal(missing.headers.get('content-type'), 'text/plain; charset=utf-8');
  });
});

describe('The embedded server', () => {
  test('marks every answer with X-Raftlab-Embedded: 1, matched route or not', async (t) => {
    if (server.skipUnlessEmbedded(t, "only raftlab's embedded server sends X-Raftlab-Embedded")) return;
    for (const path of ['/version', '/proxies', '/nothing-here']) {
      assert.equal((await api(server.url, 'GET', path)).headers.get('x-raftlab-embedded'), '1', path);
    }
  });
});

describe('Proxies', () => {
  test('#5 a fresh server lists no proxies', { skip: NEEDS_OWN_SERVER }, async () => {
    const fresh = await startServer(8);
    try {
      assert.deepEqual(await new Toxiproxy(fresh.url).getAll(), {});
      assert.equal((await api(fresh.url, 'GET', '/proxies')).text, '{}');
    } finally {
      await fresh.stop();
    }
  });

  test('#6 an empty name is 400 missing required field: name', async () => {
    await rejectsWithStatus(tp.createProxy({ name: '', listen: '127.0.0.1:0', upstream: upstream.address }), 400);
    const raw = await api(server.url, 'POST', '/proxies', { name: '', upstream: '' });
    assert.deepEqual(raw.json, { error: 'missing required field: name', status: 400 });
  });

  test('#7 a name without upstream is 400 missing required field: upstream', async () => {
    const raw = await api(server.url, 'POST', '/proxies', { name: uniqueName('x'), listen: '127.0.0.1:0' });
    assert.equal(raw.status, 400);
    assert.deepEqual(raw.json, { error: 'missing required field: upstream', status: 400 });
  });

  test('#8 create with localhost:P resolves listen to 127.0.0.1:P; get and getAll agree', async () => {
    const port = await freePort();
    const name = uniqueName('create');
    const raw = await api(server.url, 'POST', '/proxies', {
      name,
      listen: `localhost:${port}`,
      upstream: 'example.invalid:1',
    });
    assert.equal(raw.status, 201);
    assert.deepEqual(raw.json, {
      name,
      listen: `127.0.0.1:${port}`,
      upstream: 'example.invalid:1',
      enabled: true,
      Logger: {},
      toxics: [],
    });
    const got = await tp.get(name);
    assert.equal(got.listen, `127.0.0.1:${port}`);
    assert.equal(got.upstream, 'example.invalid:1');
    assert.equal((await tp.getAll())[name]?.listen, `127.0.0.1:${port}`);
    await got.remove();
  });

  test('#9 listen localhost:0 reports a concrete port that accepts connections', async () => {
    const proxy = await tp.createProxy({ name: uniqueName('zero'), listen: 'localhost:0', upstream: upstream.address });
    const port = portOf(proxy.listen);
    assert.ok(port > 0, `port ${port}`);
    assert.equal(await isRefused(port), false);
    await proxy.remove();
  });

  test('#10 created disabled: listen echoed unresolved, refused; enabling listens, disabling stops', async () => {
    const port = await freePort();
    const proxy = await tp.createProxy({
      name: uniqueName('dis'),
      listen: `localhost:${port}`,
      upstream: upstream.address,
      enabled: false,
    });
    assert.equal(proxy.enabled, false);
    assert.equal(proxy.listen, `localhost:${port}`);
    assert.equal(await isRefused(port), true);
    const enabled = await proxy.update({ enabled: true } as never);
    assert.equal(enabled.enabled, true);
    assert.equal(enabled.listen, `127.0.0.1:${port}`);
    assert.equal(await isRefused(port), false);
    const disabled = await enabled.update({ enabled: false } as never);
    assert.equal(disabled.enabled, false);
    assert.equal(await isRefused(port), true);
    await disabled.remove();
  });

  test('#11 a duplicate name is 409; after remove the name can be created again', async () => {
    const proxy = await newProxy();
    await rejectsWithStatus(
      tp.createProxy({ name: proxy.name, listen: '127.0.0.1:0', upstream: upstream.address }),
      409,
    );
    const raw = await api(server.url, 'POST', '/proxies', { name: proxy.name, listen: '127.0.0.1:0', upstream: 'x:1' });
    assert.deepEqual(raw.json, { error: 'proxy already exists', status: 409 });
    await proxy.remove();
    const again = await tp.createProxy({ name: proxy.name, listen: '127.0.0.1:0', upstream: upstream.address });
    await again.remove();
  });

  test('#12 a listen port in use is 500 with the Go bind text, not added, and works once freed', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    const name = uniqueName('busy');
    const raw = await api(server.url, 'POST', '/proxies', {
      name,
      listen: `127.0.0.1:${port}`,
      upstream: upstream.address,
    });
    assert.equal(raw.status, 500);
    assert.deepEqual(raw.json, { error: `listen tcp 127.0.0.1:${port}: bind: address already in use`, status: 500 });
    assert.equal((await tp.getAll())[name], undefined);
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    const proxy = await tp.createProxy({ name, listen: `127.0.0.1:${port}`, upstream: upstream.address });
    assert.equal(proxy.listen, `127.0.0.1:${port}`);
    await proxy.remove();
  });

  test('#13 remove: 204, port refused, gone from list; a second remove is 404 proxy not found', async () => {
    const proxy = await newProxy();
    const port = portOf(proxy.listen);
    const raw = await api(server.url, 'DELETE', `/proxies/${proxy.name}`);
    assert.equal(raw.status, 204);
    assert.equal(await isRefused(port), true);
    assert.equal((await tp.getAll())[proxy.name], undefined);
    await rejectsWithStatus(proxy.remove(), 404);
    const again = await api(server.url, 'DELETE', `/proxies/${proxy.name}`);
    assert.deepEqual(again.json, { error: 'proxy not found', status: 404 });
  });

  test('#14 update disables then re-enables with a new upstream; POST and PATCH both work', async () => {
    const proxy = await newProxy();
    const off = await proxy.update({ enabled: false, listen: proxy.listen, upstream: proxy.upstream });
    assert.equal(off.enabled, false);
    const on = await off.update({ enabled: true, listen: proxy.listen, upstream: 'somehost:12345' });
    assert.equal(on.enabled, true);
    assert.equal(on.upstream, 'somehost:12345');
    const patched = await api(server.url, 'PATCH', `/proxies/${proxy.name}`, { upstream: upstream.address });
    assert.equal(patched.status, 200);
    assert.equal((patched.json as { upstream: string }).upstream, upstream.address);
    await proxy.remove();
  });

  test('#15 listen localhost:0 moves to a new port; the same address (also as hostname) keeps connections', async () => {
    const proxy = await newProxy();
    const oldPort = portOf(proxy.listen);
    const moved = await proxy.update({ listen: 'localhost:0', upstream: proxy.upstream, enabled: true });
    const newPort = portOf(moved.listen);
    assert.notEqual(newPort, oldPort);
    assert.equal(await isRefused(oldPort), true);
    const accepted = upstream.nextConnection();
    const client = await connect(newPort);
    try {
      await accepted;
      const closed = new Promise<boolean>((resolve) => client.once('close', () => resolve(true)));
      const same = await moved.update({ listen: moved.listen, upstream: moved.upstream, enabled: true });
      assert.equal(same.listen, moved.listen);
      const hostForm = await moved.update({ listen: `localhost:${newPort}`, upstream: moved.upstream, enabled: true });
      assert.equal(hostForm.listen, `127.0.0.1:${newPort}`);
      // The connection still echoes, so neither update restarted the proxy.
      client.write('still-here');
      const echoed = await new Promise<string>((resolve) => client.once('data', (d: Buffer) => resolve(d.toString())));
      assert.equal(echoed, 'still-here');
      assert.equal(await Promise.race([closed, Promise.resolve(false)]), false);
    } finally {
      client.destroy();
      await proxy.remove();
    }
  });

  test('#16 disabling closes live client and server sockets, keeps toxics, re-enables on the same port', async () => {
    const proxy = await newProxy();
    await proxy.addToxic({ type: 'latency', attributes: { latency: 1, jitter: 0 } } as never);
    const accepted = upstream.nextConnection();
    const client = await connect(portOf(proxy.listen));
    const serverSide = await accepted;
    const clientClosed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const serverClosed = new Promise<void>((resolve) => serverSide.once('close', () => resolve()));
    client.on('error', () => {});
    await proxy.update({ enabled: false, listen: proxy.listen, upstream: proxy.upstream });
    await Promise.all([clientClosed, serverClosed]);
    assert.equal(await isRefused(portOf(proxy.listen)), true);
    const toxics = await api(server.url, 'GET', `/proxies/${proxy.name}/toxics`);
    assert.equal((toxics.json as unknown[]).length, 1);
    const back = await proxy.update({ enabled: true, listen: proxy.listen, upstream: proxy.upstream });
    assert.equal(back.listen, proxy.listen);
    assert.equal(await isRefused(portOf(proxy.listen)), false);
    await proxy.remove();
  });
});

describe('Populate and reset', () => {
  test('#17 populate two proxies: 201, in order, resolved listens, both accept', async () => {
    const [a, b] = [uniqueName('popA'), uniqueName('popB')];
    const raw = await api(server.url, 'POST', '/populate', [
      { name: a, listen: 'localhost:0', upstream: upstream.address },
      { name: b, listen: '127.0.0.1:0', upstream: upstream.address },
    ]);
    assert.equal(raw.status, 201);
    const proxies = (raw.json as { proxies: { name: string; listen: string }[] }).proxies;
    assert.deepEqual(
      proxies.map((p) => p.name),
      [a, b],
    );
    for (const p of proxies) {
      assert.match(p.listen, /^127\.0\.0\.1:\d+$/);
      assert.equal(await isRefused(portOf(p.listen)), false);
    }
    const viaClient = await tp.populate([
      { name: uniqueName('popC'), listen: '127.0.0.1:0', upstream: upstream.address } as never,
    ]);
    assert.equal(Object.keys(viaClient).length, 1);
    for (const name of [a, b, ...Object.keys(viaClient)]) await (await tp.get(name)).remove();
  });

  test('#18 a populate entry without enabled is enabled and listening', async () => {
    const name = uniqueName('popDefault');
    const raw = await api(server.url, 'POST', '/populate', [
      { name, listen: '127.0.0.1:0', upstream: upstream.address },
    ]);
    const [proxy] = (raw.json as { proxies: { enabled: boolean; listen: string }[] }).proxies;
    assert.equal(proxy?.enabled, true);
    assert.equal(await isRefused(portOf(proxy?.listen ?? '')), false);
    await (await tp.get(name)).remove();
  });

  test('#19 a populate entry with enabled:false exists but does not listen; the others do', async () => {
    const port = await freePort();
    const [off, on] = [uniqueName('popOff'), uniqueName('popOn')];
    const raw = await api(server.url, 'POST', '/populate', [
      { name: off, listen: `127.0.0.1:${port}`, upstream: upstream.address, enabled: false },
      { name: on, listen: '127.0.0.1:0', upstream: upstream.address },
    ]);
    assert.equal(raw.status, 201);
    assert.equal((await tp.get(off)).enabled, false);
    assert.equal(await isRefused(port), true);
    assert.equal(await isRefused(portOf((await tp.get(on)).listen)), false);
    await (await tp.get(off)).remove();
    await (await tp.get(on)).remove();
  });

  test('#20 populate keeps an identical proxy with its toxics, replaces a changed one', async () => {
    const proxy = await newProxy();
    await proxy.addToxic({ type: 'latency', attributes: { latency: 5, jitter: 0 } } as never);
    const same = await api(server.url, 'POST', '/populate', [
      { name: proxy.name, listen: proxy.listen, upstream: proxy.upstream },
    ]);
    const kept = (same.json as { proxies: { toxics: unknown[] }[] }).proxies[0];
    assert.equal(kept?.toxics.length, 1);
    const port = await freePort();
    const changed = await api(server.url, 'POST', '/populate', [
      { name: proxy.name, listen: `127.0.0.1:${port}`, upstream: proxy.upstream },
    ]);
    const replaced = (changed.json as { proxies: { listen: string; toxics: unknown[] }[] }).proxies[0];
    assert.equal(replaced?.listen, `127.0.0.1:${port}`);
    assert.deepEqual(replaced?.toxics, []);
    await (await tp.get(proxy.name)).remove();
  });

  test('#21 populate with an unnamed 2nd entry is 400 "... at proxy 2" and creates nothing', async () => {
    const first = uniqueName('popBad');
    const raw = await api(server.url, 'POST', '/populate', [
      { name: first, listen: '127.0.0.1:0', upstream: upstream.address },
      { name: '', listen: '127.0.0.1:0', upstream: upstream.address },
    ]);
    assert.equal(raw.status, 400);
    assert.deepEqual(raw.json, { error: 'missing required field: name at proxy 2', status: 400, proxies: null });
    assert.equal((await tp.getAll())[first], undefined);
  });

  test('#22 a bad listen in entry 2 of 3: error, entry 1 exists and listens, 2 and 3 do not exist', async () => {
    const [one, two, three] = [uniqueName('pl1'), uniqueName('pl2'), uniqueName('pl3')];
    const raw = await api(server.url, 'POST', '/populate', [
      { name: one, listen: '127.0.0.1:0', upstream: upstream.address },
      { name: two, listen: 'local373', upstream: upstream.address },
      { name: three, listen: '127.0.0.1:0', upstream: upstream.address },
    ]);
    assert.equal(raw.status, 500);
    const body = raw.json as { error: string; proxies: { name: string }[] };
    assert.equal(body.error, 'listen tcp: address local373: missing port in address');
    assert.deepEqual(
      body.proxies.map((p) => p.name),
      [one],
    );
    const all = await tp.getAll();
    assert.ok(all[one], 'entry 1 exists');
    assert.equal(all[two], undefined);
    assert.equal(all[three], undefined);
    assert.equal(await isRefused(portOf(all[one]?.listen ?? '')), false);
    await all[one]?.remove();
  });

  test('#23 populated proxies accept toxics; fixed ports are reported exactly as given', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const [a, b] = [uniqueName('fixA'), uniqueName('fixB')];
    const proxies = await tp.populate([
      { name: a, listen: `127.0.0.1:${p1}`, upstream: upstream.address },
      { name: b, listen: `127.0.0.1:${p2}`, upstream: 'localhost:6379' },
    ] as never);
    const toxic = await proxies[a]?.addToxic({ type: 'latency', attributes: { latency: 3, jitter: 0 } } as never);
    assert.equal(toxic?.name, 'latency_downstream');
    const all = await tp.getAll();
    assert.equal(all[a]?.listen, `127.0.0.1:${p1}`);
    assert.equal(all[b]?.listen, `127.0.0.1:${p2}`);
    assert.equal(all[b]?.upstream, 'localhost:6379');
    await all[a]?.remove();
    await all[b]?.remove();
  });

  test('#24 reset: 204, proxies kept, disabled ones listen again, every toxic list empty', {
    skip: NEEDS_OWN_SERVER,
  }, async () => {
    const isolated = await startServer(9);
    try {
      const local = new Toxiproxy(isolated.url);
      const a = await local.createProxy({ name: 'a', listen: '127.0.0.1:0', upstream: upstream.address });
      await a.addToxic({ type: 'latency', stream: 'upstream', attributes: { latency: 10, jitter: 0 } } as never);
      const b = await local.createProxy({ name: 'b', listen: '127.0.0.1:0', upstream: upstream.address });
      const bOff = await b.update({ enabled: false, listen: b.listen, upstream: b.upstream });
      const raw = await api(isolated.url, 'POST', '/reset');
      assert.equal(raw.status, 204);
      await local.reset();
      const all = await local.getAll();
      assert.deepEqual(Object.keys(all).sort(), ['a', 'b']);
      assert.equal(all.b?.enabled, true);
      assert.equal(await isRefused(portOf(bOff.listen)), false);
      for (const name of ['a', 'b'])
        assert.deepEqual((await api(isolated.url, 'GET', `/proxies/${name}/toxics`)).json, []);
    } finally {
      await isolated.stop();
    }
  });
});

describe('Toxic API', () => {
  test('#25 addToxic latency with defaults: name latency_downstream, stream downstream, toxicity 1', async () => {
    const proxy = await newProxy();
    const toxic = await proxy.addToxic({ type: 'latency', attributes: { latency: 1000, jitter: 100 } } as never);
    assert.deepEqual(toxic.toJson(), {
      name: 'latency_downstream',
      type: 'latency',
      stream: 'downstream',
      toxicity: 1,
      attributes: { latency: 1000, jitter: 100 },
    });
    const got = await proxy.getToxic('latency_downstream');
    assert.deepEqual(got.toJson(), toxic.toJson());
    await proxy.remove();
  });

  test('#26 every type is accepted and echoes all its attributes, omitted ones as 0', async () => {
    const proxy = await newProxy();
    const cases: [string, Record<string, number>, Record<string, number>][] = [
      ['latency', { latency: 5 }, { latency: 5, jitter: 0 }],
      ['bandwidth', { rate: 100 }, { rate: 100 }],
      ['slow_close', { delay: 10 }, { delay: 10 }],
      ['timeout', { timeout: 50 }, { timeout: 50 }],
      ['slicer', { average_size: 64, delay: 5 }, { average_size: 64, size_variation: 0, delay: 5 }],
      ['reset_peer', { timeout: 10 }, { timeout: 10 }],
      ['limit_data', { bytes: 100 }, { bytes: 100 }],
      ['noop', {}, {}],
    ];
    for (const [type, attributes, expected] of cases) {
      const raw = await api(server.url, 'POST', `/proxies/${proxy.name}/toxics`, {
        name: `t_${type}`,
        type,
        attributes,
      });
      assert.equal(raw.status, 200, `${type}: ${raw.text}`);
      assert.deepEqual((raw.json as { attributes: unknown }).attributes, expected, type);
      assert.equal((raw.json as { stream: string }).stream, 'downstream');
    }
    const listed = await api(server.url, 'GET', `/proxies/${proxy.name}/toxics`);
    assert.equal((listed.json as unknown[]).length, cases.length);
    await proxy.remove();
  });

  test('#27 unknown type (also "down") is 400 invalid toxic type; a bad stream is 400', async () => {
    const proxy = await newProxy();
    await rejectsWithStatus(proxy.addToxic({ type: 'down', attributes: {} } as never), 400);
    const down = await api(server.url, 'POST', `/proxies/${proxy.name}/toxics`, { type: 'walrus' });
    assert.deepEqual(down.json, { error: 'invalid toxic type', status: 400 });
    const stream = await api(server.url, 'POST', `/proxies/${proxy.name}/toxics`, {
      type: 'latency',
      stream: 'walrustream',
    });
    assert.deepEqual(stream.json, { error: 'stream was invalid, can be either upstream or downstream', status: 400 });
    const upper = await api(server.url, 'POST', `/proxies/${proxy.name}/toxics`, {
      type: 'latency',
      stream: 'UPSTREAM',
    });
    assert.equal((upper.json as { stream: string; name: string }).stream, 'UPSTREAM');
    assert.equal((upper.json as { stream: string; name: string }).name, 'latency_UPSTREAM');
    await proxy.remove();
  });

  test('#28 a taken toxic name is 409 whatever the type or stream; the original is unchanged', async () => {
    const proxy = await newProxy();
    await proxy.addToxic({
      name: 'shared',
      type: 'latency',
      stream: 'downstream',
      attributes: { latency: 7, jitter: 0 },
    } as never);
    await rejectsWithStatus(
      proxy.addToxic({ name: 'shared', type: 'bandwidth', stream: 'upstream', attributes: { rate: 1 } } as never),
      409,
    );
    const raw = await api(server.url, 'POST', `/proxies/${proxy.name}/toxics`, { name: 'shared', type: 'latency' });
    assert.deepEqual(raw.json, { error: 'toxic already exists', status: 409 });
    const original = await proxy.getToxic<{ latency: number }>('shared');
    assert.equal(original.type, 'latency');
    assert.equal(original.attributes.latency, 7);
    await proxy.remove();
  });

  test('#29 the same type on both streams gets latency_upstream and latency_downstream', async () => {
    const proxy = await newProxy();
    await proxy.addToxic({ type: 'latency', stream: 'upstream', attributes: { latency: 1, jitter: 0 } } as never);
    await proxy.addToxic({ type: 'latency', stream: 'downstream', attributes: { latency: 1, jitter: 0 } } as never);
    const listed = (await api(server.url, 'GET', `/proxies/${proxy.name}/toxics`)).json as { name: string }[];
    assert.deepEqual(
      listed.map((t) => t.name),
      ['latency_upstream', 'latency_downstream'],
    );
    await proxy.remove();
  });

  test('#30 an explicit toxicity 0.2 is stored and returned (and 0 is kept)', async () => {
    const proxy = await newProxy();
    const toxic = await proxy.addToxic({ name: 'tox', type: 'noop', toxicity: 0.2, attributes: {} } as never);
    assert.equal(toxic.toxicity, 0.2);
    assert.equal((await proxy.getToxic('tox')).toxicity, 0.2);
    const zero = await api(server.url, 'POST', `/proxies/${proxy.name}/toxics`, {
      name: 'zero',
      type: 'noop',
      toxicity: 0,
    });
    assert.equal((zero.json as { toxicity: number }).toxicity, 0);
    await proxy.remove();
  });

  test('#31 update merges attributes, replaces toxicity only when sent; POST and PATCH', async () => {
    const proxy = await newProxy();
    const toxic = await proxy.addToxic<{ latency: number; jitter: number }>({
      type: 'latency',
      attributes: { latency: 10, jitter: 100 },
    } as never);
    const updated = await toxic.update({ attributes: { latency: 1000 }, toxicity: 0.5 } as never);
    assert.equal(updated.toxicity, 0.5);
    assert.deepEqual(updated.attributes, { latency: 1000, jitter: 100 });
    const again = await updated.update({ attributes: { jitter: 3 } } as never);
    assert.equal(again.toxicity, 0.5);
    assert.deepEqual(again.attributes, { latency: 1000, jitter: 3 });
    const patched = await api(server.url, 'PATCH', `/proxies/${proxy.name}/toxics/${toxic.name}`, {
      attributes: { latency: 4 },
    });
    assert.equal(patched.status, 200);
    assert.deepEqual((patched.json as { attributes: unknown }).attributes, { latency: 4, jitter: 3 });
    await proxy.remove();
  });

  test('#32 removing a toxic: 204, then 404 toxic not found and an empty list', async () => {
    const proxy = await newProxy();
    const toxic = await proxy.addToxic({ type: 'latency', attributes: { latency: 1, jitter: 0 } } as never);
    const raw = await api(server.url, 'DELETE', `/proxies/${proxy.name}/toxics/${toxic.name}`);
    assert.equal(raw.status, 204);
    await rejectsWithStatus(proxy.getToxic(toxic.name), 404);
    const missing = await api(server.url, 'GET', `/proxies/${proxy.name}/toxics/${toxic.name}`);
    assert.deepEqual(missing.json, { error: 'toxic not found', status: 404 });
    assert.deepEqual((await api(server.url, 'GET', `/proxies/${proxy.name}/toxics`)).json, []);
    await proxy.remove();
  });
});

describe('Start-up configuration', () => {
  test('--config creates the proxies of a populate file; a broken file is logged and the server still starts', {
    skip: NEEDS_OWN_SERVER,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raftlab-toxiproxy-'));
    try {
      const port = await freePort();
      const good = join(dir, 'good.json');
      writeFileSync(
        good,
        JSON.stringify([{ name: 'from-config', listen: `127.0.0.1:${port}`, upstream: upstream.address }]),
      );
      const configured = await startServer(21, ['--config', good]);
      try {
        const proxy = (await new Toxiproxy(configured.url).getAll())['from-config'];
        assert.equal(proxy?.listen, `127.0.0.1:${port}`);
        assert.equal(await isRefused(port), false);
      } finally {
        await configured.stop();
      }
      const broken = join(dir, 'broken.json');
      writeFileSync(broken, '[{"name": ');
      const survivor = await startServer(22, ['--config', broken]);
      try {
        assert.deepEqual(await new Toxiproxy(survivor.url).getAll(), {});
      } finally {
        await survivor.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Bad input keeps the server serving', () => {
  test('malformed JSON, empty body and wrong types are 400 bad request body', async () => {
    const malformed = await api(server.url, 'POST', '/proxies', '{"name": ');
    assert.equal(malformed.status, 400);
    assert.match((malformed.json as { error: string }).error, /^bad request body: /);
    const empty = await api(server.url, 'POST', '/proxies', '');
    assert.deepEqual(empty.json, { error: 'bad request body: EOF', status: 400 });
    const wrongType = await api(server.url, 'POST', '/proxies', { name: 'w', upstream: 'x:1', enabled: 'yes' });
    assert.equal(wrongType.status, 400);
    assert.match((wrongType.json as { error: string }).error, /^bad request body: json: cannot unmarshal string/);
    const proxy = await newProxy();
    const fractional = await api(server.url, 'POST', `/proxies/${proxy.name}/toxics`, {
      type: 'latency',
      attributes: { latency: 1.5 },
    });
    assert.equal(fractional.status, 400);
    const notObject = await api(server.url, 'POST', `/proxies/${proxy.name}/toxics`, '[1,2]');
    assert.equal(notObject.status, 400);
    const badPopulate = await api(server.url, 'POST', '/populate', '{"not":"an array"}');
    assert.equal(badPopulate.status, 400);
    assert.equal((badPopulate.json as { proxies: unknown }).proxies, null);
    assert.equal((await api(server.url, 'GET', '/version')).status, 200);
    await proxy.remove();
  });

  test('Go decoding rules: case-insensitive keys, unknown keys ignored, trailing bytes ignored, null keeps default', async () => {
    const name = uniqueName('Case');
    const raw = await api(
      server.url,
      'POST',
      '/proxies',
      `{"Name":"${name}","UPSTREAM":"${upstream.address}","listen":"127.0.0.1:0","extra":1,"enabled":null} trailing`,
    );
    assert.equal(raw.status, 201, raw.text);
    assert.equal((raw.json as { enabled: boolean }).enabled, true);
    await (await tp.get(name)).remove();
  });

  test('bad listen addresses are 500 with Go texts, and the proxy is not added', async () => {
    const [badPort, noPort] = [uniqueName('badport'), uniqueName('noport')];
    const invalidPort = await api(server.url, 'POST', '/proxies', {
      name: badPort,
      listen: '127.0.0.1:99999',
      upstream: 'x:1',
    });
    assert.deepEqual(invalidPort.json, { error: 'listen tcp: address 99999: invalid port', status: 500 });
    const missingPort = await api(server.url, 'POST', '/proxies', {
      name: noPort,
      listen: 'local373',
      upstream: 'x:1',
    });
    assert.deepEqual(missingPort.json, { error: 'listen tcp: address local373: missing port in address', status: 500 });
    const all = await tp.getAll();
    assert.equal(all[badPort], undefined);
    assert.equal(all[noPort], undefined);
  });

  test('percent-encoded names address proxies; a request body too large is refused', async () => {
    const name = uniqueName('a b->c');
    await tp.createProxy({ name, listen: '127.0.0.1:0', upstream: upstream.address });
    const got = await api(server.url, 'GET', `/proxies/${encodeURIComponent(name)}`);
    assert.equal((got.json as { name: string }).name, name);
    const big = await api(server.url, 'POST', '/proxies', `{"name":"${'x'.repeat(2 << 20)}"}`);
    assert.equal(big.status, 400);
    assert.equal((await api(server.url, 'DELETE', `/proxies/${encodeURIComponent(name)}`)).status, 204);
  });

  test('negative bandwidth and a degenerate slicer are accepted by both servers (#48 API side)', async () => {
    // Both servers take these with 200 (no validation in the API). Sending data through them is where they part:
    // see dataplane.test.ts #48. No connection is ever opened to this proxy, so the real server does not panic.
    const proxy = await newProxy();
    const negative = await api(server.url, 'POST', `/proxies/${proxy.name}/toxics`, {
      type: 'bandwidth',
      attributes: { rate: -1 },
    });
    assert.equal(negative.status, 200);
    const slicer = await api(server.url, 'POST', `/proxies/${proxy.name}/toxics`, {
      type: 'slicer',
      attributes: { average_size: 0, size_variation: 10 },
    });
    assert.equal(slicer.status, 200);
    const oddToxicity = await api(server.url, 'POST', `/proxies/${proxy.name}/toxics`, {
      name: 'odd',
      type: 'noop',
      toxicity: 2.5,
    });
    assert.equal((oddToxicity.json as { toxicity: number }).toxicity, 2.5);
    await proxy.remove();
  });
});
