// Real processes: the admin API (GET/POST/DELETE /members) on a 3-node cluster that grows to 4 and shrinks.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { eventually, http, leaderOf, type Reply } from './http-test-helpers.ts';
import { LocalCluster } from './local-cluster.ts';

interface MembersBody {
  leader: string | null;
  term: number;
  configIndex: number;
  pending: boolean;
  members: { id: string; url: string; role: 'voter' | 'learner'; matchIndex: number | null }[];
}

const root = mkdtempSync(join(tmpdir(), 'raftlab-members-proc-'));
after(() => rmSync(root, { recursive: true, force: true }));

function roles(body: MembersBody): Record<string, string> {
  return Object.fromEntries(body.members.map((m) => [m.id, m.role]));
}

async function members(cluster: LocalCluster, via: string): Promise<MembersBody> {
  const r = await http(`${cluster.url(via)}/members`, 'GET');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as unknown as MembersBody;
}

async function statusOf(cluster: LocalCluster, id: string): Promise<Record<string, unknown>> {
  return (await http(`${cluster.url(id)}/status`, 'GET')).body;
}

/** Retries a change while the leader is not ready yet (409 not-ready, 503 no leader); returns the final answer. */
async function change(
  cluster: LocalCluster,
  via: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<Reply> {
  return eventually(`${method} ${path}`, async () => {
    const r = await http(`${cluster.url(via)}${path}`, method, body === undefined ? undefined : JSON.stringify(body));
    if (r.status === 409 && r.body.error === 'not-ready') return undefined;
    if (r.status === 503 && (r.body.error === 'no-leader' || r.body.error === 'not-leader')) return undefined;
    return r;
  });
}

/** Four node processes, n1-n3 the bootstrap voters and n4 a non-member. */
function startFourOfThree(name: string, options: { requestTimeoutMs: number; bug?: string }): Promise<LocalCluster> {
  return LocalCluster.start({ nodes: 4, initialMembers: 3, dataDir: join(root, name), ...options });
}

describe('admin API on real processes', { timeout: 120_000 }, () => {
  test('grow 3 -> 4 through a follower, refuse bad and overlapping changes, remove a follower and the leader', async () => {
    const cluster = await startFourOfThree('grow', { requestTimeoutMs: 3000 });
    try {
      const bootstrap = ['n1', 'n2', 'n3'];
      const leader = await leaderOf(cluster, bootstrap);
      const follower = bootstrap.find((id) => id !== leader)!;

      // n4 runs but is no member: it never campaigns and knows the bootstrap configuration.
      const n4Status = await statusOf(cluster, 'n4');
      assert.equal(n4Status.role, 'follower');
      assert.equal(n4Status.term, 0);
      assert.deepEqual(n4Status.configuration, { index: 0, voters: bootstrap, learners: [] });

      for (let i = 0; i < 5; i++) {
        const put = await http(`${cluster.url(leader)}/kv/k${i}`, 'PUT', JSON.stringify({ value: i }));
        assert.equal(put.status, 200);
      }

      // GET /members through a follower is the leader's view, with match indexes.
      const before = await members(cluster, follower);
      assert.equal(before.leader, leader);
      assert.deepEqual(roles(before), { n1: 'voter', n2: 'voter', n3: 'voter' });
      assert.equal(before.pending, false);
      for (const m of before.members) assert.equal(typeof m.matchIndex, 'number', m.id);

      // Malformed input and wrong answers are 4xx and change nothing.
      const bad = [
        await http(`${cluster.url(leader)}/members`, 'POST', '{"url":"http://127.0.0.1:1"}'),
        await http(`${cluster.url(leader)}/members`, 'POST', '{"id":"n 5","url":"http://127.0.0.1:1"}'),
        await http(`${cluster.url(leader)}/members`, 'POST', '{"id":"n5","url":"ftp://127.0.0.1:1"}'),
        await http(`${cluster.url(leader)}/members`, 'POST', 'not json'),
      ];
      for (const r of bad) assert.equal(r.status, 400, JSON.stringify(r.body));
      const dup = await change(cluster, leader, 'POST', '/members', { id: follower, url: cluster.url(follower) });
      assert.equal(dup.status, 409);
      assert.equal(dup.body.error, 'duplicate');
      const unknown = await change(cluster, follower, 'DELETE', '/members/n9');
      assert.equal(unknown.status, 404);
      assert.equal((await http(`${cluster.url(leader)}/members`, 'PUT', '{}')).status, 405);
      assert.equal((await members(cluster, leader)).configIndex, before.configIndex, 'nothing changed');

      // Add n4 through a follower: answered once it is a voter.
      const added = await change(cluster, follower, 'POST', '/members', { id: 'n4', url: cluster.url('n4') });
      assert.equal(added.status, 200, JSON.stringify(added.body));
      const grown = added.body as unknown as MembersBody;
      assert.deepEqual(roles(grown), { n1: 'voter', n2: 'voter', n3: 'voter', n4: 'voter' });
      assert.equal(grown.members.find((m) => m.id === 'n4')?.url, cluster.url('n4'));
      assert.ok(grown.configIndex > before.configIndex);
      const n4Read = await eventually('n4 applied the data written before it joined', async () => {
        const r = await http(`${cluster.url('n4')}/kv/k4?stale=true`, 'GET');
        return r.body.found === true ? r : undefined;
      });
      assert.equal(n4Read.body.value, 4);
      const n4Config = (await statusOf(cluster, 'n4')).configuration as { voters: string[] };
      assert.deepEqual(n4Config.voters, ['n1', 'n2', 'n3', 'n4']);

      // Overlapping changes: with two voters stopped, removing a third leaves the new configuration
      // without a majority, so the removal stays pending and a second change is refused.
      const others = ['n1', 'n2', 'n3', 'n4'].filter((id) => id !== leader);
      const [stoppedA, stoppedB, removed] = others as [string, string, string];
      cluster.pause(stoppedA);
      cluster.pause(stoppedB);
      const removal = http(`${cluster.url(leader)}/members/${removed}`, 'DELETE');
      await eventually('the removal pending on the leader', async () =>
        (await members(cluster, leader)).pending ? true : undefined,
      );
      const second = await http(`${cluster.url(leader)}/members/${stoppedA}`, 'DELETE');
      assert.equal(second.status, 409);
      assert.equal(second.body.error, 'change pending');
      cluster.resume(stoppedA);
      cluster.resume(stoppedB);
      const removalAnswer = await removal;
      // Committed before or after the request timeout: 200, or 504 "unknown" (then seen committed below).
      assert.ok([200, 504].includes(removalAnswer.status), JSON.stringify(removalAnswer.body));
      const shrunk = await eventually('the removal committed', async () => {
        const m = await members(cluster, leader);
        return !m.pending && !m.members.some((x) => x.id === removed) ? m : undefined;
      });
      assert.deepEqual(Object.keys(roles(shrunk)).sort(), [leader, stoppedA, stoppedB].sort());

      // Remove the leader: answered once committed, then it steps down and the other two elect a leader.
      const removeLeader = await change(cluster, leader, 'DELETE', `/members/${leader}`);
      assert.equal(removeLeader.status, 200, JSON.stringify(removeLeader.body));
      const remaining = [stoppedA, stoppedB];
      const next = await leaderOf(cluster, remaining);
      assert.ok(remaining.includes(next));
      const old = await statusOf(cluster, leader);
      assert.notEqual(old.role, 'leader');
      assert.deepEqual((old.configuration as { voters: string[] }).voters, remaining.sort());
      const final = await members(cluster, next);
      assert.deepEqual(Object.keys(roles(final)).sort(), remaining.sort());
      const last = await change(cluster, next, 'DELETE', `/members/${remaining.find((id) => id !== next)}`);
      assert.equal(last.status, 200);
      const refused = await http(`${cluster.url(next)}/members/${next}`, 'DELETE');
      assert.equal(refused.status, 409);
      assert.equal(refused.body.error, 'last-voter');
    } finally {
      await cluster.stop();
    }
  });

  test('the planted bug config-overlap accepts a second change while the first is pending', async () => {
    const cluster = await startFourOfThree('bug', { requestTimeoutMs: 1500, bug: 'config-overlap' });
    try {
      const leader = await leaderOf(cluster, ['n1', 'n2', 'n3']);
      const [a, b] = ['n1', 'n2', 'n3'].filter((id) => id !== leader) as [string, string];
      const added = await change(cluster, leader, 'POST', '/members', { id: 'n4', url: cluster.url('n4') });
      assert.ok([200, 202].includes(added.status), JSON.stringify(added.body));
      // With a and b stopped, removing n4 (voter or still learner) leaves voters {leader, a, b}: no majority
      // runs, so the removal stays uncommitted.
      cluster.pause(a);
      cluster.pause(b);
      const first = http(`${cluster.url(leader)}/members/n4`, 'DELETE');
      await eventually('the first change pending', async () =>
        (await members(cluster, leader)).pending ? true : undefined,
      );
      const second = await http(`${cluster.url(leader)}/members/${a}`, 'DELETE');
      assert.notEqual(second.status, 409, 'the correct node answers 409 change pending here');
      const view = await members(cluster, leader);
      assert.deepEqual(
        view.members.map((m) => m.id),
        [leader, b].sort(),
        'both removals are in the log, one on top of the other',
      );
      cluster.resume(a);
      cluster.resume(b);
      await first;
    } finally {
      await cluster.stop();
    }
  });
});
