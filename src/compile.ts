/**
 * The whole compile job as one library call (what `dnnfuse compile` runs): load, fix dynamic
 * input shapes, run the pipeline, embed the final fusion plan into the model (functions or
 * node metadata), and check the rewritten model against the original in onnxruntime.
 * Nothing is written here; the CLI writes the two outputs once everything succeeded.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Model } from './ir/graph.ts';
import { loadModel, encodeModel, inflateModelFile, isGzipFile, writeModelFile } from './onnx/io.ts';
import { LazyFile, releaseScratch } from './onnx/lazy.ts';
import { spillInitializers } from './onnx/spill.ts';
import { outlineFusionGroups, annotateFusionGroups, FUSION_DOMAIN, type EmbedResult } from './onnx/functions.ts';
import { applyDimOverrides, applyShapeOverrides, inferShapes } from './analysis/shapes.ts';
import { prod } from './analysis/shapes/context.ts';
import { dtypeBytes, isKnownDtype } from './ir/dtype.ts';

export { applyDimOverrides, applyShapeOverrides };
import { resolveAccelerator, type HardwareOverrides } from './hardware/load.ts';
import type { Accelerator } from './hardware/accelerator.ts';
import type { Pass } from './passes/pass.ts';
import type { FusionScheme } from './fusion/types.ts';
import { runPasses, scheduleGraph, type Schedule, type PassRecord } from './passes/manager.ts';
import { parsePipeline, defaultPipeline } from './passes/registry.ts';
import { finalPlan, type ScheduledPlan } from './passes/schedule-groups.ts';
import { planningSection } from './passes/plan-fusion.ts';
import { subgraphGroups } from './search/subgraph-plans.ts';
import type { FusionPlanJson } from './search/planner.ts';
import { assertOrtResolvable, ort, runModel, randomFeeds, type Feeds, type HostTensor, type SessionOptions } from './analysis/ort.ts';
import { parkOutputs, unparkOutputs } from './analysis/park.ts';
import { unseededRandomOutput } from './analysis/random-ops.ts';
import { allclose, describeMiss, DEFAULT_RTOL, DEFAULT_ATOL, HALF_ATOL, HALF_RTOL, halfPrecisionReason } from './analysis/compare.ts';
import { loadInputs } from './analysis/inputs.ts';
import { planCoverage, subgraphCoverage } from './fusion/coverage.ts';
import { badInput, verificationFailed, DnnfuseError } from './errors.ts';
import { describeFills, inputFills, parseInputValues, type InputFill } from './analysis/input-ranges.ts';
import { traceMemory } from './util/memtrace.ts';
import { collectGarbage, reduceHeap, settleGarbage, youngGenerationBytes } from './util/gc.ts';
import { releaseSolver } from './search/exact.ts';

/** Young generation (resident) from which a pass's end gives it back (util/gc.ts reduceHeap):
 * half of V8's 64-bit maximum of two 16 MiB semi-spaces. A collection costs ~50 ms. */
const REDUCE_YOUNG_BYTES = 16 << 20;

/** Options of `compile` (the `dnnfuse compile` job without writing files); every field has the CLI
 * option's default.
 */
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
  /** `name=N` specs fixing every graph input's dim named `name` (an ONNX dim_param), before `shapes`. */
  dims?: string[];
  passOptions?: Record<string, Record<string, unknown>>;
  /** How the final fusion plan is carried by the model (default 'functions'). */
  embed?: 'functions' | 'node-metadata' | 'none';
  /** Check the rewritten model against the original in onnxruntime (default true). */
  verify?: boolean;
  /** allclose criterion of the check, |a-b| <= atol + rtol |b| (defaults 1e-5, 1e-5: Polygraphy's;
   * 1e-3, 1e-3 for a model that computes in float16 or bfloat16: HALF_RTOL). */
  rtol?: number;
  atol?: number;
  /** `--inputs` specs (name=path or path; .npy, TensorProto .pb, or a test_data_set folder)
   * fed to the check instead of seeded random inputs. */
  inputs?: string[];
  /** `name=value` specs fixing an input's every element in the check (`--input-value sr=16000`). */
  inputValues?: string[];
  omitTimings?: boolean;
  log?: (message: string) => void;
  /** Path recorded in the schedule (default: the path given). */
  modelPathForSchedule?: string;
  /** @internal A folder for the rewritten model's file of the check, kept after the call: the
   * returned model's pass-made weights are read from it (onnx/spill.ts), so none is in memory
   * while the check runs. The caller removes the folder after its last use of the model
   * (`dnnfuse compile`: after writing its outputs). */
  spillDir?: string;
}

/** What `compile` returns: the rewritten model (fusion groups embedded), its schedule, the final
 * plan and the failures the passes reported.
 */
export interface CompileResult {
  model: Model;
  schedule: Schedule;
  plan?: ScheduledPlan;
  /** Analysis results that are failures: a learnability certificate not granted, a plan the
   * planner itself marks infeasible. Empty in a returned result: when it is not, compile()
   * rejects with CompileFailed (which carries the result) and the CLI writes nothing. */
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

/** The original model of the check: its file, which onnxruntime reads itself (no copy of the
 * model's bytes is held in this process while the passes run; the file must be the one loaded),
 * or the encoded bytes of a model given in memory. */
type OriginalModel = { path: string; stamp: string } | Uint8Array;

const stampOf = (path: string) => LazyFile.stampOf(statSync(path));

/** The original's file, refused when it changed on disk since it was loaded (the rewritten model
 * was made from what was loaded, a different file would make the check meaningless). */
function originalFile(original: OriginalModel): Uint8Array | string {
  if (original instanceof Uint8Array) return original;
  let now: string | undefined;
  try {
    now = stampOf(original.path);
  } catch {
    /* gone: named below */
  }
  if (now !== original.stamp) throw badInput(`${original.path}: the model file changed on disk while it was compiled; nothing was checked or written, run again`);
  // onnxruntime reads no gzip: a compressed model is handed over inflated.
  return isGzipFile(original.path) ? inflateModelFile(original.path) : original.path;
}

/** Writes the rewritten model for the check into `dir` (piecewise, see writeModelFile), so that
 * its encoded bytes are never one array in this process while its session reads them; undefined
 * for a model with external data or a folder that cannot be written (the check then runs the
 * encoded bytes). With `spill`, the model's pass-made weights are then read from that file
 * (onnx/spill.ts) and the IR holds none of them while the sessions run. */
function stageRewritten(model: Model, dir: string, spill: boolean): string | undefined {
  const file = join(dir, 'rewritten.onnx');
  try {
    if (!writeModelFile(model, file)) return undefined;
  } catch {
    return undefined;
  }
  if (spill) spillInitializers(model, file);
  return file;
}

/** glibc's largest dynamic mmap threshold on 64-bit Linux (DEFAULT_MMAP_THRESHOLD_MAX): a
 * block of this size or more is always a mapping of its own, returned to the system when freed. */
const MMAP_THRESHOLD_MAX = 32 << 20;

/** The size from which glibc maps a block on its own in this process: the fixed threshold the
 * environment sets (MALLOC_MMAP_THRESHOLD_, which also stops it rising), else the most it rises to. */
function mappedFrom(env: NodeJS.ProcessEnv = process.env): number {
  const fixed = Number(env.MALLOC_MMAP_THRESHOLD_);
  return env.MALLOC_MMAP_THRESHOLD_ !== undefined && Number.isInteger(fixed) && fixed >= 0 ? Math.min(fixed, MMAP_THRESHOLD_MAX) : MMAP_THRESHOLD_MAX;
}

/**
 * Whether the check's sessions use onnxruntime's CPU memory arena: when most of the bytes of the
 * model's intermediate tensors are in tensors under 32 MiB. Without the arena every tensor is a
 * malloc. glibc maps a block above its mmap threshold on its own, but the threshold rises to the
 * size of any mapped block freed (up to 32 MiB), and by the check a compile has freed many (weights
 * read, models encoded), so smaller tensors come from the heap, which the compile has left
 * fragmented: onnxruntime's run then added 60-160 MiB to the same process where a fresh one adds
 * ~30 (PP-OCRv4 det 640x640, largest tensor 12.5 MiB; with MALLOC_MMAP_THRESHOLD_=131072 fixing
 * the threshold, +20-30 MiB). The arena takes a few large mapped regions instead: compile peaks at
 * 254 MiB instead of 290 (bench:memory, median of 3). Where the passes leave the threshold low
 * (their large arrays are page-mapped, util/paged.ts: ~1.6 MiB before PP-OCRv4 det's check), the
 * first session's own frees still raise it for the second: 238-245 MiB without the arena, 196-213
 * with it. It rounds its regions up to powers of two,
 * which costs most where large tensors dominate: IS-Net at 1024x1024 (2.6 GiB of 4.3 in tensors
 * of 32 MiB or more, up to 128 MiB), 1184 MiB with it, 988 without. A model whose tensor sizes are
 * not all known (a symbolic dim, a value inference cannot size) runs without it. With
 * MALLOC_MMAP_THRESHOLD_ set (README, "Memory"), tensors from that size on count as large: at
 * 131072, nearly all of them, so no arena, and PP-OCRv4 det's compile peaks at ~200 MiB.
 * @internal (exported for its tests)
 */
export function checkArena(model: Model, env: NodeJS.ProcessEnv = process.env): boolean {
  const mapped = mappedFrom(env);
  let types;
  try {
    types = inferShapes(model);
  } catch {
    return false;
  }
  let small = 0, large = 0;
  for (const n of model.graph.nodes) {
    for (const o of n.outputs) {
      if (!o) continue;
      const t = types.get(o);
      const count = t?.shape && isKnownDtype(t.elemType) ? prod(t.shape) : undefined;
      if (!t || count === undefined) return false;
      const bytes = dtypeBytes(t.elemType, count);
      if (bytes >= mapped) large += bytes;
      else small += bytes;
    }
  }
  return small > large;
}

/** Runs the rewritten model against the original (user-given inputs, or seeded random ones
 * fitting each input's dtype and use) and compares every output with allclose
 * (src/analysis/compare.ts). One session at a time: the original's is released before the
 * rewritten model's is created. */
async function verify(original: OriginalModel, rewritten: Model, o: { arena: boolean; rtol: number; atol: number; seed: number; feeds?: Feeds; values?: Record<string, number>; fills?: Record<string, InputFill>; spillDir?: string; random?: { output: string; node: string; opType: string } }): Promise<NonNullable<Schedule['verification']>> {
  if (o.random) return { checked: false, reason: `output '${o.random.output}' depends on node '${o.random.node}' (${o.random.opType}), which draws new random numbers in every run (no seed attribute): two runs cannot be compared` };
  let feeds: Feeds;
  if (o.feeds) feeds = o.feeds;
  else {
    try {
      feeds = randomFeeds(rewritten, o.seed, {}, o.values ?? {}, o.fills ?? {});
    } catch (e) {
      return { checked: false, reason: e instanceof Error ? e.message : String(e) };
    }
  }
  // Memory arena or not: see checkArena. No memory pattern: for a model run once it only adds
  // memory (PP-OCRv4 det 640x640: 181 -> 153 MiB for one session without the arena; ResNet-50,
  // DeepLabV3 and IS-Net the same either way).
  const so: SessionOptions = { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1, cpuMemArena: o.arena, memPattern: false };
  await ort(); // onnxruntime-node missing is an error of its own (exit 2), not an unrunnable model
  const source = originalFile(original);
  // The rewritten model's file is written before any session, and with a spill folder (the CLI's)
  // its new weights are released into it: the IR then holds no weights while the sessions run.
  let tmp: string | undefined;
  let ref: Record<string, HostTensor>;
  let got: Record<string, HostTensor>;
  try {
    let staged: string | undefined;
    let dir: string | undefined;
    try {
      dir = o.spillDir ?? (tmp = mkdtempSync(join(tmpdir(), 'dnnfuse-check-')));
      staged = stageRewritten(rewritten, dir, o.spillDir !== undefined);
    } catch {
      staged = undefined;
    }
    releaseScratch(); // the weight readers' scratch buffer (onnx/lazy.ts): no pass reads weights any more
    await settleGarbage(6); // the plan pass's HiGHS memory goes with the fifth round (util/gc.ts)
    await reduceHeap(); // and the young generation the passes grew: 32 MiB less under the sessions
    traceMemory('check: before the first session');
    try {
      ref = await runModel(source, feeds, so);
      traceMemory('check: original run');
    } catch (e) {
      // An original onnxruntime cannot run (custom ops, unsupported opset) cannot be checked.
      const msg = (e instanceof Error ? e.message : String(e)).slice(0, 200);
      // A run (not load) failure on random inputs is often the inputs' fault: indices out of range, a shape tensor.
      const hint = !o.feeds && msg.startsWith('onnxruntime failed to run') ? '; the inputs were seeded random values: give real ones with --inputs' : '';
      return { checked: false, reason: `onnxruntime cannot run the original model (${msg})${hint}` };
    }
    // The original's outputs wait in files while the rewritten model's session runs (src/analysis/park.ts).
    const parked = dir === undefined ? undefined : parkOutputs(ref, dir);
    if (parked) {
      ref = {};
      await settleGarbage(6); // their memory is native: nothing else would free it before the next session allocates
      traceMemory('check: outputs parked');
    }
    try {
      got = await runModel(staged ?? encodeModel(rewritten), feeds, so);
      traceMemory('check: rewritten run');
    } catch (e) {
      throw verificationFailed(`the rewritten model does not run in onnxruntime while the original does: ${(e instanceof Error ? e.message : String(e)).slice(0, 300)}`);
    }
    if (parked) ref = unparkOutputs(parked);
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
  const c = allclose(ref, got, { rtol: o.rtol, atol: o.atol });
  const miss = c.outputs.find((d) => !d.ok);
  if (miss) throw verificationFailed(`the rewritten model's output '${miss.output}' differs from the original: ${describeMiss(miss, o.rtol, o.atol)}`);
  return {
    checked: true,
    criterion: 'allclose',
    rtol: o.rtol,
    atol: o.atol,
    inputs: o.feeds ? 'files' : 'random',
    ...(o.feeds ? {} : { seed: o.seed }),
    outputs: c.outputs.map((d) => ({ output: d.output, ok: d.ok, elements: d.elements, mismatched: d.mismatched, maxAbs: d.maxAbs, meanAbs: d.meanAbs, cosine: d.cosine, relative: d.relative })),
  };
}

/** The whole `dnnfuse compile` job on a model file or IR model, without writing anything: shape
 * overrides, the pass pipeline, embedding of the final fusion plan, and the onnxruntime check of
 * the rewritten model against the original (needs onnxruntime-node unless `verify: false`). Throws
 * a DnnfuseError on bad input (exitCode 2) or a failed check (exitCode 1).
 */
export async function compileModel(input: string | Model, opts: CompileOptions = {}): Promise<CompileResult> {
  const log = opts.log ?? (() => {});
  const scheme = opts.scheme ?? 'lbdf';
  if (scheme !== 'lbdf' && scheme !== 'brr') throw badInput(`--scheme ${scheme}: expected lbdf or brr`);
  const hardware = typeof opts.hw === 'object' ? opts.hw : resolveAccelerator(opts.hw, opts.hwOverrides ?? {});
  const passes = resolvePipeline(opts.pipeline);
  const seed = opts.seed ?? 0;
  if (opts.verify ?? true) assertOrtResolvable();

  let model: Model;
  let original: OriginalModel;
  if (typeof input === 'string') {
    // Stamped before the load: a file replaced during the load is caught by the check.
    let stamp = '';
    try {
      stamp = stampOf(input);
    } catch {
      /* loadModel names the error */
    }
    model = loadModel(input);
    traceMemory('load');
    original = { path: resolve(input), stamp };
  } else {
    model = input;
    original = (opts.verify ?? true) ? encodeModel(model) : new Uint8Array(0); // before the passes change it
  }
  applyDimOverrides(model, opts.dims ?? []);
  applyShapeOverrides(model, opts.shapes ?? []);
  // Decided on the model as given: a float16 model gets float16's tolerances by default.
  const half = halfPrecisionReason(model);
  // User-given inputs are read and checked against the model before any pass runs.
  const userFeeds = opts.inputs?.length && (opts.verify ?? true) ? loadInputs(model, opts.inputs) : undefined;
  const inputValues = parseInputValues(opts.inputValues);
  for (const name of Object.keys(inputValues)) {
    if (!model.graph.isGraphInput(name)) throw badInput(`--input-value ${name}=...: the model has no graph input named '${name}' (inputs: ${model.graph.inputs.filter((i) => !model.graph.initializers.has(i.name)).map((i) => i.name).join(', ')})`);
  }
  // Decided on the model as given: the rewrites may move what reveals an input's use into functions.
  const fills = inputFills(model, inputValues);
  // Before the rewrites too: they move nodes into fusion functions.
  const random = unseededRandomOutput(model.graph);
  log(`${typeof input === 'string' ? opts.modelPathForSchedule ?? input : model.graph.name}: ${model.graph.nodes.length} nodes; ${hardware.name} (buffer ${hardware.bufferBytes} B, ${hardware.elementType}), ${scheme.toUpperCase()}, seed ${seed}; pipeline ${passes.map((p) => p.name).join(',')}`);

  const { schedule } = await runPasses(
    model,
    passes,
    { hardware, scheme: scheme as FusionScheme, seed, options: opts.passOptions ?? {}, log },
    {
      omitTimings: opts.omitTimings,
      modelPath: opts.modelPathForSchedule ?? (typeof input === 'string' ? input : undefined),
      onPassEnd: async (r: PassRecord) => {
        log(`  ${r.name}: ${r.changed ? 'changed the graph' : 'no change'} (${r.nodes} nodes, ${r.ms.toFixed(1)} ms)`);
        if (releaseSolver()) collectGarbage(); // HiGHS's memory and code back to the system
        // A pass that grew the young generation (the plan pass's enumeration) gives it back
        // before the next pass stands on it (PP-OCRv4 det: 200 -> ~105 MiB resident after the
        // plan pass).
        if (youngGenerationBytes() >= REDUCE_YOUNG_BYTES) await reduceHeap();
        traceMemory(`pass ${r.name}`);
      },
    },
  );
  schedule.graph = scheduleGraph(model);
  const planning = planningSection(model, schedule);
  if (planning) schedule.planning = planning;

  const plan = finalPlan(schedule);
  // The final plan pass's annotations: a fusion plan (schema $defs.fusionPlan).
  const raw = plan?.raw as unknown as FusionPlanJson | undefined;
  if (plan && raw) {
    schedule.coverage = planCoverage(model, plan.groups, raw.unplanned ?? []);
    if (model.graph.nodes.some((n) => n.subgraphs().length)) schedule.coverage.subgraphs = subgraphCoverage(model, raw);
    const u = schedule.coverage.uncovered;
    if (u.length) log(`${u.length} of ${schedule.coverage.nodes} nodes are in no fusion group (listed with the reason in the schedule's coverage section): ${u.slice(0, 5).map((x) => `${x.node} (${x.op})`).join(', ')}${u.length > 5 ? ', ...' : ''}`);
  }
  // Decided on the model before its groups move into functions (their tensors' shapes are the graph's).
  const arena = (opts.verify ?? true) && checkArena(model);
  const mode = opts.embed ?? 'functions';
  let embedded: EmbedResult = { functions: 0, annotated: 0, absorbed: 0, skipped: [] };
  if (plan && mode !== 'none') {
    const groups = plan.groups.map((g) => ({ id: g.id, nodes: g.nodes }));
    // the groups of the subgraphs' own plans (If/Loop/Scan bodies), embedded in those subgraphs
    const subgraphs = raw && Array.isArray(raw.groups) ? subgraphGroups(raw) : [];
    embedded = mode === 'functions' ? outlineFusionGroups(model, groups, { scheme, subgraphs }) : annotateFusionGroups(model, groups, { scheme, subgraphs });
    const inner = subgraphs.reduce((a, x) => a + x.groups.length, 0);
    log(`embedded ${plan.groups.length} fusion groups from '${plan.pass}'${inner ? ` and ${inner} in ${subgraphs.length} subgraphs` : ''} as ${mode === 'functions' ? `${embedded.functions} local functions (domain ${FUSION_DOMAIN})` : 'node metadata'}`);
  } else if (!plan) log('no fusion plan in this pipeline: the model is written without fusion groups');
  traceMemory('embed');
  schedule.embedding = { mode: plan ? mode : 'none', ...(plan && mode === 'functions' ? { domain: FUSION_DOMAIN } : {}), ...embedded };

  if (opts.verify ?? true) {
    const rtol = opts.rtol ?? (half ? HALF_RTOL : DEFAULT_RTOL), atol = opts.atol ?? (half ? HALF_ATOL : DEFAULT_ATOL);
    if (half && (opts.rtol === undefined || opts.atol === undefined)) log(`onnxruntime check: the model computes in float16 (${half}): default tolerances rtol ${HALF_RTOL}, atol ${HALF_ATOL}, float16's epsilon (onnxruntime's float16 rounding on CPU follows the graph's structure)`);
    if (!userFeeds) for (const line of describeFills(fills)) log(`onnxruntime check input: ${line}`);
    schedule.verification = await verify(original, model, { arena, rtol, atol, seed, feeds: userFeeds, values: inputValues, fills, spillDir: opts.spillDir, random: random && { output: random.output, node: random.node.name, opType: random.node.opType } });
    if (schedule.verification.checked) {
      const outs = schedule.verification.outputs ?? [];
      const worst = Math.max(0, ...outs.map((o) => o.maxAbs));
      const cos = Math.min(1, ...outs.map((o) => o.cosine));
      log(`onnxruntime check: same outputs as the original (allclose rtol ${rtol}, atol ${atol}; max abs error ${worst.toExponential(2)}, min cosine ${cos.toFixed(7)})`);
      // Empty outputs agree whatever the model computes (a detector whose random weights leave
      // no box above its threshold): say so rather than let "same outputs" stand alone.
      const empty = outs.filter((o) => o.elements === 0).map((o) => `'${o.output}'`);
      if (empty.length) {
        const all = empty.length === outs.length, many = empty.length > 1;
        const which = all ? 'every output is' : `output${many ? 's' : ''} ${empty.join(', ')} ${many ? 'are' : 'is'}`;
        log(`onnxruntime check: ${which} empty on these inputs, so only ${all || many ? 'their shapes were' : 'its shape was'} compared${userFeeds ? '' : ' (--inputs gives inputs on which the model outputs something)'}`);
      }
    } else log(`onnxruntime check skipped: ${schedule.verification.reason}`);
  } else schedule.verification = { checked: false, reason: 'disabled (--no-verify)' };
  const result: CompileResult = { model, schedule, plan, failures: annotationFailures(schedule) };
  // The contract (README "dnnfuse compile"): any failure fails the whole job.
  if (result.failures.length) throw new CompileFailed(result);
  return result;
}

/**
 * The one rule for a failed analysis (a learnability certificate not granted, a plan the planner
 * marks infeasible), the same as for a failed onnxruntime check: the job fails. The CLI exits 1
 * and writes nothing; `compile()` rejects with this error (exit code 1), which carries the
 * result (rewritten model, schedule) for inspection.
 */
export class CompileFailed extends DnnfuseError {
  readonly result: CompileResult;
  constructor(result: CompileResult) {
    super('verification', `FAILED: ${result.failures.join('; ')}`);
    this.result = result;
  }
}
