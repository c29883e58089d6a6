/** Random CNN-like op graphs for the fusion property tests: chains of convs (1x1/3x3, stride
 * 1/2), residual blocks, two-branch concats, depthwise convs and squeeze-excitation, built as
 * OpGraphs directly from a seeded Rng. */
import { opGraphFromSpec, type OpSpec } from '../../src/fusion/op-graph.ts';
import type { OpGraph } from '../../src/fusion/types.ts';
import { Rng } from '../../src/util/random.ts';

export function randomCnn(seed: number, blocks: number): OpGraph {
  const rng = new Rng(seed);
  const shapes: Record<string, number[]> = {};
  const specs: OpSpec[] = [];
  let c = rng.pick([3, 4, 8]);
  let h = rng.pick([8, 12, 16]);
  let cur = 'x';
  shapes[cur] = [1, c, h, h];
  let k = 0;
  const fresh = (shape: number[]) => {
    const n = `t${k++}`;
    shapes[n] = shape;
    return n;
  };
  const conv = (x: string, cout: number, kk: number, s: number, dw = false): string => {
    const [, cin, hh] = shapes[x];
    const ho = Math.ceil(hh / s);
    const y = fresh([1, cout, ho, ho]);
    specs.push({ name: `conv${specs.length}`, opType: 'Conv', inputs: [x], outputs: [y], weights: dw ? cin * kk * kk : cin * cout * kk * kk, kernel: kk, stride: s, macs: cout * ho * ho * (dw ? 1 : cin) * kk * kk });
    return y;
  };
  const ew = (op: string, xs: string[]): string => {
    const y = fresh([...shapes[xs[0]]]);
    specs.push({ name: `${op.toLowerCase()}${specs.length}`, opType: op, inputs: xs, outputs: [y] });
    return y;
  };
  for (let b = 0; b < blocks; b++) {
    const kind = rng.int(0, 4);
    if (kind === 0) {
      const s = h > 4 && rng.next() < 0.3 ? 2 : 1;
      const cout = rng.pick([4, 8, 16]);
      cur = conv(cur, cout, rng.pick([1, 3]), s);
      c = cout;
      h = shapes[cur][2];
      cur = ew('Relu', [cur]);
    } else if (kind === 1) {
      const a = conv(cur, c, 3, 1);
      const r = ew('Relu', [a]);
      const d = conv(r, c, rng.pick([1, 3]), 1);
      cur = ew('Add', [d, cur]);
    } else if (kind === 2) {
      const a = conv(cur, 4, 1, 1);
      const d = conv(cur, 4, 3, 1);
      const y = fresh([1, 8, h, h]);
      specs.push({ name: `concat${specs.length}`, opType: 'Concat', inputs: [a, d], outputs: [y] });
      cur = y;
      c = 8;
    } else if (kind === 3) {
      cur = conv(cur, c, 3, 1, true);
      cur = ew('Relu', [cur]);
    } else {
      const g = fresh([1, c, 1, 1]);
      specs.push({ name: `gap${specs.length}`, opType: 'GlobalAveragePool', inputs: [cur], outputs: [g], global: true });
      const s1 = conv(g, Math.max(1, c >> 1), 1, 1);
      const s2 = conv(s1, c, 1, 1);
      const sg = ew('Sigmoid', [s2]);
      cur = ew('Mul', [cur, sg]);
    }
  }
  return opGraphFromSpec(shapes, specs, [cur]);
}

/** Small random CNNs for brute-force references (Bell(n) partitions, so n stays <= 8): the
 * three-block graphs of seeds 0, 1, ... below `seeds` with `minOps` to 8 ops, the first `want`. */
export function smallCnns(seeds: number, want: number, minOps: number): { seed: number; g: OpGraph }[] {
  const out: { seed: number; g: OpGraph }[] = [];
  for (let seed = 0; seed < seeds && out.length < want; seed++) {
    const g = randomCnn(seed, 3);
    if (g.ops.length >= minOps && g.ops.length <= 8) out.push({ seed, g });
  }
  return out;
}
