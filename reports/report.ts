/**
 * The chaos report: one self-contained HTML page per run directory. The
 * verdict and seed come first, then throughput over time, every op's latency
 * (coloured by outcome, with p50/p99 lines), nemesis windows shaded on both
 * charts, per-op-type stats, the fault table with recovery figures, the
 * checker's per-key results and, on a violation, the failing window of ops
 * with its partial linearizations drawn as a timeline (porcupine-like).
 */
import { join, relative, resolve } from 'node:path';
import type { Counterexample, PartitionResult } from '../checker/index.ts';
import {
  completedOps,
  faultRecovery,
  faultWindows,
  faultLanes,
  concurrentFaults,
  leaderTimeline,
  opTypeStats,
  percentile,
  throughputSeries,
  type CompletedOp,
} from './analysis.ts';
import { escapeHtml, renderPage } from './page.ts';
import type { RunFiles } from './run-files.ts';

const fmtMs = (ms: number | undefined): string => (ms === undefined ? '—' : ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
const fmtS = (ns: number | undefined): string => (ns === undefined ? '—' : (ns / 1e9).toFixed(2));
const showValue = (value: unknown): string => (value === undefined ? '' : JSON.stringify(value));

/** Latency points and rolling p50/p99 on one shared x axis (uPlot mode 1). */
function latencySeries(
  ops: readonly CompletedOp[],
  bucketMs = 1000,
): {
  x: number[];
  ok: (number | null)[];
  fail: (number | null)[];
  info: (number | null)[];
  p50: (number | null)[];
  p99: (number | null)[];
} {
  const sorted = [...ops].sort((a, b) => a.invokeNs - b.invokeNs);
  const bucketOf = (op: CompletedOp): number => Math.floor(op.invokeNs / 1e6 / bucketMs);
  const okByBucket = new Map<number, number[]>();
  for (const op of sorted) {
    if (op.outcome !== 'ok') continue;
    const list = okByBucket.get(bucketOf(op)) ?? [];
    list.push(op.latencyMs);
    okByBucket.set(bucketOf(op), list);
  }
  const p50ByBucket = new Map<number, number>();
  const p99ByBucket = new Map<number, number>();
  for (const [bucket, list] of okByBucket) {
    list.sort((a, b) => a - b);
    p50ByBucket.set(bucket, percentile(list, 50));
    p99ByBucket.set(bucket, percentile(list, 99));
  }
  const out = {
    x: [] as number[],
    ok: [] as (number | null)[],
    fail: [] as (number | null)[],
    info: [] as (number | null)[],
    p50: [] as (number | null)[],
    p99: [] as (number | null)[],
  };
  for (const op of sorted) {
    out.x.push(op.invokeNs / 1e9);
    // A log axis cannot show 0; clamp to 1 µs.
    const y = Math.max(0.001, op.latencyMs);
    out.ok.push(op.outcome === 'ok' ? y : null);
    out.fail.push(op.outcome === 'fail' ? y : null);
    out.info.push(op.outcome === 'info' || op.outcome === 'pending' ? y : null);
    out.p50.push(p50ByBucket.get(bucketOf(op)) ?? null);
    out.p99.push(p99ByBucket.get(bucketOf(op)) ?? null);
  }
  return out;
}

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

function partitionTable(partitions: readonly PartitionResult[]): string {
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

/** The failing window as a timeline: one lane per process, ops as bars, linearization order as numbers. */
function counterexampleBlock(example: Counterexample, index: number): string {
  const ops = example.ops;
  if (ops.length === 0) return '';
  const times = ops.flatMap((o) => [o.invokeTimeNs ?? 0, o.completeTimeNs ?? o.invokeTimeNs ?? 0]);
  const t0 = Math.min(...times);
  const t1 = Math.max(...times, t0 + 1);
  const processes = [...new Set(ops.map((o) => o.process))].sort((a, b) => a - b);
  const laneHeightPx = 34;
  const leftPx = 70;
  const widthPx = 1100;
  // The right margin leaves room for the label of a short op that ends last.
  const plotWidthPx = widthPx - leftPx - 180;
  const x = (ns: number): number => leftPx + ((ns - t0) / (t1 - t0)) * plotWidthPx;
  const stuck = new Set(example.stuckOps);
  const longest = example.partialLinearizations[0] ?? [];
  const order = new Map(longest.map((step, i) => [step.id, i + 1]));
  const bars = ops
    .map((op) => {
      const lane = processes.indexOf(op.process);
      const y = 10 + lane * laneHeightPx;
      const start = x(op.invokeTimeNs ?? t0);
      const end = op.completeTimeNs !== undefined ? x(op.completeTimeNs) : leftPx + plotWidthPx + 40;
      const cls = stuck.has(op.id) ? 'stuck' : op.outcome === 'info' || op.relaxed === true ? 'unknown' : 'done';
      const label = `${op.description}${order.has(op.id) ? `  [#${order.get(op.id)}]` : ''}`;
      return `<g class="op ${cls}" data-id="${op.id}"><title>op ${op.id} process ${op.process}: ${escapeHtml(op.description)} (${op.outcome}${op.relaxed === true ? ', relaxed' : ''})</title>
<rect x="${start.toFixed(1)}" y="${y}" width="${Math.max(3, end - start).toFixed(1)}" height="22" rx="3"></rect>
<text x="${(start + 4).toFixed(1)}" y="${y + 15}">${escapeHtml(label)}</text></g>`;
    })
    .join('');
  const lanes = processes
    .map((p, i) => `<text class="lane" x="4" y="${10 + i * laneHeightPx + 15}">p${p}</text>`)
    .join('');
  const heightPx = 20 + processes.length * laneHeightPx;
  const linearizations = example.partialLinearizations
    .slice(0, 5)
    .map((steps, i) => {
      const items = steps
        .map((step) => {
          const op = ops.find((o) => o.id === step.id);
          return `<li><code>${escapeHtml(op?.description ?? `op ${step.id}`)}</code> <span class="muted">→ ${escapeHtml(step.state)}</span></li>`;
        })
        .join('');
      return `<details ${i === 0 ? 'open' : ''}><summary>partial linearization ${i + 1} (${steps.length} ops)</summary><ol>${items}</ol></details>`;
    })
    .join('');
  const stuckList = ops
    .filter((o) => stuck.has(o.id))
    .map((o) => `<code>${escapeHtml(o.description)}</code> (process ${o.process})`)
    .join(', ');
  return `<div class="counterexample" id="counterexample-${index}">
<h3>key ${escapeHtml(example.key ?? '(all)')}: ${ops.length} ops in the smallest window found${example.minimal ? '' : ' (shrinking cut short)'}</h3>
<p>initial state <code>${escapeHtml(example.initialState)}</code>; events ${example.windowStartIndex}–${example.windowEndIndex} of history.jsonl.
${stuckList !== '' ? `No linearization can place: ${stuckList}.` : ''}</p>
<svg class="timeline" width="${widthPx}" height="${heightPx}" viewBox="0 0 ${widthPx} ${heightPx}">${lanes}${bars}</svg>
<p class="muted">Bars span invoke to completion (dashed: unknown outcome or relaxed, may or may not have happened; red: could not be linearized). [#n] = position in the longest partial linearization.</p>
${linearizations}
</div>`;
}

const reportCss = `
svg.timeline { border: 1px solid var(--line); background: #fbfbfc; }
svg.timeline text { font: 11px ui-monospace, monospace; fill: #1f2328; }
svg.timeline text.lane { fill: var(--muted); }
svg.timeline .op rect { fill: #dbeafe; stroke: #3b82f6; }
svg.timeline .op.unknown rect { fill: #f3e8ff; stroke: var(--info); stroke-dasharray: 4 3; }
svg.timeline .op.stuck rect { fill: #fee2e2; stroke: var(--bad); stroke-width: 2; }
.legend-note { font-size: 12px; }
`;

// Runs in the browser: draws both charts with uPlot and shades fault windows.
const reportScript = `
(function () {
  const d = raftlabData();
  const colors = { ok: '#1a7f37', fail: '#b35900', info: '#6e40c9', p50: '#0969da', p99: '#cf222e' };
  const faultColors = { kill: 'rgba(207,34,46,0.12)', pause: 'rgba(154,103,0,0.14)', partition: 'rgba(9,105,218,0.12)',
    latency: 'rgba(110,64,201,0.12)', blackhole: 'rgba(31,35,40,0.14)', bandwidth: 'rgba(26,127,55,0.12)' };
  function shade(u) {
    const ctx = u.ctx;
    ctx.save();
    // Overlapping faults (--overlap) share the height: one horizontal lane each, so every window stays visible.
    const lanes = Math.max(1, ...d.faults.map((f) => f.lane + 1));
    const h = u.bbox.height / lanes;
    for (const f of d.faults) {
      const x0 = u.valToPos(f.start, 'x', true);
      const x1 = u.valToPos(f.stop, 'x', true);
      ctx.fillStyle = faultColors[f.kind] || 'rgba(0,0,0,0.08)';
      ctx.fillRect(x0, u.bbox.top + f.lane * h, Math.max(1, x1 - x0), h);
    }
    ctx.restore();
  }
  const width = () => Math.max(400, document.body.clientWidth - 60);
  const common = (title) => ({ title, width: width(), height: 300, plugins: [{ hooks: { drawClear: [shade] } }],
    scales: { x: { time: false } }, legend: { live: true } });
  const charts = [];
  const t = d.throughput;
  charts.push(new uPlot(Object.assign(common('Throughput (ops/s, by completion)'), {
    axes: [{ label: 'time since start (s)' }, { label: 'ops/s' }],
    series: [{ label: 's' },
      { label: 'ok', stroke: colors.ok, width: 2 },
      { label: 'fail', stroke: colors.fail, width: 1.5 },
      { label: 'info', stroke: colors.info, width: 1.5 }],
  }), [t.x, t.ok, t.fail, t.info], document.getElementById('throughput')));
  const l = d.latency;
  const dots = (label, stroke) => ({ label, stroke, fill: stroke, width: 0, paths: () => null,
    points: { show: true, size: 3, stroke, fill: stroke } });
  charts.push(new uPlot(Object.assign(common('Latency of every op (ms, log scale) by invoke time'), {
    scales: { x: { time: false }, y: { distr: 3 } },
    axes: [{ label: 'time since start (s)' }, { label: 'latency ms' }],
    series: [{ label: 's' }, dots('ok', colors.ok), dots('fail', colors.fail), dots('info', colors.info),
      { label: 'p50 (ok, per s)', stroke: colors.p50, width: 1.5, spanGaps: true, points: { show: false } },
      { label: 'p99 (ok, per s)', stroke: colors.p99, width: 1.5, spanGaps: true, points: { show: false } }],
  }), [l.x, l.ok, l.fail, l.info, l.p50, l.p99], document.getElementById('latency')));
  window.addEventListener('resize', () => { for (const c of charts) c.setSize({ width: width(), height: 300 }); });
  window.raftlabCharts = charts;
})();
`;

/** Renders the chaos report of one run directory's files. */
export function renderChaosReport(files: RunFiles): string {
  const ops = completedOps(files.events);
  const endNs = files.events.length > 0 ? (files.events[files.events.length - 1]?.time ?? 0) : 0;
  const windows = faultWindows(files.events);
  const lanes = faultLanes(windows, endNs);
  const check = files.results?.check;
  const illegal = check?.partitions.filter((p) => p.verdict === 'illegal') ?? [];
  const counterexamples = illegal.flatMap((p) => (p.counterexample !== undefined ? [p.counterexample] : []));
  const legend = [...new Set(windows.map((w) => w.kind))]
    .map((k) => `<span class="fault-${escapeHtml(k)}">${escapeHtml(k)}</span>`)
    .join(', ');
  const body = `
${verdictBlock(files)}
${
  illegal.length > 0
    ? `<h2>Violation</h2><p>Not linearizable on key${illegal.length > 1 ? 's' : ''} <code>${illegal.map((p) => escapeHtml(p.key ?? '(all)')).join(', ')}</code>.</p>${counterexamples.map((c, i) => counterexampleBlock(c, i)).join('')}`
    : ''
}
<h2>Throughput</h2>
<div class="chart" id="throughput"></div>
<p class="muted legend-note">Shaded: fault windows (${legend || 'none'}).</p>
<h2>Latency</h2>
<div class="chart" id="latency"></div>
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
    css: reportCss,
    data: {
      throughput: throughputSeries(ops, endNs),
      latency: latencySeries(ops),
      faults: windows.map((w, i) => ({
        kind: w.kind,
        start: w.startNs / 1e9,
        stop: (w.stopNs ?? endNs) / 1e9,
        lane: lanes[i] ?? 0,
      })),
    },
    script: reportScript,
  });
}
