/**
 * The onnxruntime check's defaults (allclose rtol 1e-5, atol 1e-5, Polygraphy's) on the corpus models: the
 * pipeline's correct rewrites pass (test/corpus/corpus.test.ts compiles them), and two
 * deliberately broken rewrites of the same models are caught: a normalization epsilon off
 * (1e-3, Keras' default, instead of the model's) and one output channel's bias dropped from a
 * conv. The figures are printed so that the margin is visible.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CORPUS } from '../../corpus/models.ts';
import { modelMissing, modelPath } from '../../corpus/fetch.ts';
import { loadModel, encodeModel } from '../../src/onnx/io.ts';
import { applyShapeOverrides } from '../../src/compile.ts';
import { foldConstants } from '../../src/fold/fold.ts';
import { runPipeline } from '../../src/index.ts';
import { attr, type Model } from '../../src/ir/graph.ts';
import { Tensor } from '../../src/ir/tensor.ts';
import { randomFeeds, runModel } from '../../src/analysis/ort.ts';
import { allclose, describeMiss, DEFAULT_ATOL, DEFAULT_RTOL } from '../../src/analysis/compare.ts';

const IDS = ['ppocr-cls', 'ppocr-v4-rec', 'ppocr-v4-det', 'transformer-encoder'];

async function outputsOf(m: Model | Uint8Array, feeds: ReturnType<typeof randomFeeds>) {
  return runModel(m instanceof Uint8Array ? m : encodeModel(m), feeds, { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1 });
}

/** The model after the default pipeline's graph rewrites (fold-constants, fold-bn,
 * collapse-branches); `before` breaks the original first, `after` the rewritten graph. */
async function rewritten(path: string, shapes: string[], before?: (m: Model) => string, after?: (m: Model) => string): Promise<{ m: Model; how: string }> {
  const m = loadModel(path);
  applyShapeOverrides(m, shapes);
  let how = '';
  if (before) {
    await foldConstants(m);
    how = before(m);
  }
  await runPipeline(m, ['fold-constants', 'fold-bn', 'collapse-branches']);
  if (after) how = after(m);
  return { m, how };
}

/** A broken fold-bn: the normalization is folded with epsilon 1e-3 instead of its own (the
 * epsilon is changed before the pipeline runs, so fold-bn folds the wrong value). */
function epsilonOff(m: Model): string {
  // The BatchNormalization whose running variance comes closest to the epsilons (where the
  // mistake shows most), else the first LayerNormalization.
  const g = m.graph;
  const minVar = (n: (typeof g.nodes)[number]) => Math.min(...(g.initializers.get(n.inputs[4])?.toFloat32() ?? [Infinity]));
  const bns = g.nodes.filter((x) => x.opType === 'BatchNormalization').sort((a, b) => minVar(a) - minVar(b));
  const n = bns[0] ?? g.nodes.find((x) => x.opType === 'LayerNormalization');
  if (!n) throw new Error('no normalization node');
  n.setAttr(attr.float('epsilon', 1e-3));
  return `${n.opType} '${n.name}' epsilon ${1e-3}`;
}

function biasDropped(m: Model): string {
  const g = m.graph;
  // The last conv (or MatMul + Add of a bias vector) with a constant bias: its
  // largest-magnitude channel's bias set to 0 (as a rewrite that lost one channel would).
  const order = g.topoOrder();
  const slotOf = (n: (typeof order)[number]) => {
    if (n.opType === 'Conv' && n.inputs[2] && g.initializers.has(n.inputs[2])) return 2;
    if (n.opType !== 'Add') return -1;
    const k = n.inputs.findIndex((i) => g.initializers.get(i)?.dims.length === 1);
    return k >= 0 && g.producer(n.inputs[1 - k])?.opType === 'MatMul' ? k : -1;
  };
  const pick = [...order].reverse().find((n) => slotOf(n) >= 0);
  if (!pick) throw new Error('no conv or linear layer with a constant bias');
  const slot = slotOf(pick);
  const name = pick.inputs[slot];
  const t = g.initializers.get(name)!;
  const v = t.toFloat32();
  let k = 0;
  for (let i = 1; i < v.length; i++) if (Math.abs(v[i]) > Math.abs(v[k])) k = i;
  v[k] = 0;
  const fresh = g.freshName(`${name}_broken`);
  g.setInitializer(Tensor.float32(fresh, t.dims, v));
  pick.inputs[slot] = fresh;
  g.invalidate();
  return `${pick.opType} '${pick.name}' bias channel ${k} dropped`;
}

for (const id of IDS) {
  const m = CORPUS.find((x) => x.id === id)!;
  const missing = modelMissing(m);
  test(`onnxruntime check on ${id}: the pipeline's rewrite passes, an epsilon off and a dropped bias channel fail`, { skip: missing ?? false, timeout: 300_000 }, async () => {
    const path = modelPath(m);
    const original = loadModel(path);
    applyShapeOverrides(original, m.shapes);
    const feeds = randomFeeds(original, 0);
    const ref = await outputsOf(encodeModel(original), feeds);
    const { m: good } = await rewritten(path, m.shapes);
    const ok = allclose(ref, await outputsOf(good, feeds));
    assert.ok(ok.ok, `the correct rewrite fails: ${ok.outputs.filter((o) => !o.ok).map((o) => `'${o.output}': ${describeMiss(o, ok.rtol, ok.atol)}`).join('; ')}`);
    const lines = [`${id}: correct rewrite: max abs ${Math.max(...ok.outputs.map((o) => o.maxAbs)).toExponential(2)}`];
    for (const what of ['epsilon', 'bias'] as const) {
      const { m: broken, how } = what === 'epsilon' ? await rewritten(path, m.shapes, epsilonOff) : await rewritten(path, m.shapes, undefined, biasDropped);
      const c = allclose(ref, await outputsOf(broken, feeds));
      const worst = c.outputs.find((o) => !o.ok) ?? c.outputs[0];
      lines.push(`${what} (${how}): ${c.ok ? 'NOT CAUGHT' : 'caught'}: '${worst.output}': ${describeMiss(worst, DEFAULT_RTOL, DEFAULT_ATOL)}`);
      assert.equal(c.ok, false, `${how} is not caught by allclose(rtol ${DEFAULT_RTOL}, atol ${DEFAULT_ATOL})`);
    }
    console.log(lines.join('\n  '));
  });
}
