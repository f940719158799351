// The chaos CLI leaves no process behind: after a normal end, after Ctrl-C
// (SIGINT to the harness), and after the harness itself is SIGKILLed (then
// the nodes' --exit-with-parent and the cluster's reaper clean up, also a
// node that is SIGSTOPped at that moment).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { repoRoot, tsxImport } from '../../lib/repo.ts';
import { descendants, pidAlive, waitFor } from '../testing.ts';

const store = join(repoRoot, 'store');

function startChaos(name: string, args: string[]): ResultPromise {
  return execa(
    process.execPath,
    [
      '--import',
      tsxImport,
      join(repoRoot, 'harness', 'cli', 'chaos.ts'),
      '--store',
      store,
      '--name',
      name,
      '--nodes',
      '3',
      '--keys',
      '3',
      '--concurrency',
      '4',
      ...args,
    ],
    { cwd: repoRoot, reject: false, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', all: true },
  );
}

/** Collects the harness's descendants until `until` resolves (so short-lived ones are seen too). */
function trackDescendants(pid: number): { pids: Set<number>; stop: () => void } {
  const pids = new Set<number>();
  const timer = setInterval(() => {
    for (const child of descendants(pid)) pids.add(child);
  }, 100);
  return { pids, stop: () => clearInterval(timer) };
}

/** Newest run dir of a run name. */
function latestRun(name: string): string | undefined {
  const dir = join(store, name);
  if (!existsSync(dir)) return undefined;
  const runs = readdirSync(dir).sort();
  const last = runs[runs.length - 1];
  return last === undefined ? undefined : join(dir, last);
}

/** Waits until the run has a cluster and the workload started (history.jsonl has client events). */
async function waitForWorkload(child: ResultPromise, name: string, since: Set<string>): Promise<void> {
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`chaos exited early with ${child.exitCode}`);
      const run = latestRun(name);
      if (run === undefined || since.has(run)) return false;
      const history = join(run, 'history.jsonl');
      return existsSync(history) && readFileSync(history, 'utf8').includes('"invoke"');
    },
    60_000,
    'the chaos workload to start',
  );
}

const runsOf = (name: string): Set<string> =>
  new Set(existsSync(join(store, name)) ? readdirSync(join(store, name)).map((r) => join(store, name, r)) : []);

async function assertAllGone(pids: Set<number>): Promise<void> {
  assert.ok(pids.size >= 5, `saw nodes, toxiproxy and reaper: ${[...pids].join(',')}`);
  await waitFor(
    () => [...pids].every((pid) => !pidAlive(pid)),
    20_000,
    `processes ${[...pids].filter(pidAlive).join(',')} to exit`,
  );
}

/**
 * Starts the chaos CLI, tracks its process tree while `body` runs, then
 * SIGKILLs whatever is left of the harness and requires every process it
 * ever had to be gone.
 */
async function withChaos(
  name: string,
  args: string[],
  body: (child: ResultPromise, before: Set<string>) => Promise<void>,
): Promise<void> {
  const before = runsOf(name);
  const child = startChaos(name, args);
  const tracker = trackDescendants(child.pid ?? -1);
  try {
    await body(child, before);
  } finally {
    tracker.stop();
    child.kill('SIGKILL');
  }
  await assertAllGone(tracker.pids);
}

test('a normal end leaves no process behind', async () => {
  // What is under test is the clean-up, not the amount of evidence: a busy machine may acknowledge fewer ops than
  // the default minimum in 4 s, which would end the run unknown (exit 2) for no fault of the harness.
  const args = ['--time', '4', '--interval', '1', '--nemesis', 'pause', '--min-ok-ops', '1'];
  await withChaos('test-procs-normal', args, async (child) => {
    const result = await child;
    assert.equal(result.exitCode, 0, String(result.all));
    assert.match(String(result.all), /verdict: linearizable/);
    assert.match(String(result.all), /report: .*report\.html/);
  });
});

test('SIGINT stops every process, and the run is recorded as broken (exit 3)', async () => {
  const name = 'test-procs-sigint';
  await withChaos(name, ['--time', '60', '--interval', '1', '--nemesis', 'pause,kill'], async (child, before) => {
    await waitForWorkload(child, name, before);
    await new Promise((r) => setTimeout(r, 1500));
    child.kill('SIGINT');
    const result = await child;
    assert.equal(result.exitCode, 3, `${String(result.all)} signal ${result.signal}`);
    const run = latestRun(name) ?? '';
    const results = JSON.parse(readFileSync(join(run, 'results.json'), 'utf8')) as { verdict: string; error?: string };
    assert.equal(results.verdict, 'broken');
    assert.match(results.error ?? '', /interrupted/);
  });
});

test('SIGKILL of the harness still leaves no process behind, paused nodes included', async () => {
  const name = 'test-procs-sigkill';
  // --interval 1 with pause only: a node is SIGSTOPped half of the time.
  await withChaos(name, ['--time', '60', '--interval', '1', '--nemesis', 'pause'], async (child, before) => {
    await waitForWorkload(child, name, before);
    // Wait until a pause is active, so the kill hits a stopped node.
    const run = latestRun(name) ?? '';
    await waitFor(
      () => {
        const lines = readFileSync(join(run, 'history.jsonl'), 'utf8')
          .split('\n')
          .filter((l) => l.includes('"nemesis"'));
        return (lines[lines.length - 1] ?? '').includes('pause-start');
      },
      30_000,
      'a pause to be active',
    );
    child.kill('SIGKILL');
    await child;
  });
});
