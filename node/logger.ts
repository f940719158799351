/**
 * JSON-lines logging to stderr: one object per line with `time` (ISO),
 * `level`, `event`, the node `id` and event fields, so harnesses and humans
 * can grep and parse the same output.
 */

/** Fields attached to one log event. */
export type LogFields = Record<string, unknown>;

/** A structured logger bound to one node. */
export interface Logger {
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

/** A logger writing JSON lines through `write` (default: stderr). */
export function jsonLogger(id: string, write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const emit = (level: string, event: string, fields?: LogFields): void => {
    write(`${JSON.stringify({ time: new Date().toISOString(), level, event, id, ...fields })}\n`);
  };
  return {
    info: (event, fields) => emit('info', event, fields),
    warn: (event, fields) => emit('warn', event, fields),
    error: (event, fields) => emit('error', event, fields),
  };
}
