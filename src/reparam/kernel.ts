/**
 * Kernel algebra of structural reparameterization (Detkov et al., "Reparameterization through Spatial Gradient Scaling", arXiv 2303.02733), on plain typed arrays.
 *
 * Everything a branch of a multi-branch block can compute between a shared input X and the
 * sum is an *affine zero-padded 2-D convolution*, held as a `ConvSpec`:
 *
 *     y = conv(zeroPad(X, pads), W; stride, dilation, group) + b[m] + biasMap[m, y, x]
 *
 * with ONNX layout W[M, C/group, kh, kw] and pads [top, left, bottom, right]. Every branch op is
 * mapped onto that form (Conv; BatchNormalization = depthwise 1x1 with W = s, b = t; identity
 * = depthwise 1x1 with W = 1; AveragePool = depthwise kxk with W = 1/(kh kw)); sequential ops
 * are composed (`compose`), parallel ones summed (`mergeParallel`). `biasMap` is the exact
 * border correction that appears when a biased map is zero-padded by a later conv (DBB's
 * 1x1 -> BN -> KxK branch): it is the difference between the true constant response and the
 * per-channel interior bias, computed by running the reference convolution on the constant map.
 *
 * Arithmetic is done in float64 and rounded to float32 once, when a node is emitted, so a chain
 * of merges loses no more than one float32 rounding.
 *
 * Hand-written rather than on tfjs: these are a few exact index manipulations on small weight
 * tensors, where a tensor library would add conversions and hide the index conventions.
 */

export type Pads = [number, number, number, number];
export type Pair = [number, number];

export interface BiasMap {
  h: number;
  w: number;
  /** [M, h, w], added on top of `b`. */
  data: Float64Array;
}

export interface ConvSpec {
  /** Output channels. */
  M: number;
  /** Input channels. */
  C: number;
  group: number;
  kh: number;
  kw: number;
  /** [M, C/group, kh, kw]. */
  W: Float64Array;
  /** [M]. */
  b: Float64Array;
  stride: Pair;
  dilation: Pair;
  pads: Pads;
  biasMap?: BiasMap;
}

export class ReparamError extends Error {}

export function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return Math.abs(a);
}

export const is1x1 = (s: ConvSpec) => s.kh === 1 && s.kw === 1;
export const isPointwise = (s: ConvSpec) => is1x1(s) && s.stride[0] === 1 && s.stride[1] === 1 && s.pads.every((p) => p === 0);

/** Output spatial size of a conv on an h x w input (floor mode). */
export function convOutSize(s: Pick<ConvSpec, 'kh' | 'kw' | 'stride' | 'dilation' | 'pads'>, h: number, w: number): Pair {
  return [
    Math.floor((h + s.pads[0] + s.pads[2] - s.dilation[0] * (s.kh - 1) - 1) / s.stride[0]) + 1,
    Math.floor((w + s.pads[1] + s.pads[3] - s.dilation[1] * (s.kw - 1) - 1) / s.stride[1]) + 1,
  ];
}

export function makeSpec(init: Omit<ConvSpec, 'W' | 'b'> & { W?: ArrayLike<number>; b?: ArrayLike<number> }): ConvSpec {
  const { M, C, group, kh, kw } = init;
  if (C % group || M % group) throw new ReparamError(`channels ${C}->${M} not divisible by group ${group}`);
  const n = M * (C / group) * kh * kw;
  const W = new Float64Array(n);
  if (init.W) {
    if (init.W.length !== n) throw new ReparamError(`weight has ${init.W.length} values, expected ${n}`);
    W.set(init.W);
  }
  const b = new Float64Array(M);
  if (init.b) b.set(init.b);
  return { M, C, group, kh, kw, W, b, stride: [...init.stride], dilation: [...init.dilation], pads: [...init.pads], biasMap: init.biasMap };
}

/** A spec like makeSpec's whose weights `W` are read (`readW`, converted to float64) on first
 * access and then kept: matching traces every conv of every branch, and most of them never
 * merge (ResNet-50: every bottleneck's last conv), so reading them all up front only made
 * garbage (float64 copies of the model's weights; glibc keeps freed memory resident).
 * Spreading the spec (`{ ...spec }`) reads them. */
export function lazySpec(init: Omit<ConvSpec, 'W' | 'b'> & { b?: ArrayLike<number> }, readW: () => ArrayLike<number>): ConvSpec {
  const { M, C, group, kh, kw } = init;
  if (C % group || M % group) throw new ReparamError(`channels ${C}->${M} not divisible by group ${group}`);
  const n = M * (C / group) * kh * kw;
  const b = new Float64Array(M);
  if (init.b) b.set(init.b);
  // Same keys in the same order as makeSpec's; W becomes an accessor in place.
  const spec = { M, C, group, kh, kw, W: undefined as unknown as Float64Array, b, stride: [...init.stride], dilation: [...init.dilation], pads: [...init.pads], biasMap: init.biasMap } as ConvSpec;
  let W: Float64Array | undefined;
  Object.defineProperty(spec, 'W', {
    enumerable: true,
    configurable: true,
    get: () => {
      if (!W) {
        const v = readW();
        if (v.length !== n) throw new ReparamError(`weight has ${v.length} values, expected ${n}`);
        W = new Float64Array(n);
        W.set(v);
      }
      return W;
    },
    set: (v: Float64Array) => {
      W = v;
    },
  });
  return spec;
}

/** The identity map on C channels (depthwise 1x1, weight 1). */
export function identitySpec(C: number): ConvSpec {
  return makeSpec({ M: C, C, group: C, kh: 1, kw: 1, W: new Float64Array(C).fill(1), stride: [1, 1], dilation: [1, 1], pads: [0, 0, 0, 0] });
}

/** Per-channel affine map y = s x + t (an inference-mode BatchNormalization). */
export function affineSpec(s: ArrayLike<number>, t: ArrayLike<number>): ConvSpec {
  return makeSpec({ M: s.length, C: s.length, group: s.length, kh: 1, kw: 1, W: s, b: t, stride: [1, 1], dilation: [1, 1], pads: [0, 0, 0, 0] });
}

/** BN as scale/shift: s = gamma / sqrt(var + eps), t = beta - mean s. */
export function bnScaleShift(gamma: ArrayLike<number>, beta: ArrayLike<number>, mean: ArrayLike<number>, variance: ArrayLike<number>, eps: number): { s: Float64Array; t: Float64Array } {
  const n = gamma.length;
  const s = new Float64Array(n), t = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    // eps is a float32 attribute in ONNX; runtimes add it in float32, so round it the same way.
    s[i] = gamma[i] / Math.sqrt(Math.fround(variance[i] + Math.fround(eps)));
    t[i] = beta[i] - mean[i] * s[i];
  }
  return { s, t };
}

/** AveragePool with count_include_pad semantics (zero padding counted) as a depthwise conv. */
export function avgPoolSpec(C: number, kh: number, kw: number, stride: Pair, pads: Pads): ConvSpec {
  return makeSpec({ M: C, C, group: C, kh, kw, W: new Float64Array(C * kh * kw).fill(1 / (kh * kw)), stride, dilation: [1, 1], pads });
}

/** Applies y' = s y + t after a conv (Conv -> BN fold): W'[m] = s[m] W[m], b' = s b + t. */
export function scaleOutput(spec: ConvSpec, s: ArrayLike<number>, t: ArrayLike<number>): ConvSpec {
  const out = makeSpec({ ...spec, W: spec.W, b: spec.b });
  const per = (spec.C / spec.group) * spec.kh * spec.kw;
  for (let m = 0; m < spec.M; m++) {
    for (let j = 0; j < per; j++) out.W[m * per + j] *= s[m];
    out.b[m] = s[m] * spec.b[m] + t[m];
  }
  if (spec.biasMap) {
    const { h, w, data } = spec.biasMap;
    const d = new Float64Array(data.length);
    for (let m = 0; m < spec.M; m++) for (let k = 0; k < h * w; k++) d[m * h * w + k] = s[m] * data[m * h * w + k];
    out.biasMap = { h, w, data: d };
  }
  return out;
}

/** Re-expresses a conv with `group` groups as one with G groups (G divides group): the kernel
 * becomes block-diagonal inside each coarser group, zeros elsewhere. G = 1 densifies. */
export function regroup(spec: ConvSpec, G: number): ConvSpec {
  if (G === spec.group) return spec;
  if (spec.group % G) throw new ReparamError(`cannot regroup a ${spec.group}-group conv into ${G} groups`);
  const { M, C, kh, kw, group: g } = spec;
  const cg = C / g, cG = C / G, mg = M / g, mG = M / G, kk = kh * kw;
  const out = makeSpec({ ...spec, group: G, W: undefined, b: spec.b });
  out.W = new Float64Array(M * cG * kk);
  for (let m = 0; m < M; m++) {
    const q = Math.floor(m / mg), Q = Math.floor(m / mG);
    const base = q * cg - Q * cG;
    for (let c = 0; c < cg; c++) {
      for (let k = 0; k < kk; k++) out.W[(m * cG + base + c) * kk + k] = spec.W[(m * cg + c) * kk + k];
    }
  }
  out.biasMap = spec.biasMap;
  return out;
}

/** Reference 2-D convolution on one image x[C, h, w] (float64), used for bias maps and tests. */
export function convRef(spec: ConvSpec, x: ArrayLike<number>, h: number, w: number, withBias = true): { h: number; w: number; data: Float64Array } {
  const [oh, ow] = convOutSize(spec, h, w);
  const { M, C, group, kh, kw, W, stride, dilation, pads } = spec;
  const cg = C / group, mg = M / group;
  const y = new Float64Array(M * oh * ow);
  for (let m = 0; m < M; m++) {
    const q = Math.floor(m / mg);
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let acc = withBias ? spec.b[m] : 0;
        for (let c = 0; c < cg; c++) {
          const ci = q * cg + c;
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * stride[0] - pads[0] + ky * dilation[0];
            if (iy < 0 || iy >= h) continue;
            for (let kx = 0; kx < kw; kx++) {
              const ix = ox * stride[1] - pads[1] + kx * dilation[1];
              if (ix < 0 || ix >= w) continue;
              acc += W[((m * cg + c) * kh + ky) * kw + kx] * x[(ci * h + iy) * w + ix];
            }
          }
        }
        if (withBias && spec.biasMap) acc += spec.biasMap.data[(m * oh + oy) * ow + ox];
        y[(m * oh + oy) * ow + ox] = acc;
      }
    }
  }
  return { h: oh, w: ow, data: y };
}

/** Whether a bias map is identically zero (within a relative tolerance of the biases). */
function negligibleMap(map: Float64Array, scale: number): boolean {
  const tol = 1e-12 * Math.max(1, scale);
  for (let i = 0; i < map.length; i++) if (Math.abs(map[i]) > tol) return false;
  return true;
}

/**
 * Sequential composition: B applied to A's output (B after A). Supported when A is a pointwise
 * 1x1 (stride 1, no pads: A commutes with B's zero padding on its linear part) or B is one
 * (B then acts on A's output channel-wise). Groups: both are regrouped to gcd(gA, gB) first.
 *
 * `inSize` is A's input spatial size; it is needed only when a bias meets B's zero padding
 * (then the exact border correction is computed) and may be omitted otherwise. When it is
 * needed and absent, or `allowBiasMap` is false, this throws a ReparamError saying why.
 */
export function compose(A: ConvSpec, B: ConvSpec, inSize?: Pair, allowBiasMap = true): ConvSpec {
  if (A.M !== B.C) throw new ReparamError(`channel mismatch: ${A.M} outputs feed ${B.C} inputs`);
  const G = gcd(A.group, B.group);
  const a = regroup(A, G), bb = regroup(B, G);
  const Cmid = A.M, cG = A.C / G, mG = B.M / G, midG = Cmid / G;
  if (isPointwise(a)) {
    const kk = bb.kh * bb.kw;
    const out = makeSpec({ M: B.M, C: A.C, group: G, kh: bb.kh, kw: bb.kw, stride: bb.stride, dilation: bb.dilation, pads: bb.pads });
    for (let d = 0; d < B.M; d++) {
      const q = Math.floor(d / mG);
      let bias = bb.b[d];
      for (let c = 0; c < midG; c++) {
        const cm = q * midG + c;
        let wsum = 0;
        for (let k = 0; k < kk; k++) {
          const w2 = bb.W[(d * midG + c) * kk + k];
          wsum += w2;
          if (w2 === 0) continue;
          for (let i = 0; i < cG; i++) out.W[(d * cG + i) * kk + k] += w2 * a.W[cm * cG + i];
        }
        bias += wsum * a.b[cm];
      }
      out.b[d] = bias;
    }
    const padded = bb.pads.some((p) => p !== 0);
    const aBiased = a.biasMap !== undefined || a.b.some((v) => v !== 0);
    if (padded && aBiased || a.biasMap) {
      // Exact border correction: B's linear part applied to A's (zero-padded) constant map,
      // minus the interior value already in `out.b`.
      const h = a.biasMap?.h ?? inSize?.[0], w = a.biasMap?.w ?? inSize?.[1];
      if (h === undefined || w === undefined) throw new ReparamError('the border correction needs the spatial size of the input, which is unknown (static input shapes, e.g. --shape input=1x3x224x224, fix that)');
      const amap = new Float64Array(Cmid * h * w);
      for (let c = 0; c < Cmid; c++) for (let k = 0; k < h * w; k++) amap[c * h * w + k] = a.b[c] + (a.biasMap ? a.biasMap.data[c * h * w + k] : 0);
      const full = convRef({ ...bb, biasMap: undefined }, amap, h, w, true);
      const data = new Float64Array(full.data.length);
      const hw = full.h * full.w;
      let scale = 0;
      for (let d = 0; d < B.M; d++) {
        scale = Math.max(scale, Math.abs(out.b[d]));
        for (let k = 0; k < hw; k++) data[d * hw + k] = full.data[d * hw + k] - out.b[d];
      }
      if (bb.biasMap) for (let i = 0; i < data.length; i++) data[i] += bb.biasMap.data[i];
      if (!negligibleMap(data, scale)) {
        if (!allowBiasMap) throw new ReparamError('the first conv has a bias and the second zero-pads: merging needs a border-correction bias map');
        out.biasMap = { h: full.h, w: full.w, data };
      }
    } else if (bb.biasMap) out.biasMap = bb.biasMap;
    return out;
  }
  if (isPointwise(bb)) {
    const kk = a.kh * a.kw;
    const out = makeSpec({ M: B.M, C: A.C, group: G, kh: a.kh, kw: a.kw, stride: a.stride, dilation: a.dilation, pads: a.pads });
    for (let d = 0; d < B.M; d++) {
      const q = Math.floor(d / mG);
      let bias = bb.b[d];
      for (let c = 0; c < midG; c++) {
        const cm = q * midG + c;
        const w2 = bb.W[d * midG + c];
        if (w2 === 0) continue;
        bias += w2 * a.b[cm];
        for (let j = 0; j < cG * kk; j++) out.W[d * cG * kk + j] += w2 * a.W[cm * cG * kk + j];
      }
      out.b[d] = bias;
    }
    if (a.biasMap || bb.biasMap) {
      const src = a.biasMap ?? bb.biasMap!;
      const hw = src.h * src.w;
      const data = new Float64Array(B.M * hw);
      for (let d = 0; d < B.M; d++) {
        const q = Math.floor(d / mG);
        if (a.biasMap) for (let c = 0; c < midG; c++) {
          const w2 = bb.W[d * midG + c];
          const cm = q * midG + c;
          for (let k = 0; k < hw; k++) data[d * hw + k] += w2 * a.biasMap.data[cm * hw + k];
        }
        if (bb.biasMap) for (let k = 0; k < hw; k++) data[d * hw + k] += bb.biasMap.data[d * hw + k];
      }
      out.biasMap = { h: src.h, w: src.w, data };
    }
    return out;
  }
  throw new ReparamError(`sequential ${A.kh}x${A.kw} -> ${B.kh}x${B.kw} convs: only chains with a pointwise (1x1, stride 1, unpadded) side merge`);
}

/** Where one branch sits in the merged kernel. */
export interface Placement {
  /** Offsets (rows, cols) of the branch kernel inside the merged one. */
  offset: Pair;
}

export interface MergePlan {
  kh: number;
  kw: number;
  group: number;
  stride: Pair;
  dilation: Pair;
  pads: Pads;
  placements: Placement[];
}

/**
 * Plans the merge of parallel branches reading the same input: common stride, dilation (an
 * axis with a 1-tap kernel accepts any), groups (gcd; a coarser group count means densifying
 * finer branches), then the kernel placement. The centered rule (K - k even, pad_i =
 * pad_K - d (K - k_i)/2) is the symmetric case of the general alignment used here: tap j of
 * branch i reads input row y s - p_i + d j, so in a merged kernel with top pad P = max p_i it
 * is tap j + (P - p_i)/d, which must be an integer. The bottom/right pad is chosen so that the
 * merged conv has the branches' common output size; `inSize` (the input's spatial size) is
 * needed to check that unless every branch already has the same pads after centering.
 * Throws a ReparamError naming the mismatch.
 */
export function planMerge(specs: ConvSpec[], inSize?: Pair): MergePlan {
  if (specs.length === 0) throw new ReparamError('no branches');
  const C = specs[0].C, M = specs[0].M;
  for (const s of specs) {
    if (s.C !== C) throw new ReparamError(`input channel mismatch (${s.C} vs ${C})`);
    if (s.M !== M) throw new ReparamError(`output channel mismatch (${s.M} vs ${M})`);
  }
  const stride: Pair = [specs[0].stride[0], specs[0].stride[1]];
  for (const s of specs) if (s.stride[0] !== stride[0] || s.stride[1] !== stride[1]) throw new ReparamError(`mismatched strides (${s.stride.join('x')} vs ${stride.join('x')})`);
  const dilation: Pair = [1, 1];
  for (const axis of [0, 1] as const) {
    const ds = new Set(specs.filter((s) => (axis === 0 ? s.kh : s.kw) > 1).map((s) => s.dilation[axis]));
    if (ds.size > 1) throw new ReparamError(`mismatched dilations (${[...ds].join(' vs ')})`);
    if (ds.size === 1) dilation[axis] = [...ds][0];
  }
  const group = specs.map((s) => s.group).reduce(gcd);
  const P: Pair = [Math.max(...specs.map((s) => s.pads[0])), Math.max(...specs.map((s) => s.pads[1]))];
  const placements: Placement[] = [];
  for (const s of specs) {
    const off: number[] = [];
    for (const axis of [0, 1] as const) {
      const delta = P[axis] - s.pads[axis];
      if (delta % dilation[axis]) throw new ReparamError(`misaligned kernel centers: pad ${s.pads[axis]} vs ${P[axis]} is not a multiple of dilation ${dilation[axis]}`);
      off.push(delta / dilation[axis]);
    }
    placements.push({ offset: [off[0], off[1]] });
  }
  const kh = Math.max(...specs.map((s, i) => placements[i].offset[0] + s.kh));
  const kw = Math.max(...specs.map((s, i) => placements[i].offset[1] + s.kw));
  // End pads: each branch's own end pad seen from the merged kernel.
  const ends = specs.map((s, i) => [s.pads[2] + dilation[0] * (kh - placements[i].offset[0] - s.kh), s.pads[3] + dilation[1] * (kw - placements[i].offset[1] - s.kw)]);
  let pads: Pads;
  if (ends.every((e) => e[0] === ends[0][0] && e[1] === ends[0][1])) {
    pads = [P[0], P[1], ends[0][0], ends[0][1]];
  } else {
    if (!inSize) throw new ReparamError('branch pads differ at the bottom/right and the input size is unknown');
    const outs = specs.map((s) => convOutSize(s, inSize[0], inSize[1]));
    for (const o of outs) if (o[0] !== outs[0][0] || o[1] !== outs[0][1]) throw new ReparamError(`branches produce different output sizes (${o.join('x')} vs ${outs[0].join('x')})`);
    const need = (axis: 0 | 1, k: number) => Math.max(0, (outs[0][axis] - 1) * stride[axis] + dilation[axis] * (k - 1) + 1 - inSize[axis] - P[axis]);
    pads = [P[0], P[1], need(0, kh), need(1, kw)];
    const o = convOutSize({ kh, kw, stride, dilation, pads }, inSize[0], inSize[1]);
    if (o[0] !== outs[0][0] || o[1] !== outs[0][1]) throw new ReparamError(`misaligned kernel centers: no merged padding reproduces the ${outs[0].join('x')} output`);
  }
  return { kh, kw, group, stride, dilation, pads, placements };
}

/** Embeds a kernel into a larger one at an offset (zero elsewhere): the "pad to common size". */
export function padKernel(W: ArrayLike<number>, rows: number, kh: number, kw: number, KH: number, KW: number, offset: Pair): Float64Array {
  const out = new Float64Array(rows * KH * KW);
  for (let r = 0; r < rows; r++) {
    for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) out[(r * KH + y + offset[0]) * KW + x + offset[1]] = W[(r * kh + y) * kw + x];
  }
  return out;
}

/** Sums parallel branches (same input) into one conv: W = sum of placed kernels, b = sum b_i,
 * bias maps summed. */
export function mergeParallel(specs: ConvSpec[], inSize?: Pair): ConvSpec {
  const plan = planMerge(specs, inSize);
  const { M, C } = specs[0];
  const out = makeSpec({ M, C, group: plan.group, kh: plan.kh, kw: plan.kw, stride: plan.stride, dilation: plan.dilation, pads: plan.pads });
  let map: BiasMap | undefined;
  specs.forEach((s0, i) => {
    const s = regroup(s0, plan.group);
    const placed = padKernel(s.W, M * (C / plan.group), s.kh, s.kw, plan.kh, plan.kw, plan.placements[i].offset);
    for (let j = 0; j < placed.length; j++) out.W[j] += placed[j];
    for (let m = 0; m < M; m++) out.b[m] += s.b[m];
    if (s.biasMap) {
      if (!map) map = { h: s.biasMap.h, w: s.biasMap.w, data: new Float64Array(s.biasMap.data.length) };
      if (s.biasMap.h !== map.h || s.biasMap.w !== map.w) throw new ReparamError('bias maps of different sizes');
      for (let j = 0; j < map.data.length; j++) map.data[j] += s.biasMap.data[j];
    }
  });
  out.biasMap = map;
  return out;
}

/** Number of weights of a spec (the growth check of densifying merges). */
export const weightCount = (s: Pick<ConvSpec, 'M' | 'C' | 'group' | 'kh' | 'kw'>) => s.M * (s.C / s.group) * s.kh * s.kw;

/** Max abs difference of two equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
