/**
 * Peer transport: Raft messages and forwarded client requests over HTTP/1.1.
 *
 * Raft messages are one-way and travel on ONE long-lived request per peer:
 * `POST /raft/stream` with a chunked body of newline-delimited frames, each
 * frame a JSON array of messages (validation.ts `FrameDecoder`). The peer answers
 * only when the stream ends (204) or when it refuses it (4xx, e.g. another
 * cluster id or a garbage frame), so a message costs one socket write and no
 * reply; replies travel as the peer's own stream back to us. A proxy on the
 * link i->j therefore still carries exactly i's messages to j, which is how
 * the harness expresses one-way partitions.
 *
 * Everything queued for one peer while its stream is connecting or
 * backed up leaves as one frame (batching); a stream keeps frames in order
 * (reordered AppendEntries would only cause needless rejections). A stream
 * that fails (refused, reset, closed, or no write progress for
 * `messageTimeoutMs`) is dropped with the messages written into it or
 * waiting for it, and a new one is opened with a short backoff once there is
 * something to send. The queue is bounded (the oldest messages are dropped).
 * Raft tolerates message loss (§5.3 "retries indefinitely"): the core
 * resends what still matters.
 *
 * Forwarded client requests use an undici connection pool per peer.
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Pool, errors as undiciErrors } from 'undici';
import type { Message, NodeId } from './raft/types.ts';
import { encodeFrame } from './validation.ts';

/** Header carrying the cluster id on peer requests; a mismatch is refused. */
export const CLUSTER_HEADER = 'x-raftlab-cluster';
/** Header marking a client request forwarded by a follower (value: the follower's id). */
export const FORWARDED_HEADER = 'x-raftlab-forwarded';
/**
 * Response header naming the node that executed a client request: the leader that applied a write or confirmed a
 * read, or the node that answered a local read. A follower passes the leader's header through when it forwards, so
 * the client learns which node acted, not only which one it asked.
 */
export const SERVED_BY_HEADER = 'x-raftlab-served-by';
/** Path of the one-shot peer message endpoint (a JSON array, answered 204); kept for tools and tests. */
export const MESSAGES_PATH = '/raft/messages';
/** Path of the streamed peer message endpoint the transport uses. */
export const STREAM_PATH = '/raft/stream';

/** Reconnect delays after consecutive stream failures: 5, 10, 20, ... ms, at most this (about one heartbeat). */
const RECONNECT_DELAY_MAX_MS = 100;

/** Options of a transport. */
export interface TransportOptions {
  readonly selfId: NodeId;
  /** Base URL (http://127.0.0.1:PORT) used to reach each peer, possibly a proxy. */
  readonly peerUrls: ReadonlyMap<NodeId, string>;
  readonly clusterId: string;
  /** Messages queued per peer beyond which the oldest are dropped. */
  readonly queuedMessagesMax?: number;
  /** A stream that cannot connect, or accepts no bytes, for this long is dropped and reopened. */
  readonly messageTimeoutMs?: number;
  /** Called with a short reason when a message stream fails (for logs; rate-limit there). */
  readonly onSendError?: (peer: NodeId, reason: string) => void;
  /** Called each time another slice of a frame carrying a snapshot has left for `peer` (see flush). */
  readonly onSnapshotProgress?: (peer: NodeId) => void;
}

/** A frame carrying a snapshot is written in slices of this size, each reported as transfer progress. */
const SNAPSHOT_SLICE_BYTES = 1024 * 1024;

/** The outcome of forwarding a client request to the leader. */
export type ForwardResult =
  | { readonly type: 'response'; readonly status: number; readonly body: string; readonly servedBy?: string }
  /** The request certainly never reached the leader (connection refused or connect timeout). */
  | { readonly type: 'not-sent'; readonly reason: string }
  /** The request may have reached the leader: its outcome is unknown. */
  | { readonly type: 'failed'; readonly timedOut: boolean; readonly reason: string };

interface PeerLink {
  readonly id: NodeId;
  readonly url: URL;
  readonly forwarding: Pool;
  queue: Message[];
  /** The open (or opening) message stream, null when there is none. */
  stream: ClientRequest | null;
  /** The stream's socket is connected: frames may be written. */
  connected: boolean;
  /** The last write was not accepted in full: wait for 'drain' before writing more. */
  blocked: boolean;
  /** Drops a stream that neither connects nor drains in time. */
  stallTimer: NodeJS.Timeout | undefined;
  reconnectTimer: NodeJS.Timeout | undefined;
  /** Consecutive failed streams, for the backoff. */
  failures: number;
  /** When the current stream connected (Date.now() ms). */
  connectedAtMs: number;
  /** No new stream before this time (Date.now() ms). */
  nextAttemptMs: number;
}

/** Sends Raft messages and forwards client requests to peers. */
export class PeerTransport {
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly queuedMessagesMax: number;
  private readonly messageTimeoutMs: number;
  private closed = false;
  /** Counters for /status and tests. */
  readonly stats = { streamsOpened: 0, framesSent: 0, messagesSent: 0, messagesDropped: 0, sendErrors: 0 };

  constructor(private readonly options: TransportOptions) {
    this.queuedMessagesMax = options.queuedMessagesMax ?? 20_000;
    this.messageTimeoutMs = options.messageTimeoutMs ?? 2_000;
    for (const [id, url] of options.peerUrls) this.addPeer(id, url);
  }

  /**
   * Makes `id` reachable at `url` unless it already is: a member that joined
   * the configuration and is not in this node's address book is reached by
   * the url the configuration records. An existing route is kept (the
   * address book may point through a proxy).
   */
  addPeer(id: NodeId, url: string): void {
    if (id === this.options.selfId || this.links.has(id) || this.closed) return;
    this.links.set(id, {
      id,
      url: new URL(url),
      forwarding: new Pool(url, { connections: 64, connectTimeout: 2_000, keepAliveTimeout: 30_000 }),
      queue: [],
      stream: null,
      connected: false,
      blocked: false,
      stallTimer: undefined,
      reconnectTimer: undefined,
      failures: 0,
      connectedAtMs: 0,
      nextAttemptMs: 0,
    });
  }

  /** Whether messages for `id` have a route. */
  hasPeer(id: NodeId): boolean {
    return this.links.has(id);
  }

  /** Queues messages for their destinations and writes what each stream accepts now. */
  send(messages: readonly Message[]): void {
    if (this.closed || messages.length === 0) return;
    const touched = new Set<PeerLink>();
    for (const m of messages) {
      const link = this.links.get(m.to);
      if (link === undefined) continue;
      link.queue.push(m);
      touched.add(link);
    }
    for (const link of touched) {
      if (link.queue.length > this.queuedMessagesMax) {
        const dropped = link.queue.length - this.queuedMessagesMax;
        link.queue.splice(0, dropped);
        this.stats.messagesDropped += dropped;
      }
      this.flush(link);
    }
  }

  /** Writes the link's queue as one frame if its stream can take it; opens a stream if there is none. */
  private flush(link: PeerLink): void {
    if (this.closed || link.queue.length === 0) return;
    const stream = link.stream;
    if (stream === null) {
      this.openStream(link);
      return;
    }
    if (!link.connected || link.blocked) return;
    const batch = link.queue;
    link.queue = [];
    this.stats.framesSent++;
    this.stats.messagesSent += batch.length;
    const frame = encodeFrame(batch);
    const accepted = batch.some((m) => m.type === 'snapshot-request')
      ? this.writeInSlices(link, stream, Buffer.from(frame))
      : stream.write(frame);
    // node:http corks the socket until the next tick to gather the chunk
    // framing into one write; uncork now so the frame leaves before the
    // caller's next step (the leader's own WAL write, §10.2.1 in parallel).
    if (stream.socket !== null && stream.socket.writableCorked > 0) stream.socket.uncork();
    if (!accepted) {
      // The socket buffer is full (a slow link or a stopped peer): queue
      // until 'drain', and give up on the stream if it never comes.
      link.blocked = true;
      this.armStallTimer(link, stream, 'accepted no bytes');
    }
  }

  /**
   * Writes a frame that carries a snapshot slice by slice; as each slice
   * leaves for the kernel, the transfer is reported as progressing (so the
   * core does not resend a snapshot that is still on its way, §7) and the
   * stall timer starts over. Returns whether the stream accepted it all.
   */
  private writeInSlices(link: PeerLink, stream: ClientRequest, frame: Buffer): boolean {
    let accepted = true;
    for (let offset = 0; offset < frame.length; offset += SNAPSHOT_SLICE_BYTES) {
      accepted = stream.write(frame.subarray(offset, offset + SNAPSHOT_SLICE_BYTES), (err) => {
        if (err !== undefined && err !== null) return;
        if (link.stream !== stream) return;
        if (link.blocked) this.armStallTimer(link, stream, 'accepted no bytes');
        this.options.onSnapshotProgress?.(link.id);
      });
    }
    return accepted;
  }

  private openStream(link: PeerLink): void {
    if (link.reconnectTimer !== undefined) return;
    const waitMs = link.nextAttemptMs - Date.now();
    if (waitMs > 0) {
      link.reconnectTimer = setTimeout(() => {
        link.reconnectTimer = undefined;
        this.flush(link);
      }, waitMs);
      return;
    }
    this.stats.streamsOpened++;
    const stream = httpRequest({
      host: link.url.hostname,
      port: link.url.port,
      path: STREAM_PATH,
      method: 'POST',
      // One dedicated connection per stream: it is never reused for anything else.
      agent: false,
      headers: {
        'content-type': 'application/x-ndjson',
        'transfer-encoding': 'chunked',
        [CLUSTER_HEADER]: this.options.clusterId,
      },
    });
    link.stream = stream;
    link.connected = false;
    link.blocked = false;
    this.armStallTimer(link, stream, 'did not connect');
    stream.on('socket', (socket) => {
      // Each frame is one small write that a peer waits for: no Nagle delay.
      socket.setNoDelay(true);
      const onConnect = (): void => {
        if (link.stream !== stream) return;
        this.clearStallTimer(link);
        link.connected = true;
        link.connectedAtMs = Date.now();
        this.flush(link);
      };
      if (socket.connecting) socket.once('connect', onConnect);
      else onConnect();
    });
    stream.on('drain', () => {
      if (link.stream !== stream) return;
      link.blocked = false;
      this.clearStallTimer(link);
      this.flush(link);
    });
    let answered = false;
    stream.on('response', (res: IncomingMessage) => {
      // The peer answers only to end or refuse the stream; its reason is the error to report.
      answered = true;
      void readText(res).then((text) =>
        this.streamFailed(link, stream, `HTTP ${res.statusCode ?? 0}: ${text.slice(0, 200)}`),
      );
    });
    stream.on('error', (err) => this.streamFailed(link, stream, describeError(err)));
    stream.on('close', () => {
      if (!answered) this.streamFailed(link, stream, 'stream closed by the peer');
    });
    // Send the request head now, so the peer sees the stream before the first frame.
    stream.flushHeaders();
  }

  private armStallTimer(link: PeerLink, stream: ClientRequest, what: string): void {
    this.clearStallTimer(link);
    link.stallTimer = setTimeout(
      () => this.streamFailed(link, stream, `message stream ${what} within ${this.messageTimeoutMs} ms`),
      this.messageTimeoutMs,
    );
  }

  private clearStallTimer(link: PeerLink): void {
    if (link.stallTimer !== undefined) clearTimeout(link.stallTimer);
    link.stallTimer = undefined;
  }

  /** Drops a failed stream with the messages written into it or waiting for it; the next `send` opens a new one after a backoff. */
  private streamFailed(link: PeerLink, stream: ClientRequest, reason: string): void {
    if (link.stream !== stream) return;
    link.stream = null;
    link.connected = false;
    link.blocked = false;
    this.clearStallTimer(link);
    stream.destroy();
    if (this.closed) return;
    this.reportError(link.id, reason);
    // What waited for this stream is stale by the time a new one is up (the
    // peer may be down for a while); the core resends what still matters,
    // so a returning peer is not flooded with a backlog of old messages.
    this.stats.messagesDropped += link.queue.length;
    link.queue = [];
    // A stream that worked for a while restarts the backoff; one that fails
    // right away (a proxy whose node is down accepts and then closes) backs off.
    if (link.connectedAtMs > 0 && Date.now() - link.connectedAtMs > 1000) link.failures = 0;
    link.connectedAtMs = 0;
    link.failures++;
    link.nextAttemptMs = Date.now() + Math.min(RECONNECT_DELAY_MAX_MS, 5 * 2 ** Math.min(link.failures - 1, 10));
    this.flush(link);
  }

  private reportError(peer: NodeId, reason: string): void {
    this.stats.sendErrors++;
    this.options.onSendError?.(peer, reason);
  }

  /**
   * Forwards a client request to `peer` (the leader) and returns its answer,
   * telling "certainly not delivered" apart from "outcome unknown".
   */
  async forward(
    peer: NodeId,
    method: string,
    path: string,
    body: string | null,
    timeoutMs: number,
  ): Promise<ForwardResult> {
    const link = this.links.get(peer);
    if (link === undefined || this.closed) return { type: 'not-sent', reason: `no link to ${peer}` };
    try {
      const res = await link.forwarding.request({
        path,
        method: method as 'GET',
        headers: { 'content-type': 'application/json', [FORWARDED_HEADER]: this.options.selfId },
        body,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const servedBy = res.headers[SERVED_BY_HEADER];
      return {
        type: 'response',
        status: res.statusCode,
        body: await res.body.text(),
        ...(typeof servedBy === 'string' ? { servedBy } : {}),
      };
    } catch (err) {
      // Connection refused or a connect timeout happen before a single byte
      // of the request is written: the leader never saw it.
      const code = (err as { code?: string }).code;
      if (code === 'ECONNREFUSED' || err instanceof undiciErrors.ConnectTimeoutError) {
        return { type: 'not-sent', reason: describeError(err) };
      }
      const timedOut = err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError;
      return { type: 'failed', timedOut, reason: describeError(err) };
    }
  }

  /** Messages waiting per peer (for /status). */
  queuedMessages(): Record<NodeId, number> {
    const out: Record<NodeId, number> = {};
    for (const [id, link] of this.links) out[id] = link.queue.length;
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const link of this.links.values()) {
      if (link.reconnectTimer !== undefined) clearTimeout(link.reconnectTimer);
      this.clearStallTimer(link);
      link.stream?.destroy();
      link.stream = null;
    }
    await Promise.allSettled([...this.links.values()].map((l) => l.forwarding.destroy()));
  }
}

function readText(res: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: string }).code;
    return code !== undefined ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
