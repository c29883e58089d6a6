/**
 * GNNExplainer's hand-differentiated objective (src/get/explainers/mask-objective.ts) against
 * the tfjs autodiff path it replaces (common.ts maskedLogits / maskEntropy under tf.grad), and
 * the explainer's Adam loop against the tf.train.adam loop it replaces.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { syntheticNetwork } from '../../src/get/synthetic.ts';
import { KGnn, LAYERS, batchTensors, disposeBatch, graphInput, makeBatch } from '../../src/get/kgnn.ts';
import { tf, initTf } from '../../src/get/tf.ts';
import { GnnExplainer, loadGetModels } from '../../src/get/explainers/index.ts';
import { MaskObjective } from '../../src/get/explainers/mask-objective.ts';
import { maskEntropy, maskedLogits, rankEdges } from '../../src/get/explainers/common.ts';
import { sampleGroup } from '../../src/get/dataset.ts';
import { shippedWeightsDir } from '../../src/get/weights.ts';
import type { CostModel } from '../../src/fusion/types.ts';
import type { OpGraph } from '../../src/fusion/types.ts';
import { Rng } from '../../src/util/random.ts';
import { stubCost } from './stub-cost.ts';

await initTf();

const hasWeights = existsSync(join(shippedWeightsDir(), 'lbdf.json'));
const coeffs = { sizeCoeff: 0.05, entropyCoeff: 0.1 };

/** The old autodiff objective: loss of gnnexplainer.ts on maskedLogits, as a function of m. */
function autodiffLoss(model: KGnn, t: ReturnType<typeof batchTensors>, m: tf.Tensor1D): tf.Scalar {
  const w = tf.sigmoid(m) as tf.Tensor1D;
  const logit = maskedLogits(model, t, w);
  const pred = tf.mean(tf.softplus(tf.neg(logit)));
  return tf.addN([pred, tf.mul(coeffs.sizeCoeff, tf.sum(w)), tf.mul(coeffs.entropyCoeff, maskEntropy(w))]) as tf.Scalar;
}

/** The explainer before mask-objective.ts: tf.train.adam over the autodiff loss. */
function referenceExplain(model: KGnn, group: number[], cost: CostModel, steps: number, seed: number) {
  const input = graphInput(cost.graph, group, cost.bufferBytes, cost.elementBytes);
  const t = batchTensors(makeBatch([input]));
  const e = input.local.src.length;
  const rng = new Rng(seed);
  const m = tf.variable(tf.tensor1d(Float32Array.from({ length: e }, () => 1 + 0.1 * rng.normal())), true);
  const opt = tf.train.adam(0.1);
  for (let s = 0; s < steps; s++) opt.minimize(() => tf.tidy(() => autodiffLoss(model, t, m)), false, [m]);
  const w = tf.tidy(() => tf.sigmoid(m));
  const out = rankEdges(input.local, Float32Array.from(w.dataSync() as Float32Array));
  tf.dispose([w, m]);
  opt.dispose();
  disposeBatch(t);
  return out;
}

function models(): { name: string; model: KGnn }[] {
  const out = [{ name: 'random k-GNN', model: KGnn.random(7) }];
  if (hasWeights) out.push({ name: 'shipped k-GNN', model: loadGetModels('lbdf').gnn });
  else console.log('shipped GET weights absent: checking the random k-GNN only');
  return out;
}

function groups(graph: OpGraph, seed: number, count: number): number[][] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, (_, i) => sampleGroup(graph, rng, 3 + 7 * i));
}

test('masked objective: logits, loss and gradient equal the tfjs autodiff path (random groups and masks)', () => {
  const graph = syntheticNetwork(21);
  const cost = stubCost(graph, 64 * 1024, 1);
  const rng = new Rng(3);
  for (const { name, model } of models()) {
    for (const group of groups(graph, 5, 6)) {
      const input = graphInput(graph, group, cost.bufferBytes, cost.elementBytes);
      const e = input.local.src.length;
      if (e === 0) continue;
      const t = batchTensors(makeBatch([input]));
      const obj = new MaskObjective(model, input);
      try {
        for (let trial = 0; trial < 3; trial++) {
          // logits spread over the sigmoid's range, saturated ones included
          const m = Float32Array.from({ length: e }, () => 4 * rng.normal());
          const mt = tf.tensor1d(m);
          const ref = tf.tidy(() => maskedLogits(model, t, tf.sigmoid(mt) as tf.Tensor1D));
          const refLogit = ref.dataSync()[0];
          const gradFn = tf.valueAndGrad((mm: tf.Tensor) => autodiffLoss(model, t, mm as tf.Tensor1D));
          const vg = gradFn(mt);
          const refLoss = vg.value.dataSync()[0];
          const refGrad = Float32Array.from(vg.grad.dataSync() as Float32Array);
          tf.dispose([vg.value, vg.grad, ref, mt]);

          const logit = obj.logit(m);
          assert.ok(Math.abs(logit - refLogit) <= 1e-5 * Math.max(1, Math.abs(refLogit)), `${name}, ${group.length} ops: logit ${logit} vs autodiff ${refLogit}`);
          const r = obj.lossAndGrad(m, coeffs);
          assert.ok(Math.abs(r.logit - refLogit) <= 1e-5 * Math.max(1, Math.abs(refLogit)));
          assert.ok(Math.abs(r.loss - refLoss) <= 1e-5 * Math.max(1, Math.abs(refLoss)), `${name}: loss ${r.loss} vs ${refLoss}`);
          const scale = Math.max(1e-3, ...Array.from(refGrad, Math.abs));
          for (let k = 0; k < e; k++) {
            assert.ok(Math.abs(r.grad[k] - refGrad[k]) <= 1e-4 * scale, `${name}, ${group.length} ops, edge ${k}: grad ${r.grad[k]} vs autodiff ${refGrad[k]} (max |grad| ${scale})`);
          }
        }
      } finally {
        obj.dispose();
        disposeBatch(t);
      }
    }
  }
});

test('GNNExplainer ranks edges as the tf.train.adam + autodiff loop it replaces; deterministic; leaks no tensors', () => {
  const graph = syntheticNetwork(22);
  const cost = stubCost(graph, 64 * 1024, 1);
  let compared = 0;
  for (const { name, model } of models()) {
    let first = true;
    for (const group of groups(graph, 8, 4)) {
      const before = tf.memory().numTensors;
      const ours = new GnnExplainer(model, { steps: 10, seed: 2 }).explain(group, cost);
      // the model's fused weights are built once, on its first explanation, and stay cached
      // with it (mask-objective.ts constantsOf); every later explanation allocates nothing
      if (first) assert.ok(tf.memory().numTensors - before <= 2 * LAYERS - 1, 'more than the cached constants');
      else assert.equal(tf.memory().numTensors, before, 'explain() leaked tensors');
      first = false;
      assert.deepEqual(new GnnExplainer(model, { steps: 10, seed: 2 }).explain(group, cost), ours);
      const ref = referenceExplain(model, group, cost, 10, 2);
      if (ref.edges.length === 0) continue;
      compared++;
      assert.deepEqual(ours.edges.slice(0, 8), ref.edges.slice(0, 8), `${name}, ${group.length} ops: top-8 edges differ`);
      const refScore = new Map(ref.edges.map((e, k) => [e.join('>'), ref.scores[k]]));
      ours.edges.forEach((e, k) => assert.ok(Math.abs(ours.scores[k] - refScore.get(e.join('>'))!) < 5e-3, `${name}: score of ${e} ${ours.scores[k]} vs ${refScore.get(e.join('>'))}`));
    }
  }
  assert.ok(compared >= 3, `only ${compared} groups with edges`);
});
