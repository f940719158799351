// Reading histories: JSONL with line-numbered errors, Jepsen EDN, detection.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkSync } from '../check.ts';
import { HistoryParseError } from '../errors.ts';
import { detectFormat, parseEdn, parseJsonl } from '../parse.ts';

function parseError(fn: () => unknown): HistoryParseError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof HistoryParseError, `expected HistoryParseError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a parse error');
}

test('JSONL: a line that is not JSON is reported with its line number', () => {
  const text = '{"process":0,"type":"invoke","f":"read","value":null}\n\n{"process":0,"type":"ok",\n';
  const error = parseError(() => parseJsonl(text));
  assert.equal(error.line, 3);
  assert.match(error.message, /^line 3: not valid JSON/);
});

test('JSONL: a wrong field is reported with its line number and what is expected', () => {
  assert.equal(parseError(() => parseJsonl('{"process":0,"type":"done","f":"read"}')).line, 1);
  assert.match(
    parseError(() => parseJsonl('\n{"process":1.5,"type":"ok","f":"read"}')).message,
    /^line 2: "process" must be an integer/,
  );
  assert.match(parseError(() => parseJsonl('[1,2]')).message, /expected an object/);
  assert.match(parseError(() => parseJsonl('{"process":0,"type":"ok"}')).message, /"f" must be a string/);
});

test('JSONL: nemesis events and optional fields are kept as given', () => {
  const events = parseJsonl(
    '{"process":3,"type":"invoke","f":"write","key":"k7","value":12,"time":1834000123}\n' +
      '{"process":"nemesis","type":"info","f":"kill","value":["n2"],"time":1900000000}\n' +
      '{"process":3,"type":"info","f":"write","key":"k7","value":12,"error":"timeout"}\n',
  );
  assert.deepEqual(events[0], { process: 3, type: 'invoke', f: 'write', key: 'k7', value: 12, time: 1834000123 });
  assert.equal(events[1]!.process, 'nemesis');
  assert.equal(events[2]!.error, 'timeout');
});

const JEPSEN_EDN = `{:type :invoke, :f :write, :value 3, :process 0, :time 123, :index 0}
{:type :ok, :f :write, :value 3, :process 0, :time 456, :index 1}
{:type :info, :f :start, :value nil, :process :nemesis, :time 500}
{:type :invoke, :f :cas, :value [3 4], :process 1, :index 3}
{:type :info, :f :cas, :value [3 4], :process 1, :error :timed-out}
; comments are fine
{:type :invoke, :f :read, :value nil, :process 2}
{:type :ok, :f :read, :value 4, :process 2}
`;

test('EDN: Jepsen history.edn maps become the same events as JSONL', () => {
  const events = parseEdn(JEPSEN_EDN);
  assert.equal(events.length, 7);
  assert.deepEqual(events[0], { process: 0, type: 'invoke', f: 'write', value: 3, time: 123 });
  assert.equal(events[2]!.process, 'nemesis');
  assert.deepEqual(events[3]!.value, [3, 4]);
  assert.equal(events[4]!.error, 'timed-out');
  // And the checker reads them: the unknown cas explains the read of 4.
  assert.equal(checkSync(events, { model: 'cas-register' }).verdict, 'linearizable');
});

test('EDN: one vector of maps (Knossos data files) parses the same', () => {
  assert.deepEqual(parseEdn(`[${JEPSEN_EDN}]`), parseEdn(JEPSEN_EDN));
});

test('EDN: a broken map is reported with its line', () => {
  const error = parseError(() =>
    parseEdn('{:type :invoke, :f :read, :process 0}\n{:type :ok :f :read :process 0 :value [1 2}\n'),
  );
  assert.equal(error.line, 2);
});

test('format detection by extension, then by content', () => {
  assert.equal(detectFormat('h.edn', '{"process":0}'), 'edn');
  assert.equal(detectFormat('h.jsonl', '{:type :ok}'), 'jsonl');
  assert.equal(detectFormat('history', '{"process":0,"type":"ok"}'), 'jsonl');
  assert.equal(detectFormat('history', '{:type :ok, :process 0}'), 'edn');
  assert.equal(detectFormat('history', '[{:type :ok}]'), 'edn');
});
