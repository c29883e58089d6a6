/**
 * compile's onnxruntime check on models from ONNX's conformance data (Debian's libonnx-testdata)
 * that once broke it: a crash of the whole process (an optional output), a false failure (string
 * outputs read as numbers; two runs of an unseeded random op) and a rewritten model onnxruntime
 * could not load (MeanVarianceNormalization inside a fusion function). A sweep of `compile` over
 * all 932 node models found them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { compileModel } from '../../src/compile.ts';
import { allclose } from '../../src/analysis/compare.ts';

const NODE = '/usr/share/libonnx-testdata/data/node';
const skip = existsSync(NODE) ? false : `${NODE} not found (apt-get install libonnx-testdata; .ci/run does it)`;
const model = (name: string) => join(NODE, name, 'model.onnx');

test('an optional or sequence graph output: the check is skipped naming it (onnxruntime-node crashed the process fetching one)', { skip, timeout: 60_000 }, async () => {
  for (const [name, output] of [['test_if_opt', 'sequence'], ['test_if_seq', 'res']]) {
    const r = await compileModel(model(name), {});
    assert.equal(r.schedule.verification?.checked, false, name);
    assert.match(r.schedule.verification?.reason ?? '', new RegExp(`graph output '${output}' is not a tensor \\(a sequence, map or optional\\): onnxruntime-node cannot return it`));
  }
});

test('an output drawn from an unseeded random op is not compared; with a seed it is', { skip, timeout: 60_000 }, async () => {
  for (const [name, node, op] of [['test_bernoulli', 'Bernoulli_0', 'Bernoulli'], ['test_bernoulli_expanded', 'RandomUniformLike_0', 'RandomUniformLike']]) {
    const r = await compileModel(model(name), {});
    assert.equal(r.schedule.verification?.checked, false, name);
    assert.equal(r.schedule.verification?.reason, `output 'y' depends on node '${node}' (${op}), which draws new random numbers in every run (no seed attribute): two runs cannot be compared`);
  }
  const seeded = await compileModel(model('test_bernoulli_seed'), {});
  assert.equal(seeded.schedule.verification?.checked, true);
  assert.ok(seeded.schedule.verification?.outputs?.every((o) => o.ok));
});

test('string outputs are compared as strings (they were read as numbers and parked as nothing)', { skip, timeout: 60_000 }, async () => {
  const r = await compileModel(model('test_cast_FLOAT_to_STRING'), {});
  assert.equal(r.schedule.verification?.checked, true);
  assert.ok(r.schedule.verification?.outputs?.every((o) => o.ok));
});

test('allclose on string tensors: equal strings pass, a different one fails naming it, numerically equal spellings differ', () => {
  const t = (data: string[]) => ({ y: { dims: [data.length], data } });
  assert.equal(allclose(t(['a', '0.5']), t(['a', '0.5'])).ok, true);
  const miss = allclose(t(['a', '0.001']), t(['a', '1e-3']));
  assert.equal(miss.ok, false);
  assert.equal(miss.outputs[0].mismatched, 1);
  assert.equal(miss.outputs[0].reason, '1 of 2 strings differ; first at index 1: "1e-3" vs "0.001"');
});

test('MeanVarianceNormalization in a fusion function loads in onnxruntime and matches', { skip, timeout: 60_000 }, async () => {
  const r = await compileModel(model('test_mvn'), {});
  assert.equal(r.schedule.embedding?.functions, 1);
  assert.equal(r.schedule.verification?.checked, true);
  assert.ok(r.schedule.verification?.outputs?.every((o) => o.ok));
});

test('check inputs: indices into a graph input of fixed dims stay in range; a run failing on random inputs says to give real ones', { skip, timeout: 60_000 }, async () => {
  const gather = await compileModel(model('test_gather_2d_indices'), {});
  assert.equal(gather.schedule.verification?.checked, true);
  const expand = await compileModel(model('test_expand_dim_changed'), {});
  assert.equal(expand.schedule.verification?.checked, false);
  assert.match(expand.schedule.verification?.reason ?? '', /^onnxruntime cannot run the original model \(onnxruntime failed to run the model: .*\); the inputs were seeded random values: give real ones with --inputs$/);
  const given = await compileModel(model('test_expand_dim_changed'), { inputs: [join(NODE, 'test_expand_dim_changed', 'test_data_set_0')] });
  assert.equal(given.schedule.verification?.checked, true);
});

test('--inputs feeds bool, float16 and string .pb tensors as onnxruntime expects; a sequence input is a one-line refusal', { skip, timeout: 120_000 }, async () => {
  // bool inputs were fed as uint8 (onnxruntime: "expected tensor(bool)"), float16 and strings refused
  for (const name of ['test_and2d', 'test_where_example', 'test_cast_FLOAT16_to_FLOAT', 'test_strnormalizer_nostopwords_nochangecase']) {
    const r = await compileModel(model(name), { inputs: [join(NODE, name, 'test_data_set_0')] });
    assert.equal(r.schedule.verification?.checked, true, `${name}: ${r.schedule.verification?.reason}`);
    assert.equal(r.schedule.verification?.inputs, 'files');
  }
  await assert.rejects(compileModel(model('test_identity_sequence'), { inputs: [join(NODE, 'test_identity_sequence', 'test_data_set_0')] }), /^DnnfuseError: --inputs: graph input 'x' is a sequence: onnxruntime-node feeds tensors only$/);
});

test('allclose: equal infinities are equal and leave the cosine defined', () => {
  const r = allclose({ y: { dims: [3], data: new Float32Array([Infinity, 1, -Infinity]) } }, { y: { dims: [3], data: new Float32Array([Infinity, 1, -Infinity]) } });
  assert.equal(r.ok, true);
  assert.equal(r.outputs[0].cosine, 1);
});
