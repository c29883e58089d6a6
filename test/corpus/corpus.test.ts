/**
 * The corpus (corpus/models.ts, the one registry; models fetched and cached by corpus/fetch.ts):
 * real-world models nobody here wrote, each compiled by `dnnfuse compile` with the default
 * pipeline in a child process, as a user runs it, through the runner `npm run corpus` uses for
 * the README table (corpus/run.ts). Each must exit 0, its schedule must place every node in
 * exactly one fusion group or list it with a reason its entry allows, control-flow nodes stand
 * alone in opaque groups, onnxruntime must agree under the default allclose check
 * (`rowProblems`), and the file must be what its entry says (opset, ops of its family, fp16).
 * The exact optimum (a MILP of up to 30 s per model, a figure of the report, not of
 * correctness) is turned off here to keep the suite's time; `npm run corpus` runs the full
 * default. Models marked `readmeOnly` are compiled by `npm run corpus` only (their stand-in,
 * `suiteOnly`, runs here).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CORPUS } from '../../corpus/models.ts';
import { modelMissing, modelPath } from '../../corpus/fetch.ts';
import { compileCorpusModel, rowProblems } from '../../corpus/run.ts';
import { loadModel, encodeModel } from '../../src/onnx/io.ts';
import { DataType } from '../../src/ir/dtype.ts';
import type { Graph } from '../../src/ir/graph.ts';
import { modelStats } from '../../src/analysis/stats.ts';
import { inferShapes } from '../../src/analysis/shapes.ts';
import { applyShapeOverrides } from '../../src/compile.ts';
import { randomFeeds, runModel } from '../../src/analysis/ort.ts';
import { allclose } from '../../src/analysis/compare.ts';

const opsOf = (g: Graph, into = new Set<string>()): Set<string> => {
  for (const n of g.nodes) {
    into.add(n.opType);
    for (const sub of n.subgraphs()) opsOf(sub, into);
  }
  return into;
};

for (const m of CORPUS) {
  const missing = modelMissing(m);
  if (missing) console.log(`# corpus ${m.id}: skipped: ${missing}`);
  test(`corpus ${m.id}: the file is a member of its family (${m.family})`, { skip: missing ?? false }, () => {
    const model = loadModel(modelPath(m));
    if (m.expect.opset !== undefined) assert.equal(model.opset(''), m.expect.opset);
    const ops = opsOf(model.graph);
    for (const op of m.expect.ops ?? []) assert.ok(ops.has(op), `${m.id} has no ${op} node`);
    if (m.expect.fp16) assert.ok(model.graph.inputs.every((i) => model.graph.initializers.has(i.name) || i.type?.elemType === DataType.FLOAT16), 'fp16 inputs');
  });

  if (m.readmeOnly) {
    console.log(`# corpus ${m.id}: compiled by npm run corpus only: ${m.readmeOnly}`);
    continue;
  }
  test(`corpus ${m.id}: dnnfuse compile (default pipeline) exits 0, covers every node, onnxruntime agrees`, { skip: missing ?? false, timeout: 600_000 }, () => {
    const r = compileCorpusModel(m, ['--option', 'plan.optimum=false']);
    assert.deepEqual(rowProblems(m, r), [], `${m.id}`);
    const v = r.verification!;
    console.log(`# ${m.id}: ${r.nodesBefore} -> ${r.nodesAfter} nodes, ${r.groups} groups${r.opaqueGroups?.length ? ` (opaque: ${r.opaqueGroups.join(', ')})` : ''}${r.subgraphGroups ? `, ${r.subgraphGroups} inside subgraphs` : ''}, ${r.outside} outside, DRAM ${(r.dramBytes! / 1e6).toFixed(2)} / ${(r.layerByLayerDramBytes! / 1e6).toFixed(2)} MB, max abs ${v.maxAbs.toExponential(1)}, cosine ${v.cosine.toFixed(7)}, ${r.seconds!.toFixed(1)} s, ${r.peakMiB!.toFixed(0)} MiB`);
  });
}

const rec = CORPUS.find((m) => m.id === 'ppocr-v4-rec')!;
const rec18 = CORPUS.find((m) => m.id === 'ppocr-v4-rec-opset18')!;
test('corpus: the opset-18 conversion of PP-OCRv4 rec gives the opset-9 original\'s outputs in onnxruntime', { skip: modelMissing(rec) ?? modelMissing(rec18) ?? false, timeout: 120_000 }, async () => {
  const a = loadModel(modelPath(rec));
  applyShapeOverrides(a, rec.shapes);
  const feeds = randomFeeds(a, 1);
  const so = { graphOptimizationLevel: 'disabled' } as const;
  const c = allclose(await runModel(encodeModel(a), feeds, so), await runModel(modelPath(rec18), feeds, so), { rtol: 0, atol: 0 });
  assert.ok(c.ok, JSON.stringify(c.outputs[0]));
});

const cls = CORPUS.find((m) => m.id === 'ppocr-cls')!;
test('inspect counts float weights held in Constant nodes as parameters, and MACs once --shape fixes the dims', { skip: modelMissing(cls) ?? false }, () => {
  const model = loadModel(modelPath(cls));
  assert.equal(model.graph.initializers.size, 0, 'paddle2onnx: every weight is a Constant node');
  let expected = 0;
  for (const n of model.graph.nodes) {
    const a = n.attributes[0];
    if (n.opType === 'Constant' && a?.type === 'tensor' && a.value.dataType === DataType.FLOAT && a.value.dims.length > 0) expected += a.value.size; // int64 shape constants and scalars are not weights
  }
  const dynamic = modelStats(model);
  assert.equal(dynamic.totals.params, expected);
  assert.ok(expected > 100_000, `${expected} params`);
  const fixed = loadModel(modelPath(cls));
  const s = modelStats(fixed, { overrides: { x: [1, 3, 48, 192] } });
  assert.equal(s.totals.params, expected);
  assert.ok(s.totals.macs > 10_000_000, `MACs ${s.totals.macs}`);
  assert.equal(s.totals.macsComplete, true);
});

const frcnn = CORPUS.find((m) => m.id === 'fasterrcnn-mnv3-320')!;
test("corpus fasterrcnn-mnv3-320: shape inference alone sizes the transform's resized image (float arithmetic on the input's shape): every Conv has a static shape, without compile's fold-constants", { skip: modelMissing(frcnn) ?? false }, () => {
  const model = loadModel(modelPath(frcnn));
  const types = inferShapes(model);
  const convs = model.graph.nodes.filter((n) => n.opType === 'Conv');
  assert.ok(convs.length > 50, `${convs.length} Convs`);
  const dynamic = convs.filter((n) => !types.get(n.outputs[0])?.shape?.every((d) => typeof d === 'number'));
  assert.deepEqual(dynamic.map((n) => n.name), [], 'Convs without a static output shape');
  // min_size 320: the image is not resized, the stem's stride-2 conv gives 160x160
  assert.deepEqual(types.get(convs[0].outputs[0])?.shape, [1, 16, 160, 160]);
});
