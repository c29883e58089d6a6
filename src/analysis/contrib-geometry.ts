/**
 * onnxruntime's contrib ops (domain com.microsoft) that its graph optimizer writes in place of
 * a default-domain op fused with an activation, a scale or a transpose (FusedConv = Conv +
 * activation, FusedGemm = Gemm + activation, FusedMatMul = MatMul with transposes and alpha), and
 * MatMulNBits (a MatMul whose weight its quantizers pack to 2-8 bits in blocks), and the
 * quantized ops of its QOperator format (QLinearAdd, QLinearAveragePool, ...).
 * Models saved after onnxruntime's extended optimizations carry them; for geometry (kernel,
 * strides, MACs) they are the op they fuse.
 */
import type { Node } from '../ir/graph.ts';

/** The default-domain op each fused contrib op computes (by op type, domain com.microsoft),
 * and the float op of each quantized op of onnxruntime's QOperator format whose data inputs
 * and attributes sit where the float op's do (the pools read NHWC when channels_last = 1). A
 * QLinearConcat's data are every third input from 2, a QLinearAdd's B is input 3: only the op
 * type and attributes of these are read as the float op's. */
export const FUSED_BASE: Readonly<Record<string, string>> = {
  FusedConv: 'Conv', FusedGemm: 'Gemm', FusedMatMul: 'MatMul', MatMulNBits: 'MatMul',
  QLinearAveragePool: 'AveragePool', QLinearGlobalAveragePool: 'GlobalAveragePool', QLinearConcat: 'Concat', QLinearReduceMean: 'ReduceMean',
  QLinearSoftmax: 'Softmax', QLinearAdd: 'Add', QLinearMul: 'Mul', QLinearSigmoid: 'Sigmoid', QLinearLeakyRelu: 'LeakyRelu',
};

/** The default-domain op whose geometry `node` has: its own op type, or for onnxruntime's fused
 * contrib ops the op they fuse. */
export function geometryOpType(node: Node): string {
  return node.domain === 'com.microsoft' && Object.hasOwn(FUSED_BASE, node.opType) ? FUSED_BASE[node.opType] : node.opType;
}

/** A FusedMatMul operand (input 0: A, 1: B) as it enters the product: transBatch moves dim 0
 * next to the last ([1..R-2, 0, R-1]), then trans swaps the last two. Undefined when transBatch
 * meets an operand of rank below 3 (onnxruntime refuses it). */
export function fusedMatmulOperand<D>(node: Node, input: 0 | 1, shape: readonly D[]): D[] | undefined {
  const [tb, t] = input === 0 ? ['transBatchA', 'transA'] : ['transBatchB', 'transB'];
  let s = [...shape];
  if (node.attrInt(tb, 0)) {
    if (s.length < 3) return undefined;
    s = [...s.slice(1, -1), s[0], s[s.length - 1]];
  }
  return node.attrInt(t, 0) && s.length >= 2 ? [...s.slice(0, -2), s[s.length - 1], s[s.length - 2]] : s;
}

/** Inner (reduced) dim of a MatMul-like node whose first operand has shape `a` (rank >= 1): its
 * last dim, after FusedMatMul's transposes of A. */
export function matmulInnerDim(node: Node, a: number[]): number {
  const op = node.domain === 'com.microsoft' && node.opType === 'FusedMatMul' ? (fusedMatmulOperand(node, 0, a) ?? a) : a;
  return op[op.length - 1];
}

/** Logical elements of a weight an op stores packed in an integer tensor (MatMulNBits' B: K x N
 * values of 2-8 bits in uint8 blocks), or undefined: a planner counts weights in elements of
 * the accelerator's element width, as it counts float weights. */
export function packedWeightElements(node: Node, input: string): number | undefined {
  if (node.domain !== 'com.microsoft' || node.opType !== 'MatMulNBits' || node.inputs[1] !== input) return undefined;
  const k = node.attrInt('K'), n = node.attrInt('N');
  return k !== undefined && n !== undefined ? k * n : undefined;
}

const INTEGER_WEIGHT_OPS = new Set(['ConvInteger', 'MatMulInteger', 'QLinearConv', 'QLinearMatMul']);
const INTEGER_WEIGHT_CONTRIB_OPS = new Set(['QGemm', 'DynamicQuantizeMatMul', 'MatMulIntegerToFloat', 'QLinearAdd', 'QLinearMul', 'QLinearConcat', 'QLinearWhere', 'QLinearConvTranspose']);

/** Whether `node` computes on quantized integers and reads its parameters as integer constants
 * (weights, zero points, int32 biases): the default domain's ConvInteger, MatMulInteger,
 * QLinearConv, QLinearMatMul, and onnxruntime's QOperator and dynamic-quantization ops. A
 * planner counts their integer constant inputs as weights (elsewhere an integer constant is a
 * shape, an index or an axis). */
export function readsIntegerWeights(node: Node): boolean {
  return node.domain === 'com.microsoft' ? INTEGER_WEIGHT_CONTRIB_OPS.has(node.opType) : (node.domain === '' || node.domain === 'ai.onnx') && INTEGER_WEIGHT_OPS.has(node.opType);
}
