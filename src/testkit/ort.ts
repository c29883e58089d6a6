/**
 * Running an IR model in onnxruntime-node (the numerical ground truth) and comparing outputs.
 * Used by assertSameOutputs and the compile/function tests. Sessions run single-threaded so
 * results are reproducible run to run.
 */
import * as ort from 'onnxruntime-node';
import type { Model } from '../ir/graph.ts';
import { encodeModel } from '../onnx/io.ts';
import { randomInputs } from '../models/builder.ts';
import { verificationFailed } from '../errors.ts';

export interface TensorData {
  dims: number[];
  data: Float32Array;
}

export type Feeds = Record<string, TensorData>;

export interface RunOptions {
  /** onnxruntime graph optimization level (default 'disabled': run the graph as written). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
}

/** Runs `model` (IR or encoded bytes) on `feeds`; returns every graph output as float32. */
export async function runModel(model: Model | Uint8Array, feeds: Feeds, opts: RunOptions = {}): Promise<Feeds> {
  const bytes = model instanceof Uint8Array ? model : encodeModel(model);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: opts.optimization ?? 'disabled', intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 });
  } catch (e) {
    throw verificationFailed(`onnxruntime refused the model: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`);
  }
  try {
    const inputs: Record<string, ort.Tensor> = {};
    for (const name of session.inputNames) {
      const f = feeds[name];
      if (!f) throw verificationFailed(`no data for model input '${name}'`);
      inputs[name] = new ort.Tensor('float32', f.data, f.dims);
    }
    const out = await session.run(inputs);
    const result: Feeds = {};
    for (const name of session.outputNames) {
      const t = out[name];
      const d = t.data as ArrayLike<number>;
      result[name] = { dims: [...t.dims], data: d instanceof Float32Array ? d : Float32Array.from(d) };
    }
    return result;
  } finally {
    await session.release();
  }
}

export interface Difference {
  output: string;
  /** max |a - b| */
  maxAbs: number;
  /** max |ref| (the output's scale, floored at 1) */
  scale: number;
  /** maxAbs / scale */
  relative: number;
}

/** Max abs difference per output, relative to the output scale max(1, max|ref|) (the SPEC's
 * criterion: <= 1e-4 for float32 rewrites). Throws on mismatched output names or shapes. */
export function compareOutputs(ref: Feeds, got: Feeds): Difference[] {
  const diffs: Difference[] = [];
  for (const [name, r] of Object.entries(ref)) {
    const g = got[name];
    if (!g) throw verificationFailed(`output '${name}' is missing from the rewritten model (it has ${Object.keys(got).join(', ') || 'no outputs'})`);
    if (r.dims.join('x') !== g.dims.join('x')) throw verificationFailed(`output '${name}': shape ${g.dims.join('x')} differs from the original ${r.dims.join('x')}`);
    let maxAbs = 0, scale = 1;
    for (let i = 0; i < r.data.length; i++) {
      const a = r.data[i], b = g.data[i];
      const d = Math.abs(a - b);
      if (Number.isNaN(d) && !(Number.isNaN(a) && Number.isNaN(b))) maxAbs = Infinity;
      else if (d > maxAbs) maxAbs = d;
      if (Math.abs(a) > scale) scale = Math.abs(a);
    }
    diffs.push({ output: name, maxAbs, scale, relative: maxAbs / scale });
  }
  return diffs;
}

export { randomInputs };
