/**
 * One chaos run, end to end: the system under test with Toxiproxy between its members, concurrent clients, a seeded
 * nemesis, a recorded history, a final heal with reads of every key, the checker's verdict, and an HTML report, all
 * in a fresh run directory (docs/architecture.md "Run directory"):
 *
 *   store/<name>/<yyyymmddThhmmss>/ test.json history.jsonl status.jsonl
 *                                   results.json report.html nodes/
 *
 * `runChaos` is a short list of named phases; each phase reads and extends one {@link RunState}.
 *
 * Exit codes: 0 linearizable, 1 illegal, 2 unknown, 3 the run broke; 4 = linearizable but the cluster did not
 * recover after the heal (an availability failure, kept apart from linearizability).
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CheckOptions, CheckResult, HistoryEvent } from '../../checker/index.ts';
import { Random } from '../../lib/random.ts';
import { sleep } from '../../lib/time.ts';
import { writeChaosReport } from '../../reports/write-chaos-report.ts';
import type { FinalRead, ResultsFile } from '../../reports/run-files.ts';
import { writeStoreIndex } from '../../reports/store-index.ts';
import type { ClientAdapter } from '../../workloads/client.ts';
import { OpGenerator, type WorkloadName } from '../../workloads/generator.ts';
import { runWorkload, type RunnerStats } from '../../workloads/runner.ts';
import type { Completion } from '../../workloads/types.ts';
import { networkFaultOf } from '../nemesis/controls.ts';
import { Nemesis } from '../nemesis/execute.ts';
import {
  changesMembership,
  clockNemesisKinds,
  describeFault,
  diskNemesisKinds,
  initialMembersFor,
  parseSchedule,
  planSchedule,
  scheduleKinds,
  type NemesisKind,
  type PlannedFault,
} from '../nemesis/plan.ts';
import { EtcdSystem } from '../systems/etcd.ts';
import { ExecSystem } from '../systems/exec.ts';
import { RaftlabSystem } from '../systems/raftlab.ts';
import { assertSupported, SYSTEM_NAMES, UnsupportedError, type System, type SystemName } from '../systems/system.ts';
import { Recorder } from './recorder.ts';
import { createRunDir, updateLatest, versions } from './run-dir.ts';
import { StatusPoller } from './status-poller.ts';

export { createRunDir, updateLatest } from './run-dir.ts';

/** The checker entry point (checker/index.ts `check`), injected so tests and the CLI share one path. */
export type CheckFn = (events: readonly HistoryEvent[], options: CheckOptions) => CheckResult | Promise<CheckResult>;

/** Everything a chaos run is configured with (the CLI's flags). */
export interface ChaosOptions {
  /** The system under test; default raftlab. */
  system?: SystemName;
  /** `exec`: the command template each member is started from (harness/systems/exec.ts). */
  nodeCmd?: string;
  /** `etcd`: the etcd binary (default /usr/bin/etcd). */
  etcdBinary?: string;
  /** `etcd`: how the client reads; `serializable` reads may be stale (etcd's documented local read). */
  etcdReadMode?: 'linearizable' | 'serializable';
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
  /**
   * The minimum evidence for a pass: at least this many acknowledged workload writes (write or cas) and as many
   * acknowledged workload reads; a linearizable history with less is `unknown` (exit 2). Default 10.
   */
  minOkOps?: number;
  electionTimeoutMs?: number;
  heartbeatMs?: number;
  /** `direct` = no proxies (only kill/pause possible). Default proxied. */
  mode?: 'proxied' | 'direct';
  /** `proxy` (default): members on 127.0.0.1; `hosts`: each member in its own network namespace (Linux, root). */
  net?: 'proxy' | 'hosts';
  /** TEST ONLY: node entry point (e.g. a test double). */
  nodeMain?: string;
  /** TEST ONLY: `stale` wraps the client so some reads return stale values. */
  adapter?: 'raftlab' | 'stale';
  /** Command line that reproduces the run (stored in test.json). */
  command?: string;
  /** Planted bug the nodes run with (`--bug NAME`); undefined = the correct node. */
  bug?: string;
  /** Nodes' read mode (`--read-mode`); undefined = the node's default. */
  readMode?: 'index' | 'lease';
  /** The retrying client: resend a write of unknown outcome up to N times (same session seq). Default 0. */
  retry?: number;
  /** Extra flags for every node. */
  nodeArgs?: readonly string[];
  /** `false`: raftlab's nodes run with `--no-restart-quiet` (they answer votes at once after a restart). */
  restartQuiet?: boolean;
  /** Faults active at once, at most (`--overlap`); default 1. */
  overlap?: number;
  /** An explicit fault schedule (`--schedule FILE`, a shrink's candidate) instead of one planned from the seed. */
  schedule?: readonly PlannedFault[];
  /** The run this one was shrunk from (its run directory); test.json and the report link back to it. */
  shrunkFrom?: string;
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

/** What the final phase found: whether every key could be read after the heal (results.json's `availability`). */
type Availability = NonNullable<ResultsFile['availability']>;

/** test.json: what was asked for, how the system was started, and the planned schedule. */
interface TestFile {
  name: string;
  seed: number;
  startedAt: string;
  command: string;
  options: Record<string, unknown>;
  versions: Record<string, string>;
  system: { name: string; peerRouting: string; version?: string; command?: string };
  cluster?: unknown;
  /** Scripted scenarios that ran (nemesis figure8, double-vote): whether each built its dangerous state. */
  scenarios?: { fault: number; name: string; reached: boolean; detail: string }[];
  schedule: (PlannedFault & { description: string; layer?: 'kernel' | 'proxy' })[];
  /** The failing run this smaller one was shrunk from. */
  shrunkFrom?: string;
}

/** Everything the phases of one run share. */
interface RunState {
  readonly options: ChaosOptions;
  readonly store: string;
  readonly runDir: string;
  readonly schedule: PlannedFault[];
  readonly test: TestFile;
  readonly system: System;
  readonly recorder: Recorder;
  readonly poller: StatusPoller;
  readonly generator: OpGenerator;
  readonly onProgress: (progress: ChaosProgress) => void;
  readonly signal: AbortSignal | undefined;
  adapter?: ClientAdapter;
  pollerStarted: boolean;
  counts?: RunnerStats;
  availability?: Availability;
  checkResult?: CheckResult;
  checkTimeMs?: number;
  verdict: ChaosOutcome['verdict'];
  error?: string;
  /** Why a linearizable history was not enough to pass (too few acknowledged ops). */
  insufficientEvidence?: string;
}

/** The node's default `--request-timeout-ms` (node/config.ts); a longer client timeout is passed on to the nodes. */
const NODE_REQUEST_TIMEOUT_MS = 5000;

/** Runs one chaos test; never throws for a broken run (verdict `broken`, exit 3). */
export async function runChaos(
  options: ChaosOptions,
  check: CheckFn,
  onProgress: (progress: ChaosProgress) => void = () => {},
  signal?: AbortSignal,
): Promise<ChaosOutcome> {
  const state = prepareRun(options, onProgress, signal);
  try {
    await startSystem(state);
    await runWorkloadWithNemesis(state);
    if (signal?.aborted === true) throw new Error('interrupted');
    await healAndReadEveryKey(state);
  } catch (error) {
    state.error = error instanceof Error ? error.message : String(error);
  } finally {
    await stopEverything(state);
  }
  if (state.error === undefined) await checkHistory(state, check);
  const exitCode = exitCodeOf(state);
  writeResults(state, exitCode);
  // Data directories are evidence only when something went wrong.
  if (exitCode === 0)
    for (const id of state.system.ids) rmSync(state.system.dataDir(id), { recursive: true, force: true });
  const reportPath = writeReport(state);
  return {
    runDir: state.runDir,
    exitCode,
    verdict: state.verdict,
    ...(reportPath !== undefined && existsSync(reportPath) ? { reportPath } : {}),
    ...(state.counts !== undefined ? { counts: state.counts } : {}),
    ...(state.availability !== undefined ? { availabilityOk: state.availability.ok } : {}),
    ...(state.checkTimeMs !== undefined ? { checkTimeMs: state.checkTimeMs } : {}),
    ...(state.error !== undefined
      ? { error: state.error }
      : state.verdict === 'unknown' && state.insufficientEvidence !== undefined
        ? { error: state.insufficientEvidence }
        : {}),
  };
}

/** The run's name: `[bug-<name>-]<workload>-<nemesis kinds>`. */
function runName(options: ChaosOptions): string {
  const bug = options.bug !== undefined ? `bug-${options.bug}-` : '';
  const system = options.system !== undefined && options.system !== 'raftlab' ? `${options.system}-` : '';
  return `${system}${bug}${options.workload}-${options.nemesis.length === 0 ? 'none' : options.nemesis.join('+')}`;
}

/** Phase 1: the run directory, the system object (not started), the schedule and test.json. */
function prepareRun(
  options: ChaosOptions,
  onProgress: (progress: ChaosProgress) => void,
  signal: AbortSignal | undefined,
): RunState {
  const store = resolve(options.store);
  const name = options.name ?? runName(options);
  // The kinds the run asks for (an explicit schedule's, else --nemesis), settled once: a membership run starts with
  // fewer members than --nodes (the rest join and leave as the nemesis says), and the system must support them all.
  const kinds = options.schedule !== undefined ? scheduleKinds(options.schedule) : options.nemesis;
  if (changesMembership(kinds) && options.nodes < 3) {
    throw new UnsupportedError(`the ${kinds.join(',')} nemesis needs --nodes 3 or more`);
  }
  const initialMembers = changesMembership(kinds) ? initialMembersFor(nodeIds(options.nodes), kinds) : undefined;
  const system = createSystem(options, '', { initialMembers });
  // The schedule (an explicit one checked against the cluster and the run's length) and the kinds it needs are
  // settled before anything is created: a bad schedule or a kind the system cannot apply is a usage error.
  const schedule =
    options.schedule !== undefined
      ? parseSchedule(options.schedule, system.ids, options.timeS * 1000)
      : planSchedule({
          kinds: options.nemesis,
          nodes: system.ids,
          intervalMs: options.intervalS * 1000,
          durationMs: options.timeS * 1000,
          seed: options.seed,
          ...(options.overlap !== undefined ? { overlap: options.overlap } : {}),
          ...(initialMembers !== undefined ? { initialMembers } : {}),
        });
  assertSupported(system, kinds);
  const runDir = createRunDir(store, name);
  const runSystem = createSystem(options, runDir, { kinds: scheduleKinds(schedule), initialMembers });
  const test: TestFile = {
    name,
    seed: options.seed,
    startedAt: new Date().toISOString(),
    command: options.command ?? `npm run chaos -- --seed ${options.seed}`,
    options: testOptions(options),
    versions: versions(),
    system: { name: runSystem.name, peerRouting: runSystem.peerRouting },
    schedule: schedule.map((p) => {
      const mechanism = networkFaultOf(p.fault);
      const layer = mechanism !== undefined ? runSystem.faultLayer(mechanism) : undefined;
      return { ...p, description: describeFault(p.fault), ...(layer !== undefined ? { layer } : {}) };
    }),
    ...(options.shrunkFrom !== undefined ? { shrunkFrom: options.shrunkFrom } : {}),
  };
  const recorder = new Recorder(join(runDir, 'history.jsonl'));
  const state: RunState = {
    options,
    store,
    runDir,
    schedule,
    test,
    system: runSystem,
    recorder,
    // Time 0 of the history is set when the workload starts (after the cluster is up). With membership changes it
    // polls the members the harness sees at each moment.
    poller: new StatusPoller(
      runSystem,
      join(runDir, 'status.jsonl'),
      () => recorder.now(),
      250,
      runSystem.membership !== undefined && initialMembers !== undefined ? () => currentMembers(runSystem) : undefined,
    ),
    generator: new OpGenerator({ workload: options.workload, keys: options.keys }),
    onProgress,
    signal,
    pollerStarted: false,
    verdict: 'broken',
  };
  writeTest(state);
  return state;
}

/** The flags that shaped the run, as test.json shows them. */
function testOptions(options: ChaosOptions): Record<string, unknown> {
  return {
    system: options.system ?? 'raftlab',
    ...(options.nodeCmd !== undefined ? { 'node-cmd': options.nodeCmd } : {}),
    ...(options.etcdReadMode !== undefined ? { 'read-mode': options.etcdReadMode } : {}),
    nodes: options.nodes,
    time: options.timeS,
    nemesis: options.nemesis,
    interval: options.intervalS,
    workload: options.workload,
    keys: options.keys,
    concurrency: options.concurrency,
    ...(options.rate !== undefined ? { rate: options.rate } : {}),
    'timeout-ms': options.timeoutMs,
    ...(options.net === 'hosts' ? { net: 'hosts' } : {}),
    ...(options.adapter === 'stale' ? { adapter: 'stale (test only)' } : {}),
    ...(options.bug !== undefined ? { bug: options.bug } : {}),
    ...(options.readMode !== undefined ? { 'read-mode': options.readMode } : {}),
    ...(options.retry !== undefined && options.retry > 0 ? { retry: options.retry } : {}),
    ...(options.electionTimeoutMs !== undefined ? { 'election-timeout-ms': options.electionTimeoutMs } : {}),
    ...(options.heartbeatMs !== undefined ? { 'heartbeat-ms': options.heartbeatMs } : {}),
    ...(options.restartQuiet === false ? { 'restart-quiet': false } : {}),
    ...(options.nodeArgs !== undefined && options.nodeArgs.length > 0
      ? { 'node-args': options.nodeArgs.join(' ') }
      : {}),
    ...(options.overlap !== undefined && options.overlap > 1 ? { overlap: options.overlap } : {}),
    ...(options.schedule !== undefined ? { schedule: 'explicit' } : {}),
  };
}

/** The ids of a cluster of `count` nodes. */
function nodeIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `n${i + 1}`);
}

/** The members the harness sends clients to and reads from: the membership view, or every node. */
export function currentMembers(system: System): readonly string[] {
  return system.membership?.members() ?? system.ids;
}

/** Nemesis kinds that put a Toxiproxy toxic on a peer link. */
const PEER_TOXIC_KINDS: ReadonlySet<NemesisKind> = new Set(['latency', 'blackhole', 'bandwidth']);

/** The system under test the options ask for (proxied unless `mode: 'direct'`, which etcd always is). */
export function createSystem(
  options: ChaosOptions,
  runDir: string,
  what: { kinds?: readonly NemesisKind[]; initialMembers?: readonly string[] | undefined } = {},
): System {
  const kinds = what.kinds ?? options.nemesis;
  const initialMembers = what.initialMembers;
  const common = {
    // Disk and clock faults need the members' data on the lazy file system, their clocks under libfaketime.
    lazyFs: kinds.some((kind) => (diskNemesisKinds as readonly string[]).includes(kind)),
    fakeClock: kinds.some((kind) => (clockNemesisKinds as readonly string[]).includes(kind)),
    nodes: options.nodes,
    runDir,
    ...(initialMembers !== undefined ? { initialMembers } : {}),
    ...(options.net !== undefined ? { net: options.net } : {}),
    // Hosts mode routes peers through per-link proxies only when a fault needs a toxic on a peer link; otherwise
    // they talk directly and partitions are kernel cuts alone.
    peerProxies: options.nemesis.some((kind) => PEER_TOXIC_KINDS.has(kind)),
    ...(options.toxiproxy !== undefined ? { toxiproxyUrl: options.toxiproxy } : {}),
    proxySeed: options.seed,
  };
  const mode = options.mode ?? 'proxied';
  if (options.net === 'hosts' && options.system === 'exec') {
    // A user's template binds what it likes; nothing says it will serve on the namespace's forwarded port.
    throw new UnsupportedError('--net hosts runs raftlab and etcd so far, not --system exec');
  }
  switch (options.system ?? 'raftlab') {
    case 'raftlab':
      return new RaftlabSystem({
        ...common,
        mode,
        ...(options.electionTimeoutMs !== undefined ? { electionTimeoutMs: options.electionTimeoutMs } : {}),
        ...(options.heartbeatMs !== undefined ? { heartbeatMs: options.heartbeatMs } : {}),
        ...(options.nodeMain !== undefined ? { nodeMain: options.nodeMain } : {}),
        ...(options.adapter !== undefined ? { clientKind: options.adapter } : {}),
        nodeArgs: [
          ...(options.bug !== undefined ? ['--bug', options.bug] : []),
          // A node gives up on a client request after --request-timeout-ms (5 s by default); with a longer client
          // timeout the node waits as long as the client does (the figure8 scenario keeps writes pending for seconds).
          ...(options.timeoutMs > NODE_REQUEST_TIMEOUT_MS ? ['--request-timeout-ms', String(options.timeoutMs)] : []),
          ...(options.readMode !== undefined ? ['--read-mode', options.readMode] : []),
          ...(options.restartQuiet === false ? ['--no-restart-quiet'] : []),
          ...(options.nodeArgs ?? []),
        ],
      });
    case 'exec':
      if (options.nodeCmd === undefined) throw new UnsupportedError('--system exec needs --node-cmd TEMPLATE');
      return new ExecSystem({ ...common, mode, nodeCmd: options.nodeCmd });
    case 'etcd':
      return new EtcdSystem({
        ...common,
        ...(options.etcdBinary !== undefined ? { binary: options.etcdBinary } : {}),
        ...(options.etcdReadMode !== undefined ? { readMode: options.etcdReadMode } : {}),
      });
    default: {
      const unknown: never = options.system as never;
      throw new UnsupportedError(`unknown system ${String(unknown)}; use ${SYSTEM_NAMES.join(', ')}`);
    }
  }
}

function writeTest(state: RunState): void {
  writeFileSync(join(state.runDir, 'test.json'), `${JSON.stringify(state.test, null, 2)}\n`);
}

/** Phase 2: start the members (and proxies), record how, wait for a leader. */
async function startSystem(state: RunState): Promise<void> {
  const { options, system } = state;
  const proxies = system.peerRouting === 'per-link' ? `, ${options.toxiproxy ?? 'embedded toxiproxy'}` : '';
  const where = `${proxies}${options.net === 'hosts' ? ', hosts: a network namespace each' : ''}`;
  state.onProgress({
    phase: 'setup',
    message: `starting ${options.nodes} ${system.name} nodes (${options.mode ?? 'proxied'}${where}) in ${state.runDir}`,
  });
  await system.start();
  const description = system.describe();
  state.test.system = {
    name: description.name,
    peerRouting: description.peerRouting,
    version: description.version,
    command: description.command,
  };
  state.test.versions[description.name] = description.version;
  state.test.cluster = {
    nodes: [...system.ids],
    // The configuration the run starts with (a membership run starts with fewer members than nodes).
    initialMembers: [...currentMembers(system)],
    mode: options.mode ?? 'proxied',
    command: description.command,
    clientUrls: system.clientUrls(),
    directUrls: Object.fromEntries(description.members.map((m) => [m.id, m.directUrl])),
    proxies: description.proxies ?? [],
    ...(description.toxiproxy !== undefined ? { toxiproxy: description.toxiproxy } : {}),
    ...(description.hosts !== undefined ? { hosts: description.hosts } : {}),
  };
  writeTest(state);
  const leader = await system.waitForLeader(30_000);
  state.onProgress({
    phase: 'setup',
    message: `leader ${leader}; running ${options.workload} for ${options.timeS}s, nemesis ${options.nemesis.join(',') || 'none'}, seed ${options.seed}`,
  });
}

/** Phase 3: the clients and the nemesis, side by side, with a progress line every second. */
async function runWorkloadWithNemesis(state: RunState): Promise<void> {
  const { options, system, recorder, poller, signal } = state;
  state.recorder.restartClock();
  poller.start();
  state.pollerStarted = true;
  const adapter = system.createClient({ timeoutMs: options.timeoutMs, retry: options.retry ?? 0 });
  state.adapter = adapter;
  const nemesis = new Nemesis({
    processes: system,
    ...(system.network !== undefined ? { network: system.network } : {}),
    ...(system.disk !== undefined ? { disk: system.disk } : {}),
    ...(system.clock !== undefined ? { clock: system.clock } : {}),
    ...(system.membership !== undefined ? { membership: system.membership } : {}),
    record: (e) => recorder.record(e),
    now: () => recorder.now(),
    seed: options.seed,
    layer: (fault) => system.faultLayer(fault),
  });
  const live = { ok: 0, fail: 0, info: 0 };
  const workloadAbort = new AbortController();
  // The nemesis ends with the workload: a fault that would start after the clients stopped tests nothing (the
  // final heal follows). The active fault is still stopped properly (Nemesis.run).
  const nemesisAbort = new AbortController();
  const onAbort = (): void => workloadAbort.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  const startedAtMs = performance.now();
  const ticker = setInterval(() => {
    state.onProgress({
      phase: 'workload',
      elapsedS: (performance.now() - startedAtMs) / 1000,
      totalS: options.timeS,
      ...live,
      ...(nemesis.active.length > 0 ? { fault: nemesis.active.map((a) => a.description).join(' + ') } : {}),
      ...(poller.lastLeader !== undefined ? { leader: poller.lastLeader } : {}),
    });
  }, 1000);
  try {
    const [stats] = await Promise.all([
      runWorkload({
        generator: state.generator,
        adapter,
        // Clients go to the members the harness sees at each moment (membership changes update it).
        nodes: () => currentMembers(system),
        concurrency: options.concurrency,
        durationMs: options.timeS * 1000,
        ...(options.rate !== undefined ? { ratePerSec: options.rate } : {}),
        random: new Random(options.seed).fork(),
        record: (e) => recorder.record(e),
        clientPrefix: `r${options.seed}-${Date.now().toString(36)}`,
        onCompletion: (completion: Completion) => void live[completion.type]++,
        signal: workloadAbort.signal,
      }).finally(() => nemesisAbort.abort()),
      nemesis.run(state.schedule, startedAtMs, nemesisAbort.signal),
    ]);
    state.counts = stats;
  } finally {
    clearInterval(ticker);
    signal?.removeEventListener('abort', onAbort);
    recordScenarioOutcomes(state, nemesis);
  }
  state.onProgress({ phase: 'heal', message: 'healing every fault, then reading every key' });
  await nemesis.healAll();
}

/** Keeps in test.json whether each scripted scenario built its dangerous state. */
function recordScenarioOutcomes(state: RunState, nemesis: Nemesis): void {
  const ran = nemesis.applied.flatMap((a) =>
    a.planned.fault.kind === 'scenario' && a.outcome !== undefined
      ? [{ fault: a.planned.index, name: a.planned.fault.name, reached: a.outcome.reached, detail: a.outcome.detail }]
      : [],
  );
  if (ran.length === 0) return;
  state.test.scenarios = ran;
  writeTest(state);
}

/** Phase 4 (Jepsen's final reads): after the heal, read every key within the recovery bound. */
async function healAndReadEveryKey(state: RunState): Promise<void> {
  const { system, recorder, signal } = state;
  const adapter = state.adapter;
  if (adapter === undefined || state.counts === undefined) throw new Error('the workload did not run');
  const boundMs = state.options.recoveryBoundMs ?? 30_000;
  const healedAtMs = performance.now();
  const deadlineMs = healedAtMs + boundMs;
  const finalReads: FinalRead[] = [];
  let nextProcess = state.counts.processes;
  // The final configuration's members only (the heal settled the harness's view on it).
  const members = currentMembers(system);
  for (const key of state.generator.keys) {
    const process = nextProcess++;
    const read: FinalRead = { key, ok: false, attempts: 0 };
    let lastError = 'no attempt';
    while (performance.now() < deadlineMs && signal?.aborted !== true) {
      read.attempts++;
      const node = members[(read.attempts - 1) % members.length] as string;
      recorder.record({ process, type: 'invoke', f: 'read', key, value: null, node });
      const session = { client: `final-${process}`, seq: read.attempts };
      const completion = await adapter.invoke({ f: 'read', key, value: null }, node, session);
      if (completion.type === 'ok') {
        const event = recorder.record({ process, type: 'ok', f: 'read', key, value: completion.value, node });
        Object.assign(read, { ok: true, value: completion.value, time: event.time });
        break;
      }
      lastError = completion.error;
      recorder.record({ process, type: 'fail', f: 'read', key, value: null, node, error: completion.error });
      await sleep(100);
    }
    if (!read.ok) read.error = lastError;
    finalReads.push(read);
  }
  const ok = finalReads.every((r) => r.ok);
  state.availability = {
    ok,
    boundMs,
    ...(ok ? { recoveredAfterHealMs: performance.now() - healedAtMs } : {}),
    finalReads,
  };
}

/** Stops the poller, the clients and every process; runs on every path. */
async function stopEverything(state: RunState): Promise<void> {
  if (state.pollerStarted) await state.poller.stop();
  await state.adapter?.close();
  await state.system.stop();
  await state.recorder.close();
}

/** Phase 5: the checker's verdict on the recorded history. */
async function checkHistory(state: RunState, check: CheckFn): Promise<void> {
  try {
    state.onProgress({ phase: 'check', message: `checking ${state.recorder.events.length} events` });
    const startedMs = performance.now();
    state.checkResult = await check(state.recorder.events, {
      model: 'raftlab-kv',
      budgetMs: state.options.checkBudgetMs ?? 60_000,
    });
    state.checkTimeMs = performance.now() - startedMs;
    state.verdict = state.checkResult.verdict;
    state.insufficientEvidence = evidenceShortfall(state);
    // A run whose clients got (almost) nothing done is linearizable for want of anything to contradict: no pass.
    if (state.verdict === 'linearizable' && state.insufficientEvidence !== undefined) state.verdict = 'unknown';
  } catch (error) {
    state.error = `checker failed: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** Says what is missing when the workload acknowledged fewer writes or reads than the minimum (final reads not counted). */
function evidenceShortfall(state: RunState): string | undefined {
  const required = state.options.minOkOps ?? 10;
  const workloadProcesses = state.counts?.processes ?? 0;
  let writes = 0;
  let reads = 0;
  for (const event of state.recorder.events) {
    if (event.type !== 'ok' || typeof event.process !== 'number' || event.process >= workloadProcesses) continue;
    if (event.f === 'read') reads++;
    else writes++;
  }
  if (writes >= required && reads >= required) return undefined;
  return `too little evidence: ${writes} acknowledged writes and ${reads} acknowledged reads, fewer than the ${required} each that a pass needs (--min-ok-ops)`;
}

function exitCodeOf(state: RunState): number {
  switch (state.verdict) {
    case 'broken':
      return 3;
    case 'illegal':
      return 1;
    case 'unknown':
      return 2;
    default:
      return state.availability?.ok === false ? 4 : 0;
  }
}

/** Phase 6: results.json. */
function writeResults(state: RunState, exitCode: number): void {
  const results = {
    verdict: state.verdict,
    exitCode,
    system: state.test.system,
    ...(state.error !== undefined ? { error: state.error } : {}),
    ...(state.insufficientEvidence !== undefined ? { insufficientEvidence: state.insufficientEvidence } : {}),
    ...(state.availability !== undefined ? { availability: state.availability } : {}),
    ...(state.counts !== undefined ? { counts: state.counts } : {}),
    ...(state.checkResult !== undefined ? { check: state.checkResult } : {}),
    ...(state.checkTimeMs !== undefined ? { checkTimeMs: state.checkTimeMs } : {}),
    durationMs: state.options.timeS * 1000,
  };
  writeFileSync(join(state.runDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
}

/** Phase 7: report.html, the `latest` link and the store index. A failure here is noted, not thrown. */
function writeReport(state: RunState): string | undefined {
  try {
    state.onProgress({ phase: 'report', message: 'writing report.html' });
    const reportPath = writeChaosReport(state.runDir);
    updateLatest(state.store, state.runDir);
    writeStoreIndex(state.store);
    return reportPath;
  } catch (error) {
    state.error ??= `report failed: ${(error as Error).message}`;
    return undefined;
  }
}
