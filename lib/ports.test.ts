import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PORT_CLAIMS_DIR, claimPort, freePort } from './ports.ts';

const claimFile = (port: number): string => join(PORT_CLAIMS_DIR, String(port));

test('a port handed out is claimed machine-wide by this process', async () => {
  const port = await freePort();
  assert.equal(Number(readFileSync(claimFile(port), 'utf8')), process.pid);
  assert.ok(claimPort(port), 'our own claim stays ours');
});

test("another live process's claim keeps the port from us; once that process is gone, the claim is taken over", async () => {
  const port = await freePort();
  const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  try {
    // The port is now claimed by the other process (as if its run had handed it out and then cut the proxy).
    writeFileSync(claimFile(port), String(holder.pid));
    assert.equal(claimPort(port), false);
  } finally {
    holder.kill('SIGKILL');
    await once(holder, 'exit');
  }
  assert.equal(claimPort(port), true);
  assert.equal(Number(readFileSync(claimFile(port), 'utf8')), process.pid);
});
