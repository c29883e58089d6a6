/**
 * User-given inputs for the onnxruntime check (`--inputs`): .npy files and ONNX TensorProto .pb
 * files (ONNX's own test data, Debian's libonnx-testdata), by name or in graph-input order, or
 * a test_data_set folder; bad files are one-line errors (exit 2) naming the file, before any
 * pass runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { readNpy, readTensorPb, loadInputs } from '../../src/analysis/inputs.ts';
import { compileModel } from '../../src/compile.ts';
import { loadModel } from '../../src/onnx/io.ts';
import { isDnnfuseError } from '../../src/errors.ts';
import { npy } from '../support/npy.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const TD = '/usr/share/libonnx-testdata/data/pytorch-converted/test_Conv2d';
const skipTd = existsSync(TD) ? false : `${TD} not found (apt-get install libonnx-testdata; .ci/run does it)`;

test('readNpy reads float32, float64, int64 and bool arrays; rejects Fortran order and big-endian', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-npy-'));
  try {
    writeFileSync(join(dir, 'f.npy'), npy('<f4', [2, 3], Float32Array.of(1, 2, 3, 4, 5, 6)));
    const f = readNpy(join(dir, 'f.npy'));
    assert.deepEqual(f.dims, [2, 3]);
    assert.deepEqual([...f.data], [1, 2, 3, 4, 5, 6]);
    writeFileSync(join(dir, 'd.npy'), npy('<f8', [2], Float64Array.of(0.5, -1)));
    assert.ok(readNpy(join(dir, 'd.npy')).data instanceof Float64Array);
    writeFileSync(join(dir, 'i.npy'), npy('<i8', [], BigInt64Array.of(16000n)));
    const i = readNpy(join(dir, 'i.npy'));
    assert.deepEqual(i.dims, []);
    assert.equal(i.data[0], 16000n);
    writeFileSync(join(dir, 'b.npy'), npy('|b1', [3], Uint8Array.of(1, 0, 1)));
    assert.deepEqual([...readNpy(join(dir, 'b.npy')).data], [1, 0, 1]);
    writeFileSync(join(dir, 'big.npy'), npy('>f4', [1], Float32Array.of(1)));
    assert.throws(() => readNpy(join(dir, 'big.npy')), /dtype '>f4' is not supported/);
    writeFileSync(join(dir, 'fo.npy'), Buffer.from(npy('<f4', [1], Float32Array.of(1)).toString('latin1').replace("'fortran_order': False", "'fortran_order': True "), 'latin1'));
    assert.throws(() => readNpy(join(dir, 'fo.npy')), /Fortran-order/);
    writeFileSync(join(dir, 'junk.npy'), 'not numpy');
    assert.throws(() => readNpy(join(dir, 'junk.npy')), /junk\.npy: not a \.npy file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--inputs: a libonnx-testdata test_data_set folder, its .pb file and the same values as .npy give the same check', { skip: skipTd, timeout: 120_000 }, async () => {
  const pb = readTensorPb(join(TD, 'test_data_set_0', 'input_0.pb'));
  const model = loadModel(join(TD, 'model.onnx'));
  const folder = loadInputs(model, [join(TD, 'test_data_set_0')]);
  const name = model.graph.inputs[0].name;
  assert.deepEqual(folder[name].dims, pb.tensor.dims);
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-inputs-'));
  try {
    writeFileSync(join(dir, 'x.npy'), npy('<f4', pb.tensor.dims, pb.tensor.data as Float32Array));
    const results = [];
    for (const inputs of [[join(TD, 'test_data_set_0')], [join(TD, 'test_data_set_0', 'input_0.pb')], [`${name}=${join(dir, 'x.npy')}`]]) {
      const r = await compileModel(join(TD, 'model.onnx'), { pipeline: 'fold-constants,fold-bn', inputs });
      assert.equal(r.schedule.verification?.checked, true);
      assert.equal(r.schedule.verification?.inputs, 'files');
      assert.equal(r.schedule.verification?.seed, undefined);
      results.push(r.schedule.verification?.outputs);
    }
    assert.deepEqual(results[1], results[0]);
    assert.deepEqual(results[2], results[0]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--inputs: wrong shape, unknown name, missing input, wrong format are one-line errors with exit 2 and nothing written', { skip: skipTd, timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-inputs-bad-'));
  try {
    const name = loadModel(join(TD, 'model.onnx')).graph.inputs[0].name;
    writeFileSync(join(dir, 'small.npy'), npy('<f4', [1, 1], Float32Array.of(1)));
    writeFileSync(join(dir, 'x.txt'), '1 2 3');
    const cases: [string[], RegExp][] = [
      [[join(dir, 'small.npy')], /small\.npy: '.*' has shape \[1,1\], the model declares/],
      [[`nope=${join(dir, 'small.npy')}`], /no graph input named 'nope'/],
      [[join(dir, 'x.txt')], /expected a \.npy or a TensorProto \.pb file/],
      [[join(dir, 'missing.npy')], /no file or folder/],
    ];
    for (const [inputs, re] of cases) {
      await assert.rejects(compileModel(join(TD, 'model.onnx'), { pipeline: 'fold-constants', inputs }), (e) => isDnnfuseError(e) && e.exitCode === 2 && re.test(e.message));
    }
    const out = join(dir, 'out');
    const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'dnnfuse.mjs'), 'compile', join(TD, 'model.onnx'), '--inputs', `${name}=${join(dir, 'small.npy')}`, '-o', out], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.equal(r.stderr.trim().split('\n').filter((l) => l.startsWith('dnnfuse: ') && !/^dnnfuse: .*nodes;/.test(l)).length, 1, r.stderr);
    assert.ok(!existsSync(out));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--inputs: the empty test_data_set folder of a model without inputs (ONNX test_constant) is its inputs; an empty folder for a model with inputs is an error', { skip: skipTd, timeout: 120_000 }, async () => {
  const node = '/usr/share/libonnx-testdata/data/node/test_constant';
  const r = await compileModel(join(node, 'model.onnx'), { inputs: [join(node, 'test_data_set_0')] });
  assert.equal(r.schedule.verification?.checked, true, r.schedule.verification?.reason);
  await assert.rejects(compileModel(join(TD, 'model.onnx'), { inputs: [join(node, 'test_data_set_0')] }), (e) => isDnnfuseError(e) && /holds no input_<k>\.pb file/.test(e.message));
});
