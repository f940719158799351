// The eight Toxiproxy toxic types: their attribute schema (what the API stores and echoes) and their behaviour on
// one link (a `Stage` in the link's chain). Behaviour follows docs/toxiproxy-compat.md §6-§7 (Toxiproxy v2.12.0).
import type { ToxicType } from '../lib/toxics.ts';
import type { Random } from './rng.ts';

// The type names and attribute schema are the real server's (compat §4, creation step 4, and §3: the API echoes
// every attribute, 0 when not supplied). They live in the leaf lib/, so that this server and the check that
// callers run before creating a toxic (lib/toxics.ts) share one list.
export { TOXIC_ATTRIBUTES, TOXIC_TYPES, isToxicType, type ToxicType } from '../lib/toxics.ts';

/** Which direction of a connection a toxic acts on: upstream = client -> server, downstream = server -> client. */
export type Direction = 'upstream' | 'downstream';

/** A toxic as the API stores it (one per proxy and name). */
export interface ToxicSpec {
  name: string;
  type: ToxicType;
  /** The stream exactly as the caller spelled it (compat §3: "UPSTREAM" is echoed back as given). */
  stream: string;
  direction: Direction;
  toxicity: number;
  attributes: Record<string, number>;
}

/** One piece of data in flight, stamped with the time it was read (ms, monotonic); latency counts from here. */
export interface Chunk {
  data: Buffer;
  stampMs: number;
}

/** Anything that accepts a link's data in order: the next stage or the destination socket. */
export interface Receiver {
  push(chunk: Chunk): void;
  /** The direction's EOF: no data follows. Forwarded after every chunk pushed before it. */
  end(): void;
}

/** What a stage needs from its link. */
export interface StageContext {
  readonly random: Random;
  nowMs(): number;
  /** Called when a stage released held chunks, so the link may resume a source paused for back-pressure. */
  onRelease(): void;
}

/** What a stage held when it was detached or interrupted: forwarded in order to the next receiver. */
export interface HeldData {
  chunks: Chunk[];
  eof: boolean;
}

/**
 * One toxic on one link. A stage is "started" when created and on every update; each start draws the toxicity
 * coin (compat §6.3): when it loses, the stage passes everything through until the next start.
 */
export abstract class Stage implements Receiver {
  next: Receiver;
  /** Whether the toxicity draw made this stage act since its last start. */
  protected active = true;
  /** Set once the stage closed its link (timeout, reset_peer, limit_data): later input is dropped. */
  protected closed = false;
  /** Set when the stage left its link; timers that still fire must do nothing. */
  protected detached = false;

  constructor(
    protected spec: ToxicSpec,
    protected readonly ctx: StageContext,
    next: Receiver,
  ) {
    this.next = next;
  }

  get name(): string {
    return this.spec.name;
  }

  get type(): ToxicType {
    return this.spec.type;
  }

  /** (Re)starts the stage: draws toxicity and lets the subclass arm its timers. */
  start(): void {
    this.active = this.ctx.random.next() < this.spec.toxicity;
    if (this.active) this.onStart();
  }

  push(chunk: Chunk): void {
    if (this.detached || this.closed) return;
    if (!this.active) {
      this.next.push(chunk);
      return;
    }
    this.onChunk(chunk);
  }

  end(): void {
    if (this.detached || this.closed) return;
    if (!this.active) {
      this.closed = true;
      this.next.end();
      return;
    }
    this.onEnd();
  }

  /** How many chunks the stage holds (for the link's back-pressure). */
  heldCount(): number {
    return 0;
  }

  /** Leaves the link (toxic removed or connection closed): stops timers, returns what it held (compat §6.5). */
  detach(): HeldData {
    const held = this.takeHeld();
    this.detached = true;
    return held;
  }

  /**
   * Applies an update on a live link (compat §6.6): the in-flight data is flushed to the next receiver at once,
   * then the stage restarts with the new parameters; per-link state such as limit_data's count is kept.
   */
  update(spec: ToxicSpec): void {
    if (this.detached) return;
    const held = this.takeInFlight();
    this.spec = spec;
    for (const chunk of held.chunks) this.next.push(chunk);
    if (held.eof) {
      this.closed = true;
      this.next.end();
      return;
    }
    if (this.closed) return;
    this.start();
    this.afterRestart();
  }

  /** Closes the link from inside the chain: EOF goes on after data already passed on (compat §6.2). */
  protected closeLink(): void {
    if (this.closed) return;
    this.closed = true;
    this.takeHeld();
    this.next.end();
  }

  protected attribute(name: string): number {
    return this.spec.attributes[name] ?? 0;
  }

  /** Stops timers and hands back held data without forwarding it. */
  protected takeHeld(): HeldData {
    return { chunks: [], eof: false };
  }

  /** What an update interrupts and flushes; by default everything the stage holds. */
  protected takeInFlight(): HeldData {
    return this.takeHeld();
  }

  /** Runs after an update restarted the stage (and drew toxicity again). */
  protected afterRestart(): void {}

  protected onStart(): void {}
  protected abstract onChunk(chunk: Chunk): void;
  protected onEnd(): void {
    this.closed = true;
    this.next.end();
  }
}

class NoopStage extends Stage {
  protected onChunk(chunk: Chunk): void {
    this.next.push(chunk);
  }
}

/** A chunk waiting in a stage's FIFO until its due time (ms, same clock as `Chunk.stampMs`). */
interface Scheduled {
  chunk: Chunk;
  dueMs: number;
}

/**
 * A FIFO of chunks each due at a time, released in order by one timer for the head. EOF waits behind the data.
 * Shared by latency, bandwidth and slicer, which differ only in how due times are computed.
 */
abstract class ScheduledStage extends Stage {
  protected queue: Scheduled[] = [];
  private queueHead = 0;
  private eofQueued = false;
  private timer: NodeJS.Timeout | null = null;

  override heldCount(): number {
    return this.queue.length - this.queueHead;
  }

  protected enqueue(chunk: Chunk, dueMs: number): void {
    this.queue.push({ chunk, dueMs });
    this.schedule();
  }

  protected override onEnd(): void {
    if (this.heldCount() === 0) {
      this.closed = true;
      this.next.end();
      return;
    }
    this.eofQueued = true;
  }

  protected override takeHeld(): HeldData {
    this.clearTimer();
    const chunks = this.queue.slice(this.queueHead).map((s) => s.chunk);
    this.queue = [];
    this.queueHead = 0;
    const eof = this.eofQueued;
    this.eofQueued = false;
    return { chunks, eof };
  }

  /** Hands on the chunk at the head (the one "in flight") and keeps the rest queued. */
  protected takeHead(): HeldData {
    this.clearTimer();
    const head = this.queue[this.queueHead];
    if (head === undefined) return this.takeHeld();
    this.queueHead++;
    return { chunks: [head.chunk], eof: false };
  }

  /** Gives every queued chunk a new due time (kept in FIFO order) and releases what is now due. */
  protected retime(dueOf: (chunk: Chunk) => number): void {
    let previousMs = -Infinity;
    for (let index = this.queueHead; index < this.queue.length; index++) {
      const item = this.queue[index];
      if (item === undefined) continue;
      item.dueMs = Math.max(dueOf(item.chunk), previousMs);
      previousMs = item.dueMs;
    }
    this.clearTimer();
    this.release();
  }

  /** Forwards everything queued (and a queued EOF) at once. */
  protected releaseAll(): void {
    const held = this.takeHeld();
    for (const chunk of held.chunks) this.next.push(chunk);
    if (held.eof) {
      this.closed = true;
      this.next.end();
    }
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.timer !== null || this.heldCount() === 0) return;
    const head = this.queue[this.queueHead];
    // A stalled bandwidth toxic (rate <= 0) holds data with an infinite due time: never arm a timer for it.
    if (head === undefined || !Number.isFinite(head.dueMs)) return;
    const waitMs = head.dueMs - this.ctx.nowMs();
    // setTimeout has 1 ms granularity; anything due within half a millisecond goes now rather than a tick late.
    if (waitMs <= 0.5) {
      this.release();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      this.release();
    }, Math.ceil(waitMs));
  }

  private release(): void {
    if (this.detached) return;
    const nowMs = this.ctx.nowMs();
    let released = false;
    while (this.queueHead < this.queue.length) {
      const head = this.queue[this.queueHead];
      if (head === undefined || head.dueMs > nowMs + 0.5) break;
      this.queueHead++;
      // Compat §7 latency: the stamp moves to the time the chunk left, so two latency toxics add up.
      head.chunk.stampMs = Math.max(head.chunk.stampMs, head.dueMs);
      this.next.push(head.chunk);
      released = true;
      if (this.detached) return;
    }
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    if (this.heldCount() === 0 && this.eofQueued) {
      this.eofQueued = false;
      this.closed = true;
      this.next.end();
      return;
    }
    this.schedule();
    if (released) this.ctx.onRelease();
  }
}

/** latency: each chunk leaves at read time + latency + U[-jitter, +jitter) ms; delays overlap (compat §7). */
class LatencyStage extends ScheduledStage {
  protected onChunk(chunk: Chunk): void {
    // FIFO: a chunk never overtakes an earlier one even when jitter gives it an earlier due time.
    const last = this.queue[this.queue.length - 1];
    this.enqueue(chunk, Math.max(this.dueOf(chunk), last?.dueMs ?? -Infinity));
  }

  /**
   * Go interrupts only the chunk it is sleeping on and sends it at once; chunks still queued stay and are delayed
   * by the new latency, counted from their read stamps (compat §6.6).
   */
  protected override takeInFlight(): HeldData {
    return this.takeHead();
  }

  protected override afterRestart(): void {
    // A lost toxicity draw makes the stage a pass-through: what it still holds must go first, in order.
    if (this.active) this.retime((chunk) => this.dueOf(chunk));
    else this.releaseAll();
  }

  private dueOf(chunk: Chunk): number {
    const jitterMs = this.attribute('jitter');
    const offsetMs = jitterMs > 0 ? (this.ctx.random.next() * 2 - 1) * jitterMs : 0;
    return chunk.stampMs + this.attribute('latency') + offsetMs;
  }
}

/**
 * bandwidth: `rate` KB/s with 1 KB = 1000 bytes, so `rate` bytes per ms. Due times are computed against a running
 * send clock (not chained sleeps) so error does not pile up; chunks above rate*100 bytes go in 100 ms pieces.
 * rate <= 0 holds data until the toxic is removed (Go stalls on 0 and crashes on negative; compat §7).
 */
class BandwidthStage extends ScheduledStage {
  private sendClockMs = 0;

  protected onChunk(chunk: Chunk): void {
    const bytesPerMs = this.attribute('rate');
    if (bytesPerMs <= 0) {
      this.queue.push({ chunk, dueMs: Infinity });
      return;
    }
    this.sendClockMs = Math.max(this.sendClockMs, this.ctx.nowMs());
    const pieceBytesMax = Math.max(1, bytesPerMs * 100);
    for (let offset = 0; offset < chunk.data.length; offset += pieceBytesMax) {
      const data = chunk.data.subarray(offset, offset + pieceBytesMax);
      this.sendClockMs += data.length / bytesPerMs;
      this.enqueue({ data, stampMs: chunk.stampMs }, this.sendClockMs);
    }
  }
}

/**
 * slicer: splits each chunk into pieces of about average_size ± size_variation bytes, written with `delay` µs
 * after each one. Degenerate settings (average_size <= 0) pass the chunk unsliced instead of recursing forever,
 * and split points are clamped inside the chunk (Go panics on both; compat §7).
 */
class SlicerStage extends ScheduledStage {
  private clockMs = 0;

  protected onChunk(chunk: Chunk): void {
    const averageBytes = this.attribute('average_size');
    const variationBytes = Math.max(0, this.attribute('size_variation'));
    const delayMs = Math.max(0, this.attribute('delay')) / 1000;
    if (averageBytes <= 0) {
      this.emitOrQueue(chunk, delayMs);
      return;
    }
    const cuts: number[] = [];
    this.split(0, chunk.data.length, averageBytes, variationBytes, cuts);
    let start = 0;
    for (const cut of cuts) {
      this.emitOrQueue({ data: chunk.data.subarray(start, cut), stampMs: chunk.stampMs }, delayMs);
      start = cut;
    }
  }

  private emitOrQueue(chunk: Chunk, delayMs: number): void {
    if (delayMs === 0 && this.heldCount() === 0) {
      this.next.push(chunk);
      return;
    }
    this.clockMs = Math.max(this.clockMs, this.ctx.nowMs());
    this.enqueue(chunk, this.clockMs);
    this.clockMs += delayMs;
  }

  /** Appends the end offsets of the pieces of [start, end) to `cuts`, left to right. */
  private split(start: number, end: number, averageBytes: number, variationBytes: number, cuts: number[]): void {
    // Iterative over the right half to keep recursion depth at log2 of the chunk size.
    let from = start;
    while (end - from - averageBytes > variationBytes && end - from > 1) {
      let mid = from + Math.floor((end - from) / 2);
      if (variationBytes > 0) mid += this.ctx.random.nextInt(variationBytes * 2) - variationBytes;
      mid = Math.min(end - 1, Math.max(from + 1, mid));
      this.split(from, mid, averageBytes, variationBytes, cuts);
      from = mid;
    }
    if (end > from) cuts.push(end);
  }
}

/** slow_close: data passes; the EOF is held back `delay` ms (released at once when the toxic is removed). */
class SlowCloseStage extends Stage {
  private timer: NodeJS.Timeout | null = null;

  protected onChunk(chunk: Chunk): void {
    this.next.push(chunk);
  }

  protected override onEnd(): void {
    if (this.timer !== null) return;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        if (this.detached) return;
        this.closed = true;
        this.next.end();
      },
      Math.max(0, this.attribute('delay')),
    );
  }

  protected override takeHeld(): HeldData {
    const eof = this.timer !== null;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    return { chunks: [], eof };
  }
}

/**
 * timeout: drops every chunk. timeout 0 never closes by itself (a blackhole); timeout > 0 closes the link once
 * `timeout` ms pass without a chunk arriving: the timer re-arms on start and on every chunk (compat §7).
 */
class TimeoutStage extends Stage {
  private timer: NodeJS.Timeout | null = null;

  protected override onStart(): void {
    this.arm();
  }

  protected onChunk(_chunk: Chunk): void {
    this.arm();
  }

  protected override onEnd(): void {
    this.closeLink();
  }

  protected override takeHeld(): HeldData {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    return { chunks: [], eof: false };
  }

  private arm(): void {
    const timeoutMs = this.attribute('timeout');
    if (timeoutMs <= 0) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.detached) this.closeLink();
    }, timeoutMs);
  }
}

/**
 * reset_peer: discards the first chunk (or waits for EOF), then closes the link after `timeout` ms. Whether the
 * close is an RST is decided per connection when it opens (compat §7, §8.1); the link's sink applies it.
 */
class ResetPeerStage extends Stage {
  private timer: NodeJS.Timeout | null = null;
  private triggered = false;

  protected override onStart(): void {
    this.triggered = false;
  }

  protected onChunk(_chunk: Chunk): void {
    this.trigger();
  }

  protected override onEnd(): void {
    this.trigger();
  }

  protected override takeHeld(): HeldData {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    return { chunks: [], eof: false };
  }

  private trigger(): void {
    if (this.triggered) return;
    this.triggered = true;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        if (!this.detached) this.closeLink();
      },
      Math.max(0, this.attribute('timeout')),
    );
  }
}

/**
 * limit_data: forwards at most `bytes` bytes counted from when the toxic attached to this link (the count survives
 * updates), cutting the last chunk, then closes the link at once (compat §7).
 */
class LimitDataStage extends Stage {
  private forwardedBytes = 0;

  protected onChunk(chunk: Chunk): void {
    const remainingBytes = this.attribute('bytes') - this.forwardedBytes;
    if (remainingBytes <= 0) {
      this.closeLink();
      return;
    }
    if (chunk.data.length < remainingBytes) {
      this.forwardedBytes += chunk.data.length;
      this.next.push(chunk);
      return;
    }
    this.forwardedBytes += remainingBytes;
    this.next.push({ data: chunk.data.subarray(0, remainingBytes), stampMs: chunk.stampMs });
    this.closeLink();
  }
}

/** Creates (and starts) the stage for one toxic on one link. */
export function createStage(spec: ToxicSpec, ctx: StageContext, next: Receiver): Stage {
  let stage: Stage;
  switch (spec.type) {
    case 'noop':
      stage = new NoopStage(spec, ctx, next);
      break;
    case 'latency':
      stage = new LatencyStage(spec, ctx, next);
      break;
    case 'bandwidth':
      stage = new BandwidthStage(spec, ctx, next);
      break;
    case 'slicer':
      stage = new SlicerStage(spec, ctx, next);
      break;
    case 'slow_close':
      stage = new SlowCloseStage(spec, ctx, next);
      break;
    case 'timeout':
      stage = new TimeoutStage(spec, ctx, next);
      break;
    case 'reset_peer':
      stage = new ResetPeerStage(spec, ctx, next);
      break;
    case 'limit_data':
      stage = new LimitDataStage(spec, ctx, next);
      break;
    default: {
      const unreachable: never = spec.type;
      throw new Error(`unknown toxic type ${String(unreachable)}`);
    }
  }
  stage.start();
  return stage;
}
