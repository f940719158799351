/**
 * Drives P logical client processes (Jepsen's sense: at most one op in flight
 * each) against a client adapter for a fixed duration, closed loop or at a
 * target rate (open loop), recording every invoke before its request is sent
 * and every completion when it arrives. After an `info` the process id is
 * retired and a fresh one takes over, since the old request may still take
 * effect at any later time.
 */
import type { ClientAdapter } from './client.ts';
import type { OpGenerator } from './generator.ts';
import type { Random } from '../lib/random.ts';
import type { Completion, HistoryEvent, Op } from './types.ts';
import { sleep } from '../lib/time.ts';

/** Records one event, stamping its time; returns the stamped event. */
export type RecordFn = (event: Omit<HistoryEvent, 'time'>) => HistoryEvent;

/** Options of one workload run. */
export interface RunnerOptions {
  generator: OpGenerator;
  adapter: ClientAdapter;
  /**
   * Node ids; each op goes to a random one (followers forward, so that path is exercised). A function is asked
   * before every op: the members change while the workload runs (membership changes).
   */
  nodes: readonly string[] | (() => readonly string[]);
  /** Logical processes P. */
  concurrency: number;
  durationMs: number;
  /** Target ops/s across all processes (open loop); undefined = closed loop. */
  ratePerSec?: number;
  random: Random;
  record: RecordFn;
  /** Prefix of session client ids (unique per run, so a restarted run never collides). */
  clientPrefix: string;
  /** Called after each completion (progress display). */
  onCompletion?: (completion: Completion, op: Op) => void;
  /** Ends the run early. */
  signal?: AbortSignal;
  /**
   * Pause of a process after an info or an error fail (not after a CAS
   * mismatch), so clients do not spin on a dead or leaderless node and
   * flood the history with unknown ops; default 50 ms.
   */
  errorBackoffMs?: number;
}

/** Counts of a finished workload run. */
export interface RunnerStats {
  invoked: number;
  ok: number;
  fail: number;
  info: number;
  /** Process ids used, including retired ones. */
  processes: number;
}

/** Runs the workload until `durationMs` passed (or `signal` aborts) and every in-flight op completed. */
export async function runWorkload(options: RunnerOptions): Promise<RunnerStats> {
  if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
    throw new Error(`--concurrency must be a positive integer, got ${options.concurrency}`);
  }
  const nodesNow = typeof options.nodes === 'function' ? options.nodes : () => options.nodes as readonly string[];
  if (nodesNow().length === 0) throw new Error('no nodes to talk to');
  const stats: RunnerStats = { invoked: 0, ok: 0, fail: 0, info: 0, processes: options.concurrency };
  const endAt = performance.now() + options.durationMs;
  const slotIntervalMs =
    options.ratePerSec !== undefined && options.ratePerSec > 0 ? (options.concurrency * 1000) / options.ratePerSec : 0;
  let nextProcessId = options.concurrency;
  const seqByProcess = new Map<number, number>();
  const backoffMs = options.errorBackoffMs ?? 50;
  const stopped = (): boolean => options.signal?.aborted === true || performance.now() >= endAt;

  const slot = async (slotIndex: number): Promise<void> => {
    let process = slotIndex;
    const random = options.random.fork();
    // Spread open-loop slots evenly over one interval so they do not fire together.
    let nextStart = performance.now() + (slotIntervalMs * slotIndex) / options.concurrency;
    while (!stopped()) {
      if (slotIntervalMs > 0) {
        const wait = nextStart - performance.now();
        if (wait > 0) await sleep(Math.min(wait, Math.max(0, endAt - performance.now())));
        nextStart = Math.max(nextStart + slotIntervalMs, performance.now());
      }
      if (stopped()) break;
      const op = options.generator.next(random);
      const node = random.pick(nodesNow());
      const seq = (seqByProcess.get(process) ?? 0) + 1;
      seqByProcess.set(process, seq);
      options.record({ process, type: 'invoke', f: op.f, key: op.key, value: op.value, node });
      stats.invoked++;
      const completion = await options.adapter.invoke(op, node, { client: `${options.clientPrefix}-p${process}`, seq });
      const servedBy = completion.servedBy !== undefined ? { servedBy: completion.servedBy } : {};
      switch (completion.type) {
        case 'ok':
          options.record({ process, type: 'ok', f: op.f, key: op.key, value: completion.value, node, ...servedBy });
          stats.ok++;
          break;
        case 'fail':
          options.record({
            process,
            type: 'fail',
            f: op.f,
            key: op.key,
            value: op.value,
            node,
            ...servedBy,
            error: completion.error,
          });
          stats.fail++;
          break;
        case 'info':
          options.record({
            process,
            type: 'info',
            f: op.f,
            key: op.key,
            value: op.value,
            node,
            ...servedBy,
            error: completion.error,
          });
          stats.info++;
          process = nextProcessId++;
          stats.processes++;
          break;
        default: {
          const unreachable: never = completion;
          throw new Error(`unknown completion ${JSON.stringify(unreachable)}`);
        }
      }
      options.generator.observe(op, completion);
      options.onCompletion?.(completion, op);
      const isError = completion.type === 'info' || (completion.type === 'fail' && completion.error !== 'cas-mismatch');
      if (isError && backoffMs > 0 && !stopped())
        await sleep(Math.min(backoffMs, Math.max(0, endAt - performance.now())));
    }
  };

  await Promise.all(Array.from({ length: options.concurrency }, (_, i) => slot(i)));
  return stats;
}
