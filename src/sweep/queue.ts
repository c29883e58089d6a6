/**
 * Cluster mode on BullMQ (Redis): `dnnfuse sweep --queue redis://host:port` puts each point on
 * the queue `dnnfuse-sweep` as a job whose id is the point key, and waits for its result;
 * `dnnfuse worker --queue ...` processes (any number, on any machine that sees the models at the
 * same paths) run them. A worker that dies mid-point leaves its job locked until the lock expires;
 * another worker's stall check puts it back on the queue (retried, up to `maxStalledCount`
 * times). A job that throws is retried (`attempts`). Results are idempotent: the job id is the
 * point key, a re-added finished job returns its stored result, and the parent inserts rows by
 * key.
 */
import { Queue, QueueEvents, Worker, type Job } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { badInput } from '../errors.ts';
import { faultHook } from './fault.ts';
import type { PointRow, PointTask } from './row.ts';
import { PoolExecutor, type Executor } from './executor.ts';

export const QUEUE_NAME = 'dnnfuse-sweep';

/** `redis://[user:password@]host:port[/db]` -> ioredis options (BullMQ, ESM: it takes client
 * instances, one per Queue / QueueEvents / Worker). */
export function redisConnection(url: string): RedisOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw badInput(`--queue ${url}: expected redis://host:port`);
  }
  if (u.protocol !== 'redis:') throw badInput(`--queue ${url}: expected redis://host:port`);
  const db = u.pathname.replace(/^\//, '');
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    username: u.username || undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: db ? Number(db) : undefined,
    maxRetriesPerRequest: null,
    // fail fast when nothing listens, instead of retrying forever
    retryStrategy: (times: number) => (times > 20 ? null : Math.min(times * 100, 1000)),
  };
}

/** One connection attempt, no retries: an unreachable Redis is refused at once, in one line
 * (the BullMQ clients below retry a lost connection, which is right once a sweep runs, but
 * would keep a user with a wrong address waiting and print each failed attempt). */
export async function reachRedis(url: string): Promise<void> {
  const c = new Redis({ ...redisConnection(url), lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 5_000 });
  // connect() rejects with "Connection is closed."; the socket's own error says why
  let cause: Error | undefined;
  c.on('error', (e: Error) => (cause ??= e));
  try {
    await c.connect();
    await c.ping();
  } catch (e) {
    throw badInput(`--queue ${url}: cannot reach Redis (${(cause ?? (e as Error)).message.split('\n')[0]})`);
  } finally {
    c.disconnect();
  }
}

export class QueueExecutor implements Executor {
  readonly name = 'queue';
  readonly workers = 0;
  private constructor(
    private readonly queue: Queue,
    private readonly events: QueueEvents,
    private readonly clients: Redis[],
  ) {}

  static async open(url: string): Promise<QueueExecutor> {
    await reachRedis(url);
    const opts = redisConnection(url);
    const clients = [new Redis(opts), new Redis(opts)];
    for (const c of clients) c.on('error', () => undefined); // reported by waitUntilReady below
    const queue = new Queue(QUEUE_NAME, { connection: clients[0] });
    const events = new QueueEvents(QUEUE_NAME, { connection: clients[1] });
    // Without listeners BullMQ prints every connection error's stack (queue-base.js emit).
    queue.on('error', () => undefined);
    events.on('error', () => undefined);
    try {
      await Promise.race([
        Promise.all([queue.waitUntilReady(), events.waitUntilReady()]),
        new Promise((_, rej) => setTimeout(() => rej(new Error('timed out')), 10_000)),
      ]);
    } catch (e) {
      await Promise.allSettled([queue.close(), events.close()]);
      for (const c of clients) c.disconnect();
      throw badInput(`--queue ${url}: cannot reach Redis (${(e as Error).message.split('\n')[0]})`);
    }
    return new QueueExecutor(queue, events, clients);
  }

  async run(task: PointTask): Promise<PointRow> {
    const old = await this.queue.getJob(task.key);
    if (old && (await old.isFailed())) await old.retry();
    const job = old ?? (await this.queue.add('point', task, { jobId: task.key, attempts: 3, backoff: { type: 'fixed', delay: 200 }, removeOnComplete: false, removeOnFail: false }));
    return (await job.waitUntilFinished(this.events)) as PointRow;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.events.close(), this.queue.close()]);
    for (const c of this.clients) c.disconnect();
  }
}

export interface WorkerOptions {
  concurrency?: number;
  /** Job lock, ms: how long a dead worker's job stays locked before it is retried (default 30000). */
  lockDuration?: number;
  onJob?: (job: Job, row: PointRow) => void;
}

/** Serves the queue until `close()` (the `dnnfuse worker` command). Points run on worker
 * threads (one per unit of concurrency), so that this thread's event loop stays free to renew
 * the job locks while a point computes. */
export async function startQueueWorker(url: string, o: WorkerOptions = {}): Promise<{ worker: Worker; close: () => Promise<void> }> {
  await reachRedis(url);
  const connection = new Redis(redisConnection(url));
  const lock = o.lockDuration ?? 30_000;
  const concurrency = o.concurrency ?? 1;
  const pool = new PoolExecutor(concurrency);
  const worker = new Worker(
    QUEUE_NAME,
    async (job: Job) => {
      faultHook('DNNFUSE_WORKER_FAULT');
      const row = await pool.run(job.data as PointTask);
      o.onJob?.(job, row);
      return row;
    },
    { connection, concurrency, lockDuration: lock, stalledInterval: lock, maxStalledCount: 3 },
  );
  // BullMQ prints unhandled worker errors itself, once per retry: one line per distinct message instead.
  const seen = new Set<string>();
  worker.on('error', (e) => {
    const m = e.message.split('\n')[0];
    if (!seen.has(m)) (seen.add(m), process.stderr.write(`dnnfuse worker: ${m}\n`));
  });
  connection.on('error', () => undefined);
  try {
    await Promise.race([worker.waitUntilReady(), new Promise((_, rej) => setTimeout(() => rej(new Error('timed out')), 10_000))]);
  } catch (e) {
    await worker.close(true).catch(() => undefined);
    connection.disconnect();
    await pool.close();
    throw badInput(`--queue ${url}: cannot reach Redis (${(e as Error).message.split('\n')[0]})`);
  }
  return {
    worker,
    close: async () => {
      await worker.close();
      connection.disconnect();
      await pool.close();
    },
  };
}
