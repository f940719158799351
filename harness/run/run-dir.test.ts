import { test } from 'node:test';
import { runStamp } from '../../lib/time.ts';
import assert from 'node:assert/strict';
import { mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createRunDir, updateLatest } from './chaos.ts';

test('run directories are named by local time and never collide within one second', () => {
  const store = mkdtempSync(join(tmpdir(), 'raftlab-store-'));
  const date = new Date(2026, 0, 2, 3, 4, 5);
  assert.equal(runStamp(date), '20260102T030405');
  const first = createRunDir(store, 'kv', date);
  const second = createRunDir(store, 'kv', date);
  assert.equal(basename(first), '20260102T030405');
  assert.equal(basename(second), '20260102T030405-2');
  updateLatest(store, first);
  updateLatest(store, second);
  assert.equal(readlinkSync(join(store, 'latest')), join('kv', '20260102T030405-2'));
  rmSync(store, { recursive: true, force: true });
});
