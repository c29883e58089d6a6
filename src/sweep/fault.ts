/** Fault injection of the sweep's resume and cluster tests (pool threads and `dnnfuse worker`
 * processes that die mid-point). Its own module: the cluster worker's main thread calls it and
 * loads no planner. */
import { writeFileSync } from 'node:fs';

/** Fault injection for the resume and cluster tests (never set by users):
 * DNNFUSE_SWEEP_FAULT=<n>:<marker file> makes the n-th point a thread runs end that thread
 * (a pool thread dies); DNNFUSE_WORKER_FAULT the same for a `dnnfuse worker` process. Once: the
 * marker file records that it happened. */
const faultCounts = new Map<string, number>();
export function faultHook(variable: string): void {
  const f = process.env[variable];
  if (!f) return;
  const [n, marker] = [Number(f.split(':')[0]), f.slice(f.indexOf(':') + 1)];
  const count = (faultCounts.get(variable) ?? 0) + 1;
  faultCounts.set(variable, count);
  if (count !== n) return;
  try {
    // 'wx': exactly one process or thread wins the marker, even when several start together.
    writeFileSync(marker, String(process.pid), { flag: 'wx' });
  } catch {
    return;
  }
  process.exit(70); // in a worker thread this ends the thread only
}
