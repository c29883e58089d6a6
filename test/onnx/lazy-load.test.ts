/** loadModel's lazy path (src/onnx/lazy.ts): large initializers stay on disk until used, and
 * every observable result equals the whole-file path (decodeModel of the file's bytes). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import fc from 'fast-check';
import { decodeModel, encodeModel, loadModel, saveModel } from '../../src/onnx/io.ts';
import { LazyRawSource, LAZY_MIN_FILE, LAZY_MIN_TENSOR, scanModelFile } from '../../src/onnx/lazy.ts';
import { DnnfuseError } from '../../src/errors.ts';
import { Tensor } from '../../src/ir/tensor.ts';
import { DataType } from '../../src/ir/dtype.ts';
import { bigModelMsg, encodeMsg } from './helpers.ts';
import type { Msg } from '../../src/onnx/schema.ts';
import { sharedModelPath, sharedModelsMissing } from '../../src/models/shared.ts';
import { sameBytes as same } from '../support/bytes.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'dnnfuse-lazy-'));

function writeModel(msg: Msg): { dir: string; path: string; bytes: Uint8Array } {
  const dir = tmp();
  const path = join(dir, 'm.onnx');
  const bytes = encodeMsg(msg);
  writeFileSync(path, bytes);
  return { dir, path, bytes };
}

test('large initializers stay on disk; values, encode and save equal the whole-file path', () => {
  const { dir, path, bytes } = writeModel(bigModelMsg([300_000, 20, 70_000, 16_384, 400_000]));
  assert.ok(bytes.length > LAZY_MIN_FILE);
  const lazy = loadModel(path);
  const eager = decodeModel(readFileSync(path), { baseDir: dir });
  const kinds = [...lazy.graph.initializers.values()].map((t) => t.source instanceof LazyRawSource);
  assert.ok(kinds.filter(Boolean).length >= 3, `lazy tensors: ${kinds}`);
  assert.ok([...lazy.graph.initializers.values()].every((t) => !(t.source instanceof LazyRawSource) || t.source.pending), 'nothing read at load');
  // encode and save copy the ranges without reading them into the tensors
  assert.ok(same(encodeModel(lazy), bytes), 'encodeModel(lazy) is the file');
  const out = join(dir, 'out.onnx');
  saveModel(lazy, out, { inputs: [path] });
  assert.ok(same(readFileSync(out), bytes), 'saved bytes are the file');
  assert.deepEqual(readdirSync(dir).sort(), ['m.onnx', 'out.onnx'], 'no temporary files left');
  for (const t of lazy.graph.initializers.values()) {
    if (!t.name.startsWith('big')) continue;
    const e = eager.graph.initializers.get(t.name)!;
    assert.ok(same(t.bytes(), e.bytes()), t.name);
    assert.deepEqual(t.dims, e.dims);
  }
  // read once, then kept
  const t0 = lazy.graph.initializers.get('big0')!;
  assert.equal(t0.bytes(), t0.bytes());
});

test('random models: lazy load -> save is byte-identical, and a changed tensor is written', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 200_000 }), { minLength: 1, maxLength: 6 }), fc.boolean(), (sizes, extras) => {
      const total = sizes.reduce((a, b) => a + b, 0);
      if (total * 4 < LAZY_MIN_FILE) sizes = [...sizes, LAZY_MIN_FILE / 4];
      const { dir, path, bytes } = writeModel(bigModelMsg(sizes, extras));
      const m = loadModel(path);
      const out = join(dir, 'o.onnx');
      saveModel(m, out);
      assert.ok(same(readFileSync(out), bytes));
      // replace one large tensor's data: the writer must use the new bytes
      const name = `big${sizes.findIndex((n) => n * 4 >= LAZY_MIN_TENSOR) >= 0 ? sizes.findIndex((n) => n * 4 >= LAZY_MIN_TENSOR) : 0}`;
      const t = m.graph.initializers.get(name)!;
      const v = new Float32Array(t.size).fill(0.5);
      m.graph.initializers.set(name, new Tensor(name, DataType.FLOAT, t.dims, { kind: 'values', values: v }));
      const back = decodeModel(encodeModel(m));
      assert.deepEqual([...back.graph.initializers.get(name)!.toFloat32().slice(0, 4)], [0.5, 0.5, 0.5, 0.5].slice(0, Math.min(4, t.size)));
      const other = [...m.graph.initializers.keys()].find((k) => k.startsWith('big') && k !== name);
      if (other) assert.ok(same(back.graph.initializers.get(other)!.bytes(), m.graph.initializers.get(other)!.bytes()), other);
    }),
    { numRuns: 12, seed: 15 },
  );
});

test('a model file changed after a lazy load: reading a tensor fails with a one-line error', () => {
  const { path } = writeModel(bigModelMsg([300_000]));
  const m = loadModel(path);
  appendFileSync(path, Uint8Array.from([0]));
  assert.throws(
    () => m.graph.initializers.get('big0')!.bytes(),
    (e: unknown) => e instanceof DnnfuseError && e.exitCode === 2 && /big0.*changed on disk/.test(e.message) && !e.message.includes('\n'),
  );
});

test('saving over the file a lazy model reads from keeps the model readable and the bytes right', () => {
  const { path, bytes } = writeModel(bigModelMsg([300_000, 100_000]));
  const m = loadModel(path);
  saveModel(m, path);
  assert.ok(same(readFileSync(path), bytes));
  assert.ok(same(m.graph.initializers.get('big0')!.bytes(), decodeModel(bytes).graph.initializers.get('big0')!.bytes()));
  saveModel(m, path); // again, from the tensors now in memory
  assert.ok(same(readFileSync(path), bytes));
});

test('corrupt large files: the scanner gives up and loadModel reports the whole-file error', () => {
  const { path, bytes } = writeModel(bigModelMsg([300_000]));
  writeFileSync(path, bytes.subarray(0, bytes.length - 1000)); // truncated inside a raw_data
  assert.equal(scanModelFile(path), undefined);
  assert.throws(() => loadModel(path), (e: unknown) => e instanceof DnnfuseError && e.exitCode === 2 && /truncated or corrupt/.test(e.message) && e.message.includes(path));
  // raw_data of the wrong size for the shape: same check as the whole-file path
  const bad = bigModelMsg([300_000]);
  (bad.graph.initializer as Msg[]).at(-1)!.dims = [300_001];
  const w = writeModel(bad);
  assert.throws(() => loadModel(w.path), (e: unknown) => e instanceof DnnfuseError && /raw_data has 1200000 bytes, the shape needs 1200004/.test(e.message));
});

test('shared mobilenet_v2 and resnet50: lazy load -> encode gives the file back byte for byte', { skip: sharedModelsMissing() }, () => {
  for (const name of ['mobilenet_v2', 'resnet50']) {
    const p = sharedModelPath(name);
    const m = loadModel(p);
    assert.ok([...m.graph.initializers.values()].some((t) => t.source instanceof LazyRawSource), `${name}: lazy`);
    assert.ok(same(encodeModel(m), readFileSync(p)), name);
  }
});
