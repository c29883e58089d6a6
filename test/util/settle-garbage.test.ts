// settleGarbage(6), run by compile's check before each onnxruntime session, frees the wasm memory
// of a HiGHS instance the exact solver has dropped (releaseSolver): it outlives two collections
// (here it goes with the third, in a compile with the fifth; util/gc.ts), and while it lives it is
// resident under the check's sessions (PP-OCRv4 det: 24 MiB; bench:memory, issue 15 item 5).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomCnn } from '../fusion/gen.ts';
import { createCostModel } from '../../src/fusion/cost.ts';
import { releaseSolver, solveExact } from '../../src/search/exact.ts';
import { settleGarbage } from '../../src/util/gc.ts';

const externalMiB = () => process.memoryUsage().external / 1048576;

test('settleGarbage(6) frees the wasm memory of a released HiGHS instance', async () => {
  await settleGarbage(6);
  const before = externalMiB();
  const cost = createCostModel('lbdf', randomCnn(901, 6), { bufferBytes: 16 * 1024, elementType: 'int8' });
  const r = await solveExact(cost, { timeLimit: 20, decompose: false });
  assert.match(r.solver, /milp|lp/, 'HiGHS ran');
  releaseSolver();
  const held = externalMiB();
  assert.ok(held - before > 8, `HiGHS's wasm memory is external memory while referenced (${before.toFixed(1)} -> ${held.toFixed(1)} MiB)`);
  await settleGarbage(6);
  const after = externalMiB();
  assert.ok(after - before < 2, `released: external ${before.toFixed(1)} -> ${held.toFixed(1)} -> ${after.toFixed(1)} MiB`);
});
