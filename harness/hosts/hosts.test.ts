// Hosts mode against the real kernel: namespaces, kernel cuts, dnat through a proxy, leftovers of a killed run.
// Needs Linux and root (CI runs as root); skipped with the reason otherwise. Every wait is bounded; nothing here
// asserts on timing beyond "did not connect within N s".
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Toxiproxy } from 'toxiproxy-node-client';
import { startChild, stopChild, type StartedChild } from '../../lib/process.ts';
import { tsxImport } from '../../lib/repo.ts';
import { sleep } from '../../lib/time.ts';
import { startToxiproxyProcess } from '../systems/toxiproxy-process.ts';
import { cleanupLeftovers, Hosts, hostsUnavailableReason } from './hosts.ts';

const skip = hostsUnavailableReason();
const PORT = 9000;
/** How long a connection attempt may take before it counts as cut. */
const CONNECT_WAIT_MS = 2_000;

// Answers every connection with "from <the peer address it sees>", so a test can tell who really connected.
const SERVER = `const [host, port] = process.argv.slice(1);
require('node:net').createServer((s) => s.end('from ' + s.remoteAddress + '\\n'))
  .listen(Number(port), host, () => console.log('listening'));`;
// Connects, prints the first line it reads, exits 0; exits 2 when nothing arrives within the wait.
const CLIENT = `const [host, port, ms] = process.argv.slice(1);
const s = require('node:net').connect(Number(port), host); let got = '';
s.on('data', (d) => { got += d; }); s.on('end', () => { console.log(got.trim()); process.exit(0); });
s.on('error', () => process.exit(1)); setTimeout(() => process.exit(2), Number(ms));`;

function ours(runId: string): string[] {
  const text = ['ip netns list', 'ip -o link show', 'nft list tables']
    .map((command) => spawnSync('sh', ['-c', command], { encoding: 'utf8' }).stdout)
    .join('\n');
  return text.split('\n').filter((line) => line.includes(`rlab-${runId}`) || line.includes(`rlab_${runId}`));
}

function startServer(hosts: Hosts, id: string): StartedChild<true> {
  const [command = 'ip', ...prefix] = hosts.exec(id);
  return startChild({
    command,
    args: [...prefix, process.execPath, '-e', SERVER, hosts.address(id), String(PORT)],
    name: `server in ${id}`,
    readyLine: (line) => (line === 'listening' ? true : undefined),
    readyTimeoutMs: 10_000,
  });
}

/** What a client inside `from`'s namespace gets from `to`'s server: its line, or 'cut' when nothing came. */
function connect(hosts: Hosts, from: string, to: string): string {
  const args = [...hosts.exec(from), process.execPath, '-e', CLIENT, hosts.address(to), String(PORT)];
  const result = spawnSync(args[0] ?? 'ip', [...args.slice(1), String(CONNECT_WAIT_MS)], {
    encoding: 'utf8',
    timeout: CONNECT_WAIT_MS + 8_000,
  });
  return result.status === 0 ? result.stdout.trim() : 'cut';
}

describe('hosts mode', { skip }, () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  async function twoHosts(): Promise<Hosts> {
    const hosts = await Hosts.create({ members: ['n1', 'n2'] });
    const servers = [startServer(hosts, 'n1'), startServer(hosts, 'n2')];
    cleanups.push(async () => {
      await Promise.all(servers.map((s) => stopChild(s.process)));
      await hosts.teardown();
    });
    await Promise.all(servers.map((s) => s.ready));
    return hosts;
  }

  test('setup creates a namespace, veth and table per member; teardown leaves nothing', async () => {
    const hosts = await Hosts.create({ members: ['n1', 'n2', 'n3'] });
    try {
      const found = ours(hosts.runId).join('\n');
      for (const id of hosts.members) assert.match(found, new RegExp(`rlab-${hosts.runId}-${id}`));
      assert.match(found, new RegExp(`table ip rlab_${hosts.runId}`));
      assert.equal(new Set(hosts.members.map((id) => hosts.address(id))).size, 3);
      assert.ok(hosts.address('n1').startsWith(hosts.gateway.slice(0, hosts.gateway.lastIndexOf('.'))));
    } finally {
      await hosts.teardown();
    }
    assert.deepEqual(ours(hosts.runId), []);
  });

  test('a one-way cut stops connections from A to B only', async () => {
    const hosts = await twoHosts();
    assert.equal(connect(hosts, 'n1', 'n2'), `from ${hosts.address('n1')}`);
    await hosts.cut('n1', 'n2');
    assert.equal(connect(hosts, 'n1', 'n2'), 'cut');
    assert.equal(connect(hosts, 'n2', 'n1'), `from ${hosts.address('n2')}`);
    await hosts.heal('n1', 'n2');
    assert.equal(connect(hosts, 'n1', 'n2'), `from ${hosts.address('n1')}`);
  });

  test('a two-way cut isolates the pair; healing one link restores that direction only', async () => {
    const hosts = await twoHosts();
    await hosts.cut('n1', 'n2');
    await hosts.cut('n2', 'n1');
    assert.deepEqual(hosts.cuts, ['n1->n2', 'n2->n1']);
    assert.equal(connect(hosts, 'n1', 'n2'), 'cut');
    assert.equal(connect(hosts, 'n2', 'n1'), 'cut');
    await hosts.heal('n2', 'n1');
    assert.equal(connect(hosts, 'n2', 'n1'), `from ${hosts.address('n2')}`);
    assert.equal(connect(hosts, 'n1', 'n2'), 'cut');
  });

  test('dnat sends a member to its peer through the per-link proxy (with a latency toxic)', async () => {
    const hosts = await twoHosts();
    const server = await startToxiproxyProcess({ seed: 1 });
    cleanups.push(() => server.stop());
    const toxiproxy = new Toxiproxy(server.url);
    const proxy = await toxiproxy.createProxy({
      name: 'n1->n2',
      listen: `${hosts.gateway}:0`,
      upstream: `${hosts.address('n2')}:${PORT}`,
    });
    await proxy.addToxic({
      name: 'slow',
      type: 'latency',
      stream: 'downstream',
      toxicity: 1,
      attributes: { latency: 50, jitter: 0 },
    } as Parameters<typeof proxy.addToxic>[0]);
    await hosts.redirect('n1', 'n2', PORT, proxy.listen);
    // The server sees the proxy's address (the gateway), not n1's: the bytes went through the proxy.
    assert.equal(connect(hosts, 'n1', 'n2'), `from ${hosts.gateway}`);
    // A cut still applies to the redirected link (it matches the address n1 dialled, before the dnat).
    await hosts.cut('n1', 'n2');
    assert.equal(connect(hosts, 'n1', 'n2'), 'cut');
    await hosts.heal('n1', 'n2');
    await hosts.unredirect('n1', 'n2', PORT);
    assert.equal(connect(hosts, 'n1', 'n2'), `from ${hosts.address('n1')}`);
  });

  const script = fileURLToPath(new URL('./testdata/create-and-wait.ts', import.meta.url));
  /** Starts a process that creates a run's hosts and waits to be killed; resolves with its run id. */
  async function killedRun(withReaper: boolean): Promise<string> {
    const child = spawn(process.execPath, ['--import', tsxImport, script, withReaper ? 'reaper' : 'none'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const runId = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the script did not create its hosts within 30 s')), 30_000);
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (text: string) => {
        const match = /created (\w+)/.exec(text);
        if (match?.[1] !== undefined) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
      child.on('exit', () => reject(new Error('the script exited before creating its hosts')));
    });
    assert.notDeepEqual(ours(runId), []);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    return runId;
  }

  test('a run killed by SIGKILL without a reaper is cleaned up by the next start', async () => {
    const runId = await killedRun(false);
    assert.notDeepEqual(ours(runId), [], 'without a reaper the killed run leaves its namespaces behind');
    const next = await Hosts.create({ members: ['n1'] });
    await next.teardown();
    assert.deepEqual(ours(runId), []);
  });

  test("the reaper removes a run's namespaces when the harness is SIGKILLed", async () => {
    const runId = await killedRun(true);
    // The reaper notices the pipe's EOF and runs the teardown; bounded wait for it to finish.
    for (let waited = 0; ours(runId).length > 0 && waited < 15_000; waited += 200) await sleep(200);
    assert.deepEqual(ours(runId), []);
    assert.deepEqual(await cleanupLeftovers(), []);
  });
});
