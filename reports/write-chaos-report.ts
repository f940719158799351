/** Renders a run directory's report.html (used by the chaos harness and `npm run report`). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderChaosReport } from './report.ts';
import { readRunFiles } from './run-files.ts';

/** Reads the run's files, writes `<runDir>/report.html`, returns its path. */
export function writeChaosReport(runDir: string): string {
  const html = renderChaosReport(readRunFiles(runDir));
  const path = join(runDir, 'report.html');
  writeFileSync(path, html);
  return path;
}
