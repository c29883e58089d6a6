/**
 * Runs a sweep: every series as a chain (its points in ascending buffer size, each seeded by the
 * stored best plan of the one before), all chains at once on an executor. A point whose key is
 * in the store is not recomputed (its stored plan still seeds the next point), so a re-run or a
 * resumed sweep computes only what is missing and the rows are the same as an uninterrupted
 * run's. A task that fails without a row (a dead thread or worker) is retried.
 */
import type { Series } from './grid.ts';
import { pointKey, type PointRow } from './row.ts';
import type { SweepStore } from './store.ts';
import type { Executor } from './executor.ts';

export interface SweepProgress {
  total: number;
  done: number;
  computed: number;
  reused: number;
  row: PointRow;
  fresh: boolean;
}

export interface SweepSummary {
  total: number;
  computed: number;
  reused: number;
  errors: number;
  retries: number;
  keys: string[];
}

export interface SweepRunOptions {
  /** Called once before any point, with the number of points and how many are already stored
   * (a progress bar's ETA counts the points to compute only). */
  onStart?: (p: { total: number; stored: number }) => void;
  onPoint?: (p: SweepProgress) => void;
  retries?: number;
}

export async function runSweep(series: Series[], store: SweepStore, exec: Executor, opts: SweepRunOptions = {}): Promise<SweepSummary> {
  const keyed = series.map((s) => s.points.map((p) => ({ spec: p, key: pointKey(p) })));
  const keys = keyed.flat().map((p) => p.key);
  const stored = await store.rowsByKey(keys);
  const total = keys.length;
  opts.onStart?.({ total, stored: stored.size });
  let done = 0;
  let computed = 0;
  let reused = 0;
  let errors = 0;
  let retries = 0;
  const maxRetries = opts.retries ?? 3;
  let failed: { error: unknown } | undefined;
  const chain = async (points: (typeof keyed)[number]) => {
    let seed: string[][] | undefined;
    for (const { spec, key } of points) {
      if (failed) return; // another chain failed: stop at the next point, keep what is stored
      let row = stored.get(key);
      const fresh = !row;
      if (!row) {
        for (let attempt = 0; ; attempt++) {
          try {
            row = await exec.run({ spec, key, seed });
            break;
          } catch (e) {
            if (attempt >= maxRetries) throw new Error(`point ${spec.model.name} ${spec.scheme} ${spec.hardware.name} failed ${attempt + 1} times: ${(e as Error).message.split('\n')[0]}`);
            retries++;
          }
        }
        // Another sweep may have stored the key meanwhile: the stored row wins.
        if (!(await store.insert(row))) row = (await store.rowsByKey([key])).get(key)!;
        computed++;
      } else reused++;
      if (row.status === 'error') errors++;
      done++;
      opts.onPoint?.({ total, done, computed, reused, row, fresh });
      seed = row.plan ? (JSON.parse(row.plan) as string[][]) : undefined;
    }
  };
  await Promise.all(
    keyed.map((k) =>
      chain(k).catch((error: unknown) => {
        failed ??= { error };
      }),
    ),
  );
  if (failed) throw failed.error;
  return { total, computed, reused, errors, retries, keys };
}
