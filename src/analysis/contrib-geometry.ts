/**
 * onnxruntime's contrib ops (domain com.microsoft) that its graph optimizer writes in place of
 * a default-domain op fused with an activation, a scale or a transpose (FusedConv = Conv +
 * activation, FusedGemm = Gemm + activation, FusedMatMul = MatMul with transposes and alpha), and
 * MatMulNBits (a MatMul whose weight its quantizers pack to 2-8 bits in blocks).
 * Models saved after onnxruntime's extended optimizations carry them; for geometry (kernel,
 * strides, MACs) they are the op they fuse.
 */
import type { Node } from '../ir/graph.ts';

const FUSED_BASE: Readonly<Record<string, string>> = { FusedConv: 'Conv', FusedGemm: 'Gemm', FusedMatMul: 'MatMul', MatMulNBits: 'MatMul' };

/** The default-domain op whose geometry `node` has: its own op type, or for onnxruntime's fused
 * contrib ops the op they fuse. */
export function geometryOpType(node: Node): string {
  return node.domain === 'com.microsoft' && Object.hasOwn(FUSED_BASE, node.opType) ? FUSED_BASE[node.opType] : node.opType;
}

/** Inner (reduced) dim of a MatMul or FusedMatMul whose first operand has shape `a` (rank >= 1):
 * FusedMatMul's transBatchA moves dim 0 next to the last, then transA swaps the last two. */
export function matmulInnerDim(node: Node, a: number[]): number {
  if (node.opType !== 'FusedMatMul' || a.length < 2) return a[a.length - 1];
  if (!node.attrInt('transA', 0)) return a[a.length - 1];
  return node.attrInt('transBatchA', 0) && a.length >= 3 ? a[0] : a[a.length - 2];
}

/** Logical elements of a weight an op stores packed in an integer tensor (MatMulNBits' B: K x N
 * values of 2-8 bits in uint8 blocks), or undefined: a planner counts weights in elements of
 * the accelerator's element width, as it counts float weights. */
export function packedWeightElements(node: Node, input: string): number | undefined {
  if (node.domain !== 'com.microsoft' || node.opType !== 'MatMulNBits' || node.inputs[1] !== input) return undefined;
  const k = node.attrInt('K'), n = node.attrInt('N');
  return k !== undefined && n !== undefined ? k * n : undefined;
}
