import test from 'node:test';
import assert from 'node:assert/strict';
import { ModelBuilder } from '../../src/models/builder.ts';
import { attr, Node } from '../../src/ir/graph.ts';
import { Tensor } from '../../src/ir/tensor.ts';
import { foldBnPass } from '../../src/passes/fold-bn.ts';
import { makeContext } from '../../src/passes/pass.ts';
import type { RewriteAnnotations } from '../../src/reparam/graph-ops.ts';
import { assertSameOutputs, cloneViaOnnx, opCounts } from './helpers.ts';

const run = async (m: Parameters<typeof foldBnPass.run>[0]) => (await foldBnPass.run(m, makeContext())).annotations as RewriteAnnotations;

test('fold-bn: Conv->BN with groups and bias folds exactly', async () => {
  const b = new ModelBuilder({ seed: 1 });
  const x = b.input('x', [1, 8, 10, 10]);
  const y = b.batchNorm(b.conv(x, { outChannels: 12, kernel: 3, pads: 1, group: 4, bias: true }));
  b.output(b.relu(b.batchNorm(b.conv(y, { outChannels: 6, kernel: 1, stride: 2 }))));
  const m = b.build();
  const orig = cloneViaOnnx(m);
  const a = await run(m);
  assert.equal(a.applied, 2);
  assert.deepEqual(opCounts(m), { Conv: 2, Relu: 1 });
  await assertSameOutputs(orig, m);
});

test('fold-bn: ConvTranspose->BN scales dim 1 per group', async () => {
  const b = new ModelBuilder({ seed: 2 });
  const x = b.input('x', [1, 4, 6, 6]);
  const w = b.initializer('Wt', [4, 3, 3, 3], (r) => r.normal() * 0.3);
  const m0 = b.build();
  const g = m0.graph;
  g.addNode(new Node({ name: 'deconv', opType: 'ConvTranspose', inputs: [x, w], outputs: ['d'], attributes: [attr.int('group', 2), attr.ints('kernel_shape', [3, 3]), attr.ints('strides', [2, 2])] }));
  const bnParams = ['g', 'be', 'mu', 'va'].map((n, i) => {
    const v = Float32Array.from({ length: 6 }, (_, k) => [1 + 0.1 * k, 0.2 - 0.05 * k, 0.03 * k, 0.8 + 0.07 * k][i]);
    g.setInitializer(Tensor.float32(n, [6], v));
    return n;
  });
  g.addNode(new Node({ name: 'bn', opType: 'BatchNormalization', inputs: ['d', ...bnParams], outputs: ['y'], attributes: [attr.float('epsilon', 1e-3)] }));
  g.outputs = [{ name: 'y', type: { elemType: 1 } }];
  const orig = cloneViaOnnx(m0);
  const a = await run(m0);
  assert.equal(a.applied, 1, JSON.stringify(a));
  assert.deepEqual(opCounts(m0), { ConvTranspose: 1 });
  await assertSameOutputs(orig, m0);
});

test('fold-bn: BN->Conv folds with zero pads, refuses with pads and a shift', async () => {
  const b = new ModelBuilder({ seed: 3 });
  const x = b.input('x', [1, 4, 8, 8]);
  const p = b.relu(x);
  const y1 = b.conv(b.batchNorm(p), { outChannels: 4, kernel: 3, pads: 0, group: 2 });
  const y2 = b.conv(b.batchNorm(b.relu(y1)), { outChannels: 4, kernel: 3, pads: 1 });
  b.output(y2);
  const m = b.build();
  const orig = cloneViaOnnx(m);
  const a = await run(m);
  assert.equal(a.applied, 1);
  assert.ok(a.rewrites.some((r) => r.status === 'refused' && /zero-pads and BN .* non-zero shift/.test(r.detail)), JSON.stringify(a.rewrites));
  assert.equal(opCounts(m).BatchNormalization, 1);
  await assertSameOutputs(orig, m);
});

test('fold-bn: Gemm->BN and MatMul+Add->BN fold exactly', async () => {
  const b = new ModelBuilder({ seed: 4 });
  const x = b.input('x', [2, 6]);
  const y = b.batchNorm(b.gemm(x, 5));
  const wm = b.initializer('Wm', [5, 3], (r) => r.normal());
  const bm = b.initializer('bm', [3], (r) => r.normal());
  const m = b.build();
  const g = m.graph;
  g.addNode(new Node({ name: 'mm', opType: 'MatMul', inputs: [y, wm], outputs: ['mmo'] }));
  g.addNode(new Node({ name: 'mma', opType: 'Add', inputs: ['mmo', bm], outputs: ['mmb'] }));
  ['g2', 'b2', 'm2', 'v2'].forEach((n, i) => g.setInitializer(Tensor.float32(n, [3], Float32Array.from([1.1, 0.9, 1.2].map((v) => v * (i === 0 ? 1 : i === 3 ? 0.8 : 0.1))))));
  g.addNode(new Node({ name: 'bn2', opType: 'BatchNormalization', inputs: ['mmb', 'g2', 'b2', 'm2', 'v2'], outputs: ['out'] }));
  g.outputs = [{ name: 'out', type: { elemType: 1, shape: [2, 3] } }];
  const orig = cloneViaOnnx(m);
  const a = await run(m);
  assert.equal(a.applied, 2, JSON.stringify(a.rewrites));
  assert.deepEqual(opCounts(m), { Gemm: 1, MatMul: 1, Add: 1 });
  await assertSameOutputs(orig, m);
});

test('fold-bn: refuses training-mode BN and convs with several readers, leaving them', async () => {
  const b = new ModelBuilder({ seed: 5 });
  const x = b.input('x', [1, 4, 6, 6]);
  const c = b.conv(x, { outChannels: 4, kernel: 3, pads: 1 });
  const bn1 = b.batchNorm(c);
  const c2 = b.conv(x, { outChannels: 4, kernel: 1, name: 'c2' });
  const bn2 = b.batchNorm(c2, { name: 'bn_train' });
  b.output(b.add(b.add(bn1, c), bn2));
  const m = b.build();
  m.graph.nodes.find((n) => n.name === 'bn_train')!.setAttr(attr.int('training_mode', 1));
  m.opsetImports = [{ domain: '', version: 15 }];
  const before = m.graph.nodes.length;
  const a = await run(m);
  assert.equal(a.applied, 0);
  assert.equal(m.graph.nodes.length, before);
  assert.ok(a.rewrites.some((r) => r.status === 'refused' && /2 consumers/.test(r.detail)));
  assert.ok(a.rewrites.some((r) => r.status === 'refused' && /training mode/.test(r.detail) && r.nodes.includes('bn_train')));
});
