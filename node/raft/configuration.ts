import type { ConfChange, Configuration, Member, NodeId } from './types.ts';

/**
 * Cluster configurations (thesis §4): encoding into a `config` log entry,
 * and the single-server changes that move from one to the next.
 */

/** The bootstrap configuration: every listed id a voter. */
export function bootstrapConfiguration(
  voters: readonly NodeId[],
  urls: Readonly<Record<NodeId, string>> = {},
): Configuration {
  return sortMembers([...new Set(voters)].map((id) => ({ id, url: urls[id] ?? '', role: 'voter' as const })));
}

/** The data of a `config` entry: the whole configuration, so a server needs no earlier entry to know it. */
export function encodeConfiguration(configuration: Configuration): string {
  return JSON.stringify({
    members: configuration.members.map((m) => ({ id: m.id, url: m.url, role: m.role })),
  });
}

/** Parses a `config` entry's data; throws on anything that is not a configuration with at least one voter. */
export function decodeConfiguration(data: string): Configuration {
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    throw new Error(`configuration entry is not JSON: ${data.slice(0, 80)}`);
  }
  const members = (raw as { members?: unknown } | null)?.members;
  if (!Array.isArray(members)) throw new Error('configuration entry lacks "members"');
  const out: Member[] = [];
  const seen = new Set<string>();
  for (const m of members as unknown[]) {
    const o = m as Record<string, unknown> | null;
    if (
      o === null ||
      typeof o !== 'object' ||
      typeof o.id !== 'string' ||
      o.id.length === 0 ||
      typeof o.url !== 'string' ||
      (o.role !== 'voter' && o.role !== 'learner')
    )
      throw new Error(`configuration entry has a bad member ${JSON.stringify(m)}`);
    if (seen.has(o.id)) throw new Error(`configuration entry names ${o.id} twice`);
    seen.add(o.id);
    out.push({ id: o.id, url: o.url, role: o.role });
  }
  const configuration = sortMembers(out);
  if (voterIds(configuration).length === 0) throw new Error('configuration entry has no voter');
  return configuration;
}

export function voterIds(configuration: Configuration): NodeId[] {
  return configuration.members.filter((m) => m.role === 'voter').map((m) => m.id);
}

export function learnerIds(configuration: Configuration): NodeId[] {
  return configuration.members.filter((m) => m.role === 'learner').map((m) => m.id);
}

export function findMember(configuration: Configuration, id: NodeId): Member | undefined {
  return configuration.members.find((m) => m.id === id);
}

/** Whether two configurations have the same members with the same roles and urls. */
export function sameConfiguration(a: Configuration, b: Configuration): boolean {
  return encodeConfiguration(a) === encodeConfiguration(b);
}

/**
 * Applies one single-server change (thesis §4.1). Adding goes through a
 * learner first (§4.2.1), so every change moves the set of voters by at most
 * one server and any majority of the old voters overlaps any majority of the
 * new. Returns the refusal reason when the change makes no sense here.
 */
export function applyConfChange(
  configuration: Configuration,
  change: ConfChange,
): Configuration | 'duplicate' | 'unknown-member' | 'not-learner' | 'last-voter' {
  const existing = findMember(configuration, change.id);
  switch (change.type) {
    case 'add-learner':
      if (existing !== undefined) return 'duplicate';
      return sortMembers([...configuration.members, { id: change.id, url: change.url, role: 'learner' }]);
    case 'promote':
      if (existing === undefined) return 'unknown-member';
      if (existing.role !== 'learner') return 'not-learner';
      return sortMembers(configuration.members.map((m) => (m.id === change.id ? { ...m, role: 'voter' as const } : m)));
    case 'remove': {
      if (existing === undefined) return 'unknown-member';
      if (existing.role === 'voter' && voterIds(configuration).length === 1) return 'last-voter';
      return sortMembers(configuration.members.filter((m) => m.id !== change.id));
    }
    default: {
      const never: never = change;
      throw new Error(`unknown configuration change ${JSON.stringify(never)}`);
    }
  }
}

function sortMembers(members: readonly Member[]): Configuration {
  return { members: [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) };
}
