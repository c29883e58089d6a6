/**
 * Graph inputs of every element type onnxruntime-node feeds: int16, uint16, uint32 and uint64
 * besides the float, int32/64, int8/uint8 and bool ones (an int16 PCM audio input, a uint32 id).
 * A HostTensor's `type` tells a uint16 Uint16Array from float16 bit patterns and a bool Uint8Array
 * from uint8; random feeds, .npy and TensorProto files give every type, and a feed whose type
 * does not fit the model's declaration is a one-line error naming it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileModel } from '../../src/compile.ts';
import { encodeModel } from '../../src/onnx/io.ts';
import { modelOf, valueInfo } from '../support/proto.ts';
import { DataType } from '../../src/ir/dtype.ts';
import { hostTensorType, randomFeeds, runModel, type HostTensor } from '../../src/analysis/ort.ts';
import { loadInputs, readNpy } from '../../src/analysis/inputs.ts';
import { isDnnfuseError } from '../../src/errors.ts';
import { npy } from '../support/npy.ts';

const NODE = '/usr/share/libonnx-testdata/data/node';
const skipTd = existsSync(NODE) ? false : `${NODE} not found (apt-get install libonnx-testdata; .ci/run does it)`;

/** x (of `et`, [2,3]) -> Cast to float -> Relu -> y, and x -> Identity -> z (its own type back). */
function castModel(et: number) {
  return modelOf({
    node: [
      { op_type: 'Cast', name: 'cast', input: ['x'], output: ['f'], attribute: [{ name: 'to', type: 2, i: DataType.FLOAT }] },
      { op_type: 'Relu', name: 'relu', input: ['f'], output: ['y'] },
      { op_type: 'Identity', name: 'id', input: ['x'], output: ['z'] },
    ],
    input: [valueInfo('x', et, [2, 3])],
    output: [valueInfo('y', DataType.FLOAT, [2, 3]), valueInfo('z', et, [2, 3])],
  });
}

const CASES = [
  { et: DataType.INT16, type: 'int16', C: Int16Array, descr: '<i2' },
  { et: DataType.UINT16, type: 'uint16', C: Uint16Array, descr: '<u2' },
  { et: DataType.UINT32, type: 'uint32', C: Uint32Array, descr: '<u4' },
  { et: DataType.UINT64, type: 'uint64', C: BigUint64Array, descr: '<u8' },
] as const;

test('random feeds give int16, uint16, uint32 and uint64 inputs their typed array, and onnxruntime runs them', async () => {
  for (const c of CASES) {
    const model = castModel(c.et);
    const feeds = randomFeeds(model, 3);
    assert.ok(feeds.x.data instanceof c.C, c.type);
    assert.equal(hostTensorType(feeds.x), c.type);
    const out = await runModel(model, feeds);
    // y = relu(float(x)) equals x's values; z comes back with x's type.
    assert.deepEqual([...out.y.data].map(Number), [...feeds.x.data].map(Number), c.type);
    assert.equal(hostTensorType(out.z), c.type, `${c.type} output`);
  }
});

test('.npy files of i2, u2, u4 and u8 feed those inputs; compile checks the rewritten model on them', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-int-inputs-'));
  try {
    for (const c of CASES) {
      const values = c.C === BigUint64Array ? BigUint64Array.of(0n, 1n, 2n, 3n, 4n, 2n ** 40n) : new (c.C as Int16ArrayConstructor)([0, 1, 2, 300, 40, 5]);
      const file = join(dir, `${c.type}.npy`);
      writeFileSync(file, npy(c.descr, [2, 3], values));
      const t = readNpy(file);
      assert.ok(t.data instanceof c.C);
      assert.equal(hostTensorType(t), c.type);
      const modelFile = join(dir, `${c.type}.onnx`);
      writeFileSync(modelFile, encodeModel(castModel(c.et)));
      const r = await compileModel(modelFile, { inputs: [file], pipeline: 'fold-constants' });
      assert.equal(r.schedule.verification?.checked, true, `${c.type}: ${r.schedule.verification?.reason}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a feed whose type does not fit is a one-line error naming the input; a type tag that does not fit its data too', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-int-inputs-'));
  try {
    const file = join(dir, 'x.npy');
    writeFileSync(file, npy('<i4', [2, 3], Int32Array.of(1, 2, 3, 4, 5, 6)));
    assert.throws(() => loadInputs(castModel(DataType.INT16), [file]), (e) => isDnnfuseError(e) && e.exitCode === 2 && e.message === `--inputs ${file}: 'x' holds int32, the model declares int16`);
    // float16 bits (a .npy f2) given for a uint16 input are fed as uint16: both are 16-bit patterns.
    writeFileSync(file, npy('<f2', [2, 3], Uint16Array.of(1, 2, 3, 4, 5, 6)));
    assert.equal(hostTensorType(loadInputs(castModel(DataType.UINT16), [file]).x), 'uint16');
    const bad: HostTensor = { dims: [1], data: Float32Array.of(1), type: 'int32' };
    assert.throws(() => hostTensorType(bad, "input 'x'"), (e) => isDnnfuseError(e) && e.message === "input 'x': type 'int32' does not fit its data, a Float32Array (float32)");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a bfloat16 graph input is refused in one line naming it (onnxruntime-node has no bfloat16 tensor)', () => {
  assert.throws(() => randomFeeds(castModel(DataType.BFLOAT16)), (e) => isDnnfuseError(e) && /^graph input 'x' is bfloat16, which onnxruntime-node cannot feed/.test(e.message));
});

test('ONNX conformance models with int16, uint16, uint32 and uint64 inputs compile and check on their own test data', { skip: skipTd, timeout: 180_000 }, async () => {
  for (const name of ['test_mod_mixed_sign_int16', 'test_mod_uint16', 'test_max_uint32', 'test_min_uint64', 'test_bitshift_left_uint64']) {
    const dir = join(NODE, name);
    const r = await compileModel(join(dir, 'model.onnx'), { inputs: [join(dir, 'test_data_set_0')] });
    assert.equal(r.schedule.verification?.checked, true, `${name}: ${r.schedule.verification?.reason}`);
  }
});
