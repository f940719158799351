/**
 * The chaos report: one self-contained HTML page per run directory. The
 * verdict and seed come first, then throughput over time, every op's latency
 * (coloured by outcome, with p50/p99 lines), nemesis windows shaded on both
 * charts, per-op-type stats, the fault table with recovery figures, the
 * checker's per-key results and, on a violation, the failing window of ops
 * with its partial linearizations drawn as a timeline (porcupine-like).
 */
import { join, relative, resolve } from 'node:path';
import type { PartitionResult } from '../checker/index.ts';
import {
  completedOps,
  faultRecovery,
  faultWindows,
  faultLanes,
  concurrentFaults,
  leaderChangePoints,
  leaderTimeline,
  opTypeStats,
  percentile,
  throughputSeries,
  type CompletedOp,
} from './analysis.ts';
import { runChartsCss, runChartsScript } from './charts-script.ts';
import { latencyData, type LatencyData } from './latency-data.ts';
import { escapeHtml, renderPage } from './page.ts';
import type { RunFiles } from './run-files.ts';
import { faultFill } from './timeline-svg.ts';
import { violationCss, violationScript, violationSection } from './violation-section.ts';

const fmtMs = (ms: number | undefined): string => (ms === undefined ? '—' : ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
const fmtS = (ns: number | undefined): string => (ns === undefined ? '—' : (ns / 1e9).toFixed(2));
const showValue = (value: unknown): string => (value === undefined ? '' : JSON.stringify(value));

function verdictBlock(files: RunFiles): string {
  const results = files.results;
  const verdict = results?.verdict ?? 'unfinished';
  const badgeClass =
    verdict === 'linearizable'
      ? 'linearizable'
      : verdict === 'unknown' || verdict === 'unfinished'
        ? 'unknown'
        : 'illegal';
  const availability = results?.availability;
  const availabilityText =
    availability === undefined
      ? '<span class="badge unknown">not checked</span>'
      : availability.ok
        ? `<span class="badge ok">recovered</span> every final read succeeded${availability.recoveredAfterHealMs !== undefined ? ` (${fmtMs(availability.recoveredAfterHealMs)} ms after the heal)` : ''}`
        : `<span class="badge bad">availability failure</span> ${availability.finalReads.filter((r) => !r.ok).length} of ${availability.finalReads.length} final reads failed within ${availability.boundMs} ms`;
  const counts = results?.counts;
  const check = results?.check;
  const options = files.test.options;
  const system = files.test.system;
  return `
<h1>${escapeHtml(system?.name ?? 'raftlab')} chaos: ${escapeHtml(files.test.name)} <span class="badge ${badgeClass}" id="verdict">${escapeHtml(verdict)}</span></h1>
<div class="kv">
  ${options.bug !== undefined ? `<div>PLANTED BUG</div><div><span class="badge bad" id="bug">${escapeHtml(options.bug)}</span> every node ran with this deliberate bug (harness/PROVE.md)</div>` : ''}
  <div>system</div><div id="system">${escapeHtml(system?.name ?? 'raftlab')}${system?.version !== undefined ? ` ${escapeHtml(system.version)}` : ''}${system?.command !== undefined ? ` — started as <code>${escapeHtml(system.command)}</code>` : ''}</div>
  <div>seed</div><div><code id="seed">${escapeHtml(files.test.seed)}</code> — reproduce with <code>${escapeHtml(files.test.command ?? `npm run chaos -- --seed ${files.test.seed}`)}</code></div>
  ${files.test.shrunkFrom !== undefined ? `<div>shrunk from</div><div id="shrunk-from">a smaller run that still fails, shrunk from <a href="${escapeHtml(relativeReport(files.dir, files.test.shrunkFrom))}">${escapeHtml(files.test.shrunkFrom)}</a></div>` : ''}
  <div>exit code</div><div>${escapeHtml(results?.exitCode ?? '—')}</div>
  ${results?.error !== undefined ? `<div>error</div><div><code>${escapeHtml(results.error)}</code></div>` : ''}
  <div>availability</div><div>${availabilityText}</div>
  <div>started</div><div>${escapeHtml(files.test.startedAt)}</div>
  <div>options</div><div><code>${escapeHtml(
    Object.entries(options)
      .map(([k, v]) => `--${k} ${Array.isArray(v) ? v.join(',') : String(v)}`)
      .join(' '),
  )}</code></div>
  <div>cluster</div><div>${escapeHtml(files.test.cluster?.nodes.join(', ') ?? '—')} (${escapeHtml(files.test.cluster?.mode ?? '—')}${files.test.cluster?.toxiproxy !== undefined ? `, toxiproxy ${escapeHtml(files.test.cluster.toxiproxy)}` : ''})</div>
  ${counts !== undefined ? `<div>operations</div><div>${counts.invoked} invoked: ${counts.ok} ok, ${counts.fail} fail, ${counts.info} info; ${counts.processes} process ids</div>` : ''}
  ${check !== undefined ? `<div>checker</div><div>${escapeHtml(check.model)}, ${check.partitions.length} keys, ${fmtMs(check.timeMs)} ms</div>` : ''}
</div>`;
}

/** A link from this run's report to another run's report.html (relative, so a copied store keeps working). */
function relativeReport(fromDir: string, toDir: string): string {
  return relative(resolve(fromDir), join(resolve(fromDir, toDir), 'report.html'));
}

function opStatsTable(ops: readonly CompletedOp[]): string {
  const rows = opTypeStats(ops)
    .map(
      (s) =>
        `<tr><td class="l">${escapeHtml(s.f)}</td><td>${s.ok}</td><td>${s.fail}</td><td>${s.info}</td><td>${fmtMs(s.p50Ms)}</td><td>${fmtMs(s.p95Ms)}</td><td>${fmtMs(s.p99Ms)}</td><td>${fmtMs(s.maxMs)}</td></tr>`,
    )
    .join('');
  return `<table id="op-stats"><tr><th class="l">op</th><th>ok</th><th>fail</th><th>info</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th></tr>${rows}</table>
<p class="muted">Latencies are of ok ops. fail = certainly not applied; info = outcome unknown (timeout, reset, ambiguous 5xx).</p>`;
}

/**
 * What the nemesis did inside its fault windows, one line per event that is neither a start nor a stop (membership
 * changes with the configuration they left, scripted steps, the final configuration); empty when there are none.
 */
function nemesisNotes(files: RunFiles): string {
  const notes = files.events.filter(
    (e) => e.process === 'nemesis' && !/-(start|stop)$/.test(e.f) && e.f !== 'heal' && e.detail !== undefined,
  );
  if (notes.length === 0) return '';
  const rows = notes
    .map(
      (e) =>
        `<tr><td>${fmtS(e.time)}</td><td>${e.fault ?? ''}</td><td class="l">${escapeHtml(e.f)}</td><td class="l">${escapeHtml(e.detail ?? '')}</td></tr>`,
    )
    .join('');
  return `<table id="nemesis-notes"><tr><th>time s</th><th>#</th><th class="l">event</th><th class="l">detail</th></tr>${rows}</table>`;
}

function faultTable(files: RunFiles, ops: readonly CompletedOp[], endNs: number): string {
  const windows = faultWindows(files.events);
  const recovery = faultRecovery(windows, ops, leaderTimeline(files.status), endNs);
  if (recovery.length === 0) return '<p class="muted">No faults were injected.</p>';
  const concurrent = concurrentFaults(windows, endNs);
  const rows = recovery
    .map(
      (
        r,
        i,
      ) => `<tr><td>${r.index}</td><td class="l">${escapeHtml(r.description)}</td><td class="l">${concurrent[i]?.length ? concurrent[i].map((x) => `#${x}`).join(' ') : '—'}</td><td class="l mono">${escapeHtml(Array.isArray(r.targets) ? r.targets.join(' ') : showValue(r.targets))}</td><td class="l">${escapeHtml(r.layer ?? '')}</td>
<td>${fmtS(r.startNs)}</td><td>${fmtS(r.stopNs)}</td><td>${fmtMs(r.firstWriteAfterStartMs)}</td><td>${fmtMs(r.firstWriteAfterStopMs)}</td><td>${fmtMs(r.unavailableMs)}</td><td>${r.leaderChanges}</td><td>${r.infoOps}</td></tr>`,
    )
    .join('');
  return `<table id="faults"><tr><th>#</th><th class="l">fault</th><th class="l">overlaps</th><th class="l">targets</th><th class="l">layer</th><th>start s</th><th>stop s</th>
<th>first ok write after start, ms</th><th>first ok write after stop, ms</th><th>longest gap without ok write, ms</th><th>leader changes</th><th>info ops</th></tr>${rows}</table>
<p class="muted">"First ok write" = the first write or CAS invoked after the moment that succeeded, measured to its completion. Layer: what applied a network fault, <code>kernel</code> (nftables rules in the members' network namespaces) or <code>proxy</code> (Toxiproxy). Leader changes come from polling /status every 250 ms, until the next fault.</p>`;
}

export function partitionTable(partitions: readonly PartitionResult[]): string {
  const sorted = [...partitions].sort((a, b) =>
    a.verdict === b.verdict ? String(a.key).localeCompare(String(b.key)) : a.verdict === 'linearizable' ? 1 : -1,
  );
  const rows = sorted
    .map(
      (p) =>
        `<tr><td class="l">${escapeHtml(p.key ?? '(all)')}</td><td class="l"><span class="badge ${p.verdict}">${p.verdict}</span>${p.unknownReason !== undefined ? ` (${p.unknownReason} budget)` : ''}</td><td>${p.ops}</td><td>${p.prunedOps}</td><td>${p.segments}</td><td>${p.steps}</td><td>${fmtMs(p.timeMs)}</td></tr>`,
    )
    .join('');
  return `<table id="partitions"><tr><th class="l">key</th><th class="l">verdict</th><th>ops</th><th>pruned unknown ops</th><th>segments</th><th>search steps</th><th>time ms</th></tr>${rows}</table>`;
}

/** What the latency chart leaves out, in words (the page says what was downsampled). */
function samplingNote(latency: LatencyData): string {
  if (latency.okShown === latency.okTotal) return `Every op is drawn (${latency.total}).`;
  return `Downsampled: ${latency.shown} of ${latency.total} ops drawn. Every fail and info op is drawn${latency.nearViolation > 0 ? `, and every op within 1 s of a violation window (${latency.nearViolation})` : ''}; of the ${latency.okTotal} ok ops, ${latency.okShown} are drawn, the rest sampled per second with each second's slowest kept. The p50/p99 lines and every table use all ops.`;
}

/** Renders the chaos report of one run directory's files. */
export function renderChaosReport(files: RunFiles): string {
  const ops = completedOps(files.events);
  const endNs = files.events.length > 0 ? (files.events[files.events.length - 1]?.time ?? 0) : 0;
  const windows = faultWindows(files.events);
  const lanes = faultLanes(windows, endNs);
  const check = files.results?.check;
  const violation = violationSection(
    check?.partitions ?? [],
    files.events,
    files.status,
    windows.map((w, i) => ({ ...w, lane: lanes[i] ?? 0 })),
  );
  const latency = latencyData(
    ops,
    endNs,
    violation.views.map((v) => [v.windowStart, v.windowEnd]),
  );
  const okLatencies = ops
    .filter((o) => o.outcome === 'ok')
    .map((o) => o.latencyMs)
    .sort((a, b) => a - b);
  const throughput = throughputSeries(ops, endNs);
  const mean = (list: number[]): number => (list.length === 0 ? 0 : list.reduce((a, b) => a + b, 0) / list.length);
  const kinds = [...new Set(windows.map((w) => w.kind))];
  const legend = kinds
    .map((k) => `<span class="fault-key"><i style="background:${faultFill(k)}"></i>${escapeHtml(k)}</span>`)
    .join(' ');
  const body = `
${verdictBlock(files)}
${violation.html}
<h2>Throughput</h2>
<div class="chart" id="throughput"></div>
<p class="muted legend-note">Shaded: fault windows, labelled by kind (${legend || 'none'}); dashed vertical lines: a new leader or term (from status.jsonl). Hover for values; with the pointer outside, the legend shows each series' mean.</p>
<h2>Latency</h2>
<div class="chart" id="latency"></div>
<p class="muted legend-note" id="latency-sampling">${escapeHtml(samplingNote(latency))} A second without an ok op is a gap in the p50/p99 lines.</p>
<h2>Operations</h2>
${opStatsTable(ops)}
<h2>Faults and recovery</h2>
${faultTable(files, ops, endNs)}
${nemesisNotes(files)}
${check !== undefined ? `<h2>Checker</h2><p>Model <code>${escapeHtml(check.model)}</code>, ${check.ops} client ops, ${fmtMs(check.timeMs)} ms, verdict <span class="badge ${check.verdict}">${check.verdict}</span>.</p>${partitionTable(check.partitions)}` : ''}
${
  files.results?.availability !== undefined
    ? `<h2>Final reads</h2><table id="final-reads"><tr><th class="l">key</th><th class="l">result</th><th>attempts</th><th class="l">value / error</th></tr>${files.results.availability.finalReads
        .map(
          (r) =>
            `<tr><td class="l">${escapeHtml(r.key)}</td><td class="l"><span class="badge ${r.ok ? 'ok' : 'bad'}">${r.ok ? 'ok' : 'failed'}</span></td><td>${r.attempts}</td><td class="l mono">${escapeHtml(r.ok ? showValue(r.value) : (r.error ?? ''))}</td></tr>`,
        )
        .join('')}</table>`
    : ''
}
<p class="muted">Files: <a href="history.jsonl">history.jsonl</a>, <a href="results.json">results.json</a>, <a href="test.json">test.json</a>, <a href="status.jsonl">status.jsonl</a>, <a href="nodes/">nodes/</a>.</p>
`;
  return renderPage({
    title: `raftlab chaos ${files.test.name}: ${files.results?.verdict ?? 'unfinished'}`,
    body,
    css: runChartsCss + violationCss,
    data: {
      throughput,
      latency,
      summary: {
        throughputMean: { ok: mean(throughput.ok), fail: mean(throughput.fail), info: mean(throughput.info) },
        counts: {
          ok: latency.okTotal,
          fail: latency.fail[0].length,
          info: latency.info[0].length,
        },
        p50: percentile(okLatencies, 50),
        p99: percentile(okLatencies, 99),
      },
      faults: windows.map((w, i) => ({
        kind: w.kind,
        start: w.startNs / 1e9,
        stop: (w.stopNs ?? endNs) / 1e9,
        lane: lanes[i] ?? 0,
        fill: faultFill(w.kind),
      })),
      leaderChanges: leaderChangePoints(leaderTimeline(files.status)).map((c) => ({
        t: c.timeNs / 1e9,
        leader: c.leader,
        term: c.term,
      })),
      violations: violation.data,
    },
    script: runChartsScript + violationScript,
  });
}
