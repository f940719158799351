/**
 * store/index.html: every run under a store directory, newest first, with its verdict, system, nemesis, seed,
 * duration, ops, throughput and links (Jepsen's store/ browser, small); a filter box and a verdict choice narrow the
 * table, and a chart shows how throughput and verdicts moved across runs (oldest to newest).
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchRun } from './bench-schema.ts';
import { escapeHtml, renderPage } from './page.ts';
import type { ResultsFile, TestFile } from './run-files.ts';

/** One row of the index. */
export interface RunRow {
  path: string;
  name: string;
  stamp: string;
  verdict: string;
  seed: string;
  ops: string;
  options: string;
  system: string;
  nemesis: string;
  /** Workload seconds. */
  durationS?: number;
  /** Acknowledged ops per second of workload. */
  okPerSecond?: number;
  exitCode?: number;
}

function readJsonOr<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function chaosRow(name: string, stamp: string, test: TestFile, results: ResultsFile | undefined): RunRow {
  const nemesis = test.options.nemesis;
  const durationS = results?.durationMs !== undefined ? results.durationMs / 1000 : undefined;
  const row: RunRow = {
    path: `${name}/${stamp}`,
    name,
    stamp,
    verdict: results?.verdict ?? 'unfinished',
    seed: String(test.seed),
    ops: results?.counts !== undefined ? String(results.counts.invoked) : '',
    options: Object.entries(test.options)
      .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`)
      .join(' '),
    system: results?.system?.name ?? test.system?.name ?? 'raftlab',
    nemesis: Array.isArray(nemesis) ? nemesis.join(',') : nemesis === undefined ? '' : String(nemesis),
  };
  if (durationS !== undefined) row.durationS = durationS;
  if (durationS !== undefined && durationS > 0 && results?.counts !== undefined)
    row.okPerSecond = results.counts.ok / durationS;
  if (results?.exitCode !== undefined) row.exitCode = results.exitCode;
  return row;
}

/** Lists the runs of a store directory (`<store>/<name>/<stamp>/test.json`), newest first. */
export function listRuns(storeDir: string): RunRow[] {
  const rows: RunRow[] = [];
  if (!existsSync(storeDir)) return rows;
  for (const name of readdirSync(storeDir)) {
    const nameDir = join(storeDir, name);
    if (name === 'latest' || !statSync(nameDir).isDirectory()) continue;
    for (const stamp of readdirSync(nameDir)) {
      const runDir = join(nameDir, stamp);
      const test = readJsonOr<TestFile>(join(runDir, 'test.json'));
      if (test === undefined) {
        // A bench run (`npm run bench`) has bench.json instead of test.json.
        const bench = readJsonOr<BenchRun>(join(runDir, 'bench.json'));
        if (bench !== undefined) rows.push(benchRow(name, stamp, bench));
        continue;
      }
      rows.push(chaosRow(name, stamp, test, readJsonOr<ResultsFile>(join(runDir, 'results.json'))));
    }
  }
  return rows.sort((a, b) => (a.stamp === b.stamp ? a.name.localeCompare(b.name) : b.stamp.localeCompare(a.stamp)));
}

function benchRow(name: string, stamp: string, bench: BenchRun): RunRow {
  const targets = bench.targets.map((t) => t.kind).join(',');
  return {
    path: `${name}/${stamp}`,
    name,
    stamp,
    verdict: 'bench',
    seed: '',
    ops: '',
    options: `targets=${targets} ops=${bench.options.ops.join(',')} concurrency=${bench.options.concurrency.join(',')}`,
    system: targets,
    nemesis: '',
  };
}

const badgeClass = (verdict: string): string =>
  verdict === 'linearizable' || verdict === 'bench'
    ? 'linearizable'
    : verdict === 'unknown' || verdict === 'unfinished'
      ? 'unknown'
      : 'illegal';

function rowHtml(storeDir: string, r: RunRow): string {
  const report = existsSync(join(storeDir, r.path, 'report.html'));
  const link = report ? `<a href="${escapeHtml(r.path)}/report.html">${escapeHtml(r.path)}</a>` : escapeHtml(r.path);
  const files = `<a href="${escapeHtml(r.path)}/">files</a>`;
  return `<tr data-verdict="${escapeHtml(r.verdict)}"><td class="l">${link} <span class="muted">(${files})</span></td>
<td class="l"><span class="badge ${badgeClass(r.verdict)}">${escapeHtml(r.verdict)}</span></td><td class="l">${escapeHtml(r.system)}</td><td class="l">${escapeHtml(r.nemesis)}</td><td>${escapeHtml(r.seed)}</td><td>${r.durationS === undefined ? '' : r.durationS.toFixed(0)}</td><td>${escapeHtml(r.ops)}</td><td>${r.okPerSecond === undefined ? '' : r.okPerSecond.toFixed(0)}</td><td class="l mono">${escapeHtml(r.options)}</td></tr>`;
}

const indexCss = `
.filters { margin: 8px 0; display: flex; gap: 12px; align-items: center; }
.filters input { width: 320px; padding: 3px 6px; }
tr.hidden { display: none; }
`;

// Filters the table; draws ok ops/s per run, one series per verdict, oldest run on the left.
const indexScript = `
(function () {
  const rows = [...document.querySelectorAll('#runs tr[data-verdict]')];
  const text = document.getElementById('filter');
  const verdict = document.getElementById('verdict-filter');
  function apply() {
    const words = text.value.toLowerCase().split(/\\s+/).filter(Boolean);
    let shown = 0;
    for (const row of rows) {
      const hay = row.textContent.toLowerCase();
      const ok = words.every((w) => hay.includes(w)) && (verdict.value === '' || row.dataset.verdict === verdict.value);
      row.classList.toggle('hidden', !ok);
      if (ok) shown++;
    }
    document.getElementById('shown').textContent = shown + ' of ' + rows.length + ' runs';
  }
  text.addEventListener('input', apply);
  verdict.addEventListener('change', apply);
  apply();
  const d = raftlabData();
  const el = document.getElementById('trend');
  if (!el || d.trend.x.length === 0) return;
  const colors = { linearizable: '#1a7f37', illegal: '#cf222e', other: '#9a6700' };
  const dots = (label, stroke) => ({ label, stroke, fill: stroke, width: 0, paths: () => null,
    points: { show: true, size: 7, stroke, fill: stroke },
    value: (u, v, si, idx) => idx == null ? d.trend.counts[label] + ' runs' : v == null ? '—' : v.toFixed(0) + ' ok/s' });
  new uPlot({ title: 'Throughput and verdicts across runs (oldest left)', width: Math.max(400, document.body.clientWidth - 60),
    height: 260, scales: { x: { time: false } }, legend: { live: true },
    axes: [{ label: 'run (oldest to newest; hover for its name)', values: (u, ticks) => ticks.map((t) => Number.isInteger(t) ? '#' + (t + 1) : '') },
      { label: 'ok ops/s' }],
    series: [{ label: 'run', value: (u, v, si, idx) => idx == null ? 'hover a run' : d.trend.labels[v] || '' },
      dots('linearizable', colors.linearizable), dots('illegal', colors.illegal), dots('other', colors.other)],
  }, [d.trend.x, d.trend.linearizable, d.trend.illegal, d.trend.other], el);
})();
`;

/** The trend chart's data: chaos runs oldest first, ok ops/s in the series of their verdict (null elsewhere). */
function trendData(rows: readonly RunRow[]) {
  const runs = rows.filter((r) => r.verdict !== 'bench').reverse();
  const series = (match: (v: string) => boolean) => runs.map((r) => (match(r.verdict) ? (r.okPerSecond ?? 0) : null));
  const isOther = (v: string): boolean => v !== 'linearizable' && v !== 'illegal';
  return {
    x: runs.map((_, i) => i),
    labels: runs.map((r) => `${r.stamp} ${r.name} seed ${r.seed}`),
    linearizable: series((v) => v === 'linearizable'),
    illegal: series((v) => v === 'illegal'),
    other: series(isOther),
    counts: {
      linearizable: runs.filter((r) => r.verdict === 'linearizable').length,
      illegal: runs.filter((r) => r.verdict === 'illegal').length,
      other: runs.filter((r) => isOther(r.verdict)).length,
    },
  };
}

/** Writes `<store>/index.html`; returns its path. */
export function writeStoreIndex(storeDir: string): string {
  const runs = listRuns(storeDir);
  const verdicts = [...new Set(runs.map((r) => r.verdict))].sort();
  const options = verdicts.map((v) => `<option value="${escapeHtml(v)}">${escapeHtml(v)}</option>`).join('');
  const html = renderPage({
    title: 'raftlab runs',
    css: indexCss,
    body: `<h1>raftlab runs</h1>
<div class="chart" id="trend"></div>
<div class="filters"><input id="filter" type="search" placeholder="filter: words in any column (system, nemesis, seed, ...)">
<select id="verdict-filter"><option value="">every verdict</option>${options}</select><span class="muted" id="shown"></span></div>
<table id="runs"><tr><th class="l">run (newest first)</th><th class="l">verdict</th><th class="l">system</th><th class="l">nemesis</th><th>seed</th><th>s</th><th>ops</th><th>ok ops/s</th><th class="l">options</th></tr>
${runs.map((r) => rowHtml(storeDir, r)).join('\n')}</table>`,
    data: { trend: trendData(runs) },
    script: indexScript,
  });
  const path = join(storeDir, 'index.html');
  writeFileSync(path, html);
  return path;
}
