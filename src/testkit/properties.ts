/**
 * Property helpers for regression tests of passes: numerical equivalence through onnxruntime
 * (src/analysis/ort.ts, the project's one onnxruntime layer and comparison criterion) and
 * validity of a fusion plan against an accelerator. Each throws a DnnfuseError (kind
 * 'verification', exit code 1) with a one-line message naming what broke, so they work in
 * node:test, inside fast-check properties (a throw is a counterexample) and in the CLI.
 */
import { Model } from '../ir/graph.ts';
import { createSession, runSession, randomFeeds, compareOutputs, type Feeds, type OutputComparison, type GraphOptimizationLevel } from '../analysis/ort.ts';
import { verificationFailed } from '../errors.ts';

/** Options of `assertSameOutputs`. */
export interface SameOutputsOptions {
  /** Max abs error relative to the output scale max|ref| (default 1e-4, the project's numerics bound). */
  tolerance?: number;
  /** Seed of the random inputs (default 0). Ignored when `feeds` is given. */
  seed?: number;
  /** Number of random input draws (default 1). */
  trials?: number;
  /** Explicit inputs instead of random ones. */
  feeds?: Feeds;
  /** onnxruntime graph optimization for both runs (default 'disabled': run the graphs as written). */
  optimization?: GraphOptimizationLevel;
}

/** Asserts that `rewritten` computes the same outputs as `original` on random (seeded) inputs,
 * both run by onnxruntime. Accepts IR models or encoded ONNX bytes (random inputs are drawn
 * from whichever is an IR model). Returns the worst comparison per output. */
export async function assertSameOutputs(original: Model | Uint8Array, rewritten: Model | Uint8Array, opts: SameOutputsOptions = {}): Promise<OutputComparison[]> {
  const tol = opts.tolerance ?? 1e-4;
  const feedModel = original instanceof Model ? original : rewritten instanceof Model ? rewritten : undefined;
  if (!opts.feeds && !feedModel) throw verificationFailed('assertSameOutputs: give `feeds` when both models are encoded bytes');
  const so = { graphOptimizationLevel: opts.optimization ?? 'disabled', intraOpNumThreads: 1 } as const;
  const [a, b] = [await createSession(original, so), await createSession(rewritten, so)];
  const worst = new Map<string, OutputComparison>();
  try {
    const trials = opts.feeds ? 1 : Math.max(1, opts.trials ?? 1);
    for (let t = 0; t < trials; t++) {
      const feeds = opts.feeds ?? randomFeeds(feedModel!, (opts.seed ?? 0) + t);
      const c = compareOutputs(await runSession(a, feeds), await runSession(b, feeds), tol);
      for (const o of c.outputs) {
        const w = worst.get(o.name);
        if (!w || !(o.relative <= w.relative)) worst.set(o.name, o);
      }
    }
  } finally {
    await a.release();
    await b.release();
  }
  const res = [...worst.values()];
  for (const o of res) {
    if (!o.ok) {
      if (!Number.isFinite(o.maxAbsError) && o.scale === 0) throw verificationFailed(`output '${o.name}' is missing from the rewritten model or has another shape`);
      throw verificationFailed(`output '${o.name}' differs: max abs error ${o.maxAbsError.toExponential(3)} at output scale ${o.scale.toPrecision(4)} (relative ${o.relative.toExponential(3)} > ${tol})`);
    }
  }
  return res;
}
