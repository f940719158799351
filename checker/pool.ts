// Runs partitions on worker threads. Each worker gets a share of the
// partitions, balanced by op count (largest first onto the lightest worker),
// and is terminated when done or on error.
import { Worker } from 'node:worker_threads';
import { CheckerError, type CheckerErrorCode } from './errors.ts';
import type { Operation } from './history.ts';
import type { ModelOptions } from './models.ts';
import type { PartitionsOutcome, ResolvedOptions, WorkerRequest } from './partitions.ts';

type WorkerMessage =
  | { type: 'done'; outcome: PartitionsOutcome }
  | { type: 'error'; message: string; code?: CheckerErrorCode };

/**
 * Worker bootstrap: registers the tsx loader inside the worker, then loads
 * worker.ts. (On Node 20, `execArgv: ['--import', 'tsx']` does not reach
 * the worker's own entry module, so the entry is a tiny eval'd script.)
 * Both URLs are resolved from this file, so the cwd does not matter.
 */
function bootstrapSource(): string {
  const tsxApi = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const worker = JSON.stringify(new URL('./worker.ts', import.meta.url).href);
  return `import(${tsxApi}).then((api) => { api.register(); return import(${worker}); });`;
}

function runWorker(request: WorkerRequest): Promise<PartitionsOutcome> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(bootstrapSource(), { eval: true, execArgv: [] });
    let settled = false;
    const finish = (error?: Error, outcome?: PartitionsOutcome): void => {
      if (settled) return;
      settled = true;
      void worker.terminate();
      if (error) reject(error);
      else resolve(outcome!);
    };
    worker.on('message', (message: WorkerMessage) => {
      switch (message.type) {
        case 'done':
          finish(undefined, message.outcome);
          break;
        case 'error':
          finish(message.code ? new CheckerError(message.code, message.message) : new Error(message.message));
          break;
        default: {
          const never: never = message;
          finish(new Error(`unexpected worker message ${JSON.stringify(never)}`));
        }
      }
    });
    worker.on('error', (error) => finish(error));
    worker.on('exit', (code) => finish(new Error(`checker worker exited early with code ${code}`)));
    worker.postMessage(request);
  });
}

/**
 * Checks partitions on `workers` threads; results in no particular order.
 * The workers share one stop flag: the first illegal partition stops them all
 * (unless options.allPartitions).
 */
export async function checkOnWorkers(
  partitions: { key: string | undefined; ops: Operation[] }[],
  model: { model: string } & ModelOptions,
  options: ResolvedOptions,
  workers: number,
): Promise<PartitionsOutcome> {
  const cancel = new Int32Array(new SharedArrayBuffer(4));
  const shares: { load: number; partitions: WorkerRequest['partitions'] }[] = Array.from({ length: workers }, () => ({
    load: 0,
    partitions: [],
  }));
  for (const p of [...partitions].sort((a, b) => b.ops.length - a.ops.length)) {
    const lightest = shares.reduce((a, b) => (b.load < a.load ? b : a));
    lightest.partitions.push(p);
    lightest.load += p.ops.length;
  }
  const modelOptions: ModelOptions = {};
  if (model.init !== undefined) modelOptions.init = model.init;
  if (model.nullRead !== undefined) modelOptions.nullRead = model.nullRead;
  const all = await Promise.all(
    shares
      .filter((s) => s.partitions.length > 0)
      .map((s) => runWorker({ model: model.model, modelOptions, options, partitions: s.partitions, cancel })),
  );
  return { results: all.flatMap((o) => o.results), unsearched: all.flatMap((o) => o.unsearched) };
}
