/**
 * `dnnfuse sgs model.onnx --calib <dir|random> [--batches N] [--seed N] [-o out.onnx]
 *  [--training-graph] [--schedule file.json] [--json]`
 *
 * Spatial gradient scaling: one kh x kw scaling matrix (mean 1, strictly positive) per conv
 * with a spatial kernel, estimated from the mutual information of the conv's input at each
 * kernel displacement over calibration batches run through onnxruntime (src/reparam/sgs.ts).
 * Prints every matrix (or the annotations as JSON); with -o writes the model with the
 * matrices embedded (initializers `<conv>_sgs_scale` + metadata_props `dnnfuse.sgs`) and, with
 * --training-graph, each conv weight rewritten as W = sqrt(S) . V (same outputs).
 */
import type { Command } from 'commander';
import { loadModel, saveModel } from '../../onnx/io.ts';
import { badInput } from '../../errors.ts';
import { OutputBatch, RunInputs, checkOutputTarget, realPathOf } from '../../util/output.ts';
import { existsSync, statSync } from 'node:fs';
import { applySgs, computeSgs, type SgsAnnotations } from '../../reparam/sgs.ts';

const CALIB_HELP = `calibration: 'random' (seeded normal inputs, --batches of them) or a folder holding either
ONNX test-data sets (test_data_set_<n>/input_<i>.pb: serialized TensorProto per graph input; one
set = one batch) or flat *.pb / *.npy files (float32/float64, C order), one batch each, for a
single-input model. Shapes must match the model's declared input shape.`;

const realTarget = (p: string) => realPathOf(p);

const fmt = (rows: number[][]) => rows.map((r) => r.map((v) => v.toFixed(3).padStart(7)).join(' ')).join('\n    ');

export function register(program: Command): void {
  program
    .command('sgs')
    .description('Spatial gradient scaling: per-conv kxk scaling matrices from calibration feature maps')
    .argument('<model>', 'ONNX model file')
    .requiredOption('--calib <dir|random>', "calibration data folder, or 'random'")
    .option('--batches <n>', 'number of calibration batches (random: how many to draw; folder: at most this many)')
    .option('--seed <n>', 'seed of random calibration inputs', '0')
    .option('--k <k>', 'NMI_k sharpness', '5')
    .option('-o, --out <file>', 'write the model with the matrices embedded (initializers + metadata)')
    .option('--training-graph', 'with -o: also rewrite each conv weight as W = sqrt(S) . V')
    .option('--schedule <file>', 'write the annotations (JSON) to this file')
    .option('--json', 'print the annotations as JSON on stdout')
    .addHelpText('after', `\n${CALIB_HELP}`)
    .action(async (input: string, o: Record<string, unknown>) => {
      const seed = Number(o.seed);
      if (!Number.isInteger(seed)) throw badInput(`--seed ${o.seed}: expected an integer`);
      const batches = o.batches === undefined ? undefined : Number(o.batches);
      if (batches !== undefined && (!Number.isInteger(batches) || batches < 1)) throw badInput(`--batches ${o.batches}: expected a positive integer`);
      const k = Number(o.k);
      if (!(k > 1)) throw badInput(`--k ${o.k}: expected a number > 1`);
      if (o.trainingGraph && !o.out) throw badInput('--training-graph needs -o <file> to write the rewritten model');
      const out = o.out ? String(o.out) : undefined;
      const schedulePath = o.schedule ? String(o.schedule) : undefined;
      // Inputs: the model (+ its external data) and every calibration file.
      const inputs = new RunInputs().add(input, 'model file');
      const calib = String(o.calib);
      if (calib !== 'random' && existsSync(calib) && statSync(calib).isDirectory()) inputs.addTree(calib, 'calibration file');
      const check = () => {
        if (out) checkOutputTarget(out, inputs, '-o');
        if (schedulePath) checkOutputTarget(schedulePath, inputs, '--schedule');
        if (out && schedulePath && realTarget(out) === realTarget(schedulePath)) throw badInput(`-o ${out} and --schedule ${schedulePath} name the same file; give two different paths`);
      };
      check();
      const model = loadModel(input);
      inputs.addModel(input, model);
      check();
      const a: SgsAnnotations = await computeSgs(model, { calib: String(o.calib), batches, seed, k }, (m) => process.stderr.write(`dnnfuse: ${m}\n`));
      const json = JSON.stringify({ model: input, output: out ?? null, ...a }, null, 2) + '\n';
      // The model and the annotations as one batch: both or neither.
      if (out) applySgs(model, a, { embed: true, trainingGraph: !!o.trainingGraph });
      OutputBatch.run(inputs, (b) => {
        if (out) saveModel(model, out, { inputs, batch: b });
        if (schedulePath) b.write(schedulePath, json, '--schedule');
      });
      if (o.json) {
        process.stdout.write(json);
        return;
      }
      const lines = [`${input}: ${a.convs.length} convs scaled (calibration: ${a.calibration.source}, ${a.calibration.batches} batches, k=${a.k})`];
      for (const c of a.convs) lines.push(`  ${c.node} (${c.kernel.join('x')}):\n    ${fmt(c.scale)}`);
      for (const s of a.skipped) lines.push(`  skipped ${s.node}: ${s.reason}`);
      if (out) lines.push(`wrote ${out}${o.trainingGraph ? ' (training graph W = sqrt(S) . V)' : ''}`);
      process.stdout.write(lines.join('\n') + '\n');
    });
}
