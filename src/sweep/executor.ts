/**
 * Executors run point tasks: in this thread, in a pool of worker threads (piscina), or on a
 * BullMQ queue served by `dnnfuse worker` processes (queue.ts). All of them call runPoint, so a
 * point's row does not depend on where it ran. runPoint (the planner, the ONNX reader, the
 * solver) and piscina are imported on the first task: re-running a finished sweep runs none and
 * loads neither.
 */
import { poolWorker } from '../util/pool.ts';
import { availableParallelism } from 'node:os';
import type { Piscina } from 'piscina';
import type { PointRow, PointTask } from './row.ts';

export interface Executor {
  readonly name: string;
  readonly workers: number;
  run(task: PointTask): Promise<PointRow>;
  close(): Promise<void>;
}

/** Runs points one at a time in the calling thread. */
export class InlineExecutor implements Executor {
  readonly name = 'inline';
  readonly workers = 1;
  async run(task: PointTask): Promise<PointRow> {
    const { runPoint } = await import('./point.ts');
    return runPoint(task);
  }
  async close(): Promise<void> {}
}


/** A pool of worker threads, one per core by default (a dead thread is replaced by piscina; its
 * task fails and the sweep retries it). */
export class PoolExecutor implements Executor {
  readonly name = 'pool';
  readonly workers: number;
  // Started on the first task: re-running a finished sweep starts no thread.
  private pool: Promise<Piscina> | undefined;
  constructor(workers = availableParallelism()) {
    this.workers = workers;
  }
  async run(task: PointTask): Promise<PointRow> {
    this.pool ??= import('piscina').then(({ Piscina }) => new Piscina({ ...poolWorker(new URL('./pool-task', import.meta.url), 'sweep pool'), minThreads: this.workers, maxThreads: this.workers, idleTimeout: 60_000, concurrentTasksPerWorker: 1 }));
    return (await this.pool).run(task) as Promise<PointRow>;
  }
  async close(): Promise<void> {
    if (this.pool) await (await this.pool).destroy();
  }
}
