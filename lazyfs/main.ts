// The lazy file system as a process: `tsx lazyfs/main.ts --backing DIR --mount DIR`.
// Mounts a FUSE passthrough of DIR that keeps unsynced file data in this process (see cache.ts), and serves a control
// API on 127.0.0.1 that drops it on command. Prints one JSON line on stdout once mounted and listening:
//   {"event":"listening","control":"http://127.0.0.1:PORT","mount":...,"backing":...,"pid":...}
// It must be its own process: a FUSE handler served from the process that also touches the mount deadlocks.
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { LazyCache } from './cache.ts';
import { startControlServer } from './control.ts';
import { lazyOperations } from './operations.ts';

/** The fsname every mount of ours carries, so a leftover mount of a dead process can be recognised and removed. */
const LAZYFS_FSNAME_PREFIX = 'raftlab-lazyfs';

const argv = await yargs(hideBin(process.argv))
  .scriptName('lazyfs')
  .usage(
    '$0 --backing DIR --mount DIR [options]\n\nA FUSE passthrough that keeps unsynced writes in memory and drops them on command (power loss).',
  )
  .option('backing', { type: 'string', demandOption: true, describe: 'the real directory the data lives in' })
  .option('mount', { type: 'string', demandOption: true, describe: 'where to mount (created if missing)' })
  .option('control-port', { type: 'number', default: 0, describe: 'port of the control API on 127.0.0.1 (0: free)' })
  .option('exit-with-parent', {
    type: 'boolean',
    default: false,
    describe: 'flush, unmount and exit when stdin reaches EOF (the spawning parent died)',
  })
  .strict()
  .fail((message, error) => {
    process.stderr.write(`lazyfs: ${error?.message ?? message}\nRun with --help for the options.\n`);
    process.exit(3);
  })
  .help()
  .parseAsync();

const require = createRequire(import.meta.url);
type FuseInstance = {
  mount(cb: (error: Error | null) => void): void;
  unmount(cb: (error: Error | null) => void): void;
};
let Fuse: new (mnt: string, ops: object, opts: object) => FuseInstance;
try {
  Fuse = require('fuse-native');
} catch (error) {
  process.stderr.write(
    `lazyfs: cannot load fuse-native (${error instanceof Error ? error.message : String(error)}); ` +
      'install the FUSE packages: apt-get install -y libfuse2 fuse, then npm ci\n',
  );
  process.exit(3);
}

const backing = resolve(argv.backing);
const mount = resolve(argv.mount);
mkdirSync(backing, { recursive: true });
mkdirSync(mount, { recursive: true });
const cache = new LazyCache(backing);
const fuse = new Fuse(mount, lazyOperations(cache), {
  // No per-operation timeout: a large fsync must not turn into ETIMEDOUT.
  timeout: false,
  // Attributes and names are asked for every time: sizes change when unsynced data is dropped.
  attrTimeout: '0',
  entryTimeout: '0',
  // If this process dies without unmounting, fusermount takes the mount down.
  autoUnmount: true,
  fsname: `${LAZYFS_FSNAME_PREFIX}-${process.pid}`,
  subtype: 'lazyfs',
});

try {
  await new Promise<void>((done, fail) => fuse.mount((error) => (error ? fail(error) : done())));
} catch (error) {
  process.stderr.write(
    `lazyfs: cannot mount ${mount}: ${error instanceof Error ? error.message : String(error)}; ` +
      'FUSE needs /dev/fuse and the packages libfuse2 and fuse (apt-get install -y libfuse2 fuse)\n',
  );
  process.exit(1);
}

const control = await startControlServer(cache, argv['control-port']);
process.stdout.write(
  `${JSON.stringify({ event: 'listening', control: control.url, mount, backing, pid: process.pid })}\n`,
);

let stopping = false;
async function shutdown(reason: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`lazyfs: shutting down (${reason})\n`);
  setTimeout(() => process.exit(0), 5000).unref();
  // A clean shutdown writes the page cache back, as an operating system does before it powers off.
  try {
    cache.flushAll();
  } catch (error) {
    process.stderr.write(`lazyfs: flush failed: ${error instanceof Error ? error.message : String(error)}\n`);
  }
  await control.close();
  await new Promise<void>((done) => fuse.unmount(() => done()));
  process.exit(0);
}

process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
if (argv['exit-with-parent']) {
  process.stdin.on('end', () => void shutdown('parent gone (stdin EOF)'));
  process.stdin.on('error', () => void shutdown('parent gone (stdin error)'));
  process.stdin.resume();
}
