/**
 * dnnfuse's library API (the package entry point, `import ... from 'dnnfuse'`).
 *
 * - I/O: `load`, `save` (and `decodeModel`/`encodeModel` for bytes), shape inference.
 * - Pipelines: `runPipeline(model, passes, ctx)` -> `{ model, schedule }`; `compile` (the
 *   whole `dnnfuse compile` job, without writing files); `registerPass` for your own passes.
 * - Every built-in pass as an async function `(model, ctx?) => { changed, annotations }`
 *   that runs through the pass manager (requirement checks, IR invariants).
 * - Schedules: types, JSON (de)serialization, the final fusion plan, embedding the plan into a
 *   model as ONNX local functions or node metadata, and reading it back.
 * - ModelBuilder, and the property-testing kit (fast-check arbitraries of CNN-like models,
 *   `assertSameOutputs`, `assertPlanValid`).
 * - `generateReport`: schedule -> self-contained HTML.
 *
 * The property-testing kit is also its own entry point, `dnnfuse/testkit`.
 *
 * @packageDocumentation
 */
import type { Model } from './ir/graph.ts';
import type { Pass, PassContext, PassResult, PassOptionsMap } from './passes/pass.ts';
import { runPasses, annotationsOf as annotationsOfTyped, type PipelineResult, type RunOptions } from './passes/manager.ts';
import { getPass, parsePipeline } from './passes/registry.ts';
import { loadModel, saveModel } from './onnx/io.ts';
import type { RewriteAnnotations } from './reparam/graph-ops.ts';
import type { LearnabilityAnnotations } from './passes/learnability.ts';

// ---- IR, errors ----
export { Model, Graph, Node, attr } from './ir/graph.ts';
export type { Attribute, ValueInfo, TensorType, Dim, OpsetImport } from './ir/graph.ts';
export { Tensor } from './ir/tensor.ts';
export { DataType } from './ir/dtype.ts';
export { DnnfuseError, isDnnfuseError } from './errors.ts';
export type { ErrorKind } from './errors.ts';

// ---- I/O and analyses ----
export { loadModel, saveModel, decodeModel, encodeModel } from './onnx/io.ts';
export type { SaveOptions, DecodeOptions } from './onnx/io.ts';
export { inferShapes, staticShape, analyzeShapes, typeOfValue, parseShapeOverrides, supportedOps, type InferOptions, type ShapeAnalysis } from './analysis/shapes.ts';
export { modelStats, nodeMacs, type ModelStats, type NodeStats, type TensorStats } from './analysis/stats.ts';

/** Loads an ONNX file (external data resolved next to it). Alias of `loadModel`. */
export function load(path: string): Model {
  return loadModel(path);
}

/** Saves a model atomically. Alias of `saveModel`. */
export function save(model: Model, path: string, opts?: import('./onnx/io.ts').SaveOptions): void {
  saveModel(model, path, opts);
}

// ---- hardware ----
export type { Accelerator, ElementType } from './hardware/accelerator.ts';
export { PRESETS as hardwarePresets, resolveAccelerator, loadAcceleratorFile, acceleratorFromObject, parseSize } from './hardware/load.ts';

// ---- passes and pipelines ----
export type { Pass, PassContext, PassResult, PassOptions, PassOptionsMap, PassServices, OptionsSchema } from './passes/pass.ts';
export { optionsSchema } from './passes/pass.ts';
export type { FusionScheme } from './fusion/types.ts';
export { makeContext } from './passes/pass.ts';
export { registerPass, unregisterPass, getPass, hasPass, listPasses, parsePipeline, DEFAULT_PIPELINE } from './passes/registry.ts';
export { runPasses, fixedPoint, scheduleToJson, parseSchedule, annotationsOf, scheduleGraph, irViolation, SCHEDULE_SCHEMA_VERSION } from './passes/manager.ts';
export type { Schedule, PassRecord, PipelineResult, RunOptions, ScheduleModelInfo, ScheduleGraph, SchedulePlanning } from './passes/manager.ts';
export { finalPlan } from './passes/schedule-groups.ts';
export type { ScheduledPlan, ScheduledGroup } from './passes/schedule-groups.ts';
export { compileModel as compile, applyDimOverrides, applyShapeOverrides, annotationFailures, CompileFailed } from './compile.ts';
export type { CompileOptions, CompileResult } from './compile.ts';

/**
 * Runs passes (names, a comma-separated string, or Pass objects — mixed freely) on `model`
 * in place, with one context. Returns the model and its schedule.
 */
export function runPipeline(model: Model, passes: string | (string | Pass)[], ctx: Partial<PassContext> = {}, opts: RunOptions = {}): Promise<PipelineResult> {
  const list = typeof passes === 'string' ? parsePipeline(passes) : passes.flatMap((p) => (typeof p === 'string' ? parsePipeline(p) : [p]));
  return runPasses(model, list, ctx, opts);
}

/** Runs one registered pass by name through the pass manager; returns its result. Options for
 * the pass go in `ctx.options[<pass name>]`. */
export async function runPass<A = unknown>(name: string, model: Model, ctx: Partial<PassContext> = {}): Promise<PassResult<A>> {
  const { schedule } = await runPasses(model, [getPass(name)], ctx);
  const r = schedule.passes[0];
  return { changed: r.changed, annotations: (r.annotations ?? undefined) as A | undefined };
}

/** Options of a pass, passed as the pass's own entry in ctx.options. */
const withOptions = <K extends keyof PassOptionsMap>(name: K, ctx: Partial<PassContext>, options?: PassOptionsMap[K]): Partial<PassContext> =>
  options ? { ...ctx, options: { ...(ctx.options ?? {}), [name]: { ...(ctx.options?.[name] ?? {}), ...options } } } : ctx;

// ---- built-in passes as functions ----

/** Folds inference-mode BatchNormalization into adjacent Conv/ConvTranspose/Gemm/MatMul. */
export function foldBatchNorm(model: Model, ctx: Partial<PassContext> = {}): Promise<PassResult<RewriteAnnotations>> {
  return runPass<RewriteAnnotations>('fold-bn', model, ctx);
}

/** Merges parallel conv branches (RepVGG/ACNet/DBB) into single convs, exactly. */
export function collapseBranches(model: Model, ctx: Partial<PassContext> = {}, options?: import('./passes/collapse-branches.ts').CollapseOptions): Promise<PassResult<RewriteAnnotations>> {
  return runPass<RewriteAnnotations>('collapse-branches', model, withOptions('collapse-branches', ctx, options));
}

/** Expands convs into equivalent multi-branch training-time forms (RepVGG/ACNet/DBB). Options
 * as for the 'expand-branches' pass (ctx.options['expand-branches']). */
export function expandBranches(model: Model, ctx: Partial<PassContext> = {}, options?: import('./passes/expand-branches.ts').ExpandOptions): Promise<PassResult<RewriteAnnotations>> {
  return runPass<RewriteAnnotations>('expand-branches', model, withOptions('expand-branches', ctx, options));
}

/** Certifies that learned GNN updates execute flooding, BFS, DFS and Bellman-Ford exactly on
 * the model graph (analysis only). `allCertified: false` is a result, not an exception. */
export function certifyLearnability(model: Model, ctx: Partial<PassContext> = {}, options?: import('./passes/learnability.ts').LearnabilityOptions): Promise<PassResult<LearnabilityAnnotations>> {
  return runPass<LearnabilityAnnotations>('learnability', model, withOptions('learnability', ctx, options));
}

/** Spatial gradient scaling: one mean-1 kxk scaling matrix per conv from calibration data
 * (annotations; with `embed` / `trainingGraph` options it also rewrites the model). */
export function spatialGradientScaling(model: Model, ctx: Partial<PassContext> = {}, options?: import('./passes/sgs.ts').SgsPassOptions): Promise<PassResult<import('./passes/sgs.ts').SgsAnnotations>> {
  // calibration batches are not JSON: they travel as a service, not as an option
  const { feeds, ...rest } = options ?? {};
  const c = feeds ? { ...ctx, services: { ...(ctx.services ?? {}), calibrationFeeds: feeds } } : ctx;
  return runPass('sgs', model, withOptions('sgs', c, options ? rest : undefined));
}

/** Layer-fusion partitioning (the 'plan' pass): searches a plan under the LBDF/BRR cost model
 * for `ctx.hardware` (default preset edge-512k) and `ctx.scheme` (default lbdf); the graph is
 * not modified. Options as `--option plan.key=value` (search, budget, k, warmStart, optimum,
 * timeLimit). */
export function planFusion(model: Model, ctx: Partial<PassContext> = {}, options?: import('./passes/plan-fusion.ts').PlanPassOptions): Promise<PassResult<import('./passes/plan-fusion.ts').PlanAnnotations>> {
  return runPass('plan', model, withOptions('plan', ctx, options));
}

/** GET: the plan's search re-run with explainer-guided SPLIT of invalid groups ('get' pass).
 * Uses the plan in `ctx.annotations.plan` when given (e.g. from planFusion); otherwise runs the
 * plan pass first (same context). Options: explainer ('pg' | 'gnne' | 'rg' | 'cuts'), topK. */
export async function getSplit(model: Model, ctx: Partial<PassContext> = {}, options?: import('./passes/get.ts').GetPassOptions): Promise<PassResult<import('./passes/get.ts').GetPassAnnotations>> {
  const c = withOptions('get', ctx, options);
  // alone, the get pass takes only its own options
  if (ctx.annotations?.plan !== undefined) return runPass('get', model, { ...c, options: { get: c.options?.get } });
  const { schedule } = await runPasses(model, [getPass('plan'), getPass('get')], c);
  const r = schedule.passes[1];
  return { changed: r.changed, annotations: (r.annotations ?? undefined) as import('./passes/get.ts').GetPassAnnotations | undefined };
}

/** Constant folding: Constant nodes to initializers, static shape subgraphs and all-constant
 * nodes evaluated by onnxruntime, Identity/Dropout removed, duplicate initializers merged. */
export function foldConstants(model: Model, ctx: Partial<PassContext> = {}, options?: { maxBytes?: number }): Promise<PassResult<import('./fold/fold.ts').FoldResult>> {
  return runPass('fold-constants', model, withOptions('fold-constants', ctx, options));
}

/** Removes nodes no output depends on and unused initializers. */
export function eliminateDeadCode(model: Model, ctx: Partial<PassContext> = {}): Promise<PassResult<{ removedNodes: number }>> {
  return runPass('dce', model, ctx);
}

/** Checks the IR invariants; throws a verification DnnfuseError naming the first violation. */
export function verifyModel(model: Model, ctx: Partial<PassContext> = {}): Promise<PassResult<{ ok: true; nodes: number }>> {
  return runPass('verify', model, ctx);
}

// ---- the schedule inside the ONNX model ----
export { outlineFusionGroups, annotateFusionGroups, readFusionGroups, FUSION_DOMAIN, SCHEDULE_METADATA_KEY } from './onnx/functions.ts';
export type { FusionGroupSpec, SubgraphGroupSpec, EmbedOptions, EmbedResult } from './onnx/functions.ts';

// ---- building models, property testing ----
export { ModelBuilder, randomInputs } from './models/builder.ts';
export type { ConvOptions, PoolOptions } from './models/builder.ts';
export { cnnModel, cnnProgram, buildCnn, blockSpec } from './testkit/arbitraries.ts';
export type { CnnProgram, BlockSpec, CnnArbitraryOptions } from './testkit/arbitraries.ts';
export { assertSameOutputs } from './testkit/properties.ts';
export { assertPlanValid, bruteForceOptimum } from './testkit/plan.ts';
export type { PlanValidOptions, PlanValidSummary } from './testkit/plan.ts';
export type { SameOutputsOptions } from './testkit/properties.ts';
export { runModel, randomFeeds, compareOutputs, checkEquivalence } from './analysis/ort.ts';
export type { EquivalenceOptions } from './analysis/ort.ts';
export { allclose, describeMiss, DEFAULT_RTOL, DEFAULT_ATOL, HALF_RTOL, HALF_ATOL, halfPrecisionReason } from './analysis/compare.ts';
export type { AllcloseOptions, CheckResult, OutputCheck } from './analysis/compare.ts';
export { inputFill, inputFills, parseInputValues, type InputFill } from './analysis/input-ranges.ts';
export { onEveryGraph, runOnEveryGraph, type EveryGraphAnnotations } from './passes/subgraphs.ts';

// ---- report ----
export { generateReport, renderReportData, reportDataFromSchedule } from './report/index.ts';
export type { ReportData, ReportOptions } from './report/index.ts';

// ---- annotation types of the built-in passes ----

/** What each built-in pass writes into the schedule, by pass name. */
export interface BuiltinAnnotations {
  'fold-bn': RewriteAnnotations;
  'collapse-branches': RewriteAnnotations;
  'expand-branches': RewriteAnnotations;
  sgs: import('./passes/sgs.ts').SgsAnnotations;
  learnability: LearnabilityAnnotations;
  plan: import('./search/planner.ts').FusionPlanJson;
  get: import('./passes/get.ts').GetPassAnnotations;
  shapes: { values: number; static: number; notStatic: { value: string; reason: string }[] };
  dce: { removedNodes: number };
  verify: { ok: true; nodes: number };
}

/** The annotations of the last run of a built-in pass in a schedule, typed by pass name. */
export function passAnnotations<K extends keyof BuiltinAnnotations>(schedule: import('./passes/manager.ts').Schedule, name: K): BuiltinAnnotations[K] | undefined {
  return annotationsOfTyped<BuiltinAnnotations[K]>(schedule, name);
}

export type { RewriteAnnotations } from './reparam/graph-ops.ts';
export type { LearnabilityAnnotations, LearnabilityOptions } from './passes/learnability.ts';
export type { SgsAnnotations, SgsPassOptions } from './passes/sgs.ts';
export type { FusionPlanJson, FusionGroupJson, SubgraphPlanJson, UnplannedNodeJson } from './search/planner.ts';
export type { PlanPassOptions } from './passes/plan-fusion.ts';
export type { GetPassAnnotations } from './passes/get.ts';
export type { Certificate } from './learnability/certify.ts';

// ---- types the signatures above refer to ----
// Exported so that a user can name them and so that the API report (etc/dnnfuse.api.md) covers
// the whole surface: API Extractor reports a type used by an exported signature but not
// exported itself (`ae-forgotten-export`), and the API check (`npm run api:check`, run by
// test/package/package.test.ts) fails on one. ALGORITHMS, EXPLAINER_KINDS and PLAN_RECTIFIERS
// are the constants `Algorithm`, `ExplainerKind` and `PlanRectifier` derive from.
export type { Comparison, Feeds, GraphOptimizationLevel, HostTensor, HostTensorType, OutputComparison, SessionOptions, TypedData } from './analysis/ort.ts';
export type { Val } from './analysis/shapes/context.ts';
export type { Plan } from './fusion/plan.ts';
export type { PlanFusionOptions } from './search/planner.ts';
export type { CostModel, FusionOp, FusionTensor, Group, MemoryItem, OpGraph, Rectifier } from './fusion/types.ts';
export type { HardwareOverrides } from './hardware/load.ts';
export type { DataTypeCode } from './ir/dtype.ts';
export type { TensorSource } from './ir/tensor.ts';
export { EXPLAINER_KINDS } from './get/explainers/kinds.ts';
export type { ExplainerKind } from './get/explainers/kinds.ts';
export type { CutPartition } from './fusion/groups.ts';
export { ALGORITHMS } from './learnability/certify.ts';
export type { Algorithm, CertifyOptions } from './learnability/certify.ts';
export type { EnsembleOptions } from './learnability/predictors.ts';
export type { CollapseOptions } from './passes/collapse-branches.ts';
export type { ExpandForm, ExpandOptions } from './passes/expand-branches.ts';
export type { GetKind } from './get/rectifier.ts';
export type { SplitTree } from './get/split.ts';
export { PLAN_RECTIFIERS } from './passes/plan-fusion.ts';
export type { GetRectification, PlanAnnotations, PlanRectifier } from './passes/plan-fusion.ts';
export type { GetPassOptions } from './passes/get.ts';
export type { AnnotationKind, PassStatus } from './passes/pass.ts';
export type { SgsConvRecord } from './passes/sgs.ts';
export type { RewriteRecord } from './reparam/graph-ops.ts';
export type { ReportEdge, ReportGroup, ReportMemoryItem, ReportNode, SweepPoint } from './report/data.ts';
export type { SearchMethod, SearchOptions } from './search/common.ts';
export type { ExactOptions, ExactResult } from './search/exact.ts';
export type { Rng } from './util/random.ts';
// Outputs written as a unit and refused over the run's inputs (what the CLI uses; a compiler
// writing a model and its schedule together can too: saveModel(..., { inputs, batch })).
export { OutputBatch, RunInputs } from './util/output.ts';
export type { InputEntry } from './util/output.ts';
export type { FoldResult } from './fold/fold.ts';
export type { MemberInit } from './learnability/predictors.ts';
export type { SubgraphRecord } from './passes/subgraphs.ts';
