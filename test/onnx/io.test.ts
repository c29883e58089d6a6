import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { decodeModel, encodeModel, loadModel, saveModel } from '../../src/onnx/io.ts';
import { ModelProto, protobuf, type Msg } from '../../src/onnx/schema.ts';
import { Tensor } from '../../src/ir/tensor.ts';
import { Node, attr } from '../../src/ir/graph.ts';
import { DataType } from '../../src/ir/dtype.ts';
import { DnnfuseError } from '../../src/errors.ts';
import { exoticModelMsg, encodeMsg, rawField, smallConvModel } from './helpers.ts';
import { sharedModelPath, sharedModelsMissing } from '../../src/models/shared.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'dnnfuse-io-'));
const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
const decodeRaw = (b: Uint8Array): Msg => {
  const r = new protobuf.Reader(b);
  r.discardUnknown = false;
  return ModelProto.decode(r) as unknown as Msg;
};

test('hand-built model with IR-10/11 fields and unknown field numbers round-trips byte for byte', () => {
  const bytes = encodeMsg(exoticModelMsg());
  const model = decodeModel(bytes);
  const out = encodeModel(model);
  assert.ok(same(out, bytes), 'encode(decode(x)) must equal x');
  // The IR sees what it models...
  assert.equal(model.irVersion, 10);
  assert.deepEqual(model.metadata, [{ key: 'author', value: 'dnnfuse-test' }, { key: 'license', value: 'MIT' }]);
  const fn = model.graph.nodes.find((n) => n.name === 'fn_call')!;
  assert.deepEqual(fn.attrInts('axes'), [-1, 2, 3000000000]);
  assert.equal((fn.attr('axes')!.value as bigint[])[2], 3000000000n);
  assert.equal(fn.attrString('mode'), 'nearest');
  assert.equal(fn.attr('fut')!.type, 'opaque');
  assert.equal(model.graph.nodes.find((n) => n.opType === 'If')!.attr('then_branch')!.type, 'graph');
  assert.deepEqual(model.graph.typeOf('x'), { elemType: DataType.FLOAT, shape: ['N'] });
  assert.equal(model.graph.inputs.find((v) => v.name === 'seq_in')!.type, undefined);
  // ...and the unknown bytes are really there after the round trip.
  const m = decodeRaw(out);
  assert.equal(m.$unknowns?.length, 3);
  assert.equal(m.graph.node[0].metadata_props[0].value, 'layer1');
  assert.equal(m.graph.node[1].overload, 'v2');
  assert.equal(m.functions[0].attribute_proto[0].name, 'alpha');
  assert.equal(m.graph.sparse_initializer.length, 1);
  assert.equal(m.training_info[0].update_binding[0].value, 'w_new');
});

test('tensor encodings: raw_data and typed fields decode to the right values and keep their field', () => {
  const model = decodeModel(encodeMsg(exoticModelMsg()));
  const t = (n: string) => model.graph.initializers.get(n)!;
  assert.deepEqual([...t('w').toFloat32()], [1.5, -2]);
  assert.equal(t('w').source.kind, 'raw');
  assert.equal(t('i64').source.kind, 'values');
  assert.deepEqual(t('i64').toIntegers(), [1, -2, 5000000000]);
  assert.deepEqual([...t('d').toFloat32()], [0.25, -Infinity]);
  assert.equal(t('bf').source.kind, 'raw'); // bfloat16 bit patterns from int32_data become raw bytes
  assert.deepEqual([...t('bf').bytes()], [0x80, 0x3f, 0x00, 0xc0]);
  const str = t('str').source;
  assert.deepEqual(str.kind === 'values' ? str.values : undefined, ['a', 'bc']);
  // Editing a typed-field tensor in place is written back in the same field.
  const i64 = t('i64').source;
  assert.ok(i64.kind === 'values' && i64.values instanceof BigInt64Array, 'int64_data decodes to a BigInt64Array');
  (i64.values as BigInt64Array)[0] = 7n;
  const m = decodeRaw(encodeModel(model));
  const back = m.graph.initializer.find((x: Msg) => x.name === 'i64');
  assert.equal(Number(back.int64_data[0]), 7);
  assert.equal(Object.prototype.hasOwnProperty.call(back, 'raw_data'), false, 'no raw_data');
});

test('raw_data initializers are zero-copy views into the loaded buffer', () => {
  const bytes = encodeModel(smallConvModel());
  const model = decodeModel(bytes);
  assert.ok(model.graph.initializers.size > 0, 'model.graph.initializers.size > 0');
  for (const t of model.graph.initializers.values()) {
    assert.equal(t.source.kind, 'raw', t.name);
    if (t.source.kind === 'raw') assert.equal(t.source.bytes.buffer, bytes.buffer, `${t.name} must view the model buffer`);
    assert.equal(t.bytes(), t.source.kind === 'raw' ? t.source.bytes : undefined);
  }
});

test('load -> save without changes is byte-identical and atomic; refuses to overwrite an input', () => {
  const dir = tmp();
  const src = join(dir, 'm.onnx');
  const bytes = encodeMsg(exoticModelMsg());
  writeFileSync(src, bytes);
  const model = loadModel(src);
  assert.equal(model.baseDir, dir);
  const out = join(dir, 'out.onnx');
  saveModel(model, out, { inputs: [src] });
  assert.ok(same(readFileSync(out), bytes), 'same(readFileSync(out), bytes)');
  assert.deepEqual(readdirSync(dir).sort(), ['m.onnx', 'out.onnx'], 'no temporary files left');
  assert.throws(() => saveModel(model, src, { inputs: [src] }), (e: unknown) => e instanceof DnnfuseError && /refusing to overwrite/.test(e.message));
  assert.ok(same(readFileSync(src), bytes), 'input untouched');
});

test('changes made through the IR are written: new tensor data, attributes, names, nodes, value_info', () => {
  const model = decodeModel(encodeModel(smallConvModel()));
  const g = model.graph;
  const conv = g.nodes.find((n) => n.opType === 'Conv')!;
  const w = g.initializers.get(conv.inputs[1])!;
  const newW = Tensor.float32(w.name, w.dims, w.toFloat32().map((x) => x * 2));
  g.setInitializer(newW);
  conv.setAttr(attr.ints('strides', [1, 1]));
  conv.name = 'renamed_conv';
  const relu = g.nodes.find((n) => n.opType === 'Relu')!;
  const extra = new Node({ name: 'extra_identity', opType: 'Identity', inputs: [relu.outputs[0]], outputs: ['extra_out'] });
  g.addNode(extra);
  g.valueInfo.set('extra_out', { name: 'extra_out', type: { elemType: DataType.FLOAT, shape: [1, 8, 16, 16] } });
  g.outputs.push({ name: 'extra_out', type: { elemType: DataType.FLOAT, shape: [1, 8, 16, 16] } });
  const again = decodeModel(encodeModel(model));
  const g2 = again.graph;
  const conv2 = g2.nodes.find((n) => n.name === 'renamed_conv')!;
  assert.ok(conv2, 'conv2');
  assert.deepEqual(conv2.attrInts('strides'), [1, 1]);
  assert.deepEqual([...g2.initializers.get(w.name)!.toFloat32()], [...newW.toFloat32()]);
  assert.equal(g2.nodes.at(-1)!.name, 'extra_identity');
  assert.deepEqual(g2.valueInfo.get('extra_out')!.type, { elemType: DataType.FLOAT, shape: [1, 8, 16, 16] });
  assert.equal(g2.outputs.at(-1)!.name, 'extra_out');
});

test('unnamed nodes get unique IR names and are written back unnamed', () => {
  const msg = exoticModelMsg();
  msg.graph.node.push({ input: ['x'], output: ['u1'], op_type: 'Relu' }, { input: ['u1'], output: ['u2'], op_type: 'Relu', name: '' });
  const bytes = encodeMsg(msg);
  const model = decodeModel(bytes);
  const names = model.graph.nodes.map((n) => n.name);
  assert.equal(new Set(names).size, names.length);
  assert.ok(names.every((n) => n.length > 0), 'names.every((n) => n.length > 0)');
  assert.ok(same(encodeModel(model), bytes), 'same(encodeModel(model), bytes)');
  const m = decodeRaw(encodeModel(model));
  assert.equal(Object.prototype.hasOwnProperty.call(m.graph.node.at(-2), 'name'), false);
  assert.equal(m.graph.node.at(-1).name, '');
});

test('value_info type edits keep dim denotations of unchanged dims', () => {
  const model = decodeModel(encodeMsg(exoticModelMsg()));
  const a = model.graph.valueInfo.get('a')!;
  a.type = { elemType: DataType.FLOAT, shape: ['N', 3] };
  const m = decodeRaw(encodeModel(model));
  const t = m.graph.value_info[0].type;
  assert.equal(t.denotation, 'TENSOR');
  assert.equal(t.tensor_type.shape.dim[0].denotation, 'DATA_BATCH');
  assert.equal(Number(t.tensor_type.shape.dim[1].dim_value), 3);
});

test('external data: written by threshold, read lazily by slice, kept on re-save, relocated to a new folder', () => {
  const dir = tmp();
  const model = smallConvModel(3);
  const path = join(dir, 'ext.onnx');
  saveModel(model, path, { externalDataThreshold: 256 });
  assert.ok(existsSync(join(dir, 'ext.onnx.data')), "existsSync(join(dir, 'ext.onnx.data'))");
  const loaded = loadModel(path);
  const big = [...loaded.graph.initializers.values()].filter((t) => t.byteLength >= 256);
  assert.ok(big.length > 0, 'big.length > 0');
  for (const t of big) {
    assert.equal(t.source.kind, 'external', t.name);
    if (t.source.kind === 'external') assert.equal(t.source.path, join(dir, 'ext.onnx.data'));
    assert.deepEqual([...t.toFloat32()], [...model.graph.initializers.get(t.name)!.toFloat32()]);
  }
  // Unchanged re-save next to the data: same bytes, entries kept.
  const again = join(dir, 'again.onnx');
  saveModel(loaded, again);
  assert.ok(same(readFileSync(again), readFileSync(path)), 'same(readFileSync(again), readFileSync(path))');
  // Saving into another folder makes a side file there.
  const dir2 = tmp();
  saveModel(loadModel(again), join(dir2, 'moved.onnx'));
  assert.ok(existsSync(join(dir2, 'moved.onnx.data')), "existsSync(join(dir2, 'moved.onnx.data'))");
  const moved = loadModel(join(dir2, 'moved.onnx'));
  for (const t of big) assert.deepEqual([...moved.graph.initializers.get(t.name)!.toFloat32()], [...t.toFloat32()]);
  // The side file must not overwrite the data the model is reading.
  assert.throws(() => saveModel(loaded, join(dir, 'ext.onnx'), { externalDataThreshold: 16 }), (e: unknown) => e instanceof DnnfuseError && /still reads its data/.test(e.message));
});

test('external data: missing or short file, bad location -> one-line error naming the tensor and path', () => {
  const dir = tmp();
  const path = join(dir, 'ext.onnx');
  saveModel(smallConvModel(4), path, { externalDataThreshold: 256 });
  const data = join(dir, 'ext.onnx.data');
  const full = readFileSync(data);
  writeFileSync(data, full.subarray(0, 10));
  assert.throws(() => loadModel(path), (e: unknown) => e instanceof DnnfuseError && e.exitCode === 2 && /tensor '.+'.*ext\.onnx\.data/.test(e.message) && !e.message.includes('\n'));
  writeFileSync(data, full);
  const msg = decodeRaw(readFileSync(path));
  const t = msg.graph.initializer.find((x: Msg) => x.data_location === 1);
  t.external_data.find((e: Msg) => e.key === 'location').value = 'nope.bin';
  writeFileSync(path, encodeMsg(msg));
  assert.throws(() => loadModel(path), (e: unknown) => e instanceof DnnfuseError && e.message.includes(`'${t.name}'`) && e.message.includes('nope.bin'));
  t.external_data.find((e: Msg) => e.key === 'location').value = '../escape.bin';
  writeFileSync(path, encodeMsg(msg));
  assert.throws(() => loadModel(path), (e: unknown) => e instanceof DnnfuseError && /must be a relative path inside/.test(e.message));
});

test('models over 2 GiB: external data at offsets beyond 2^31 is read by slice (sparse file)', () => {
  const dir = tmp();
  const data = join(dir, 'weights.bin');
  const offset = 2 ** 31 + 4096 * 3; // past the 2 GiB mark
  const values = Float32Array.from([1, 2, 3, 4]);
  const fd = fs.openSync(data, 'w');
  fs.ftruncateSync(fd, offset + 16 + 2 ** 30); // sparse: no disk blocks used
  fs.writeSync(fd, new Uint8Array(values.buffer), 0, 16, offset);
  fs.closeSync(fd);
  const msg = exoticModelMsg();
  msg.graph.initializer.push({ name: 'huge', data_type: 1, dims: [4], data_location: 1, external_data: [{ key: 'location', value: 'weights.bin' }, { key: 'offset', value: String(offset) }, { key: 'length', value: '16' }] });
  const path = join(dir, 'big.onnx');
  const bytes = encodeMsg(msg);
  writeFileSync(path, bytes);
  const model = loadModel(path);
  const t = model.graph.initializers.get('huge')!;
  assert.deepEqual(t.source, { kind: 'external', path: data, offset, length: 16 });
  assert.deepEqual([...t.toFloat32()], [1, 2, 3, 4]);
  assert.ok(statSync(data).size > 2 ** 31, 'statSync(data).size > 2 ** 31');
  const out = join(dir, 'big2.onnx');
  saveModel(model, out);
  assert.ok(same(readFileSync(out), bytes), 'external entries kept verbatim');
});

test('the written model loads in onnxruntime and computes the same outputs', async () => {
  const ort = await import('onnxruntime-node');
  const dir = tmp();
  const model = smallConvModel(5);
  const p1 = join(dir, 'a.onnx');
  saveModel(model, p1);
  const p2 = join(dir, 'b.onnx');
  saveModel(loadModel(p1), p2, { externalDataThreshold: 128 });
  const input = new ort.Tensor('float32', Float32Array.from({ length: 3 * 16 * 16 }, (_, i) => Math.sin(i)), [1, 3, 16, 16]);
  const run = async (p: string) => {
    const s = await ort.InferenceSession.create(p);
    const r = await s.run({ input });
    return r[s.outputNames[0]].data as Float32Array;
  };
  const [a, b] = [await run(p1), await run(p2)];
  assert.equal(a.length, 10);
  assert.deepEqual([...a], [...b]);
});

test('shared mobilenet_v2 round-trips byte for byte with zero-copy initializers', { skip: sharedModelsMissing() }, () => {
  const p = sharedModelPath('mobilenet_v2');
  const bytes = readFileSync(p);
  const model = decodeModel(bytes);
  let raw = 0;
  for (const t of model.graph.initializers.values()) if (t.source.kind === 'raw' && t.source.bytes.buffer === bytes.buffer) raw++;
  assert.equal(raw, model.graph.initializers.size);
  assert.ok(same(encodeModel(model), bytes), 'same(encodeModel(model), bytes)');
});

test('rawField helper sanity (unknown varint and bytes fields survive)', () => {
  const msg = { ir_version: 8, graph: { name: 'g' }, opset_import: [{ version: 13 }], $unknowns: [rawField(500, 1), rawField(501, 'x')] };
  const bytes = encodeMsg(msg);
  assert.ok(same(encodeModel(decodeModel(bytes)), bytes), 'same(encodeModel(decodeModel(bytes)), bytes)');
});

test('inline data over the 2 GiB protobuf limit is moved to a side file automatically', () => {
  const dir = tmp();
  const model = smallConvModel(6);
  // A stand-in for a > 2 GiB weight: dims claim 2^29 + 2^20 floats (2.004 GiB); its 16 real
  // bytes are what gets written. Only the size decision is under test here.
  model.graph.setInitializer(new Tensor('huge_w', DataType.FLOAT, [2 ** 29 + 2 ** 20], { kind: 'raw', bytes: new Uint8Array(16) }));
  const path = join(dir, 'auto.onnx');
  saveModel(model, path);
  assert.ok(existsSync(join(dir, 'auto.onnx.data')), 'side file written');
  const m = decodeRaw(readFileSync(path));
  const huge = m.graph.initializer.find((x: Msg) => x.name === 'huge_w');
  assert.equal(huge.data_location, 1);
  assert.equal(huge.external_data.find((e: Msg) => e.key === 'location').value, 'auto.onnx.data');
});

test('written models pass python onnx.checker (builder-made and edited)', () => {
  const py = '/usr/bin/python3';
  if (!fs.existsSync(py)) return void console.log('# /usr/bin/python3 absent: skipped');
  const dir = tmp();
  const a = join(dir, 'a.onnx');
  saveModel(smallConvModel(8), a);
  const edited = loadModel(a);
  edited.graph.nodes[0].name = 'first';
  edited.metadata.push({ key: 'k', value: 'v' });
  const b = join(dir, 'b.onnx');
  saveModel(edited, b, { externalDataThreshold: 64 });
  const r = spawnSync(py, ['-c', 'import sys, onnx\nfor p in sys.argv[1:]:\n    onnx.checker.check_model(onnx.load(p), full_check=True)\nprint("ok")', a, b], { encoding: 'utf8' });
  if (r.status !== 0 && /No module named/.test(r.stderr)) return void console.log('# python onnx absent: skipped');
  assert.equal(r.stdout.trim(), 'ok', r.stderr);
});

test('external data inside a subgraph: kept when saved next to it, relocated when saved elsewhere', () => {
  const dir = tmp();
  writeFileSync(join(dir, 'sub.bin'), new Uint8Array(Float32Array.from([1, 2]).buffer));
  const msg = exoticModelMsg();
  const ifNode = msg.graph.node.find((n: Msg) => n.op_type === 'If');
  ifNode.attribute[0].g = { ...ifNode.attribute[0].g, initializer: [{ name: 'sub_w', data_type: 1, dims: [2], data_location: 1, external_data: [{ key: 'location', value: 'sub.bin' }] }] };
  const path = join(dir, 'm.onnx');
  const bytes = encodeMsg(msg);
  writeFileSync(path, bytes);
  const model = loadModel(path);
  saveModel(model, join(dir, 'same-folder.onnx'));
  assert.ok(same(readFileSync(join(dir, 'same-folder.onnx')), bytes), 'verbatim');
  // Subgraphs are IR graphs: their initializers move like the main graph's.
  const other = join(tmp(), 'elsewhere.onnx');
  saveModel(model, other);
  const back = loadModel(other);
  const w = back.graph.nodes.find((n) => n.opType === 'If')!.subgraphs()[0].initializers.get('sub_w')!;
  assert.deepEqual([...w.toFloat32()], [1, 2]);
});

test('absent optional fields stay absent (no data_type, no name, empty tensor, attribute without type)', () => {
  const msg = {
    ir_version: 3, opset_import: [{ version: 9 }],
    graph: {
      node: [{ op_type: 'Constant', output: ['c'], attribute: [{ name: 'value', t: { dims: [0] } }] }, { op_type: 'Identity', input: ['c'], output: ['y'], attribute: [{ name: 'legacy', i: 3 }] }],
      initializer: [{ dims: [0], name: 'empty' }],
      output: [{ name: 'y' }],
    },
  };
  const bytes = encodeMsg(msg);
  const model = decodeModel(bytes);
  assert.equal(model.graph.nodes[1].attrInt('legacy'), 3, 'IR-1 style attribute without type is inferred');
  assert.equal(model.graph.initializers.get('empty')!.dataType, 0);
  assert.ok(same(encodeModel(model), bytes), 'byte-identical');
});

test('string tensors holding arbitrary (non-UTF-8) bytes round-trip unchanged', () => {
  const msg = exoticModelMsg();
  const str = msg.graph.initializer.find((t: Msg) => t.name === 'str');
  str.string_data = [Uint8Array.from([0xff, 0xfe, 0x00]), new TextEncoder().encode('ok')];
  const bytes = encodeMsg(msg);
  const model = decodeModel(bytes);
  assert.ok(same(encodeModel(model), bytes), 'byte-identical');
  const s = model.graph.initializers.get('str')!.source;
  assert.ok(s.kind === 'values', 'values');
  (s.values as string[])[1] = 'changed';
  const back = decodeRaw(encodeModel(model)).graph.initializer.find((t: Msg) => t.name === 'str');
  assert.deepEqual([...back.string_data[0]], [0xff, 0xfe, 0x00]);
  assert.equal(new TextDecoder().decode(back.string_data[1]), 'changed');
});

test('float_data / double_data keep NaN payloads bit for bit, packed or unpacked', () => {
  const msg = exoticModelMsg();
  const bits = new Uint8Array(12);
  const dv = new DataView(bits.buffer);
  dv.setUint32(0, 0x7fa00000, true); // signalling NaN
  dv.setUint32(4, 0x7fc00001, true); // quiet NaN with payload
  dv.setUint32(8, 0xffc00000, true);
  msg.graph.initializer.push({ name: 'nan', data_type: 1, dims: [5], float_data: [bits], $unknowns: [rawField(4, 1.5, 5), rawField(4, -2, 5)] });
  const bytes = encodeMsg(msg);
  const model = decodeModel(bytes);
  assert.ok(same(encodeModel(model), bytes), 'byte-identical');
  const t = model.graph.initializers.get('nan')!;
  const v = t.source.kind === 'values' ? (t.source.values as Float32Array) : undefined;
  assert.ok(v instanceof Float32Array, 'Float32Array values');
  assert.deepEqual([...new Uint8Array(v!.buffer, v!.byteOffset, 12)], [...bits]);
  assert.deepEqual([...v!.subarray(3)], [1.5, -2]);
  v![3] = 7; // in-place edit: written as one packed run
  const back = decodeRaw(encodeModel(model)).graph.initializer.find((x: Msg) => x.name === 'nan');
  assert.equal(back.float_data.length, 1);
  assert.deepEqual([...new Float32Array(Uint8Array.from(back.float_data[0]).buffer).subarray(3)], [7, -2]);
  assert.deepEqual([...back.float_data[0].subarray(0, 12)], [...bits]);
});
