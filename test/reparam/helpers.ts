/** Shared helpers of the reparam tests: cloning through ONNX bytes and onnxruntime checks. */
import assert from 'node:assert/strict';
import type { Model } from '../../src/ir/graph.ts';
import { ModelBuilder } from '../../src/models/builder.ts';
import { decodeModel, encodeModel } from '../../src/onnx/io.ts';
import { checkEquivalence } from '../../src/analysis/ort.ts';
import { describeMiss } from '../../src/analysis/compare.ts';

/** A deep copy made by writing and re-reading ONNX (also checks the rewritten model encodes). */
/** A RepVGG block in training form: relu(BN(conv3x3(x)) + BN(conv1x1(x)) + BN(x)), x [1, 8, 12, 12]. */
export function repvggBlock(seed = 9): Model {
  const b = new ModelBuilder({ seed });
  const x = b.input('x', [1, 8, 12, 12]);
  const y = b.add(b.add(b.batchNorm(b.conv(x, { outChannels: 8, kernel: 3, pads: 1 })), b.batchNorm(b.conv(x, { outChannels: 8, kernel: 1 }))), b.batchNorm(x));
  b.output(b.relu(y));
  return b.build();
}

export function cloneViaOnnx(m: Model): Model {
  return decodeModel(encodeModel(m));
}

/** Asserts that `rewritten` (written as ONNX, loaded in onnxruntime) reproduces `original` under
 * compile's allclose check (defaults rtol 1e-5, atol 1e-5); returns the largest max abs error. */
export async function assertSameOutputs(original: Model, rewritten: Model, opts: { rtol?: number; atol?: number; runs?: number; seed?: number } = {}): Promise<number> {
  const c = await checkEquivalence(encodeModel(original), encodeModel(rewritten), { feedsFrom: original, rtol: opts.rtol, atol: opts.atol, runs: opts.runs ?? 1, seed: opts.seed ?? 1 });
  assert.ok(c.ok, `outputs differ: ${c.outputs.filter((o) => !o.ok).map((o) => `'${o.output}': ${describeMiss(o, c.rtol, c.atol)}`).join('; ')}`);
  return Math.max(0, ...c.outputs.map((o) => o.maxAbs));
}

export const opCounts = (m: Model) => {
  const c: Record<string, number> = {};
  for (const n of m.graph.nodes) c[n.opType] = (c[n.opType] ?? 0) + 1;
  return c;
};
