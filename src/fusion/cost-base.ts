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
import type { CostModel, FusionScheme, Group, MemoryItem, OpGraph } from './types.ts';

export interface DramBreakdown {
  inputs: { tensor: string; bytes: number }[];
  outputs: { tensor: string; bytes: number }[];
  /** Weight bytes read, including re-fetches (BRR). */
  weights: number;
  /** Of which re-fetched (BRR: shared weights loaded by several sub-groups). */
  refetch: number;
  total: number;
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

/** Groups larger than this many ops are memoized in a bounded cache (see FusionCostModel). */
const BIG_GROUP = 256;
/** Op ids held by the bounded cache of big groups (about 8 bytes each with the key text). */
const BIG_MEMO_IDS = 1 << 23;
/** Groups of up to BIG_GROUP ops memoized at most (emptied when full; ~200 bytes each). */
const MEMO_MAX = 1 << 21;

function hashIds(g: Group): number {
  let h = 0x811c9dc5 ^ g.length;
  for (const id of g) h = Math.imul(h ^ id, 0x01000193);
  return h >>> 0;
}
function sameIds(a: Group, b: Group): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export abstract class FusionCostModel implements CostModel {
  abstract readonly scheme: FusionScheme;
  readonly graph: OpGraph;
  readonly bufferBytes: number;
  readonly elementBytes: number;
  /** Memo of evaluated groups, by sorted ids joined with ','. */
  private memo = new Map<string, GroupEval>();
  /** Groups of more than BIG_GROUP ops go to a second memo holding at most BIG_MEMO_IDS op ids in
   * all, emptied when full: a key costs as much to build as the group to evaluate, so caching
   * them buys little, and on a long chain (greedy growing groups of thousands of ops one op at a
   * time) the unbounded memo held gigabytes of keys. */
  private bigMemo = new Map<number, { g: Group; e: GroupEval }[]>();
  private bigIds = 0;
  /** Evaluations of big groups (each counted once per stay in bigMemo). */
  private bigEvaluations = 0;
  /** Entries dropped when the small-group memo reached MEMO_MAX. */
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
    const g = this.sorted(group);
    const big = g.length > BIG_GROUP;
    // Big groups: keyed by a 32-bit hash of the ids, the ids compared on a hit (no key text).
    const k = big ? hashIds(g) : FusionCostModel.key(g);
    let e = big ? this.bigMemo.get(k as number)?.find((x) => sameIds(x.g, g))?.e : this.memo.get(k as string);
    if (!e) {
      this.evaluations++;
      this.mark(g);
      const bytes = this.computeMemory(g, undefined);
      this.mark(g); // fresh generation: computeMemory used the tensor stamps
      const dram = this.computeDram(g, false).total;
      e = { bytes, valid: g.length === 1 || (bytes <= this.bufferBytes && !g.some((id) => this.graph.ops[id].opaque)), dram };
      if (big) {
        this.bigEvaluations++;
        if (this.bigIds + g.length > BIG_MEMO_IDS) (this.bigMemo.clear(), (this.bigIds = 0));
        this.bigIds += g.length;
        const list = this.bigMemo.get(k as number);
        if (list) list.push({ g: [...g], e });
        else this.bigMemo.set(k as number, [{ g: [...g], e }]);
      } else {
        // Bounded too: a search with a huge budget on a large graph meets ever new groups.
        if (this.memo.size >= MEMO_MAX) (this.evicted += this.memo.size, this.memo.clear());
        this.memo.set(k as string, e);
      }
    }
    return e;
  }

  memory(group: Group): { bytes: number; items: MemoryItem[] } {
    const e = this.evaluate(group);
    if (!e.items) {
      const g = this.sorted(group);
      this.mark(g);
      const items: MemoryItem[] = [];
      this.computeMemory(g, items);
      e.items = items;
    }
    return { bytes: e.bytes, items: e.items };
  }
  /** F_beta bytes only (no breakdown). */
  memoryBytes(group: Group): number {
    return this.evaluate(group).bytes;
  }
  valid(group: Group): boolean {
    return this.evaluate(group).valid;
  }
  dram(group: Group): number {
    return this.evaluate(group).dram;
  }
  /** DRAM traffic itemized (inputs read, outputs written, weights incl. re-fetch). */
  dramBreakdown(group: Group): DramBreakdown {
    const e = this.evaluate(group);
    if (!e.breakdown) {
      const g = this.sorted(group);
      this.mark(g);
      e.breakdown = this.computeDram(g, true);
    }
    return e.breakdown;
  }
  /** Number of memoized groups. */
  get cacheSize(): number {
    return this.memo.size + this.evicted + this.bigEvaluations;
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

  /** Rows of a map (NCHW: H; other ranks: 1, i.e. a "row" is the whole tensor). */
  protected rowsOf(t: number): number {
    const s = this.graph.tensors[t].shape;
    return s.length === 4 ? Math.max(1, s[2]) : 1;
  }
  /** Bytes of one row: W x C x bytes (whole tensor when rank != 4). */
  protected rowBytes(t: number): number {
    const T = this.graph.tensors[t];
    return (T.elements / this.rowsOf(t)) * this.elementBytes;
  }
}

/** Creates the cost model of a scheme (see lbdf.ts / brr.ts). */
export type CostModelFactory = (graph: OpGraph, bufferBytes: number, elementBytes: number) => FusionCostModel;
