// Member clocks under libfaketime for real: a node process started with a member's environment reads the skewed clock.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FakeClocks, fakeClockUnavailableReason, memberFaultUnavailableReason } from './member-faults.ts';

const HOUR_MS = 3_600_000;

test('a skewed member reads its wall clock an hour ahead, and real time again after a reset', {
  skip: fakeClockUnavailableReason() ?? false,
  timeout: 30_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fake-clock-'));
  try {
    const clocks = new FakeClocks(dir);
    const env = clocks.environment('n1');
    await clocks.skew('n1', HOUR_MS);
    const before = Date.now();
    const child = spawnSync(
      process.execPath,
      ['-e', 'console.log(JSON.stringify([Date.now(), performance.timeOrigin]))'],
      {
        env: { ...process.env, ...env },
        encoding: 'utf8',
      },
    );
    const [childNow, childOrigin] = JSON.parse(child.stdout) as [number, number];
    // Far apart from any scheduling delay: the child's clock is an hour ahead, ours is not.
    assert.ok(Math.abs(childNow - before - HOUR_MS) < HOUR_MS / 6, `child ${childNow}, parent ${before}`);
    assert.ok(Math.abs(childOrigin - before - HOUR_MS) < HOUR_MS / 6, `child time origin ${childOrigin}`);
    await clocks.resetClock('n1');
    const reset = spawnSync(process.execPath, ['-e', 'console.log(Date.now())'], {
      env: { ...process.env, ...clocks.environment('n1') },
      encoding: 'utf8',
    });
    assert.ok(Math.abs(Number(reset.stdout) - Date.now()) < HOUR_MS / 6, 'back on real time');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without fusermount on the PATH a disk fault is refused naming the package to install', () => {
  const path = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    assert.match(
      memberFaultUnavailableReason('lose-unsynced') ?? '',
      /package fuse is missing: apt-get install -y libfuse2 fuse/,
    );
    assert.equal(memberFaultUnavailableReason('kill'), undefined);
  } finally {
    process.env.PATH = path;
  }
});
