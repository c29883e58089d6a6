/**
 * LBDF — line-buffer depth-first layer fusion (Shi, Houshmand, Mei, Verhelst, JETCAS 2021),
 * as dnnfuse models it (Mills et al., "Applying Graph Explanation to Operator Fusion", arXiv 2501.00636). A fused stack runs row by row with sliding windows:
 * every op's weights stay on chip for the whole group; only a window of rows of each map that
 * a member consumes is on chip; finished output rows stream to DRAM.
 *
 * F_beta(G) = resident weights + line buffers + skip buffers + full maps, where
 *  - resident weights: sum of weightElements x bytes over the members;
 *  - line buffer of each map t consumed by a member (group inputs included: they stream in row
 *    by row): rows(t) x W x C x bytes with rows(t) = max over its consumers c in G of
 *    (K_eff - 1 + s), K_eff = d (K - 1) + 1 the dilated kernel height and s the vertical stride;
 *    an element-wise consumer (1x1, stride 1) gives 1 row, a linear (cubic) Resize K = 2 (4)
 *    taps. Rows are capped at the map height H;
 *  - skip buffer of each map t with >= 2 consumers in G whose branches re-join inside G: the
 *    longer branch lags by its receptive-field look-ahead. Walking forward from t inside G, a
 *    window op with dilated kernel K_eff looks floor((K_eff - 1) / 2) rows of its input ahead
 *    ("same" padding); converted to rows of t by the height ratio H_t / H_input, look-aheads add
 *    up along a path. At a merge op (>= 2 inputs reachable from t) the lag is max lead - min lead
 *    over its inputs; t holds (max lag over merges) extra rows, capped at H (a global op on a
 *    branch, e.g. squeeze-excitation, has an infinite look-ahead: the whole map);
 *  - full map: a map consumed by a global op in G (global pooling, spatial reductions/softmax,
 *    instance/group normalization, a LayerNorm over the row axis, a Transpose moving it, a Concat
 *    along it, a Gather or Scatter across rows: row-order.ts isGlobal) is
 *    held whole (H rows), since nothing downstream of the global op can proceed before its last
 *    row (this replaces its line and skip buffers); so is a map that a matrix product in G reads
 *    as its B operand (FusionOp.whole: attention's K^T and V), since every output row reads all
 *    of it, and on a branch it is an infinite look-ahead.
 * Rows: a map's H when it is NCHW; L for a 1-D (NCL) and H for a 3-D (NCDHW) map that the op
 * graph marks as streamed (FusionTensor.rows: a 1-D or 3-D conv or pool shows its layout); any
 * other map is one row, i.e. held whole. A row is the map's bytes / its rows (NCHW: W x C).
 * F_D(G) = group inputs read + group outputs written + weights read once (cost-base.ts).
 * Group outputs need no buffer of their own (finished rows leave at once) — a simplification.
 */
import type { FusionOp, FusionScheme, Group, MemoryItem, OpGraph } from './types.ts';
import { FusionCostModel } from './cost-base.ts';
import { readsOperandsWhole } from './row-order.ts';

export class LbdfCostModel extends FusionCostModel {
  readonly scheme: FusionScheme = 'lbdf';

  constructor(graph: OpGraph, bufferBytes: number, elementBytes: number) {
    super(graph, bufferBytes, elementBytes);
  }

  /** Rows of its input that op `id` keeps in its window: K_eff - 1 + s (1 for element-wise). */
  windowRows(id: number): number {
    const op = this.graph.ops[id];
    const kEff = op.dilation[0] * (op.kernel[0] - 1) + 1;
    return kEff - 1 + op.stride[0];
  }

  /** Look-ahead of op `id` in rows of its own input ("same" padding: floor((K_eff - 1) / 2)). */
  lookAhead(id: number): number {
    const op = this.graph.ops[id];
    if (op.global) return Infinity;
    const kEff = op.dilation[0] * (op.kernel[0] - 1) + 1;
    return Math.floor((kEff - 1) / 2);
  }

  protected computeMemory(group: Group, items: MemoryItem[] | undefined): number {
    const { ops, tensors } = this.graph;
    const b = this.elementBytes;
    let bytes = 0;
    for (const id of group) {
      const op = ops[id];
      if (op.weightElements > 0) {
        const w = op.weightElements * b;
        items?.push({ tensor: op.node, kind: 'weights', bytes: w, detail: `${op.weightElements} weights of ${op.opType} resident for the whole group` });
        bytes += w;
      }
    }
    // Maps consumed inside the group, in first-use order (tstamp marks "already counted").
    const gen = this.stampGen;
    for (const id of group) {
      for (const t of ops[id].inputs) {
        if (this.tstamp[t] === gen) continue;
        this.tstamp[t] = gen;
        const T = tensors[t];
        const H = this.rowsOf(t);
        const rowB = this.rowBytes(t);
        let rows = 0;
        let global = false;
        let inside = 0;
        let by = -1;
        for (const c of T.consumers) {
          if (!this.inG(c)) continue;
          inside++;
          if (ops[c].global || ops[c].whole?.includes(t)) global = true;
          const r = this.windowRows(c);
          if (r > rows) {
            rows = r;
            by = c;
          }
        }
        if (global) {
          const full = T.elements * b;
          if (items) {
            const g = T.consumers.find((c) => this.inG(c) && ops[c].global);
            items.push({ tensor: T.name, kind: 'full-map', bytes: full, detail: `${H} rows (whole map): ${g !== undefined ? 'consumed by a global op in the group' : wholeWhy(ops[T.consumers.find((c) => this.inG(c) && ops[c].whole?.includes(t))!], t)}` });
          }
          bytes += full;
          continue;
        }
        rows = Math.min(rows, H);
        const line = rows * rowB;
        if (items) {
          items.push({ tensor: T.name, kind: 'line-buffer', bytes: line, detail: `${rows} of ${H} rows (${windowWhy(ops[by])})` });
        }
        bytes += line;
        if (inside >= 2 && rows < H) {
          const lag = this.skipLag(t, group);
          if (lag > 0) {
            const extra = Math.min(H - rows, lag === Infinity ? H : Math.ceil(lag));
            const sb = extra * rowB;
            items?.push({
              tensor: T.name,
              kind: 'skip-buffer',
              bytes: sb,
              detail: lag === Infinity ? `${extra} more rows (whole map): a branch through a global op re-joins` : `${extra} more rows: the longer branch lags by ${Number.isInteger(lag) ? lag : lag.toFixed(2)} rows before the merge`,
            });
            bytes += sb;
          }
        }
      }
    }
    return bytes;
  }

  private leadMax = new Float64Array(0);
  private leadMin = new Float64Array(0);
  private leadStamp = new Int32Array(0);
  private leadGen = 0;

  /** Largest lag (rows of t) between branches from map t that re-join inside the group. */
  private skipLag(t: number, group: Group): number {
    const { ops, tensors } = this.graph;
    if (this.leadStamp.length !== tensors.length) {
      this.leadMax = new Float64Array(tensors.length);
      this.leadMin = new Float64Array(tensors.length);
      this.leadStamp = new Int32Array(tensors.length);
    }
    const gen = ++this.leadGen;
    const Ht = this.rowsOf(t);
    // lead range [min, max] per tensor reachable from t inside the group, in rows of t.
    this.leadStamp[t] = gen;
    this.leadMax[t] = 0;
    this.leadMin[t] = 0;
    let lag = 0;
    // Ops are numbered topologically and the group is sorted: one forward sweep suffices.
    const start = tensors[t].producer;
    for (const id of group) {
      if (id <= start) continue;
      const op = ops[id];
      let hi = -Infinity;
      let lo = Infinity;
      let inHi = -Infinity;
      let inLo = Infinity;
      let reached = 0;
      const la0 = this.lookAhead(id);
      for (const x of op.inputs) {
        if (this.leadStamp[x] !== gen) continue;
        reached++;
        const mx = this.leadMax[x], mn = this.leadMin[x];
        const la = op.whole?.includes(x) ? Infinity : la0 === 0 ? 0 : la0 * (Ht / this.rowsOf(x));
        if (mx + la > hi) hi = mx + la;
        if (mn + la < lo) lo = mn + la;
        if (mx > inHi) inHi = mx;
        if (mn < inLo) inLo = mn;
      }
      if (reached === 0) continue;
      if (reached >= 2) {
        const d = inHi - inLo; // NaN when every branch went through a global op (no lag between them)
        if (!Number.isNaN(d) && d > lag) lag = d;
      }
      for (const o of op.outputs) {
        this.leadStamp[o] = gen;
        this.leadMax[o] = hi;
        this.leadMin[o] = lo;
      }
    }
    return lag;
  }

  protected weightTraffic(group: Group): { bytes: number; refetch: number } {
    let w = 0;
    for (const id of group) w += this.graph.ops[id].weightElements;
    return { bytes: w * this.elementBytes, refetch: 0 };
  }
}

/** Why a consumer's window needs the rows it does (the line buffer's explanation). */
function windowWhy(c: FusionOp): string {
  const [k, s] = [c.kernel[0], c.stride[0]];
  if (k === 1 && s === 1) return `element-wise consumer ${c.node}`;
  if (c.opType === 'Resize' || c.opType === 'Upsample') return `${k}-row interpolation of ${c.node}, stride ${s}: K-1+s`;
  if (c.dilation[0] > 1) return `${k}x${c.kernel[1]}/s${s} window dilated by ${c.dilation[0]} of ${c.node}: K_eff-1+s, K_eff = d(K-1)+1`;
  return `${k}x${c.kernel[1]}/s${s} window of ${c.node}: K-1+s`;
}

/** Why op `c` reads map `t` whole (FusionOp.whole): a matrix product's B operand (not its first
 * map input), or a map whose rows arrive along another axis than the op reads them. */
function wholeWhy(c: FusionOp, t: number): string {
  return c.inputs.indexOf(t) > 0 && readsOperandsWhole(c.opType)
    ? `the B operand of matrix product ${c.node} in the group (every output row reads all of it)`
    : `its rows stream along another axis than ${c.node} reads them (a layout change in the group)`;
}
