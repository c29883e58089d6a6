/** Shared helpers of the reparam tests: cloning through ONNX bytes and onnxruntime checks. */
import assert from 'node:assert/strict';
import type { Model } from '../../src/ir/graph.ts';
import { decodeModel, encodeModel } from '../../src/onnx/io.ts';
import { checkEquivalence } from '../../src/analysis/ort.ts';

/** A deep copy made by writing and re-reading ONNX (also checks the rewritten model encodes). */
export function cloneViaOnnx(m: Model): Model {
  return decodeModel(encodeModel(m));
}

/** Asserts that `rewritten` (written as ONNX, loaded in onnxruntime) reproduces `original`. */
export async function assertSameOutputs(original: Model, rewritten: Model, opts: { tol?: number; runs?: number; seed?: number } = {}): Promise<number> {
  const c = await checkEquivalence(encodeModel(original), encodeModel(rewritten), { feedsFrom: original, tol: opts.tol ?? 1e-4, runs: opts.runs ?? 1, seed: opts.seed ?? 1 });
  assert.ok(c.ok, `outputs differ: ${c.outputs.map((o) => `${o.name} err ${o.maxAbsError.toExponential(2)} scale ${o.scale.toExponential(2)}`).join('; ')}`);
  return c.worst;
}

export const opCounts = (m: Model) => {
  const c: Record<string, number> = {};
  for (const n of m.graph.nodes) c[n.opType] = (c[n.opType] ?? 0) + 1;
  return c;
};
