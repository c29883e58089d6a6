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
import { inputTensors, maskEntropy, maskedLogits, rankEdges, sigmoid, type Explainer, type Explanation } from './common.ts';

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
    const { t, local } = inputTensors(input);
    try {
      const [pInvalid, scores] = tf.tidy(() => {
        const h = this.model.nodeEmbeddings(t);
        const p = sigmoid(this.model.head(h, t.pool, 1).dataSync()[0]);
        if (t.e === 0) return [p, new Float32Array(0)] as const;
        // rank by the logit: the sigmoid saturates to exactly 1 in float32 for confident edges
        return [p, Float32Array.from(this.edgeLogits(t, h).dataSync() as Float32Array)] as const;
      });
      return { method: 'pg', ...rankEdges(local, scores), pInvalid };
    } finally {
      disposeBatch(t);
    }
  }

  /** Trains the edge MLP on groups the predictor calls invalid (the predictor stays frozen). */
  train(groups: readonly { input: GraphInput }[], o: { epochs: number; batchSize: number; learningRate: number; seed: number; sizeCoeff?: number; entropyCoeff?: number; log?: (m: string) => void }): void {
    const rng = new Rng(o.seed);
    const order = groups.map((_, i) => i);
    const opt = tf.train.adam(o.learningRate);
    const vars = [...this.vars.values()];
    const sizeCoeff = o.sizeCoeff ?? 0.05;
    const entropyCoeff = o.entropyCoeff ?? 0.1;
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
  }

  values(): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const [k, v] of this.vars) out.set(k, Float32Array.from(v.dataSync() as Float32Array));
    return out;
  }
}

export { graphInput };
