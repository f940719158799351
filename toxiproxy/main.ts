// The embedded Toxiproxy-compatible server as a process: `npm run toxiproxy -- --port 8474`.
// Prints one JSON line on stdout once listening, so a parent can read the bound port (port 0 works).
import { readFileSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { TOXIPROXY_VERSION, startToxiproxyServer } from './api.ts';
import { ApiError } from './proxy.ts';

const argv = await yargs(hideBin(process.argv))
  .scriptName('toxiproxy')
  .usage('$0 [options]\n\nA Toxiproxy 2.12.0-compatible fault-injection proxy server (HTTP API + TCP proxies).')
  .option('host', { type: 'string', default: '127.0.0.1', describe: 'address the HTTP API binds to' })
  .option('port', { type: 'number', default: 8474, describe: 'API port; 0 picks a free one (printed on stdout)' })
  .option('config', {
    type: 'string',
    describe: 'JSON file with an array of proxies in the /populate format, created at start-up',
  })
  .option('seed', { type: 'number', describe: 'seed for toxicity draws, jitter and slicer sizes (default: random)' })
  .option('exit-with-parent', {
    type: 'boolean',
    default: false,
    describe: 'exit when stdin reaches EOF (the spawning parent died); for supervised child processes',
  })
  .option('quiet', { type: 'boolean', default: false, describe: 'no log lines on stderr' })
  .version(`toxiproxy-server version ${TOXIPROXY_VERSION} (raftlab embedded)`)
  .strict()
  .fail((message, error) => {
    process.stderr.write(`toxiproxy: ${error?.message ?? message}\nRun with --help for the options.\n`);
    process.exit(2);
  })
  .help()
  .parseAsync();

const log = (line: string): void => {
  if (!argv.quiet) process.stderr.write(`toxiproxy: ${line}\n`);
};

if (!Number.isInteger(argv.port) || argv.port < 0 || argv.port > 65535) {
  process.stderr.write(`toxiproxy: --port must be an integer in 0..65535, got ${argv.port}\n`);
  process.exit(2);
}
const seed = argv.seed ?? randomInt(0, 2 ** 31);

let server: Awaited<ReturnType<typeof startToxiproxyServer>>;
try {
  server = await startToxiproxyServer({ host: argv.host, port: argv.port, seed });
} catch (error) {
  process.stderr.write(
    `toxiproxy: cannot listen on ${argv.host}:${argv.port}: ${error instanceof Error ? error.message : String(error)}\n` +
      'Pick another --port (0 chooses a free one) or stop the process using it.\n',
  );
  process.exit(1);
}
const running = server;

if (argv.config !== undefined) {
  // Compat §1: config errors are logged, not fatal.
  try {
    const proxies = await running.proxies.serialize(() =>
      running.proxies.populate(JSON.parse(readFileSync(argv.config ?? '', 'utf8'))),
    );
    log(`loaded ${proxies?.length ?? 0} proxies from ${argv.config}`);
  } catch (error) {
    const message = error instanceof ApiError || error instanceof Error ? error.message : String(error);
    log(`could not load config ${argv.config}: ${message}`);
  }
}

process.stdout.write(
  `${JSON.stringify({ event: 'listening', host: running.host, port: running.port, url: running.url, seed, version: TOXIPROXY_VERSION })}\n`,
);

let stopping = false;
async function shutdown(reason: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log(`shutting down (${reason})`);
  // Whatever happens, do not outlive the deadline: a stuck socket must not keep the process alive.
  setTimeout(() => process.exit(0), 2000).unref();
  await running.close();
  process.exit(0);
}

// A bug in one connection's handling must not take every proxy of a chaos run down with it: report and go on.
process.on('uncaughtException', (error) => {
  process.stderr.write(`toxiproxy: internal error (still serving): ${error.stack ?? String(error)}\n`);
});

process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
if (argv['exit-with-parent']) {
  process.stdin.on('end', () => void shutdown('parent gone (stdin EOF)'));
  process.stdin.on('error', () => void shutdown('parent gone (stdin error)'));
  process.stdin.resume();
}
