/**
 * The lazy file system's state: a backing directory plus, per file, the pages written since that file's last
 * fsync/fdatasync, held here and not in the backing file. Reads see the written pages over the backing file (what a
 * process sees through the page cache); an fsync writes the file's pages to the backing file and syncs it; a power
 * loss (`loseUnsynced`) forgets every page not yet synced, so the backing directory is what a disk would hold after
 * the machine lost power.
 *
 * Metadata operations (create, mkdir, rename, unlink, rmdir, truncate) are applied to the backing directory at once
 * and count as durable: only file data is lazy (see README.md, "What it does not do").
 *
 * Paths are as FUSE gives them: absolute within the mount, `/` being its root.
 */
import {
  closeSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readSync,
  renameSync,
  statSync,
  type Stats,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

/** The unit the cache keeps written data in (the kernel's page size). */
export const PAGE_BYTES = 4096;

/** One file's data that is not synced yet. */
interface DirtyFile {
  /** Page number -> the page's full content as written (backing bytes merged with the writes). */
  readonly pages: Map<number, Buffer>;
  /** The file's size as processes see it (the backing file may be shorter). */
  size: number;
  /** The most recent unsynced write: a torn write keeps a prefix of it. */
  lastWrite: { offset: number; data: Buffer } | undefined;
}

/** What was dropped by a fault, for the control API's answer and the harness's log. */
export interface DropSummary {
  files: number;
  bytes: number;
}

/** An error a file operation answers with (its negative errno goes back to the kernel). */
export class FsError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Unsynced pages per file over a backing directory. */
export class LazyCache {
  private readonly dirty = new Map<string, DirtyFile>();
  /** Paths whose next fsync fails with EIO (`*` for any file). */
  private readonly failNextSync = new Set<string>();
  readonly stats = { writes: 0, syncs: 0, failedSyncs: 0, powerLosses: 0, tornWrites: 0 };

  constructor(readonly backingDir: string) {}

  /** The backing path of a mount path. */
  backing(path: string): string {
    return join(this.backingDir, path);
  }

  /** Bytes not yet synced, over all files. */
  unsyncedBytes(): number {
    let bytes = 0;
    for (const file of this.dirty.values()) bytes += file.pages.size * PAGE_BYTES;
    return bytes;
  }

  /** Files with unsynced data (mount paths), sorted. */
  unsyncedFiles(): string[] {
    return [...this.dirty.keys()].sort();
  }

  /** The size processes see: the cached size while the file has unsynced data, else the backing file's. */
  sizeOf(path: string, backingSize: number): number {
    return this.dirty.get(path)?.size ?? backingSize;
  }

  /** `stat` of a path as processes see it. */
  stat(path: string): Stats {
    const stats = statSync(this.backing(path));
    const file = this.dirty.get(path);
    if (file !== undefined) stats.size = file.size;
    return stats;
  }

  /** Writes `data` at `offset` of the file open as `fd` (a backing descriptor): into the cache only. */
  write(path: string, fd: number, data: Buffer, offset: number): void {
    const file = this.dirtyFile(path, fd);
    for (let done = 0; done < data.length; ) {
      const at = offset + done;
      const page = this.page(file, fd, Math.floor(at / PAGE_BYTES));
      const within = at % PAGE_BYTES;
      const n = Math.min(PAGE_BYTES - within, data.length - done);
      data.copy(page, within, done, done + n);
      done += n;
    }
    file.size = Math.max(file.size, offset + data.length);
    file.lastWrite = { offset, data: Buffer.from(data) };
    this.stats.writes++;
  }

  /** Reads into `target` from `offset`; returns the bytes read (0 at the end of the file). */
  read(path: string, fd: number, target: Buffer, offset: number): number {
    const file = this.dirty.get(path);
    if (file === undefined) return readFully(fd, target, offset);
    const length = Math.max(0, Math.min(target.length, file.size - offset));
    for (let done = 0; done < length; ) {
      const at = offset + done;
      const index = Math.floor(at / PAGE_BYTES);
      const within = at % PAGE_BYTES;
      const n = Math.min(PAGE_BYTES - within, length - done);
      const page = file.pages.get(index);
      if (page !== undefined) page.copy(target, done, within, within + n);
      else {
        const slice = target.subarray(done, done + n);
        slice.fill(0, readFully(fd, slice, at));
      }
      done += n;
    }
    return length;
  }

  /** Sets the file's size (truncate or extend with zeros), in the backing file at once and in the cache. */
  truncate(path: string, size: number): void {
    const fd = openSync(this.backing(path), 'r+');
    try {
      ftruncateSync(fd, size);
    } finally {
      closeSync(fd);
    }
    const file = this.dirty.get(path);
    if (file === undefined) return;
    file.size = size;
    for (const [index, page] of file.pages) {
      if (index * PAGE_BYTES >= size) file.pages.delete(index);
      else if ((index + 1) * PAGE_BYTES > size) page.fill(0, size - index * PAGE_BYTES);
    }
    if (file.pages.size === 0) this.dirty.delete(path);
  }

  /**
   * fsync / fdatasync: writes the file's unsynced pages to the backing file and syncs it. An armed failure answers
   * EIO instead and, as Linux does after a failed writeback, forgets the pages: a retried fsync then succeeds
   * although the data never reached the disk.
   */
  sync(path: string, fd: number): void {
    if (this.failNextSync.delete(path) || this.failNextSync.delete('*')) {
      this.stats.failedSyncs++;
      this.dirty.delete(path);
      throw new FsError('EIO', `fsync of ${path} failed (armed fault)`);
    }
    this.writeBack(path, fd);
    fsyncSync(fd);
    this.stats.syncs++;
  }

  /** Writes every file's unsynced pages to the backing files and syncs them (a clean shutdown, or `flush`). */
  flushAll(): DropSummary {
    const summary = this.summary();
    for (const path of [...this.dirty.keys()]) {
      let fd: number;
      try {
        fd = openSync(this.backing(path), 'r+');
      } catch {
        // Unlinked meanwhile: nothing to write it to.
        this.dirty.delete(path);
        continue;
      }
      try {
        this.writeBack(path, fd);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    return summary;
  }

  /** Power loss: every unsynced page is gone; the backing directory is what the disk holds. */
  loseUnsynced(): DropSummary {
    const summary = this.summary();
    this.dirty.clear();
    this.stats.powerLosses++;
    return summary;
  }

  /**
   * A torn write and a power loss: of each file's unsynced data only the first `fraction` (0 <= fraction < 1) of
   * its most recent write reaches the disk, cut at a 512-byte sector boundary as a disk tears it; everything else not
   * synced is lost.
   */
  tearLastWrites(fraction: number): DropSummary & { kept: number } {
    if (!(fraction >= 0 && fraction < 1)) throw new FsError('EINVAL', `fraction must be in [0, 1), got ${fraction}`);
    const summary = this.summary();
    let kept = 0;
    for (const [path, file] of this.dirty) {
      const last = file.lastWrite;
      if (last === undefined) continue;
      const end = last.offset + Math.floor(last.data.length * fraction);
      const keep = Math.max(0, Math.floor(end / 512) * 512 - last.offset);
      if (keep === 0) continue;
      let fd: number;
      try {
        fd = openSync(this.backing(path), 'r+');
      } catch {
        continue;
      }
      try {
        for (let done = 0; done < keep; ) done += writeSync(fd, last.data, done, keep - done, last.offset + done);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      kept += keep;
    }
    this.dirty.clear();
    this.stats.tornWrites++;
    return { ...summary, kept };
  }

  /** Arms an EIO for the next fsync of `path` (a mount path), or of any file with `*`. */
  failNextSyncOf(path: string): void {
    this.failNextSync.add(path);
  }

  /** Disarms every armed fsync failure; returns how many were still armed. */
  clearSyncFailures(): number {
    const armed = this.failNextSync.size;
    this.failNextSync.clear();
    return armed;
  }

  /** A rename: the backing file moves at once, and its unsynced pages (and those of files under it) move with it. */
  rename(from: string, to: string): void {
    renameSync(this.backing(from), this.backing(to));
    this.dirty.delete(to);
    for (const [path, file] of [...this.dirty]) {
      if (path === from || path.startsWith(`${from}/`)) {
        this.dirty.delete(path);
        this.dirty.set(to + path.slice(from.length), file);
      }
    }
  }

  /** An unlink: the backing file goes at once, its unsynced pages with it. */
  unlink(path: string): void {
    unlinkSync(this.backing(path));
    this.dirty.delete(path);
  }

  /** Forgets a file's unsynced pages (it was truncated to nothing on open). */
  discard(path: string): void {
    this.dirty.delete(path);
  }

  private summary(): DropSummary {
    return { files: this.dirty.size, bytes: this.unsyncedBytes() };
  }

  private dirtyFile(path: string, fd: number): DirtyFile {
    let file = this.dirty.get(path);
    if (file === undefined) {
      file = { pages: new Map(), size: fstatSync(fd).size, lastWrite: undefined };
      this.dirty.set(path, file);
    }
    return file;
  }

  /** A page of the cache, loaded from the backing file (zeros past its end) the first time it is written. */
  private page(file: DirtyFile, fd: number, index: number): Buffer {
    let page = file.pages.get(index);
    if (page === undefined) {
      page = Buffer.alloc(PAGE_BYTES);
      // Only bytes below the size processes see are data; a truncated tail must read back as zeros.
      const valid = Math.max(0, Math.min(PAGE_BYTES, file.size - index * PAGE_BYTES));
      if (valid > 0) readFully(fd, page.subarray(0, valid), index * PAGE_BYTES);
      file.pages.set(index, page);
    }
    return page;
  }

  /** Writes a file's unsynced pages (clipped to its size) to the backing file and forgets them. */
  private writeBack(path: string, fd: number): void {
    const file = this.dirty.get(path);
    if (file === undefined) return;
    for (const [index, page] of [...file.pages].sort((a, b) => a[0] - b[0])) {
      const start = index * PAGE_BYTES;
      const length = Math.min(PAGE_BYTES, file.size - start);
      for (let done = 0; done < length; ) done += writeSync(fd, page, done, length - done, start + done);
    }
    if (fstatSync(fd).size !== file.size) ftruncateSync(fd, file.size);
    this.dirty.delete(path);
  }
}

/** Reads until `target` is full or the file ends; returns the bytes read. */
function readFully(fd: number, target: Buffer, offset: number): number {
  let done = 0;
  while (done < target.length) {
    const n = readSync(fd, target, done, target.length - done, offset + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}
