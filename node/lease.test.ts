import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LeaderLease } from './lease.ts';

const electionTimeoutMs = 1000;
const electionTicks = 20;

describe('leader lease (thesis §6.4.1)', () => {
  it('wall clock: a new leader waits one election timeout, then a confirmed round grants a lease shortened by the drift bound', () => {
    const lease = new LeaderLease({ clock: 'wall', electionTimeoutMs, electionTicks, clockDriftBound: 1.25 });
    lease.becameLeader(0);
    lease.confirmed(100);
    assert.equal(lease.valid(500), false, 'too soon after the election');
    lease.confirmed(1000);
    assert.equal(lease.valid(1500), true);
    assert.equal(lease.valid(1799), true);
    assert.equal(lease.valid(1800), false, '1000 + 1000/1.25: expired');
  });

  it('wall clock: the lease runs out in real time, however few ticks ran (a paused process)', () => {
    const lease = new LeaderLease({ clock: 'wall', electionTimeoutMs, electionTicks });
    lease.becameLeader(0);
    lease.confirmed(1000);
    assert.equal(lease.valid(1200), true);
    assert.equal(lease.valid(6000), false, 'five seconds later, no tick needed to know it');
  });

  it('any role change drops the lease', () => {
    const lease = new LeaderLease({ clock: 'wall', electionTimeoutMs, electionTicks });
    lease.becameLeader(0);
    lease.confirmed(1000);
    lease.lostLeadership();
    assert.equal(lease.valid(1100), false);
    lease.becameLeader(1100);
    assert.equal(lease.valid(1200), false);
  });

  it('the planted tick clock keeps the lease while no ticks run (the lease-without-clock-bound bug)', () => {
    const lease = new LeaderLease({ clock: 'ticks', electionTimeoutMs, electionTicks });
    lease.becameLeader(0);
    lease.confirmed(0);
    assert.equal(lease.valid(0), true, 'no wait after election');
    assert.equal(lease.valid(60_000), true, 'a minute of wall time without ticks: still "valid"');
    for (let i = 0; i < electionTicks; i++) lease.tick();
    assert.equal(lease.valid(60_000), false);
  });
});
