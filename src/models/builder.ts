/**
 * Builds IR models in code: the project's fixtures, the reference blocks of the reparam tests
 * and the generators of the property-testing kit all use it. Shapes are tracked as values are
 * created (NCHW, float32), so weights get the right dimensions; weights are drawn from a
 * seeded Rng, so a (seed, program) pair always yields the same model.
 */
import { Graph, Model, Node, attr, type Attribute } from '../ir/graph.ts';
import { Tensor } from '../ir/tensor.ts';
import { DataType } from '../ir/dtype.ts';
import { Rng } from '../util/random.ts';

/** Options of ModelBuilder's conv: kernel, stride, padding, dilation, groups, bias. */
export interface ConvOptions {
  outChannels: number;
  kernel?: number | [number, number];
  stride?: number | [number, number];
  /** [top, left, bottom, right]; a number means symmetric; 'same' means k/2 (odd kernels). */
  pads?: number | 'same' | [number, number, number, number];
  dilation?: number | [number, number];
  group?: number;
  bias?: boolean;
  /** Weight std (default: He init, sqrt(2 / fan_in)). */
  std?: number;
  name?: string;
}

/** Options of ModelBuilder's pools: kernel, stride, padding. */
export interface PoolOptions {
  kernel: number | [number, number];
  stride?: number | [number, number];
  pads?: number | [number, number, number, number];
  countIncludePad?: boolean;
  ceilMode?: boolean;
  name?: string;
}

/** A conv's output length along one axis (ONNX Conv, no auto_pad). */
const convOut = (len: number, pads: number, k: number, stride: number, dilation: number) => Math.floor((len + pads - dilation * (k - 1) - 1) / stride) + 1;

const pair = (v: number | [number, number] | undefined, d: number): [number, number] =>
  v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v;

/**
 * Builds small ONNX models in code (conv, batch norm, activations, add/mul/sum, concat, pools,
 * pad, flatten, Gemm, squeeze-excitation) with seeded random weights; `build()` returns a Model.
 */
export class ModelBuilder {
  readonly rng: Rng;
  private nodes: Node[] = [];
  private inits: Tensor[] = [];
  private inputs: { name: string; shape: number[] }[] = [];
  private outputs: string[] = [];
  private shapes = new Map<string, number[]>();
  private counter = 0;
  readonly opset: number;

  constructor(opts: { seed?: number; opset?: number } = {}) {
    this.rng = new Rng(opts.seed ?? 0);
    this.opset = opts.opset ?? 13;
  }

  shape(value: string): number[] {
    const s = this.shapes.get(value);
    if (!s) throw new Error(`ModelBuilder: unknown value '${value}'`);
    return s;
  }

  private fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  private node(opType: string, inputs: string[], outShape: number[], attributes: Attribute[] = [], name?: string): string {
    const nodeName = name ?? this.fresh(opType.toLowerCase());
    const out = `${nodeName}_out`;
    this.nodes.push(new Node({ name: nodeName, opType, inputs, outputs: [out], attributes }));
    this.shapes.set(out, outShape);
    return out;
  }

  /** A constant tensor (initializer) with given values, or seeded normal values times std. */
  initializer(prefix: string, dims: number[], values?: Float32Array | ((rng: Rng, i: number) => number)): string {
    const name = this.fresh(prefix);
    const n = dims.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (values instanceof Float32Array) data = values;
    else {
      data = new Float32Array(n);
      const f = values ?? ((r: Rng) => r.normal());
      for (let i = 0; i < n; i++) data[i] = f(this.rng, i);
    }
    this.inits.push(Tensor.float32(name, dims, data));
    this.shapes.set(name, dims);
    return name;
  }

  int64Initializer(prefix: string, values: number[]): string {
    const name = this.fresh(prefix);
    this.inits.push(Tensor.int64(name, [values.length], values));
    this.shapes.set(name, [values.length]);
    return name;
  }

  input(name: string, shape: number[]): string {
    this.inputs.push({ name, shape });
    this.shapes.set(name, shape);
    return name;
  }

  output(value: string): string {
    this.outputs.push(value);
    return value;
  }

  conv(x: string, o: ConvOptions): string {
    const [n, c, h, w] = this.shape(x);
    const [kh, kw] = pair(o.kernel, 3);
    const [sh, sw] = pair(o.stride, 1);
    const [dh, dw] = pair(o.dilation, 1);
    const g = o.group ?? 1;
    const pads: [number, number, number, number] =
      o.pads === 'same' ? [(dh * (kh - 1)) >> 1, (dw * (kw - 1)) >> 1, (dh * (kh - 1)) >> 1, (dw * (kw - 1)) >> 1]
      : typeof o.pads === 'number' ? [o.pads, o.pads, o.pads, o.pads]
      : o.pads ?? [0, 0, 0, 0];
    if (c % g || o.outChannels % g) throw new Error(`ModelBuilder.conv: channels ${c}->${o.outChannels} not divisible by group ${g}`);
    const fanIn = (c / g) * kh * kw;
    const std = o.std ?? Math.sqrt(2 / fanIn);
    const wName = this.initializer('W', [o.outChannels, c / g, kh, kw], (r) => r.normal() * std);
    const inputs = [x, wName];
    if (o.bias) inputs.push(this.initializer('B', [o.outChannels], (r) => r.normal() * 0.1));
    const oh = convOut(h, pads[0] + pads[2], kh, sh, dh);
    const ow = convOut(w, pads[1] + pads[3], kw, sw, dw);
    return this.node('Conv', inputs, [n, o.outChannels, oh, ow], [
      attr.ints('kernel_shape', [kh, kw]),
      attr.ints('strides', [sh, sw]),
      attr.ints('pads', pads),
      attr.ints('dilations', [dh, dw]),
      attr.int('group', g),
    ], o.name);
  }

  /** A 1-D (NCL) or 3-D (NCDHW) conv, by the input's rank: the same kernel, stride and
   * dilation on every spatial axis; 'same' pads d (k - 1) / 2 on each side (odd kernels). */
  convNd(x: string, o: { outChannels: number; kernel?: number; stride?: number; dilation?: number; pads?: number | 'same'; group?: number; bias?: boolean; name?: string }): string {
    const [n, c, ...spatial] = this.shape(x);
    if (spatial.length !== 1 && spatial.length !== 3) throw new Error(`ModelBuilder.convNd: input of rank ${spatial.length + 2}, expected 3 (NCL) or 5 (NCDHW)`);
    const k = o.kernel ?? 3, st = o.stride ?? 1, d = o.dilation ?? 1, g = o.group ?? 1;
    const p = o.pads === 'same' ? (d * (k - 1)) >> 1 : o.pads ?? 0;
    const r = spatial.length;
    const fanIn = (c / g) * k ** r;
    const wName = this.initializer('W', [o.outChannels, c / g, ...spatial.map(() => k)], (rng) => rng.normal() * Math.sqrt(2 / fanIn));
    const inputs = [x, wName];
    if (o.bias) inputs.push(this.initializer('B', [o.outChannels], (rng) => rng.normal() * 0.1));
    const out = spatial.map((h) => convOut(h, 2 * p, k, st, d));
    const each = (v: number) => spatial.map(() => v);
    return this.node('Conv', inputs, [n, o.outChannels, ...out], [
      attr.ints('kernel_shape', each(k)),
      attr.ints('strides', each(st)),
      attr.ints('pads', [...each(p), ...each(p)]),
      attr.ints('dilations', each(d)),
      attr.int('group', g),
    ], o.name);
  }

  /** Inference-mode BatchNormalization with randomized statistics (as the shared models). */
  batchNorm(x: string, o: { epsilon?: number; gammaZero?: boolean; name?: string } = {}): string {
    const c = this.shape(x)[1];
    const gamma = this.initializer('bn_gamma', [c], (r) => (o.gammaZero ? 0 : 0.75 + 0.5 * r.next()));
    const beta = this.initializer('bn_beta', [c], (r) => 0.1 * r.normal());
    const mean = this.initializer('bn_mean', [c], (r) => 0.1 * r.normal());
    const varr = this.initializer('bn_var', [c], (r) => 0.75 + 0.5 * r.next());
    return this.node('BatchNormalization', [x, gamma, beta, mean, varr], this.shape(x), [attr.float('epsilon', o.epsilon ?? 1e-5)], o.name);
  }

  relu(x: string, name?: string): string {
    return this.node('Relu', [x], this.shape(x), [], name);
  }

  sigmoid(x: string, name?: string): string {
    return this.node('Sigmoid', [x], this.shape(x), [], name);
  }

  hardSigmoid(x: string, name?: string): string {
    return this.node('HardSigmoid', [x], this.shape(x), [attr.float('alpha', 1 / 6), attr.float('beta', 0.5)], name);
  }

  /** Element-wise binary op with numpy broadcasting of the shapes. */
  binary(opType: 'Add' | 'Mul' | 'Sub' | 'Div', a: string, b: string, name?: string): string {
    const sa = this.shape(a), sb = this.shape(b);
    const r = Math.max(sa.length, sb.length);
    const out: number[] = [];
    for (let i = 0; i < r; i++) {
      const da = sa[sa.length - r + i] ?? 1, db = sb[sb.length - r + i] ?? 1;
      if (da !== db && da !== 1 && db !== 1) throw new Error(`ModelBuilder.${opType}: shapes ${sa} and ${sb} do not broadcast`);
      out.push(Math.max(da, db));
    }
    return this.node(opType, [a, b], out, [], name);
  }

  add(a: string, b: string, name?: string): string {
    return this.binary('Add', a, b, name);
  }

  mul(a: string, b: string, name?: string): string {
    return this.binary('Mul', a, b, name);
  }

  sum(xs: string[], name?: string): string {
    return this.node('Sum', xs, this.shape(xs[0]), [], name);
  }

  concat(xs: string[], axis = 1, name?: string): string {
    const s = [...this.shape(xs[0])];
    s[axis] = xs.reduce((acc, x) => acc + this.shape(x)[axis], 0);
    return this.node('Concat', xs, s, [attr.int('axis', axis)], name);
  }

  private pool(opType: 'MaxPool' | 'AveragePool', x: string, o: PoolOptions): string {
    const [n, c, h, w] = this.shape(x);
    const [kh, kw] = pair(o.kernel, 1);
    const [sh, sw] = pair(o.stride, 1);
    const pads: [number, number, number, number] = typeof o.pads === 'number' ? [o.pads, o.pads, o.pads, o.pads] : o.pads ?? [0, 0, 0, 0];
    const rnd = o.ceilMode ? Math.ceil : Math.floor;
    const oh = rnd((h + pads[0] + pads[2] - kh) / sh) + 1;
    const ow = rnd((w + pads[1] + pads[3] - kw) / sw) + 1;
    const attrs = [attr.ints('kernel_shape', [kh, kw]), attr.ints('strides', [sh, sw]), attr.ints('pads', pads)];
    if (o.ceilMode) attrs.push(attr.int('ceil_mode', 1));
    if (opType === 'AveragePool' && o.countIncludePad) attrs.push(attr.int('count_include_pad', 1));
    return this.node(opType, [x], [n, c, oh, ow], attrs, o.name);
  }

  maxPool(x: string, o: PoolOptions): string {
    return this.pool('MaxPool', x, o);
  }

  averagePool(x: string, o: PoolOptions): string {
    return this.pool('AveragePool', x, o);
  }

  globalAveragePool(x: string, name?: string): string {
    const [n, c] = this.shape(x);
    return this.node('GlobalAveragePool', [x], [n, c, 1, 1], [], name);
  }

  /** Constant-mode Pad (opset >= 11 input form). */
  pad(x: string, pads: [number, number, number, number], name?: string): string {
    const [n, c, h, w] = this.shape(x);
    const p = this.int64Initializer('pads', [0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]]);
    return this.node('Pad', [x, p], [n, c, h + pads[0] + pads[2], w + pads[1] + pads[3]], [attr.string('mode', 'constant')], name);
  }

  /** Transpose by `perm`. */
  transpose(x: string, perm: number[], name?: string): string {
    const s = this.shape(x);
    return this.node('Transpose', [x], perm.map((p) => s[p]), [attr.ints('perm', perm)], name);
  }

  /** MatMul of two values of rank >= 2 whose leading (batch) dims broadcast; `b` may be a new
   * weight: give its [K, N] dims instead of a value name. */
  matmul(a: string, b: string | [number, number], name?: string): string {
    const bName = typeof b === 'string' ? b : this.initializer('mm_W', b, (r) => r.normal() * Math.sqrt(1 / b[0]));
    const sa = this.shape(a), sb = this.shape(bName);
    const [m, k] = sa.slice(-2), [k2, n] = sb.slice(-2);
    if (k !== k2) throw new Error(`ModelBuilder.matmul: inner dims ${k} and ${k2} differ`);
    const ba = sa.slice(0, -2), bb = sb.slice(0, -2);
    const r = Math.max(ba.length, bb.length);
    const batch = [...Array(r).keys()].map((i) => Math.max(ba[ba.length - r + i] ?? 1, bb[bb.length - r + i] ?? 1));
    return this.node('MatMul', [a, bName], [...batch, m, n], [], name);
  }

  flatten(x: string, name?: string): string {
    const s = this.shape(x);
    return this.node('Flatten', [x], [s[0], s.slice(1).reduce((a, b) => a * b, 1)], [attr.int('axis', 1)], name);
  }

  gemm(x: string, outFeatures: number, name?: string): string {
    const [n, k] = this.shape(x);
    const w = this.initializer('fc_W', [outFeatures, k], (r) => r.normal() * Math.sqrt(1 / k));
    const b = this.initializer('fc_B', [outFeatures], (r) => 0.1 * r.normal());
    return this.node('Gemm', [x, w, b], [n, outFeatures], [attr.int('transB', 1)], name);
  }

  /** Squeeze-excitation: GAP -> 1x1 conv -> ReLU -> 1x1 conv -> HardSigmoid -> Mul. */
  squeezeExcite(x: string, reduction = 4): string {
    const c = this.shape(x)[1];
    const s = this.globalAveragePool(x);
    const r = this.relu(this.conv(s, { outChannels: Math.max(1, Math.floor(c / reduction)), kernel: 1, bias: true }));
    const e = this.hardSigmoid(this.conv(r, { outChannels: c, kernel: 1, bias: true }));
    return this.mul(x, e);
  }

  build(name = 'dnnfuse_model'): Model {
    const f32 = (shape: number[]) => ({ elemType: DataType.FLOAT, shape: [...shape] });
    const graph = new Graph({
      name,
      nodes: this.nodes,
      inputs: this.inputs.map((i) => ({ name: i.name, type: f32(i.shape) })),
      outputs: this.outputs.map((o) => ({ name: o, type: f32(this.shape(o)) })),
      initializers: this.inits,
    });
    return new Model({ graph, irVersion: 8, opsetImports: [{ domain: '', version: this.opset }], producerName: 'dnnfuse' });
  }
}

/** Random float32 input data for a model's graph inputs (seeded), as name -> {dims, data}. */
export function randomInputs(model: Model, seed = 0): Record<string, { dims: number[]; data: Float32Array }> {
  const rng = new Rng(seed);
  const out: Record<string, { dims: number[]; data: Float32Array }> = {};
  for (const i of model.graph.inputs) {
    if (model.graph.initializers.has(i.name)) continue;
    const dims = (i.type?.shape ?? []).map((d) => (typeof d === 'number' ? d : 1));
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let k = 0; k < n; k++) data[k] = rng.normal();
    out[i.name] = { dims, data };
  }
  return out;
}
