// The --bug flag on a real node process: refused unless valid, loud when
// given, shown in /status, never active by default.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { request } from 'undici';

const tsxImport = import.meta.resolve('tsx');
const mainPath = fileURLToPath(new URL('./main.ts', import.meta.url));
const dirs: string[] = [];
const children: ResultPromise[] = [];

after(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function startNode(
  extraArgs: string[],
  env: Record<string, string> = {},
): ResultPromise<{ reject: false; all: true; env: Record<string, string>; timeout: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-bug-'));
  dirs.push(dir);
  const child = execa(
    process.execPath,
    [
      '--import',
      tsxImport,
      mainPath,
      '--id',
      'n1',
      '--listen',
      '127.0.0.1:0',
      '--peers',
      'n1=http://127.0.0.1:1',
      '--data-dir',
      join(dir, 'n1'),
      ...extraArgs,
    ],
    // RAFTLAB_BUG is cleared unless the test sets it, so a developer's shell cannot leak a bug in.
    { reject: false, all: true, env: { RAFTLAB_BUG: '', ...env }, timeout: 30_000 },
  );
  children.push(child);
  return child;
}

/** Waits for the `listening` line on stdout and returns the URL. */
function listeningUrl(child: ResultPromise): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const match = /"url":"([^"]+)"/.exec(buffered);
      if (match?.[1] !== undefined) resolve(match[1]);
    });
    void child.then((r) => reject(new Error(`node exited ${r.exitCode} before listening: ${r.all}`)));
  });
}

async function status(url: string): Promise<Record<string, unknown>> {
  const res = await request(`${url}/status`, { headersTimeout: 10_000, bodyTimeout: 10_000 });
  return (await res.body.json()) as Record<string, unknown>;
}

describe('node --bug', () => {
  test('an unknown bug name is refused with exit 1 and the list of valid ones', async () => {
    const result = await startNode(['--bug', 'typo']);
    assert.equal(result.exitCode, 1);
    assert.match(
      result.all,
      /--bug "typo" is not a known bug; valid bugs: stale-read, no-fsync, commit-old-term, vote-twice, no-dedup, fsync-skipped, lease-without-clock-bound/,
    );
  });

  test('an unknown RAFTLAB_BUG is refused the same way', async () => {
    const result = await startNode([], { RAFTLAB_BUG: 'nope' });
    assert.equal(result.exitCode, 1);
    assert.match(result.all, /RAFTLAB_BUG "nope" is not a known bug/);
  });

  test('a planted bug is logged loudly and shown in /status; without one there is none', async () => {
    const buggy = startNode(['--bug', 'no-dedup']);
    const buggyStatus = await status(await listeningUrl(buggy));
    assert.equal(buggyStatus.bug, 'no-dedup');
    const fromEnv = startNode([], { RAFTLAB_BUG: 'lease-without-clock-bound' });
    const envStatus = await status(await listeningUrl(fromEnv));
    assert.equal(envStatus.bug, 'lease-without-clock-bound');
    assert.equal(envStatus.readMode, 'lease', 'the lease bug implies lease reads');
    const correct = startNode([]);
    const correctStatus = await status(await listeningUrl(correct));
    assert.equal(correctStatus.bug, undefined);
    assert.equal(correctStatus.readMode, 'index');
    buggy.kill('SIGTERM');
    const log = (await buggy).all;
    assert.match(log, /WARNING: raftlab node n1 runs with PLANTED BUG "no-dedup"/);
    assert.match(log, /"event":"planted-bug".*"bug":"no-dedup"/);
  });
});
