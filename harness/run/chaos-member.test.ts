// A short real-process chaos run with the member nemesis: 5 potential members, 3 at the start; the nemesis grows the
// cluster to 5 and shrinks it back, and removes the leader and adds it back from an empty data directory. The run
// must be linearizable, every change must commit, the harness's view must follow the changes, and the final reads
// must go to the final configuration's members only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { check } from '../../checker/index.ts';
import { repoRoot } from '../../lib/repo.ts';
import { parseJsonLines, type RunEvent } from '../../reports/run-files.ts';
import { runChaos } from './chaos.ts';

test('a member run grows, shrinks and rejoins the leader, stays linearizable, and reads from the final members', async () => {
  const outcome = await runChaos(
    {
      nodes: 5,
      timeS: 14,
      nemesis: ['member'],
      intervalS: 2,
      workload: 'cas-register',
      keys: 4,
      concurrency: 6,
      // Seed 2 plans: add n4,n5 from empty data dirs then remove n1,n2; add n1,n2 back on their old data then
      // remove n3,n5; remove the leader and add it back from an empty data dir (on a loaded machine the first
      // change alone can outlast the run: a change is not cut short by its window).
      seed: 2,
      store: join(repoRoot, 'store'),
      timeoutMs: 1000,
      name: 'test-chaos-member',
      recoveryBoundMs: 30_000,
      checkBudgetMs: 30_000,
    },
    check,
  );
  assert.equal(outcome.exitCode, 0, `${outcome.verdict} ${outcome.error ?? ''} in ${outcome.runDir}`);
  const events = parseJsonLines<RunEvent>(readFileSync(join(outcome.runDir, 'history.jsonl'), 'utf8'), 'history');
  const test = JSON.parse(readFileSync(join(outcome.runDir, 'test.json'), 'utf8')) as {
    cluster: { initialMembers: string[] };
  };
  assert.deepEqual(test.cluster.initialMembers, ['n1', 'n2', 'n3']);
  const changes = events.filter((e) => e.process === 'nemesis' && e.f === 'member-change');
  assert.ok(changes.length >= 4, `at least the first grow and its shrink ran: ${changes.length} changes`);
  for (const change of changes) {
    assert.equal((change.value as { ok: boolean }).ok, true, `change committed: ${JSON.stringify(change)}`);
  }
  // n4 and n5 served clients once they were members; nobody did before they were added.
  const firstAdd = events.indexOf(changes[0] as RunEvent);
  const clientNodes = (list: readonly RunEvent[]): Set<unknown> =>
    new Set(list.filter((e) => typeof e.process === 'number' && e.type === 'invoke').map((e) => e.node));
  assert.ok(!clientNodes(events.slice(0, firstAdd)).has('n4'), 'no client op went to n4 before it was added');
  assert.ok(clientNodes(events.slice(firstAdd)).has('n4'), 'clients used n4 once it was a member');
  // The final reads go to the members of the final configuration.
  const view = events.find((e) => e.f === 'member-view');
  assert.ok(view !== undefined, 'the heal recorded the final configuration');
  const finalMembers = view.value as string[];
  const heal = events.indexOf(view);
  const finalReadNodes = clientNodes(events.slice(heal));
  assert.ok(finalReadNodes.size > 0);
  for (const node of finalReadNodes) assert.ok(finalMembers.includes(node as string), `final read from ${node}`);
  // status.jsonl follows the members and carries each node's configuration.
  const status = readFileSync(join(outcome.runDir, 'status.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.ok(status.some((line) => Array.isArray(line.members) && line.members.includes('n4')));
  const voters = (line: { nodes: Record<string, { configuration?: { voters: string[] } } | null> }): string[][] =>
    Object.values(line.nodes).flatMap((n) => (n?.configuration !== undefined ? [n.configuration.voters] : []));
  assert.ok(
    status.some((line) => voters(line).some((v) => v.includes('n4'))),
    'a node reported n4 as a voter',
  );
  assert.deepEqual(voters(status[status.length - 1])[0], finalMembers, 'the last poll shows the final configuration');
});
