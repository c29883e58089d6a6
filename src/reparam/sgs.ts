/**
 * Spatial gradient scaling (SPEC section 2; Detkov et al., ICLR 2023).
 *
 * Training a conv written as W = sum_i alpha_i (M_i . V_i) with SGD equals training the single
 * conv with the update W <- W - lr (S . dL/dW), S = sum_i alpha_i^2 M_i normalized to mean 1.
 * `scalingFromBranches` is that closed form; `estimateScaling` is the reference procedure that
 * learns S from the conv's input feature maps:
 *
 * 1. the input, zero-padded by the conv's pads (padding only adds zeros, and pairs holding a
 *    zero are dropped below, so only in-range pairs matter);
 * 2. for each displacement d = (dy, dx) of the kh x kw window but (0, 0) (d and -d computed
 *    once), per channel: every pixel paired with its neighbour at d over all images and
 *    positions, pairs with a zero dropped, a 2-D histogram with Sturges bins
 *    (1 + ceil(log2 n); range [min, max] per axis, the last bin closed as numpy's), the
 *    normalized mutual information NMI = (H_X + H_Y - H_XY) / H_XY, mapped with
 *    NMI_k = k NMI / ((k - 1) NMI + 1), k = 5;
 * 3. center entry 1, each entry mirrored to -d, averaged over channels ignoring NaN
 *    (channels with fewer than 2 non-zero pairs or a constant map), divided by the mean so
 *    that the mean is 1, floored to stay strictly positive (then renormalized).
 *
 * Window center for even kernels: index floor((k - 1) / 2) (where PyTorch/ONNX put the
 * "center" tap with symmetric pads); a displacement whose mirror falls outside the window is
 * computed directly.
 *
 * Hand-written (no library): a histogram and three entropies over typed arrays.
 */

export interface FeatureMaps {
  /** NCHW float data. */
  dims: [number, number, number, number];
  data: Float32Array;
}

export interface SgsOptions {
  kh: number;
  kw: number;
  /** NMI_k sharpness (default 5). */
  k?: number;
  /** Entries below `floor` x mean are raised to it before the final normalization (default 1e-3). */
  floor?: number;
  /** At most this many pairs per channel and displacement (deterministic strided subsample). */
  maxPairs?: number;
}

export interface SgsEstimate {
  /** kh x kw, row-major, mean 1, strictly positive. */
  scale: Float64Array;
  /** The matrix before normalization (center 1, NMI_k elsewhere; NaN-free). */
  raw: Float64Array;
  /** Channels contributing to each entry (center: all). */
  channels: Int32Array;
}

/** NMI = (H_X + H_Y - H_XY) / H_XY of paired samples on a Sturges-binned 2-D histogram. */
export function normalizedMutualInformation(xs: ArrayLike<number>, ys: ArrayLike<number>, n = xs.length): number {
  if (n < 2) return NaN;
  const bins = 1 + Math.ceil(Math.log2(n));
  let xmin = Infinity, xmax = -Infinity, ymin = Infinity, ymax = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = xs[i], y = ys[i];
    if (x < xmin) xmin = x;
    if (x > xmax) xmax = x;
    if (y < ymin) ymin = y;
    if (y > ymax) ymax = y;
  }
  const bx = xmax > xmin ? bins / (xmax - xmin) : 0;
  const by = ymax > ymin ? bins / (ymax - ymin) : 0;
  const joint = new Float64Array(bins * bins);
  const hx = new Float64Array(bins), hy = new Float64Array(bins);
  for (let i = 0; i < n; i++) {
    const a = Math.min(bins - 1, Math.floor((xs[i] - xmin) * bx));
    const b = Math.min(bins - 1, Math.floor((ys[i] - ymin) * by));
    joint[a * bins + b]++;
    hx[a]++;
    hy[b]++;
  }
  const H = (counts: Float64Array) => {
    let h = 0;
    for (const c of counts) if (c > 0) { const p = c / n; h -= p * Math.log(p); }
    return h;
  };
  const HX = H(hx), HY = H(hy), HXY = H(joint);
  if (!(HXY > 0)) return NaN;
  return (HX + HY - HXY) / HXY;
}

export const sharpen = (nmi: number, k = 5) => (k * nmi) / ((k - 1) * nmi + 1);

/** The SGS matrix of one conv from its input feature maps (all batches). */
export function estimateScaling(batches: FeatureMaps[], o: SgsOptions): SgsEstimate {
  const { kh, kw } = o;
  const k = o.k ?? 5;
  const floor = o.floor ?? 1e-3;
  const maxPairs = o.maxPairs ?? 250_000;
  if (!batches.length) throw new Error('estimateScaling: no feature maps');
  const C = batches[0].dims[1];
  for (const b of batches) if (b.dims[1] !== C) throw new Error('estimateScaling: batches disagree on channels');
  const ci = Math.floor((kh - 1) / 2), cj = Math.floor((kw - 1) / 2);
  const raw = new Float64Array(kh * kw).fill(NaN);
  const channels = new Int32Array(kh * kw);
  raw[ci * kw + cj] = 1;
  channels[ci * kw + cj] = C;
  const total = batches.reduce((a, b) => a + b.dims[0] * b.dims[2] * b.dims[3], 0);
  const xs = new Float32Array(Math.min(total, maxPairs)), ys = new Float32Array(xs.length);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const dy = i - ci, dx = j - cj;
      if (dy === 0 && dx === 0) continue;
      const mi = ci - dy, mj = cj - dx; // mirror entry
      const mirrorInside = mi >= 0 && mi < kh && mj >= 0 && mj < kw;
      if (!Number.isNaN(raw[i * kw + j])) continue; // done as a mirror
      let sum = 0, used = 0;
      for (let c = 0; c < C; c++) {
        // Count candidate positions to pick a subsampling stride.
        let cand = 0;
        for (const b of batches) {
          const [, , h, w] = b.dims;
          cand += b.dims[0] * Math.max(0, h - Math.abs(dy)) * Math.max(0, w - Math.abs(dx));
        }
        const step = Math.max(1, Math.ceil(cand / maxPairs));
        let n = 0, seen = 0;
        for (const b of batches) {
          const [N, , h, w] = b.dims;
          const d = b.data;
          for (let img = 0; img < N; img++) {
            const base = (img * C + c) * h * w;
            for (let y = Math.max(0, -dy); y < Math.min(h, h - dy); y++) {
              for (let x = Math.max(0, -dx); x < Math.min(w, w - dx); x++) {
                if (seen++ % step) continue;
                const a = d[base + y * w + x], v = d[base + (y + dy) * w + x + dx];
                if (a === 0 || v === 0) continue;
                if (n < xs.length) { xs[n] = a; ys[n] = v; n++; }
              }
            }
          }
        }
        const nmi = normalizedMutualInformation(xs, ys, n);
        if (Number.isNaN(nmi)) continue;
        sum += sharpen(nmi, k);
        used++;
      }
      const v = used ? sum / used : 0; // no evidence of dependence anywhere: weight 0 (floored below)
      raw[i * kw + j] = v;
      channels[i * kw + j] = used;
      if (mirrorInside) {
        raw[mi * kw + mj] = v;
        channels[mi * kw + mj] = used;
      }
    }
  }
  return { scale: normalizeScale(raw, floor), raw, channels };
}

/** Divides by the mean, floors at `floor` x mean (strictly positive), renormalizes to mean 1. */
export function normalizeScale(m: ArrayLike<number>, floor = 1e-3): Float64Array {
  const out = Float64Array.from(m);
  const mean = () => out.reduce((a, b) => a + b, 0) / out.length;
  let mu = mean();
  if (!(mu > 0)) { out.fill(1); return out; }
  for (let i = 0; i < out.length; i++) out[i] = Math.max(out[i] / mu, floor);
  mu = mean();
  for (let i = 0; i < out.length; i++) out[i] /= mu;
  return out;
}

export interface BranchMask {
  kh: number;
  kw: number;
  /** Branch scalar alpha (default 1). */
  alpha?: number;
}

/** Closed-form S = sum alpha_i^2 M_i (masks centered in the kh x kw kernel), mean 1. */
export function scalingFromBranches(kh: number, kw: number, branches: BranchMask[]): { unnormalized: Float64Array; scale: Float64Array } {
  const s = new Float64Array(kh * kw);
  for (const b of branches) {
    if (b.kh > kh || b.kw > kw || (kh - b.kh) % 2 || (kw - b.kw) % 2) throw new Error(`branch ${b.kh}x${b.kw} is not centered in ${kh}x${kw}`);
    const oy = (kh - b.kh) / 2, ox = (kw - b.kw) / 2;
    const a2 = (b.alpha ?? 1) ** 2;
    for (let y = 0; y < b.kh; y++) for (let x = 0; x < b.kw; x++) s[(y + oy) * kw + x + ox] += a2;
  }
  return { unnormalized: s, scale: normalizeScale(s, 0) };
}

/** Rows of a row-major kh x kw matrix (for JSON). */
export function toRows(m: ArrayLike<number>, kh: number, kw: number, digits = 6): number[][] {
  const rows: number[][] = [];
  for (let i = 0; i < kh; i++) rows.push(Array.from({ length: kw }, (_, j) => Number(m[i * kw + j].toFixed(digits))));
  return rows;
}
