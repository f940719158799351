#!/usr/bin/env node
// Runs every *.test.ts file of the project with Node's built-in test runner
// (through tsx, since Node 20 cannot strip types itself).
//
//   npm test                 every test file
//   npm test -- checker raft only files whose path contains one of the words
//   RAFTLAB_TEST_CONCURRENCY=1 npm test   run files one at a time
//   npm run test:unit        only files that start no process and no browser (the inner loop)
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const roots = ['lib', 'node', 'checker', 'workloads', 'harness', 'toxiproxy', 'lazyfs', 'reports', 'scripts'];

function* walk(dir) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    if (entry.name === 'node_modules' || entry.name === 'testdata') continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.name.endsWith('.test.ts')) yield path;
  }
}

// A test file that mentions one of these starts real processes, servers in child processes or a browser: it belongs
// to the full suite only. Judged from the source so that a new file is classified without a list to maintain.
const REAL_PROCESS_MARKERS =
  /\b(execa|spawn|spawnSync|startServer|startChild|checkInBrowser|checkPagesInBrowser|runChaos|RaftlabSystem|LocalCluster|startLocalCluster|startToxiproxyProcess|startEtcdCluster|startLazyFs)\b/;

const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const filters = args.filter((a) => !a.startsWith('-'));
const passThrough = args.filter((a) => a.startsWith('-') && a !== '--unit');
const files = roots
  .flatMap((r) => [...walk(join(root, r))])
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)))
  .filter((f) => !unitOnly || !REAL_PROCESS_MARKERS.test(readFileSync(join(root, f), 'utf8')))
  .sort();

if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ') || '*.test.ts'}`);
  process.exit(1);
}

const concurrency = process.env.RAFTLAB_TEST_CONCURRENCY ?? '2';
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...passThrough, ...files],
  { cwd: root, stdio: 'inherit' },
);
process.exit(result.status ?? 1);
