/**
 * `dnnfuse sweep models... --buffer 64KiB..8MiB --scheme lbdf,brr --dtype int8,fp16 [--optimum]`:
 * design-space sweeps (src/sweep/). Points run on a pool of worker threads (default one per core),
 * or on a BullMQ queue with `--queue redis://host:port` (then `dnnfuse worker --queue ...`
 * processes run them). Results go to a DuckDB file (`--db`, one row a point); points already
 * there are not recomputed, so an interrupted sweep resumes by running the same command again.
 * `--export f.parquet|f.csv`, `--page f.html` and `--sql "..."` read the database (with or without
 * models to sweep first).
 */
import { collect } from '../options.ts';
import type { Command } from 'commander';
import { availableParallelism } from 'node:os';
import { existsSync } from 'node:fs';
import { badInput, verificationFailed } from '../../errors.ts';
import { resolveAccelerator, formatSize } from '../../hardware/load.ts';
import type { ElementType } from '../../hardware/accelerator.ts';
import type { FusionScheme } from '../../fusion/types.ts';
import { expandModelArgs, gridSeries, parseBandwidths, parseBufferAxis, parseChoiceList, sweepModels, SWEEP_SEARCHES, type SweepGrid, type SweepSearch } from '../../sweep/grid.ts';
// DuckDB's native binding, piscina and the planner are imported when a sweep runs, as the other
// commands import their heavy modules: loading them here would slow every dnnfuse command's start.
import type { Executor } from '../../sweep/executor.ts';
import type { SweepSummary } from '../../sweep/run.ts';
import { assertNotInput, writeFileAtomic } from '../../util/fs.ts';
import { peakRssBytes } from '../../util/peak-rss.ts';

function int(name: string, v: string, min: number): number {
  const x = Number(v);
  if (!Number.isInteger(x) || x < min) throw badInput(`--${name} ${v}: expected an integer >= ${min}`);
  return x;
}

/** CPU time of this process, all threads, seconds. */
function cpuSeconds(): number {
  const u = process.resourceUsage();
  return Math.round((u.userCPUTime + u.systemCPUTime) / 1e4) / 100;
}

export function register(program: Command): void {
  program
    .command('sweep')
    .description('Sweep models x buffer sizes x schemes x dtypes (x bandwidths) through the fusion planner into a DuckDB database')
    .argument('[models...]', "ONNX models: files (.onnx, .onnx.gz), folders (their own models) or globs ('zoo/**/*.onnx', quoted: any depth); none = only read the database (--sql, --export, --page)")
    .option('--hw <preset|file>', 'base accelerator the axes override', 'edge-512k')
    .option('--buffer <sizes>', 'buffer sizes: a log range 64KiB..8MiB (powers of two, or --steps sizes) or a list 64KiB,1MiB', '64KiB..8MiB')
    .option('--steps <n>', 'number of log-spaced sizes in a --buffer range')
    .option('--scheme <list>', 'lbdf, brr or lbdf,brr', 'lbdf')
    .option('--dtype <list>', 'element types: int8, fp16, fp32 (default: the base accelerator\'s)')
    .option('--shape <name=dims>', 'fix a dynamic input in every model with an input of that name, e.g. x=1x3x224x224 (repeatable)', collect, [])
    .option('--dim <name=n>', 'fix every input\'s dim named NAME in every model that has one, e.g. batch=1 (repeatable)', collect, [])
    .option('--bandwidth <list>', 'DRAM bandwidths, e.g. 12.8GB,25.6GB (default: the base accelerator\'s)')
    .option('--search <method>', `search per point: ${SWEEP_SEARCHES.join(', ')}`, 'greedy')
    .option('--budget <n>', 'plans of the local search', '1000')
    .option('--seed <n>', 'seed of the searches', '0')
    .option('--optimum', 'also the exact optimum (HiGHS) and its proven lower bound, per point')
    .option('--time-limit <s>', 'safety-net time limit of the exact solver per point, seconds', '30')
    .option('--db <file>', 'results database (DuckDB)', 'sweep.duckdb')
    .option('--workers <n>', 'worker threads (default: one per core; 0 = run in this thread)')
    .option('--queue <url>', 'run the points on a BullMQ queue at redis://host:port (start `dnnfuse worker --queue` processes)')
    .option('--export <file...>', 'write the rows to .parquet and/or .csv files')
    .option('--page <file>', 'write the HTML page (DRAM-vs-buffer curves, knees, LBDF vs BRR, smallest buffer per reduction)')
    .option('--reduction <x>', 'the page table\'s target reduction of DRAM traffic vs layer-by-layer (0..1)', '0.5')
    .option('--sql <query>', 'run a query on the database and print its rows as JSON lines')
    .option('--json', 'print a summary as JSON on stdout')
    .option('--quiet', 'no progress')
    .action(async (args: string[], o) => {
      const t0 = performance.now();
      const base = resolveAccelerator(o.hw);
      const reduction = Number(o.reduction);
      if (!(reduction > 0 && reduction < 1)) throw badInput(`--reduction ${o.reduction}: expected a fraction between 0 and 1`);
      if (!SWEEP_SEARCHES.includes(o.search)) throw badInput(`--search ${o.search}: expected one of ${SWEEP_SEARCHES.join(', ')}`);
      const timeLimit = Number(o.timeLimit);
      if (!(timeLimit > 0)) throw badInput(`--time-limit ${o.timeLimit}: expected a positive number of seconds`);
      const workers = o.workers === undefined ? availableParallelism() : int('workers', o.workers, 0);
      for (const f of [...(o.export ?? []), ...(o.page ? [o.page] : [])]) assertNotInput(f, [...args, o.db]);
      for (const f of o.export ?? []) if (!/\.(parquet|csv)$/i.test(f)) throw badInput(`--export ${f}: expected a .parquet or .csv file name`);
      if (args.length) expandModelArgs(args); // a missing model is refused before the database is created
      // so is a malformed --shape or --dim (shape inference's module only then: a re-run loads no ONNX code)
      if (o.shape.length || o.dim.length) {
        const { parseShapeOverrides, parseDimOverrides } = await import('../../analysis/shapes.ts');
        parseShapeOverrides(o.shape);
        parseDimOverrides(o.dim);
      }
      const axes = args.length
        ? {
            buffers: parseBufferAxis(o.buffer, o.steps === undefined ? undefined : int('steps', o.steps, 1)),
            schemes: parseChoiceList<FusionScheme>('scheme', o.scheme, ['lbdf', 'brr']),
            dtypes: o.dtype ? parseChoiceList<ElementType>('dtype', o.dtype, ['int8', 'fp16', 'fp32']) : [base.elementType],
            bandwidths: o.bandwidth ? parseBandwidths(o.bandwidth) : [base.dramBytesPerSecond],
            base,
            options: { search: o.search as SweepSearch, optimum: !!o.optimum, seed: int('seed', o.seed, 0), budget: int('budget', o.budget, 1), timeLimit },
          }
        : undefined;
      if (!axes && !o.sql && !o.export && !o.page) throw badInput('nothing to do: give models to sweep, or --sql, --export or --page to read the database');
      if (!axes && !existsSync(o.db)) throw badInput(`results database ${o.db} not found (no models given to sweep into it)`);
      const { SweepStore } = await import('../../sweep/store.ts');
      const { InlineExecutor, PoolExecutor } = await import('../../sweep/executor.ts');
      const { runSweep } = await import('../../sweep/run.ts');
      // Redis is reached before the database is opened: an unreachable queue leaves no file behind.
      const queue = axes && o.queue ? await (await import('../../sweep/queue.ts')).QueueExecutor.open(o.queue) : undefined;
      let store: Awaited<ReturnType<typeof SweepStore.open>>;
      try {
        store = await SweepStore.open(o.db);
      } catch (e) {
        await queue?.close();
        throw e;
      }
      let summary: SweepSummary | undefined;
      try {
        let grid: SweepGrid | undefined;
        if (axes) {
          // The models' hashes (point keys hash them): an unchanged file's from the database.
          const hashes = await store.hashCache();
          grid = { ...axes, models: sweepModels(args, hashes, o.shape, o.dim) };
          await hashes.save();
        }
        if (grid) {
          const series = gridSeries(grid);
          const exec: Executor = queue ?? (workers === 0 ? new InlineExecutor() : new PoolExecutor(workers));
          const total = series.reduce((a, s) => a + s.points.length, 0);
          if (!o.quiet) process.stderr.write(`sweep: ${grid.models.length} models x ${grid.buffers.length} buffers (${formatSize(grid.buffers[0])}..${formatSize(grid.buffers[grid.buffers.length - 1])}) x ${grid.schemes.join(',')} x ${grid.dtypes.join(',')} x ${grid.bandwidths.length} bandwidths = ${total} points, ${o.search}${o.optimum ? ' + optimum' : ''}, on ${o.queue ? `queue ${o.queue}` : exec.workers === 1 && workers === 0 ? 'this thread' : `${exec.workers} worker threads`} -> ${o.db}\n`);
          // On a terminal, a bar over the points to compute (the stored ones are counted apart, so
          // that they do not make the ETA of a resumed sweep look short); elsewhere, a line a point.
          const tty = !o.quiet && process.stderr.isTTY;
          const cliProgress = tty ? (await import('cli-progress')).default : undefined;
          const bar = cliProgress ? new cliProgress.SingleBar({ stream: process.stderr, format: 'sweep {bar} {value}/{total} points computed | {stored} already stored | ETA {eta_formatted}', hideCursor: true, etaBuffer: 20, fps: 5 }, cliProgress.Presets.shades_classic) : undefined;
          try {
            summary = await runSweep(series, store, exec, {
              onStart: ({ total, stored }) => {
                if (bar && total > stored) bar.start(total - stored, 0, { stored });
              },
              onPoint: (p) => {
                if (bar) bar.update(p.computed);
                else if (!o.quiet && p.fresh) {
                  const r = p.row;
                  const mb = (x: number | null) => (x === null ? '-' : (x / 1e6).toFixed(3));
                  process.stderr.write(`point ${p.done}/${p.total}: ${r.model} ${r.scheme} ${r.dtype} ${formatSize(r.buffer_bytes)}: ${r.status}${r.error ? ` (${r.error})` : ''} DRAM ${mb(r.dram_bytes)} MB${r.optimum ? ` optimum ${mb(r.optimum_bytes)} MB bound ${mb(r.bound_bytes)} MB` : ''}\n`);
                }
              },
            });
          } finally {
            bar?.stop();
            if (exec !== queue) await exec.close();
          }
          if (!o.quiet) process.stderr.write(`sweep: ${summary.total} points, ${summary.computed} computed, ${summary.reused} already stored${summary.retries ? `, ${summary.retries} retried` : ''}${summary.errors ? `, ${summary.errors} errors` : ''} -> ${o.db}\n`);
        }
        for (const f of o.export ?? []) await store.export(f);
        if (o.page) {
          const { sweepPage } = await import('../../sweep/page.ts');
          const rows = summary ? [...(await store.rowsByKey(summary.keys)).values()] : await store.rows();
          writeFileAtomic(o.page, await sweepPage(rows, { reduction }));
        }
        if (o.sql) for (const r of await store.query(o.sql)) process.stdout.write(`${JSON.stringify(r)}\n`);
        if (o.json) process.stdout.write(`${JSON.stringify(summary ? { total: summary.total, computed: summary.computed, reused: summary.reused, errors: summary.errors, retries: summary.retries, db: o.db, ms: Math.round(performance.now() - t0), cpuS: cpuSeconds(), peakRssMB: Math.round(peakRssBytes() / 1048576) } : { db: o.db })}\n`);
      } finally {
        await queue?.close();
        store.close();
      }
      if (summary?.errors) throw verificationFailed(`sweep: ${summary.errors} of ${summary.total} points failed (status 'error' in ${o.db}; query: SELECT model, error FROM points WHERE status = 'error')`);
    });
}
