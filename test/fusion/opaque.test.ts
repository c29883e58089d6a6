/**
 * The planner and control flow: an If/Loop/Scan node is one opaque op, alone in its group
 * under every search; its feature-map inputs include the values its subgraphs read from the
 * main graph and its weights are its subgraphs'. Nodes with data-dependent feature maps are
 * left out with a reason; a dynamic graph input still fails, naming the value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Node } from '../../src/ir/graph.ts';
import { runPasses } from '../../src/passes/manager.ts';
import { getPass } from '../../src/passes/registry.ts';
import { finalPlan, hardwarePresets } from '../../src/index.ts';
import { planningGraph } from '../../src/fusion/op-graph.ts';
import { createCostModel } from '../../src/fusion/cost.ts';
import { SEARCH_METHODS } from '../../src/search/planner.ts';
import { ifModel, loopModel } from '../support/control-flow.ts';

const hw = { ...hardwarePresets['npu-8m'] };

test('an If is an opaque op: its inputs include the outer value its branches read, its weights the heavier branch', () => {
  const m = ifModel();
  const og = planningGraph(m);
  const op = og.ops.find((o) => o.opType === 'If')!;
  assert.equal(op.opaque, true);
  assert.deepEqual(op.inputs.map((t) => og.tensors[t].name).sort(), ['cond', m.graph.nodes.find((n) => n.name === 'pre')!.outputs[0]].sort());
  // then: 3x3 conv 4->6 (216) + BN (4x6); else: 1x1 conv 4->6 (24) + BN (4x6): the heavier counts.
  assert.equal(op.weightElements, 216 + 24);
  const cost = createCostModel('lbdf', og, hw);
  const pre = og.ops.find((o) => o.node === 'pre')!.id, post = og.ops.find((o) => o.node === 'post')!.id;
  assert.equal(cost.valid([op.id]), true);
  assert.equal(cost.valid([pre, op.id]), false);
  assert.equal(cost.valid([op.id, post]), false);
  assert.equal(cost.valid([pre, post]), true, 'the buffer is ample: only the opaque op stops fusion');
});

test('every search keeps the control-flow node alone and covers every main-graph node exactly once', async () => {
  for (const model of [() => ifModel(), () => loopModel({ grow: false })]) {
    for (const search of SEARCH_METHODS) {
      const m = model();
      const { schedule } = await runPasses(m, [getPass('plan')], { hardware: hw, scheme: 'lbdf', seed: 1, options: { plan: { search, budget: 50, optimum: false } } });
      const plan = schedule.passes[0].annotations as { groups: { nodes: string[]; opaque?: string }[] };
      assert.ok(finalPlan(schedule));
      const cf = m.graph.nodes.find((n) => n.subgraphs().length)!;
      const g = plan.groups.find((x) => x.nodes.includes(cf.name))!;
      assert.deepEqual(g.nodes, [cf.name], `${search}: ${JSON.stringify(plan.groups.map((x) => x.nodes))}`);
      assert.match(g.opaque ?? '', /control flow/);
      const covered = plan.groups.flatMap((x) => x.nodes).sort();
      assert.deepEqual(covered, m.graph.nodes.map((n) => n.name).sort(), search);
    }
  }
});

test('ops after a NonZero are left out of the plan with a reason; the static part is planned', async () => {
  const m = ifModel();
  const g = m.graph;
  g.addNode(new Node({ name: 'nz', opType: 'NonZero', inputs: ['out'], outputs: ['idx'] }));
  g.addNode(new Node({ name: 'nz_t', opType: 'Transpose', inputs: ['idx'], outputs: ['idx_t'] }));
  g.outputs.push({ name: 'idx_t', type: { elemType: 7 } });
  const { schedule } = await runPasses(m, [getPass('plan')], { hardware: hw, scheme: 'lbdf', seed: 0, options: { plan: { search: 'greedy', optimum: false } } });
  const plan = schedule.passes[0].annotations as { groups: { nodes: string[] }[]; unplanned?: { node: string; reason: string }[] };
  assert.deepEqual(plan.unplanned?.map((u) => u.node), ['nz', 'nz_t']);
  assert.match(plan.unplanned![0].reason, /'idx' has no static shape: .*NonZero/);
  assert.deepEqual(plan.groups.flatMap((x) => x.nodes).sort(), ['post', 'pre', 'the_if']);
});

test('a dynamic graph input is still an error naming the value and suggesting --shape', async () => {
  const m = ifModel();
  m.graph.inputs[0].type = { elemType: 1, shape: ['N', 4, 8, 8] };
  m.graph.invalidate();
  await assert.rejects(runPasses(m, [getPass('plan')], { hardware: hw, scheme: 'lbdf', seed: 0, options: { plan: { search: 'greedy', optimum: false } } }), /value '.*'.*is not static.*--shape x=/);
});
