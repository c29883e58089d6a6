/**
 * Predictors of a local instruction's output from the encoded state, behind one interface.
 *
 * Encoding: x = (1/sqrt(m)) * sum of the one-hot vectors e_j of the m templates matching the
 * state (x = 0 when none matches). Training set: the template list itself (inputs = identity
 * matrix, targets = each template's output vector).
 *
 * - `table`: the instruction's exact semantics (OR of the matched targets). Used to collect
 *   the cases a trained ensemble must get right, never as a learned predictor.
 * - `ntk`: the infinite-width limit of an ensemble of 2-layer ReLU MLPs trained to
 *   convergence: kernel regression with the NTK, which for one-hot training inputs has the
 *   closed form f(x) = alpha(m) * sum_{j matched} Y_j + beta(m) * sum_j Y_j; thresholded at eps.
 * - `ensemble`: real finite-width MLPs n0 -> H -> k (ReLU, float64, W ~ N(0, 1/fan_in), no
 *   bias) trained by full-batch gradient descent on MSE over the one-hot template set (layer
 *   1's step scaled by H/n0, see layer1Scale), each until it reproduces its own table within
 *   tol or an epoch cap; the members' outputs are averaged and thresholded at eps.
 *
 * Hand-written float64 loops (no tensor library): the training inputs are one-hot, so the
 * first layer's forward pass is a row lookup and its gradient is the hidden-layer error
 * itself; there is no input matmul to accelerate, and tfjs has no float64 CPU kernels.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../util/random.ts';
import { writeFileAtomic } from '../util/fs.ts';
import type { TemplateTable } from './templates.ts';

export type PredictorKind = 'table' | 'ntk' | 'ensemble';

export interface Predictor {
  readonly kind: PredictorKind;
  /** Ensemble members (0 = infinite width / exact). */
  readonly members: number;
  readonly eps: number;
  /**
   * Output bits set after thresholding for the matched template ids matched[0..m).
   * Writes them into `out` (sorted ascending), returns their count.
   */
  predict(matched: Int32Array, m: number, out: Int32Array): number;
  /** Smallest |f_b - eps| seen over evaluated bits (the decision margin). */
  minMargin: number;
}

/** The exact instruction semantics: OR of the matched templates' targets. */
export class TablePredictor implements Predictor {
  readonly kind = 'table' as const;
  readonly members = 0;
  readonly eps = 0.5;
  minMargin = 0.5;
  private mark: Uint8Array;
  constructor(private t: TemplateTable) {
    this.mark = new Uint8Array(t.outputSize);
  }
  predict(matched: Int32Array, m: number, out: Int32Array): number {
    let n = 0;
    for (let i = 0; i < m; i++) {
      const j = matched[i];
      for (let k = this.t.outStart[j]; k < this.t.outStart[j + 1]; k++) {
        const b = this.t.outBit[k];
        if (!this.mark[b]) { this.mark[b] = 1; out[n++] = b; }
      }
    }
    for (let i = 0; i < n; i++) this.mark[out[i]] = 0;
    sortPrefix(out, n);
    return n;
  }
}

const C = 1 / (2 * Math.PI);

/** g(m) = NTK value between a state with m matches and one of its matched one-hot templates. */
export function ntkG(m: number): number {
  const cos = 1 / Math.sqrt(m);
  const th = Math.acos(Math.min(1, cos));
  return (Math.sin(th) + 2 * (Math.PI - th) * cos) / (2 * Math.PI);
}

/** Closed-form coefficients of the infinite-width ensemble mean. */
export function ntkAlphaBeta(m: number, n0: number): { alpha: number; beta: number } {
  if (m <= 0) return { alpha: 0, beta: 0 };
  const g = ntkG(m);
  const alpha = (g - C) / (1 - C);
  const beta = (C * (1 - C - m * (g - C))) / ((1 - C) * (1 - C + n0 * C));
  return { alpha, beta };
}

/** The 2-layer ReLU NTK between unit vectors at angle theta (cos given). */
export function ntkKernel(cos: number): number {
  const c = Math.max(-1, Math.min(1, cos));
  const th = Math.acos(c);
  return (Math.sin(th) + 2 * (Math.PI - th) * c) / (2 * Math.PI);
}

export class NtkPredictor implements Predictor {
  readonly kind = 'ntk' as const;
  readonly members = 0;
  minMargin = Infinity;
  private count: Int32Array;
  private coef: { alpha: number; beta: number }[] = [];
  constructor(private t: TemplateTable, readonly eps = 5e-3) {
    this.count = new Int32Array(t.outputSize);
  }
  private ab(m: number) {
    while (this.coef.length <= m) this.coef.push(ntkAlphaBeta(this.coef.length, this.t.n0));
    return this.coef[m];
  }
  /** The real-valued mean for one output bit (tests and diagnostics). */
  value(matched: number[], bit: number): number {
    const { alpha, beta } = this.ab(matched.length);
    let k = 0;
    for (const j of matched) for (let q = this.t.outStart[j]; q < this.t.outStart[j + 1]; q++) if (this.t.outBit[q] === bit) k++;
    return alpha * k + beta * this.t.writers[bit];
  }
  predict(matched: Int32Array, m: number, out: Int32Array): number {
    if (m === 0) return 0;
    const { alpha, beta } = this.ab(m);
    let touched = 0;
    for (let i = 0; i < m; i++) {
      const j = matched[i];
      for (let k = this.t.outStart[j]; k < this.t.outStart[j + 1]; k++) {
        const b = this.t.outBit[k];
        if (this.count[b]++ === 0) out[touched++] = b;
      }
    }
    // bits no matched template writes have f = beta * N_b <= 0 < eps: off, margin >= eps
    let n = 0;
    for (let i = 0; i < touched; i++) {
      const b = out[i];
      const f = alpha * this.count[b] + beta * this.t.writers[b];
      this.count[b] = 0;
      const margin = Math.abs(f - this.eps);
      if (margin < this.minMargin) this.minMargin = margin;
      if (f > this.eps) out[n++] = b;
    }
    sortPrefix(out, n);
    return n;
  }
}

// ---------------------------------------------------------------------------------------
// Finite-width ensembles

/** Settings of the trained-ensemble predictor of the learnability certificates. */
export interface EnsembleOptions {
  hidden?: number;
  /** Epoch cap per member (a member stops earlier once it fits its table within `tol`). */
  epochs?: number;
  /** Early stop of a member: largest |output - target| over its training rows (default eps / 5). */
  tol?: number;
  /** Learning rate; default 1 / lambda_max of the width-H kernel of the template set. */
  lr?: number;
  eps?: number;
  delta?: number;
  /** Largest ensemble tried. */
  cap?: number;
  /** Smallest ensemble; members are then added (in batches of max(start, members / 8)) and
   * the cases checked after each one, until the first size that gets them right. */
  start?: number;
  seed?: number;
  /** Preconditioned gradient descent (default true; see trainMember). */
  precondition?: boolean;
  /** Member initialization (default 'antisymmetric'). */
  init?: MemberInit;
  /** Cache folder (default .cache/dnnfuse/ensembles); null disables caching. */
  cacheDir?: string | null;
  log?: (msg: string) => void;
}

/** 'gaussian': W ~ N(0, 1/fan_in) i.i.d.; 'antisymmetric': paired hidden units with negated
 * output weights, f = 0 at initialization (antisymmetrical initialization, Zhang et al. 2019). */
export type MemberInit = 'gaussian' | 'antisymmetric';

export interface Member {
  w1: Float64Array; // n0 x H
  w2: Float64Array; // H x k
}

/**
 * Layer-1 learning-rate multiplier. With W1 ~ N(0, 1/n0) and W2 ~ N(0, 1/H) (standard
 * parameterization) the tangent kernel of the width-H net is kappa0(x.x') + (H/n0) kappa1: the
 * second layer's features dominate. Scaling layer 1's step by H/n0 makes the kernel
 * (H/n0) (kappa0 x.x' + kappa1) = (H/n0) g, proportional to the closed form's kernel, so that
 * the ensemble mean converges to the NTK predictor that the closed form certifies.
 */
export function layer1Scale(n0: number, hidden: number): number {
  return hidden / n0;
}

/** 1 / lambda_max of the (balanced) tangent kernel on the one-hot template set. */
export function defaultLr(n0: number, hidden: number): number {
  const scale = hidden / n0;
  return 1 / (scale * (1 + (n0 - 1) / (2 * Math.PI)));
}

/** Step size of preconditioned training (see trainMember): `fraction` / the flattened kernel's
 * eigenvalue s (1 - c), s = H / n0. */
export function preconditionedLr(n0: number, hidden: number, fraction = 0.5): number {
  return fraction / (layer1Scale(n0, hidden) * (1 - C));
}

/** What member training reads of a template table (a pool thread gets just this). */
export type TrainingTable = Pick<TemplateTable, 'n0' | 'outputSize' | 'outStart' | 'outBit'>;

/**
 * Trains one member by full-batch gradient descent on 1/2 * sum of squared errors, for at most
 * `epochs` epochs; with tol > 0 it stops at the first epoch whose forward pass reproduces every
 * training row within tol (|output - target| < tol on every bit: the member thresholded at
 * eps > tol is its table). The test reads the member's own errors only, so the stopping epoch,
 * like the member, depends on (table, setup, seed, i) alone: the same in any thread or pool.
 */
export function trainMember(t: TrainingTable, hidden: number, epochs: number, lr: number, rng: Rng, init: MemberInit = 'gaussian', precondition = false, tol = 0): { member: Member; loss: number; epochs: number } {
  const n0 = t.n0; // templates + inert padding rows (zero targets)
  const k = t.outputSize;
  const H = hidden;
  const w1 = new Float64Array(n0 * H);
  const w2 = new Float64Array(H * k);
  const s1 = 1 / Math.sqrt(n0);
  const s2 = 1 / Math.sqrt(H);
  if (init === 'antisymmetric') {
    // hidden unit r + H/2 copies unit r's input weights and negates its output weights: the
    // network is exactly 0 at initialization (same N(0, 1/fan_in) marginals, same tangent
    // kernel in expectation). Trained, f = k_H(x)^T K_H^{-1} y with no f_0 term: the
    // members differ only by their finite-width kernels, not by their random initial
    // functions, so their average reaches the NTK mean with far fewer members.
    if (H % 2) throw new Error(`antisymmetric initialization needs an even hidden width, got ${H}`);
    const h2 = H / 2;
    for (let j = 0; j < n0; j++) for (let r = 0; r < h2; r++) w1[j * H + r] = w1[j * H + r + h2] = rng.normal() * s1;
    for (let r = 0; r < h2; r++) for (let o = 0; o < k; o++) {
      const v = rng.normal() * s2;
      w2[r * k + o] = v;
      w2[(r + h2) * k + o] = -v;
    }
  } else {
    for (let i = 0; i < w1.length; i++) w1[i] = rng.normal() * s1;
    for (let i = 0; i < w2.length; i++) w2[i] = rng.normal() * s2;
  }
  const Y = new Float64Array(n0 * k);
  for (let j = 0; j < n0; j++) for (let q = t.outStart[j]; q < t.outStart[j + 1]; q++) Y[j * k + t.outBit[q]] = 1;
  const h = new Float64Array(n0 * H);
  const E = new Float64Array(n0 * k);
  const gW2 = new Float64Array(H * k);
  let loss = 0;
  const lr1 = lr * layer1Scale(n0, H);
  // Preconditioning (precondition = true, with lr from preconditionedLr): the tangent kernel on
  // one-hot rows is s((1 - c) I + c J); its one large eigenvalue (the all-rows mean, s(1 - c +
  // n0 c)) caps plain gradient descent's step at 1/lambda_max, so the bulk (s(1 - c)) converges
  // at rate ~ 5/n0 per epoch. Removing gamma = n0 c / (1 - c + n0 c) of the mean error from the
  // back-propagated error flattens the spectrum to s(1 - c): the step can be ~n0/5 times larger.
  // Updates stay in the span of the rows' gradients, so in the linearized regime the trained
  // function is the same kernel interpolant as plain gradient descent's.
  const gamma = precondition ? (n0 * C) / (1 - C + n0 * C) : 0;
  let ep = 0;
  for (; ep <= epochs; ep++) {
    for (let i = 0; i < h.length; i++) h[i] = w1[i] > 0 ? w1[i] : 0;
    loss = 0;
    let maxErr = 0;
    for (let j = 0; j < n0; j++) {
      const hr = j * H;
      const er = j * k;
      for (let o = 0; o < k; o++) E[er + o] = -Y[er + o];
      for (let r = 0; r < H; r++) {
        const hv = h[hr + r];
        if (hv === 0) continue;
        const wr = r * k;
        for (let o = 0; o < k; o++) E[er + o] += hv * w2[wr + o];
      }
      for (let o = 0; o < k; o++) {
        const e = E[er + o];
        loss += 0.5 * e * e;
        if (e > maxErr) maxErr = e;
        else if (-e > maxErr) maxErr = -e;
      }
    }
    if (ep === epochs || maxErr < tol) break;
    if (gamma) {
      // preconditioned error: remove gamma times the mean error over the training rows
      for (let o = 0; o < k; o++) {
        let m = 0;
        for (let j = 0; j < n0; j++) m += E[j * k + o];
        m *= gamma / n0;
        for (let j = 0; j < n0; j++) E[j * k + o] -= m;
      }
    }
    gW2.fill(0);
    for (let j = 0; j < n0; j++) {
      const hr = j * H;
      const er = j * k;
      for (let r = 0; r < H; r++) {
        const hv = h[hr + r];
        // an inactive unit (ReLU off) has no gradient in either layer for this row
        if (hv === 0) continue;
        const wr = r * k;
        let gh = 0;
        for (let o = 0; o < k; o++) {
          const e = E[er + o];
          gW2[wr + o] += hv * e;
          gh += e * w2[wr + o];
        }
        // one-hot inputs: dL/dW1[j, r] = dL/dh[j, r] * relu'(W1[j, r])
        w1[hr + r] -= lr1 * gh;
      }
    }
    for (let i = 0; i < w2.length; i++) w2[i] -= lr * gW2[i];
  }
  return { member: { w1, w2 }, loss, epochs: Math.min(ep, epochs) };
}

/**
 * Default hidden width: 8 x the output bits (even, at least 64).
 *
 * Why the outputs and not the templates: on one-hot rows, row j's layer-1 update moves its
 * outputs along the output weights of its active units, so how fast a member fits row j is set
 * by the k x k matrix sum over active units r of w2_r w2_r^T. With the antisymmetric init the
 * two units of a pair share their input weights, so about H/4 independent vectors w2_r are
 * active per row: a Wishart matrix of aspect ratio k / (H/4), whose smallest eigenvalue
 * (1 - sqrt(4k/H))^2 vanishes at H = 4k. Measured on shufflenet_v2_x1_0's BFS table (268
 * templates, k = 145): at H = 4k = 580 a member still misses its training rows by 3e-2..7e-2
 * after 40 epochs, and the ensemble mean keeps a systematic error of 1.2e-2 > eps on them at
 * 8 and 16 members alike (no ensemble size certifies); at H = 8k = 1160 a member fits every
 * row within 1e-3 in 32-33 epochs. A larger step diverges at both widths (0.5 of the flattened
 * kernel's step), so the width, not the epochs, is what makes members converge. Between members
 * and width the cost is neutral: the spread of the members at multi-match inputs shrinks like
 * 1/sqrt(H) while a member's cost grows like H.
 */
export function defaultHidden(outputs: number): number {
  return Math.max(64, 2 * Math.ceil((8 * outputs) / 2));
}

/** How every member of an ensemble is built and trained (trainingSetup); part of the cache key
 * and of every training request. */
export interface MemberSetup {
  hidden: number;
  epochs: number;
  lr: number;
  init: MemberInit;
  precondition: boolean;
  /** Early-stop tolerance of the members (0: every member trains `epochs` epochs; see trainMember). */
  tol: number;
}

/**
 * Training settings with their defaults: preconditioned gradient descent (at most 40 epochs at
 * 0.3 of the flattened kernel's step; plain: 400 epochs at 1 / lambda_max), each member
 * stopping early once it reproduces its training rows within tol = eps / 5, antisymmetric
 * init, and the hidden width of defaultHidden (8 x the output bits, at least 64).
 */
export function trainingSetup(t: Pick<TemplateTable, 'n0' | 'outputSize'>, opts: EnsembleOptions): MemberSetup {
  const precondition = opts.precondition ?? true;
  const hidden = opts.hidden ?? defaultHidden(t.outputSize);
  const epochs = opts.epochs ?? (precondition ? 40 : 400);
  const lr = opts.lr ?? (precondition ? preconditionedLr(t.n0, hidden, 0.3) : defaultLr(t.n0, hidden));
  const tol = opts.tol ?? (opts.eps ?? 5e-3) / 5;
  return { hidden, epochs, lr, init: opts.init ?? 'antisymmetric', precondition, tol };
}

/** Member i's generator: independent of how many members were trained before (and of the
 * thread or pool that trains it). */
export function memberRng(seed: number, i: number): Rng {
  return new Rng((Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca6b)) | 0);
}

/**
 * Ensemble cache file (one file per key):
 *   8 bytes  ASCII "DNNFENS1"
 *   4 bytes  uint32 LE: length L of the JSON header
 *   L bytes  UTF-8 JSON header {format, instruction, D, l, slots, seed, n0, hidden, outputs,
 *            epochs, lr, tableHash, members}
 *   padding  zero bytes up to a multiple of 8
 *   members x (n0*hidden + hidden*outputs) float64 LE: W1 row-major (n0 x hidden), then W2
 *            row-major (hidden x outputs), member after member.
 * The key (file name) is derived from (instruction, D, l, slots, seed, hidden, epochs, tol, lr,
 * table hash); a file with more members than needed serves every smaller ensemble, since
 * member i depends only on (seed, i).
 */
export interface EnsembleKey extends MemberSetup {
  instruction: string;
  D: number;
  l: number;
  slots: number;
  seed: number;
  tableHash: string;
}

export function ensembleCachePath(dir: string, key: EnsembleKey): string {
  const lr = key.lr.toPrecision(6).replace(/[^0-9a-z.e-]/gi, '');
  const tol = key.tol.toPrecision(3).replace(/[^0-9a-z.e-]/gi, '');
  return join(dir, `${key.instruction}-D${key.D}-l${key.l}-d${key.slots}-seed${key.seed}-H${key.hidden}-ep${key.epochs}-tol${tol}-lr${lr}-${key.init}-${key.tableHash}.ens`);
}

export function saveEnsemble(path: string, key: EnsembleKey, n0: number, outputs: number, members: Member[]): void {
  const header = Buffer.from(JSON.stringify({ format: 1, ...key, n0, outputs, members: members.length }), 'utf8');
  const pre = 12 + header.length;
  const pad = (8 - (pre % 8)) % 8;
  const head = Buffer.alloc(pre + pad);
  head.write('DNNFENS1', 0, 'ascii');
  head.writeUInt32LE(header.length, 8);
  header.copy(head, 12);
  const chunks: Uint8Array[] = [head];
  for (const m of members) {
    chunks.push(new Uint8Array(m.w1.buffer, m.w1.byteOffset, m.w1.byteLength).slice());
    chunks.push(new Uint8Array(m.w2.buffer, m.w2.byteOffset, m.w2.byteLength).slice());
  }
  writeFileAtomic(path, chunks);
}

export function loadEnsemble(path: string, key: EnsembleKey, n0: number, outputs: number): Member[] {
  if (!existsSync(path)) return [];
  const buf = readFileSync(path);
  if (buf.length < 12 || buf.toString('ascii', 0, 8) !== 'DNNFENS1') return [];
  const L = buf.readUInt32LE(8);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.toString('utf8', 12, 12 + L));
  } catch {
    return [];
  }
  const same = header.format === 1 && header.n0 === n0 && header.outputs === outputs && (Object.keys(key) as (keyof EnsembleKey)[]).every((k) => header[k] === key[k]);
  if (!same) return [];
  const pre = 12 + L;
  let off = pre + ((8 - (pre % 8)) % 8);
  const H = key.hidden;
  const count = Number(header.members);
  const per = (n0 * H + H * outputs) * 8;
  if (buf.length < off + count * per) return [];
  const out: Member[] = [];
  for (let i = 0; i < count; i++) {
    const w1 = new Float64Array(n0 * H);
    const w2 = new Float64Array(H * outputs);
    new Uint8Array(w1.buffer).set(buf.subarray(off, off + w1.byteLength));
    off += w1.byteLength;
    new Uint8Array(w2.buffer).set(buf.subarray(off, off + w2.byteLength));
    off += w2.byteLength;
    out.push({ w1, w2 });
  }
  return out;
}

/** Averaged, thresholded finite ensemble. */
export class EnsemblePredictor implements Predictor {
  readonly kind = 'ensemble' as const;
  minMargin = Infinity;
  private h: Float64Array;
  private acc: Float64Array;
  private memo = new Map<string, Int32Array>();
  constructor(private t: TemplateTable, private ms: Member[], readonly hidden: number, readonly eps = 5e-3) {
    this.h = new Float64Array(hidden);
    this.acc = new Float64Array(t.outputSize);
  }
  get members(): number {
    return this.ms.length;
  }
  /** The averaged real-valued outputs for a matched set. */
  mean(matched: ArrayLike<number>, m: number): Float64Array {
    const k = this.t.outputSize;
    const H = this.hidden;
    this.acc.fill(0);
    if (m === 0 || this.ms.length === 0) return this.acc;
    const s = 1 / Math.sqrt(m);
    for (const mem of this.ms) {
      this.h.fill(0);
      for (let i = 0; i < m; i++) {
        const row = matched[i] * H;
        for (let r = 0; r < H; r++) this.h[r] += mem.w1[row + r];
      }
      for (let r = 0; r < H; r++) {
        const hv = this.h[r] * s;
        if (hv <= 0) continue;
        const wr = r * k;
        for (let o = 0; o < k; o++) this.acc[o] += hv * mem.w2[wr + o];
      }
    }
    for (let o = 0; o < k; o++) this.acc[o] /= this.ms.length;
    return this.acc;
  }
  predict(matched: Int32Array, m: number, out: Int32Array): number {
    const ids = Array.from(matched.subarray(0, m)).sort((a, b) => a - b);
    const key = ids.join(',');
    let res = this.memo.get(key);
    if (!res) {
      const f = this.mean(ids, m);
      const on: number[] = [];
      for (let o = 0; o < f.length; o++) {
        const margin = Math.abs(f[o] - this.eps);
        if (margin < this.minMargin) this.minMargin = margin;
        if (f[o] > this.eps) on.push(o);
      }
      res = Int32Array.from(on);
      this.memo.set(key, res);
    }
    out.set(res);
    return res.length;
  }
}

export interface Case {
  matched: number[];
  expected: number[];
}

export interface GrowResult {
  predictor: EnsemblePredictor;
  members: number;
  caseAccuracy: number;
  history: { members: number; caseAccuracy: number; trainMs: number }[];
  trainMs: number;
  finalLoss: number;
  cached: number;
}

/**
 * A batch of members to train: members from..to-1 of the ensemble with this setup and seed.
 * Member i depends only on (table, setup, seed, i), so a batch may be trained in this thread
 * or spread over any number of pool threads with the same result (trainRequest, pool.ts).
 */
export interface TrainRequest extends MemberSetup {
  table: TrainingTable;
  seed: number;
  from: number;
  to: number;
}

/** A trained member, its final training loss and the epochs it ran. */
export interface TrainedMember {
  member: Member;
  loss: number;
  epochs: number;
}

/** Trains member i of a request in this thread. */
export function trainRequested(r: Omit<TrainRequest, 'from' | 'to'>, i: number): TrainedMember {
  return trainMember(r.table, r.hidden, r.epochs, r.lr, memberRng(r.seed, i), r.init, r.precondition, r.tol);
}

/** Trains a whole request in this thread, member after member. */
export function trainInline(r: TrainRequest): TrainedMember[] {
  const out: TrainedMember[] = [];
  for (let i = r.from; i < r.to; i++) out.push(trainRequested(r, i));
  return out;
}

/** The ensemble-growth key fields given by the caller (the rest come from the training setup). */
export type GrowKey = Omit<EnsembleKey, 'hidden' | 'epochs' | 'lr' | 'tableHash' | 'seed' | 'init' | 'precondition' | 'tol'>;

/**
 * Grows an ensemble until the fraction of `cases` (matched sets with their exact outputs)
 * predicted exactly reaches 1 - delta, or cap members: the result is the FIRST size M >= start
 * at which it does. Members are trained in batches (start, then max(start, ceil(M / 8)) more)
 * and the cases re-checked after each member of a batch (adding a member's outputs to the
 * running sums), so the ensemble stops within one member of where the cases are met instead
 * of at the next power of two. Member i depends only on (table, setup, seed, i) and the
 * members are checked in index order, so M and the ensemble do not depend on the batch sizes
 * nor on the thread or pool that trains them; members trained beyond M are only cached. The
 * stopping rule decides how many members to train, not what is certified: the certificate is
 * the GNN run with this ensemble checked against the table and the classical algorithm.
 * Members come from (and newly trained ones go to) the cache. Trains in this thread;
 * growEnsembleSteps lets a caller train the batches elsewhere (a worker pool).
 */
export function growEnsemble(t: TemplateTable, key: GrowKey, cases: Case[], opts: EnsembleOptions = {}): GrowResult {
  const steps = growEnsembleSteps(t, key, cases, opts);
  let r = steps.next();
  while (!r.done) r = steps.next(trainInline(r.value));
  return r.value;
}

/** growEnsemble as a generator: yields each batch of members to train, resumes with them. */
export function* growEnsembleSteps(t: TemplateTable, key: GrowKey, cases: Case[], opts: EnsembleOptions = {}): Generator<TrainRequest, GrowResult, TrainedMember[]> {
  const { hidden, epochs, lr, init, precondition, tol } = trainingSetup(t, opts);
  const eps = opts.eps ?? 5e-3;
  const delta = opts.delta ?? 1e-3;
  const cap = opts.cap ?? 1024;
  const seed = opts.seed ?? 0;
  const fullKey: EnsembleKey = { ...key, seed, hidden, epochs, lr, init, precondition, tol, tableHash: t.hash() };
  const cacheDir = opts.cacheDir === undefined ? join(process.cwd(), '.cache', 'dnnfuse', 'ensembles') : opts.cacheDir;
  const path = cacheDir ? ensembleCachePath(cacheDir, fullKey) : undefined;
  const cachedMembers = path ? loadEnsemble(path, fullKey, t.n0, t.outputSize) : [];
  const members: Member[] = [];
  const k = t.outputSize;
  const sums = cases.map(() => new Float64Array(k));
  const h = new Float64Array(hidden);
  const addMember = (mem: Member) => {
    members.push(mem);
    cases.forEach((cs, ci) => {
      const m = cs.matched.length;
      if (m === 0) return;
      const s = 1 / Math.sqrt(m);
      h.fill(0);
      for (const j of cs.matched) for (let r = 0; r < hidden; r++) h[r] += mem.w1[j * hidden + r];
      const acc = sums[ci];
      for (let r = 0; r < hidden; r++) {
        const hv = h[r] * s;
        if (hv <= 0) continue;
        for (let o = 0; o < k; o++) acc[o] += hv * mem.w2[r * k + o];
      }
    });
  };
  const expected = cases.map((cs) => {
    const on = new Uint8Array(k);
    for (const o of cs.expected) on[o] = 1;
    return on;
  });
  const accuracy = (n: number) => {
    let ok = 0;
    cases.forEach((_, ci) => {
      const exp = expected[ci];
      let good = true;
      for (let o = 0; o < k && good; o++) if ((sums[ci][o] / n > eps) !== (exp[o] === 1)) good = false;
      if (good) ok++;
    });
    return cases.length ? ok / cases.length : 1;
  };
  const history: GrowResult['history'] = [];
  const start = Math.min(Math.max(1, opts.start ?? 8), cap);
  // every member trained (or read from the cache), in index order; the ensemble is a prefix
  const trained: Member[] = [];
  let trainMs = 0;
  let finalLoss = 0;
  let acc = 0;
  let done = false;
  while (!done) {
    const t0 = performance.now();
    const want = Math.min(cap, trained.length === 0 ? start : trained.length + Math.max(start, Math.ceil(trained.length / 8)));
    while (trained.length < want && trained.length < cachedMembers.length) trained.push(cachedMembers[trained.length]);
    if (trained.length < want) {
      const batch: TrainedMember[] = yield { table: t, hidden, epochs, lr, init, precondition, tol, seed, from: trained.length, to: want };
      if (batch.length !== want - trained.length) throw new Error(`ensemble training returned ${batch.length} members, ${want - trained.length} requested`);
      for (const r of batch) {
        finalLoss = Math.max(finalLoss, r.loss);
        trained.push(r.member);
      }
    }
    const ms = performance.now() - t0;
    trainMs += ms;
    // add the batch member by member: the first size (>= start) that meets the cases stops
    while (members.length < trained.length) {
      addMember(trained[members.length]);
      if (members.length < start) continue;
      acc = accuracy(members.length);
      if (acc >= 1 - delta || members.length >= cap) {
        done = true;
        break;
      }
    }
    history.push({ members: members.length, caseAccuracy: acc, trainMs: ms });
    opts.log?.(`ensemble ${key.instruction}: ${members.length} members, case accuracy ${(acc * 100).toFixed(3)}%`);
  }
  if (path && trained.length > cachedMembers.length) saveEnsemble(path, fullKey, t.n0, t.outputSize, trained);
  return { predictor: new EnsemblePredictor(t, members, hidden, eps), members: members.length, caseAccuracy: acc, history, trainMs, finalLoss, cached: Math.min(cachedMembers.length, members.length) };
}

/** Builds a fixed-size ensemble (no growth), e.g. to show an under-sized ensemble fails. */
export function fixedEnsemble(t: TemplateTable, members: number, opts: EnsembleOptions = {}): EnsemblePredictor {
  const { hidden, epochs, lr, init, precondition, tol } = trainingSetup(t, opts);
  const ms: Member[] = [];
  for (let i = 0; i < members; i++) ms.push(trainMember(t, hidden, epochs, lr, memberRng(opts.seed ?? 0, i), init, precondition, tol).member);
  return new EnsemblePredictor(t, ms, hidden, opts.eps ?? 5e-3);
}

/**
 * The smallest padding that makes the closed form exact in the worst case for this table:
 * for every m in 1..maxM and every output bit b with N_b writers, alpha(m) + beta(m) N_b must
 * exceed eps by `factor` (a bit set by one matched template must stay on).
 */
export function paddingFor(t: TemplateTable, maxM: number, eps = 5e-3, factor = 2): number {
  let nMax = 0;
  for (let b = 0; b < t.outputSize; b++) nMax = Math.max(nMax, t.writers[b]);
  const ok = (n0: number) => {
    for (let m = 1; m <= maxM; m++) {
      const { alpha, beta } = ntkAlphaBeta(m, n0);
      if (alpha + beta * nMax <= factor * eps) return false;
    }
    return true;
  };
  if (ok(t.count)) return 0;
  let hi = Math.max(1, t.count);
  while (!ok(t.count + hi)) {
    hi *= 2;
    if (hi > 1e8) throw new Error('no padding makes this table exact (alpha(m) too small: too many matched templates)');
  }
  let lo = 0;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (ok(t.count + mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** The ensemble-size bound m >= 8 n0 ln(2 n0 T 2^n0), as log10 and (when finite) value. */
export function theoryEnsembleBound(n0: number, rounds: number): { value: number; log10: number; text: string } {
  const ln = Math.log(2 * n0 * Math.max(1, rounds)) + n0 * Math.LN2;
  const v = 8 * n0 * ln;
  const log10 = Math.log10(v);
  return { value: v, log10, text: v < 1e15 ? String(Math.ceil(v)) : `10^${log10.toFixed(2)}` };
}

function sortPrefix(a: Int32Array, n: number): void {
  a.subarray(0, n).sort();
}
