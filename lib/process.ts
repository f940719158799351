/**
 * Child processes of a run: start one, wait for the line that says it serves, stop it (TERM, then KILL), and make
 * sure none outlives the harness.
 *
 * Against a SIGKILL of the harness itself there are two layers. Programs of ours take `--exit-with-parent` and exit
 * when their stdin pipe reaches EOF. A {@link Reaper} (a tiny plain-node process whose stdin is piped from us)
 * SIGKILLs every pid registered with it when our end of its pipe closes: the only way to also take down a child that
 * is SIGSTOPped at that moment, since a stopped process never sees its stdin EOF. The reaper also runs the cleanup
 * commands registered with it (e.g. deleting a run's network namespaces), so state that is not a process is undone
 * too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import { execa, type ResultPromise } from 'execa';

/** How a child process ended. */
export interface ChildExit {
  code: number | null;
  signal: string | null;
}

/** What {@link startChild} is asked to run. */
export interface ChildOptions<Ready> {
  command: string;
  args: readonly string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Where stdout and stderr go (appended; the streams are not ended), one sink or one each; default: discarded. */
  log?: Writable | { stdout: Writable; stderr: Writable };
  /** Recognises the line on stdout that says the child serves; returns what the caller needs from it. */
  readyLine: (line: string) => Ready | undefined;
  /** Give up waiting for the ready line after this long (the child keeps running; default: wait for ever). */
  readyTimeoutMs?: number;
  /** What the child is called in error messages. */
  name: string;
  /**
   * Start the child in a process group of its own, so that {@link signalChild} reaches everything it starts (a user's
   * node command may be a shell or `npm run` wrapping the real server).
   */
  processGroup?: boolean;
}

/** A started child. */
export interface StartedChild<Ready> {
  readonly process: ResultPromise;
  readonly pid: number | undefined;
  /** Resolves with the ready line's value; rejects if the child exits first or the timeout passes. */
  readonly ready: Promise<Ready>;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ChildExit>;
}

/**
 * Starts a child with a stdin pipe (for `--exit-with-parent`) and its output appended to `log`. The ready promise
 * settles once: with the first stdout line `readyLine` accepts, or with an error naming the child when it exits
 * first or the timeout passes.
 */
export function startChild<Ready>(options: ChildOptions<Ready>): StartedChild<Ready> {
  const child = execa(options.command, options.args, {
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    env: options.env ?? { ...process.env, FORCE_COLOR: '0' },
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
    reject: false,
    cleanup: true,
    detached: options.processGroup === true,
  });
  child.stdin?.on('error', () => {});
  if (options.log !== undefined) {
    const sinks = 'stdout' in options.log ? options.log : { stdout: options.log, stderr: options.log };
    child.stdout?.pipe(sinks.stdout, { end: false });
    child.stderr?.pipe(sinks.stderr, { end: false });
  } else {
    child.stderr?.resume();
  }
  const exited = child.then(
    (result) => ({ code: result.exitCode ?? null, signal: result.signal ?? null }),
    () => ({ code: null, signal: null }),
  );
  const ready = new Promise<Ready>((resolve, reject) => {
    let tail = '';
    let timer: NodeJS.Timeout | undefined;
    const finish = (error: Error | undefined, value?: Ready): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      if (error !== undefined) reject(error);
      else resolve(value as Ready);
    };
    const onData = (chunk: Buffer): void => {
      // Keep only an unfinished tail: ready lines are short, logs can be long.
      tail = (tail + chunk.toString('utf8')).slice(-8192);
      let newline = tail.indexOf('\n');
      while (newline >= 0) {
        const value = options.readyLine(tail.slice(0, newline));
        tail = tail.slice(newline + 1);
        if (value !== undefined) return finish(undefined, value);
        newline = tail.indexOf('\n');
      }
    };
    child.stdout?.on('data', onData);
    // Without a log the output must still be drained, or the child blocks on a full pipe.
    if (options.log === undefined) child.stdout?.resume();
    if (options.readyTimeoutMs !== undefined) {
      timer = setTimeout(
        () => finish(new Error(`${options.name} did not listen within ${options.readyTimeoutMs} ms`)),
        options.readyTimeoutMs,
      );
    }
    void exited.then((exit) =>
      finish(new Error(`${options.name} exited before listening (${exit.signal ?? `code ${exit.code}`})`)),
    );
  });
  // A caller that only awaits `exited` must not see an unhandled rejection.
  ready.catch(() => {});
  return { process: child, pid: child.pid, ready, exited };
}

/** Sends a signal to a child, or to its whole process group when it was started with `processGroup`. */
export function signalChild(child: ResultPromise, signal: NodeJS.Signals, processGroup = false): void {
  if (!processGroup || child.pid === undefined) {
    child.kill(signal);
    return;
  }
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
}

/** Stops a child: SIGCONT (a paused child cannot die of TERM), SIGTERM, and SIGKILL after `graceMs`. */
export async function stopChild(child: ResultPromise, graceMs = 2_000, processGroup = false): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    // The group leader is gone, but what it started may not be.
    if (processGroup) signalChild(child, 'SIGKILL', true);
    return;
  }
  signalChild(child, 'SIGCONT', processGroup);
  signalChild(child, 'SIGTERM', processGroup);
  const timer = setTimeout(() => signalChild(child, 'SIGKILL', processGroup), graceMs);
  await child.catch(() => undefined);
  clearTimeout(timer);
  if (processGroup) signalChild(child, 'SIGKILL', true);
}

// Reads lines `add N` / `del N` from stdin, N a pid or a negative process group id, and `cleanup KEY JSON` /
// `uncleanup KEY` (a list of argv arrays to run); on EOF (our process died or closed the pipe) it SIGCONTs and
// SIGKILLs every pid or group still registered, then runs every cleanup command still registered, in order, ignoring
// failures.
const REAPER_SOURCE = `
const pids = new Set(); const cleanups = new Map(); let buf = '';
process.on('SIGINT', () => {}); process.on('SIGTERM', () => {});
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => { buf += d; let i; while ((i = buf.indexOf('\\n')) >= 0) {
  const line = buf.slice(0, i).trim(); buf = buf.slice(i + 1);
  const [verb, n] = line.split(' ');
  if (verb === 'del') pids.delete(Number(n)); else if (verb === 'add') pids.add(Number(n));
  else if (verb === 'cleanup') cleanups.set(n, JSON.parse(line.slice(verb.length + n.length + 2)));
  else if (verb === 'uncleanup') cleanups.delete(n); } });
process.stdin.on('end', () => {
  for (const p of pids) { try { process.kill(p, 'SIGCONT'); } catch {} try { process.kill(p, 'SIGKILL'); } catch {} }
  const { spawnSync } = require('node:child_process');
  for (const commands of cleanups.values()) for (const argv of commands) {
    spawnSync(argv[0], argv.slice(1), { stdio: 'ignore', timeout: 10000 });
  }
  process.exit(0); });
`;

/** SIGKILLs every registered pid when the harness dies, however it dies. */
export class Reaper {
  private readonly child: ChildProcess;

  constructor() {
    this.child = spawn(process.execPath, ['-e', REAPER_SOURCE], { stdio: ['pipe', 'ignore', 'ignore'] });
    this.child.on('error', () => {});
    this.child.stdin?.on('error', () => {});
    // The reaper must not keep our event loop alive, and it ignores the Ctrl-C that the terminal sends to our whole
    // process group, so it is still there to do its job if our own cleanup is cut short.
    this.child.unref();
    (this.child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Registers a pid; `processGroup` registers the whole group led by `pid`. */
  add(pid: number | undefined, processGroup = false): void {
    if (pid !== undefined) this.child.stdin?.write(`add ${processGroup ? -pid : pid}\n`);
  }

  remove(pid: number | undefined, processGroup = false): void {
    if (pid !== undefined) this.child.stdin?.write(`del ${processGroup ? -pid : pid}\n`);
  }

  /**
   * Registers commands (argv arrays, run in order without a shell) that the reaper runs after killing the pids when
   * the harness dies without removing them first: how state outside any process (network namespaces, nftables
   * tables) is undone after a SIGKILL. `key` (no whitespace) names the set; registering it again replaces it.
   */
  addCleanup(key: string, commands: readonly (readonly string[])[]): void {
    if (/\s/.test(key) || key === '') throw new Error(`reaper cleanup key must be a non-empty word, got "${key}"`);
    this.child.stdin?.write(`cleanup ${key} ${JSON.stringify(commands)}\n`);
  }

  /** Forgets the cleanup commands registered under `key` (the harness undid the state itself). */
  removeCleanup(key: string): void {
    this.child.stdin?.write(`uncleanup ${key}\n`);
  }

  /** Closes the pipe (the reaper kills what is still registered) and waits for it to exit. */
  async close(): Promise<void> {
    const child = this.child;
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    // Waiting for an unref'd child would let the event loop end before it exits.
    child.ref();
    child.stdin?.end();
    await exited;
  }
}
