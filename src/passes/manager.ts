/**
 * The pass manager: runs passes in order over one model with one typed PassContext, checks
 * before running anything that every pass's `reads` can be satisfied, times each pass, records
 * whether it changed the graph and what it annotated, drops cached analyses after every
 * change, and checks the IR's structural invariants after each rewriting pass (so a broken
 * rewrite is reported against the pass that made it, not three passes later).
 *
 * Shape of the design (after MLIR, XLA and TVM): passes are independent (MLIR/XLA); analyses are
 * not passes, they are cached on the graph (`graph.analysis`) and invalidated on change;
 * fixed-point iteration is a wrapper (`fixedPoint`), not logic inside a pass.
 *
 * The result is the schedule: a versioned JSON envelope (`Schedule`) whose `passes` list
 * carries each pass's annotations verbatim (the plan pass's part is described by
 * schema/schedule.schema.json).
 */
import { checkModelValues } from '../onnx/check-model.ts';
import type { Model } from '../ir/graph.ts';
import type { Accelerator } from '../hardware/accelerator.ts';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { AnnotationKind, Pass, PassContext, PassOptions, PassResult, PassStatus, OptionsSchema } from './pass.ts';
import type { FusionScheme, OpGraph } from '../fusion/types.ts';
import { makeContext } from './pass.ts';
import { badInput, internal, isDnnfuseError, verificationFailed } from '../errors.ts';
import { TOOL_VERSION } from '../util/version.ts';

/** Version of the schedule envelope. Bump the minor on additive changes, the major otherwise.
 * 2.0: every pass record carries `kind` and `status` (and `reason` when not ok); readers find
 * the final plan, failures and timing fields by them (1.x schedules are read and upgraded by
 * parseSchedule). 2.1 (additive): the optional `planning` section, the op graph the final plan
 * was planned on (the report re-plans it for its DRAM-vs-buffer curve; a 2.0 schedule has none,
 * and its report says so instead of drawing the curve). 2.2 (additive): the optimum's `solver` may be
 * `bound` (the search's plan met every component's lower bound). */
export const SCHEDULE_SCHEMA_VERSION = '2.3';
export const TOOL_NAME = 'dnnfuse';
/** dnnfuse's version (package.json's, from src/ and from dist/ alike), recorded in every schedule. */
export { TOOL_VERSION };

/** One pass's entry in a schedule: name, whether it changed the graph, time, node count after it,
 * and its annotations.
 */
export interface PassRecord<A = unknown> {
  name: string;
  /** What the annotations are (the pass's declared kind; 'custom' when undeclared). */
  kind: AnnotationKind;
  /** 'failed' marks an analysis failure (compile exits 1); 'limit-reached' a fixed point not reached. */
  status: PassStatus;
  reason?: string;
  /** Whether the pass modified the graph. */
  changed: boolean;
  /** Wall-clock milliseconds (0 when the run was asked to omit timings for reproducibility). */
  ms: number;
  /** Node count after the pass. */
  nodes: number;
  /** What the pass wrote into the schedule (JSON-serializable); null when nothing. */
  annotations: A | null;
}

/** The model a schedule describes: name, path, producer, opset, node counts, inputs and outputs. */
export interface ScheduleModelInfo {
  /** Graph name. */
  name: string;
  /** Source path when the model came from a file (as given on the command line). */
  path?: string;
  producer: string;
  opset: number | null;
  nodesBefore: number;
  nodesAfter: number;
  inputs: { name: string; shape: (number | string | null)[] | null }[];
  outputs: { name: string; shape: (number | string | null)[] | null }[];
}

/** The annotated schedule: what `dnnfuse compile` writes to schedule.json. */
export interface Schedule {
  schemaVersion: string;
  tool: { name: string; version: string };
  model: ScheduleModelInfo;
  hardware: Accelerator | null;
  scheme: FusionScheme | null;
  seed: number;
  /** In run order; a pass may appear more than once. */
  passes: PassRecord[];
  /** The operator graph after the passes (node name, op type; edges by value), written by
   * `dnnfuse compile` so that `dnnfuse report` needs nothing but the schedule. */
  graph?: ScheduleGraph;
  /** (2.1) What the final fusion plan was planned on, written by `dnnfuse compile` and
   * `dnnfuse plan` so that `dnnfuse report` re-plans it at other buffer sizes without the model
   * or the pipeline. Absent when no plan or get pass planned, or when a rewrite ran after the
   * final plan. */
  planning?: SchedulePlanning;
  /** How the schedule was embedded into the rewritten model. */
  embedding?: { mode: 'functions' | 'node-metadata' | 'none'; domain?: string; functions: number; annotated: number; absorbed: number; skipped: { id: number; reason: string }[] };
  /** The onnxruntime check of the rewritten model against the original. */
  verification?: {
    checked: boolean;
    reason?: string;
    /** 'allclose': every element within |a-b| <= atol + rtol |b| (numpy, Polygraphy). */
    criterion?: 'allclose';
    rtol?: number;
    atol?: number;
    /** Seeded random inputs (with the seed) or user-given files (--inputs). */
    inputs?: 'random' | 'files';
    seed?: number;
    outputs?: { output: string; ok: boolean; elements: number; mismatched: number; maxAbs: number; meanAbs: number; cosine: number; relative: number }[];
  };
  /** Every node of the rewritten graph in a fusion group, or listed here with why not. */
  coverage?: {
    nodes: number; covered: number; uncovered: { node: string; op: string; reason: string }[]; duplicated: string[]; unknown: string[];
    /** (additive) Every subgraph of the model (If branches, Loop/Scan bodies, nested ones), each
     * node in one group of its subgraph's plan or listed with why. */
    subgraphs?: { path: string; nodes: number; covered: number; uncovered: { node: string; op: string; reason: string }[]; duplicated: string[]; unknown: string[] }[];
  };
}

/** A schedule's `planning` section (2.1): the pass that made the final plan and the fusion op
 * graph it planned (ops in topological order with shapes, weights and kernels; the tensors
 * between them), as the planner takes it. */
export interface SchedulePlanning {
  /** 'plan' or 'get'. */
  pass: string;
  opGraph: OpGraph;
}

/** The operator graph recorded in a schedule (what `dnnfuse report` draws). */
export interface ScheduleGraph {
  nodes: { name: string; op: string }[];
  edges: { from: string; to: string; value: string }[];
}

/** The graph section of a schedule for a model (main graph, topological order). */
export function scheduleGraph(model: Model): ScheduleGraph {
  const g = model.graph;
  const order = g.topoOrder();
  const edges: ScheduleGraph['edges'] = [];
  for (const n of order) {
    for (const i of new Set(n.inputs)) {
      const p = i ? g.producer(i) : undefined;
      if (p) edges.push({ from: p.name, to: n.name, value: i });
    }
  }
  return { nodes: order.map((n) => ({ name: n.name, op: n.opType })), edges };
}

/** What running a pipeline returns: the model (rewritten in place) and its schedule. */
export interface PipelineResult {
  model: Model;
  schedule: Schedule;
}

/** Options of a pipeline run beyond the pass context: per-pass callbacks, timings omitted
 * (reproducible schedules), IR checks after each change, the model path recorded. */
export interface RunOptions {
  /** Called before each pass (progress bars, verbose logs). */
  onPassStart?: (pass: Pass, index: number, total: number) => void;
  /** Called after each pass; a promise it returns is awaited before the next pass starts
   * (compile gives memory back there). */
  onPassEnd?: (record: PassRecord, index: number, total: number) => void | Promise<void>;
  /** Record ms = 0 so that the schedule is byte-identical across runs with the same seed. */
  omitTimings?: boolean;
  /** Check the IR invariants after every pass that reports a change (default true). */
  verifyAfterChange?: boolean;
  /** Source path of the model, recorded in the schedule. */
  modelPath?: string;
}

/** Resolves pass names to passes (the registry's `getPass`); injected to avoid a cycle. */
export type PassResolver = (name: string) => Pass;

const CONTEXT_KEYS = new Set(['hardware', 'scheme']);

/** Requirements the manager knows how to check; anything else is an analysis computed on
 * demand by the pass itself (e.g. 'shapes'), whose failure is the analysis's own clear error. */
function unmetRequirement(req: string, ctx: PassContext, available: Set<string>): string | undefined {
  if (CONTEXT_KEYS.has(req)) {
    if (req === 'hardware' && !ctx.hardware) return 'an accelerator (pass --hw <preset|file>, or ctx.hardware)';
    if (req === 'scheme' && !ctx.scheme) return 'a fusion scheme (pass --scheme lbdf|brr, or ctx.scheme)';
    return undefined;
  }
  if (req.startsWith('annotations:')) {
    const key = req.slice('annotations:'.length);
    if (!available.has(key) && ctx.annotations[key] === undefined) {
      return `the '${key}' annotations (run the '${key}' pass earlier in the pipeline)`;
    }
  }
  return undefined;
}

/** Checks a whole pipeline against a context before anything runs; throws one clear line. */
export function checkPipeline(passes: Pass[], ctx: PassContext): void {
  const available = new Set<string>(Object.keys(ctx.annotations));
  for (const [i, p] of passes.entries()) {
    if (!p || typeof p.run !== 'function' || typeof p.name !== 'string') throw badInput(`pipeline entry ${i + 1} is not a pass (needs name, reads, writes, run)`);
    for (const req of p.reads ?? []) {
      const missing = unmetRequirement(req, ctx, available);
      if (missing) throw badInput(`pass '${p.name}' (pipeline step ${i + 1}) needs ${missing}`);
    }
    available.add(p.name);
    for (const w of p.writes ?? []) if (w.startsWith('annotations:')) available.add(w.slice('annotations:'.length));
  }
}

/** Keys that would reach an object's prototype machinery; refused as pass names and option keys. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const ajv = new Ajv({ allErrors: false, strict: false });
const validators = new WeakMap<OptionsSchema, ValidateFunction>();

/** The first forbidden key at any depth of a JSON value, as a dotted path. */
function forbiddenKey(v: unknown, path = ''): string | undefined {
  if (!v || typeof v !== 'object') return undefined;
  for (const k of Object.keys(v)) {
    const here = path ? `${path}.${k}` : k;
    if (FORBIDDEN_KEYS.has(k)) return here;
    const deeper = forbiddenKey((v as Record<string, unknown>)[k], here);
    if (deeper) return deeper;
  }
  return undefined;
}

function optionError(pass: Pass, e: ErrorObject, value: Record<string, unknown>): string {
  const path = e.instancePath.split('/').slice(1);
  const key = path.join('.');
  if (e.keyword === 'additionalProperties' && path.length === 0) {
    const known = Object.keys(pass.options!.properties);
    return `pass '${pass.name}': unknown option '${(e.params as { additionalProperty: string }).additionalProperty}' (${known.length ? `its options: ${known.join(', ')}` : 'it takes no options'})`;
  }
  let got: unknown = value;
  for (const k of path) got = got && typeof got === 'object' ? (got as Record<string, unknown>)[k] : undefined;
  const what = e.keyword === 'enum' ? `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}` : (e.message ?? 'is invalid');
  return `pass '${pass.name}': option '${key}' ${what}, got ${JSON.stringify(got)}`;
}

/**
 * Checks per-pass options against the pipeline before anything runs: every key names a pass
 * of the pipeline, every entry is an object that its pass's schema accepts (unknown keys and
 * mistyped values fail with one line naming the pass and the key), and no key at any depth is
 * `__proto__`, `constructor` or `prototype`. Returns the options as null-prototype objects.
 */
export function checkOptions(passes: Pass[], options: unknown): PassOptions {
  const out: PassOptions = Object.create(null);
  if (options === undefined || options === null) return out;
  if (typeof options !== 'object' || Array.isArray(options)) throw badInput('pass options must be an object keyed by pass name');
  const byName = new Map(passes.map((p) => [p.name, p]));
  for (const name of Object.keys(options)) {
    const value = (options as Record<string, unknown>)[name];
    if (value === undefined) continue;
    if (FORBIDDEN_KEYS.has(name)) throw badInput(`pass options: '${name}' is not a pass name`);
    const pass = byName.get(name);
    if (!pass) throw badInput(`options given for pass '${name}', which is not in the pipeline (${[...byName.keys()].join(', ') || 'empty'})`);
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw badInput(`pass '${name}': its options must be an object of key: value`);
    const bad = forbiddenKey(value);
    if (bad) throw badInput(`pass '${name}': option key '${bad}' is not allowed`);
    if (pass.options) {
      let validate = validators.get(pass.options);
      if (!validate) validators.set(pass.options, (validate = ajv.compile(pass.options)));
      if (!validate(value)) throw badInput(optionError(pass, validate.errors![0], value as Record<string, unknown>));
    }
    out[name] = Object.assign(Object.create(null), value);
  }
  return out;
}

/** Structural IR invariants that every pass must keep (tinygrad-style small rule list):
 * unique value producers, every input defined, outputs produced, acyclic. Returns the first
 * violation or undefined. */
export function irViolation(model: Model): string | undefined {
  const g = model.graph;
  const defined = new Set<string>();
  for (const i of g.inputs) defined.add(i.name);
  for (const k of g.initializers.keys()) defined.add(k);
  const names = new Set<string>();
  for (const n of g.nodes) {
    if (names.has(n.name) && n.name) return `two nodes are named '${n.name}'`;
    names.add(n.name);
    for (const o of n.outputs) {
      if (!o) continue;
      if (defined.has(o)) return `value '${o}' is produced twice (again by node '${n.name}')`;
      defined.add(o);
    }
  }
  for (const n of g.nodes) {
    for (const i of n.inputs) if (i && !defined.has(i)) return `node '${n.name}' (${n.opType}) reads '${i}', which nothing produces`;
  }
  for (const o of g.outputs) if (!defined.has(o.name)) return `graph output '${o.name}' is not produced`;
  try {
    g.topoOrder();
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  return undefined;
}

const shapeOf = (t: { shape?: (number | string | undefined)[] } | undefined) => (t?.shape ? t.shape.map((d) => (d === undefined ? null : d)) : null);

function modelInfo(model: Model, nodesBefore: number, path?: string): ScheduleModelInfo {
  const g = model.graph;
  return {
    name: g.name,
    ...(path !== undefined ? { path } : {}),
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(' '),
    opset: model.opset('') ?? null,
    nodesBefore,
    nodesAfter: g.nodes.length,
    inputs: g.inputs.filter((i) => !g.initializers.has(i.name)).map((i) => ({ name: i.name, shape: shapeOf(i.type) })),
    outputs: g.outputs.map((o) => ({ name: o.name, shape: shapeOf(o.type) })),
  };
}

/** Runs `passes` in order on `model` (in place) and returns the model and its schedule.
 * `ctx` may be partial; missing fields get defaults (seed 0, no options, silent log). */
export async function runPasses(model: Model, passes: Pass[], partialCtx: Partial<PassContext> = {}, opts: RunOptions = {}): Promise<PipelineResult> {
  const ctx = makeContext({ ...partialCtx, annotations: { ...(partialCtx.annotations ?? {}) }, services: { ...(partialCtx.services ?? {}) } });
  if (!Number.isInteger(ctx.seed)) throw badInput(`seed must be an integer, got ${ctx.seed}`);
  checkPipeline(passes, ctx);
  ctx.options = checkOptions(passes, partialCtx.options);
  checkModelValues(model); // in-memory models too: dims, tensor lengths, dtypes, opset
  const verify = opts.verifyAfterChange ?? true;
  const nodesBefore = model.graph.nodes.length;
  const records: PassRecord[] = [];
  for (const [i, pass] of passes.entries()) {
    opts.onPassStart?.(pass, i, passes.length);
    ctx.log(`[${i + 1}/${passes.length}] ${pass.name}`);
    const t0 = performance.now();
    let result;
    try {
      result = await pass.run(model, ctx);
    } catch (e) {
      if (isDnnfuseError(e)) throw e;
      const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
      throw Object.assign(internal(`pass '${pass.name}' failed: ${msg}`), { cause: e });
    }
    const ms = performance.now() - t0;
    if (!result || typeof result.changed !== 'boolean') throw internal(`pass '${pass.name}' returned no {changed} result`);
    if (result.changed) {
      model.graph.invalidate();
      if (verify) {
        const bad = irViolation(model);
        if (bad) throw verificationFailed(`after pass '${pass.name}': ${bad}`);
      }
    }
    const annotations = result.annotations === undefined ? null : opts.omitTimings ? zeroTimings(result.annotations, pass.timings ?? []) : result.annotations;
    if (annotations !== null) ctx.annotations[pass.name] = annotations;
    const status = result.status ?? 'ok';
    if (status !== 'ok') ctx.log(`${pass.name}: ${status}${result.reason ? `: ${result.reason}` : ''}`);
    const record: PassRecord = { name: pass.name, kind: pass.kind ?? 'custom', status, ...(result.reason !== undefined && status !== 'ok' ? { reason: result.reason } : {}), changed: result.changed, ms: opts.omitTimings ? 0 : Math.round(ms * 1000) / 1000, nodes: model.graph.nodes.length, annotations };
    records.push(record);
    await opts.onPassEnd?.(record, i, passes.length);
  }
  const schedule: Schedule = {
    schemaVersion: SCHEDULE_SCHEMA_VERSION,
    tool: { name: TOOL_NAME, version: TOOL_VERSION },
    model: modelInfo(model, nodesBefore, opts.modelPath),
    hardware: ctx.hardware ?? null,
    scheme: ctx.scheme ?? null,
    seed: ctx.seed,
    passes: records,
  };
  return { model, schedule };
}

/** The wall-clock fields a pass declares (`Pass.timings`: dotted paths, '*' for every array
 * element or key) set to 0, so that a reproducible run (omitTimings) gives a byte-identical
 * schedule for the same seed. Only numbers at those paths change; nothing is guessed from key
 * names. Returns a copy along the paths; the pass's object is left alone. */
export function zeroTimings<T>(value: T, paths: readonly string[]): T {
  const at = (v: unknown, parts: string[]): unknown => {
    if (parts.length === 0) return typeof v === 'number' ? 0 : v;
    const [head, ...rest] = parts;
    if (Array.isArray(v)) return head === '*' ? v.map((x) => at(x, rest)) : v;
    if (!v || typeof v !== 'object') return v;
    const src = v as Record<string, unknown>;
    const keys = head === '*' ? Object.keys(src) : Object.prototype.hasOwnProperty.call(src, head) ? [head] : [];
    if (!keys.length) return v;
    const o: Record<string, unknown> = { ...src };
    for (const k of keys) o[k] = at(src[k], rest);
    return o;
  };
  return paths.reduce((v, p) => at(v, p.split('.')) as T, value);
}

/** The outcome of a fixed-point iteration. */
export interface FixedPointRun {
  /** Whether any step changed something. */
  changed: boolean;
  /** Steps that changed something. */
  iterations: number;
  /** True when the last allowed step still changed something: the fixed point may not be reached. */
  limitReached: boolean;
}

/** The fixed-point loop itself (one implementation, for the `fixedPoint` wrapper and for passes
 * that iterate an inner sweep): runs `step` until it reports no change, at most `max` steps. */
export async function iterateToFixedPoint(step: () => boolean | Promise<boolean>, max: number): Promise<FixedPointRun> {
  let iterations = 0;
  while (iterations < max && (await step())) iterations++;
  return { changed: iterations > 0, iterations, limitReached: iterations >= max };
}

/** Synchronous form of iterateToFixedPoint, for passes whose sweep is synchronous. */
export function iterateToFixedPointSync(step: () => boolean, max: number): FixedPointRun {
  let iterations = 0;
  while (iterations < max && step()) iterations++;
  return { changed: iterations > 0, iterations, limitReached: iterations >= max };
}

/** The status and reason a pass reports when its fixed-point iteration hit its limit. */
export function limitStatus(name: string, run: FixedPointRun, max: number): Pick<PassResult, 'status' | 'reason'> {
  return run.limitReached ? { status: 'limit-reached', reason: `no fixed point after ${max} iterations of '${name}' (each changed the graph); stopped there` } : {};
}

/** A pass that re-runs `inner` until it reports no change (XLA's HloPassFix), at most
 * `maxIterations` times; it reports the last non-null annotations, and when the limit is
 * reached says so (record status 'limit-reached' with the reason, and the log) rather than
 * stopping silently. */
export function fixedPoint<A>(inner: Pass<A>, maxIterations = 10): Pass<A> {
  return {
    ...inner,
    description: `${inner.description} (repeated to a fixed point, at most ${maxIterations} times)`,
    async run(model, ctx) {
      let annotations: A | undefined;
      const run = await iterateToFixedPoint(async () => {
        const r = await inner.run(model, ctx);
        if (r.annotations !== undefined) annotations = r.annotations;
        if (r.changed) model.graph.invalidate();
        return r.changed;
      }, maxIterations);
      return { changed: run.changed, annotations, ...limitStatus(inner.name, run, maxIterations) };
    },
  };
}

/** The annotations of the last run of pass `name` in a schedule, typed by the caller. */
export function annotationsOf<A = unknown>(schedule: Schedule, name: string): A | undefined {
  for (let i = schedule.passes.length - 1; i >= 0; i--) {
    const p = schedule.passes[i];
    if (p.name === name && p.annotations !== null) return p.annotations as A;
  }
  return undefined;
}

/** JSON text of a schedule (stable key order as built, 2-space indent, trailing newline).
 * BigInts (should a pass leak one) are written as decimal strings. */
export function scheduleToJson(schedule: Schedule): string {
  return JSON.stringify(schedule, (_k, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Map ? Object.fromEntries(v) : v), 2) + '\n';
}

/** Parses and validates the envelope of a schedule.json (the per-pass parts are the passes'). */
export function parseSchedule(text: string, source = 'schedule'): Schedule {
  let s: unknown;
  try {
    s = JSON.parse(text);
  } catch (e) {
    throw badInput(`${source}: not valid JSON (${e instanceof Error ? e.message : e})`);
  }
  const o = s as Partial<Schedule>;
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw badInput(`${source}: not a dnnfuse schedule (expected a JSON object)`);
  if (typeof o.schemaVersion !== 'string') throw badInput(`${source}: not a dnnfuse schedule (no schemaVersion field)`);
  const major = o.schemaVersion.split('.')[0];
  if (major !== SCHEDULE_SCHEMA_VERSION.split('.')[0] && major !== '1') {
    throw badInput(`${source}: schedule schemaVersion ${o.schemaVersion} is not supported (this dnnfuse reads 1.x and ${SCHEDULE_SCHEMA_VERSION.split('.')[0]}.x)`);
  }
  if (!Array.isArray(o.passes)) throw badInput(`${source}: field 'passes' must be an array`);
  if (!o.model || typeof o.model !== 'object') throw badInput(`${source}: field 'model' is missing`);
  for (const [i, p] of o.passes.entries()) {
    if (!p || typeof p.name !== 'string') throw badInput(`${source}: passes[${i}] has no name`);
  }
  if (major === '1') o.passes = o.passes.map(upgradeRecord1x);
  return o as Schedule;
}

/** A 1.x pass record as a 2.0 one: 1.x had no kind or status, so they are inferred here, once,
 * from what 1.x writers wrote (plan/get or any record with a `groups` array was a fusion plan;
 * `allCertified: false` / `feasible: false` were failures). */
function upgradeRecord1x(p: PassRecord): PassRecord {
  const a = (p.annotations ?? {}) as Record<string, unknown>;
  const kind: AnnotationKind = p.kind ?? (p.name === 'plan' || p.name === 'get' || Array.isArray(a.groups) ? 'fusion-plan' : p.name === 'learnability' ? 'certificates' : 'custom');
  const failed = a.allCertified === false || a.feasible === false;
  const { name, kind: _k, status: _s, ...rest } = p;
  return { name, kind, status: p.status ?? (failed ? 'failed' : 'ok'), ...(failed && !p.status ? { reason: a.allCertified === false ? 'not certified' : 'the plan is not feasible' } : {}), ...rest };
}
