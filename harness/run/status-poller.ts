/**
 * Polls every node's /status (directly, not through the proxies) on a fixed
 * period and appends one line per poll to status.jsonl, on the history's
 * clock. The report derives leader changes and recovery from it; the checker
 * never sees it. When membership changes, it polls the members the harness
 * sees at that moment, and each line also has `members` (that view) and each
 * node its `configuration` (voters and learners as the node reports them).
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { ProcessControl } from '../nemesis/controls.ts';

/** Polls until `stop()`; each poll is bounded by `timeoutMs`, so stop waits at most one poll. */
export class StatusPoller {
  private readonly stream: WriteStream;
  private running = true;
  private loop: Promise<void> | undefined;
  /** Leader of the highest term seen in the last poll (for the progress line). */
  lastLeader: string | undefined;

  /** `members`: who to poll each time (default: every id). */
  constructor(
    private readonly system: Pick<ProcessControl, 'ids' | 'status'>,
    path: string,
    private readonly now: () => number,
    private readonly periodMs = 250,
    private readonly members?: () => readonly string[],
  ) {
    this.stream = createWriteStream(path, { flags: 'a' });
  }

  start(): void {
    this.loop = (async () => {
      while (this.running) {
        const startedMs = performance.now();
        const line = await this.poll();
        // A poll that ends after stop() is not written here: stop() writes the final one itself.
        if (this.running) this.write(line);
        const waitMs = this.periodMs - (performance.now() - startedMs);
        if (waitMs > 0 && this.running) await new Promise((r) => setTimeout(r, waitMs));
      }
    })();
  }

  /**
   * Ends the polling with one last poll, so that status.jsonl ends with the state at the end of the run (the
   * configuration and leader after the final heal and reads), not with whatever the last periodic poll caught.
   */
  async stop(): Promise<void> {
    this.running = false;
    if (this.loop !== undefined) {
      await this.loop;
      this.write(await this.poll());
    }
    await new Promise<void>((resolve) => this.stream.end(resolve));
  }

  /** One poll of every member's status, as a status.jsonl line. */
  private async poll(): Promise<object> {
    const time = this.now();
    const ids = [...(this.members?.() ?? this.system.ids)];
    const statuses = await Promise.all(ids.map((id) => this.system.status(id, Math.min(200, this.periodMs))));
    const nodes: Record<string, unknown> = {};
    let best: { id: string; term: number } | undefined;
    for (const [i, id] of ids.entries()) {
      const s = statuses[i];
      nodes[id] =
        s === undefined
          ? null
          : {
              role: s.role,
              term: s.term,
              leader: s.leader,
              commitIndex: s.commitIndex,
              ...(s.configuration !== undefined ? { configuration: s.configuration } : {}),
            };
      if (s?.role === 'leader' && (best === undefined || s.term > best.term)) best = { id, term: s.term };
    }
    this.lastLeader = best?.id;
    return { time, nodes, ...(this.members !== undefined ? { members: ids } : {}) };
  }

  private write(line: object): void {
    this.stream.write(`${JSON.stringify(line)}\n`);
  }
}
