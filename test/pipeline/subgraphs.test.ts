/**
 * Rewrite passes inside subgraphs: fold-bn, collapse-branches and dce run in If branches (and
 * any nested graph) through the registry, the rewritten model computes the same outputs in
 * onnxruntime for both conditions, and a main-graph value read only by a branch survives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Node } from '../../src/ir/graph.ts';
import type { Model } from '../../src/ir/graph.ts';
import { runPass } from '../../src/index.ts';
import { decodeModel, encodeModel } from '../../src/onnx/io.ts';
import { randomFeeds, runModel } from '../../src/analysis/ort.ts';
import { allclose } from '../../src/analysis/compare.ts';
import { ifModel, branch } from '../support/control-flow.ts';

const ops = (m: Model) => [m.graph, ...[...m.graph.subgraphsDeep()].map((s) => s.graph)].flatMap((g) => g.nodes.map((n) => n.opType));

async function sameForBothConditions(original: Model, rewritten: Model): Promise<void> {
  for (const cond of [0, 1]) {
    const feeds = randomFeeds(original, 7);
    feeds.cond = { dims: [], data: Uint8Array.from([cond]), bool: true };
    const c = allclose(await runModel(encodeModel(original), feeds), await runModel(encodeModel(rewritten), feeds));
    assert.ok(c.ok, `cond=${cond}: ${JSON.stringify(c.outputs)}`);
  }
}

test('fold-bn folds the BatchNorms inside both If branches; outputs equal in onnxruntime for either condition', async () => {
  const m = ifModel();
  const original = decodeModel(encodeModel(m));
  assert.equal(ops(m).filter((o) => o === 'BatchNormalization').length, 2);
  const r = await runPass<{ applied: number; subgraphs?: { path: string; annotations: { applied: number } }[] }>('fold-bn', m);
  assert.equal(r.changed, true);
  assert.equal(ops(m).filter((o) => o === 'BatchNormalization').length, 0);
  assert.deepEqual(r.annotations?.subgraphs?.map((s) => [s.path, s.annotations.applied]), [['the_if.then_branch', 1], ['the_if.else_branch', 1]]);
  await sameForBothConditions(original, m);
});

test('a deliberately wrong fold inside a branch is caught by the same check', async () => {
  const m = ifModel();
  const original = decodeModel(encodeModel(m));
  await runPass('fold-bn', m);
  const elseG = m.graph.nodes.find((n) => n.opType === 'If')!.subgraphs()[1];
  const conv = elseG.nodes.find((n) => n.opType === 'Conv')!;
  const bias = elseG.initializers.get(conv.inputs[2])!;
  const data = bias.toFloat32().slice();
  data[0] += 0.5; // one channel's bias off
  elseG.setInitializer(Object.assign(Object.create(Object.getPrototypeOf(bias)), bias, { source: { kind: 'values', values: data } }));
  await assert.rejects(sameForBothConditions(original, m), /cond=0/);
});

test('collapse-branches merges a RepVGG block inside a branch; dce removes a dead node inside a branch', async () => {
  const m = ifModel();
  const ifNode = m.graph.nodes.find((n) => n.opType === 'If')!;
  const p = m.graph.nodes.find((n) => n.name === 'pre')!.outputs[0];
  const rep = branch('r_', p, [1, 4, 8, 8], (b, q) => b.add(b.conv(q, { outChannels: 6, kernel: 3, pads: 1, bias: true }), b.conv(q, { outChannels: 6, kernel: 1, bias: true })), 9);
  const a = ifNode.attributes.find((x) => x.name === 'then_branch')!;
  if (a.type === 'graph') a.value = rep;
  m.graph.invalidate();
  const original = decodeModel(encodeModel(m));
  const c = await runPass<{ applied: number; subgraphs?: unknown[] }>('collapse-branches', m);
  assert.equal(c.changed, true);
  assert.equal(rep.nodes.filter((n) => n.opType === 'Conv').length, 1);
  rep.addNode(new Node({ name: 'r_dead', opType: 'Sigmoid', inputs: [p], outputs: ['r_dead_out'] }));
  m.graph.invalidate();
  const d = await runPass('dce', m);
  assert.equal(d.changed, true);
  assert.ok(!rep.nodes.some((n) => n.name === 'r_dead'));
  // 'pre' is read only by the branches (outer scope): dce keeps it.
  assert.ok(m.graph.nodes.some((n) => n.name === 'pre'));
  await sameForBothConditions(original, m);
});
