/**
 * The history recorder: every client and nemesis event, in real-time order,
 * stamped with ns since the run's start on one monotonic clock
 * (process.hrtime.bigint), appended to history.jsonl as it happens (so a run
 * that breaks midway still leaves its history) and kept in memory for the
 * checker. Recording is synchronous, so line order is call order and times
 * never go backwards.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { HistoryEvent } from '../../workloads/types.ts';

/** Records history events; `record` stamps the time. */
export class Recorder {
  readonly events: HistoryEvent[] = [];
  private startNs: bigint;
  private readonly stream: WriteStream | undefined;
  private lastTimeNs = 0;

  /** `path`: history.jsonl to append to; omit to keep events in memory only. */
  constructor(path?: string, startNs: bigint = process.hrtime.bigint()) {
    this.startNs = startNs;
    this.stream = path === undefined ? undefined : createWriteStream(path, { flags: 'a' });
  }

  /** Sets time 0 to now (e.g. when the workload starts); only before the first event. */
  restartClock(): void {
    if (this.events.length > 0) throw new Error('restartClock after events were recorded');
    this.startNs = process.hrtime.bigint();
  }

  /** Nanoseconds since the run started. */
  now(): number {
    return Number(process.hrtime.bigint() - this.startNs);
  }

  /** Stamps and appends one event. */
  record(event: Omit<HistoryEvent, 'time'>): HistoryEvent {
    // hrtime is monotonic, the max() only guards against equal readings being reordered by rounding.
    const time = Math.max(this.now(), this.lastTimeNs);
    this.lastTimeNs = time;
    const stamped: HistoryEvent = { ...event, time };
    this.events.push(stamped);
    this.stream?.write(`${JSON.stringify(stamped)}\n`);
    return stamped;
  }

  /** Flushes and closes the file. */
  async close(): Promise<void> {
    const stream = this.stream;
    if (stream === undefined || stream.closed) return;
    await new Promise<void>((resolve) => stream.end(resolve));
  }
}
