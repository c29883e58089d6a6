/**
 * Planning inside control flow (src/search/subgraph-plans.ts): the plan pass plans each static
 * subgraph of a control-flow node on its own, under the node's (opaque) group; a subgraph plan
 * holds only that subgraph's nodes (nothing fused across the boundary), reads the enclosing
 * graph's values as feature maps or, when constant there, weights; nodes with shapes that are
 * not static are left out with their reason, never a failure; compile's coverage section
 * accounts for every subgraph node; the compiled model still agrees with the original in
 * onnxruntime; the schedule validates against its schema and is the same for the same seed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { Node } from '../../src/ir/graph.ts';
import { runPasses } from '../../src/passes/manager.ts';
import { getPass } from '../../src/passes/registry.ts';
import { hardwarePresets } from '../../src/index.ts';
import { compileModel } from '../../src/compile.ts';
import type { FusionPlanJson, SubgraphPlanJson } from '../../src/search/planner.ts';
import { ifModel, loopModel, shapeGuardModel } from '../support/control-flow.ts';
import { applyShapeOverrides } from '../../src/analysis/shapes.ts';

const require = createRequire(import.meta.url);
const validate = new Ajv2020({ strict: false, allErrors: true }).compile(require('../../schema/schedule.schema.json'));
const hw = { ...hardwarePresets['npu-8m'] };

async function planOf(m: ReturnType<typeof ifModel>, seed = 1, search = 'local') {
  const { schedule } = await runPasses(m, [getPass('plan')], { hardware: hw, scheme: 'lbdf', seed, options: { plan: { search: search as 'local', budget: 50, optimum: false } } }, { omitTimings: true });
  assert.ok(validate(schedule), JSON.stringify(validate.errors?.slice(0, 3)));
  return { schedule, plan: schedule.passes[0].annotations as FusionPlanJson };
}

test('an If: each branch gets a plan of its own nodes under the If group; the If stays alone', async () => {
  const m = ifModel();
  const { plan } = await planOf(m);
  const g = plan.groups.find((x) => x.nodes.includes('the_if'))!;
  assert.deepEqual(g.nodes, ['the_if']);
  assert.match(g.opaque!, /control flow \(If\).*planned on their own/);
  assert.deepEqual(g.subgraphs!.map((s) => [s.attribute, s.path]), [['then_branch', 'the_if.then_branch'], ['else_branch', 'the_if.else_branch']]);
  const ifNode = m.graph.nodes.find((n) => n.name === 'the_if')!;
  for (const s of g.subgraphs!) {
    const sub = ifNode.subgraphs()[s.attribute === 'then_branch' ? 0 : 1];
    assert.equal(s.nodes, sub.nodes.length);
    assert.ok(s.plan, s.reason);
    // exactly the subgraph's own nodes, each once: nothing of the main graph, nothing twice
    assert.deepEqual(s.plan.groups.flatMap((x) => x.nodes).sort(), sub.nodes.map((n) => n.name).sort());
    assert.equal(s.plan.optimum, null);
    assert.equal(s.plan.search.ms, 0);
    // the outer value 'pre' writes is a feature map the branch reads from DRAM
    const pre = m.graph.nodes.find((n) => n.name === 'pre')!.outputs[0];
    assert.ok(s.plan.groups[0].dram.inputs.some((x) => x.tensor === pre), JSON.stringify(s.plan.groups[0].dram));
    assert.ok(s.plan.totals.dramBytes > 0 && s.plan.totals.dramBytes <= s.plan.totals.layerByLayerDramBytes);
  }
  // the then branch (conv, BN, relu) fuses on this buffer
  assert.equal(g.subgraphs![0].plan!.groups.length, 1);
});

test("the plan pass's log line counts what it planned inside control flow", async () => {
  const lines: string[] = [];
  const { schedule } = await runPasses(ifModel(), [getPass('plan')], { hardware: hw, scheme: 'lbdf', seed: 1, log: (l: string) => lines.push(l), options: { plan: { search: 'local', budget: 50, optimum: false } } }, { omitTimings: true });
  const plan = schedule.passes[0].annotations as FusionPlanJson;
  const subs = plan.groups.flatMap((g) => g.subgraphs ?? []);
  const groups = subs.reduce((a, s) => a + s.plan!.groups.length, 0);
  const dram = subs.reduce((a, s) => a + s.plan!.totals.dramBytes, 0);
  const line = lines.find((l) => l.startsWith('plan: '));
  assert.ok(line, lines.join('\n'));
  assert.ok(line.endsWith(`; inside control flow: 2 of 2 subgraphs planned, ${groups} groups, DRAM ${(dram / 1e6).toFixed(3)} MB summed over the bodies, one run each`), line);
});

test('a constant of the enclosing graph read by a branch is a weight there, not a feature map', async () => {
  const m = ifModel();
  const ifNode = m.graph.nodes.find((n) => n.name === 'the_if')!;
  const thenG = ifNode.subgraphs()[0];
  const conv = thenG.nodes.find((n) => n.opType === 'Conv')!;
  // move the branch conv's weight to the main graph (read from outer scope, as exporters do)
  const w = thenG.initializers.get(conv.inputs[1])!;
  thenG.initializers.delete(w.name);
  m.graph.setInitializer(w);
  thenG.invalidate();
  m.graph.invalidate();
  const { plan } = await planOf(m);
  const s = plan.groups.find((x) => x.nodes.includes('the_if'))!.subgraphs![0];
  const grp = s.plan!.groups.find((x) => x.nodes.includes(conv.name))!;
  assert.ok(!grp.dram.inputs.some((x) => x.tensor === w.name), 'not a feature map');
  assert.ok(grp.dram.weightBytes >= w.size, `weights ${grp.dram.weightBytes} >= ${w.size}`);
});

test('subgraph nodes whose shapes are not static are left out with the reason, never a failure; compile covers every subgraph node and onnxruntime agrees', async () => {
  const m = ifModel({ cond: true });
  const thenG = m.graph.nodes.find((n) => n.name === 'the_if')!.subgraphs()[0];
  const y = thenG.outputs[0].name;
  thenG.addNode(new Node({ name: 't_nz', opType: 'NonZero', inputs: [y], outputs: ['t_idx'] }));
  thenG.addNode(new Node({ name: 't_nz_t', opType: 'Transpose', inputs: ['t_idx'], outputs: ['t_idx_t'] }));
  thenG.invalidate();
  m.graph.invalidate();
  const r = await compileModel(m, { pipeline: 'plan', hw, passOptions: { plan: { search: 'greedy', optimum: false } } });
  const plan = r.schedule.passes[0].annotations as FusionPlanJson;
  const s = plan.groups.find((x) => x.nodes.includes('the_if'))!.subgraphs![0] as SubgraphPlanJson;
  assert.deepEqual(s.plan!.unplanned!.map((u) => u.node), ['t_nz', 't_nz_t']);
  assert.match(s.plan!.unplanned![0].reason, /'t_idx' has no static shape: .*NonZero/);
  assert.ok(s.plan!.groups.length >= 1, 'the static part is planned');
  const cov = r.schedule.coverage!.subgraphs!;
  assert.deepEqual(cov.map((c) => c.path), ['the_if.then_branch', 'the_if.else_branch']);
  for (const c of cov) {
    assert.deepEqual([c.duplicated, c.unknown], [[], []]);
    assert.equal(c.covered + c.uncovered.length, c.nodes);
  }
  assert.deepEqual(cov[0].uncovered.map((u) => [u.node, /^not planned: 't_idx' has no static shape/.test(u.reason)]), [['t_nz', true], ['t_nz_t', true]]);
  assert.equal(r.schedule.verification!.checked, true);
  assert.ok(r.schedule.verification!.outputs!.every((o) => o.ok));
});

test('a control-flow node left out of the main plan (data-dependent outputs) still gets plans of its subgraphs, under its unplanned entry; compile embeds them and onnxruntime agrees', async () => {
  const m = loopModel(); // the carried value that doubles every iteration: the Loop's outputs are not static
  const r = await compileModel(m, { pipeline: 'plan', hw, passOptions: { plan: { search: 'greedy', optimum: false } } });
  assert.ok(validate(r.schedule), JSON.stringify(validate.errors?.slice(0, 3)));
  const plan = r.schedule.passes[0].annotations as FusionPlanJson;
  const loop = plan.unplanned!.find((u) => u.node === 'the_loop')!;
  assert.ok(loop, 'the Loop is left out of the main plan');
  assert.equal(loop.subgraphs?.length, 1);
  const body = loop.subgraphs![0];
  assert.ok(body.plan, body.reason);
  // the body's static ops are planned; the doubling value's node is left out with why
  assert.deepEqual(body.plan.groups.flatMap((x) => x.nodes).sort(), ['b_acc', 'b_scan']);
  assert.deepEqual(body.plan.unplanned!.map((u) => u.node), ['b_grow']);
  const cov = r.schedule.coverage!.subgraphs!;
  assert.equal(cov.length, 1);
  assert.equal(cov[0].covered, 2);
  assert.deepEqual(cov[0].uncovered.map((u) => u.node).sort(), ['b_cond', 'b_grow']);
  assert.match(cov[0].uncovered.find((u) => u.node === 'b_grow')!.reason, /^not planned: 'grow_in' has no static shape/);
  // embedded inside the body; same outputs
  const fname = `${body.path.replace(/[^A-Za-z0-9_]/g, '_')}__group_${body.plan.groups[0].id}`;
  const g = r.model.graph.nodes.find((n) => n.name === 'the_loop')!.subgraphs()[0];
  assert.ok(g.nodes.some((n) => n.domain === 'dnnfuse.fusion' && n.opType === fname), `${fname} called in the body`);
  assert.equal(r.schedule.verification!.checked, true);
  assert.ok(r.schedule.verification!.outputs!.every((o) => o.ok), JSON.stringify(r.schedule.verification));
});

test('a Loop body with static carried shapes is planned; the same seed gives the same schedule byte for byte', async () => {
  const a = await planOf(loopModel({ grow: false }), 7, 'random');
  const b = await planOf(loopModel({ grow: false }), 7, 'random');
  assert.equal(JSON.stringify(a.schedule), JSON.stringify(b.schedule));
  const s = a.plan.groups.find((x) => x.nodes.includes('the_loop'))!.subgraphs!;
  assert.equal(s.length, 1);
  assert.equal(s[0].attribute, 'body');
  assert.ok(s[0].plan, s[0].reason);
  assert.deepEqual(s[0].plan.groups.flatMap((x) => x.nodes).sort(), ['b_acc', 'b_scan']);
});

test('compile embeds the subgraph plans inside their subgraphs: one function per group, called where its nodes were; outer values become inputs; onnxruntime agrees', async () => {
  for (const [name, m] of [['If', ifModel()], ['Loop', loopModel({ grow: false })]] as const) {
    const r = await compileModel(m, { pipeline: 'plan', hw, passOptions: { plan: { search: 'greedy', optimum: false } } });
    const plan = r.schedule.passes[0].annotations as FusionPlanJson;
    const subs = plan.groups.flatMap((g) => g.subgraphs ?? []).filter((s) => s.plan);
    assert.ok(subs.length >= 1, name);
    const graphs = new Map<string, import('../../src/ir/graph.ts').Graph>();
    for (const n of r.model.graph.nodes) for (const a of n.attributes) if (a.type === 'graph') graphs.set(`${n.name}.${a.name}`, a.value);
    const fnNames = new Set((r.model.functions as { name: string }[]).map((f) => f.name));
    let outlined = 0;
    for (const s of subs) {
      const g = graphs.get(s.path)!;
      assert.ok(g, s.path);
      for (const grp of s.plan!.groups) {
        const fname = `${s.path.replace(/[^A-Za-z0-9_]/g, '_')}__group_${grp.id}`;
        assert.ok(fnNames.has(fname), `${name}: no function ${fname} in ${[...fnNames].join(', ')}`);
        const calls = g.nodes.filter((n) => n.domain === 'dnnfuse.fusion' && n.opType === fname);
        assert.equal(calls.length, 1, `${name}: ${fname} is called once in ${s.path}`);
        for (const node of grp.nodes) assert.ok(!g.nodes.some((n) => n.name === node), `${name}: ${node} moved into ${fname}`);
        outlined++;
      }
    }
    assert.equal(r.schedule.embedding!.functions, plan.groups.filter((g) => !g.subgraphs).length + outlined);
    // the model's metadata carries the subgraph groups too
    const meta = JSON.parse(r.model.metadata.find((e) => e.key === 'dnnfuse.schedule')!.value) as { subgraphs: { path: string; groups: { id: number; nodes: string[] }[] }[] };
    assert.deepEqual(meta.subgraphs, subs.map((s) => ({ path: s.path, groups: s.plan!.groups.map((x) => ({ id: x.id, nodes: x.nodes })) })));
    assert.equal(r.schedule.verification!.checked, true, name);
    assert.ok(r.schedule.verification!.outputs!.every((o) => o.ok), `${name}: ${JSON.stringify(r.schedule.verification)}`);
  }
});

test('--node-metadata tags the nodes inside subgraphs with their subgraph group', async () => {
  const r = await compileModel(ifModel(), { pipeline: 'plan', hw, embed: 'node-metadata', passOptions: { plan: { search: 'greedy', optimum: false } } });
  const plan = r.schedule.passes[0].annotations as FusionPlanJson;
  const s = plan.groups.find((g) => g.subgraphs)!.subgraphs![0];
  const thenG = r.model.graph.nodes.find((n) => n.name === 'the_if')!.subgraphs()[0];
  for (const grp of s.plan!.groups) {
    for (const name of grp.nodes) {
      const n = thenG.nodes.find((x) => x.name === name)!;
      const props = ((n.carry as { msg?: { metadata_props?: { key: string; value: string }[] } } | undefined)?.msg?.metadata_props ?? []);
      assert.deepEqual(props.find((p) => p.key === 'dnnfuse.group')?.value, String(grp.id), name);
    }
  }
  assert.ok(r.schedule.verification!.outputs!.every((o) => o.ok));
});

test('an If branch that cannot run at the fixed input shapes is not planned, with the reason; the other branch is', async () => {
  const m = shapeGuardModel({ guard: 'input' });
  applyShapeOverrides(m, ['x=1x4x3']);
  const { plan } = await planOf(m as unknown as ReturnType<typeof ifModel>);
  const subs = plan.groups.find((g) => g.nodes.includes('guard'))!.subgraphs!;
  assert.deepEqual(subs.map((s) => s.path), ['guard.then_branch', 'guard.else_branch']);
  assert.equal(subs[0].plan, null);
  assert.match(subs[0].reason!, /^it cannot run at these input shapes: node 't_squeeze' \(Squeeze\): cannot squeeze axis 2 of size 3/);
});
