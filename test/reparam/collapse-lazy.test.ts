// collapse-branches reads a conv's weights only when a merge or composition uses them (issue 15,
// item 5): matching traces every branch of every sum, and in a residual network none merges.
import test from 'node:test';
import assert from 'node:assert/strict';
import { ModelBuilder } from '../../src/models/builder.ts';
import { Tensor } from '../../src/ir/tensor.ts';
import type { Model } from '../../src/ir/graph.ts';
import { collapseBranches } from '../../src/passes/collapse-branches.ts';
import { assertSameOutputs, cloneViaOnnx, repvggBlock } from './helpers.ts';

/** Counts toFloat32() reads per initializer name while `f` runs. */
function countReads(m: Model, f: () => void): Map<string, number> {
  const reads = new Map<string, number>();
  const orig = Tensor.prototype.toFloat32;
  Tensor.prototype.toFloat32 = function (this: Tensor) {
    if (m.graph.initializers.get(this.name) === this) reads.set(this.name, (reads.get(this.name) ?? 0) + 1);
    return orig.call(this);
  };
  try {
    f();
  } finally {
    Tensor.prototype.toFloat32 = orig;
  }
  return reads;
}

test('collapse: residual blocks (conv branch + identity from elsewhere) read no conv weight', () => {
  const b = new ModelBuilder({ seed: 3 });
  let x = b.input('x', [1, 8, 10, 10]);
  for (let k = 0; k < 3; k++) {
    const h = b.conv(b.relu(b.conv(x, { outChannels: 8, kernel: 3, pads: 1 })), { outChannels: 8, kernel: 3, pads: 1 }); // ends at the Add, as after fold-bn
    x = b.relu(b.add(h, x));
  }
  b.output(x);
  const m = b.build();
  const convWeights = m.graph.nodes.filter((n) => n.opType === 'Conv').map((n) => n.inputs[1]);
  let a!: ReturnType<typeof collapseBranches>;
  const reads = countReads(m, () => (a = collapseBranches(m)));
  assert.equal(a.applied, 0);
  assert.deepEqual(convWeights.filter((w) => reads.has(w)), [], 'conv weights read although nothing merges');
});

test('collapse: a merge still reads the weights it merges, with the same result', async () => {
  const m = repvggBlock();
  const orig = cloneViaOnnx(m);
  const convWeights = m.graph.nodes.filter((n) => n.opType === 'Conv').map((n) => n.inputs[1]);
  let a!: ReturnType<typeof collapseBranches>;
  const reads = countReads(m, () => (a = collapseBranches(m)));
  assert.equal(a.applied, 1);
  for (const w of convWeights) assert.ok(reads.has(w), `'${w}' was merged without being read`);
  await assertSameOutputs(orig, m);
});
