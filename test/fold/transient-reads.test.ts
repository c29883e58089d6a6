// Reading every weight once (constant folding's duplicate check, toFloat32 conversions) does not
// keep a copy of the lazily loaded bytes (issue 15 item 5: ResNet-50 held 98 MiB more from
// fold-constants on); the values read are the file's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ModelBuilder } from '../../src/models/builder.ts';
import { loadModel, saveModel } from '../../src/onnx/io.ts';
import { LazyRawSource } from '../../src/onnx/lazy.ts';
import { deduplicateInitializers } from '../../src/fold/fold.ts';

test('duplicate check and toFloat32 leave lazily loaded weights on disk, with the same values', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-transient-'));
  try {
    const b = new ModelBuilder({ seed: 7 });
    let x = b.input('input', [1, 128, 4, 4]);
    for (let i = 0; i < 4; i++) x = b.conv(x, { outChannels: 128, kernel: 3, pads: 1 });
    b.output(x);
    const m = b.build('lazy');
    const p = join(dir, 'm.onnx');
    saveModel(m, p);
    const l = loadModel(p);
    const big = [...l.graph.initializers.values()].filter((t) => t.source instanceof LazyRawSource);
    assert.equal(big.length, 4, 'four lazily loaded weights');
    assert.equal(deduplicateInitializers(l.graph), 0);
    for (const t of big) {
      const v = t.toFloat32();
      assert.deepEqual(v, m.graph.initializers.get(t.name)!.toFloat32(), `${t.name}: the file's values`);
      assert.ok((t.source as LazyRawSource).pending, `${t.name} is still read from the file, not held`);
    }
    // A duplicate is still found through the scratch reads (same bytes under another name).
    const [a] = big;
    l.graph.setInitializer(new (a.constructor as typeof import('../../src/ir/tensor.ts').Tensor)('dup', a.dataType, [...a.dims], { kind: 'raw', bytes: Uint8Array.from(a.bytes()) }));
    l.graph.nodes[1].inputs[1] = 'dup';
    assert.equal(deduplicateInitializers(l.graph), 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
