import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ModelBuilder } from '../../src/models/builder.ts';
import { expandBranches } from '../../src/reparam/expand.ts';
import { collapseBranches } from '../../src/passes/collapse-branches.ts';
import { foldBnPass } from '../../src/passes/fold-bn.ts';
import { makeContext } from '../../src/passes/pass.ts';
import { maxAbsDiff } from '../../src/reparam/kernel.ts';
import { assertSameOutputs, cloneViaOnnx, opCounts } from './helpers.ts';

const convWeights = (m: ReturnType<ModelBuilder['build']>) =>
  m.graph.nodes.filter((n) => n.opType === 'Conv').map((n) => ({ w: m.graph.initializers.get(n.inputs[1])!.toFloat32(), b: n.inputs[2] ? m.graph.initializers.get(n.inputs[2])!.toFloat32() : undefined }));

test('expand -> collapse round trip gives back the conv (property over forms, modes, groups, strides)', async () => {
  await fc.assert(fc.asyncProperty(
    fc.record({
      seed: fc.integer({ min: 0, max: 1 << 20 }),
      form: fc.constantFrom('repvgg' as const, 'acnet' as const, 'dbb' as const),
      mode: fc.constantFrom('subtract' as const, 'zero-gamma' as const),
      C: fc.constantFrom(4, 8), mMul: fc.constantFrom(1, 2), grouped: fc.boolean(),
      stride: fc.constantFrom(1, 2), k: fc.constantFrom(3, 5), bias: fc.boolean(),
    }),
    async (p) => {
      const b = new ModelBuilder({ seed: p.seed });
      const x = b.input('x', [1, p.C, 9, 8]);
      b.output(b.conv(x, { outChannels: p.C * p.mMul, kernel: p.k, pads: p.k >> 1, stride: p.stride, group: p.grouped ? 2 : 1, bias: p.bias }));
      const m = b.build();
      const orig = cloneViaOnnx(m);
      const before = convWeights(orig)[0];
      const e = expandBranches(m, { form: p.form, mode: p.mode }, p.seed);
      assert.equal(e.applied, 1, JSON.stringify(e.rewrites));
      assert.ok(m.graph.nodes.length >= 3);
      await assertSameOutputs(orig, m); // same function at insertion
      if (p.mode === 'zero-gamma') await foldBnPass.run(m, makeContext());
      const c = collapseBranches(m);
      assert.equal(c.applied, 1, JSON.stringify(c.rewrites));
      assert.deepEqual(opCounts(m), { Conv: 1 });
      const after = convWeights(m)[0];
      assert.ok(maxAbsDiff(after.w, before.w) < 1e-5, `weights moved by ${maxAbsDiff(after.w, before.w)}`);
      assert.ok(maxAbsDiff(after.b!, before.b ?? new Float32Array(after.b!.length)) < 1e-5);
      await assertSameOutputs(orig, m);
    }), { numRuns: 25, seed: 3 });
});

test('expand refuses 1x1 / even kernels and pads too small for a centered 1x1', () => {
  const b = new ModelBuilder({ seed: 1 });
  const x = b.input('x', [1, 4, 8, 8]);
  const y = b.conv(x, { outChannels: 4, kernel: 2, name: 'even' });
  b.output(b.conv(y, { outChannels: 4, kernel: 3, pads: 0, name: 'valid' }));
  const m = b.build();
  const a = expandBranches(m, { form: 'repvgg' });
  assert.equal(a.applied, 0);
  assert.ok(a.rewrites.some((r) => r.nodes[0] === 'even' && /square odd kernel/.test(r.detail)));
  assert.ok(a.rewrites.some((r) => r.nodes[0] === 'valid' && /no centered 1x1/.test(r.detail)));
  assert.throws(() => expandBranches(m, { nodes: ['nope'] }), /no Conv node named 'nope'/);
});

test('expand is deterministic for a seed', () => {
  const make = (seed: number) => {
    const b = new ModelBuilder({ seed: 2 });
    b.output(b.conv(b.input('x', [1, 4, 6, 6]), { outChannels: 4, kernel: 3, pads: 1 }));
    const m = b.build();
    expandBranches(m, { form: 'dbb' }, seed);
    return [...m.graph.initializers.values()].map((t) => Array.from(t.toFloat32()).join()).join('|');
  };
  assert.equal(make(7), make(7));
  assert.notEqual(make(7), make(8));
});
