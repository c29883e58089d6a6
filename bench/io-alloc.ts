/**
 * What bench:io's dnnfuse steps cost in quantities other engineers' load does not move: JS heap
 * bytes allocated per operation (V8's sampling heap profiler, objects freed by GC included) and
 * first-touch page faults, plus CPU time, for loadModel / encodeModel / saveModel repeated in one
 * process (bench:io's setting 2) after a warm-up. On the VM this was written on a first-touch page
 * fault costs ~30 us and V8 keeps re-faulting the pages of its young generation, so the JS a load
 * allocates is paid again as faults: bench:io's wall-time ratios follow these figures.
 *
 *   node --import tsx bench/io-alloc.ts [--models mobilenet_v2,resnet50] [--runs 50] [--warmup 20]
 *
 * No python here (bench:io compares with python onnx); this is for before/after comparisons of
 * dnnfuse changes on a loaded machine.
 */
import { Session } from 'node:inspector';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { encodeModel, loadModel, saveModel } from '../src/onnx/io.ts';
import { sharedModelPath, sharedModelsMissing } from '../src/models/shared.ts';
import { benchArgs } from './args.ts';

const args = benchArgs({ models: { type: 'string', default: 'mobilenet_v2,resnet50' }, runs: { type: 'string', default: '50' }, warmup: { type: 'string', default: '20' } });
const RUNS = Number(args.runs), WARMUP = Number(args.warmup);

const session = new Session();
session.connect();
const post = <T = unknown>(method: string, params: object = {}) => new Promise<T>((res, rej) => session.post(method, params, (e, r) => (e ? rej(e) : res(r as T))));

interface SampleNode { selfSize: number; children: SampleNode[] }
const total = (n: SampleNode): number => n.children.reduce((a, c) => a + total(c), n.selfSize);

/** Page faults and CPU ms per call of `f` over RUNS calls after WARMUP, then (a second RUNS
 * calls, the sampler running: it slows the calls, so it is not on during the timed ones) JS KB
 * allocated per call. */
async function measure(f: () => void): Promise<{ kb: number; faults: number; cpu: number }> {
  for (let i = 0; i < WARMUP; i++) f();
  const f0 = process.resourceUsage().minorPageFault, c0 = process.cpuUsage();
  for (let i = 0; i < RUNS; i++) f();
  const c = process.cpuUsage(c0), faults = process.resourceUsage().minorPageFault - f0;
  await post('HeapProfiler.enable');
  await post('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  for (let i = 0; i < RUNS; i++) f();
  const { profile } = await post<{ profile: { head: SampleNode } }>('HeapProfiler.stopSampling');
  return { kb: total(profile.head) / RUNS / 1024, faults: faults / RUNS, cpu: (c.user + c.system) / 1000 / RUNS };
}

const skip = sharedModelsMissing();
if (skip) {
  console.log(`bench:io-alloc skipped: ${skip}`);
} else {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-io-alloc-'));
  console.log(`io-alloc — per call, ${RUNS} calls after ${WARMUP} (JS KB allocated: sampling heap profiler, 512-byte interval)`);
  console.log('  model         step    JS KB/call  faults/call  cpu ms/call');
  try {
    for (const name of String(args.models).split(',')) {
      const path = sharedModelPath(name);
      const model = loadModel(path);
      const out = join(dir, 'out.onnx');
      const steps: [string, () => void][] = [
        ['load', () => void loadModel(path)],
        ['encode', () => void encodeModel(model)],
        ['save', () => saveModel(model, out, { inputs: [path] })],
      ];
      for (const [step, f] of steps) {
        const r = await measure(f);
        console.log(`  ${name.padEnd(13)} ${step.padEnd(6)} ${r.kb.toFixed(0).padStart(11)}  ${r.faults.toFixed(0).padStart(11)}  ${r.cpu.toFixed(2).padStart(11)}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
