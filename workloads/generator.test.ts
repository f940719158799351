import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OpGenerator } from './generator.ts';
import { Random } from '../lib/random.ts';

test('the same seed gives the same random stream, a different seed a different one', () => {
  const a = new Random(42);
  const b = new Random(42);
  const c = new Random(43);
  const seqA = Array.from({ length: 20 }, () => a.nextUint32());
  assert.deepEqual(
    seqA,
    Array.from({ length: 20 }, () => b.nextUint32()),
  );
  assert.notDeepEqual(
    seqA,
    Array.from({ length: 20 }, () => c.nextUint32()),
  );
});

test('written values are unique per key across writes and CAS', () => {
  const generator = new OpGenerator({ workload: 'cas-register', keys: 4 });
  const random = new Random(7);
  const written = new Map<string, Set<unknown>>();
  for (let i = 0; i < 2000; i++) {
    const op = generator.next(random);
    if (op.f === 'read') continue;
    const value = op.f === 'write' ? op.value : op.value[1];
    const set = written.get(op.key) ?? new Set();
    assert.ok(!set.has(value), `value ${String(value)} written twice on ${op.key}`);
    set.add(value);
    written.set(op.key, set);
  }
  assert.equal(written.size, 4);
});

test('register uses one key, multi-register never emits CAS, cas-register emits all three kinds', () => {
  const random = new Random(1);
  const register = new OpGenerator({ workload: 'register', keys: 8 });
  assert.deepEqual(register.keys, ['k0']);
  const multi = new OpGenerator({ workload: 'multi-register', keys: 3 });
  const multiKinds = new Set(Array.from({ length: 500 }, () => multi.next(random).f));
  assert.deepEqual([...multiKinds].sort(), ['read', 'write']);
  const cas = new OpGenerator({ workload: 'cas-register', keys: 3 });
  const casKinds = new Set(Array.from({ length: 500 }, () => cas.next(random).f));
  assert.deepEqual([...casKinds].sort(), ['cas', 'read', 'write']);
});

test('CAS expects the last value observed for its key', () => {
  const generator = new OpGenerator({ workload: 'cas-register', keys: 1, mix: { read: 0, write: 0, cas: 1 } });
  generator.observe({ f: 'write', key: 'k0', value: 99 }, { type: 'ok', value: 99 });
  const random = new Random(3);
  const expectations = Array.from({ length: 200 }, () => {
    const op = generator.next(random);
    assert.equal(op.f, 'cas');
    return op.f === 'cas' ? op.value[0] : undefined;
  });
  // Unobserved ops leave the last seen value in place, so most CAS ops expect 99.
  assert.ok(expectations.filter((e) => e === 99).length > 100);
});

test('bad key counts are rejected with a clear error', () => {
  assert.throws(() => new OpGenerator({ workload: 'cas-register', keys: 0 }), /--keys must be a positive integer/);
});
