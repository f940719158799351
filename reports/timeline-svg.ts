/**
 * Draws a violation view (violation.ts) as one self-contained SVG, porcupine-like: one row per client process with
 * ops as bars from invoke to completion, coloured by outcome; above them a row per member with its role and term
 * from status.jsonl, and a row per concurrent fault window; the longest partial linearization numbered on its ops and
 * a red line where it breaks. Long stretches with nothing drawn (between the ops that forced the initial state and
 * the window) are cut out of the axis and marked, so both stay readable. Hover is the page script's (report.ts):
 * every bar carries `data-op`, every band `data-tip`.
 */
import { escapeHtml } from './page.ts';
import { formatAt, type TimelineOp, type ViolationView } from './violation.ts';

const WIDTH_PX = 1140;
const LEFT_PX = 78;
const RIGHT_PX = 16;
const LANE_PX = 30;
const BAR_PX = 20;
const BAND_PX = 16;
const GAP_PX = 36;

/** A piece of the axis: drawn to scale, or a cut-out gap. */
interface AxisPiece {
  from: number;
  to: number;
  px0: number;
  px1: number;
  cut: boolean;
}

/**
 * The axis: the union of the ops' spans, with every empty stretch longer than a fifth of the whole cut down to a
 * fixed width, so a cause far before the window does not squeeze the window to a few pixels.
 */
export function buildAxis(spans: readonly [number, number][], widthPx: number): AxisPiece[] {
  const sorted = [...spans].sort((a, b) => a[0] - b[0]);
  const first = sorted[0]?.[0] ?? 0;
  const last = Math.max(first + 1, ...sorted.map((s) => s[1]));
  const total = last - first;
  const clusters: [number, number][] = [];
  for (const [a, b] of sorted) {
    const top = clusters[clusters.length - 1];
    if (top !== undefined && a - top[1] <= total / 5) top[1] = Math.max(top[1], b);
    else clusters.push([a, Math.max(a, b)]);
  }
  const pad = Math.floor(total / 40);
  const pieces: { from: number; to: number; cut: boolean }[] = [];
  clusters.forEach(([a, b], i) => {
    if (i > 0) pieces.push({ from: clusters[i - 1]![1] + pad, to: a - pad, cut: true });
    pieces.push({ from: a - pad, to: b + pad, cut: false });
  });
  const cuts = pieces.filter((p) => p.cut).length;
  const drawnSpan = pieces.filter((p) => !p.cut).reduce((sum, p) => sum + Math.max(1, p.to - p.from), 0);
  const scalePx = (widthPx - cuts * GAP_PX) / drawnSpan;
  let px = 0;
  return pieces.map((p) => {
    const width = p.cut ? GAP_PX : Math.max(1, p.to - p.from) * scalePx;
    const piece = { ...p, px0: px, px1: px + width };
    px += width;
    return piece;
  });
}

/** Position of `t` on the axis, in px from the plot's left edge. */
function position(axis: readonly AxisPiece[], t: number): number {
  const first = axis[0];
  if (first === undefined) return 0;
  if (t <= first.from) return first.px0;
  for (const piece of axis) {
    // A cut's ends belong to the drawn pieces beside it; only a time strictly inside it sits in its middle.
    if (t > piece.to || (piece.cut && t === piece.to)) continue;
    if (piece.cut) return t === piece.from ? piece.px0 : (piece.px0 + piece.px1) / 2;
    return piece.px0 + ((t - piece.from) / Math.max(1, piece.to - piece.from)) * (piece.px1 - piece.px0);
  }
  return axis[axis.length - 1]!.px1;
}

/** The drawn stretches of [from, to] in px (absolute), one per axis piece it crosses that is not cut out. */
function segments(axis: readonly AxisPiece[], from: number, to: number): [number, number][] {
  const out: [number, number][] = [];
  for (const piece of axis) {
    if (piece.cut || piece.to < from || piece.from > to) continue;
    const x0 = LEFT_PX + position(axis, Math.max(from, piece.from));
    const x1 = LEFT_PX + position(axis, Math.min(to, piece.to));
    if (x1 > x0) out.push([x0, x1]);
  }
  return out;
}

/** A labelled band over [from, to], split at cut-out stretches, each part labelled (as far as it fits). */
function band(
  axis: readonly AxisPiece[],
  from: number,
  to: number,
  y: number,
  attributes: string,
  label: string,
  style = '',
): string {
  const parts = segments(axis, from, to)
    .map(
      ([x0, x1]) =>
        `<rect x="${x0.toFixed(1)}" y="${y}" width="${(x1 - x0).toFixed(1)}" height="${BAND_PX}"${style}></rect>` +
        `<text x="${(x0 + 3).toFixed(1)}" y="${y + 12}">${escapeHtml(clip(label, (x1 - x0) / 6.8))}</text>`,
    )
    .join('');
  return parts === '' ? '' : `<g ${attributes}>${parts}</g>`;
}

function opClass(op: TimelineOp): string {
  const classes = ['op', op.outcome, op.role];
  if (op.relaxed) classes.push('relaxed');
  if (op.stuck) classes.push('stuck');
  return classes.join(' ');
}

function opLabel(op: TimelineOp): string {
  const route =
    op.node === undefined
      ? ''
      : op.servedBy !== undefined && op.servedBy !== op.node
        ? ` ${op.node}→${op.servedBy}`
        : ` @${op.node}`;
  return `${op.order !== undefined ? `#${op.order} ` : ''}${op.description}${route}`;
}

/** Renders the view as SVG markup (trusted: every text is escaped). */
export function renderTimelineSvg(view: ViolationView, index: number): string {
  const plotPx = WIDTH_PX - LEFT_PX - RIGHT_PX;
  const axis = buildAxis(
    view.ops.map((op) => [op.start, op.end ?? op.start]),
    plotPx,
  );
  const x = (t: number): number => LEFT_PX + position(axis, t);
  const spanEnd = axis[axis.length - 1]?.to ?? 0;
  const parts: string[] = [];
  let y = 8;
  // Fault rows: one per concurrent lane, each window labelled with what it did.
  const faultLanes = Math.max(0, ...view.faults.map((f) => f.lane + 1));
  for (let lane = 0; lane < faultLanes; lane++) {
    parts.push(`<text class="row" x="4" y="${y + 12}">${lane === 0 ? 'faults' : ''}</text>`);
    for (const f of view.faults.filter((w) => w.lane === lane)) {
      const tip = `fault #${f.index} ${f.kind}: ${f.description} (${formatAt(view, f.startNs)}–${f.stopNs === undefined ? 'end' : formatAt(view, f.stopNs)})`;
      const attributes = `class="fault" data-kind="${escapeHtml(f.kind)}" data-tip="${escapeHtml(tip)}"`;
      const label = f.description.startsWith(f.kind) ? f.description : `${f.kind}: ${f.description}`;
      parts.push(
        band(axis, f.startNs, f.stopNs ?? spanEnd, y, attributes, label, ` style="fill:${faultFill(f.kind)}"`),
      );
    }
    y += BAND_PX + 3;
  }
  // Member rows: role and term over time.
  const nodes = [...new Set(view.bands.map((b) => b.node))].sort();
  for (const node of nodes) {
    parts.push(`<text class="row" x="4" y="${y + 12}">${escapeHtml(node)}</text>`);
    for (const b of view.bands.filter((b) => b.node === node)) {
      const label = b.role === 'down' ? 'down' : `${b.role} t${b.term}`;
      const tip = `${node}: ${b.role === 'down' ? 'no answer to /status' : `${b.role}, term ${b.term}`} (${formatAt(view, b.start)}–${formatAt(view, b.end)})`;
      parts.push(
        band(axis, b.start, b.end, y, `class="band ${escapeHtml(b.role)}" data-tip="${escapeHtml(tip)}"`, label),
      );
    }
    y += BAND_PX + 3;
  }
  if (nodes.length > 0 || faultLanes > 0) y += 6;
  const top = y;
  const processes = [...new Set(view.ops.map((o) => o.process))].sort((a, b) => a - b);
  for (const [lane, process] of processes.entries()) {
    const laneY = top + lane * LANE_PX;
    parts.push(
      `<line class="lane" x1="${LEFT_PX}" x2="${WIDTH_PX - RIGHT_PX}" y1="${laneY + LANE_PX - 2}" y2="${laneY + LANE_PX - 2}"></line>`,
    );
    parts.push(`<text class="row" x="4" y="${laneY + 15}">p${process}</text>`);
  }
  // A label may run past its bar up to the next bar of the same process (one op at a time per process).
  const nextStart = new Map<number, number>();
  for (const process of processes) {
    const lane = view.ops.filter((o) => o.process === process).sort((a, b) => a.start - b.start);
    for (const [i, op] of lane.entries())
      nextStart.set(op.id, lane[i + 1] === undefined ? WIDTH_PX - RIGHT_PX : x(lane[i + 1]!.start));
  }
  for (const op of view.ops) {
    const laneY = top + processes.indexOf(op.process) * LANE_PX;
    const x0 = x(op.start);
    const x1 = op.end === undefined ? WIDTH_PX - RIGHT_PX : x(op.end);
    const room = (nextStart.get(op.id) ?? WIDTH_PX) - x0 - 6;
    parts.push(
      `<g class="${opClass(op)}" data-op="${op.id}" tabindex="0"><rect x="${x0.toFixed(1)}" y="${laneY + 2}" width="${Math.max(3, x1 - x0).toFixed(1)}" height="${BAR_PX}" rx="3"></rect>` +
        `<text x="${(x0 + 3).toFixed(1)}" y="${laneY + 16}">${escapeHtml(clip(opLabel(op), room / 6.7))}</text></g>`,
    );
  }
  const bottom = top + processes.length * LANE_PX;
  // Cut-out stretches of the axis, and where the longest linearization breaks.
  for (const piece of axis.filter((p) => p.cut)) {
    const cx = LEFT_PX + piece.px0;
    parts.push(
      `<g class="cut"><rect x="${cx.toFixed(1)}" y="4" width="${GAP_PX}" height="${bottom - 4}"></rect><text x="${(cx + 2).toFixed(1)}" y="${bottom + 14}">${escapeHtml(span(view, piece.to - piece.from))}</text></g>`,
    );
  }
  const breaking = view.ops.find((o) => o.id === view.breaksAt);
  if (breaking !== undefined) {
    const bx = x(breaking.end ?? breaking.start);
    // The label goes on the side with room (it is about 300 px long).
    const leftOfLine = bx > WIDTH_PX - 320;
    parts.push(
      `<g class="breaks"><line x1="${bx.toFixed(1)}" x2="${bx.toFixed(1)}" y1="4" y2="${bottom}"></line><text x="${(leftOfLine ? bx - 3 : bx + 3).toFixed(1)}" y="${bottom + 27}"${leftOfLine ? ' text-anchor="end"' : ''}>longest linearization (${view.longestPrefix} op${view.longestPrefix === 1 ? '' : 's'}) breaks here</text></g>`,
    );
  }
  parts.push(...axisTicks(view, axis, bottom + 42));
  const height = bottom + 52;
  return `<svg class="timeline" id="timeline-${index}" data-view="${index}" width="${WIDTH_PX}" height="${height}" viewBox="0 0 ${WIDTH_PX} ${height}" role="img" aria-label="timeline of key ${escapeHtml(view.key)}">${parts.join('')}</svg>`;
}

function axisTicks(view: ViolationView, axis: readonly AxisPiece[], y: number): string[] {
  const out: string[] = [];
  const last = axis[axis.length - 1];
  for (const piece of axis.filter((p) => !p.cut)) {
    const ticks = Math.max(1, Math.floor((piece.px1 - piece.px0) / 110));
    // A piece's end is labelled only at the end of the axis: before a cut it would collide with the next start.
    for (let i = 0; i <= (piece === last ? ticks : ticks - 1); i++) {
      const t = piece.from + ((piece.to - piece.from) * i) / ticks;
      const tx = LEFT_PX + piece.px0 + ((piece.px1 - piece.px0) * i) / ticks;
      out.push(`<text class="tick" x="${tx.toFixed(1)}" y="${y}">${escapeHtml(tickLabel(view, t))}</text>`);
    }
  }
  return out;
}

function tickLabel(view: ViolationView, t: number): string {
  return view.axis === 'ns' ? `${(t / 1e9).toFixed(3)} s` : `#${Math.round(t)}`;
}

function span(view: ViolationView, length: number): string {
  return view.axis === 'ns' ? `⋯ ${(length / 1e9).toFixed(1)} s` : `⋯ ${Math.round(length)} ev`;
}

function clip(text: string, chars: number): string {
  const n = Math.floor(chars);
  if (n <= 1) return '';
  return text.length <= n ? text : `${text.slice(0, Math.max(1, n - 1))}…`;
}

/** Fill of a fault window: a few kinds have their colour, any other kind gets a stable hue from its name. */
export function faultFill(kind: string): string {
  const known: Record<string, string> = {
    kill: 'rgba(207,34,46,0.22)',
    pause: 'rgba(154,103,0,0.24)',
    partition: 'rgba(9,105,218,0.22)',
    latency: 'rgba(110,64,201,0.22)',
    blackhole: 'rgba(31,35,40,0.22)',
    bandwidth: 'rgba(26,127,55,0.22)',
  };
  const base = known[kind.split('-')[0] ?? kind];
  if (base !== undefined) return base;
  let hash = 0;
  for (const c of kind) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  return `hsla(${hash % 360},60%,45%,0.22)`;
}

/** Styles of the timeline, for the page's CSS. */
export const timelineCss = `
svg.timeline { border: 1px solid var(--line); background: #fbfbfc; display: block; max-width: 100%; height: auto; }
svg.timeline text { font: 11px ui-monospace, monospace; fill: #1f2328; pointer-events: none; }
svg.timeline text.row { fill: var(--muted); }
svg.timeline text.tick { fill: var(--muted); font-size: 10px; }
svg.timeline line.lane { stroke: #eaeef2; }
svg.timeline .op rect { fill: #dcfce7; stroke: var(--ok); }
svg.timeline .op.fail rect { fill: #ffedd5; stroke: var(--fail); }
svg.timeline .op.info rect, svg.timeline .op.pending rect { fill: #f3e8ff; stroke: var(--info); stroke-dasharray: 4 3; }
svg.timeline .op.relaxed rect { stroke-dasharray: 4 3; }
svg.timeline .op.cause rect { stroke-width: 2; stroke: #0969da; }
svg.timeline .op.context { opacity: 0.45; }
svg.timeline .op.stuck rect { fill: #fee2e2; stroke: var(--bad); stroke-width: 2.5; }
svg.timeline .op:hover rect, svg.timeline .op:focus rect, svg.timeline .op.pinned rect { stroke-width: 3; filter: brightness(0.93); }
svg.timeline .band rect { fill: #eaeef2; }
svg.timeline .band.leader rect { fill: #1a7f37; }
svg.timeline .band.leader text { fill: #fff; }
svg.timeline .band.candidate rect { fill: #f0c14b; }
svg.timeline .band.down rect { fill: #57606a; }
svg.timeline .band.down text { fill: #fff; }
svg.timeline .cut rect { fill: #fff; stroke: #d0d7de; stroke-dasharray: 2 3; }
svg.timeline .breaks line { stroke: var(--bad); stroke-width: 2; stroke-dasharray: 6 3; }
svg.timeline .breaks text { fill: var(--bad); font-weight: 600; }
.op-detail { position: fixed; z-index: 10; max-width: 560px; background: #fff; border: 1px solid var(--line);
  box-shadow: 0 4px 14px rgba(0,0,0,.15); padding: 6px 10px; font: 12px ui-monospace, monospace; white-space: pre-wrap;
  pointer-events: none; display: none; }
.story { font-size: 15px; background: #fff8f7; border-left: 4px solid var(--bad); padding: 8px 12px; }
.timeline-legend span { display: inline-block; margin-right: 14px; }
.timeline-legend i { display: inline-block; width: 22px; height: 10px; margin-right: 4px; vertical-align: middle; border: 1px solid; }
`;
