/**
 * Node configuration helpers shared by the CLI, the cluster launcher and tests.
 */

/**
 * Defaults. The election timeout sets how fast a cluster replaces a dead
 * leader (followers notice after [E, 2E), §5.2) and how long a stall of the
 * leader or the network may last before a needless election: 120 ms, in the
 * paper's 150-300 ms range scaled to loopback (§9.3), gave failover of about
 * 0.3 s and no elections in a minute of C=128 puts on a loaded 2-core machine,
 * at the cost of an occasional election when a leader stalls for longer
 * (node/README.md, "Election timing"). Heartbeats at a sixth of it leave
 * room for several to be late or lost.
 */
export const NODE_DEFAULTS = {
  electionTimeoutMs: 120,
  heartbeatMs: 20,
  snapshotEvery: 10_000,
  clusterId: 'raftlab',
  requestTimeoutMs: 5000,
  bodyTimeoutMs: 10_000,
} as const;

/**
 * The core's clock for a timeout and heartbeat: one tick is half a
 * heartbeat, the heartbeat is two ticks and the election timeout a whole
 * number of ticks (at least 3); the core draws each timeout from
 * [base, 2*base) (§5.2).
 */
export function tickConfig(
  electionTimeoutMs: number,
  heartbeatMs: number,
): { tickMs: number; electionTicks: number; heartbeatTicks: number } {
  const tickMs = Math.max(1, Math.floor(heartbeatMs / 2));
  return {
    tickMs,
    electionTicks: Math.max(3, Math.round(electionTimeoutMs / tickMs)),
    heartbeatTicks: Math.max(1, Math.round(heartbeatMs / tickMs)),
  };
}

/** Parses `n1=http://127.0.0.1:7001,n2=...` (own id may be included or not). */
export function parsePeers(spec: string, selfId: string, selfUrl: string): Map<string, string> {
  const peers = new Map<string, string>();
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`--peers entry ${JSON.stringify(part)} is not id=url (e.g. n2=http://127.0.0.1:7002)`);
    const id = part.slice(0, eq);
    const url = part.slice(eq + 1).replace(/\/+$/, '');
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new Error(`--peers entry ${JSON.stringify(part)}: ${JSON.stringify(url)} is not a URL`);
    }
    if (parsed.protocol !== 'http:')
      throw new Error(`--peers entry ${JSON.stringify(part)}: only http:// URLs are supported`);
    if (peers.has(id)) throw new Error(`--peers names ${id} twice`);
    peers.set(id, url);
  }
  if (!peers.has(selfId)) peers.set(selfId, selfUrl);
  return peers;
}

/** Parses `HOST:PORT`, loopback only. */
export function parseListen(spec: string): { host: string; port: number } {
  const colon = spec.lastIndexOf(':');
  const host = colon === -1 ? '127.0.0.1' : spec.slice(0, colon);
  const port = Number(colon === -1 ? spec : spec.slice(colon + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--listen ${JSON.stringify(spec)}: expected 127.0.0.1:PORT`);
  if (host !== '127.0.0.1')
    throw new Error(`--listen ${JSON.stringify(spec)}: raftlab nodes listen on loopback only; use 127.0.0.1:PORT`);
  return { host, port };
}

/**
 * Parses `--initial-members n1,n2,n3`: the voters of the configuration at log
 * index 0 (thesis §4), used only until the log or a snapshot holds a
 * configuration. Absent: every id of the address book (which includes this
 * node). Every id must be in the address book, so its url is known.
 */
export function parseInitialMembers(spec: string | undefined, addressBook: ReadonlyMap<string, string>): string[] {
  if (spec === undefined) return [...addressBook.keys()].sort();
  const ids = spec
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (ids.length === 0) throw new Error('--initial-members must name at least one member');
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id)) throw new Error(`--initial-members names ${id} twice`);
    seen.add(id);
    if (!addressBook.has(id))
      throw new Error(`--initial-members names ${id}, which --peers does not give a url for (add ${id}=http://...)`);
  }
  return [...seen].sort();
}
