/**
 * `dnnfuse worker --queue redis://host:port`: serves a sweep's BullMQ queue (src/sweep/queue.ts)
 * until SIGINT/SIGTERM. Needs the models at the paths the sweep named.
 */
import type { Command } from 'commander';
import { badInput } from '../../errors.ts';

export function register(program: Command): void {
  program
    .command('worker')
    .description('Run sweep points from a BullMQ queue (see dnnfuse sweep --queue)')
    .requiredOption('--queue <url>', 'redis://host:port')
    .option('--concurrency <n>', 'points at once in this process', '1')
    .option('--lock-duration <ms>', 'job lock: a dead worker\'s point is retried after this long', '30000')
    .option('--quiet', 'no log lines')
    .action(async (o) => {
      const concurrency = Number(o.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1) throw badInput(`--concurrency ${o.concurrency}: expected a positive integer`);
      const lockDuration = Number(o.lockDuration);
      if (!Number.isInteger(lockDuration) || lockDuration < 100) throw badInput(`--lock-duration ${o.lockDuration}: expected milliseconds >= 100`);
      const { startQueueWorker, redisConnection } = await import('../../sweep/queue.ts');
      redisConnection(o.queue);
      const served = await startQueueWorker(o.queue, {
        concurrency,
        lockDuration,
        onJob: o.quiet ? undefined : (job, r) => process.stderr.write(`worker ${process.pid}: ${r.model} ${r.scheme} ${r.dtype} ${r.buffer_bytes} B: ${r.status} (${job.id})\n`),
      });
      if (!o.quiet) process.stderr.write(`worker ${process.pid}: serving ${o.queue}\n`);
      await new Promise<void>((res) => {
        const stop = () => res();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await served.close();
    });
}
