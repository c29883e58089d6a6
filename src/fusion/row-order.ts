/**
 * How LBDF streams each map of an op graph, and which maps an op must hold whole: the row axis
 * of every map (rank 4: NCHW's H unless a Transpose moved it; rank 3 and 5 when the graph shows
 * an NCL or NCDHW layout), which ops are global (need their whole input before their first
 * output row) and which operands every output row reads whole. op-graph.ts builds the graph and
 * calls these per op; the cost models read the result (FusionOp.global, FusionOp.whole,
 * FusionTensor.rows).
 */
import type { Graph, Node } from '../ir/graph.ts';
import { constInts } from '../ir/constant.ts';
import type { FusionOp, FusionTensor } from './types.ts';
import { FUSED_BASE, geometryOpType } from '../analysis/contrib-geometry.ts';

const GLOBAL_OPS = new Set(['GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool']);
const REDUCE_OPS = new Set(['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSumExp', 'ReduceSumSquare']);
export const WINDOW_OPS = new Set(['Conv', 'ConvTranspose', 'MaxPool', 'AveragePool', 'LpPool', 'ConvInteger', 'QLinearConv']);

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
export function markStreamedMaps(nodes: readonly Node[], ops: readonly FusionOp[], tensors: FusionTensor[]): void {
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
export function wholeOperands(n: Node): readonly number[] {
  const op = geometryOpType(n);
  if (ATTENTION_OPS.has(op)) return n.domain === 'com.microsoft' ? WHOLE_OPERANDS[op] : [];
  return WHOLE_OPERANDS[op] ?? [];
}

/** Whether ops of this type (FusionOp.opType, onnxruntime's fused forms included) read operands
 * whole as wholeOperands says: matrix products and attention. */
export function readsOperandsWhole(opType: string): boolean {
  return Object.hasOwn(WHOLE_OPERANDS, FUSED_BASE[opType] ?? opType);
}

/** Input positions that every output row reads whole, by (geometry) op type. */
const WHOLE_OPERANDS: Readonly<Record<string, readonly number[]>> = {
  MatMul: [1], Gemm: [1], MatMulInteger: [1], QLinearMatMul: [3], MultiHeadAttention: [1, 2], GroupQueryAttention: [1, 2],
};
/** onnxruntime's attention ops (domain com.microsoft only). */
const ATTENTION_OPS = new Set(['MultiHeadAttention', 'GroupQueryAttention']);

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
export function mapInputAxes(n: Node, inputs: number[], tensors: FusionTensor[], axisOf: Map<number, number>, ahead: (t: number) => number | undefined): { input: number | undefined; whole: number[] } {
  const maps = inputs.filter((t) => tensors[t].shape.length === 4);
  if (!maps.length) return { input: undefined, whole: [] };
  let input = fixedRowAxis(n) ?? maps.map((t) => axisOf.get(t)).find((a) => a !== undefined);
  if (input === undefined) {
    // every input free: a Transpose's input takes the axis that lands on H; others the axis of
    // the merge their map reaches (mergeAxis), else NCHW's
    input = n.opType === 'Transpose' ? transposePerm(n, 4)[2] : (ahead(maps[0]) ?? 2);
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
export function mapOutputAxes(n: Node, input: number | undefined, global: boolean, outputs: number[], tensors: FusionTensor[], axisOf: Map<number, number>): void {
  if (input === undefined || global) return;
  const out = n.opType === 'Transpose' ? transposePerm(n, 4).indexOf(input) : (fixedRowAxis(n) ?? input);
  for (const t of outputs) if (tensors[t].shape.length === 4) setAxis(t, out, tensors, axisOf);
}

/** The row axis at which op `n` reads and writes rank-4 maps when its layout fixes one: NCHW's
 * H (2) for convs, pools, BatchNorm (NCHW_OPS) and for ops of a domain the rules do not know; H
 * of NHWC (1) for onnxruntime's NHWC layout domain and its QOperator pools with channels_last
 * = 1; undefined for the others, which follow
 * their input. */
function fixedRowAxis(n: Node): number | undefined {
  if (n.domain === 'com.ms.internal.nhwc' || (n.domain === 'com.microsoft' && n.attrInt('channels_last', 0) === 1)) return 1;
  if (!KNOWN_DOMAINS.has(n.domain)) return 2;
  return NCHW_OPS.has(geometryOpType(n)) ? 2 : undefined;
}

/** The row axis a free map should take: that of the first already-placed rank-4 map (`placed`)
 * that it meets as another input of an op, following layout-agnostic readers forward (not
 * Transposes or ops with a fixed row axis) through at most 64 ops. */
export function mergeAxis(value: string, readers: ReadonlyMap<string, Node[]>, root: (v: string) => string, placed: (v: string) => number | undefined): number | undefined {
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
export function isGlobal(n: Node, graph: Graph, inShape: number[], outShape: number[], rowAt?: number): boolean {
  const op = geometryOpType(n);
  if (GLOBAL_OPS.has(op)) return true;
  const r = inShape.length;
  // a rank-4 map streaming along another axis than H (mapInputAxes: channels last)
  const moved = r === 4 && rowAt !== undefined && rowAt !== 2;
  // Reductions and softmax of NCHW maps count any axis from 2 on (conservative: a reduction
  // over W alone is row-local); of a moved map, its row axis exactly
  const spatial = (a: number) => (moved ? normAxis(a, r) === rowAt : normAxis(a, r) >= 2);
  if (REDUCE_OPS.has(op)) {
    if (r < 3) return false;
    const axes = n.attrInts('axes');
    if (!axes) return true; // opset 18 moves axes to an input; absent attr = reduce all (or via input): conservative
    return axes.some(spatial);
  }
  if (op === 'Softmax' || op === 'LogSoftmax') return r >= 3 && spatial(n.attrInt('axis', -1));
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
    const perm = transposePerm(n, r);
    if (r === 4) return perm.indexOf(row) !== 1 && perm.indexOf(row) !== 2;
    return perm[row] !== row;
  }
  // a Reshape of a map whose rows moved keeps its rows when it keeps the dims up to the row axis
  if (n.opType === 'Reshape' && r === 4 && moved) return !(outShape.length > row && inShape.slice(0, row + 1).every((d, i) => d === outShape[i]));
  // a Reshape of an NCHW map (into rank 3 or more) is row-local when its leading dims hold the
  // N x C planes whole and its row axis is the first dim of the re-cut plane ([N, C, H*W],
  // ShuffleNet's [N, g, C/g, H, W]): output rows then follow input rows. Otherwise an output
  // row takes elements of many input rows ([N, C*H, W], channels split across rows).
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
  const op = geometryOpType(n);
  if (n.domain !== '' && n.domain !== 'ai.onnx' && op === n.opType) return n.domain === 'com.microsoft' && n.opType === 'GridSample';
  const at = (a: number) => normAxis(a, r) === row;
  switch (op) {
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

/** A Transpose's perm of a rank-r input; absent, it reverses the axes (ONNX's default). */
const transposePerm = (n: Node, rank: number) => n.attrInts('perm') ?? [...Array(rank).keys()].reverse();

/** An axis attribute (negative counts from the end) as an index into a rank-r shape. */
const normAxis = (a: number, r: number) => ((a % r) + r) % r;

/** The row axis LBDF streams a map of this rank along: H of NCHW (2) and of NCDHW (3), L of NCL (2). */
export const rowAxis = (rank: number) => (rank === 5 ? 3 : 2);

const LAYER_NORMS = new Set(['LayerNormalization', 'SimplifiedLayerNormalization', 'SkipLayerNormalization', 'SkipSimplifiedLayerNormalization']);
