/**
 * Trains the members of a finite ensemble on worker threads (piscina, as the sweep's pool):
 * one task per member, members returned in index order. Member i is trained from the
 * generator memberRng(seed, i) on the same table and setup as in the calling thread, and the
 * training loop is the same float64 code, so the members (and every certificate built from
 * them) are identical bit for bit whatever the pool size (test/learnability/pool.test.ts).
 * Use with `certifyAsync(g, algorithm, opts, pool.train)`.
 */
import { poolWorker } from '../util/pool.ts';
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { TrainedMember, TrainRequest } from './predictors.ts';
import type { MemberTask } from './pool-task.ts';


export class EnsemblePool {
  readonly workers: number;
  private pool: Piscina | undefined;
  constructor(workers = availableParallelism()) {
    if (!(Number.isInteger(workers) && workers >= 1)) throw new Error(`ensemble pool: workers must be a positive integer, got ${workers}`);
    this.workers = workers;
  }
  /** Trains members r.from .. r.to - 1 (bound: pass `pool.train` as a callback). */
  train = async (r: TrainRequest): Promise<TrainedMember[]> => {
    this.pool ??= new Piscina({ ...poolWorker(new URL('./pool-task', import.meta.url), 'ensemble pool'), minThreads: this.workers, maxThreads: this.workers, idleTimeout: 60_000, concurrentTasksPerWorker: 1 });
    const t = r.table;
    // the table's training view only (plain arrays clone cheaply to the threads)
    const request: MemberTask['request'] = {
      table: { n0: t.n0, outputSize: t.outputSize, outStart: t.outStart, outBit: t.outBit },
      hidden: r.hidden, epochs: r.epochs, lr: r.lr, init: r.init, precondition: r.precondition, tol: r.tol, seed: r.seed,
    };
    const jobs: Promise<{ w1: Float64Array; w2: Float64Array; loss: number; epochs: number }>[] = [];
    for (let i = r.from; i < r.to; i++) jobs.push(this.pool.run({ request, index: i } satisfies MemberTask));
    const done = await Promise.all(jobs);
    return done.map((d) => ({ member: { w1: d.w1, w2: d.w2 }, loss: d.loss, epochs: d.epochs }));
  };
  async close(): Promise<void> {
    await this.pool?.destroy();
    this.pool = undefined;
  }
}
