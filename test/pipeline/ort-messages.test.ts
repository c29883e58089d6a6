/**
 * What onnxruntime says reaches the user once, in dnnfuse's one line: its own log of a failed
 * session is off (it printed a red, timestamped copy of the error before ours), and the C++
 * source location and failed assertion that precede its words are dropped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ortMessage } from '../../src/analysis/ort.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const NODE = '/usr/share/libonnx-testdata/data/node';
const skip = existsSync(NODE) ? false : `${NODE} not found (apt-get install libonnx-testdata; .ci/run does it)`;

test('ortMessage keeps onnxruntime\'s words, not its source location or assertion', () => {
  assert.equal(
    ortMessage(new Error('Exception during initialization: /onnxruntime_src/onnxruntime/core/providers/cpu/rnn/deep_cpu_gru.h:56 onnxruntime::DeepCpuGruOp::DeepCpuGruOp(const onnxruntime::OpKernelInfo&) layout_ == 0 was false. Batchwise recurrent operations (layout == 1) are not supported.\nmore')),
    'Exception during initialization: Batchwise recurrent operations (layout == 1) are not supported.',
  );
  assert.equal(ortMessage(new Error("Could not find an implementation for Max(13) node with name ''")), "Could not find an implementation for Max(13) node with name ''");
  assert.equal(ortMessage('plain'), 'plain');
});

test('compile of a model onnxruntime cannot load: no onnxruntime log line, the reason once in dnnfuse\'s words', { skip, timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-ortmsg-'));
  try {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'dnnfuse.mjs'), 'compile', join(NODE, 'test_gru_batchwise', 'model.onnx'), '-o', join(dir, 'out')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.deepEqual(lines.filter((l) => !l.startsWith('dnnfuse: ')), [], 'every stderr line is dnnfuse\'s');
    assert.ok(lines.includes('dnnfuse: onnxruntime check skipped: onnxruntime cannot run the original model (onnxruntime cannot load the model: Exception during initialization: Batchwise recurrent operations (layout == 1) are not supported. If you need support create a github issue with justification.)'), r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a string graph input: the check says random inputs cannot be drawn for it, and logs no range for it', { skip, timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-ortmsg-'));
  try {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'dnnfuse.mjs'), 'compile', join(NODE, 'test_strnormalizer_nostopwords_nochangecase', 'model.onnx'), '-o', join(dir, 'out')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stderr.includes("dnnfuse: onnxruntime check skipped: graph input 'x' is a string tensor: random inputs cannot be drawn for it; give them with --inputs"), r.stderr);
    assert.doesNotMatch(r.stderr, /check input: x /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
