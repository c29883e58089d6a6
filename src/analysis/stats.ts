/**
 * Model statistics: parameters, multiply-accumulates and bytes, per node and per tensor,
 * from the inferred shapes (src/analysis/shapes.ts). Cached per graph and override set.
 *
 * Definitions (stated so a user can check every number):
 * - **Parameters** of a node: elements of the initializers it reads (weights, biases,
 *   BatchNormalization scale/bias/mean/var, constant shape tensors). A shared initializer
 *   counts for every node reading it; model totals count each initializer once.
 *   `trainable` excludes BatchNormalization running mean/var (inputs 3 and 4), so it matches
 *   PyTorch's `sum(p.numel() for p in model.parameters())` for exported torchvision models.
 * - **MACs** (multiply-accumulates; FLOPs ~ 2 x MACs), counted for the ops that dominate
 *   compute, bias additions excluded:
 *     Conv / ConvInteger / QLinearConv : output elements x (C_in / group) x prod(kernel)
 *     ConvTranspose                    : input elements x (C_out / group) x prod(kernel)
 *     Gemm                             : M x N x K
 *     MatMul / MatMulInteger / QLinearMatMul : output elements x K (K = shared inner dim)
 *     Einsum                           : not counted (0, noted in `macsNote`)
 *   Every other op counts 0 MACs. A MAC op whose shapes are unknown gives `macs: undefined`
 *   and the model total is then a lower bound (`macsComplete: false`).
 * - **Bytes** of a tensor: elements x element size (sub-byte types packed), undefined when
 *   its shape is not static.
 */
import type { Dim, Model, Node, TensorType } from '../ir/graph.ts';
import { DataType } from '../ir/dtype.ts';
import { dtypeBytes, dtypeName } from '../ir/dtype.ts';
import { analyzeShapes, type InferOptions } from './shapes.ts';
import { geometryOpType, matmulInnerDim } from './contrib-geometry.ts';

/** One tensor's figures in `ModelStats`: dtype, shape, elements and bytes (undefined when not
 * static).
 */
export interface TensorStats {
  name: string;
  kind: 'input' | 'initializer' | 'activation' | 'output';
  dtype: string;
  shape: Dim[] | undefined;
  elements: number | undefined;
  bytes: number | undefined;
  /** Producing node name (activations and outputs). */
  producer?: string;
  consumers: number;
}

/** One node's figures in `ModelStats`: op, MACs, parameter and output bytes. */
export interface NodeStats {
  name: string;
  opType: string;
  params: number;
  paramBytes: number;
  macs: number | undefined;
  /** Bytes of the node's outputs (undefined if any is not static). */
  outputBytes: number | undefined;
}

/** What `modelStats` returns: totals, op histogram, per-node and per-tensor figures. */
export interface ModelStats {
  nodes: NodeStats[];
  tensors: TensorStats[];
  /** op type -> count, sorted by count (descending), then name. */
  opHistogram: [string, number][];
  totals: {
    nodes: number;
    params: number;
    trainableParams: number;
    paramBytes: number;
    macs: number;
    /** False when some MAC op had unknown shapes (then `macs` is a lower bound). */
    macsComplete: boolean;
    /** Sum of bytes of every static activation (node outputs), once each. */
    activationBytes: number;
    /** Largest single activation. */
    maxActivationBytes: number;
    unknownShapes: number;
  };
}

const numeric = (s: Dim[] | undefined): s is number[] => !!s && s.every((d) => typeof d === 'number');
const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** MACs of one node from the types of its values (see the formulas above). */
export function nodeMacs(node: Node, types: Map<string, TensorType>): number | undefined {
  const shape = (i: number) => (node.inputs[i] ? types.get(node.inputs[i])?.shape : undefined);
  const outShape = types.get(node.outputs[0])?.shape;
  switch (geometryOpType(node)) {
    case 'Conv':
    case 'ConvInteger':
    case 'QLinearConv': {
      const w = shape(node.opType === 'QLinearConv' ? 3 : 1);
      if (!numeric(w) || !numeric(outShape)) return undefined;
      return prod(outShape) * prod(w.slice(1)); // w = [M, C/g, k...]
    }
    case 'ConvTranspose': {
      const x = shape(0), w = shape(1);
      if (!numeric(x) || !numeric(w)) return undefined;
      return prod(x) * prod(w.slice(1)); // w = [C, M/g, k...]
    }
    case 'Gemm': {
      const a = shape(0);
      if (!numeric(a) || !numeric(outShape) || a.length !== 2) return undefined;
      const k = node.attrInt('transA', 0) ? a[0] : a[1];
      return prod(outShape) * k;
    }
    case 'MatMul':
    case 'MatMulInteger':
    case 'QLinearMatMul': {
      const a = shape(0);
      if (!numeric(a) || !numeric(outShape) || a.length === 0) return undefined;
      return prod(outShape) * matmulInnerDim(node, a);
    }
    default:
      return 0;
  }
}

function tensorBytes(t: TensorType | undefined): { elements?: number; bytes?: number } {
  if (!t || !numeric(t.shape)) return {};
  const elements = prod(t.shape);
  return { elements, bytes: dtypeBytes(t.elemType, elements) };
}

const FLOAT_CONST = new Set<number>([DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16]);

/** Elements and bytes of a constant value: an initializer or a Constant node's float output. */
function constantSize(g: Model['graph'], v: string): { size: number; bytes: number } | undefined {
  const t = g.initializers.get(v);
  if (t) return { size: t.size, bytes: t.byteLength };
  const p = g.producer(v);
  if (!p || p.opType !== 'Constant' || (p.domain !== '' && p.domain !== 'ai.onnx')) return undefined;
  const a = p.attributes[0];
  if (!a) return undefined;
  // Only floating-point Constant tensors are weights; integer ones are shape parameters
  // (Reshape targets, Slice bounds), as in the fusion op graph.
  // Scalars (Clip bounds, epsilons, scale factors) are hyper-parameters, not weights: the
  // torchvision exports' ReLU6 bounds would otherwise add 70 "parameters" to MobileNetV2.
  if (a.type === 'tensor') return FLOAT_CONST.has(a.value.dataType) && a.value.dims.length > 0 ? { size: a.value.size, bytes: a.value.byteLength } : undefined;
  if (a.type === 'floats') return { size: a.value.length, bytes: 4 * a.value.length };
  return undefined;
}

/** Per-model and per-node statistics: op counts, parameters, MACs, every tensor's shape and bytes
 * (what `dnnfuse inspect` prints).
 */
export function modelStats(model: Model, opts: InferOptions = {}): ModelStats {
  const g = model.graph;
  return g.analysis(`stats:${JSON.stringify(Object.entries(opts.overrides ?? {}).sort())}`, () => {
    const { types } = analyzeShapes(model, opts);
    const nodes: NodeStats[] = [];
    const hist = new Map<string, number>();
    const bnStats = new Set<string>();
    let macs = 0, macsComplete = true;
    for (const n of g.topoOrder()) {
      hist.set(n.opType, (hist.get(n.opType) ?? 0) + 1);
      let params = 0, paramBytes = 0;
      for (const i of new Set(n.inputs)) {
        const t = i ? constantSize(g, i) : undefined;
        if (!t) continue;
        params += t.size;
        paramBytes += t.bytes;
      }
      if (n.opType === 'BatchNormalization') for (const i of n.inputs.slice(3, 5)) if (i && constantSize(g, i)) bnStats.add(i);
      const m = nodeMacs(n, types);
      if (m === undefined) macsComplete = false;
      else macs += m;
      let outputBytes: number | undefined = 0;
      for (const o of n.outputs) {
        if (!o) continue;
        const b = tensorBytes(types.get(o)).bytes;
        outputBytes = b === undefined || outputBytes === undefined ? undefined : outputBytes + b;
      }
      nodes.push({ name: n.name, opType: n.opType, params, paramBytes, macs: m, outputBytes });
    }

    const tensors: TensorStats[] = [];
    const outputs = new Set(g.outputs.map((o) => o.name));
    const add = (name: string, kind: TensorStats['kind'], producer?: string) => {
      const t = types.get(name);
      tensors.push({ name, kind, dtype: t ? dtypeName(t.elemType) : 'unknown', shape: t?.shape, ...emptyBytes(), ...tensorBytes(t), producer, consumers: g.consumers(name).length });
    };
    for (const i of g.inputs) if (!g.initializers.has(i.name)) add(i.name, 'input');
    for (const name of g.initializers.keys()) add(name, 'initializer');
    let activationBytes = 0, maxActivationBytes = 0, unknownShapes = 0;
    for (const n of g.topoOrder()) {
      for (const o of n.outputs) {
        if (!o) continue;
        add(o, outputs.has(o) ? 'output' : 'activation', n.name);
        const b = tensors[tensors.length - 1].bytes;
        if (b === undefined) unknownShapes++;
        else {
          activationBytes += b;
          maxActivationBytes = Math.max(maxActivationBytes, b);
        }
      }
    }

    let params = 0, paramBytes = 0, bnElems = 0;
    for (const [name, t] of g.initializers) {
      params += t.size;
      paramBytes += t.byteLength;
      if (bnStats.has(name)) bnElems += t.size;
    }
    // Weights held in Constant nodes (paddle2onnx, some torch exports) are parameters too.
    for (const n of g.nodes) {
      if (n.opType !== 'Constant' || !n.outputs[0] || g.initializers.has(n.outputs[0])) continue;
      const c = constantSize(g, n.outputs[0]);
      if (!c) continue;
      params += c.size;
      paramBytes += c.bytes;
      if (bnStats.has(n.outputs[0])) bnElems += c.size;
    }
    const opHistogram = [...hist.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    return {
      nodes,
      tensors,
      opHistogram,
      totals: { nodes: g.nodes.length, params, trainableParams: params - bnElems, paramBytes, macs, macsComplete, activationBytes, maxActivationBytes, unknownShapes },
    };
  });
}

const emptyBytes = (): { elements: number | undefined; bytes: number | undefined } => ({ elements: undefined, bytes: undefined });
