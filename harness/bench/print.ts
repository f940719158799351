/**
 * Text output of a bench run: the summary table, raftlab/etcd ratios, the
 * change against a compared run, the `--json` summary, and the progress line.
 */
import { cellKey, type BenchRun, type MicroResult } from '../../reports/bench-schema.ts';
import type { Progress } from './load.ts';

/** One row of the `--json` summary (fields that stay stable for scripts). */
export type JsonResultRow = {
  target: string;
  op: string;
  concurrency: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
};

/** The `--json` summary: `results` plus the run directory, report and open-loop maxima. */
export function jsonSummary(run: BenchRun, runDir: string, reportPath: string): object {
  const results: JsonResultRow[] = run.closedLoop.map((r) => ({
    target: r.target,
    op: r.op,
    concurrency: r.concurrency,
    opsPerSec: r.opsPerSec,
    p50Ms: r.latency.p50Ms,
    p99Ms: r.latency.p99Ms,
    errors: r.errors,
  }));
  return {
    results,
    openLoop: run.openLoop.map((s) => ({
      target: s.target,
      op: s.op,
      p99BoundMs: s.p99BoundMs,
      maxRateHeld: s.maxRateHeld,
    })),
    micro: run.micro,
    targets: run.targets,
    machine: { cores: run.machine.cores, loadavgStart: run.machine.loadavgStart, loadavgEnd: run.machine.loadavgEnd },
    versions: run.versions,
    runDir,
    report: reportPath,
  };
}

function pad(cells: string[], widths: number[]): string {
  return cells.map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
}

function table(rows: string[][]): string {
  const widths = rows.reduce<number[]>((w, row) => row.map((c, i) => Math.max(w[i] ?? 0, c.length)), []);
  return rows.map((r) => pad(r, widths)).join('\n');
}

function change(now: number, old: number | undefined): string {
  if (old === undefined || old === 0) return '';
  const pct = ((now - old) / old) * 100;
  return `${pct >= 0 ? '+' : ''}${pct.toFixed(0)}%`;
}

/** The closed-loop summary table, with raftlab/etcd ratios and changes against `--compare`. */
export function summaryText(run: BenchRun): string {
  const out: string[] = [];
  const old = new Map((run.compare?.closedLoop ?? []).map((r) => [cellKey(r), r]));
  const cells = new Map(run.closedLoop.map((r) => [cellKey(r), r]));
  if (run.closedLoop.length > 0) {
    const header = ['target', 'op', 'C', 'ops/s', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'errors'];
    if (run.compare) header.push('Δ ops/s', 'Δ p99');
    const rows = [header];
    for (const r of run.closedLoop) {
      const o = old.get(cellKey(r));
      const row = [
        r.target,
        r.op,
        String(r.concurrency),
        Math.round(r.opsPerSec).toLocaleString('en-US'),
        r.latency.p50Ms.toFixed(2),
        r.latency.p90Ms.toFixed(2),
        r.latency.p99Ms.toFixed(2),
        r.latency.p999Ms.toFixed(2),
        r.latency.maxMs.toFixed(1),
        String(r.errors),
      ];
      if (run.compare) row.push(change(r.opsPerSec, o?.opsPerSec), change(r.latency.p99Ms, o?.latency.p99Ms));
      rows.push(row);
    }
    out.push(table(rows));
  }
  const ratioRows = [['op', 'C', 'raftlab/etcd ops/s', 'raftlab/etcd p50']];
  for (const r of run.closedLoop) {
    if (r.target !== 'raftlab') continue;
    const e = cells.get(cellKey({ target: 'etcd', op: r.op, concurrency: r.concurrency }));
    if (e === undefined || e.opsPerSec === 0 || e.latency.p50Ms === 0) continue;
    ratioRows.push([
      r.op,
      String(r.concurrency),
      `${(r.opsPerSec / e.opsPerSec).toFixed(2)}x`,
      `${(r.latency.p50Ms / e.latency.p50Ms).toFixed(2)}x`,
    ]);
  }
  if (ratioRows.length > 1) out.push('', 'same-run ratios:', table(ratioRows));
  for (const s of run.openLoop) {
    const o = run.compare?.openLoop.find((x) => x.target === s.target && x.op === s.op);
    const delta = o?.maxRateHeld && s.maxRateHeld ? ` (${change(s.maxRateHeld, o.maxRateHeld)} vs compared run)` : '';
    out.push(
      `open loop ${s.target} ${s.op}: highest rate held with p99 <= ${s.p99BoundMs} ms: ${s.maxRateHeld ?? 'none'}${s.maxRateHeld ? ' ops/s' : ''}${delta}`,
    );
  }
  if (run.micro.length > 0) out.push('', microText(run.micro));
  return out.join('\n');
}

/** The micro-benchmark table. */
export function microText(micro: readonly MicroResult[]): string {
  const rows = [['suite', 'task', 'ops/s', 'mean ms', 'p50 ms', 'p99 ms', 'samples']];
  for (const m of micro) {
    rows.push([
      m.suite,
      m.name,
      Math.round(m.opsPerSec).toLocaleString('en-US'),
      m.meanMs.toFixed(4),
      m.p50Ms.toFixed(4),
      m.p99Ms.toFixed(4),
      String(m.samples),
    ]);
  }
  return table(rows);
}

/** A progress line for a TTY (`\r`-rewritten); quiet elsewhere, where phases print one line each. */
export class ProgressLine {
  readonly #stream: NodeJS.WriteStream;
  readonly #tty: boolean;
  #shown = false;

  constructor(stream: NodeJS.WriteStream) {
    this.#stream = stream;
    this.#tty = stream.isTTY === true;
  }

  update(label: string, p: Progress): void {
    if (!this.#tty) return;
    const width = 20;
    const filled = Math.min(width, Math.round((p.elapsedMs / p.totalMs) * width));
    const rate = p.warmingUp ? 'warming up' : `${p.ok.toLocaleString('en-US')} ok, ${p.errors} errors`;
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${label} ${(p.elapsedMs / 1000).toFixed(0)}/${(p.totalMs / 1000).toFixed(0)} s ${rate}`;
    this.#stream.write(`\r\x1b[2K${line.slice(0, (this.#stream.columns ?? 100) - 1)}`);
    this.#shown = true;
  }

  /** Prints a phase line (clearing the progress line first). */
  line(text: string): void {
    if (this.#shown) {
      this.#stream.write('\r\x1b[2K');
      this.#shown = false;
    }
    this.#stream.write(`${text}\n`);
  }
}
