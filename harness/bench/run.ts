/**
 * One `npm run bench` run: starts the clusters of the chosen targets, runs
 * the closed-loop and open-loop sweeps back to back (interleaved by cell so
 * that the machine's drift hits both targets alike), and writes the run
 * directory `store/bench/<yyyymmddThhmmss>/` with bench.json and report.html.
 */
import { execa } from 'execa';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { connectTarget, type KvTarget, type TargetKind } from '../../workloads/targets/index.ts';
import {
  BENCH_SCHEMA,
  parseBenchRun,
  type BenchComparison,
  type BenchRun,
  type BenchRunOptions,
  type BenchTargetInfo,
  type ClosedLoopResult,
  type MicroResult,
  type OpenLoopSweep,
} from '../../reports/bench-schema.ts';
import { writeBenchReport } from '../../reports/bench-report.ts';
import { autoRates, prefill, runClosedLoop, runOpenLoopSweep, type Progress, type Workload } from './load.ts';
import { RaftlabSystem } from '../systems/raftlab.ts';
import { createStampedDir, updateLatest } from '../run/run-dir.ts';
import { repoRoot } from '../../lib/repo.ts';
import { ETCD_INSTALL_HINT, etcdVersion, DEFAULT_ETCD_BINARY, EtcdSystem } from '../systems/etcd.ts';
import type { System } from '../systems/system.ts';

/** Everything a bench run needs to know. */
export type BenchOptions = Omit<BenchRunOptions, 'targets' | 'keys' | 'valueBytes'> & {
  targets: TargetKind[];
  workload: Workload;
  /** Parent of run directories (default `store/bench`). */
  storeDir: string;
  /** An earlier run directory to compare against. */
  compare?: string;
  etcdBinary?: string;
  /** Node entry point (tests may point this at a test double). */
  nodeMain?: string;
  /** Keep the members' data directories after the run (they are removed by default). */
  keepData: boolean;
  /** Micro-benchmark results to include (the `micro` subcommand). */
  micro?: MicroResult[];
};

/** How a run reports what it is doing (the CLI draws a progress line from it). */
export type BenchUi = {
  /** A phase finished or started: one line. */
  phase(line: string): void;
  /** Live progress of the current measurement. */
  progress(label: string, p: Progress): void;
  /** A warning the user should see (e.g. etcd missing). */
  warn(line: string): void;
};

/** Result of {@link runBench}. */
export type BenchOutcome = { run: BenchRun; runDir: string; reportPath: string };

/** Creates a fresh run directory under `storeDir` and points `storeDir/latest` at it. */
export function makeRunDir(storeDir: string): string {
  const runDir = createStampedDir(storeDir);
  try {
    updateLatest(storeDir, runDir);
  } catch {
    // Symlinks may be unavailable (some filesystems); the run itself is unaffected.
  }
  return runDir;
}

/** Reads an earlier run for `--compare` and keeps only its figures. */
export function loadComparison(dir: string): BenchComparison {
  const source = join(dir, 'bench.json');
  if (!existsSync(source))
    throw new Error(`--compare ${dir}: no bench.json there; pass a run directory such as store/bench/<stamp>`);
  const old = parseBenchRun(readFileSync(source, 'utf8'), source);
  return {
    runDir: dir,
    startedAt: old.startedAt,
    closedLoop: old.closedLoop.map(({ timeline: _timeline, ...rest }) => rest),
    openLoop: old.openLoop.map((s) => ({ target: s.target, op: s.op, maxRateHeld: s.maxRateHeld })),
  };
}

async function raftlabVersion(): Promise<string> {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version?: string };
  const git = await execa('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, reject: false, timeout: 5_000 });
  return `${pkg.version ?? '?'}${git.exitCode === 0 ? ` (${git.stdout.trim()})` : ''}`;
}

function machineNow(): Omit<BenchRun['machine'], 'loadavgEnd'> {
  return {
    cores: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    totalMemBytes: totalmem(),
    platform: `${platform()} ${release()}`,
    loadavgStart: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

type RunningTarget = { kind: TargetKind; target: KvTarget; stop: () => Promise<void>; dataDirs: string[] };

async function startTarget(
  kind: TargetKind,
  runDir: string,
  options: BenchOptions,
  ui: BenchUi,
): Promise<RunningTarget> {
  // Both targets are the systems chaos runs, started without proxies (the bench measures the system, not a hop).
  const dir = join(runDir, kind);
  const system: System =
    kind !== 'etcd'
      ? new RaftlabSystem({
          nodes: 3,
          runDir: dir,
          mode: 'direct',
          lazyFs: kind === 'raftlab-lazyfs',
          ...(options.nodeMain === undefined ? {} : { nodeMain: options.nodeMain }),
        })
      : new EtcdSystem({
          nodes: 3,
          runDir: dir,
          ...(options.etcdBinary === undefined ? {} : { binary: options.etcdBinary }),
        });
  let leaderIndex: number;
  try {
    await system.start();
    const leader = await system.waitForLeader(20_000);
    leaderIndex = Math.max(0, system.ids.indexOf(leader));
    ui.phase(`${kind} ${system.describe().version}: 3 members up, leader ${leader} (${join(dir, 'nodes')})`);
  } catch (err) {
    await system.stop();
    throw err;
  }
  const urls = system.clientUrls();
  return {
    kind,
    target: connectTarget(
      kind,
      memberOrder(
        system.ids.map((id) => urls[id] ?? ''),
        leaderIndex,
        options.via,
      ),
      { connectionsPerMember: connectionsFor(options) },
    ),
    stop: () => system.stop(),
    dataDirs: system.ids.map((id) => system.dataDir(id)),
  };
}

/** Client URLs in the order clients are spread over them: the leader first, or the leader alone. */
export function memberOrder(urls: readonly string[], leaderIndex: number, via: BenchOptions['via']): string[] {
  const leader = urls[leaderIndex];
  if (leader === undefined) return [...urls];
  return via === 'leader' ? [leader] : [leader, ...urls.filter((_, i) => i !== leaderIndex)];
}

// Enough connections that no client waits for a socket at the highest level.
function connectionsFor(options: BenchOptions): number {
  // Pools open connections lazily, so a generous cap costs nothing when unused.
  return Math.max(...options.concurrency, 128) + 4;
}

function closedLoopLine(r: ClosedLoopResult): string {
  const err = r.errors > 0 ? `, ${r.errors} errors (${Object.keys(r.errorsByCode).join(', ')})` : '';
  return `${r.target} ${r.op} C=${r.concurrency}: ${Math.round(r.opsPerSec)} ops/s, p50 ${r.latency.p50Ms} ms, p99 ${r.latency.p99Ms} ms${err}`;
}

/** Runs the whole bench and writes the run directory. Clusters are always stopped. */
export async function runBench(options: BenchOptions, ui: BenchUi): Promise<BenchOutcome> {
  const compare = options.compare === undefined ? undefined : loadComparison(options.compare);
  const runDir = makeRunDir(options.storeDir);
  const startedAt = new Date().toISOString();
  const machine = machineNow();
  const versions: BenchRun['versions'] = { node: process.version, raftlab: await raftlabVersion() };
  const targetsInfo: BenchTargetInfo[] = [];
  const running: RunningTarget[] = [];
  const closedLoop: ClosedLoopResult[] = [];
  const openLoop: OpenLoopSweep[] = [];
  const shown = relative(process.cwd(), runDir);
  ui.phase(`bench run directory ${shown.startsWith('..') || shown === '' ? runDir : shown}`);

  try {
    running.push(...(await startTargets(options, runDir, ui, versions, targetsInfo)));
    if (running.length === 0) throw new Error('no target could be started; see the warnings above');
    if (options.ops.some((op) => op !== 'put')) await prefillTargets(running, options, ui, targetsInfo);
    closedLoop.push(...(await runClosedLoopCells(running, options, ui)));
    if (options.rates !== 'off') openLoop.push(...(await runOpenLoopSweeps(running, closedLoop, options, ui)));
  } finally {
    await Promise.allSettled(running.map((r) => r.target.close()));
    await Promise.allSettled(running.map((r) => r.stop()));
    if (!options.keepData) {
      for (const r of running) for (const dir of r.dataDirs) rmSync(dir, { recursive: true, force: true });
    }
  }

  const targetRank = (t: string): number => options.targets.indexOf(t as TargetKind);
  closedLoop.sort(
    (a, b) =>
      options.ops.indexOf(a.op) - options.ops.indexOf(b.op) ||
      options.concurrency.indexOf(a.concurrency) - options.concurrency.indexOf(b.concurrency) ||
      targetRank(a.target) - targetRank(b.target),
  );
  const run: BenchRun = {
    schema: BENCH_SCHEMA,
    startedAt,
    finishedAt: new Date().toISOString(),
    options: {
      targets: options.targets,
      concurrency: options.concurrency,
      ops: options.ops,
      timeSec: options.timeSec,
      warmupSec: options.warmupSec,
      rates: options.rates,
      openLoopOp: options.openLoopOp,
      p99BoundMs: options.p99BoundMs,
      via: options.via,
      keys: options.workload.keys,
      valueBytes: options.workload.valueBytes,
    },
    machine: { ...machine, loadavgEnd: loadavg().map((x) => Math.round(x * 100) / 100) },
    versions,
    targets: targetsInfo,
    closedLoop,
    openLoop,
    micro: options.micro ?? [],
    ...(compare === undefined ? {} : { compare }),
  };
  writeFileSync(join(runDir, 'bench.json'), `${JSON.stringify(run, null, 1)}\n`);
  const reportPath = writeBenchReport(runDir);
  return { run, runDir: resolve(runDir), reportPath };
}

/** Starts every requested target that can run here; records why the others were skipped. */
async function startTargets(
  options: BenchOptions,
  runDir: string,
  ui: BenchUi,
  versions: BenchRun['versions'],
  targetsInfo: BenchTargetInfo[],
): Promise<RunningTarget[]> {
  const running: RunningTarget[] = [];
  for (const kind of options.targets) {
    if (kind === 'etcd') {
      const version = await etcdVersion(options.etcdBinary ?? DEFAULT_ETCD_BINARY);
      if (version === undefined) {
        ui.warn(`${ETCD_INSTALL_HINT}; running raftlab alone`);
        targetsInfo.push({ kind, memberUrls: [], skipped: 'etcd not installed (apt-get install -y etcd-server)' });
        continue;
      }
      versions.etcd = version;
    }
    try {
      const started = await startTarget(kind, runDir, options, ui);
      running.push(started);
      targetsInfo.push({
        kind,
        memberUrls: [...started.target.memberUrls],
        ...(kind === 'etcd' && versions.etcd ? { version: versions.etcd } : {}),
      });
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      ui.warn(`${kind} did not start: ${reason}`);
      targetsInfo.push({ kind, memberUrls: [], skipped: `did not start: ${reason}` });
    }
  }
  return running;
}

/** Writes every key once so that reads find values. */
async function prefillTargets(
  running: readonly RunningTarget[],
  options: BenchOptions,
  ui: BenchUi,
  targetsInfo: BenchTargetInfo[],
): Promise<void> {
  for (const r of running) {
    const errors = await prefill(r.target, options.workload);
    const info = targetsInfo.find((t) => t.kind === r.kind);
    if (info !== undefined) info.prefillErrors = errors;
    ui.phase(`${r.kind}: wrote ${options.workload.keys} keys for the reads${errors > 0 ? ` (${errors} failed)` : ''}`);
  }
}

/**
 * Every (op, concurrency) cell on every target. The targets are interleaved cell by cell, alternating which goes
 * first: a drift of the machine's speed between minutes then hits both alike and the ratios stay meaningful.
 */
async function runClosedLoopCells(
  running: readonly RunningTarget[],
  options: BenchOptions,
  ui: BenchUi,
): Promise<ClosedLoopResult[]> {
  const results: ClosedLoopResult[] = [];
  let cellIndex = 0;
  for (const op of options.ops) {
    for (const concurrency of options.concurrency) {
      const order = cellIndex++ % 2 === 0 ? running : [...running].reverse();
      for (const r of order) {
        const label = `${r.kind} ${op} C=${concurrency}`;
        const result = await runClosedLoop(r.target, {
          op,
          concurrency,
          warmupMs: options.warmupSec * 1000,
          timeMs: options.timeSec * 1000,
          workload: options.workload,
          onProgress: (p) => ui.progress(label, p),
        });
        results.push(result);
        ui.phase(closedLoopLine(result));
      }
    }
  }
  return results;
}

/** The open-loop sweep per target, its rates derived from the closed-loop throughput when asked for `auto`. */
async function runOpenLoopSweeps(
  running: readonly RunningTarget[],
  closedLoop: readonly ClosedLoopResult[],
  options: BenchOptions,
  ui: BenchUi,
): Promise<OpenLoopSweep[]> {
  const sweeps: OpenLoopSweep[] = [];
  for (const r of running) {
    const best = Math.max(
      0,
      ...closedLoop.filter((c) => c.target === r.kind && c.op === options.openLoopOp).map((c) => c.opsPerSec),
    );
    const rates = options.rates === 'auto' ? autoRates(best > 0 ? best : undefined) : options.rates;
    // The caller only sweeps when rates are asked for.
    if (rates === 'off') break;
    const sweep = await runOpenLoopSweep(r.target, rates, {
      op: options.openLoopOp,
      warmupMs: options.warmupSec * 1000,
      timeMs: options.timeSec * 1000,
      p99BoundMs: options.p99BoundMs,
      workload: options.workload,
      onStep: (rate) => (p) => ui.progress(`${r.kind} open-loop ${options.openLoopOp} ${rate}/s`, p),
      onStepDone: (s) =>
        ui.phase(
          `${r.kind} open-loop ${s.op} at ${s.rateTarget}/s: ${Math.round(s.achievedOpsPerSec)} ops/s, p50 ${s.latency.p50Ms} ms, p99 ${s.latency.p99Ms} ms, ${s.errors} errors, ${s.dropped} dropped: ${s.held ? 'held' : 'not held'}`,
        ),
    });
    sweeps.push(sweep);
    ui.phase(
      `${r.kind} open-loop ${options.openLoopOp}: highest rate held with p99 <= ${options.p99BoundMs} ms: ${sweep.maxRateHeld ?? 'none'}`,
    );
  }
  return sweeps;
}

/** Writes a run directory holding only micro-benchmark results (the `micro`/`checker`/`toxiproxy` subcommands). */
export async function writeMicroRun(storeDir: string, micro: MicroResult[], startedAt: string): Promise<BenchOutcome> {
  const runDir = makeRunDir(storeDir);
  const run: BenchRun = {
    schema: BENCH_SCHEMA,
    startedAt,
    finishedAt: new Date().toISOString(),
    options: {
      targets: [],
      concurrency: [],
      ops: [],
      timeSec: 0,
      warmupSec: 0,
      rates: 'off',
      openLoopOp: 'put',
      p99BoundMs: 0,
      via: 'spread',
      keys: 0,
      valueBytes: 0,
    },
    machine: { ...machineNow(), loadavgEnd: loadavg().map((x) => Math.round(x * 100) / 100) },
    versions: { node: process.version, raftlab: await raftlabVersion() },
    targets: [],
    closedLoop: [],
    openLoop: [],
    micro,
  };
  writeFileSync(join(runDir, 'bench.json'), `${JSON.stringify(run, null, 1)}\n`);
  return { run, runDir: resolve(runDir), reportPath: writeBenchReport(runDir) };
}
