/**
 * tfjs-core's own gradient configs (its per-op ES modules dist/gradients/*_grad.js) for every op
 * dnnfuse differentiates; get/tf.ts registers them. A module of its own because those files
 * import their neighbours without file extensions, which only a bundler or tsx resolves, not
 * Node's loader: the package build (scripts/build.mjs) bundles this one module with esbuild into
 * dist/get/tf-gradients.js, tsc compiles everything else.
 */
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

/** The gradient modules, each exporting one or more `GradConfig` objects. */
export const gradientModules: Record<string, unknown>[] = [g0, g1, g2, g3, g4, g5, g6, g7, g8, g9, g10, g11, g12, g13, g14, g15, g16, g17, g18, g19, g20, g21, g22, g23, g24, g25, g26, g27, g28, g29, g30, g31, g32, g33];
