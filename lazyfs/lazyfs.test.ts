// The lazy file system for real: a FUSE mount served by its own process, written through the mount from this one.
// Skipped (with the reason) on a machine without FUSE.
import assert from 'node:assert/strict';
import {
  closeSync,
  fdatasyncSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { tsxImport } from '../lib/repo.ts';
import {
  cleanupLazyFsLeftovers,
  type LazyFs,
  lazyFsUnavailableReason,
  startLazyFs,
} from '../harness/systems/lazyfs-process.ts';

const unavailable = lazyFsUnavailableReason();

describe('lazy file system (FUSE)', { skip: unavailable ?? false, timeout: 60_000 }, () => {
  let dir: string;
  let fs: LazyFs;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lazyfs-test-'));
    fs = await startLazyFs({ backing: join(dir, 'backing'), mount: join(dir, 'mount') });
  });
  after(async () => {
    await fs?.stop();
    rmSync(dir, { recursive: true, force: true });
    const mounts = readFileSync('/proc/mounts', 'utf8');
    assert.ok(!mounts.includes(join(dir, 'mount')), 'the mount is gone after stop');
  });

  const write = (fd: number, text: string, at?: number): void => {
    writeSync(fd, Buffer.from(text), 0, text.length, at);
  };

  test('a power loss drops what was written but not synced; synced data, renames and new directories stay', async () => {
    mkdirSync(join(fs.mount, 'wal'));
    const fd = openSync(join(fs.mount, 'wal', 'tmp'), 'w+');
    write(fd, 'durable;', 0);
    fdatasyncSync(fd);
    write(fd, 'volatile', 8);
    closeSync(fd);
    renameSync(join(fs.mount, 'wal', 'tmp'), join(fs.mount, 'wal', 'log'));
    // Before the loss the mount shows everything, the backing file only what was synced.
    assert.equal(readFileSync(join(fs.mount, 'wal', 'log'), 'utf8'), 'durable;volatile');
    assert.equal(readFileSync(join(fs.backing, 'wal', 'log'), 'utf8'), 'durable;');
    const dropped = await fs.loseUnsynced();
    assert.equal(dropped.files, 1);
    assert.equal(readFileSync(join(fs.mount, 'wal', 'log'), 'utf8'), 'durable;');
    assert.equal(statSync(join(fs.mount, 'wal', 'log')).size, 8);
  });

  test('a torn write keeps a sector-cut prefix of the last unsynced write and nothing after it', async () => {
    const fd = openSync(join(fs.mount, 'torn'), 'w+');
    write(fd, 'x'.repeat(100), 0);
    fsyncSync(fd);
    write(fd, 'a'.repeat(2000), 100);
    closeSync(fd);
    // Half of the 2000 bytes ends at byte 1100, cut back to the sector boundary at 1024.
    const dropped = await fs.tornWrite(0.5);
    assert.equal(dropped.kept, 924);
    const after = readFileSync(join(fs.mount, 'torn'), 'utf8');
    assert.equal(after, 'x'.repeat(100) + 'a'.repeat(924));
  });

  test('an armed fsync failure answers EIO once and loses the data, as Linux does after a failed writeback', async () => {
    const fd = openSync(join(fs.mount, 'eio'), 'w+');
    write(fd, 'first', 0);
    await fs.failNextFsync('/eio');
    assert.throws(() => fsyncSync(fd), { code: 'EIO' });
    // The next fsync succeeds, although the write never reached the disk.
    fsyncSync(fd);
    closeSync(fd);
    assert.equal(readFileSync(join(fs.backing, 'eio'), 'utf8'), '');
    assert.equal(readFileSync(join(fs.mount, 'eio'), 'utf8'), '');
  });

  test('a clean stop writes unsynced data back before it unmounts', async () => {
    const fd = openSync(join(fs.mount, 'clean'), 'w');
    write(fd, 'kept on stop', 0);
    closeSync(fd);
    await fs.stop();
    assert.equal(readFileSync(join(fs.backing, 'clean'), 'utf8'), 'kept on stop');
  });
});

test('a mount whose process died without unmounting is swept by the next start', {
  skip: unavailable ?? false,
  timeout: 60_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lazyfs-leftover-'));
  const mount = join(dir, 'mount');
  const main = fileURLToPath(new URL('./main.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', tsxImport, main, '--backing', join(dir, 'b'), '--mount', mount], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  try {
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    assert.match(line.toString(), /"event":"listening"/);
    // Take away fusermount's auto_unmount helper first, so the mount survives its process as after a crash of both.
    // Any of its threads may have forked it.
    const children = readdirSync(`/proc/${child.pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${child.pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean),
    );
    for (const pid of children) {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'fusermount') process.kill(Number(pid), 'SIGKILL');
    }
    child.kill('SIGKILL');
    await once(child, 'exit');
    assert.ok(readFileSync('/proc/mounts', 'utf8').includes(` ${mount} `), 'the dead process left its mount');
    assert.ok((await cleanupLazyFsLeftovers()).includes(mount));
    assert.ok(!readFileSync('/proc/mounts', 'utf8').includes(` ${mount} `), 'swept');
  } finally {
    child.kill('SIGKILL');
    await cleanupLazyFsLeftovers();
    rmSync(dir, { recursive: true, force: true });
  }
});
