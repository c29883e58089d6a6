/**
 * The whole compile job as one library call (what `dnnfuse compile` runs): load, fix dynamic
 * input shapes, run the pipeline, embed the final fusion plan into the model (functions or
 * node metadata), and check the rewritten model against the original in onnxruntime.
 * Nothing is written here; the CLI writes the two outputs once everything succeeded.
 */
import { readFileSync } from 'node:fs';
import type { Model } from './ir/graph.ts';
import { loadModel, encodeModel } from './onnx/io.ts';
import { outlineFusionGroups, annotateFusionGroups, FUSION_DOMAIN, type EmbedResult } from './onnx/functions.ts';
import { applyShapeOverrides } from './analysis/shapes.ts';

export { applyShapeOverrides };
import { resolveAccelerator, type HardwareOverrides } from './hardware/load.ts';
import type { Accelerator } from './hardware/accelerator.ts';
import type { Pass } from './passes/pass.ts';
import type { FusionScheme } from './fusion/types.ts';
import { runPasses, scheduleGraph, type Schedule, type PassRecord } from './passes/manager.ts';
import { parsePipeline, defaultPipeline } from './passes/registry.ts';
import { finalPlan, type ScheduledPlan } from './passes/schedule-groups.ts';
import { runModel, compareOutputs, randomFeeds, type Feeds, type HostTensor } from './analysis/ort.ts';
import { describeFills, inputFills, parseInputValues, type InputFill } from './analysis/input-ranges.ts';
import { badInput, verificationFailed } from './errors.ts';

export interface CompileOptions {
  /** Accelerator: preset name or config file (default 'edge-512k'), or an Accelerator. */
  hw?: string | Accelerator;
  hwOverrides?: HardwareOverrides;
  scheme?: string;
  /** Pass names ('a,b,c' or an array) or passes; default: the default pipeline. */
  pipeline?: string | (string | Pass)[];
  seed?: number;
  /** `name=1x3x224x224` specs fixing dynamic graph-input dims. */
  shapes?: string[];
  passOptions?: Record<string, Record<string, unknown>>;
  /** How the final fusion plan is carried by the model (default 'functions'). */
  embed?: 'functions' | 'node-metadata' | 'none';
  /** Check the rewritten model against the original in onnxruntime (default true). */
  verify?: boolean;
  /** `name=value` specs fixing an input's every element in the check (`--input-value sr=16000`). */
  inputValues?: string[];
  tolerance?: number;
  omitTimings?: boolean;
  log?: (message: string) => void;
  /** Path recorded in the schedule (default: the path given). */
  modelPathForSchedule?: string;
}

export interface CompileResult {
  model: Model;
  schedule: Schedule;
  plan?: ScheduledPlan;
  /** Analysis results that are failures (exit code 1 in the CLI; outputs are still written):
   * a learnability certificate not granted, a plan the planner itself marks infeasible. */
  failures: string[];
}

/** The passes whose record says `status: 'failed'` (an analysis failure), one line each. */
export function annotationFailures(schedule: Schedule): string[] {
  return schedule.passes.filter((p) => p.status === 'failed').map((p) => `${p.name}: ${p.reason ?? 'failed'}`);
}

function resolvePipeline(p: CompileOptions['pipeline']): Pass[] {
  if (p === undefined) {
    const d = defaultPipeline();
    if (!d.length) throw badInput('no pass of the default pipeline is available in this build; give --pipeline');
    return d;
  }
  if (typeof p === 'string') return parsePipeline(p);
  return p.flatMap((x) => (typeof x === 'string' ? parsePipeline(x) : [x]));
}

/** Runs the rewritten model against the original on seeded random inputs. */
async function verify(original: Uint8Array, rewritten: Model, tolerance: number, seed: number, values: Record<string, number> = {}, fills: Record<string, InputFill> = {}): Promise<NonNullable<Schedule['verification']>> {
  let feeds: Feeds;
  try {
    feeds = randomFeeds(rewritten, seed, {}, values, fills);
  } catch (e) {
    return { checked: false, reason: e instanceof Error ? e.message : String(e) };
  }
  const so = { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1 } as const;
  let ref: Record<string, HostTensor>;
  try {
    ref = await runModel(original, feeds, so);
  } catch (e) {
    // An original onnxruntime cannot run (custom ops, unsupported opset) cannot be checked.
    return { checked: false, reason: `onnxruntime cannot run the original model (${(e instanceof Error ? e.message : String(e)).slice(0, 200)})` };
  }
  let got: Record<string, HostTensor>;
  try {
    got = await runModel(encodeModel(rewritten), feeds, so);
  } catch (e) {
    throw verificationFailed(`the rewritten model does not run in onnxruntime while the original does: ${(e instanceof Error ? e.message : String(e)).slice(0, 300)}`);
  }
  const c = compareOutputs(ref, got, tolerance);
  for (const d of c.outputs) {
    if (!d.ok) throw verificationFailed(`the rewritten model's output '${d.name}' differs from the original: max abs error ${d.maxAbsError.toExponential(3)} at scale ${d.scale.toPrecision(4)} (relative ${d.relative.toExponential(3)} > tolerance ${tolerance})`);
  }
  return { checked: true, tolerance, outputs: c.outputs.map((d) => ({ output: d.name, maxAbs: d.maxAbsError, relative: d.relative })) };
}

export async function compileModel(input: string | Model, opts: CompileOptions = {}): Promise<CompileResult> {
  const log = opts.log ?? (() => {});
  const scheme = opts.scheme ?? 'lbdf';
  if (scheme !== 'lbdf' && scheme !== 'brr') throw badInput(`--scheme ${scheme}: expected lbdf or brr`);
  const hardware = typeof opts.hw === 'object' ? opts.hw : resolveAccelerator(opts.hw, opts.hwOverrides ?? {});
  const passes = resolvePipeline(opts.pipeline);
  const seed = opts.seed ?? 0;

  let model: Model;
  let original: Uint8Array;
  if (typeof input === 'string') {
    model = loadModel(input);
    original = readFileSync(input);
  } else {
    model = input;
    original = encodeModel(model);
  }
  applyShapeOverrides(model, opts.shapes ?? []);
  const inputValues = parseInputValues(opts.inputValues);
  for (const name of Object.keys(inputValues)) {
    if (!model.graph.isGraphInput(name)) throw badInput(`--input-value ${name}=...: the model has no graph input named '${name}' (inputs: ${model.graph.inputs.filter((i) => !model.graph.initializers.has(i.name)).map((i) => i.name).join(', ')})`);
  }
  // Decided on the model as given: the rewrites may move what reveals an input's use into functions.
  const fills = inputFills(model, inputValues);
  log(`${typeof input === 'string' ? opts.modelPathForSchedule ?? input : model.graph.name}: ${model.graph.nodes.length} nodes; ${hardware.name} (buffer ${hardware.bufferBytes} B, ${hardware.elementType}), ${scheme.toUpperCase()}, seed ${seed}; pipeline ${passes.map((p) => p.name).join(',')}`);

  const { schedule } = await runPasses(
    model,
    passes,
    { hardware, scheme: scheme as FusionScheme, seed, options: opts.passOptions ?? {}, log },
    {
      omitTimings: opts.omitTimings,
      modelPath: opts.modelPathForSchedule ?? (typeof input === 'string' ? input : undefined),
      onPassEnd: (r: PassRecord) => log(`  ${r.name}: ${r.changed ? 'changed the graph' : 'no change'} (${r.nodes} nodes, ${r.ms.toFixed(1)} ms)`),
    },
  );
  schedule.graph = scheduleGraph(model);

  const plan = finalPlan(schedule);
  const mode = opts.embed ?? 'functions';
  let embedded: EmbedResult = { functions: 0, annotated: 0, absorbed: 0, skipped: [] };
  if (plan && mode !== 'none') {
    const groups = plan.groups.map((g) => ({ id: g.id, nodes: g.nodes }));
    embedded = mode === 'functions' ? outlineFusionGroups(model, groups, { scheme }) : annotateFusionGroups(model, groups, { scheme });
    log(`embedded ${plan.groups.length} fusion groups from '${plan.pass}' as ${mode === 'functions' ? `${embedded.functions} local functions (domain ${FUSION_DOMAIN})` : 'node metadata'}`);
  } else if (!plan) log('no fusion plan in this pipeline: the model is written without fusion groups');
  schedule.embedding = { mode: plan ? mode : 'none', ...(plan && mode === 'functions' ? { domain: FUSION_DOMAIN } : {}), ...embedded };

  if (opts.verify ?? true) {
    for (const line of describeFills(fills)) log(`onnxruntime check input: ${line}`);
    schedule.verification = await verify(original, model, opts.tolerance ?? 1e-4, seed, inputValues, fills);
    if (schedule.verification.checked) {
      const worst = Math.max(0, ...(schedule.verification.outputs ?? []).map((o) => o.relative));
      log(`onnxruntime check: same outputs as the original (max relative error ${worst.toExponential(2)})`);
    } else log(`onnxruntime check skipped: ${schedule.verification.reason}`);
  } else schedule.verification = { checked: false, reason: 'disabled (--no-verify)' };
  return { model, schedule, plan, failures: annotationFailures(schedule) };
}
