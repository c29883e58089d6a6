/**
 * The k-GNN's plain (unmasked) forward on one group, and on the subgraph a set of its ops
 * induces, for the explainers that only run the predictor forward: PGExplainer (node
 * embeddings + P(invalid)), RG-Explainer (node embeddings, then P(invalid) of each candidate
 * explanation along its rollout) and GNNExplainer's P(invalid) of the whole group.
 *
 * Same function as KGnn.nodeEmbeddings / KGnn.logits (kgnn.ts), evaluated as mask-objective.ts
 * evaluates the masked one: per layer one fused matmul `h [m, H] x [W_self | W_in | W_out]`
 * (untransposed, on XNNPACK) and message passing as loops over the edges (O(E H)), instead of
 * the dense [n, n] adjacency matmuls (one of them transposed: tfjs-backend-wasm's slow path) and
 * ~25 tf kernels per forward. Layer 0's `x W0` is computed once per group and shared by every
 * subgraph of it. Hand-written because no library runs a GNN on a few dozen nodes without a
 * per-kernel dispatch cost that dwarfs the arithmetic (tfjs's sparse ops, unsortedSegmentSum and
 * gather, are slower still on these backends: kgnn.ts).
 *
 * The subgraph forward: RG-Explainer scores a candidate explanation S by the masked forward
 * with node weight 1 on S, 0 elsewhere, and edge weight 1 on edges inside S, 0 elsewhere
 * (rgexplainer.ts). There every message into S comes from S (the other edges weigh 0), so the
 * embeddings of S are those of the k-GNN on the subgraph S induces, and the readout sums S's
 * embeddings only (node weight 0 elsewhere): P(invalid | S) is the k-GNN's plain forward on
 * S's induced subgraph, |S| <= 8 nodes rather than the group's n.
 *
 * Reassociation ((A h) W = A (h W)) and the order of the sums change float32 rounding only:
 * the tests (test/get/group-forward.test.ts) bound embeddings and logits against the tfjs path
 * at 1e-5 relative.
 */
import { tf } from '../tf.ts';
import { HIDDEN, LAYERS, HEAD_HIDDEN, type GraphInput, type KGnn } from '../kgnn.ts';
import { FEATURE_DIM } from '../features.ts';
import { constantsOf, type ModelConstants } from './mask-objective.ts';

const H = HIDDEN;
const H3 = 3 * HIDDEN;

/** Row-major [n, k] x constant [k, c] on the tf backend (XNNPACK under WASM). */
function matmul(a: Float32Array, n: number, k: number, b: tf.Tensor2D): Float32Array {
  const at = tf.tensor2d(a, [n, k]);
  const r = tf.matMul(at, b);
  const out = r.dataSync() as Float32Array;
  tf.dispose([at, r]);
  return out;
}

/** The k-GNN of one group, unmasked; holds no tensor of its own (the model's fused weights stay
 * cached with the model, mask-objective.ts constantsOf). */
export class GroupForward {
  readonly n: number;
  readonly e: number;
  private readonly src: Int32Array;
  private readonly dst: Int32Array;
  private readonly c: ModelConstants;
  /** Layer 0's x [W_self | W_in | W_out], [n, 3H]. */
  private readonly xw0: Float32Array;

  constructor(model: KGnn, input: GraphInput) {
    const { local, features } = input;
    this.n = local.ops.length;
    this.e = local.src.length;
    this.src = Int32Array.from(local.src);
    this.dst = Int32Array.from(local.dst);
    this.c = constantsOf(model);
    this.xw0 = this.n ? matmul(features, this.n, FEATURE_DIM, this.c.wcat0) : new Float32Array(0);
  }

  /** Node embeddings after the last layer ([n * H], row-major) and the group's logit. */
  full(): { h: Float32Array; logit: number } {
    const h = this.forward(null, this.src, this.dst);
    return { h, logit: this.head(h, this.n) };
  }

  /** The logit of the subgraph `members` (local indices, distinct) induces: the masked forward
   * with node weight 1 on members and edge weight 1 on edges inside them (see the header). */
  subgraphLogit(members: readonly number[]): number {
    const m = members.length;
    const at = new Int32Array(this.n).fill(-1);
    members.forEach((v, i) => (at[v] = i));
    const src: number[] = [];
    const dst: number[] = [];
    for (let k = 0; k < this.e; k++) {
      const a = at[this.src[k]];
      const b = at[this.dst[k]];
      if (a >= 0 && b >= 0) (src.push(a), dst.push(b));
    }
    const h = this.forward(members, Int32Array.from(src), Int32Array.from(dst));
    return this.head(h, m);
  }

  /** The layers on the nodes `nodes` (local indices; null = all) with edges src -> dst given in
   * the nodes' own numbering; returns h_L [m * H]. */
  private forward(nodes: readonly number[] | null, src: Int32Array, dst: Int32Array): Float32Array {
    const m = nodes ? nodes.length : this.n;
    const c = this.c;
    let h = new Float32Array(0);
    for (let l = 0; l < LAYERS; l++) {
      let P: Float32Array;
      if (l > 0) P = matmul(h, m, H, c.wcat[l - 1]);
      else if (!nodes) P = this.xw0;
      else {
        P = new Float32Array(m * H3);
        nodes.forEach((v, i) => P.set(this.xw0.subarray(v * H3, (v + 1) * H3), i * H3));
      }
      const pre = new Float32Array(m * H);
      const b = c.bias[l];
      for (let v = 0; v < m; v++) {
        const o = v * H;
        const po = v * H3;
        for (let j = 0; j < H; j++) pre[o + j] = P[po + j] + b[j];
      }
      // messages: in-neighbours u -> v through W_in, out-neighbours v -> u through W_out
      for (let k = 0; k < src.length; k++) {
        const u = src[k];
        const v = dst[k];
        const pv = v * H;
        const pu = u * H;
        const inU = u * H3 + H;
        const outV = v * H3 + 2 * H;
        for (let j = 0; j < H; j++) {
          pre[pv + j] += P[inU + j];
          pre[pu + j] += P[outV + j];
        }
      }
      for (let i = 0; i < m * H; i++) if (!(pre[i] > 0)) pre[i] = 0;
      h = pre;
    }
    return h;
  }

  /** The head on the sum of the m node embeddings h. */
  private head(h: Float32Array, m: number): number {
    const c = this.c;
    const g = new Float64Array(H);
    for (let v = 0; v < m; v++) {
      const o = v * H;
      for (let j = 0; j < H; j++) g[j] += h[o + j];
    }
    const a = Float64Array.from(c.b1);
    for (let j = 0; j < H; j++) {
      const x = g[j];
      const o = j * HEAD_HIDDEN;
      for (let k = 0; k < HEAD_HIDDEN; k++) a[k] += x * c.w1[o + k];
    }
    let logit = c.b2;
    for (let k = 0; k < HEAD_HIDDEN; k++) if (a[k] > 0) logit += a[k] * c.w2[k];
    return logit;
  }
}
