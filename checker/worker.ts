// Worker thread body: checks the partitions it is sent with a built-in model
// (models are data plus functions, so only their name and options cross).
import { parentPort } from 'node:worker_threads';
import { createModel } from './models.ts';
import { checkPartitions, type WorkerRequest } from './partitions.ts';

parentPort?.on('message', (request: WorkerRequest) => {
  try {
    const model = createModel(request.model, request.modelOptions);
    const outcome = checkPartitions(request.partitions, model, request.options, request.cancel);
    parentPort!.postMessage({ type: 'done', outcome });
  } catch (error) {
    parentPort!.postMessage({
      type: 'error',
      message: (error as Error).message,
      code: (error as { code?: string }).code,
    });
  }
});
