/**
 * OpGraphs built directly in code (no ONNX, no shape inference): hand-made groups for the GET
 * tests and seeded CNN-like networks (plain stacks, residual blocks, inverted bottlenecks with
 * squeeze-excitation, inception-style concat branches, fire modules) that widen the training
 * distribution of the validity predictor beyond the shared reference models.
 */
import type { FusionOp, FusionTensor, OpGraph } from '../fusion/types.ts';
import { Rng } from '../util/random.ts';

export interface OpOptions {
  weights?: number;
  kernel?: number;
  stride?: number;
  global?: boolean;
  macs?: number;
}

/** Appends ops in topological order; each op has one output tensor. */
export class OpGraphBuilder {
  readonly ops: FusionOp[] = [];
  readonly tensors: FusionTensor[] = [];

  input(shape: number[], name = `in${this.tensors.length}`): number {
    return this.tensor(name, shape, -1);
  }

  private tensor(name: string, shape: number[], producer: number): number {
    this.tensors.push({ name, shape, elements: shape.reduce((a, b) => a * b, 1), producer, consumers: [] });
    return this.tensors.length - 1;
  }

  shape(t: number): number[] {
    return this.tensors[t].shape;
  }

  op(opType: string, inputs: number[], outShape: number[], o: OpOptions = {}): number {
    const id = this.ops.length;
    const k = o.kernel ?? 1;
    const s = o.stride ?? 1;
    const out = this.tensor(`t${this.tensors.length}`, outShape, id);
    for (const t of inputs) this.tensors[t].consumers.push(id);
    this.ops.push({
      id,
      node: `${opType.toLowerCase()}_${id}`,
      opType,
      inputs: [...inputs],
      outputs: [out],
      weightElements: o.weights ?? 0,
      kernel: [k, k],
      stride: [s, s],
      dilation: [1, 1],
      global: o.global ?? false,
      macs: o.macs ?? 0,
    });
    return out;
  }

  conv(x: number, cout: number, k = 3, s = 1, groups = 1): number {
    const [n, cin, h, w] = this.shape(x);
    const oh = Math.ceil(h / s);
    const ow = Math.ceil(w / s);
    const weights = (cout * (cin / groups) * k * k) | 0;
    return this.op('Conv', [x], [n, cout, oh, ow], { weights: weights + cout, kernel: k, stride: s, macs: weights * oh * ow });
  }
  bn(x: number): number {
    return this.op('BatchNormalization', [x], this.shape(x), { weights: 4 * this.shape(x)[1] });
  }
  act(x: number, type = 'Relu'): number {
    return this.op(type, [x], this.shape(x));
  }
  add(a: number, b: number): number {
    return this.op('Add', [a, b], this.shape(a));
  }
  mul(a: number, b: number): number {
    return this.op('Mul', [a, b], this.shape(a));
  }
  concat(xs: number[]): number {
    const s = [...this.shape(xs[0])];
    s[1] = xs.reduce((acc, t) => acc + this.shape(t)[1], 0);
    return this.op('Concat', xs, s);
  }
  pool(x: number, k: number, s: number, type = 'MaxPool'): number {
    const [n, c, h, w] = this.shape(x);
    return this.op(type, [x], [n, c, Math.ceil(h / s), Math.ceil(w / s)], { kernel: k, stride: s });
  }
  gap(x: number): number {
    const [n, c] = this.shape(x);
    return this.op('GlobalAveragePool', [x], [n, c, 1, 1], { global: true });
  }

  build(): OpGraph {
    const n = this.ops.length;
    const succ: number[][] = Array.from({ length: n }, () => []);
    const pred: number[][] = Array.from({ length: n }, () => []);
    for (const op of this.ops) {
      for (const t of op.inputs) {
        const p = this.tensors[t].producer;
        if (p >= 0) {
          succ[p].push(op.id);
          pred[op.id].push(p);
        }
      }
    }
    const uniq = (xs: number[]) => [...new Set(xs)].sort((a, b) => a - b);
    return { ops: this.ops, tensors: this.tensors, succ: succ.map(uniq), pred: pred.map(uniq) };
  }
}

/**
 * A seeded CNN-like network: a stem, then stages of blocks of one randomly chosen family per
 * stage, downsampling between stages, global pooling and a classifier.
 */
export function syntheticNetwork(seed: number): OpGraph {
  const rng = new Rng(seed);
  const b = new OpGraphBuilder();
  const res = rng.pick([64, 96, 112, 128, 160, 224]);
  let c = rng.pick([16, 24, 32, 48, 64]);
  let x = b.input([1, 3, res, res]);
  x = b.act(b.bn(b.conv(x, c, rng.pick([3, 5, 7]), 2)));
  if (rng.next() < 0.5) x = b.pool(x, 3, 2);
  const stages = rng.int(3, 5);
  const actType = rng.pick(['Relu', 'Relu', 'Clip', 'HardSigmoid']);
  for (let s = 0; s < stages; s++) {
    const family = rng.pick(['plain', 'residual', 'bottleneck', 'inverted', 'inception', 'fire']);
    const blocks = rng.int(1, 4);
    const cout = Math.min(1024, c * rng.pick([1, 2, 2, 3]));
    for (let k = 0; k < blocks; k++) {
      const stride = k === 0 && s > 0 ? 2 : 1;
      x = block(b, rng, family, x, cout, stride, actType);
    }
    c = cout;
  }
  x = b.gap(x);
  const [n, cf] = b.shape(x);
  x = b.op('Flatten', [x], [n, cf]);
  b.op('Gemm', [x], [n, 1000], { weights: cf * 1000 + 1000 });
  return b.build();
}

function block(b: OpGraphBuilder, rng: Rng, family: string, x: number, cout: number, stride: number, act: string): number {
  const cin = b.shape(x)[1];
  const cbr = (t: number, co: number, k: number, s = 1, g = 1, relu = true) => {
    const y = b.bn(b.conv(t, co, k, s, g));
    return relu ? b.act(y, act) : y;
  };
  switch (family) {
    case 'plain':
      return cbr(x, cout, 3, stride);
    case 'residual': {
      const y = cbr(cbr(x, cout, 3, stride), cout, 3, 1, 1, false);
      const sc = stride !== 1 || cin !== cout ? cbr(x, cout, 1, stride, 1, false) : x;
      return b.act(b.add(y, sc));
    }
    case 'bottleneck': {
      const mid = Math.max(8, cout >> 2);
      const y = cbr(cbr(cbr(x, mid, 1), mid, 3, stride), cout, 1, 1, 1, false);
      const sc = stride !== 1 || cin !== cout ? cbr(x, cout, 1, stride, 1, false) : x;
      return b.act(b.add(y, sc));
    }
    case 'inverted': {
      const mid = cin * rng.pick([3, 4, 6]);
      let y = cbr(x, mid, 1);
      y = cbr(y, mid, rng.pick([3, 5]), stride, mid);
      if (rng.next() < 0.5) {
        // squeeze-excitation
        const r = Math.max(8, mid >> 2);
        const g = b.gap(y);
        const [n] = b.shape(g);
        const s1 = b.act(b.op('Conv', [g], [n, r, 1, 1], { weights: mid * r + r }));
        const s2 = b.act(b.op('Conv', [s1], [n, mid, 1, 1], { weights: mid * r + mid }), 'HardSigmoid');
        y = b.mul(y, s2);
      }
      y = cbr(y, cout, 1, 1, 1, false);
      return stride === 1 && cin === cout ? b.add(y, x) : y;
    }
    case 'inception': {
      const q = Math.max(8, cout >> 2);
      const b1 = cbr(x, q, 1, stride);
      const b2 = cbr(cbr(x, q, 1), q, 3, stride);
      const b3 = cbr(cbr(cbr(x, q, 1), q, 3), Math.max(8, cout - 3 * q), 3, stride);
      const b4 = cbr(b.pool(x, 3, stride), q, 1);
      return b.concat([b1, b2, b3, b4]);
    }
    default: {
      // fire module (SqueezeNet)
      const sq = b.act(b.conv(x, Math.max(8, cout >> 3), 1, stride), act);
      const e1 = b.act(b.conv(sq, cout >> 1, 1), act);
      const e3 = b.act(b.conv(sq, cout - (cout >> 1), 3), act);
      return b.concat([e1, e3]);
    }
  }
}
