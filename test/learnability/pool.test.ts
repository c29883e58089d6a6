/**
 * Ensemble members trained on a worker pool (src/learnability/pool.ts) are the members trained
 * in this thread, bit for bit, whatever the pool size; so is the certificate built from them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { certify, certifyAsync } from '../../src/learnability/certify.ts';
import { makeGraph } from '../../src/learnability/graph.ts';
import { floodingInstruction } from '../../src/learnability/instructions.ts';
import { EnsemblePool } from '../../src/learnability/pool.ts';
import { trainInline, trainingSetup, type TrainedMember } from '../../src/learnability/predictors.ts';

const bytes = (ms: TrainedMember[]) => ms.map((m) => [Buffer.from(m.member.w1.buffer).toString('base64'), Buffer.from(m.member.w2.buffer).toString('base64'), m.loss, m.epochs]);

test('pool of 1 and of 2 threads train the same members as this thread (same seed, same bytes)', async () => {
  const ins = floodingInstruction(3, 2, 7, [1, 2]);
  const setup = trainingSetup(ins.table, {});
  const req = { table: ins.table, ...setup, seed: 5, from: 3, to: 9 };
  const trained = trainInline(req);
  const inline = bytes(trained);
  // members stop early (default tol): the stopping epoch is part of what must not depend on the pool
  assert.ok(trained.some((m) => m.epochs < setup.epochs), `epochs run: ${trained.map((m) => m.epochs).join(',')}`);
  for (const workers of [1, 2]) {
    const pool = new EnsemblePool(workers);
    try {
      assert.deepEqual(bytes(await pool.train(req)), inline, `pool of ${workers}`);
    } finally {
      await pool.close();
    }
  }
  // a different seed gives different members (the comparison can fail)
  assert.notDeepEqual(bytes(trainInline({ ...req, seed: 6 })), inline);
});

test('a finite-ensemble certificate is the same trained inline or on a pool of 2', async () => {
  const g = makeGraph(9, [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [2, 6], [6, 7], [7, 8]], [0, 8]);
  const opts = { predictor: 'ensemble' as const, seed: 3, ensemble: { cacheDir: null } };
  const strip = (c: ReturnType<typeof certify>) => ({ ...c, timing: undefined });
  const inline = certify(g, 'bfs', opts);
  assert.ok(inline.certified, inline.reason);
  assert.equal(typeof inline.ensembleSize, 'number');
  const pool = new EnsemblePool(2);
  try {
    const pooled = await certifyAsync(g, 'bfs', opts, pool.train);
    assert.deepEqual(strip(pooled), strip(inline));
  } finally {
    await pool.close();
  }
});
