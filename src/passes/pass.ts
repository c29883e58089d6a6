/**
 * The one interface every pass implements, and the context that travels with a pipeline.
 * A pass maps a model to a model (in place), declares what it reads and what it writes, the
 * JSON Schema of its options, and returns whether it changed the graph plus its annotations
 * for the schedule. Passes never call each other; the pass manager runs them in order
 * (src/passes/manager.ts) after validating every pass's options against its schema.
 */
import type { Model } from '../ir/graph.ts';
import type { Accelerator } from '../hardware/accelerator.ts';
import type { FusionScheme, Rectifier } from '../fusion/types.ts';
import type { Feeds } from '../analysis/ort.ts';

/**
 * Options of the passes by pass name: each pass file adds its entry by declaration merging,
 *   declare module './pass.ts' { interface PassOptionsMap { plan: PlanPassOptions } }
 * so that `ctx.options.plan` is typed in the pass and in a library caller's context without
 * casts. A third-party pass may add its own entry the same way from its module.
 */
export interface PassOptionsMap {}

/** ctx.options: the typed entries of the built-in passes, any object for other passes (the
 * manager checks every entry against its pass's schema before anything runs). */
export type PassOptions = { [K in keyof PassOptionsMap]?: PassOptionsMap[K] } & { [pass: string]: object | undefined };

/** JSON Schema (the subset ajv validates) of one pass's options: an object whose keys are the
 * options; `additionalProperties: false` makes an unknown key an error naming it. */
export interface OptionsSchema {
  type: 'object';
  properties: Record<string, Record<string, unknown>>;
  additionalProperties: false;
}

/** Hooks that are not JSON (functions, tensors): they travel here, never in options, so that
 * options stay serializable, checkable and recordable. */
export interface PassServices {
  /** Progress of a long search (the plan pass): plans done, plans planned, best DRAM so far (bytes). */
  onProgress?: (done: number, total: number, bestDramBytes: number) => void;
  /** A custom rectifier of invalid groups for the plan pass, replacing the one named by
   * options.plan.rectifier; `name` is recorded in the schedule. */
  rectifier?: { rectify: Rectifier; name: string };
  /** Calibration batches for the sgs pass (instead of options.sgs.calib). */
  calibrationFeeds?: Feeds[];
}

/** Typed options shared by a pipeline run (TVM's PassContext, in small). */
export interface PassContext {
  hardware?: Accelerator;
  scheme?: FusionScheme;
  /** Every search and training run derives its randomness from this seed. */
  seed: number;
  /** Per-pass options, keyed by pass name (JSON values only). */
  options: PassOptions;
  /** Non-JSON hooks (progress callbacks, custom rectifiers, in-memory calibration data). */
  services: PassServices;
  /** Progress and diagnostics go to stderr through this (silent under --quiet). */
  log: (message: string) => void;
  /** Annotations written by earlier passes in the same run, by pass name. */
  annotations: Record<string, unknown>;
}

/** What a pass's annotations are, recorded with them in the schedule so that readers find them
 * by tag: 'fusion-plan' (groups in execution order with their figures: plan, get and any
 * third-party planner; the last one is the final plan), 'certificates' (learnability),
 * 'rewrite' (a rewrite log), 'sgs-scales', 'analysis', 'check'; 'custom' when undeclared. */
export type AnnotationKind = 'fusion-plan' | 'certificates' | 'rewrite' | 'sgs-scales' | 'analysis' | 'check' | 'custom';

/** What a pass returns: whether it changed the graph, and its annotations (JSON-serializable) for
 * the schedule.
 */
export interface PassResult<A = unknown> {
  /** Whether the graph was modified (drives analysis invalidation and fixed-point loops). */
  changed: boolean;
  /** What the pass writes into the schedule under its name (JSON-serializable). */
  annotations?: A;
  /** 'failed': an analysis result that is a failure (a certificate not granted, an infeasible
   * plan); compile then exits 1 and writes nothing. Default 'ok'. A limit reached
   * (fixedPoint) is 'limit-reached'. */
  status?: PassStatus;
  /** One line saying why, for a status other than 'ok'. */
  reason?: string;
}

/** How a pass's result stands (PassResult.status): 'ok', 'failed' (an analysis result that is a
 * failure), 'limit-reached' (an iteration limit). */
export type PassStatus = 'ok' | 'failed' | 'limit-reached';

/** A compiler pass: declares what it reads and writes, and maps a model to a model (in place) with
 * annotations for the schedule. Register your own with `registerPass`; the pass manager checks
 * `reads` before a pipeline runs.
 */
export interface Pass<A = unknown> {
  name: string;
  description: string;
  /** Analyses/annotations it needs: e.g. 'shapes', 'hardware', 'annotations:plan'. */
  reads: string[];
  /** What it produces: e.g. 'graph' (rewrites the model), 'annotations:plan'. */
  writes: string[];
  /** What its annotations are (see AnnotationKind; default 'custom'). */
  kind?: AnnotationKind;
  /** Wall-clock fields of its annotations, as dotted paths ('*' = every array element or key),
   * e.g. 'search.ms' or 'certificates.*.timing.gnnMs'; a reproducible run records them as 0. */
  timings?: string[];
  /** Schema of ctx.options[name]. Every built-in pass declares one (an empty `properties` when
   * it takes none); a third-party pass without one gets its options unchecked. */
  options?: OptionsSchema;
  run(model: Model, ctx: PassContext): PassResult<A> | Promise<PassResult<A>>;
}

/** An options schema from its properties (closed: unknown keys are rejected). */
export function optionsSchema(properties: Record<string, Record<string, unknown>> = {}): OptionsSchema {
  return { type: 'object', properties, additionalProperties: false };
}

/** A full PassContext from a partial one (seed 0, no options, silent log, no annotations by
 * default).
 */
export function makeContext(partial: Partial<PassContext> = {}): PassContext {
  return { seed: 0, options: {}, services: {}, log: () => {}, annotations: {}, ...partial };
}
