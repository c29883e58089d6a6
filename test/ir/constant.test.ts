import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, Node, attr } from '../../src/ir/graph.ts';
import { Tensor } from '../../src/ir/tensor.ts';
import { DataType } from '../../src/ir/dtype.ts';
import { constInts, constTensor } from '../../src/ir/constant.ts';

// Every place ONNX keeps a constant, read by one function (passes and the LBDF rules share it).
test('constTensor reads initializers (also those a graph input may override), every Constant attribute and Identity chains', () => {
  const g = new Graph({
    inputs: [{ name: 'x', type: { elemType: DataType.FLOAT, shape: [1] } }, { name: 'w', type: { elemType: DataType.INT64, shape: [2] } }],
    initializers: [Tensor.int64('k', [3], [1, -1, 2]), Tensor.int64('w', [2], [4, 5])],
    nodes: [
      new Node({ name: 'c1', opType: 'Constant', inputs: [], outputs: ['ci'], attributes: [attr.ints('value_ints', [7, 8])] }),
      new Node({ name: 'c2', opType: 'Constant', inputs: [], outputs: ['cf'], attributes: [attr.float('value_float', 0.5)] }),
      new Node({ name: 'c3', opType: 'Constant', inputs: [], outputs: ['ct'], attributes: [attr.tensor('value', Tensor.int64('t', [1], [-3]))] }),
      new Node({ name: 'c4', opType: 'Constant', inputs: [], outputs: ['cs'], attributes: [attr.string('value_string', 'a')] }),
      new Node({ name: 'i1', opType: 'Identity', inputs: ['k'], outputs: ['k1'] }),
      new Node({ name: 'i2', opType: 'Identity', inputs: ['k1'], outputs: ['k2'] }),
      new Node({ name: 'r', opType: 'Relu', inputs: ['x'], outputs: ['y'] }),
    ],
  });
  assert.deepEqual(constInts(g, 'k'), [1, -1, 2]);
  assert.deepEqual(constInts(g, 'k2'), [1, -1, 2]);
  assert.deepEqual(constInts(g, 'ci'), [7, 8]);
  assert.deepEqual(constInts(g, 'ct'), [-3]);
  assert.deepEqual(Array.from(constTensor(g, 'cf')!.toFloat32()), [0.5]);
  assert.equal(constTensor(g, 'cs'), undefined, 'a string constant has no tensor');
  assert.equal(constTensor(g, 'y'), undefined, 'a computed value is not constant');
  assert.equal(constTensor(g, 'x'), undefined);
  assert.equal(constTensor(g, undefined), undefined);
  assert.deepEqual(constInts(g, 'w'), [4, 5], 'an initializer declared as an input too: its default is read');
});
