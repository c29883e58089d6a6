/**
 * onnxruntime is the ground truth for shapes: every intermediate value of every reference
 * model (and every hand-built rule case) is added as a graph output, the model runs on seeded
 * random inputs, and each dim onnxruntime produces must equal the inferred one.
 *
 * The model fed to onnxruntime is decoded fresh (no inferred value_info in it), and the added
 * outputs declare only an element type, so onnxruntime's own inference is not biased.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { readFileSync } from 'node:fs';
import { decodeModel, encodeModel } from '../../src/onnx/io.ts';
import { analyzeShapes, inferShapes } from '../../src/analysis/shapes.ts';
import { sharedModels, sharedModelPath, sharedModelsMissing, sharedReparamModels } from '../../src/models/shared.ts';
import { DataType } from '../../src/ir/dtype.ts';
import type { Model, TensorType } from '../../src/ir/graph.ts';
import { Rng } from '../../src/util/random.ts';
import { caseModel } from './cases.ts';
import { ROWS } from './rows.ts';

/** Keeping the suite fast: models too heavy to run with every intermediate as an output.
 * - subset: only the first N nodes are checked (the rest of the graph and its weights are
 *   dropped from the copy onnxruntime runs). ResNet-152 repeats ResNet-50's bottlenecks 3x
 *   deeper; VGG-16's classifier holds 120 M parameters in three Gemms (Gemm is covered by the
 *   other models).
 * - input: run at another resolution through a `--shape` override (value folding under an
 *   override). DeepLabV3 cannot be used for that: its ASPP pooling branch was traced with a
 *   constant Resize target (32x32 for 512x512 inputs), so at 224x224 its Concat is invalid —
 *   which inference reports, see the shapes test 'an override that breaks a traced constant'. */
const HEAVY: Record<string, { subset?: number; input?: number[] }> = {
  resnet152: { subset: 120 },
  vgg16: { subset: 32 },
  mobilenet_v3_small: { input: [2, 3, 160, 192] },
};

const ORT_TYPE: Record<number, ort.Tensor.Type> = {
  [DataType.FLOAT]: 'float32', [DataType.INT64]: 'int64', [DataType.INT32]: 'int32', [DataType.BOOL]: 'bool', [DataType.UINT8]: 'uint8', [DataType.DOUBLE]: 'float64',
};

function feedFor(type: TensorType, name: string, rng: Rng): ort.Tensor {
  const dims = type.shape!.map((d) => (typeof d === 'number' ? d : 1));
  const n = dims.reduce((a, b) => a * b, 1);
  switch (type.elemType) {
    case DataType.FLOAT: return new ort.Tensor('float32', Float32Array.from({ length: n }, () => rng.normal()), dims);
    case DataType.INT64: return new ort.Tensor('int64', BigInt64Array.from({ length: n }, () => BigInt(rng.int(1, 3))), dims);
    case DataType.BOOL: return new ort.Tensor('bool', Uint8Array.from({ length: n }, () => rng.int(0, 2)), dims);
    default: throw new Error(`no feed for input '${name}' of dtype ${type.elemType}`);
  }
}

/** Exposes `values` as graph outputs (element type only) of a fresh copy for onnxruntime. */
function withOutputs(ortModel: Model, values: string[], types: Map<string, TensorType>): void {
  const have = new Set(ortModel.graph.outputs.map((o) => o.name));
  ortModel.graph.valueInfo.clear();
  for (const v of values) {
    if (have.has(v)) continue;
    const t = types.get(v);
    if (!t || !(t.elemType in ORT_TYPE)) continue;
    ortModel.graph.outputs.push({ name: v, type: { elemType: t.elemType } });
  }
}

async function compareWithOrt(ortModel: Model, types: Map<string, TensorType>, values: string[], seed: number) {
  withOutputs(ortModel, values, types);
  const session = await ort.InferenceSession.create(encodeModel(ortModel), { graphOptimizationLevel: 'disabled' });
  const rng = new Rng(seed);
  const feeds: Record<string, ort.Tensor> = {};
  for (const i of ortModel.graph.inputs) {
    if (ortModel.graph.initializers.has(i.name)) continue;
    feeds[i.name] = feedFor(types.get(i.name)!, i.name, rng);
  }
  const res = await session.run(feeds);
  const mismatches: string[] = [];
  let dims = 0, tensors = 0;
  for (const name of session.outputNames) {
    const got = res[name].dims;
    const mine = types.get(name)?.shape;
    tensors++;
    if (!mine || mine.length !== got.length) {
      mismatches.push(`${name}: inferred ${JSON.stringify(mine)} vs onnxruntime [${got}]`);
      continue;
    }
    got.forEach((d, k) => {
      if (typeof mine[k] !== 'number') return; // symbolic/unknown: not a claim to check
      dims++;
      if (mine[k] !== d) mismatches.push(`${name} dim ${k}: inferred ${mine[k]} vs onnxruntime ${d}`);
    });
  }
  await session.release();
  return { tensors, dims, mismatches };
}

const missing = sharedModelsMissing();

test('every intermediate shape of the reference models equals onnxruntime', { skip: missing, timeout: 300_000 }, async () => {
  const names = [...sharedModels().map((m) => m.name), ...sharedReparamModels()];
  let tensors = 0, dims = 0;
  const all: string[] = [];
  for (const name of names) {
    const model = decodeModel(readFileSync(sharedModelPath(name)));
    const g = model.graph;
    const heavy = HEAVY[name] ?? {};
    const overrides = heavy.input ? { [g.inputs[0].name]: heavy.input } : undefined;
    const a = analyzeShapes(model, { overrides });
    const order = g.topoOrder();
    const limit = heavy.subset ?? order.length;
    const values = order.slice(0, limit).flatMap((n) => n.outputs).filter((v) => v);
    // The same decoded model becomes onnxruntime's copy (analysis results are already taken).
    if (heavy.input) g.inputs[0].type = { elemType: DataType.FLOAT, shape: heavy.input };
    if (heavy.subset) {
      g.outputs = [];
      g.valueInfo.clear();
      withOutputs(model, values, a.types);
      g.eliminateDeadCode();
    }
    const r = await compareWithOrt(model, a.types, values, 1);
    assert.ok(r.tensors >= values.length, `${name}: every value reached onnxruntime`);
    tensors += r.tensors;
    dims += r.dims;
    all.push(...r.mismatches.map((m) => `${name}: ${m}`));
    if (heavy.subset) console.log(`${name}: structural subset, first ${limit} of ${order.length} nodes`);
    if (heavy.input) console.log(`${name}: run at ${heavy.input.join('x')} through a --shape override`);
  }
  assert.deepEqual(all.slice(0, 20), [], `${all.length} mismatches`);
  console.log(`onnxruntime oracle: ${tensors} tensors, ${dims} dims compared on ${names.length} models, all equal`);
});

test('hand-built rule cases agree with onnxruntime wherever it runs them', { timeout: 120_000 }, async () => {
  let ran = 0, tensors = 0;
  const refused: string[] = [];
  const all: string[] = [];
  for (const row of ROWS) {
    const m = caseModel(row);
    const types = inferShapes(m);
    const outs = m.graph.nodes[0].outputs;
    const fresh = caseModel(row);
    fresh.graph.outputs = [];
    try {
      const r = await compareWithOrt(fresh, types, outs, 2);
      ran++;
      tensors += r.tensors;
      all.push(...r.mismatches.map((x) => `${row.op}: ${x}`));
    } catch (e) {
      refused.push(`${row.op}: ${String((e as Error).message).split('\n')[0].slice(0, 120)}`);
    }
  }
  assert.deepEqual(all, []);
  assert.ok(ran >= ROWS.length * 0.8, `onnxruntime ran only ${ran} of ${ROWS.length} cases: ${refused.join(' | ')}`);
  console.log(`onnxruntime ran ${ran}/${ROWS.length} hand-built cases (${tensors} outputs equal); refused: ${refused.length ? refused.join(' | ') : 'none'}`);
});

test('models optimized by onnxruntime (extended level, com.microsoft fused ops) agree too', { skip: missing, timeout: 300_000 }, async () => {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { loadModel } = await import('../../src/onnx/io.ts');
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-ort-opt-'));
  let tensors = 0;
  const fused = new Set<string>();
  for (const name of ['mobilenet_v2', 'squeezenet1_1', 'resnet18']) {
    const optimized = join(dir, `${name}.onnx`);
    const s = await ort.InferenceSession.create(sharedModelPath(name), { graphOptimizationLevel: 'extended', optimizedModelFilePath: optimized });
    await s.release();
    const model = loadModel(optimized);
    for (const n of model.graph.nodes) if (n.domain === 'com.microsoft') fused.add(n.opType);
    const a = analyzeShapes(model);
    const values = model.graph.nodes.flatMap((n) => n.outputs).filter((v) => v);
    const r = await compareWithOrt(model, a.types, values, 3);
    assert.deepEqual(r.mismatches, [], name);
    assert.equal(a.unsupported.length, 0, `${name}: ${a.unsupported.map((n) => n.opType).join(', ')}`);
    tensors += r.tensors;
  }
  assert.ok(fused.size > 0, 'the optimized models contain com.microsoft ops');
  console.log(`onnxruntime-optimized models: ${tensors} tensors equal; contrib ops covered: ${[...fused].sort().join(', ')}`);
});
