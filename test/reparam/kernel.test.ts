import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  affineSpec, avgPoolSpec, bnScaleShift, compose, convRef, identitySpec, makeSpec, maxAbsDiff, mergeParallel, padKernel,
  planMerge, regroup, ReparamError, scaleOutput, type ConvSpec, type Pads,
} from '../../src/reparam/kernel.ts';
import { Rng } from '../../src/util/random.ts';

function randomSpec(rng: Rng, o: { M: number; C: number; group: number; kh: number; kw: number; stride?: number; dil?: number; pads: Pads; bias?: boolean }): ConvSpec {
  const n = o.M * (o.C / o.group) * o.kh * o.kw;
  return makeSpec({
    M: o.M, C: o.C, group: o.group, kh: o.kh, kw: o.kw,
    W: Float64Array.from({ length: n }, () => rng.normal()),
    b: o.bias === false ? undefined : Float64Array.from({ length: o.M }, () => rng.normal()),
    stride: [o.stride ?? 1, o.stride ?? 1], dilation: [o.dil ?? 1, o.dil ?? 1], pads: o.pads,
  });
}

const randomImage = (rng: Rng, n: number) => Float64Array.from({ length: n }, () => rng.normal());
const same = (k: number, d = 1): Pads => { const p = (d * (k - 1)) >> 1; return [p, p, p, p]; };

test('padKernel centers a 1x1 in a 3x3 and a 1x3 in the middle row', () => {
  assert.deepEqual(Array.from(padKernel([5], 1, 1, 1, 3, 3, [1, 1])), [0, 0, 0, 0, 5, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(padKernel([1, 2, 3], 1, 1, 3, 3, 3, [1, 0])), [0, 0, 0, 1, 2, 3, 0, 0, 0]);
});

test('identity and affine specs act as identity / per-channel affine', () => {
  const rng = new Rng(1);
  const x = randomImage(rng, 3 * 4 * 5);
  assert.ok(maxAbsDiff(convRef(identitySpec(3), x, 4, 5).data, x) === 0);
  const y = convRef(affineSpec([2, 3, 4], [1, 0, -1]), x, 4, 5).data;
  assert.ok(Math.abs(y[0] - (2 * x[0] + 1)) < 1e-12 && Math.abs(y[20 * 2] - (4 * x[40] - 1)) < 1e-12);
});

test('regroup keeps the function (depthwise -> grouped -> dense)', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 1e6 }), fc.constantFrom(1, 2, 4), (seed, mult) => {
    const rng = new Rng(seed);
    const C = 4, M = 4 * mult;
    const s = randomSpec(rng, { M, C, group: 4, kh: 3, kw: 3, pads: same(3) });
    const x = randomImage(rng, C * 5 * 5);
    const ref = convRef(s, x, 5, 5).data;
    for (const G of [2, 1]) assert.ok(maxAbsDiff(convRef(regroup(s, G), x, 5, 5).data, ref) < 1e-9);
  }), { numRuns: 20, seed: 11 });
});

test('BN scale/shift after a conv equals conv then BN', () => {
  const rng = new Rng(2);
  const s = randomSpec(rng, { M: 4, C: 2, group: 2, kh: 3, kw: 3, pads: same(3) });
  const { s: sc, t } = bnScaleShift([1.2, 0.8, 1, 0.9], [0.1, -0.2, 0, 0.3], [0.05, 0, -0.1, 0.2], [1, 0.9, 1.1, 0.8], 1e-5);
  const x = randomImage(rng, 2 * 6 * 6);
  const y = convRef(s, x, 6, 6).data;
  const folded = convRef(scaleOutput(s, sc, t), x, 6, 6).data;
  const expect = y.map((v, i) => sc[Math.floor(i / 36)] * v + t[Math.floor(i / 36)]);
  assert.ok(maxAbsDiff(folded, expect) < 1e-9);
});

test('compose(A, B) computes B after A, with exact border correction (property)', () => {
  fc.assert(fc.property(
    fc.record({
      seed: fc.integer({ min: 0, max: 1e6 }),
      C: fc.constantFrom(2, 4), mid: fc.constantFrom(2, 4), M: fc.constantFrom(2, 4),
      k: fc.constantFrom(1, 3, 5), stride: fc.constantFrom(1, 2), firstPointwise: fc.boolean(),
      groups: fc.constantFrom(1, 2), padMode: fc.constantFrom('same', 'zero', 'asym'),
      h: fc.integer({ min: 5, max: 8 }), w: fc.integer({ min: 5, max: 8 }),
    }),
    (r) => {
      const rng = new Rng(r.seed);
      const pads: Pads = r.padMode === 'same' ? same(r.k) : r.padMode === 'zero' ? [0, 0, 0, 0] : [r.k >> 1, 0, 0, r.k >> 1];
      const A = r.firstPointwise
        ? randomSpec(rng, { M: r.mid, C: r.C, group: r.groups, kh: 1, kw: 1, pads: [0, 0, 0, 0] })
        : randomSpec(rng, { M: r.mid, C: r.C, group: r.groups, kh: r.k, kw: r.k, stride: r.stride, pads });
      const B = r.firstPointwise
        ? randomSpec(rng, { M: r.M, C: r.mid, group: r.groups, kh: r.k, kw: r.k, stride: r.stride, pads })
        : randomSpec(rng, { M: r.M, C: r.mid, group: 1, kh: 1, kw: 1, pads: [0, 0, 0, 0] });
      const x = randomImage(rng, r.C * r.h * r.w);
      const a = convRef(A, x, r.h, r.w);
      const expect = convRef(B, a.data, a.h, a.w).data;
      const merged = compose(A, B, [r.h, r.w]);
      const got = convRef(merged, x, r.h, r.w).data;
      assert.equal(got.length, expect.length);
      assert.ok(maxAbsDiff(got, expect) < 1e-9, `max err ${maxAbsDiff(got, expect)}`);
      if (pads.every((p) => p === 0)) assert.equal(merged.biasMap, undefined);
    }), { numRuns: 60, seed: 7 });
});

test('compose refuses KxK -> KxK and border maps when not allowed', () => {
  const rng = new Rng(3);
  const A = randomSpec(rng, { M: 2, C: 2, group: 1, kh: 3, kw: 3, pads: same(3) });
  assert.throws(() => compose(A, A), ReparamError);
  const P = randomSpec(rng, { M: 2, C: 2, group: 1, kh: 1, kw: 1, pads: [0, 0, 0, 0] });
  assert.throws(() => compose(P, A, [5, 5], false), /border-correction/);
  assert.throws(() => compose(P, A, undefined, true), /spatial size/);
  const Pnb = randomSpec(rng, { M: 2, C: 2, group: 1, kh: 1, kw: 1, pads: [0, 0, 0, 0], bias: false });
  assert.equal(compose(Pnb, A, undefined, false).biasMap, undefined);
});

test('mergeParallel sums branches exactly: 3x3 + 1x1 + 1x3 + 3x1 + identity + avgpool', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 1e6 }), fc.constantFrom(1, 2, 4), fc.constantFrom(1, 2), (seed, group, dil) => {
    const rng = new Rng(seed);
    const C = 4, h = 7, w = 6;
    const p = dil;
    const specs = [
      randomSpec(rng, { M: C, C, group, kh: 3, kw: 3, dil, pads: [p, p, p, p] }),
      randomSpec(rng, { M: C, C, group, kh: 1, kw: 1, pads: [0, 0, 0, 0] }),
      randomSpec(rng, { M: C, C, group, kh: 1, kw: 3, dil, pads: [0, p, 0, p] }),
      randomSpec(rng, { M: C, C, group, kh: 3, kw: 1, dil, pads: [p, 0, p, 0] }),
      identitySpec(C),
      ...(dil === 1 ? [avgPoolSpec(C, 3, 3, [1, 1], [1, 1, 1, 1])] : []),
    ];
    const x = randomImage(rng, C * h * w);
    const expect = new Float64Array(C * h * w);
    for (const s of specs) convRef(s, x, h, w).data.forEach((v, i) => (expect[i] += v));
    const merged = mergeParallel(specs, [h, w]);
    assert.equal(merged.group, group);
    assert.deepEqual([merged.kh, merged.kw], [3, 3]);
    assert.ok(maxAbsDiff(convRef(merged, x, h, w).data, expect) < 1e-9);
  }), { numRuns: 30, seed: 5 });
});

test('planMerge refuses mismatched strides and dilations, accepts offset even kernels', () => {
  const rng = new Rng(4);
  const a = randomSpec(rng, { M: 2, C: 2, group: 1, kh: 3, kw: 3, pads: [0, 0, 0, 0] });
  const b = randomSpec(rng, { M: 2, C: 2, group: 1, kh: 1, kw: 1, stride: 2, pads: [0, 0, 0, 0] });
  assert.throws(() => planMerge([a, b], [5, 5]), /mismatched strides/);
  // A stride-2 conv never merges with an identity branch (identity is stride 1).
  const s2 = randomSpec(rng, { M: 2, C: 2, group: 1, kh: 3, kw: 3, stride: 2, pads: same(3) });
  assert.throws(() => planMerge([s2, identitySpec(2)], [6, 6]), /mismatched strides/);
  const d2 = randomSpec(rng, { M: 2, C: 2, group: 1, kh: 3, kw: 3, dil: 2, pads: same(3, 2) });
  const d1 = randomSpec(rng, { M: 2, C: 2, group: 1, kh: 3, kw: 3, pads: same(3) });
  assert.throws(() => planMerge([d1, d2], [6, 6]), /mismatched dilations/);
  // 2x2 with pads [1,1,0,0] + 3x3 same: taps align (the 2x2 is the top-left of the 3x3).
  const e = randomSpec(rng, { M: 2, C: 2, group: 1, kh: 2, kw: 2, pads: [1, 1, 0, 0] });
  const x = randomImage(rng, 2 * 5 * 5);
  const merged = mergeParallel([e, d1], [5, 5]);
  const expect = convRef(e, x, 5, 5).data.map((v, i) => v + convRef(d1, x, 5, 5).data[i]);
  assert.ok(maxAbsDiff(convRef(merged, x, 5, 5).data, expect) < 1e-9);
  // 1x1 dilation-2 3x3 with an odd offset cannot align.
  const odd = randomSpec(rng, { M: 2, C: 2, group: 1, kh: 3, kw: 3, dil: 2, pads: [1, 1, 3, 3] });
  assert.throws(() => planMerge([odd, randomSpec(rng, { M: 2, C: 2, group: 1, kh: 1, kw: 1, pads: [0, 0, 0, 0] })], [6, 6]), /misaligned/);
});
