/**
 * Executors run point tasks: in this thread, in a pool of worker threads (piscina), or on a
 * BullMQ queue served by `dnnfuse worker` processes (queue.ts). All of them call runPoint, so a
 * point's row does not depend on where it ran.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { runPoint, type PointRow, type PointTask } from './point.ts';

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
  run(task: PointTask): Promise<PointRow> {
    return runPoint(task);
  }
  async close(): Promise<void> {}
}

/** The pool thread's entry: the .mjs shim (from source or a build that copies it), else the
 * compiled task module itself. */
function workerFile(): string {
  for (const f of ['./pool-worker.mjs', './pool-task.js']) {
    const p = fileURLToPath(new URL(f, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new Error('sweep pool: neither pool-worker.mjs nor pool-task.js found beside executor');
}

/** A pool of worker threads, one per core by default (a dead thread is replaced by piscina; its
 * task fails and the sweep retries it). */
export class PoolExecutor implements Executor {
  readonly name = 'pool';
  readonly workers: number;
  // Started on the first task: re-running a finished sweep starts no thread.
  private pool: Piscina | undefined;
  constructor(workers = availableParallelism()) {
    this.workers = workers;
  }
  run(task: PointTask): Promise<PointRow> {
    this.pool ??= new Piscina({ filename: workerFile(), minThreads: this.workers, maxThreads: this.workers, idleTimeout: 60_000, concurrentTasksPerWorker: 1 });
    return this.pool.run(task) as Promise<PointRow>;
  }
  async close(): Promise<void> {
    await this.pool?.destroy();
  }
}
