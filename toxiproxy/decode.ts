// Request body decoding with the observable rules of Go's encoding/json as the real server uses it (compat §2):
// only the first JSON value counts, keys match case-insensitively, unknown keys are ignored, `null` keeps the
// default, and a wrong type is a 400 `bad request body: …`.
import { ApiError } from './proxy.ts';

/** A JSON object from a request body. */
export type JsonObject = Record<string, unknown>;

function badBody(detail: string): ApiError {
  return new ApiError(400, `bad request body: ${detail}`);
}

/** Finds where the first JSON value of `text` ends (Go's Decoder reads one value and ignores the rest). */
function firstValueEnd(text: string): number {
  let index = 0;
  while (index < text.length && /\s/.test(text.charAt(index))) index++;
  const first = text.charAt(index);
  if (first !== '{' && first !== '[') {
    // A scalar: up to the next whitespace (good enough for the error cases it serves).
    const rest = text.slice(index).search(/\s/);
    return rest < 0 ? text.length : index + rest;
  }
  let depth = 0;
  let inString = false;
  for (; index < text.length; index++) {
    const ch = text.charAt(index);
    if (inString) {
      if (ch === '\\') index++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') {
      depth--;
      if (depth === 0) return index + 1;
    }
  }
  return text.length;
}

/** Parses the first JSON value of a body; an empty body is Go's `EOF`. */
export function parseBody(text: string): unknown {
  if (text.trim() === '') throw badBody('EOF');
  try {
    return JSON.parse(text.slice(0, firstValueEnd(text)));
  } catch (error) {
    throw badBody(error instanceof Error ? error.message : String(error));
  }
}

/** The JSON type name Go's errors use ("string", "number", "bool", "array", "object"). */
function jsonTypeName(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return 'number';
  if (typeof value === 'string') return 'string';
  return 'object';
}

function typeError(value: unknown, where: string, goType: string): ApiError {
  const shown = typeof value === 'number' ? `number ${value}` : jsonTypeName(value);
  return badBody(`json: cannot unmarshal ${shown} into ${where} of type ${goType}`);
}

/** Requires the decoded body to be an object (a Go struct target). */
export function asObject(value: unknown, goType: string): JsonObject {
  if (value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw typeError(value, 'Go value', goType);
  return value as JsonObject;
}

/** Requires the decoded body to be an array (a Go slice target). */
export function asArray(value: unknown, goType: string): unknown[] {
  if (value === null) return [];
  if (!Array.isArray(value)) throw typeError(value, 'Go value', goType);
  return value;
}

/** A key looked up like Go: the exact key first, otherwise any case-insensitive match. */
export function field(object: JsonObject, key: string): unknown {
  if (Object.hasOwn(object, key)) return object[key];
  const lower = key.toLowerCase();
  for (const candidate of Object.keys(object)) {
    if (candidate.toLowerCase() === lower) return object[candidate];
  }
  return undefined;
}

/** Whether a key is present with a non-null value (Go keeps the default for a missing or null field). */
export function has(object: JsonObject, key: string): boolean {
  const value = field(object, key);
  return value !== undefined && value !== null;
}

/** A field of one JSON type: missing or null gives the fallback, another type is Go's unmarshal error. */
function typedField<T>(
  object: JsonObject,
  key: string,
  struct: string,
  fallback: T,
  goType: string,
  accepts: (value: unknown) => value is T,
): T {
  const value = field(object, key);
  if (value === undefined || value === null) return fallback;
  if (!accepts(value)) throw typeError(value, `Go struct field ${struct}.${key}`, goType);
  return value;
}

const isString = (value: unknown): value is string => typeof value === 'string';
const isBoolean = (value: unknown): value is boolean => typeof value === 'boolean';
const isNumber = (value: unknown): value is number => typeof value === 'number';
// Go's int64 fields reject fractions (compat §7: non-integer attributes are a 400).
const isInteger = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value);

export function stringField(object: JsonObject, key: string, struct: string, fallback: string): string {
  return typedField(object, key, struct, fallback, 'string', isString);
}

export function boolField(object: JsonObject, key: string, struct: string, fallback: boolean): boolean {
  return typedField(object, key, struct, fallback, 'bool', isBoolean);
}

export function floatField(object: JsonObject, key: string, struct: string, fallback: number): number {
  return typedField(object, key, struct, fallback, 'float32', isNumber);
}

/** An integer attribute: non-integer numbers are rejected like Go's int64 fields (compat §7). */
export function intField(object: JsonObject, key: string, struct: string, fallback: number): number {
  return typedField(object, key, struct, fallback, 'int64', isInteger);
}
