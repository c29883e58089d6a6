/**
 * MaskObjective reuses its scratch arrays across evaluations (Adam steps): an evaluation must
 * not see the previous one. The same mask gives the same loss and gradient, byte for byte,
 * whatever was evaluated before, and the same as a fresh objective.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { syntheticNetwork } from '../../src/get/synthetic.ts';
import { KGnn, graphInput } from '../../src/get/kgnn.ts';
import { initTf } from '../../src/get/tf.ts';
import { MaskObjective } from '../../src/get/explainers/mask-objective.ts';
import { sampleGroup } from '../../src/get/dataset.ts';
import { Rng } from '../../src/util/random.ts';
import { stubCost } from './stub-cost.ts';

await initTf();

test('MaskObjective: an evaluation after others equals a fresh one, byte for byte', () => {
  const graph = syntheticNetwork(23);
  const cost = stubCost(graph, 64 * 1024, 1);
  const model = KGnn.random(5);
  const rng = new Rng(9);
  const coeffs = { sizeCoeff: 0.05, entropyCoeff: 0.1 };
  let compared = 0;
  for (let g = 0; g < 5; g++) {
    const input = graphInput(graph, sampleGroup(graph, rng, 5 + 5 * g), cost.bufferBytes, cost.elementBytes);
    const e = input.local.src.length;
    if (e === 0) continue;
    const masks = Array.from({ length: 4 }, () => Float32Array.from({ length: e }, () => 3 * rng.normal()));
    const used = new MaskObjective(model, input);
    for (const m of masks) used.lossAndGrad(m, coeffs); // dirty every scratch array
    for (const m of masks) {
      const fresh = new MaskObjective(model, input);
      const a = fresh.lossAndGrad(m, coeffs);
      const b = used.lossAndGrad(m, coeffs);
      assert.equal(b.loss, a.loss);
      assert.equal(b.logit, a.logit);
      assert.deepEqual(Array.from(b.grad), Array.from(a.grad));
      fresh.dispose();
      compared++;
    }
    used.dispose();
  }
  assert.ok(compared >= 12, `only ${compared} masks compared`);
});
