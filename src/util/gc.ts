/**
 * A full garbage collection on demand, for the few places where memory V8 cannot see matters:
 * onnxruntime's and HiGHS's allocations are native or wasm memory, invisible to V8's heuristics,
 * so garbage left by the JavaScript before them (a solver's enumeration, the passes' copies of
 * weights) would still be resident while they allocate theirs (bench:memory, issue 15 item 5).
 * Node has no API for it without --expose-gc; the flag is set for a function made in a new
 * context (the documented effect of v8.setFlagsFromString), then restored.
 */
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gcFn: (() => void) | null | undefined;

/** Runs a full garbage collection now (a no-op where the flag cannot be set). */
export function collectGarbage(): void {
  if (gcFn === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      gcFn = runInNewContext('gc') as () => void;
      setFlagsFromString('--no-expose-gc');
    } catch {
      gcFn = null; // not collecting is only a missed saving
    }
  }
  gcFn?.();
}

/**
 * `rounds` full collections (default two), each followed by a turn of the event loop: memory
 * whose owner frees it in a weak callback (onnxruntime-node's output tensors: their native
 * buffers) is released by the first collection's callbacks and reclaimed by the second. One
 * collection left DeepLabV3's 21 MiB output resident through the next onnxruntime session. HiGHS's
 * wasm memory of the plan pass (PP-OCRv4 det: 24 MiB, 15 resident) outlives four rounds and goes
 * with the fifth (measured: external memory 55.6 MiB after rounds 2-4, 31.3 after 5; resident
 * 202-214 -> 179-184 MiB before the check's first session; bench:memory, issue 15 item 5). A
 * collection of a heap this size takes a few milliseconds.
 */
export async function settleGarbage(rounds = 2): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    collectGarbage();
    await new Promise((r) => setImmediate(r));
  }
}

/**
 * A full collection that also gives the young generation back. V8 grows its young generation
 * (two semi-spaces, up to 16 MiB each on 64-bit) while the passes allocate, and every ordinary
 * collection, `gc()` and `settleGarbage` included, leaves it committed at that size: PP-OCRv4 det
 * reaches the check's first session with 32 MiB of it resident and empty, on top of which
 * onnxruntime then allocates (bench:memory, issue 15 item 5). Only a collection for memory
 * pressure shrinks it, and node has no API for one; the inspector protocol's
 * `HeapProfiler.collectGarbage` makes one (measured: young generation 32 -> 0.3 MiB, resident
 * 172 -> 140 MiB before that session, in ~50 ms). Written by hand because nothing else reaches
 * it: `gc()`'s options in node 20's V8 have no memory-reducing flavor. A no-op where the
 * inspector is missing (a node built without it).
 */
export async function reduceHeap(): Promise<void> {
  let session: import('node:inspector/promises').Session | undefined;
  try {
    const { Session } = await import('node:inspector/promises');
    session = new Session();
    session.connect();
    await session.post('HeapProfiler.collectGarbage');
  } catch {
    // not collecting is only a missed saving
  } finally {
    session?.disconnect(); // not from the post's callback: that deadlocks (node 20)
  }
}

/** Bytes of V8's young generation (its semi-spaces) that are committed: what reduceHeap gives back. */
export function youngGenerationBytes(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.physical_space_size ?? 0;
}
