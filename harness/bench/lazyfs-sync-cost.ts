// What the lazy file system costs a write-ahead log: `tsx harness/bench/lazyfs-sync-cost.ts [--rounds 2000] [--bytes 200]`.
// Appends `bytes` at a time to a preallocated file with a positional write and an fdatasync (what node/storage/wal.ts
// does per batch), alternating between a plain directory and the lazy file system mounted over another one in the
// same loop, so that the machine's load hits both alike; prints the latency percentiles of each and their ratio.
// Reading a file back (the path of a node's recovery) is measured the same way.
import { closeSync, fdatasyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { lazyFsUnavailableReason, startLazyFs } from '../systems/lazyfs-process.ts';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '2000' }, bytes: { type: 'string', default: '200' } },
});
const rounds = Number(values.rounds);
const bytes = Number(values.bytes);
if (!(Number.isInteger(rounds) && rounds > 0 && Number.isInteger(bytes) && bytes > 0)) {
  process.stderr.write('--rounds and --bytes must be positive integers\n');
  process.exit(3);
}
const unavailable = lazyFsUnavailableReason();
if (unavailable !== undefined) {
  process.stderr.write(`${unavailable}\n`);
  process.exit(3);
}

const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;

const dir = mkdtempSync(join(tmpdir(), 'lazyfs-cost-'));
const plainDir = join(dir, 'plain');
mkdirSync(plainDir);
const lazy = await startLazyFs({ backing: join(dir, 'backing'), mount: join(dir, 'mount') });
try {
  const size = rounds * bytes;
  const open = (where: string): number => {
    const fd = openSync(join(where, 'wal'), 'w+');
    writeSync(fd, Buffer.alloc(size), 0, size, 0);
    fdatasyncSync(fd);
    return fd;
  };
  const fds = { plain: open(plainDir), lazy: open(lazy.mount) };
  const record = Buffer.alloc(bytes, 1);
  const times: Record<'plain' | 'lazy', number[]> = { plain: [], lazy: [] };
  for (let i = 0; i < rounds; i++) {
    for (const kind of i % 2 === 0 ? (['plain', 'lazy'] as const) : (['lazy', 'plain'] as const)) {
      const start = process.hrtime.bigint();
      writeSync(fds[kind], record, 0, bytes, i * bytes);
      fdatasyncSync(fds[kind]);
      times[kind].push(Number(process.hrtime.bigint() - start) / 1000);
    }
  }
  closeSync(fds.plain);
  closeSync(fds.lazy);
  const reads: Record<'plain' | 'lazy', number[]> = { plain: [], lazy: [] };
  for (let i = 0; i < 20; i++) {
    for (const [kind, where] of [
      ['plain', plainDir],
      ['lazy', lazy.mount],
    ] as const) {
      const start = process.hrtime.bigint();
      readFileSync(join(where, 'wal'));
      reads[kind].push(Number(process.hrtime.bigint() - start) / 1000);
    }
  }
  const line = (what: string, series: Record<'plain' | 'lazy', number[]>): string => {
    const [p, l] = [series.plain.sort((a, b) => a - b), series.lazy.sort((a, b) => a - b)];
    const cells = [50, 90, 99].map(
      (q) =>
        `p${q} ${percentile(p, q).toFixed(0)} / ${percentile(l, q).toFixed(0)} us (x${(percentile(l, q) / percentile(p, q)).toFixed(2)})`,
    );
    return `${what}: plain / lazy: ${cells.join(', ')}`;
  };
  process.stdout.write(`${line(`write ${bytes} B + fdatasync, ${rounds} rounds`, times)}\n`);
  process.stdout.write(`${line(`read back ${size} B, 20 rounds`, reads)}\n`);
} finally {
  await lazy.stop();
  rmSync(dir, { recursive: true, force: true });
}
