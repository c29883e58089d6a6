/** releaseScratch (src/onnx/lazy.ts): compile's check drops the scratch buffer that transient
 * weight reads share (up to 16 MiB; ResNet-50: 9 MiB resident through both onnxruntime sessions,
 * bench:memory, issue 15 item 5); a later transient read gets the same bytes from a new one. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadModel } from '../../src/onnx/io.ts';
import { LazyRawSource, releaseScratch } from '../../src/onnx/lazy.ts';
import { settleGarbage } from '../../src/util/gc.ts';
import { exoticModelMsg, encodeMsg } from './helpers.ts';
import type { Msg } from '../../src/onnx/schema.ts';
import { bytesOf, sameBytes } from '../support/bytes.ts';

test('releaseScratch frees the transient reads\' buffer; the next transient read gives the same bytes', async () => {
  const n = 2_000_000; // 8 MB of float32
  const m = exoticModelMsg();
  const raw = bytesOf(n * 4, 3);
  (m.graph.initializer as Msg[]).push({ name: 'scratch_w', data_type: 1, dims: [n], raw_data: raw });
  const path = join(mkdtempSync(join(tmpdir(), 'dnnfuse-scratch-')), 'm.onnx');
  writeFileSync(path, encodeMsg(m));
  const t = loadModel(path).graph.initializers.get('scratch_w')!;
  assert.ok(t.source instanceof LazyRawSource && t.source.pending, 'lazily loaded');
  const src = t.source as LazyRawSource;
  assert.ok(sameBytes(src.transientBytes(), raw));
  await settleGarbage();
  const held = process.memoryUsage().arrayBuffers;
  releaseScratch();
  await settleGarbage();
  const after = process.memoryUsage().arrayBuffers;
  assert.ok(held - after >= n * 4, `the scratch buffer is freed: arrayBuffers ${held} -> ${after}`);
  assert.ok(src.pending, 'the tensor still keeps no bytes of its own');
  assert.ok(sameBytes(src.transientBytes(), raw), 'read again into a new scratch buffer');
});
