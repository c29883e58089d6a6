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
import type { SharedPointResult } from './point.ts';

/** Young-generation size of a pool thread (V8's default semi-space is 16 MB, young generation
 * 48 MB). A point allocates many short-lived objects (candidate groups, DP states) and few that
 * live long (the cost model's memo is typed columns): a scavenge's cost is what survives, not
 * how much was allocated, so a larger young generation means fewer scavenges of the same
 * survivors each. Measured on 4 shared models x 8 sizes x LBDF,BRR with the optimum, pool of 2
 * (semi-space 32 MB): 47.5 s of CPU instead of 56.4 s. */
export const YOUNG_GENERATION_MB = 96;

export interface Executor {
  readonly name: string;
  readonly workers: number;
  run(task: PointTask): Promise<PointRow>;
  close(): Promise<void>;
}

/** Runs points one at a time in the calling thread. runSweep starts every series at once and
 * a point awaits (a .onnx.gz inflating, HiGHS), so the points are queued here: interleaved, each
 * point's `time_ms` counted the others' work (the first points of the corpus sweep's models all
 * read 89 s) and every model's graph was loaded at once. */
export class InlineExecutor implements Executor {
  readonly name = 'inline';
  readonly workers = 1;
  private last: Promise<unknown> = Promise.resolve();
  run(task: PointTask): Promise<PointRow> {
    const turn = this.last.then(async () => {
      const { runPoint } = await import('./point.ts');
      return runPoint(task);
    });
    this.last = turn.catch(() => undefined); // a failed point does not stop the queue
    return turn;
  }
  async close(): Promise<void> {}
}


/** A pool of worker threads, one per core by default (a dead thread is replaced by piscina; its
 * task fails and the sweep retries it). Each model is read and decoded by one thread only: the
 * first task of a model goes out alone, its thread returns the op graph (serialized), and every
 * later task of that model carries it (see runPointShared) — a thread no longer re-reads a model
 * another thread has read. Tasks of a model being read wait for that graph (the slot goes to
 * another series meanwhile); if its task fails without one, the next task reads the file. */
export class PoolExecutor implements Executor {
  readonly name = 'pool';
  readonly workers: number;
  // Started on the first task: re-running a finished sweep starts no thread.
  private pool: Promise<Piscina> | undefined;
  /** Op graphs by model hash, serialized by the thread that read the model. */
  private readonly graphs = new Map<string, Uint8Array>();
  /** Models whose first task is running: settles when it ends, with or without a graph. */
  private readonly reading = new Map<string, Promise<void>>();
  /** How many times a thread read and decoded a model file (once per model, bar retries). */
  modelReads = 0;
  constructor(workers = availableParallelism()) {
    this.workers = workers;
  }
  async run(task: PointTask): Promise<PointRow> {
    this.pool ??= import('piscina').then(({ Piscina }) => new Piscina({ ...poolWorker(new URL('./pool-task', import.meta.url), 'sweep pool'), minThreads: this.workers, maxThreads: this.workers, idleTimeout: 60_000, concurrentTasksPerWorker: 1, resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } }));
    const hash = task.spec.model.hash;
    for (let r = this.reading.get(hash); r && !this.graphs.has(hash); r = this.reading.get(hash)) await r;
    const graph = this.graphs.get(hash);
    let settle = () => {};
    if (!graph) this.reading.set(hash, new Promise<void>((res) => (settle = res)));
    try {
      const out = (await (await this.pool).run({ task, graph })) as SharedPointResult;
      if (out.graph) this.modelReads++;
      if (out.graph && !this.graphs.has(hash)) this.graphs.set(hash, out.graph);
      return out.row;
    } finally {
      if (!graph) {
        this.reading.delete(hash);
        settle();
      }
    }
  }
  async close(): Promise<void> {
    if (this.pool) await (await this.pool).destroy();
  }
}
