import test from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync, gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { gunzipWhole } from '../../src/util/gunzip.ts';

test('gunzipWhole: the same bytes as gunzipSync, whatever the trailer says', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300_000 }), fc.nat(200_000), fc.uint8Array({ maxLength: 5000 }), (data, zeros, second) => {
      const plain = Buffer.concat([data, Buffer.alloc(zeros), data]);
      const one = gzipSync(plain);
      assert.ok(gunzipWhole(one).equals(plain));
      // two members: the trailer gives the second member's size only (a wrong hint)
      const two = Buffer.concat([one, gzipSync(second)]);
      assert.ok(gunzipWhole(two).equals(gunzipSync(two)));
      // a view into a larger buffer
      const inside = Buffer.concat([Buffer.from([1, 2, 3]), one]).subarray(3);
      assert.ok(gunzipWhole(inside).equals(plain));
    }),
    { numRuns: 25, seed: 16 },
  );
});

test('gunzipWhole: a large zero-weight model; not gzip is refused', () => {
  const plain = Buffer.alloc(48 << 20, 0);
  plain.write('onnx', 1 << 20);
  const out = gunzipWhole(gzipSync(plain, { level: 1 }));
  assert.equal(out.length, plain.length);
  assert.ok(out.equals(plain));
  assert.throws(() => gunzipWhole(Buffer.from('not gzip at all, not at all')), /incorrect header|unknown compression/);
});
