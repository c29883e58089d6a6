/**
 * Debian's libonnx-testdata (the ONNX backend test suite): for every test with a model and
 * reference outputs, the inferred shape of each graph output must equal the reference
 * tensor's dims. Models with an op that has no shape rule are skipped (counted); a model
 * whose inputs have dynamic dims takes them from its input_*.pb files as overrides.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../../src/onnx/io.ts';
import { TensorProtoType, protobuf, type Msg } from '../../src/onnx/schema.ts';
import { tensorFromMsg } from '../../src/onnx/decode.ts';
import { analyzeShapes, hasShapeRule } from '../../src/analysis/shapes.ts';
import type { Model } from '../../src/ir/graph.ts';

const ROOT = '/usr/share/libonnx-testdata/data';
const missing = existsSync(ROOT) ? false : `${ROOT} not found (apt-get install libonnx-testdata; .ci/run does it)`;

/** Dims of a TensorProto .pb file, or undefined when it is not a tensor (sequence/optional). */
function pbDims(path: string): number[] | undefined {
  try {
    const reader = new protobuf.Reader(readFileSync(path));
    const t = TensorProtoType.decode(reader) as unknown as Msg;
    return ((t.dims ?? []) as unknown[]).map((d) => Number(String(d)));
  } catch {
    return undefined;
  }
}

/** A reference input as an IR tensor (for turning small runtime inputs into constants). */
function pbTensor(path: string, name: string) {
  try {
    const t = TensorProtoType.decode(new protobuf.Reader(readFileSync(path))) as unknown as Msg;
    const tensor = tensorFromMsg(t, { baseDir: '/' }, 'input');
    tensor.name = name;
    return tensor;
  } catch {
    return undefined; // a sequence/optional input, not a tensor
  }
}

/** Compares inferred graph outputs with the reference; 'wrong' lists claims that differ. */
function compareOutputs(model: Model, types: Map<string, { shape?: (number | string | undefined)[] }>, data: string, name: string, wrong: string[], dynamicOps?: Set<string>) {
  let ok = true, dynamic = false, equalOutputs = 0;
  model.graph.outputs.forEach((o, k) => {
    if (!o.type) return; // sequence/optional outputs: not tensors
    const ref = pbDims(join(data, `output_${k}.pb`));
    if (!ref) return;
    const mine = types.get(o.name)?.shape;
    if (!mine) {
      dynamic = true; // rank unknown: depends on a runtime input's value
      dynamicOps?.add(model.graph.producer(o.name)?.opType ?? '?');
    } else if (mine.length !== ref.length || mine.some((d, i) => typeof d === 'number' && d !== ref[i])) {
      ok = false;
      wrong.push(`${name} output '${o.name}': inferred ${JSON.stringify(mine)} vs reference [${ref}]`);
    } else if (!mine.every((d) => typeof d === 'number')) {
      dynamic = true;
      dynamicOps?.add(model.graph.producer(o.name)?.opType ?? '?');
    } else equalOutputs++;
  });
  return { ok, dynamic, equalOutputs };
}

function testDirs(): string[] {
  const dirs: string[] = [];
  for (const suite of readdirSync(ROOT).sort()) {
    for (const t of readdirSync(join(ROOT, suite)).sort()) {
      const dir = join(ROOT, suite, t);
      if (existsSync(join(dir, 'model.onnx')) && existsSync(join(dir, 'test_data_set_0', 'output_0.pb'))) dirs.push(dir);
    }
  }
  return dirs;
}

function realInputs(m: Model) {
  return m.graph.inputs.filter((i) => !m.graph.initializers.has(i.name));
}

test('inferred output shapes equal the libonnx-testdata reference outputs', { skip: missing, timeout: 300_000 }, () => {
  const counts = { models: 0, equal: 0, wrong: 0, dynamic: 0, unsupportedModels: 0, loadErrors: 0, inferErrors: 0, outputsEqual: 0, resolvedWithValues: 0, stillDynamic: 0 };
  const wrong: string[] = [];
  const unsupportedOps = new Map<string, number>();
  const inferErrors: string[] = [];
  const dynamicOps = new Set<string>();
  const stillDynamic: string[] = [];
  for (const dir of testDirs()) {
    const name = dir.slice(ROOT.length + 1);
    let model: Model;
    try {
      model = loadModel(join(dir, 'model.onnx'));
    } catch {
      counts.loadErrors++;
      continue;
    }
    counts.models++;
    const unsupported = model.graph.nodes.filter((n) => !hasShapeRule(n));
    if (unsupported.length) {
      counts.unsupportedModels++;
      for (const n of unsupported) unsupportedOps.set(n.opType, (unsupportedOps.get(n.opType) ?? 0) + 1);
      continue;
    }
    // Only the rules are under test: forget the output shapes and value_info the file declares.
    for (const o of model.graph.outputs) if (o.type) o.type = { elemType: o.type.elemType };
    model.graph.valueInfo.clear();
    const data = join(dir, 'test_data_set_0');
    const overrides: Record<string, number[]> = {};
    const ins = realInputs(model);
    if (ins.some((i) => !i.type?.shape || i.type.shape.some((d) => typeof d !== 'number'))) {
      ins.forEach((inp, k) => {
        const d = existsSync(join(data, `input_${k}.pb`)) ? pbDims(join(data, `input_${k}.pb`)) : undefined;
        if (d && inp.type) overrides[inp.name] = d;
      });
    }
    let types;
    try {
      types = analyzeShapes(model, { overrides }).types;
    } catch (e) {
      counts.inferErrors++;
      inferErrors.push(`${name}: ${(e as Error).message}`);
      continue;
    }
    const r = compareOutputs(model, types, data, name, wrong, dynamicOps);
    counts.outputsEqual += r.equalOutputs;
    const modelOk = r.ok, modelDynamic = r.dynamic;
    if (modelOk && modelDynamic) {
      counts.dynamic++;
      // Second look: the runtime inputs' values (small tensors) as constants, as a compiler
      // sees them after constant propagation; the value-dependent rules must then match too.
      model.graph.inputs.forEach((inp, k) => {
        const f = join(data, `input_${k}.pb`);
        if (!existsSync(f) || model.graph.initializers.has(inp.name)) return;
        const t = pbTensor(f, inp.name);
        if (t && t.size <= 64) model.graph.initializers.set(inp.name, t);
      });
      model.graph.invalidate();
      const again = compareOutputs(model, analyzeShapes(model).types, data, name, wrong);
      if (!again.ok) counts.wrong++;
      else if (!again.dynamic) counts.resolvedWithValues++;
      else {
        counts.stillDynamic++;
        stillDynamic.push(name.replace(/^.*\/test_/, ''));
      }
      continue;
    }
    if (!modelOk) counts.wrong++;
    else if (modelDynamic) counts.dynamic++;
    else counts.equal++;
  }
  const top = [...unsupportedOps.entries()].sort((a, b) => b[1] - a[1]).map(([op, n]) => `${op}:${n}`).join(' ');
  console.log(`libonnx-testdata: ${counts.models} models loaded (${counts.loadErrors} not loadable by the reader)`);
  console.log(`  supported and equal: ${counts.equal} models (${counts.outputsEqual} outputs); supported, dims left unknown because they depend on runtime input values (every known dim equal): ${counts.dynamic} (${[...dynamicOps].sort().join(' ')});`);
  console.log(`    of which equal once the runtime inputs' values are constants: ${counts.resolvedWithValues}; still data-dependent: ${counts.stillDynamic} (${stillDynamic.join(' ')})`);
  console.log(`  supported but wrong: ${counts.wrong}; inference errors: ${counts.inferErrors}; skipped for an op without a rule: ${counts.unsupportedModels} (${top})`);
  assert.deepEqual(wrong.slice(0, 30), [], `${wrong.length} wrong shapes`);
  assert.deepEqual(inferErrors.slice(0, 30), [], `${inferErrors.length} inference errors`);
  assert.ok(counts.equal > 700, `only ${counts.equal} models fully checked`);
});
