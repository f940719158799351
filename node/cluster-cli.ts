/**
 * `npm run cluster -- --nodes 3 [--port 7001] [--data-dir DIR]`: a local
 * cluster for hands-on use, without proxies. Node i serves on port P+i-1 (the
 * same port carries peer traffic). Runs until SIGINT/SIGTERM, then stops its
 * nodes; if a node dies on its own, the others are stopped too.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { LocalCluster } from './local-cluster.ts';

const argv = await yargs(hideBin(process.argv))
  .scriptName('npm run cluster --')
  .usage(
    '$0 [--nodes 3] [--port 7001] [--data-dir DIR]\n\nStarts a local raftlab cluster (no proxies) and runs until Ctrl-C.',
  )
  .option('nodes', { type: 'number', default: 3, describe: 'number of nodes (odd: 3, 5, 7)' })
  .option('port', { type: 'number', default: 7001, describe: 'node i serves clients and peers on port+i-1' })
  .option('data-dir', { type: 'string', describe: 'parent of the node data directories (default: a new temp dir)' })
  .option('election-timeout-ms', { type: 'number', describe: 'passed to every node' })
  .option('heartbeat-ms', { type: 'number', describe: 'passed to every node' })
  .option('snapshot-every', { type: 'number', describe: 'passed to every node' })
  .check((a) => {
    if (!(Number.isInteger(a.nodes) && a.nodes >= 1 && a.nodes <= 15))
      throw new Error('--nodes must be an integer from 1 to 15');
    if (!(Number.isInteger(a.port) && a.port > 0 && a.port + a.nodes - 1 <= 65535))
      throw new Error('--port must leave room for every node below 65536');
    return true;
  })
  .strict()
  .help()
  .parseAsync();

const dataDir = argv['data-dir'] ?? mkdtempSync(join(tmpdir(), 'raftlab-cluster-'));
const isTty = process.stdout.isTTY === true;
let cluster: LocalCluster;
try {
  cluster = await LocalCluster.start({
    nodes: argv.nodes,
    basePort: argv.port,
    dataDir,
    ...(argv['election-timeout-ms'] !== undefined ? { electionTimeoutMs: argv['election-timeout-ms'] } : {}),
    ...(argv['heartbeat-ms'] !== undefined ? { heartbeatMs: argv['heartbeat-ms'] } : {}),
    ...(argv['snapshot-every'] !== undefined ? { snapshotEvery: argv['snapshot-every'] } : {}),
    onLine: (id, line) => {
      // Role changes are the interesting part for a human watching.
      if (line.includes('"event":"role"') || line.includes('"level":"error"')) process.stderr.write(`${id} ${line}\n`);
    },
  });
} catch (err) {
  process.stderr.write(
    `cluster failed to start: ${(err as Error).message}\nIs port ${argv.port} free? Try --port with another base.\n`,
  );
  process.exit(1);
}

for (const id of cluster.ids) process.stdout.write(`${id} ${cluster.url(id)}  data ${cluster.dataDir(id)}\n`);
process.stdout.write(
  `${isTty ? '\n' : ''}try: curl -X PUT ${cluster.url('n1')}/kv/hello -d '{"value":"world"}'; curl ${cluster.url('n1')}/kv/hello\nCtrl-C stops the cluster.\n`,
);

let stopping = false;
async function shutdown(reason: string, code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`stopping cluster (${reason})\n`);
  await cluster.stop();
  process.exit(code);
}
process.on('SIGINT', () => void shutdown('SIGINT', 0));
process.on('SIGTERM', () => void shutdown('SIGTERM', 0));
for (const id of cluster.ids) {
  void cluster.exited(id).then((r) => {
    if (!stopping)
      void shutdown(`${id} exited unexpectedly (${r.signal ?? `code ${r.exitCode}`}); its log is above`, 1);
  });
}
