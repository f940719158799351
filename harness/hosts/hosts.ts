/**
 * Hosts: every member of a run in a Linux network namespace of its own, on a private subnet the run creates and
 * removes, so the network between members can be faulted in the kernel without the system's cooperation.
 *
 * Topology of one run (run id R, 6 hex digits; subnet 10.213.K.0/24 with K claimed for this run only):
 *
 *   root namespace: bridge `rlab-R` with 10.213.K.1 (the harness and Toxiproxy reach members through it)
 *     veth `rlab-R-n1` <-> `eth0` in namespace `rlab-R-n1` with 10.213.K.2, loopback up, no default route
 *     veth `rlab-R-n2` <-> `eth0` in namespace `rlab-R-n2` with 10.213.K.3, ...
 *   nftables table `ip rlab_R` in the root namespace: nothing reaches the subnet's addresses except over the bridge
 *   or loopback, and nothing is forwarded between the subnet and any other interface.
 *   nftables table `ip rlab_R` in each member's namespace: a set `cut` (the kernel partitions), a map `proxied`
 *   (the dnat redirections towards per-link proxies) and a set `loopback_ports` (ports of a program that listens on
 *   127.0.0.1 only, served on the member's address by a dnat to loopback; `route_localnet` is set on the namespace's
 *   eth0 for that).
 *
 * Why the bridge is in the root namespace: the harness must connect to every member and Toxiproxy must listen where
 * members can reach it; with the bridge elsewhere the root namespace would need an address on the subnet anyway.
 * The root table above keeps that address (and the members) unreachable from any other interface, and members have
 * no route out of the subnet, so nothing listens outside loopback and the run's own namespaces, and no member sends
 * traffic anywhere but the subnet.
 *
 * A cut link `A->B` has the meaning of the proxy layer's cut (harness/systems/proxies.ts): every packet of a
 * connection that A opened to B is dropped in A's namespace, both ways (`ct original ip daddr`, which also matches
 * after a dnat), while B can still open connections to A. Cutting both directions isolates the pair completely.
 *
 * Teardown on every exit path: `teardown()` on a normal stop or Ctrl-C; a {@link Reaper} runs the same commands when
 * the harness dies by a crash or SIGKILL; and `create()` first removes what a killed run left behind (names with the
 * `rlab-` / `rlab_` prefix whose owning process is gone).
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Reaper } from '../../lib/process.ts';

/** Every interface and namespace of ours starts with this; nftables tables with {@link TABLE_PREFIX}. */
export const NAME_PREFIX = 'rlab-';
/** nftables names cannot contain '-'. */
export const TABLE_PREFIX = 'rlab_';
/** The private range runs draw their /24 from: 10.213.K.0/24. */
const SUBNET_BASE = '10.213';
/** Where a live run records its owner (pid and start time) and its subnet claim; /run is cleared at boot. */
const STATE_DIR = process.platform === 'linux' ? '/run/raftlab-hosts' : join(tmpdir(), 'raftlab-hosts');
const RUN_ID = /^[0-9a-f]{6}$/;

/** What hosts mode cannot run without on this machine, or undefined when it can run. */
export function hostsUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return `--net hosts needs Linux network namespaces; this is ${process.platform}`;
  if (process.getuid?.() !== 0) return '--net hosts needs root (it creates network namespaces and nftables tables)';
  for (const [tool, args, pkg] of [
    ['ip', ['-V'], 'iproute2'],
    ['nft', ['--version'], 'nftables'],
  ] as const) {
    const probe = spawnSync(tool, [...args], { stdio: 'ignore' });
    if (probe.error !== undefined || probe.status !== 0) {
      return `--net hosts needs the ${tool} command (apt-get install -y ${pkg})`;
    }
  }
  return undefined;
}

/** Hosts mode cannot run here (not Linux, not root, tools missing): the CLI exits 3 with the message. */
export class HostsUnavailableError extends Error {
  override readonly name = 'HostsUnavailableError';
}

/** Runs a command without a shell; rejects with its stderr. */
function run(argv: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(argv[0] ?? '', argv.slice(1), { timeout: 15_000 }, (error, stdout, stderr) => {
      if (error === null) resolve(stdout);
      else reject(new Error(`${argv.join(' ')}: ${String(stderr).trim() || error.message}`));
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Like {@link run}, but a failure is ignored (teardown of something that may already be gone). */
async function runQuietly(argv: readonly string[]): Promise<void> {
  await run(argv).catch(() => undefined);
}

/** The names a run uses, derived from its id and members. */
export interface HostsNames {
  runId: string;
  bridge: string;
  table: string;
  /** Member id -> namespace name (also the name of the root-side veth). */
  namespaces: Record<string, string>;
}

function namesOf(runId: string, members: readonly string[]): HostsNames {
  const namespaces: Record<string, string> = {};
  for (const id of members) namespaces[id] = `${NAME_PREFIX}${runId}-${id}`;
  return { runId, bridge: `${NAME_PREFIX}${runId}`, table: `${TABLE_PREFIX}${runId}`, namespaces };
}

/**
 * The commands that undo a run, in an order that works from any partial state: the root table, the root-side veths
 * (which takes their peers in the namespaces with them at once), the bridge, the namespaces, the state files.
 */
function teardownCommands(names: {
  runId: string;
  bridge: string;
  table: string;
  links: readonly string[];
  namespaces: readonly string[];
}): string[][] {
  return [
    ['nft', 'delete', 'table', 'ip', names.table],
    ...names.links.map((link) => ['ip', 'link', 'delete', link]),
    ['ip', 'link', 'delete', names.bridge],
    ...names.namespaces.map((ns) => ['ip', 'netns', 'delete', ns]),
    ['rm', '-f', join(STATE_DIR, `${names.runId}.json`), ...claimFiles(names.runId)],
  ];
}

/** The subnet claim files this run holds. */
function claimFiles(runId: string): string[] {
  let files: string[] = [];
  try {
    files = readdirSync(STATE_DIR).filter((f) => f.startsWith('subnet-'));
  } catch {
    return [];
  }
  return files.filter((f) => readText(join(STATE_DIR, f)) === runId).map((f) => join(STATE_DIR, f));
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), so a reused pid is told apart. */
function processStartTime(pid: number): string | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // The command name (field 2) may contain spaces; the fields after its closing parenthesis do not.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

/** Whether the process that created run `runId` is still alive. */
function ownerAlive(runId: string): boolean {
  const text = readText(join(STATE_DIR, `${runId}.json`));
  if (text === undefined) return false;
  try {
    const owner = JSON.parse(text) as { pid: number; startTime: string };
    return processStartTime(owner.pid) === owner.startTime;
  } catch {
    return false;
  }
}

/** Everything of ours on this machine right now, by run id. */
async function listOurs(): Promise<Map<string, { links: string[]; namespaces: string[]; tables: string[] }>> {
  const found = new Map<string, { links: string[]; namespaces: string[]; tables: string[] }>();
  const entry = (runId: string) => {
    const value = found.get(runId) ?? { links: [], namespaces: [], tables: [] };
    found.set(runId, value);
    return value;
  };
  const runIdOf = (name: string, prefix: string): string | undefined => {
    if (!name.startsWith(prefix)) return undefined;
    const id = name.slice(prefix.length, prefix.length + 6);
    return RUN_ID.test(id) ? id : undefined;
  };
  for (const line of (await run(['ip', 'netns', 'list'])).split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const id = runIdOf(name, NAME_PREFIX);
    if (id !== undefined) entry(id).namespaces.push(name);
  }
  for (const line of (await run(['ip', '-o', 'link', 'show'])).split('\n')) {
    // "7: rlab-abc123-n1@if2: <...>" (a veth shows its peer after '@').
    const name = (line.split(': ')[1] ?? '').split('@')[0] ?? '';
    const id = runIdOf(name, NAME_PREFIX);
    if (id !== undefined) entry(id).links.push(name);
  }
  for (const line of (await run(['nft', 'list', 'tables'])).split('\n')) {
    const name = line.trim().split(' ')[2] ?? '';
    const id = runIdOf(name, TABLE_PREFIX);
    if (id !== undefined && line.trim().startsWith('table ip ')) entry(id).tables.push(name);
  }
  return found;
}

/**
 * Removes what runs killed before they could clean up left behind: every namespace, interface and root nftables
 * table with our prefix whose run's owner is no longer alive (a parallel live run is left alone). Returns the run
 * ids it removed.
 */
export async function cleanupLeftovers(): Promise<string[]> {
  const removed: string[] = [];
  for (const [runId, ours] of await listOurs()) {
    if (ownerAlive(runId)) continue;
    const bridge = `${NAME_PREFIX}${runId}`;
    const commands = teardownCommands({
      runId,
      bridge,
      table: `${TABLE_PREFIX}${runId}`,
      links: ours.links.filter((l) => l !== bridge),
      namespaces: ours.namespaces,
    });
    for (const argv of commands) await runQuietly(argv);
    removed.push(runId);
  }
  // Claims and owner files of dead runs that had not created anything yet.
  for (const file of safeReaddir(STATE_DIR)) {
    const runId = file.endsWith('.json') ? file.slice(0, -5) : readText(join(STATE_DIR, file));
    if (runId !== undefined && RUN_ID.test(runId) && !ownerAlive(runId)) rmSync(join(STATE_DIR, file), { force: true });
  }
  return removed;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Options of {@link Hosts.create}. */
export interface HostsOptions {
  /** Member ids, e.g. `['n1', 'n2', 'n3']` (at most 3 characters each: interface names are limited to 15). */
  members: readonly string[];
  /**
   * Registers the teardown with this reaper; default: a reaper of its own (closed by `teardown`). `null`: none (a
   * test that simulates a run killed before it could clean up).
   */
  reaper?: Reaper | null;
  /** Run id (6 hex digits); default: random. */
  runId?: string;
}

/** One run's namespaces, bridge, addresses and nftables rules. */
export class Hosts {
  /** The root namespace's address on the bridge: the harness and the proxies use it. */
  readonly gateway: string;
  readonly subnet: string;
  private readonly addresses = new Map<string, string>();
  private readonly cutLinks = new Set<string>();
  private tornDown: Promise<void> | undefined;

  private constructor(
    readonly names: HostsNames,
    readonly members: readonly string[],
    k: number,
    private readonly reaper: Reaper | undefined,
    private readonly ownReaper: boolean,
  ) {
    this.subnet = `${SUBNET_BASE}.${k}.0/24`;
    this.gateway = `${SUBNET_BASE}.${k}.1`;
    for (const [i, id] of members.entries()) this.addresses.set(id, `${SUBNET_BASE}.${k}.${i + 2}`);
  }

  /**
   * Creates a run's network: cleans up leftovers of killed runs, claims a free /24, then the bridge, one namespace
   * and veth per member, addresses, loopback, and the nftables tables. Throws {@link HostsUnavailableError} when the
   * machine cannot (not Linux, not root, tools missing); on any later failure it undoes what it made and rethrows.
   */
  static async create(options: HostsOptions): Promise<Hosts> {
    const reason = hostsUnavailableReason();
    if (reason !== undefined) throw new HostsUnavailableError(reason);
    if (options.members.length === 0 || options.members.length > 250) {
      throw new Error(`hosts mode needs 1 to 250 members, got ${options.members.length}`);
    }
    for (const id of options.members) {
      // The root-side veth is named like the namespace, `rlab-R-<id>`, and Linux allows 15 characters per interface.
      if (!/^[a-z0-9]{1,3}$/.test(id)) throw new Error(`member id "${id}" must be 1-3 lowercase letters or digits`);
    }
    const runId = options.runId ?? randomBytes(3).toString('hex');
    if (!RUN_ID.test(runId)) throw new Error(`run id must be 6 hex digits, got "${runId}"`);
    mkdirSync(STATE_DIR, { recursive: true });
    await cleanupLeftovers();
    // The owner file first: from here on a concurrent run's leftover sweep sees this run as alive.
    writeFileSync(
      join(STATE_DIR, `${runId}.json`),
      JSON.stringify({ pid: process.pid, startTime: processStartTime(process.pid) }),
    );
    const names = namesOf(runId, options.members);
    const ownReaper = options.reaper === undefined;
    const reaper = options.reaper === undefined ? new Reaper() : (options.reaper ?? undefined);
    let hosts: Hosts | undefined;
    try {
      const k = await claimSubnet(runId);
      hosts = new Hosts(names, options.members, k, reaper, ownReaper);
      reaper?.addCleanup(`hosts-${runId}`, hosts.teardownCommands());
      await hosts.build();
      return hosts;
    } catch (error) {
      if (hosts !== undefined) await hosts.teardown();
      else {
        for (const argv of teardownCommands({ ...names, links: [], namespaces: [] })) await runQuietly(argv);
        if (ownReaper) await reaper?.close();
      }
      throw error;
    }
  }

  get runId(): string {
    return this.names.runId;
  }

  /** A member's address on the subnet. */
  address(id: string): string {
    const address = this.addresses.get(id);
    if (address === undefined) throw new Error(`unknown member ${id}; members are ${this.members.join(', ')}`);
    return address;
  }

  /** A member's network namespace. */
  namespace(id: string): string {
    this.address(id);
    return this.names.namespaces[id] ?? '';
  }

  /** The argv prefix that runs a command inside a member's namespace: `[...exec(id), command, ...args]`. */
  exec(id: string): string[] {
    return ['ip', 'netns', 'exec', this.namespace(id)];
  }

  /** Cuts directed links in the kernel: every packet of a connection `from` opens to `to` is dropped. */
  async cut(from: string, to: string): Promise<void> {
    const key = `${from}->${to}`;
    if (this.cutLinks.has(key)) return;
    await this.nftIn(from, ['add', 'element', 'ip', this.names.table, 'cut', `{ ${this.address(to)} }`]);
    this.cutLinks.add(key);
  }

  /** Undoes {@link cut} for one link. */
  async heal(from: string, to: string): Promise<void> {
    const key = `${from}->${to}`;
    if (!this.cutLinks.has(key)) return;
    await this.nftIn(from, ['delete', 'element', 'ip', this.names.table, 'cut', `{ ${this.address(to)} }`]);
    this.cutLinks.delete(key);
  }

  /** The links cut right now, as `from->to`. */
  get cuts(): readonly string[] {
    return [...this.cutLinks];
  }

  /**
   * Redirects `from`'s connections to `to`'s address and `port` towards `target` (`ADDRESS:PORT`, e.g. the per-link
   * proxy on the gateway) with a dnat rule in `from`'s namespace: the system dials its peer's advertised address and
   * its bytes go through the proxy of that very link.
   */
  async redirect(from: string, to: string, port: number, target: string): Promise<void> {
    const [host, targetPort] = splitHostPort(target);
    const key = `${this.address(to)} . ${port}`;
    await this.nftIn(from, [
      'add',
      'element',
      'ip',
      this.names.table,
      'proxied',
      `{ ${key} : ${host} . ${targetPort} }`,
    ]);
  }

  /**
   * Serves `port` of a program that listens on 127.0.0.1 only inside `id`'s namespace on the member's own address
   * (a dnat to loopback for connections arriving at that address), so peers, proxies and the harness reach it.
   */
  async exposeLoopback(id: string, port: number): Promise<void> {
    await this.nftIn(id, ['add', 'element', 'ip', this.names.table, 'loopback_ports', `{ ${port} }`]);
  }

  /** Removes a {@link redirect} (new connections go straight to the peer again). */
  async unredirect(from: string, to: string, port: number): Promise<void> {
    await this.nftIn(from, [
      'delete',
      'element',
      'ip',
      this.names.table,
      'proxied',
      `{ ${this.address(to)} . ${port} }`,
    ]);
  }

  /** Removes everything the run created; idempotent, and every command runs even when an earlier one fails. */
  teardown(): Promise<void> {
    this.tornDown ??= (async () => {
      for (const argv of this.teardownCommands()) await runQuietly(argv);
      this.cutLinks.clear();
      this.reaper?.removeCleanup(`hosts-${this.runId}`);
      if (this.ownReaper) await this.reaper?.close();
    })();
    return this.tornDown;
  }

  private teardownCommands(): string[][] {
    const namespaces = Object.values(this.names.namespaces);
    return teardownCommands({ ...this.names, links: namespaces, namespaces });
  }

  private nftIn(id: string, args: readonly string[]): Promise<string> {
    return run([...this.exec(id), 'nft', ...args]);
  }

  private async build(): Promise<void> {
    const { bridge, table } = this.names;
    const prefixLength = '/24';
    await run(['ip', 'link', 'add', bridge, 'type', 'bridge']);
    await run(['ip', 'addr', 'add', `${this.gateway}${prefixLength}`, 'dev', bridge]);
    await run(['ip', 'link', 'set', bridge, 'up']);
    // Only the bridge and loopback reach the subnet's addresses here; nothing is routed in or out of the subnet.
    await run(
      ['nft', '-f', '-'],
      `table ip ${table} {
  chain input { type filter hook input priority 0;
    ip daddr ${this.subnet} iifname != "lo" iifname != "${bridge}" drop; }
  chain forward { type filter hook forward priority 0;
    ip daddr ${this.subnet} iifname != "${bridge}" drop;
    ip saddr ${this.subnet} oifname != "${bridge}" drop; }
}
`,
    );
    for (const id of this.members) {
      const ns = this.namespace(id);
      await run(['ip', 'netns', 'add', ns]);
      await run(['ip', 'link', 'add', ns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await run(['ip', 'link', 'set', ns, 'master', bridge, 'up']);
      await run(['ip', '-n', ns, 'addr', 'add', `${this.address(id)}${prefixLength}`, 'dev', 'eth0']);
      await run(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
      await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      // Lets packets that arrive on eth0 be routed to 127.0.0.1 (exposeLoopback); this namespace's own setting.
      await run([...this.exec(id), 'sysctl', '-qw', 'net.ipv4.conf.eth0.route_localnet=1']);
      await run(
        [...this.exec(id), 'nft', '-f', '-'],
        `table ip ${table} {
  set cut { type ipv4_addr; }
  map proxied { type ipv4_addr . inet_service : ipv4_addr . inet_service; }
  set loopback_ports { type inet_service; }
  chain output { type filter hook output priority 0; ct original ip daddr @cut drop; }
  chain input { type filter hook input priority 0; ct original ip daddr @cut drop; }
  chain nat_output { type nat hook output priority -100; dnat to ip daddr . tcp dport map @proxied; }
  chain nat_prerouting { type nat hook prerouting priority -100;
    ip daddr ${this.address(id)} tcp dport @loopback_ports dnat to 127.0.0.1; }
}
`,
      );
    }
  }
}

function splitHostPort(address: string): [string, number] {
  const colon = address.lastIndexOf(':');
  const port = Number(address.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new Error(`expected ADDRESS:PORT, got "${address}"`);
  }
  return [address.slice(0, colon), port];
}

/**
 * Claims a /24 for the run: starts at K derived from the run id and takes the first K that no interface of the
 * machine uses and no live run has claimed. The claim is a file created exclusively, so two runs starting at the
 * same moment never get the same K.
 */
async function claimSubnet(runId: string): Promise<number> {
  const used = await run(['ip', '-o', '-4', 'addr', 'show']);
  const routes = await run(['ip', '-o', '-4', 'route', 'show', 'table', 'all']);
  const start = Number.parseInt(runId, 16) % 256;
  for (let i = 0; i < 256; i++) {
    const k = (start + i) % 256;
    const prefix = `${SUBNET_BASE}.${k}.`;
    if (used.includes(prefix) || routes.includes(prefix)) continue;
    const claim = join(STATE_DIR, `subnet-${k}`);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(claim, 'wx');
        writeFileSync(fd, runId);
        closeSync(fd);
        return k;
      } catch {
        const holder = readText(claim);
        // A claim of a dead run is stale: take it over (once). A live holder keeps it, and so does a claim still
        // empty (its creator is between the create and the write).
        if (holder === undefined || !RUN_ID.test(holder) || ownerAlive(holder)) break;
        rmSync(claim, { force: true });
      }
    }
  }
  throw new Error(`no free /24 left in ${SUBNET_BASE}.0.0/16 for a hosts-mode run`);
}
