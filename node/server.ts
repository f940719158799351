/**
 * The node's one HTTP port: the client API (node/README.md, plus
 * `GET /status`) and peer RPC under `/raft/`.
 *
 * Error semantics, which the chaos checker relies on:
 *   - 4xx, and 503 with `no-leader` / `not-leader`: certainly NOT applied;
 *   - any other 5xx (`unknown`): may or may not have been applied.
 * A follower forwards client requests to the leader it knows (header
 * `x-raftlab-forwarded`); a forwarded request reaching a non-leader is
 * answered `not-leader` rather than forwarded again, so nothing loops.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { NODE_DEFAULTS } from './config.ts';
import type { Command } from './kv.ts';
import type { Logger } from './logger.ts';
import type { ConfChange, ConfChangeRefusal, NodeId } from './raft/types.ts';
import type { NodeRuntime, Outcome } from './runtime.ts';
import { trace, traceOn } from './trace.ts';
import {
  CLUSTER_HEADER,
  FORWARDED_HEADER,
  MESSAGES_PATH,
  SERVED_BY_HEADER,
  STREAM_PATH,
  type ForwardResult,
} from './transport.ts';
import {
  FrameDecoder,
  parseCasBody,
  decodeMemberId,
  parseAddMemberBody,
  parseDeleteBody,
  parseFrame,
  parsePeerMessages,
  parsePutBody,
  WireError,
} from './validation.ts';

/** Largest client request body accepted (bigger: 413). */
export const CLIENT_BODY_BYTES_MAX = 1024 * 1024;
/** Largest peer request body accepted (an InstallSnapshot carries the whole state). */
export const PEER_BODY_BYTES_MAX = 512 * 1024 * 1024;
/** Longest wait for a `POST /raft/messages` body (it may carry a snapshot). */
export const PEER_BODY_TIMEOUT_MS = 60_000;

/** What the HTTP layer needs. */
export interface ServerOptions {
  readonly runtime: NodeRuntime;
  /** Senders whose peer messages are accepted; `'any'` (main.ts): any well-formed id, since members may join. */
  readonly peerIds: ReadonlySet<NodeId> | 'any';
  readonly clusterId: string;
  /** How long a follower waits for the leader's answer to a forwarded request. */
  readonly forwardTimeoutMs: number;
  /** Longest wait for a client request's body; default NODE_DEFAULTS.bodyTimeoutMs. */
  readonly bodyTimeoutMs?: number;
  /**
   * PLANTED BUG `stale-read` (node/planted-bugs.ts): every read is answered from the
   * local state machine of the node asked, as if `?stale=true`, instead of
   * forwarding to the leader and confirming with ReadIndex (thesis §6.4).
   */
  readonly staleReads?: boolean;
  readonly log: Logger;
}

interface ErrorBody {
  readonly error: string;
  readonly message: string;
  readonly leader?: NodeId;
  readonly current?: unknown;
  readonly found?: boolean;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, body: ErrorBody): void {
  send(res, status, body);
}

/**
 * Reads a whole request body of at most `bytesMax` bytes within `timeoutMs`
 * (a client that announces a body and sends it slowly, or never, must not
 * hold the request and its memory forever): 413 / 408 otherwise.
 */
function readBody(req: IncomingMessage, bytesMax: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > bytesMax) {
      reject(
        new WireError(
          413,
          'body-too-large',
          `request body of ${declared} bytes exceeds the limit of ${bytesMax} bytes`,
        ),
      );
      return;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    const giveUp = (err: WireError): void => {
      clearTimeout(timer);
      req.removeAllListeners('data');
      req.resume();
      reject(err);
    };
    const timer = setTimeout(
      () => giveUp(new WireError(408, 'request-timeout', `request body not received within ${timeoutMs} ms`)),
      timeoutMs,
    );
    req.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > bytesMax) {
        giveUp(new WireError(413, 'body-too-large', `request body exceeds the limit of ${bytesMax} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      clearTimeout(timer);
      resolve(chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

type KvRoute =
  | { readonly op: 'get'; readonly key: string; readonly stale: boolean }
  | { readonly op: 'put'; readonly key: string }
  | { readonly op: 'delete'; readonly key: string }
  | { readonly op: 'cas'; readonly key: string };

function decodeKey(raw: string): string {
  let key: string;
  try {
    key = decodeURIComponent(raw);
  } catch {
    throw new WireError(400, 'bad-key', `key ${JSON.stringify(raw)} is not valid URL encoding`);
  }
  if (key.length === 0) throw new WireError(400, 'bad-key', 'key must not be empty');
  return key;
}

/** Maps method + path under /kv/ to an operation, or throws 404/405. */
function routeKv(method: string, rest: string, query: URLSearchParams): KvRoute {
  if (rest.endsWith('/cas')) {
    const key = rest.slice(0, -'/cas'.length);
    if (key.includes('/')) throw new WireError(404, 'not-found', 'keys must be URL-encoded (use %2F for "/")');
    if (method !== 'POST') throw new WireError(405, 'method-not-allowed', `use POST for /kv/{key}/cas, not ${method}`);
    return { op: 'cas', key: decodeKey(key) };
  }
  if (rest.includes('/')) throw new WireError(404, 'not-found', 'keys must be URL-encoded (use %2F for "/")');
  switch (method) {
    case 'GET': {
      const stale = query.get('stale');
      if (stale !== null && stale !== 'true' && stale !== 'false')
        throw new WireError(400, 'bad-request', 'stale must be true or false');
      return { op: 'get', key: decodeKey(rest), stale: stale === 'true' };
    }
    case 'PUT':
      return { op: 'put', key: decodeKey(rest) };
    case 'DELETE':
      return { op: 'delete', key: decodeKey(rest) };
    default:
      throw new WireError(
        405,
        'method-not-allowed',
        `${method} is not supported on /kv/{key}; use GET, PUT, DELETE or POST /kv/{key}/cas`,
      );
  }
}

/** Creates (does not start) the node's HTTP server. */
export function createNodeServer(options: ServerOptions): Server {
  const { runtime, log } = options;
  const bodyTimeoutMs = options.bodyTimeoutMs ?? NODE_DEFAULTS.bodyTimeoutMs;
  // No server-wide request timeout: a peer's message stream is one request
  // that lives as long as the peer. Bodies of every other request have their
  // own deadline (readBody), headers have headersTimeout below.
  const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof WireError) {
        // The rest of the body is unread: the connection cannot carry another request.
        if (err.status === 413 || err.status === 408 || err.status === 403) res.setHeader('connection', 'close');
        sendError(res, err.status, { error: err.code, message: err.message });
        return;
      }
      log.error('request-failed', { method: req.method, url: req.url, error: (err as Error).stack ?? String(err) });
      // The failure may have hit after proposing: unknown outcome.
      sendError(res, 500, { error: 'unknown', message: `internal error: ${(err as Error).message}` });
    });
  });
  // Idle keep-alive peers (harness clients, followers) must not hold the server open forever on shutdown.
  server.headersTimeout = 30_000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
    const method = req.method ?? 'GET';
    if (path === STREAM_PATH) return handlePeerStream(req, res, method);
    if (path === MESSAGES_PATH) return handlePeer(req, res, method);
    if (path === '/status') {
      if (method !== 'GET') throw new WireError(405, 'method-not-allowed', 'use GET /status');
      send(res, 200, runtime.status());
      return;
    }
    if (path === '/members' || path.startsWith('/members/')) return handleMembers(req, res, method, url, path);
    if (path.startsWith('/kv/'))
      return handleKv(req, res, routeKv(method, path.slice('/kv/'.length), query), url, method);
    throw new WireError(404, 'not-found', `no route ${method} ${path}; see node/README.md for the API`);
  }

  async function handlePeer(req: IncomingMessage, res: ServerResponse, method: string): Promise<void> {
    if (method !== 'POST') throw new WireError(405, 'method-not-allowed', `use POST ${MESSAGES_PATH}`);
    const cluster = req.headers[CLUSTER_HEADER];
    if (cluster !== options.clusterId) {
      // Refused from the headers alone: buffering up to 512 MiB of a foreign
      // body first would let anyone make the node hold that much memory.
      throw new WireError(
        403,
        'wrong-cluster',
        `this node belongs to cluster ${JSON.stringify(options.clusterId)}, the message to ${JSON.stringify(cluster ?? null)}`,
      );
    }
    const text = await readBody(req, PEER_BODY_BYTES_MAX, PEER_BODY_TIMEOUT_MS);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      throw new WireError(400, 'bad-json', `peer body is not valid JSON: ${(err as Error).message}`);
    }
    runtime.stepMessages(parsePeerMessages(body, runtime.id, options.peerIds));
    res.writeHead(204);
    res.end();
  }

  /**
   * A peer's message stream (transport.ts): newline-delimited frames, each a
   * JSON array of messages, stepped as they arrive. Answered only when it
   * ends (204) or is refused: another cluster id (403), a garbage or
   * oversized frame (400/413, logged). A refused stream is dropped with its
   * connection; the node keeps serving and the peer reconnects.
   */
  function handlePeerStream(req: IncomingMessage, res: ServerResponse, method: string): Promise<void> {
    // Whatever the answer, the connection ends with it: an unread stream body cannot be skipped.
    res.setHeader('connection', 'close');
    if (method !== 'POST') throw new WireError(405, 'method-not-allowed', `use POST ${STREAM_PATH}`);
    const cluster = req.headers[CLUSTER_HEADER];
    if (cluster !== options.clusterId) {
      throw new WireError(
        403,
        'wrong-cluster',
        `this node belongs to cluster ${JSON.stringify(options.clusterId)}, the stream to ${JSON.stringify(cluster ?? null)}`,
      );
    }
    const decoder = new FrameDecoder(PEER_BODY_BYTES_MAX);
    return new Promise((resolve, reject) => {
      const refuse = (err: unknown): void => {
        req.removeListener('data', onData);
        req.removeListener('end', onEnd);
        log.error('peer-stream-refused', { remote: req.socket.remotePort, error: (err as Error).message });
        reject(err);
      };
      const onData = (chunk: Buffer): void => {
        try {
          for (const frame of decoder.push(chunk)) runtime.stepMessages(parseFrame(frame, runtime.id, options.peerIds));
        } catch (err) {
          refuse(err);
        }
      };
      const onEnd = (): void => {
        if (decoder.pendingBytes > 0)
          return refuse(
            new WireError(
              400,
              'bad-message',
              `peer message stream ended inside a frame (${decoder.pendingBytes} bytes)`,
            ),
          );
        res.writeHead(204);
        res.end();
        resolve();
      };
      req.on('data', onData);
      req.on('end', onEnd);
      // The peer went away mid-stream (killed, or its stream was dropped): nothing to answer.
      req.on('close', () => resolve());
    });
  }

  async function handleKv(
    req: IncomingMessage,
    res: ServerResponse,
    route: KvRoute,
    url: string,
    method: string,
  ): Promise<void> {
    const text = await readBody(req, CLIENT_BODY_BYTES_MAX, bodyTimeoutMs);
    // This node answers unless it forwards (sendForwarded then names the leader that did).
    res.setHeader(SERVED_BY_HEADER, runtime.id);
    let command: Command | null = null;
    switch (route.op) {
      case 'get':
        if (route.stale || options.staleReads === true) {
          // A local read: fast, possibly stale, not linearizable.
          const outcome = await runtime.read(route.key, true);
          return sendOutcome(res, outcome);
        }
        break;
      case 'put':
        command = { op: 'put', key: route.key, ...parsePutBody(text) };
        break;
      case 'delete':
        command = { op: 'delete', key: route.key, ...parseDeleteBody(text) };
        break;
      case 'cas':
        command = { op: 'cas', key: route.key, ...parseCasBody(text) };
        break;
      default: {
        const never: never = route;
        throw new Error(`unhandled route ${JSON.stringify(never)}`);
      }
    }
    if (await forwardUnlessLeader(req, res, method, url, text)) return;
    if (traceOn && command !== null) trace(runtime.id, 'client-request');
    const outcome = command === null ? await runtime.read(route.key, false) : await runtime.submit(command);
    sendOutcome(res, outcome);
    if (traceOn && command !== null) trace(runtime.id, 'client-response');
  }

  /**
   * A follower forwards a client request to the leader it knows and relays
   * the answer; returns false when this node leads (the caller serves it).
   */
  async function forwardUnlessLeader(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    url: string,
    text: string,
  ): Promise<boolean> {
    if (runtime.isLeader()) return false;
    const leader = runtime.knownLeader();
    if (req.headers[FORWARDED_HEADER] !== undefined) {
      // Forward at most once: certainly not applied here.
      sendError(res, 503, {
        error: 'not-leader',
        message: `${runtime.id} is not the leader`,
        ...(leader !== null ? { leader } : {}),
      });
      return true;
    }
    if (leader === null || leader === runtime.id) {
      sendError(res, 503, {
        error: 'no-leader',
        message: `${runtime.id} knows no leader right now (election in progress?); retry shortly`,
      });
      return true;
    }
    const result = await runtime.transport.forward(
      leader,
      method,
      url,
      method === 'GET' ? null : text,
      options.forwardTimeoutMs,
    );
    sendForwarded(res, leader, result);
    return true;
  }

  /**
   * The admin API (node/README.md "Membership"): `GET /members`,
   * `POST /members {"id","url"}`, `DELETE /members/{id}`. Changes run on the
   * leader (a follower forwards them); each is one single-server change
   * (thesis §4.1), answered once its configuration entry commits.
   */
  async function handleMembers(req: IncomingMessage, res: ServerResponse, method: string, url: string, path: string) {
    const text = await readBody(req, CLIENT_BODY_BYTES_MAX, bodyTimeoutMs);
    if (path === '/members' && method === 'GET') {
      // Read-only: the leader's view when it can be had (match indexes), else this node's own.
      if (!runtime.isLeader() && req.headers[FORWARDED_HEADER] === undefined) {
        const leader = runtime.knownLeader();
        if (leader !== null && leader !== runtime.id) {
          const result = await runtime.transport.forward(leader, method, url, null, options.forwardTimeoutMs);
          if (result.type === 'response' && result.status === 200) return sendForwarded(res, leader, result);
        }
      }
      return send(res, 200, runtime.members());
    }
    let change: ConfChange;
    if (path === '/members' && method === 'POST') {
      const { id, url: memberUrl } = parseAddMemberBody(text);
      change = { type: 'add-learner', id, url: memberUrl };
    } else if (path.startsWith('/members/') && method === 'DELETE') {
      const id = decodeMemberId(path.slice('/members/'.length));
      change = { type: 'remove', id };
    } else {
      throw new WireError(
        405,
        'method-not-allowed',
        `${method} ${path} is not supported; use GET or POST /members, or DELETE /members/{id}`,
      );
    }
    if (await forwardUnlessLeader(req, res, method, url, text)) return;
    const deadlineMs = Date.now() + runtime.requestTimeoutMs;
    const outcome = await runtime.changeMembers(change, deadlineMs);
    switch (outcome.type) {
      case 'committed':
        if (change.type === 'add-learner' && !(await runtime.waitForVoter(change.id, deadlineMs)))
          return send(res, 202, { status: 'catching-up', poll: '/members' });
        return send(res, 200, runtime.members());
      case 'not-leader':
        return sendError(res, 503, {
          error: 'not-leader',
          message: `${runtime.id} is not the leader; nothing was changed`,
          ...(outcome.leader !== null && outcome.leader !== runtime.id ? { leader: outcome.leader } : {}),
        });
      case 'refused':
        return sendRefusal(res, change, outcome.reason);
      case 'unknown':
        // The learner's entry is still in the leader's log: the change is under way.
        if (outcome.timedOut && change.type === 'add-learner' && runtime.isLeader() && runtime.isMember(change.id))
          return send(res, 202, { status: 'catching-up', poll: '/members' });
        return sendError(res, outcome.timedOut ? 504 : 503, {
          error: 'unknown',
          message: `the outcome of the membership change is unknown: ${outcome.reason}; see GET /members`,
        });
      default: {
        const never: never = outcome;
        throw new Error(`unhandled outcome ${JSON.stringify(never)}`);
      }
    }
  }

  function sendRefusal(res: ServerResponse, change: ConfChange, reason: ConfChangeRefusal): void {
    switch (reason) {
      case 'change-pending':
        return sendError(res, 409, {
          error: 'change pending',
          message: 'another membership change is not committed yet; retry once GET /members shows "pending": false',
        });
      case 'term-not-committed':
        return sendError(res, 409, {
          error: 'not-ready',
          message: 'the leader has not committed an entry of its term yet (thesis §4.1); retry shortly',
        });
      case 'duplicate':
        return sendError(res, 409, { error: 'duplicate', message: `${change.id} is already a member` });
      case 'unknown-member':
        return sendError(res, 404, { error: 'unknown-member', message: `${change.id} is not a member` });
      case 'last-voter':
        return sendError(res, 409, {
          error: 'last-voter',
          message: `${change.id} is the only voter; removing it would leave nobody to decide anything`,
        });
      case 'not-learner':
        return sendError(res, 409, { error: 'not-learner', message: `${change.id} is not a learner` });
      default: {
        const never: never = reason;
        throw new Error(`unhandled refusal ${JSON.stringify(never)}`);
      }
    }
  }

  function sendForwarded(res: ServerResponse, leader: NodeId, result: ForwardResult): void {
    switch (result.type) {
      case 'response':
        res.writeHead(result.status, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(result.body),
          [SERVED_BY_HEADER]: result.servedBy ?? leader,
        });
        res.end(result.body);
        return;
      case 'not-sent':
        return sendError(res, 503, {
          error: 'no-leader',
          message: `leader ${leader} is unreachable (${result.reason}); the request was not delivered`,
          leader,
        });
      case 'failed':
        return sendError(res, result.timedOut ? 504 : 502, {
          error: 'unknown',
          message: `forwarding to leader ${leader} failed after the request may have been delivered (${result.reason}); the outcome is unknown`,
          leader,
        });
      default: {
        const never: never = result;
        throw new Error(`unhandled forward result ${JSON.stringify(never)}`);
      }
    }
  }

  function sendOutcome(res: ServerResponse, outcome: Outcome): void {
    switch (outcome.type) {
      case 'read':
        return send(res, 200, outcome.result);
      case 'applied': {
        const r = outcome.result;
        switch (r.type) {
          case 'ok':
            return send(res, 200, { ok: true });
          case 'cas-mismatch':
            return sendError(res, 409, {
              error: 'cas-mismatch',
              message: 'the current value differs from "expected"; nothing was written',
              current: r.current,
              // `current` is null both for an absent key and for a key holding JSON null.
              found: r.found ?? r.current !== null,
            });
          case 'state-full':
            return sendError(res, 507, {
              error: 'state-full',
              message:
                'the store is full: this write would make its snapshot larger than the node can write and read ' +
                'back; nothing was written (delete keys to make room)',
            });
          case 'session-expired':
            // Thesis §6.3: this command did not apply, but the session's
            // record is gone, so whether an earlier attempt applied is unknown.
            return sendError(res, 503, {
              error: 'session-expired',
              message:
                'this client session was evicted (too many newer clients); nothing was applied now, the ' +
                'outcome of earlier attempts is unknown; use a new client id',
            });
          case 'stale-seq':
            // This request did not apply, but its seq was superseded, so the
            // fate of the original request with this seq is not recorded.
            return sendError(res, 503, {
              error: 'unknown',
              message: `seq is older than ${r.lastSeq}, the latest applied for this client; the outcome of the original request is not recorded`,
            });
          default: {
            const never: never = r;
            throw new Error(`unhandled result ${JSON.stringify(never)}`);
          }
        }
      }
      case 'not-leader': {
        const leader = outcome.leader;
        return sendError(res, 503, {
          error: 'not-leader',
          message: `${runtime.id} is not the leader`,
          ...(leader !== null && leader !== runtime.id ? { leader } : {}),
        });
      }
      case 'overloaded':
        return sendError(res, 429, {
          error: 'overloaded',
          message: 'too many requests waiting; nothing was proposed, retry later',
        });
      case 'unknown':
        return sendError(res, outcome.timedOut ? 504 : 503, {
          error: 'unknown',
          message: `the outcome is unknown: ${outcome.reason}`,
        });
      default: {
        const never: never = outcome;
        throw new Error(`unhandled outcome ${JSON.stringify(never)}`);
      }
    }
  }

  return server;
}
