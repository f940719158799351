import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { tickConfig } from './config.ts';
import { LeaderLease } from './lease.ts';

const electionTimeoutMs = 1000;
const electionTicks = 20;
const tickMs = 50;

describe('leader lease (thesis §6.4.1)', () => {
  it('wall clock: a new leader waits one election timeout, then a confirmed round grants a lease shortened by the drift bound', () => {
    const lease = new LeaderLease({ clock: 'wall', electionTimeoutMs, electionTicks, tickMs, clockDriftBound: 1.25 });
    lease.becameLeader(0);
    lease.confirmed(100);
    assert.equal(lease.valid(500), false, 'too soon after the election');
    lease.confirmed(1000);
    assert.equal(lease.valid(1500), true);
    assert.equal(lease.valid(1759), true);
    assert.equal(lease.valid(1760), false, '1000 + (19 ticks of 50 ms - 1 ms)/1.25: expired');
  });

  it('wall clock: the lease runs out in real time, however few ticks ran (a paused process)', () => {
    const lease = new LeaderLease({ clock: 'wall', electionTimeoutMs, electionTicks, tickMs });
    lease.becameLeader(0);
    lease.confirmed(1000);
    assert.equal(lease.valid(1200), true);
    assert.equal(lease.valid(6000), false, 'five seconds later, no tick needed to know it');
  });

  it('any role change drops the lease', () => {
    const lease = new LeaderLease({ clock: 'wall', electionTimeoutMs, electionTicks, tickMs });
    lease.becameLeader(0);
    lease.confirmed(1000);
    lease.lostLeadership();
    assert.equal(lease.valid(1100), false);
    lease.becameLeader(1100);
    assert.equal(lease.valid(1200), false);
  });

  it('the planted tick clock keeps the lease while no ticks run (the lease-without-clock-bound bug)', () => {
    const lease = new LeaderLease({ clock: 'ticks', electionTimeoutMs, electionTicks, tickMs });
    lease.becameLeader(0);
    lease.confirmed(0);
    assert.equal(lease.valid(0), true, 'no wait after election');
    assert.equal(lease.valid(60_000), true, 'a minute of wall time without ticks: still "valid"');
    for (let i = 0; i < electionTicks; i++) lease.tick();
    assert.equal(lease.valid(60_000), false);
  });

  it('wall clock: the lease never outlives the time followers really ignore votes, tick rounding included', () => {
    // 500 ms / heartbeat 100 ms: ticks of 50 ms, 10 ticks per timeout. A
    // follower that heard from us just before a tick fires ignores votes for
    // only 9 ticks (450 ms), minus 1 ms of timer granularity: 449 ms.
    const lease = new LeaderLease({ clock: 'wall', electionTimeoutMs: 500, electionTicks: 10, tickMs: 50 });
    lease.becameLeader(-10_000);
    lease.confirmed(0);
    assert.equal(lease.valid(400), true);
    assert.equal(lease.valid(449 / 1.1), false, 'expired at the guarantee divided by the drift bound');
    assert.equal(lease.valid(449), false);
  });

  it("wall clock, property: any accepted timeout and heartbeat: the lease ends within the followers' wait", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 5000 }), fc.integer({ min: 1, max: 2500 }), (electionTimeoutMs, hb) => {
        fc.pre(electionTimeoutMs >= 2 * hb);
        const { tickMs, electionTicks } = tickConfig(electionTimeoutMs, hb);
        const lease = new LeaderLease({ clock: 'wall', electionTimeoutMs, electionTicks, tickMs });
        lease.becameLeader(-1e9);
        lease.confirmed(0);
        const guaranteeMs = (electionTicks - 1) * tickMs - 1;
        return !lease.valid(guaranteeMs / 1.1) && !lease.valid(guaranteeMs);
      }),
      { seed: 16, numRuns: 2000 },
    );
  });
});
