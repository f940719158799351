import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { renderNodeCommand, shellQuote, validateNodeCommand } from './exec.ts';

const placement = {
  id: 'n2',
  host: '127.0.0.1',
  port: 7002,
  dataDir: "/tmp/it's here/n2",
  peers: { n1: 'http://127.0.0.1:9001', n3: 'http://127.0.0.1:9003' },
};

test('a node command template gets every placeholder, shell-quoted, with its own entry in {peers}', () => {
  const rendered = renderNodeCommand('serve --id {id} --port {port} --peers {peers} --data {data}', placement);
  // The shell sees exactly the values, even a data dir with a quote and a space in it.
  const argv = execFileSync('/bin/sh', ['-c', `printf '%s\\n' ${rendered.slice('serve '.length)}`], {
    encoding: 'utf8',
  })
    .trim()
    .split('\n');
  assert.deepEqual(argv, [
    '--id',
    'n2',
    '--port',
    '7002',
    '--peers',
    'n1=http://127.0.0.1:9001,n2=http://127.0.0.1:7002,n3=http://127.0.0.1:9003',
    '--data',
    "/tmp/it's here/n2",
  ]);
});

test('templates with an unknown placeholder or without {port} are refused with the reason', () => {
  assert.throws(() => validateNodeCommand('node x.js --port {prot}'), /unknown placeholder\(s\) \{prot\}/);
  assert.throws(() => validateNodeCommand('node x.js --id {id}'), /must contain \{port\}/);
  assert.throws(() => validateNodeCommand('   '), /empty/);
  assert.doesNotThrow(() => validateNodeCommand('node x.js --port {port}'));
});

test('shellQuote survives every single quote', () => {
  const out = execFileSync('/bin/sh', ['-c', `printf '%s' ${shellQuote("a'b''c")}`], { encoding: 'utf8' });
  assert.equal(out, "a'b''c");
});
