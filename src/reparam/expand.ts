/**
 * Expanding convs into branches (the expand-branches pass's method; the reverse of collapse.ts):
 * a KxK conv (K odd, >= 3) rewritten into a training-time multi-branch block that computes the
 * same function at insertion:
 *
 * - form `repvgg`: KxK + 1x1 (+ identity when M = C, stride 1 and "same" pads);
 * - form `acnet`:  KxK + 1xK + Kx1;
 * - form `dbb`:    KxK + 1x1 + (1x1 -> KxK) + (1x1 -> zero Pad -> AveragePool(K)).
 *
 * Two ways to keep the function (option `mode`):
 * - `subtract` (default): the extra branches get seeded random weights (std `scale` x the
 *   conv's weight std) and the main kernel becomes W - sum of the extra branches' kernels,
 *   each zero-padded/composed to KxK exactly as collapse-branches merges them (kernel.ts), so
 *   expand -> collapse gives back W up to float rounding. The sequential branch's inner 1x1 has
 *   no bias, so no border correction is ever needed.
 * - `zero-gamma`: the main conv is kept as is; each extra branch ends in a BatchNormalization
 *   with gamma = 0, beta = 0 (mean 0, var 1), contributing exactly zero — the usual way to
 *   start training a reparameterized block from a trained single conv.
 *
 * Options: form, mode, nodes (conv names; default every eligible conv), scale (default 0.1).
 * Convs that cannot take a form (even or 1x1 kernels, non-centered pads, dilated convs for the
 * avgpool branch) are refused with the reason; identity is left out where it does not fit.
 */
import { attr, Node, type Graph, type Model } from '../ir/graph.ts';
import { Tensor } from '../ir/tensor.ts';
import { avgPoolSpec, compose, identitySpec, makeSpec, padKernel, regroup, type ConvSpec, type Pads } from './kernel.ts';
import { convSpec, f32, isOp, Refusal, RewriteLog, type RewriteAnnotations } from './graph-ops.ts';
import { Rng } from '../util/random.ts';
import { badInput } from '../errors.ts';

/** The training-time multi-branch forms expand-branches produces: RepVGG, ACNet, DBB. */
export type ExpandForm = 'repvgg' | 'acnet' | 'dbb';

/** Options of the expand-branches pass: which training-time form, which convs. */
export interface ExpandOptions {
  form?: ExpandForm;
  mode?: 'subtract' | 'zero-gamma';
  nodes?: string[];
  scale?: number;
}

interface ExtraBranch {
  /** Kernel of the branch as a ConvSpec on the block input (for the subtraction). */
  spec: ConvSpec;
  /** Emits the branch's nodes reading `input`; returns its output value. */
  emit(g: Graph, input: string, base: string, out: Node[]): string;
  kind: string;
}

function randomSpec(rng: Rng, o: { M: number; C: number; group: number; kh: number; kw: number; stride: [number, number]; dilation: [number, number]; pads: Pads }, std: number): ConvSpec {
  const n = o.M * (o.C / o.group) * o.kh * o.kw;
  return makeSpec({ ...o, W: Float64Array.from({ length: n }, () => rng.normal() * std) });
}

function convNode(g: Graph, s: ConvSpec, name: string, input: string, bias: boolean): Node {
  const w = g.freshName(`${name}.weight`);
  g.setInitializer(f32(w, [s.M, s.C / s.group, s.kh, s.kw], s.W));
  const inputs = [input, w];
  if (bias) {
    const b = g.freshName(`${name}.bias`);
    g.setInitializer(f32(b, [s.M], s.b));
    inputs.push(b);
  }
  return new Node({
    name, opType: 'Conv', inputs, outputs: [g.freshName(`${name}_output`)],
    attributes: [attr.ints('dilations', s.dilation), attr.int('group', s.group), attr.ints('kernel_shape', [s.kh, s.kw]), attr.ints('pads', s.pads), attr.ints('strides', s.stride)],
  });
}

function zeroBn(g: Graph, name: string, input: string, channels: number): Node {
  const mk = (suffix: string, v: number) => {
    const n = g.freshName(`${name}.${suffix}`);
    g.setInitializer(Tensor.float32(n, [channels], new Float32Array(channels).fill(v)));
    return n;
  };
  return new Node({ name, opType: 'BatchNormalization', inputs: [input, mk('weight', 0), mk('bias', 0), mk('running_mean', 0), mk('running_var', 1)], outputs: [g.freshName(`${name}_output`)], attributes: [attr.float('epsilon', 1e-5)] });
}

/** The extra branches of a form for a conv spec `w` (main branch excluded). */
function extraBranches(form: ExpandForm, w: ConvSpec, rng: Rng, std: number): { extras: ExtraBranch[]; notes: string[] } {
  const K = w.kh;
  const notes: string[] = [];
  const r = (K - 1) / 2;
  const dil = w.dilation;
  const shift = (p: Pads, dh: number, dw: number): Pads => [p[0] - dh, p[1] - dw, p[2] - dh, p[3] - dw];
  const onePads = shift(w.pads, dil[0] * r, dil[1] * r);
  if (onePads.some((p) => p < 0)) throw new Refusal(`pads [${w.pads}] are smaller than the kernel radius: no centered 1x1 branch fits`);
  const base = { M: w.M, C: w.C, group: w.group, stride: w.stride, dilation: w.dilation } as const;
  const simple = (kh: number, kw: number, pads: Pads, kind: string): ExtraBranch => {
    const spec = randomSpec(rng, { ...base, kh, kw, pads }, std);
    return {
      spec, kind,
      emit(g, input, name, out) {
        const n = convNode(g, spec, g.freshName(`${name}/${kind}`), input, false);
        out.push(n);
        return n.outputs[0];
      },
    };
  };
  const extras: ExtraBranch[] = [];
  if (form === 'repvgg' || form === 'dbb') extras.push(simple(1, 1, onePads, '1x1'));
  if (form === 'acnet') {
    extras.push(simple(1, K, shift(w.pads, dil[0] * r, 0), `1x${K}`));
    extras.push(simple(K, 1, shift(w.pads, 0, dil[1] * r), `${K}x1`));
  }
  if (form === 'repvgg') {
    const same = w.pads[0] === dil[0] * r && w.pads[2] === dil[0] * r && w.pads[1] === dil[1] * r && w.pads[3] === dil[1] * r;
    if (w.M === w.C && w.stride[0] === 1 && w.stride[1] === 1 && same) {
      extras.push({ spec: identitySpec(w.C), kind: 'identity', emit: (_g, input) => input });
    } else notes.push('identity branch left out (needs M = C, stride 1 and same pads)');
  }
  if (form === 'dbb') {
    // 1x1 (C -> C, grouped like the conv, no bias) -> KxK: exact without border correction.
    const first = randomSpec(rng, { M: w.C, C: w.C, group: w.group, kh: 1, kw: 1, stride: [1, 1], dilation: [1, 1], pads: [0, 0, 0, 0] }, std);
    const second = randomSpec(rng, { ...base, C: w.C, kh: K, kw: K, pads: w.pads }, std);
    extras.push({
      spec: compose(first, second), kind: `1x1-${K}x${K}`,
      emit(g, input, name, out) {
        const a = convNode(g, first, g.freshName(`${name}/seq_1x1`), input, false);
        const b = convNode(g, second, g.freshName(`${name}/seq_${K}x${K}`), a.outputs[0], false);
        out.push(a, b);
        return b.outputs[0];
      },
    });
    if (dil[0] === 1 && dil[1] === 1) {
      const pre = randomSpec(rng, { M: w.M, C: w.C, group: w.group, kh: 1, kw: 1, stride: [1, 1], dilation: [1, 1], pads: [0, 0, 0, 0] }, std);
      const pool = avgPoolSpec(w.M, K, K, w.stride, w.pads);
      extras.push({
        spec: compose(pre, pool), kind: `1x1-avg${K}`,
        emit(g, input, name, out) {
          const a = convNode(g, pre, g.freshName(`${name}/avg_1x1`), input, false);
          const padsName = g.freshName(`${name}/avg_pad.pads`);
          g.setInitializer(Tensor.int64(padsName, [8], [0, 0, w.pads[0], w.pads[1], 0, 0, w.pads[2], w.pads[3]]));
          const pad = new Node({ name: g.freshName(`${name}/avg_pad`), opType: 'Pad', inputs: [a.outputs[0], padsName], outputs: [g.freshName(`${name}/avg_pad_output`)], attributes: [attr.string('mode', 'constant')] });
          const ap = new Node({ name: g.freshName(`${name}/avg_pool`), opType: 'AveragePool', inputs: [pad.outputs[0]], outputs: [g.freshName(`${name}/avg_pool_output`)], attributes: [attr.ints('kernel_shape', [K, K]), attr.ints('strides', w.stride), attr.ints('pads', [0, 0, 0, 0])] });
          out.push(a, pad, ap);
          return ap.outputs[0];
        },
      });
    } else notes.push('avgpool branch left out (dilated conv)');
  }
  return { extras, notes };
}

function expandOne(model: Model, conv: Node, o: Required<Pick<ExpandOptions, 'form' | 'mode' | 'scale'>>, rng: Rng, log: RewriteLog): boolean {
  const g = model.graph;
  const w = convSpec(model, conv);
  if (w.kh !== w.kw || w.kh < 3 || w.kh % 2 === 0) throw new Refusal(`kernel ${w.kh}x${w.kw}: expansion needs a square odd kernel of size >= 3`);
  let mean = 0, sq = 0;
  for (const v of w.W) { mean += v; sq += v * v; }
  mean /= w.W.length;
  const std = Math.sqrt(Math.max(sq / w.W.length - mean * mean, 1e-12)) * o.scale;
  const { extras, notes } = extraBranches(o.form, w, rng, std);
  const main = makeSpec({ ...w, W: w.W, b: w.b });
  if (o.mode === 'subtract') {
    for (const e of extras) {
      const s = regroup(e.spec, w.group);
      const off: [number, number] = [(w.kh - s.kh) / 2, (w.kw - s.kw) / 2];
      const placed = padKernel(s.W, w.M * (w.C / w.group), s.kh, s.kw, w.kh, w.kw, off);
      for (let i = 0; i < placed.length; i++) main.W[i] -= placed[i];
      for (let m = 0; m < w.M; m++) main.b[m] -= s.b[m];
    }
  }
  const nodes: Node[] = [];
  const base = conv.name;
  const mainNode = convNode(g, main, g.freshName(`${base}/main`), conv.inputs[0], true);
  nodes.push(mainNode);
  const terms = [mainNode.outputs[0]];
  for (const e of extras) {
    let v = e.emit(g, conv.inputs[0], base, nodes);
    if (o.mode === 'zero-gamma') {
      const bn = zeroBn(g, g.freshName(`${base}/${e.kind}_bn`), v, w.M);
      nodes.push(bn);
      v = bn.outputs[0];
    }
    terms.push(v);
  }
  let acc = terms[0];
  terms.slice(1).forEach((t, i) => {
    const last = i === terms.length - 2;
    const out = last ? conv.outputs[0] : g.freshName(`${base}/add_${i}_output`);
    nodes.push(new Node({ name: g.freshName(`${base}/add_${i}`), opType: 'Add', inputs: [acc, t], outputs: [out] }));
    acc = out;
  });
  g.replaceNode(conv, nodes);
  log.applied('expand-branches', [conv], `${o.form} (${o.mode}): main ${w.kh}x${w.kw} + ${extras.map((e) => e.kind).join(' + ')}${notes.length ? `; ${notes.join('; ')}` : ''}`);
  return true;
}

/** Expands every eligible KxK conv (or the convs named in opts.nodes) into the training-time
 * form opts.form, randomness from `seed`; refusals are logged, unknown forms, modes and node
 * names are bad input. */
export function expandBranches(model: Model, opts: ExpandOptions = {}, seed = 0): RewriteAnnotations {
  const form = opts.form ?? 'repvgg';
  if (!['repvgg', 'acnet', 'dbb'].includes(form)) throw badInput(`expand-branches: unknown form '${form}' (repvgg, acnet or dbb)`);
  const mode = opts.mode ?? 'subtract';
  if (mode !== 'subtract' && mode !== 'zero-gamma') throw badInput(`expand-branches: unknown mode '${mode}' (subtract or zero-gamma)`);
  const scale = opts.scale ?? 0.1;
  const log = new RewriteLog();
  const g = model.graph;
  const wanted = opts.nodes ? new Set(opts.nodes) : undefined;
  if (wanted) for (const n of wanted) if (!g.nodes.some((x) => x.name === n && isOp(x, 'Conv'))) throw badInput(`expand-branches: no Conv node named '${n}'`);
  const rng = new Rng(seed);
  for (const conv of [...g.nodes]) {
    if (!isOp(conv, 'Conv') || (wanted && !wanted.has(conv.name))) continue;
    const convRng = rng.fork();
    try {
      const k = g.initializers.get(conv.inputs[1])?.dims;
      if (!wanted && k && k[2] === 1 && k[3] === 1) continue; // 1x1 convs have nothing to expand
      expandOne(model, conv, { form, mode, scale }, convRng, log);
    } catch (e) {
      if (!(e instanceof Refusal)) throw e;
      log.refused('expand-branches', [conv], e.message);
    }
  }
  return log.annotations();
}
