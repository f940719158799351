/** Writes the CI outputs of a finished run (`npm run chaos -- --junit FILE --summary FILE`, reports/ci-summary.ts). */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { junitXml, markdownSummary, summarizeRun } from '../../reports/ci-summary.ts';
import { readRunFiles } from '../../reports/run-files.ts';

/** Writes the JUnit file (replaced) and appends the summary; returns the paths written. */
export function writeCiFiles(
  runDir: string,
  reportPath: string | undefined,
  to: { junit?: string | undefined; summary?: string | undefined },
): string[] {
  // Relative to where the command ran, as a CI job's workspace sees the uploaded store.
  const shown = reportPath === undefined ? undefined : relative(process.cwd(), reportPath);
  // Outside the working directory the absolute path says more than a chain of "..".
  const summary = summarizeRun(readRunFiles(runDir), shown?.startsWith('..') ? reportPath : shown);
  const written: string[] = [];
  if (to.junit !== undefined) {
    mkdirSync(dirname(to.junit), { recursive: true });
    writeFileSync(to.junit, junitXml(summary));
    written.push(to.junit);
  }
  if (to.summary !== undefined) {
    mkdirSync(dirname(to.summary), { recursive: true });
    appendFileSync(to.summary, markdownSummary(summary));
    written.push(to.summary);
  }
  return written;
}
