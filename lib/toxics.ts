// Checks a toxic before it is sent to a Toxiproxy server. The API of the real Toxiproxy 2.12.0 stores any integer
// attributes and any toxicity without a check, and some attribute sets crash it later, once data flows through a
// connection (a Go panic ends the process and with it every proxy on the server). The embedded server accepts
// the same inputs for compatibility and survives them, so the check belongs to whoever creates toxics: it rejects
// every attribute set the real server panics on and every one that makes no sense (a negative time or size,
// a probability outside [0, 1]). The rules come from reading the real server's toxics; docs/toxiproxy-compat.md
// §7 and "Where the real server differs" describe its behaviour.
//
// A leaf module: it imports nothing from the repository.

/** Every toxic type the real Toxiproxy 2.12.0 registers. */
export const TOXIC_TYPES = [
  'latency',
  'bandwidth',
  'slow_close',
  'timeout',
  'reset_peer',
  'slicer',
  'limit_data',
  'noop',
] as const;
export type ToxicType = (typeof TOXIC_TYPES)[number];

export function isToxicType(value: string): value is ToxicType {
  return (TOXIC_TYPES as readonly string[]).includes(value);
}

/** The attributes of each toxic type; the API echoes every one of them and reads omitted ones as 0. */
export const TOXIC_ATTRIBUTES: Readonly<Record<ToxicType, readonly string[]>> = {
  latency: ['latency', 'jitter'],
  bandwidth: ['rate'],
  slow_close: ['delay'],
  timeout: ['timeout'],
  reset_peer: ['timeout'],
  slicer: ['average_size', 'size_variation', 'delay'],
  limit_data: ['bytes'],
  noop: [],
};

/** The unit of each attribute, for messages; attributes not listed are milliseconds. */
const UNITS: Readonly<Record<string, string>> = {
  'bandwidth.rate': 'KB/s',
  'slicer.average_size': 'bytes',
  'slicer.size_variation': 'bytes',
  'slicer.delay': 'µs',
  'limit_data.bytes': 'bytes',
};

/**
 * The largest millisecond count a Go time.Duration (int64 nanoseconds) holds. The real server multiplies ms
 * attributes into a Duration; past this the product wraps around, e.g. to a negative latency sent at once.
 */
const DURATION_MS_MAX = 9_223_372_036_854;

/** A toxic as the API's create call takes it; omitted attributes and toxicity take the server's defaults. */
export interface ToxicSpec {
  type: string;
  attributes?: Record<string, unknown>;
  /** The probability that the toxic acts on a connection; the server's default is 1. */
  toxicity?: unknown;
}

/** Thrown by the validate functions; `problems` lists every rule the toxic breaks, one sentence each. */
export class InvalidToxicError extends Error {
  readonly problems: readonly string[];

  constructor(type: string, problems: readonly string[]) {
    super(`invalid ${type} toxic: ${problems.join('; ')}`);
    this.name = 'InvalidToxicError';
    this.problems = problems;
  }
}

/**
 * Every problem of a toxic's type, attributes and toxicity, as sentences naming the type, the attribute and the
 * value; empty when the toxic is safe to send. For an update, pass the attributes as they will be once the server
 * has merged them (the current ones overlaid with those sent): a partial set cannot be judged on its own.
 */
export function toxicProblems(toxic: ToxicSpec): string[] {
  const { type } = toxic;
  if (!isToxicType(type)) return [`unknown toxic type ${JSON.stringify(type)} (known: ${TOXIC_TYPES.join(', ')})`];
  const names = TOXIC_ATTRIBUTES[type];
  const problems: string[] = [];
  const attributes = toxic.attributes ?? {};
  if (typeof attributes !== 'object' || attributes === null || Array.isArray(attributes)) {
    return [`${type} attributes must be an object, got ${describe(attributes)}`];
  }
  for (const name of Object.keys(attributes)) {
    if (!names.includes(name)) {
      const known = names.length === 0 ? 'it takes none' : `known: ${names.join(', ')}`;
      problems.push(`${type} has no attribute ${JSON.stringify(name)} (${known})`);
    }
  }
  // Omitted or null attributes are 0 on the server (Go's zero value), so they are judged as 0.
  const values: Record<string, number> = {};
  const omitted = new Set<string>();
  for (const name of names) {
    if (attributes[name] === undefined || attributes[name] === null) omitted.add(name);
    const value = attributes[name] ?? 0;
    const problem = integerProblem(type, name, value);
    if (problem === undefined) values[name] = value as number;
    else problems.push(problem);
  }
  problems.push(...typeProblems(type, values, omitted));
  problems.push(...toxicityProblems(type, toxic.toxicity));
  return problems;
}

/** Throws InvalidToxicError unless the toxic's type, attributes and toxicity are all safe to send. */
export function validateToxic(toxic: ToxicSpec): void {
  const problems = toxicProblems(toxic);
  if (problems.length > 0) throw new InvalidToxicError(toxic.type, problems);
}

/** Throws InvalidToxicError unless the type and attributes are safe to send (toxicity is not looked at). */
export function validateToxicAttributes(type: string, attributes: Record<string, unknown>): void {
  validateToxic({ type, attributes });
}

/** A non-negative safe integer, as the server's int64 fields need; undefined when it is one. */
function integerProblem(type: string, name: string, value: unknown): string | undefined {
  const what = `${type} ${name} ${describe(value)}`;
  if (typeof value !== 'number' || !Number.isFinite(value)) return `${what}: must be a number`;
  if (!Number.isInteger(value)) return `${what}: must be a whole number of ${unitOf(type, name)}`;
  if (!Number.isSafeInteger(value)) return `${what}: too large (at most ${Number.MAX_SAFE_INTEGER})`;
  if (value < 0) return `${what}: must not be negative${negativeConsequence(type)}`;
  if (unitOf(type, name) === 'ms' && value > DURATION_MS_MAX) {
    return `${what}: too large for the server's time.Duration (at most ${DURATION_MS_MAX} ms)`;
  }
  return undefined;
}

/**
 * Rules that tie a type's attributes together; `values` holds the attributes that passed integerProblem, and
 * `omitted` the ones that were not sent (read as 0).
 */
function typeProblems(type: string, values: Record<string, number>, omitted: ReadonlySet<string>): string[] {
  const shown = (name: string): string => `${values[name]}${omitted.has(name) ? ' (omitted, so 0)' : ''}`;
  if (type === 'latency') {
    const { latency, jitter } = values;
    if (latency !== undefined && jitter !== undefined && latency + jitter > DURATION_MS_MAX) {
      return [
        `latency latency ${latency} + jitter ${jitter}: too large for the server's time.Duration ` +
          `(at most ${DURATION_MS_MAX} ms together)`,
      ];
    }
    return [];
  }
  if (type !== 'slicer') return [];
  // The real slicer cuts a chunk in two near its middle, moved by a random offset in [-size_variation,
  // size_variation), and cuts each half again until a piece is at most average_size + size_variation long.
  // The smallest piece it still cuts is average_size + size_variation + 1 bytes. Every cut lands strictly
  // inside that piece only when size_variation < average_size; otherwise a cut can fall on or past an end,
  // which either repeats the same piece without end or produces slice bounds that make Go panic.
  const averageSize = values.average_size;
  const sizeVariation = values.size_variation;
  if (averageSize === undefined) return [];
  if (averageSize < 1) {
    return [
      `slicer average_size ${shown('average_size')}: must be at least 1 byte (the real Toxiproxy 2.12.0 cuts pieces ` +
        'without end or outside the chunk and panics)',
    ];
  }
  if (sizeVariation !== undefined && sizeVariation >= averageSize) {
    return [
      `slicer size_variation ${sizeVariation}: must be less than average_size ${averageSize} (the real ` +
        'Toxiproxy 2.12.0 can cut outside the chunk and panic)',
    ];
  }
  return [];
}

function toxicityProblems(type: string, toxicity: unknown): string[] {
  // Omitted or null keeps the server's default of 1.
  if (toxicity === undefined || toxicity === null) return [];
  const what = `${type} toxicity ${describe(toxicity)}`;
  if (typeof toxicity !== 'number' || !Number.isFinite(toxicity)) return [`${what}: must be a number in [0, 1]`];
  if (toxicity < 0 || toxicity > 1) return [`${what}: must be a probability in [0, 1]`];
  return [];
}

function negativeConsequence(type: string): string {
  if (type === 'bandwidth') return ' (the real Toxiproxy 2.12.0 panics once data flows; use 0 to hold all data)';
  if (type === 'slicer') return ' (the real Toxiproxy 2.12.0 can cut outside the chunk and panic)';
  return '';
}

function unitOf(type: string, name: string): string {
  return UNITS[`${type}.${name}`] ?? 'ms';
}

function describe(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (value === undefined) return 'undefined';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
