/**
 * GNNExplainer's per-group objective and its exact gradient w.r.t. the edge-mask logits,
 * derived by hand: the same function as the autodiff path (common.ts `maskedLogits` +
 * `maskEntropy` under gnnexplainer.ts's loss), evaluated with a fraction of the work.
 *
 *   w = sigmoid(m);  n_v = 1 - prod_{e ~ v} (1 + 1e-6 - w_e)     (soft-OR node weights)
 *   h_0 = x ⊙ n;  pre_l = h_l W_self + A h_l W_in + A^T h_l W_out + b_l,  h_{l+1} = ReLU(pre_l)
 *   logit = head(sum_v n_v h_L[v]),  A[v, u] = sum_{e: u -> v} w_e
 *   loss = softplus(-logit) + sizeCoeff * sum w + entropyCoeff * H(w)
 *
 * Why not tfjs autodiff (it was ~18 ms per Adam step on a 33-op group, ~360 ms per
 * explanation): (1) the backward pass of `matMul(h, W)` is `matMul(dy, W, false, true)` and the
 * message-passing matmuls need `transposeA`; tfjs-backend-wasm runs transposed matmuls on a
 * slow non-XNNPACK path (a [39,128] x [128,128]^T product takes 4x the untransposed one), and
 * they were 86% of the kernel time; (2) ~360 kernel launches and tape bookkeeping per step;
 * (3) the dense [n, n] adjacency and [E, n] incidences cost O(n^2) per layer where E ~ n.
 * Here the only tensor work per step is the six dense layer matmuls (layers 1..3, forward
 * `h [n,H] x Wcat [H,3H]` and backward `dP [n,3H] x Wcat^T [3H,H]`), all untransposed against
 * the same constant weight tensors every step, so they take XNNPACK's fast path. Message
 * passing (O(E H)), the head (H x 64), node weights, the loss and the elementwise gradients are
 * plain loops over Float32Arrays: O(n H) work per layer, cheaper at these sizes than a chain of
 * tf kernels. Mask-independent parts are computed once per group: layer 0's
 * `x [W_self|W_in|W_out]` (since (x ⊙ n) W = n ⊙ (x W)), the fused weights and transposes.
 *
 * Reassociation ((A h) W = A (h W), one fused matmul instead of three) changes float32
 * rounding only: on efficientnet_b0 groups logits agree with the autodiff path to 5e-7
 * (relative) and gradients to 2e-6 of their largest entry; the tests bound them at 1e-5 /
 * 1e-4. The plain forward of KGnn (predictor, PG, RG, training) is untouched.
 */
import { tf } from '../tf.ts';
import { HIDDEN, LAYERS, HEAD_HIDDEN, type GraphInput, type KGnn } from '../kgnn.ts';
import { FEATURE_DIM } from '../features.ts';
import { sigmoid } from './common.ts';

const H = HIDDEN;
const H3 = 3 * HIDDEN;
/** The 1e-6 guards of common.ts (nodeWeightsFromEdges, maskEntropy): same function. */
const EPS = 1e-6;

export interface MaskLossCoeffs {
  sizeCoeff: number;
  entropyCoeff: number;
}

export interface MaskLossResult {
  loss: number;
  logit: number;
  /** d loss / d m (aliases an internal buffer: copy it to keep it past the next call). */
  grad: Float32Array;
}

/** The mask-independent constants of a model: fused layer weights, their transposes, biases and
 * the head, built once per model (they were rebuilt per group: a concat, a transpose and a
 * dozen reads back per explanation, ~9% of GNNExplainer's time under GET). The model's
 * variables do not change while it explains (a trained predictor); `trainGet` builds new models. */
export interface ModelConstants {
  wcat0: tf.Tensor2D;
  wcat: tf.Tensor2D[];
  wcatT: tf.Tensor2D[];
  bias: Float32Array[];
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  b2: number;
}
const constants = new WeakMap<KGnn, ModelConstants>();

export function constantsOf(model: KGnn): ModelConstants {
  let c = constants.get(model);
  if (c) return c;
  const data = (name: string): Float32Array => Float32Array.from(model.v(name).dataSync() as Float32Array);
  const fused = (l: number): tf.Tensor2D => tf.keep(tf.concat([model.v(`l${l}.self`), model.v(`l${l}.in`), model.v(`l${l}.out`)], 1) as tf.Tensor2D);
  c = { wcat0: fused(0), wcat: [], wcatT: [], bias: [], w1: data('head.w1'), b1: data('head.b1'), w2: data('head.w2'), b2: data('head.b2')[0] };
  for (let l = 1; l < LAYERS; l++) {
    const wc = fused(l);
    c.wcat.push(wc);
    c.wcatT.push(tf.keep(tf.transpose(wc) as tf.Tensor2D));
  }
  for (let l = 0; l < LAYERS; l++) c.bias.push(data(`l${l}.b`));
  constants.set(model, c);
  return c;
}

/** The masked k-GNN of one group. Holds tensors: call dispose(). */
export class MaskObjective {
  readonly n: number;
  readonly e: number;
  private readonly src: Int32Array;
  private readonly dst: Int32Array;
  /** Layer 0's x [W_self | W_in | W_out], [n, 3H] (the node weights scale its rows). */
  private readonly xw0: Float32Array;
  /** Fused weights of layers 1..L-1 ([H, 3H]) and their transposes ([3H, H]); index l-1. */
  private readonly wcat: tf.Tensor2D[] = [];
  private readonly wcatT: tf.Tensor2D[] = [];
  private readonly bias: Float32Array[] = [];
  private readonly w1: Float32Array;
  private readonly b1: Float32Array;
  private readonly w2: Float32Array;
  private readonly b2: number;
  // per-evaluation state, reused (forward activations kept for the backward pass)
  private readonly w: Float32Array;
  private readonly nw: Float32Array;
  private readonly ens: Float32Array;
  /** P_l = h_l Wcat_l ([n, 3H]) and pre_l ([n, H]) per layer; h_l = ReLU(pre_{l-1}). */
  private readonly P: Float32Array[] = [];
  private readonly pre: Float32Array[] = [];
  private readonly h: Float32Array[] = [];
  private readonly z: Float32Array;
  private readonly g: Float32Array;
  private readonly grad: Float32Array;
  // scratch of one evaluation, reused across Adam steps (same arithmetic as fresh arrays: each
  // is zeroed where it was zero-initialized)
  private readonly sumLog: Float64Array;
  private readonly dg: Float64Array;
  private readonly dnw: Float64Array;
  private readonly dhTop: Float32Array;
  private readonly dw: Float64Array;
  private readonly dP: Float32Array;

  constructor(model: KGnn, input: GraphInput) {
    const { local, features } = input;
    this.n = local.ops.length;
    this.e = local.src.length;
    this.src = Int32Array.from(local.src);
    this.dst = Int32Array.from(local.dst);
    const n = this.n;
    const c = constantsOf(model);
    const xw0 = tf.tidy(() => tf.matMul(tf.tensor2d(features, [n, FEATURE_DIM]), c.wcat0));
    this.xw0 = Float32Array.from(xw0.dataSync() as Float32Array);
    xw0.dispose();
    this.wcat.push(...c.wcat);
    this.wcatT.push(...c.wcatT);
    this.bias.push(...c.bias);
    this.w1 = c.w1;
    this.b1 = c.b1;
    this.w2 = c.w2;
    this.b2 = c.b2;
    this.w = new Float32Array(this.e);
    this.nw = new Float32Array(n);
    this.ens = new Float32Array(n);
    for (let l = 0; l < LAYERS; l++) {
      this.P.push(l === 0 ? new Float32Array(n * H3) : new Float32Array(0));
      this.pre.push(new Float32Array(n * H));
    }
    for (let l = 0; l <= LAYERS; l++) this.h.push(new Float32Array(l === 0 ? 0 : n * H));
    this.z = new Float32Array(HEAD_HIDDEN);
    this.g = new Float32Array(H);
    this.grad = new Float32Array(this.e);
    this.sumLog = new Float64Array(n);
    this.dg = new Float64Array(H);
    this.dnw = new Float64Array(n);
    this.dhTop = new Float32Array(n * H);
    this.dw = new Float64Array(this.e);
    this.dP = new Float32Array(n * H3);
  }

  /** Releases the per-group state (the model's fused weights stay cached with the model). */
  dispose(): void {
    this.wcat.length = 0;
    this.wcatT.length = 0;
  }

  /** Row-major [n, k] x constant [k, c] on the tf backend (XNNPACK under WASM). */
  private static matmul(a: Float32Array, n: number, k: number, b: tf.Tensor2D): Float32Array {
    const at = tf.tensor2d(a, [n, k]);
    const r = tf.matMul(at, b);
    const out = r.dataSync() as Float32Array;
    tf.dispose([at, r]);
    return out;
  }

  /** Forward pass from mask logits m; fills the activations; returns the logit. */
  private forward(m: ArrayLike<number>): number {
    const { n, e, src, dst, w, nw, ens } = this;
    for (let k = 0; k < e; k++) w[k] = sigmoid(m[k]);
    // soft-OR node weights: n_v = 1 - exp(sum_{e ~ v} log(1 + eps - w_e))
    const s = this.sumLog;
    s.fill(0);
    for (let k = 0; k < e; k++) {
      const lw = Math.log(1 + EPS - w[k]);
      s[src[k]] += lw;
      s[dst[k]] += lw;
    }
    for (let v = 0; v < n; v++) {
      ens[v] = Math.exp(s[v]);
      nw[v] = 1 - ens[v];
    }
    for (let l = 0; l < LAYERS; l++) {
      let P: Float32Array;
      if (l === 0) {
        P = this.P[0];
        for (let v = 0; v < n; v++) {
          const a = nw[v];
          const o = v * H3;
          for (let j = 0; j < H3; j++) P[o + j] = a * this.xw0[o + j];
        }
      } else {
        P = MaskObjective.matmul(this.h[l], n, H, this.wcat[l - 1]);
        this.P[l] = P;
      }
      const pre = this.pre[l];
      const b = this.bias[l];
      for (let v = 0; v < n; v++) {
        const o = v * H;
        const po = v * H3;
        for (let j = 0; j < H; j++) pre[o + j] = P[po + j] + b[j];
      }
      // messages: in-neighbours u -> v through W_in, out-neighbours v -> u through W_out
      for (let k = 0; k < e; k++) {
        const wk = w[k];
        const u = src[k];
        const v = dst[k];
        const pv = v * H;
        const pu = u * H;
        const inU = u * H3 + H;
        const outV = v * H3 + 2 * H;
        for (let j = 0; j < H; j++) {
          pre[pv + j] += wk * P[inU + j];
          pre[pu + j] += wk * P[outV + j];
        }
      }
      const hn = this.h[l + 1];
      for (let i = 0; i < n * H; i++) hn[i] = pre[i] > 0 ? pre[i] : 0;
    }
    // head on the node-weighted sum of embeddings
    const hL = this.h[LAYERS];
    const g = this.g;
    g.fill(0);
    for (let v = 0; v < n; v++) {
      const a = nw[v];
      const o = v * H;
      for (let j = 0; j < H; j++) g[j] += a * hL[o + j];
    }
    let logit = this.b2;
    for (let k = 0; k < HEAD_HIDDEN; k++) {
      let a = this.b1[k];
      for (let j = 0; j < H; j++) a += g[j] * this.w1[j * HEAD_HIDDEN + k];
      this.z[k] = a > 0 ? a : 0;
      logit += this.z[k] * this.w2[k];
    }
    return logit;
  }

  /** The predictor's logit under edge-mask logits m (w = sigmoid(m)). */
  logit(m: ArrayLike<number>): number {
    return this.forward(m);
  }

  /** GNNExplainer's loss and its gradient w.r.t. the mask logits m. */
  lossAndGrad(m: ArrayLike<number>, c: MaskLossCoeffs): MaskLossResult {
    const { n, e, src, dst, w, nw, ens } = this;
    const logit = this.forward(m);
    // loss
    let sumW = 0;
    let ent = 0;
    for (let k = 0; k < e; k++) {
      sumW += w[k];
      ent += w[k] * Math.log(w[k] + EPS) + (1 - w[k]) * Math.log(1 + EPS - w[k]);
    }
    const softplusNeg = Math.max(-logit, 0) + Math.log1p(Math.exp(-Math.abs(logit)));
    const loss = softplusNeg + c.sizeCoeff * sumW + c.entropyCoeff * (-ent / e);

    // backward: head
    const dlogit = -1 / (1 + Math.exp(logit));
    const dg = this.dg;
    dg.fill(0);
    for (let k = 0; k < HEAD_HIDDEN; k++) {
      if (!(this.z[k] > 0)) continue;
      const da = dlogit * this.w2[k];
      for (let j = 0; j < H; j++) dg[j] += this.w1[j * HEAD_HIDDEN + k] * da;
    }
    const dnw = this.dnw;
    const hL = this.h[LAYERS];
    let dh: Float32Array = this.dhTop; // every entry written below
    for (let v = 0; v < n; v++) {
      const o = v * H;
      let acc = 0;
      for (let j = 0; j < H; j++) {
        acc += dg[j] * hL[o + j];
        dh[o + j] = dg[j] * nw[v];
      }
      dnw[v] = acc;
    }
    const dw = this.dw;
    dw.fill(0);
    const dP = this.dP;
    for (let l = LAYERS - 1; l >= 0; l--) {
      const pre = this.pre[l];
      const P = this.P[l];
      // dpre = dh ⊙ [pre > 0], stored as the W_self block of dP; the W_in / W_out blocks zeroed
      for (let v = 0; v < n; v++) {
        const o = v * H;
        const po = v * H3;
        for (let j = 0; j < H; j++) dP[po + j] = pre[o + j] > 0 ? dh[o + j] : 0;
        dP.fill(0, po + H, po + H3);
      }
      for (let k = 0; k < e; k++) {
        const wk = w[k];
        const u = src[k];
        const v = dst[k];
        const dv = v * H3; // dpre[v]
        const du = u * H3; // dpre[u]
        const inU = u * H3 + H;
        const outV = v * H3 + 2 * H;
        let acc = 0;
        for (let j = 0; j < H; j++) {
          const gv = dP[dv + j];
          const gu = dP[du + j];
          acc += gv * P[inU + j] + gu * P[outV + j];
          dP[inU + j] += wk * gv;
          dP[outV + j] += wk * gu;
        }
        dw[k] += acc;
      }
      if (l > 0) {
        dh = MaskObjective.matmul(dP, n, H3, this.wcatT[l - 1]);
      } else {
        // P_0 = n ⊙ (x Wcat_0)
        for (let v = 0; v < n; v++) {
          const o = v * H3;
          let acc = 0;
          for (let j = 0; j < H3; j++) acc += dP[o + j] * this.xw0[o + j];
          dnw[v] += acc;
        }
      }
    }
    // node weights -> edge weights: d n_v / d w_e = exp(s_v) / (1 + eps - w_e) for e ~ v
    const grad = this.grad;
    for (let k = 0; k < e; k++) {
      const wk = w[k];
      const dlw = -(ens[src[k]] * dnw[src[k]] + ens[dst[k]] * dnw[dst[k]]);
      let d = dw[k] - dlw / (1 + EPS - wk);
      d += c.sizeCoeff;
      d -= (c.entropyCoeff / e) * (Math.log(wk + EPS) + wk / (wk + EPS) - Math.log(1 + EPS - wk) - (1 - wk) / (1 + EPS - wk));
      grad[k] = d * wk * (1 - wk);
    }
    return { loss, logit, grad };
  }
}
