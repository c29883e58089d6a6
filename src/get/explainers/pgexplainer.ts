/**
 * PGExplainer (Luo et al., NeurIPS 2020) for the GET validity predictor: an MLP over the pair
 * of (frozen) node embeddings of an edge's endpoints gives one mask logit per edge; it is
 * trained once, over many invalid groups, with GNNExplainer's objective (keep "invalid" under
 * the mask, small, near-binary), then explains a new group in a single forward pass.
 *
 *   score(u -> v) = w2 . ReLU(W1 [h_u ; h_v] + b1) + b2,  mask = sigmoid(score)
 *
 * Training uses a deterministic sigmoid mask (no Gumbel noise; the entropy term pushes it to
 * 0/1 instead), Adam, fixed batch order from the seed.
 */
import { tf } from '../tf.ts';
import type { CostModel, Group } from '../../fusion/types.ts';
import { HIDDEN, KGnn, batchTensors, disposeBatch, graphInput, initParams, makeBatch, type BatchTensors, type GraphInput } from '../kgnn.ts';
import { Rng } from '../../util/random.ts';
import { maskEntropy, maskedLogits, rankEdges, sigmoid, type Explainer, type Explanation } from './common.ts';
import { GroupForward } from './group-forward.ts';

export const PG_HIDDEN = 64;

export function pgShapes(): [string, number[]][] {
  return [
    ['w1', [2 * HIDDEN, PG_HIDDEN]],
    ['b1', [PG_HIDDEN]],
    ['w2', [PG_HIDDEN, 1]],
    ['b2', [1]],
  ];
}

export class PgExplainer implements Explainer {
  readonly kind = 'pg' as const;
  readonly vars = new Map<string, tf.Variable>();

  constructor(
    private model: KGnn,
    values: Map<string, Float32Array>,
  ) {
    for (const [name, shape] of pgShapes()) {
      const v = values.get(name);
      if (!v) throw new Error(`PGExplainer weights: missing tensor '${name}'`);
      this.vars.set(name, tf.variable(tf.tensor(v, shape), true));
    }
  }

  static random(model: KGnn, seed: number): PgExplainer {
    return new PgExplainer(model, initParams(pgShapes(), new Rng(seed)));
  }

  private v(n: string): tf.Variable {
    return this.vars.get(n)!;
  }

  /** Edge logits ([E]) from frozen node embeddings. */
  edgeLogits(t: BatchTensors, h: tf.Tensor2D): tf.Tensor1D {
    return tf.tidy(() => {
      const hs = tf.matMul(t.srcOh, h);
      const hd = tf.matMul(t.dstOhT, h, true, false);
      const z = tf.relu(tf.add(tf.matMul(tf.concat([hs, hd], 1), this.v('w1')), this.v('b1'))) as tf.Tensor2D;
      return tf.reshape(tf.add(tf.matMul(z, this.v('w2')), this.v('b2')), [t.e]) as tf.Tensor1D;
    });
  }

  explain(group: Group, cost: CostModel): Explanation {
    return this.explainInput(graphInput(cost.graph, group, cost.bufferBytes, cost.elementBytes));
  }

  explainInput(input: GraphInput): Explanation {
    // the predictor's forward on the group alone (group-forward.ts: the same function as
    // model.nodeEmbeddings / model.head on the group's BatchTensors, without the dense
    // adjacency), then the edge MLP
    const fw = new GroupForward(this.model, input);
    const { h, logit } = fw.full();
    const pInvalid = sigmoid(logit);
    const { local } = input;
    const e = local.src.length;
    if (e === 0) return { method: 'pg', ...rankEdges(local, new Float32Array(0)), pInvalid };
    // [h_src ; h_dst] per edge, x W1 on the tf backend; the rest (64 units) in plain loops
    const x = new Float32Array(e * 2 * HIDDEN);
    for (let k = 0; k < e; k++) {
      x.set(h.subarray(local.src[k] * HIDDEN, (local.src[k] + 1) * HIDDEN), k * 2 * HIDDEN);
      x.set(h.subarray(local.dst[k] * HIDDEN, (local.dst[k] + 1) * HIDDEN), k * 2 * HIDDEN + HIDDEN);
    }
    const xt = tf.tensor2d(x, [e, 2 * HIDDEN]);
    const zt = tf.matMul(xt, this.v('w1'));
    const z = zt.dataSync() as Float32Array;
    tf.dispose([xt, zt]);
    const { b1, w2, b2 } = this.head();
    // rank by the logit: the sigmoid saturates to exactly 1 in float32 for confident edges
    const scores = new Float32Array(e);
    for (let k = 0; k < e; k++) {
      let s = b2;
      for (let j = 0; j < PG_HIDDEN; j++) {
        const a = z[k * PG_HIDDEN + j] + b1[j];
        if (a > 0) s += a * w2[j];
      }
      scores[k] = s;
    }
    return { method: 'pg', ...rankEdges(local, scores), pInvalid };
  }

  /** The edge MLP's b1, w2, b2 as arrays, read once (dropped when training changes them). */
  private headValues?: { b1: Float32Array; w2: Float32Array; b2: number };
  private head(): { b1: Float32Array; w2: Float32Array; b2: number } {
    this.headValues ??= { b1: Float32Array.from(this.v('b1').dataSync() as Float32Array), w2: Float32Array.from(this.v('w2').dataSync() as Float32Array), b2: this.v('b2').dataSync()[0] };
    return this.headValues;
  }

  /** Trains the edge MLP on groups the predictor calls invalid (the predictor stays frozen). */
  train(groups: readonly { input: GraphInput }[], o: { epochs: number; batchSize: number; learningRate: number; seed: number; sizeCoeff?: number; entropyCoeff?: number; log?: (m: string) => void }): void {
    const rng = new Rng(o.seed);
    const order = groups.map((_, i) => i);
    const opt = tf.train.adam(o.learningRate);
    const vars = [...this.vars.values()];
    const sizeCoeff = o.sizeCoeff ?? 0.05;
    const entropyCoeff = o.entropyCoeff ?? 0.1;
    this.headValues = undefined;
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      rng.shuffle(order);
      let total = 0;
      let n = 0;
      for (let at = 0; at < order.length; at += o.batchSize) {
        const batch = makeBatch(order.slice(at, at + o.batchSize).map((i) => groups[i].input));
        if (batch.src.length === 0) continue;
        const t = batchTensors(batch);
        const h = tf.tidy(() => this.model.nodeEmbeddings(t));
        const loss = opt.minimize(
          () =>
            tf.tidy(() => {
              const w = tf.sigmoid(this.edgeLogits(t, h)) as tf.Tensor1D;
              const logit = maskedLogits(this.model, t, w);
              const pred = tf.mean(tf.softplus(tf.neg(logit)));
              const size = tf.div(tf.sum(w), t.numGraphs);
              return tf.addN([pred, tf.mul(sizeCoeff, size), tf.mul(entropyCoeff, maskEntropy(w))]) as tf.Scalar;
            }),
          true,
          vars,
        );
        total += loss!.dataSync()[0];
        n++;
        tf.dispose([loss!, h]);
        disposeBatch(t);
      }
      o.log?.(`PGExplainer epoch ${epoch + 1}/${o.epochs} loss ${(total / Math.max(1, n)).toFixed(4)}`);
    }
    opt.dispose();
    this.headValues = undefined;
  }

  values(): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const [k, v] of this.vars) out.set(k, Float32Array.from(v.dataSync() as Float32Array));
    return out;
  }
}

export { graphInput };
