/**
 * Bring your own node: `--system exec --node-cmd TEMPLATE` starts each member from a command template, run by
 * `/bin/sh -c` in a process group of its own (so kill, pause and stop reach whatever the command starts). The node
 * must serve raftlab's client API (docs/kv-api.md); `/status` is optional and enables leader-aware faults.
 *
 * Placeholders, each replaced by a shell-quoted value:
 *   {id}     the member's id: n1 .. nN
 *   {port}   its client and peer port on 127.0.0.1
 *   {peers}  comma-separated `id=url` of every member, as THIS member must reach it (through the per-link proxies
 *            when proxied; its own entry is its own address)
 *   {data}   its data directory (kept across restarts)
 */
import { repoRoot } from '../../lib/repo.ts';
import { RaftlabClient, type ClientAdapter } from '../../workloads/client.ts';
import { RetryClient } from '../../workloads/retry-client.ts';
import {
  ProcessCluster,
  type MemberLaunch,
  type MemberPlacement,
  type ProcessClusterOptions,
} from './process-cluster.ts';
import type { ClientOptions } from './system.ts';

/** Options of a user-supplied node. */
export interface ExecSystemOptions extends ProcessClusterOptions {
  /** The command template, e.g. `node examples/naive-kv.mjs --port {port}`. */
  nodeCmd: string;
}

const PLACEHOLDERS = ['id', 'port', 'peers', 'data'] as const;

/** Quotes a value for `/bin/sh` (single quotes; an embedded single quote is closed, escaped and reopened). */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** Checks a template: it must name {port}; unknown placeholders are an error (a typo would start a broken node). */
export function validateNodeCommand(template: string): void {
  if (template.trim() === '') throw new Error('--node-cmd is empty');
  const unknown = [...template.matchAll(/\{([a-z]+)\}/g)]
    .map((m) => m[1] as string)
    .filter((name) => !(PLACEHOLDERS as readonly string[]).includes(name));
  if (unknown.length > 0) {
    throw new Error(
      `--node-cmd has unknown placeholder(s) ${unknown.map((u) => `{${u}}`).join(', ')}; use {id}, {port}, {peers}, {data}`,
    );
  }
  if (!template.includes('{port}')) throw new Error('--node-cmd must contain {port}: each member needs its own port');
}

/** Fills a template for one member. */
export function renderNodeCommand(template: string, placement: MemberPlacement): string {
  const peers = Object.entries({ ...placement.peers, [placement.id]: `http://127.0.0.1:${placement.port}` })
    .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
    .map(([id, url]) => `${id}=${url}`)
    .join(',');
  const values: Record<(typeof PLACEHOLDERS)[number], string> = {
    id: placement.id,
    port: String(placement.port),
    peers,
    data: placement.dataDir,
  };
  return template.replace(/\{(id|port|peers|data)\}/g, (_, name: (typeof PLACEHOLDERS)[number]) =>
    shellQuote(values[name]),
  );
}

/** Any node that serves raftlab's client API, started from a command template. */
export class ExecSystem extends ProcessCluster {
  readonly name = 'exec';
  declare readonly options: ExecSystemOptions;

  /** Refuses a template with unknown placeholders or without {port}. */
  constructor(options: ExecSystemOptions) {
    validateNodeCommand(options.nodeCmd);
    super(options);
  }

  protected launch(placement: MemberPlacement): MemberLaunch {
    return {
      command: '/bin/sh',
      args: ['-c', renderNodeCommand(this.options.nodeCmd, placement)],
      cwd: repoRoot,
      processGroup: true,
    };
  }

  /** The template is the closest thing to a version a user-supplied node has. */
  version(): string {
    return `node-cmd: ${this.options.nodeCmd}`;
  }

  protected override membershipGap(): string {
    return 'a node started from --node-cmd speaks the KV API of docs/kv-api.md, which has no membership requests';
  }

  createClient(options: ClientOptions): ClientAdapter {
    const client = new RaftlabClient({ urls: this.clientUrls(), timeoutMs: options.timeoutMs });
    // Resending only helps a node that implements client sessions (docs/kv-api.md); without them it is unsafe.
    return options.retry > 0 ? new RetryClient(client, { retries: options.retry, nodes: this.ids }) : client;
  }
}
