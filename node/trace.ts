/**
 * A debug-only latency trace of the write path, off by default. With
 * `RAFTLAB_TRACE=<path prefix>` in its environment a node records a
 * timestamp at each step a client write takes through it and writes them,
 * when it exits, to `<prefix>-<id>.trace`: one `time-ms node event index`
 * line per step. Times are wall-clock milliseconds with microsecond
 * resolution (performance.timeOrigin + performance.now()), so the files of
 * all nodes on one machine line up. `npx tsx node/trace-summary.ts <prefix>`
 * turns them into a per-put timeline (node/README.md, "Where a put's time
 * goes"). Call sites test `traceOn` first, so a node without the variable
 * pays one branch per step.
 */
import { writeFileSync } from 'node:fs';

const prefix = process.env.RAFTLAB_TRACE ?? '';

/** Whether this process records trace events. */
export const traceOn = prefix !== '';

/** The steps a write takes (leader and follower). */
export type TraceEvent =
  | 'client-request' // leader: a client write, parsed, is about to be proposed
  | 'pass' // a Ready was taken (index: its last new entry, 0 if none)
  | 'frames-sent' // leader: AppendEntries written to the peer streams
  | 'persist-start'
  | 'persist-done'
  | 'append-in' // follower: an AppendEntries arrived (index: its last entry)
  | 'reply-sent' // follower: messages sent after the persist
  | 'reply-in' // leader: an append reply arrived (index: the follower's match)
  | 'applied' // leader: a client's entry was applied (index)
  | 'client-response'; // leader: the answer was written

/** Events kept per process; beyond it they are dropped (a trace is for short runs). */
const EVENTS_MAX = 2_000_000;
const lines: string[] = [];
let nodeId = '';

/** Records one step; call only when `traceOn`. */
export function trace(node: string, event: TraceEvent, index = 0): void {
  nodeId = node;
  if (lines.length < EVENTS_MAX)
    lines.push(`${(performance.timeOrigin + performance.now()).toFixed(3)} ${node} ${event} ${index}`);
}

if (traceOn) {
  process.on('exit', () => {
    if (lines.length > 0) writeFileSync(`${prefix}-${nodeId}.trace`, `${lines.join('\n')}\n`);
  });
}
