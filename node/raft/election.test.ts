// Leader election: Raft §5.1, §5.2, §5.4.1 and thesis §6.2 / §9.6 (CheckQuorum, PreVote).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TestNetwork, drain, makeNode, readyMessages } from './testing/network.ts';
import type { Message, VoteRequest } from './types.ts';

const THREE = ['n1', 'n2', 'n3'];

function voteRequest(over: Partial<VoteRequest> & Pick<VoteRequest, 'from' | 'to' | 'term'>): Message {
  return { type: 'vote-request', preVote: false, lastLogIndex: 0, lastLogTerm: 0, ...over };
}

describe('election (§5.2)', () => {
  it('elects exactly one leader and every other node follows it', () => {
    const net = new TestNetwork(['n1', 'n2', 'n3', 'n4', 'n5'], { seed: 7 });
    const leader = net.electLeader();
    const term = net.node(leader).status().term;
    for (const id of net.ids) {
      const st = net.node(id).status();
      assert.equal(st.term, term, `${id} is in the leader's term`);
      assert.equal(st.leader, leader, `${id} knows the leader`);
      assert.equal(st.role === 'leader', id === leader);
    }
  });

  it('draws the election timeout from [electionTicks, 2*electionTicks) using the injected random source', () => {
    for (const [random, expectedTicks] of [
      [0, 10],
      [0.5, 15],
      [0.999, 19],
    ] as const) {
      const node = makeNode('n1', THREE, { electionTicks: 10, random: () => random, preVote: false });
      let ticks = 0;
      while (node.status().role === 'follower' && ticks < 100) {
        node.tick();
        ticks += 1;
      }
      assert.equal(ticks, expectedTicks, `random ${random}`);
      assert.equal(node.status().role, 'candidate');
    }
  });

  it('a new leader appends an empty entry of its term (§8)', () => {
    const net = new TestNetwork(THREE, { seed: 3 });
    const leader = net.electLeader();
    const st = net.node(leader).status();
    const [last] = net.node(leader).logEntries(st.lastIndex, st.lastIndex + 1);
    assert.equal(last?.kind, 'empty');
    assert.equal(last?.term, st.term);
  });
});

describe('term rules (§5.1)', () => {
  it('a node that sees a higher term becomes a follower in that term and forgets its vote', () => {
    const node = makeNode('n1', THREE, { preVote: false }, { term: 2, vote: 'n1' });
    node.step({ type: 'heartbeat-request', from: 'n2', to: 'n1', term: 5, commit: 0, context: null });
    const st = node.status();
    assert.equal(st.term, 5);
    assert.equal(st.role, 'follower');
    assert.equal(st.leader, 'n2');
    assert.deepEqual(drain(node).hardState, { term: 5, vote: null, commit: 0 });
  });

  it('a request from a stale term is answered with the current term and changes nothing', () => {
    const node = makeNode('n1', THREE, {}, { term: 5, terms: [1, 1] });
    node.step({
      type: 'append-request',
      from: 'n2',
      to: 'n1',
      term: 3,
      prevLogIndex: 2,
      prevLogTerm: 1,
      entries: [{ index: 3, term: 3, kind: 'normal', data: 'x' }],
      commit: 3,
    });
    const ready = drain(node);
    const [reply] = readyMessages(ready, 'append-response');
    assert.equal(reply?.term, 5, 'the stale leader learns the newer term');
    assert.equal(reply?.success, false);
    assert.equal(node.status().lastIndex, 2, 'nothing appended from a stale leader');
    assert.equal(node.status().term, 5);
  });

  it('a node with a higher term answers a stale leader so it steps down and the term can catch up (thesis §9.6)', () => {
    const net = new TestNetwork(THREE, { seed: 5 });
    const leader = net.electLeader();
    const term = net.node(leader).status().term;
    const stuck = net.ids.find((id) => id !== leader)!;
    // `stuck` restarts in a higher term (e.g. it campaigned after its pre-vote passed, then was cut off).
    const storage = net.storage.get(stuck)!;
    storage.hardState = { ...storage.hardState, term: term + 3, vote: stuck };
    net.start(stuck);
    net.tickAll(1); // the leader's heartbeat reaches it and is answered with term + 3
    assert.ok(net.node(leader).status().term >= term + 3, 'the leader learned the higher term');
    const next = net.electLeader();
    assert.ok(net.node(next).status().term >= term + 3, 'a leader exists in the new term');
  });

  it('a stale vote request is ignored', () => {
    const node = makeNode('n1', THREE, {}, { term: 5 });
    node.step(voteRequest({ from: 'n2', to: 'n1', term: 4, lastLogIndex: 9, lastLogTerm: 4 }));
    const ready = drain(node);
    assert.equal(readyMessages(ready, 'vote-response').length, 0, 'ignored (no vote for an old term)');
    assert.equal(node.status().term, 5);
  });
});

describe('election restriction (§5.4.1)', () => {
  it('rejects a candidate whose last log term is lower', () => {
    const node = makeNode('n1', THREE, { checkQuorum: false }, { term: 3, terms: [1, 3] });
    node.step(voteRequest({ from: 'n2', to: 'n1', term: 4, lastLogIndex: 5, lastLogTerm: 2 }));
    const [reply] = readyMessages(drain(node), 'vote-response');
    assert.equal(reply?.granted, false);
  });

  it('rejects a candidate with the same last term but a shorter log', () => {
    const node = makeNode('n1', THREE, { checkQuorum: false }, { term: 3, terms: [1, 3, 3] });
    node.step(voteRequest({ from: 'n2', to: 'n1', term: 4, lastLogIndex: 2, lastLogTerm: 3 }));
    const [reply] = readyMessages(drain(node), 'vote-response');
    assert.equal(reply?.granted, false);
  });

  it('grants a candidate whose log is at least as up to date', () => {
    const node = makeNode('n1', THREE, { checkQuorum: false }, { term: 3, terms: [1, 3, 3] });
    node.step(voteRequest({ from: 'n2', to: 'n1', term: 4, lastLogIndex: 3, lastLogTerm: 3 }));
    const [reply] = readyMessages(drain(node), 'vote-response');
    assert.equal(reply?.granted, true);
  });

  it('grants at most one vote per term, first come first served (§5.2)', () => {
    const node = makeNode('n1', THREE, { checkQuorum: false });
    node.step(voteRequest({ from: 'n2', to: 'n1', term: 1 }));
    node.step(voteRequest({ from: 'n3', to: 'n1', term: 1 }));
    node.step(voteRequest({ from: 'n2', to: 'n1', term: 1 })); // a retry from the same candidate
    const replies = readyMessages(drain(node), 'vote-response');
    assert.deepEqual(
      replies.map((r) => [r.to, r.granted]),
      [
        ['n2', true],
        ['n3', false],
        ['n2', true],
      ],
    );
  });
});

describe('vote persistence (Figure 2, persistent state)', () => {
  it('the vote response leaves only in Ready.messages, in the same Ready that persists the vote', () => {
    const node = makeNode('n1', THREE, { checkQuorum: false });
    node.step(voteRequest({ from: 'n2', to: 'n1', term: 1 }));
    const ready = node.ready();
    assert.deepEqual(ready.hardState, { term: 1, vote: 'n2', commit: 0 });
    assert.equal(ready.eagerMessages.length, 0, 'nothing may leave before the persist');
    assert.equal(ready.messages.length, 1);
    assert.equal(ready.messages[0]?.type, 'vote-response');
    node.advance(ready);
  });

  it('a candidate persists its new term and self-vote before its vote requests leave', () => {
    const node = makeNode('n1', THREE, { preVote: false });
    for (let t = 0; t < 10; t++) node.tick();
    const ready = node.ready();
    assert.deepEqual(ready.hardState, { term: 1, vote: 'n1', commit: 0 });
    assert.equal(ready.eagerMessages.length, 0);
    assert.deepEqual(
      readyMessages(ready, 'vote-request')
        .map((m) => m.to)
        .sort(),
      ['n2', 'n3'],
    );
    node.advance(ready);
  });

  it('a restarted node remembers its vote and does not vote again in that term', () => {
    const net = new TestNetwork(THREE, { checkQuorum: false, preVote: false });
    net.node('n1').step(voteRequest({ from: 'n2', to: 'n1', term: 1 }));
    net.processReady('n1');
    net.queue = [];
    const restarted = net.start('n1');
    restarted.step(voteRequest({ from: 'n3', to: 'n1', term: 1 }));
    const [reply] = readyMessages(drain(restarted), 'vote-response');
    assert.equal(reply?.granted, false);
  });
});

describe('PreVote (thesis §9.6)', () => {
  it('a pre-candidate asks for term+1 without incrementing its own term', () => {
    const node = makeNode('n1', THREE, { preVote: true }, { term: 4 });
    for (let t = 0; t < 10; t++) node.tick();
    const st = node.status();
    assert.equal(st.role, 'pre-candidate');
    assert.equal(st.term, 4);
    const ready = drain(node);
    assert.equal(ready.hardState, null, 'nothing to persist: the term did not move');
    const requests = readyMessages(ready, 'vote-request');
    assert.equal(requests.length, 2);
    for (const r of requests) {
      assert.equal(r.preVote, true);
      assert.equal(r.term, 5);
    }
  });

  it('a partitioned node that rejoins neither bumps the term nor deposes the leader', () => {
    const net = new TestNetwork(['n1', 'n2', 'n3', 'n4', 'n5'], { seed: 11 });
    const leader = net.electLeader();
    const term = net.node(leader).status().term;
    const outsider = net.ids.find((id) => id !== leader)!;
    net.isolate(outsider);
    net.tickAll(100); // many election timeouts alone
    assert.equal(net.node(outsider).status().term, term, 'pre-votes failed, so the term never moved');
    net.heal();
    net.tickAll(30);
    assert.equal(net.leader(), leader);
    for (const id of net.ids) assert.equal(net.node(id).status().term, term, `${id} term unchanged`);
  });

  it('without PreVote the same rejoin disrupts the cluster (the problem PreVote solves)', () => {
    const net = new TestNetwork(['n1', 'n2', 'n3', 'n4', 'n5'], { seed: 11, preVote: false });
    const leader = net.electLeader();
    const term = net.node(leader).status().term;
    const outsider = net.ids.find((id) => id !== leader)!;
    net.isolate(outsider);
    net.tickAll(100);
    assert.ok(net.node(outsider).status().term > term + 3, 'the outsider kept incrementing its term');
    net.heal();
    net.tickAll(30);
    assert.ok(net.node(net.electLeader()).status().term > term, 'a new term was forced on the cluster');
  });
});

describe('CheckQuorum (thesis §6.2)', () => {
  it('a leader cut off from the majority steps down within an election timeout and a new leader takes over', () => {
    const net = new TestNetwork(THREE, { seed: 5 });
    const leader = net.electLeader();
    net.isolate(leader);
    net.tickAll(2 * 10 + 1); // at most two CheckQuorum rounds
    assert.notEqual(net.node(leader).status().role, 'leader');
    const next = net.leader();
    assert.ok(next !== null && next !== leader, 'the majority elected another leader');
  });

  it('a follower that heard from its leader recently ignores a higher-term vote request and keeps its term', () => {
    const net = new TestNetwork(THREE, { seed: 5, preVote: false });
    const leader = net.electLeader();
    const follower = net.ids.find((id) => id !== leader)!;
    const other = net.ids.find((id) => id !== leader && id !== follower)!;
    const term = net.node(follower).status().term;
    net
      .node(follower)
      .step(voteRequest({ from: other, to: follower, term: term + 1, lastLogIndex: 100, lastLogTerm: term }));
    assert.equal(net.node(follower).status().term, term);
    assert.equal(net.node(follower).status().leader, leader);
    assert.equal(readyMessages(drain(net.node(follower)), 'vote-response').length, 0);
  });

  it('a restarted node ignores vote requests for one election timeout (it may have just acknowledged a leader)', () => {
    // The leader's lease (thesis §6.4.1) counts on every follower that
    // acknowledged it ignoring votes for an election timeout; a crash must not
    // shorten that. Recovered term 3, no vote, no leader known.
    const node = makeNode('n1', THREE, { preVote: false, electionTicks: 10, random: () => 0.99 }, { term: 3 });
    const ask = (term: number): number => {
      node.step(voteRequest({ from: 'n2', to: 'n1', term, lastLogIndex: 100, lastLogTerm: 3 }));
      return readyMessages(drain(node), 'vote-response').filter((m) => m.granted).length;
    };
    assert.equal(ask(4), 0, 'just after start');
    assert.equal(node.status().term, 3, 'and the term did not move');
    for (let t = 0; t < 9; t++) node.tick();
    assert.equal(ask(4), 0, 'one tick before the election timeout');
    node.tick();
    assert.equal(ask(4), 1, 'after one election timeout the vote is granted');
  });

  it('a higher-term message that is not a vote does not cut short the time a follower ignores votes', () => {
    const net = new TestNetwork(THREE, { seed: 5, preVote: false });
    const leader = net.electLeader();
    const follower = net.ids.find((id) => id !== leader)!;
    const other = net.ids.find((id) => id !== leader && id !== follower)!;
    const node = net.node(follower);
    const term = node.status().term;
    // A stray higher-term reply moves the follower to term + 1 with no leader known ...
    node.step({
      type: 'append-response',
      from: other,
      to: follower,
      term: term + 1,
      success: false,
      matchIndex: 0,
      conflictIndex: 0,
      conflictTerm: 0,
    });
    assert.equal(node.status().term, term + 1);
    drain(node);
    // ... but it heard from the leader of `term` a moment ago, so it must not help elect another one yet.
    node.step(voteRequest({ from: other, to: follower, term: term + 1, lastLogIndex: 100, lastLogTerm: term }));
    node.step(voteRequest({ from: other, to: follower, term: term + 2, lastLogIndex: 100, lastLogTerm: term }));
    assert.equal(readyMessages(drain(node), 'vote-response').filter((m) => m.granted).length, 0);
  });
});
