// Reading histories: the project's JSONL (`docs/architecture.md`, "Clients and the
// history") and Jepsen's history.edn (a sequence of op maps, or one vector of
// them, with keywords for :type, :f and :process :nemesis).
import { readFile } from 'node:fs/promises';
import { parseEDNString } from 'edn-data';
import { HistoryParseError } from './errors.ts';
import type { EventType, HistoryEvent } from './types.ts';

const EVENT_TYPES: ReadonlySet<string> = new Set(['invoke', 'ok', 'fail', 'info']);

/** Checks one decoded object and returns it as an event; `where` is for messages. */
function toEvent(raw: unknown, line: number | undefined): HistoryEvent {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new HistoryParseError('expected an object with process, type and f', line);
  }
  const o = raw as Record<string, unknown>;
  const { process, type, f } = o;
  if (typeof process !== 'number' && typeof process !== 'string') {
    throw new HistoryParseError(
      `"process" must be an integer or a name like "nemesis", got ${JSON.stringify(process)}`,
      line,
    );
  }
  if (typeof process === 'number' && !Number.isInteger(process)) {
    throw new HistoryParseError(`"process" must be an integer, got ${process}`, line);
  }
  if (typeof type !== 'string' || !EVENT_TYPES.has(type)) {
    throw new HistoryParseError(`"type" must be one of invoke, ok, fail, info; got ${JSON.stringify(type)}`, line);
  }
  if (typeof f !== 'string') throw new HistoryParseError(`"f" must be a string, got ${JSON.stringify(f)}`, line);
  const event: HistoryEvent = { process, type: type as EventType, f };
  if (o.key !== undefined && o.key !== null) event.key = typeof o.key === 'string' ? o.key : JSON.stringify(o.key);
  if ('value' in o) event.value = o.value;
  // Nanosecond clocks pass 2^53 (the parser then gives a bigint); the time is
  // informational only, so a double is close enough.
  if (typeof o.time === 'number') event.time = o.time;
  else if (typeof o.time === 'bigint') event.time = Number(o.time);
  if (o.error !== undefined) event.error = o.error;
  return event;
}

// A run of 16+ digits may be an integer beyond 2^53, which JSON.parse would
// round (two different values would then compare equal). Only such lines take
// the slower exact path.
const BIG_DIGITS = /\d{16}/;

/**
 * JSON.parse that keeps every integer literal beyond Number.MAX_SAFE_INTEGER
 * exact, as a bigint. The literals are found by a scan that skips strings,
 * quoted with a marker that does not occur in the line, and turned back into
 * bigints by the reviver. (Node 20 has no JSON.parse source access.)
 */
function parseExactJson(raw: string): unknown {
  let marker = '#bigint:';
  while (raw.includes(marker)) marker += '~';
  let out = '';
  let last = 0;
  let i = 0;
  while (i < raw.length) {
    const c = raw.charCodeAt(i);
    if (c === 0x22 /* " */) {
      i++;
      while (i < raw.length && raw.charCodeAt(i) !== 0x22) i += raw.charCodeAt(i) === 0x5c /* \ */ ? 2 : 1;
      i++;
      continue;
    }
    if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      const match = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(raw.slice(i, i + 400))!;
      const token = match[0];
      if (match[1] === undefined && match[2] === undefined && !Number.isSafeInteger(Number(token))) {
        out += `${raw.slice(last, i)}"${marker}${token}"`;
        last = i + token.length;
      }
      i += Math.max(1, token.length);
      continue;
    }
    i++;
  }
  if (last === 0) return JSON.parse(raw);
  const text = out + raw.slice(last);
  return JSON.parse(text, (_key, value: unknown) =>
    typeof value === 'string' && value.startsWith(marker) ? BigInt(value.slice(marker.length)) : value,
  );
}

/** Parses JSONL text; blank lines are skipped. Throws HistoryParseError with the 1-based line. */
export function parseJsonl(text: string): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  let line = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    line++;
    const raw = text.slice(start, end).trim();
    start = end + 1;
    if (raw === '') continue;
    let decoded: unknown;
    try {
      decoded = BIG_DIGITS.test(raw) ? parseExactJson(raw) : JSON.parse(raw);
    } catch (error) {
      throw new HistoryParseError(`not valid JSON (${(error as Error).message})`, line);
    }
    events.push(toEvent(decoded, line));
  }
  return events;
}

/** Keywords arrive as strings without the colon; nil as null. */
function fromEdn(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromEdn);
  if (value instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, v] of value)
      o[String(typeof k === 'object' && k !== null && 'key' in k ? (k as { key: unknown }).key : k)] = fromEdn(v);
    return o;
  }
  if (value !== null && typeof value === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) o[k] = fromEdn(v);
    return o;
  }
  return value;
}

/** For a one-map-per-line file (Jepsen's history.edn): the first line that does not parse alone. */
function locateEdnError(text: string): number | undefined {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith(';')) continue;
    if (!line.startsWith('{')) return undefined; // not one map per line: no line to blame
    try {
      const value = parseEDNString(line, { mapAs: 'object', keywordAs: 'string' });
      if (value === null || typeof value !== 'object') return i + 1;
    } catch {
      return i + 1;
    }
  }
  return undefined;
}

/**
 * Parses Jepsen EDN: either one vector/list of op maps or a sequence of op
 * maps (one per line, as Jepsen writes history.edn). `:process :nemesis`
 * becomes "nemesis"; `:index` and other extra keys are ignored.
 */
export function parseEdn(text: string): HistoryEvent[] {
  let decoded: unknown;
  try {
    // Wrap in a vector so a bare sequence of maps parses as one value.
    decoded = parseEDNString(`[${text}\n]`, {
      mapAs: 'object',
      keywordAs: 'string',
      listAs: 'array',
      setAs: 'array',
      charAs: 'string',
      symbolAs: 'string',
    });
  } catch (error) {
    throw new HistoryParseError(`not valid EDN (${(error as Error).message})`, locateEdnError(text));
  }
  // edn-data returns null (no exception) for unbalanced input.
  if (!Array.isArray(decoded))
    throw new HistoryParseError('not valid EDN (unbalanced brackets or braces?)', locateEdnError(text));
  let items = fromEdn(decoded) as unknown[];
  if (items.length === 1 && Array.isArray(items[0])) items = items[0] as unknown[];
  return items.map((item, i) => {
    try {
      return toEvent(item, undefined);
    } catch (error) {
      throw new HistoryParseError(`op ${i + 1}: ${(error as Error).message}`);
    }
  });
}

/** The format of a file: by extension, else by its first non-blank character. */
export function detectFormat(path: string, text: string): 'jsonl' | 'edn' {
  if (/\.edn$/i.test(path)) return 'edn';
  if (/\.(jsonl|ndjson|json)$/i.test(path)) return 'jsonl';
  const first = text.trimStart()[0];
  return first === '{' && !/^\{\s*:/.test(text.trimStart())
    ? 'jsonl'
    : first === '[' || first === '(' || first === '{'
      ? 'edn'
      : 'jsonl';
}

/** Parses history text in the given or detected format. */
export function parseHistory(text: string, format: 'jsonl' | 'edn'): HistoryEvent[] {
  return format === 'edn' ? parseEdn(text) : parseJsonl(text);
}

/** Reads and parses a history file (JSONL or EDN). */
export async function readHistoryFile(path: string): Promise<HistoryEvent[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new HistoryParseError(`cannot read ${path}: ${(error as Error).message}`);
  }
  return parseHistory(text, detectFormat(path, text));
}
