/** saveModel's gathered writes (lazy.ts writeParts): lazily loaded ranges read together into one
 * arena and written with the structure between them; ranges larger than the arena copied in
 * chunks; several arena fills per save. The saved file equals the in-memory encoding. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import fc from 'fast-check';
import { decodeModel, encodeModel, loadModel, saveModel } from '../../src/onnx/io.ts';
import { LazyRawSource } from '../../src/onnx/lazy.ts';
import { Tensor } from '../../src/ir/tensor.ts';
import { DataType } from '../../src/ir/dtype.ts';
import { ModelProto } from '../../src/onnx/schema.ts';
import { sharedModelPath, sharedModelsMissing } from '../../src/models/shared.ts';
import { rawInitializersModel, sameBytes as same } from '../support/bytes.ts';


const modelMsg = (sizes: number[]) => rawInitializersModel(sizes, 1, (i) => (i % 2 ? `t${i}` : undefined));

test('random lazily loaded models: save (with a tensor edited or not) writes exactly the encoding', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-gather-'));
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 16_384, max: 300_000 }), fc.integer({ min: 900_000, max: 1_200_000 })), { minLength: 2, maxLength: 8 }),
      fc.option(fc.nat(), { nil: undefined }),
      (sizes, edit) => {
        sizes = [...sizes, 300_000];
        const path = join(dir, 'm.onnx');
        writeFileSync(path, ModelProto.encode(modelMsg(sizes)).finish());
        const m = loadModel(path);
        assert.ok([...m.graph.initializers.values()].some((t) => t.source instanceof LazyRawSource));
        if (edit !== undefined) {
          const name = `w${edit % sizes.length}`;
          const t = m.graph.initializers.get(name)!;
          m.graph.initializers.set(name, new Tensor(name, DataType.FLOAT, t.dims, { kind: 'values', values: new Float32Array(t.size).fill(1.5) }));
        }
        const out = join(dir, 'o.onnx');
        saveModel(m, out);
        const want = encodeModel(m);
        assert.ok(same(readFileSync(out), want));
        if (edit === undefined) assert.ok(same(want, readFileSync(path)));
        else assert.equal(decodeModel(want).graph.initializers.get(`w${edit % sizes.length}`)!.toFloat32()[0], 1.5);
      },
    ),
    { numRuns: 12, seed: 1515 },
  );
});

test('a tensor larger than the 1 MiB arena, and several arena fills, are written byte for byte', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-gather-'));
  const path = join(dir, 'big.onnx');
  const bytes = ModelProto.encode(modelMsg([5_000_000, 100, 3_000_000, 3_000_000, 7, 2_500_000])).finish(); // 20 MB, 12 MB, 12 MB, 10 MB
  writeFileSync(path, bytes);
  const out = join(dir, 'o.onnx');
  saveModel(loadModel(path), out);
  assert.ok(same(readFileSync(out), bytes));
});

test('shared resnet50 (102 MB, several arena fills): lazy load -> save gives the file back byte for byte', { skip: sharedModelsMissing() }, () => {
  const p = sharedModelPath('resnet50');
  const out = join(mkdtempSync(join(tmpdir(), 'dnnfuse-gather-')), 'r.onnx');
  saveModel(loadModel(p), out);
  assert.ok(same(readFileSync(out), readFileSync(p)));
});
