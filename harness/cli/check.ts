/**
 * `npm run check`: the checker's CLI (checker/cli.ts) plus `--html FILE`, which also writes the page of the checked
 * history (reports/check-report.ts: verdict, per-key table, and on a violation the story and the timeline). The
 * checker stands alone and knows nothing of reports, so the flag lives here: it is taken out of the arguments, the
 * rest goes to the checker's CLI unchanged, and the check it runs is observed to render the page.
 * Exit codes are the checker's: 0 linearizable, 1 illegal, 2 unknown, 3 bad input (also a bad --html).
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { hideBin } from 'yargs/helpers';
import { type CheckResult, check, type HistoryEvent, readHistoryFile } from '../../checker/index.ts';
import { EXIT, runCli, type CliIo } from '../../checker/cli.ts';
import { exitBrokenOnCrash } from '../../lib/cli.ts';
import { writeCheckReport } from '../../reports/check-report.ts';

/** Splits `--html FILE` / `--html=FILE` off the arguments. */
export function takeHtmlFlag(args: readonly string[]): { html?: string; rest: string[]; error?: string } {
  const rest: string[] = [];
  let html: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--html' || arg.startsWith('--html=')) {
      const value = arg === '--html' ? args[++i] : arg.slice('--html='.length);
      if (value === undefined || value === '' || value.startsWith('-'))
        return { rest, error: '--html needs a file to write, e.g. --html report.html' };
      html = value;
      continue;
    }
    rest.push(arg);
  }
  return html === undefined ? { rest } : { html, rest };
}

/**
 * The checker's parser keeps the fields it checks; the page also shows a run's extra fields (the member an op was
 * sent to, the one that answered, errors). A JSON Lines file with one event per parsed event is read again whole;
 * anything else (EDN) keeps the parsed events.
 */
function rawEvents(file: string, parsed: HistoryEvent[]): HistoryEvent[] {
  try {
    const lines = readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '');
    if (lines.length !== parsed.length) return parsed;
    const raw = lines.map((line) => JSON.parse(line) as HistoryEvent);
    return raw.every((e, i) => e.process === parsed[i]?.process && e.type === parsed[i]?.type) ? raw : parsed;
  } catch {
    return parsed;
  }
}

const HTML_HELP =
  '  --html FILE  also write a self-contained HTML page of the history (verdict, keys, the violation explained)';

/** Runs the check CLI with --html; returns the exit code. */
export async function runCheckWithHtml(args: readonly string[], io: CliIo): Promise<number> {
  const { html, rest, error } = takeHtmlFlag(args);
  if (error !== undefined) {
    io.err(`${error}\n(npm run check -- --help lists the options)`);
    return EXIT.badInput;
  }
  const checked: { file: string; events: HistoryEvent[]; result: CheckResult }[] = [];
  let last: { file: string; events: HistoryEvent[] } = { file: '', events: [] };
  const observed: CliIo = {
    ...io,
    readHistory: async (file) => {
      last = { file, events: await io.readHistory(file) };
      return last.events;
    },
    check: async (events, options) => {
      const result = await io.check(events, options);
      checked.push({ ...last, result });
      return result;
    },
  };
  const code = await runCli(rest, observed);
  if (rest.includes('--help') || rest.includes('-h')) io.out(HTML_HELP);
  if (html !== undefined && checked.length > 1) {
    io.err(`--html writes the page of one history; ${checked.length} were checked, no page written`);
    return EXIT.badInput;
  }
  const page = checked[0];
  if (html !== undefined && page !== undefined) {
    try {
      writeCheckReport(html, page.file, rawEvents(page.file, page.events), page.result);
      io.err(`report: ${html}`);
    } catch (e) {
      io.err(`--html ${html}: cannot write the page: ${(e as Error).message}`);
      return EXIT.badInput;
    }
  }
  return code;
}

// Run as a program (not when a test imports runCheckWithHtml).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  exitBrokenOnCrash('npm run check');
  const io: CliIo = {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    readHistory: readHistoryFile,
    check,
  };
  process.exitCode = await runCheckWithHtml(hideBin(process.argv), io);
}
