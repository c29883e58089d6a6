/**
 * Shape rules on hand-built single-node graphs: each case states the expected output shapes,
 * and every case is also checked against python onnx's shape inference (second oracle) unless
 * marked where python onnx 1.12 is known to differ from onnxruntime (the ground truth).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { a, floats, I, inferCase, ints, pythonOnnxMissing, pythonShapes, type Case } from './cases.ts';
import type { Dim } from '../../src/ir/graph.ts';
import { DataType } from '../../src/ir/dtype.ts';

type Row = Case & { expect: (Dim[] | undefined)[]; note?: string; noPython?: string };
const r = (c: Case, expect: (Dim[] | undefined)[], extra: Partial<Row> = {}): Row => ({ ...c, expect, ...extra });
const big = 9223372036854775807; // INT64_MAX as a JS number (Tensor.int64 takes numbers)

export const ROWS: Row[] = [
  // convolutions and pools
  r({ op: 'Conv', inputs: [I(1, 3, 224, 224), I(64, 3, 7, 7)], attrs: { strides: a.ints(2, 2), pads: a.ints(3, 3, 3, 3) } }, [[1, 64, 112, 112]]),
  r({ op: 'Conv', inputs: [I(2, 8, 17, 9), I(8, 1, 3, 3)], attrs: { group: a.int(8), dilations: a.ints(2, 1), auto_pad: a.string('SAME_UPPER'), strides: a.ints(2, 2) } }, [[2, 8, 9, 5]]),
  r({ op: 'Conv', inputs: [I(1, 4, 10), I(6, 4, 3)], attrs: { auto_pad: a.string('VALID'), strides: a.ints(3) } }, [[1, 6, 3]]),
  r({ op: 'Conv', inputs: [I('N', 3, 'H', 32), I(16, 3, 3, 3)], attrs: { pads: a.ints(1, 1, 1, 1) } }, [['N', 16, undefined, 32]]),
  r({ op: 'ConvTranspose', inputs: [I(1, 8, 7, 7), I(8, 4, 3, 3)], attrs: { strides: a.ints(2, 2), pads: a.ints(1, 1, 1, 1), output_padding: a.ints(1, 1), group: a.int(2) } }, [[1, 8, 14, 14]]),
  r({ op: 'ConvTranspose', inputs: [I(1, 8, 5, 6), I(8, 3, 4, 4)], attrs: { strides: a.ints(2, 2), auto_pad: a.string('SAME_UPPER') } }, [[1, 3, 10, 12]]),
  r({ op: 'ConvTranspose', inputs: [I(1, 8, 5, 6), I(8, 3, 3, 3)], attrs: { strides: a.ints(3, 2), output_shape: a.ints(16, 12) } }, [[1, 3, 16, 12]]),
  r({ op: 'MaxPool', inputs: [I(1, 64, 112, 112)], attrs: { kernel_shape: a.ints(3, 3), strides: a.ints(2, 2), pads: a.ints(1, 1, 1, 1) } }, [[1, 64, 56, 56]]),
  r({ op: 'MaxPool', inputs: [I(1, 96, 55, 55)], attrs: { kernel_shape: a.ints(3, 3), strides: a.ints(2, 2), ceil_mode: a.int(1) } }, [[1, 96, 27, 27]]),
  r({ op: 'MaxPool', inputs: [I(1, 64, 56, 56)], attrs: { kernel_shape: a.ints(3, 3), strides: a.ints(2, 2), ceil_mode: a.int(1) } }, [[1, 64, 28, 28]]),
  r({ op: 'MaxPool', inputs: [I(1, 2, 6, 6)], attrs: { kernel_shape: a.ints(2, 2), strides: a.ints(2, 2), ceil_mode: a.int(1), pads: a.ints(1, 1, 1, 1) } }, [[1, 2, 4, 4]]),
  r({ op: 'MaxPool', inputs: [I(1, 1, 9, 9)], attrs: { kernel_shape: a.ints(3, 3), dilations: a.ints(2, 2) } }, [[1, 1, 5, 5]]),
  r({ op: 'MaxPool', inputs: [I(1, 1, 9, 9)], attrs: { kernel_shape: a.ints(2, 2), strides: a.ints(2, 2), auto_pad: a.string('SAME_LOWER') }, outputs: 2 }, [[1, 1, 5, 5], [1, 1, 5, 5]]),
  r({ op: 'AveragePool', inputs: [I(1, 512, 7, 7)], attrs: { kernel_shape: a.ints(7, 7) } }, [[1, 512, 1, 1]]),
  r({ op: 'GlobalAveragePool', inputs: [I('N', 1280, 7, 7)] }, [['N', 1280, 1, 1]]),
  // linear algebra
  r({ op: 'Gemm', inputs: [I(1, 1280), I(1000, 1280), I(1000)], attrs: { transB: a.int(1) } }, [[1, 1000]]),
  r({ op: 'Gemm', inputs: [I(7, 3), I(7, 5)], attrs: { transA: a.int(1) } }, [[3, 5]]),
  r({ op: 'MatMul', inputs: [I(2, 1, 4, 5), I(3, 5, 6)] }, [[2, 3, 4, 6]]),
  r({ op: 'MatMul', inputs: [I(5), I(3, 5, 6)] }, [[3, 6]]),
  r({ op: 'MatMul', inputs: [I(2, 4, 5), I(5)] }, [[2, 4]]),
  r({ op: 'MatMul', inputs: [I(5), I(5)] }, [[]]),
  r({ op: 'Einsum', inputs: [I(2, 3, 4), I(2, 4, 5)], attrs: { equation: a.string('bij,bjk->bik') } }, [[2, 3, 5]]),
  r({ op: 'Einsum', inputs: [I(3, 4)], attrs: { equation: a.string('ij') } }, [[3, 4]]),
  r({ op: 'Einsum', inputs: [I(3, 4)], attrs: { equation: a.string('ji') } }, [[4, 3]]),
  r({ op: 'Einsum', inputs: [I(7, 2, 3), I(7, 3, 4)], attrs: { equation: a.string('...ij,...jk') } }, [[7, 2, 4]]),
  // broadcasting element-wise
  r({ op: 'Add', inputs: [I(1, 64, 56, 56), I(64, 1, 1)] }, [[1, 64, 56, 56]]),
  r({ op: 'Mul', inputs: [I('N', 3, 1), I(1, 4)] }, [['N', 3, 4]]),
  r({ op: 'Where', inputs: [{ shape: [3, 1], dtype: DataType.BOOL }, I(1, 4), I(3, 4)] }, [[3, 4]]),
  r({ op: 'Equal', inputs: [I(2, 3), I(3)] }, [[2, 3]]),
  r({ op: 'Sum', inputs: [I(2, 1, 3), I(4, 1), I(3)] }, [[2, 4, 3]]),
  r({ op: 'PRelu', inputs: [I(1, 8, 4, 4), I(8, 1, 1)] }, [[1, 8, 4, 4]]),
  r({ op: 'HardSwish', opset: 14, inputs: [I(1, 16, 112, 112)] }, [[1, 16, 112, 112]]),
  r({ op: 'Clip', inputs: [I(1, 32, 112, 112), floats([0], []), floats([6], [])] }, [[1, 32, 112, 112]]),
  // reshaping
  r({ op: 'Reshape', inputs: [I(1, 116, 28, 28), ints([1, 2, 58, 28, 28])] }, [[1, 2, 58, 28, 28]]),
  r({ op: 'Reshape', inputs: [I(2, 3, 4), ints([0, -1])] }, [[2, 12]]),
  r({ op: 'Reshape', inputs: [I(2, 3, 4), ints([-1, 0, 2])] }, [[4, 3, 2]]),
  r({ op: 'Reshape', opset: 14, inputs: [I(0, 3), ints([3, 0])], attrs: { allowzero: a.int(1) } }, [[3, 0]]),
  r({ op: 'Flatten', inputs: [I(1, 512, 7, 7)] }, [[1, 25088]]),
  r({ op: 'Flatten', inputs: [I(2, 3, 4, 5)], attrs: { axis: a.int(-1) } }, [[24, 5]]),
  r({ op: 'Flatten', inputs: [I(2, 3)], attrs: { axis: a.int(0) } }, [[1, 6]]),
  r({ op: 'Transpose', inputs: [I(1, 2, 58, 28, 28)], attrs: { perm: a.ints(0, 2, 1, 3, 4) } }, [[1, 58, 2, 28, 28]]),
  r({ op: 'Transpose', inputs: [I(2, 3, 4)] }, [[4, 3, 2]]),
  r({ op: 'Squeeze', inputs: [I(1, 3, 1, 5), ints([0, -2])] }, [[3, 5]]),
  r({ op: 'Squeeze', opset: 11, inputs: [I(1, 3, 1, 5)], attrs: { axes: a.ints(2) } }, [[1, 3, 5]]),
  r({ op: 'Squeeze', inputs: [I(1, 3, 1, 5)] }, [[3, 5]]),
  r({ op: 'Unsqueeze', inputs: [I(3, 4), ints([0, -1])] }, [[1, 3, 4, 1]]),
  r({ op: 'Unsqueeze', opset: 11, inputs: [I(3)], attrs: { axes: a.ints(1) } }, [[3, 1]]),
  r({ op: 'Concat', inputs: [I(1, 24, 56, 56), I(1, 40, 56, 56), I(1, 8, 56, 56)], attrs: { axis: a.int(1) } }, [[1, 72, 56, 56]]),
  r({ op: 'Concat', inputs: [I(2, 3), I(2, 5)], attrs: { axis: a.int(-1) } }, [[2, 8]]),
  r({ op: 'Split', inputs: [I(1, 116, 28, 28)], attrs: { axis: a.int(1) }, outputs: 2 }, [[1, 58, 28, 28], [1, 58, 28, 28]]),
  r({ op: 'Split', inputs: [I(10, 4), ints([3, 7])], outputs: 2 }, [[3, 4], [7, 4]]),
  r({ op: 'Split', opset: 11, inputs: [I(10, 4)], attrs: { split: a.ints(2, 8) }, outputs: 2 }, [[2, 4], [8, 4]]),
  r({ op: 'Split', opset: 18, inputs: [I(10, 4)], attrs: { num_outputs: a.int(3) }, outputs: 3 }, [[4, 4], [4, 4], [2, 4]], { noPython: 'python onnx 1.12 knows opset <= 17' }),
  r({ op: 'Slice', inputs: [I(20, 10, 5), ints([0, 1]), ints([3, 10]), ints([0, 1]), ints([1, 2])] }, [[3, 5, 5]]),
  r({ op: 'Slice', inputs: [I(20, 10, 5), ints([1]), ints([big]), ints([-1])] }, [[20, 10, 4]]),
  r({ op: 'Slice', inputs: [I(20, 10, 5), ints([-1]), ints([-big]), ints([0]), ints([-1])] }, [[20, 10, 5]]),
  r({ op: 'Slice', inputs: [I(20, 10, 5), ints([-3]), ints([-1]), ints([1])] }, [[20, 2, 5]]),
  r({ op: 'Slice', inputs: [I(20, 10, 5), ints([8]), ints([2]), ints([1]), ints([-3])] }, [[20, 2, 5]]),
  r({ op: 'Slice', inputs: [I(20, 10, 5), ints([100]), ints([200]), ints([0])] }, [[0, 10, 5]]),
  r({ op: 'Slice', opset: 9, inputs: [I(20, 10, 5)], attrs: { starts: a.ints(0, 2), ends: a.ints(5, -1), axes: a.ints(0, 2) } }, [[5, 10, 2]]),
  r({ op: 'Gather', inputs: [I(5, 6, 7), ints([0, 2, 1, 3], [2, 2])], attrs: { axis: a.int(1) } }, [[5, 2, 2, 7]]),
  r({ op: 'Gather', inputs: [I(5, 6), ints([4], [])] }, [[6]]),
  r({ op: 'GatherElements', inputs: [I(3, 3), ints([0, 1, 2, 0], [2, 2])], attrs: { axis: a.int(1) } }, [[2, 2]]),
  r({ op: 'GatherND', inputs: [I(2, 3, 4), ints([0, 1, 1, 0], [2, 2])] }, [[2, 4]]),
  r({ op: 'Pad', inputs: [I(1, 3, 10, 10), ints([0, 0, 1, 2, 0, 0, 3, 4])] }, [[1, 3, 14, 16]]),
  r({ op: 'Pad', opset: 2, inputs: [I(1, 3, 10, 10)], attrs: { pads: a.ints(0, 0, 1, 1, 0, 0, 1, 1) } }, [[1, 3, 12, 12]]),
  r({ op: 'Resize', inputs: [I(1, 960, 33, 33), null, floats([1, 1, 2, 2])], attrs: { mode: a.string('linear') } }, [[1, 960, 66, 66]]),
  r({ op: 'Resize', inputs: [I(1, 21, 65, 65), floats([]), floats([]), ints([1, 21, 512, 512])] }, [[1, 21, 512, 512]]),
  r({ op: 'Resize', opset: 10, inputs: [I(1, 3, 5, 7), floats([1, 1, 1.5, 0.5])] }, [[1, 3, 7, 3]]),
  r({ op: 'Upsample', opset: 9, inputs: [I(1, 3, 4, 5), floats([1, 1, 2, 3])] }, [[1, 3, 8, 15]]),
  r({ op: 'Expand', inputs: [I(3, 1), ints([2, 1, 6])] }, [[2, 3, 6]]),
  r({ op: 'Tile', inputs: [I(2, 3), ints([3, 2])] }, [[6, 6]]),
  // reductions
  r({ op: 'ReduceMean', inputs: [I(1, 960, 7, 7)], attrs: { axes: a.ints(2, 3), keepdims: a.int(0) } }, [[1, 960]]),
  r({ op: 'ReduceSum', inputs: [I(2, 3, 4), ints([-1])] }, [[2, 3, 1]]),
  r({ op: 'ReduceSum', inputs: [I(2, 3, 4)], attrs: { keepdims: a.int(0) } }, [[]]),
  r({ op: 'ReduceSum', inputs: [I(2, 3, 4), ints([])], attrs: { noop_with_empty_axes: a.int(1) } }, [[2, 3, 4]]),
  r({ op: 'ReduceMax', opset: 18, inputs: [I(2, 3, 4), ints([1])], attrs: { keepdims: a.int(0) } }, [[2, 4]], { noPython: 'python onnx 1.12 knows opset <= 17' }),
  r({ op: 'ArgMax', inputs: [I(2, 3, 4)], attrs: { axis: a.int(-1), keepdims: a.int(0) } }, [[2, 3]]),
  // normalization, misc
  r({ op: 'BatchNormalization', inputs: [I(1, 64, 56, 56), I(64), I(64), I(64), I(64)] }, [[1, 64, 56, 56]]),
  r({ op: 'LayerNormalization', opset: 17, inputs: [I(2, 5, 8), I(8), I(8)], attrs: { axis: a.int(-1) }, outputs: 3 }, [[2, 5, 8], [2, 5, 1], [2, 5, 1]]),
  r({ op: 'Softmax', inputs: [I(2, 1000)] }, [[2, 1000]]),
  r({ op: 'TopK', inputs: [I(3, 10), ints([4])], outputs: 2 }, [[3, 4], [3, 4]]),
  r({ op: 'DepthToSpace', inputs: [I(1, 16, 3, 4)], attrs: { blocksize: a.int(2) } }, [[1, 4, 6, 8]]),
  r({ op: 'SpaceToDepth', inputs: [I(1, 4, 6, 8)], attrs: { blocksize: a.int(2) } }, [[1, 16, 3, 4]]),
  r({ op: 'ConstantOfShape', inputs: [ints([2, 3])] }, [[2, 3]]),
  r({ op: 'Range', inputs: [ints([1], []), ints([10], []), ints([3], [])] }, [[3]]),
  r({ op: 'Shape', inputs: [I(2, 3, 4)] }, [[3]]),
  r({ op: 'Shape', opset: 15, inputs: [I(2, 3, 4)], attrs: { start: a.int(1) } }, [[2]]),
  r({ op: 'Cast', inputs: [I(2, 3)], attrs: { to: a.int(7) } }, [[2, 3]]),
  r({ op: 'Dropout', inputs: [I(2, 3)], outputs: 2 }, [[2, 3], [2, 3]]),
  r({ op: 'NonMaxSuppression', inputs: [I(1, 6, 4), I(1, 1, 6)] }, [[undefined, 3]]),
  r({ op: 'OneHot', inputs: [ints([1, 2, 3], [3]), ints([5], []), floats([0, 1])] }, [[3, 5]]),
  r({ op: 'LSTM', inputs: [I(7, 2, 10), I(2, 32, 10), I(2, 32, 8)], attrs: { hidden_size: a.int(8), direction: a.string('bidirectional') }, outputs: 3 }, [[7, 2, 2, 8], [2, 2, 8], [2, 2, 8]]),
];

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
