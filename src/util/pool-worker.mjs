// Worker-thread entry of dnnfuse's piscina pools (the sweep's, the ensemble trainer's) when run
// from source: there is only the task's .ts file, so tsx's loader is registered in this thread
// first (module hooks of the main thread do not reach worker threads on Node 20), then the task
// module named by workerData.task is imported. A compiled build runs the task's .js directly
// (see poolWorker in pool.ts).
import { workerData } from 'node:worker_threads';

const { register } = await import('tsx/esm/api');
register();
const mod = await import(workerData.task);
export default mod.default;
