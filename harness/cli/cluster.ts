/**
 * `npm run cluster -- --nodes 3 [--spare 2] [--port 7001] [--data-dir DIR]`: a local raftlab cluster for hands-on
 * use, without proxies. Node i serves clients and peers on port P+i-1. A node that dies (kill -9 it from another
 * terminal and watch the others elect a new leader) is reported and the others keep running; type `restart n2` to
 * bring it back on its data. `--spare N` starts N more nodes outside the configuration (every node's address book
 * names them all); `add n4` and `remove n2` change the membership (or curl the admin API), `members` shows it. Runs
 * until Ctrl-C or `quit`.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { EXIT_BROKEN, exitBrokenOnCrash, failUsage } from '../../lib/cli.ts';
import { describeView, MembershipChanger } from '../nemesis/membership.ts';
import { RaftlabSystem } from '../systems/raftlab.ts';

exitBrokenOnCrash('npm run cluster');

const argv = await yargs(hideBin(process.argv))
  .scriptName('npm run cluster --')
  .usage(
    '$0 [--nodes 3] [--spare 2] [--port 7001] [--data-dir DIR]\n\nStarts a local raftlab cluster (no proxies) and runs until Ctrl-C. A node that exits is reported and the others keep running. Commands on stdin: status, members, add ID, remove ID, kill ID, pause ID, resume ID, restart ID, quit.',
  )
  .option('nodes', { type: 'number', default: 3, describe: 'number of members at the start (odd: 3, 5, 7)' })
  .option('spare', {
    type: 'number',
    default: 0,
    describe: 'more nodes started outside the configuration, to add by hand (`add n4`, or POST /members)',
  })
  .option('port', { type: 'number', default: 7001, describe: 'node i serves clients and peers on port+i-1' })
  .option('data-dir', {
    type: 'string',
    describe: 'parent of the node data directories (<dir>/nodes/nX; default: a new temp dir)',
  })
  .option('election-timeout-ms', { type: 'number', describe: 'passed to every node' })
  .option('heartbeat-ms', { type: 'number', describe: 'passed to every node' })
  .option('snapshot-every', { type: 'number', describe: 'passed to every node' })
  .check((a) => {
    if (!(Number.isInteger(a.nodes) && a.nodes >= 1 && a.nodes <= 15))
      throw new Error('--nodes must be an integer from 1 to 15');
    if (!(Number.isInteger(a.spare) && a.spare >= 0 && a.nodes + a.spare <= 15))
      throw new Error('--spare must be an integer >= 0, with at most 15 nodes in all');
    if (!(Number.isInteger(a.port) && a.port > 0 && a.port + a.nodes + a.spare - 1 <= 65535))
      throw new Error('--port must leave room for every node below 65536');
    return true;
  })
  .strict()
  .fail(failUsage('npm run cluster'))
  .help()
  .parseAsync();

const runDir = argv['data-dir'] ?? mkdtempSync(join(tmpdir(), 'raftlab-cluster-'));
let stopping = false;
const system = new RaftlabSystem({
  nodes: argv.nodes + argv.spare,
  ...(argv.spare > 0 ? { initialMembers: Array.from({ length: argv.nodes }, (_, i) => `n${i + 1}`) } : {}),
  runDir,
  mode: 'direct',
  basePort: argv.port,
  ...(argv['election-timeout-ms'] !== undefined ? { electionTimeoutMs: argv['election-timeout-ms'] } : {}),
  ...(argv['heartbeat-ms'] !== undefined ? { heartbeatMs: argv['heartbeat-ms'] } : {}),
  ...(argv['snapshot-every'] !== undefined ? { snapshotEvery: argv['snapshot-every'] } : {}),
  onMemberExit: (id, exit) => {
    if (stopping) return;
    const how = exit.signal ?? `code ${exit.code}`;
    process.stderr.write(
      `${id} exited (${how}); the others keep running. Log: ${join(runDir, 'nodes', `${id}.log`)}\n`,
    );
    process.stderr.write(`type "restart ${id}" to start it again on its data\n`);
  },
});

async function shutdown(reason: string, code: number): Promise<never> {
  stopping = true;
  process.stderr.write(`stopping cluster (${reason})\n`);
  await system.stop();
  process.exit(code);
}
process.on('SIGINT', () => void shutdown('SIGINT', 0));
process.on('SIGTERM', () => void shutdown('SIGTERM', 0));

try {
  await system.start();
  const leader = await system.waitForLeader(30_000);
  const urls = system.clientUrls();
  for (const id of system.ids) process.stdout.write(`${id} ${urls[id]}  data ${system.dataDir(id)}\n`);
  const first = urls[leader] ?? '';
  const spare = system.ids.filter((id) => !system.members().includes(id));
  process.stdout.write(
    `leader ${leader}\ntry: curl -X PUT ${first}/kv/hello -d '{"value":"world"}'; curl ${first}/kv/hello\n` +
      (spare.length > 0
        ? `members ${system.members().join(',')}; outside the configuration: ${spare.join(',')}\n` +
          `add one: curl -X POST ${first}/members -d '{"id":"${spare[0]}","url":"${urls[spare[0] as string]}"}'; curl ${first}/members\n`
        : '') +
      'Commands: status, members, add ID, remove ID, kill ID, pause ID, resume ID, restart ID, quit. Ctrl-C stops the cluster.\n',
  );
} catch (error) {
  process.stderr.write(
    `cluster failed to start: ${(error as Error).message}\nIs port ${argv.port} free? Try --port with another base.\n`,
  );
  await shutdown('start failed', EXIT_BROKEN);
}

/** Membership changes by hand: one at a time, retried like the member nemesis does. */
const changer = new MembershipChanger(system.membership, system);
/** How long `add` and `remove` wait for the change to commit. */
const CHANGE_WITHIN_MS = 30_000;

/** One line typed by the user: a command on one node, or `status` / `quit`. */
async function runCommand(line: string): Promise<void> {
  const [command, id] = line.trim().split(/\s+/);
  if (command === undefined || command === '') return;
  if (command === 'quit' || command === 'exit') await shutdown('quit', 0);
  if (command === 'status') {
    for (const member of system.ids) {
      const status = await system.status(member);
      const state = !system.isRunning(member) ? 'down' : system.isPaused(member) ? 'paused' : 'up';
      const detail = status === undefined ? '' : ` ${status.role} term ${status.term} commit ${status.commitIndex}`;
      process.stdout.write(`${member} ${state}${detail}\n`);
    }
    return;
  }
  if (command === 'members') {
    const view = await changer.refresh();
    process.stdout.write(view === undefined ? 'no member answers GET /members\n' : `members ${describeView(view)}\n`);
    return;
  }
  if ((command === 'add' || command === 'remove') && id !== undefined && system.ids.includes(id)) {
    process.stdout.write(`${command} ${id}: asking the leader...\n`);
    const result =
      command === 'add' ? await changer.add(id, CHANGE_WITHIN_MS) : await changer.remove(id, CHANGE_WITHIN_MS);
    process.stdout.write(`${command} ${id}: ${result.ok ? 'done' : 'FAILED'} (${result.detail})\n`);
    return;
  }
  const actions: Record<string, (member: string) => Promise<void> | void> = {
    kill: (member) => system.kill(member),
    pause: (member) => system.pause(member),
    resume: (member) => system.resume(member),
    restart: (member) => system.restart(member),
  };
  const action = actions[command];
  if (action === undefined || id === undefined || !system.ids.includes(id)) {
    process.stdout.write(
      `unknown command "${line.trim()}"; try: status, members, add n4, remove n2, kill n2, restart n2, pause n1, resume n1, quit\n`,
    );
    return;
  }
  await action(id);
  process.stdout.write(`${command} ${id}: done\n`);
}

const input = createInterface({ input: process.stdin });
let queue = Promise.resolve();
input.on('line', (line) => {
  queue = queue
    .then(() => runCommand(line))
    .catch((error: unknown) => {
      process.stdout.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    });
});
