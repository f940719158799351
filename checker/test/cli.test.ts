// The CLI as a process: exit codes, --json shape, clear errors.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { check } from '../check.ts';
import { type CliIo, runCli } from '../cli.ts';
import { readHistoryFile } from '../parse.ts';

const CLI = fileURLToPath(new URL('../cli.ts', import.meta.url));
let dir = '';

function jsonl(events: object[]): string {
  return `${events.map((e) => JSON.stringify(e)).join('\n')}\n`;
}

function run(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), CLI, ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'checker-cli-'));
  writeFileSync(
    join(dir, 'good.jsonl'),
    jsonl([
      { process: 0, type: 'invoke', f: 'write', key: 'a', value: 1 },
      { process: 0, type: 'ok', f: 'write', key: 'a', value: 1 },
      { process: 'nemesis', type: 'info', f: 'kill', value: ['n1'] },
      { process: 1, type: 'invoke', f: 'read', key: 'a', value: null },
      { process: 1, type: 'ok', f: 'read', key: 'a', value: 1 },
    ]),
  );
  writeFileSync(
    join(dir, 'stale.jsonl'),
    jsonl([
      { process: 0, type: 'invoke', f: 'write', key: 'a', value: 1 },
      { process: 0, type: 'ok', f: 'write', key: 'a', value: 1 },
      { process: 0, type: 'invoke', f: 'write', key: 'a', value: 2 },
      { process: 0, type: 'ok', f: 'write', key: 'a', value: 2 },
      { process: 1, type: 'invoke', f: 'read', key: 'a', value: null },
      { process: 1, type: 'ok', f: 'read', key: 'a', value: 1 },
    ]),
  );
  // Unknown writes, two of each value; reads of each value twice, then of 1 again.
  const explosive: object[] = [];
  for (let i = 0; i < 28; i++)
    explosive.push({ process: i, type: 'invoke', f: 'write', key: 'h', value: (i % 14) + 1 });
  for (let i = 0; i < 28; i++) explosive.push({ process: i, type: 'info', f: 'write', key: 'h', value: (i % 14) + 1 });
  const each = Array.from({ length: 14 }, (_, i) => i + 1);
  for (const value of [...each, ...each, 1]) {
    explosive.push({ process: 99, type: 'invoke', f: 'read', key: 'h', value: null });
    explosive.push({ process: 99, type: 'ok', f: 'read', key: 'h', value });
  }
  writeFileSync(join(dir, 'explosive.jsonl'), jsonl(explosive));
  writeFileSync(
    join(dir, 'broken.jsonl'),
    '{"process":0,"type":"invoke","f":"read","value":null}\n{"process":0,"type":"ok",\n',
  );
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

test('exit 0 when every file is linearizable', () => {
  const { code, stdout } = run(['good.jsonl']);
  assert.equal(code, 0);
  assert.match(stdout, /good\.jsonl: LINEARIZABLE/);
});

test('exit 1 and one JSON object per file with --json when a file is illegal', () => {
  const { code, stdout } = run(['good.jsonl', 'stale.jsonl', '--json']);
  assert.equal(code, 1);
  const lines = stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  assert.equal(lines.length, 2);
  assert.deepEqual(
    lines.map((l) => [l.file, l.verdict]),
    [
      ['good.jsonl', 'linearizable'],
      ['stale.jsonl', 'illegal'],
    ],
  );
  const stale = lines[1];
  assert.equal(stale.ops, 3);
  assert.equal(typeof stale.timeMs, 'number');
  assert.deepEqual(
    stale.partitions.map((p: { key: string; verdict: string }) => [p.key, p.verdict]),
    [['a', 'illegal']],
  );
  const cx = stale.counterexample[0];
  assert.equal(cx.key, 'a');
  assert.deepEqual(cx.stuckOps, [4]);
  assert.ok(cx.ops.some((op: { id: number; description: string }) => op.id === 4 && op.description === 'read → 1'));
});

test('exit 2 when a partition runs out of budget and none is illegal', () => {
  const { code, stdout } = run(['good.jsonl', 'explosive.jsonl', '--budget-ms', '200']);
  assert.equal(code, 2);
  assert.match(stdout, /explosive\.jsonl: UNKNOWN/);
  assert.match(stdout, /time budget exhausted/);
});

test('exit 3 with the line number for a malformed file; the other files are still checked', () => {
  const { code, stdout, stderr } = run(['broken.jsonl', 'stale.jsonl']);
  assert.equal(code, 3);
  assert.match(stderr, /broken\.jsonl: line 2: not valid JSON/);
  assert.match(stdout, /stale\.jsonl: ILLEGAL/);
});

test('exit 3, not 1, for an unknown flag (the process exit code)', () => {
  const { code, stderr } = run(['good.jsonl', '--bogus']);
  assert.equal(code, 3, stderr);
  assert.match(stderr, /Unknown argument: bogus/);
});

test('usage errors return 3: a bad value, a bad model, no file', async () => {
  for (const args of [
    ['good.jsonl', '--budget-ms', '4x'],
    ['good.jsonl', '--memo-mb', '-1'],
    ['good.jsonl', '--model', 'nope'],
    [],
  ]) {
    const io = fakeIo('none');
    assert.equal(await runCli(args, io), 3, args.join(' '));
    assert.ok(
      io.lines.some((line) => line.includes('--help lists the options')),
      io.lines.join('\n'),
    );
  }
});

test('exit 3 for a missing file', () => {
  const { code, stderr } = run(['good.jsonl', 'missing.jsonl']);
  assert.equal(code, 3);
  assert.match(stderr, /missing\.jsonl: cannot read/);
});

test('stdout closed early keeps the worst verdict seen so far', async () => {
  // stale.jsonl (illegal) first: its output hits the closed pipe.
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), CLI, 'stale.jsonl', 'good.jsonl'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.destroy();
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 1);
});

function fakeIo(fault: 'read' | 'check' | 'print' | 'none'): CliIo & { lines: string[] } {
  const lines: string[] = [];
  const boom = (): never => {
    throw new TypeError(`injected ${fault} fault`);
  };
  return {
    lines,
    out: (line) => (fault === 'print' ? boom() : lines.push(line)),
    err: (line) => lines.push(line),
    readHistory: async (file) => (fault === 'read' ? boom() : readHistoryFile(join(dir, file))),
    check: async (events, options) => (fault === 'check' ? boom() : check(events, options)),
  };
}

test('an exception while reading, checking or printing exits 3 and is reported as internal', async () => {
  for (const fault of ['read', 'check', 'print'] as const) {
    const io = fakeIo(fault);
    const code = await runCli(['good.jsonl'], io);
    assert.equal(code, 3, fault);
    assert.ok(
      io.lines.some((line) => line.includes(`internal error: TypeError: injected ${fault} fault`)),
      io.lines.join('\n'),
    );
  }
});
