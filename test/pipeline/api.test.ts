import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as api from '../../src/index.ts';
import { buildCnn } from '../../src/testkit/arbitraries.ts';

/** Built-in pass name -> the function the library exports for it. */
const PASS_FUNCTIONS: Record<string, string> = {
  'fold-constants': 'foldConstants',
  'fold-bn': 'foldBatchNorm',
  'collapse-branches': 'collapseBranches',
  'expand-branches': 'expandBranches',
  sgs: 'spatialGradientScaling',
  learnability: 'certifyLearnability',
  plan: 'planFusion',
  get: 'getSplit',
  dce: 'eliminateDeadCode',
  verify: 'verifyModel',
  shapes: 'inferShapes',
};

test('every built-in pass has an exported function', () => {
  for (const p of api.listPasses().filter((x) => x.builtin)) {
    const fn = PASS_FUNCTIONS[p.name];
    assert.ok(fn, `no library function name chosen for built-in pass '${p.name}'`);
    assert.equal(typeof (api as Record<string, unknown>)[fn], 'function', `src/index.ts exports ${fn} for pass '${p.name}'`);
  }
});

test('pass functions run through the manager and return { changed, annotations }', async () => {
  const original = buildCnn({ seed: 8, inChannels: 3, size: 8, blocks: [{ kind: 'repvgg', out: 3, identity: true }, { kind: 'conv-bn-relu', out: 4, kernel: 3, stride: 1, bn: true }], head: false });
  const m = api.decodeModel(api.encodeModel(original));
  const f = await api.foldBatchNorm(m);
  assert.equal(f.changed, true);
  assert.ok(f.annotations!.applied >= 1);
  const c = await api.collapseBranches(m);
  assert.equal(c.changed, true);
  const d = await api.eliminateDeadCode(m);
  assert.equal(typeof d.annotations!.removedNodes, 'number');
  assert.deepEqual((await api.verifyModel(m)).annotations, { ok: true, nodes: m.graph.nodes.length });
  await api.assertSameOutputs(original, m);
  // expand then collapse round-trips the numerics
  const e = await api.expandBranches(m, { seed: 1 });
  assert.equal(e.changed, true);
  await api.assertSameOutputs(original, m, { rtol: 1e-4, atol: 1e-4 });
});

test('runPipeline takes names, comma lists and Pass objects mixed; passAnnotations is typed by name', async () => {
  const m = buildCnn({ seed: 2, inChannels: 2, size: 8, blocks: [{ kind: 'conv-bn-relu', out: 4, kernel: 3, stride: 1, bn: true }], head: false });
  const mine: api.Pass<{ n: number }> = { name: 'node-count', description: '', reads: ['annotations:fold-bn'], writes: [], run: (x) => ({ changed: false, annotations: { n: x.graph.nodes.length } }) };
  const { schedule } = await api.runPipeline(m, ['fold-bn', mine, 'dce,verify'], { seed: 4 });
  assert.deepEqual(schedule.passes.map((p) => p.name), ['fold-bn', 'node-count', 'dce', 'verify']);
  const fb = api.passAnnotations(schedule, 'fold-bn');
  assert.ok(fb && fb.applied >= 1);
  assert.deepEqual(api.annotationsOf(schedule, 'node-count'), { n: 2 });
  await assert.rejects(api.runPipeline(m, [mine]), /needs the 'fold-bn' annotations/);
});

test('load/save round trip and compile() without writing files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-api-'));
  try {
    const example = join(import.meta.dirname, '..', '..', 'fixtures', 'example.onnx');
    const m = api.load(example);
    const out = join(dir, 'copy.onnx');
    api.save(m, out);
    assert.deepEqual(api.encodeModel(api.load(out)), api.encodeModel(m));
    const r = await api.compile(example, { pipeline: ['fold-bn', 'dce'], seed: 1 });
    assert.equal(r.schedule.seed, 1);
    assert.equal(r.schedule.verification?.checked, true);
    assert.deepEqual(r.failures, []);
    assert.ok(r.model.graph.nodes.length < m.graph.nodes.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('planFusion: the plan pass output passes assertPlanValid, recomputed with the cost model', { skip: api.hasPass('plan') ? false : 'the plan pass is not in this build' }, async () => {
  const m = buildCnn({ seed: 6, inChannels: 3, size: 32, blocks: [{ kind: 'conv-bn-relu', out: 16, kernel: 3, stride: 1, bn: true }, { kind: 'residual', bottleneck: false }, { kind: 'se', reduction: 4 }, { kind: 'concat', a: 8, b: 8 }, { kind: 'depthwise', out: 16, stride: 2 }], head: true });
  const hw = { ...api.hardwarePresets['paper-128k'], bufferBytes: 24 * 1024 };
  for (const scheme of ['lbdf', 'brr'] as const) {
    const { schedule } = await api.runPipeline(m, ['plan'], { hardware: hw, scheme, seed: 3, options: { plan: { budget: 200, optimum: false } } });
    const typed = api.passAnnotations(schedule, 'plan')!;
    assert.equal(typed.scheme, scheme);
    schedule.graph = api.scheduleGraph(m);
    const r = api.assertPlanValid(schedule, hw, { model: m });
    assert.equal(r.recomputed, true);
    assert.equal(r.groups, typed.totals.groups);
    assert.ok(r.largestGroupBytes <= hw.bufferBytes);
  }
  const direct = await api.planFusion(m, { hardware: hw, scheme: 'lbdf', seed: 3 }, { budget: 200, optimum: false });
  assert.equal(direct.changed, false);
  assert.ok(direct.annotations!.totals.dramBytes <= direct.annotations!.totals.layerByLayerDramBytes);
});

test('getSplit: GET re-plans with explainer-guided SPLIT; its plan becomes the final plan and is valid', { skip: api.hasPass('get') ? false : 'the get pass is not in this build', timeout: 120_000 }, async () => {
  const m = api.load(join(import.meta.dirname, '..', '..', 'fixtures', 'example.onnx'));
  await api.foldBatchNorm(m);
  const hw = api.hardwarePresets['paper-128k'];
  const ctx = { hardware: hw, scheme: 'lbdf' as const, seed: 2, options: { plan: { search: 'random' as const, budget: 100, optimum: false } } };
  const { schedule } = await api.runPipeline(m, ['plan', 'get'], ctx);
  const g = api.passAnnotations(schedule, 'get')!;
  assert.equal(g.get.explainer, 'pg');
  assert.equal(g.search.rectifier, 'get-pg');
  assert.equal(g.get.baselineDramBytes, api.passAnnotations(schedule, 'plan')!.totals.dramBytes);
  assert.ok(g.get.invalidGroups >= g.get.rectified);
  assert.equal(api.finalPlan(schedule)!.pass, 'get');
  schedule.graph = api.scheduleGraph(m);
  assert.equal(api.assertPlanValid(schedule, hw, { model: m }).recomputed, true);
  // alone, getSplit runs the plan first
  const alone = await api.getSplit(api.decodeModel(api.encodeModel(m)), ctx, { explainer: 'cuts' });
  assert.equal(alone.annotations!.get.explainer, 'cuts');
  await assert.rejects(api.getSplit(m, ctx, { explainer: 'nope' as 'pg' }), /pass 'get': option 'explainer' must be one of gnne, pg, rg, cuts, got "nope"/);
});
