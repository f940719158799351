import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  InvalidToxicError,
  TOXIC_ATTRIBUTES,
  toxicProblems,
  validateToxic,
  validateToxicAttributes,
} from './toxics.ts';

/** The one problem of a toxic; fails unless there is exactly one. */
function onlyProblem(toxic: Parameters<typeof toxicProblems>[0]): string {
  const problems = toxicProblems(toxic);
  assert.equal(problems.length, 1, `expected one problem, got ${JSON.stringify(problems)}`);
  return problems[0] ?? '';
}

/**
 * A model of how the real Toxiproxy 2.12.0 slicer cuts a chunk of `length` bytes (docs/toxiproxy-compat.md §7):
 * a piece longer than average_size + size_variation is cut near its middle, moved by draw(2 * size_variation) -
 * size_variation when size_variation > 0, and both halves are cut again. `draw(n)` gives the random int in
 * [0, n). Returns the pieces, or the reason Go would fail: a cut that never shrinks the piece (unbounded
 * recursion, a fatal stack overflow) or slice bounds outside the chunk (a panic).
 */
function realSlicerCuts(
  length: number,
  averageSize: number,
  sizeVariation: number,
  draw: (n: number) => number,
): [number, number][] | string {
  const bounds: number[] = [];
  const cut = (start: number, end: number, depth: number): string | undefined => {
    if (depth > 200) return 'no end';
    if (end - start - averageSize <= sizeVariation) {
      bounds.push(start, end);
      return undefined;
    }
    // Go's integer division truncates toward zero.
    let mid = start + Math.trunc((end - start) / 2);
    if (sizeVariation > 0) mid += draw(sizeVariation * 2) - sizeVariation;
    return cut(start, mid, depth + 1) ?? cut(mid, end, depth + 1);
  };
  const failure = cut(0, length, 0);
  if (failure !== undefined) return failure;
  const pieces: [number, number][] = [];
  for (let i = 1; i < bounds.length; i += 2) {
    const [from, to] = [bounds[i - 1] ?? 0, bounds[i] ?? 0];
    if (from < 0 || from > to || to > length) return `slice bounds out of range [${from}:${to}]`;
    pieces.push([from, to]);
  }
  return pieces;
}

/** A seeded draw in [0, n) (a 32-bit LCG); only the spread of values matters here. */
function seededDraw(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n) => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state % n;
  };
}

describe('toxicProblems', () => {
  test('accepts the usual settings of every type, with omitted attributes and toxicity', () => {
    const good: Parameters<typeof toxicProblems>[0][] = [
      { type: 'latency', attributes: { latency: 100, jitter: 10 } },
      { type: 'latency', attributes: { latency: 5, jitter: 50 } },
      { type: 'latency', attributes: {} },
      { type: 'bandwidth', attributes: { rate: 0 } },
      { type: 'bandwidth', attributes: { rate: 1000 }, toxicity: 0.5 },
      { type: 'slow_close', attributes: { delay: 300 } },
      { type: 'timeout', attributes: { timeout: 0 } },
      { type: 'reset_peer', attributes: { timeout: 100 }, toxicity: 0 },
      { type: 'slicer', attributes: { average_size: 1 } },
      { type: 'slicer', attributes: { average_size: 1024, size_variation: 512, delay: 10 } },
      { type: 'slicer', attributes: { average_size: 2, size_variation: 1, delay: 0 } },
      { type: 'limit_data', attributes: { bytes: 0 } },
      { type: 'noop', attributes: {}, toxicity: 1 },
      { type: 'noop' },
      { type: 'latency', attributes: { latency: null, jitter: 3 }, toxicity: null },
    ];
    for (const toxic of good) assert.deepEqual(toxicProblems(toxic), [], JSON.stringify(toxic));
  });

  test('rejects an unknown type and lists the known ones', () => {
    const problem = onlyProblem({ type: 'down', attributes: {} });
    assert.match(problem, /unknown toxic type "down"/);
    assert.match(problem, /latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data, noop/);
    assert.match(onlyProblem({ type: 'toString' }), /unknown toxic type "toString"/);
  });

  test('rejects a negative value of every attribute of every type, naming type, attribute and value', () => {
    for (const [type, names] of Object.entries(TOXIC_ATTRIBUTES)) {
      for (const name of names) {
        // Keep the other slicer attributes valid so only the negative one is at fault.
        const base: Record<string, unknown> = type === 'slicer' ? { average_size: 10, size_variation: 2 } : {};
        const problem = onlyProblem({ type, attributes: { ...base, [name]: -1 } });
        assert.ok(problem.startsWith(`${type} ${name} -1: must not be negative`), problem);
      }
    }
  });

  test('a negative bandwidth rate says the real server panics and that 0 holds data', () => {
    const problem = onlyProblem({ type: 'bandwidth', attributes: { rate: -1 } });
    assert.match(problem, /panics once data flows/);
    assert.match(problem, /use 0 to hold all data/);
  });

  test('slicer: average_size below 1 (also when omitted) and size_variation >= average_size are refused', () => {
    assert.equal(
      onlyProblem({ type: 'slicer', attributes: { average_size: 0, size_variation: 5 } }),
      'slicer average_size 0: must be at least 1 byte (the real Toxiproxy 2.12.0 cuts pieces without end or ' +
        'outside the chunk and panics)',
    );
    assert.match(onlyProblem({ type: 'slicer', attributes: { delay: 10 } }), /average_size 0 \(omitted, so 0\)/);
    assert.match(onlyProblem({ type: 'slicer', attributes: { average_size: 0 } }), /at least 1 byte/);
    for (const [averageSize, sizeVariation] of [
      [3, 3],
      [3, 4],
      [1, 1],
      [100, 1000],
    ]) {
      const problem = onlyProblem({
        type: 'slicer',
        attributes: { average_size: averageSize, size_variation: sizeVariation },
      });
      assert.ok(
        problem.startsWith(`slicer size_variation ${sizeVariation}: must be less than average_size ${averageSize}`),
        problem,
      );
    }
  });

  test('attributes must be whole, finite, safe integers that fit a Go time.Duration', () => {
    assert.match(
      onlyProblem({ type: 'latency', attributes: { latency: 1.5 } }),
      /latency latency 1\.5: must be a whole number of ms/,
    );
    assert.match(onlyProblem({ type: 'limit_data', attributes: { bytes: 2.5 } }), /whole number of bytes/);
    assert.match(
      onlyProblem({ type: 'bandwidth', attributes: { rate: '100' } }),
      /bandwidth rate "100": must be a number/,
    );
    assert.match(
      onlyProblem({ type: 'timeout', attributes: { timeout: Number.NaN } }),
      /timeout timeout NaN: must be a number/,
    );
    assert.match(
      onlyProblem({ type: 'limit_data', attributes: { bytes: 2 ** 60 } }),
      /too large \(at most 9007199254740991\)/,
    );
    assert.match(
      onlyProblem({ type: 'slow_close', attributes: { delay: 10 ** 13 } }),
      /too large for the server's time\.Duration/,
    );
    assert.match(
      onlyProblem({ type: 'latency', attributes: { latency: 9_000_000_000_000, jitter: 300_000_000_000 } }),
      /latency 9000000000000 \+ jitter 300000000000: too large/,
    );
    // The slicer's delay is in µs, so any safe integer fits a Duration.
    assert.deepEqual(toxicProblems({ type: 'slicer', attributes: { average_size: 2, delay: 10 ** 15 } }), []);
  });

  test('an attribute the type does not have is refused (a typo would silently be 0 on the server)', () => {
    assert.equal(
      onlyProblem({ type: 'latency', attributes: { latancy: 100 } }),
      'latency has no attribute "latancy" (known: latency, jitter)',
    );
    assert.equal(
      onlyProblem({ type: 'noop', attributes: { rate: 1 } }),
      'noop has no attribute "rate" (it takes none)',
    );
    assert.match(
      onlyProblem({ type: 'latency', attributes: [] as never }),
      /latency attributes must be an object, got \[\]/,
    );
  });

  test('toxicity must be a probability in [0, 1]', () => {
    for (const toxicity of [0, 0.2, 1]) assert.deepEqual(toxicProblems({ type: 'noop', toxicity }), [], `${toxicity}`);
    assert.equal(onlyProblem({ type: 'noop', toxicity: 2.5 }), 'noop toxicity 2.5: must be a probability in [0, 1]');
    assert.equal(onlyProblem({ type: 'noop', toxicity: -0.1 }), 'noop toxicity -0.1: must be a probability in [0, 1]');
    assert.match(onlyProblem({ type: 'noop', toxicity: '0.5' }), /noop toxicity "0.5": must be a number/);
    assert.match(onlyProblem({ type: 'noop', toxicity: Number.POSITIVE_INFINITY }), /must be a number/);
  });

  test('lists every problem of a toxic at once', () => {
    const problems = toxicProblems({
      type: 'latency',
      attributes: { latency: -5, jitter: 0.5, extra: 1 },
      toxicity: 3,
    });
    assert.equal(problems.length, 4, JSON.stringify(problems));
  });
});

describe('validateToxic and validateToxicAttributes', () => {
  test('throw InvalidToxicError with every problem in the message, and return quietly otherwise', () => {
    assert.throws(
      () => validateToxic({ type: 'slicer', attributes: { average_size: 0, size_variation: 5 }, toxicity: 7 }),
      (error: unknown) => {
        assert.ok(error instanceof InvalidToxicError);
        assert.equal(error.problems.length, 2);
        assert.ok(error.message.startsWith('invalid slicer toxic: slicer average_size 0: '), error.message);
        assert.match(error.message, /; slicer toxicity 7: must be a probability/);
        return true;
      },
    );
    assert.throws(
      () => validateToxicAttributes('bandwidth', { rate: -1 }),
      /invalid bandwidth toxic: bandwidth rate -1/,
    );
    validateToxic({ type: 'latency', attributes: { latency: 100, jitter: 0 }, toxicity: 1 });
    validateToxicAttributes('timeout', { timeout: 0 });
    // validateToxicAttributes does not judge toxicity: it has none to judge.
    validateToxicAttributes('noop', {});
  });
});

describe('the slicer rule matches the real slicer cutting (a model of docs/toxiproxy-compat.md §7)', () => {
  test('every accepted average_size/size_variation cuts any chunk into non-empty in-bounds pieces', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 5000 })
          .chain((averageSize) =>
            fc.tuple(
              fc.constant(averageSize),
              fc.integer({ min: 0, max: averageSize - 1 }),
              fc.integer({ min: 1, max: 64 * 1024 }),
              fc.integer(),
            ),
          ),
        ([averageSize, sizeVariation, length, seed]) => {
          assert.deepEqual(
            toxicProblems({ type: 'slicer', attributes: { average_size: averageSize, size_variation: sizeVariation } }),
            [],
          );
          const pieces = realSlicerCuts(length, averageSize, sizeVariation, seededDraw(seed));
          assert.ok(Array.isArray(pieces), `${pieces}`);
          let at = 0;
          for (const [from, to] of pieces) {
            assert.equal(from, at, 'contiguous');
            assert.ok(to > from, 'non-empty');
            at = to;
          }
          assert.equal(at, length, 'covers the chunk');
        },
      ),
      { seed: 20261202, numRuns: 500 },
    );
  });

  test('with size_variation >= 0, exactly the refused settings fail for some chunk length and draws', () => {
    // The extreme draws (the cut as far left or right as it goes) are where the real slicer breaks first.
    const draws: ((n: number) => number)[] = [() => 0, (n) => n - 1, seededDraw(1), seededDraw(2)];
    for (let averageSize = -4; averageSize <= 12; averageSize++) {
      for (let sizeVariation = 0; sizeVariation <= 12; sizeVariation++) {
        const refused =
          toxicProblems({
            type: 'slicer',
            attributes: { average_size: averageSize, size_variation: sizeVariation },
          }).length > 0;
        let fails = false;
        for (let length = 1; length <= 64 && !fails; length++) {
          for (const draw of draws) {
            if (typeof realSlicerCuts(length, averageSize, sizeVariation, draw) === 'string') fails = true;
          }
        }
        assert.equal(refused, fails, `average_size ${averageSize} size_variation ${sizeVariation}`);
      }
    }
  });

  test('the case seen on the real server: average_size 0, size_variation 5 fails as it did there', () => {
    // With these draws a 9-byte chunk gets the bounds of the real server's panic message.
    const draws = [4, 0];
    assert.equal(
      realSlicerCuts(9, 0, 5, () => draws.shift() ?? 5),
      'slice bounds out of range [3:1]',
    );
    // With the cut always as far left as it goes, it never ends (Go: a fatal stack overflow).
    assert.equal(
      realSlicerCuts(9, 0, 5, () => 0),
      'no end',
    );
  });
});
