/**
 * Property helpers for regression tests of passes: numerical equivalence through onnxruntime
 * (src/analysis/ort.ts, the project's one onnxruntime layer and comparison criterion) and
 * validity of a fusion plan against an accelerator. Each throws a DnnfuseError (kind
 * 'verification', exit code 1) with a one-line message naming what broke, so they work in
 * node:test, inside fast-check properties (a throw is a counterexample) and in the CLI.
 */
import { Model } from '../ir/graph.ts';
import { createSession, runSession, randomFeeds, toleranceReplaced, type Feeds, type GraphOptimizationLevel } from '../analysis/ort.ts';
import { allclose, describeMiss, DEFAULT_ATOL, DEFAULT_RTOL, type OutputCheck } from '../analysis/compare.ts';
import { verificationFailed } from '../errors.ts';

/** Options of `assertSameOutputs`. */
export interface SameOutputsOptions {
  /** allclose relative tolerance: every element within |a-b| <= atol + rtol |b|, b the
   * original's output (default 1e-5, Polygraphy's; what `dnnfuse compile` checks). */
  rtol?: number;
  /** allclose absolute tolerance (default 1e-5). */
  atol?: number;
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
 * both run by onnxruntime, under the allclose criterion of `dnnfuse compile` (every element within
 * |a-b| <= atol + rtol |b|; defaults rtol 1e-5, atol 1e-5). Accepts IR models or encoded ONNX
 * bytes (random inputs are drawn from whichever is an IR model). Returns, per output, the check
 * of the draw with the largest max abs error (max and mean abs error, cosine, mismatched
 * elements). The removed scale-relative option `tolerance` is refused (exit code 2). */
export async function assertSameOutputs(original: Model | Uint8Array, rewritten: Model | Uint8Array, opts: SameOutputsOptions = {}): Promise<OutputCheck[]> {
  if ((opts as { tolerance?: unknown }).tolerance !== undefined) throw toleranceReplaced('assertSameOutputs option `tolerance`');
  const rtol = opts.rtol ?? DEFAULT_RTOL, atol = opts.atol ?? DEFAULT_ATOL;
  const feedModel = original instanceof Model ? original : rewritten instanceof Model ? rewritten : undefined;
  if (!opts.feeds && !feedModel) throw verificationFailed('assertSameOutputs: give `feeds` when both models are encoded bytes');
  const so = { graphOptimizationLevel: opts.optimization ?? 'disabled', intraOpNumThreads: 1 } as const;
  const [a, b] = [await createSession(original, so), await createSession(rewritten, so)];
  const worst = new Map<string, OutputCheck>();
  try {
    const trials = opts.feeds ? 1 : Math.max(1, opts.trials ?? 1);
    for (let t = 0; t < trials; t++) {
      const feeds = opts.feeds ?? randomFeeds(feedModel!, (opts.seed ?? 0) + t);
      const c = allclose(await runSession(a, feeds), await runSession(b, feeds), { rtol, atol });
      for (const o of c.outputs) {
        const w = worst.get(o.output);
        if (!w || (w.ok && !o.ok) || (w.ok === o.ok && !(o.maxAbs <= w.maxAbs))) worst.set(o.output, o);
      }
    }
  } finally {
    await a.release();
    await b.release();
  }
  const res = [...worst.values()];
  for (const o of res) if (!o.ok) throw verificationFailed(`output '${o.output}' differs: ${describeMiss(o, rtol, atol)}`);
  return res;
}
