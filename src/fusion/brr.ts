/**
 * BRR — buffer requirement reduction (Optimus: Cai, Wang, Zhang, LCTES 2021; "BRR" in Mills et
 * al.), as dnnfuse models it (Mills et al., "Applying Graph Explanation to Operator Fusion", arXiv 2501.00636). The group runs op by op in its topological order
 * on whole maps: intermediate feature maps stay on chip from their producer to their last
 * consumer in the group; group inputs stream in from DRAM and group outputs stream out (as in
 * the spec's F_beta they take no buffer). Weights do not stay resident: they are partitioned
 * into **weight sub-groups** loaded one after another.
 *
 * F_beta(G) = peak live intermediate maps + largest weight sub-group, where
 *  - live maps at step k = sum of bytes of the maps produced and consumed in G whose interval
 *    [producer, last consumer in G] contains k (inclusive: a step holds its inputs and output);
 *  - weight sub-groups: the members with weights, in op order, packed greedily into consecutive
 *    sub-groups of at most C = beta - peak bytes (a new sub-group starts when the next op's
 *    weights would overflow C). A sub-group is loaded when its first op starts and released after
 *    its last op. An op whose weights alone exceed C is a sub-group on its own and makes the
 *    group invalid (F_beta > beta). Hence G is valid iff peak + max op weights <= beta.
 * F_D(G) = group inputs read + group outputs written + for every sub-group, the distinct weight
 *   tensors it uses: a weight tensor shared by ops in k sub-groups is loaded k times (the
 *   re-fetch, "parameter-induced DRAM access"); unshared weights are read exactly once.
 * Validity is monotone under inclusion of connected sub-groups (peak and max op weight only
 * grow), which the exact solver's enumeration relies on.
 */
import type { FusionScheme, Group, MemoryItem, OpGraph } from './types.ts';
import { FusionCostModel } from './cost-base.ts';

export interface WeightSubgroup {
  /** Member op ids whose weights load together. */
  ops: number[];
  bytes: number;
}

export class BrrCostModel extends FusionCostModel {
  readonly scheme: FusionScheme = 'brr';

  constructor(graph: OpGraph, bufferBytes: number, elementBytes: number) {
    super(graph, bufferBytes, elementBytes);
  }

  /** Peak live intermediate bytes over the group's op order, the step where it peaks, and the
   * maps live there. Call after mark(). */
  private peakLive(group: Group, withLive = false): { peak: number; at: number; live: number[] } {
    const { ops, tensors } = this.graph;
    const pos = new Map<number, number>();
    group.forEach((id, k) => pos.set(id, k));
    const diff = new Float64Array(group.length + 1);
    const intervals: [number, number, number][] = [];
    for (const id of group) {
      for (const t of ops[id].outputs) {
        let last = -1;
        for (const c of tensors[t].consumers) if (this.inG(c)) last = Math.max(last, pos.get(c)!);
        if (last < 0) continue;
        const s = pos.get(id)!;
        const bytes = tensors[t].elements * this.elementBytes;
        diff[s] += bytes;
        diff[last + 1] -= bytes;
        intervals.push([s, last, t]);
      }
    }
    let cur = 0;
    let peak = 0;
    let at = 0;
    for (let k = 0; k < group.length; k++) {
      cur += diff[k];
      if (cur > peak) {
        peak = cur;
        at = k;
      }
    }
    const live = withLive ? intervals.filter(([s, e]) => s <= at && at <= e).map(([, , t]) => t) : [];
    return { peak, at, live };
  }

  /** The explicit weight sub-grouping of a group (greedy consecutive packing, see above). */
  subgroups(group: Group): WeightSubgroup[] {
    const g = [...group].sort((a, b) => a - b);
    this.mark(g);
    const { peak } = this.peakLive(g);
    return this.pack(g, this.bufferBytes - peak);
  }

  private pack(group: Group, cap: number): WeightSubgroup[] {
    const subs: WeightSubgroup[] = [];
    let cur: WeightSubgroup | undefined;
    for (const id of group) {
      const w = this.graph.ops[id].weightElements * this.elementBytes;
      if (w === 0) continue;
      if (cur && cur.bytes + w <= cap) {
        cur.ops.push(id);
        cur.bytes += w;
      } else {
        cur = { ops: [id], bytes: w };
        subs.push(cur);
      }
    }
    return subs;
  }

  protected computeMemory(group: Group, items: MemoryItem[] | undefined): number {
    const { ops, tensors } = this.graph;
    const { peak, at, live } = this.peakLive(group, !!items);
    for (const t of live) {
      items?.push({ tensor: tensors[t].name, kind: 'live-map', bytes: tensors[t].elements * this.elementBytes, detail: `whole map live at step ${at + 1} of ${group.length} (${ops[group[at]].node}), the peak` });
    }
    const subs = this.pack(group, this.bufferBytes - peak);
    let largest = 0;
    let li = -1;
    subs.forEach((s, i) => {
      if (s.bytes > largest) {
        largest = s.bytes;
        li = i;
      }
    });
    if (items) subs.forEach((s, i) => {
      items.push({
        tensor: s.ops.map((id) => ops[id].node).join('+'),
        kind: 'weight-subgroup',
        bytes: i === li ? s.bytes : 0,
        detail: `sub-group ${i + 1}/${subs.length}: ${s.bytes} weight bytes of ${s.ops.length} op(s)${i === li ? ' (largest: counted)' : ' (loaded in turn; not counted)'}`,
      });
    });
    return peak + largest;
  }

  protected weightTraffic(group: Group): { bytes: number; refetch: number } {
    const { ops } = this.graph;
    const shared = new Map<string, number>(); // weight name -> number of member ops using it
    let total = 0;
    for (const id of group) {
      total += ops[id].weightElements;
      for (const w of ops[id].weights ?? []) shared.set(w.name, (shared.get(w.name) ?? 0) + 1);
    }
    let sharedAny = false;
    for (const n of shared.values()) if (n > 1) sharedAny = true;
    if (!sharedAny) return { bytes: total * this.elementBytes, refetch: 0 };
    // Shared weights: count each distinct tensor once per sub-group that uses it.
    const { peak } = this.peakLive(group);
    const subs = this.pack(group, this.bufferBytes - peak);
    let bytes = 0;
    let once = 0;
    const everSeen = new Set<string>();
    for (const s of subs) {
      const inSub = new Set<string>();
      for (const id of s.ops) {
        const ws = ops[id].weights;
        if (!ws || ws.length === 0) {
          bytes += ops[id].weightElements;
          once += ops[id].weightElements;
          continue;
        }
        for (const w of ws) {
          if (inSub.has(w.name)) continue;
          inSub.add(w.name);
          bytes += w.elements;
          if (!everSeen.has(w.name)) {
            everSeen.add(w.name);
            once += w.elements;
          }
        }
      }
    }
    return { bytes: bytes * this.elementBytes, refetch: (bytes - once) * this.elementBytes };
  }
}
