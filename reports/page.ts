/**
 * The shared shell of every raftlab HTML page (chaos reports, bench reports,
 * the store index): one self-contained file that opens offline. CSS and the
 * uPlot chart library are inlined from node_modules at render time, data is
 * embedded as JSON in a `<script type="application/json">` block.
 *
 * Usage:
 *   const html = renderPage({
 *     title: 'chaos run',
 *     body: `<h1>${escapeHtml(name)}</h1><div id="chart"></div>`,
 *     data: { series },                   // read in the page with raftlabData()
 *     script: 'const d = raftlabData(); new uPlot(...)',
 *     charts: true,                       // inline uPlot (default true)
 *   });
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** What one page consists of; everything is inlined into a single HTML file. */
export interface PageOptions {
  /** `<title>` text (escaped here). */
  title: string;
  /** Trusted HTML for the `<body>`; escape user data with {@link escapeHtml}. */
  body: string;
  /** JSON-serialisable data, readable in `script` through `raftlabData()`. */
  data?: unknown;
  /** Trusted page script, run after uPlot and the data are available. */
  script?: string;
  /** Extra CSS appended after the base style. */
  css?: string;
  /** Inline uPlot (JS + CSS); default true. */
  charts?: boolean;
}

const require = createRequire(import.meta.url);

let uplotCache: { js: string; css: string } | undefined;

/** uPlot's browser build and stylesheet, read once from node_modules (no CDN: reports open offline). */
export function uplotAssets(): { js: string; css: string } {
  if (uplotCache === undefined) {
    // uplot's package.json "exports" hides dist/ files from require.resolve, so
    // resolve the main entry and read its siblings.
    const dist = dirname(require.resolve('uplot'));
    uplotCache = {
      js: readFileSync(join(dist, 'uPlot.iife.min.js'), 'utf8'),
      css: readFileSync(join(dist, 'uPlot.min.css'), 'utf8'),
    };
  }
  return uplotCache;
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: unknown): string {
  return String(text)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/**
 * Serialises data for a `<script>` block: `<` is written as `\u003c` so no
 * value can close the block (`</script>`) or open a comment (`<!--`); U+2028/9
 * are escaped for old JS parsers.
 */
export function embedJson(data: unknown): string {
  return JSON.stringify(data ?? null)
    .replaceAll('<', '\\u003c')
    .replaceAll('\u2028', '\\u2028')
    .replaceAll('\u2029', '\\u2029');
}

/** Makes inline JS safe inside a `<script>` element (a literal `</script` would end it). */
function safeScript(code: string): string {
  return code.replace(/<\/(script)/gi, '<\\/$1');
}

/** Base style shared by all pages: readable tables, verdict badges, chart boxes. */
export const baseCss = `
:root { --ok:#1a7f37; --fail:#b35900; --info:#6e40c9; --bad:#cf222e; --muted:#57606a; --line:#d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1200px;
  padding: 16px 24px 48px; color: #1f2328; background: #fff; }
h1 { font-size: 22px; margin: 8px 0; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 16px 0 6px; }
table { border-collapse: collapse; margin: 8px 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: right; }
th { background: #f6f8fa; } td.l, th.l { text-align: left; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 2px 10px; border-radius: 12px; color: #fff; font-weight: 600; }
.badge.linearizable, .badge.ok, .badge.pass { background: var(--ok); }
.badge.illegal, .badge.bad, .badge.broken { background: var(--bad); }
.badge.unknown, .badge.warn { background: #9a6700; }
.chart { margin: 8px 0 16px; min-height: 50px; }
.kv { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; }
.kv > div:nth-child(odd) { color: var(--muted); }
`;

/** Renders a complete, self-contained HTML document. */
export function renderPage(options: PageOptions): string {
  const charts = options.charts ?? true;
  const assets = charts ? uplotAssets() : undefined;
  const parts: string[] = [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(options.title)}</title>`,
    `<style>${baseCss}${assets?.css ?? ''}${options.css ?? ''}</style>`,
    '</head><body>',
    options.body,
    `<script type="application/json" id="raftlab-data">${embedJson(options.data)}</script>`,
    '<script>function raftlabData(){return JSON.parse(document.getElementById("raftlab-data").textContent);}</script>',
  ];
  if (assets !== undefined) parts.push(`<script>${safeScript(assets.js)}</script>`);
  if (options.script !== undefined) parts.push(`<script>${safeScript(options.script)}</script>`);
  parts.push('</body></html>', '');
  return parts.join('\n');
}
