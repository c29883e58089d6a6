/** Decision-threshold calibration of the GET predictor (tuned on validation, folded into b2). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { THRESHOLDS, tuneThreshold } from '../../src/get/train-get.ts';
import { KGnn, kgnnShapes, initParams, graphInput, makeBatch } from '../../src/get/kgnn.ts';
import { initTf } from '../../src/get/tf.ts';
import { syntheticNetwork } from '../../src/get/synthetic.ts';
import { Rng } from '../../src/util/random.ts';

await initTf();

test('tuneThreshold: best F1 on the given split; ties go to the threshold closest to 0.5', () => {
  // Invalid samples score 0.3-0.4: only thresholds below 0.3 catch them all.
  const p = [0.32, 0.38, 0.36, 0.1, 0.05, 0.02];
  const truth = [true, true, true, false, false, false];
  const r = tuneThreshold(p, truth);
  assert.equal(r.metrics.f1, 1);
  assert.equal(r.threshold, 0.3, 'F1 = 1 for 0.1 < t < 0.32; 0.3 is the closest to 0.5');
  // Perfectly separated at 0.5: keep 0.5.
  assert.equal(tuneThreshold([0.9, 0.8, 0.1, 0.2], [true, true, false, false]).threshold, 0.5);
  assert.ok(THRESHOLDS.includes(0.5) && THRESHOLDS.every((t) => t > 0 && t < 1));
});

test('folding logit(t) into head.b2 turns "P > t" into "P\' > 0.5"', () => {
  const values = initParams(kgnnShapes(), new Rng(3));
  const g = syntheticNetwork(4);
  const items = [0, 1, 2, 3, 4, 5].map((s) => graphInput(g, [s, s + 1, s + 2], (64 << 10) * (s + 1), s % 2 ? 1 : 4));
  const a = new KGnn(values);
  const p = a.predictBatch(makeBatch(items));
  const t = [...p].sort((x, y) => x - y)[3]; // some samples on each side
  const shifted = new Map(values);
  shifted.set('head.b2', Float32Array.from([values.get('head.b2')![0] - Math.log(t / (1 - t))]));
  const b = new KGnn(shifted);
  const q = b.predictBatch(makeBatch(items));
  for (let i = 0; i < p.length; i++) {
    if (Math.abs(p[i] - t) > 1e-6) assert.equal(q[i] > 0.5, p[i] > t, `sample ${i}: p ${p[i]} t ${t} p' ${q[i]}`);
  }
  a.dispose();
  b.dispose();
});
