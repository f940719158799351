/**
 * A client that retries writes whose outcome is unknown (`--retry N`), as
 * real clients do: the same request (same session client id and seq, Raft
 * §8) is sent again, to the next node, up to N times. With client sessions
 * the node answers a retry of an already applied command with its recorded
 * result, so the retry is safe; a node that ignores sessions applies it
 * twice, and a retried CAS that already took effect then answers 409
 * cas-mismatch, which this client records as `fail` (certainly not applied):
 * the checker sees an effect with no operation (harness/PROVE.md, no-dedup).
 *
 * How a retry's answer becomes the op's completion:
 *  - ok: the command took effect exactly once (session dedup) -> ok;
 *  - 409 cas-mismatch: the first application of this seq mismatched, so
 *    neither copy applied -> fail;
 *  - any other answer (info, or a fail such as not-leader that only says
 *    THIS copy did not apply): the earlier copy may still apply -> keep
 *    retrying, and if all retries end so, info.
 */
import type { ClientAdapter } from './client.ts';
import type { Completion, Op } from './types.ts';
import { sleep } from '../lib/time.ts';

/** Options of the retrying client. */
export interface RetryClientOptions {
  /** Retries after an unknown outcome (0 = never retry). */
  retries: number;
  /** Node ids, so a retry can go to the next node (a new leader may be elsewhere); a function when they change. */
  nodes: readonly string[] | (() => readonly string[]);
  /** Pause before each retry, so the cluster has a moment to elect a leader; default 300 ms. */
  retryDelayMs?: number;
}

/** Wraps a client adapter and retries unknown writes and CAS ops with the same session id and seq. */
export class RetryClient implements ClientAdapter {
  private readonly inner: ClientAdapter;
  private readonly retries: number;
  private readonly nodeList: readonly string[] | (() => readonly string[]);
  private readonly retryDelayMs: number;
  /** How many retries were sent and how they ended, for test.json / results. */
  readonly stats = { retried: 0, retryOk: 0, retryMismatch: 0, gaveUp: 0 };

  constructor(inner: ClientAdapter, options: RetryClientOptions) {
    if (!(Number.isInteger(options.retries) && options.retries >= 0)) {
      throw new Error(`--retry must be a non-negative integer, got ${options.retries}`);
    }
    this.inner = inner;
    this.retries = options.retries;
    this.nodeList = options.nodes;
    this.retryDelayMs = options.retryDelayMs ?? 300;
  }

  async invoke(op: Op, node: string, session: { client: string; seq: number }): Promise<Completion> {
    const first = await this.inner.invoke(op, node, session);
    // Reads have no effect to duplicate; a definite answer needs no retry.
    if (op.f === 'read' || first.type !== 'info' || this.retries === 0) return first;
    let last: Completion = first;
    const nodes = typeof this.nodeList === 'function' ? this.nodeList() : this.nodeList;
    let at = Math.max(0, nodes.indexOf(node));
    for (let attempt = 1; attempt <= this.retries; attempt++) {
      if (this.retryDelayMs > 0) await sleep(this.retryDelayMs);
      at = (at + 1) % Math.max(1, nodes.length);
      const target = nodes[at] ?? node;
      this.stats.retried++;
      const answer = await this.inner.invoke(op, target, session);
      if (answer.type === 'ok') {
        this.stats.retryOk++;
        return answer;
      }
      if (answer.type === 'fail' && answer.error === 'cas-mismatch') {
        this.stats.retryMismatch++;
        return answer;
      }
      last = answer;
    }
    this.stats.gaveUp++;
    // Still unknown: the first copy (or a retry) may take effect later.
    return {
      type: 'info',
      error: `${first.type === 'info' ? first.error : 'unknown'}; ${this.retries} retries: ${last.error}`,
    };
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
