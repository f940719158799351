// One error hierarchy with stable codes (undici's habit), so callers can tell
// bad input from bugs without parsing messages.

/** Stable error codes of the checker. */
export type CheckerErrorCode =
  | 'CHECKER_PARSE' // a history file cannot be read as JSONL or EDN
  | 'CHECKER_HISTORY' // events do not form a well-formed history
  | 'CHECKER_MODEL' // unknown model, or an op the model does not know
  | 'CHECKER_OPTIONS'; // bad option value

/** Base class of every error the checker throws on purpose. */
export class CheckerError extends Error {
  readonly code: CheckerErrorCode;
  constructor(code: CheckerErrorCode, message: string) {
    super(message);
    this.name = 'CheckerError';
    this.code = code;
  }
}

/** A malformed line or file; `line` is 1-based when known. */
export class HistoryParseError extends CheckerError {
  readonly line: number | undefined;
  constructor(message: string, line?: number) {
    super('CHECKER_PARSE', line === undefined ? message : `line ${line}: ${message}`);
    this.name = 'HistoryParseError';
    this.line = line;
  }
}
