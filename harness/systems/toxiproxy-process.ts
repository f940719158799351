/**
 * Starts the embedded Toxiproxy-compatible server (toxiproxy/main.ts) as a child process on a free port and
 * stops it again. The harness never runs it in its own event loop: the proxy's timing must not be skewed by the
 * harness's work, and the harness talks to it only over HTTP.
 *
 * No orphans: the child gets `--exit-with-parent` and a stdin pipe, so it exits when we die even by SIGKILL
 * (stdin reaches EOF); `stop()` sends SIGTERM and SIGKILL after a deadline.
 */
import { createWriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startChild, stopChild } from '../../lib/process.ts';
import { tsxImport } from '../../lib/repo.ts';

/** A running embedded server. */
export interface ToxiproxyProcess {
  /** API base URL, e.g. `http://127.0.0.1:41233`, for `new Toxiproxy(url)`. */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** The seed the server uses for toxicity, jitter and slicer draws. */
  readonly seed: number;
  /** SIGTERM, then SIGKILL after `stopTimeoutMs`; resolves once the process is gone. Idempotent. */
  stop(): Promise<void>;
}

/** Options of `startToxiproxyProcess`. */
export interface ToxiproxyProcessOptions {
  /** Seed for the server's random draws (default: chosen by the server and reported back). */
  seed?: number;
  /** API port (default 0: a free port). */
  port?: number;
  /** Give up if the server has not reported its port within this time (default 15000 ms: tsx start-up on a busy box). */
  startTimeoutMs?: number;
  /** Time between SIGTERM and SIGKILL in `stop()` (default 3000 ms). */
  stopTimeoutMs?: number;
  /** Append the server's stderr to this file (default: discarded). */
  logPath?: string;
  /** A populate-format JSON file loaded at start-up. */
  configPath?: string;
}

const serverMain = fileURLToPath(new URL('../../toxiproxy/main.ts', import.meta.url));

interface ListeningLine {
  event: 'listening';
  port: number;
  url: string;
  seed: number;
}

/** The server's first stdout line: `{"event":"listening","port":N,"url":"...","seed":N}`. */
function parseListeningLine(text: string): ListeningLine | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const line = value as Record<string, unknown>;
  return line.event === 'listening' && typeof line.port === 'number' && typeof line.url === 'string'
    ? (line as unknown as ListeningLine)
    : undefined;
}

/** Spawns the embedded server and resolves once it listens. */
export async function startToxiproxyProcess(options: ToxiproxyProcessOptions = {}): Promise<ToxiproxyProcess> {
  const args = ['--import', tsxImport, serverMain, '--host', '127.0.0.1', '--port', String(options.port ?? 0)];
  args.push('--exit-with-parent');
  if (options.seed !== undefined) args.push('--seed', String(options.seed));
  if (options.configPath !== undefined) args.push('--config', options.configPath);
  if (options.logPath === undefined) args.push('--quiet');
  const log = options.logPath !== undefined ? createWriteStream(options.logPath, { flags: 'a' }) : undefined;
  const started = startChild({
    command: process.execPath,
    args,
    ...(log !== undefined ? { log } : {}),
    name: 'toxiproxy',
    readyLine: parseListeningLine,
    readyTimeoutMs: options.startTimeoutMs ?? 15_000,
  });
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= stopChild(started.process, options.stopTimeoutMs ?? 3000).finally(() => log?.end());
    return stopped;
  };
  try {
    const line = await started.ready;
    return { url: line.url, port: line.port, pid: started.pid ?? -1, seed: line.seed, stop };
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}; run "npm run toxiproxy -- --port 0" to see why`);
  }
}
