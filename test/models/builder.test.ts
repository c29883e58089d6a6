import test from 'node:test';
import assert from 'node:assert/strict';
import { ModelBuilder } from '../../src/models/builder.ts';

test('builder tracks conv/pool shapes and makes weights of the right size', () => {
  const b = new ModelBuilder({ seed: 3 });
  const x = b.input('x', [1, 8, 16, 16]);
  const y = b.conv(x, { outChannels: 12, kernel: 3, stride: 2, pads: 1, group: 4, bias: true });
  assert.deepEqual(b.shape(y), [1, 12, 8, 8]);
  const p = b.averagePool(y, { kernel: 3, stride: 2, pads: 1, ceilMode: true });
  assert.deepEqual(b.shape(p), [1, 12, 5, 5]);
  b.output(b.relu(b.batchNorm(p)));
  const m = b.build();
  const conv = m.graph.nodes[0];
  assert.deepEqual(m.graph.initializers.get(conv.inputs[1])!.dims, [12, 2, 3, 3]);
  assert.equal(conv.attrInt('group'), 4);
  assert.equal(m.graph.topoOrder().length, 4);
});

test('builder is deterministic for a seed', () => {
  const make = (seed: number) => {
    const b = new ModelBuilder({ seed });
    b.output(b.conv(b.input('x', [1, 3, 8, 8]), { outChannels: 4 }));
    return [...b.build().graph.initializers.values()][0].toFloat32();
  };
  assert.deepEqual(make(5), make(5));
  assert.notDeepEqual(make(5), make(6));
});
