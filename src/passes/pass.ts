/**
 * The one interface every pass implements, and the context that travels with a pipeline.
 * A pass maps a model to a model (in place), declares what it reads and what it writes, and
 * returns whether it changed the graph plus its annotations for the schedule. Passes never
 * call each other; the pass manager runs them in order (src/passes/manager.ts).
 */
import type { Model } from '../ir/graph.ts';
import type { Accelerator } from '../hardware/accelerator.ts';
import type { FusionScheme } from '../fusion/types.ts';

/** Typed options shared by a pipeline run (TVM's PassContext, in small). */
export interface PassContext {
  hardware?: Accelerator;
  scheme?: FusionScheme;
  /** Every search and training run derives its randomness from this seed. */
  seed: number;
  /** Per-pass options, keyed by pass name. */
  options: Record<string, Record<string, unknown>>;
  /** Progress and diagnostics go to stderr through this (silent under --quiet). */
  log: (message: string) => void;
  /** Annotations written by earlier passes in the same run, by pass name. */
  annotations: Record<string, unknown>;
}

export interface PassResult<A = unknown> {
  /** Whether the graph was modified (drives analysis invalidation and fixed-point loops). */
  changed: boolean;
  /** What the pass writes into the schedule under its name (JSON-serializable). */
  annotations?: A;
}

export interface Pass<A = unknown> {
  name: string;
  description: string;
  /** Analyses/annotations it needs: e.g. 'shapes', 'hardware', 'annotations:plan'. */
  reads: string[];
  /** What it produces: e.g. 'graph' (rewrites the model), 'annotations:plan'. */
  writes: string[];
  run(model: Model, ctx: PassContext): PassResult<A> | Promise<PassResult<A>>;
}

export function makeContext(partial: Partial<PassContext> = {}): PassContext {
  return { seed: 0, options: {}, log: () => {}, annotations: {}, ...partial };
}
