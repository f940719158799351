import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdSystem } from './etcd.ts';
import { ExecSystem } from './exec.ts';
import { RaftlabSystem } from './raftlab.ts';
import { assertSupported, UnsupportedError } from './system.ts';

test('raftlab takes the membership kinds; exec and etcd refuse them with the reason, before anything starts', () => {
  const raftlab = new RaftlabSystem({ nodes: 5, runDir: '', mode: 'proxied', initialMembers: ['n1', 'n2', 'n3'] });
  assert.doesNotThrow(() => assertSupported(raftlab, ['member', 'config-overlap', 'kill']));
  assert.deepEqual(raftlab.members(), ['n1', 'n2', 'n3']);
  assert.ok(raftlab.membership !== undefined);

  const exec = new ExecSystem({ nodes: 3, runDir: '', mode: 'proxied', nodeCmd: 'node x.mjs --port {port}' });
  assert.equal(exec.membership, undefined);
  assert.throws(
    () => assertSupported(exec, ['kill', 'member']),
    (error: unknown) => {
      assert.ok(error instanceof UnsupportedError);
      assert.match(
        error.message,
        /the member nemesis changes the cluster's membership, and system exec cannot: .*no membership requests/,
      );
      return true;
    },
  );

  const etcd = new EtcdSystem({ nodes: 3, runDir: '' });
  assert.throws(
    () => assertSupported(etcd, ['member']),
    /system etcd cannot: etcd's own member API .* is not wired into the harness/,
  );
});

test('initial members must be nodes of the cluster', () => {
  assert.throws(
    () => new RaftlabSystem({ nodes: 3, runDir: '', mode: 'direct', initialMembers: ['n1', 'n7'] }),
    /initial members must be some of n1, n2, n3/,
  );
});
