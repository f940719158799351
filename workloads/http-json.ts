/** One JSON request with a deadline, as every client of the harness sends them. */
import { type Pool, request } from 'undici';

/** An answer whose body was read to the end; `body` is undefined when it was empty or not JSON. */
export interface JsonAnswer {
  statusCode: number;
  body: unknown;
  /** Response headers (lower-case names). */
  headers: Record<string, string | string[] | undefined>;
}

/** What to send. */
export interface JsonRequest {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  /** Path on the pool's origin; with a URL target, appended to it. */
  path: string;
  /** Sent as JSON when defined. */
  body?: unknown;
  /** Headers, body and the whole exchange must complete within this; past it the request is aborted. */
  timeoutMs: number;
}

/**
 * Sends one request to a keep-alive pool or a base URL and reads the whole answer (so the socket goes back to the
 * pool). Transport failures throw (undici's errors, with their `code`): only the caller knows what they mean.
 */
export async function sendJson(target: Pool | string, req: JsonRequest): Promise<JsonAnswer> {
  const body = req.body === undefined ? undefined : JSON.stringify(req.body);
  const options = {
    method: req.method,
    body,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    headersTimeout: req.timeoutMs,
    bodyTimeout: req.timeoutMs,
    signal: AbortSignal.timeout(req.timeoutMs),
  };
  const response =
    typeof target === 'string'
      ? await request(`${target}${req.path}`, options)
      : await target.request({ ...options, path: req.path });
  const text = await response.body.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { statusCode: response.statusCode, body: parsed, headers: response.headers };
}
