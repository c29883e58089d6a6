// (e) The consumer's own regression test with dnnfuse's testkit: `node --test`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeModel, encodeModel, runPipeline, registerPass, hardwarePresets } from 'dnnfuse';
import { cnnModel, assertSameOutputs, assertPlanValid } from 'dnnfuse/testkit';

// The consumer's pass under test: removes Identity nodes by rewiring their consumers.
registerPass({
  name: 'drop-identity',
  description: 'Remove Identity nodes',
  reads: ['graph'],
  writes: ['graph'],
  run(model) {
    const g = model.graph;
    const ids = g.nodes.filter((n) => n.opType === 'Identity' && !g.outputs.some((o) => o.name === n.outputs[0]));
    for (const id of ids) {
      for (const n of g.nodes) n.inputs = n.inputs.map((i) => (i === id.outputs[0] ? id.inputs[0] : i));
      g.nodes.splice(g.nodes.indexOf(id), 1);
    }
    g.invalidate();
    return { changed: ids.length > 0 };
  },
});

test('fold-bn and collapse-branches keep the outputs of generated CNNs (onnxruntime)', async () => {
  await fc.assert(
    fc.asyncProperty(cnnModel({ maxBlocks: 4, maxChannels: 8 }), async (original) => {
      const m = decodeModel(encodeModel(original));
      await runPipeline(m, ['fold-bn', 'collapse-branches', 'drop-identity']);
      await assertSameOutputs(original, m);
    }),
    { numRuns: 5, seed: 1 },
  );
});

test('the fusion plan of a generated CNN is valid and fits the buffer', async () => {
  await fc.assert(
    fc.asyncProperty(cnnModel({ maxBlocks: 5 }), async (m) => {
      const hw = hardwarePresets['paper-128k'];
      const { schedule } = await runPipeline(m, ['plan'], { hardware: hw, seed: 0, options: { plan: { search: 'greedy', optimum: false } } });
      const summary = assertPlanValid(schedule, hw, { model: m });
      assert.ok(summary.groups > 0);
    }),
    { numRuns: 5, seed: 2 },
  );
});

test('assertSameOutputs catches a wrong rewrite', async () => {
  const original = fc.sample(cnnModel({ maxBlocks: 2 }), { numRuns: 1, seed: 3 })[0];
  const broken = decodeModel(encodeModel(original));
  // a wrong "rewrite": the classifier's bias shifted by 1
  const gemm = broken.graph.nodes.find((n) => n.opType === 'Gemm');
  const bias = broken.graph.initializers.get(gemm.inputs[2]);
  bias.source = { kind: 'values', values: bias.toFloat32().map((x) => x + 1) };
  await assert.rejects(assertSameOutputs(original, broken), /output '.*' differs/);
});
