import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cnnModel, cnnProgram, buildCnn } from '../../src/testkit/arbitraries.ts';
import { assertSameOutputs } from '../../src/testkit/properties.ts';
import { validateModel, encodeModel, decodeModel } from '../../src/onnx/io.ts';
import { inferShapes } from '../../src/analysis/shapes.ts';
import { runModel, randomFeeds } from '../../src/analysis/ort.ts';
import { runPasses } from '../../src/passes/manager.ts';
import { parsePipeline } from '../../src/passes/registry.ts';
import { DnnfuseError } from '../../src/errors.ts';
import { Tensor } from '../../src/ir/tensor.ts';

test('cnnModel generates valid models: IR checks, shape inference and onnxruntime agree on the output shape', async () => {
  await fc.assert(
    fc.asyncProperty(cnnModel({ maxBlocks: 6, maxChannels: 12 }), async (m) => {
      validateModel(m);
      const declared = m.graph.outputs[0].type!.shape;
      const inferred = inferShapes(decodeModel(encodeModel(m))).get(m.graph.outputs[0].name)!.shape;
      assert.deepEqual(inferred, declared);
      const out = await runModel(m, randomFeeds(m, 0), { graphOptimizationLevel: 'disabled' });
      const o = out[m.graph.outputs[0].name];
      assert.deepEqual(o.dims, declared);
      assert.ok([...o.data].every((x) => Number.isFinite(Number(x))), 'finite outputs');
    }),
    { numRuns: 15, seed: 7 },
  );
});

test('every block kind is generated and shrinks to a small program', () => {
  const kinds = new Set<string>();
  fc.assert(fc.property(cnnProgram(), (p) => { for (const b of p.blocks) kinds.add(b.kind); }), { numRuns: 200, seed: 1 });
  assert.deepEqual([...kinds].sort(), ['concat', 'conv-bn-relu', 'depthwise', 'pool', 'repvgg', 'residual', 'se']);
  // a property failing on any model with an SE block shrinks to a tiny program with one
  const r = fc.check(fc.property(cnnProgram({ maxChannels: 8 }), (p) => !p.blocks.some((b) => b.kind === 'se')), { numRuns: 200, seed: 3 });
  assert.equal(r.failed, true);
  const ce = r.counterexample![0];
  assert.ok(ce.blocks.length <= 2, JSON.stringify(ce));
  assert.equal(ce.blocks.filter((b) => b.kind === 'se').length, 1);
  assert.equal(ce.inChannels, 1);
  assert.equal(ce.size, 8);
});

test('buildCnn is deterministic and restricted kinds are honoured', () => {
  const p = { seed: 11, inChannels: 3, size: 12, blocks: [{ kind: 'repvgg' as const, out: 3, identity: true }, { kind: 'depthwise' as const, out: 6, stride: 2 as const }], head: true };
  assert.deepEqual(encodeModel(buildCnn(p)), encodeModel(buildCnn(p)));
  fc.assert(fc.property(cnnProgram({ kinds: ['residual', 'se'] }), (q) => q.blocks.every((b) => b.kind === 'residual' || b.kind === 'se')), { numRuns: 50, seed: 2 });
});

test('assertSameOutputs passes for equal models and names the output that differs', async () => {
  const m = buildCnn({ seed: 5, inChannels: 2, size: 8, blocks: [{ kind: 'conv-bn-relu', out: 4, kernel: 3, stride: 1, bn: false }], head: true });
  const same = await assertSameOutputs(m, decodeModel(encodeModel(m)), { trials: 2 });
  assert.equal(same.length, 1);
  assert.equal(same[0].maxAbs, 0);
  assert.equal(same[0].mismatched, 0);
  const broken = decodeModel(encodeModel(m));
  const [name, w] = [...broken.graph.initializers].find(([, t]) => t.dims.length === 2)!; // the Gemm weight
  const v = w.toFloat32();
  v[0] += 0.5;
  broken.graph.setInitializer(Tensor.float32(name, w.dims, v));
  await assert.rejects(assertSameOutputs(m, broken), (e: unknown) => e instanceof DnnfuseError && e.exitCode === 1 && /^output '.*' differs: \d+ of \d+ elements outside \|a-b\| <= 0.00001 \+ 0.00001\|b\| \(max abs error/.test(e.message));
  // the perturbation within loose allclose tolerances is accepted
  const loose = await assertSameOutputs(m, broken, { rtol: 0, atol: 10 });
  assert.ok(loose[0].maxAbs > 0 && loose[0].ok);
  // the removed scale-relative option is refused with what replaced it (bad input, exit code 2)
  await assert.rejects(assertSameOutputs(m, broken, { tolerance: 10 } as never), (e: unknown) => e instanceof DnnfuseError && e.exitCode === 2 && /tolerance.*replaced by allclose's rtol and atol/.test(e.message));
});

test('fold-bn, collapse-branches, dce keep the outputs of arbitrary CNNs (testkit property)', async () => {
  await fc.assert(
    fc.asyncProperty(cnnModel({ maxBlocks: 5, maxChannels: 8, kinds: ['conv-bn-relu', 'repvgg', 'residual', 'depthwise', 'se'] }), fc.integer({ min: 0, max: 99 }), async (original, seed) => {
      const m = decodeModel(encodeModel(original));
      const { schedule } = await runPasses(m, parsePipeline('fold-bn,collapse-branches,dce,verify'), { seed });
      assert.ok(m.graph.nodes.length <= original.graph.nodes.length);
      assert.equal(schedule.passes.length, 4);
      await assertSameOutputs(original, m, { seed });
    }),
    { numRuns: 10, seed: 99 },
  );
});
