// Benchmark of the embedded server's data path (not a test): added latency per hop for small request/response
// exchanges (p50/p99, against a direct connection in the same run) and bulk throughput through one proxy with no
// toxic and with a 100 ms latency toxic. Run: `tsx toxiproxy/proxy-hop-bench.ts` (`--help` for sizes).
import { spawn } from 'node:child_process';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { Toxiproxy } from 'toxiproxy-node-client';
import { connect, startServer, startUpstream } from './testing.ts';

const argv = await yargs(hideBin(process.argv))
  .scriptName('bench')
  .usage('$0 [options]\n\nMeasures the embedded Toxiproxy server: per-hop latency and bulk throughput.')
  .option('round-trips', { type: 'number', default: 10_000, describe: 'request/response exchanges per path' })
  .option('message-bytes', { type: 'number', default: 64, describe: 'size of each request and response' })
  .option('bulk-mb', { type: 'number', default: 1024, describe: 'MB sent per bulk transfer without toxics' })
  .option('latency-bulk-mb', { type: 'number', default: 256, describe: 'MB sent through the 100 ms latency toxic' })
  .option('seed', { type: 'number', default: 1, describe: 'server seed' })
  .strict()
  .help()
  .parseAsync();

const isTty = process.stdout.isTTY === true;
const phase = (text: string): void => {
  process.stdout.write(isTty ? `\r\x1b[K${text}` : `${text}\n`);
};

function percentile(sortedUs: number[], p: number): number {
  const index = Math.min(sortedUs.length - 1, Math.max(0, Math.ceil((p / 100) * sortedUs.length) - 1));
  return sortedUs[index] ?? NaN;
}

/** Round-trip times (µs) of `count` exchanges of `bytes` bytes with the echo server behind `port`. */
async function roundTrips(port: number, count: number, bytes: number): Promise<number[]> {
  const socket = await connect(port);
  const message = Buffer.alloc(bytes, 0x61);
  const timesUs: number[] = [];
  let pending = 0;
  let resolveOne: (() => void) | undefined;
  socket.on('data', (data: Buffer) => {
    pending -= data.length;
    if (pending <= 0) resolveOne?.();
  });
  const warmup = Math.min(500, Math.floor(count / 10));
  for (let i = 0; i < count + warmup; i++) {
    const start = process.hrtime.bigint();
    pending = bytes;
    await new Promise<void>((resolve) => {
      resolveOne = resolve;
      socket.write(message);
    });
    if (i >= warmup) timesUs.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  socket.destroy();
  return timesUs.sort((a, b) => a - b);
}

// The sink runs in its own process so that sending and receiving do not share one event loop (which would cap
// the figure at what a single core can both write and read). Each connection starts with an 8-byte length; the sink
// answers one byte once it has read that many bytes.
const sinkSource = `
const net = require('node:net');
const server = net.createServer({ noDelay: true }, (socket) => {
  let expected = -1, received = 0, header = Buffer.alloc(0);
  socket.on('error', () => {});
  socket.on('data', (data) => {
    if (expected < 0) {
      header = Buffer.concat([header, data]);
      if (header.length < 8) return;
      expected = Number(header.readBigUInt64BE(0));
      received = header.length - 8;
    } else received += data.length;
    if (received >= expected) socket.write('k');
  });
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
process.stdin.on('end', () => process.exit(0)); process.stdin.resume();
`;

async function startSinkProcess(): Promise<{ port: number; stop(): void }> {
  const child = spawn(process.execPath, ['-e', sinkSource], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('exit', () => reject(new Error('sink process exited')));
  });
  return { port, stop: () => child.kill('SIGKILL') };
}

/** Sends `totalBytes` to the sink behind `port`; returns MB/s from the first write to the sink's receipt. */
async function bulk(port: number, totalBytes: number): Promise<number> {
  const socket = await connect(port);
  const acknowledged = new Promise<void>((resolve) => socket.once('data', () => resolve()));
  const header = Buffer.alloc(8);
  header.writeBigUInt64BE(BigInt(totalBytes));
  const block = Buffer.alloc(64 * 1024, 0x62);
  const start = process.hrtime.bigint();
  socket.write(header);
  let sent = 0;
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      while (sent < totalBytes) {
        const piece = totalBytes - sent >= block.length ? block : block.subarray(0, totalBytes - sent);
        sent += piece.length;
        if (!socket.write(piece)) {
          socket.once('drain', pump);
          return;
        }
      }
      resolve();
    };
    pump();
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('bulk transfer not acknowledged within 300 s')), 300_000);
  });
  await Promise.race([acknowledged, deadline]).finally(() => clearTimeout(timer));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  socket.destroy();
  return totalBytes / 1e6 / seconds;
}

const server = await startServer(argv.seed);
const echo = await startUpstream();
const sink = await startSinkProcess();
try {
  const tp = new Toxiproxy(server.url);
  const echoProxy = await tp.createProxy({ name: 'echo', listen: '127.0.0.1:0', upstream: echo.address });
  const sinkProxy = await tp.createProxy({ name: 'sink', listen: '127.0.0.1:0', upstream: `127.0.0.1:${sink.port}` });
  const portOf = (listen: string): number => Number(listen.slice(listen.lastIndexOf(':') + 1));

  phase(`latency: ${argv['round-trips']} round trips of ${argv['message-bytes']} B, direct`);
  const direct = await roundTrips(echo.port, argv['round-trips'], argv['message-bytes']);
  phase('latency: through the proxy');
  const proxied = await roundTrips(portOf(echoProxy.listen), argv['round-trips'], argv['message-bytes']);
  phase(`bulk: ${argv['bulk-mb']} MB direct`);
  const bulkBytes = argv['bulk-mb'] * 1e6;
  const directMBps = await bulk(sink.port, bulkBytes);
  phase(`bulk: ${argv['bulk-mb']} MB through the proxy, no toxic`);
  const proxyMBps = await bulk(portOf(sinkProxy.listen), bulkBytes);
  phase(`bulk: ${argv['latency-bulk-mb']} MB through the proxy with a 100 ms latency toxic`);
  await sinkProxy.addToxic({ type: 'latency', stream: 'upstream', attributes: { latency: 100, jitter: 0 } } as never);
  const latencyMBps = await bulk(portOf(sinkProxy.listen), argv['latency-bulk-mb'] * 1e6);
  if (isTty) process.stdout.write('\r\x1b[K');

  const row = (name: string, sorted: number[]): string =>
    `${name.padEnd(24)} p50 ${percentile(sorted, 50).toFixed(1).padStart(8)} us   p99 ${percentile(sorted, 99).toFixed(1).padStart(8)} us`;
  console.log(
    `toxiproxy bench (node ${process.version}, ${argv['round-trips']} round trips of ${argv['message-bytes']} B)`,
  );
  console.log(row('direct round trip', direct));
  console.log(row('proxied round trip', proxied));
  // One round trip crosses the proxy twice (request and response): the added latency per hop is half the gap.
  const addedP50 = (percentile(proxied, 50) - percentile(direct, 50)) / 2;
  const addedP99 = (percentile(proxied, 99) - percentile(direct, 99)) / 2;
  console.log(
    `added per hop            p50 ${addedP50.toFixed(1).padStart(8)} us   p99 ${addedP99.toFixed(1).padStart(8)} us   (target p50 <= 100 us)`,
  );
  console.log(`bulk direct              ${directMBps.toFixed(0).padStart(8)} MB/s`);
  console.log(`bulk proxied, no toxic   ${proxyMBps.toFixed(0).padStart(8)} MB/s   (target >= 1000 MB/s)`);
  console.log(`bulk proxied, 100 ms lat ${latencyMBps.toFixed(0).padStart(8)} MB/s   (Go test floor 100 MB/s)`);
} finally {
  await server.stop();
  await echo.close();
  sink.stop();
}
