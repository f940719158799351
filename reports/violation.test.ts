import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { faultWindows } from './analysis.ts';
import { checkSync } from '../checker/index.ts';
import type { RunEvent } from './run-files.ts';
import { buildViolationView, leadersAt, roleBands } from './violation.ts';
import { buildAxis } from './timeline-svg.ts';
import { staleReadEvents, staleReadStatus, writeStaleReadRun } from './testing.ts';
import { writeChaosReport } from './write-chaos-report.ts';

const ms = 1e6;

function view() {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-violation-'));
  const results = writeStaleReadRun(dir);
  rmSync(dir, { recursive: true, force: true });
  const partition = results.check?.partitions.find((p) => p.verdict === 'illegal');
  assert.ok(partition?.counterexample !== undefined, 'the checker found the stale read');
  const faults = faultWindows(staleReadEvents()).map((w) => ({ ...w, lane: 0 }));
  return buildViolationView(partition.counterexample, staleReadEvents(), staleReadStatus(), faults);
}

test('the violation view tells the story: the checker sentence, who served the read, who led, which fault', () => {
  const v = view();
  assert.equal(v.key, 'k0');
  assert.equal(v.axis, 'ns');
  // The checker's own sentence comes first, then the context from the history and status.jsonl.
  // ... on the run's clock: the checker counts from the key's first op (0.10 s), so 0.02 s is 0.12 s here.
  assert.match(
    v.story,
    /^write 1 by p0 was acknowledged at 0\.12 s; .* acknowledged at 0\.53 s\) overwrote it before p1 read 1 at 0\.70 s\./,
  );
  assert.match(
    v.story,
    /cannot get past, read → 1 by p1 \(sent to n2, answered by n2, then the leader in term 1\), was invoked at 0\.70 s, when n1 \(term 2\) and n2 \(term 1\) both claimed to lead\./,
  );
  assert.match(
    v.story,
    /The last write acknowledged before it, write 2 by p0 \(sent to n1, answered by n1, then the leader in term 2\), was acknowledged at 0\.53 s, when n1 \(term 2\) and n2 \(term 1\) both claimed to lead\./,
  );
  assert.match(
    v.story,
    /So n2 answered without write 2, which n1 had acknowledged: either that write was lost or n2 answered from stale state\./,
  );
  assert.match(v.story, /Active during the window \([^)]*\): #0 partition n2 \| n1 n3 \(0\.30 s–1\.50 s\)\./);
  // The read is the op the linearization breaks at; the window and the op that forced the initial state are drawn.
  const read = v.ops.find((o) => o.description === 'read → 1');
  assert.equal(read?.stuck, true);
  assert.equal(v.breaksAt, read?.id);
  assert.equal(v.ops.find((o) => o.description === 'write 2')?.role, 'cause', 'it forced the initial state 2');
  assert.equal(v.ops.find((o) => o.description === 'write 1')?.role, 'cause', 'it wrote the value the read saw');
  assert.deepEqual(
    read?.events.map((e) => e.type),
    ['invoke', 'ok'],
  );
  assert.equal(read?.servedBy, 'n2');
  // Other keys' ops are not context of k0.
  assert.ok(v.ops.every((o) => o.events[0]?.key === 'k0'));
});

test('a value read although its only write was answered fail is told as such', () => {
  // A retried cas applied twice: the first copy took effect, the retry answered cas-mismatch (fail), 3 was read.
  const events: RunEvent[] = [
    { process: 0, type: 'invoke', f: 'write', key: 'k', value: 1, time: 0, node: 'n1' },
    { process: 0, type: 'ok', f: 'write', key: 'k', value: 1, time: 10 * ms, node: 'n1', servedBy: 'n1' },
    { process: 1, type: 'invoke', f: 'cas', key: 'k', value: [1, 3], time: 20 * ms, node: 'n2' },
    {
      process: 1,
      type: 'fail',
      f: 'cas',
      key: 'k',
      value: [1, 3],
      time: 400 * ms,
      node: 'n2',
      servedBy: 'n1',
      error: 'cas-mismatch',
    },
    { process: 2, type: 'invoke', f: 'read', key: 'k', value: null, time: 500 * ms, node: 'n3' },
    { process: 2, type: 'ok', f: 'read', key: 'k', value: 3, time: 510 * ms, node: 'n3', servedBy: 'n1' },
  ];
  const result = checkSync(events, { model: 'raftlab-kv' });
  const example = result.partitions[0]?.counterexample;
  assert.ok(example !== undefined, 'illegal: 3 was never written by an op that may have happened');
  const v = buildViolationView(example, events, [], []);
  const cas = v.ops.find((o) => o.events[0]?.f === 'cas');
  assert.equal(cas?.role, 'cause');
  assert.match(
    v.story,
    /^p2 read 3 at 0\.50 s, a value no op ever wrote \(a phantom value\)[^.]*\. The write of that value before it, cas 1 → 3 by p1 \(sent to n2, answered by n1\), was answered fail \(cas-mismatch\) at 0\.40 s, which says it certainly did not happen; yet its value was read\. The op the longest linearization cannot get past, read → 3 by p2 \(sent to n3, answered by n1\), was invoked at 0\.50 s\./,
  );
});

test('a counterexample whose ops are not in the history beside it is drawn from the checker record', () => {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-violation-'));
  const results = writeStaleReadRun(dir);
  rmSync(dir, { recursive: true, force: true });
  const example = results.check?.partitions.find((p) => p.verdict === 'illegal')?.counterexample;
  assert.ok(example !== undefined);
  const v = buildViolationView(example, [], [], []);
  assert.deepEqual(
    v.ops.filter((o) => o.role === 'window').map((o) => [o.description, o.start, o.end, o.stuck]),
    example.ops.map((o) => [o.description, o.invokeTimeNs, o.completeTimeNs, true]),
  );
  assert.match(v.story, /^write 1 by p0 was acknowledged at/);
});

test('role bands follow status.jsonl, including a member that did not answer', () => {
  const bands = roleBands(staleReadStatus(), 0, 2000 * ms);
  const n3 = bands.filter((b) => b.node === 'n3').map((b) => b.role);
  assert.deepEqual(n3, ['follower', 'follower', 'down', 'follower']);
  assert.deepEqual(leadersAt(staleReadStatus(), 100 * ms), [{ node: 'n2', term: 1 }]);
  assert.equal(leadersAt(staleReadStatus(), -1), undefined);
});

test('the timeline axis cuts out a long empty stretch but keeps both ends to scale', () => {
  const axis = buildAxis(
    [
      [0, 10],
      [1000, 1010],
      [1005, 1020],
    ],
    1000,
  );
  assert.deepEqual(
    axis.map((p) => p.cut),
    [false, true, false],
  );
  assert.equal(axis[axis.length - 1]?.px1, 1000);
  // Without a long gap nothing is cut.
  assert.deepEqual(
    buildAxis(
      [
        [0, 10],
        [12, 30],
      ],
      500,
    ).map((p) => p.cut),
    [false],
  );
});

test('the report draws a bar per op of the window, the member bands and the story, escaped', () => {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-violation-report-'));
  writeStaleReadRun(dir);
  const html = readFileSync(writeChaosReport(dir), 'utf8');
  rmSync(dir, { recursive: true, force: true });
  assert.match(html, /<p class="story" id="story-0">write 1 by p0 was acknowledged at 0.12 s/);
  assert.match(html, /class="op ok window stuck" data-op="\d+"/);
  assert.match(html, /class="band leader" data-tip="n2: leader, term 1/);
  assert.match(html, /class="fault" data-kind="partition"/);
  assert.match(html, /longest linearization \(\d+ ops\) breaks here/);
  assert.match(html, /read → 1 @n2/);
});
