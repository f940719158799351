import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { DataDirInUseError, LOCK_FILE, lockDataDir } from './dir-lock.ts';

const root = mkdtempSync(join(tmpdir(), 'raftlab-dirlock-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A pid that certainly belongs to no running process: a child that already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

describe('data directory lock', () => {
  test('creates the directory and a LOCK file holding our pid; release removes it', () => {
    const dir = join(root, 'fresh', 'nested');
    const lock = lockDataDir(dir);
    assert.equal(readFileSync(join(dir, LOCK_FILE), 'utf8').trim(), String(process.pid));
    assert.equal(lock.tookOverFromPid, null);
    lock.release();
    assert.equal(existsSync(join(dir, LOCK_FILE)), false);
    lock.release(); // idempotent
  });

  test('a second claim while a live process holds it fails and names the owner and the file', () => {
    const dir = join(root, 'busy');
    const lock = lockDataDir(dir);
    try {
      assert.throws(
        () => lockDataDir(dir),
        (err: unknown) =>
          err instanceof DataDirInUseError &&
          err.ownerPid === process.pid &&
          err.message.includes(join(dir, LOCK_FILE)) &&
          err.message.includes('--data-dir'),
      );
      // The failed claim left the holder's lock alone.
      assert.equal(readFileSync(join(dir, LOCK_FILE), 'utf8').trim(), String(process.pid));
    } finally {
      lock.release();
    }
  });

  test('a lock left by a killed process is taken over', () => {
    const dir = join(root, 'stale');
    const pid = deadPid();
    lockDataDir(dir, pid); // written as if by the dead process, never released
    const lock = lockDataDir(dir);
    assert.equal(lock.tookOverFromPid, pid);
    assert.equal(readFileSync(lock.path, 'utf8').trim(), String(process.pid));
    lock.release();
  });

  test('an empty lock is left alone while fresh (being written) and taken over once old', () => {
    const dir = join(root, 'torn');
    lockDataDir(dir).release();
    const path = join(dir, LOCK_FILE);
    writeFileSync(path, '');
    assert.throws(() => lockDataDir(dir), DataDirInUseError);
    const old = new Date(Date.now() - 60_000);
    utimesSync(path, old, old);
    const lock = lockDataDir(dir);
    assert.equal(lock.tookOverFromPid, null);
    lock.release();
  });

  test('release does not remove a lock that another process now owns', () => {
    const dir = join(root, 'moved');
    const lock = lockDataDir(dir);
    writeFileSync(lock.path, `${deadPid()}\n`);
    lock.release();
    assert.equal(existsSync(lock.path), true);
  });
});

describe('a node process and its data directory', () => {
  const mainTs = fileURLToPath(new URL('../main.ts', import.meta.url));
  /** Resolves on the node's "listening" line; rejects if it exits first. */
  const untilListening = (child: ResultPromise): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('"listening"')) resolve();
      });
      void child.then((r) => reject(new Error(`node exited early: ${String(r.stderr)}`)));
    });
  const nodeArgs = (dir: string): string[] => [
    '--import',
    'tsx',
    mainTs,
    '--id',
    'n1',
    '--listen',
    '127.0.0.1:0',
    '--peers',
    'n1=http://127.0.0.1:1',
    '--data-dir',
    dir,
  ];

  test('a second node on the same --data-dir refuses to start and the first keeps its lock', async () => {
    const dir = join(root, 'process');
    const first = execa(process.execPath, [...nodeArgs(dir), '--exit-with-parent'], { stdin: 'pipe', reject: false });
    try {
      // The first node holds the lock from before it listens.
      await untilListening(first);
      const second = await execa(process.execPath, nodeArgs(dir), { reject: false, timeout: 60_000 });
      assert.equal(second.exitCode, 1);
      assert.match(second.stderr, new RegExp(`data directory .* is in use by process ${first.pid}`));
      assert.equal(readFileSync(join(dir, LOCK_FILE), 'utf8').trim(), String(first.pid));
    } finally {
      first.kill('SIGKILL');
      await first;
    }
    // Killed without a chance to clean up: the next node takes the stale lock over.
    const third = execa(process.execPath, [...nodeArgs(dir), '--exit-with-parent'], { stdin: 'pipe', reject: false });
    try {
      // Once it serves, its signal handlers are installed; then look for the takeover in its log.
      await untilListening(third);
      third.kill('SIGTERM');
      const result = await third;
      const line = result.stderr.split('\n').find((l) => l.includes('stale-lock-taken-over')) ?? '';
      assert.match(line, new RegExp(`"deadPid":${first.pid}\\b`));
    } finally {
      third.kill('SIGTERM');
      await third;
    }
    assert.equal(existsSync(join(dir, LOCK_FILE)), false, 'a clean stop removes the lock');
  });
});
