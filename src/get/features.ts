/**
 * Node features of a fusion group for the GET validity predictor (GET: Mills et al., "Applying Graph Explanation to Operator Fusion", arXiv 2501.00636).
 *
 * The spec fixes the information a node carries: op type, input/output tensor shape, weight
 * size and the buffer size beta. We encode it as one fixed-width float vector per op:
 *
 *   [0, OP_TYPES.length)   op type one-hot (unknown types -> 'Other')
 *   +0..5                  log2(1 + C/H/W) of the first feature-map input, then of the output
 *                          (C/16, H/10, W/10 scaled into ~[0, 1])
 *   +6..9                  kernel h/w / 7, stride h/w / 2
 *   +10                    global op (needs its whole input map)
 *   +11,12                 weight bytes / beta (clipped), log2(1 + weight bytes) / 24
 *   +13,14                 output map bytes / beta (clipped), log2(1 + output bytes) / 24
 *   +15                    input map bytes / beta (clipped)
 *   +16                    sliding-window line buffer of the input: (kh - 1 + sh) rows / beta
 *   +17                    log2(beta / 1 KiB) / 11 (the buffer size as a node feature)
 *   +18                    bytes per element / 4
 *   +19..22                in-group in-degree / 4, out-degree / 4, reads a tensor from outside
 *                          the group, writes a tensor read outside the group (or a graph output)
 *   +23                    number of in-group consumers of the output / 4
 *
 * Byte quantities divided by beta make the validity test nearly linear in the summed
 * embedding (F_beta <= beta is a threshold on sums of per-op terms); the log terms keep the
 * absolute scale. Ratios are clipped at RATIO_CLIP so one huge tensor cannot blow up the
 * activations. Any change here invalidates shipped weights: bump FEATURE_VERSION.
 */
import type { Group, OpGraph } from '../fusion/types.ts';
import { FUSED_BASE } from '../analysis/contrib-geometry.ts';

export const FEATURE_VERSION = 1;

export const OP_TYPES = [
  'Conv',
  'BatchNormalization',
  'Relu',
  'Clip',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Add',
  'Mul',
  'Concat',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'Gemm',
  'Flatten',
  'ReduceMean',
  'Other',
] as const;

const RATIO_CLIP = 32;
export const FEATURE_DIM = OP_TYPES.length + 24;

/** A group as a small local graph: local node i is op group[i]; edges are local (src, dst)
 * pairs of the data-flow edges inside the group, in (src, dst) order. */
export interface LocalGraph {
  ops: number[];
  /** Local index of each op id. */
  index: Map<number, number>;
  src: number[];
  dst: number[];
}

export function localGraph(graph: OpGraph, group: Group): LocalGraph {
  const ops = [...group].sort((a, b) => a - b);
  const index = new Map<number, number>();
  ops.forEach((op, i) => index.set(op, i));
  const src: number[] = [];
  const dst: number[] = [];
  for (let i = 0; i < ops.length; i++) {
    for (const s of graph.succ[ops[i]]) {
      const j = index.get(s);
      if (j !== undefined) {
        src.push(i);
        dst.push(j);
      }
    }
  }
  return { ops, index, src, dst };
}

const lg = (x: number) => Math.log2(1 + Math.max(0, x));
const ratio = (x: number, beta: number) => Math.min(RATIO_CLIP, x / beta);

/** C, H, W of a shape (NCHW; rank-2 [N, C] -> C, 1, 1; rank 3 -> C, L, 1). */
function chw(shape: number[]): [number, number, number] {
  if (shape.length >= 4) return [shape[1], shape[shape.length - 2], shape[shape.length - 1]];
  if (shape.length === 3) return [shape[1], shape[2], 1];
  if (shape.length === 2) return [shape[1], 1, 1];
  if (shape.length === 1) return [shape[0], 1, 1];
  return [1, 1, 1];
}

/**
 * Row-major [group.length x FEATURE_DIM] features of the group's ops (local order = sorted
 * op ids, as localGraph) for buffer size `bufferBytes` and element width `elementBytes`.
 */
export function groupFeatures(
  graph: OpGraph,
  group: Group,
  bufferBytes: number,
  elementBytes: number,
  local: LocalGraph = localGraph(graph, group),
): Float32Array {
  const n = local.ops.length;
  const out = new Float32Array(n * FEATURE_DIM);
  const beta = bufferBytes;
  const inDeg = new Array<number>(n).fill(0);
  const outDeg = new Array<number>(n).fill(0);
  for (let e = 0; e < local.src.length; e++) {
    outDeg[local.src[e]]++;
    inDeg[local.dst[e]]++;
  }
  const inGroup = local.index;
  for (let i = 0; i < n; i++) {
    const op = graph.ops[local.ops[i]];
    const f = out.subarray(i * FEATURE_DIM, (i + 1) * FEATURE_DIM);
    // onnxruntime's fused contrib ops (FusedConv = Conv + activation) take the op they fuse
    let t = OP_TYPES.indexOf((FUSED_BASE[op.opType] ?? op.opType) as (typeof OP_TYPES)[number]);
    if (t < 0) t = OP_TYPES.length - 1;
    f[t] = 1;
    const b = OP_TYPES.length;
    const inT = op.inputs.length > 0 ? graph.tensors[op.inputs[0]] : undefined;
    const outT = op.outputs.length > 0 ? graph.tensors[op.outputs[0]] : undefined;
    const [ic, ih, iw] = inT ? chw(inT.shape) : [0, 0, 0];
    const [oc, oh, ow] = outT ? chw(outT.shape) : [0, 0, 0];
    f[b + 0] = lg(ic) / 16;
    f[b + 1] = lg(ih) / 10;
    f[b + 2] = lg(iw) / 10;
    f[b + 3] = lg(oc) / 16;
    f[b + 4] = lg(oh) / 10;
    f[b + 5] = lg(ow) / 10;
    f[b + 6] = op.kernel[0] / 7;
    f[b + 7] = op.kernel[1] / 7;
    f[b + 8] = op.stride[0] / 2;
    f[b + 9] = op.stride[1] / 2;
    f[b + 10] = op.global ? 1 : 0;
    const wBytes = op.weightElements * elementBytes;
    f[b + 11] = ratio(wBytes, beta);
    f[b + 12] = lg(wBytes) / 24;
    let outBytes = 0;
    for (const t2 of op.outputs) outBytes += graph.tensors[t2].elements * elementBytes;
    f[b + 13] = ratio(outBytes, beta);
    f[b + 14] = lg(outBytes) / 24;
    let inBytes = 0;
    for (const t2 of op.inputs) inBytes += graph.tensors[t2].elements * elementBytes;
    f[b + 15] = ratio(inBytes, beta);
    const rows = Math.max(1, op.kernel[0] - 1 + op.stride[0]);
    const lineBytes = ih > 0 ? (rows / ih) * (inT ? inT.elements : 0) * elementBytes : 0;
    f[b + 16] = ratio(op.global ? inBytes : lineBytes, beta);
    f[b + 17] = Math.log2(beta / 1024) / 11;
    f[b + 18] = elementBytes / 4;
    f[b + 19] = inDeg[i] / 4;
    f[b + 20] = outDeg[i] / 4;
    let extIn = 0;
    for (const t2 of op.inputs) {
      const p = graph.tensors[t2].producer;
      if (p < 0 || !inGroup.has(p)) extIn = 1;
    }
    f[b + 21] = extIn;
    let extOut = 0;
    let inConsumers = 0;
    for (const t2 of op.outputs) {
      const cs = graph.tensors[t2].consumers;
      if (cs.length === 0) extOut = 1;
      for (const c of cs) {
        if (inGroup.has(c)) inConsumers++;
        else extOut = 1;
      }
    }
    f[b + 22] = extOut;
    f[b + 23] = inConsumers / 4;
  }
  return out;
}
