/**
 * `raftlab node`: one Raft KV node as a process.
 *
 *   tsx node/main.ts --id n1 --listen 127.0.0.1:7001 \
 *     --peers n1=http://127.0.0.1:7001,n2=http://127.0.0.1:7002,n3=http://127.0.0.1:7003 \
 *     --data-dir /tmp/n1
 *
 * Prints `{"event":"listening","id":..,"url":..}` on stdout once serving;
 * logs JSON lines on stderr. SIGTERM/SIGINT (or, with --exit-with-parent,
 * end of stdin) stop it cleanly with exit code 0. A corrupt data directory or
 * a bad flag exits with code 1 and a message saying what to do.
 */
import { once } from 'node:events';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { NODE_DEFAULTS, parseInitialMembers, parseListen, parsePeers } from './config.ts';
import { BUGS, bugNames, bugWarning, resolveBug, type BugName } from './planted-bugs.ts';
import { jsonLogger } from './logger.ts';
import { NodeRuntime } from './runtime.ts';
import { createNodeServer } from './server.ts';
import { lockDataDir, type DirLock } from './storage/dir-lock.ts';
import { isMemberId } from './validation.ts';

async function main(): Promise<void> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('raftlab-node')
    .usage(
      '$0 --id ID --listen 127.0.0.1:PORT --peers id=url,... --data-dir DIR\n\nRuns one Raft key-value node. Client API and peer RPC share the one port; see node/README.md.',
    )
    .option('id', {
      type: 'string',
      demandOption: true,
      describe: "this node's id, e.g. n1 (must appear in every peer's --peers)",
    })
    .option('listen', {
      type: 'string',
      demandOption: true,
      describe: 'address to serve on, 127.0.0.1:PORT (port 0 picks a free one)',
    })
    .option('peers', {
      type: 'string',
      demandOption: true,
      describe:
        'the address book: comma-separated id=url (own id optional); the url is how THIS node reaches that peer, e.g. through a proxy. A member missing here is reached by the url its configuration entry records',
    })
    .option('initial-members', {
      type: 'string',
      describe:
        'comma-separated ids of the voters at log index 0, used only while the data dir holds no configuration (default: every id of --peers and this one). A node not listed starts as a non-member: it never campaigns and joins when a leader adds it (POST /members)',
    })
    .option('data-dir', {
      type: 'string',
      demandOption: true,
      describe: 'directory for the WAL and snapshots (created if missing)',
    })
    .option('election-timeout-ms', {
      type: 'number',
      default: NODE_DEFAULTS.electionTimeoutMs,
      describe: 'base election timeout; each one is drawn from [base, 2*base)',
    })
    .option('heartbeat-ms', {
      type: 'number',
      default: NODE_DEFAULTS.heartbeatMs,
      describe: 'leader heartbeat interval (should be well under the election timeout)',
    })
    .option('snapshot-every', {
      type: 'number',
      default: NODE_DEFAULTS.snapshotEvery,
      describe: 'snapshot the state machine and compact the log every N applied entries',
    })
    .option('cluster-id', {
      type: 'string',
      default: NODE_DEFAULTS.clusterId,
      describe: 'peer messages from another cluster id are refused',
    })
    .option('request-timeout-ms', {
      type: 'number',
      default: NODE_DEFAULTS.requestTimeoutMs,
      describe: 'longest a client request waits before an "unknown" 504',
    })
    .option('body-timeout-ms', {
      type: 'number',
      default: NODE_DEFAULTS.bodyTimeoutMs,
      describe: 'longest wait for a client request body; a slower one gets 408 and its connection closed',
    })
    .option('read-mode', {
      type: 'string',
      choices: ['index', 'lease'],
      default: 'index',
      describe:
        'linearizable reads: index = ReadIndex, a heartbeat round per batch of reads (thesis §6.4); lease = served locally while the leader lease holds (§6.4.1), else ReadIndex',
    })
    .option('restart-quiet', {
      type: 'boolean',
      default: true,
      describe:
        'ignore vote requests for one election timeout after start (the node may have acknowledged a leader just before it stopped; thesis §6.4.1). --no-restart-quiet turns it off for experiments that need a restarted voter to answer at once; not with --read-mode lease',
    })
    .option('bug', {
      type: 'string',
      describe: `DELIBERATELY BREAK the node with a planted bug, for npm run prove (also RAFTLAB_BUG); one of: ${bugNames.join(', ')}. Never for real data`,
    })
    .option('exit-with-parent', {
      type: 'boolean',
      default: false,
      describe: 'exit cleanly when stdin reaches end-of-file (the parent died)',
    })
    .check((a) => {
      if (!(a['heartbeat-ms'] > 0)) throw new Error('--heartbeat-ms must be > 0');
      if (a['restart-quiet'] === false && a['read-mode'] === 'lease')
        throw new Error('--no-restart-quiet breaks the lease guarantee: use it with --read-mode index');
      if (!(a['election-timeout-ms'] >= 2 * a['heartbeat-ms']))
        throw new Error('--election-timeout-ms must be at least twice --heartbeat-ms');
      if (!(Number.isInteger(a['snapshot-every']) && a['snapshot-every'] > 0))
        throw new Error('--snapshot-every must be a positive integer');
      if (!(a['request-timeout-ms'] > 0 && a['request-timeout-ms'] <= 3_600_000))
        throw new Error('--request-timeout-ms must be > 0 and at most 3600000 (one hour)');
      if (!(a['body-timeout-ms'] > 0 && a['body-timeout-ms'] <= 3_600_000))
        throw new Error('--body-timeout-ms must be > 0 and at most 3600000 (one hour)');
      if (!isMemberId(a.id)) throw new Error('--id must be 1-64 letters, digits, "_", "." or "-"');
      return true;
    })
    .strict()
    .help()
    .parseAsync();

  const id = argv.id;
  const log = jsonLogger(id);
  let bug: BugName | null;
  try {
    bug = resolveBug(argv.bug, process.env.RAFTLAB_BUG);
  } catch (err) {
    process.stderr.write(`raftlab node: ${(err as Error).message}\nRun with --help for the flags.\n`);
    process.exit(1);
  }
  // The lease bug lives in the lease read path, so it implies lease reads.
  const readMode: 'index' | 'lease' =
    bug === 'lease-without-clock-bound' ? 'lease' : argv['read-mode'] === 'lease' ? 'lease' : 'index';
  if (bug !== null) {
    // Loud on purpose: a planted bug must never go unnoticed.
    log.warn('planted-bug', { bug, mistake: BUGS[bug], readMode });
    process.stderr.write(bugWarning(id, bug));
  }
  let host: string;
  let port: number;
  let peerUrls: Map<string, string>;
  let initialMembers: string[];
  try {
    ({ host, port } = parseListen(argv.listen));
    peerUrls = parsePeers(argv.peers, id, `http://${host}:${port}`);
    initialMembers = parseInitialMembers(argv['initial-members'], peerUrls);
  } catch (err) {
    process.stderr.write(`raftlab node: ${(err as Error).message}\nRun with --help for the flags.\n`);
    process.exit(1);
  }

  // One process per data directory (node/storage/dir-lock.ts); a SIGKILLed
  // node's lock is stale and taken over on restart.
  let dirLock: DirLock;
  try {
    dirLock = lockDataDir(argv['data-dir']);
  } catch (err) {
    log.error('data-dir-in-use', { error: (err as Error).message });
    process.stderr.write(`raftlab node ${id}: cannot start: ${(err as Error).message}\n`);
    process.exit(1);
  }
  if (dirLock.tookOverFromPid !== null)
    log.info('stale-lock-taken-over', { file: dirLock.path, deadPid: dirLock.tookOverFromPid });
  process.on('exit', () => dirLock.release());

  let runtime: NodeRuntime;
  try {
    runtime = NodeRuntime.open({
      id,
      peerUrls,
      initialMembers,
      dataDir: argv['data-dir'],
      clusterId: argv['cluster-id'],
      electionTimeoutMs: argv['election-timeout-ms'],
      heartbeatMs: argv['heartbeat-ms'],
      snapshotEvery: argv['snapshot-every'],
      requestTimeoutMs: argv['request-timeout-ms'],
      readMode,
      bug,
      restartQuiet: argv['restart-quiet'],
      log,
    });
  } catch (err) {
    const e = err as Error & { code?: string; file?: string; offset?: number };
    log.error('recovery-failed', { error: e.message, code: e.code, file: e.file, offset: e.offset });
    process.stderr.write(`raftlab node ${id}: cannot start: ${e.message}\n`);
    process.exit(1);
  }

  const server = createNodeServer({
    runtime,
    // Members may join with ids this address book lacks (thesis §4.1: RPCs are served without consulting the configuration).
    peerIds: 'any',
    clusterId: argv['cluster-id'],
    // The leader answers `unknown` at its own request timeout; wait a little longer to relay that answer.
    forwardTimeoutMs: argv['request-timeout-ms'] + 1000,
    bodyTimeoutMs: argv['body-timeout-ms'],
    staleReads: bug === 'stale-read',
    log,
  });

  let stopping = false;
  const stop = async (reason: string, exitCode: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { reason });
    server.close();
    server.closeAllConnections();
    await runtime.stop();
    log.info('stopped', { reason });
    process.exit(exitCode);
  };
  runtime.onFatal = (err) => void stop(`fatal: ${err.message}`, 1);
  process.on('SIGTERM', () => void stop('SIGTERM', 0));
  process.on('SIGINT', () => void stop('SIGINT', 0));
  if (argv['exit-with-parent']) {
    process.stdin.on('end', () => void stop('stdin closed (parent exited)', 0));
    process.stdin.on('error', () => void stop('stdin error (parent exited)', 0));
    process.stdin.resume();
  }

  server.listen(port, host);
  try {
    await once(server, 'listening');
  } catch (err) {
    log.error('listen-failed', { error: (err as Error).message });
    process.stderr.write(`raftlab node ${id}: cannot listen on ${argv.listen}: ${(err as Error).message}\n`);
    await runtime.stop();
    process.exit(1);
  }
  const address = server.address();
  const actualPort = typeof address === 'object' && address !== null ? address.port : port;
  const url = `http://${host}:${actualPort}`;
  log.info('start', {
    url,
    peers: Object.fromEntries(peerUrls),
    initialMembers,
    dataDir: argv['data-dir'],
    tickMs: runtime.tickMs,
    readMode,
    bug,
  });
  process.stdout.write(`${JSON.stringify({ event: 'listening', id, url })}\n`);
}

await main();
