// The set of proxies and every API operation on it (compat §4-§5). Operations that change state run one at a
// time (a promise queue), as the Go server serialises them with locks, so two concurrent creates of one name
// cannot both bind.
import { ApiError, Proxy, toxicJson } from './proxy.ts';
import type { Random } from '../lib/random.ts';
import {
  asArray,
  asObject,
  boolField,
  field,
  floatField,
  has,
  intField,
  stringField,
  type JsonObject,
} from './decode.ts';
import { TOXIC_ATTRIBUTES, isToxicType, type Direction, type ToxicSpec } from './toxics.ts';

/** A populate failure: the error plus the proxies processed before it (compat §5.4 step 4). */
export class PopulateError extends ApiError {
  constructor(
    status: number,
    message: string,
    readonly proxies: object[] | null,
  ) {
    super(status, message);
  }
}

function parseDirection(stream: string): Direction {
  const lower = stream.toLowerCase();
  if (lower === 'upstream' || lower === 'downstream') return lower;
  throw new ApiError(400, 'stream was invalid, can be either upstream or downstream');
}

function decodeAttributes(
  type: keyof typeof TOXIC_ATTRIBUTES,
  raw: unknown,
  base: Record<string, number>,
): Record<string, number> {
  const attributes: Record<string, number> = { ...base };
  for (const name of TOXIC_ATTRIBUTES[type]) attributes[name] ??= 0;
  if (raw === undefined || raw === null) return attributes;
  const object = asObject(raw, 'toxics.ToxicAttributes');
  for (const name of TOXIC_ATTRIBUTES[type]) {
    attributes[name] = intField(object, name, `toxics.${type}`, attributes[name] ?? 0);
  }
  return attributes;
}

/** All proxies of one server, keyed by name. */
export class ProxyCollection {
  private readonly proxies = new Map<string, Proxy>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly random: Random) {}

  /** Runs `operation` after every earlier one finished. */
  serialize<T>(operation: () => Promise<T> | T): Promise<T> {
    const result = this.queue.then(operation, operation);
    this.queue = result.catch(() => undefined);
    return result;
  }

  list(): Record<string, object> {
    const out: Record<string, object> = {};
    for (const name of [...this.proxies.keys()].sort()) out[name] = this.get(name).toJSON();
    return out;
  }

  get(name: string): Proxy {
    const proxy = this.proxies.get(name);
    if (proxy === undefined) throw new ApiError(404, 'proxy not found');
    return proxy;
  }

  /** E2: validates name then upstream, refuses a taken name, binds before adding. */
  async create(body: unknown): Promise<Proxy> {
    const fields = this.decodeProxy(asObject(body, 'main.Proxy'));
    if (fields.name === '') throw new ApiError(400, 'missing required field: name');
    if (fields.upstream === '') throw new ApiError(400, 'missing required field: upstream');
    if (this.proxies.has(fields.name)) throw new ApiError(409, 'proxy already exists');
    const proxy = new Proxy(fields.name, fields.listen, fields.upstream, this.random);
    if (fields.enabled) await proxy.start();
    this.proxies.set(proxy.name, proxy);
    return proxy;
  }

  /** E3 populate (compat §5.4). */
  async populate(body: unknown): Promise<object[] | null> {
    let entries: { name: string; listen: string; upstream: string; enabled: boolean }[];
    try {
      entries = asArray(body, '[]main.Proxy').map((entry) => this.decodeProxy(asObject(entry, 'main.Proxy')));
    } catch (error) {
      if (error instanceof ApiError) throw new PopulateError(error.status, error.message, null);
      throw error;
    }
    entries.forEach((entry, index) => {
      if (entry.name === '') throw new PopulateError(400, `missing required field: name at proxy ${index + 1}`, null);
      if (entry.upstream === '') {
        throw new PopulateError(400, `missing required field: upstream at proxy ${index + 1}`, null);
      }
    });
    // Go returns a nil slice for an empty array, which is written as null (compat §5.4 quirk 6).
    if (entries.length === 0) return null;
    const done: object[] = [];
    for (const entry of entries) {
      try {
        const existing = this.proxies.get(entry.name);
        if (existing !== undefined && !(await existing.differs(entry))) {
          done.push(existing.toJSON());
          continue;
        }
        if (existing !== undefined) {
          existing.stop();
          this.proxies.delete(entry.name);
        }
        const proxy = new Proxy(entry.name, entry.listen, entry.upstream, this.random);
        if (entry.enabled) await proxy.start();
        this.proxies.set(proxy.name, proxy);
        done.push(proxy.toJSON());
      } catch (error) {
        if (error instanceof ApiError) throw new PopulateError(error.status, error.message, done);
        throw error;
      }
    }
    return done;
  }

  /** E5: omitted fields keep their values; a differing listen/upstream restarts the proxy (compat §5.3). */
  async update(name: string, body: unknown): Promise<Proxy> {
    const proxy = this.get(name);
    const object = asObject(body, 'main.Proxy');
    const listen = stringField(object, 'listen', 'Proxy', proxy.listen);
    const upstream = stringField(object, 'upstream', 'Proxy', proxy.upstream);
    const enabled = boolField(object, 'enabled', 'Proxy', proxy.enabled);
    if (await proxy.differs({ listen, upstream })) {
      proxy.stop();
      proxy.listen = listen;
      proxy.upstream = upstream;
    }
    if (enabled !== proxy.enabled) {
      if (enabled) await proxy.start();
      else proxy.stop();
    }
    return proxy;
  }

  /** E6: stop (closing connections) and forget. */
  remove(name: string): void {
    const proxy = this.get(name);
    proxy.stop();
    this.proxies.delete(name);
  }

  /** E12: enable every proxy and drop every toxic (compat §5.6). */
  async reset(): Promise<void> {
    for (const proxy of this.proxies.values()) {
      if (!proxy.enabled) await proxy.start();
      proxy.removeAllToxics();
    }
  }

  /** Stops every proxy; used at shutdown. */
  closeAll(): void {
    for (const proxy of this.proxies.values()) proxy.stop();
  }

  listToxics(proxyName: string): object[] {
    return this.get(proxyName).allToxics().map(toxicJson);
  }

  getToxic(proxyName: string, toxicName: string): ToxicSpec {
    const toxic = this.get(proxyName).findToxic(toxicName);
    if (toxic === undefined) throw new ApiError(404, 'toxic not found');
    return toxic;
  }

  /** E8, with the checks in the order that decides which error wins (compat §4). */
  addToxic(proxyName: string, body: unknown): ToxicSpec {
    const proxy = this.get(proxyName);
    const object = asObject(body, 'toxics.ToxicWrapper');
    const name = stringField(object, 'name', 'ToxicWrapper', '');
    const type = stringField(object, 'type', 'ToxicWrapper', '');
    const stream = has(object, 'stream') ? stringField(object, 'stream', 'ToxicWrapper', '') : 'downstream';
    const toxicity = floatField(object, 'toxicity', 'ToxicWrapper', 1);
    const direction = parseDirection(stream);
    const toxicName = name === '' ? `${type}_${stream}` : name;
    if (!isToxicType(type)) throw new ApiError(400, 'invalid toxic type');
    if (proxy.findToxic(toxicName) !== undefined) throw new ApiError(409, 'toxic already exists');
    const attributes = decodeAttributes(type, field(object, 'attributes'), {});
    const spec: ToxicSpec = { name: toxicName, type, stream, direction, toxicity, attributes };
    proxy.addToxic(spec);
    return spec;
  }

  /** E10: attributes merge into the current ones; toxicity changes only when sent (compat §4). */
  updateToxic(proxyName: string, toxicName: string, body: unknown): ToxicSpec {
    const proxy = this.get(proxyName);
    const current = this.getToxic(proxyName, toxicName);
    const object = asObject(body, 'toxics.ToxicWrapper');
    const toxicity = floatField(object, 'toxicity', 'ToxicWrapper', current.toxicity);
    const attributes = decodeAttributes(current.type, field(object, 'attributes'), current.attributes);
    const spec: ToxicSpec = { ...current, toxicity, attributes };
    proxy.updateToxic(spec);
    return spec;
  }

  removeToxic(proxyName: string, toxicName: string): void {
    const proxy = this.get(proxyName);
    proxy.removeToxic(this.getToxic(proxyName, toxicName));
  }

  private decodeProxy(object: JsonObject): { name: string; listen: string; upstream: string; enabled: boolean } {
    return {
      name: stringField(object, 'name', 'Proxy', ''),
      listen: stringField(object, 'listen', 'Proxy', ''),
      upstream: stringField(object, 'upstream', 'Proxy', ''),
      enabled: boolField(object, 'enabled', 'Proxy', true),
    };
  }
}
