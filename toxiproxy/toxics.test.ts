// Stage logic in isolation (no sockets): what the socket-level suite cannot see, such as slicer piece sizes, the
// FIFO order of jittered latency, bandwidth pacing and what a removed or updated stage hands on. Time is a fake
// clock advanced by Node's mock timers, so nothing here depends on the machine's speed.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import { Random } from '../lib/random.ts';
import { createStage, type Chunk, type Receiver, type StageContext, type ToxicSpec, type ToxicType } from './toxics.ts';

let nowMs = 0;

beforeEach(() => {
  nowMs = 0;
  mock.timers.enable({ apis: ['setTimeout'] });
});

afterEach(() => {
  mock.timers.reset();
});

/** Advances the fake clock and fires due timers. */
function advance(ms: number): void {
  nowMs += ms;
  mock.timers.tick(ms);
}

class Recorder implements Receiver {
  readonly chunks: { text: string; atMs: number }[] = [];
  ended: number | undefined;
  push(chunk: Chunk): void {
    this.chunks.push({ text: chunk.data.toString(), atMs: nowMs });
  }
  end(): void {
    this.ended = nowMs;
  }
  text(): string {
    return this.chunks.map((c) => c.text).join('');
  }
}

function context(seed = 1): StageContext {
  return { random: new Random(seed), nowMs: () => nowMs, onRelease: () => {} };
}

function spec(type: ToxicType, attributes: Record<string, number>, toxicity = 1): ToxicSpec {
  return { name: type, type, stream: 'downstream', direction: 'downstream', toxicity, attributes };
}

const chunk = (text: string): Chunk => ({ data: Buffer.from(text), stampMs: nowMs });

describe('toxic stages', () => {
  test('slicer pieces stay within average ± variation and keep every byte in order', () => {
    const out = new Recorder();
    const stage = createStage(spec('slicer', { average_size: 100, size_variation: 30, delay: 0 }), context(), out);
    const payload = Array.from({ length: 5000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
    stage.push(chunk(payload));
    assert.equal(out.text(), payload);
    assert.ok(out.chunks.length >= 5000 / 130, `${out.chunks.length} pieces`);
    for (const piece of out.chunks) {
      assert.ok(piece.text.length >= 1 && piece.text.length <= 130, `piece of ${piece.text.length} bytes`);
    }
  });

  test('slicer with average 1 and no variation gives 1-byte pieces; average 0 passes the chunk whole', () => {
    const ones = new Recorder();
    createStage(spec('slicer', { average_size: 1, size_variation: 0, delay: 0 }), context(), ones).push(
      chunk('abcdef'),
    );
    assert.deepEqual(
      ones.chunks.map((c) => c.text),
      ['a', 'b', 'c', 'd', 'e', 'f'],
    );
    const whole = new Recorder();
    createStage(spec('slicer', { average_size: 0, size_variation: 50, delay: 0 }), context(), whole).push(
      chunk('abcdef'),
    );
    assert.deepEqual(
      whole.chunks.map((c) => c.text),
      ['abcdef'],
    );
  });

  test('latency with jitter keeps FIFO order and never releases a chunk early', () => {
    const out = new Recorder();
    const stage = createStage(spec('latency', { latency: 50, jitter: 40 }), context(7), out);
    for (let i = 0; i < 20; i++) {
      stage.push(chunk(`${i},`));
      advance(1);
    }
    advance(200);
    assert.equal(out.text(), Array.from({ length: 20 }, (_, i) => `${i},`).join(''));
    out.chunks.forEach((c, i) => assert.ok(c.atMs >= i + 10 - 1, `chunk ${i} left at ${c.atMs} ms, before 50-40 ms`));
    const times = out.chunks.map((c) => c.atMs);
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
    );
  });

  test('a latency update sends the chunk in flight at once and re-times the queued ones from their stamps', () => {
    const out = new Recorder();
    const stage = createStage(spec('latency', { latency: 100, jitter: 0 }), context(), out);
    stage.push(chunk('a'));
    advance(5);
    stage.push(chunk('b'));
    stage.push(chunk('c'));
    advance(5);
    stage.update(spec('latency', { latency: 200, jitter: 0 }));
    assert.deepEqual(out.chunks, [{ text: 'a', atMs: 10 }]);
    advance(194);
    assert.equal(out.chunks.length, 1, 'b and c now wait 200 ms from their read at 5 ms');
    advance(1);
    assert.deepEqual(
      out.chunks.map((c) => `${c.text}@${c.atMs}`),
      ['a@10', 'b@205', 'c@205'],
    );
    stage.end();
    assert.equal(out.ended, 205);
  });

  test('a latency update that loses the toxicity draw releases everything queued before passing new data', () => {
    const out = new Recorder();
    const stage = createStage(spec('latency', { latency: 100, jitter: 0 }), context(), out);
    stage.push(chunk('a'));
    stage.push(chunk('b'));
    stage.update(spec('latency', { latency: 100, jitter: 0 }, 0));
    stage.push(chunk('c'));
    assert.equal(out.text(), 'abc');
  });

  test('bandwidth paces by rate (bytes per ms) and a removed stage hands on what it held, in order', () => {
    const out = new Recorder();
    const stage = createStage(spec('bandwidth', { rate: 1 }), context(), out);
    stage.push(chunk('x'.repeat(100)));
    stage.push(chunk('y'.repeat(100)));
    advance(99);
    assert.equal(out.text(), '');
    advance(2);
    assert.equal(out.text(), 'x'.repeat(100));
    const held = stage.detach();
    assert.deepEqual(
      held.chunks.map((c) => c.data.toString()),
      ['y'.repeat(100)],
    );
    advance(500);
    assert.equal(out.chunks.length, 1, 'a detached stage releases nothing by itself');
  });

  test('toxicity 0 passes through; an update re-draws and applies new attributes', () => {
    const out = new Recorder();
    const stage = createStage(spec('timeout', { timeout: 0 }, 0), context(), out);
    stage.push(chunk('passes'));
    assert.equal(out.text(), 'passes');
    stage.update(spec('timeout', { timeout: 100 }, 1));
    stage.push(chunk('dropped'));
    advance(99);
    assert.equal(out.ended, undefined);
    advance(2);
    assert.equal(out.text(), 'passes');
    assert.equal(out.ended, 101, 'closed 100 ms after the last chunk');
  });

  test('limit_data counts across updates and cuts the chunk that crosses the limit', () => {
    const out = new Recorder();
    const stage = createStage(spec('limit_data', { bytes: 10 }), context(), out);
    stage.push(chunk('12345'));
    stage.update(spec('limit_data', { bytes: 8 }));
    stage.push(chunk('67890'));
    assert.equal(out.text(), '12345678');
    assert.equal(out.ended, 0);
    stage.push(chunk('more'));
    assert.equal(out.text(), '12345678');
  });

  test('slow_close holds the EOF for its delay and releases it at once when removed', () => {
    const out = new Recorder();
    const stage = createStage(spec('slow_close', { delay: 300 }), context(), out);
    stage.push(chunk('data'));
    stage.end();
    assert.equal(out.text(), 'data');
    advance(299);
    assert.equal(out.ended, undefined);
    advance(1);
    assert.equal(out.ended, 300);
    const early = new Recorder();
    const other = createStage(spec('slow_close', { delay: 300 }), context(), early);
    other.end();
    assert.equal(other.detach().eof, true);
  });

  test('reset_peer drops the first chunk and closes after its timeout', () => {
    const out = new Recorder();
    const stage = createStage(spec('reset_peer', { timeout: 50 }), context(), out);
    stage.push(chunk('first'));
    stage.push(chunk('second'));
    advance(49);
    assert.equal(out.ended, undefined);
    advance(1);
    assert.equal(out.ended, 50);
    assert.equal(out.text(), '');
  });
});
