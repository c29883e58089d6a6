/**
 * Sweep benchmark (`npm run bench:sweep`): `dnnfuse sweep` over the shared models x 8 buffer
 * sizes (64 KiB .. 8 MiB) x LBDF, BRR, int8, greedy + the exact optimum, three times as separate
 * CLI processes: on a pool of 1 worker thread, on a pool of one thread per core (fresh
 * databases both), then the re-run of the finished sweep (every point stored: nothing computed).
 * Prints the wall times, the pool's speed-up over 1 worker (target >= 1.8x on 2 cores), the
 * re-run time (target < 2 s, process start included) and each run's peak RSS; checks that both
 * databases hold the same rows bar timings.
 * Options: --models a,b (default: every shared model)  --buffer 64KiB..8MiB  --workers N (pool
 * size, default: cores)  --keep DIR (keep the databases and write the page there)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedModels, sharedModelsDir, sharedModelsMissing } from '../src/models/shared.ts';
import { SweepStore, rowWithoutTime } from '../src/sweep/store.ts';

const arg = (name: string, d: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : d;
};
const missing = sharedModelsMissing();
if (missing) {
  console.log(`bench:sweep skipped: ${missing}`);
  process.exit(0);
}
const names = arg('models', sharedModels().map((m) => m.name).join(',')).split(',');
const buffer = arg('buffer', '64KiB..8MiB');
const workers = Number(arg('workers', String(availableParallelism())));
const keep = arg('keep', '');
const dir = keep || mkdtempSync(join(tmpdir(), 'dnnfuse-bench-sweep-'));
mkdirSync(dir, { recursive: true });
// The files as shipped (.onnx or .onnx.gz: the sweep reads both; hashing the compressed file is cheap)
const models = names.map((n) => join(sharedModelsDir(), sharedModels().find((m) => m.name === n)!.file));
const cli = join(import.meta.dirname, '..', 'bin', 'dnnfuse.mjs');

function sweep(db: string, w: number, extra: string[] = []) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [cli, 'sweep', ...models, '--buffer', buffer, '--scheme', 'lbdf,brr', '--dtype', 'int8', '--optimum', '--db', db, '--workers', String(w), '--json', '--quiet', ...extra], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`sweep failed (${r.status}): ${r.stderr}`);
  return { s, ...(JSON.parse(r.stdout) as { total: number; computed: number; reused: number; errors: number; peakRssMB: number; ms: number; cpuS: number }) };
}

async function rows(db: string) {
  const st = await SweepStore.open(db);
  try {
    return JSON.stringify((await st.rows()).map(rowWithoutTime));
  } finally {
    st.close();
  }
}

console.log(`# bench:sweep — ${models.length} models x ${buffer} x LBDF,BRR x int8, greedy + optimum; ${availableParallelism()} cores; load average at start ${(await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ')}`);
const one = sweep(join(dir, 'one.duckdb'), 1);
console.log(`1 worker:           ${one.s.toFixed(1)} s wall, ${one.cpuS.toFixed(1)} s CPU, ${one.computed} points computed (${one.errors} errors), peak RSS ${one.peakRssMB} MB`);
const pool = sweep(join(dir, 'pool.duckdb'), workers, keep ? ['--page', join(dir, 'page.html'), '--export', join(dir, 'points.parquet')] : []);
console.log(`pool of ${workers} workers:  ${pool.s.toFixed(1)} s wall, ${pool.cpuS.toFixed(1)} s CPU, ${pool.computed} points computed (${pool.errors} errors), peak RSS ${pool.peakRssMB} MB`);
const again = sweep(join(dir, 'pool.duckdb'), workers);
console.log(`re-run (finished):  ${again.s.toFixed(2)} s wall with process start (the sweep command itself: ${(again.ms / 1000).toFixed(2)} s), ${again.cpuS.toFixed(2)} s CPU, ${again.computed} computed, ${again.reused} stored, peak RSS ${again.peakRssMB} MB`);
const same = (await rows(join(dir, 'one.duckdb'))) === (await rows(join(dir, 'pool.duckdb')));
console.log(`speed-up pool/1 worker: ${(one.s / pool.s).toFixed(2)}x (target >= 1.8x); re-run ${again.s.toFixed(2)} s (target < 2 s); rows identical bar timings: ${same}`);
console.log(`load average at end ${(await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log(`parent peak RSS (this bench process): ${Math.round(process.resourceUsage().maxRSS / 1024)} MB`);
if (!keep) rmSync(dir, { recursive: true, force: true });
