// One proxied connection: two links (client -> upstream is "upstream", upstream -> client is "downstream"), each a
// chain `source socket -> [toxic stages] -> destination socket` (compat §6.1).
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Random } from '../lib/random.ts';
import {
  createStage,
  type Chunk,
  type Direction,
  type Receiver,
  type Stage,
  type StageContext,
  type ToxicSpec,
} from './toxics.ts';

/** Go buffers up to 1024 chunks in a latency toxic before the reader blocks; we pause the source at that count. */
const HELD_CHUNKS_PAUSE = 1024;
const HELD_CHUNKS_RESUME = 512;
/** How long a closing link may take to flush its last data to a slow reader before the socket is destroyed. */
const CLOSE_FLUSH_TIMEOUT_MS = 10_000;

const nowMs = (): number => performance.now();

/** Closes a socket for good: an RST when the connection is marked for it (compat §8.1), otherwise a normal close. */
export function closeSocket(socket: Socket, reset: boolean): void {
  if (socket.destroyed) return;
  if (reset) socket.resetAndDestroy();
  else socket.destroy();
}

/** The end of a link's chain: writes to the destination socket and closes it on EOF. */
class SocketSink implements Receiver {
  ended = false;

  constructor(private readonly link: Link) {}

  push(chunk: Chunk): void {
    if (this.ended) return;
    this.link.write(chunk.data);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.link.closeDestination();
  }
}

/** One direction of a proxied connection. */
export class Link {
  private readonly sink: SocketSink;
  private head: Receiver;
  private readonly stages: Stage[] = [];
  private readonly context: StageContext;
  private pausedForDrain = false;
  private pausedForHeld = false;
  private sourceEnded = false;

  constructor(
    readonly direction: Direction,
    private readonly source: Socket,
    private readonly destination: Socket,
    toxics: readonly ToxicSpec[],
    random: Random,
    private readonly resetOnClose: () => boolean,
  ) {
    this.sink = new SocketSink(this);
    this.head = this.sink;
    this.context = { random, nowMs, onRelease: () => this.maybeResumeAfterRelease() };
    for (const spec of toxics) this.addToxic(spec);
    source.on('data', this.onData);
    const onSourceEnd = (): void => this.endSource();
    source.on('end', onSourceEnd);
    source.on('close', onSourceEnd);
    destination.on('drain', this.onDrain);
  }

  private readonly onData = (data: Buffer): void => {
    // Fast path: no toxic on this link, straight to the destination with back-pressure (no allocation, no timer).
    if (this.head === this.sink) {
      if (!this.sink.ended) this.write(data);
      return;
    }
    this.head.push({ data, stampMs: nowMs() });
    if (!this.pausedForHeld && this.heldCount() > HELD_CHUNKS_PAUSE) {
      this.pausedForHeld = true;
      this.source.pause();
    }
  };

  private readonly onDrain = (): void => {
    if (!this.pausedForDrain) return;
    this.pausedForDrain = false;
    this.maybeResume();
  };

  /** Writes to the destination; a full socket buffer pauses the source until 'drain'. */
  write(data: Buffer): void {
    if (this.destination.destroyed) return;
    if (!this.destination.write(data) && !this.pausedForDrain) {
      this.pausedForDrain = true;
      this.source.pause();
    }
  }

  /** Compat §6.2: after the data already in the chain, the destination is fully closed (no half-close). */
  closeDestination(): void {
    const destination = this.destination;
    if (destination.destroyed) return;
    if (this.resetOnClose()) {
      destination.resetAndDestroy();
      return;
    }
    destination.end();
    if (destination.writableFinished) {
      destination.destroy();
      return;
    }
    // Destroy once the queued data reached the kernel; a peer that never reads must not pin the socket forever.
    const fallback = setTimeout(() => destination.destroy(), CLOSE_FLUSH_TIMEOUT_MS).unref();
    destination.once('finish', () => {
      clearTimeout(fallback);
      destination.destroy();
    });
  }

  /** Appends a toxic at the end of the chain (compat §6.4): data already past the old tail is unaffected. */
  addToxic(spec: ToxicSpec): void {
    const stage = createStage(spec, this.context, this.sink);
    const tail = this.stages[this.stages.length - 1];
    if (tail === undefined) this.head = stage;
    else tail.next = stage;
    this.stages.push(stage);
  }

  /** Removes a toxic; whatever it held goes on at once and in order (compat §6.5). */
  removeToxic(name: string): void {
    const index = this.stages.findIndex((s) => s.name === name);
    const stage = this.stages[index];
    if (stage === undefined) return;
    const held = stage.detach();
    const target = stage.next;
    const previous = this.stages[index - 1];
    if (previous === undefined) this.head = target;
    else previous.next = target;
    this.stages.splice(index, 1);
    for (const chunk of held.chunks) target.push(chunk);
    if (held.eof) target.end();
    this.maybeResumeAfterRelease();
  }

  /** Applies new attributes/toxicity to the live stage (compat §6.6). */
  updateToxic(spec: ToxicSpec): void {
    this.stages.find((s) => s.name === spec.name)?.update(spec);
    this.maybeResumeAfterRelease();
  }

  /** Stops every timer; used when the connection is torn down. */
  dispose(): void {
    for (const stage of this.stages) stage.detach();
    this.source.off('data', this.onData);
    this.destination.off('drain', this.onDrain);
  }

  private endSource(): void {
    if (this.sourceEnded) return;
    this.sourceEnded = true;
    this.head.end();
  }

  private heldCount(): number {
    let count = 0;
    for (const stage of this.stages) count += stage.heldCount();
    return count;
  }

  private maybeResumeAfterRelease(): void {
    if (!this.pausedForHeld || this.heldCount() > HELD_CHUNKS_RESUME) return;
    this.pausedForHeld = false;
    this.maybeResume();
  }

  private maybeResume(): void {
    if (!this.pausedForDrain && !this.pausedForHeld && !this.source.destroyed) this.source.resume();
  }
}

/** A client connection accepted by a proxy, with its upstream connection and both links. */
export class Connection {
  readonly upstreamLink: Link;
  readonly downstreamLink: Link;
  private closedSockets = 0;

  constructor(
    readonly client: Socket,
    readonly upstream: Socket,
    toxics: { upstream: readonly ToxicSpec[]; downstream: readonly ToxicSpec[] },
    random: Random,
    /** Compat §7 reset_peer: fixed when the connection opens; every later close of it is an RST. */
    readonly resetOnClose: boolean,
    private readonly onClosed: (connection: Connection) => void,
  ) {
    const reset = (): boolean => this.resetOnClose;
    this.upstreamLink = new Link('upstream', client, upstream, toxics.upstream, random, reset);
    this.downstreamLink = new Link('downstream', upstream, client, toxics.downstream, random, reset);
    const onSocketClosed = (): void => {
      this.closedSockets++;
      if (this.closedSockets === 2) this.finish();
    };
    client.once('close', onSocketClosed);
    upstream.once('close', onSocketClosed);
    // Errors (ECONNRESET from a peer, EPIPE) end the link through 'close'; without a listener they would throw.
    client.on('error', () => {});
    upstream.on('error', () => {});
  }

  link(direction: Direction): Link {
    return direction === 'upstream' ? this.upstreamLink : this.downstreamLink;
  }

  /** Closes both sockets now (disable, delete, timeout toxic removal). */
  close(): void {
    closeSocket(this.client, this.resetOnClose);
    closeSocket(this.upstream, this.resetOnClose);
  }

  private finish(): void {
    this.upstreamLink.dispose();
    this.downstreamLink.dispose();
    this.onClosed(this);
  }
}
