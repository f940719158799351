/**
 * The "Violation" section of a page (the chaos report and `npm run check --html`): per illegal key the story, the
 * timeline (timeline-svg.ts), the state the window starts in and the ops that forced it, and the partial
 * linearizations; plus the data and script for hovering a bar (its raw history events) or a band.
 */
import type { Counterexample, PartitionResult } from '../checker/index.ts';
import type { FaultWindow } from './analysis.ts';
import { escapeHtml } from './page.ts';
import type { RunEvent, StatusSample } from './run-files.ts';
import { renderTimelineSvg, timelineCss } from './timeline-svg.ts';
import { buildViolationView, formatAt, type ViolationView } from './violation.ts';

/** What a page embeds for the hover panel: per view, op id -> raw events. */
export type ViolationHoverData = Record<string, RunEvent[]>[];

/** The section's HTML, its hover data and the views (the tests and the CI summary read the stories). */
export interface ViolationSection {
  html: string;
  data: ViolationHoverData;
  views: ViolationView[];
}

function causesBlock(example: Counterexample): string {
  const items = (example.initialStateCauses ?? [])
    .filter((c) => c.writes.length + c.reads.length > 0)
    .map((c) => {
      const writes = c.writes.map((o) => `<code>${escapeHtml(o.description)}</code> by p${o.process}`).join(', ');
      const reads = c.reads.map((o) => `<code>${escapeHtml(o.description)}</code> by p${o.process}`).join(', ');
      return `<li>state <code>${escapeHtml(c.state)}</code>: ${writes !== '' ? `written by ${writes}` : 'no write of it found before the window'}${reads !== '' ? `; observed by ${reads}` : ''}</li>`;
    })
    .join('');
  return items === '' ? '' : `<p>Ops that forced this state (drawn with a blue outline):</p><ul>${items}</ul>`;
}

function linearizationsBlock(example: Counterexample): string {
  const byId = new Map(example.ops.map((o) => [o.id, o]));
  return example.partialLinearizations
    .slice(0, 5)
    .map((steps, i) => {
      const items = steps
        .map(
          (step) =>
            `<li><code>${escapeHtml(byId.get(step.id)?.description ?? `op ${step.id}`)}</code> <span class="muted">→ ${escapeHtml(step.state)}</span></li>`,
        )
        .join('');
      return `<details ${i === 0 ? 'open' : ''}><summary>partial linearization ${i + 1} (${steps.length} ops)</summary><ol>${items}</ol></details>`;
    })
    .join('');
}

const legend = `<p class="timeline-legend muted">
<span><i style="background:#dcfce7;border-color:var(--ok)"></i>ok</span>
<span><i style="background:#ffedd5;border-color:var(--fail)"></i>fail (certainly not applied)</span>
<span><i style="background:#f3e8ff;border-color:var(--info);border-style:dashed"></i>info / relaxed (may or may not have happened)</span>
<span><i style="background:#fee2e2;border-color:var(--bad);border-width:2px"></i>no linearization can place it</span>
<span><i style="background:#dcfce7;border-color:#0969da;border-width:2px"></i>forced the initial state, or wrote the value a red op saw</span>
<span><i style="background:#dcfce7;border-color:var(--ok);opacity:.45"></i>other ops of the key</span>
<span><i style="background:#1a7f37;border-color:#1a7f37"></i>leader</span>
<span><i style="background:#57606a;border-color:#57606a"></i>no /status answer</span></p>`;

function viewBlock(view: ViolationView, example: Counterexample, index: number): string {
  const window = view.ops.filter((o) => o.role === 'window').length;
  const notes = [
    `${window} op${window === 1 ? '' : 's'} in the checker's smallest window${view.minimal ? '' : ' (shrinking was cut short by its time cap: not minimal)'}, starting in state <code>${escapeHtml(view.initialState)}</code>, ${formatAt(view, view.windowStart)}–${formatAt(view, view.windowEnd)}`,
    `#n = position in the longest partial linearization (${view.longestPrefix} ops${view.truncated ? '; the walk hit its cap, so it is the longest found' : ''})`,
    'a label "n1→n2" = sent to n1, answered by n2; "@n1" = sent to n1',
    view.contextOmitted > 0 ? `${view.contextOmitted} more ops of the key during the window are not drawn` : '',
    view.axis === 'ns'
      ? "times are seconds since the workload started (the checker's sentence, which counts from the key's first op, is shifted onto that clock)"
      : 'the history has no times: positions are event indices',
  ].filter((n) => n !== '');
  return `<div class="violation" id="violation-${index}">
<h3>key <code>${escapeHtml(view.key)}</code></h3>
<p class="story" id="story-${index}">${escapeHtml(view.story)}</p>
${legend}
${renderTimelineSvg(view, index)}
<p class="muted">${notes.join('; ')}. Hover or focus a bar for its raw history events; click to pin.</p>
${causesBlock(example)}
${linearizationsBlock(example)}
</div>`;
}

/** Builds the section for every illegal partition that has a counterexample. */
export function violationSection(
  partitions: readonly PartitionResult[],
  events: readonly RunEvent[],
  status: readonly StatusSample[],
  faults: readonly (FaultWindow & { lane: number })[],
): ViolationSection {
  const illegal = partitions.filter((p) => p.verdict === 'illegal');
  if (illegal.length === 0) return { html: '', data: [], views: [] };
  const examples = illegal.flatMap((p) => (p.counterexample !== undefined ? [p.counterexample] : []));
  const views = examples.map((example) => buildViolationView(example, events, status, faults));
  const blocks = views.map((view, i) => viewBlock(view, examples[i]!, i)).join('');
  const keys = illegal.map((p) => escapeHtml(p.key ?? '(all)')).join(', ');
  const html = `<h2>Violation</h2><p>Not linearizable on key${illegal.length > 1 ? 's' : ''} <code>${keys}</code>.${examples.length < illegal.length ? ' (Some keys have no counterexample: it was not built.)' : ''}</p>${blocks}<div class="op-detail" id="op-detail"></div>`;
  const data = views.map((view) => Object.fromEntries(view.ops.map((op) => [String(op.id), op.events])));
  return { html, data, views };
}

export const violationCss = timelineCss;

/** Page script: shows an op's raw events (or a band's text) next to the pointer; a click pins it. */
export const violationScript = `
(function () {
  const views = raftlabData().violations || [];
  const panel = document.getElementById('op-detail');
  if (!panel) return;
  let pinned = null;
  function text(target) {
    const op = target.closest('[data-op]');
    if (op) {
      const view = views[Number(op.closest('svg').dataset.view)] || {};
      const events = view[op.dataset.op] || [];
      return events.map((e) => JSON.stringify(e)).join('\\n');
    }
    const tip = target.closest('[data-tip]');
    return tip ? tip.dataset.tip : null;
  }
  function show(event, target) {
    const content = text(target);
    if (content === null) return false;
    panel.textContent = content;
    panel.style.display = 'block';
    const x = Math.min(event.clientX + 14, window.innerWidth - panel.offsetWidth - 8);
    panel.style.left = Math.max(4, x) + 'px';
    panel.style.top = (event.clientY + 16) + 'px';
    return true;
  }
  for (const svg of document.querySelectorAll('svg.timeline')) {
    svg.addEventListener('mousemove', (event) => { if (!pinned && !show(event, event.target)) panel.style.display = 'none'; });
    svg.addEventListener('mouseleave', () => { if (!pinned) panel.style.display = 'none'; });
    svg.addEventListener('click', (event) => {
      if (pinned) pinned.classList.remove('pinned');
      const op = event.target.closest('[data-op]');
      pinned = op && op !== pinned ? op : null;
      if (pinned) { pinned.classList.add('pinned'); show(event, pinned); } else panel.style.display = 'none';
    });
    svg.addEventListener('focusin', (event) => {
      const r = event.target.getBoundingClientRect();
      show({ clientX: r.left, clientY: r.bottom }, event.target);
    });
  }
})();
`;
