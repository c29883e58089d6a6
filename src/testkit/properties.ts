/**
 * Property helpers for regression tests of passes: numerical equivalence through onnxruntime
 * and validity of a fusion plan against an accelerator. Each throws a DnnfuseError
 * (kind 'verification') with a one-line message naming what broke, so they work in node:test,
 * inside fast-check properties (a throw is a counterexample) and in the CLI.
 */
import type { Model } from '../ir/graph.ts';
import { randomInputs } from '../models/builder.ts';
import { runModel, compareOutputs, type Feeds, type Difference, type RunOptions } from './ort.ts';
import { verificationFailed } from '../errors.ts';

export interface SameOutputsOptions extends RunOptions {
  /** Max abs error relative to the output scale max(1, max|ref|) (default 1e-4, the SPEC's bound). */
  tolerance?: number;
  /** Seed of the random inputs (default 0). Ignored when `feeds` is given. */
  seed?: number;
  /** Number of random input draws (default 1). */
  trials?: number;
  /** Explicit inputs instead of random ones. */
  feeds?: Feeds;
}

/** Asserts that `rewritten` computes the same outputs as `original` on random (seeded) inputs,
 * both run by onnxruntime. Accepts IR models or encoded ONNX bytes. Returns the differences
 * measured (the worst trial per output) for reporting. */
export async function assertSameOutputs(original: Model | Uint8Array, rewritten: Model | Uint8Array, opts: SameOutputsOptions = {}): Promise<Difference[]> {
  const tol = opts.tolerance ?? 1e-4;
  const trials = opts.feeds ? 1 : Math.max(1, opts.trials ?? 1);
  const worst = new Map<string, Difference>();
  for (let t = 0; t < trials; t++) {
    let feeds = opts.feeds;
    if (!feeds) {
      if (original instanceof Uint8Array) throw verificationFailed('assertSameOutputs: give `feeds` when the original is encoded bytes');
      feeds = randomInputs(original, (opts.seed ?? 0) + t);
    }
    const ref = await runModel(original, feeds, opts);
    const got = await runModel(rewritten, feeds, opts);
    for (const d of compareOutputs(ref, got)) {
      const w = worst.get(d.output);
      if (!w || d.relative > w.relative) worst.set(d.output, d);
    }
  }
  const diffs = [...worst.values()];
  for (const d of diffs) {
    if (!(d.relative <= tol)) {
      throw verificationFailed(`output '${d.output}' differs: max abs error ${d.maxAbs.toExponential(3)} at output scale ${d.scale.toPrecision(4)} (relative ${d.relative.toExponential(3)} > ${tol})`);
    }
  }
  return diffs;
}
