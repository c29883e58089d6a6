/**
 * A full garbage collection on demand, for the few places where memory V8 cannot see matters:
 * onnxruntime's and HiGHS's allocations are native or wasm memory, invisible to V8's heuristics,
 * so garbage left by the JavaScript before them (a solver's enumeration, the passes' copies of
 * weights) would still be resident while they allocate theirs (bench:memory, issue 15 item 5).
 * Node has no API for it without --expose-gc; the flag is set for a function made in a new
 * context (the documented effect of v8.setFlagsFromString), then restored.
 */
import { setFlagsFromString } from 'node:v8';
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
 * Two full collections with a turn of the event loop between them: memory whose owner frees it in
 * a weak callback (onnxruntime-node's output tensors: their native buffers) is released by the
 * first collection's callbacks and reclaimed by the second. One collection left DeepLabV3's
 * 21 MiB output resident through the next onnxruntime session (bench:memory, issue 15 item 5).
 */
export async function settleGarbage(): Promise<void> {
  collectGarbage();
  await new Promise((r) => setImmediate(r));
  collectGarbage();
}
