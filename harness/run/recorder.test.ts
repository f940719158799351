import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseJsonLines } from '../../reports/run-files.ts';
import type { HistoryEvent } from '../../workloads/types.ts';
import { Recorder } from './recorder.ts';

test('events are written in call order with non-decreasing times, and read back identically', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-rec-'));
  const path = join(dir, 'history.jsonl');
  const recorder = new Recorder(path);
  for (let i = 0; i < 500; i++) {
    recorder.record({ process: i % 7, type: i % 2 === 0 ? 'invoke' : 'ok', f: 'write', key: 'k0', value: i });
  }
  recorder.record({ process: 'nemesis', type: 'info', f: 'kill-start', value: ['n1'] });
  await recorder.close();
  const events = parseJsonLines<HistoryEvent>(readFileSync(path, 'utf8'), 'history.jsonl');
  assert.deepEqual(events, recorder.events);
  assert.equal(events.length, 501);
  for (let i = 1; i < events.length; i++) {
    assert.ok((events[i]?.time ?? -1) >= (events[i - 1]?.time ?? 0));
    if (i < 500) assert.equal(events[i]?.value, i);
  }
  rmSync(dir, { recursive: true, force: true });
});

test('a malformed history line is reported with its line number', () => {
  assert.throws(() => parseJsonLines('{"process":1}\n{oops\n', 'history.jsonl'), /history.jsonl line 2 is not JSON/);
});
