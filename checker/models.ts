// Built-in models. Each is plain data with pure functions; the semantics follow
// the corpus README ("How each model should be interpreted") and, for
// raftlab-kv, `docs/architecture.md` ("The node": get/put/delete/cas per key).
import { CheckerError } from './errors.ts';
import type { HistoryEvent, Model, ModelName, NullRead, ValueFlow } from './types.ts';
import { showValue, valueKey } from './values.ts';

/** Options the built-in models take. */
export interface ModelOptions {
  init?: unknown;
  nullRead?: NullRead;
}

const NO_FLOW: ValueFlow = {};

function partitionByKey(event: HistoryEvent): string | undefined {
  const key = event.key;
  if (key === undefined || key === null) return undefined;
  return typeof key === 'string' ? key : valueKey(key);
}

const OPERATIONS: Record<ModelName, readonly string[]> = {
  'raftlab-kv': ['read', 'write', 'cas', 'delete'],
  register: ['read', 'write', 'cas'],
  'cas-register': ['read', 'write', 'cas'],
  kv: ['get', 'put', 'append'],
  'multi-register': ['txn'],
  mutex: ['acquire', 'release'],
};

function unknownOpMessage(model: ModelName, f: string): string {
  return `model ${model} has no operation "${f}" (it knows ${OPERATIONS[model].join(', ')}; pick another --model?)`;
}

function unknownOp(model: ModelName, f: string): never {
  throw new CheckerError('CHECKER_MODEL', unknownOpMessage(model, f));
}

function casPairMessage(model: string, input: unknown): string | undefined {
  return Array.isArray(input) && input.length === 2
    ? undefined
    : `model ${model}: cas value must be [expected, new], got ${showValue(input)}`;
}

function casPair(model: string, input: unknown): [unknown, unknown] {
  const message = casPairMessage(model, input);
  if (message !== undefined) throw new CheckerError('CHECKER_MODEL', message);
  return (input as [unknown, unknown]).slice(0, 2) as [unknown, unknown];
}

/** checkOperation of a model whose ops need no value checks beyond cas's pair. */
function knownOps(model: ModelName): (f: string, input: unknown) => string | undefined {
  const known = new Set(OPERATIONS[model]);
  return (f, input) =>
    !known.has(f) ? unknownOpMessage(model, f) : f === 'cas' ? casPairMessage(model, input) : undefined;
}

/**
 * A register holding one JSON value (null = empty/absent). Ops: read, write,
 * cas [expected, new], and delete (raftlab-kv). The state is stored as its
 * canonical key so that hashing and comparing are free.
 */
function registerModel(name: ModelName, options: ModelOptions): Model<string> {
  const initKey = valueKey(options.init ?? null);
  const wildcardNull = (options.nullRead ?? 'value') === 'wildcard';
  // A read matches when it read the state; under the wildcard rule (Knossos)
  // an ok read of null means "value not known" and matches any state.
  const readRequires = (output: unknown): string | undefined =>
    output === undefined || (output === null && wildcardNull) ? undefined : valueKey(output);
  return {
    name,
    init: () => initKey,
    step(state, f, input, output) {
      switch (f) {
        case 'read': {
          const need = readRequires(output);
          return need === undefined || need === state ? state : undefined;
        }
        case 'write':
          return valueKey(input);
        case 'cas': {
          const [expected, next] = casPair(name, input);
          return valueKey(expected) === state ? valueKey(next) : undefined;
        }
        case 'delete':
          if (name !== 'raftlab-kv') return unknownOp(name, f);
          return 'null';
        default:
          return unknownOp(name, f);
      }
    },
    hash: (state) => state,
    equal: (a, b) => a === b,
    partition: partitionByKey,
    checkOperation: knownOps(name),
    readOnly: (f) => f === 'read',
    valueFlow(f, input, output) {
      switch (f) {
        case 'read': {
          const need = readRequires(output);
          return need === undefined ? NO_FLOW : { requires: need };
        }
        case 'write':
          return { writes: valueKey(input) };
        case 'cas': {
          const [expected, next] = casPair(name, input);
          return { requires: valueKey(expected), writes: valueKey(next) };
        }
        case 'delete':
          return { writes: 'null' };
        default:
          return undefined;
      }
    },
    describeOperation(f, input, output) {
      switch (f) {
        case 'read':
          return `read → ${showValue(output)}`;
        case 'cas': {
          const pair = Array.isArray(input) ? input : [input, undefined];
          return `cas ${showValue(pair[0])}→${showValue(pair[1])}`;
        }
        case 'delete':
          return 'delete';
        default:
          return `${f} ${showValue(input)}`;
      }
    },
    describeState: (state) => state,
    stateValue: (state) => state,
  };
}

/** kv (6.824 lab style): get/put/append on strings; a missing key reads "". */
function kvModel(options: ModelOptions): Model<string> {
  const init = typeof options.init === 'string' ? options.init : '';
  const str = (v: unknown): string => (typeof v === 'string' ? v : v === null || v === undefined ? '' : String(v));
  return {
    name: 'kv',
    init: () => init,
    step(state, f, input, output) {
      switch (f) {
        case 'get':
          return output === undefined || str(output) === state ? state : undefined;
        case 'put':
          return str(input);
        case 'append':
          return state + str(input);
        default:
          return unknownOp('kv', f);
      }
    },
    hash: (state) => state,
    equal: (a, b) => a === b,
    partition: partitionByKey,
    checkOperation: knownOps('kv'),
    readOnly: (f) => f === 'get',
    valueFlow(f, input, output) {
      switch (f) {
        case 'get':
          return output === undefined ? NO_FLOW : { requires: JSON.stringify(str(output)) };
        case 'put':
          return { writes: JSON.stringify(str(input)) };
        default:
          // append depends on the previous value: not register-like.
          return undefined;
      }
    },
    describeOperation(f, input, output) {
      return f === 'get' ? `get → ${showValue(output)}` : `${f} ${showValue(input)}`;
    },
    describeState: (state) => JSON.stringify(state),
    stateValue: (state) => JSON.stringify(state),
  };
}

type MicroOp = [string, unknown, unknown];

function microOpsMessage(input: unknown): string | undefined {
  if (!Array.isArray(input)) {
    return `model multi-register: txn value must be a list of [f, key, value], got ${showValue(input)}`;
  }
  for (const mop of input) {
    if (!Array.isArray(mop) || mop.length !== 3 || (mop[0] !== 'read' && mop[0] !== 'write')) {
      return `model multi-register: bad micro-op ${showValue(mop)} (expected ["read" or "write", key, value])`;
    }
  }
  return undefined;
}

function microOps(input: unknown): MicroOp[] {
  const message = microOpsMessage(input);
  if (message !== undefined) throw new CheckerError('CHECKER_MODEL', message);
  return input as MicroOp[];
}

/** Equal register maps, without building their canonical keys (scalars compare directly). */
function sameRegisters(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  if (a === b) return true;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const k of keys) {
    if (!(k in b)) return false;
    const x = a[k];
    const y = b[k];
    if (x !== y && (typeof x !== 'object' || typeof y !== 'object' || valueKey(x) !== valueKey(y))) return false;
  }
  return true;
}

/**
 * multi-register: a txn applies its micro-ops atomically and in order; reads
 * carrying null match any value (corpus README). State: map key -> value,
 * stored as its canonical key plus the parsed map.
 */
function multiRegisterModel(options: ModelOptions): Model<Record<string, unknown>> {
  const init = (
    options.init && typeof options.init === 'object' && !Array.isArray(options.init) ? options.init : {}
  ) as Record<string, unknown>;
  return {
    name: 'multi-register',
    init: () => ({ ...init }),
    step(state, f, input, output) {
      if (f !== 'txn') return unknownOp('multi-register', f);
      // Use the completion's micro-ops when known: they carry the values read.
      const ops = microOps(output === undefined ? input : output);
      let next: Record<string, unknown> | undefined;
      for (const [kind, key, value] of ops) {
        const k = String(key);
        const current = (next ?? state)[k] ?? null;
        if (kind === 'read') {
          if (output !== undefined && value !== null && valueKey(value) !== valueKey(current)) return undefined;
        } else {
          next ??= { ...state };
          next[k] = value;
        }
      }
      return next ?? state;
    },
    hash: (state) => valueKey(state),
    equal: sameRegisters,
    partition: partitionByKey,
    // A txn spans keys: the registers a txn touches together are one object
    // (splitting them by an event's single key would check each alone).
    partitionKeys: (_f, input) => microOps(input).map((m) => String(m[1])),
    checkOperation: (f, input, output) =>
      f !== 'txn'
        ? unknownOpMessage('multi-register', f)
        : (microOpsMessage(input) ?? (output === undefined ? undefined : microOpsMessage(output))),
    readOnly: (f, input) => f === 'txn' && microOps(input).every((m) => m[0] === 'read'),
    describeOperation(f, input, output) {
      const ops = output === undefined ? input : output;
      if (!Array.isArray(ops)) return `${f} ${showValue(ops)}`;
      return ops
        .map((m) => (Array.isArray(m) ? `${m[0] === 'read' ? 'r' : 'w'}(${String(m[1])},${showValue(m[2])})` : '?'))
        .join(' ');
    },
    describeState: (state) => valueKey(state),
  };
}

/** mutex: acquire needs it free, release needs it held. */
function mutexModel(): Model<boolean> {
  return {
    name: 'mutex',
    init: () => false,
    step(held, f) {
      switch (f) {
        case 'acquire':
          return held ? undefined : true;
        case 'release':
          return held ? false : undefined;
        default:
          return unknownOp('mutex', f);
      }
    },
    hash: (held) => (held ? 1 : 0),
    equal: (a, b) => a === b,
    partition: partitionByKey,
    checkOperation: knownOps('mutex'),
    describeOperation: (f) => f,
    describeState: (held) => (held ? 'held' : 'free'),
  };
}

/** Every built-in model name. */
export const MODEL_NAMES: readonly ModelName[] = [
  'raftlab-kv',
  'register',
  'cas-register',
  'kv',
  'multi-register',
  'mutex',
];

/** Builds a built-in model by name. */
export function createModel(name: string, options: ModelOptions = {}): Model<any> {
  switch (name as ModelName) {
    case 'raftlab-kv':
    case 'register':
    case 'cas-register':
      return registerModel(name as ModelName, options);
    case 'kv':
      return kvModel(options);
    case 'multi-register':
      return multiRegisterModel(options);
    case 'mutex':
      return mutexModel();
    default:
      throw new CheckerError('CHECKER_MODEL', `unknown model "${name}"; known models: ${MODEL_NAMES.join(', ')}`);
  }
}
