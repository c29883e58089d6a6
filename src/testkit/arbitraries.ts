/**
 * fast-check arbitraries for valid CNN-like models, for property tests of passes (ours and
 * users'). A model is generated as a small *program* (a list of block specs) and built with
 * ModelBuilder, so fast-check shrinks the program (fewer blocks, smaller channel counts) and a
 * failing case prints as a readable spec rather than as a protobuf.
 *
 * Blocks cover the structures the passes care about: conv-BN-activation chains, residual
 * blocks (a skip connection that re-joins), depthwise-separable convs, concat of parallel
 * branches (Inception-like), squeeze-excitation (global pooling + channel gating), RepVGG-style
 * parallel conv branches summed (what collapse-branches merges), and downsampling pools.
 * Every generated model is valid ONNX (opset 13) that onnxruntime runs.
 */
import fc from 'fast-check';
import { ModelBuilder } from '../models/builder.ts';
import type { Model } from '../ir/graph.ts';

/** One block of a CnnProgram (residual, depthwise, concat, squeeze-excitation, RepVGG, ...). */
export type BlockSpec =
  | { kind: 'conv-bn-relu'; out: number; kernel: 1 | 3; stride: 1 | 2; bn: boolean }
  | { kind: 'residual'; bottleneck: boolean }
  | { kind: 'depthwise'; out: number; stride: 1 | 2 }
  | { kind: 'concat'; a: number; b: number }
  | { kind: 'se'; reduction: 2 | 4 }
  | { kind: 'repvgg'; out: number; identity: boolean }
  | { kind: 'pool'; op: 'max' | 'avg' };

/** A generated CNN as data (what `cnnProgram` draws and `buildCnn` builds): input size and blocks;
 * shrinks to smaller programs.
 */
export interface CnnProgram {
  /** Seed of the weights (ModelBuilder's Rng). */
  seed: number;
  inChannels: number;
  size: number;
  blocks: BlockSpec[];
  /** GlobalAveragePool + Flatten + Gemm classifier head. */
  head: boolean;
}

/** Options of the CNN arbitraries: block count range, block kinds, channel and spatial sizes,
 * classifier head.
 */
export interface CnnArbitraryOptions {
  minBlocks?: number;
  maxBlocks?: number;
  /** Largest channel count of any block (keep small: properties run onnxruntime). */
  maxChannels?: number;
  /** Spatial sizes to draw the input from (square). */
  sizes?: number[];
  /** Restrict the block kinds (default: all). */
  kinds?: BlockSpec['kind'][];
  /** Include a classifier head (default: drawn at random). */
  head?: boolean;
}

const ALL_KINDS: BlockSpec['kind'][] = ['conv-bn-relu', 'residual', 'depthwise', 'concat', 'se', 'repvgg', 'pool'];

/** Arbitrary block spec. */
export function blockSpec(opts: CnnArbitraryOptions = {}): fc.Arbitrary<BlockSpec> {
  const maxC = Math.max(2, opts.maxChannels ?? 16);
  const ch = fc.integer({ min: 2, max: maxC });
  const kinds = new Set(opts.kinds ?? ALL_KINDS);
  const arbs: fc.Arbitrary<BlockSpec>[] = [];
  if (kinds.has('conv-bn-relu')) arbs.push(fc.record({ kind: fc.constant('conv-bn-relu' as const), out: ch, kernel: fc.constantFrom(1 as const, 3 as const), stride: fc.constantFrom(1 as const, 2 as const), bn: fc.boolean() }));
  if (kinds.has('residual')) arbs.push(fc.record({ kind: fc.constant('residual' as const), bottleneck: fc.boolean() }));
  if (kinds.has('depthwise')) arbs.push(fc.record({ kind: fc.constant('depthwise' as const), out: ch, stride: fc.constantFrom(1 as const, 2 as const) }));
  if (kinds.has('concat')) arbs.push(fc.record({ kind: fc.constant('concat' as const), a: fc.integer({ min: 1, max: Math.max(1, maxC >> 1) }), b: fc.integer({ min: 1, max: Math.max(1, maxC >> 1) }) }));
  if (kinds.has('se')) arbs.push(fc.record({ kind: fc.constant('se' as const), reduction: fc.constantFrom(2 as const, 4 as const) }));
  if (kinds.has('repvgg')) arbs.push(fc.record({ kind: fc.constant('repvgg' as const), out: ch, identity: fc.boolean() }));
  if (kinds.has('pool')) arbs.push(fc.record({ kind: fc.constant('pool' as const), op: fc.constantFrom('max' as const, 'avg' as const) }));
  if (!arbs.length) throw new Error('blockSpec: no block kinds selected');
  return fc.oneof(...arbs);
}

/** Arbitrary CNN program (build it with `buildCnn`). */
export function cnnProgram(opts: CnnArbitraryOptions = {}): fc.Arbitrary<CnnProgram> {
  return fc.record({
    seed: fc.integer({ min: 0, max: 0x7fffffff }),
    inChannels: fc.integer({ min: 1, max: Math.min(8, opts.maxChannels ?? 8) }),
    size: fc.constantFrom(...(opts.sizes ?? [8, 12, 16])),
    blocks: fc.array(blockSpec(opts), { minLength: opts.minBlocks ?? 1, maxLength: opts.maxBlocks ?? 6 }),
    head: opts.head === undefined ? fc.boolean() : fc.constant(opts.head),
  });
}

/** Arbitrary valid CNN-like model (the program is kept on `model.docString` for reports). */
export function cnnModel(opts: CnnArbitraryOptions = {}): fc.Arbitrary<Model> {
  return cnnProgram(opts).map(buildCnn);
}

/** Builds the model a program describes. Deterministic: same program -> identical model. */
export function buildCnn(p: CnnProgram): Model {
  const b = new ModelBuilder({ seed: p.seed });
  let x = b.input('input', [1, p.inChannels, p.size, p.size]);
  const channels = () => b.shape(x)[1];
  const spatial = () => b.shape(x)[2];
  for (const blk of p.blocks) {
    switch (blk.kind) {
      case 'conv-bn-relu': {
        // Stride 2 only while the map is large enough to stay >= 2x2.
        const stride = blk.stride === 2 && spatial() >= 4 ? 2 : 1;
        const y = b.conv(x, { outChannels: blk.out, kernel: blk.kernel, stride, pads: 'same', bias: !blk.bn });
        x = b.relu(blk.bn ? b.batchNorm(y) : y);
        break;
      }
      case 'residual': {
        const c = channels();
        const mid = blk.bottleneck ? Math.max(1, c >> 1) : c;
        let y = b.relu(b.batchNorm(b.conv(x, { outChannels: mid, kernel: blk.bottleneck ? 1 : 3, pads: 'same' })));
        y = b.batchNorm(b.conv(y, { outChannels: c, kernel: 3, pads: 'same' }));
        x = b.relu(b.add(x, y));
        break;
      }
      case 'depthwise': {
        const c = channels();
        const stride = blk.stride === 2 && spatial() >= 4 ? 2 : 1;
        const d = b.relu(b.batchNorm(b.conv(x, { outChannels: c, kernel: 3, stride, pads: 'same', group: c })));
        x = b.batchNorm(b.conv(d, { outChannels: blk.out, kernel: 1 }));
        break;
      }
      case 'concat': {
        const l = b.relu(b.conv(x, { outChannels: blk.a, kernel: 1, bias: true }));
        const r = b.relu(b.conv(x, { outChannels: blk.b, kernel: 3, pads: 'same', bias: true }));
        x = b.concat([l, r], 1);
        break;
      }
      case 'se':
        x = b.squeezeExcite(x, blk.reduction);
        break;
      case 'repvgg': {
        const c = channels();
        const k3 = b.batchNorm(b.conv(x, { outChannels: blk.out, kernel: 3, pads: 'same' }));
        const k1 = b.batchNorm(b.conv(x, { outChannels: blk.out, kernel: 1 }));
        const branches = [k3, k1];
        if (blk.identity && c === blk.out) branches.push(b.batchNorm(x));
        x = b.relu(branches.length === 2 ? b.add(k3, k1) : b.sum(branches));
        break;
      }
      case 'pool':
        if (spatial() >= 4) x = blk.op === 'max' ? b.maxPool(x, { kernel: 2, stride: 2 }) : b.averagePool(x, { kernel: 3, stride: 1, pads: 1 });
        break;
    }
  }
  if (p.head) x = b.gemm(b.flatten(b.globalAveragePool(x)), 10);
  b.output(x);
  const m = b.build('cnn');
  m.docString = `dnnfuse testkit program: ${JSON.stringify(p)}`;
  return m;
}
