/**
 * Shape inference through control flow (If, Loop, Scan), checked against onnxruntime (the
 * dims it produces when it runs the model) and the ONNX conformance suite's reference outputs
 * (libonnx-testdata), with every declaration inside the subgraphs forgotten first so that only
 * the rules are under test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeShapes, applyShapeOverrides, staticShape, subgraphFailure } from '../../src/analysis/shapes.ts';
import { runModel, randomFeeds } from '../../src/analysis/ort.ts';
import { decodeModel, encodeModel, loadModel } from '../../src/onnx/io.ts';
import { TensorProtoType, protobuf, type Msg } from '../../src/onnx/schema.ts';
import type { Dim, Graph, Model } from '../../src/ir/graph.ts';
import { ifModel, loopModel, scanModel, shapeGuardModel } from '../support/control-flow.ts';
import { CORPUS } from '../../corpus/models.ts';
import { fetchModel } from '../../corpus/fetch.ts';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Forgets every shape the file declares inside subgraphs (outputs, value_info). */
function forgetSubgraphShapes(m: Model): void {
  for (const { graph } of m.graph.subgraphsDeep()) {
    graph.valueInfo.clear();
    graph.outputs = graph.outputs.map((o) => (o.type ? { ...o, type: { elemType: o.type.elemType } } : o));
  }
  for (const o of m.graph.outputs) if (o.type) o.type = { elemType: o.type.elemType };
  m.graph.valueInfo.clear();
}

/** Every numeric inferred dim equals onnxruntime's; returns the inferred shapes by output. */
async function checkAgainstOrt(m: Model, feeds = randomFeeds(m, 1)): Promise<Record<string, Dim[] | undefined>> {
  const fresh = decodeModel(encodeModel(m));
  const got = await runModel(fresh, feeds);
  const types = analyzeShapes(m).types;
  const res: Record<string, Dim[] | undefined> = {};
  for (const o of m.graph.outputs) {
    const mine = types.get(o.name)?.shape;
    res[o.name] = mine;
    const ref = got[o.name].dims;
    assert.ok(mine, `output '${o.name}': rank unknown, onnxruntime gives [${ref}]`);
    assert.equal(mine.length, ref.length, `output '${o.name}': inferred ${JSON.stringify(mine)} vs onnxruntime [${ref}]`);
    mine.forEach((d, i) => typeof d === 'number' && assert.equal(d, ref[i], `output '${o.name}' dim ${i}: inferred ${JSON.stringify(mine)} vs onnxruntime [${ref}]`));
  }
  return res;
}

test('If: branches reading an outer value infer to the shapes onnxruntime produces, for either condition', async () => {
  const m = ifModel();
  for (const cond of [0, 1]) {
    const feeds = randomFeeds(m, 2);
    feeds.cond = { dims: [], data: Uint8Array.from([cond]), bool: true };
    const s = await checkAgainstOrt(m, feeds);
    assert.deepEqual(s.out, [1, 6, 8, 8]);
  }
  assert.deepEqual(staticShape(m, 'y'), [1, 6, 8, 8]);
  // Inside the branches, values get shapes too (recorded in the subgraph's value_info).
  const thenG = m.graph.nodes.find((n) => n.opType === 'If')!.subgraphs()[0];
  const conv = thenG.nodes.find((n) => n.opType === 'Conv')!;
  assert.deepEqual(thenG.valueInfo.get(conv.outputs[0])?.type?.shape, [1, 6, 8, 8]);
});

test('If: branches of different shapes merge dim by dim; the reason names the If and both shapes', () => {
  const m = ifModel({ elseChannels: 3 });
  const a = analyzeShapes(m);
  assert.deepEqual(a.types.get('y')?.shape, [1, undefined, 8, 8]);
  assert.throws(() => staticShape(m, 'out'), /branches of node 'the_if' \(If\) give output 0 different shapes: then \[1,6,8,8\], else \[1,3,8,8\]/);
});

test('If: a constant condition takes its branch (static even when the other branch differs)', () => {
  assert.deepEqual(staticShape(ifModel({ elseChannels: 3, cond: true }), 'out'), [1, 6, 8, 8]);
  assert.deepEqual(staticShape(ifModel({ elseChannels: 3, cond: false }), 'out'), [1, 3, 8, 8]);
});

test('Loop: a carried shape the body preserves stays static, a growing one loses its dim; scan outputs get the trip count (onnxruntime agrees)', async () => {
  const m = loopModel();
  const s = await checkAgainstOrt(m);
  assert.deepEqual(s.acc, [2, 3]);
  assert.deepEqual(s.grow, [undefined, 3]);
  assert.deepEqual(s.scan, [3, 2, 3]);
  assert.throws(() => staticShape(m, 'grow'), /loop-carried value 1 of node 'the_loop' \(Loop\) changes shape across iterations/);
});

test('Scan: slices along scan_input_axes, stacks along scan_output_axes (onnxruntime agrees)', async () => {
  const s = await checkAgainstOrt(scanModel());
  assert.deepEqual(s.sum, [3, 4]);
  assert.deepEqual(s.Y, [3, 4, 5]);
});

const ROOT = '/usr/share/libonnx-testdata/data/node';
const CONFORMANCE = ['test_if', 'test_loop11', 'test_scan_sum', 'test_scan9_sum', 'test_range_float_type_positive_delta_expanded', 'test_range_int32_type_negative_delta_expanded'];

function pbDims(path: string): number[] {
  const t = TensorProtoType.decode(new protobuf.Reader(readFileSync(path))) as unknown as Msg;
  return ((t.dims ?? []) as unknown[]).map((d) => Number(String(d)));
}

test('conformance If/Loop/Scan models: inferred output dims equal the reference outputs (subgraph declarations forgotten)', { skip: existsSync(ROOT) ? false : `${ROOT} not found (apt-get install libonnx-testdata; .ci/run does it)` }, () => {
  let staticOutputs = 0;
  for (const name of CONFORMANCE) {
    const dir = join(ROOT, name);
    const m = loadModel(join(dir, 'model.onnx'));
    forgetSubgraphShapes(m);
    const overrides: Record<string, number[]> = {};
    m.graph.inputs.forEach((inp, k) => {
      if (!m.graph.initializers.has(inp.name)) overrides[inp.name] = pbDims(join(dir, 'test_data_set_0', `input_${k}.pb`));
    });
    const types = analyzeShapes(m, { overrides }).types;
    m.graph.outputs.forEach((o, k) => {
      const ref = pbDims(join(dir, 'test_data_set_0', `output_${k}.pb`));
      const mine = types.get(o.name)?.shape;
      assert.ok(mine, `${name} '${o.name}': rank unknown`);
      assert.equal(mine.length, ref.length, `${name} '${o.name}': ${JSON.stringify(mine)} vs [${ref}]`);
      mine.forEach((d, i) => typeof d === 'number' && assert.equal(d, ref[i], `${name} '${o.name}': ${JSON.stringify(mine)} vs [${ref}]`));
      if (mine.every((d) => typeof d === 'number')) staticOutputs++;
    });
  }
  console.log(`# ${CONFORMANCE.length} control-flow conformance models: ${staticOutputs} outputs fully static and equal, the rest data-dependent (loop conditions) with every known dim equal`);
  assert.ok(staticOutputs >= 3, 'If and both Scans give static outputs');
});

test('outer-scope reads are dependencies: topological order, DCE and fresh names see them', () => {
  const m = ifModel();
  const g: Graph = m.graph;
  const ifNode = g.nodes.find((n) => n.opType === 'If')!;
  assert.deepEqual(ifNode.implicitInputs(), [g.producer('y') === ifNode ? g.nodes.find((n) => n.name === 'pre')!.outputs[0] : '?']);
  // The If reads 'pre''s output only through its branches: it must stay after it and alive.
  g.nodes.reverse();
  g.invalidate();
  const order = g.topoOrder().map((n) => n.name);
  assert.ok(order.indexOf('pre') < order.indexOf('the_if'));
  assert.equal(g.eliminateDeadCode(), 0);
  assert.ok(g.nodes.some((n) => n.name === 'pre'));
  assert.deepEqual(g.consumers(g.nodes.find((n) => n.name === 'pre')!.outputs[0]).map((n) => n.name), ['the_if']);
  // A name used only inside a branch is taken.
  const inner = ifNode.subgraphs()[0].nodes[0].outputs[0];
  assert.notEqual(g.freshName(inner), inner);
});

/** Python onnx's inferred dims of every subgraph value (oracle_subgraphs.py), or a skip reason. */
function onnxSubgraphShapes(model: string, inputs: Record<string, number[]>): Record<string, (number | null)[]> | string {
  const py = '/usr/bin/python3';
  if (!existsSync(py)) return `${py} not found`;
  const r = spawnSync(py, [fileURLToPath(new URL('./oracle_subgraphs.py', import.meta.url))], { input: JSON.stringify({ model, inputs }), encoding: 'utf8' });
  if (r.status !== 0) return /No module named/.test(r.stderr) ? 'python onnx absent (apt-get install python3-onnx)' : `python onnx failed: ${r.stderr.trim().split('\n').pop()}`;
  return JSON.parse(r.stdout);
}

/** Our dims of every subgraph value, keyed like the oracle's (`node.attr/.../value`). */
function ourSubgraphShapes(g: Graph, prefix = ''): Record<string, Dim[] | undefined> {
  const res: Record<string, Dim[] | undefined> = {};
  for (const n of g.nodes) {
    for (const a of n.attributes) {
      if (a.type !== 'graph') continue;
      const p = `${prefix}${n.name}.${a.name}/`;
      for (const [k, v] of a.value.valueInfo) res[p + k] = v.type?.shape;
      for (const o of a.value.outputs) res[p + o.name] = o.type?.shape;
      Object.assign(res, ourSubgraphShapes(a.value, p));
    }
  }
  return res;
}

test('Silero VAD: every subgraph value python onnx infers gets the same dims from us (nested Ifs, LSTMs)', async (t) => {
  const got = fetchModel(CORPUS.find((m) => m.id === 'silero-vad')!);
  if ('missing' in got) {
    console.log(`# skipped: ${got.missing}`);
    return void t.skip(got.missing);
  }
  const inputs = { input: [1, 512], h: [2, 1, 64], c: [2, 1, 64] };
  const ref = onnxSubgraphShapes(got.path, inputs);
  if (typeof ref === 'string') return void t.skip(ref);
  const m = loadModel(got.path);
  analyzeShapes(m, { overrides: inputs });
  const ours = ourSubgraphShapes(m.graph);
  let refStatic = 0, ourStatic = 0;
  for (const [k, d] of Object.entries(ref)) {
    const mine = ours[k];
    assert.ok(mine, `${k}: python onnx infers [${d}], we have nothing`);
    assert.equal(mine.length, d.length, `${k}: [${d}] vs ${JSON.stringify(mine)}`);
    mine.forEach((x, i) => {
      if (d[i] !== null) assert.equal(x, d[i], `${k}: python onnx [${d}] vs ours ${JSON.stringify(mine)}`);
    });
    if (d.every((x) => x !== null)) refStatic++;
    if (mine.every((x) => typeof x === 'number')) ourStatic++;
  }
  console.log(`# silero subgraph values: python onnx infers ${Object.keys(ref).length} (${refStatic} static), we agree on all, ${ourStatic} static`);
  assert.ok(ourStatic >= refStatic);
});

/** The guard model with x fixed to [1,4,n] (what `--shape x=1x4xn` does). */
function guardAt(n: number, opts: Parameters<typeof shapeGuardModel>[0] = {}): Model {
  const m = shapeGuardModel(opts);
  applyShapeOverrides(m, [`x=1x4x${n}`]);
  return m;
}

test('If: a branch that cannot run on these shapes (a shape guard) does not fail inference; the other branch decides, as onnxruntime runs it', async () => {
  // constant guard (Shape(x)[2] == 1 at n = 3): the untaken squeeze cannot run
  const m = guardAt(3);
  const thenG = m.graph.nodes.find((n) => n.name === 'guard')!.subgraphs()[0];
  assert.deepEqual(staticShape(m, 'out'), [1, 4, 3]);
  assert.match(subgraphFailure(thenG) ?? '', /node 't_squeeze' \(Squeeze\): cannot squeeze axis 2 of size 3/);
  assert.equal(thenG.valueInfo.size, 0, 'no shape-specific value_info in a branch that cannot run');
  // onnxruntime on the model as exported (n symbolic), fed n = 3
  const x = { dims: [1, 4, 3], data: new Float32Array(12) };
  assert.deepEqual((await runModel(shapeGuardModel(), { x })).out.dims, [1, 4, 3]);
  // at n = 1 the guard takes the squeeze: both branches infer, nothing recorded
  const m1 = guardAt(1);
  assert.deepEqual(staticShape(m1, 'out'), [1, 4]);
  assert.equal(subgraphFailure(m1.graph.nodes.find((n) => n.name === 'guard')!.subgraphs()[0]), undefined);
  assert.deepEqual((await runModel(shapeGuardModel(), { x: { dims: [1, 4, 1], data: new Float32Array(4) } })).out.dims, [1, 4]);
  // a condition known only at run time: the branch that can run decides
  assert.deepEqual(staticShape(guardAt(3, { guard: 'input' }), 'out'), [1, 4, 3]);
  assert.deepEqual((await runModel(shapeGuardModel({ guard: 'input' }), { x, cond: { dims: [], data: Uint8Array.from([0]), bool: true } })).out.dims, [1, 4, 3]);
});

test('If: when neither branch can run on these shapes, inference fails naming the node', () => {
  assert.throws(() => analyzeShapes(guardAt(3, { guard: 'input', elseSqueezeAxis: 1 })), /node 't_squeeze' \(Squeeze\): cannot squeeze axis 2 of size 3/);
  assert.throws(() => analyzeShapes(guardAt(3, { elseSqueezeAxis: 1 })), /node 'e_squeeze' \(Squeeze\): cannot squeeze axis 1 of size 4/);
});
