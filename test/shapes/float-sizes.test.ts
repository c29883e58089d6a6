/**
 * Sizes computed in floats from a static shape (torchvision's detection transform: Shape ->
 * Cast to float -> Reciprocal -> Mul -> Min -> Floor -> Cast to int64 -> Resize's sizes) are
 * folded by shape inference as onnxruntime computes them: float32 rounding after every op,
 * Reciprocal and Round (halves to even) folded. Before, Reciprocal was not folded, and every
 * node after it — RetinaNet's and Faster R-CNN's whole network — had "no static shape" under
 * `dnnfuse plan` (RetinaNet: 3 groups planned of 1,860 nodes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { inferShapes } from '../../src/analysis/shapes.ts';
import { randomFeeds, runModel } from '../../src/analysis/ort.ts';
import { encodeModel } from '../../src/onnx/io.ts';
import { Graph, Model, Node, type Attribute } from '../../src/ir/graph.ts';
import { Tensor } from '../../src/ir/tensor.ts';
import { DataType } from '../../src/ir/dtype.ts';

const int = (name: string, v: number): Attribute => ({ name, type: 'int', value: BigInt(v) });

/**
 * x [1, 1, h, 2] -> y = ConstantOfShape([n]) with n = Cast<int64>(ROUND(Mul(Reciprocal(h'), h' * k))),
 * h' = float(h): 1 under float32 arithmetic for h = 25, k = 1 (1/25 in float32 times 25 is
 * 0.99999997765 in float64, 1 in float32), 0 in float64. ROUND is Floor, or Round of (n + 0.5).
 */
function sizeModel(h: number, k: number, round: 'Floor' | 'Round'): Model {
  const c = (name: string, t: Tensor) => new Node({ name, opType: 'Constant', inputs: [], outputs: [name], attributes: [{ name: 'value', type: 'tensor', value: t }] });
  const n = (name: string, opType: string, inputs: string[], attributes: Attribute[] = []) => new Node({ name, opType, inputs, outputs: [name], attributes });
  const nodes = [
    n('shape', 'Shape', ['x']),
    c('two', Tensor.int64('two', [], [2])),
    n('h', 'Gather', ['shape', 'two'], [int('axis', 0)]),
    n('hf', 'Cast', ['h'], [int('to', DataType.FLOAT)]),
    n('inv', 'Reciprocal', ['hf']),
    c('k', Tensor.float32('k', [], Float32Array.of(k))),
    n('hk', 'Mul', ['hf', 'k']),
    n('prod', 'Mul', ['inv', 'hk']),
    c('half', Tensor.float32('half', [], Float32Array.of(0.5))),
    ...(round === 'Round' ? [n('shifted', 'Add', ['prod', 'half']), n('rounded', 'Round', ['shifted'])] : [n('rounded', 'Floor', ['prod'])]),
    n('count', 'Cast', ['rounded'], [int('to', DataType.INT64)]),
    c('zero', Tensor.int64('zero', [1], [0])),
    n('dims', 'Unsqueeze', ['count', 'zero']),
    new Node({ name: 'y', opType: 'ConstantOfShape', inputs: ['dims'], outputs: ['y'] }),
  ];
  const graph = new Graph({ name: 'g', nodes, inputs: [{ name: 'x', type: { elemType: DataType.FLOAT, shape: [1, 1, h, 2] } }], outputs: [{ name: 'y', type: { elemType: DataType.FLOAT } }] });
  return new Model({ graph, opsetImports: [{ domain: '', version: 17 }] });
}

test('sizes computed in float32 from a static shape: folded as onnxruntime computes them', async () => {
  const check = async (h: number, k: number, round: 'Floor' | 'Round') => {
    const model = sizeModel(h, k, round);
    const got = (await runModel(encodeModel(model), randomFeeds(model, 1))).y.dims;
    assert.deepEqual(inferShapes(model).get('y')?.shape, [...got], `h ${h}, k ${k}, ${round}`);
  };
  // The float32 / float64 disagreement: floor(0.99999997765) = 0, floor(float32 1) = 1.
  await check(25, 1, 'Floor');
  await check(41, 3, 'Floor');
  // Round halves to even: 1/2 * (2 * 2) + 0.5 = 2.5 -> 2 (JavaScript's Math.round gives 3);
  // 1/2 * (2 * 3) + 0.5 = 3.5 -> 4.
  await check(2, 2, 'Round');
  await check(2, 3, 'Round');
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 400 }), fc.integer({ min: 1, max: 7 }), fc.constantFrom('Floor' as const, 'Round' as const), check),
    { numRuns: 30, seed: 3 },
  );
});
