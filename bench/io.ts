/**
 * `npm run bench:io`: load, shape-infer, serialize and save ResNet-50 (102 MB) and
 * MobileNetV2 with dnnfuse and with python `onnx` (/usr/bin/python3, protobuf C++), measured
 * in the same run on the same files. Prints medians and dnnfuse/python ratios (< 1 = dnnfuse
 * faster), in two settings:
 *  (1) one load/infer/encode/save per fresh process, dnnfuse and python children alternating
 *      (the CLI case: a command loads its model once);
 *  (2) the same steps repeated in one long-lived process.
 * On VMs where a first-touch page fault is expensive, (2) favours python: glibc recycles the
 * memory python frees, while V8 maps fresh pages for every large ArrayBuffer (a 100 MB file
 * read then costs ~0.5 s of page faults alone).
 *
 * What is compared: the same four calls on the same files, each side run as its users run it
 * (no allocator tunables, no explicit GC). The ratio is wall time, as the issue states its
 * targets; beside it, per step and side, the median CPU time (user + system, every thread of
 * the process: under other load this ratio moves less than the wall one) and the median count
 * of minor page faults (first touches of fresh memory). Python's faults are often 0 where ours
 * are thousands: in (1) its encode reuses what infer_shapes freed (that call serializes and
 * re-parses the whole model), in (2) what the previous iteration freed; a fault costs both
 * runtimes the same (~30 us on the VM this was written on).
 *
 * Rows:
 * - load:   dnnfuse loadModel(path) (read + decode + validate + external-data check)
 *           vs onnx.load(path)
 * - infer:  dnnfuse inferShapes(model) (cache dropped before each run)
 *           vs onnx.shape_inference.infer_shapes(model)
 * - encode: dnnfuse encodeModel(model) -> one new Uint8Array vs model.SerializeToString()
 * - save:   dnnfuse saveModel(model, path) (atomic; tensor views written in place)
 *           vs onnx.save(model, path)
 * - sequence: the four steps together, python's `del m` included: each step's row leaves out
 *           what its runtime frees after it (CPython frees the encoded bytes and, at `del m`, the
 *           model's tensors between timed steps, untimed; V8 frees at a GC, inside whichever
 *           step is running then), so this row is the like-with-like total of an iteration.
 *
 * Like with like (checked in issue 15's item 4):
 * - Same sequence on both sides (load -> infer -> encode -> save, the same files, the same
 *   model order, one process for both models in (2)); each side's model leaves its infer step
 *   as loaded (python's infer_shapes returns a new model, dropped; ours fills graph.valueInfo,
 *   which the script puts back untimed: until issue 15's item-4 session of 2026-12-04 it did
 *   not, and our encode and save rows wrote the inferred value_info too, 0.13% / 0.01% more
 *   bytes), so both encode rows write the file's 14.2 / 102.5 MB.
 * - The state before encode differs, and each side's row keeps it as its users get it: python's
 *   model holds every tensor in memory (onnx.load read them; that is its load row), ours reads
 *   them back from the file (our load left them there); python's encode writes into memory its
 *   own infer_shapes just freed (that call serializes and re-parses the whole model, and CPython
 *   frees on the spot), ours into fresh pages (the caller owns the result; V8 frees a dropped
 *   buffer at its next GC, and glibc maps every block over 32 MiB fresh). The control table
 *   shows how much of python's encode figure that is: the same runs without the infer step
 *   (load -> encode -> save), both sides. It is information, not a target row.
 * - (2) first runs DNNFUSE_BENCH_WARMUP untimed iterations of the sequence on both sides
 *   (default 2; 0 gives the figures of earlier sessions): (2) is the long-lived process, (1)
 *   the first call. Before this, (2)'s median of 5 included V8's JIT warm-up and young
 *   generation growth on our side, and python's allocator warm-up (its ResNet-50 encode takes
 *   25,022 page faults in the first two iterations, 0 after).
 *
 * What the encode rows measure (issue 15, measured with strace and getrusage around one call):
 * python's SerializeToString makes no syscall and no page fault once its allocator holds freed
 * memory of the size (in (1) after infer_shapes, in (2) from the third iteration on: 0 faults
 * for both models). Ours makes one mmap or brk and takes a first-touch fault per 4 KiB of the
 * output (MobileNetV2 ~3,480, ResNet-50 ~25,100 in most calls): V8 frees a dropped ArrayBuffer
 * only after a GC, on a worker thread (strace: the previous output's munmap comes from a worker
 * after the next encode's mmap), and glibc maps every block over 32 MiB fresh and unmaps it on
 * free. On the PVM guest this was measured on, a first-touch fault costs ~12 us of CPU (64 MiB
 * touched page by page: 212 ms; the same with MAP_POPULATE: 14 ms), so those rows follow the
 * fault counts, which no JS code can avoid for a new caller-owned buffer.
 *
 * The floor table (not a target row) measures that cost apart from any encoder: a buffer of the
 * file's size allocated as encodeModel allocates its output, filled by one memcpy from bytes
 * already in memory, in processes of its own (a fresh one per run, as (1); one long-lived, as
 * (2)). Its "floor ratio" is that copy over python's encode: above 1, no encoder that returns new
 * bytes in this runtime reaches 1.0x in that setting (2026-12-06: ResNet-50 (2) 5.7x, MobileNetV2
 * (1) 4.6x); "encode / floor" is what our encoder adds to it.
 *
 * Environment: DNNFUSE_BENCH_RUNS (default 5), DNNFUSE_BENCH_WARMUP (default 2; setting (2) and
 * its control only).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { encodeModel, loadModel, saveModel } from '../src/onnx/io.ts';
import { sharedModelPath, sharedModelsMissing } from '../src/models/shared.ts';
import type { Model } from '../src/ir/graph.ts';

const RUNS = Number(process.env.DNNFUSE_BENCH_RUNS ?? 5);
const WARMUP = Number(process.env.DNNFUSE_BENCH_WARMUP ?? 2);
/** The measured sequence, and the control's (no infer step: see the header). */
type Mode = 'full' | 'noinfer';
const PYTHON = '/usr/bin/python3';

const PY = `
import json, sys, time, resource, onnx, onnx.shape_inference
runs = int(sys.argv[1]); warmup = int(sys.argv[2]); mode = sys.argv[3]; out = sys.argv[4]; res = {}
def usage():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return (r.ru_utime + r.ru_stime) * 1000, r.ru_minflt
def timed(t, step, f):
    c, p = usage(); a = time.perf_counter(); v = f(); w = (time.perf_counter() - a) * 1000; c2, p2 = usage()
    t[step].append(w); t[step + ':cpu'].append(c2 - c); t[step + ':flt'].append(p2 - p)
    return v
for path in sys.argv[5:]:
    steps = ('load', 'infer', 'encode', 'save') if mode == 'full' else ('load', 'encode', 'save')
    keep = res[path] = {k: [] for s in steps for k in (s, s + ':cpu', s + ':flt')}
    keep.update({k: [] for k in ('sequence', 'sequence:cpu', 'sequence:flt')})
    for r in range(warmup + runs):
        t = keep if r >= warmup else {k: [] for k in keep}
        c0, p0 = usage(); a0 = time.perf_counter()
        m = timed(t, 'load', lambda: onnx.load(path))
        if mode == 'full': timed(t, 'infer', lambda: onnx.shape_inference.infer_shapes(m))
        timed(t, 'encode', lambda: m.SerializeToString())
        timed(t, 'save', lambda: onnx.save(m, out))
        del m
        c1, p1 = usage()
        t['sequence'].append((time.perf_counter() - a0) * 1000); t['sequence:cpu'].append(c1 - c0); t['sequence:flt'].append(p1 - p0)
print(json.dumps({'onnx': onnx.__version__, 'results': res}))
`;

type Times = Record<string, number[]>;
const STEPS = ['load', 'infer', 'encode', 'save', 'sequence'];

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

type InferFn = (m: Model) => unknown;

async function loadInfer(): Promise<InferFn | string> {
  try {
    const mod = (await import('../src/analysis/shapes.ts')) as { inferShapes?: InferFn };
    return mod.inferShapes ?? 'src/analysis/shapes.ts has no inferShapes export';
  } catch (e) {
    return `shape inference unavailable (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`;
  }
}

/** One timed step: wall ms under `step`, CPU ms (user + system, all threads) under `step:cpu`,
 * minor page faults under `step:flt` (what the python side records with getrusage). */
function timed<T>(t: Times, step: string, f: () => T): T {
  const c0 = process.cpuUsage();
  const f0 = process.resourceUsage().minorPageFault;
  const a = performance.now();
  const v = f();
  const wall = performance.now() - a;
  const c = process.cpuUsage(c0);
  (t[step] ??= []).push(wall);
  (t[`${step}:cpu`] ??= []).push((c.user + c.system) / 1000);
  (t[`${step}:flt`] ??= []).push(process.resourceUsage().minorPageFault - f0);
  return v;
}

/** dnnfuse side: `warmup` untimed then `runs` timed iterations of load -> infer -> encode ->
 * save in this process (no infer step in the control mode). */
async function dnnfuseTimes(path: string, out: string, runs: number, warmup = 0, mode: Mode = 'full'): Promise<Times> {
  const infer = await loadInfer();
  const keep: Times = {};
  for (let r = 0; r < warmup + runs; r++) {
    const t: Times = r >= warmup ? keep : {};
    timed(t, 'sequence', () => {
      const model = timed(t, 'load', () => loadModel(path));
      if (typeof infer === 'function' && mode === 'full') {
        model.graph.invalidate();
        // inferShapes fills graph.valueInfo (python's infer_shapes returns a new model instead,
        // which the script drops): put the model back as loaded, untimed, so that both sides
        // encode and save the file's bytes (else ours wrote 17,837 / 11,892 bytes more: the
        // inferred value_info, 221 / 174 messages built for each encode and save).
        const before = new Map(model.graph.valueInfo);
        timed(t, 'infer', () => infer(model));
        model.graph.valueInfo = before;
      }
      timed(t, 'encode', () => encodeModel(model));
      timed(t, 'save', () => saveModel(model, out, { inputs: [path] }));
    });
  }
  return keep;
}

/**
 * The floor of any encoder that returns new bytes, measured in this runtime: a buffer of the
 * file's size allocated as encodeModel allocates its output (uninitialized, Buffer.allocUnsafeSlow)
 * and filled by one memcpy from the file's bytes, already in memory (read untimed). No encoding,
 * no file reads: what the allocation and its first-touch page faults cost at that size. Run in
 * its own processes (a fresh one per run, as setting (1); one long-lived, as (2)), so that the
 * target rows' processes allocate nothing more than they did.
 */
function copyTimes(path: string, runs: number, warmup: number): Times {
  const keep: Times = {};
  for (let r = 0; r < warmup + runs; r++) {
    const src = readFileSync(path);
    timed(r >= warmup ? keep : {}, 'copy', () => {
      const b = Buffer.allocUnsafeSlow(src.length);
      b.set(src);
      return b;
    });
  }
  return keep;
}

function runFloorChild(paths: string[], runs: number, warmup: number): Record<string, Times> {
  return runSelf(['--floor', String(runs), String(warmup), ...paths]);
}

/** This script in a child process (its `--child` or `--floor` mode): the JSON of its last line. */
function runSelf(args: string[]): Record<string, Times> {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`bench:io child ${args[0]} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

/** Median of a step's figures for one model, when measured. */
const med = (x: Record<string, Times> | undefined, path: string, k: string) => (x?.[path]?.[k]?.length ? median(x[path][k]) : undefined);

/** Rows as aligned columns, the first `text` of them left-aligned, the rest right-aligned. */
function printRows(rows: string[][], text: number): void {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) console.log('  ' + r.map((c, i) => (i >= text ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  '));
}

/** The floor table: the bare copy against python's encode of settings (1) and (2) and against
 * ours. A floor ratio above 1 means no encoder returning new bytes meets 1.0x in this setting. */
function floorTable(models: { name: string; path: string }[], rows: { setting: string; copy: Record<string, Times>; py: Record<string, Times> | undefined; ours: Record<string, Times> }[]): void {
  const out: string[][] = [['model', 'setting', 'copy ms', 'faults', 'python encode ms', 'floor ratio', 'dnnfuse encode ms', 'encode / floor']];
  for (const m of models) {
    for (const r of rows) {
      const c = med(r.copy, m.path, 'copy'), f = med(r.copy, m.path, 'copy:flt'), p = med(r.py, m.path, 'encode'), d = med(r.ours, m.path, 'encode');
      out.push([m.name, r.setting, c?.toFixed(1) ?? 'n/a', f?.toFixed(0) ?? 'n/a', p?.toFixed(1) ?? '-', c !== undefined && p ? `${(c / p).toFixed(2)}x` : '-', d?.toFixed(1) ?? 'n/a', c && d !== undefined ? `${(d / c).toFixed(2)}x` : '-']);
    }
  }
  console.log('floor (not a target row): a new buffer of the file\'s size filled by one memcpy from memory, the least any encoder returning');
  console.log('  new bytes costs in this runtime (allocation and first-touch page faults), against python\'s encode (floor ratio) and ours:');
  printRows(out, 2);
}

function runPython(script: string, runs: number, out: string, paths: string[], warmup = 0, mode: Mode = 'full'): { times?: Record<string, Times>; version: string; error?: string } {
  const py = spawnSync(PYTHON, [script, String(runs), String(warmup), mode, out, ...paths], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (py.status !== 0) return { version: '', error: py.stderr.trim().split('\n').pop() };
  const j = JSON.parse(py.stdout.trim().split('\n').pop()!);
  return { times: j.results, version: j.onnx };
}

/** One dnnfuse child process: `runs` iterations after `warmup` on each path (setting (1): 1, 0). */
function runNodeChild(paths: string[], out: string, runs = 1, warmup = 0, mode: Mode = 'full'): Record<string, Times> {
  return runSelf(['--child', String(runs), String(warmup), mode, out, ...paths]);
}

const push = (into: Times, from: Times) => {
  for (const k of Object.keys(from)) (into[k] ??= []).push(...from[k]);
};

function table(title: string, models: { name: string; path: string }[], d: Record<string, Times>, p: Record<string, Times> | undefined, steps: string[], inferNote?: string): void {
  const rows: string[][] = [['model', 'MB', 'step', 'dnnfuse ms', 'python onnx ms', 'ratio', 'cpu ms d/p', 'cpu ratio', 'faults d/p']];
  const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b ? `${(a / b).toFixed(2)}x` : '-');
  for (const m of models) {
    const mb = (statSync(m.path).size / 1e6).toFixed(1);
    for (const step of steps) {
      const dv = med(d, m.path, step), pv = med(p, m.path, step);
      const dc = med(d, m.path, `${step}:cpu`), pc = med(p, m.path, `${step}:cpu`);
      const df = med(d, m.path, `${step}:flt`), pf = med(p, m.path, `${step}:flt`);
      rows.push([
        m.name, mb, step, dv === undefined ? 'n/a' : dv.toFixed(1), pv === undefined ? '-' : pv.toFixed(1), ratio(dv, pv),
        `${dc === undefined ? 'n/a' : dc.toFixed(1)} / ${pc === undefined ? '-' : pc.toFixed(1)}`, ratio(dc, pc),
        `${df === undefined ? 'n/a' : df.toFixed(0)} / ${pf === undefined ? '-' : pf.toFixed(0)}`,
      ]);
    }
  }
  console.log(title);
  printRows(rows, 3);
  if (inferNote) console.log(`  note: ${inferNote}`);
}

async function main(): Promise<void> {
  if (process.argv[2] === '--floor') {
    const [runs, warmup, ...paths] = process.argv.slice(3);
    const res: Record<string, Times> = {};
    for (const p of paths) res[p] = copyTimes(p, Number(runs), Number(warmup));
    console.log(JSON.stringify(res));
    return;
  }
  if (process.argv[2] === '--child') {
    const [runs, warmup, mode, out, ...paths] = process.argv.slice(3);
    const res: Record<string, Times> = {};
    for (const p of paths) res[p] = await dnnfuseTimes(p, out, Number(runs), Number(warmup), mode as Mode);
    console.log(JSON.stringify(res));
    return;
  }
  const skip = sharedModelsMissing();
  if (skip) {
    console.log(`bench:io skipped: ${skip}`);
    return;
  }
  const models = [
    { name: 'resnet50', path: sharedModelPath('resnet50') },
    { name: 'mobilenet_v2', path: sharedModelPath('mobilenet_v2') },
  ];
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-bench-io-'));
  const pyScript = join(dir, 'bench.py');
  writeFileSync(pyScript, PY);
  const infer = await loadInfer();
  const inferNote = typeof infer === 'string' ? infer : undefined;
  let version = '';

  // (1) A fresh process per run, as a CLI invocation loads once: alternating dnnfuse and
  //     python children on the same files (warm page cache for both).
  let pyError: string | undefined;
  const fresh = (mode: Mode) => {
    const d: Record<string, Times> = {}, p: Record<string, Times> = {};
    for (const m of models) {
      d[m.path] = {};
      p[m.path] = {};
      for (let r = 0; r < RUNS; r++) {
        push(d[m.path], runNodeChild([m.path], join(dir, 'dnnfuse.onnx'), 1, 0, mode)[m.path]);
        const py = runPython(pyScript, 1, join(dir, 'py.onnx'), [m.path], 0, mode);
        if (py.times) {
          push(p[m.path], py.times[m.path]);
          version = py.version;
        } else pyError = py.error;
      }
    }
    return { d, p };
  };
  const fresh1 = fresh('full');
  // (2) Repeated in one long-lived process, after WARMUP untimed iterations on both sides.
  const dSame: Record<string, Times> = {};
  for (const m of models) dSame[m.path] = await dnnfuseTimes(m.path, join(dir, 'dnnfuse.onnx'), RUNS, WARMUP);
  const pSame = runPython(pyScript, RUNS, join(dir, 'py.onnx'), models.map((m) => m.path), WARMUP);
  // Control: the same without the infer step, (1) and (2) (a child process for our side's (2)).
  const freshC = fresh('noinfer');
  const dSameC = runNodeChild(models.map((m) => m.path), join(dir, 'dnnfuse.onnx'), RUNS, WARMUP, 'noinfer');
  const pSameC = runPython(pyScript, RUNS, join(dir, 'py.onnx'), models.map((m) => m.path), WARMUP, 'noinfer');
  // Floor: fresh processes as (1), then one long-lived process as (2).
  const copy1: Record<string, Times> = {};
  for (const m of models) {
    copy1[m.path] = {};
    for (let r = 0; r < RUNS; r++) push(copy1[m.path], runFloorChild([m.path], 1, 0)[m.path]);
  }
  const copy2 = runFloorChild(models.map((m) => m.path), RUNS, WARMUP);
  rmSync(dir, { recursive: true, force: true });

  console.log(`bench:io — medians of ${RUNS} runs (setting (2): after ${WARMUP} untimed, both sides); ratio = dnnfuse / python onnx ${version || '(unavailable)'} (< 1: dnnfuse faster)`);
  if (pyError) console.log(`python onnx unavailable (${PYTHON}): ${pyError}`);
  table('(1) one load/infer/encode/save per fresh process (the CLI case):', models, fresh1.d, pyError ? undefined : fresh1.p, STEPS, inferNote);
  table('(2) repeated in one process:', models, dSame, pSame.times, STEPS, inferNote);
  console.log('control (not target rows): load -> encode -> save with no infer step, so that python\'s encode does not write into');
  console.log('  the memory its infer_shapes just freed (both sides run the same shorter sequence):');
  table('(1c) per fresh process:', models, freshC.d, pyError ? undefined : freshC.p, ['encode']);
  table('(2c) repeated in one process:', models, dSameC, pSameC.times, ['encode']);
  floorTable(models, [
    { setting: '(1)', copy: copy1, py: pyError ? undefined : fresh1.p, ours: fresh1.d },
    { setting: '(2)', copy: copy2, py: pSame.times, ours: dSame },
  ]);
}

await main();
