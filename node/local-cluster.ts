/**
 * Starts n real node processes on loopback without proxies: used by
 * `npm run cluster`, the node benchmark and the real-process tests.
 * Every node runs with `--exit-with-parent`, so even if this process is
 * SIGKILLed its nodes see end-of-file on stdin and exit: no orphans.
 */
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { ResultPromise } from 'execa';
import { freePorts as freeKernelPorts } from '../lib/ports.ts';
import { signalChild, startChild, stopChild } from '../lib/process.ts';
import { tsxImport } from '../lib/repo.ts';

const nodeMain = fileURLToPath(new URL('./main.ts', import.meta.url));

/** Options of a local cluster. */
export interface LocalClusterOptions {
  readonly nodes: number;
  /**
   * How many of the nodes (n1..nK) form the bootstrap configuration
   * (`--initial-members`); the others start as non-members that a leader can
   * add (POST /members). Default: all of them.
   */
  readonly initialMembers?: number;
  /** A planted bug for every node (`--bug`; node/planted-bugs.ts), for tests that show it acts. */
  readonly bug?: string;
  /** Node i serves on basePort + i - 1; 0 or undefined picks free ports. */
  readonly basePort?: number;
  /** Parent of the per-node data directories (`<dataDir>/n1`, ...). */
  readonly dataDir: string;
  readonly electionTimeoutMs?: number;
  readonly heartbeatMs?: number;
  readonly snapshotEvery?: number;
  readonly requestTimeoutMs?: number;
  /** Extra Node.js flags for the node processes (e.g. `--cpu-prof`). */
  readonly nodeFlags?: readonly string[];
  /** Called with every stderr/stdout line of every node. */
  readonly onLine?: (id: string, line: string) => void;
}

/** One node process of a local cluster. */
interface LocalNode {
  readonly id: string;
  readonly port: number;
  readonly url: string;
  readonly dataDir: string;
  child: ResultPromise | undefined;
  /** Everything the node wrote, all runs, for assertions and post-mortems. */
  output: string;
  exit: Promise<{ exitCode: number | undefined; signal: string | undefined }> | undefined;
}

/** Picks `count` distinct free loopback ports (the kernel's choice). */
export function freePorts(count: number): Promise<number[]> {
  return freeKernelPorts(count, { ephemeral: true });
}

/** Collects a stream's text line by line into a node's output, and hands every line to `onLine`. */
function lineSink(node: LocalNode, onLine: ((line: string) => void) | undefined): Writable {
  let partial = '';
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        node.output += `${line}\n`;
        onLine?.(line);
      }
      done();
    },
  });
}

/** n node processes and their URLs. */
export class LocalCluster {
  private readonly nodes = new Map<string, LocalNode>();

  private constructor(
    private readonly options: LocalClusterOptions,
    ports: number[],
  ) {
    ports.forEach((port, i) => {
      const id = `n${i + 1}`;
      this.nodes.set(id, {
        id,
        port,
        url: `http://127.0.0.1:${port}`,
        dataDir: join(options.dataDir, id),
        child: undefined,
        output: '',
        exit: undefined,
      });
    });
  }

  /** Starts every node and waits until each one listens. */
  static async start(options: LocalClusterOptions, startTimeoutMs = 30_000): Promise<LocalCluster> {
    if (!(Number.isInteger(options.nodes) && options.nodes >= 1)) throw new Error('--nodes must be a positive integer');
    const k = options.initialMembers;
    if (k !== undefined && !(Number.isInteger(k) && k >= 1 && k <= options.nodes))
      throw new Error(`initialMembers must be an integer in [1, ${options.nodes}]`);
    const ports =
      options.basePort !== undefined && options.basePort > 0
        ? Array.from({ length: options.nodes }, (_, i) => (options.basePort as number) + i)
        : await freePorts(options.nodes);
    const cluster = new LocalCluster(options, ports);
    try {
      await Promise.all(cluster.ids.map((id) => cluster.startNode(id, startTimeoutMs)));
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  get ids(): string[] {
    return [...this.nodes.keys()];
  }

  url(id: string): string {
    return this.node(id).url;
  }

  dataDir(id: string): string {
    return this.node(id).dataDir;
  }

  /** Everything node `id` printed so far (all its runs). */
  output(id: string): string {
    return this.node(id).output;
  }

  isRunning(id: string): boolean {
    return this.node(id).child !== undefined;
  }

  private node(id: string): LocalNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id} in this cluster (have ${this.ids.join(', ')})`);
    return n;
  }

  private peersSpec(): string {
    return [...this.nodes.values()].map((n) => `${n.id}=${n.url}`).join(',');
  }

  /**
   * Starts (or restarts) node `id` with its data directory. Resolves once it
   * prints its listening line; rejects if it exits first (e.g. refuses a
   * corrupt WAL) or does not listen in time.
   */
  async startNode(id: string, timeoutMs = 30_000): Promise<void> {
    const node = this.node(id);
    if (node.child !== undefined) throw new Error(`node ${id} is already running`);
    const o = this.options;
    const args = [
      ...(o.nodeFlags ?? []),
      '--import',
      tsxImport,
      nodeMain,
      '--id',
      id,
      '--listen',
      `127.0.0.1:${node.port}`,
      '--peers',
      this.peersSpec(),
      '--data-dir',
      node.dataDir,
      ...(o.initialMembers !== undefined ? ['--initial-members', this.ids.slice(0, o.initialMembers).join(',')] : []),
      ...(o.bug !== undefined ? ['--bug', o.bug] : []),
      '--exit-with-parent',
      ...(o.electionTimeoutMs !== undefined ? ['--election-timeout-ms', String(o.electionTimeoutMs)] : []),
      ...(o.heartbeatMs !== undefined ? ['--heartbeat-ms', String(o.heartbeatMs)] : []),
      ...(o.snapshotEvery !== undefined ? ['--snapshot-every', String(o.snapshotEvery)] : []),
      ...(o.requestTimeoutMs !== undefined ? ['--request-timeout-ms', String(o.requestTimeoutMs)] : []),
    ];
    const onLine = o.onLine === undefined ? undefined : (line: string) => o.onLine?.(id, line);
    const started = startChild({
      command: process.execPath,
      args,
      log: { stdout: lineSink(node, onLine), stderr: lineSink(node, onLine) },
      name: `node ${id}`,
      readyLine: (line) => (line.includes('"event":"listening"') ? true : undefined),
      readyTimeoutMs: timeoutMs,
    });
    const child = started.process;
    node.child = child;
    node.exit = started.exited.then((exit) => {
      if (node.child === child) node.child = undefined;
      return { exitCode: exit.code ?? undefined, signal: exit.signal ?? undefined };
    });
    try {
      await started.ready;
    } catch (err) {
      signalChild(child, 'SIGKILL');
      await node.exit;
      throw new Error(`${(err as Error).message}:\n${node.output.slice(-2000)}`);
    }
  }

  /** Resolves with how node `id`'s current process ended (immediately if not running). */
  async exited(id: string): Promise<{ exitCode: number | undefined; signal: string | undefined }> {
    const node = this.node(id);
    return (await node.exit) ?? { exitCode: undefined, signal: undefined };
  }

  /** SIGSTOPs node `id`: it keeps its sockets but does nothing, like a long GC pause. */
  pause(id: string): void {
    this.node(id).child?.kill('SIGSTOP');
  }

  /** SIGCONTs a paused node. */
  resume(id: string): void {
    this.node(id).child?.kill('SIGCONT');
  }

  /** Closes node `id`'s stdin, as if this process had died (see --exit-with-parent). */
  closeStdin(id: string): void {
    this.node(id).child?.stdin?.end();
  }

  /** SIGKILLs node `id` (no chance to flush anything) and waits for it to be gone. */
  async kill(id: string): Promise<void> {
    const node = this.node(id);
    if (node.child === undefined) return;
    signalChild(node.child, 'SIGKILL');
    await node.exit;
  }

  /** SIGTERMs node `id` (clean stop; a paused node is resumed first); SIGKILLs after `graceMs`. */
  async stopNode(id: string, graceMs = 5000): Promise<void> {
    const node = this.node(id);
    if (node.child === undefined) return;
    await stopChild(node.child, graceMs);
    await node.exit;
  }

  /** Stops every node. */
  async stop(): Promise<void> {
    await Promise.all(this.ids.map((id) => this.stopNode(id)));
  }
}
