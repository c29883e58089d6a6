/**
 * The property-testing kit, `import ... from 'dnnfuse/testkit'`: what a test of your own
 * pass needs, without the rest of the library's surface.
 *
 * - fast-check arbitraries of valid CNN-like models (`cnnModel`, `cnnProgram`, `buildCnn`,
 *   `blockSpec`): residual, depthwise, concat, squeeze-excitation and RepVGG blocks, which
 *   shrink to small programs;
 * - `assertSameOutputs`: both models run by onnxruntime on seeded random inputs (needs the
 *   optional peer dependency onnxruntime-node);
 * - `assertPlanValid`: the partition rules and buffer fit of a schedule's fusion plan;
 * - `ModelBuilder` for hand-made models, and the onnxruntime helpers `runModel`,
 *   `randomFeeds`, `checkEquivalence`, `allclose` (the check `dnnfuse compile` makes).
 *
 * @example A regression test of your own pass:
 * ```ts
 * import fc from 'fast-check';
 * import { decodeModel, encodeModel, runPipeline } from 'dnnfuse';
 * import { cnnModel, assertSameOutputs } from 'dnnfuse/testkit';
 *
 * await fc.assert(fc.asyncProperty(cnnModel({ maxBlocks: 5 }), async (original) => {
 *   const m = decodeModel(encodeModel(original));
 *   await runPipeline(m, ['my-pass']);
 *   await assertSameOutputs(original, m);
 * }), { numRuns: 20, seed: 1 });
 * ```
 *
 * @packageDocumentation
 */
export { cnnModel, cnnProgram, buildCnn, blockSpec } from './arbitraries.ts';
export type { CnnProgram, BlockSpec, CnnArbitraryOptions } from './arbitraries.ts';
export { assertSameOutputs } from './properties.ts';
export type { SameOutputsOptions } from './properties.ts';
export { assertPlanValid } from './plan.ts';
export type { PlanValidOptions, PlanValidSummary } from './plan.ts';
export { ModelBuilder, randomInputs } from '../models/builder.ts';
export type { ConvOptions, PoolOptions } from '../models/builder.ts';
export { runModel, randomFeeds, compareOutputs, checkEquivalence } from '../analysis/ort.ts';
export type { EquivalenceOptions } from '../analysis/ort.ts';
export { allclose, describeMiss, DEFAULT_RTOL, DEFAULT_ATOL } from '../analysis/compare.ts';
export type { AllcloseOptions, CheckResult, OutputCheck } from '../analysis/compare.ts';
export type { Feeds, HostTensor, HostTensorType, TypedData, SessionOptions, GraphOptimizationLevel, Comparison, OutputComparison } from '../analysis/ort.ts';
