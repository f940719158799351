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

test('npm run cluster --spare adds a spare node by hand and removes a member again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-cluster-members-'));
  const base = await freePortRange(4);
  const cli = execa(
    process.execPath,
    [
      '--import',
      tsxImport,
      join(repoRoot, 'harness/cli/cluster.ts'),
      ...['--nodes', '3', '--spare', '1', '--port', String(base), '--data-dir', dir],
    ],
    { cwd: repoRoot, stdin: 'pipe', reject: false, all: true, buffer: true, env: { ...process.env, FORCE_COLOR: '0' } },
  );
  let output = '';
  cli.all?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  try {
    await waitFor(() => /leader n\d/.test(output), 60_000, 'the cluster elects a leader');
    assert.match(output, /members n1,n2,n3; outside the configuration: n4/);
    assert.match(
      output,
      /curl -X POST http:\/\/127\.0\.0\.1:\d+\/members -d '\{"id":"n4","url":"http:\/\/127\.0\.0\.1:\d+"\}'/,
    );
    cli.stdin?.write('members\n');
    await waitFor(() => /members n1,n2,n3\n/.test(output), 30_000, 'three voters at the start');
    cli.stdin?.write('add n4\n');
    await waitFor(() => /add n4: (done|FAILED)/.test(output), 60_000, 'the add ends');
    assert.match(output, /add n4: done \(added n4 via n\d: n1,n2,n3,n4\)/);
    cli.stdin?.write('remove n2\n');
    await waitFor(() => /remove n2: (done|FAILED)/.test(output), 60_000, 'the remove ends');
    assert.match(output, /remove n2: done \(removed n2 via n\d: n1,n3,n4\)/);
    cli.stdin?.write('members\n');
    await waitFor(() => /members n1,n3,n4\n/.test(output), 30_000, 'the configuration has n4 and not n2');
    cli.stdin?.write('quit\n');
    const result = await cli;
    assert.equal(result.exitCode, 0, output);
  } finally {
    cli.kill('SIGKILL');
    await cli.catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});
