import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ModelBuilder } from '../../src/models/builder.ts';
import { attr } from '../../src/ir/graph.ts';
import { collapseBranches } from '../../src/passes/collapse-branches.ts';
import { assertSameOutputs, cloneViaOnnx, opCounts, repvggBlock } from './helpers.ts';

type Kind = 'kxk' | 'one' | 'h' | 'v' | 'identity' | 'avg' | 'seq' | 'seq2';
interface Block {
  seed: number; C: number; M: number; group: number; stride: number; H: number; W: number; k: number;
  kinds: Kind[]; bn: boolean; bias: boolean; useSum: boolean;
}

/** Builds a multi-branch block summing the given branch kinds (all exactly mergeable). */
function buildBlock(p: Block) {
  const b = new ModelBuilder({ seed: p.seed });
  const x = b.input('x', [1, p.C, p.H, p.W]);
  const half = p.k >> 1;
  const maybeBn = (v: string) => (p.bn ? b.batchNorm(v) : v);
  const outs = p.kinds.map((kind) => {
    const base = { outChannels: p.M, stride: p.stride, group: p.group, bias: p.bias };
    switch (kind) {
      case 'kxk': return maybeBn(b.conv(x, { ...base, kernel: p.k, pads: half }));
      case 'one': return maybeBn(b.conv(x, { ...base, kernel: 1 }));
      case 'h': return maybeBn(b.conv(x, { ...base, kernel: [1, p.k], pads: [0, half, 0, half] }));
      case 'v': return maybeBn(b.conv(x, { ...base, kernel: [p.k, 1], pads: [half, 0, half, 0] }));
      case 'identity': return maybeBn(x);
      case 'avg': {
        const pre = b.batchNorm(b.conv(x, { outChannels: p.M, kernel: 1, group: p.group, bias: p.bias }));
        return maybeBn(b.averagePool(b.pad(pre, [1, 1, 1, 1]), { kernel: 3, stride: p.stride }));
      }
      case 'seq2': {
        // KxK -> BN -> 1x1 (the 1x1 acts channel-wise on the KxK output: always exact).
        const pre = b.batchNorm(b.conv(x, { ...base, kernel: p.k, pads: half }));
        return maybeBn(b.conv(pre, { outChannels: p.M, kernel: 1, group: p.group, bias: p.bias }));
      }
      case 'seq': {
        const pre = b.batchNorm(b.conv(x, { outChannels: p.C, kernel: 1, group: p.group, bias: p.bias }));
        return maybeBn(b.conv(pre, { ...base, kernel: p.k, pads: half }));
      }
    }
  });
  let y: string;
  if (p.useSum) y = b.sum(outs);
  else { y = outs[0]; for (const o of outs.slice(1)) y = b.add(y, o); }
  b.output(y);
  return b.build();
}

const blockArb = fc.record({
  seed: fc.integer({ min: 0, max: 1 << 20 }),
  C: fc.constantFrom(4, 8),
  mMul: fc.constantFrom(1, 2),
  groupSel: fc.constantFrom('dense', 'grouped', 'depthwise'),
  stride: fc.constantFrom(1, 1, 2),
  H: fc.integer({ min: 5, max: 9 }),
  W: fc.integer({ min: 5, max: 9 }),
  k: fc.constantFrom(3, 3, 5),
  kinds: fc.uniqueArray(fc.constantFrom<Kind>('h', 'v', 'identity', 'avg', 'seq', 'seq2', 'kxk'), { minLength: 1, maxLength: 5 }),
  bn: fc.boolean(),
  bias: fc.boolean(),
  useSum: fc.boolean(),
}).map((r): Block => {
  const M = r.C * r.mMul;
  const group = r.groupSel === 'dense' ? 1 : r.groupSel === 'grouped' ? 2 : r.C;
  const kinds = r.kinds.filter((k) => k !== 'identity' || (M === r.C && r.stride === 1));
  if (!kinds.includes('kxk')) kinds.unshift('kxk');
  if (kinds.length < 2) kinds.push('one');
  return { seed: r.seed, C: r.C, M, group, stride: r.stride, H: r.H, W: r.W, k: r.k, kinds, bn: r.bn, bias: r.bias, useSum: r.useSum };
});

test('collapse: generated multi-branch blocks collapse to one conv with the same outputs (property)', async () => {
  await fc.assert(fc.asyncProperty(blockArb, async (p) => {
    const m = buildBlock(p);
    const orig = cloneViaOnnx(m);
    const a = collapseBranches(m, { allowGrowth: true });
    assert.equal(a.applied, 1, `${JSON.stringify(p)}: ${JSON.stringify(a.rewrites)}`);
    const ops = opCounts(m);
    assert.equal(ops.Conv, 1, JSON.stringify(ops));
    // Only a border-correction Add may remain (sequential / avgpool branches meeting zero pads).
    assert.equal(m.graph.nodes.length, 1 + (ops.Add ?? 0));
    await assertSameOutputs(orig, m);
  }), { numRuns: 40, seed: 42 });
});

test('collapse: RepVGG block (3x3+BN, 1x1+BN, identity BN) -> one 3x3 conv', async () => {
  const m = repvggBlock();
  const orig = cloneViaOnnx(m);
  const a = collapseBranches(m);
  assert.equal(a.applied, 1);
  assert.deepEqual(opCounts(m), { Conv: 1, Relu: 1 });
  const w = m.graph.initializers.get(m.graph.nodes[0].inputs[1])!;
  assert.deepEqual(w.dims, [8, 8, 3, 3]);
  await assertSameOutputs(orig, m);
});

test('collapse: border correction can be turned off (DBB sequential branch then refused)', async () => {
  const p: Block = { seed: 3, C: 4, M: 4, group: 1, stride: 1, H: 7, W: 7, k: 3, kinds: ['kxk', 'seq'], bn: true, bias: true, useSum: false };
  const m = buildBlock(p);
  const orig = cloneViaOnnx(m);
  const a = collapseBranches(m, { borderCorrection: false });
  assert.equal(a.applied, 0);
  assert.ok(a.rewrites.some((r) => r.status === 'refused' && /border-correction/.test(r.detail)), JSON.stringify(a.rewrites));
  await assertSameOutputs(orig, m);
});

test('collapse: refuses what it must (strides, groups, count_include_pad, reflect pads, nonlinearity, shared outputs)', async () => {
  const cases: [string, (b: ModelBuilder, x: string) => string, RegExp][] = [
    ['mismatched strides', (b, x) => b.add(b.conv(x, { outChannels: 4, kernel: 3, pads: 0 }), b.conv(x, { outChannels: 4, kernel: 1, stride: 2 })), /mismatched strides/],
    ['dense 1x1 beside depthwise 3x3', (b, x) => b.add(b.conv(x, { outChannels: 4, kernel: 3, pads: 1, group: 4 }), b.conv(x, { outChannels: 4, kernel: 1 })), /mismatched groups/],
    ['count_include_pad=0', (b, x) => b.add(b.conv(x, { outChannels: 4, kernel: 3, pads: 1 }), b.averagePool(x, { kernel: 3, pads: 1 })), /count_include_pad=0/],
    ['nonlinearity', (b, x) => b.add(b.conv(x, { outChannels: 4, kernel: 3, pads: 1 }), b.conv(b.relu(b.conv(x, { outChannels: 4, kernel: 1 })), { outChannels: 4, kernel: 1 })), /Relu .* is not linear/],
    ['branch output used elsewhere', (b, x) => { const c = b.batchNorm(b.conv(x, { outChannels: 4, kernel: 1 })); return b.mul(b.add(b.conv(x, { outChannels: 4, kernel: 3, pads: 1 }), b.conv(c, { outChannels: 4, kernel: 1 })), c); }, /also read by/],
  ];
  for (const [name, make, re] of cases) {
    const b = new ModelBuilder({ seed: 11 });
    const x = b.input('x', [1, 4, 5, 5]);
    b.output(make(b, x));
    const m = b.build();
    const orig = cloneViaOnnx(m);
    const n = m.graph.nodes.length;
    const a = collapseBranches(m);
    assert.equal(a.applied, 0, `${name}: ${JSON.stringify(a.rewrites)}`);
    assert.equal(m.graph.nodes.length, n, name);
    assert.ok(a.rewrites.some((r) => r.status === 'refused' && re.test(r.detail)), `${name}: ${JSON.stringify(a.rewrites)}`);
    await assertSameOutputs(orig, m);
  }
});

test('collapse: reflect-mode Pad in a branch is refused', async () => {
  const b = new ModelBuilder({ seed: 12 });
  const x = b.input('x', [1, 4, 6, 6]);
  const pd = b.pad(x, [1, 1, 1, 1]);
  const y = b.add(b.conv(x, { outChannels: 4, kernel: 3, pads: 1 }), b.conv(pd, { outChannels: 4, kernel: 3 }));
  b.output(y);
  const m = b.build();
  m.graph.producer(pd)!.setAttr(attr.string('mode', 'reflect'));
  const orig = cloneViaOnnx(m);
  const a = collapseBranches(m);
  assert.equal(a.applied, 0);
  assert.ok(a.rewrites.some((r) => /mode 'reflect'/.test(r.detail)), JSON.stringify(a.rewrites));
  await assertSameOutputs(orig, m);
});

test('collapse: with densifying allowed, dense 1x1 + depthwise 3x3 merge into a dense conv (never depthwise)', async () => {
  const b = new ModelBuilder({ seed: 13 });
  const x = b.input('x', [1, 4, 6, 6]);
  b.output(b.add(b.conv(x, { outChannels: 4, kernel: 3, pads: 1, group: 4 }), b.conv(x, { outChannels: 4, kernel: 1 })));
  const m = b.build();
  const orig = cloneViaOnnx(m);
  const a = collapseBranches(m, { allowGrowth: true });
  assert.equal(a.applied, 1);
  assert.equal(m.graph.nodes[0].attrInt('group'), 1);
  await assertSameOutputs(orig, m);
});

test('collapse: only the mergeable branches of a sum merge; the rest stay summed', async () => {
  const b = new ModelBuilder({ seed: 14 });
  const x = b.input('x', [1, 4, 6, 6]);
  const other = b.relu(b.conv(x, { outChannels: 4, kernel: 1 }));
  b.output(b.sum([b.batchNorm(b.conv(x, { outChannels: 4, kernel: 3, pads: 1 })), other, b.batchNorm(b.conv(x, { outChannels: 4, kernel: 1 }))]));
  const m = b.build();
  const orig = cloneViaOnnx(m);
  const a = collapseBranches(m);
  assert.equal(a.applied, 1);
  assert.deepEqual(opCounts(m), { Conv: 2, Relu: 1, Add: 1 });
  await assertSameOutputs(orig, m);
});

test('collapse: two-branch blocks merge exactly when allowed and are refused otherwise (property)', async () => {
  await fc.assert(fc.asyncProperty(
    fc.record({ seed: fc.integer({ min: 0, max: 1 << 20 }), gA: fc.constantFrom(1, 2, 4), gB: fc.constantFrom(1, 2, 4), sameStride: fc.boolean(), bn: fc.boolean() }),
    async (p) => {
      const b = new ModelBuilder({ seed: p.seed });
      const x = b.input('x', [1, 4, 9, 9]);
      const bn = (v: string) => (p.bn ? b.batchNorm(v) : v);
      // Same stride: 3x3 'same' + 1x1 (both 9x9). Mismatch: 5x5 valid stride 1 + 1x1 stride 2 (both 5x5).
      const A = p.sameStride ? b.conv(x, { outChannels: 4, kernel: 3, pads: 1, group: p.gA }) : b.conv(x, { outChannels: 4, kernel: 5, group: p.gA });
      const B = p.sameStride ? b.conv(x, { outChannels: 4, kernel: 1, group: p.gB }) : b.conv(x, { outChannels: 4, kernel: 1, stride: 2, group: p.gB });
      b.output(b.add(bn(A), bn(B)));
      const m = b.build();
      const orig = cloneViaOnnx(m);
      const a = collapseBranches(m);
      const kA = p.sameStride ? 3 : 5;
      const G = Math.min(p.gA, p.gB);
      const grows = 4 * (4 / G) * kA * kA > 4 * (4 / p.gA) * kA * kA + 4 * (4 / p.gB);
      const mergeable = p.sameStride && !grows;
      assert.equal(a.applied, mergeable ? 1 : 0, JSON.stringify(a.rewrites));
      if (!mergeable) assert.match(a.rewrites.find((r) => r.status === 'refused')?.detail ?? '', p.sameStride ? /mismatched groups/ : /mismatched strides/);
      else assert.equal(m.graph.nodes[0].attrInt('group'), G);
      await assertSameOutputs(orig, m);
    }), { numRuns: 30, seed: 17 });
});
