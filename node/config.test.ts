import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseInitialMembers, parseListen, parsePeers } from './config.ts';

describe('node flags', () => {
  test('--peers with or without the own id gives every member', () => {
    const without = parsePeers('n2=http://127.0.0.1:9102, n3=http://127.0.0.1:9103/', 'n1', 'http://127.0.0.1:7001');
    assert.deepEqual(Object.fromEntries(without), {
      n2: 'http://127.0.0.1:9102',
      n3: 'http://127.0.0.1:9103',
      n1: 'http://127.0.0.1:7001',
    });
    const withSelf = parsePeers('n1=http://127.0.0.1:9101,n2=http://127.0.0.1:9102', 'n1', 'http://127.0.0.1:7001');
    assert.equal(withSelf.get('n1'), 'http://127.0.0.1:9101');
    assert.equal(withSelf.size, 2);
  });

  test('bad --peers entries are refused with the entry named', () => {
    assert.throws(() => parsePeers('n2', 'n1', 'u'), /"n2" is not id=url/);
    assert.throws(() => parsePeers('n2=nope', 'n1', 'u'), /is not a URL/);
    assert.throws(() => parsePeers('n2=https://127.0.0.1:1', 'n1', 'u'), /only http/);
    assert.throws(() => parsePeers('n2=http://a:1,n2=http://a:2', 'n1', 'u'), /names n2 twice/);
  });

  test('--initial-members defaults to the address book and must name ids it has urls for', () => {
    const book = parsePeers('n1=http://127.0.0.1:1,n2=http://127.0.0.1:2,n4=http://127.0.0.1:4', 'n1', 'u');
    assert.deepEqual(parseInitialMembers(undefined, book), ['n1', 'n2', 'n4']);
    assert.deepEqual(parseInitialMembers('n2, n1', book), ['n1', 'n2']);
    assert.throws(() => parseInitialMembers('n1,n3', book), /names n3, which --peers does not give a url for/);
    assert.throws(() => parseInitialMembers('n1,n1', book), /names n1 twice/);
    assert.throws(() => parseInitialMembers(' , ', book), /at least one member/);
  });

  test('--listen is loopback only', () => {
    assert.deepEqual(parseListen('127.0.0.1:7001'), { host: '127.0.0.1', port: 7001 });
    assert.deepEqual(parseListen('7002'), { host: '127.0.0.1', port: 7002 });
    assert.throws(() => parseListen('0.0.0.0:7001'), /loopback only/);
    assert.throws(() => parseListen('127.0.0.1:99999'), /expected 127.0.0.1:PORT/);
  });
});
