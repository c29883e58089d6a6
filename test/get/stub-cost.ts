/**
 * A small line-buffer-like cost model used by the GET tests only, so they do not depend on
 * the fusion cost models' exact numbers: F_beta = resident weights + (k - 1 + s) input rows of
 * every op fed from inside the group (whole map for global ops); F_D = bytes of tensors
 * entering the group + tensors leaving it + weights.
 */
import type { CostModel, FusionScheme, Group, MemoryItem, OpGraph } from '../../src/fusion/types.ts';

export function stubCost(graph: OpGraph, bufferBytes: number, elementBytes = 1, scheme: FusionScheme = 'lbdf'): CostModel {
  const memory = (group: Group) => {
    const set = new Set(group);
    const items: MemoryItem[] = [];
    let bytes = 0;
    for (const id of group) {
      const op = graph.ops[id];
      const w = op.weightElements * elementBytes;
      if (w > 0) items.push({ tensor: op.node, kind: 'weights', bytes: w, detail: '' });
      bytes += w;
      for (const t of op.inputs) {
        const tt = graph.tensors[t];
        if (!set.has(tt.producer)) continue;
        const h = tt.shape.length >= 4 ? tt.shape[2] : 1;
        const rows = op.global ? h : Math.min(h, op.kernel[0] - 1 + op.stride[0]);
        const b = Math.ceil((tt.elements / h) * rows) * elementBytes;
        items.push({ tensor: tt.name, kind: op.global ? 'full-map' : 'line-buffer', bytes: b, detail: `${rows} rows` });
        bytes += b;
      }
    }
    return { bytes, items };
  };
  const dram = (group: Group) => {
    const set = new Set(group);
    let bytes = 0;
    const seen = new Set<number>();
    for (const id of group) {
      const op = graph.ops[id];
      bytes += op.weightElements * elementBytes;
      for (const t of op.inputs) {
        const tt = graph.tensors[t];
        if (!set.has(tt.producer) && !seen.has(t)) {
          seen.add(t);
          bytes += tt.elements * elementBytes;
        }
      }
      for (const t of op.outputs) {
        const tt = graph.tensors[t];
        if (tt.consumers.length === 0 || tt.consumers.some((c) => !set.has(c))) bytes += tt.elements * elementBytes;
      }
    }
    return bytes;
  };
  return {
    scheme,
    graph,
    bufferBytes,
    elementBytes,
    memory,
    valid: (g) => memory(g).bytes <= bufferBytes,
    dram,
  };
}
