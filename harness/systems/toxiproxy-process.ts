/**
 * Starts the embedded Toxiproxy-compatible server (toxiproxy/main.ts) as a child process on a free port and
 * stops it again. The harness never runs it in its own event loop (issue 4 item 2): the proxy's timing must not
 * be skewed by the harness's work, and the harness talks to it only over HTTP.
 *
 * No orphans: the child gets `--exit-with-parent` and a stdin pipe, so it exits when we die even by SIGKILL
 * (stdin reaches EOF); `stop()` sends SIGTERM and SIGKILL after a deadline.
 */
import { execa, type ResultPromise } from 'execa';
import { createWriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';

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
// Resolve tsx from this repo so the child starts the same way whatever the caller's cwd is.
const tsxLoader = import.meta.resolve('tsx');

interface ListeningLine {
  event: 'listening';
  port: number;
  url: string;
  seed: number;
}

function isListeningLine(value: unknown): value is ListeningLine {
  if (typeof value !== 'object' || value === null) return false;
  const line = value as Record<string, unknown>;
  return line.event === 'listening' && typeof line.port === 'number' && typeof line.url === 'string';
}

/** Spawns the embedded server and resolves once it listens. */
export async function startToxiproxyProcess(options: ToxiproxyProcessOptions = {}): Promise<ToxiproxyProcess> {
  const args = ['--import', tsxLoader, serverMain, '--host', '127.0.0.1', '--port', String(options.port ?? 0)];
  args.push('--exit-with-parent');
  if (options.seed !== undefined) args.push('--seed', String(options.seed));
  if (options.configPath !== undefined) args.push('--config', options.configPath);
  if (options.logPath === undefined) args.push('--quiet');
  const child = execa(process.execPath, args, {
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: options.logPath === undefined ? 'ignore' : 'pipe',
    buffer: false,
    reject: false,
    forceKillAfterDelay: options.stopTimeoutMs ?? 3000,
  });
  if (options.logPath !== undefined) child.stderr?.pipe(createWriteStream(options.logPath, { flags: 'a' }));
  const stop = stopper(child);
  try {
    const line = await readListeningLine(child, options.startTimeoutMs ?? 15_000);
    return { url: line.url, port: line.port, pid: child.pid ?? -1, seed: line.seed, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

function stopper(child: ResultPromise): () => Promise<void> {
  let stopped: Promise<void> | undefined;
  return () => {
    stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await child;
    })();
    return stopped;
  };
}

function readListeningLine(child: ResultPromise, timeoutMs: number): Promise<ListeningLine> {
  return new Promise((resolve, reject) => {
    let text = '';
    const stdout = child.stdout;
    if (stdout === null) {
      reject(new Error('toxiproxy child has no stdout'));
      return;
    }
    const finish = (error: Error | undefined, line?: ListeningLine): void => {
      clearTimeout(timer);
      stdout.off('data', onData);
      child.off('exit', onExit);
      if (error !== undefined) reject(error);
      else if (line !== undefined) resolve(line);
      // Keep draining stdout so the child never blocks on a full pipe.
      stdout.resume();
    };
    const onData = (part: Buffer): void => {
      text += part.toString('utf8');
      const newline = text.indexOf('\n');
      if (newline < 0) return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(text.slice(0, newline));
      } catch {
        parsed = undefined;
      }
      if (isListeningLine(parsed)) finish(undefined, parsed);
      else finish(new Error(`toxiproxy printed an unexpected first line: ${text.slice(0, newline)}`));
    };
    const onExit = (code: number | null, signal: string | null): void => {
      finish(
        new Error(
          `toxiproxy exited before listening (code ${code}, signal ${signal}); run "npm run toxiproxy -- --port 0" to see why`,
        ),
      );
    };
    const timer = setTimeout(() => {
      finish(new Error(`toxiproxy did not report its port within ${timeoutMs} ms`));
    }, timeoutMs);
    stdout.on('data', onData);
    child.once('exit', onExit);
  });
}
