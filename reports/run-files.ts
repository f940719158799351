/**
 * The files of a run directory (docs/architecture.md "A run directory") as the
 * report reads them. reports/ depends on nothing but these files (and the
 * checker's result types), so any old run can be re-rendered.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckResult } from '../checker/index.ts';

/** One line of history.jsonl (see docs/architecture.md "Clients and the history"). */
export interface RunEvent {
  process: number | string;
  type: 'invoke' | 'ok' | 'fail' | 'info';
  f: string;
  key?: string;
  value?: unknown;
  time: number;
  /** The member the client sent the request to, and (completions) the one that answered, when the system says. */
  node?: string;
  servedBy?: string;
  error?: string;
  fault?: number;
  detail?: string;
  /** Nemesis start events of network faults: `kernel` (nftables, hosts mode) or `proxy` (Toxiproxy). */
  layer?: 'kernel' | 'proxy';
}

/** One line of status.jsonl: every node's /status (null = no answer) at `time` ns. */
export interface StatusSample {
  time: number;
  nodes: Record<string, { role: string; term: number; leader: string | null; commitIndex: number } | null>;
}

/** test.json: what the run was asked to do. */
export interface TestFile {
  name: string;
  seed: number;
  startedAt: string;
  options: Record<string, unknown>;
  command?: string;
  versions?: Record<string, string>;
  /** The system under test (older runs have none: they were raftlab). */
  system?: { name: string; peerRouting: string; version?: string; command?: string };
  cluster?: {
    nodes: string[];
    mode: string;
    clientUrls?: Record<string, string>;
    proxies?: unknown[];
    toxiproxy?: string;
  };
  schedule?: unknown[];
  /** The failing run this one was shrunk from (`npm run shrink`): its run directory. */
  shrunkFrom?: string;
}

/** Final reads after the heal: the availability check. */
export interface FinalRead {
  key: string;
  ok: boolean;
  value?: unknown;
  attempts: number;
  error?: string;
  /** ns since the run's start when the read succeeded. */
  time?: number;
}

/** results.json: what the run found. */
export interface ResultsFile {
  verdict: 'linearizable' | 'illegal' | 'unknown' | 'broken';
  exitCode: number;
  /** Why the run broke (verdict broken). */
  error?: string;
  /** Why a linearizable history did not pass: fewer acknowledged ops than the minimum (verdict unknown). */
  insufficientEvidence?: string;
  availability?: {
    /** Every key could be read within the bound after the final heal. */
    ok: boolean;
    boundMs: number;
    recoveredAfterHealMs?: number;
    finalReads: FinalRead[];
  };
  /** The system under test: name, how its peers are routed, version and the command a member runs. */
  system?: { name: string; peerRouting: string; version?: string; command?: string };
  counts?: { invoked: number; ok: number; fail: number; info: number; processes: number };
  check?: CheckResult;
  checkTimeMs?: number;
  durationMs?: number;
}

/** Everything a report needs, read from one run directory. */
export interface RunFiles {
  dir: string;
  test: TestFile;
  events: RunEvent[];
  results: ResultsFile | undefined;
  status: StatusSample[];
}

/** Parses JSON Lines; a malformed line is an error naming the file and line. */
export function parseJsonLines<T>(text: string, name: string): T[] {
  const out: T[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '') continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch (error) {
      throw new Error(`${name} line ${i + 1} is not JSON: ${(error as Error).message}`);
    }
  }
  return out;
}

function readJson<T>(path: string): T {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (error) {
    throw new Error(`cannot read ${path}: ${(error as Error).message}`);
  }
}

/** Reads a run directory; throws a clear error when it is not one. */
export function readRunFiles(dir: string): RunFiles {
  const testPath = join(dir, 'test.json');
  if (!existsSync(testPath)) throw new Error(`${dir} is not a run directory (no test.json); pass e.g. store/latest`);
  const historyPath = join(dir, 'history.jsonl');
  const resultsPath = join(dir, 'results.json');
  const statusPath = join(dir, 'status.jsonl');
  return {
    dir,
    test: readJson<TestFile>(testPath),
    events: existsSync(historyPath) ? parseJsonLines<RunEvent>(readFileSync(historyPath, 'utf8'), 'history.jsonl') : [],
    results: existsSync(resultsPath) ? readJson<ResultsFile>(resultsPath) : undefined,
    status: existsSync(statusPath)
      ? parseJsonLines<StatusSample>(readFileSync(statusPath, 'utf8'), 'status.jsonl')
      : [],
  };
}
