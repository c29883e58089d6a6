/**
 * onnxruntime's contrib ops (domain com.microsoft) that its graph optimizer writes in place of
 * a default-domain op fused with an activation, a scale or a transpose (FusedConv = Conv +
 * activation, FusedGemm = Gemm + activation, FusedMatMul = MatMul with transposes and alpha).
 * Models saved after onnxruntime's extended optimizations carry them; for geometry (kernel,
 * strides, MACs) they are the op they fuse.
 */
import type { Node } from '../ir/graph.ts';

const FUSED_BASE: Readonly<Record<string, string>> = { FusedConv: 'Conv', FusedGemm: 'Gemm', FusedMatMul: 'MatMul' };

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
