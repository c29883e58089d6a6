// The peer of bench:memory (bench/memory.ts): one onnxruntime-node session on a model file,
// run once on the inputs in a feeds folder (manifest.json + one raw file per input, written by
// the bench with the same seeded inputs dnnfuse compile's check draws), then released. Plain
// JavaScript without tsx, importing nothing but onnxruntime-node, so that its peak RSS is the
// runtime's own. Prints one JSON line on stdout: { outputs, ms }. Its peak RSS comes from the
// preload the bench gives every command it measures (`--import corpus/peak-rss.mjs`).
//
// Usage: node --import corpus/peak-rss.mjs bench/ort-once.mjs model.onnx feeds-dir [disabled|basic|extended|all] [threads] [arena|no-arena]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';

// As dnnfuse does (src/analysis/ort.ts): onnxruntime 1.30's telemetry off, read when its
// environment is created by the first session (it leaves mat-debug-<pid>.log files in /tmp).
process.env.ORT_DISABLE_TELEMETRY ??= '1';

const [model, dir, level = 'disabled', threads = '1', arena = 'arena'] = process.argv.slice(2);
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
const ARRAYS = { float32: Float32Array, float64: Float64Array, float16: Uint16Array, int64: BigInt64Array, int32: Int32Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array };
const feeds = {};
for (const [name, f] of Object.entries(manifest)) {
  const b = readFileSync(join(dir, f.file));
  const A = ARRAYS[f.type];
  const data = new A(b.buffer, b.byteOffset, b.byteLength / A.BYTES_PER_ELEMENT);
  feeds[name] = new ort.Tensor(f.type, data, f.dims);
}
const t0 = performance.now();
const so = { graphOptimizationLevel: level, logSeverityLevel: 3, enableCpuMemArena: arena !== 'no-arena', ...(Number(threads) > 0 ? { intraOpNumThreads: Number(threads) } : {}) };
const session = await ort.InferenceSession.create(model, so);
const out = await session.run(feeds);
const outputs = Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.dims.join('x')]));
await session.release();
const ms = performance.now() - t0;
process.stdout.write(JSON.stringify({ outputs, ms }) + '\n');
