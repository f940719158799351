/**
 * The lazy file system (lazyfs/main.ts) as a child process, one per member whose data lives on it, and its control
 * API over loopback. The harness never serves FUSE itself: a handler served from the process that touches the mount
 * deadlocks.
 *
 * No mount outlives the harness, in three layers: the process mounts with fusermount's `auto_unmount` (the kernel
 * mount goes when the process dies) and exits on stdin EOF (`--exit-with-parent`); the reaper runs `fusermount -uz`
 * on the mount after a SIGKILL of the harness; and the next start removes mounts of ours whose process is dead
 * ({@link cleanupLazyFsLeftovers}).
 */
import { existsSync, readFileSync, type WriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { type Reaper, startChild, stopChild } from '../../lib/process.ts';
import { tsxImport } from '../../lib/repo.ts';
import { sendJson } from '../../workloads/http-json.ts';

const lazyFsMain = fileURLToPath(new URL('../../lazyfs/main.ts', import.meta.url));

/** The fsname prefix lazyfs/main.ts mounts with (`raftlab-lazyfs-<pid>`), as /proc/mounts shows it. */
const FSNAME_PREFIX = 'raftlab-lazyfs-';

/** Where Debian puts libfuse2's library. */
const LIBFUSE_PATHS = ['/lib/x86_64-linux-gnu/libfuse.so.2', '/usr/lib/x86_64-linux-gnu/libfuse.so.2'];

/** What to install for the disk faults. */
export const LAZYFS_INSTALL_HINT = 'apt-get install -y libfuse2 fuse';

/** Why the lazy file system cannot run on this machine, or undefined when it can. */
export function lazyFsUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return 'the disk faults need Linux FUSE';
  if (!existsSync('/dev/fuse')) return 'the disk faults need /dev/fuse (FUSE), which this machine does not have';
  const missing: string[] = [];
  if (!LIBFUSE_PATHS.some((path) => existsSync(path))) missing.push('libfuse2');
  if (!onPath('fusermount')) missing.push('fuse');
  if (missing.length > 0) {
    return `the disk faults need FUSE, and the Debian package${missing.length > 1 ? 's' : ''} ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} missing: ${LAZYFS_INSTALL_HINT}`;
  }
  return undefined;
}

function onPath(name: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin').split(':').some((dir) => dir !== '' && existsSync(`${dir}/${name}`));
}

/** What a dropped-data command answers. */
export interface LazyFsDrop {
  files: number;
  bytes: number;
  kept?: number;
}

/** One running lazy file system. */
export interface LazyFs {
  readonly mount: string;
  readonly backing: string;
  readonly pid: number;
  readonly controlUrl: string;
  /** Power loss: drops every unsynced write. */
  loseUnsynced(): Promise<LazyFsDrop>;
  /** Keeps a torn prefix (`fraction` of it, cut at a sector) of each file's last unsynced write, drops the rest. */
  tornWrite(fraction: number): Promise<LazyFsDrop>;
  /** The next fsync of `path` (a path inside the mount, default any file) fails with EIO. */
  failNextFsync(path?: string): Promise<void>;
  /** Disarms armed fsync failures. */
  clearFaults(): Promise<void>;
  /** Flushes, unmounts and stops the process; idempotent. */
  stop(): Promise<void>;
}

interface ListeningLine {
  event: 'listening';
  control: string;
  pid: number;
}

function parseListening(text: string): ListeningLine | undefined {
  try {
    const value = JSON.parse(text) as Partial<ListeningLine>;
    return value.event === 'listening' && typeof value.control === 'string' ? (value as ListeningLine) : undefined;
  } catch {
    return undefined;
  }
}

/** Starts a lazy file system of `backing` at `mount`; resolves once it is mounted and its control API listens. */
export async function startLazyFs(options: {
  backing: string;
  mount: string;
  log?: WriteStream;
  reaper?: Reaper;
  name?: string;
  startTimeoutMs?: number;
}): Promise<LazyFs> {
  const name = options.name ?? `lazyfs ${options.mount}`;
  const started = startChild({
    command: process.execPath,
    args: ['--import', tsxImport, lazyFsMain, '--backing', options.backing, '--mount', options.mount],
    ...(options.log !== undefined ? { log: options.log } : {}),
    name,
    readyLine: parseListening,
    readyTimeoutMs: options.startTimeoutMs ?? 20_000,
  });
  // Registered before it mounts: a harness killed during the mount still gets it undone.
  const cleanupKey = `lazyfs-${started.pid}`;
  options.reaper?.add(started.pid);
  options.reaper?.addCleanup(cleanupKey, [['fusermount', '-uz', options.mount]]);
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      // SIGTERM: it writes its cache back, unmounts and exits; SIGKILL after 8 s (auto_unmount still unmounts).
      await stopChild(started.process, 8_000);
      await unmountIfMounted(options.mount);
      options.reaper?.remove(started.pid);
      options.reaper?.removeCleanup(cleanupKey);
    })();
    return stopped;
  };
  let line: ListeningLine;
  try {
    line = await started.ready;
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}; see ${options.log?.path ?? 'its log'} (${LAZYFS_INSTALL_HINT})`);
  }
  const call = async (path: string, body: Record<string, unknown> = {}): Promise<unknown> => {
    const answer = await sendJson(line.control, { method: 'POST', path, body, timeoutMs: 30_000 });
    if (answer.statusCode !== 200) {
      throw new Error(`${name}: ${path} answered ${answer.statusCode}: ${JSON.stringify(answer.body)}`);
    }
    return answer.body;
  };
  return {
    mount: options.mount,
    backing: options.backing,
    pid: started.pid ?? -1,
    controlUrl: line.control,
    loseUnsynced: async () => (await call('/lose-unsynced')) as LazyFsDrop,
    tornWrite: async (fraction) => (await call('/torn-write', { fraction })) as LazyFsDrop,
    failNextFsync: async (path) => {
      await call('/fail-next-fsync', path !== undefined ? { path } : {});
    },
    clearFaults: async () => {
      await call('/clear-faults');
    },
    stop,
  };
}

/** Mount points of /proc/mounts whose source starts with our fsname, with the pid that served them. */
function ourMounts(): { mount: string; pid: number }[] {
  let text: string;
  try {
    text = readFileSync('/proc/mounts', 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').flatMap((line) => {
    const [source, target] = line.split(' ');
    if (source === undefined || target === undefined || !source.startsWith(FSNAME_PREFIX)) return [];
    // /proc/mounts escapes spaces and other specials as octal.
    const mount = target.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
    return [{ mount, pid: Number(source.slice(FSNAME_PREFIX.length)) }];
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function unmountIfMounted(mount: string): Promise<void> {
  if (!ourMounts().some((m) => m.mount === mount)) return;
  await execa('fusermount', ['-uz', mount], { reject: false, timeout: 10_000 });
}

/** Unmounts lazy file systems of dead runs (their process is gone); returns the mount points it removed. */
export async function cleanupLazyFsLeftovers(): Promise<string[]> {
  const removed: string[] = [];
  for (const { mount, pid } of ourMounts()) {
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) continue;
    await execa('fusermount', ['-uz', mount], { reject: false, timeout: 10_000 });
    removed.push(mount);
  }
  return removed;
}
