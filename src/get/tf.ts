/**
 * TensorFlow.js for dnnfuse's learned components: tfjs-core (autodiff, Adam) on the WASM
 * backend (XNNPACK kernels shipped inside the npm package, no download at install time), with
 * the pure-JS CPU backend as fallback (DNNFUSE_TF_BACKEND=cpu forces it). tfjs-node is
 * deliberately not used (native binary download). Why WASM: the CPU backend's matmul runs at
 * ~70 MFLOP/s on our 2-core machines, ~25x slower than WASM, which turns the predictor's
 * training from minutes into hours. Both backends are deterministic for a fixed op order
 * (single-threaded WASM in Node), which the seeded training relies on.
 *
 * Call `await initTf()` once before using tf (CLI, bench, tests); it is idempotent.
 *
 * Two quirks of tfjs-core 4.x under Node ESM, handled here once:
 * - its CommonJS bundle (the package "main") registers no gradient functions (the union
 *   package @tensorflow/tfjs normally does). We register tfjs's own gradient configs from its
 *   per-op ES modules (dist/gradients/*_grad.js, listed in tf-gradients.ts) for every op dnnfuse differentiates; kernels
 *   and gradient registries are process-global in tfjs, so the two module copies agree.
 * - chained ops (t.add(...)) are not registered, so dnnfuse calls the functional forms only.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createRequire } from 'node:module';
import { dirname, sep } from 'node:path';
import { gradientModules } from './tf-gradients.ts';

for (const mod of gradientModules) {
  for (const cfg of Object.values(mod)) {
    const c = cfg as tf.GradConfig;
    if (c && typeof c === 'object' && typeof c.kernelName === 'string' && !tf.getGradient(c.kernelName)) tf.registerGradient(c);
  }
}

// The CPU backend initializes synchronously: it is active at once (no top-level await, which
// CommonJS loaders of tsx reject); initTf() switches to WASM.
void tf.setBackend('cpu');
// PROD silences the "install tfjs-node" banner (a deliberate choice, see above) and skips
// debug-mode checks.
tf.env().set('PROD', true);

let ready: Promise<string> | undefined;

type ProcessEvent = 'uncaughtException' | 'unhandledRejection';
const PROCESS_EVENTS: ProcessEvent[] = ['uncaughtException', 'unhandledRejection'];
// process.listeners / removeListener typed loosely: their overloads do not take a union of events.
const emitter = process as unknown as { listeners(e: string): unknown[]; removeListener(e: string, l: unknown): void };
const processListeners = () => new Map(PROCESS_EVENTS.map((e) => [e, new Set(emitter.listeners(e))]));

/** Removes the process-wide 'uncaughtException' / 'unhandledRejection' listeners added since
 * `before`. tfjs-backend-wasm's Emscripten module adds two that only rethrow (its code exits
 * through an ExitStatus exception, which tfjs never throws); with them, any uncaught error of the
 * program that loaded dnnfuse, its own or its user's, exited with code 7 instead of 1 and printed
 * a 38 KB minified line of tfjs-backend-wasm.js before the error. */
function removeListenersSince(before: Map<ProcessEvent, Set<unknown>>): void {
  for (const e of PROCESS_EVENTS) {
    for (const l of emitter.listeners(e)) if (!before.get(e)!.has(l)) emitter.removeListener(e, l);
  }
}

/** Selects the WASM backend (fallback: CPU); resolves to the backend name. */
export function initTf(): Promise<string> {
  ready ??= (async () => {
    if (process.env.DNNFUSE_TF_BACKEND === 'cpu') {
      await tf.setBackend('cpu');
      return 'cpu';
    }
    const before = processListeners();
    try {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      const require = createRequire(import.meta.url);
      const dir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
      wasm.setWasmPaths(dir + sep);
      if (await tf.setBackend('wasm')) return 'wasm';
    } catch {
      // fall through to CPU
    } finally {
      removeListenersSince(before);
    }
    await tf.setBackend('cpu');
    return 'cpu';
  })();
  return ready;
}

export { tf };
