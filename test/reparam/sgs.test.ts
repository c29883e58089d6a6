import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { estimateScaling, normalizedMutualInformation, scalingFromBranches, sharpen, type FeatureMaps } from '../../src/reparam/sgs.ts';
import { Rng } from '../../src/util/random.ts';

const near = (a: ArrayLike<number>, b: number[], tol = 1e-9) => Array.from(a).every((v, i) => Math.abs(v - b[i]) <= tol);
const mean = (a: ArrayLike<number>) => Array.from(a).reduce((x, y) => x + y, 0) / a.length;

function noiseMaps(rng: Rng, n: number, c: number, h: number, w: number): FeatureMaps {
  const data = new Float32Array(n * c * h * w);
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  return { dims: [n, c, h, w], data };
}

/** Smooth images: noise blurred by an r-radius box filter (applied twice). */
function smoothMaps(rng: Rng, n: number, c: number, h: number, w: number, r: number): FeatureMaps {
  const m = noiseMaps(rng, n, c, h, w);
  const blur = (src: Float32Array) => {
    const out = new Float32Array(src.length);
    for (let p = 0; p < n * c; p++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      let s = 0, k = 0;
      for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) {
        const yy = y + dy, xx = x + dx;
        if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
        s += src[p * h * w + yy * w + xx];
        k++;
      }
      out[p * h * w + y * w + x] = s / k;
    }
    return out;
  };
  return { dims: m.dims, data: blur(blur(m.data)) };
}

test('closed-form S: ACNet and RepVGG masks', () => {
  const ac = scalingFromBranches(3, 3, [{ kh: 3, kw: 3 }, { kh: 1, kw: 3 }, { kh: 3, kw: 1 }]);
  assert.ok(near(ac.unnormalized, [1, 2, 1, 2, 3, 2, 1, 2, 1]));
  assert.ok(near(ac.scale, [1, 2, 1, 2, 3, 2, 1, 2, 1].map((v) => v / (15 / 9))));
  const rv = scalingFromBranches(3, 3, [{ kh: 3, kw: 3 }, { kh: 1, kw: 1 }]);
  assert.ok(near(rv.unnormalized, [1, 1, 1, 1, 2, 1, 1, 1, 1]));
  assert.ok(Math.abs(mean(rv.scale) - 1) < 1e-12);
  const scaled = scalingFromBranches(3, 3, [{ kh: 3, kw: 3 }, { kh: 1, kw: 1, alpha: 2 }]);
  assert.ok(near(scaled.unnormalized, [1, 1, 1, 1, 5, 1, 1, 1, 1]));
  assert.throws(() => scalingFromBranches(3, 3, [{ kh: 2, kw: 2 }]), /not centered/);
});

test('NMI: 1 for identical samples, near 0 for independent ones; NMI_k maps [0,1] onto [0,1]', () => {
  const rng = new Rng(1);
  const x = Float64Array.from({ length: 20000 }, () => rng.normal());
  assert.ok(Math.abs(normalizedMutualInformation(x, x) - 1) < 1e-12);
  const y = Float64Array.from({ length: 20000 }, () => rng.normal());
  assert.ok(normalizedMutualInformation(x, y) < 0.02);
  assert.equal(sharpen(0), 0);
  assert.equal(sharpen(1), 1);
  assert.ok(Math.abs(sharpen(0.25) - 0.625) < 1e-12); // 5*0.25 / (4*0.25 + 1)
  assert.ok(Number.isNaN(normalizedMutualInformation([1], [1])));
});

test('SGS on i.i.d. noise: every off-center entry the same (flat ring), no dependence', () => {
  const est = estimateScaling([noiseMaps(new Rng(2), 2, 4, 48, 48)], { kh: 5, kw: 5 });
  const off = Array.from(est.raw).filter((_, i) => i !== 12);
  assert.ok(Math.max(...off) < 0.2, `off-center NMI_k ${Math.max(...off)}`);
  assert.ok(Math.max(...off) / Math.min(...off) < 1.3, `off-center spread ${Math.min(...off)}..${Math.max(...off)}`);
  assert.ok(Math.abs(mean(est.scale) - 1) < 1e-12);
  assert.ok(est.scale.every((v) => v > 0));
});

test('SGS on smooth images: entries fall with distance from the center and exceed the noise case', () => {
  const est = estimateScaling([smoothMaps(new Rng(3), 2, 3, 40, 40, 2)], { kh: 5, kw: 5 });
  const r = (dy: number, dx: number) => est.raw[(2 + dy) * 5 + 2 + dx];
  const noise = estimateScaling([noiseMaps(new Rng(3), 2, 3, 40, 40)], { kh: 5, kw: 5 });
  assert.ok(r(0, 1) > r(0, 2) && r(1, 0) > r(2, 0), 'inner ring above outer ring');
  assert.ok(r(0, 1) > r(1, 1) && r(1, 1) > r(2, 2), 'edge above diagonal, diagonal above far corner');
  assert.ok(r(0, 1) > 3 * noise.raw[13], 'neighbours of smooth maps depend far more than noise');
  // Mirror symmetry: d and -d share an entry.
  for (let i = 0; i < 25; i++) assert.equal(est.raw[i], est.raw[24 - i]);
  // Center-weighted profile, yet flatter than noise (whose center dominates alone).
  const s = est.scale;
  assert.ok(s[12] === Math.max(...s));
  assert.ok(s[12] < noise.scale[12]);
});

test('SGS matrices are strictly positive with mean 1 (property; ReLU zeros, even kernels, tiny maps)', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 2, max: 5 }), fc.integer({ min: 2, max: 5 }), fc.integer({ min: 1, max: 6 }), fc.double({ min: 0, max: 1, noNaN: true }),
    (seed, kh, kw, hw, zeroFrac) => {
      const rng = new Rng(seed);
      const m = noiseMaps(rng, 1, 2, hw, hw + 1);
      for (let i = 0; i < m.data.length; i++) if (rng.next() < zeroFrac) m.data[i] = 0;
      const est = estimateScaling([m], { kh, kw });
      assert.equal(est.scale.length, kh * kw);
      assert.ok(est.scale.every((v) => v > 0 && Number.isFinite(v)));
      assert.ok(Math.abs(mean(est.scale) - 1) < 1e-9);
    }), { numRuns: 60, seed: 9 });
});

test('SGS streaming accumulator: batches fed separately give the same matrix as one big batch', async () => {
  const { SgsAccumulator } = await import('../../src/reparam/sgs.ts');
  const rng = new Rng(8);
  const a = smoothMaps(rng, 1, 3, 12, 12, 1), b = noiseMaps(rng, 2, 3, 12, 12);
  const both: FeatureMaps = { dims: [3, 3, 12, 12], data: new Float32Array([...a.data, ...b.data]) };
  const acc = new SgsAccumulator(3, 3, 3);
  acc.observe(a); acc.observe(b);
  acc.startSecondPass();
  acc.observe(a); acc.observe(b);
  const streamed = acc.result();
  const whole = estimateScaling([both], { kh: 3, kw: 3 });
  assert.deepEqual(Array.from(streamed.scale), Array.from(whole.scale));
  assert.throws(() => new SgsAccumulator(3, 3, 3).result(), /both passes/);
});
