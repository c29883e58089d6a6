/**
 * Finite-ensemble members and growth (src/learnability/predictors.ts): the default width
 * (8 x the output bits) lets a member fit its BFS table, a member stops as soon as it does,
 * and the ensemble stops at the first size whose cases are all exact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeGraph } from '../../src/learnability/graph.ts';
import { certify } from '../../src/learnability/certify.ts';
import { bfsInstruction } from '../../src/learnability/instructions.ts';
import { defaultHidden, memberRng, preconditionedLr, trainMember, trainingSetup, type Member } from '../../src/learnability/predictors.ts';
import type { TemplateTable } from '../../src/learnability/templates.ts';

/** Largest |output - target| of a member over its one-hot training rows. */
function maxTrainingError(t: TemplateTable, m: Member, hidden: number): number {
  const k = t.outputSize;
  let worst = 0;
  for (let j = 0; j < t.n0; j++) {
    const f = new Float64Array(k);
    for (let r = 0; r < hidden; r++) {
      const h = m.w1[j * hidden + r];
      if (h > 0) for (let o = 0; o < k; o++) f[o] += h * m.w2[r * k + o];
    }
    for (let q = t.outStart[j]; q < t.outStart[j + 1]; q++) f[t.outBit[q]] -= 1;
    for (let o = 0; o < k; o++) worst = Math.max(worst, Math.abs(f[o]));
  }
  return worst;
}

test('default member width 8 x outputs fits a BFS table within tol and stops early; 4 x outputs does not fit it in the same epochs', () => {
  // the BFS instruction of resnet50's graph (D = 3, l = 6, 5 slots): 103 templates, 54 outputs
  const t = bfsInstruction(3, 6, 5).table;
  const s = trainingSetup(t, {});
  assert.equal(s.hidden, defaultHidden(t.outputSize));
  assert.equal(s.hidden, 8 * t.outputSize);
  assert.equal(s.tol, 5e-3 / 5);
  const a = trainMember(t, s.hidden, s.epochs, s.lr, memberRng(0, 0), s.init, s.precondition, s.tol);
  assert.ok(a.epochs < s.epochs, `stopped after ${a.epochs} of ${s.epochs} epochs`);
  const err = maxTrainingError(t, a.member, s.hidden);
  assert.ok(err < s.tol, `member reproduces its table within tol: max error ${err}`);
  // same seed, same member, same stopping epoch
  const again = trainMember(t, s.hidden, s.epochs, s.lr, memberRng(0, 0), s.init, s.precondition, s.tol);
  assert.equal(again.epochs, a.epochs);
  assert.deepEqual(again.member.w1, a.member.w1);
  // the former default, 4 x outputs: the antisymmetric pairs leave ~k independent output
  // directions per row and the member is still off its table after the whole epoch budget
  const H4 = 4 * t.outputSize;
  const b = trainMember(t, H4, s.epochs, preconditionedLr(t.n0, H4, 0.3), memberRng(0, 0), s.init, s.precondition, s.tol);
  assert.equal(b.epochs, s.epochs);
  assert.ok(maxTrainingError(t, b.member, H4) >= s.tol);
});

test('the ensemble stops at the first size whose cases are all exact (not at the next power of two)', () => {
  const g = makeGraph(9, [[0, 1], [0, 2], [1, 3], [1, 4], [2, 5], [5, 6], [6, 7], [3, 8]], [0]);
  const opts = (cap: number) => ({ predictor: 'ensemble' as const, seed: 0, ensemble: { cacheDir: null, start: 1, cap } });
  const c = certify(g, 'bfs', opts(512));
  assert.ok(c.certified, c.reason);
  const m = c.ensembleSize as number;
  assert.ok(m > 1, `one member is not enough on this graph (got ${m})`);
  // one member fewer: some case is wrong, so no certificate
  const fewer = certify(g, 'bfs', opts(m - 1));
  assert.equal(fewer.ensembleSize, m - 1);
  assert.ok((fewer.caseAccuracy ?? 1) < 1, `case accuracy ${fewer.caseAccuracy} with ${m - 1} members`);
  // the size does not depend on the batches the members were trained in (start 2: batches of
  // 2, 2, 2, ... instead of 1, 1, 1, ...; the first exact size is the same since m >= 2)
  const batched = certify(g, 'bfs', { ...opts(512), ensemble: { ...opts(512).ensemble, start: 2 } });
  assert.equal(batched.ensembleSize, m);
  assert.equal(batched.margin, c.margin);
});
