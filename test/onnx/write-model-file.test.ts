/** writeModelFile (src/onnx/io.ts), the piecewise writer compile's onnxruntime check reads the
 * rewritten model from: the file holds exactly encodeModel's bytes (lazily loaded tensors copied
 * from the source file), it never replaces an existing file, and a model reading external data
 * is refused (false, nothing written). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { encodeModel, loadModel, saveModel, writeModelFile } from '../../src/onnx/io.ts';
import { LazyRawSource } from '../../src/onnx/lazy.ts';
import { Tensor } from '../../src/ir/tensor.ts';
import { smallConvModel } from './helpers.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'dnnfuse-writefile-'));

/** smallConvModel with one 2 MiB initializer, so that loadModel leaves it on disk. */
function bigFile(dir: string): string {
  const m = smallConvModel(3);
  const values = new Float32Array(1 << 19);
  for (let i = 0; i < values.length; i++) values[i] = Math.sin(i);
  m.graph.initializers.set('big', Tensor.float32('big', [values.length], values));
  const p = join(dir, 'big.onnx');
  saveModel(m, p);
  return p;
}

test('writeModelFile writes encodeModel bytes; lazily loaded tensors are copied from the file, not read into the model', () => {
  const dir = tmp();
  const model = loadModel(bigFile(dir));
  const lazy = model.graph.initializers.get('big')!.source;
  assert.ok(lazy instanceof LazyRawSource && lazy.pending, 'the large tensor is left on disk by loadModel');
  const out = join(dir, 'copy.onnx');
  assert.equal(writeModelFile(model, out), true);
  assert.ok(lazy.pending, 'writing did not read the tensor into memory');
  assert.deepEqual(new Uint8Array(readFileSync(out)), encodeModel(model));
});

test('writeModelFile refuses to replace an existing file', () => {
  const dir = tmp();
  const out = join(dir, 'x.onnx');
  writeFileSync(out, 'keep');
  assert.throws(() => writeModelFile(smallConvModel(1), out), /EEXIST/);
  assert.equal(readFileSync(out, 'utf8'), 'keep');
});

test('writeModelFile returns false and writes nothing for a model with external data', () => {
  const dir = tmp();
  const p = join(dir, 'ext.onnx');
  saveModel(smallConvModel(2), p, { externalDataThreshold: 0 });
  const model = loadModel(p);
  assert.ok([...model.graph.initializers.values()].some((t) => t.source.kind === 'external'));
  const out = join(dir, 'copy.onnx');
  assert.equal(writeModelFile(model, out), false);
  assert.equal(existsSync(out), false);
});
