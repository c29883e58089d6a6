/**
 * IR helpers shared by the reparameterization passes: constant lookup (initializer, Constant
 * node, Identity of a constant), reading Conv / BatchNormalization / AveragePool / Pad nodes
 * into the kernel algebra of kernel.ts (with every precondition checked and a reason when it
 * does not hold), emitting a ConvSpec back as nodes, and the rewrite log the passes annotate.
 */
import { attr, Node, type Graph, type Model, type TensorType } from '../ir/graph.ts';
import { Tensor } from '../ir/tensor.ts';
import { constTensor } from '../ir/constant.ts';
import { DataType } from '../ir/dtype.ts';
import { typeOfValue } from '../analysis/shapes.ts';
import { affineSpec, avgPoolSpec, bnScaleShift, lazySpec, type ConvSpec, type Pads, type Pair } from './kernel.ts';

/** One rewrite applied or refused, for the schedule. */
export interface RewriteRecord {
  rewrite: string;
  status: 'applied' | 'refused';
  /** Nodes involved (names), the anchor first. */
  nodes: string[];
  /** For applied rewrites: what replaced them; for refused: why not. */
  detail: string;
}

/** The annotations of the rewriting passes (fold-bn, collapse-branches, expand-branches): rewrites
 * applied, refused, and each one's record.
 */
export interface RewriteAnnotations {
  applied: number;
  refused: number;
  rewrites: RewriteRecord[];
}

export class RewriteLog {
  readonly records: RewriteRecord[] = [];
  applied(rewrite: string, nodes: (Node | string)[], detail: string): void {
    this.records.push({ rewrite, status: 'applied', nodes: nodes.map(nameOf), detail });
  }
  refused(rewrite: string, nodes: (Node | string)[], detail: string): void {
    const rec = { rewrite, status: 'refused' as const, nodes: nodes.map(nameOf), detail };
    // A fixed-point sweep sees the same refusal again: record it once.
    // (details name the values involved, so rewrite + detail identifies a refusal).
    if (!this.records.some((r) => r.status === 'refused' && r.rewrite === rec.rewrite && r.detail === rec.detail)) this.records.push(rec);
  }
  annotations(): RewriteAnnotations {
    return { applied: this.records.filter((r) => r.status === 'applied').length, refused: this.records.filter((r) => r.status === 'refused').length, rewrites: this.records };
  }
}

const nameOf = (n: Node | string) => (typeof n === 'string' ? n : n.name);

/** Raised by the readers below: a precondition that does not hold, with the reason. */
export class Refusal extends Error {}

/** The float32 constant behind input `value` of `node` (`what` names it in the refusal): the
 * tensor and its values; a Refusal when it is not a constant or not float32. */
export function constFloatTensor(graph: Graph, value: string, what: string, node: Node): { t: Tensor; v: Float32Array } {
  const t = constTensor(graph, value);
  if (!t) throw new Refusal(`${what} '${value}' of node '${node.name}' is not a constant`);
  if (t.dataType !== DataType.FLOAT) throw new Refusal(`${what} '${value}' of node '${node.name}' is not float32 (only float32 weights are rewritten)`);
  return { t, v: t.toFloat32() };
}

/** The values of constFloatTensor. */
export function constFloats(graph: Graph, value: string, what: string, node: Node): Float32Array {
  return constFloatTensor(graph, value, what, node).v;
}

/** The shape of a value: declared, else inferred; undefined when neither is known. */
export function valueShape(model: Model, value: string): TensorType['shape'] | undefined {
  const declared = model.graph.typeOf(value)?.shape;
  if (declared) return declared;
  try {
    return typeOfValue(model, value)?.shape;
  } catch {
    return undefined;
  }
}

/** Spatial size [h, w] of a 4-D value, from declarations or shape inference; undefined if unknown. */
export function spatialSize(model: Model, value: string): Pair | undefined {
  const fromType = (shape: unknown[] | undefined): Pair | undefined =>
    shape && shape.length === 4 && typeof shape[2] === 'number' && typeof shape[3] === 'number' ? [shape[2], shape[3]] : undefined;
  const declared = fromType(model.graph.typeOf(value)?.shape);
  if (declared) return declared;
  try {
    return fromType(typeOfValue(model, value)?.shape);
  } catch {
    return undefined;
  }
}

export const isOp = (n: Node | undefined, op: string): boolean => !!n && n.opType === op && (n.domain === '' || n.domain === 'ai.onnx');

/** Resolves a Conv's pads (auto_pad included) for a 2-D conv. */
function convPads(model: Model, node: Node, kh: number, kw: number, stride: Pair, dil: Pair): Pads {
  const autoPad = node.attrString('auto_pad', 'NOTSET');
  if (autoPad === 'NOTSET') {
    const p = node.attrInts('pads', [0, 0, 0, 0]);
    if (p.length !== 4) throw new Refusal(`node '${node.name}': pads has ${p.length} entries, expected 4`);
    return [p[0], p[1], p[2], p[3]];
  }
  if (autoPad === 'VALID') return [0, 0, 0, 0];
  const size = spatialSize(model, node.inputs[0]);
  if (!size) throw new Refusal(`node '${node.name}': auto_pad=${autoPad} needs the input's spatial size, which is unknown`);
  const out: number[] = [];
  const total = [0, 1].map((a) => {
    const o = Math.ceil(size[a] / stride[a]);
    return Math.max(0, (o - 1) * stride[a] + dil[a] * ([kh, kw][a] - 1) + 1 - size[a]);
  });
  for (const t of total) out.push(autoPad === 'SAME_LOWER' ? Math.ceil(t / 2) : Math.floor(t / 2));
  return [out[0], out[1], total[0] - out[0], total[1] - out[1]];
}

/** A Conv node as a ConvSpec (2-D, float32, constant weights). */
export function convSpec(model: Model, node: Node): ConvSpec {
  const g = model.graph;
  const wT = constTensor(g, node.inputs[1]);
  if (!wT) throw new Refusal(`conv '${node.name}': weight '${node.inputs[1]}' is not a constant`);
  if (wT.dims.length !== 4) throw new Refusal(`conv '${node.name}' is ${wT.dims.length - 2}-D; only 2-D convs are merged`);
  if (wT.dataType !== DataType.FLOAT) throw new Refusal(`weight '${node.inputs[1]}' of node '${node.name}' is not float32 (only float32 weights are rewritten)`);
  const [M, cg, kh, kw] = wT.dims;
  const group = node.attrInt('group', 1);
  const b = node.inputs[2] ? constFloats(g, node.inputs[2], 'bias', node) : undefined;
  const s = node.attrInts('strides', [1, 1]);
  const d = node.attrInts('dilations', [1, 1]);
  const stride: Pair = [s[0], s[1]], dilation: Pair = [d[0], d[1]];
  const ks = node.attrInts('kernel_shape');
  if (ks && (ks[0] !== kh || ks[1] !== kw)) throw new Refusal(`conv '${node.name}': kernel_shape ${ks.join('x')} disagrees with its weight ${kh}x${kw}`);
  // The weights are read when a merge or composition uses them (lazySpec), not for matching.
  return lazySpec({ M, C: cg * group, group, kh, kw, b, stride, dilation, pads: convPads(model, node, kh, kw, stride, dilation) }, () => constFloats(g, node.inputs[1], 'weight', node));
}

/** Inference-mode BN parameters (s, t); refuses training mode and extra outputs. */
export function bnParams(model: Model, node: Node): { s: Float64Array; t: Float64Array } {
  const g = model.graph;
  if (node.attrInt('training_mode', 0) !== 0) throw new Refusal(`BatchNormalization '${node.name}' is in training mode (batch statistics)`);
  if (node.outputs.filter((o) => o).length > 1) throw new Refusal(`BatchNormalization '${node.name}' has running-statistics outputs (training mode)`);
  if (node.attrInt('spatial', 1) !== 1) throw new Refusal(`BatchNormalization '${node.name}' has spatial=0 (per-activation statistics)`);
  const [gamma, beta, mean, variance] = [1, 2, 3, 4].map((i, k) => constFloats(g, node.inputs[i], ['scale', 'B', 'mean', 'var'][k], node));
  return bnScaleShift(gamma, beta, mean, variance, node.attrFloat('epsilon', 1e-5));
}

export function bnSpec(model: Model, node: Node): ConvSpec {
  const { s, t } = bnParams(model, node);
  return affineSpec(s, t);
}

/** Constant-mode Pad with zero value, padding only the two spatial axes of a 4-D tensor. */
export function zeroPadAmounts(model: Model, node: Node): Pads {
  const g = model.graph;
  const mode = node.attrString('mode', 'constant');
  if (mode !== 'constant') throw new Refusal(`Pad '${node.name}' uses mode '${mode}' (only zero padding merges into a conv)`);
  let pads: number[] | undefined;
  let value = 0;
  if (node.inputs.length > 1 && node.inputs[1]) {
    const t = constTensor(g, node.inputs[1]);
    if (!t) throw new Refusal(`Pad '${node.name}': pads are not constant`);
    pads = t.toIntegers();
    if (node.inputs[2]) {
      const v = constTensor(g, node.inputs[2]);
      if (!v) throw new Refusal(`Pad '${node.name}': constant value is not constant`);
      value = v.toFloat32()[0] ?? 0;
    }
    if (node.inputs[3]) throw new Refusal(`Pad '${node.name}' has an axes input`);
  } else {
    pads = node.attrInts('pads');
    value = node.attrFloat('value', 0);
  }
  if (!pads || pads.length !== 8) throw new Refusal(`Pad '${node.name}' is not a 4-D pad`);
  if (value !== 0) throw new Refusal(`Pad '${node.name}' pads with ${value}, not zero`);
  if (pads[0] || pads[1] || pads[4] || pads[5]) throw new Refusal(`Pad '${node.name}' pads the batch or channel axis`);
  if (pads.some((p) => p < 0)) throw new Refusal(`Pad '${node.name}' crops (negative pads)`);
  return [pads[2], pads[3], pads[6], pads[7]];
}

/** AveragePool as a depthwise conv; `extraPads` come from a preceding zero Pad node. */
export function avgPoolAsConv(model: Model, node: Node, channels: number, extraPads: Pads = [0, 0, 0, 0]): ConvSpec {
  const k = node.attrInts('kernel_shape', []);
  if (k.length !== 2) throw new Refusal(`AveragePool '${node.name}' is not 2-D`);
  if (node.attrInt('ceil_mode', 0) !== 0) throw new Refusal(`AveragePool '${node.name}' has ceil_mode=1 (partial windows are not a conv)`);
  const autoPad = node.attrString('auto_pad', 'NOTSET');
  if (autoPad !== 'NOTSET' && autoPad !== 'VALID') throw new Refusal(`AveragePool '${node.name}' uses auto_pad=${autoPad}`);
  const p = autoPad === 'VALID' ? [0, 0, 0, 0] : node.attrInts('pads', [0, 0, 0, 0]);
  if (p.some((v) => v !== 0) && node.attrInt('count_include_pad', 0) !== 1) {
    throw new Refusal(`AveragePool '${node.name}' pads with count_include_pad=0 (the divisor changes at the borders; exact only with count_include_pad=1 or zero pads)`);
  }
  const d = node.attrInts('dilations', [1, 1]);
  if (d.some((v) => v !== 1)) throw new Refusal(`AveragePool '${node.name}' is dilated`);
  const s = node.attrInts('strides', [1, 1]);
  const pads: Pads = [p[0] + extraPads[0], p[1] + extraPads[1], p[2] + extraPads[2], p[3] + extraPads[3]];
  return avgPoolSpec(channels, k[0], k[1], [s[0], s[1]], pads);
}

/** Channel count of a 4-D value (declared or inferred). */
export function channelsOf(model: Model, value: string): number | undefined {
  const c = valueShape(model, value)?.[1];
  return typeof c === 'number' ? c : undefined;
}

/** Rounds a float64 array to a float32 tensor. */
export const f32 = (name: string, dims: number[], v: ArrayLike<number>) => Tensor.float32(name, dims, Float32Array.from(v));

/**
 * Emits a ConvSpec as a Conv node (plus an Add of the bias map when it has one), reading
 * `input` and writing `output`. Initializers get fresh names derived from `name`.
 */
export function emitConv(graph: Graph, spec: ConvSpec, o: { name: string; input: string; output: string }): Node[] {
  const wName = graph.freshName(`${o.name}.weight`);
  graph.setInitializer(f32(wName, [spec.M, spec.C / spec.group, spec.kh, spec.kw], spec.W));
  const bName = graph.freshName(`${o.name}.bias`);
  graph.setInitializer(f32(bName, [spec.M], spec.b));
  const attrs = [
    attr.ints('dilations', spec.dilation),
    attr.int('group', spec.group),
    attr.ints('kernel_shape', [spec.kh, spec.kw]),
    attr.ints('pads', spec.pads),
    attr.ints('strides', spec.stride),
  ];
  if (!spec.biasMap) return [new Node({ name: o.name, opType: 'Conv', inputs: [o.input, wName, bName], outputs: [o.output], attributes: attrs })];
  const mid = graph.freshName(`${o.name}_output`);
  const mapName = graph.freshName(`${o.name}.border_bias`);
  graph.setInitializer(f32(mapName, [1, spec.M, spec.biasMap.h, spec.biasMap.w], spec.biasMap.data));
  return [
    new Node({ name: o.name, opType: 'Conv', inputs: [o.input, wName, bName], outputs: [mid], attributes: attrs }),
    new Node({ name: graph.freshName(`${o.name}/border_add`), opType: 'Add', inputs: [mid, mapName], outputs: [o.output] }),
  ];
}

/** Parameter count: elements of every initializer some node reads. */
export function paramCount(graph: Graph): number {
  const read = new Set(graph.nodes.flatMap((n) => n.inputs));
  let n = 0;
  for (const [name, t] of graph.initializers) if (read.has(name)) n += t.size;
  for (const node of graph.nodes) if (node.opType === 'Constant') { const a = node.attr('value'); if (a?.type === 'tensor') n += a.value.size; }
  return n;
}
