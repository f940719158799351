/**
 * What a CI job shows of a chaos run (`npm run chaos -- --junit FILE --summary FILE`):
 * - JUnit XML: one test case per run; a run that did not pass is a <failure> whose message is the verdict and the
 *   story of the violation (violation.ts), with the replay command and the report's path in the body; a run that
 *   broke is an <error>. CI systems show it as a failed test with its reason.
 * - Markdown for a job summary ($GITHUB_STEP_SUMMARY): verdict, seed, replay command, key figures, the story and
 *   the path of the report. Appended, so several runs of one job add up.
 */
import { faultLanes, faultWindows } from './analysis.ts';
import type { RunFiles } from './run-files.ts';
import { violationSection } from './violation-section.ts';

/** The facts both outputs use. */
export interface RunSummary {
  name: string;
  verdict: string;
  exitCode: number | undefined;
  passed: boolean;
  seed: number;
  system: string;
  nemesis: string;
  replay: string;
  durationS: number | undefined;
  counts: { invoked: number; ok: number; fail: number; info: number } | undefined;
  stories: { key: string; story: string }[];
  error: string | undefined;
  reportPath: string | undefined;
  startedAt: string;
}

/** Reads what a CI needs from a finished run's files. */
export function summarizeRun(files: RunFiles, reportPath: string | undefined): RunSummary {
  const results = files.results;
  const endNs = files.events.at(-1)?.time ?? 0;
  const windows = faultWindows(files.events);
  const lanes = faultLanes(windows, endNs);
  const views = violationSection(
    results?.check?.partitions ?? [],
    files.events,
    files.status,
    windows.map((w, i) => ({ ...w, lane: lanes[i] ?? 0 })),
  ).views;
  const nemesis = files.test.options.nemesis;
  return {
    name: files.test.name,
    verdict: results?.verdict ?? 'unfinished',
    exitCode: results?.exitCode,
    passed: results?.exitCode === 0,
    seed: files.test.seed,
    system: results?.system?.name ?? files.test.system?.name ?? 'raftlab',
    nemesis: Array.isArray(nemesis) ? nemesis.join(',') : String(nemesis ?? ''),
    replay: files.test.command ?? `npm run chaos -- --seed ${files.test.seed}`,
    durationS: results?.durationMs === undefined ? undefined : results.durationMs / 1000,
    counts: results?.counts,
    stories: views.map((v) => ({ key: v.key, story: v.story })),
    error: results?.error ?? results?.insufficientEvidence,
    reportPath,
    startedAt: files.test.startedAt,
  };
}

/** Escapes text for XML content and attribute values. */
export function escapeXml(text: string): string {
  return (
    text
      .replaceAll('&', '&amp;')
      .replaceAll('<', '&lt;')
      .replaceAll('>', '&gt;')
      .replaceAll('"', '&quot;')
      .replaceAll("'", '&apos;')
      // Characters XML 1.0 cannot carry at all.
      // biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters being removed
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
  );
}

/** Why a run did not pass, in one line: the verdict and the stories (or the error). */
function failureMessage(s: RunSummary): string {
  const why = s.stories.map((st) => `key ${st.key}: ${st.story}`).join(' ');
  const availability = s.exitCode === 4 ? 'the cluster did not recover after the final heal' : '';
  return [s.verdict, why || s.error || availability].filter((p) => p !== '').join(': ');
}

function detailText(s: RunSummary): string {
  return [
    `verdict: ${s.verdict} (exit ${s.exitCode ?? '—'})`,
    `seed: ${s.seed}`,
    `replay: ${s.replay}`,
    s.reportPath !== undefined ? `report: ${s.reportPath}` : '',
    ...s.stories.map((st) => `key ${st.key}: ${st.story}`),
    s.error !== undefined ? `error: ${s.error}` : '',
  ]
    .filter((l) => l !== '')
    .join('\n');
}

/** JUnit XML of one run: one test case; failure for illegal, unknown or no recovery, error for a broken run. */
export function junitXml(s: RunSummary): string {
  const time = (s.durationS ?? 0).toFixed(3);
  const broken = s.verdict === 'broken' || s.verdict === 'unfinished';
  const failures = !s.passed && !broken ? 1 : 0;
  const errors = broken ? 1 : 0;
  const type = s.exitCode === 4 ? 'availability' : s.verdict;
  const outcome = s.passed
    ? ''
    : `<${broken ? 'error' : 'failure'} message="${escapeXml(failureMessage(s))}" type="${escapeXml(type)}">${escapeXml(detailText(s))}</${broken ? 'error' : 'failure'}>`;
  const caseName = `${s.system} ${s.name} seed ${s.seed}`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="raftlab chaos" tests="1" failures="${failures}" errors="${errors}" time="${time}">
  <testsuite name="raftlab chaos" tests="1" failures="${failures}" errors="${errors}" skipped="0" time="${time}" timestamp="${escapeXml(s.startedAt)}">
    <testcase classname="chaos.${escapeXml(s.system)}" name="${escapeXml(caseName)}" time="${time}">${outcome}
      <system-out>${escapeXml(detailText(s))}</system-out>
    </testcase>
  </testsuite>
</testsuites>
`;
}

const cell = (text: string): string => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** Markdown for a CI job summary. */
export function markdownSummary(s: RunSummary): string {
  const mark = s.passed ? 'PASS' : 'FAIL';
  const counts =
    s.counts === undefined
      ? '—'
      : `${s.counts.invoked} (${s.counts.ok} ok, ${s.counts.fail} fail, ${s.counts.info} info)`;
  const lines = [
    `### ${mark} raftlab chaos ${s.system} \`${s.name}\`: **${s.verdict}** (exit ${s.exitCode ?? '—'})`,
    '',
    '| verdict | seed | system | nemesis | duration | ops |',
    '| --- | --- | --- | --- | --- | --- |',
    `| ${cell(s.verdict)} | ${s.seed} | ${cell(s.system)} | ${cell(s.nemesis)} | ${s.durationS === undefined ? '—' : `${s.durationS.toFixed(1)} s`} | ${cell(counts)} |`,
    '',
    ...s.stories.flatMap((st) => [`**What went wrong on key \`${st.key}\`:** ${st.story}`, '']),
    ...(s.error !== undefined ? [`**Error:** ${s.error}`, ''] : []),
    `Replay: \`${s.replay}\``,
    '',
    s.reportPath !== undefined ? `Report: \`${s.reportPath}\` (in the uploaded store)` : 'No report was written.',
    '',
  ];
  return `${lines.join('\n')}\n`;
}
