import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { syntheticNetwork } from '../../src/get/synthetic.ts';
import { buildSamples, metrics } from '../../src/get/dataset.ts';
import { evaluate, trainPredictor } from '../../src/get/train.ts';
import { initTf } from '../../src/get/tf.ts';
import { FEATURE_DIM, groupFeatures, OP_TYPES } from '../../src/get/features.ts';
import { loadWeights, saveWeights, shippedWeightsDir } from '../../src/get/weights.ts';
import { loadGetModels } from '../../src/get/explainers/index.ts';
import { heldOutSamples } from '../../src/get/train-get.ts';
import { sharedModelsDir, sharedModelsMissing } from '../../src/models/shared.ts';
import { kgnnShapes } from '../../src/get/kgnn.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { stubCost } from './stub-cost.ts';

await initTf();

const cf = (g: Parameters<typeof stubCost>[0], s: 'lbdf' | 'brr', b: number, e: number) => stubCost(g, b, e, s);
// seeds chosen for a mix of valid and invalid labels under the stub cost model
const nets = [100, 101, 105, 106, 110].map((i) => ({ name: `syn${i}`, graph: syntheticNetwork(i) }));

test('features: one row per op, op type one-hot, beta enters as a feature', () => {
  const g = nets[0].graph;
  const group = [3, 4, 5];
  const a = groupFeatures(g, group, 128 * 1024, 4);
  const b = groupFeatures(g, group, 2048 * 1024, 4);
  assert.equal(a.length, 3 * FEATURE_DIM);
  for (let i = 0; i < 3; i++) {
    const row = a.subarray(i * FEATURE_DIM, i * FEATURE_DIM + OP_TYPES.length);
    assert.equal(row.reduce((s, x) => s + x, 0), 1);
  }
  assert.notDeepEqual(a, b);
});

test('predictor trains on a tiny dataset and beats chance on a held-out network; seeded runs are identical', () => {
  const train = buildSamples(nets.slice(0, 3), cf, { scheme: 'lbdf', groupsPerNet: 16, maxSize: 12, seed: 1 });
  const test = buildSamples(nets.slice(3), cf, { scheme: 'lbdf', groupsPerNet: 20, maxSize: 12, seed: 2 });
  const o = { epochs: 2, batchSize: 16, learningRate: 3e-3, seed: 5 };
  const { model } = trainPredictor(train, o);
  const m = evaluate(model, test);
  const majority = Math.max(m.invalidFraction, 1 - m.invalidFraction);
  assert.ok(m.accuracy > majority + 0.03, `accuracy ${m.accuracy} vs majority ${majority}`);
  const tiny = train.slice(0, 48);
  const va = trainPredictor(tiny, { ...o, epochs: 1 }).model.values();
  const vb = trainPredictor(tiny, { ...o, epochs: 1 }).model.values();
  for (const [k, v] of va) assert.deepEqual(vb.get(k), v, `tensor ${k} differs between seeded runs`);
  // int8 round trip keeps predictions close
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-get-'));
  const tensors = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const [name, shape] of kgnnShapes()) tensors.set(`kgnn/${name}`, { shape, values: va.get(name)! });
  saveWeights(dir, 'lbdf', tensors, {}, {});
  const w = loadWeights('lbdf', dir);
  assert.equal(w.tensors.size, tensors.size);
  for (const [k, t] of tensors) {
    const back = w.tensors.get(k)!;
    const max = t.values.reduce((s, x) => Math.max(s, Math.abs(x)), 0);
    for (let i = 0; i < back.length; i++) assert.ok(Math.abs(back[i] - t.values[i]) <= max / 127 + 1e-6);
  }
});

test('metrics: accuracy and F1 of the invalid class', () => {
  const m = metrics([true, true, false, false], [true, false, false, true]);
  assert.equal(m.accuracy, 0.5);
  assert.equal(m.f1, 0.5);
});

for (const scheme of ['lbdf', 'brr'] as const) {
  const missing = sharedModelsMissing() || (existsSync(join(shippedWeightsDir(), `${scheme}.json`)) ? false : `models/get/${scheme}.json absent`);
  test(`shipped ${scheme} weights load and reach the reported held-out accuracy`, { skip: missing }, () => {
    const w = loadWeights(scheme);
    const reported = w.manifest.metrics.test as { accuracy: number; f1: number; n: number };
    const t = w.manifest.training as { seed: number; testGroupsPerNet: number; maxSize: number };
    const samples = heldOutSamples(scheme, t, undefined, sharedModelsDir());
    assert.equal(samples.length, reported.n);
    const m = evaluate(loadGetModels(scheme).gnn, samples);
    assert.ok(Math.abs(m.accuracy - reported.accuracy) < 1e-9, `accuracy ${m.accuracy} vs reported ${reported.accuracy}`);
    assert.ok(m.accuracy > 0.9, `held-out accuracy ${m.accuracy}`);
  });
}
