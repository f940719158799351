// The test corpus (checker/testdata/histories): its manifest entries and the
// check options each file is to be checked with. Used by the tests and the
// benchmark; not part of the public API.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CheckOptions, ModelName, NullRead } from './types.ts';

/** Folder of the copied corpus. */
export const CORPUS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'testdata', 'histories');

/** The manifest fields the checker needs. */
export interface CorpusEntry {
  file: string;
  model: ModelName;
  init: unknown;
  null_read: NullRead | null;
  expected_linearizable: boolean;
  events: number;
  porcupine_jsonl_median_ms?: number;
  porcupine_cpu_median_ms?: number;
}

/** Every manifest entry, in manifest order. */
export function corpusEntries(dir: string = CORPUS_DIR): CorpusEntry[] {
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { files: CorpusEntry[] };
  return manifest.files;
}

/** Check options for a manifest entry. */
export function corpusOptions(entry: CorpusEntry): CheckOptions {
  const options: CheckOptions = { model: entry.model };
  if (entry.init !== null && entry.init !== undefined) options.init = entry.init;
  if (entry.null_read) options.nullRead = entry.null_read;
  return options;
}
