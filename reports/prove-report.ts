/**
 * prove.html: the `npm run prove` table as a small self-contained
 * page: per planted bug, how many seeds caught it and how fast; for the
 * correct node, the false alarms; then every run with a link to its report.
 */
import { writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { escapeHtml, renderPage } from './page.ts';

/** One chaos run of a prove session. */
export interface ProveRun {
  /** The planted bug, or `correct` for the correct node. */
  variant: string;
  /** Whose preset (nemesis, workload) the run used. */
  settings: string;
  seed: number;
  verdict: 'linearizable' | 'illegal' | 'unknown' | 'broken';
  exitCode: number;
  runDir: string;
  /** Wall seconds of the whole run (setup, workload, heal, check, report). */
  wallS: number;
  /** Seconds from the workload's start to the earliest op of the counterexample. */
  detectionS?: number;
  error?: string;
  /** The `npm run chaos` command that replays this run. */
  command: string;
}

/** One row of the table. */
export interface ProveSummaryRow {
  variant: string;
  runs: number;
  /** Runs judged illegal (for a bug: caught). */
  caught: number;
  medianDetectionS?: number;
  /** Correct node only: runs judged illegal (must be 0). */
  falseAlarms?: number;
  /** Runs the checker could not decide or that broke. */
  undecided: number;
}

/** prove.json. */
export interface ProveFile {
  startedAt: string;
  finishedAt?: string;
  command: string;
  seeds: number[];
  bugs: string[];
  presets: Record<string, unknown>;
  runs: ProveRun[];
  summary: ProveSummaryRow[];
}

/** The table as plain text lines (the CLI prints the same thing). */
export function proveTableLines(rows: readonly ProveSummaryRow[]): string[] {
  const header = ['variant', 'caught', 'median s to detection', 'false alarms', 'undecided'];
  const body = rows.map((r) => [
    r.variant,
    r.variant === 'correct' ? '-' : `${r.caught}/${r.runs}`,
    r.medianDetectionS !== undefined ? r.medianDetectionS.toFixed(1) : '-',
    r.falseAlarms !== undefined ? `${r.falseAlarms}/${r.runs}` : '-',
    String(r.undecided),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), ...body.map(line)];
}

/** Writes `<dir>/prove.html` and returns its path. */
export function writeProveReport(dir: string, file: ProveFile): string {
  const rows = file.summary
    .map((r) => {
      const good = r.variant === 'correct' ? (r.falseAlarms ?? 0) === 0 : r.caught === r.runs && r.runs > 0;
      return `<tr class="${good ? 'good' : 'bad'}"><td>${escapeHtml(r.variant)}</td><td>${r.variant === 'correct' ? '-' : `${r.caught}/${r.runs}`}</td><td>${
        r.medianDetectionS !== undefined ? r.medianDetectionS.toFixed(1) : '-'
      }</td><td>${r.falseAlarms !== undefined ? `${r.falseAlarms}/${r.runs}` : '-'}</td><td>${r.undecided}</td></tr>`;
    })
    .join('\n');
  const runs = file.runs
    .map((r) => {
      const report = join(relative(dir, r.runDir), 'report.html');
      return `<tr><td>${escapeHtml(r.variant)}</td><td>${escapeHtml(r.settings)}</td><td>${r.seed}</td><td>${escapeHtml(r.verdict)}</td><td>${
        r.detectionS !== undefined ? r.detectionS.toFixed(1) : '-'
      }</td><td>${r.wallS.toFixed(0)}</td><td><a href="${escapeHtml(report)}">report</a></td><td><code>${escapeHtml(r.command)}</code></td></tr>`;
    })
    .join('\n');
  const body = `<h1>raftlab prove: does the chaos suite catch planted bugs?</h1>
<p>Started ${escapeHtml(file.startedAt)}${file.finishedAt !== undefined ? `, finished ${escapeHtml(file.finishedAt)}` : ' (in progress)'}. Seeds ${escapeHtml(file.seeds.join(', '))}.
Command: <code>${escapeHtml(file.command)}</code></p>
<p>A bug is caught when the checker finds the history not linearizable (exit 1). Detection time: seconds from the start of the workload to the earliest operation of the counterexample. The correct node runs with every bug's settings and the same seeds; any illegal verdict there is a false alarm.</p>
<table><thead><tr><th>variant</th><th>caught</th><th>median s to detection</th><th>false alarms</th><th>undecided</th></tr></thead>
<tbody>${rows}</tbody></table>
<h2>Runs</h2>
<table><thead><tr><th>variant</th><th>settings of</th><th>seed</th><th>verdict</th><th>detection s</th><th>wall s</th><th></th><th>replay</th></tr></thead>
<tbody>${runs}</tbody></table>`;
  const path = join(dir, 'prove.html');
  writeFileSync(
    path,
    renderPage({
      title: 'raftlab prove',
      body,
      data: file,
      charts: false,
      css: 'table{border-collapse:collapse;margin:1em 0}td,th{padding:.25em .6em;border-bottom:1px solid #ddd;text-align:left}tr.good td:first-child{color:#1a7f37}tr.bad td:first-child{color:#cf222e;font-weight:bold}code{font-size:85%}',
    }),
  );
  return path;
}
