/** encodeModel of a lazily loaded model reads runs of its tensors' file ranges with one pread
 * each and puts back the structure between them (lazy.ts readRangesInto). Edits that keep the
 * distance between file and output offsets (a tensor renamed to a name of the same length: same
 * layout, other bytes between the ranges) or change it (other lengths, a node renamed before the
 * initializers) must give exactly the bytes of the same model decoded whole (every tensor in
 * memory). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import fc from 'fast-check';
import { decodeModel, encodeModel, loadModel } from '../../src/onnx/io.ts';
import { LazyRawSource, LAZY_MIN_TENSOR } from '../../src/onnx/lazy.ts';
import type { Model } from '../../src/ir/graph.ts';
import { ModelProto } from '../../src/onnx/schema.ts';
import { sharedModelPath, sharedModelsMissing } from '../../src/models/shared.ts';
import { rawInitializersModel, sameBytes as same } from '../support/bytes.ts';

const modelMsg = (sizes: number[]) => rawInitializersModel(sizes, 3, (i) => (i % 3 ? undefined : `t${i}`));

type Edit = { kind: 'tensor' | 'node'; index: number; name: string };

function applyEdits(m: Model, edits: Edit[]): void {
  const inits = [...m.graph.initializers.values()];
  for (const e of edits) {
    if (e.kind === 'tensor') inits[e.index % inits.length].name = e.name;
    else m.graph.nodes[e.index % m.graph.nodes.length].name = e.name;
  }
}

test('random lazily loaded models with renamed tensors and nodes: encode equals the whole-file decode', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-ranges-'));
  const path = join(dir, 'm.onnx');
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.integer({ min: 1, max: 3000 }), fc.integer({ min: LAZY_MIN_TENSOR / 4, max: 120_000 }), fc.integer({ min: 300_000, max: 400_000 })), { minLength: 1, maxLength: 9 }),
      fc.array(fc.record({ kind: fc.constantFrom('tensor' as const, 'node' as const), index: fc.nat(), name: fc.oneof(fc.constantFrom('w0', 'wX', 'n9'), fc.string({ maxLength: 12 })) }), { maxLength: 4 }),
      (sizes, edits) => {
        sizes = [...sizes, 300_000]; // over LAZY_MIN_FILE with at least one lazy tensor
        const file = ModelProto.encode(modelMsg(sizes)).finish();
        writeFileSync(path, file);
        const lazy = loadModel(path);
        assert.ok([...lazy.graph.initializers.values()].some((t) => t.source instanceof LazyRawSource && t.source.pending));
        const whole = decodeModel(readFileSync(path), { baseDir: dir });
        applyEdits(lazy, edits);
        applyEdits(whole, edits);
        const got = encodeModel(lazy), want = encodeModel(whole);
        assert.ok(same(got, want), `sizes ${sizes} edits ${JSON.stringify(edits)}`);
        if (!edits.length) assert.ok(same(got, file));
        // the tensors stay lazy (encode reads into its output only)
        assert.ok([...lazy.graph.initializers.values()].every((t) => !(t.source instanceof LazyRawSource) || t.source.pending));
      },
    ),
    { numRuns: 40, seed: 1504 },
  );
});

test('shared mobilenet_v2 and resnet50 with a renamed initializer: lazy encode equals the whole-file decode', { skip: sharedModelsMissing() }, () => {
  for (const name of ['mobilenet_v2', 'resnet50']) {
    const p = sharedModelPath(name);
    const edits: Edit[] = [{ kind: 'tensor', index: 7, name: 'renamed_same?' }, { kind: 'tensor', index: 20, name: 'x' }];
    const lazy = loadModel(p), whole = decodeModel(readFileSync(p), { baseDir: join(p, '..') });
    applyEdits(lazy, edits);
    applyEdits(whole, edits);
    assert.ok(same(encodeModel(lazy), encodeModel(whole)), name);
  }
});
