/**
 * RG-Explainer (Shan et al., NeurIPS 2021, "Reinforcement learning enhanced explainer for
 * graph neural networks") for the GET validity predictor: pick a seed op, then grow a
 * connected explanation one neighbouring op at a time, and stop as soon as the explanation on
 * its own is predicted invalid (agreement with the group's prediction) or reaches maxSize.
 *
 * What is learned (REINFORCE, seeded, frozen predictor):
 * - a seed scorer: MLP over the op's node embedding h_v (softmax over the group's ops);
 * - a growth policy: MLP over [h_c ; sum_{v in S} h_v] for each candidate c adjacent to the
 *   current explanation S (softmax over candidates).
 * Reward of an episode = P(invalid | S) - sizePenalty * |S| / |group|, where S is evaluated as a
 * masked subgraph (node weight 1 in S, edges inside S kept; see common.ts), with a running-mean
 * baseline. At inference the policy is greedy.
 *
 * The returned edges: the cut edges around S (its boundary) and inside S. Edges inside S come
 * first (cutting them splits the cause of invalidity itself, e.g. two heavy convs), then the
 * boundary (cutting it isolates the cause from the rest of the group).
 */
import { tf } from '../tf.ts';
import type { CostModel, Group } from '../../fusion/types.ts';
import { HIDDEN, KGnn, batchTensors, disposeBatch, graphInput, initParams, makeBatch, type BatchTensors, type GraphInput } from '../kgnn.ts';
import { Rng } from '../../util/random.ts';
import { sigmoid, type Explainer, type Explanation } from './common.ts';
import { GroupForward } from './group-forward.ts';
import type { LocalGraph } from '../features.ts';

export const RG_HIDDEN = 32;

function oneHot(i: number, n: number): tf.Tensor1D {
  const v = new Float32Array(n);
  v[i] = 1;
  return tf.tensor1d(v);
}

export function rgShapes(): [string, number[]][] {
  return [
    ['s1', [HIDDEN, RG_HIDDEN]],
    ['sb1', [RG_HIDDEN]],
    ['s2', [RG_HIDDEN, 1]],
    ['sb2', [1]],
    ['g1', [2 * HIDDEN, RG_HIDDEN]],
    ['gb1', [RG_HIDDEN]],
    ['g2', [RG_HIDDEN, 1]],
    ['gb2', [1]],
  ];
}

/** A rollout's policy: the seed scorer's logits over the group's ops, the growth policy's over
 * candidates. */
interface Policy {
  seed(): Float32Array;
  grow(candidates: number[], members: number[]): Float32Array;
}

interface Episode {
  /** Seed choice (local node index). */
  seed: number;
  /** Growth steps: candidates (local indices), current members before the step, chosen index into candidates. */
  steps: { candidates: number[]; members: number[]; chosen: number }[];
  members: number[];
  pInvalid: number;
}

export class RgExplainer implements Explainer {
  readonly kind = 'rg' as const;
  readonly vars = new Map<string, tf.Variable>();
  maxSize = 8;
  sizePenalty = 0.2;

  constructor(
    private model: KGnn,
    values: Map<string, Float32Array>,
  ) {
    for (const [name, shape] of rgShapes()) {
      const v = values.get(name);
      if (!v) throw new Error(`RG-Explainer weights: missing tensor '${name}'`);
      this.vars.set(name, tf.variable(tf.tensor(v, shape), true));
    }
  }

  static random(model: KGnn, seed: number): RgExplainer {
    return new RgExplainer(model, initParams(rgShapes(), new Rng(seed)));
  }

  private v(n: string): tf.Variable {
    return this.vars.get(n)!;
  }

  private seedLogits(h: tf.Tensor2D): tf.Tensor1D {
    return tf.tidy(() => {
      const z = tf.relu(tf.add(tf.matMul(h, this.v('s1')), this.v('sb1'))) as tf.Tensor2D;
      return tf.reshape(tf.add(tf.matMul(z, this.v('s2')), this.v('sb2')), [-1]) as tf.Tensor1D;
    });
  }

  private growLogits(h: tf.Tensor2D, candidates: number[], members: number[]): tf.Tensor1D {
    return tf.tidy(() => {
      const hc = tf.gather(h, tf.tensor1d(candidates, 'int32')) as tf.Tensor2D;
      const hs = tf.sum(tf.gather(h, tf.tensor1d(members, 'int32')), 0, true);
      const x = tf.concat([hc, tf.tile(hs, [candidates.length, 1])], 1) as tf.Tensor2D;
      const z = tf.relu(tf.add(tf.matMul(x, this.v('g1')), this.v('gb1'))) as tf.Tensor2D;
      return tf.reshape(tf.add(tf.matMul(z, this.v('g2')), this.v('gb2')), [-1]) as tf.Tensor1D;
    });
  }

  /** The policy on the tf backend (training: the same ops the loss differentiates). */
  private tfPolicy(h: tf.Tensor2D): Policy {
    return {
      seed: () => tf.tidy(() => this.seedLogits(h).dataSync() as Float32Array),
      grow: (candidates, members) => tf.tidy(() => this.growLogits(h, candidates, members).dataSync() as Float32Array),
    };
  }

  /** The policy's weights as arrays, read once (dropped when training changes them). */
  private weights?: Record<string, Float32Array>;

  /** The same two MLPs (seedLogits, growLogits) on node embeddings h ([n * HIDDEN]) in plain
   * loops: at inference a rollout asks for a few dozen logits at a time, where a chain of tf
   * kernels (gather, tile, concat, matMul) costs far more than the arithmetic (~4k
   * multiply-adds per logit). */
  private plainPolicy(h: Float32Array, n: number): Policy {
    this.weights ??= Object.fromEntries([...this.vars].map(([k, v]) => [k, Float32Array.from(v.dataSync() as Float32Array)]));
    const w = this.weights;
    const R = RG_HIDDEN;
    /** w2 . ReLU(x W1 + b1) + b2 for x = [a ; b] (b optional: the seed scorer). */
    // each hidden unit's sum runs over the inputs in order (a, then b); the loops are nested
    // input-outer so that W1 is read row by row. A zero input is skipped: the embeddings come out
    // of a ReLU (+0 for ~70% of entries on MobileNetV2 groups), and adding its product (+0 or -0
    // for finite weights) leaves every sum the same, bar the sign of a zero sum, which the ReLU
    // below maps to the same 0: the same logits, bit for bit (2,326 explanations of random groups
    // of three networks identical, in 10% less time)
    const z = new Float64Array(R);
    const mlp = (a: Float32Array, b: Float64Array | null, w1: Float32Array, b1: Float32Array, w2: Float32Array, b2: Float32Array): number => {
      for (let r = 0; r < R; r++) z[r] = b1[r];
      for (let j = 0; j < HIDDEN; j++) {
        const x = a[j];
        if (x === 0) continue;
        const o = j * R;
        for (let r = 0; r < R; r++) z[r] += x * w1[o + r];
      }
      if (b) for (let j = 0; j < HIDDEN; j++) {
        const x = b[j];
        if (x === 0) continue;
        const o = (HIDDEN + j) * R;
        for (let r = 0; r < R; r++) z[r] += x * w1[o + r];
      }
      let out = b2[0];
      for (let r = 0; r < R; r++) if (z[r] > 0) out += z[r] * w2[r];
      return out;
    };
    const row = (v: number) => h.subarray(v * HIDDEN, (v + 1) * HIDDEN);
    return {
      seed: () => Float32Array.from({ length: n }, (_, v) => mlp(row(v), null, w.s1, w.sb1, w.s2, w.sb2)),
      grow: (candidates, members) => {
        const hs = new Float64Array(HIDDEN);
        for (const m of members) for (let j = 0; j < HIDDEN; j++) hs[j] += h[m * HIDDEN + j];
        return Float32Array.from(candidates, (c) => mlp(row(c), hs, w.g1, w.gb1, w.g2, w.gb2));
      },
    };
  }

  /** P(invalid) of the subgraph induced by `members` (masked evaluation). */
  private subgraphP(t: BatchTensors, local: LocalGraph, members: number[]): number {
    const inS = new Uint8Array(local.ops.length);
    for (const m of members) inS[m] = 1;
    const node = Float32Array.from(inS);
    const edge = Float32Array.from(local.src.map((s, k) => (inS[s] && inS[local.dst[k]] ? 1 : 0)));
    return tf.tidy(() => {
      const l = this.model.logits(t, tf.tensor1d(edge), tf.tensor1d(node));
      return sigmoid(l.dataSync()[0]);
    });
  }

  private neighbours(local: LocalGraph, members: number[]): number[] {
    const inS = new Set(members);
    const out = new Set<number>();
    for (let k = 0; k < local.src.length; k++) {
      const s = local.src[k];
      const d = local.dst[k];
      if (inS.has(s) && !inS.has(d)) out.add(d);
      if (inS.has(d) && !inS.has(s)) out.add(s);
    }
    return [...out].sort((a, b) => a - b);
  }

  /** One episode; `rng` undefined = greedy. */
  private rollout(pOf: (members: number[]) => number, local: LocalGraph, policy: Policy, rng?: Rng): Episode {
    const pick = (logits: Float32Array): number => {
      if (!rng) {
        let best = 0;
        for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
        return best;
      }
      const mx = Math.max(...logits);
      const p = Array.from(logits, (x) => Math.exp(x - mx));
      const z = p.reduce((a, b) => a + b, 0);
      let u = rng.next() * z;
      for (let i = 0; i < p.length; i++) if ((u -= p[i]) <= 0) return i;
      return p.length - 1;
    };
    const seedL = policy.seed();
    const seed = pick(seedL);
    const members = [seed];
    const steps: Episode['steps'] = [];
    let p = pOf(members);
    const cap = Math.min(this.maxSize, local.ops.length);
    while (p < 0.5 && members.length < cap) {
      const candidates = this.neighbours(local, members);
      if (candidates.length === 0) break;
      const gl = policy.grow(candidates, members);
      const chosen = pick(gl);
      steps.push({ candidates, members: [...members], chosen });
      members.push(candidates[chosen]);
      p = pOf(members);
    }
    return { seed, steps, members: members.sort((a, b) => a - b), pInvalid: p };
  }

  explain(group: Group, cost: CostModel): Explanation {
    return this.explainInput(graphInput(cost.graph, group, cost.bufferBytes, cost.elementBytes));
  }

  explainInput(input: GraphInput): Explanation {
    const local = input.local;
    // the predictor's forward on the group (group-forward.ts), and P(invalid | S) of each
    // candidate explanation S as the forward on the subgraph S induces: the same function as
    // subgraphP's masked forward on the whole group (see group-forward.ts), on |S| <= 8 nodes
    const fw = new GroupForward(this.model, input);
    const full = fw.full();
    const pInvalid = sigmoid(full.logit);
    const ep = this.rollout((members) => sigmoid(fw.subgraphLogit(members)), local, this.plainPolicy(full.h, local.ops.length));
    const inS = new Set(ep.members);
    const inside: [number, number][] = [];
    const boundary: [number, number][] = [];
    for (let k = 0; k < local.src.length; k++) {
      const a = inS.has(local.src[k]);
      const b = inS.has(local.dst[k]);
      const pair: [number, number] = [local.ops[local.src[k]], local.ops[local.dst[k]]];
      if (a && b) inside.push(pair);
      else if (a || b) boundary.push(pair);
    }
    return {
      method: 'rg',
      edges: [...inside, ...boundary],
      scores: [...inside.map(() => 1), ...boundary.map(() => 0.5)],
      pInvalid,
      nodes: ep.members.map((m) => local.ops[m]),
    };
  }

  /** REINFORCE over groups the predictor calls invalid. */
  train(groups: readonly { input: GraphInput }[], o: { epochs: number; learningRate: number; seed: number; log?: (m: string) => void }): void {
    const rng = new Rng(o.seed);
    const order = groups.map((_, i) => i);
    const opt = tf.train.adam(o.learningRate);
    const vars = [...this.vars.values()];
    let baseline = 0;
    let seen = 0;
    this.weights = undefined;
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      rng.shuffle(order);
      let rewardSum = 0;
      for (const gi of order) {
        const input = groups[gi].input;
        const t = batchTensors(makeBatch([input]));
        const h = tf.tidy(() => this.model.nodeEmbeddings(t));
        const ep = this.rollout((members) => this.subgraphP(t, input.local, members), input.local, this.tfPolicy(h), rng);
        const reward = ep.pInvalid - (this.sizePenalty * ep.members.length) / input.local.ops.length;
        const adv = seen === 0 ? 0 : reward - baseline;
        baseline = seen === 0 ? reward : 0.9 * baseline + 0.1 * reward;
        seen++;
        rewardSum += reward;
        if (adv !== 0) {
          const loss = opt.minimize(
            () =>
              tf.tidy(() => {
                // log pi(a) = sum(logSoftmax * onehot(a)): a one-hot product, because the
                // gradient of gather (UnsortedSegmentSum) is missing or slow on our backends.
                const n = input.local.ops.length;
                let logp = tf.sum(tf.mul(tf.logSoftmax(this.seedLogits(h)), oneHot(ep.seed, n)));
                for (const s of ep.steps) {
                  const k = s.candidates.length;
                  const lp = tf.sum(tf.mul(tf.logSoftmax(this.growLogits(h, s.candidates, s.members)), oneHot(s.chosen, k)));
                  logp = tf.add(logp, lp);
                }
                return tf.mul(-adv, tf.sum(logp)) as tf.Scalar;
              }),
            false,
            vars,
          );
          loss?.dispose();
        }
        h.dispose();
        disposeBatch(t);
      }
      this.weights = undefined;
      o.log?.(`RG-Explainer epoch ${epoch + 1}/${o.epochs} mean reward ${(rewardSum / Math.max(1, order.length)).toFixed(4)}`);
    }
    opt.dispose();
  }

  values(): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const [k, v] of this.vars) out.set(k, Float32Array.from(v.dataSync() as Float32Array));
    return out;
  }
}
