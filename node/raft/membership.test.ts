/** Cluster membership changes (thesis chapter 4): single-server changes through learners. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TestNetwork, drain, makeNode, memberUrl, readyMessages } from './testing/network.ts';
import { bootstrapConfiguration, encodeConfiguration } from './configuration.ts';
import type { Entry, NodeId, RawNode } from './index.ts';

const FIVE = ['n1', 'n2', 'n3', 'n4', 'n5'];

/** Five ids, n1..n3 the bootstrap voters, n4/n5 non-members until added. */
function growable(options: { autoPromote?: boolean; seed?: number } = {}): TestNetwork {
  return new TestNetwork(FIVE, { initialMembers: ['n1', 'n2', 'n3'], ...options });
}

function config(node: RawNode): { voters: NodeId[]; learners: NodeId[] } {
  const { voters, learners } = node.status().configuration;
  return { voters, learners };
}

function proposeN(net: TestNetwork, leader: NodeId, n: number, prefix = 'w'): void {
  for (let i = 0; i < n; i++) assert.equal(net.node(leader).propose(`${prefix}${i}`).ok, true);
  net.settle();
}

/** Ticks every node until `done` holds (bounded). */
function tickUntil(net: TestNetwork, done: () => boolean, maxTicks = 300): void {
  for (let t = 0; t < maxTicks && !done(); t++) net.tickAll();
  assert.ok(done(), `condition not reached within ${maxTicks} ticks`);
}

describe('learners (thesis §4.2.1)', () => {
  it('a learner receives the log but counts in no quorum and never campaigns', () => {
    const net = growable({ autoPromote: false });
    const leader = net.electLeader();
    proposeN(net, leader, 3);
    const added = net.node(leader).proposeConfChange({ type: 'add-learner', id: 'n4', url: memberUrl('n4') });
    assert.equal(added.ok, true);
    net.settle();
    for (const id of ['n1', 'n2', 'n3', 'n4'])
      assert.deepEqual(config(net.node(id)), { voters: ['n1', 'n2', 'n3'], learners: ['n4'] }, id);
    assert.equal(net.node('n4').status().commitIndex, net.node(leader).status().lastIndex);
    assert.deepEqual(net.appliedData('n4'), ['w0', 'w1', 'w2']);
    const n4Progress = net
      .node(leader)
      .memberProgress()
      .find((m) => m.id === 'n4');
    assert.equal(n4Progress?.matchIndex, net.node(leader).status().lastIndex);
    assert.equal(n4Progress?.role, 'learner');
    assert.equal(n4Progress?.url, memberUrl('n4'));

    // Leader + learner are not a majority of the three voters: nothing commits.
    const others = ['n1', 'n2', 'n3'].filter((id) => id !== leader);
    for (const id of others) net.isolate(id);
    const before = net.node(leader).status().commitIndex;
    net.node(leader).propose('lost-quorum');
    net.tickAll(3);
    assert.equal(net.node(leader).status().commitIndex, before);
    assert.equal(net.node('n4').status().lastIndex, before + 1, 'the learner still receives the entry');

    // A learner never campaigns, however long it hears nothing.
    net.heal();
    net.isolate('n4');
    const termBefore = net.node('n4').status().term;
    net.tickAll(200);
    assert.equal(net.node('n4').status().term, termBefore);
    assert.equal(net.node('n4').status().role, 'follower');
    assert.equal(
      net.sent.some((m) => m.from === 'n4' && m.type === 'vote-request'),
      false,
    );
  });

  it('a learner that needs a snapshot catches up through InstallSnapshot and is then promoted', () => {
    const net = growable();
    const leader = net.electLeader();
    proposeN(net, leader, 20);
    net.compact(leader);
    proposeN(net, leader, 2, 'after');
    assert.ok(net.node(leader).status().snapshotIndex > 0);
    assert.equal(net.node(leader).proposeConfChange({ type: 'add-learner', id: 'n4', url: memberUrl('n4') }).ok, true);
    tickUntil(net, () => config(net.node(leader)).voters.includes('n4'));
    net.tickAll(2);
    assert.ok(
      net.sent.some((m) => m.type === 'snapshot-request' && m.to === 'n4'),
      'n4 got the compacted prefix as a snapshot',
    );
    for (const id of ['n1', 'n2', 'n3', 'n4'])
      assert.deepEqual(config(net.node(id)), { voters: ['n1', 'n2', 'n3', 'n4'], learners: [] }, id);
    assert.equal(net.node(leader).hasPendingConfChange(), false, 'the promotion committed');
    assert.deepEqual(net.appliedData('n4').slice(-2), ['after0', 'after1']);
    // The snapshot n4 installed carried the configuration at its index.
    assert.deepEqual(
      net.storage.get('n4')!.snapshot?.meta.config?.members.map((m) => m.id),
      ['n1', 'n2', 'n3'],
    );
  });

  it('promotion waits until the learner caught up, then makes it count: 3 of 4 voters needed', () => {
    const net = growable();
    const leader = net.electLeader();
    proposeN(net, leader, 5);
    net.isolate('n4');
    assert.equal(net.node(leader).proposeConfChange({ type: 'add-learner', id: 'n4', url: memberUrl('n4') }).ok, true);
    net.tickAll(30);
    assert.deepEqual(config(net.node(leader)).learners, ['n4'], 'not promoted while it cannot catch up');
    net.heal();
    tickUntil(net, () => config(net.node(leader)).voters.includes('n4') && !net.node(leader).hasPendingConfChange());
    // Now four voters: leader + one follower is not a majority.
    const follower = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    for (const id of ['n1', 'n2', 'n3', 'n4']) if (id !== leader && id !== follower) net.isolate(id);
    const before = net.node(leader).status().commitIndex;
    net.node(leader).propose('needs-three');
    net.tickAll(3);
    assert.equal(net.node(leader).status().commitIndex, before);
  });
});

describe('removing servers (thesis §4.1, §4.2.2)', () => {
  it('a removed follower stops counting: the two remaining voters commit alone', () => {
    const net = growable();
    const leader = net.electLeader();
    const victim = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    const survivor = ['n1', 'n2', 'n3'].find((id) => id !== leader && id !== victim)!;
    assert.equal(net.node(leader).proposeConfChange({ type: 'remove', id: victim }).ok, true);
    net.settle();
    assert.equal(net.node(leader).hasPendingConfChange(), false);
    assert.deepEqual(config(net.node(survivor)).voters, [leader, survivor].sort());
    const sentToVictim = net.sent.filter((m) => m.to === victim).length;
    net.tickAll(20);
    assert.equal(net.sent.filter((m) => m.to === victim).length, sentToVictim, 'no traffic to a removed server');
    // The victim got the entry and then the commit index: it knows its removal is final and never campaigns.
    const victimStatus = net.node(victim).status();
    assert.deepEqual(victimStatus.configuration.voters, [leader, survivor].sort());
    assert.ok(victimStatus.commitIndex >= victimStatus.configuration.index);
    const sentBefore = net.sent.length;
    net.tickAll(100);
    assert.equal(
      net.sent.slice(sentBefore).some((m) => m.from === victim),
      false,
    );
    net.isolate(survivor);
    const before = net.node(leader).status().commitIndex;
    net.node(leader).propose('x');
    net.tickAll(2);
    assert.equal(net.node(leader).status().commitIndex, before, 'one of two voters is no majority');
  });

  it('a leader elected while a removal is uncommitted still tells the removed server, which then stays quiet', () => {
    const ids = ['n1', 'n2', 'n3', 'n4', 'n5'];
    const net = new TestNetwork(ids, { seed: 11 });
    const leader = net.electLeader();
    const [victim, lagging, ...rest] = ids.filter((id) => id !== leader) as [NodeId, NodeId, NodeId, NodeId];
    net.cutLink(leader, victim);
    net.cutLink(leader, lagging);
    // The removal reaches the leader and two others, and none of their acks comes back: uncommitted.
    for (const id of rest) net.cutLink(id, leader);
    assert.equal(net.node(leader).proposeConfChange({ type: 'remove', id: victim }).ok, true);
    net.settle();
    assert.equal(net.node(leader).hasPendingConfChange(), true);
    net.heal();
    net.isolate(leader);
    const next = rest[0];
    net.campaign(next);
    tickUntil(net, () => rest.some((id) => net.node(id).status().role === 'leader'));
    const newLeader = rest.find((id) => net.node(id).status().role === 'leader')!;
    tickUntil(net, () => !net.node(newLeader).hasPendingConfChange());
    net.tickAll(3);
    const v = net.node(victim).status();
    assert.ok(!v.configuration.voters.includes(victim), 'the victim holds the configuration that removed it');
    assert.ok(v.commitIndex >= v.configuration.index, 'and knows it committed');
    const sentBefore = net.sent.length;
    net.tickAll(100);
    assert.equal(
      net.sent.slice(sentBefore).some((m) => m.from === victim && m.type === 'vote-request'),
      false,
    );
  });

  it('a server removed by an uncommitted change still campaigns, so the change can commit (thesis §4.2.2)', () => {
    // Two voters; the leader removes itself, only it holds the entry, and it restarts before the change commits.
    const net = new TestNetwork(['n1', 'n2'], { seed: 3 });
    const leader = net.electLeader();
    const other = leader === 'n1' ? 'n2' : 'n1';
    net.cutLink(leader, other);
    assert.equal(net.node(leader).proposeConfChange({ type: 'remove', id: leader }).ok, true);
    net.settle();
    net.start(leader);
    assert.deepEqual(config(net.node(leader)).voters, [other], 'it knows it is removed, not that it is final');
    assert.ok(net.node(leader).status().configuration.index > net.node(leader).status().commitIndex);
    net.heal();
    // The other voter lacks the entry and cannot win against the longer log; only the removed server can
    // commit the change (counting the other's vote, not its own), after which the other leads alone.
    tickUntil(net, () => net.node(other).status().role === 'leader');
    assert.deepEqual(config(net.node(other)).voters, [other]);
    assert.equal(net.node(other).hasPendingConfChange(), false);
    assert.ok(
      net.sent.some((m) => m.from === leader && m.type === 'vote-request' && !m.preVote),
      'the removed server campaigned',
    );
  });

  it('a leader that removes itself leads until the change commits, then steps down and never campaigns', () => {
    const net = growable();
    const leader = net.electLeader();
    const term = net.node(leader).status().term;
    const others = ['n1', 'n2', 'n3'].filter((id) => id !== leader);
    for (const id of others) net.cutLink(leader, id);
    assert.equal(net.node(leader).proposeConfChange({ type: 'remove', id: leader }).ok, true);
    net.settle();
    assert.equal(net.node(leader).status().role, 'leader', 'still leads while the removal is uncommitted');
    assert.deepEqual(config(net.node(leader)).voters, others);
    net.heal();
    tickUntil(net, () => !net.node(leader).hasPendingConfChange());
    assert.equal(net.node(leader).status().role, 'follower', 'stepped down once committed');
    const next = net.electLeader();
    assert.ok(others.includes(next));
    assert.ok(net.node(next).status().term > term);
    const old = net.node(leader);
    assert.equal(old.status().role, 'follower');
    const sentBefore = net.sent.length;
    net.tickAll(100);
    assert.equal(
      net.sent.slice(sentBefore).some((m) => m.from === leader && m.type === 'vote-request'),
      false,
      'the removed server never campaigns',
    );
    assert.equal(net.node(next).proposeConfChange({ type: 'remove', id: others.find((id) => id !== next)! }).ok, true);
    net.settle();
    assert.deepEqual(config(net.node(next)).voters, [next]);
    assert.deepEqual(net.node(next).proposeConfChange({ type: 'remove', id: next }), {
      ok: false,
      reason: 'last-voter',
    });
  });

  it('removing an unknown id or adding a member twice is refused', () => {
    const net = growable();
    const leader = net.electLeader();
    assert.deepEqual(net.node(leader).proposeConfChange({ type: 'remove', id: 'n9' }), {
      ok: false,
      reason: 'unknown-member',
    });
    assert.deepEqual(net.node(leader).proposeConfChange({ type: 'add-learner', id: 'n2', url: 'x' }), {
      ok: false,
      reason: 'duplicate',
    });
    assert.deepEqual(net.node(leader).proposeConfChange({ type: 'promote', id: 'n2' }), {
      ok: false,
      reason: 'not-learner',
    });
  });
});

describe('one change at a time (thesis §4.1)', () => {
  it('a second change is refused while the first is uncommitted', () => {
    const net = growable({ autoPromote: false });
    const leader = net.electLeader();
    for (const id of ['n1', 'n2', 'n3']) if (id !== leader) net.cutLink(leader, id);
    assert.equal(net.node(leader).proposeConfChange({ type: 'add-learner', id: 'n4', url: memberUrl('n4') }).ok, true);
    net.settle();
    assert.equal(net.node(leader).hasPendingConfChange(), true);
    assert.deepEqual(net.node(leader).proposeConfChange({ type: 'add-learner', id: 'n5', url: memberUrl('n5') }), {
      ok: false,
      reason: 'change-pending',
    });
    net.heal();
    tickUntil(net, () => !net.node(leader).hasPendingConfChange());
    assert.equal(net.node(leader).proposeConfChange({ type: 'add-learner', id: 'n5', url: memberUrl('n5') }).ok, true);
  });

  it('a new leader starts no change until it has committed an entry of its own term', () => {
    const leader = makeNode('n1', ['n1', 'n2', 'n3'], { preVote: false });
    for (let t = 0; t < 100 && leader.status().role !== 'candidate'; t++) leader.tick();
    const term = leader.status().term;
    drain(leader);
    leader.step({ type: 'vote-response', from: 'n2', to: 'n1', term, preVote: false, granted: true });
    assert.equal(leader.status().role, 'leader');
    const ready = drain(leader); // persists the §8 no-op
    const noop = readyMessages(ready, 'append-request').find((m) => m.to === 'n2')!;
    assert.deepEqual(leader.proposeConfChange({ type: 'add-learner', id: 'n4', url: 'u' }), {
      ok: false,
      reason: 'term-not-committed',
    });
    leader.step({
      type: 'append-response',
      from: 'n2',
      to: 'n1',
      term,
      success: true,
      matchIndex: noop.prevLogIndex + noop.entries.length,
      conflictIndex: 0,
      conflictTerm: 0,
    });
    assert.equal(leader.status().commitIndex, 1);
    assert.equal(leader.proposeConfChange({ type: 'add-learner', id: 'n4', url: 'u' }).ok, true);
  });

  it('the planted bug config-overlap starts a second change at once and skips the own-term rule', () => {
    const leader = makeNode('n1', ['n1', 'n2', 'n3'], { preVote: false, plantedBugs: ['config-overlap'] });
    for (let t = 0; t < 100 && leader.status().role !== 'candidate'; t++) leader.tick();
    const term = leader.status().term;
    drain(leader);
    leader.step({ type: 'vote-response', from: 'n2', to: 'n1', term, preVote: false, granted: true });
    drain(leader);
    assert.equal(leader.proposeConfChange({ type: 'add-learner', id: 'n4', url: 'u' }).ok, true);
    assert.equal(leader.proposeConfChange({ type: 'add-learner', id: 'n5', url: 'u' }).ok, true);
    assert.equal(leader.proposeConfChange({ type: 'promote', id: 'n4' }).ok, true);
    assert.deepEqual(leader.status().configuration.voters, ['n1', 'n2', 'n3', 'n4']);
  });
});

describe('the configuration is durable (thesis §4.1, §5.1)', () => {
  it('survives a restart from the log and from a snapshot', () => {
    const net = growable();
    const leader = net.electLeader();
    assert.equal(net.node(leader).proposeConfChange({ type: 'add-learner', id: 'n4', url: memberUrl('n4') }).ok, true);
    tickUntil(net, () => config(net.node(leader)).voters.includes('n4') && !net.node(leader).hasPendingConfChange());
    const follower = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    const expected = { voters: ['n1', 'n2', 'n3', 'n4'], learners: [] };
    const index = net.node(follower).status().configuration.index;
    // From the log only.
    net.start(follower);
    assert.deepEqual(config(net.node(follower)), expected);
    assert.equal(net.node(follower).status().configuration.index, index);
    // From a snapshot that covers the configuration entries.
    net.tickAll(2);
    proposeN(net, leader, 3);
    net.compact(follower);
    assert.equal(
      net.storage.get(follower)!.entries.some((e) => e.kind === 'config'),
      false,
    );
    net.start(follower);
    assert.deepEqual(config(net.node(follower)), expected);
    assert.deepEqual(
      net
        .node(follower)
        .configurationAt(net.node(follower).status().snapshotIndex)
        .members.map((m) => m.url),
      ['n1', 'n2', 'n3', 'n4'].map(memberUrl),
    );
  });

  it('a configuration entry truncated away by a new leader is rolled back (the latest in the log counts)', () => {
    const follower = makeNode('n2', ['n1', 'n2', 'n3']);
    const appendFirst = (from: NodeId, entry: Entry): void =>
      follower.step({
        type: 'append-request',
        from,
        to: 'n2',
        term: entry.term,
        prevLogIndex: 0,
        prevLogTerm: 0,
        entries: [entry],
        commit: 0,
      });
    const removeN3 = encodeConfiguration(bootstrapConfiguration(['n1', 'n2']));
    appendFirst('n1', { index: 1, term: 1, kind: 'config', data: removeN3 });
    assert.deepEqual(follower.status().configuration, { index: 1, voters: ['n1', 'n2'], learners: [] });
    // A leader of term 2 that never had the entry overwrites index 1 (§5.3).
    appendFirst('n3', { index: 1, term: 2, kind: 'empty', data: '' });
    assert.deepEqual(follower.status().configuration, { index: 0, voters: ['n1', 'n2', 'n3'], learners: [] });
  });
});

describe('non-members and removed servers cannot disrupt (thesis §4.2.3)', () => {
  it('a node outside the bootstrap configuration never campaigns', () => {
    const net = growable();
    net.electLeader();
    net.tickAll(300);
    for (const id of ['n4', 'n5']) {
      assert.equal(net.node(id).status().term, 0);
      assert.equal(net.node(id).status().role, 'follower');
      assert.deepEqual(config(net.node(id)).voters, ['n1', 'n2', 'n3']);
    }
    assert.equal(
      net.sent.some((m) => (m.from === 'n4' || m.from === 'n5') && m.type === 'vote-request'),
      false,
    );
  });

  /** Removes a follower that never hears of its removal, then lets it time out and campaign. */
  function removedServerCampaigns(options: { preVote: boolean; checkQuorum: boolean }): {
    termBefore: number;
    termAfter: number;
    leaderBefore: NodeId;
    leaderAfter: NodeId | null;
    victimCampaigned: boolean;
  } {
    const net = new TestNetwork(['n1', 'n2', 'n3'], { ...options, seed: 7 });
    const leaderBefore = net.electLeader();
    const victim = ['n1', 'n2', 'n3'].find((id) => id !== leaderBefore)!;
    net.cutLink(leaderBefore, victim);
    assert.equal(net.node(leaderBefore).proposeConfChange({ type: 'remove', id: victim }).ok, true);
    net.settle();
    assert.equal(net.node(leaderBefore).hasPendingConfChange(), false);
    assert.ok(config(net.node(victim)).voters.includes(victim), 'the victim does not know it was removed');
    const termBefore = net.node(leaderBefore).status().term;
    net.heal();
    const sentBefore = net.sent.length;
    // The leader no longer sends to the victim, so it times out again and again.
    net.tickAll(200);
    const victimCampaigned = net.sent.slice(sentBefore).some((m) => m.from === victim && m.type === 'vote-request');
    const survivors = ['n1', 'n2', 'n3'].filter((id) => id !== victim);
    const leaderAfter = survivors.find((id) => net.node(id).status().role === 'leader') ?? null;
    const termAfter = Math.max(...survivors.map((id) => net.node(id).status().term));
    return { termBefore, termAfter, leaderBefore, leaderAfter, victimCampaigned };
  }

  it('with PreVote and CheckQuorum a removed server campaigns but never bumps the cluster term', () => {
    const r = removedServerCampaigns({ preVote: true, checkQuorum: true });
    assert.equal(r.victimCampaigned, true);
    assert.equal(r.termAfter, r.termBefore);
    assert.equal(r.leaderAfter, r.leaderBefore);
  });

  it('without them the same removed server does disrupt (so the guard above is what helps)', () => {
    const r = removedServerCampaigns({ preVote: false, checkQuorum: false });
    assert.equal(r.victimCampaigned, true);
    assert.ok(r.termAfter > r.termBefore, `term ${r.termBefore} -> ${r.termAfter}`);
  });
});
