/**
 * Shape rules on hand-built single-node graphs: each case states the expected output shapes,
 * and every case is also checked against python onnx's shape inference (second oracle) unless
 * marked where python onnx 1.12 is known to differ from onnxruntime (the ground truth).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inferCase, pythonOnnxMissing, pythonShapes } from './cases.ts';
import { ROWS } from './rows.ts';

test('shape rules give the expected shapes on hand-built single-node graphs', () => {
  for (const row of ROWS) {
    const got = inferCase(row);
    assert.deepEqual(got, row.expect, `${row.op} opset ${row.opset ?? 13} ${JSON.stringify(row.inputs.map((i) => i?.shape))}`);
  }
  console.log(`${ROWS.length} hand-built cases match their expected shapes`);
});

test('python onnx shape inference agrees on the same cases', { skip: pythonOnnxMissing() }, () => {
  const rows = ROWS.filter((row) => !row.noPython);
  const py = pythonShapes(rows);
  let compared = 0;
  rows.forEach((row, k) => {
    const res = py[k];
    assert.ok('shapes' in res, `python failed on ${row.op}: ${'error' in res ? res.error : ''}`);
    const ours = row.expect;
    res.shapes.forEach((ps, j) => {
      if (!ps) return; // python knows nothing: nothing to compare
      const mine = ours[j];
      assert.ok(mine, `${row.op} output ${j}: python infers [${ps}] but we expect unknown`);
      ps.forEach((d, i) => {
        if (d === null) return;
        compared++;
        assert.equal(mine[i], d, `${row.op} output ${j} dim ${i}: ours ${mine[i]} vs python ${d}`);
      });
    });
  });
  console.log(`python onnx agrees on ${compared} dims of ${rows.length} cases`);
});
