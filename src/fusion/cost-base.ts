/**
 * What the LBDF and BRR cost models share: group membership tests, the group's boundary
 * tensors (read from / written to DRAM) and per-group memoization (key = sorted op ids).
 *
 * Conventions common to both schemes (documented once here):
 * - A group's **inputs** are the distinct feature maps consumed by a member and produced
 *   outside the group (or graph inputs); each is read from DRAM once, whole.
 * - A group's **outputs** are the maps produced by a member that are graph outputs, have no
 *   consumer, or have a consumer outside the group; each is written once, whole.
 * - A single op is always valid: layer-by-layer execution is the accelerator's fallback
 *   (tiled as needed), as in the paper. `memory()` still reports its requirement.
 * - An opaque op (control flow) is only valid alone: nothing is fused across it. Validity
 *   stays monotone (a superset of an invalid group is invalid), which the exact search needs.
 * - Bytes = elements x elementBytes for maps and weights alike.
 */
import type { CostModel, FusionScheme, FusionTensor, Group, MemoryItem, OpGraph } from './types.ts';
import { hashIds } from './ids-map.ts';
import { unionSorted } from './groups.ts';
import { grownArray, pagedArray } from '../util/paged.ts';

export interface DramBreakdown {
  inputs: { tensor: string; bytes: number }[];
  outputs: { tensor: string; bytes: number }[];
  /** Weight bytes read, including re-fetches (BRR). */
  weights: number;
  /** Of which re-fetched (BRR: shared weights loaded by several sub-groups). */
  refetch: number;
  total: number;
}

/** A group's F_beta bytes, F_D and validity (evaluateUnion's answer). */
export interface GroupFigures {
  bytes: number;
  dram: number;
  valid: boolean;
}

export interface GroupEval {
  /** F_beta bytes. */
  bytes: number;
  /** The itemized breakdown, filled lazily by memory() (allocation-heavy; searches skip it). */
  items?: MemoryItem[];
  valid: boolean;
  dram: number;
  /** Filled lazily (only schedules need it). */
  breakdown?: DramBreakdown;
}

/** Op ids the memo holds at most (4 bytes each in its id arena), emptied when full. */
const MEMO_IDS = 1 << 23;
/** Groups memoized at most (emptied when full; 33 bytes each in the columns, 4 to 8 in the buckets). */
const MEMO_MAX = 1 << 21;

export abstract class FusionCostModel implements CostModel {
  abstract readonly scheme: FusionScheme;
  readonly graph: OpGraph;
  readonly bufferBytes: number;
  readonly elementBytes: number;
  /** Memo of evaluated groups, by a 30-bit hash of the sorted ids (ids compared on a hit), held in
   * typed columns: `heads` maps a hash bucket to its chain's first entry, entry i's ids are
   * arena[off[i] .. off[i]+len[i]), its results bytes[i], dram[i], valid[i]. It was a
   * Map<string, GroupEval> keyed by the ids joined with ',': a key string built on every lookup,
   * hit or miss, and an object per group that survived every scavenge until the point's end. In a
   * sweep's worker (segment DP, windowed enumeration) key building and the scavenges copying the
   * memo took a quarter of the thread's time. No library offers such a table over int arrays.
   * The buckets are an Int32Array indexed by the hash's low bits (-1: empty; kept under 3/4
   * full), not a Map<number, number>: a Map of a million entries rehashed into ever larger
   * tables as it grew, arrays V8 allocates zero-filled in fresh pages. */
  private heads = new Int32Array(1024).fill(-1);
  private arena = new Int32Array(1024);
  private arenaUsed = 0;
  private cols = { off: new Int32Array(256), len: new Int32Array(256), next: new Int32Array(256), hash: new Int32Array(256), bytes: new Float64Array(256), dram: new Float64Array(256), valid: new Uint8Array(256) };
  private entries = 0;
  /** The lazily filled breakdowns (memory(), dramBreakdown()) by entry. */
  private details = new Map<number, { items?: MemoryItem[]; breakdown?: DramBreakdown }>();
  /** Entries dropped when the memo reached MEMO_MAX groups or MEMO_IDS ids. */
  private evicted = 0;
  /** Stamp array for O(1) membership tests without allocating a Set per group. */
  protected stamp: Int32Array;
  protected stampGen = 0;
  /** Per-tensor stamp (same generation as `stamp`) for "seen in this group" tests. */
  protected tstamp: Int32Array;
  /** Count of distinct groups evaluated (for benchmarks). */
  evaluations = 0;

  constructor(graph: OpGraph, bufferBytes: number, elementBytes: number) {
    this.graph = graph;
    this.bufferBytes = bufferBytes;
    this.elementBytes = elementBytes;
    this.stamp = new Int32Array(graph.ops.length);
    this.tstamp = new Int32Array(graph.tensors.length);
  }

  /** Marks the group's ops; `inG(id)` is valid until the next mark(). */
  protected mark(group: Group): void {
    this.stampGen++;
    if (this.stampGen > 0x7ffffff0) {
      this.stamp.fill(0);
      this.tstamp.fill(0);
      this.stampGen = 1;
    }
    for (const id of group) this.stamp[id] = this.stampGen;
  }
  protected inG(id: number): boolean {
    return id >= 0 && this.stamp[id] === this.stampGen;
  }

  static key(group: Group): string {
    return group.join(',');
  }

  protected sorted(group: Group): Group {
    for (let i = 1; i < group.length; i++) if (group[i - 1] >= group[i]) return [...new Set(group)].sort((a, b) => a - b);
    return group;
  }

  /** The cached evaluation of a group (memory, validity, DRAM). */
  evaluate(group: Group): GroupEval {
    const i = this.entry(this.sorted(group));
    const c = this.cols; // after entry(), which may grow the columns
    const d = this.details.get(i);
    return { bytes: c.bytes[i], valid: c.valid[i] === 1, dram: c.dram[i], items: d?.items, breakdown: d?.breakdown };
  }

  /** The memo entry of a sorted group, evaluated and added when missing. */
  private entry(g: Group): number {
    const k = hashIds(g); // 30 bits, masked to a bucket index in find()
    const x = this.find(g, k);
    if (x >= 0) return x;
    const e = this.compute(g, this.computed);
    return this.remember(k, g, e.bytes, e.dram, e.valid);
  }

  /** The memo entry of a sorted group whose hash is k, or -1. */
  private find(g: readonly number[], k: number): number {
    const { off, len, next, hash } = this.cols;
    const arena = this.arena;
    for (let x = this.heads[k & (this.heads.length - 1)]; x >= 0; x = next[x]) {
      if (hash[x] !== k || len[x] !== g.length) continue;
      const o = off[x];
      let i = 0;
      while (i < g.length && arena[o + i] === g[i]) i++;
      if (i === g.length) return x;
    }
    return -1;
  }

  /** Evaluates a sorted group (no memo) into `out`; without `withDram`, out.dram is NaN. */
  private compute(g: Group, out: GroupFigures, withDram = true): GroupFigures {
    this.evaluations++;
    this.mark(g);
    out.bytes = this.computeMemory(g, undefined);
    this.mark(g); // fresh generation: computeMemory used the tensor stamps
    out.dram = withDram ? this.computeDram(g, false).total : NaN;
    out.valid = g.length === 1 || (out.bytes <= this.bufferBytes && !this.hasOpaque(g));
    return out;
  }
  private readonly computed: GroupFigures = { bytes: 0, dram: 0, valid: false };

  /** True when the group holds an opaque op (a loop, not an arrow per call: a closure's optimized
   * code is dropped by a major GC once its call returns, and the next is compiled again). */
  private hasOpaque(g: Group): boolean {
    const ops = this.graph.ops;
    for (const id of g) if (ops[id].opaque) return true;
    return false;
  }

  /** Adds a group to the memo, returns its entry (bounded: a search with a huge budget on a large
   * graph meets ever new groups, and greedy growing a long chain one op at a time meets groups of
   * thousands of ops: emptied when full). */
  private remember(k: number, g: Group, bytes: number, dram: number, valid: boolean): number {
    if (this.entries >= MEMO_MAX || this.arenaUsed + g.length > MEMO_IDS) {
      this.evicted += this.entries;
      this.entries = 0;
      this.arenaUsed = 0;
      this.heads.fill(-1);
      this.details.clear();
    }
    if (this.arenaUsed + g.length > this.arena.length) {
      let n = this.arena.length * 2;
      while (n < this.arenaUsed + g.length) n *= 2;
      const a = pagedArray(Int32Array, n); // page-mapped from 128 KiB (util/paged.ts)
      a.set(this.arena.subarray(0, this.arenaUsed));
      this.arena = a;
    }
    const i = this.entries++;
    let c = this.cols;
    if (i >= c.off.length) {
      const grow = <T extends Int32Array | Float64Array | Uint8Array>(x: T): T => grownArray(x, x.length * 2);
      c = this.cols = { off: grow(c.off), len: grow(c.len), next: grow(c.next), hash: grow(c.hash), bytes: grow(c.bytes), dram: grow(c.dram), valid: grow(c.valid) };
    }
    if (4 * (i + 1) > 3 * this.heads.length) {
      // Twice the buckets; every entry re-linked into its bucket (chain order does not matter:
      // a lookup compares ids).
      const heads = pagedArray(Int32Array, this.heads.length * 2).fill(-1);
      const mask = heads.length - 1;
      for (let x = 0; x < i; x++) {
        const b = c.hash[x] & mask;
        c.next[x] = heads[b];
        heads[b] = x;
      }
      this.heads = heads;
    }
    const bucket = k & (this.heads.length - 1);
    const o = this.arenaUsed;
    for (let j = 0; j < g.length; j++) this.arena[o + j] = g[j];
    this.arenaUsed += g.length;
    c.off[i] = o;
    c.len[i] = g.length;
    c.next[i] = this.heads[bucket];
    c.hash[i] = k;
    c.bytes[i] = bytes;
    c.dram[i] = dram;
    c.valid[i] = valid ? 1 : 0;
    this.heads[bucket] = i;
    return i;
  }

  memory(group: Group): { bytes: number; items: MemoryItem[] } {
    const g = this.sorted(group);
    const i = this.entry(g);
    let d = this.details.get(i);
    if (!d) this.details.set(i, (d = {}));
    if (!d.items) {
      this.mark(g);
      const items: MemoryItem[] = [];
      this.computeMemory(g, items);
      d.items = items;
    }
    return { bytes: this.cols.bytes[i], items: d.items };
  }
  /** F_beta bytes only (no breakdown). */
  memoryBytes(group: Group): number {
    const i = this.entry(this.sorted(group)); // first: a new entry may grow the columns
    return this.cols.bytes[i];
  }
  valid(group: Group): boolean {
    const i = this.entry(this.sorted(group)); // first: a new entry may grow the columns
    return this.cols.valid[i] === 1;
  }
  dram(group: Group): number {
    const i = this.entry(this.sorted(group)); // first: a new entry may grow the columns
    return this.cols.dram[i];
  }
  /**
   * valid(), dram() and memoryBytes() of the union of two sorted id lists, into `out`, WITHOUT
   * adding the union to the memo (a memo entry answers it when there is one). Without
   * `withDram`, out.dram is the memo's F_D when it holds the union, else NaN (not computed): the
   * segment DP derives it.
   * For the segment DP, which joins states with pieces by the million, almost all valid and none
   * asked again: a memo entry per union copied its ~76 ids into the memo's arena, which grew
   * afresh to 32 MB for every point of a sweep (remember() took 1.7 s of a 33 s one-thread sweep,
   * 0.3 s since), and evicted what the search had memoized.
   */
  evaluateUnion(a: readonly number[], b: readonly number[], out: GroupFigures, withDram = true): boolean {
    const u = unionSorted(a, b, this.unionScratch);
    const x = this.find(u, hashIds(u));
    if (x < 0) return this.compute(u, out, withDram).valid;
    const c = this.cols;
    out.bytes = c.bytes[x];
    out.dram = c.dram[x];
    out.valid = c.valid[x] === 1;
    return out.valid;
  }
  private readonly unionScratch: number[] = [];
  /** F_D of a valid group, -1 for an invalid one: valid() and dram() in one memo lookup (GET's
   * window enumeration asks both of every part it grows). */
  validDram(group: Group): number {
    const i = this.entry(this.sorted(group)); // first: a new entry may grow the columns
    return this.cols.valid[i] === 1 ? this.cols.dram[i] : -1;
  }
  /** DRAM traffic itemized (inputs read, outputs written, weights incl. re-fetch). */
  dramBreakdown(group: Group): DramBreakdown {
    const g = this.sorted(group);
    const i = this.entry(g);
    let d = this.details.get(i);
    if (!d) this.details.set(i, (d = {}));
    if (!d.breakdown) {
      this.mark(g);
      d.breakdown = this.computeDram(g, true);
    }
    return d.breakdown;
  }
  /** Number of memoized groups. */
  get cacheSize(): number {
    return this.entries + this.evicted;
  }

  /** F_beta in bytes; pushes the breakdown into `items` when given. Called after mark(). */
  protected abstract computeMemory(group: Group, items: MemoryItem[] | undefined): number;
  /** Weight bytes F_D charges for the group (after mark()). */
  protected abstract weightTraffic(group: Group): { bytes: number; refetch: number };

  /** F_D = group inputs read + group outputs written + weight traffic (scheme-specific). */
  protected computeDram(group: Group, detail: boolean): DramBreakdown {
    const { ops, tensors } = this.graph;
    const b = this.elementBytes;
    const inputs: { tensor: string; bytes: number }[] = [];
    const outputs: { tensor: string; bytes: number }[] = [];
    let total = 0;
    for (const id of group) {
      const op = ops[id];
      for (const t of op.inputs) {
        const T = tensors[t];
        if (!this.inG(T.producer) && this.tstamp[t] !== this.stampGen) {
          this.tstamp[t] = this.stampGen;
          if (detail) inputs.push({ tensor: T.name, bytes: T.elements * b });
          total += T.elements * b;
        }
      }
      for (const t of op.outputs) {
        const T = tensors[t];
        let leaves = T.graphOutput === true || T.consumers.length === 0;
        if (!leaves) for (const c of T.consumers) if (!this.inG(c)) { leaves = true; break; }
        if (leaves) {
          if (detail) outputs.push({ tensor: T.name, bytes: T.elements * b });
          total += T.elements * b;
        }
      }
    }
    const w = this.weightTraffic(group);
    total += w.bytes;
    return { inputs, outputs, weights: w.bytes, refetch: w.refetch, total };
  }

  /** Rows of a map (mapRows: NCHW H, a streamed 1-D or 3-D map's row axis, else 1). */
  protected rowsOf(t: number): number {
    return mapRows(this.graph.tensors[t]);
  }
  /** Bytes of one row: the map's bytes / its rows (NCHW: W x C x bytes). */
  protected rowBytes(t: number): number {
    const T = this.graph.tensors[t];
    return (T.elements / this.rowsOf(t)) * this.elementBytes;
  }
}

/** Rows LBDF streams a map in: `rows` when the op graph set it (1-D and 3-D maps), H for a
 * rank-4 map (NCHW), else 1 (a "row" is the whole tensor). */
export function mapRows(t: FusionTensor): number {
  if (t.rows !== undefined) return Math.max(1, t.rows);
  return t.shape.length === 4 ? Math.max(1, t.shape[2]) : 1;
}

/** Creates the cost model of a scheme (see lbdf.ts / brr.ts). */
export type CostModelFactory = (graph: OpGraph, bufferBytes: number, elementBytes: number) => FusionCostModel;
