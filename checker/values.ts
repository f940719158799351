// Canonical keys for JSON values: equal values get equal strings, so a key can
// stand for a value in maps and in state hashes (porcupine's "hash before
// equal", made injective so no equal() call is ever needed).

/** Canonical string of a JSON value; object keys are sorted, undefined is null. */
export function valueKey(value: unknown): string {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
      return 'null';
    case 'bigint':
      return String(value);
    case 'object':
      if (value === null) return 'null';
      if (Array.isArray(value)) return `[${value.map(valueKey).join(',')}]`;
      return (
        '{' +
        Object.keys(value)
          .sort()
          .map((k) => `${JSON.stringify(k)}:${valueKey((value as Record<string, unknown>)[k])}`)
          .join(',') +
        '}'
      );
    default:
      return 'null';
  }
}

/** Short human text of a value for descriptions. */
export function showValue(value: unknown): string {
  if (value === undefined) return '?';
  return valueKey(value);
}

const BIGINT_MARK = '\u0000bigint:';
const BIGINT_QUOTED = /"\\u0000bigint:(-?\d+)"/g;

/**
 * JSON.stringify that writes bigints (exact integers beyond 2^53 from the
 * parser) as plain JSON integers instead of throwing.
 */
export function jsonText(value: unknown): string {
  let sawBigint = false;
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== 'bigint') return v;
    sawBigint = true;
    return `${BIGINT_MARK}${v}`;
  });
  return sawBigint ? text.replace(BIGINT_QUOTED, '$1') : text;
}
