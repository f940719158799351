/**
 * An exclusive claim on a node's data directory.
 *
 * Two node processes writing one WAL would interleave records and break
 * every durability promise (Figure 2's "persistent state" belongs to one
 * server). So a node writes `LOCK` with its pid before it opens storage, and
 * refuses to start when a live process already holds it.
 *
 * A SIGKILLed node cannot remove its lock (the chaos nemesis does exactly
 * that), so a lock whose pid is no longer running is stale and is taken
 * over. The check is by pid: a recycled pid can make a stale lock look live,
 * and then the error names the pid and the file so a human can remove it.
 */
import { closeSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { isProcessAlive } from '../../lib/pid.ts';

/** The lock file's name inside the data directory. */
export const LOCK_FILE = 'LOCK';

/** A held data-directory lock. */
export interface DirLock {
  readonly path: string;
  /** Whether a stale lock of a dead process was taken over (for the start log). */
  readonly tookOverFromPid: number | null;
  /** Removes the lock if it is still ours. Idempotent. */
  release(): void;
}

/** Thrown when another live process holds the directory. */
export class DataDirInUseError extends Error {
  readonly code = 'data-dir-in-use';
  constructor(
    readonly dir: string,
    readonly ownerPid: number,
    readonly file: string,
  ) {
    super(
      `data directory ${dir} is in use by ${ownerPid > 0 ? `process ${ownerPid}` : 'another process'} (lock file ${file}); ` +
        'stop that node first, or give this one another --data-dir',
    );
  }
}

/** The pid recorded in a lock file, or null when it is unreadable or garbage (a torn write). */
function readOwner(path: string): number | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}

/** How long an empty lock file is presumed to be in the middle of being written. */
const FRESH_EMPTY_LOCK_MS = 2_000;

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

function createExclusive(path: string, pid: number): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, `${pid}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Claims `dir` for this process (creating the directory if needed).
 * Throws DataDirInUseError when a running process, this one included,
 * already holds it.
 */
export function lockDataDir(dir: string, pid: number = process.pid): DirLock {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  let tookOverFromPid: number | null = null;
  // Two rounds: the second follows the removal of a stale lock. If another
  // process races us to the same stale lock, exactly one `wx` create wins
  // and the loser sees a live owner in the second round.
  for (let round = 0; round < 2; round++) {
    if (createExclusive(path, pid)) {
      let released = false;
      return {
        path,
        tookOverFromPid,
        release(): void {
          if (released) return;
          released = true;
          if (readOwner(path) === pid) unlinkSync(path);
        },
      };
    }
    const owner = readOwner(path);
    if (owner !== null && isProcessAlive(owner)) throw new DataDirInUseError(dir, owner, path);
    // An empty lock may be one another process has just created and not yet
    // written: only an old one is a torn leftover.
    if (owner === null && ageMs(path) < FRESH_EMPTY_LOCK_MS) throw new DataDirInUseError(dir, -1, path);
    tookOverFromPid = owner;
    try {
      unlinkSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  const owner = readOwner(path) ?? -1;
  throw new DataDirInUseError(dir, owner, path);
}
