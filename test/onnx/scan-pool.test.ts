/** lazy.ts keeps the scanner's 64 KiB read windows between scans (fewer first-touch page faults
 * when a process loads model after model). A window is scratch: nothing a scan returns may point
 * into one. These tests load models one after another (and one with more windows than the pool
 * keeps) and check every earlier model still decodes and encodes to its file's exact bytes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import fc from 'fast-check';
import { encodeModel, loadModel, saveModel } from '../../src/onnx/io.ts';
import { LazyRawSource, scanModelFile } from '../../src/onnx/lazy.ts';
import { DataType } from '../../src/ir/dtype.ts';
import { ModelProto, type Msg } from '../../src/onnx/schema.ts';
import { bytesOf, sameBytes as same } from '../support/bytes.ts';

/** Float initializers of the given element counts, small and large interleaved, each read by a node. */
function modelBytes(sizes: number[], seed: number): Uint8Array {
  const msg: Msg = {
    ir_version: 8,
    opset_import: [{ domain: '', version: 17 }],
    graph: {
      name: `g${seed}`,
      node: sizes.map((_, i) => ({ op_type: 'Identity', name: `n${i}_${seed}`, input: [`w${i}`], output: [`y${i}`] })),
      initializer: sizes.map((n, i) => ({ name: `w${i}`, data_type: DataType.FLOAT, dims: [n], raw_data: bytesOf(n * 4, seed * 1000 + i) })),
      output: sizes.map((_, i) => ({ name: `y${i}` })),
    },
  };
  return ModelProto.encode(msg).finish();
}


test('models loaded one after another keep their own bytes (windows reused between scans)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-scanpool-'));
  fc.assert(
    fc.property(
      fc.array(fc.array(fc.oneof(fc.integer({ min: 1, max: 12_000 }), fc.integer({ min: 17_000, max: 200_000 })), { minLength: 1, maxLength: 12 }), { minLength: 2, maxLength: 4 }),
      (models) => {
        const loaded = models.map((sizes, k) => {
          const bytes = modelBytes([...sizes, 300_000], k + 1);
          const path = join(dir, `m${k}.onnx`);
          writeFileSync(path, bytes);
          return { bytes, model: loadModel(path) };
        });
        for (const { bytes, model } of loaded) {
          assert.ok([...model.graph.initializers.values()].some((t) => t.source instanceof LazyRawSource));
          assert.ok(same(encodeModel(model), bytes), 'an earlier model changed when a later one was scanned');
        }
      },
    ),
    { numRuns: 10, seed: 15 },
  );
});

test('a scan with more windows than the pool keeps (small tensors between large ones) stays exact', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-scanpool-'));
  // 90 large tensors, each followed by small ones: one window per large tensor at least (> 64 kept).
  const sizes: number[] = [];
  for (let i = 0; i < 90; i++) sizes.push(20_000, 3 + i);
  const bytes = modelBytes(sizes, 7);
  const path = join(dir, 'many.onnx');
  writeFileSync(path, bytes);
  const first = scanModelFile(path);
  assert.ok(first && first.holes.size === 90, 'the large tensors stay on disk');
  const skeleton = Uint8Array.from(first.bytes);
  const model = loadModel(path);
  const other = join(dir, 'other.onnx');
  writeFileSync(other, modelBytes([30_000, 5, 40_000, 6, 300_000], 8));
  loadModel(other);
  scanModelFile(other);
  assert.ok(same(first.bytes, skeleton), 'the skeleton of the first scan changed');
  assert.ok(same(encodeModel(model), bytes));
  assert.ok(same(readFileSync(path), bytes));
});

test('saves (whose arena is the pool the scans read into) interleaved with loads: every file and model stays exact', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-scanpool-'));
  fc.assert(
    fc.property(
      fc.array(fc.array(fc.oneof(fc.integer({ min: 1, max: 12_000 }), fc.integer({ min: 17_000, max: 400_000 })), { minLength: 1, maxLength: 10 }), { minLength: 2, maxLength: 4 }),
      fc.array(fc.nat(), { minLength: 4, maxLength: 8 }),
      (models, order) => {
        const loaded = models.map((sizes, k) => {
          const bytes = modelBytes([...sizes, 300_000], k + 20);
          const path = join(dir, `s${k}.onnx`);
          writeFileSync(path, bytes);
          const model = loadModel(path);
          // Save an earlier model between loads: its ranges go through the arena, then the next
          // scan reads its windows into the same memory.
          const earlier = order[k % order.length] % (k + 1);
          saveModel(model, join(dir, `out${k}.onnx`));
          return { bytes, model, path, earlier };
        });
        for (const [k, { earlier }] of loaded.entries()) {
          const e = loaded[earlier];
          saveModel(e.model, join(dir, `again${k}.onnx`));
          assert.ok(same(readFileSync(join(dir, `again${k}.onnx`)), e.bytes), 'a save after other loads and saves differs');
        }
        for (const [k, { bytes, model }] of loaded.entries()) {
          assert.ok(same(readFileSync(join(dir, `out${k}.onnx`)), bytes), 'a save interleaved with scans differs');
          assert.ok(same(encodeModel(model), bytes), 'a model changed after saves and scans');
        }
      },
    ),
    { numRuns: 10, seed: 16 },
  );
});
