import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { OpGraphBuilder, syntheticNetwork } from '../../src/get/synthetic.ts';
import { KGnn } from '../../src/get/kgnn.ts';
import { initTf } from '../../src/get/tf.ts';
import { GnnExplainer, PgExplainer, RgExplainer, CutsExplainer, loadGetModels, type Explainer } from '../../src/get/explainers/index.ts';
import { sampleGroup } from '../../src/get/dataset.ts';
import { groupEdges } from '../../src/fusion/groups.ts';
import { shippedWeightsDir } from '../../src/get/weights.ts';
import { createCostModel } from '../../src/fusion/cost.ts';
import { makeRectifier } from '../../src/get/rectifier.ts';
import { Rng } from '../../src/util/random.ts';
import { stubCost } from './stub-cost.ts';

await initTf();

const noWeights = existsSync(join(shippedWeightsDir(), 'lbdf.json')) ? false : 'shipped GET weights (models/get/lbdf.json) absent; run dnnfuse get train';

test('every explainer returns edges of the group (untrained models)', () => {
  const g = syntheticNetwork(11);
  const gnn = KGnn.random(1);
  const explainers: Explainer[] = [new GnnExplainer(gnn, { steps: 5 }), PgExplainer.random(gnn, 2), RgExplainer.random(gnn, 3), new CutsExplainer()];
  const rng = new Rng(5);
  for (let k = 0; k < 4; k++) {
    const group = sampleGroup(g, rng, 4 + 4 * k);
    const cost = stubCost(g, 64 * 1024, 1);
    const inGroup = new Set(groupEdges(g, group).map((e) => e.join('>')));
    for (const ex of explainers) {
      const e = ex.explain(group, cost);
      assert.equal(e.edges.length, e.scores.length);
      assert.ok(e.edges.length > 0 || inGroup.size === 0, `${ex.kind} explained nothing`);
      for (const edge of e.edges) assert.ok(inGroup.has(edge.join('>')), `${ex.kind}: ${edge} is not an edge of the group`);
      for (let i = 1; i < e.scores.length; i++) assert.ok(e.scores[i - 1] >= e.scores[i], `${ex.kind}: scores not ranked`);
      assert.ok(e.pInvalid >= 0 && e.pInvalid <= 1);
    }
  }
});

test('GNNExplainer is deterministic for a seed', () => {
  const g = syntheticNetwork(12);
  const gnn = KGnn.random(4);
  const group = sampleGroup(g, new Rng(9), 10);
  const cost = stubCost(g, 64 * 1024, 1);
  const a = new GnnExplainer(gnn, { steps: 5, seed: 3 }).explain(group, cost);
  const b = new GnnExplainer(gnn, { steps: 5, seed: 3 }).explain(group, cost);
  assert.deepEqual(a, b);
});

test('GNNExplainer reports the Adam steps it ran; the rectifier sums them with their groups\' sizes', () => {
  const g = syntheticNetwork(13);
  const gnn = KGnn.random(6);
  const cost = stubCost(g, 64 * 1024, 1);
  const rng = new Rng(11);
  let early = 0;
  for (let k = 0; k < 6; k++) {
    const group = sampleGroup(g, rng, 6 + 3 * k);
    assert.equal(new GnnExplainer(gnn, { steps: 7, seed: k }).explain(group, cost).steps, 7, 'no early stop: every step runs');
    const e = new GnnExplainer(gnn, { steps: 40, seed: k, stableSteps: 2, minSteps: 4 }).explain(group, cost);
    assert.ok(e.steps! >= 4 && e.steps! <= 40, `early stop within [minSteps, steps]: ${e.steps}`);
    if (e.steps! < 40) early++;
  }
  assert.ok(early > 0, 'the early stop ended some explanation (else the bound above is not tested)');
  // The rectifier's counters: steps and steps x ops of the explainer calls it made.
  const big = syntheticNetwork(14);
  const c = createCostModel('lbdf', big, { bufferBytes: 4 * 1024, elementType: 'int8' });
  const calls: { steps: number; ops: number }[] = [];
  const inner = new GnnExplainer(gnn, { steps: 5, seed: 1 });
  const counting: Explainer = {
    kind: 'gnne',
    explain: (group, cost) => {
      const e = inner.explain(group, cost);
      calls.push({ steps: e.steps!, ops: group.length });
      return e;
    },
  };
  const rect = makeRectifier('gnne', { refineFirst: false, explainer: counting, structural: false });
  const all = big.ops.map((_, i) => i);
  for (let k = 0; k < 4; k++) rect(sampleGroup(big, new Rng(20 + k), 12), c, new Rng(k));
  rect(all, c, new Rng(9));
  assert.ok(calls.length > 0, 'the rectifier explained something');
  assert.equal(rect.stats.maskSteps, calls.reduce((a, x) => a + x.steps, 0));
  assert.equal(rect.stats.maskRows, calls.reduce((a, x) => a + x.steps * x.ops, 0));
});

/** conv-bn-relu x 3 at 28x28x32; the middle conv holds 4 MB of weights. */
function hugeOpGroup() {
  const b = new OpGraphBuilder();
  let x = b.input([1, 32, 28, 28]);
  x = b.act(b.bn(b.conv(x, 32, 3))); // 0,1,2
  const huge = b.op('Conv', [x], [1, 32, 28, 28], { weights: 1_000_000, kernel: 3 }); // 3
  x = b.act(b.bn(huge)); // 4,5
  x = b.act(b.bn(b.conv(x, 32, 3))); // 6,7,8
  return { graph: b.build(), group: [0, 1, 2, 3, 4, 5, 6, 7, 8], hugeOp: 3 };
}

test('sanity: on a group made invalid by one huge op, every explanation touches that op', { skip: noWeights }, () => {
  const { graph, group, hugeOp } = hugeOpGroup();
  const cost = createCostModel('lbdf', graph, { bufferBytes: 256 * 1024, elementType: 'fp32' });
  assert.equal(cost.valid(group), false);
  assert.equal(cost.valid(group.filter((v) => v !== hugeOp).slice(0, 3)), true);
  const models = loadGetModels('lbdf');
  const explainers: Explainer[] = [new GnnExplainer(models.gnn, { seed: 1 }), models.pg, models.rg, new CutsExplainer()];
  for (const ex of explainers) {
    const e = ex.explain(group, cost);
    assert.ok(e.pInvalid > 0.5, `${ex.kind}: predicted valid (${e.pInvalid})`);
    const top = e.edges.slice(0, 2);
    assert.ok(top.some(([a, b]) => a === hugeOp || b === hugeOp), `${ex.kind}: top edges ${JSON.stringify(top)} miss op ${hugeOp}`);
  }
  // and SPLIT isolates the huge op from the rest
  for (const kind of ['gnne', 'pg', 'rg', 'cuts'] as const) {
    const parts = makeRectifier(kind)(group, cost, new Rng(1));
    assert.ok(parts.every((p) => !p.includes(hugeOp) || p.length <= 3), `${kind}: ${JSON.stringify(parts)}`);
  }
});
