/**
 * The page of `npm run check FILE --html OUT`: any history (a chaos run's history.jsonl, a Jepsen EDN file, a
 * hand-written JSONL) with the checker's verdict, the per-key table and, on a violation, the same story and timeline
 * as the chaos report. Without status.jsonl there are no leader bands; nemesis events in the history still give
 * fault rows.
 */
import { writeFileSync } from 'node:fs';
import type { CheckResult, HistoryEvent } from '../checker/index.ts';
import { faultLanes, faultWindows } from './analysis.ts';
import { escapeHtml, renderPage } from './page.ts';
import { partitionTable } from './report.ts';
import type { RunEvent } from './run-files.ts';
import { violationCss, violationScript, violationSection } from './violation-section.ts';

/** Renders the page of one checked history. */
export function renderCheckReport(file: string, events: readonly HistoryEvent[], result: CheckResult): string {
  // The report's event type has the run's fields; a history from elsewhere may lack times (then faults are not drawn).
  const runEvents = events as readonly RunEvent[];
  const timed = runEvents.every((e) => typeof e.time === 'number');
  const windows = timed ? faultWindows(runEvents) : [];
  const endNs = timed && runEvents.length > 0 ? runEvents[runEvents.length - 1]!.time : 0;
  const lanes = faultLanes(windows, endNs);
  const violation = violationSection(
    result.partitions,
    runEvents,
    [],
    windows.map((w, i) => ({ ...w, lane: lanes[i] ?? 0 })),
  );
  const badge =
    result.verdict === 'linearizable' ? 'linearizable' : result.verdict === 'illegal' ? 'illegal' : 'unknown';
  const body = `
<h1>check: ${escapeHtml(file)} <span class="badge ${badge}" id="verdict">${escapeHtml(result.verdict)}</span></h1>
<div class="kv">
  <div>history</div><div><code>${escapeHtml(file)}</code>, ${runEvents.length} events</div>
  <div>model</div><div><code>${escapeHtml(result.model)}</code></div>
  <div>operations</div><div>${result.ops} client ops in ${result.partitions.length} keys</div>
  <div>checker time</div><div>${result.timeMs.toFixed(1)} ms</div>
</div>
${violation.html}
<h2>Keys</h2>
${partitionTable(result.partitions)}
${(result.unsearched ?? []).length > 0 ? `<p class="muted">${result.unsearched?.length} key(s) were not searched: the verdict was already proven.</p>` : ''}`;
  return renderPage({
    title: `raftlab check ${file}: ${result.verdict}`,
    body,
    css: violationCss,
    charts: false,
    data: { violations: violation.data },
    script: violationScript,
  });
}

/** Writes the page to `out`. */
export function writeCheckReport(
  out: string,
  file: string,
  events: readonly HistoryEvent[],
  result: CheckResult,
): void {
  writeFileSync(out, renderCheckReport(file, events, result));
}
