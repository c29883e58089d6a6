/**
 * Spatial gradient scaling (Detkov et al., "Reparameterization through Spatial Gradient Scaling", arXiv 2303.02733, ICLR 2023).
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
 *
 * On a model (computeSgs, applySgs; the sgs pass in src/passes/sgs.ts is their adapter): runs
 * the calibration batches through onnxruntime once (every conv input captured as an extra
 * output in the same session), then estimates one kh x kw matrix S per conv with kh, kw > 1
 * (1x1 convs excluded; depthwise convs and the stem included; stride and dilation unused), each
 * strictly positive with mean 1. Annotations: every matrix (rows) with the conv, its weight,
 * the channels that contributed, and the calibration used.
 *
 * Options (SgsPassOptions, the pass's ctx.options.sgs):
 * - calib: 'random' (default) or a folder (src/reparam/calib.ts layouts); batches; seed.
 * - feeds (library use; overrides calib): calibration batches given directly; to the pass they
 *   come as ctx.services.calibrationFeeds (not JSON, so not an option).
 * - embed (default false): store each S as an initializer `<conv>_sgs_scale` [kh, kw] plus a
 *   model metadata_props entry `dnnfuse.sgs` (JSON: conv name -> initializer, k, calibration).
 *   The initializers are read by no node: a later dce pass would drop them.
 * - trainingGraph (default false): rewrite each conv's weight as W = sqrt(S) . V (a Mul of the
 *   initializers `<conv>_sgs_V` = W / sqrt(S) and `<conv>_sgs_sqrt_scale` [1, 1, kh, kw]), the
 *   exactly equivalent graph whose plain-SGD training applies S to the conv's gradient, for
 *   runtimes without gradient hooks. Outputs are unchanged up to float rounding.
 * - k (NMI_k sharpness, default 5), floor (default 1e-3).
 * The calibration set is streamed twice through onnxruntime (value ranges, then histograms;
 * SgsAccumulator), so memory holds one batch of feature maps plus the histograms.
 */
import { Node, type Model } from '../ir/graph.ts';
import { Tensor } from '../ir/tensor.ts';
import { createSession, runSession, type Feeds } from '../analysis/ort.ts';
import { calibrationSet } from './calib.ts';
import { isOp } from './graph-ops.ts';
import { constTensor } from '../ir/constant.ts';
import { badInput } from '../errors.ts';

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

/**
 * Streaming form of the estimator, for calibration sets that do not fit in memory: feed every
 * batch once with `observe` (pass 1: pair counts and value ranges per channel and
 * displacement), call `startSecondPass`, feed the same batches again (pass 2: the Sturges-binned
 * joint histograms, whose bin count and ranges pass 1 fixed), then `result`. Memory is the
 * histograms only (per channel and displacement, (1 + ceil(log2 n))^2 counts), never the maps.
 */
export class SgsAccumulator {
  readonly kh: number;
  readonly kw: number;
  readonly channels: number;
  /** Displacements computed (one of each d / -d pair), with their window index and mirror. */
  private readonly disps: { dy: number; dx: number; at: number; mirror: number }[] = [];
  private readonly n: Float64Array;
  private readonly xmin: Float64Array;
  private readonly xmax: Float64Array;
  private readonly ymin: Float64Array;
  private readonly ymax: Float64Array;
  private bins?: Int32Array;
  private offsets?: Float64Array;
  private hist?: Uint32Array;
  private pass: 1 | 2 = 1;

  constructor(channels: number, kh: number, kw: number) {
    this.kh = kh;
    this.kw = kw;
    this.channels = channels;
    const ci = Math.floor((kh - 1) / 2), cj = Math.floor((kw - 1) / 2);
    const done = new Set<number>();
    for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) {
      const at = i * kw + j;
      if ((i === ci && j === cj) || done.has(at)) continue;
      const mi = 2 * ci - i, mj = 2 * cj - j;
      const mirror = mi >= 0 && mi < kh && mj >= 0 && mj < kw ? mi * kw + mj : -1;
      this.disps.push({ dy: i - ci, dx: j - cj, at, mirror });
      done.add(at);
      if (mirror >= 0) done.add(mirror);
    }
    const m = this.disps.length * channels;
    this.n = new Float64Array(m);
    this.xmin = new Float64Array(m).fill(Infinity);
    this.xmax = new Float64Array(m).fill(-Infinity);
    this.ymin = new Float64Array(m).fill(Infinity);
    this.ymax = new Float64Array(m).fill(-Infinity);
  }

  observe(maps: FeatureMaps): void {
    const [N, C, h, w] = maps.dims;
    if (C !== this.channels) throw new Error(`SgsAccumulator: expected ${this.channels} channels, got ${C}`);
    const d = maps.data;
    for (const [k, { dy, dx }] of this.disps.entries()) {
      const y0 = Math.max(0, -dy), y1 = Math.min(h, h - dy), x0 = Math.max(0, -dx), x1 = Math.min(w, w - dx);
      for (let c = 0; c < C; c++) {
        const slot = k * C + c;
        if (this.pass === 1) {
          let n = 0, xmin = this.xmin[slot], xmax = this.xmax[slot], ymin = this.ymin[slot], ymax = this.ymax[slot];
          for (let img = 0; img < N; img++) {
            const base = (img * C + c) * h * w;
            for (let y = y0; y < y1; y++) {
              const row = base + y * w, nrow = base + (y + dy) * w + dx;
              for (let x = x0; x < x1; x++) {
                const a = d[row + x], v = d[nrow + x];
                if (a === 0 || v === 0) continue;
                n++;
                if (a < xmin) xmin = a;
                if (a > xmax) xmax = a;
                if (v < ymin) ymin = v;
                if (v > ymax) ymax = v;
              }
            }
          }
          this.n[slot] += n;
          this.xmin[slot] = xmin; this.xmax[slot] = xmax; this.ymin[slot] = ymin; this.ymax[slot] = ymax;
        } else {
          const B = this.bins![slot];
          if (B === 0) continue;
          const off = this.offsets![slot];
          const hist = this.hist!;
          const xmin = this.xmin[slot], ymin = this.ymin[slot];
          const bx = this.xmax[slot] > xmin ? B / (this.xmax[slot] - xmin) : 0;
          const by = this.ymax[slot] > ymin ? B / (this.ymax[slot] - ymin) : 0;
          for (let img = 0; img < N; img++) {
            const base = (img * C + c) * h * w;
            for (let y = y0; y < y1; y++) {
              const row = base + y * w, nrow = base + (y + dy) * w + dx;
              for (let x = x0; x < x1; x++) {
                const a = d[row + x], v = d[nrow + x];
                if (a === 0 || v === 0) continue;
                const ia = Math.min(B - 1, Math.floor((a - xmin) * bx));
                const iv = Math.min(B - 1, Math.floor((v - ymin) * by));
                hist[off + ia * B + iv]++;
              }
            }
          }
        }
      }
    }
  }

  /** Fixes the Sturges bin counts and ranges from pass 1 and allocates the histograms. */
  startSecondPass(): void {
    if (this.pass === 2) throw new Error('SgsAccumulator: second pass already started');
    const m = this.n.length;
    this.bins = new Int32Array(m);
    this.offsets = new Float64Array(m);
    let total = 0;
    for (let i = 0; i < m; i++) {
      const n = this.n[i];
      const B = n >= 2 ? 1 + Math.ceil(Math.log2(n)) : 0;
      this.bins[i] = B;
      this.offsets[i] = total;
      total += B * B;
    }
    this.hist = new Uint32Array(total);
    this.pass = 2;
  }

  /** NMI per displacement and channel (NaN where undefined), then the SGS matrix. */
  result(o: { k?: number; floor?: number } = {}): SgsEstimate {
    if (this.pass !== 2) throw new Error('SgsAccumulator: result() needs both passes');
    const { kh, kw, channels: C } = this;
    const k = o.k ?? 5;
    const raw = new Float64Array(kh * kw);
    const used = new Int32Array(kh * kw);
    const center = Math.floor((kh - 1) / 2) * kw + Math.floor((kw - 1) / 2);
    raw[center] = 1;
    used[center] = C;
    for (const [kk, disp] of this.disps.entries()) {
      let sum = 0, cnt = 0;
      for (let c = 0; c < C; c++) {
        const slot = kk * C + c;
        const B = this.bins![slot];
        if (B === 0) continue;
        const nmi = nmiFromJoint(this.hist!.subarray(this.offsets![slot], this.offsets![slot] + B * B), B, this.n[slot]);
        if (Number.isNaN(nmi)) continue;
        sum += sharpen(nmi, k);
        cnt++;
      }
      const v = cnt ? sum / cnt : 0; // no evidence of dependence anywhere: weight 0 (floored below)
      raw[disp.at] = v;
      used[disp.at] = cnt;
      if (disp.mirror >= 0) { raw[disp.mirror] = v; used[disp.mirror] = cnt; }
    }
    return { scale: normalizeScale(raw, o.floor ?? 1e-3), raw, channels: used };
  }
}

/** NMI from a B x B joint histogram holding n samples. */
function nmiFromJoint(joint: ArrayLike<number>, B: number, n: number): number {
  const hx = new Float64Array(B), hy = new Float64Array(B);
  let HXY = 0;
  for (let a = 0; a < B; a++) for (let b = 0; b < B; b++) {
    const c = joint[a * B + b];
    if (!c) continue;
    hx[a] += c;
    hy[b] += c;
    const p = c / n;
    HXY -= p * Math.log(p);
  }
  const H = (h: Float64Array) => { let e = 0; for (const c of h) if (c > 0) { const p = c / n; e -= p * Math.log(p); } return e; };
  if (!(HXY > 0)) return NaN;
  return (H(hx) + H(hy) - HXY) / HXY;
}

/** The SGS matrix of one conv from its input feature maps (all batches in memory). */
export function estimateScaling(batches: FeatureMaps[], o: SgsOptions): SgsEstimate {
  if (!batches.length) throw new Error('estimateScaling: no feature maps');
  const acc = new SgsAccumulator(batches[0].dims[1], o.kh, o.kw);
  for (const b of batches) acc.observe(b);
  acc.startSecondPass();
  for (const b of batches) acc.observe(b);
  return acc.result({ k: o.k, floor: o.floor });
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


/** Options of the sgs pass: calibration data, embedding, training graph. */
export interface SgsPassOptions {
  calib?: string;
  batches?: number;
  seed?: number;
  feeds?: Feeds[];
  embed?: boolean;
  trainingGraph?: boolean;
  k?: number;
  floor?: number;
}

/** The spatial gradient scaling of one conv: its kxk scaling matrix and the statistics it came
 * from.
 */
export interface SgsConvRecord {
  node: string;
  weight: string;
  input: string;
  kernel: [number, number];
  /** S, mean 1, strictly positive. */
  scale: number[][];
  /** Before normalization: center 1, channel-averaged NMI_k elsewhere. */
  raw: number[][];
  /** Channels that contributed per entry (NaN channels ignored). */
  channels: number[][];
  initializer?: string;
  trainingGraph?: { v: string; sqrtScale: string };
}

/** The sgs pass's annotations: one scaling record per conv. */
export interface SgsAnnotations {
  calibration: { source: string; batches: number; seed: number };
  k: number;
  convs: SgsConvRecord[];
  skipped: { node: string; reason: string }[];
}

/** Runs the calibration batches through onnxruntime and estimates one scaling matrix per conv
 * with a kernel larger than 1x1 (convs it cannot scale are listed in `skipped`, with why). */
export async function computeSgs(model: Model, o: SgsPassOptions = {}, log: (m: string) => void = () => {}): Promise<SgsAnnotations> {
  const g = model.graph;
  const seed = o.seed ?? 0;
  const source = o.feeds ? 'feeds' : o.calib ?? 'random';
  const batches = o.feeds ? { length: o.feeds.length, get: (i: number) => o.feeds![i] } : calibrationSet(model, o.calib ?? 'random', { batches: o.batches, seed });
  if (!batches.length) throw badInput('sgs: no calibration batches');
  const k = o.k ?? 5;
  const skipped: SgsAnnotations['skipped'] = [];
  const convs: { node: Node; w: Tensor }[] = [];
  for (const n of g.topoOrder()) {
    if (!isOp(n, 'Conv')) continue;
    const w = constTensor(g, n.inputs[1]);
    if (!w) { skipped.push({ node: n.name, reason: `weight '${n.inputs[1]}' is not a constant` }); continue; }
    if (w.dims.length !== 4) { skipped.push({ node: n.name, reason: `${w.dims.length - 2}-D conv (only 2-D convs are scaled)` }); continue; }
    if (w.dims[2] === 1 && w.dims[3] === 1) continue; // 1x1: nothing spatial to scale (excluded by the procedure)
    convs.push({ node: n, w });
  }
  // One accumulator per (input value, kernel size): convs reading the same map share it.
  const key = (c: { node: Node; w: Tensor }) => `${c.w.dims[2]}x${c.w.dims[3]}@${c.node.inputs[0]}`;
  const accs = new Map<string, SgsAccumulator>();
  for (const c of convs) if (!accs.has(key(c))) accs.set(key(c), new SgsAccumulator(c.w.dims[1] * c.node.attrInt('group', 1), c.w.dims[2], c.w.dims[3]));
  const values = [...new Set(convs.map((c) => c.node.inputs[0]))];
  const fromFeeds = new Set(values.filter((v) => g.isGraphInput(v)));
  const fetch = values.filter((v) => !fromFeeds.has(v));
  const bad = new Map<string, string>();
  const seen = new Map<SgsAccumulator, string>();
  // Two streaming passes over the calibration set (ranges/counts, then histograms): memory
  // holds one batch's feature maps and the histograms, never the whole calibration set.
  const session = fetch.length ? await createSession(model, { capture: fetch }) : undefined;
  try {
    for (const pass of [1, 2]) {
      if (pass === 2) for (const a of accs.values()) a.startSecondPass();
      for (let bi = 0; bi < batches.length; bi++) {
        const feeds = batches.get(bi);
        log(`sgs: pass ${pass}/2, calibration batch ${bi + 1}/${batches.length}`);
        const outs = session ? await runSession(session, feeds, fetch) : {};
        for (const c of convs) {
          const v = c.node.inputs[0];
          const t = fromFeeds.has(v) ? feeds[v] : outs[v];
          if (!t || t.dims.length !== 4 || !(t.data instanceof Float32Array || t.data instanceof Float64Array)) { bad.set(c.node.name, `input '${v}' is not a 4-D float tensor`); continue; }
          const acc = accs.get(key(c))!;
          if (acc.channels !== t.dims[1]) { bad.set(c.node.name, `input '${v}' has ${t.dims[1]} channels, the weight expects ${acc.channels}`); continue; }
          if (seen.get(acc) === `${pass}:${bi}`) continue; // a map shared by several convs: observed once
          seen.set(acc, `${pass}:${bi}`);
          acc.observe({ dims: [t.dims[0], t.dims[1], t.dims[2], t.dims[3]], data: t.data instanceof Float32Array ? t.data : Float32Array.from(t.data) });
        }
      }
    }
  } finally {
    await session?.release();
  }
  const records: SgsConvRecord[] = [];
  for (const c of convs) {
    const { node, w } = c;
    if (bad.has(node.name)) { skipped.push({ node: node.name, reason: bad.get(node.name)! }); continue; }
    const [, , kh, kw] = w.dims;
    const est = accs.get(key(c))!.result({ k, floor: o.floor });
    records.push({
      node: node.name, weight: node.inputs[1], input: node.inputs[0], kernel: [kh, kw],
      scale: toRows(est.scale, kh, kw), raw: toRows(est.raw, kh, kw), channels: toRows(est.channels, kh, kw, 0),
    });
    // Emit the unrounded S when embedding (the rows above are rounded for the schedule).
    (records[records.length - 1] as SgsConvRecord & { _s?: Float64Array })._s = est.scale;
  }
  return { calibration: { source, batches: batches.length, seed }, k, convs: records, skipped };
}

/** Stores S per conv (initializers + metadata) and/or rewrites weights as sqrt(S) . V. */
export function applySgs(model: Model, a: SgsAnnotations, o: { embed?: boolean; trainingGraph?: boolean }): boolean {
  const g = model.graph;
  let changed = false;
  const index: Record<string, string> = {};
  for (const r of a.convs as (SgsConvRecord & { _s?: Float64Array })[]) {
    const [kh, kw] = r.kernel;
    const s = r._s ?? Float64Array.from(r.scale.flat());
    if (o.embed) {
      const name = g.freshName(`${r.node}_sgs_scale`);
      g.setInitializer(Tensor.float32(name, [kh, kw], Float32Array.from(s)));
      r.initializer = name;
      index[r.node] = name;
      changed = true;
    }
    if (o.trainingGraph) {
      const conv = g.nodes.find((n) => n.name === r.node)!;
      const w = constTensor(g, conv.inputs[1])!;
      const W = w.toFloat32();
      const kk = kh * kw;
      const V = new Float32Array(W.length);
      for (let i = 0; i < W.length; i++) V[i] = W[i] / Math.sqrt(s[i % kk]);
      const vName = g.freshName(`${r.node}_sgs_V`), sName = g.freshName(`${r.node}_sgs_sqrt_scale`);
      g.setInitializer(Tensor.float32(vName, [...w.dims], V));
      g.setInitializer(Tensor.float32(sName, [1, 1, kh, kw], Float32Array.from(s, Math.sqrt)));
      const out = g.freshName(`${r.node}_sgs_weight`);
      g.addNode(new Node({ name: g.freshName(`${r.node}/sgs_weight`), opType: 'Mul', inputs: [vName, sName], outputs: [out] }), conv);
      const old = conv.inputs[1];
      conv.inputs[1] = out;
      g.invalidate();
      if (g.initializers.has(old) && g.consumers(old).length === 0 && !g.isGraphOutput(old)) g.removeInitializer(old);
      r.trainingGraph = { v: vName, sqrtScale: sName };
      changed = true;
    }
  }
  for (const r of a.convs as (SgsConvRecord & { _s?: Float64Array })[]) delete r._s;
  if (o.embed) {
    model.metadata = model.metadata.filter((m) => m.key !== 'dnnfuse.sgs');
    model.metadata.push({ key: 'dnnfuse.sgs', value: JSON.stringify({ version: 1, k: a.k, calibration: a.calibration, scales: index }) });
  }
  return changed;
}
