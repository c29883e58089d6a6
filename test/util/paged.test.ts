// Large scratch arrays outside malloc (src/util/paged.ts, issue 15 item 5): the arrays behave as
// `new Ctor(n)`, and freeing one leaves glibc's mmap threshold where it was, which freeing a
// malloc'd array of the same size does not (the plan pass's memo had left it at 8-24 MiB, and
// onnxruntime's tensors in compile's check then stayed resident in the heap).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { grownArray, pagedArray, pagedFrom, readPaged } from '../../src/util/paged.ts';

const KiB = 1024;

test('pagedArray is a zero-filled typed array of the length asked, page-mapped from 128 KiB', () => {
  fc.assert(
    fc.property(fc.constantFrom(Int32Array, Float64Array, Uint8Array), fc.integer({ min: 0, max: 300_000 }), (Ctor, n) => {
      const a = pagedArray(Ctor as Float64ArrayConstructor, n);
      assert.ok(a instanceof Ctor);
      assert.equal(a.length, n);
      assert.ok(a.every((x) => x === 0));
      const bytes = n * Ctor.BYTES_PER_ELEMENT;
      // A wasm memory's buffer is whole 64 KiB pages; a plain array's is exactly its bytes.
      if (bytes >= 128 * KiB) assert.equal(a.buffer.byteLength % 65536, 0);
      else assert.equal(a.buffer.byteLength, bytes);
      if (n) {
        a[n - 1] = 7;
        assert.equal(a[n - 1], 7);
      }
    }),
    { numRuns: 40, seed: 1 },
  );
});

test('pagedFrom, grownArray and readPaged copy what they are given', () => {
  const list = Array.from({ length: 50_000 }, (_, i) => i * 3 - 7);
  assert.deepEqual(Array.from(pagedFrom(Int32Array, list)), list);
  assert.deepEqual(Array.from(pagedFrom(Float64Array, list, (x, i) => x + i)), list.map((x, i) => x + i));
  const src = Float64Array.from(list);
  const g = grownArray(src, 2 * src.length);
  assert.equal(g.length, 2 * src.length);
  assert.deepEqual(Array.from(g.subarray(0, src.length)), list);
  assert.ok(g.subarray(src.length).every((x) => x === 0));
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-paged-'));
  try {
    for (const size of [0, 10, 300 * KiB + 3]) {
      const file = join(dir, `f${size}`);
      const bytes = Buffer.alloc(size);
      for (let i = 0; i < size; i++) bytes[i] = (i * 31) & 255;
      writeFileSync(file, bytes);
      assert.deepEqual(Buffer.from(readPaged(file)), readFileSync(file));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("freeing a paged array leaves glibc's mmap threshold where it was; a malloc'd one raises it", (t) => {
  const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime;
  if (process.platform !== 'linux' || !glibc) return t.skip('not Linux with glibc: its mmap threshold is what this is about');
  // A child frees an 8 MiB array (paged, or plain from malloc), then writes and frees a 4 MiB
  // Buffer: under a threshold still at glibc's 128 KiB that Buffer is a mapping of its own and
  // its pages leave the process when it is freed; above it, it came from the heap and they stay.
  const script = (paged: boolean) => `
    import { pagedArray } from ${JSON.stringify(new URL('../../src/util/paged.ts', import.meta.url).href)};
    import { readFileSync } from 'node:fs';
    const rss = () => Number(readFileSync('/proc/self/status', 'utf8').match(/VmRSS:\\s+(\\d+)/)[1]) * 1024;
    let big = ${paged ? 'pagedArray(Float64Array, 1 << 20)' : 'new Float64Array(1 << 20)'};
    big[0] = 1; big = null; gc(); gc();
    let b = Buffer.allocUnsafeSlow(4 << 20); b.fill(1);
    const held = rss();
    b = null; gc(); gc();
    // V8 frees a dead ArrayBuffer's memory on a helper thread after the GC: under load the pages
    // may still be there at the first look (fresh clone's suite: 1.8 MiB released), so the most
    // released within half a second counts
    let released = held - rss();
    for (let i = 0; i < 50 && released < 3.5 * 2 ** 20; i++) {
      await new Promise((r) => setTimeout(r, 10));
      released = Math.max(released, held - rss());
    }
    console.log(JSON.stringify({ released }));`;
  const released = (paged: boolean) => {
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script(paged)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return (JSON.parse(r.stdout) as { released: number }).released;
  };
  const MiB = 1 << 20;
  const plain = released(false), paged = released(true);
  assert.ok(plain < 1 * MiB, `after a malloc'd 8 MiB array was freed, the 4 MiB Buffer's pages stay (released ${(plain / MiB).toFixed(1)} MiB): the quirk`);
  assert.ok(paged > 3 * MiB, `after a paged 8 MiB array was freed, the 4 MiB Buffer's pages leave with it (released ${(paged / MiB).toFixed(1)} MiB)`);
});
