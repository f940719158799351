/** Run directories: one fresh folder per run under the store, the `latest` link, and the versions a run records. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoRoot } from '../../lib/repo.ts';
import { runStamp } from '../../lib/time.ts';

/** Creates `<parent>/<stamp>`; a second run in the same second gets a `-2` suffix. */
export function createStampedDir(parent: string, date = new Date()): string {
  mkdirSync(parent, { recursive: true });
  const stamp = runStamp(date);
  for (let attempt = 1; attempt < 1000; attempt++) {
    const dir = join(parent, attempt === 1 ? stamp : `${stamp}-${attempt}`);
    try {
      mkdirSync(dir);
      return dir;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  throw new Error(`cannot create a run directory under ${parent}`);
}

/** Creates a fresh run directory `<store>/<name>/<stamp>`. */
export function createRunDir(store: string, name: string, date = new Date()): string {
  return createStampedDir(join(store, name), date);
}

/** Points `<store>/latest` at a run directory (replaced atomically). */
export function updateLatest(store: string, runDir: string): void {
  const link = join(store, 'latest');
  const temp = join(store, `.latest-${process.pid}`);
  rmSync(temp, { force: true });
  symlinkSync(relative(store, runDir), temp);
  renameSync(temp, link);
}

/** Node's version, raftlab's package version and the git commit of this checkout, where known. */
export function versions(): Record<string, string> {
  const out: Record<string, string> = { node: process.version };
  try {
    out.raftlab = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // A missing package.json only loses a version label.
  }
  try {
    out.commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .toString()
      .trim();
  } catch {
    // Not a git checkout: no commit label.
  }
  return out;
}
