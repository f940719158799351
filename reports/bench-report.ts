/**
 * The bench report: one self-contained HTML page per bench run, rendered
 * only from the run's bench.json (so `npm run report` can redo it later).
 *
 * Sections: summary table (with raftlab/etcd ratios and the change against
 * a `--compare` run), throughput and latency percentiles vs concurrency per
 * op with the targets side by side, latency over time per level, the
 * open-loop sweeps, and the micro-benchmarks.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { escapeHtml, renderPage } from './page.ts';
import { BENCH_OPS, cellKey, parseBenchRun, type BenchRun, type ClosedLoopResult } from './bench-schema.ts';

const OP_LABELS: Record<string, string> = {
  put: 'put',
  get: 'get (linearizable)',
  sget: 'get (stale)',
  mix: '50/50 put + linearizable get',
};

function fmt(n: number | null | undefined, digits = 2): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(digits);
}

function pctChange(now: number, old: number | undefined): string {
  if (old === undefined || old === 0) return '';
  const pct = ((now - old) / old) * 100;
  return `${pct >= 0 ? '+' : ''}${pct.toFixed(0)}%`;
}

function summaryTable(run: BenchRun): string {
  const targets = [...new Set(run.closedLoop.map((r) => r.target))];
  const old = new Map((run.compare?.closedLoop ?? []).map((r) => [cellKey(r), r]));
  const cells = new Map(run.closedLoop.map((r) => [cellKey(r), r]));
  const ops = BENCH_OPS.filter((op) => run.closedLoop.some((r) => r.op === op));
  const levels = [...new Set(run.closedLoop.map((r) => r.concurrency))].sort((a, b) => a - b);
  const withRatio = targets.includes('raftlab') && targets.includes('etcd');
  const head = [
    '<tr><th class="l" rowspan="2">op</th><th rowspan="2">C</th>',
    ...targets.map((t) => `<th colspan="${run.compare ? 6 : 4}">${escapeHtml(t)}</th>`),
    withRatio ? '<th colspan="2">raftlab / etcd</th>' : '',
    '</tr><tr>',
    ...targets.map(
      () =>
        `<th>ops/s</th>${run.compare ? '<th>Δ ops/s</th>' : ''}<th>p50 ms</th><th>p99 ms</th>${run.compare ? '<th>Δ p99</th>' : ''}<th>errors</th>`,
    ),
    withRatio ? '<th>ops/s</th><th>p50</th>' : '',
    '</tr>',
  ].join('');
  const rows: string[] = [];
  for (const op of ops) {
    for (const c of levels) {
      const tds = targets.map((t) => {
        const r = cells.get(cellKey({ target: t, op, concurrency: c }));
        if (r === undefined) return `<td></td>`.repeat(run.compare ? 6 : 4);
        const o = old.get(cellKey(r));
        const errClass = r.errors > 0 ? ' class="err"' : '';
        return [
          `<td>${fmt(r.opsPerSec)}</td>`,
          run.compare ? `<td>${pctChange(r.opsPerSec, o?.opsPerSec)}</td>` : '',
          `<td>${fmt(r.latency.p50Ms)}</td><td>${fmt(r.latency.p99Ms)}</td>`,
          run.compare ? `<td>${pctChange(r.latency.p99Ms, o?.latency.p99Ms)}</td>` : '',
          `<td${errClass}>${r.errors}</td>`,
        ].join('');
      });
      let ratio = '';
      if (withRatio) {
        const a = cells.get(cellKey({ target: 'raftlab', op, concurrency: c }));
        const b = cells.get(cellKey({ target: 'etcd', op, concurrency: c }));
        const x = a && b && b.opsPerSec > 0 ? a.opsPerSec / b.opsPerSec : undefined;
        const y = a && b && a.latency.p50Ms > 0 ? a.latency.p50Ms / b.latency.p50Ms : undefined;
        ratio = `<td>${x === undefined ? '–' : `${x.toFixed(2)}×`}</td><td>${y === undefined ? '–' : `${y.toFixed(2)}×`}</td>`;
      }
      if (tds.every((t) => t.startsWith('<td></td>'))) continue;
      rows.push(`<tr><td class="l">${escapeHtml(OP_LABELS[op] ?? op)}</td><td>${c}</td>${tds.join('')}${ratio}</tr>`);
    }
  }
  return `<table id="summary">${head}${rows.join('')}</table>`;
}

function openLoopTable(run: BenchRun): string {
  if (run.openLoop.length === 0) return '<p class="muted">No open-loop sweep in this run.</p>';
  const rows = run.openLoop.flatMap((sweep) =>
    sweep.steps.map(
      (s) =>
        `<tr><td class="l">${escapeHtml(s.target)}</td><td class="l">${escapeHtml(s.op)}</td><td>${fmt(s.rateTarget)}</td>` +
        `<td>${fmt(s.achievedOpsPerSec)}</td><td>${fmt(s.latency.p50Ms)}</td><td>${fmt(s.latency.p99Ms)}</td>` +
        `<td>${fmt(s.latency.p999Ms)}</td><td>${s.errors}</td><td>${s.dropped}</td>` +
        `<td class="l">${s.held ? '<span class="badge ok">held</span>' : '<span class="badge bad">not held</span>'}</td></tr>`,
    ),
  );
  const best = run.openLoop
    .map((s) => {
      const old = run.compare?.openLoop.find((o) => o.target === s.target && o.op === s.op)?.maxRateHeld;
      const change =
        old === undefined || old === null || s.maxRateHeld === null
          ? ''
          : ` (${pctChange(s.maxRateHeld, old)} vs compared run)`;
      return `<li><b>${escapeHtml(s.target)}</b> ${escapeHtml(s.op)}: highest rate held with p99 ≤ ${s.p99BoundMs} ms: <b>${
        s.maxRateHeld === null ? 'none' : `${fmt(s.maxRateHeld)} ops/s`
      }</b>${change}</li>`;
    })
    .join('');
  return `<ul>${best}</ul><table><tr><th class="l">target</th><th class="l">op</th><th>rate</th><th>achieved ops/s</th><th>p50 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>errors</th><th>dropped</th><th class="l"></th></tr>${rows.join('')}</table>`;
}

function microTable(run: BenchRun): string {
  if (run.micro.length === 0) return '';
  const rows = run.micro
    .map(
      (m) =>
        `<tr><td class="l">${escapeHtml(m.suite)}</td><td class="l">${escapeHtml(m.name)}</td><td>${fmt(m.opsPerSec)}</td>` +
        `<td>${fmt(m.meanMs, 3)}</td><td>${fmt(m.p50Ms, 3)}</td><td>${fmt(m.p99Ms, 3)}</td><td>${m.samples}</td><td class="l muted">${escapeHtml(m.note ?? '')}</td></tr>`,
    )
    .join('');
  return `<h2>Micro-benchmarks</h2><table><tr><th class="l">suite</th><th class="l">task</th><th>ops/s</th><th>mean ms</th><th>p50 ms</th><th>p99 ms</th><th>samples</th><th class="l">one op</th></tr>${rows}</table>`;
}

function errorsTable(run: BenchRun): string {
  const rows = run.closedLoop
    .filter((r) => r.errors > 0)
    .map(
      (r) =>
        `<tr><td class="l">${escapeHtml(r.target)}</td><td class="l">${escapeHtml(r.op)}</td><td>${r.concurrency}</td><td class="l mono">${escapeHtml(
          Object.entries(r.errorsByCode)
            .map(([code, n]) => `${code}: ${n}`)
            .join(', '),
        )}</td></tr>`,
    )
    .join('');
  return rows === ''
    ? ''
    : `<h2>Errors</h2><table><tr><th class="l">target</th><th class="l">op</th><th>C</th><th class="l">by code</th></tr>${rows}</table>`;
}

function header(run: BenchRun): string {
  const targets = run.targets
    .map(
      (t) =>
        `${escapeHtml(t.kind)}${t.version ? ` ${escapeHtml(t.version)}` : ''}${t.skipped ? ` (skipped: ${escapeHtml(t.skipped)})` : ''}`,
    )
    .join(', ');
  const m = run.machine;
  return [
    `<h1>raftlab bench <span class="muted">${escapeHtml(run.startedAt)}</span></h1>`,
    '<div class="kv">',
    `<div>targets</div><div>${targets}</div>`,
    `<div>machine</div><div>${m.cores} cores, ${escapeHtml(m.cpuModel)}, ${(m.totalMemBytes / 2 ** 30).toFixed(1)} GiB, ${escapeHtml(m.platform)}</div>`,
    `<div>load average</div><div>start ${m.loadavgStart.map((x) => x.toFixed(2)).join(' ')}, end ${m.loadavgEnd.map((x) => x.toFixed(2)).join(' ')}</div>`,
    `<div>versions</div><div>node ${escapeHtml(run.versions.node)}, raftlab ${escapeHtml(run.versions.raftlab)}${run.versions.etcd ? `, etcd ${escapeHtml(run.versions.etcd)}` : ''}</div>`,
    `<div>load</div><div>${run.options.keys} keys, ${run.options.valueBytes}-byte values, ${run.options.warmupSec} s warm-up + ${run.options.timeSec} s measured per cell; ${run.options.via === 'leader' ? 'every client on the leader' : 'clients round-robin over the members, the leader first'}</div>`,
    run.compare
      ? `<div>compared with</div><div class="mono">${escapeHtml(run.compare.runDir)} (${escapeHtml(run.compare.startedAt)})</div>`
      : '',
    '</div>',
  ].join('');
}

/** Data handed to the page script (plain JSON). */
type ChartData = {
  targets: string[];
  ops: string[];
  opLabels: Record<string, string>;
  levels: number[];
  closedLoop: Omit<ClosedLoopResult, 'errorsByCode'>[];
  compare: { target: string; op: string; concurrency: number; opsPerSec: number; p99Ms: number }[];
  openLoop: BenchRun['openLoop'];
};

// Runs in the browser: builds every chart from raftlabData(). Kept as plain
// ES2017 so any browser that opens the file can run it.
const PAGE_SCRIPT = `
const d = raftlabData();
const palette = ['#0969da', '#cf222e', '#1a7f37', '#8250df', '#bc4c00', '#6e7781', '#bf3989', '#0a3069'];
const W = Math.min(560, Math.max(320, (document.body.clientWidth - 60) / 2));
function cell(t, op, c) { return d.closedLoop.find(r => r.target === t && r.op === op && r.concurrency === c); }
function chart(parent, title, xLabel, yLabel, xs, series, logX) {
  const box = document.createElement('div'); box.className = 'chart'; parent.appendChild(box);
  const opts = { title, width: W, height: 260,
    scales: { x: logX ? { time: false, distr: 3, log: 2 } : { time: false }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
    axes: [{ label: xLabel }, { label: yLabel, size: 60 }],
    series: [{ label: xLabel }].concat(series.map((s, i) => ({ label: s.label, stroke: s.color || palette[i % palette.length],
      width: 2, dash: s.dash, points: { show: true } }))) };
  new uPlot(opts, [xs].concat(series.map(s => s.values)), box);
}
const root = document.getElementById('charts');
for (const op of d.ops) {
  const section = document.createElement('div');
  section.innerHTML = '<h3>' + d.opLabels[op] + '</h3>';
  const row = document.createElement('div'); row.className = 'row'; section.appendChild(row);
  root.appendChild(section);
  const levels = d.levels.filter(c => d.targets.some(t => cell(t, op, c)));
  if (levels.length === 0) { section.remove(); continue; }
  const tp = d.targets.map((t, i) => ({ label: t + ' ops/s', color: palette[i], values: levels.map(c => (cell(t, op, c) || {}).opsPerSec ?? null) }));
  for (const [i, t] of d.targets.entries()) {
    const old = levels.map(c => { const o = d.compare.find(r => r.target === t && r.op === op && r.concurrency === c); return o ? o.opsPerSec : null; });
    if (old.some(v => v !== null)) tp.push({ label: t + ' ops/s (compared run)', color: palette[i], dash: [6, 4], values: old });
  }
  chart(row, 'throughput vs concurrency', 'concurrency', 'ops/s', levels, tp, true);
  for (const [i, t] of d.targets.entries()) {
    if (!levels.some(c => cell(t, op, c))) continue;
    const pick = k => levels.map(c => { const r = cell(t, op, c); return r && r.latency.count > 0 ? r.latency[k] : null; });
    chart(row, t + ': latency percentiles vs concurrency', 'concurrency', 'ms',
      levels, [{ label: 'p50', values: pick('p50Ms') }, { label: 'p90', values: pick('p90Ms') },
               { label: 'p99', values: pick('p99Ms') }, { label: 'p99.9', values: pick('p999Ms') }], true);
  }
  const over = document.createElement('div'); over.className = 'row'; section.appendChild(over);
  for (const t of d.targets) {
    const rs = levels.map(c => cell(t, op, c)).filter(r => r);
    if (rs.length === 0) continue;
    const xs = rs.reduce((a, r) => r.timeline.length > a.length ? r.timeline.map(p => p.tSec) : a, []);
    chart(over, t + ': p99 latency over time per level', 'seconds into window', 'ms', xs,
      rs.map(r => ({ label: 'C=' + r.concurrency + ' p99', values: xs.map((_, k) => { const p = r.timeline[k]; return p && p.ok > 0 ? p.p99Ms : null; }) })), false);
  }
}
const openRoot = document.getElementById('open-charts');
for (const sweep of d.openLoop) {
  if (sweep.steps.length === 0) continue;
  const xs = sweep.steps.map(s => s.rateTarget);
  chart(openRoot, sweep.target + ' ' + sweep.op + ': open-loop latency vs arrival rate', 'ops/s offered', 'ms', xs,
    [{ label: 'p50', values: sweep.steps.map(s => s.latency.count ? s.latency.p50Ms : null) },
     { label: 'p99', values: sweep.steps.map(s => s.latency.count ? s.latency.p99Ms : null) },
     { label: 'p99 bound', color: '#6e7781', dash: [4, 4], values: xs.map(() => sweep.p99BoundMs) }], false);
}
document.body.dataset.rendered = 'true';
`;

/** Renders the report page of a bench run. */
export function renderBenchReport(run: BenchRun): string {
  const targets = [...new Set(run.closedLoop.map((r) => r.target))];
  const data: ChartData = {
    targets,
    ops: BENCH_OPS.filter((op) => run.closedLoop.some((r) => r.op === op)),
    opLabels: OP_LABELS,
    levels: [...new Set(run.closedLoop.map((r) => r.concurrency))].sort((a, b) => a - b),
    closedLoop: run.closedLoop.map(({ errorsByCode: _ignored, ...rest }) => rest),
    compare: (run.compare?.closedLoop ?? []).map((r) => ({
      target: r.target,
      op: r.op,
      concurrency: r.concurrency,
      opsPerSec: r.opsPerSec,
      p99Ms: r.latency.p99Ms,
    })),
    openLoop: run.openLoop,
  };
  const closed =
    run.closedLoop.length === 0
      ? '<p class="muted">No closed-loop measurements in this run.</p>'
      : `${summaryTable(run)}<p class="muted">ops/s counts successful ops started in the measured window; latency is per request, client side. Ratios above 1× mean raftlab has more throughput (ops/s) or a slower median (p50).</p><div id="charts"></div>`;
  const body = [
    header(run),
    '<h2>Closed loop: throughput and latency vs concurrency</h2>',
    closed,
    errorsTable(run),
    '<h2>Open loop: fixed arrival rates</h2>',
    '<p class="muted">Latency is measured from each request\'s intended send time, so a target that falls behind shows its queueing (coordinated omission).</p>',
    openLoopTable(run),
    '<div id="open-charts" class="row"></div>',
    microTable(run),
  ].join('\n');
  return renderPage({
    title: `raftlab bench ${run.startedAt}`,
    body,
    data,
    script: run.closedLoop.length + run.openLoop.length > 0 ? PAGE_SCRIPT : 'document.body.dataset.rendered = "true";',
    css: '.row { display: flex; flex-wrap: wrap; gap: 12px; } td.err { color: var(--bad); font-weight: 600; }',
  });
}

/** Reads `<runDir>/bench.json` and writes `<runDir>/report.html`; returns its path. */
export function writeBenchReport(runDir: string): string {
  const source = join(runDir, 'bench.json');
  const run = parseBenchRun(readFileSync(source, 'utf8'), source);
  const path = join(runDir, 'report.html');
  writeFileSync(path, renderBenchReport(run));
  return path;
}
