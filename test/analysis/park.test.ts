// Parked outputs (src/analysis/park.ts; compile's check keeps the original's outputs in files while
// the rewritten model's session runs, issue 15 item 5) come back bit for bit: same dtype, dims,
// element type (bool, uint16 tags) and bytes (NaNs and -0 included), and no file is left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { parkOutputs, unparkOutputs } from '../../src/analysis/park.ts';
import { hostTensorType, type HostTensor } from '../../src/analysis/ort.ts';

const bytesOf = (d: HostTensor['data']) => (Array.isArray(d) ? Buffer.from(JSON.stringify(d)) : Buffer.from(d.buffer, d.byteOffset, d.byteLength));

test('parkOutputs / unparkOutputs: the same tensors, bit for bit, and the files removed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-park-'));
  try {
    const tensor = fc.oneof(
      fc.float32Array({ maxLength: 300 }).map((a) => ({ dims: [a.length], data: a }) as HostTensor),
      fc.float64Array({ maxLength: 100 }).map((a) => ({ dims: [1, a.length], data: a }) as HostTensor),
      fc.array(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), { maxLength: 50 }).map((a) => ({ dims: [a.length], data: BigInt64Array.from(a) }) as HostTensor),
      fc.int32Array({ maxLength: 100 }).map((a) => ({ dims: [a.length], data: a }) as HostTensor),
      fc.uint8Array({ maxLength: 100, max: 1 }).map((a) => ({ dims: [a.length], data: a, bool: true }) as HostTensor),
      fc.int8Array({ maxLength: 100 }).map((a) => ({ dims: [a.length], data: a }) as HostTensor),
      fc.uint16Array({ maxLength: 100 }).map((a) => ({ dims: [a.length], data: a }) as HostTensor),
      fc.uint16Array({ maxLength: 100 }).map((a) => ({ dims: [a.length], data: a, type: 'uint16' }) as HostTensor),
      fc.int16Array({ maxLength: 100 }).map((a) => ({ dims: [a.length], data: a }) as HostTensor),
      fc.uint32Array({ maxLength: 100 }).map((a) => ({ dims: [a.length], data: a }) as HostTensor),
      fc.array(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { maxLength: 50 }).map((a) => ({ dims: [a.length], data: BigUint64Array.from(a) }) as HostTensor),
      // a view into a larger buffer, as onnxruntime may return
      fc.float32Array({ minLength: 4, maxLength: 40 }).map((a) => ({ dims: [a.length - 2], data: a.subarray(1, a.length - 1) }) as HostTensor),
      // a string output (kept in memory, in its place among the others)
      fc.array(fc.string(), { maxLength: 20 }).map((a) => ({ dims: [a.length], data: a }) as HostTensor),
    );
    fc.assert(fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), tensor, { maxKeys: 4 }), (outs) => {
      const parked = parkOutputs(outs, dir);
      assert.ok(parked);
      const back = unparkOutputs(parked);
      assert.deepEqual(Object.keys(back), Object.keys(outs));
      for (const [k, t] of Object.entries(outs)) {
        const b = back[k];
        assert.equal(b.data.constructor, t.data.constructor, k);
        assert.deepEqual(b.dims, t.dims);
        assert.equal(hostTensorType(b), hostTensorType(t), k);
        assert.equal(b.bool, t.bool);
        assert.ok(bytesOf(b.data).equals(bytesOf(t.data)), k);
      }
      assert.deepEqual(readdirSync(dir), []);
    }), { seed: 15, numRuns: 200 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('parkOutputs: undefined and nothing written where the folder cannot be written', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-park-'));
  rmSync(dir, { recursive: true });
  assert.equal(parkOutputs({ y: { dims: [2], data: new Float32Array([1, 2]) } }, dir), undefined);
});
