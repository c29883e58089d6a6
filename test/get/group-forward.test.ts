/**
 * The hand-written plain forward (src/get/explainers/group-forward.ts) against the tfjs k-GNN it
 * stands in for: node embeddings and logit of a whole group (KGnn.nodeEmbeddings / logits on the
 * group's BatchTensors), and the induced-subgraph logit against the masked forward RG-Explainer
 * used (node weight 1 on the members, edge weight 1 inside them, 0 elsewhere). And the
 * explainers built on it against the tfjs path they replace: PGExplainer's edge logits
 * (edgeLogits) and ranking, RG-Explainer's explanation (its rollout with the masked forward).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { syntheticNetwork } from '../../src/get/synthetic.ts';
import { HIDDEN, KGnn, batchTensors, disposeBatch, graphInput, makeBatch } from '../../src/get/kgnn.ts';
import { tf, initTf } from '../../src/get/tf.ts';
import { loadGetModels, PgExplainer, RgExplainer } from '../../src/get/explainers/index.ts';
import { GroupForward } from '../../src/get/explainers/group-forward.ts';
import { rankEdges, sigmoid } from '../../src/get/explainers/common.ts';
import { sampleGroup } from '../../src/get/dataset.ts';
import { shippedWeightsDir } from '../../src/get/weights.ts';
import { Rng } from '../../src/util/random.ts';
import { stubCost } from './stub-cost.ts';

await initTf();

const hasWeights = existsSync(join(shippedWeightsDir(), 'lbdf.json'));

function models(): { name: string; model: KGnn; pg: PgExplainer; rg: RgExplainer }[] {
  const model = KGnn.random(7);
  const out = [{ name: 'random k-GNN', model, pg: PgExplainer.random(model, 8), rg: RgExplainer.random(model, 9) }];
  if (hasWeights) {
    const m = loadGetModels('lbdf');
    out.push({ name: 'shipped k-GNN', model: m.gnn, pg: m.pg, rg: m.rg });
  } else console.log('shipped GET weights absent: checking the random k-GNN only');
  return out;
}

const close = (a: number, b: number, scale: number) => Math.abs(a - b) <= 1e-5 * Math.max(1, scale);

test('group forward: embeddings, logit and induced-subgraph logits equal the tfjs k-GNN', () => {
  const graph = syntheticNetwork(31);
  const cost = stubCost(graph, 64 * 1024, 1);
  const rng = new Rng(4);
  let subgraphs = 0;
  for (const { name, model } of models()) {
    for (let i = 0; i < 6; i++) {
      const group = sampleGroup(graph, rng, 3 + 6 * i);
      const input = graphInput(graph, group, cost.bufferBytes, cost.elementBytes);
      const n = input.local.ops.length;
      const t = batchTensors(makeBatch([input]));
      try {
        const refH = tf.tidy(() => model.nodeEmbeddings(t));
        const h = Float32Array.from(refH.dataSync() as Float32Array);
        const refLogit = tf.tidy(() => model.head(refH, t.pool, 1).dataSync()[0]);
        refH.dispose();
        const fw = new GroupForward(model, input);
        const ours = fw.full();
        const hScale = Math.max(...Array.from(h, Math.abs));
        for (let k = 0; k < n * HIDDEN; k++) assert.ok(close(ours.h[k], h[k], hScale), `${name}, ${n} ops: h[${k}] ${ours.h[k]} vs ${h[k]}`);
        assert.ok(close(ours.logit, refLogit, Math.abs(refLogit)), `${name}, ${n} ops: logit ${ours.logit} vs ${refLogit}`);
        // induced subgraphs: connected prefixes of a walk, and an arbitrary subset
        for (let trial = 0; trial < 4; trial++) {
          const members = [...new Set(Array.from({ length: 1 + trial * 2 }, () => rng.int(0, n - 1)))];
          const inS = new Uint8Array(n);
          for (const m of members) inS[m] = 1;
          const node = Float32Array.from(inS);
          const edge = Float32Array.from(input.local.src.map((s, k) => (inS[s] && inS[input.local.dst[k]] ? 1 : 0)));
          const ref = tf.tidy(() => model.logits(t, tf.tensor1d(edge), tf.tensor1d(node)).dataSync()[0]);
          const got = fw.subgraphLogit(members);
          assert.ok(close(got, ref, Math.abs(ref)), `${name}, ${n} ops, members ${members}: ${got} vs masked ${ref}`);
          subgraphs++;
        }
      } finally {
        disposeBatch(t);
      }
    }
  }
  assert.ok(subgraphs >= 24);
});

test('PGExplainer on the group forward: edge logits and ranking as the tfjs path (edgeLogits); RG-Explainer deterministic and of the same shape', () => {
  const graph = syntheticNetwork(32);
  const cost = stubCost(graph, 64 * 1024, 1);
  const rng = new Rng(6);
  let compared = 0;
  for (const { name, model, pg, rg } of models()) {
    for (let i = 0; i < 5; i++) {
      const group = sampleGroup(graph, rng, 4 + 6 * i);
      const input = graphInput(graph, group, cost.bufferBytes, cost.elementBytes);
      if (input.local.src.length === 0) continue;
      const t = batchTensors(makeBatch([input]));
      let ref: { edges: [number, number][]; scores: number[] };
      let refP: number;
      try {
        [ref, refP] = tf.tidy(() => {
          const h = model.nodeEmbeddings(t);
          return [rankEdges(input.local, Float32Array.from(pg.edgeLogits(t, h).dataSync() as Float32Array)), sigmoid(model.head(h, t.pool, 1).dataSync()[0])] as const;
        });
      } finally {
        disposeBatch(t);
      }
      pg.explainInput(input); // the model's fused weights are built once and stay cached with it
      const before = tf.memory().numTensors;
      const ours = pg.explainInput(input);
      assert.equal(tf.memory().numTensors, before, 'PGExplainer leaked tensors');
      assert.ok(Math.abs(ours.pInvalid - refP) < 1e-5);
      const refScore = new Map(ref.edges.map((e, k) => [e.join('>'), ref.scores[k]]));
      const scale = Math.max(1, ...ref.scores.map(Math.abs));
      ours.edges.forEach((e, k) => assert.ok(Math.abs(ours.scores[k] - refScore.get(e.join('>'))!) <= 1e-5 * scale, `${name}: edge ${e} logit ${ours.scores[k]} vs ${refScore.get(e.join('>'))}`));
      // the ranking is the reference's wherever the reference's logits are not within rounding
      for (let k = 1; k < ref.edges.length; k++) if (ref.scores[k - 1] - ref.scores[k] > 1e-4 * scale) assert.deepEqual(ours.edges.slice(0, k), ref.edges.slice(0, k), `${name}: ranking differs in the first ${k}`);
      const a = rg.explainInput(input);
      assert.equal(tf.memory().numTensors, before, 'RG-Explainer leaked tensors');
      assert.deepEqual(rg.explainInput(input), a);
      assert.ok(a.nodes!.length >= 1 && a.nodes!.length <= Math.min(rg.maxSize, input.local.ops.length));
      // the rollout on the tfjs path (masked forward on the whole group, tf policy), as explainInput ran it
      const t2 = batchTensors(makeBatch([input]));
      try {
        const r = rg as unknown as { rollout(p: (m: number[]) => number, l: typeof input.local, policy: unknown): { members: number[] }; subgraphP(t: typeof t2, l: typeof input.local, m: number[]): number; tfPolicy(h: tf.Tensor2D): unknown };
        const h = tf.tidy(() => model.nodeEmbeddings(t2));
        const old = r.rollout((m) => r.subgraphP(t2, input.local, m), input.local, r.tfPolicy(h));
        h.dispose();
        assert.deepEqual(a.nodes, old.members.map((m) => input.local.ops[m]), `${name}: RG-Explainer's explanation differs from the tfjs path's`);
      } finally {
        disposeBatch(t2);
      }
      compared++;
    }
  }
  assert.ok(compared >= 5, `only ${compared} groups with edges`);
});
