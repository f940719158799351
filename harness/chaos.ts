/**
 * One chaos run, end to end (issue 5): a cluster of real node processes
 * behind Toxiproxy, concurrent clients, a seeded nemesis, a recorded history,
 * a final heal with reads of every key, the checker's verdict, and an HTML
 * report, all in a fresh run directory:
 *
 *   store/<name>/<yyyymmddThhmmss>/ test.json history.jsonl status.jsonl
 *                                   results.json report.html nodes/
 *
 * Exit codes (architecture.md): 0 linearizable, 1 illegal, 2 unknown, 3 the
 * run broke; 4 = linearizable but the cluster did not recover after the heal
 * (an availability failure, kept apart from linearizability).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { CheckOptions, CheckResult, HistoryEvent as CheckerEvent } from '../checker/index.ts';
import { writeChaosReport } from '../reports/render.ts';
import { writeStoreIndex } from '../reports/store-index.ts';
import { RaftlabClient, StaleReadClient, type ClientAdapter } from '../workloads/client.ts';
import { OpGenerator, type WorkloadName } from '../workloads/generator.ts';
import { Random } from '../workloads/random.ts';
import { RetryClient } from '../workloads/retry-client.ts';
import { runWorkload, type RunnerStats } from '../workloads/runner.ts';
import type { Completion } from '../workloads/types.ts';
import { Cluster, repoRoot } from './cluster.ts';
import { Nemesis, describeFault, planSchedule, type NemesisKind, type NetworkControl } from './nemesis.ts';
import { proxyLayerStarter, type RunningProxyLayer } from './proxies.ts';
import { Recorder } from './recorder.ts';
import { StatusPoller } from './status-poller.ts';

/** The checker entry point (checker/index.ts `check`), injected so tests and the CLI share one path. */
export type CheckFn = (events: readonly CheckerEvent[], options: CheckOptions) => CheckResult | Promise<CheckResult>;

/** Everything a chaos run is configured with (the CLI's flags). */
export interface ChaosOptions {
  nodes: number;
  timeS: number;
  nemesis: NemesisKind[];
  intervalS: number;
  workload: WorkloadName;
  keys: number;
  concurrency: number;
  /** Target ops/s (open loop); undefined = closed loop. */
  rate?: number;
  seed: number;
  /** A running Toxiproxy to use instead of the embedded one. */
  toxiproxy?: string;
  store: string;
  timeoutMs: number;
  /** Run name (the folder under the store); default `<workload>-<nemesis>`. */
  name?: string;
  /** Max ms after the heal for a leader and every final read; default 30000. */
  recoveryBoundMs?: number;
  /** Checker budget per key in ms; default 60000. */
  checkBudgetMs?: number;
  electionTimeoutMs?: number;
  heartbeatMs?: number;
  /** `direct` = no proxies (only kill/pause possible). Default proxied. */
  mode?: 'proxied' | 'direct';
  /** TEST ONLY: node entry point (e.g. a test double). */
  nodeMain?: string;
  /** TEST ONLY: `stale` wraps the client so some reads return stale values. */
  adapter?: 'raftlab' | 'stale';
  /** Command line that reproduces the run (stored in test.json). */
  command?: string;
  /** Planted bug the nodes run with (`--bug NAME`, issue 7); undefined = the correct node. */
  bug?: string;
  /** Nodes' read mode (`--read-mode`); undefined = the node's default. */
  readMode?: 'index' | 'lease';
  /** The retrying client: resend a write of unknown outcome up to N times (same session seq). Default 0. */
  retry?: number;
  /** Extra flags for every node. */
  nodeArgs?: readonly string[];
}

/** Progress of a run, for the CLI's progress line. */
export type ChaosProgress =
  | { phase: 'setup'; message: string }
  | {
      phase: 'workload';
      elapsedS: number;
      totalS: number;
      ok: number;
      fail: number;
      info: number;
      fault?: string;
      leader?: string;
    }
  | { phase: 'heal'; message: string }
  | { phase: 'check'; message: string }
  | { phase: 'report'; message: string };

/** What a finished run returns. */
export interface ChaosOutcome {
  runDir: string;
  exitCode: number;
  verdict: 'linearizable' | 'illegal' | 'unknown' | 'broken';
  reportPath?: string;
  counts?: RunnerStats;
  availabilityOk?: boolean;
  checkTimeMs?: number;
  error?: string;
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** `yyyymmddThhmmss` in local time, like Jepsen's store folders. */
export function runStamp(date = new Date()): string {
  return `${date.getFullYear()}${pad(date.getMonth() + 1)}${pad(date.getDate())}T${pad(date.getHours())}${pad(date.getMinutes())}${pad(date.getSeconds())}`;
}

/** Creates a fresh run directory; a second run in the same second gets a `-2` suffix. */
export function createRunDir(store: string, name: string, date = new Date()): string {
  const parent = join(store, name);
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

/** Points `<store>/latest` at a run directory (replaced atomically). */
export function updateLatest(store: string, runDir: string): void {
  const link = join(store, 'latest');
  const temp = join(store, `.latest-${process.pid}`);
  rmSync(temp, { force: true });
  symlinkSync(relative(store, runDir), temp);
  renameSync(temp, link);
}

function versions(): Record<string, string> {
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

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The node's default `--request-timeout-ms` (node/config.ts); a longer client timeout is passed on to the nodes. */
const NODE_REQUEST_TIMEOUT_MS = 5000;

/** Runs one chaos test; never throws for a broken run (verdict `broken`, exit 3). */
export async function runChaos(
  options: ChaosOptions,
  check: CheckFn,
  onProgress: (progress: ChaosProgress) => void = () => {},
  signal?: AbortSignal,
): Promise<ChaosOutcome> {
  const store = resolve(options.store);
  const name =
    options.name ??
    `${options.bug !== undefined ? `bug-${options.bug}-` : ''}${options.workload}-${options.nemesis.length === 0 ? 'none' : options.nemesis.join('+')}`;
  const runDir = createRunDir(store, name);
  const mode = options.mode ?? 'proxied';
  const durationMs = options.timeS * 1000;
  const intervalMs = options.intervalS * 1000;
  const recoveryBoundMs = options.recoveryBoundMs ?? 30_000;
  const nodeIds = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`);
  const schedule = planSchedule({ kinds: options.nemesis, nodes: nodeIds, intervalMs, durationMs, seed: options.seed });
  const testFile = {
    name,
    seed: options.seed,
    startedAt: new Date().toISOString(),
    command: options.command ?? `npm run chaos -- --seed ${options.seed}`,
    options: {
      nodes: options.nodes,
      time: options.timeS,
      nemesis: options.nemesis,
      interval: options.intervalS,
      workload: options.workload,
      keys: options.keys,
      concurrency: options.concurrency,
      ...(options.rate !== undefined ? { rate: options.rate } : {}),
      'timeout-ms': options.timeoutMs,
      ...(options.adapter === 'stale' ? { adapter: 'stale (test only)' } : {}),
      ...(options.bug !== undefined ? { bug: options.bug } : {}),
      ...(options.readMode !== undefined ? { 'read-mode': options.readMode } : {}),
      ...(options.retry !== undefined && options.retry > 0 ? { retry: options.retry } : {}),
    },
    versions: versions(),
    cluster: undefined as unknown,
    /** Scripted scenarios that ran (nemesis figure8, double-vote): whether each built its dangerous state. */
    scenarios: undefined as { fault: number; name: string; reached: boolean; detail: string }[] | undefined,
    schedule: schedule.map((p) => ({ ...p, description: describeFault(p.fault) })),
  };
  const writeTest = (): void => writeFileSync(join(runDir, 'test.json'), `${JSON.stringify(testFile, null, 2)}\n`);
  writeTest();

  let layer: RunningProxyLayer | undefined;
  const starter = proxyLayerStarter({
    ...(options.toxiproxy !== undefined ? { toxiproxyUrl: options.toxiproxy } : {}),
    seed: options.seed,
    logPath: join(runDir, 'toxiproxy.log'),
  });
  const cluster = new Cluster({
    nodes: options.nodes,
    runDir,
    mode,
    ...(mode === 'proxied' ? { startProxies: async (specs) => (layer = await starter(specs)) } : {}),
    ...(options.electionTimeoutMs !== undefined ? { electionTimeoutMs: options.electionTimeoutMs } : {}),
    ...(options.heartbeatMs !== undefined ? { heartbeatMs: options.heartbeatMs } : {}),
    ...(options.nodeMain !== undefined ? { nodeMain: options.nodeMain } : {}),
    nodeArgs: [
      ...(options.bug !== undefined ? ['--bug', options.bug] : []),
      // A node gives up on a client request after --request-timeout-ms (5 s by default); with a longer client
      // timeout the node waits as long as the client does (the figure8 scenario keeps writes pending for seconds).
      ...(options.timeoutMs > NODE_REQUEST_TIMEOUT_MS ? ['--request-timeout-ms', String(options.timeoutMs)] : []),
      ...(options.readMode !== undefined ? ['--read-mode', options.readMode] : []),
      ...(options.nodeArgs ?? []),
    ],
  });
  // Time 0 of the history is set when the workload starts (after the cluster is up).
  const recorder = new Recorder(join(runDir, 'history.jsonl'));
  const poller = new StatusPoller(cluster, join(runDir, 'status.jsonl'), () => recorder.now());
  let adapter: ClientAdapter | undefined;
  let counts: RunnerStats | undefined;
  let availability: { ok: boolean; boundMs: number; recoveredAfterHealMs?: number; finalReads: unknown[] } | undefined;
  let brokenError: string | undefined;
  let pollerStarted = false;
  const interrupted = (): boolean => signal?.aborted === true;

  try {
    onProgress({
      phase: 'setup',
      message: `starting ${options.nodes} nodes (${mode}${mode === 'proxied' ? `, ${options.toxiproxy ?? 'embedded toxiproxy'}` : ''}) in ${runDir}`,
    });
    await cluster.start();
    testFile.cluster = {
      nodes: [...cluster.ids],
      mode,
      clientUrls: cluster.clientUrlById,
      directUrls: cluster.directUrls,
      proxies: cluster.proxies,
      ...(layer !== undefined ? { toxiproxy: layer.url } : {}),
    };
    writeTest();
    const leader = await cluster.waitForLeader(30_000);
    onProgress({
      phase: 'setup',
      message: `leader ${leader}; running ${options.workload} for ${options.timeS}s, nemesis ${options.nemesis.join(',') || 'none'}, seed ${options.seed}`,
    });
    recorder.restartClock();
    poller.start();
    pollerStarted = true;

    const real = new RaftlabClient({ urls: cluster.clientUrlById, timeoutMs: options.timeoutMs });
    const base: ClientAdapter = options.adapter === 'stale' ? new StaleReadClient(real) : real;
    // The retrying client (workloads/retry-client.ts) resends unknown writes with the same session seq.
    adapter =
      (options.retry ?? 0) > 0 ? new RetryClient(base, { retries: options.retry ?? 0, nodes: cluster.ids }) : base;
    const generator = new OpGenerator({ workload: options.workload, keys: options.keys });
    const random = new Random(options.seed);
    const network: NetworkControl | undefined = layer?.network;
    const nemesis = new Nemesis({
      processes: cluster,
      ...(network !== undefined ? { network } : {}),
      record: (e) => recorder.record(e),
      now: () => recorder.now(),
      seed: options.seed,
    });

    const live = { ok: 0, fail: 0, info: 0 };
    const workloadAbort = new AbortController();
    // The nemesis ends with the workload: a scenario that overran its window
    // shifts the later faults, and a fault that would start after the clients
    // stopped tests nothing (the final heal follows). The active fault is
    // still stopped properly (Nemesis.run).
    const nemesisAbort = new AbortController();
    workloadAbort.signal.addEventListener('abort', () => nemesisAbort.abort(), { once: true });
    const onAbort = (): void => workloadAbort.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const startedAtMs = performance.now();
    const ticker = setInterval(() => {
      onProgress({
        phase: 'workload',
        elapsedS: (performance.now() - startedAtMs) / 1000,
        totalS: options.timeS,
        ...live,
        ...(nemesis.current !== undefined ? { fault: nemesis.current.description } : {}),
        ...(poller.lastLeader !== undefined ? { leader: poller.lastLeader } : {}),
      });
    }, 1000);
    try {
      const [stats] = await Promise.all([
        runWorkload({
          generator,
          adapter,
          nodes: cluster.ids,
          concurrency: options.concurrency,
          durationMs,
          ...(options.rate !== undefined ? { ratePerSec: options.rate } : {}),
          random: random.fork(),
          record: (e) => recorder.record(e),
          clientPrefix: `r${options.seed}-${Date.now().toString(36)}`,
          onCompletion: (completion: Completion) => void live[completion.type]++,
          signal: workloadAbort.signal,
        }).finally(() => nemesisAbort.abort()),
        nemesis.run(schedule, startedAtMs, nemesisAbort.signal),
      ]);
      counts = stats;
    } finally {
      clearInterval(ticker);
      signal?.removeEventListener('abort', onAbort);
      const ran = nemesis.applied.flatMap((a) =>
        a.planned.fault.kind === 'scenario' && a.outcome !== undefined
          ? [
              {
                fault: a.planned.index,
                name: a.planned.fault.name,
                reached: a.outcome.reached,
                detail: a.outcome.detail,
              },
            ]
          : [],
      );
      if (ran.length > 0) {
        testFile.scenarios = ran;
        writeTest();
      }
    }
    if (interrupted()) throw new Error('interrupted');

    // Final phase: heal everything, wait for a leader, read every key (Jepsen's final reads).
    onProgress({ phase: 'heal', message: 'healing every fault, then reading every key' });
    await nemesis.healAll(
      (id) => cluster.isRunning(id),
      (id) => cluster.isPaused(id),
    );
    const healedAtMs = performance.now();
    const deadlineMs = healedAtMs + recoveryBoundMs;
    const finalReads: { key: string; ok: boolean; value?: unknown; attempts: number; error?: string; time?: number }[] =
      [];
    let nextProcess = counts.processes;
    for (const key of generator.keys) {
      const process = nextProcess++;
      const read = { key, ok: false, attempts: 0 } as (typeof finalReads)[number];
      let lastError = 'no attempt';
      while (performance.now() < deadlineMs && !interrupted()) {
        read.attempts++;
        const node = cluster.ids[(read.attempts - 1) % cluster.ids.length] as string;
        recorder.record({ process, type: 'invoke', f: 'read', key, value: null, node });
        const completion = await adapter.invoke({ f: 'read', key, value: null }, node, {
          client: `final-${process}`,
          seq: read.attempts,
        });
        if (completion.type === 'ok') {
          const event = recorder.record({ process, type: 'ok', f: 'read', key, value: completion.value, node });
          read.ok = true;
          read.value = completion.value;
          read.time = event.time;
          break;
        }
        lastError = completion.error;
        recorder.record({ process, type: 'fail', f: 'read', key, value: null, node, error: completion.error });
        await sleep(100);
      }
      if (!read.ok) read.error = lastError;
      finalReads.push(read);
    }
    const allOk = finalReads.every((r) => r.ok);
    availability = {
      ok: allOk,
      boundMs: recoveryBoundMs,
      ...(allOk ? { recoveredAfterHealMs: performance.now() - healedAtMs } : {}),
      finalReads,
    };
  } catch (error) {
    brokenError = error instanceof Error ? error.message : String(error);
  } finally {
    if (pollerStarted) await poller.stop();
    await adapter?.close();
    await cluster.stop();
    await recorder.close();
  }

  let verdict: ChaosOutcome['verdict'] = 'broken';
  let checkResult: CheckResult | undefined;
  let checkTimeMs: number | undefined;
  if (brokenError === undefined) {
    try {
      onProgress({ phase: 'check', message: `checking ${recorder.events.length} events` });
      const startedMs = performance.now();
      checkResult = await check(recorder.events as CheckerEvent[], {
        model: 'raftlab-kv',
        budgetMs: options.checkBudgetMs ?? 60_000,
      });
      checkTimeMs = performance.now() - startedMs;
      verdict = checkResult.verdict;
    } catch (error) {
      brokenError = `checker failed: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
  const exitCode =
    verdict === 'broken'
      ? 3
      : verdict === 'illegal'
        ? 1
        : verdict === 'unknown'
          ? 2
          : availability?.ok === false
            ? 4
            : 0;
  const results = {
    verdict,
    exitCode,
    ...(brokenError !== undefined ? { error: brokenError } : {}),
    ...(availability !== undefined ? { availability } : {}),
    ...(counts !== undefined ? { counts } : {}),
    ...(checkResult !== undefined ? { check: checkResult } : {}),
    ...(checkTimeMs !== undefined ? { checkTimeMs } : {}),
    durationMs: options.timeS * 1000,
  };
  writeFileSync(join(runDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);

  // Data directories are evidence only when something went wrong.
  if (exitCode === 0) {
    for (const id of nodeIds) rmSync(join(runDir, 'nodes', id), { recursive: true, force: true });
  }
  let reportPath: string | undefined;
  try {
    onProgress({ phase: 'report', message: 'writing report.html' });
    reportPath = writeChaosReport(runDir);
    updateLatest(store, runDir);
    writeStoreIndex(store);
  } catch (error) {
    brokenError ??= `report failed: ${(error as Error).message}`;
  }
  return {
    runDir,
    exitCode,
    verdict,
    ...(reportPath !== undefined && existsSync(reportPath) ? { reportPath } : {}),
    ...(counts !== undefined ? { counts } : {}),
    ...(availability !== undefined ? { availabilityOk: availability.ok } : {}),
    ...(checkTimeMs !== undefined ? { checkTimeMs } : {}),
    ...(brokenError !== undefined ? { error: brokenError } : {}),
  };
}
