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
 *   per-op ES modules (dist/gradients/*_grad.js) for every op dnnfuse differentiates; kernels
 *   and gradient registries are process-global in tfjs, so the two module copies agree.
 * - chained ops (t.add(...)) are not registered, so dnnfuse calls the functional forms only.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createRequire } from 'node:module';
import { dirname, sep } from 'node:path';
import * as g0 from '@tensorflow/tfjs-core/dist/gradients/Abs_grad.js';
import * as g1 from '@tensorflow/tfjs-core/dist/gradients/AddN_grad.js';
import * as g2 from '@tensorflow/tfjs-core/dist/gradients/Add_grad.js';
import * as g3 from '@tensorflow/tfjs-core/dist/gradients/BatchMatMul_grad.js';
import * as g4 from '@tensorflow/tfjs-core/dist/gradients/Cast_grad.js';
import * as g5 from '@tensorflow/tfjs-core/dist/gradients/ClipByValue_grad.js';
import * as g6 from '@tensorflow/tfjs-core/dist/gradients/Concat_grad.js';
import * as g7 from '@tensorflow/tfjs-core/dist/gradients/Exp_grad.js';
import * as g8 from '@tensorflow/tfjs-core/dist/gradients/ExpandDims_grad.js';
import * as g9 from '@tensorflow/tfjs-core/dist/gradients/GatherV2_grad.js';
import * as g10 from '@tensorflow/tfjs-core/dist/gradients/Identity_grad.js';
import * as g11 from '@tensorflow/tfjs-core/dist/gradients/Log1p_grad.js';
import * as g12 from '@tensorflow/tfjs-core/dist/gradients/Log_grad.js';
import * as g13 from '@tensorflow/tfjs-core/dist/gradients/Maximum_grad.js';
import * as g14 from '@tensorflow/tfjs-core/dist/gradients/Mean_grad.js';
import * as g15 from '@tensorflow/tfjs-core/dist/gradients/Minimum_grad.js';
import * as g16 from '@tensorflow/tfjs-core/dist/gradients/Multiply_grad.js';
import * as g17 from '@tensorflow/tfjs-core/dist/gradients/Neg_grad.js';
import * as g18 from '@tensorflow/tfjs-core/dist/gradients/Pack_grad.js';
import * as g19 from '@tensorflow/tfjs-core/dist/gradients/RealDiv_grad.js';
import * as g20 from '@tensorflow/tfjs-core/dist/gradients/Relu_grad.js';
import * as g21 from '@tensorflow/tfjs-core/dist/gradients/Reshape_grad.js';
import * as g22 from '@tensorflow/tfjs-core/dist/gradients/Select_grad.js';
import * as g23 from '@tensorflow/tfjs-core/dist/gradients/Sigmoid_grad.js';
import * as g24 from '@tensorflow/tfjs-core/dist/gradients/Slice_grad.js';
import * as g25 from '@tensorflow/tfjs-core/dist/gradients/Softplus_grad.js';
import * as g26 from '@tensorflow/tfjs-core/dist/gradients/Sqrt_grad.js';
import * as g27 from '@tensorflow/tfjs-core/dist/gradients/Square_grad.js';
import * as g28 from '@tensorflow/tfjs-core/dist/gradients/Sub_grad.js';
import * as g29 from '@tensorflow/tfjs-core/dist/gradients/Sum_grad.js';
import * as g30 from '@tensorflow/tfjs-core/dist/gradients/Tanh_grad.js';
import * as g31 from '@tensorflow/tfjs-core/dist/gradients/Tile_grad.js';
import * as g32 from '@tensorflow/tfjs-core/dist/gradients/Transpose_grad.js';
import * as g33 from '@tensorflow/tfjs-core/dist/gradients/UnsortedSegmentSum_grad.js';

for (const mod of [g0, g1, g2, g3, g4, g5, g6, g7, g8, g9, g10, g11, g12, g13, g14, g15, g16, g17, g18, g19, g20, g21, g22, g23, g24, g25, g26, g27, g28, g29, g30, g31, g32, g33] as Record<string, unknown>[]) {
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

/** Selects the WASM backend (fallback: CPU); resolves to the backend name. */
export function initTf(): Promise<string> {
  ready ??= (async () => {
    if (process.env.DNNFUSE_TF_BACKEND === 'cpu') {
      await tf.setBackend('cpu');
      return 'cpu';
    }
    try {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      const require = createRequire(import.meta.url);
      const dir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
      wasm.setWasmPaths(dir + sep);
      if (await tf.setBackend('wasm')) return 'wasm';
    } catch {
      // fall through to CPU
    }
    await tf.setBackend('cpu');
    return 'cpu';
  })();
  return ready;
}

export { tf };
