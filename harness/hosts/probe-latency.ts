/**
 * What hosts mode adds per hop, measured (Linux, root):
 *
 *   npx tsx harness/hosts/probe-latency.ts [--round-trips 2000] [--seconds 10]
 *
 * 1. TCP round trips of 64 bytes through one hop, four ways: loopback; loopback through a Toxiproxy proxy (a peer
 *    hop in proxy mode); namespace to namespace over the bridge (a peer hop in hosts mode with kernel cuts only);
 *    namespace to namespace through a dnat to the link's proxy on the gateway (a peer hop in hosts mode with per-link
 *    proxies).
 * 2. Sequential PUTs (one client, one op in flight) to a 3-member raftlab cluster through its leader's client proxy,
 *    in proxy mode, in hosts mode with per-link peer proxies, and in hosts mode with direct peers.
 *
 * Prints percentiles in microseconds / milliseconds. Figures on a shared machine are noisy: the load average is
 * printed with them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Toxiproxy } from 'toxiproxy-node-client';
import { freePort } from '../../lib/ports.ts';
import { startChild, stopChild } from '../../lib/process.ts';
import { RaftlabSystem } from '../systems/raftlab.ts';
import { startToxiproxyProcess } from '../systems/toxiproxy-process.ts';
import { Hosts, hostsUnavailableReason } from './hosts.ts';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number): number => {
  const index = args.indexOf(`--${name}`);
  const value = index >= 0 ? Number(args[index + 1]) : fallback;
  if (!(value > 0)) throw new Error(`--${name} must be a positive number`);
  return value;
};
const roundTrips = flag('round-trips', 2000);
const seconds = flag('seconds', 10);

const ECHO = `const [host, port] = process.argv.slice(1);
require('node:net').createServer((s) => s.pipe(s)).listen(Number(port), host, () => console.log('listening'));`;
// N sequential round trips of 64 bytes on one connection; prints {p50, p95, p99} in microseconds.
const PING = `const [host, port, n] = process.argv.slice(1);
const s = require('node:net').connect(Number(port), host); s.setNoDelay(true);
const times = []; const msg = Buffer.alloc(64, 1); let got = 0; let t0;
const next = () => { got = 0; t0 = process.hrtime.bigint(); s.write(msg); };
s.on('connect', next);
s.on('data', (d) => { got += d.length; if (got < 64) return;
  times.push(Number(process.hrtime.bigint() - t0) / 1000);
  if (times.length < Number(n)) return next();
  times.sort((a, b) => a - b); const q = (p) => Math.round(times[Math.floor(p * (times.length - 1))]);
  console.log(JSON.stringify({ p50: q(0.5), p95: q(0.95), p99: q(0.99) })); process.exit(0); });`;

const load = (): string =>
  `load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;

async function ping(prefix: readonly string[], host: string, port: number): Promise<string> {
  const [command = process.execPath, ...rest] = [...prefix, process.execPath];
  const child = startChild({
    command,
    args: [...rest, '-e', PING, host, String(port), String(roundTrips)],
    name: 'ping',
    readyLine: (line) => (line.startsWith('{') ? line : undefined),
    readyTimeoutMs: 120_000,
  });
  return child.ready;
}

async function hops(): Promise<void> {
  const hosts = await Hosts.create({ members: ['n1', 'n2'] });
  const toxiproxy = await startToxiproxyProcess({ seed: 1 });
  const servers: ReturnType<typeof startChild<true>>[] = [];
  try {
    const loopPort = await freePort();
    const [ip = 'ip', ...prefix] = hosts.exec('n2');
    servers.push(
      startChild({
        command: ip,
        args: [...prefix, process.execPath, '-e', ECHO, hosts.address('n2'), '9000'],
        name: 'echo in n2',
        readyLine: (l) => (l === 'listening' ? true : undefined),
      }),
    );
    servers.push(
      startChild({
        command: process.execPath,
        args: ['-e', ECHO, '127.0.0.1', String(loopPort)],
        name: 'echo on loopback',
        readyLine: (l) => (l === 'listening' ? true : undefined),
      }),
    );
    await Promise.all(servers.map((s) => s.ready));
    const api = new Toxiproxy(toxiproxy.url);
    const loopProxy = await api.createProxy({ name: 'loop', listen: '127.0.0.1:0', upstream: `127.0.0.1:${loopPort}` });
    const linkProxy = await api.createProxy({
      name: 'n1->n2',
      listen: `${hosts.gateway}:0`,
      upstream: `${hosts.address('n2')}:9000`,
    });
    const port = (listen: string): number => Number(listen.slice(listen.lastIndexOf(':') + 1));
    console.log(`one hop, ${roundTrips} round trips of 64 bytes, microseconds (${load()}):`);
    console.log(`  loopback direct                      ${await ping([], '127.0.0.1', loopPort)}`);
    console.log(`  loopback through a proxy (proxy mode) ${await ping([], '127.0.0.1', port(loopProxy.listen))}`);
    console.log(`  namespace to namespace (hosts, kernel) ${await ping(hosts.exec('n1'), hosts.address('n2'), 9000)}`);
    await hosts.redirect('n1', 'n2', 9000, linkProxy.listen);
    console.log(`  namespace, dnat, proxy (hosts, proxy)  ${await ping(hosts.exec('n1'), hosts.address('n2'), 9000)}`);
  } finally {
    await Promise.all(servers.map((s) => stopChild(s.process)));
    await toxiproxy.stop();
    await hosts.teardown();
  }
}

async function puts(label: string, options: { net: 'proxy' | 'hosts'; peerProxies: boolean }): Promise<void> {
  const runDir = mkdtempSync(join(tmpdir(), 'raftlab-probe-'));
  const system = new RaftlabSystem({ nodes: 3, runDir, mode: 'proxied', proxySeed: 1, ...options });
  try {
    await system.start();
    const leader = await system.waitForLeader(30_000);
    const url = system.clientUrls()[leader] ?? '';
    const times: number[] = [];
    const end = performance.now() + seconds * 1000;
    for (let i = 0; performance.now() < end; i++) {
      const t0 = performance.now();
      const response = await fetch(`${url}/kv/probe`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ value: i }),
      });
      await response.text();
      if (response.ok) times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const q = (p: number): string => (times[Math.floor(p * (times.length - 1))] ?? Number.NaN).toFixed(2);
    console.log(`  ${label.padEnd(38)} ${times.length} ok puts, p50 ${q(0.5)} p95 ${q(0.95)} p99 ${q(0.99)} ms`);
  } finally {
    await system.stop();
    rmSync(runDir, { recursive: true, force: true });
  }
}

const reason = hostsUnavailableReason();
if (reason !== undefined) {
  console.error(`probe-latency: ${reason}`);
  process.exit(3);
}
await hops();
console.log(`sequential PUTs to a 3-member raftlab cluster for ${seconds} s each (${load()}):`);
await puts('proxy mode (peers through proxies)', { net: 'proxy', peerProxies: true });
await puts('hosts mode, peers through proxies', { net: 'hosts', peerProxies: true });
await puts('hosts mode, direct peers', { net: 'hosts', peerProxies: false });
console.log(`(${load()})`);
