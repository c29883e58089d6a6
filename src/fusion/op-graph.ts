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
import { unsupported } from '../errors.ts';
import type { FusionOp, FusionTensor, OpGraph } from './types.ts';
import { geometryOpType, matmulInnerDim, packedWeightElements } from '../analysis/contrib-geometry.ts';
import { analyzeShapes, staticShape } from '../analysis/shapes.ts';
import { nonTensorKind } from '../onnx/decode.ts';

const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16]);
const ALIAS_OPS = new Set(['Identity', 'Dropout']);
const SHAPE_OPS = new Set(['Shape', 'Size']);
const GLOBAL_OPS = new Set(['GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool']);
const REDUCE_OPS = new Set(['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSumExp', 'ReduceSumSquare']);
const WINDOW_OPS = new Set(['Conv', 'ConvTranspose', 'MaxPool', 'AveragePool', 'LpPool', 'ConvInteger', 'QLinearConv']);

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
  for (const n of opNodes) for (const i of n.inputs) if (i) readers.set(root(i), [...(readers.get(root(i)) ?? []), n]);
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
        if (FLOAT_TYPES.has(ct)) weights.push({ name: v, elements: constElements(graph, v, shapeOf) });
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
    const geo = geometry(n, graph, shapeOf);
    const axis = mapInputAxes(n, inputs, tensors, axisOf, ahead);
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
  const init = graph.initializers.get(v);
  if (init) return init.size;
  const p = graph.producer(v);
  if (p?.opType === 'Constant') {
    const a = p.attributes[0];
    if (a?.type === 'tensor') return a.value.size;
    if (a?.type === 'floats' || a?.type === 'ints') return a.value.length;
    return 1;
  }
  try {
    return product(shapeOf(v));
  } catch {
    return 0; // a folded constant of unknown shape: not counted (documented approximation)
  }
}

/** Sliding-window geometry: kernel (from kernel_shape or the weight dims), strides, dilations.
 * The first of the two is the row axis: a 1-D window is [k, 1] (its map streams along L, see
 * markStreamedMaps), a 3-D one [kH, kW] (NCDHW streams along H). Element-wise and other ops
 * are 1x1 stride 1. */
function geometry(n: Node, graph: Graph, shapeOf: (v: string) => number[]): { kernel: [number, number]; stride: [number, number]; dilation: [number, number] } {
  const two = (xs: number[] | undefined, d: number): [number, number] => (!xs || xs.length === 0 ? [d, d] : xs.length === 1 ? [xs[0], 1] : [xs[xs.length - 2], xs[xs.length - 1]]);
  const op = geometryOpType(n);
  if (op === 'Resize' || op === 'Upsample') return resizeGeometry(n, shapeOf);
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
function resizeGeometry(n: Node, shapeOf: (v: string) => number[]): { kernel: [number, number]; stride: [number, number]; dilation: [number, number] } {
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
  const row = rowAxis(r);
  const axis = (a: number): [number, number] => (a >= r || i[a] === o[a] ? [1, 1] : [taps, Math.max(1, Math.round(i[a] / o[a]))]);
  const [kh, sh] = axis(row);
  const [kw, sw] = axis(r === 3 ? r : row + 1);
  return { kernel: [kh, kw], stride: [sh, sw], dilation: [1, 1] };
}

/** Ops through which a 1-D (NCL) or 3-D (NCDHW) map keeps its layout and is consumed row by
 * row along its row axis: element-wise ops (unary, broadcasting binary, normalization by
 * per-channel constants, casts and quantization), padding and resizing (row counts change, the
 * row axis stays). Concat and Split qualify along the channel axis only (markStreamedMaps). A
 * hand-written list, not shapes/elementwise.ts's: that one also lists ops that mix rows
 * (InstanceNormalization, CumSum, Softmax, Scatter*), which must not stream. */
const ROW_LOCAL_OPS = new Set([
  'Relu', 'LeakyRelu', 'PRelu', 'Elu', 'Selu', 'Celu', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Softplus', 'Softsign',
  'Gelu', 'Mish', 'Erf', 'Exp', 'Log', 'Abs', 'Neg', 'Sqrt', 'Reciprocal', 'Sin', 'Cos', 'Clip', 'ThresholdedRelu', 'Shrink',
  'Floor', 'Ceil', 'Round', 'Sign', 'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'Where',
  'BatchNormalization', 'Cast', 'QuantizeLinear', 'DequantizeLinear', 'Pad', 'Resize', 'Upsample',
]);

/**
 * Which 1-D and 3-D maps LBDF may stream (FusionTensor.rows). A rank-4 map is NCHW and streams
 * along H whatever consumes it (the cost model's long-standing rule). Rank 3 and 5 are not that
 * clear: [batch, sequence, hidden] in a transformer is rank 3 and a MatMul needs all of it, so
 * such maps stay one row (the whole map) unless the graph shows their layout. Here the rank-3
 * (rank-5) maps linked through row-local ops (ROW_LOCAL_OPS, channel Concat/Split) form
 * components; a component streams when one of its maps is read or written by a 1-D (3-D) conv
 * or pool, which fixes the layout to NCL (NCDHW), and every consumer of each of its maps is a
 * window op, a row-local op, or a global op (which the cost model holds whole). Its maps then
 * get `rows`: L for NCL, H for NCDHW (the axis of the window's first geometry dim).
 */
function markStreamedMaps(nodes: readonly Node[], ops: readonly FusionOp[], tensors: FusionTensor[]): void {
  const parent = tensors.map((_, i) => i);
  const find = (x: number): number => {
    while (parent[x] !== x) x = parent[x] = parent[parent[x]];
    return x;
  };
  const rankOf = (t: number) => tensors[t].shape.length;
  const streamRank = (r: number) => r === 3 || r === 5;
  // channels-first windows only: a layout domain's Conv (com.ms.internal.nhwc) reads NLC
  const windowOp: boolean[] = nodes.map((n) => ['', 'ai.onnx', 'com.microsoft'].includes(n.domain) && WINDOW_OPS.has(geometryOpType(n)));
  const rowLocal = (i: number): boolean => {
    const n = nodes[i];
    if (n.domain !== '' && n.domain !== 'ai.onnx') return false;
    if (ROW_LOCAL_OPS.has(n.opType)) return true;
    if (n.opType === 'Concat' || n.opType === 'Split') {
      const r = ops[i].inputs.length ? rankOf(ops[i].inputs[0]) : 0;
      const axis = n.attrInt('axis', n.opType === 'Split' ? 0 : 1);
      return r > 0 && normAxis(axis, r) === 1;
    }
    return false;
  };
  const seeded = new Set<number>();
  const local: boolean[] = ops.map((_, i) => rowLocal(i));
  ops.forEach((op, i) => {
    const maps = [...op.inputs, ...op.outputs];
    if (windowOp[i]) {
      // the window's data input fixes the layout of its input and output maps of that rank
      const r = op.inputs.length ? rankOf(op.inputs[0]) : 0;
      if (streamRank(r)) for (const t of maps) if (rankOf(t) === r) seeded.add(t);
    } else if (local[i]) {
      const same = maps.filter((t) => streamRank(rankOf(t)));
      for (const t of same) if (rankOf(t) === rankOf(same[0])) parent[find(t)] = find(same[0]);
    }
  });
  const spoiled = new Set<number>();
  const hasSeed = new Set<number>();
  tensors.forEach((t, i) => {
    if (!streamRank(t.shape.length)) return;
    const root = find(i);
    if (seeded.has(i)) hasSeed.add(root);
    for (const c of t.consumers) if (!windowOp[c] && !local[c] && !ops[c].global) spoiled.add(root);
  });
  tensors.forEach((t, i) => {
    const r = t.shape.length;
    if (!streamRank(r) || !hasSeed.has(find(i)) || spoiled.has(find(i))) return;
    t.rows = Math.max(1, t.shape[rowAxis(r)]);
  });
}

/** The inputs that every output row reads whole: B of A x B (MatMul, Gemm, their integer,
 * quantized and onnxruntime-fused forms), the key and value of onnxruntime's attention ops.
 * When such an input is a feature map, not a weight (attention's K^T and V), LBDF holds it
 * whole (FusionOp.whole). */
function wholeOperands(n: Node): number[] {
  const op = geometryOpType(n);
  if (op === 'MatMul' || op === 'Gemm' || op === 'MatMulInteger') return [1];
  if (op === 'QLinearMatMul') return [3];
  if (n.domain === 'com.microsoft' && (op === 'MultiHeadAttention' || op === 'GroupQueryAttention')) return [1, 2];
  return [];
}

/** Ops that read a rank-4 map as NCHW (channels at 1, rows at 2): a map that streams along
 * another axis is held whole when one of them reads it. */
const NCHW_OPS = new Set([...WINDOW_OPS, 'SpaceToDepth', 'DepthToSpace', 'BatchNormalization', 'InstanceNormalization', 'GroupNormalization', 'LRN',
  'GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool', 'MaxUnpool', 'RoiAlign', 'MaxRoiPool', 'DeformConv', 'GridSample', 'Col2Im']);

/**
 * Row axes of rank-4 maps, decided op by op in topological order (`axisOf`: tensor -> axis,
 * off NCHW's H also the map's `rows`). A rank-4 map is NCHW and streams along H (axis 2) unless
 * a Transpose moved H: a channels-last sandwich (ConvNeXt's and Swin's [N, H, W, C] blocks
 * between Transposes [0, 2, 3, 1] and [0, 3, 1, 2], attention's [B, S, h, d] <-> [B, h, S, d])
 * streams along wherever the Transpose put the row axis, when that is axis 1 or 2 (isGlobal
 * holds a Transpose that moves it to the last axis, as before). Other ops keep their first
 * input's row axis on their rank-4 outputs, except those that read NCHW (NCHW_OPS: convs,
 * pools, BatchNorm, ...), which stream along H. A map with no streamed producer (a graph input,
 * the output of a global op or of an op without a rank-4 input, e.g. a Reshape from rank 6) has
 * no row order yet: its first consumer decides it. A map that streams along another axis than
 * the op reading it is held whole by that op (FusionOp.whole): its rows do not arrive in the
 * order the op reads them. A free map read by layout-agnostic ops takes the row axis of the
 * merge it reaches (mergeAxis): Swin's window-reverse Reshape (from rank 6) feeds a Slice and
 * Concat (torch.roll), then the residual Add with the channels-last shortcut, so it streams
 * along that shortcut's H instead of being held whole at the Add.
 */
function mapInputAxes(n: Node, inputs: number[], tensors: FusionTensor[], axisOf: Map<number, number>, ahead: (t: number) => number | undefined): { input: number | undefined; whole: number[] } {
  const maps = inputs.filter((t) => tensors[t].shape.length === 4);
  if (!maps.length) return { input: undefined, whole: [] };
  let input = fixedRowAxis(n) ?? axisOf.get(maps[0]) ?? maps.map((t) => axisOf.get(t)).find((a) => a !== undefined);
  if (input === undefined) {
    // every input free: a Transpose's input takes the axis that lands on H; others the axis of
    // the merge their map reaches (mergeAxis), else NCHW's
    const perm = n.opType === 'Transpose' ? n.attrInts('perm') : undefined;
    input = perm ? perm[2] : (ahead(maps[0]) ?? 2);
  }
  const whole: number[] = [];
  for (const t of maps) {
    const a = axisOf.get(t);
    if (a === undefined) setAxis(t, input, tensors, axisOf);
    else if (a !== input) whole.push(t);
  }
  return { input, whole };
}

/** The row axes of op `n`'s rank-4 outputs (see mapInputAxes): free after a global op or an op
 * without a rank-4 input; a Transpose's output streams where the row axis went. */
function mapOutputAxes(n: Node, input: number | undefined, global: boolean, outputs: number[], tensors: FusionTensor[], axisOf: Map<number, number>): void {
  if (input === undefined || global) return;
  const out = n.opType === 'Transpose' ? (n.attrInts('perm') ?? [3, 2, 1, 0]).indexOf(input) : (fixedRowAxis(n) ?? input);
  for (const t of outputs) if (tensors[t].shape.length === 4) setAxis(t, out, tensors, axisOf);
}

/** The row axis at which op `n` reads and writes rank-4 maps when its layout fixes one: NCHW's
 * H (2) for convs, pools, BatchNorm (NCHW_OPS) and for ops of a domain the rules do not know; H
 * of NHWC (1) for onnxruntime's NHWC layout domain; undefined for the others, which follow
 * their input. */
function fixedRowAxis(n: Node): number | undefined {
  if (n.domain === 'com.ms.internal.nhwc') return 1;
  if (!KNOWN_DOMAINS.has(n.domain)) return 2;
  return NCHW_OPS.has(geometryOpType(n)) ? 2 : undefined;
}

/** The row axis a free map should take: that of the first already-placed rank-4 map (`placed`)
 * that it meets as another input of an op, following layout-agnostic readers forward (not
 * Transposes or ops with a fixed row axis) through at most 64 ops. */
function mergeAxis(value: string, readers: ReadonlyMap<string, Node[]>, root: (v: string) => string, placed: (v: string) => number | undefined): number | undefined {
  const queue = [value];
  const seen = new Set<Node>();
  for (let q = 0; q < queue.length && seen.size < 64; q++) {
    for (const n of readers.get(queue[q]) ?? []) {
      if (seen.has(n) || n.opType === 'Transpose' || fixedRowAxis(n) !== undefined) continue;
      seen.add(n);
      for (const i of n.inputs) {
        const a = i && root(i) !== queue[q] ? placed(root(i)) : undefined;
        if (a !== undefined) return a;
      }
      queue.push(...n.outputs.filter((o) => o));
    }
  }
  return undefined;
}

function setAxis(t: number, axis: number, tensors: FusionTensor[], axisOf: Map<number, number>): void {
  axisOf.set(t, axis);
  if (axis !== 2) tensors[t].rows = Math.max(1, tensors[t].shape[axis]);
}

/** Ops that must see their whole input map before producing any output row. `rowAt` is the row
 * axis of a rank-4 input (mapInputAxes); undefined: the rank's default (rowAxis). */
function isGlobal(n: Node, graph: Graph, inShape: number[], outShape: number[], rowAt?: number): boolean {
  if (GLOBAL_OPS.has(n.opType)) return true;
  const r = inShape.length;
  // a rank-4 map streaming along another axis than H (mapInputAxes: channels last)
  const moved = r === 4 && rowAt !== undefined && rowAt !== 2;
  // Reductions and softmax of NCHW maps count any axis from 2 on (conservative: a reduction
  // over W alone is row-local); of a moved map, its row axis exactly
  const spatial = (a: number) => (moved ? normAxis(a, r) === rowAt : normAxis(a, r) >= 2);
  if (REDUCE_OPS.has(n.opType)) {
    if (r < 3) return false;
    const axes = n.attrInts('axes');
    if (!axes) return true; // opset 18 moves axes to an input; absent attr = reduce all (or via input): conservative
    return axes.some(spatial);
  }
  if (n.opType === 'Softmax' || n.opType === 'LogSoftmax') return r >= 3 && spatial(n.attrInt('axis', -1));
  if (r < 3) return false;
  // The ops below are held to the row axis exactly (2 for NCHW; a 3-D map's H is 3): a
  // normalization over the last axis of a rank-4 map (channels-last LayerNorm) is row-local.
  const row = moved ? rowAt : rowAxis(r);
  // statistics over every spatial axis: the first output row needs the last input row
  if (n.opType === 'InstanceNormalization' || n.opType === 'GroupNormalization') return true;
  // onnxruntime's packed attention: every query row attends to keys and values made from every
  // row of its one input
  if (n.domain === 'com.microsoft' && n.opType === 'Attention') return true;
  if (n.opType === 'MeanVarianceNormalization') return (n.attrInts('axes') ?? [0, 2, 3]).some(spatial);
  // statistics over the axes from `axis` to the last
  if (LAYER_NORMS.has(n.opType)) return normAxis(n.attrInt('axis', -1), r) <= row;
  // a Transpose that moves the row axis: an output row gathers from every input row, unless a
  // rank-4 map's row axis lands on axis 1 or 2, along which its output then streams (mapOutputAxes)
  if (n.opType === 'Transpose') {
    const perm = n.attrInts('perm') ?? [...Array(r).keys()].reverse();
    if (r === 4) return perm.indexOf(row) !== 1 && perm.indexOf(row) !== 2;
    return perm[row] !== row;
  }
  // a Reshape of an NCHW map (into rank 3 or more) is row-local when its leading dims hold the
  // N x C planes whole and its row axis is the first dim of the re-cut plane ([N, C, H*W],
  // ShuffleNet's [N, g, C/g, H, W]): output rows then follow input rows. Otherwise an output
  // row takes elements of many input rows ([N, C*H, W], channels split across rows).
  // a Reshape of a map whose rows moved keeps its rows when it keeps the dims up to the row axis
  if (n.opType === 'Reshape' && r === 4 && moved) return !(outShape.length > row && inShape.slice(0, row + 1).every((d, i) => d === outShape[i]));
  if (n.opType === 'Reshape' && r === 4 && outShape.length >= 3) {
    const planes = inShape[0] * inShape[1];
    let p = 1;
    let k = 0;
    while (k < outShape.length && p < planes) p *= outShape[k++];
    return !(p === planes && k === rowAxis(outShape.length));
  }
  return movesRows(n, graph, r, row);
}

/** Domains whose ops the rules here know (a layout domain's ops are the default domain's). */
const KNOWN_DOMAINS = new Set(['', 'ai.onnx', 'ai.onnx.ml', 'com.microsoft', 'com.ms.internal.nhwc']);

/**
 * Data movement across the row axis of a rank-r (>= 3) map, which LBDF must hold whole: an output
 * row that may take any input row (Gather, Scatter*, GatherND and ScatterND, whose index tuples
 * may address rows, a Slice walking the rows backwards, Tile repeating them, TopK or ArgMax over
 * them, a reverse CumSum, sampling ops, Einsum, which may contract or move the row axis), or a
 * Concat along it (its second input's rows wait for the first input's last row). An op of a
 * domain the rules do not know may do any of these. Row-local, as before: the same ops along
 * another axis, a Slice or Split with positive steps along the row axis (a row offset between
 * the parts is not modelled as a lag), a forward CumSum (one running row).
 */
function movesRows(n: Node, graph: Graph, r: number, row: number): boolean {
  if (!KNOWN_DOMAINS.has(n.domain)) return true;
  if (n.domain !== '' && n.domain !== 'ai.onnx') return n.domain === 'com.microsoft' && n.opType === 'GridSample';
  const at = (a: number) => normAxis(a, r) === row;
  switch (n.opType) {
    case 'Concat':
      return at(n.attrInt('axis', 1));
    case 'Gather': case 'GatherElements': case 'Scatter': case 'ScatterElements':
      return at(n.attrInt('axis', 0));
    case 'ArgMax': case 'ArgMin':
      return at(n.attrInt('axis', 0));
    case 'TopK':
      return at(n.attrInt('axis', -1));
    case 'GatherND': case 'ScatterND': case 'Einsum': case 'GridSample': case 'RoiAlign': case 'MaxRoiPool': case 'Col2Im': case 'DeformConv': case 'Unique':
      return true;
    case 'CumSum': {
      const axis = constInts(graph, n.inputs[1]);
      return !axis || (at(axis[0]) && n.attrInt('reverse', 0) !== 0);
    }
    case 'Tile': {
      const repeats = constInts(graph, n.inputs[1]);
      return !repeats || (repeats[row] ?? 1) > 1;
    }
    case 'Slice': {
      if (n.inputs.length < 5 || !n.inputs[4]) return false; // no steps (or opset < 10): all 1
      const steps = constInts(graph, n.inputs[4]);
      const axes = n.inputs[3] ? constInts(graph, n.inputs[3]) : steps?.map((_, i) => i);
      if (!steps || !axes) return true;
      return axes.some((a, i) => at(a) && steps[i] < 0);
    }
    default:
      return false;
  }
}

/** The values of an integer constant (an initializer or a Constant node's output), or undefined
 * when `v` is absent or computed. */
function constInts(graph: Graph, v: string | undefined): number[] | undefined {
  if (!v) return undefined;
  const init = graph.initializers.get(v);
  if (init) return init.toIntegers();
  const a = graph.producer(v)?.opType === 'Constant' ? graph.producer(v)!.attributes[0] : undefined;
  if (a?.type === 'tensor') return a.value.toIntegers();
  if (a?.type === 'ints') return a.value.map(Number);
  if (a?.type === 'int') return [Number(a.value)];
  return undefined;
}

/** An axis attribute (negative counts from the end) as an index into a rank-r shape. */
const normAxis = (a: number, r: number) => ((a % r) + r) % r;

/** The row axis LBDF streams a map of this rank along: H of NCHW (2) and of NCDHW (3), L of NCL (2). */
const rowAxis = (rank: number) => (rank === 5 ? 3 : 2);

const LAYER_NORMS = new Set(['LayerNormalization', 'SimplifiedLayerNormalization', 'SkipLayerNormalization', 'SkipSimplifiedLayerNormalization']);

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
