// ReadIndex: linearizable reads without writing to the log (Ongaro's thesis §6.4).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TestNetwork, drain, electByHand, makeNode, readyMessages } from './testing/network.ts';
import type { HeartbeatRequest, NodeId } from './types.ts';

function followersOf(net: TestNetwork, leader: NodeId): NodeId[] {
  return net.ids.filter((id) => id !== leader);
}

describe('ReadIndex (thesis §6.4)', () => {
  it('serves a read only after a majority acknowledged the heartbeat round that carries its context', () => {
    const net = new TestNetwork(['n1', 'n2', 'n3', 'n4', 'n5'], { seed: 1 });
    const leader = net.electLeader();
    net.tickAll(2);
    const node = net.node(leader);
    assert.deepEqual(node.readIndex('read-1'), { ok: true });
    const ready = drain(node);
    assert.equal(ready.readStates.length, 0, 'not before leadership is confirmed');
    const round = readyMessages(ready, 'heartbeat-request');
    assert.equal(round.length, 4);
    const context = round[0]!.context;
    assert.ok(context !== null && round.every((m) => m.context === context), 'one round, one context');
    const [f1, f2] = followersOf(net, leader);
    const term = node.status().term;
    node.step({ type: 'heartbeat-response', from: f1!, to: leader, term, context });
    assert.equal(drain(node).readStates.length, 0, 'two of five is not a majority');
    node.step({ type: 'heartbeat-response', from: f2!, to: leader, term, context });
    assert.deepEqual(drain(node).readStates, [{ context: 'read-1', index: node.status().commitIndex }]);
  });

  it('reads that arrive before the next round share one heartbeat round', () => {
    const net = new TestNetwork(['n1', 'n2', 'n3'], { seed: 1 });
    const leader = net.electLeader();
    net.tickAll(2);
    const node = net.node(leader);
    const sentBefore = net.sent.length;
    for (let i = 0; i < 100; i++) node.readIndex(`r${i}`);
    net.settle();
    const rounds = net.sent.slice(sentBefore).filter((m): m is HeartbeatRequest => m.type === 'heartbeat-request');
    assert.equal(rounds.length, 2, 'one heartbeat per follower for all 100 reads');
    assert.deepEqual(
      net.readStates.get(leader)!.map((r) => r.context),
      Array.from({ length: 100 }, (_, i) => `r${i}`),
    );
  });

  it('a new leader queues reads until an entry of its own term is committed', () => {
    const node = makeNode('n1', ['n1', 'n2', 'n3'], { preVote: false });
    electByHand(node, ['n2']);
    const term = node.status().term;
    assert.equal(node.status().commitIndex, 0, 'setup: its empty entry is not committed yet');
    node.readIndex('early');
    const waiting = drain(node);
    assert.equal(
      readyMessages(waiting, 'heartbeat-request').filter((m) => m.context !== null).length,
      0,
      'no round yet',
    );
    assert.equal(waiting.readStates.length, 0);
    node.step({
      type: 'append-response',
      from: 'n2',
      to: 'n1',
      term,
      success: true,
      matchIndex: 1,
      conflictIndex: 0,
      conflictTerm: 0,
    });
    assert.equal(node.status().commitIndex, 1);
    const round = readyMessages(drain(node), 'heartbeat-request').filter((m) => m.context !== null);
    assert.equal(round.length, 2, 'the round starts once the term has a committed entry');
    node.step({ type: 'heartbeat-response', from: 'n2', to: 'n1', term, context: round[0]!.context });
    assert.deepEqual(drain(node).readStates, [{ context: 'early', index: 1 }]);
  });

  it('pending reads of a leader that steps down are reported in Ready.droppedReads', () => {
    const net = new TestNetwork(['n1', 'n2', 'n3'], { seed: 1 });
    const leader = net.electLeader();
    net.tickAll(2);
    net.isolate(leader);
    net.node(leader).readIndex('doomed');
    net.settle();
    for (let t = 0; t < 25 && net.node(leader).status().role === 'leader'; t++) net.tickAll();
    assert.notEqual(net.node(leader).status().role, 'leader');
    assert.deepEqual(net.droppedReads.get(leader), ['doomed']);
    assert.equal(net.readStates.get(leader)!.length, 0);
  });

  it('a follower refuses with not-leader and names the leader it knows', () => {
    const net = new TestNetwork(['n1', 'n2', 'n3'], { seed: 1 });
    const leader = net.electLeader();
    const follower = followersOf(net, leader)[0]!;
    assert.deepEqual(net.node(follower).readIndex('x'), { ok: false, reason: 'not-leader', leader });
  });

  it('a single-node cluster serves reads at once at its commit index', () => {
    const node = makeNode('solo', ['solo']);
    for (let t = 0; t < 30 && node.status().role !== 'leader'; t++) node.tick();
    assert.equal(node.status().role, 'leader');
    drain(node); // the empty entry becomes durable, hence committed
    assert.equal(node.status().commitIndex, 1);
    node.readIndex('solo-read');
    assert.deepEqual(drain(node).readStates, [{ context: 'solo-read', index: 1 }]);
  });

  it('with the planted read-without-quorum bug a deposed leader answers at once (what the round prevents)', () => {
    const net = new TestNetwork(['n1', 'n2', 'n3'], { seed: 1, plantedBugs: ['read-without-quorum'] });
    const leader = net.electLeader();
    net.isolate(leader);
    net.node(leader).readIndex('stale');
    net.settle();
    assert.equal(net.readStates.get(leader)!.length, 1, 'served without hearing from anyone');
  });
});
