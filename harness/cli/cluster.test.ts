import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { freePortRange } from '../../lib/ports.ts';
import { repoRoot, tsxImport } from '../../lib/repo.ts';
import { waitFor } from '../testing.ts';

test('npm run cluster reports a node killed from outside, keeps the others, and restarts it on its data', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-cluster-cli-'));
  // The CLI gives node i port base+i-1.
  const base = await freePortRange(3);
  const cli = execa(
    process.execPath,
    [
      '--import',
      tsxImport,
      join(repoRoot, 'harness/cli/cluster.ts'),
      '--nodes',
      '3',
      '--port',
      String(base),
      '--data-dir',
      dir,
    ],
    { cwd: repoRoot, stdin: 'pipe', reject: false, all: true, buffer: true, env: { ...process.env, FORCE_COLOR: '0' } },
  );
  let output = '';
  cli.all?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  try {
    await waitFor(() => /leader n\d/.test(output), 60_000, 'the cluster elects a leader');
    const n2 = /n2 (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
    assert.ok(n2 !== undefined, `n2's URL is printed:\n${output}`);
    cli.stdin?.write('kill n2\n');
    await waitFor(() => output.includes('n2 exited (SIGKILL); the others keep running'), 30_000, 'n2 reported');
    cli.stdin?.write('status\n');
    await waitFor(() => /n2 down/.test(output), 30_000, 'status shows n2 down');
    assert.equal(cli.exitCode, null, 'the CLI keeps running after a node died');
    cli.stdin?.write('restart n2\n');
    await waitFor(() => output.includes('restart n2: done'), 60_000, 'n2 restarted');
    cli.stdin?.write('status\n');
    await waitFor(() => /n2 up (leader|follower|candidate|pre-candidate)/.test(output), 30_000, 'n2 answers again');
    cli.stdin?.write('quit\n');
    const result = await cli;
    assert.equal(result.exitCode, 0, output);
  } finally {
    cli.kill('SIGKILL');
    await cli.catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});
