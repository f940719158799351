/**
 * The chaos report's charts, run in the browser with uPlot: throughput per second and every op's latency.
 * - Fault windows are shaded with one horizontal lane per concurrent window and labelled with their kind; any kind
 *   the nemesis gains later is drawn the same way (its colour comes from the data, see timeline-svg.ts faultFill).
 * - A new leader or term (status.jsonl) is a dashed vertical line labelled with the leader and term.
 * - Legends show the value under the pointer (each scatter series snaps to its nearest point); with the pointer
 *   outside the plot they show a summary (mean ops/s, op counts, overall p50/p99) instead of dashes.
 * - The latency data is column-wise per outcome (latency-data.ts); here it is merged onto one x axis with
 *   `undefined` where a series has no point (uPlot joins over undefined) and `null` in the p50/p99 lines on every
 *   row of a second without ok ops (uPlot breaks a line across a run of nulls), so no line crosses a gap.
 */

export const runChartsCss = `
.fault-key i { display: inline-block; width: 14px; height: 10px; margin: 0 3px 0 8px; vertical-align: middle; }
.legend-note { font-size: 12px; }
`;

export const runChartsScript = `
(function () {
  const d = raftlabData();
  const colors = { ok: '#1a7f37', fail: '#b35900', info: '#6e40c9', p50: '#0969da', p99: '#cf222e' };
  const dpr = window.devicePixelRatio || 1;
  function lanes() { return Math.max(1, ...d.faults.map((f) => f.lane + 1)); }
  function shade(u) {
    const ctx = u.ctx;
    ctx.save();
    const h = u.bbox.height / lanes();
    for (const f of d.faults) {
      const x0 = u.valToPos(f.start, 'x', true);
      const x1 = u.valToPos(f.stop, 'x', true);
      ctx.fillStyle = f.fill;
      ctx.fillRect(x0, u.bbox.top + f.lane * h, Math.max(1, x1 - x0), h);
    }
    ctx.restore();
  }
  function marks(u) {
    const ctx = u.ctx;
    ctx.save();
    ctx.beginPath();
    ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
    ctx.clip();
    ctx.font = (10 * dpr) + 'px sans-serif';
    // uPlot leaves the context centred from drawing its axes.
    ctx.textAlign = 'left';
    ctx.textBaseline = 'top';
    const h = u.bbox.height / lanes();
    for (const f of d.faults) {
      const x0 = u.valToPos(f.start, 'x', true);
      const x1 = u.valToPos(f.stop, 'x', true);
      if (x1 - x0 < ctx.measureText(f.kind).width + 4 * dpr) continue;
      ctx.fillStyle = '#1f2328';
      ctx.fillText(f.kind, x0 + 3 * dpr, u.bbox.top + f.lane * h + 2 * dpr);
    }
    ctx.strokeStyle = 'rgba(31,35,40,0.55)';
    ctx.setLineDash([4 * dpr, 3 * dpr]);
    ctx.lineWidth = dpr;
    ctx.textBaseline = 'bottom';
    for (const c of d.leaderChanges) {
      const x = u.valToPos(c.t, 'x', true);
      ctx.beginPath();
      ctx.moveTo(x, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + u.bbox.height);
      ctx.stroke();
      ctx.fillStyle = '#1f2328';
      ctx.fillText(c.leader + ' t' + c.term, x + 2 * dpr, u.bbox.top + u.bbox.height - 2 * dpr);
    }
    ctx.restore();
  }
  const width = () => Math.max(400, document.body.clientWidth - 60);
  const common = (title) => ({ title, width: width(), height: 300,
    plugins: [{ hooks: { drawClear: [shade], draw: [marks] } }],
    scales: { x: { time: false } }, legend: { live: true } });
  // value(u, v, seriesIndex, dataIndex): dataIndex is null while the pointer is outside the plot.
  const value = (summary, digits, unit) => (u, v, si, idx) =>
    idx == null ? summary : v == null ? '—' : v.toFixed(digits) + unit;
  const xValue = (u, v, si, idx) => idx == null ? 'hover for values' : v == null ? '—' : v.toFixed(2) + ' s';
  const s = d.summary;
  const charts = [];
  const t = d.throughput;
  charts.push(new uPlot(Object.assign(common('Throughput (ops/s, by completion)'), {
    axes: [{ label: 'time since start (s)' }, { label: 'ops/s' }],
    series: [{ label: 'time', value: xValue },
      { label: 'ok', stroke: colors.ok, width: 2, value: value('mean ' + s.throughputMean.ok.toFixed(0) + '/s', 0, '/s') },
      { label: 'fail', stroke: colors.fail, width: 1.5, value: value('mean ' + s.throughputMean.fail.toFixed(1) + '/s', 0, '/s') },
      { label: 'info', stroke: colors.info, width: 1.5, value: value('mean ' + s.throughputMean.info.toFixed(1) + '/s', 0, '/s') }],
  }), [t.x, t.ok, t.fail, t.info], document.getElementById('throughput')));
  const l = d.latency;
  // One row per point: [x, series, y]; p50/p99 per second at the second's middle.
  const rows = [];
  [l.ok, l.fail, l.info].forEach((points, k) => {
    for (let i = 0; i < points[0].length; i++) rows.push([points[0][i], k + 1, points[1][i]]);
  });
  for (let i = 0; i < l.buckets.x.length; i++) rows.push([l.buckets.x[i], 4, [l.buckets.p50[i], l.buckets.p99[i]]]);
  rows.sort((a, b) => a[0] - b[0]);
  const cols = [[], [], [], [], [], []];
  // uPlot cuts a line only across a run of consecutive nulls: every row inside a second without ok ops is null in
  // the p50/p99 columns (not undefined), so the gap spans that whole second.
  const emptySecond = (x) => l.buckets.p50[Math.min(l.buckets.p50.length - 1, Math.max(0, Math.floor(x)))] === null;
  for (const [x, k, y] of rows) {
    cols[0].push(x);
    const gap = emptySecond(x) ? null : undefined;
    cols[1].push(undefined); cols[2].push(undefined); cols[3].push(undefined); cols[4].push(gap); cols[5].push(gap);
    const at = cols[0].length - 1;
    if (k < 4) cols[k][at] = y;
    else { cols[4][at] = y[0]; cols[5][at] = y[1]; }
  }
  const dots = (label, stroke, count) => ({ label, stroke, fill: stroke, width: 0, paths: () => null,
    points: { show: true, size: 3, stroke, fill: stroke }, value: value(count + ' ops', 2, ' ms') });
  const line = (label, stroke, summary) => ({ label, stroke, width: 1.5, spanGaps: false,
    points: { show: true, size: 3 }, value: value(summary, 2, ' ms') });
  charts.push(new uPlot(Object.assign(common('Latency of every op (ms, log scale) by invoke time'), {
    scales: { x: { time: false }, y: { distr: 3 } },
    axes: [{ label: 'time since start (s)' }, { label: 'latency ms' }],
    series: [{ label: 'time', value: xValue }, dots('ok', colors.ok, s.counts.ok), dots('fail', colors.fail, s.counts.fail),
      dots('info', colors.info, s.counts.info),
      line('p50 (ok, per s)', colors.p50, 'all ' + s.p50.toFixed(2) + ' ms'),
      line('p99 (ok, per s)', colors.p99, 'all ' + s.p99.toFixed(2) + ' ms')],
  }), cols, document.getElementById('latency')));
  window.addEventListener('resize', () => { for (const c of charts) c.setSize({ width: width(), height: 300 }); });
  window.raftlabCharts = charts;
})();
`;
