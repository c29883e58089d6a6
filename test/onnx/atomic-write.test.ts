import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import fc from 'fast-check';
import { writeFileAtomic } from '../../src/util/fs.ts';

test('writeFileAtomic with chunk lists (used by saveModel) writes exactly the concatenation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-atomic-'));
  const out = join(dir, 'out.bin');
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 3000 }), fc.string({ maxLength: 20 })), { maxLength: 1300 }), (chunks) => {
      writeFileAtomic(out, chunks);
      const expect = Buffer.concat(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c)));
      return Buffer.compare(readFileSync(out), expect) === 0;
    }),
    { numRuns: 60, seed: 7 },
  );
  assert.deepEqual(readdirSync(dir), ['out.bin'], 'no temporary files left');
});
