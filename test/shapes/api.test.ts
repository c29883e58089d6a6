/**
 * The shape-inference API: caching, overrides, value_info, unknown ops, staticShape's errors,
 * symbolic dims through shape arithmetic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, Model, Node, attr } from '../../src/ir/graph.ts';
import { Tensor } from '../../src/ir/tensor.ts';
import { DataType } from '../../src/ir/dtype.ts';
import { analyzeShapes, inferShapes, parseShapeOverrides, staticShape } from '../../src/analysis/shapes.ts';
import { DnnfuseError } from '../../src/errors.ts';

const F = DataType.FLOAT;

/** x[N,3,8,8] -> Conv(4) -> Foo (custom op) -> Relu -> y; plus a shufflenet-style reshape. */
function model(opts: { declareFoo?: boolean } = {}): Model {
  const w = Tensor.float32('w', [4, 3, 3, 3], new Float32Array(108));
  const nodes = [
    new Node({ name: 'conv', opType: 'Conv', inputs: ['x', 'w'], outputs: ['c'], attributes: [attr.ints('pads', [1, 1, 1, 1])] }),
    new Node({ name: 'foo', opType: 'Foo', domain: 'custom.ops', inputs: ['c'], outputs: ['f'] }),
    new Node({ name: 'relu', opType: 'Relu', inputs: ['f'], outputs: ['y'] }),
    // channel shuffle: Shape -> Gather(0) -> Unsqueeze -> Concat([n, 2, 2, -1]) -> Reshape
    new Node({ name: 'shape', opType: 'Shape', inputs: ['c'], outputs: ['s'] }),
    new Node({ name: 'gather', opType: 'Gather', inputs: ['s', 'zero'], outputs: ['n'] }),
    new Node({ name: 'unsq', opType: 'Unsqueeze', inputs: ['n', 'axes0'], outputs: ['n1'] }),
    new Node({ name: 'cat', opType: 'Concat', inputs: ['n1', 'two_two_m1'], outputs: ['target'], attributes: [attr.int('axis', 0)] }),
    new Node({ name: 'reshape', opType: 'Reshape', inputs: ['c', 'target'], outputs: ['r'] }),
  ];
  const graph = new Graph({
    name: 'g',
    nodes,
    inputs: [{ name: 'x', type: { elemType: F, shape: ['N', 3, 8, 8] } }],
    outputs: [{ name: 'y', type: { elemType: F } }, { name: 'r', type: { elemType: F } }],
    initializers: [w, Tensor.int64('zero', [], [0]), Tensor.int64('axes0', [1], [0]), Tensor.int64('two_two_m1', [3], [2, 2, -1])],
    valueInfo: opts.declareFoo ? [{ name: 'f', type: { elemType: F, shape: ['N', 4, 8, 8] } }] : [],
  });
  return new Model({ graph, opsetImports: [{ domain: '', version: 13 }, { domain: 'custom.ops', version: 1 }] });
}

test('symbolic batch flows through Conv and shape arithmetic; -1 resolves by cancelling the symbol', () => {
  const m = model();
  const t = inferShapes(m);
  assert.deepEqual(t.get('c')?.shape, ['N', 4, 8, 8]);
  assert.deepEqual(analyzeShapes(m).values.get('target')?.data, ['N', 2, 2, -1]);
  assert.deepEqual(t.get('r')?.shape, ['N', 2, 2, 64]);
  assert.equal(t.get('s')?.elemType, DataType.INT64);
});

test('staticShape: dynamic dims name the value, its producer and suggest --shape', () => {
  const m = model();
  inferShapes(m);
  assert.throws(() => staticShape(m.graph, 'c'), (e: unknown) => {
    assert.ok(e instanceof DnnfuseError);
    assert.equal(e.exitCode, 2);
    assert.ok(!e.message.includes('\n'));
    assert.match(e.message, /value 'c' \(output of node 'conv' \(Conv\)\) is not static \[N,4,8,8\]/);
    assert.match(e.message, /graph input 'x' has dynamic dims/);
    assert.match(e.message, /--shape x=1x3x8x8/);
    return true;
  });
  assert.throws(() => staticShape(m.graph, 'nope'), /no value named 'nope'/);
  // the example fills unknown dims: 224 for an image's spatial dims, 1 elsewhere (a state's)
  for (const [dims, eg] of [[['N', 3, 'H', 'W'], '1x3x224x224'], [[2, 'B', 128], '2x1x128']] as const) {
    const g = new Graph({ name: 'g', nodes: [new Node({ name: 'relu', opType: 'Relu', inputs: ['x'], outputs: ['y'] })], inputs: [{ name: 'x', type: { elemType: F, shape: [...dims] } }], outputs: [{ name: 'y', type: { elemType: F } }] });
    const mm = new Model({ graph: g, opsetImports: [{ domain: '', version: 13 }] });
    inferShapes(mm);
    assert.throws(() => staticShape(mm, 'y'), new RegExp(`e\\.g\\. --shape x=${eg}\\)`));
  }
});

test('overrides: concrete dims everywhere; cached per override set; validated', () => {
  const m = model({ declareFoo: true });
  const a = inferShapes(m, { overrides: { x: [2, 3, 8, 8] } });
  assert.equal(inferShapes(m, { overrides: { x: [2, 3, 8, 8] } }), a, 'same override set: cached');
  assert.deepEqual(staticShape(m.graph, 'r'), [2, 2, 2, 64]);
  assert.deepEqual(staticShape(m, 'c'), [2, 4, 8, 8]);
  const b = inferShapes(m, { overrides: { x: [5, 3, 8, 8] } });
  assert.notEqual(a, b);
  assert.deepEqual(b.get('r')?.shape, [5, 2, 2, 64]);
  assert.throws(() => inferShapes(m, { overrides: { image: [1, 3, 8, 8] } }), /no graph input 'image' \(inputs: x\)/);
  assert.throws(() => inferShapes(m, { overrides: { x: [1, 3, 8] } }), /input 'x' has rank 4/);
  m.graph.invalidate();
  assert.notEqual(inferShapes(m, { overrides: { x: [5, 3, 8, 8] } }), b, 'mutation drops the cache');
});

test('unknown ops: declared value_info is used; otherwise the error names the node and op', () => {
  const declared = model({ declareFoo: true });
  const t = inferShapes(declared);
  assert.deepEqual(t.get('y')?.shape, ['N', 4, 8, 8]);
  assert.equal(analyzeShapes(declared).unsupported[0].name, 'foo');

  const m = model();
  const u = inferShapes(m, { overrides: { x: [1, 3, 8, 8] } });
  assert.equal(u.get('f'), undefined);
  assert.equal(u.get('y')?.shape, undefined, 'unknown propagates, never guessed');
  assert.equal(u.get('y')?.elemType, F, 'dtype from the output declaration');
  assert.deepEqual(u.get('r')?.shape, [1, 2, 2, 64], 'other branches unaffected');
  assert.throws(() => staticShape(m.graph, 'y'), /value 'y' \(output of node 'relu' \(Relu\)\) is unknown: node 'foo' \(custom\.ops\.Foo\) has no shape rule/);
});

test('value_info written by inference is never mistaken for a declaration', () => {
  const m = model();
  inferShapes(m, { overrides: { x: [1, 3, 8, 8] } });
  assert.deepEqual(m.graph.valueInfo.get('c')?.type?.shape, [1, 4, 8, 8], 'results recorded in value_info');
  assert.equal(m.graph.valueInfo.has('y'), false, 'graph outputs keep their own declaration');
  m.graph.invalidate();
  // A later run with other dims must not reuse the recorded [1,4,8,8] anywhere.
  const t = inferShapes(m, { overrides: { x: [3, 3, 8, 8] } });
  assert.deepEqual(t.get('c')?.shape, [3, 4, 8, 8]);
  assert.equal(t.get('f'), undefined);
});

test('inconsistent models fail with one line naming the node', () => {
  const m = model();
  assert.throws(() => inferShapes(m, { overrides: { x: [1, 5, 8, 8] } }), (e: unknown) => e instanceof DnnfuseError && /node 'conv' \(Conv\): input has 5 channels but weights expect 3/.test(e.message));
});

test('parseShapeOverrides', () => {
  assert.deepEqual(parseShapeOverrides(['input=1x3x224x224', 'ids=4,128', 'a=b=2']), { input: [1, 3, 224, 224], ids: [4, 128], 'a=b': [2] });
  assert.throws(() => parseShapeOverrides(['input']), /--shape 'input'/);
  assert.throws(() => parseShapeOverrides(['input=1x-3']), /non-negative integer/);
});

test('graph outputs: open declarations are filled (not under overrides), declared dims kept', () => {
  const m = model();
  m.graph.outputs[1].type = { elemType: F, shape: [undefined, 2, undefined, 64] };
  inferShapes(m, { overrides: { x: [2, 3, 8, 8] } });
  assert.deepEqual(m.graph.outputs[1].type?.shape, [undefined, 2, undefined, 64], 'overrides leave the interface alone');
  inferShapes(m);
  assert.deepEqual(m.graph.outputs[1].type?.shape, ['N', 2, 2, 64]);
  assert.equal(m.graph.outputs[0].type?.shape, undefined, "'y' stays unknown (custom op)");
});

test('a bare graph never analysed is refused (its opset decides the rules), a Model works', () => {
  const m = model();
  assert.throws(() => staticShape(m.graph, 'c'), /before inferShapes\(model\) ran on it; pass the Model instead/);
  assert.deepEqual(staticShape(model(), 'w'), [4, 3, 3, 3]);
});
