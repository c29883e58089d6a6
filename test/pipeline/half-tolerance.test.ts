// A model that computes in float16 gets float16's tolerances in compile's onnxruntime check by
// default (analysis/compare.ts HALF_RTOL: onnxruntime's CPU rounds float16 values where the
// graph's structure says, so a rewrite that removes a reader of a float16 value moves the
// rounding); explicit tolerances win; a float32 model keeps Polygraphy's 1e-5.
import test from 'node:test';
import assert from 'node:assert/strict';
import { Graph, Model, Node, attr } from '../../src/ir/graph.ts';
import { DataType } from '../../src/ir/dtype.ts';
import { Tensor } from '../../src/ir/tensor.ts';
import * as api from '../../src/index.ts';
import { HALF_ATOL, HALF_RTOL, halfPrecisionReason } from '../../src/analysis/compare.ts';

const F = DataType.FLOAT, H = DataType.FLOAT16;

/** x -> [Cast to float16 -> Sigmoid -> Cast to float] (when `half`) -> Relu -> y, with a Shape to fold. */
function model(half: boolean): Model {
  const nodes = [
    ...(half
      ? [
          new Node({ name: 'to_half', opType: 'Cast', inputs: ['x'], outputs: ['a'], attributes: [attr.int('to', H)] }),
          new Node({ name: 'sig', opType: 'Sigmoid', inputs: ['a'], outputs: ['b'] }),
          new Node({ name: 'to_float', opType: 'Cast', inputs: ['b'], outputs: ['c'], attributes: [attr.int('to', F)] }),
        ]
      : [new Node({ name: 'sig', opType: 'Sigmoid', inputs: ['x'], outputs: ['c'] })]),
    new Node({ name: 'relu', opType: 'Relu', inputs: ['c'], outputs: ['r'] }),
    new Node({ name: 'shape', opType: 'Shape', inputs: ['x'], outputs: ['s'] }),
    new Node({ name: 'reshape', opType: 'Reshape', inputs: ['r', 's'], outputs: ['y'] }),
  ];
  const graph = new Graph({ name: 'm', nodes, inputs: [{ name: 'x', type: { elemType: F, shape: [1, 4, 8, 8] } }], outputs: [{ name: 'y', type: { elemType: F, shape: [1, 4, 8, 8] } }] });
  return new Model({ graph, opsetImports: [{ domain: '', version: 13 }] });
}

test('halfPrecisionReason: a Cast to float16, a float16 weight or input; none in a float32 model', () => {
  assert.equal(halfPrecisionReason(model(true)), "node 'to_half' casts to float16");
  assert.equal(halfPrecisionReason(model(false)), undefined);
  const m = model(false);
  m.graph.setInitializer(new Tensor('w16', H, [2], { kind: 'raw', bytes: new Uint8Array(4) }));
  assert.equal(halfPrecisionReason(m), "weight 'w16' is float16");
});

test('compile: float16 tolerances by default for a float16 model, said in the log and the schedule; explicit ones win; float32 keeps 1e-5', async () => {
  const run = async (half: boolean, tol?: number) => {
    const lines: string[] = [];
    const r = await api.compile(model(half), { pipeline: ['fold-constants'], rtol: tol, atol: tol, log: (l: string) => lines.push(l) });
    return { v: r.schedule.verification!, log: lines.join('\n') };
  };
  const a = await run(true);
  assert.equal(a.v.rtol, HALF_RTOL);
  assert.equal(a.v.atol, HALF_ATOL);
  assert.match(a.log, /computes in float16 \(node 'to_half' casts to float16\): default tolerances rtol 0\.001, atol 0\.001/);
  const b = await run(true, 1e-5);
  assert.equal(b.v.rtol, 1e-5);
  assert.doesNotMatch(b.log, /computes in float16/);
  const c = await run(false);
  assert.equal(c.v.rtol, 1e-5);
  assert.equal(c.v.atol, 1e-5);
});
