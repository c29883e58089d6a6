/**
 * IR Model -> OpGraph: the fusion problem's view of a network.
 *
 * - Constant folding of the *structure*: initializers, Constant nodes, Shape/Size (static once
 *   shapes are known) and every node whose inputs are all constant are not ops; their outputs are
 *   constants (weights when floating point, shape parameters when integer).
 * - Identity and Dropout (inference: output 0 = input) are aliases, not ops.
 * - Every other node is an op. Feature-map inputs are its non-constant inputs; weights are its
 *   floating-point constant inputs (integer constants such as Reshape's shape, Resize's sizes or
 *   Clip's bounds are parameters, not weights).
 * - Op ids follow the IR's topological order (stable: file order on ties).
 * - Control-flow nodes (If, Loop, Scan) are opaque ops: their feature-map inputs include the
 *   values their subgraphs read from the main graph, their weights are the float
 *   initializers inside their subgraphs (for If, the heavier branch), and the cost models
 *   never fuse them with another op (FusionOp.opaque).
 *
 * Shapes come from `shapeOf(value)`; by default the graph's declared types (graph inputs/outputs,
 * value_info). Run shape inference first (src/analysis/shapes.ts `inferShapes`, which fills
 * value_info) or pass `shapeOf` explicitly (ModelBuilder.shape in tests).
 */
import { CONTROL_FLOW_OPS, type Graph, type Model, type Node } from '../ir/graph.ts';
import { DataType } from '../ir/dtype.ts';
import { constTensor } from '../ir/constant.ts';
import { unsupported } from '../errors.ts';
import type { FusionOp, FusionTensor, OpGraph } from './types.ts';
import { geometryOpType, matmulInnerDim, packedWeightElements, readsIntegerWeights } from '../analysis/contrib-geometry.ts';
import { analyzeShapes, staticShape } from '../analysis/shapes.ts';
import { WINDOW_OPS, isGlobal, mapInputAxes, mapOutputAxes, markStreamedMaps, mergeAxis, rowAxis, wholeOperands } from './row-order.ts';
import { nonTensorKind } from '../onnx/decode.ts';

const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16]);
const ALIAS_OPS = new Set(['Identity', 'Dropout']);
const SHAPE_OPS = new Set(['Shape', 'Size']);

export interface OpGraphOptions {
  /** Static shape of a value; default: the graph's declared type (throws naming the value). */
  shapeOf?: (value: string) => number[];
  /** Why a value's shape cannot be known before running the model (data-dependent), or
   * undefined. An op with such a feature map is left out of planning, with that reason
   * (OpGraph.unplanned), instead of failing the whole plan. Default: nothing is. */
  dataDependent?: (value: string) => string | undefined;
  /** Planning a subgraph (If branch, Loop/Scan body): the constant values of its enclosing
   * graphs that it may read from outer scope (value -> dtype code, `graphConstants`). Float
   * ones are weights of the ops that read them, as the subgraph's own initializers are. */
  outerConstants?: ReadonlyMap<string, number>;
}

/** The values of `graph` the op graph treats as constants (value -> dtype code): initializers,
 * Constant, Shape and Size outputs, and outputs of nodes whose inputs are all constant (the rules
 * of `buildOpGraph`), given the constants of its enclosing graphs (`outer`, included in the
 * result, so that a nested subgraph gets every constant it can read). */
export function graphConstants(graph: Graph, outer: ReadonlyMap<string, number> = new Map()): Map<string, number> {
  const c = new Map(outer);
  for (const [name, t] of graph.initializers) c.set(name, t.dataType);
  for (const n of graph.topoOrder()) {
    const ins = [...n.inputs, ...n.implicitInputs()].filter((i) => i !== '');
    if (n.opType === 'Constant' && n.domain === '') {
      const a = n.attributes[0];
      const dt = a?.type === 'tensor' ? a.value.dataType : a && (a.name === 'value_int' || a.name === 'value_ints') ? DataType.INT64 : DataType.FLOAT;
      for (const o of n.outputs) if (o) c.set(o, dt);
    } else if (SHAPE_OPS.has(n.opType)) {
      for (const o of n.outputs) if (o) c.set(o, DataType.INT64);
    } else if (ins.every((i) => c.has(i))) {
      const dt = n.opType === 'DequantizeLinear' ? DataType.FLOAT : ins.length ? c.get(ins[0])! : DataType.FLOAT;
      for (const o of n.outputs) if (o) c.set(o, n.opType === 'Cast' ? (n.attrInt('to') ?? dt) : dt);
    }
  }
  return c;
}

/** Default shape lookup: declared types only (graph inputs/outputs, value_info, initializers). */
export function declaredShape(graph: Graph, value: string): number[] {
  const t = graph.typeOf(value);
  const s = t?.shape;
  if (!s || s.some((d) => typeof d !== 'number' || d < 0)) {
    throw unsupported(`fusion planning needs the static shape of '${value}'; ${s ? `it is [${s.map((d) => d ?? '?').join(', ')}]` : 'it is unknown'} (run shape inference or pass --shape input=1x3x224x224)`);
  }
  return s as number[];
}

const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

/** Builds the OpGraph of a model (main graph), or of a subgraph given as a Graph (with
 * `outerConstants`). */
export function buildOpGraph(model: Model | Graph, opts: OpGraphOptions = {}): OpGraph {
  const graph = 'graph' in model ? model.graph : model;
  const shapeOf = opts.shapeOf ?? ((v: string) => declaredShape(graph, v));
  const order = graph.topoOrder();

  // ---- constants and aliases ----
  const constType = new Map<string, number>(opts.outerConstants ?? []); // const value -> dtype code
  for (const [name, t] of graph.initializers) constType.set(name, t.dataType);
  const alias = new Map<string, string>();
  const root = (v: string): string => {
    let r = v;
    while (alias.has(r)) r = alias.get(r)!;
    return r;
  };
  const opNodes: Node[] = [];
  for (const n of order) {
    const ins = [...n.inputs, ...n.implicitInputs()].filter((i) => i !== '').map(root);
    if (n.opType === 'Constant' && n.domain === '') {
      const a = n.attributes[0];
      const dt = a?.type === 'tensor' ? a.value.dataType : a && (a.name === 'value_int' || a.name === 'value_ints') ? DataType.INT64 : DataType.FLOAT;
      for (const o of n.outputs) if (o) constType.set(o, dt);
      continue;
    }
    if (SHAPE_OPS.has(n.opType)) {
      for (const o of n.outputs) if (o) constType.set(o, DataType.INT64);
      continue;
    }
    if (ins.every((i) => constType.has(i))) {
      // DequantizeLinear of an integer weight is a float weight (QDQ models).
      const dt = n.opType === 'DequantizeLinear' ? DataType.FLOAT : ins.length ? constType.get(ins[0])! : DataType.FLOAT;
      for (const o of n.outputs) if (o) constType.set(o, n.opType === 'Cast' ? (n.attrInt('to') ?? dt) : dt);
      continue;
    }
    if (ALIAS_OPS.has(n.opType) && n.domain === '') {
      if (n.outputs[0]) alias.set(n.outputs[0], ins[0]);
      continue;
    }
    opNodes.push(n);
  }

  // ---- tensors ----
  const tensors: FusionTensor[] = [];
  const tensorIndex = new Map<string, number>();
  const graphOutputs = new Set(graph.outputs.map((o) => root(o.name)));
  const tensorOf = (name: string, producer: number): number => {
    let i = tensorIndex.get(name);
    if (i !== undefined) return i;
    const shape = shapeOf(name).map(Number);
    i = tensors.length;
    tensors.push({ name, shape, elements: product(shape), producer, consumers: [] });
    if (graphOutputs.has(name)) tensors[i].graphOutput = true;
    tensorIndex.set(name, i);
    return i;
  };

  // Which outputs matter: consumed by some op, or graph outputs (or the first output).
  const consumed = new Set<string>();
  for (const n of opNodes) for (const i of [...n.inputs, ...n.implicitInputs()]) if (i) consumed.add(root(i));

  // Ops whose feature maps have no static shape (data-dependent, or from an op without a shape
  // rule) are not planned, each with its reason.
  const unplanned: { node: string; opType: string; reason: string }[] = [];
  if (opts.dataDependent) {
    const dd = opts.dataDependent;
    const kept = opNodes.filter((n) => {
      const vals = [...n.inputs, ...n.implicitInputs()].filter((i) => i && !constType.has(root(i))).map(root);
      vals.push(...n.outputs.filter((o, k) => o && (k === 0 || consumed.has(o) || graphOutputs.has(o))));
      for (const v of vals) {
        const why = dd(v);
        if (why) {
          unplanned.push({ node: n.name, opType: n.opType, reason: `'${v}' has no static shape: ${why}` });
          return false;
        }
      }
      return true;
    });
    opNodes.length = 0;
    opNodes.push(...kept);
  }

  const ops: FusionOp[] = [];
  // The axis each rank-4 map streams along (mapInputAxes): 2 (NCHW's H) unless a Transpose moved it
  const axisOf = new Map<number, number>();
  const readers = new Map<string, Node[]>();
  for (const n of opNodes) {
    for (const i of n.inputs) {
      if (!i) continue;
      const l = readers.get(root(i));
      if (l) l.push(n);
      else readers.set(root(i), [n]);
    }
  }
  const ahead = (t: number) => mergeAxis(tensors[t].name, readers, root, (v) => {
    const i = tensorIndex.get(v);
    return i !== undefined && tensors[i].shape.length === 4 ? axisOf.get(i) : undefined;
  });
  opNodes.forEach((n, id) => {
    const inputs: number[] = [];
    const weights: { name: string; elements: number }[] = [];
    const opaque = CONTROL_FLOW_OPS.has(n.opType) && (n.domain === '' || n.domain === 'ai.onnx');
    const wholeAt = opaque ? [] : wholeOperands(n);
    let whole: number[] | undefined;
    const raws = opaque ? [...n.inputs, ...n.implicitInputs()] : n.inputs;
    for (let k = 0; k < raws.length; k++) {
      const raw = raws[k];
      if (!raw) continue;
      const v = root(raw);
      const ct = constType.get(v);
      if (ct !== undefined) {
        const packed = FLOAT_TYPES.has(ct) ? undefined : packedWeightElements(n, raw);
        if (FLOAT_TYPES.has(ct) || (packed === undefined && readsIntegerWeights(n))) weights.push({ name: v, elements: constElements(graph, v, shapeOf) });
        else if (packed !== undefined) weights.push({ name: v, elements: packed });
        continue;
      }
      const t = tensorOf(v, -1);
      if (!inputs.includes(t)) inputs.push(t);
      if (wholeAt.includes(k) && !whole?.includes(t)) (whole ??= []).push(t);
    }
    const outputs: number[] = [];
    n.outputs.forEach((o, k) => {
      if (!o || (k > 0 && !consumed.has(o) && !graphOutputs.has(o))) return;
      outputs.push(tensorOf(o, id));
    });
    const axis = mapInputAxes(n, inputs, tensors, axisOf, ahead);
    const geo = geometry(n, graph, shapeOf, axis.input);
    const op: FusionOp = {
      id,
      node: n.name || `${n.opType}_${id}`,
      opType: n.opType,
      inputs,
      outputs,
      weightElements: weights.reduce((a, w) => a + w.elements, 0),
      kernel: geo.kernel,
      stride: geo.stride,
      dilation: geo.dilation,
      global: isGlobal(n, graph, inputs.length ? tensors[inputs[0]].shape : [], outputs.length ? tensors[outputs[0]].shape : [], axis.input),
      macs: 0,
      weights,
    };
    mapOutputAxes(n, axis.input, op.global, outputs, tensors, axisOf);
    for (const t of axis.whole) if (!whole?.includes(t)) (whole ??= []).push(t);
    if (whole) op.whole = whole;
    if (opaque) {
      op.opaque = true;
      const inner = subgraphWeights(n);
      if (inner.elements) {
        op.weights!.push(inner);
        op.weightElements += inner.elements;
      }
    }
    op.macs = macsOf(n, op, tensors, graph, shapeOf);
    ops.push(op);
  });
  for (const op of ops) for (const t of op.inputs) tensors[t].consumers.push(op.id);
  markStreamedMaps(opNodes, ops, tensors);
  const og = finalizeOpGraph(ops, tensors);
  if (unplanned.length) og.unplanned = unplanned;
  return og;
}

/** Float initializer elements inside a control-flow node's subgraphs (nested ones included):
 * what running it reads at least once. An If runs one branch: the heavier one counts. */
function subgraphWeights(n: Node): { name: string; elements: number } {
  const inGraph = (g: Graph): number => {
    let e = 0;
    for (const t of g.initializers.values()) if (FLOAT_TYPES.has(t.dataType)) e += t.size;
    for (const m of g.nodes) {
      if (m.opType === 'Constant') {
        const a = m.attributes[0];
        if (a?.type === 'tensor' && FLOAT_TYPES.has(a.value.dataType)) e += a.value.size;
      }
      e += nodeWeights(m);
    }
    return e;
  };
  const nodeWeights = (m: Node): number => {
    const subs = m.subgraphs().map(inGraph);
    if (!subs.length) return 0;
    return m.opType === 'If' ? Math.max(...subs) : subs.reduce((a, b) => a + b, 0);
  };
  return { name: `${n.name}.subgraphs`, elements: nodeWeights(n) };
}

function constElements(graph: Graph, v: string, shapeOf: (v: string) => number[]): number {
  const t = constTensor(graph, v);
  if (t) return t.size;
  try {
    return product(shapeOf(v));
  } catch {
    return 0; // a folded constant of unknown shape: not counted (documented approximation)
  }
}

/** Sliding-window geometry: kernel (from kernel_shape or the weight dims), strides, dilations.
 * The first of the two is the row axis: a 1-D window is [k, 1] (its map streams along L, see
 * markStreamedMaps), a 3-D one [kH, kW] (NCDHW streams along H). Element-wise and other ops
 * are 1x1 stride 1. `rowAt`: the row axis of a rank-4 input (mapInputAxes), which an
 * interpolating Resize follows. */
function geometry(n: Node, graph: Graph, shapeOf: (v: string) => number[], rowAt?: number): { kernel: [number, number]; stride: [number, number]; dilation: [number, number] } {
  const two = (xs: number[] | undefined, d: number): [number, number] => (!xs || xs.length === 0 ? [d, d] : xs.length === 1 ? [xs[0], 1] : [xs[xs.length - 2], xs[xs.length - 1]]);
  const op = geometryOpType(n);
  if (op === 'Resize' || op === 'Upsample') return resizeGeometry(n, shapeOf, rowAt);
  // an output row of SpaceToDepth is a b x b block of b input rows: a b x b window, stride b
  if (op === 'SpaceToDepth') {
    const b = n.attrInt('blocksize', 1);
    return { kernel: [b, b], stride: [b, b], dilation: [1, 1] };
  }
  if (!WINDOW_OPS.has(op)) return { kernel: [1, 1], stride: [1, 1], dilation: [1, 1] };
  let k = n.attrInts('kernel_shape');
  if (!k && (op === 'Conv' || op === 'ConvTranspose')) {
    const w = n.inputs[1];
    const dims = w ? (graph.initializers.get(w)?.dims ?? (() => { try { return shapeOf(w); } catch { return undefined; } })()) : undefined;
    if (dims && dims.length > 2) k = dims.slice(2);
  }
  // A ConvTranspose upsamples: its window slides over its *output*; dnnfuse treats it as a
  // KxK window with stride 1 on the input rows (the row scale comes from the shapes).
  const stride = op === 'ConvTranspose' ? [1, 1] : n.attrInts('strides');
  return { kernel: two(k, 1), stride: two(stride, 1), dilation: two(n.attrInts('dilations'), 1) };
}

/** An interpolating Resize as a window: each output row blends 2 (linear) or 4 (cubic) input
 * rows, consecutive ones when upsampling (stride 1 on the input rows, as for ConvTranspose) and
 * about 1/scale apart when downsampling (stride round(in/out)); nearest reads one row (1x1). An
 * axis that is not resized reads one. Row and column axes as LBDF streams the map (H, W of NCHW
 * and NCDHW, L of NCL). */
function resizeGeometry(n: Node, shapeOf: (v: string) => number[], rowAt?: number): { kernel: [number, number]; stride: [number, number]; dilation: [number, number] } {
  const one = { kernel: [1, 1] as [number, number], stride: [1, 1] as [number, number], dilation: [1, 1] as [number, number] };
  const mode = n.attrString('mode', 'nearest');
  const taps = mode === 'linear' || mode === 'bilinear' ? 2 : mode === 'cubic' ? 4 : 1;
  if (taps === 1) return one;
  let i: number[], o: number[];
  try {
    i = shapeOf(n.inputs[0]);
    o = shapeOf(n.outputs[0]);
  } catch {
    return one;
  }
  const r = i.length;
  if (r < 3 || r > 5 || o.length !== r) return one;
  const row = r === 4 && rowAt !== undefined ? rowAt : rowAxis(r);
  const axis = (a: number): [number, number] => (a >= r || i[a] === o[a] ? [1, 1] : [taps, Math.max(1, Math.round(i[a] / o[a]))]);
  const [kh, sh] = axis(row);
  const [kw, sw] = axis(r === 3 ? r : row + 1);
  return { kernel: [kh, kw], stride: [sh, sw], dilation: [1, 1] };
}

/** Multiply-accumulates (convs, matmuls) or output elements (everything else). */
function macsOf(n: Node, op: FusionOp, tensors: FusionTensor[], graph: Graph, shapeOf: (v: string) => number[]): number {
  const out = op.outputs.length ? tensors[op.outputs[0]].elements : 0;
  const inT = op.inputs.length ? tensors[op.inputs[0]] : undefined;
  const wDims = (i: number): number[] | undefined => {
    const w = n.inputs[i];
    if (!w) return undefined;
    const init = graph.initializers.get(w);
    if (init) return init.dims;
    try {
      return shapeOf(w);
    } catch {
      return undefined;
    }
  };
  const opType = geometryOpType(n);
  if (opType === 'Conv') {
    const w = wDims(1);
    if (w && w.length >= 3) return out * product(w.slice(1));
  }
  if (opType === 'ConvTranspose') {
    const w = wDims(1);
    if (w && w.length >= 3 && inT) return inT.elements * product(w.slice(1));
  }
  if (opType === 'Gemm' || opType === 'MatMul') {
    const a = opType === 'Gemm' && n.attrInt('transA', 0) ? 0 : 1;
    const aShape = inT?.shape ?? wDims(0);
    if (aShape && aShape.length >= 1) {
      const k = opType === 'Gemm' ? (a ? aShape[aShape.length - 1] : aShape[0]) : matmulInnerDim(n, aShape);
      return out * k;
    }
  }
  if (WINDOW_OPS.has(opType)) return out * op.kernel[0] * op.kernel[1];
  return out;
}

/** Fills producers/consumers, succ/pred from ops whose `inputs`/`outputs` index `tensors`.
 * Use it to build OpGraphs directly (tests, generators): pass tensors with empty consumers and
 * producer -1; both are recomputed here. Op ids must equal their index and be topological. */
export function finalizeOpGraph(ops: FusionOp[], tensors: FusionTensor[]): OpGraph {
  for (const t of tensors) {
    t.consumers = [];
    t.producer = -1;
  }
  for (const op of ops) {
    for (const t of op.outputs) tensors[t].producer = op.id;
  }
  for (const op of ops) for (const t of op.inputs) if (!tensors[t].consumers.includes(op.id)) tensors[t].consumers.push(op.id);
  const succ: number[][] = ops.map(() => []);
  const pred: number[][] = ops.map(() => []);
  for (const op of ops) {
    for (const t of op.inputs) {
      const p = tensors[t].producer;
      if (p >= 0) {
        if (p >= op.id) throw unsupported(`op graph is not in topological order at op '${op.node}'`);
        if (!pred[op.id].includes(p)) pred[op.id].push(p);
        if (!succ[p].includes(op.id)) succ[p].push(op.id);
      }
    }
  }
  for (const l of succ) l.sort((a, b) => a - b);
  for (const l of pred) l.sort((a, b) => a - b);
  for (const t of tensors) t.consumers.sort((a, b) => a - b);
  return { ops, tensors, succ, pred };
}

/** A compact spec for hand-built op graphs (tests, GET fixtures):
 * tensors by name with shapes; ops by inputs/outputs names. */
export interface OpSpec {
  name: string;
  opType?: string;
  inputs: string[];
  outputs: string[];
  weights?: number;
  kernel?: number | [number, number];
  stride?: number | [number, number];
  dilation?: number | [number, number];
  global?: boolean;
  macs?: number;
}

export function opGraphFromSpec(shapes: Record<string, number[]>, specs: OpSpec[], graphOutputs: string[] = []): OpGraph {
  const tensors: FusionTensor[] = [];
  const idx = new Map<string, number>();
  const t = (name: string) => {
    let i = idx.get(name);
    if (i === undefined) {
      const shape = shapes[name];
      if (!shape) throw unsupported(`opGraphFromSpec: no shape for tensor '${name}'`);
      i = tensors.length;
      tensors.push({ name, shape, elements: product(shape), producer: -1, consumers: [] });
      idx.set(name, i);
    }
    return i;
  };
  const pair = (v: number | [number, number] | undefined): [number, number] => (v === undefined ? [1, 1] : typeof v === 'number' ? [v, v] : v);
  const ops: FusionOp[] = specs.map((s, id) => {
    const op: FusionOp = {
      id,
      node: s.name,
      opType: s.opType ?? 'Conv',
      inputs: s.inputs.map(t),
      outputs: s.outputs.map(t),
      weightElements: s.weights ?? 0,
      kernel: pair(s.kernel),
      stride: pair(s.stride),
      dilation: pair(s.dilation),
      global: s.global ?? false,
      macs: s.macs ?? 0,
      weights: s.weights ? [{ name: `${s.name}.W`, elements: s.weights }] : [],
    };
    return op;
  });
  for (const o of graphOutputs) tensors[t(o)].graphOutput = true;
  return finalizeOpGraph(ops, tensors);
}

/** The op graph the planner plans (the plan and get passes, `dnnfuse sweep`, the report's
 * re-plans): static shapes from shape inference; when every graph input is static, ops with
 * data-dependent feature maps (detector post-processing after NonZero/NonMaxSuppression) are
 * left out with their reason rather than failing the plan. A dynamic graph input still fails,
 * naming the value and suggesting --shape: it is a value the user can give, not one nobody can
 * know. */
export function planningGraph(model: Model): OpGraph {
  const a = analyzeShapes(model);
  const g = model.graph;
  const isStatic = (v: string) => !!a.types.get(v)?.shape?.every((d) => typeof d === 'number');
  // A sequence, map or optional input has no shape to give: its consumers are left out instead.
  const dynamic = g.inputs.find((i) => !g.initializers.has(i.name) && !isStatic(i.name) && !nonTensorKind(i));
  const nonTensor = new Set(g.inputs.filter((i) => nonTensorKind(i)).map((i) => i.name));
  return buildOpGraph(model, {
    // Planning a sequence's consumer fails on the dynamic tensor input (the --shape to give).
    shapeOf: (v) => staticShape(model, dynamic && nonTensor.has(v) ? dynamic.name : v),
    dataDependent: !dynamic ? (v) => (isStatic(v) ? undefined : a.reasons.get(v) ?? 'not static') : undefined,
  });
}
