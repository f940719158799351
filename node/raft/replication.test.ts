// Log replication and commitment: Raft §5.3, §5.4.2 (Figures 7 and 8), pipelining and batching.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RawNode } from './raw-node.ts';
import { TestNetwork, drain, electByHand, makeNode, readyMessages } from './testing/network.ts';
import type { AppendResponse, Entry, Message, NodeId, PlantedBug } from './types.ts';

function appendRequest(
  from: NodeId,
  to: NodeId,
  term: number,
  prevLogIndex: number,
  prevLogTerm: number,
  entries: Entry[],
  commit = 0,
): Message {
  return { type: 'append-request', from, to, term, prevLogIndex, prevLogTerm, entries, commit };
}

function entry(index: number, term: number, data = `i${index}t${term}`): Entry {
  return { index, term, kind: 'normal', data };
}

function ack(from: NodeId, to: NodeId, term: number, matchIndex: number): AppendResponse {
  return { type: 'append-response', from, to, term, success: true, matchIndex, conflictIndex: 0, conflictTerm: 0 };
}

describe('log matching (§5.3)', () => {
  it('rejects an append whose previous entry does not match, with the conflicting term and its first index', () => {
    const node = makeNode('n1', ['n1', 'n2', 'n3'], {}, { term: 3, terms: [1, 1, 2, 2, 2] });
    node.step(appendRequest('n2', 'n1', 3, 4, 3, [entry(5, 3)]));
    const [reply] = readyMessages(drain(node), 'append-response');
    assert.deepEqual(
      {
        success: reply?.success,
        matchIndex: reply?.matchIndex,
        conflictTerm: reply?.conflictTerm,
        conflictIndex: reply?.conflictIndex,
      },
      { success: false, matchIndex: 4, conflictTerm: 2, conflictIndex: 3 },
    );
    assert.equal(node.status().lastIndex, 5, 'nothing appended or removed');
  });

  it('a follower whose log is too short hints its length', () => {
    const node = makeNode('n1', ['n1', 'n2', 'n3'], {}, { term: 3, terms: [1, 1] });
    node.step(appendRequest('n2', 'n1', 3, 7, 3, []));
    const [reply] = readyMessages(drain(node), 'append-response');
    assert.equal(reply?.success, false);
    assert.equal(reply?.conflictIndex, 3);
    assert.equal(reply?.conflictTerm, 0);
  });

  it('truncates the suffix at a real conflict and appends the leader entries', () => {
    const node = makeNode('n1', ['n1', 'n2', 'n3'], {}, { term: 3, terms: [1, 1, 2, 2] });
    node.step(appendRequest('n2', 'n1', 3, 2, 1, [entry(3, 3)]));
    const ready = drain(node);
    assert.deepEqual(
      ready.entries.map((e) => [e.index, e.term]),
      [[3, 3]],
      'the caller overwrites from index 3',
    );
    assert.deepEqual(
      node.logEntries(1, 10).map((e) => e.term),
      [1, 1, 3],
    );
    assert.equal(readyMessages(ready, 'append-response')[0]?.matchIndex, 3);
  });

  it('never truncates on a stale or duplicated append that matches', () => {
    const node = makeNode('n1', ['n1', 'n2', 'n3'], {}, { term: 2, terms: [1, 2, 2, 2, 2] });
    node.step(appendRequest('n2', 'n1', 2, 1, 1, [entry(2, 2)]));
    const ready = drain(node);
    assert.equal(node.status().lastIndex, 5, 'entries 3-5 survive the old request');
    assert.equal(ready.entries.length, 0);
    const [reply] = readyMessages(ready, 'append-response');
    assert.equal(reply?.success, true);
    assert.equal(reply?.matchIndex, 2, 'claims a match only as far as the request reached');
  });

  it('ignores a malformed append whose entries do not continue prevLogIndex', () => {
    const node = makeNode('n1', ['n1', 'n2', 'n3'], {}, { term: 2, terms: [1, 2] });
    node.step(appendRequest('n2', 'n1', 2, 2, 2, [entry(4, 2)], 4));
    const ready = drain(node);
    assert.equal(node.status().lastIndex, 2);
    assert.equal(node.status().commitIndex, 0);
    assert.equal(readyMessages(ready, 'append-response').length, 0);
  });

  it('commits up to min(leaderCommit, last new entry) (Figure 2, AppendEntries step 5)', () => {
    const node = makeNode('n1', ['n1', 'n2', 'n3'], {}, { term: 2, terms: [1, 2, 2, 2, 2] });
    node.step(appendRequest('n2', 'n1', 2, 1, 1, [entry(2, 2)], 4));
    assert.equal(node.status().commitIndex, 2, 'entries 3-5 are not known to match the leader yet');
  });

  it("brings every divergent follower log of Figure 7 (a)-(f) in line with the leader's", () => {
    const ids = ['leader', 'a', 'b', 'c', 'd', 'e', 'f'];
    const net = new TestNetwork(ids, {
      seed: 2,
      quietAtStart: false,
      logs: {
        leader: { term: 7, terms: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6] },
        a: { term: 6, terms: [1, 1, 1, 4, 4, 5, 5, 6, 6] },
        b: { term: 4, terms: [1, 1, 1, 4] },
        c: { term: 6, terms: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6] },
        d: { term: 7, terms: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7] },
        e: { term: 4, terms: [1, 1, 1, 4, 4, 4, 4] },
        f: { term: 3, terms: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3] },
      },
    });
    // Only the figure's leader times out; c and d refuse it (more up to date), the rest elect it (§5.4.1).
    net.campaign('leader');
    assert.equal(net.node('leader').status().role, 'leader');
    assert.equal(net.node('leader').status().term, 8, 'the figure shows the leader in term 8');
    net.tickAll(5);
    const expected = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 8];
    for (const id of ids) {
      assert.deepEqual(net.logTerms(id), expected, `${id}'s log`);
      assert.deepEqual(
        net.storage.get(id)!.entries.map((e) => e.term),
        expected,
        `${id}'s durable log`,
      );
      assert.equal(net.node(id).status().commitIndex, 11);
    }
    // Fast backtracking (§5.3): f skips whole terms, 3 then 2, instead of one entry per round trip.
    const rejectionsFromF = net.sent.filter((m) => m.type === 'append-response' && m.from === 'f' && !m.success);
    assert.ok(rejectionsFromF.length <= 3, `f rejected ${rejectionsFromF.length} times`);
  });

  it('fast backtracking skips a long conflicting term in one round trip', () => {
    const long = (term: number) => [1, 1, 1, 1, 1, ...Array.from({ length: 100 }, () => term)];
    const net = new TestNetwork(['n1', 'n2', 'n3'], {
      seed: 4,
      quietAtStart: false,
      logs: { n1: { term: 3, terms: long(3) }, n2: { term: 3, terms: long(3) }, n3: { term: 2, terms: long(2) } },
    });
    net.campaign('n1');
    net.tickAll(3);
    assert.deepEqual(net.logTerms('n3'), net.logTerms('n1'));
    const rejections = net.sent.filter((m) => m.type === 'append-response' && m.from === 'n3' && !m.success);
    assert.equal(rejections.length, 1, 'one rejection, not one per conflicting entry');
  });
});

describe('commitment (§5.3, §5.4.2)', () => {
  function figure8Leader(bugs: readonly PlantedBug[] = []): RawNode {
    // Figure 8 (c): s1 leads term 4 with [1, 2]; the term-2 entry at index 2 is old.
    const s1 = makeNode(
      's1',
      ['s1', 's2', 's3', 's4', 's5'],
      { preVote: false, plantedBugs: bugs },
      { term: 3, terms: [1, 2] },
    );
    electByHand(s1, ['s2', 's3']);
    assert.equal(s1.status().term, 4);
    return s1;
  }

  it('a new leader appends its empty start-of-term entry (§8); the commit-old-term variant appends none', () => {
    const correct = figure8Leader();
    assert.deepEqual(
      correct.logEntries(1, 10).map((e) => [e.term, e.kind]),
      [
        [1, 'normal'],
        [2, 'normal'],
        [4, 'empty'],
      ],
    );
    const buggy = figure8Leader(['commit-old-term']);
    assert.deepEqual(
      buggy.logEntries(1, 10).map((e) => e.term),
      [1, 2],
      'no term-4 entry until a client proposes',
    );
    assert.equal(buggy.status().lastTerm, 2);
  });

  it('the commit-old-term variant serves a ReadIndex read only after an entry of its own term commits (§6.4)', () => {
    const s1 = figure8Leader(['commit-old-term']);
    s1.readIndex('r1');
    s1.step(ack('s2', 's1', 4, 2));
    s1.step(ack('s3', 's1', 4, 2));
    assert.equal(s1.status().commitIndex, 2, 'the old entry commits by counting (the bug)');
    assert.equal(drain(s1).readStates.length, 0, 'but the read still waits: no term-4 entry committed');
    const proposed = s1.propose('x');
    assert.ok(proposed.ok && proposed.index === 3 && proposed.term === 4);
    drain(s1);
    s1.step(ack('s2', 's1', 4, 3));
    s1.step(ack('s3', 's1', 4, 3));
    assert.equal(s1.status().commitIndex, 3);
    assert.equal(drain(s1).readStates.length, 0, 'then a heartbeat round confirms leadership before it is served');
  });

  it('Figure 8: an old-term entry stored on a majority is not committed by counting replicas', () => {
    const s1 = figure8Leader();
    s1.step(ack('s2', 's1', 4, 2));
    s1.step(ack('s3', 's1', 4, 2));
    assert.equal(s1.status().commitIndex, 0, 'index 2 (term 2) is on s1, s2, s3 but must not commit');
    s1.step(ack('s2', 's1', 4, 3));
    assert.equal(s1.status().commitIndex, 0, 'the term-4 entry is only on two servers');
    s1.step(ack('s3', 's1', 4, 3));
    assert.equal(s1.status().commitIndex, 3, 'a current-term entry on a majority commits, and index 2 with it');
  });

  it('Figure 8 with the planted commit-old-term bug commits the old entry (what the rule prevents)', () => {
    const s1 = figure8Leader(['commit-old-term']);
    s1.step(ack('s2', 's1', 4, 2));
    s1.step(ack('s3', 's1', 4, 2));
    assert.equal(s1.status().commitIndex, 2);
  });

  it('the leader counts itself toward a commit only after its own entries are durable', () => {
    const n1 = makeNode('n1', ['n1', 'n2', 'n3'], { preVote: false });
    electByHand(n1, ['n2']);
    n1.step(ack('n2', 'n1', 1, 1));
    assert.equal(n1.status().commitIndex, 1);
    n1.propose('x');
    const ready = n1.ready(); // the leader's write of index 2 is in progress
    // n3 has not answered its probe yet, so only n2 is sent index 2.
    const carrying2 = readyMessages(ready, 'append-request').filter((m) => m.entries.some((e) => e.index === 2));
    assert.deepEqual(
      carrying2.map((m) => m.to),
      ['n2'],
      'replication starts in parallel with the write',
    );
    n1.step(ack('n2', 'n1', 1, 2));
    assert.equal(n1.status().commitIndex, 1, 'n2 alone is not a majority while the leader has not persisted');
    n1.advance(ready);
    assert.equal(n1.status().commitIndex, 2);
  });

  it('committed entries are applied in order on every node', () => {
    const net = new TestNetwork(['n1', 'n2', 'n3'], { seed: 9 });
    const leader = net.electLeader();
    for (let i = 0; i < 20; i++) net.node(leader).propose(`v${i}`);
    net.settle();
    net.tickAll(2);
    const expected = Array.from({ length: 20 }, (_, i) => `v${i}`);
    for (const id of net.ids) {
      assert.deepEqual(net.appliedData(id), expected, id);
      const indexes = net.applied.get(id)!.map((e) => e.index);
      assert.deepEqual(
        indexes,
        indexes.map((_, k) => k + 1),
        `${id} applied contiguous indexes`,
      );
    }
  });

  it('a leader sends proposals right away, in Ready.eagerMessages (not at the next tick)', () => {
    const net = new TestNetwork(['n1', 'n2', 'n3'], { seed: 9 });
    const leader = net.electLeader();
    const result = net.node(leader).propose('now');
    assert.ok(result.ok);
    const ready = net.node(leader).ready();
    const appends = ready.eagerMessages.filter(
      (m) => m.type === 'append-request' && m.entries.some((e) => e.data === 'now'),
    );
    assert.equal(appends.length, 2);
    net.node(leader).advance(ready);
  });

  it('a follower refuses proposals and names the leader', () => {
    const net = new TestNetwork(['n1', 'n2', 'n3'], { seed: 9 });
    const leader = net.electLeader();
    const follower = net.ids.find((id) => id !== leader)!;
    assert.deepEqual(net.node(follower).propose('x'), { ok: false, reason: 'not-leader', leader });
  });
});

describe('batching and pipelining', () => {
  it('a batch of 1,000 proposals leaves as ceil(1000/maxEntriesPerAppend) requests per follower', () => {
    const net = new TestNetwork(['n1', 'n2', 'n3'], { seed: 9, maxEntriesPerAppend: 300 });
    const leader = net.electLeader();
    const result = net.node(leader).proposeBatch(Array.from({ length: 1000 }, (_, i) => `b${i}`));
    assert.ok(result.ok);
    assert.equal(result.index, net.node(leader).status().lastIndex, 'the result names the last entry');
    const ready = net.node(leader).ready();
    for (const id of net.ids.filter((x) => x !== leader)) {
      const appends = readyMessages(ready, 'append-request').filter((m) => m.to === id);
      assert.equal(appends.length, 4, `to ${id}`);
      assert.ok(appends.every((m) => m.entries.length <= 300));
    }
    assert.equal(ready.entries.length, 1000, 'the leader writes the batch once');
    net.node(leader).advance(ready);
  });

  it('keeps at most maxInflightAppends requests in flight to a follower that does not answer', () => {
    const net = new TestNetwork(['n1', 'n2', 'n3'], { seed: 9, maxInflightAppends: 4, maxEntriesPerAppend: 2 });
    const leader = net.electLeader();
    net.tickAll(2);
    const slow = net.ids.find((id) => id !== leader)!;
    net.cutLink(slow, leader); // its replies are lost
    const sentBefore = net.sent.length;
    for (let i = 0; i < 50; i++) {
      net.node(leader).propose(`p${i}`);
      net.settle();
    }
    const appendsToSlow = net.sent
      .slice(sentBefore)
      .filter((m) => m.type === 'append-request' && m.to === slow && m.entries.length > 0);
    assert.equal(appendsToSlow.length, 4);
    net.heal();
    net.tickAll(10);
    assert.deepEqual(net.logTerms(slow), net.logTerms(leader), 'it catches up once replies flow');
    assert.equal(net.node(slow).status().commitIndex, net.node(leader).status().commitIndex);
  });
});

describe('recovering lost messages', () => {
  it('an AppendRequest lost from the pipeline is sent again once heartbeat replies show no progress', () => {
    const net = new TestNetwork(['n1', 'n2', 'n3'], { seed: 9 });
    const leader = net.electLeader();
    net.tickAll(2); // followers are in replicate state now
    const follower = net.ids.find((id) => id !== leader)!;
    net.cutLink(leader, follower);
    net.node(leader).propose('lost-once');
    net.settle();
    net.heal();
    assert.deepEqual(net.appliedData(follower), []);
    net.tickAll(6); // no new proposals: only heartbeats can reveal the gap
    assert.deepEqual(net.appliedData(follower), ['lost-once']);
  });
});

describe('snapshots (§7)', () => {
  it('a follower behind the compacted log gets InstallSnapshot, then continues from the snapshot index', () => {
    const net = new TestNetwork(['n1', 'n2', 'n3'], { seed: 13 });
    const leader = net.electLeader();
    const behind = net.ids.find((id) => id !== leader)!;
    net.isolate(behind);
    for (let i = 0; i < 30; i++) net.node(leader).propose(`v${i}`);
    net.settle();
    net.tickAll(1);
    const snapshot = net.compact(leader, 'state-at-31');
    assert.equal(net.node(leader).status().snapshotIndex, snapshot.meta.index);
    assert.ok(snapshot.meta.index >= 31);
    net.heal();
    let installed = null;
    for (let t = 0; t < 30 && installed === null; t++) {
      for (const id of net.ids) net.node(id).tick();
      for (let round = 0; round < 50; round++) {
        const ready = net.processReady(behind);
        if (ready?.snapshot) installed = ready.snapshot;
        for (const id of net.ids) if (id !== behind) net.processReady(id);
        const batch = net.queue;
        net.queue = [];
        for (const m of batch) net.node(m.to).step(m);
        if (batch.length === 0) break;
      }
    }
    assert.ok(installed !== null, 'Ready.snapshot was handed to the follower');
    assert.equal(installed.data, 'state-at-31');
    assert.equal(net.node(behind).status().snapshotIndex, snapshot.meta.index);
    assert.equal(net.node(behind).status().appliedIndex, snapshot.meta.index);
    net.node(leader).propose('after');
    net.settle();
    net.tickAll(2);
    assert.deepEqual(net.appliedData(behind), ['after'], 'entries after the snapshot arrive by AppendEntries');
    assert.equal(net.node(behind).status().appliedIndex, net.node(leader).status().appliedIndex);
    assert.equal(net.sent.filter((m) => m.type === 'snapshot-request' && m.to === behind).length >= 1, true);
  });

  it('a snapshot is re-sent only after an election timeout without transfer progress (§7)', () => {
    const net = new TestNetwork(['n1', 'n2', 'n3'], { seed: 13 });
    const leader = net.electLeader();
    const behind = net.ids.find((id) => id !== leader)!;
    net.isolate(behind);
    for (let i = 0; i < 30; i++) net.node(leader).propose(`v${i}`);
    net.settle();
    net.tickAll(1);
    net.compact(leader, 'big-state');
    net.heal();
    const sentSnapshots = (): number => net.sent.filter((m) => m.type === 'snapshot-request' && m.to === behind).length;
    // The transfer is slow: the snapshot is still on its way (never delivered
    // here) while heartbeats keep flowing both ways.
    const tickWithoutSnapshots = (): void => {
      for (const id of net.ids) net.node(id).tick();
      for (let round = 0; round < 100; round++) {
        for (const id of net.ids) net.processReady(id);
        const batch = net.queue.filter((m) => m.type !== 'snapshot-request');
        net.queue = [];
        for (const m of batch) net.node(m.to).step(m);
        if (batch.length === 0) return;
      }
    };
    for (let t = 0; t < 30 && sentSnapshots() === 0; t++) {
      tickWithoutSnapshots();
    }
    assert.equal(sentSnapshots(), 1);
    // The transport reports bytes leaving for the follower now and then: no second copy meanwhile.
    for (let t = 0; t < 5 * 10; t++) {
      if (t % 9 === 0) net.node(leader).reportSnapshotProgress(behind);
      tickWithoutSnapshots();
    }
    assert.equal(sentSnapshots(), 1, 'no resend while the transfer progresses');
    // No progress for an election timeout: the snapshot or its reply was lost, send it again.
    for (let t = 0; t < 2 * 10 + 2; t++) {
      tickWithoutSnapshots();
    }
    assert.ok(sentSnapshots() >= 2, 'resent after an election timeout without progress');
  });

  it('compact refuses to drop entries that are not applied yet', () => {
    const net = new TestNetwork(['n1']);
    const leader = net.electLeader();
    net.node(leader).propose('x');
    assert.throws(() => net.node(leader).compact({ meta: { index: 2, term: 1 }, data: '' }), /only 1 is applied/);
  });

  it('a restarted node loads snapshot + log and re-applies committed entries after the snapshot', () => {
    const net = new TestNetwork(['n1', 'n2', 'n3'], { seed: 21 });
    const leader = net.electLeader();
    for (let i = 0; i < 5; i++) net.node(leader).propose(`v${i}`);
    net.settle();
    net.tickAll(2);
    const follower = net.ids.find((id) => id !== leader)!;
    net.compact(follower, 'snap');
    const snapIndex = net.node(follower).status().snapshotIndex;
    for (let i = 5; i < 8; i++) net.node(leader).propose(`v${i}`);
    net.settle();
    net.tickAll(2);
    const restarted = net.start(follower);
    assert.equal(restarted.status().appliedIndex, snapIndex, 'the state machine restarts from the snapshot');
    const ready = drain(restarted);
    assert.deepEqual(
      ready.committedEntries.filter((e) => e.kind === 'normal').map((e) => e.data),
      ['v5', 'v6', 'v7'],
    );
  });
});

describe('recovery after a torn write', () => {
  it('the persisted commit index never covers entries written in the same Ready', () => {
    // Durable log [1, 8, 8]; the leader of term 9 replaces indexes 2-3 and says they are committed.
    const node = makeNode('n1', ['n1', 'n2', 'n3'], {}, { term: 8, commit: 1, terms: [1, 8, 8] });
    node.step(appendRequest('n2', 'n1', 9, 1, 1, [entry(2, 9), entry(3, 9)], 3));
    assert.equal(node.status().commitIndex, 3);
    const first = drain(node);
    assert.deepEqual(
      first.entries.map((e) => e.term),
      [9, 9],
    );
    // If the write tore after the hard state, commit 3 must not point at the old term-8 entries.
    assert.equal(first.hardState?.commit, 1);
    assert.equal(drain(node).hardState?.commit, 3, 'persisted once the entries are durable');
  });

  it('entries that survived without their hard state raise the term and clear the vote', () => {
    const node = makeNode('n1', ['n1', 'n2', 'n3'], { quietAtStart: false }, { term: 3, vote: 'n2', terms: [1, 3, 5] });
    assert.equal(node.status().term, 5);
    node.step({ type: 'vote-request', from: 'n3', to: 'n1', term: 5, preVote: false, lastLogIndex: 3, lastLogTerm: 5 });
    const [reply] = readyMessages(drain(node), 'vote-response');
    assert.equal(reply?.granted, true, 'no vote is recorded for term 5');
  });

  it('a persisted commit index beyond the surviving log is clamped to it', () => {
    const node = makeNode('n1', ['n1', 'n2', 'n3'], {}, { term: 2, commit: 9, terms: [1, 2] });
    assert.equal(node.status().commitIndex, 2);
  });
});
