/**
 * sgs: spatial gradient scaling matrices per conv (Detkov et al., "Reparameterization through Spatial Gradient Scaling", arXiv 2303.02733; src/reparam/sgs.ts).
 *
 * Runs the calibration batches through onnxruntime once (every conv input captured as an extra
 * output in the same session), then estimates one kh x kw matrix S per conv with kh, kw > 1
 * (1x1 convs excluded; depthwise convs and the stem included; stride and dilation unused), each
 * strictly positive with mean 1. Annotations: every matrix (rows) with the conv, its weight,
 * the channels that contributed, and the calibration used.
 *
 * Options (ctx.options.sgs):
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
import type { Pass, PassContext } from './pass.ts';
import { optionsSchema } from './pass.ts';
import { createSession, runSession, type Feeds } from '../analysis/ort.ts';
import { SgsAccumulator, toRows } from '../reparam/sgs.ts';
import { calibrationSet } from '../reparam/calib.ts';
import { constTensor, isOp } from '../reparam/graph-ops.ts';
import { badInput } from '../errors.ts';

declare module './pass.ts' {
  interface PassOptionsMap {
    sgs: Omit<SgsPassOptions, 'feeds'>;
  }
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

export const sgsPass: Pass<SgsAnnotations> = {
  name: 'sgs',
  description: 'Spatial gradient scaling: one mean-1 kxk scaling matrix per conv from calibration feature-map mutual information',
  reads: ['graph'],
  writes: ['annotations:sgs', 'graph (with embed / trainingGraph)'],
  kind: 'sgs-scales',
  options: optionsSchema({ calib: { type: 'string' }, batches: { type: 'integer', minimum: 1 }, seed: { type: 'integer' }, embed: { type: 'boolean' }, trainingGraph: { type: 'boolean' }, k: { type: 'number' }, floor: { type: 'number' } }),
  async run(model: Model, ctx: PassContext) {
    const o: SgsPassOptions = { seed: ctx.seed, ...(ctx.options.sgs ?? {}), ...(ctx.services.calibrationFeeds ? { feeds: ctx.services.calibrationFeeds } : {}) };
    const a = await computeSgs(model, o, ctx.log);
    const changed = applySgs(model, a, o);
    return { changed, annotations: a };
  },
};
