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
