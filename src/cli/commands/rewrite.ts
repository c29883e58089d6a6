/**
 * `dnnfuse rewrite model.onnx --passes fold-bn,collapse-branches -o out.onnx [--verify] [--json]`
 *
 * Runs graph-rewriting passes (fold-bn, collapse-branches, expand-branches, dce, or any
 * registered pass) and writes the rewritten model atomically (never over the input). Prints a
 * summary: nodes and parameters before/after, and every rewrite applied or refused with its
 * reason. `--verify` runs the original and the written model in onnxruntime on seeded random
 * inputs and exits 1 (nothing written) unless every element of every output is within
 * |a-b| <= atol + rtol |b| (`--rtol`, `--atol`; compile's allclose check and defaults). The
 * old scale-relative `--tolerance` does not map onto them and is refused with a line saying so.
 * Bad input: one line on stderr, exit 2.
 */
import { collect } from '../options.ts';
import { Option, type Command } from 'commander';
import { loadModel, saveModel } from '../../onnx/io.ts';
import { badInput, verificationFailed } from '../../errors.ts';
import { RunInputs, checkOutputTarget } from '../../util/output.ts';
import { runPasses } from '../../passes/manager.ts';
import { parsePipeline } from '../../passes/registry.ts';
import { paramCount, type RewriteAnnotations, type RewriteRecord } from '../../reparam/graph-ops.ts';
import { parsePassOptions } from './compile.ts';
import { analyzeShapes, applyDimOverrides, applyShapeOverrides } from '../../analysis/shapes.ts';
import { DEFAULT_ATOL, DEFAULT_RTOL, describeMiss } from '../../analysis/compare.ts';


export interface RewriteSummary {
  input: string;
  output: string;
  nodes: { before: number; after: number };
  params: { before: number; after: number };
  passes: { name: string; changed: boolean; applied: number; refused: number; rewrites: RewriteRecord[]; annotations?: unknown }[];
  verification: {
    ok: boolean;
    criterion: 'allclose';
    rtol: number;
    atol: number;
    runs: number;
    /** Per output, the draw that failed first (else the one with the largest max abs error). */
    outputs: { output: string; ok: boolean; elements: number; mismatched: number; maxAbs: number; meanAbs: number; cosine: number }[];
  } | null;
}

function isRewriteAnnotations(a: unknown): a is RewriteAnnotations {
  return !!a && typeof a === 'object' && Array.isArray((a as RewriteAnnotations).rewrites);
}

export function formatSummary(s: RewriteSummary, verbose: boolean): string {
  const lines = [
    `${s.input} -> ${s.output}`,
    `nodes:  ${s.nodes.before} -> ${s.nodes.after}`,
    `params: ${s.params.before} -> ${s.params.after}`,
  ];
  for (const p of s.passes) {
    if (p.annotations !== undefined) {
      lines.push(`${p.name}: ${p.changed ? 'changed the graph' : 'no change'} ${JSON.stringify(p.annotations).slice(0, 200)}`);
      continue;
    }
    lines.push(`${p.name}: ${p.applied} applied, ${p.refused} refused`);
    const shown = verbose ? p.rewrites : [...p.rewrites.filter((r) => r.status === 'applied'), ...p.rewrites.filter((r) => r.status === 'refused').slice(0, 20)];
    for (const r of shown) lines.push(`  ${r.status === 'applied' ? 'applied' : 'refused'} ${r.rewrite} [${r.nodes.slice(0, 3).join(', ')}${r.nodes.length > 3 ? ', ...' : ''}]: ${r.detail}`);
    const hidden = p.rewrites.length - shown.length;
    if (hidden > 0) lines.push(`  ... ${hidden} more refusals (--verbose lists them)`);
  }
  const v = s.verification;
  if (v) {
    const maxAbs = Math.max(0, ...v.outputs.map((o) => o.maxAbs));
    const cos = Math.min(1, ...v.outputs.map((o) => o.cosine));
    lines.push(`verify: ${v.ok ? 'outputs equal' : 'OUTPUTS DIFFER'} (allclose rtol ${v.rtol}, atol ${v.atol}, ${v.runs} random draw${v.runs === 1 ? '' : 's'}; max abs error ${maxAbs.toExponential(2)}, min cosine ${cos.toFixed(7)})`);
  }
  return lines.join('\n') + '\n';
}

export function register(program: Command): void {
  program
    .command('rewrite')
    .description('Rewrite a model with graph passes (fold-bn, collapse-branches, expand-branches) and write the result')
    .argument('<model>', 'ONNX model file')
    .requiredOption('-o, --out <file>', 'output ONNX file (written atomically; never the input)')
    .option('--passes <list>', 'comma-separated passes', 'fold-bn,collapse-branches')
    .option('--option <pass.key=value>', 'per-pass option, e.g. collapse-branches.borderCorrection=false, expand-branches.form=acnet (repeatable)', collect, [])
    .option('--shape <name=dims>', 'fix a dynamic input shape, e.g. input=1x3x224x224 (repeatable)', collect, [])
    .option('--dim <name=n>', 'fix every input\'s dim named NAME (an ONNX dim_param, e.g. batch=1 or past=6) at once (repeatable)', collect, [])
    .option('--seed <n>', 'seed (expand-branches weights, verification inputs)', '0')
    .option('--verify', 'check the written model against the original in onnxruntime; exit 1 if outputs differ')
    .option('--runs <n>', 'random input draws for --verify', '2')
    .option('--rtol <x>', '--verify: relative tolerance, every element within |a-b| <= atol + rtol |b| (compile\'s check)', String(DEFAULT_RTOL))
    .option('--atol <x>', '--verify: absolute tolerance', String(DEFAULT_ATOL))
    // Removed: a scale-relative bound does not map onto allclose; refused with what replaced it.
    .addOption(new Option('--tolerance <x>').hideHelp())
    .option('-v, --verbose', 'list every refusal')
    .option('--json', 'print the summary as JSON on stdout')
    .addHelpText('after', `
Pass options (--option):
  collapse-branches.borderCorrection=false  refuse sequential 1x1->KxK / avgpool branches whose
                                            zero padding meets a bias (default: exact bias-map Add)
  collapse-branches.allowGrowth=true        densify even when the merged conv holds more weights
                                            than the branches (e.g. dense 1x1 beside depthwise 3x3)
  expand-branches.form=repvgg|acnet|dbb     training-time form (default repvgg)
  expand-branches.mode=subtract|zero-gamma  keep the function by subtracting the extra kernels from
                                            the main one, or by zero-gamma BNs on the extra branches
  expand-branches.nodes='["conv1"]'         convs to expand (default: every KxK conv, K odd >= 3)
  expand-branches.scale=0.1                 extra-branch weight std relative to the conv's`)
    .action(async (input: string, o: Record<string, unknown>) => {
      const out = String(o.out);
      checkOutputTarget(out, new RunInputs().add(input, 'model file'));
      const seed = Number(o.seed);
      if (!Number.isInteger(seed)) throw badInput(`--seed ${o.seed}: expected an integer`);
      if (o.tolerance !== undefined) throw badInput('--tolerance was replaced by --rtol and --atol: --verify checks every element within |a-b| <= atol + rtol |b| (defaults 1e-5, 1e-5, as compile); a scale-relative tolerance does not map onto them');
      const rtol = Number(o.rtol), atol = Number(o.atol);
      if (!(rtol >= 0)) throw badInput(`--rtol ${o.rtol}: expected a non-negative number`);
      if (!(atol >= 0)) throw badInput(`--atol ${o.atol}: expected a non-negative number`);
      const runs = Number(o.runs);
      if (!Number.isInteger(runs) || runs < 1) throw badInput(`--runs ${o.runs}: expected a positive integer`);
      const passes = parsePipeline(String(o.passes));
      const options = parsePassOptions(o.option as string[]);
      const model = loadModel(input);
      const inputs = new RunInputs().addModel(input, model);
      checkOutputTarget(out, inputs); // also not one of its external data files
      // The rewrite may specialize to these shapes (border-correction bias maps are H x W), so
      // the written model declares them: it is only valid for them.
      const dims = o.dim as string[], shapes = o.shape as string[];
      applyDimOverrides(model, dims);
      applyShapeOverrides(model, shapes);
      if (dims.length || shapes.length) analyzeShapes(model);
      const nodesBefore = model.graph.nodes.length;
      const paramsBefore = paramCount(model.graph);
      const { schedule } = await runPasses(model, passes, { seed, options }, { modelPath: input });
      const summary: RewriteSummary = {
        input, output: out,
        nodes: { before: nodesBefore, after: model.graph.nodes.length },
        params: { before: paramsBefore, after: paramCount(model.graph) },
        passes: schedule.passes.map((p) => {
          const a = isRewriteAnnotations(p.annotations) ? p.annotations : undefined;
          return { name: p.name, changed: p.changed, applied: a?.applied ?? 0, refused: a?.refused ?? 0, rewrites: a?.rewrites ?? [], ...(a || p.annotations === null ? {} : { annotations: p.annotations }) };
        }),
        verification: null,
      };
      if (o.verify) {
        // Checked before anything is written: a failure leaves -o as it was (a file the user
        // already had there is kept, nothing new appears).
        const { checkEquivalence } = await import('../../analysis/ort.ts');
        // the inputs' dims as --shape and --dim fixed them (the file's own may be dynamic)
        const overrides = Object.fromEntries(model.graph.inputs.flatMap((i) => (i.type?.shape?.every((d) => typeof d === 'number') ? [[i.name, i.type.shape as number[]]] : [])));
        const c = await checkEquivalence(input, model, { feedsFrom: loadModel(input), runs, seed, rtol, atol, overrides });
        summary.verification = {
          ok: c.ok, criterion: 'allclose', rtol, atol, runs,
          outputs: c.outputs.map((x) => ({ output: x.output, ok: x.ok, elements: x.elements, mismatched: x.mismatched, maxAbs: x.maxAbs, meanAbs: x.meanAbs, cosine: x.cosine })),
        };
        if (!c.ok) {
          process.stdout.write(o.json ? JSON.stringify(summary, null, 2) + '\n' : formatSummary(summary, !!o.verbose));
          const bad = c.outputs.find((x) => !x.ok)!;
          throw verificationFailed(`rewritten model differs from ${input} on output '${bad.output}': ${describeMiss(bad, rtol, atol)}; ${out} was not written`);
        }
      }
      saveModel(model, out, { inputs });
      process.stdout.write(o.json ? JSON.stringify(summary, null, 2) + '\n' : formatSummary(summary, !!o.verbose));
    });
}
