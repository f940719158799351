/**
 * The FUSE operations of the lazy file system: a passthrough onto the backing directory whose file data goes through
 * the {@link LazyCache}. Every handler is synchronous on the backing directory (a local disk; the member that uses
 * the mount is the only caller) and answers FUSE with 0, a value, or a negative errno.
 */
import {
  closeSync,
  constants,
  fsyncSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  rmdirSync,
  type Stats,
  statfsSync,
  chmodSync,
  utimesSync,
} from 'node:fs';
import { constants as osConstants } from 'node:os';
import { FsError, type LazyCache } from './cache.ts';

type Callback = (code: number, ...values: unknown[]) => void;

/** The negative errno FUSE expects for an error (EIO when the error names none). */
export function errnoOf(error: unknown): number {
  const code = error instanceof FsError ? error.code : (error as { code?: unknown } | null)?.code;
  const errno = typeof code === 'string' ? (osConstants.errno as Record<string, number>)[code] : undefined;
  return -(errno ?? osConstants.errno.EIO);
}

/** Runs one handler body: its result goes to the callback, an exception becomes its errno. */
function answer(cb: Callback, body: () => unknown[] | number | undefined): void {
  let result: unknown[] | number | undefined;
  try {
    result = body();
  } catch (error) {
    cb(errnoOf(error));
    return;
  }
  if (typeof result === 'number') cb(result);
  else cb(0, ...(result ?? []));
}

function statOf(stats: Stats): Record<string, unknown> {
  return {
    mode: stats.mode,
    uid: stats.uid,
    gid: stats.gid,
    size: stats.size,
    dev: stats.dev,
    nlink: stats.nlink,
    ino: stats.ino,
    rdev: stats.rdev,
    blksize: stats.blksize,
    blocks: stats.blocks,
    atime: stats.atime,
    mtime: stats.mtime,
    ctime: stats.ctime,
  };
}

/** The handlers fuse-native calls, over `cache`. */
export function lazyOperations(cache: LazyCache): Record<string, (...args: never[]) => void> {
  /** Open handles: FUSE's handle number -> a read-write descriptor of the backing file (also for write-back). */
  const handles = new Map<number, number>();
  let nextHandle = 1;
  const open = (path: string, extra: number, mode?: number): number => {
    const fd = openSync(cache.backing(path), constants.O_RDWR | extra, mode);
    const handle = nextHandle++;
    handles.set(handle, fd);
    return handle;
  };
  const fdOf = (handle: number): number => {
    const fd = handles.get(handle);
    if (fd === undefined) throw new FsError('EBADF', `no open handle ${handle}`);
    return fd;
  };
  return {
    getattr: (path: string, cb: Callback) => answer(cb, () => [statOf(cache.stat(path))]),
    readdir: (path: string, cb: Callback) => answer(cb, () => [readdirSync(cache.backing(path))]),
    statfs: (_path: string, cb: Callback) =>
      answer(cb, () => {
        const s = statfsSync(cache.backingDir);
        return [
          {
            bsize: s.bsize,
            frsize: s.bsize,
            blocks: s.blocks,
            bfree: s.bfree,
            bavail: s.bavail,
            files: s.files,
            ffree: s.ffree,
            favail: s.ffree,
            fsid: 0,
            flag: 0,
            namemax: 255,
          },
        ];
      }),
    open: (path: string, flags: number, cb: Callback) =>
      answer(cb, () => {
        // The backing file is always opened read-write: an fsync through a read-only handle writes the pages back.
        const truncate = (flags & constants.O_TRUNC) !== 0;
        if (truncate) cache.discard(path);
        return [open(path, truncate ? constants.O_TRUNC : 0)];
      }),
    create: (path: string, mode: number, cb: Callback) =>
      answer(cb, () => {
        cache.discard(path);
        return [open(path, constants.O_CREAT | constants.O_TRUNC, mode)];
      }),
    release: (_path: string, handle: number, cb: Callback) =>
      answer(cb, () => {
        const fd = handles.get(handle);
        handles.delete(handle);
        if (fd !== undefined) closeSync(fd);
        return undefined;
      }),
    read: (path: string, handle: number, buffer: Buffer, length: number, position: number, cb: Callback) =>
      answer(cb, () => cache.read(path, fdOf(handle), buffer.subarray(0, length), position)),
    write: (path: string, handle: number, buffer: Buffer, length: number, position: number, cb: Callback) =>
      answer(cb, () => {
        cache.write(path, fdOf(handle), buffer.subarray(0, length), position);
        return length;
      }),
    flush: (_path: string, _handle: number, cb: Callback) => cb(0),
    // fuse-native passes (path, datasync, handle); fsync and fdatasync both write the data back.
    fsync: (path: string, _datasync: number, handle: number, cb: Callback) =>
      answer(cb, () => {
        cache.sync(path, fdOf(handle));
        return undefined;
      }),
    fsyncdir: (path: string, _datasync: number, _handle: number, cb: Callback) =>
      answer(cb, () => {
        const fd = openSync(cache.backing(path), 'r');
        try {
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        return undefined;
      }),
    truncate: (path: string, size: number, cb: Callback) =>
      answer(cb, () => {
        cache.truncate(path, size);
        return undefined;
      }),
    ftruncate: (path: string, _handle: number, size: number, cb: Callback) =>
      answer(cb, () => {
        cache.truncate(path, size);
        return undefined;
      }),
    unlink: (path: string, cb: Callback) =>
      answer(cb, () => {
        cache.unlink(path);
        return undefined;
      }),
    rename: (from: string, to: string, cb: Callback) =>
      answer(cb, () => {
        cache.rename(from, to);
        return undefined;
      }),
    mkdir: (path: string, mode: number, cb: Callback) =>
      answer(cb, () => {
        mkdirSync(cache.backing(path), { mode });
        return undefined;
      }),
    rmdir: (path: string, cb: Callback) =>
      answer(cb, () => {
        rmdirSync(cache.backing(path));
        return undefined;
      }),
    chmod: (path: string, mode: number, cb: Callback) =>
      answer(cb, () => {
        chmodSync(cache.backing(path), mode);
        return undefined;
      }),
    utimens: (path: string, atime: number, mtime: number, cb: Callback) =>
      answer(cb, () => {
        utimesSync(cache.backing(path), new Date(atime), new Date(mtime));
        return undefined;
      }),
    // A descriptor's size as processes see it (fstat through the mount).
    fgetattr: (path: string, handle: number, cb: Callback) =>
      answer(cb, () => {
        const stats = fstatSync(fdOf(handle));
        stats.size = cache.sizeOf(path, stats.size);
        return [statOf(stats)];
      }),
  };
}
