// reduceHeap, run by compile after a pass that grew V8's young generation and before the check's
// first onnxruntime session, gives the young generation back; an ordinary full collection keeps
// it committed (PP-OCRv4 det: 32 MiB resident and empty under the sessions; bench:memory, issue
// 15 item 5). If a V8 upgrade makes gc() shrink it too, the second assertion says reduceHeap can go.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectGarbage, reduceHeap, youngGenerationBytes } from '../../src/util/gc.ts';

const mib = (b: number) => (b / 1048576).toFixed(1);

test('reduceHeap gives back the young generation that gc() keeps', async () => {
  // Objects that survive a few scavenges make V8 grow its semi-spaces to their maximum.
  let keep: { a: number; b: number[] }[] = [];
  for (let i = 0; i < 3e6; i++) {
    keep.push({ a: i, b: [i] });
    if (keep.length > 200_000) keep = [];
  }
  keep = [];
  const grown = youngGenerationBytes();
  assert.ok(grown >= 16 << 20, `the young generation grew (${mib(grown)} MiB)`);
  collectGarbage();
  const kept = youngGenerationBytes();
  assert.ok(kept >= 16 << 20, `gc() keeps it (${mib(grown)} -> ${mib(kept)} MiB)`);
  await reduceHeap();
  const after = youngGenerationBytes();
  assert.ok(after <= 4 << 20, `reduceHeap gives it back (${mib(kept)} -> ${mib(after)} MiB)`);
});
