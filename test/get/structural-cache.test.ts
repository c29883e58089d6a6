/**
 * GET's structural explanation cache (rectifier.ts `structural`): groups whose GNN inputs are
 * equal byte for byte get one explanation, restated on their own op ids. It must be exact: the
 * restated explanation is what the explainer computes for the group, and searches with and
 * without the cache produce the same plans (only the explainer calls differ).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OpGraphBuilder } from '../../src/get/synthetic.ts';
import { makeRectifier, type GetRectifier } from '../../src/get/rectifier.ts';
import { createCostModel } from '../../src/fusion/cost.ts';
import { KGnn, graphInput } from '../../src/get/kgnn.ts';
import { initTf } from '../../src/get/tf.ts';
import { GnnExplainer, PgExplainer, RgExplainer, type Explainer } from '../../src/get/explainers/index.ts';
import { searchLocal, searchNsga2, searchRandom } from '../../src/search/heuristics.ts';
import type { OpGraph } from '../../src/fusion/types.ts';
import { Rng } from '../../src/util/random.ts';

await initTf();

/** Identical residual blocks (conv, relu, conv, add) on one map size: many groups share a structure. */
function residualStack(blocks: number): OpGraph {
  const b = new OpGraphBuilder();
  let x = b.conv(b.input([1, 3, 32, 32]), 16, 3);
  for (let i = 0; i < blocks; i++) x = b.add(b.conv(b.act(b.conv(x, 16, 3)), 16, 3), x);
  b.gap(x);
  return b.build();
}

const gnn = KGnn.random(3);
const explainers: Record<'gnne' | 'pg' | 'rg', () => Explainer> = {
  gnne: () => new GnnExplainer(gnn, { steps: 4, seed: 2 }),
  pg: () => PgExplainer.random(gnn, 4),
  rg: () => RgExplainer.random(gnn, 5),
};

test('explainInput(graphInput(group)) is explain(group) for every learned explainer', () => {
  const g = residualStack(4);
  const cost = createCostModel('lbdf', g, { bufferBytes: 8 * 1024, elementType: 'int8' });
  for (const [kind, make] of Object.entries(explainers)) {
    const ex = make();
    for (const group of [[1, 2, 3, 4], [5, 6, 7, 8, 9, 10, 11]]) {
      assert.deepEqual(ex.explainInput!(graphInput(g, group, cost.bufferBytes, cost.elementBytes)), ex.explain(group, cost), kind);
    }
  }
});

test('a group of the same structure gets the explanation the explainer computes for it, on its own op ids', () => {
  const g = residualStack(6);
  const cost = () => createCostModel('lbdf', g, { bufferBytes: 4 * 1024, elementType: 'int8' });
  // blocks 2 and 4 (ops 1 + 4k .. 4 + 4k): same ops, same edges, same boundary
  const a = [5, 6, 7, 8, 9, 10, 11, 12];
  const b = [13, 14, 15, 16, 17, 18, 19, 20];
  for (const [kind, make] of Object.entries(explainers)) {
    const c = cost();
    assert.ok(!c.valid(a), 'the groups are invalid');
    const on = makeRectifier(kind as 'gnne', { refineFirst: false, explainer: make(), structural: true });
    const off = makeRectifier(kind as 'gnne', { refineFirst: false, explainer: make(), structural: false });
    for (const grp of [a, b]) assert.deepEqual(on(grp, c, new Rng(1)), off(grp, c, new Rng(1)), kind);
    assert.ok(on.stats.structuralHits >= 1, `${kind}: the second block reused the first's explanation`);
    assert.equal(off.stats.structuralHits, 0);
    assert.deepEqual([...on.trees.entries()], [...off.trees.entries()], `${kind}: same split trees (cuts, explainer scores, ranks)`);
  }
});

test('searches with and without the structural cache give identical plans (RS, LS, NSGA-II)', () => {
  const g = residualStack(8);
  let hits = 0;
  for (const [kind, make] of Object.entries(explainers)) {
    for (const [name, search] of [['RS', searchRandom], ['LS', searchLocal], ['NSGA-II', searchNsga2]] as const) {
      const run = (structural: boolean): [ReturnType<typeof searchRandom>, GetRectifier] => {
        // refineDeep off: with it this small net's groups are answered by the window DP and the
        // explainer (and so its cache) is hardly used
        const rect = makeRectifier(kind as 'gnne', { explainer: make(), structural, refineDeep: false });
        return [search(createCostModel('lbdf', g, { bufferBytes: 6 * 1024, elementType: 'int8' }), { seed: 3, budget: 40, rectifier: rect }), rect];
      };
      const [r0, s0] = run(false);
      assert.ok(s0.stats.invalid > 0, 'the setting meets invalid groups');
      assert.equal(s0.stats.structuralHits, 0);
      {
        const [r1, s1] = run(true);
        const what = `${kind} ${name}`;
        assert.deepEqual(r1.plan, r0.plan, `${what}: same plan`);
        assert.equal(r1.dram, r0.dram);
        // only the explainer's time, the reuse count and the optimizer steps the reuse saved
        // differ; every decision is the same
        const strip = ({ structuralHits, explainMs, maskSteps, maskRows, ...rest }: GetRectifier['stats']) => (void structuralHits, void explainMs, void maskSteps, void maskRows, rest);
        assert.deepEqual(strip(s1.stats), strip(s0.stats), `${what}: same rectifier statistics`);
        assert.ok(s1.stats.maskSteps <= s0.stats.maskSteps && s1.stats.maskRows <= s0.stats.maskRows, `${what}: a reused explanation runs no steps`);
        assert.deepEqual([...s1.trees.entries()], [...s0.trees.entries()], `${what}: same split trees`);
        hits += s1.stats.structuralHits;
      }
    }
  }
  assert.ok(hits > 0, 'the cache was used');
});
