import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bugNames, bugWarning, resolveBug } from './planted-bugs.ts';

describe('planted bug selection', () => {
  it('is the correct node unless a bug is named explicitly', () => {
    assert.equal(resolveBug(undefined, undefined), null);
    assert.equal(resolveBug('', ''), null);
    assert.equal(resolveBug('  ', undefined), null);
  });

  it('takes the bug from --bug, or from RAFTLAB_BUG, the flag winning', () => {
    assert.equal(resolveBug('stale-read', undefined), 'stale-read');
    assert.equal(resolveBug(undefined, 'no-fsync'), 'no-fsync');
    assert.equal(resolveBug('vote-twice', 'no-fsync'), 'vote-twice');
  });

  it('rejects an unknown name with an error that lists every valid bug', () => {
    assert.throws(
      () => resolveBug('typo', undefined),
      (err: Error) =>
        err.message.includes('--bug "typo" is not a known bug') && bugNames.every((b) => err.message.includes(b)),
    );
    assert.throws(
      () => resolveBug(undefined, 'nope'),
      /RAFTLAB_BUG "nope" is not a known bug; valid bugs: stale-read, /,
    );
  });

  it('knows the seven planted bugs and warns loudly about them', () => {
    assert.deepEqual(bugNames, [
      'stale-read',
      'no-fsync',
      'commit-old-term',
      'vote-twice',
      'no-dedup',
      'fsync-skipped',
      'lease-without-clock-bound',
      'config-overlap',
    ]);
    assert.match(bugWarning('n1', 'no-dedup'), /^WARNING: raftlab node n1 runs with PLANTED BUG "no-dedup"/);
  });
});
