/**
 * Peer transport: Raft messages and forwarded client requests over HTTP/1.1
 * with keep-alive (undici).
 *
 * Raft messages are one-way: `POST /raft/messages` carries a JSON array of
 * messages for one peer and is answered 204; replies travel as the peer's own
 * requests back to us. So a proxy on the link i->j cuts exactly i's messages
 * to j, which is how the harness expresses one-way partitions.
 *
 * Everything queued for one peer while its previous requests are in flight
 * goes out as ONE request (batching). Up to `inflightMax` requests are
 * pipelined on a single connection, which keeps them in order (reordered
 * AppendEntries would only cause needless rejections). When a peer is
 * unreachable the queue is bounded and the oldest messages are dropped: Raft
 * tolerates message loss (§5.3 "retries indefinitely"), the core resends.
 */
import { Client, Pool, errors as undiciErrors } from 'undici';
import type { Message, NodeId } from './raft/types.ts';

/** Header carrying the cluster id on peer requests; a mismatch is refused. */
export const CLUSTER_HEADER = 'x-raftlab-cluster';
/** Header marking a client request forwarded by a follower (value: the follower's id). */
export const FORWARDED_HEADER = 'x-raftlab-forwarded';
/** Path of the peer message endpoint. */
export const MESSAGES_PATH = '/raft/messages';

/** Options of a transport. */
export interface TransportOptions {
  readonly selfId: NodeId;
  /** Base URL (http://127.0.0.1:PORT) used to reach each peer, possibly a proxy. */
  readonly peerUrls: ReadonlyMap<NodeId, string>;
  readonly clusterId: string;
  /** Pipelined message requests in flight per peer. */
  readonly inflightMax?: number;
  /** Messages queued per peer beyond which the oldest are dropped. */
  readonly queuedMessagesMax?: number;
  /** Timeout of one message request (connect, headers, body). */
  readonly messageTimeoutMs?: number;
  /** Called with a short reason when a message request fails (for logs; rate-limit there). */
  readonly onSendError?: (peer: NodeId, reason: string) => void;
}

/** The outcome of forwarding a client request to the leader. */
export type ForwardResult =
  | { readonly type: 'response'; readonly status: number; readonly body: string }
  /** The request certainly never reached the leader (connection refused or connect timeout). */
  | { readonly type: 'not-sent'; readonly reason: string }
  /** The request may have reached the leader: its outcome is unknown. */
  | { readonly type: 'failed'; readonly timedOut: boolean; readonly reason: string };

interface PeerLink {
  readonly id: NodeId;
  readonly messages: Client;
  readonly forwarding: Pool;
  queue: Message[];
  inflight: number;
}

/** Sends Raft messages and forwards client requests to peers. */
export class PeerTransport {
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly inflightMax: number;
  private readonly queuedMessagesMax: number;
  private readonly messageTimeoutMs: number;
  private closed = false;
  /** Counters for /status and tests. */
  readonly stats = { requestsSent: 0, messagesSent: 0, messagesDropped: 0, sendErrors: 0 };

  constructor(private readonly options: TransportOptions) {
    this.inflightMax = options.inflightMax ?? 8;
    this.queuedMessagesMax = options.queuedMessagesMax ?? 20_000;
    this.messageTimeoutMs = options.messageTimeoutMs ?? 2_000;
    for (const [id, url] of options.peerUrls) {
      if (id === options.selfId) continue;
      this.links.set(id, {
        id,
        messages: new Client(url, {
          pipelining: this.inflightMax,
          connectTimeout: this.messageTimeoutMs,
          headersTimeout: this.messageTimeoutMs,
          bodyTimeout: this.messageTimeoutMs,
          keepAliveTimeout: 30_000,
        }),
        forwarding: new Pool(url, { connections: 64, connectTimeout: 2_000, keepAliveTimeout: 30_000 }),
        queue: [],
        inflight: 0,
      });
    }
  }

  /** Queues messages for their destinations and sends what the in-flight bound allows. */
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
      this.pump(link);
    }
  }

  private pump(link: PeerLink): void {
    while (!this.closed && link.queue.length > 0 && link.inflight < this.inflightMax) {
      const batch = link.queue;
      link.queue = [];
      link.inflight++;
      this.stats.requestsSent++;
      this.stats.messagesSent += batch.length;
      void this.post(link, batch).finally(() => {
        link.inflight--;
        this.pump(link);
      });
    }
  }

  private async post(link: PeerLink, batch: readonly Message[]): Promise<void> {
    try {
      const res = await link.messages.request({
        path: MESSAGES_PATH,
        method: 'POST',
        headers: { 'content-type': 'application/json', [CLUSTER_HEADER]: this.options.clusterId },
        body: JSON.stringify(batch),
        // Raft messages are safe to duplicate or reorder, so they may share
        // a pipelined connection without waiting for each answer.
        idempotent: true,
        blocking: false,
      });
      const text = await res.body.text();
      if (res.statusCode >= 300) this.reportError(link.id, `HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
    } catch (err) {
      this.reportError(link.id, describeError(err));
    }
  }

  private reportError(peer: NodeId, reason: string): void {
    this.stats.sendErrors++;
    this.options.onSendError?.(peer, reason);
  }

  /**
   * Forwards a client request to `peer` (the leader) and returns its answer,
   * telling "certainly not delivered" apart from "outcome unknown".
   */
  async forward(peer: NodeId, method: string, path: string, body: string | null, timeoutMs: number): Promise<ForwardResult> {
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
      return { type: 'response', status: res.statusCode, body: await res.body.text() };
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
    await Promise.allSettled([...this.links.values()].flatMap((l) => [l.messages.destroy(), l.forwarding.destroy()]));
  }
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: string }).code;
    return code !== undefined ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
