/**
 * Property tests: random Conv / ConvTranspose / MaxPool / AveragePool / Slice / Reshape /
 * broadcasting configurations (seeded fast-check, bounded runs); onnxruntime runs each one and
 * its output dims must equal the inferred ones. Configurations onnxruntime refuses are
 * discarded (counted), never compared.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as ort from 'onnxruntime-node';
import { encodeModel } from '../../src/onnx/io.ts';
import { inferShapes } from '../../src/analysis/shapes.ts';
import { a, caseModel, floats, I, ints, type Case } from './cases.ts';

async function ortDims(c: Case): Promise<number[][] | undefined> {
  const m = caseModel(c);
  m.graph.outputs = m.graph.outputs.map((o) => ({ name: o.name, type: { elemType: 1 } })); // all cases here output float
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(encodeModel(m), { graphOptimizationLevel: 'disabled' });
  } catch {
    return undefined;
  }
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const i of m.graph.inputs) {
      const dims = i.type!.shape as number[];
      const n = dims.reduce((p, q) => p * q, 1);
      feeds[i.name] = i.type!.elemType === 9 ? new ort.Tensor('bool', new Uint8Array(n).fill(1), dims) : new ort.Tensor('float32', new Float32Array(n).fill(0.5), dims);
    }
    const res = await session.run(feeds);
    return m.graph.outputs.map((o) => [...res[o.name].dims]);
  } catch {
    return undefined;
  } finally {
    await session.release();
  }
}

const small = fc.integer({ min: 1, max: 4 });

const convCase = fc.record({
  n: fc.integer({ min: 1, max: 2 }), g: fc.integer({ min: 1, max: 3 }), cpg: small, mpg: small,
  h: fc.integer({ min: 1, max: 12 }), w: fc.integer({ min: 1, max: 12 }),
  kh: small, kw: small, sh: fc.integer({ min: 1, max: 3 }), sw: fc.integer({ min: 1, max: 3 }),
  dh: fc.integer({ min: 1, max: 2 }), dw: fc.integer({ min: 1, max: 2 }),
  pads: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 4, maxLength: 4 }),
  autoPad: fc.constantFrom('NOTSET', 'NOTSET', 'VALID', 'SAME_UPPER', 'SAME_LOWER'),
  transpose: fc.boolean(), outPad: fc.integer({ min: 0, max: 1 }),
}).map((p): Case => {
  const attrs: Case['attrs'] = { group: a.int(p.g), strides: a.ints(p.sh, p.sw), auto_pad: a.string(p.autoPad) };
  if (p.autoPad === 'NOTSET') attrs.pads = a.ints(...p.pads);
  if (p.autoPad.startsWith('SAME')) { p.dh = 1; p.dw = 1; } // onnxruntime refuses dilation with SAME
  attrs.dilations = a.ints(p.dh, p.dw);
  if (p.transpose) {
    if (p.outPad < Math.min(p.sh, p.sw) && p.autoPad === 'NOTSET') attrs.output_padding = a.ints(p.outPad, p.outPad);
    return { op: 'ConvTranspose', inputs: [I(p.n, p.g * p.cpg, p.h, p.w), I(p.g * p.cpg, p.mpg, p.kh, p.kw)], attrs };
  }
  return { op: 'Conv', inputs: [I(p.n, p.g * p.cpg, p.h, p.w), I(p.g * p.mpg, p.cpg, p.kh, p.kw)], attrs };
});

const poolCase = fc.record({
  op: fc.constantFrom('MaxPool', 'AveragePool'), h: fc.integer({ min: 1, max: 14 }), w: fc.integer({ min: 1, max: 14 }),
  kh: small, kw: small, sh: fc.integer({ min: 1, max: 3 }), sw: fc.integer({ min: 1, max: 3 }),
  pads: fc.array(fc.integer({ min: 0, max: 1 }), { minLength: 4, maxLength: 4 }), ceil: fc.integer({ min: 0, max: 1 }),
  autoPad: fc.constantFrom('NOTSET', 'NOTSET', 'VALID', 'SAME_UPPER'), dil: fc.integer({ min: 1, max: 2 }),
}).map((p): Case => {
  const attrs: Case['attrs'] = { kernel_shape: a.ints(p.kh, p.kw), strides: a.ints(p.sh, p.sw), ceil_mode: a.int(p.ceil), auto_pad: a.string(p.autoPad) };
  if (p.autoPad === 'NOTSET') attrs.pads = a.ints(...p.pads.map((x, i) => Math.min(x, i % 2 ? p.kw - 1 : p.kh - 1)));
  if (p.op === 'MaxPool' && p.autoPad === 'NOTSET') attrs.dilations = a.ints(p.dil, p.dil);
  return { op: p.op, inputs: [I(1, 2, p.h, p.w)], attrs };
});

const sliceCase = fc.record({
  dims: fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 3 }),
  specs: fc.array(fc.record({ start: fc.integer({ min: -10, max: 10 }), end: fc.oneof(fc.integer({ min: -10, max: 10 }), fc.constant(2 ** 62), fc.constant(-(2 ** 62))), step: fc.constantFrom(1, 2, 3, -1, -2) }), { minLength: 1, maxLength: 3 }),
}).map((p): Case => {
  const specs = p.specs.slice(0, p.dims.length);
  const axes = specs.map((_, i) => (i % 2 ? -(p.dims.length - i) : i));
  return { op: 'Slice', inputs: [I(...p.dims), ints(specs.map((s) => s.start)), ints(specs.map((s) => s.end)), ints(axes), ints(specs.map((s) => s.step))] };
});

const broadcastCase = fc.array(fc.constantFrom(1, 3), { minLength: 0, maxLength: 4 }).chain((base) =>
  fc.tuple(fc.constant(base), fc.array(fc.boolean(), { minLength: base.length, maxLength: base.length }), fc.integer({ min: 0, max: base.length }), fc.constantFrom('Add', 'Mul', 'Max', 'Where'))
).map(([base, ones, drop, op]): Case => {
  const b = base.map((d, i) => (ones[i] ? 1 : d)).slice(drop);
  if (op === 'Where') return { op, inputs: [{ shape: b, dtype: 9 }, I(...base), floats([0])] };
  return { op, inputs: [I(...base), I(...b)] };
});

const reshapeCase = fc.record({ dims: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }), perm: fc.integer({ min: 0, max: 1000 }) }).map((p): Case => {
  // Target: the dims regrouped, one entry written as 0 (copy) or -1 (infer) when it applies.
  const total = p.dims.reduce((x, y) => x * y, 1);
  const target = p.perm % 3 === 0 ? [total] : [...p.dims].reverse();
  if (p.perm % 5 === 1) target[0] = -1;
  else if (p.perm % 5 === 2 && target.length === p.dims.length && target[0] === p.dims[0]) target[0] = 0;
  return { op: 'Reshape', inputs: [I(...p.dims), ints(target)] };
});

for (const [name, arb, runs] of [['Conv/ConvTranspose', convCase, 60], ['MaxPool/AveragePool', poolCase, 60], ['Slice', sliceCase, 50], ['broadcasting', broadcastCase, 40], ['Reshape', reshapeCase, 30]] as const) {
  test(`${name}: inferred output dims equal onnxruntime on random configurations`, { timeout: 120_000 }, async () => {
    let compared = 0, refused = 0;
    await fc.assert(
      fc.asyncProperty(arb as fc.Arbitrary<Case>, async (c) => {
        let mine;
        try {
          mine = inferShapes(caseModel(c)).get('out0')?.shape;
        } catch {
          mine = 'error';
        }
        const theirs = await ortDims(c);
        if (!theirs) {
          refused++;
          return;
        }
        compared++;
        assert.deepEqual(mine, theirs[0], JSON.stringify(c));
      }),
      { seed: 42, numRuns: runs },
    );
    assert.ok(compared >= runs / 2, `only ${compared} of ${runs} configurations ran in onnxruntime`);
    console.log(`${name}: ${compared} random configurations equal onnxruntime (${refused} refused by onnxruntime)`);
  });
}
