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

  /** Scratch of peakLive and weightTraffic, sized for the graph on first use. Both run once per
   * group the memo has not seen (a sweep point evaluates hundreds of thousands): they allocated a
   * Map of positions, a Float64Array (a malloc'd backing store from 8 ops up, freed by V8's
   * ArrayBuffer sweeper on a helper thread), interval tuples and a Map of weight names per call.
   * `pos[id]`: the position of a marked op in the group; `diff`: the live-bytes difference array. */
  private pos = new Int32Array(0);
  private diff = new Float64Array(0);
  /** Weight tensors by dense id (weightIds[op] lists an op's, in its `weights` order), with their
   * elements; `wSeen`/`wSub` are per-weight stamps (generation `wGen`) for "counted in this
   * group" and "loaded by this sub-group". */
  private weightIds: Int32Array[] | undefined;
  private weightElems = new Float64Array(0);
  private wSeen = new Int32Array(0);
  private wSub = new Int32Array(0);
  private wGen = 0;
  /** The step where the last peakLive() call peaked. */
  private peakAt = 0;

  /** Peak live intermediate bytes over the group's op order; the step where it peaks is left in
   * `peakAt`, and the maps live there pushed into `live` when given. Call after mark(). */
  private peakLive(group: Group, live?: number[]): number {
    const { ops, tensors } = this.graph;
    const n = group.length;
    if (this.pos.length < ops.length) {
      this.pos = new Int32Array(ops.length);
      this.diff = new Float64Array(ops.length + 1);
    }
    const pos = this.pos;
    const diff = this.diff;
    for (let k = 0; k < n; k++) {
      pos[group[k]] = k;
      diff[k] = 0;
    }
    diff[n] = 0;
    for (let s = 0; s < n; s++) {
      for (const t of ops[group[s]].outputs) {
        const last = this.lastUse(t);
        if (last < 0) continue;
        const bytes = tensors[t].elements * this.elementBytes;
        diff[s] += bytes;
        diff[last + 1] -= bytes;
      }
    }
    let cur = 0;
    let peak = 0;
    let at = 0;
    for (let k = 0; k < n; k++) {
      cur += diff[k];
      if (cur > peak) {
        peak = cur;
        at = k;
      }
    }
    this.peakAt = at;
    if (live) {
      for (let s = 0; s <= at; s++) {
        for (const t of ops[group[s]].outputs) if (this.lastUse(t) >= at) live.push(t);
      }
    }
    return peak;
  }

  /** The position of tensor t's last consumer in the group (-1: none). After peakLive's `pos`. */
  private lastUse(t: number): number {
    let last = -1;
    for (const c of this.graph.tensors[t].consumers) if (this.inG(c) && this.pos[c] > last) last = this.pos[c];
    return last;
  }

  /** The explicit weight sub-grouping of a group (greedy consecutive packing, see above). */
  subgroups(group: Group): WeightSubgroup[] {
    const g = [...group].sort((a, b) => a - b);
    this.mark(g);
    return this.pack(g, this.bufferBytes - this.peakLive(g));
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

  /** The bytes of pack()'s largest sub-group, without building the sub-groups (the search's
   * path: computeMemory without items runs once per group evaluated). */
  private largestSubgroup(group: Group, cap: number): number {
    const { ops } = this.graph;
    let largest = 0;
    let cur = -1; // bytes of the open sub-group; -1: none open yet
    for (const id of group) {
      const w = ops[id].weightElements * this.elementBytes;
      if (w === 0) continue;
      cur = cur >= 0 && cur + w <= cap ? cur + w : w;
      if (cur > largest) largest = cur;
    }
    return largest;
  }

  protected computeMemory(group: Group, items: MemoryItem[] | undefined): number {
    const { ops, tensors } = this.graph;
    if (!items) {
      const peak = this.peakLive(group);
      return peak + this.largestSubgroup(group, this.bufferBytes - peak);
    }
    const live: number[] = [];
    const peak = this.peakLive(group, live);
    const at = this.peakAt;
    for (const t of live) {
      items.push({ tensor: tensors[t].name, kind: 'live-map', bytes: tensors[t].elements * this.elementBytes, detail: `whole map live at step ${at + 1} of ${group.length} (${ops[group[at]].node}), the peak` });
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
    const ids = this.weightIdsOf();
    const seen = this.wSeen;
    // Is a weight tensor used twice in the group (by two members, or twice by one)?
    const gen = this.nextWeightGen();
    let total = 0;
    let sharedAny = false;
    for (const id of group) {
      total += ops[id].weightElements;
      for (const w of ids[id]) {
        if (seen[w] === gen) sharedAny = true;
        else seen[w] = gen;
      }
    }
    if (!sharedAny) return { bytes: total * this.elementBytes, refetch: 0 };
    // Shared weights: count each distinct tensor once per sub-group that uses it.
    const subs = this.pack(group, this.bufferBytes - this.peakLive(group));
    const elems = this.weightElems;
    const inSub = this.wSub;
    let bytes = 0;
    let once = 0;
    const ever = this.nextWeightGen();
    for (const s of subs) {
      const sub = this.nextWeightGen();
      for (const id of s.ops) {
        const ws = ids[id];
        if (ws.length === 0) {
          bytes += ops[id].weightElements;
          once += ops[id].weightElements;
          continue;
        }
        for (const w of ws) {
          if (inSub[w] === sub) continue;
          inSub[w] = sub;
          bytes += elems[w];
          if (seen[w] !== ever) {
            seen[w] = ever;
            once += elems[w];
          }
        }
      }
    }
    return { bytes: bytes * this.elementBytes, refetch: (bytes - once) * this.elementBytes };
  }

  /** Each op's weight tensors as dense ids (built on first use; names are the identity). */
  private weightIdsOf(): Int32Array[] {
    if (this.weightIds) return this.weightIds;
    const byName = new Map<string, number>();
    const elems: number[] = [];
    this.weightIds = this.graph.ops.map((op) =>
      Int32Array.from(op.weights ?? [], (w) => {
        let i = byName.get(w.name);
        if (i === undefined) {
          byName.set(w.name, (i = elems.length));
          elems.push(w.elements);
        }
        return i;
      }),
    );
    this.weightElems = Float64Array.from(elems);
    this.wSeen = new Int32Array(elems.length);
    this.wSub = new Int32Array(elems.length);
    return this.weightIds;
  }

  /** A fresh generation for the weight stamps. */
  private nextWeightGen(): number {
    if (this.wGen >= 0x7ffffff0) {
      this.wSeen.fill(0);
      this.wSub.fill(0);
      this.wGen = 0;
    }
    return ++this.wGen;
  }
}
