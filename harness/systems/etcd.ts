/**
 * Starts a 3-member etcd cluster on loopback for the bench, with etcd's
 * default durability (fsync on every commit), and stops it again.
 *
 * Each member runs under a tiny `sh` guard that reads its stdin pipe: when
 * this process dies for any reason, even SIGKILL, the pipe closes and the
 * guard kills etcd, so no member outlives the bench.
 */
import { execa, type ResultPromise } from 'execa';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { freePorts } from '../../lib/ports.ts';

/** Where Debian's `etcd-server` package puts the binary. */
export const DEFAULT_ETCD_BINARY = '/usr/bin/etcd';

/** What to tell a user without etcd. */
export const ETCD_INSTALL_HINT =
  'etcd is not installed: run `apt-get install -y etcd-server` (Debian/Ubuntu) to compare against it';

/** Options for {@link startEtcdCluster}. */
export type EtcdClusterOptions = {
  /** Directory for data dirs and logs (created). */
  dir: string;
  members?: number;
  binary?: string;
  /** Give up waiting for a healthy cluster after this long. */
  startTimeoutMs?: number;
};

/** One running member. */
export type EtcdMember = { name: string; clientUrl: string; peerUrl: string; dataDir: string; logPath: string };

/** A running etcd cluster. */
export type EtcdCluster = {
  members: readonly EtcdMember[];
  clientUrls: readonly string[];
  version: string;
  /** Index of the current leader in `members` (asked through the maintenance status API). */
  leaderIndex(timeoutMs?: number): Promise<number>;
  /** Stops every member (SIGTERM, then SIGKILL after a grace period). */
  stop(): Promise<void>;
};

/** The etcd version string (`3.4.23`), or undefined when etcd cannot be run. */
export async function etcdVersion(binary = DEFAULT_ETCD_BINARY): Promise<string | undefined> {
  try {
    const r = await execa(binary, ['--version'], { timeout: 10_000, reject: false });
    const m = /etcd Version:\s*(\S+)/.exec(r.stdout);
    return m?.[1];
  } catch {
    return undefined;
  }
}

// The guard: start etcd in the background, wait for stdin to close (our
// death or stop()), then TERM etcd, KILL it after 3 s, and reap it.
const GUARD_SCRIPT = [
  '"$@" & child=$!',
  'echo "$child" > "$PIDFILE"',
  // Through fd 3: dash gives a background job /dev/null as stdin even with an explicit <&0.
  'exec 3<&0',
  'cat <&3 > /dev/null & reader=$!',
  // A signal to the guard (execa's cleanup on our exit) also stops etcd.
  `trap 'kill "$reader" 2>/dev/null' TERM INT HUP`,
  'wait "$reader"',
  'kill -TERM "$child" 2>/dev/null',
  '( sleep 3; kill -KILL "$child" 2>/dev/null ) & killer=$!',
  'wait "$child"; status=$?',
  'kill "$killer" 2>/dev/null',
  'exit $status',
].join('\n');

/** Starts the cluster and resolves once every member reports healthy. */
export async function startEtcdCluster(options: EtcdClusterOptions): Promise<EtcdCluster> {
  const binary = options.binary ?? DEFAULT_ETCD_BINARY;
  const version = await etcdVersion(binary);
  if (version === undefined) throw new Error(ETCD_INSTALL_HINT);
  const count = options.members ?? 3;
  const ports = await freePorts(count * 2);
  mkdirSync(options.dir, { recursive: true });
  const members: EtcdMember[] = Array.from({ length: count }, (_, i) => ({
    name: `e${i + 1}`,
    clientUrl: `http://127.0.0.1:${ports[2 * i]}`,
    peerUrl: `http://127.0.0.1:${ports[2 * i + 1]}`,
    dataDir: join(options.dir, `e${i + 1}`),
    logPath: join(options.dir, `e${i + 1}.log`),
  }));
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  const token = `raftlab-bench-${process.pid}-${Date.now()}`;
  const processes: ResultPromise[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(
      processes.map(async (p) => {
        p.stdin?.end();
        const timer = setTimeout(() => p.kill('SIGKILL'), 6_000);
        await p.catch(() => undefined);
        clearTimeout(timer);
      }),
    );
    // The guard may have been killed before reaping: make sure etcd is gone.
    for (const m of members) killPidFile(join(options.dir, `${m.name}.pid`));
  };
  try {
    for (const m of members) {
      const args = [
        binary,
        '--name',
        m.name,
        '--data-dir',
        m.dataDir,
        '--listen-client-urls',
        m.clientUrl,
        '--advertise-client-urls',
        m.clientUrl,
        '--listen-peer-urls',
        m.peerUrl,
        '--initial-advertise-peer-urls',
        m.peerUrl,
        '--initial-cluster',
        initialCluster,
        '--initial-cluster-state',
        'new',
        '--initial-cluster-token',
        token,
        '--logger',
        'zap',
        '--log-outputs',
        'stderr',
      ];
      const p = execa('/bin/sh', ['-c', GUARD_SCRIPT, 'etcd-guard', ...args], {
        stdin: 'pipe',
        stdout: { file: m.logPath, append: true },
        stderr: { file: m.logPath, append: true },
        env: { PIDFILE: join(options.dir, `${m.name}.pid`) },
        reject: false,
        cleanup: true,
      });
      processes.push(p);
    }
    await waitHealthy(members, processes, options.startTimeoutMs ?? 30_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    members,
    clientUrls: members.map((m) => m.clientUrl),
    version,
    stop,
    leaderIndex: (ms) => findLeader(members, ms ?? 10_000),
  };
}

function killPidFile(path: string): void {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 1) process.kill(pid, 'SIGKILL');
  } catch {
    // No file or no such process: already gone.
  }
}

async function waitHealthy(
  members: readonly EtcdMember[],
  processes: readonly ResultPromise[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const exited = new Set<number>();
  processes.forEach((p, i) => void p.finally(() => exited.add(i)));
  const pending = new Set(members.map((_, i) => i));
  while (pending.size > 0) {
    for (const i of exited) {
      throw new Error(`etcd member ${members[i]?.name} exited during start; see ${members[i]?.logPath}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`etcd cluster not healthy after ${timeoutMs} ms; see the logs in ${members[0]?.logPath ?? ''}`);
    }
    for (const i of [...pending]) {
      const m = members[i];
      if (m === undefined) continue;
      try {
        const r = await request(`${m.clientUrl}/health`, { headersTimeout: 1_000, bodyTimeout: 1_000 });
        const body = (await r.body.json()) as { health?: unknown };
        if (r.statusCode === 200 && body.health === 'true') pending.delete(i);
      } catch {
        // Not listening yet.
      }
    }
    if (pending.size > 0) await new Promise((r) => setTimeout(r, 100));
  }
}

// POST /v3/maintenance/status answers with the member's own id (header) and
// the id of the leader it knows; the leader is the member whose ids agree.
async function findLeader(members: readonly EtcdMember[], timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const [i, m] of members.entries()) {
      try {
        const r = await request(`${m.clientUrl}/v3/maintenance/status`, {
          method: 'POST',
          body: '{}',
          headersTimeout: 1_000,
          bodyTimeout: 1_000,
        });
        const body = (await r.body.json()) as { header?: { member_id?: unknown }; leader?: unknown };
        if (r.statusCode === 200 && body.leader !== undefined && body.leader === body.header?.member_id) return i;
      } catch {
        // Member busy or down: ask the next one.
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no etcd leader found within ${timeoutMs} ms`);
}
