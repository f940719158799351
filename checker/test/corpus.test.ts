// Every corpus history against its manifest (model, init, null_read, verdict).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkSync } from '../check.ts';
import { CORPUS_DIR, corpusEntries, corpusOptions } from '../corpus.ts';
import { parseJsonl } from '../parse.ts';

const entries = corpusEntries();

test('the manifest lists every corpus file', () => {
  assert.ok(entries.length >= 170, `only ${entries.length} entries`);
});

test('every corpus history gets the manifest verdict, and illegal ones a counterexample', () => {
  const wrong: string[] = [];
  for (const entry of entries) {
    const events = parseJsonl(readFileSync(join(CORPUS_DIR, entry.file), 'utf8'));
    // Once a partition is illegal the verdict is settled: keep the others short.
    const result = checkSync(events, {
      ...corpusOptions(entry),
      budgetMs: 20_000,
      budgetAfterIllegalMs: 300,
      shrinkBudgetMs: 500,
    });
    const expected = entry.expected_linearizable ? 'linearizable' : 'illegal';
    if (result.verdict !== expected) wrong.push(`${entry.file}: ${result.verdict}, expected ${expected}`);
    if (result.verdict === 'illegal') {
      const illegal = result.partitions.filter((p) => p.verdict === 'illegal');
      for (const p of illegal) {
        const cx = p.counterexample;
        assert.ok(cx, `${entry.file}: illegal partition without counterexample`);
        assert.ok(
          cx.ops.some((op) => op.outcome === 'ok'),
          `${entry.file}: window without ok ops`,
        );
        assert.ok(cx.initialStates.length >= 1);
        for (const id of cx.stuckOps) assert.ok(cx.ops.some((op) => op.id === id));
        for (const path of cx.partialLinearizations)
          for (const step of path) assert.ok(cx.ops.some((op) => op.id === step.id));
      }
    }
  }
  assert.deepEqual(wrong, []);
});
