/**
 * store/index.html: every run under a store directory, newest first, with
 * its verdict, seed and a link to its report (Jepsen's store/ browser, small).
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { escapeHtml, renderPage } from './page.ts';
import type { ResultsFile, TestFile } from './run-files.ts';
import type { BenchRun } from './bench-schema.ts';

interface RunRow {
  path: string;
  name: string;
  stamp: string;
  verdict: string;
  seed: string;
  ops: string;
  options: string;
}

function readJsonOr<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Lists the runs of a store directory (`<store>/<name>/<stamp>/test.json`). */
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
      const results = readJsonOr<ResultsFile>(join(runDir, 'results.json'));
      rows.push({
        path: `${name}/${stamp}`,
        name,
        stamp,
        verdict: results?.verdict ?? 'unfinished',
        seed: String(test.seed),
        ops: results?.counts !== undefined ? String(results.counts.invoked) : '',
        options: Object.entries(test.options)
          .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`)
          .join(' '),
      });
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
  };
}

/** Writes `<store>/index.html`; returns its path. */
export function writeStoreIndex(storeDir: string): string {
  const rows = listRuns(storeDir)
    .map((r) => {
      const report = existsSync(join(storeDir, r.path, 'report.html'));
      const cls =
        r.verdict === 'linearizable' || r.verdict === 'bench'
          ? 'linearizable'
          : r.verdict === 'unknown' || r.verdict === 'unfinished'
            ? 'unknown'
            : 'illegal';
      return `<tr><td class="l">${report ? `<a href="${escapeHtml(r.path)}/report.html">${escapeHtml(r.path)}</a>` : escapeHtml(r.path)}</td>
<td class="l"><span class="badge ${cls}">${escapeHtml(r.verdict)}</span></td><td>${escapeHtml(r.seed)}</td><td>${escapeHtml(r.ops)}</td><td class="l mono">${escapeHtml(r.options)}</td></tr>`;
    })
    .join('\n');
  const html = renderPage({
    title: 'raftlab runs',
    charts: false,
    body: `<h1>raftlab runs</h1><table><tr><th class="l">run</th><th class="l">verdict</th><th>seed</th><th>ops</th><th class="l">options</th></tr>${rows}</table>`,
  });
  const path = join(storeDir, 'index.html');
  writeFileSync(path, html);
  return path;
}
