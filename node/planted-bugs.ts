/**
 * Planted bugs: small, realistic mistakes the node can be told to
 * make, so `npm run prove` can show that the chaos suite catches each one and
 * never flags the correct node. A bug is active only when named explicitly
 * with `--bug NAME` or `RAFTLAB_BUG=NAME`; anything else is the correct node.
 *
 * Each bug is a branch at the exact place where the correct code does the
 * right thing (harness/PROVE.md lists where and why).
 */

/** Every bug the node knows, with the one-line mistake it makes. */
export const BUGS = {
  'stale-read':
    'reads are answered from the local state machine of whichever node is asked, without ReadIndex (thesis §6.4)',
  'no-fsync':
    'the WAL acknowledges before its bytes are durable: unsynced writes wait in a user-space buffer that a SIGKILL loses (§5.1 "persistent state")',
  'commit-old-term':
    'the leader commits entries of earlier terms by counting replicas (the Figure 8 error §5.4.2 forbids) and appends no start-of-term no-op (§8)',
  'vote-twice':
    'the vote is not persisted with the term, so a restarted node can vote again in the same term (§5.2, Figure 2)',
  'no-dedup': 'client sessions are ignored, so a retried write applies twice (§8)',
  'fsync-skipped':
    'the WAL writes its records with write() and reports them durable without fdatasync: they survive a SIGKILL in the page cache but not a power loss (§5.1 "persistent state")',
  'lease-without-clock-bound':
    'lease reads (--read-mode lease) are timed in ticks that stall while the process is paused, with no clock-drift bound and no wait after election (thesis §6.4.1)',
  'config-overlap':
    'the leader starts a membership change while another is uncommitted, and before it has committed an entry of its own term, so two changes overlap and two disjoint majorities can exist (thesis §4.1)',
} as const;

/** A planted bug's name. */
export type BugName = keyof typeof BUGS;

/** The valid bug names, in the order of the table. */
export const bugNames = Object.keys(BUGS) as BugName[];

/** Whether `name` is a known bug. */
export function isBugName(name: string): name is BugName {
  return Object.hasOwn(BUGS, name);
}

/**
 * Resolves the active bug from the `--bug` flag and the `RAFTLAB_BUG`
 * environment variable (the flag wins). Returns null (the correct node)
 * unless one of them names a bug; an empty value counts as not given.
 * Throws an error listing the valid names for an unknown one.
 */
export function resolveBug(flag: string | undefined, env: string | undefined): BugName | null {
  const fromFlag = flag?.trim() ?? '';
  const fromEnv = env?.trim() ?? '';
  const chosen = fromFlag !== '' ? fromFlag : fromEnv;
  if (chosen === '') return null;
  if (!isBugName(chosen)) {
    const source = fromFlag !== '' ? '--bug' : 'RAFTLAB_BUG';
    throw new Error(`${source} ${JSON.stringify(chosen)} is not a known bug; valid bugs: ${bugNames.join(', ')}`);
  }
  return chosen;
}

/** The plain warning printed on stderr when a bug is active. */
export function bugWarning(id: string, bug: BugName): string {
  return `WARNING: raftlab node ${id} runs with PLANTED BUG "${bug}": ${BUGS[bug]}. This node is deliberately incorrect (for npm run prove); never use it for data.\n`;
}
