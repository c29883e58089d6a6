/**
 * `dnnfuse compile [model.onnx]`: load -> passes -> embed the fusion groups into the model ->
 * check the rewritten model against the original in onnxruntime -> write out/model.onnx and
 * out/schedule.json (both atomically, and only when everything succeeded: a failed onnxruntime
 * check, an infeasible plan or a learnability certificate not granted exits 1 and writes nothing,
 * see compile.ts CompileFailed).
 *
 * With no model argument it compiles the bundled example (fixtures/example.onnx): the README's
 * main command. Progress goes to stderr (silent with --quiet); --json prints a machine-readable
 * summary on stdout. Exit codes: 0 success, 1 plan/verification failure, 2 bad input.
 */
import { collect } from '../options.ts';
import type { Command } from 'commander';
import { existsSync, mkdtempSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { CompileOptions, CompileResult } from '../../compile.ts';
import { badInput, isDnnfuseError, verificationFailed } from '../../errors.ts';
import { OutputBatch, RunInputs, checkOutputTarget, lockFolder } from '../../util/output.ts';
import { traceMemory } from '../../util/memtrace.ts';
// Heavy modules (passes, onnxruntime, the IO layer) load on use, so `dnnfuse --help` and the
// other commands start fast.
import { DEFAULT_PIPELINE } from '../../passes/default-pipeline.ts';
import type { Pass } from '../../passes/pass.ts';

/** The bundled example model (fixtures/example.onnx, made by fixtures/make-example.ts). */
export const EXAMPLE_MODEL = fileURLToPath(new URL('../../../fixtures/example.onnx', import.meta.url));


/** Keys that reach Object.prototype (or a constructor) when used as property names. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Throws when a JSON value holds a forbidden key at any depth (Object.assign or a spread of
 * such a value would set a prototype). */
function checkJsonKeys(v: unknown, spec: string, depth = 0): void {
  if (!v || typeof v !== 'object' || depth > 64) return;
  for (const k of Object.keys(v)) {
    if (FORBIDDEN_KEYS.has(k)) throw badInput(`--option ${spec}: the key '${k}' is not allowed (it would reach Object.prototype)`);
    checkJsonKeys((v as Record<string, unknown>)[k], spec, depth + 1);
  }
}

/** `plan.budget=2000` -> options.plan.budget = 2000 (values parsed as JSON when they are JSON).
 * The objects have no prototype and `__proto__`, `constructor`, `prototype` are refused as pass
 * names, keys or keys inside JSON values: `--option constructor.keys=1` once replaced
 * Object.keys, `--option 'plan.__proto__={...}'` silently changed the plan's defaults. Which
 * passes and keys exist is checked by the pass manager against each pass's option schema. */
export function parsePassOptions(specs: string[]): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = Object.create(null);
  for (const s of specs) {
    const m = /^([a-z0-9_][a-z0-9_.:-]*?)\.([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(s);
    if (!m) throw badInput(`--option ${s}: expected <pass>.<key>=<value>, e.g. --option plan.budget=2000`);
    for (const part of m[1].split(/[.:]/)) if (FORBIDDEN_KEYS.has(part)) throw badInput(`--option ${s}: '${part}' is not a pass name`);
    if (FORBIDDEN_KEYS.has(m[2])) throw badInput(`--option ${s}: '${m[2]}' is not an option name`);
    let v: unknown = m[3];
    try {
      v = JSON.parse(m[3]);
    } catch {
      /* a plain string */
    }
    checkJsonKeys(v, s);
    const pass = (out[m[1]] ??= Object.create(null) as Record<string, unknown>);
    pass[m[2]] = v;
  }
  return out;
}

/** Imports a plugin module (a .ts/.mjs/.js file that calls registerPass from 'dnnfuse' or from
 * src/passes/registry.ts). A module exporting `passes` (an array) or `default` (a pass or an
 * array) has those registered too. */
export async function loadPlugin(spec: string): Promise<void> {
  const { registerPass, hasPass, getPass, listPasses } = await import('../../passes/registry.ts');
  const before = new Set(listPasses().map((p) => p.name));
  const listPluginPasses = (old: Set<string>) => listPasses().filter((p) => !old.has(p.name)).map((p) => getPass(p.name) as Pass);
  const path = resolve(spec);
  if (!existsSync(path)) throw badInput(`--plugin ${spec}: file not found`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (e) {
    throw badInput(`--plugin ${spec}: cannot load it (${(e instanceof Error ? e.message : String(e)).split('\n')[0]})`);
  }
  const exported = [mod.passes, mod.default].flatMap((x) => (Array.isArray(x) ? x : x ? [x] : []));
  for (const p of exported as Pass[]) if (p && typeof p === 'object' && typeof p.run === 'function' && !hasPass(p.name)) registerPass(p);
  // Track every plugin pass while it runs, so that a stalled run can name it (main.ts reportStall).
  const { activePasses } = await import('../main.ts');
  for (const p of listPluginPasses(before)) {
    const run = p.run;
    if (!Object.isExtensible(p) || !Object.getOwnPropertyDescriptor(p, 'run')?.writable) continue; // frozen: not tracked
    p.run = async function (this: unknown, ...args: Parameters<Pass['run']>) {
      activePasses.push(p.name);
      try {
        return await run.apply(this, args);
      } finally {
        activePasses.splice(activePasses.lastIndexOf(p.name), 1);
      }
    } as Pass['run'];
  }
}

export function register(program: Command): void {
  program
    .command('compile')
    .description('Run a pass pipeline on a model; write the rewritten model (fusion groups embedded) and the annotated schedule')
    .argument('[model]', 'ONNX model file (default: the bundled example fixtures/example.onnx)')
    .option('--hw <preset|file>', 'accelerator preset name or .json/.yaml file', 'edge-512k')
    .option('--buffer <size>', 'override the buffer size (e.g. 256KiB)')
    .option('--dtype <type>', 'override the element type (int8|fp16|fp32)')
    .option('--scheme <scheme>', 'layer-fusion scheme: lbdf | brr', 'lbdf')
    .option('--pipeline <passes>', `comma-separated pass names (default: ${DEFAULT_PIPELINE.join(',')}, those available)`)
    .option('-o, --out <dir>', 'output folder', 'out')
    .option('--seed <n>', 'seed of every search and training run', '0')
    .option('--shape <name=dims>', 'fix a dynamic input shape, e.g. input=1x3x224x224 (repeatable)', collect, [])
    .option('--dim <name=n>', 'fix every input\'s dim named NAME (an ONNX dim_param, e.g. batch=1 or past=6) at once (repeatable)', collect, [])
    .option('--option <pass.key=value>', 'per-pass option, e.g. plan.budget=2000 (repeatable)', collect, [])
    .option('--functions', 'embed each fusion group as an ONNX model-local function (default)')
    .option('--node-metadata', 'embed the fusion groups as node metadata_props/doc_string instead of functions')
    .option('--no-embed', 'write the rewritten model without the fusion groups')
    .option('--no-verify', 'skip the onnxruntime check of the rewritten model against the original')
    .option('--rtol <x>', 'relative tolerance of the check: every element within |a-b| <= atol + rtol |b| (default 1e-5, Polygraphy\'s; 1e-3 for a model computing in float16)')
    .option('--atol <x>', 'absolute tolerance of the check (default 1e-5; 1e-3 for a model computing in float16)')
    .option('--inputs <name=file>', 'inputs for the check instead of seeded random ones: .npy or TensorProto .pb files, or a folder of input_<k>.pb (repeatable)', collect, [])
    .option('--input-value <name=v>', 'fix an input of the onnxruntime check to a value, e.g. sr=16000 (repeatable; default: seeded random fitting its dtype and use)', collect, [])
    .option('--reproducible', 'record 0 ms timings so that schedule.json is byte-identical across runs')
    .option('--plugin <module>', 'load a module that registers passes (registerPass) before the pipeline is resolved (repeatable)', collect, [])
    .option('--list-passes', 'list the available passes and exit')
    .option('-q, --quiet', 'no progress on stderr')
    .option('--json', 'print a machine-readable summary on stdout')
    .action(async (modelArg: string | undefined, o: Record<string, unknown>) => {
      for (const p of o.plugin as string[]) await loadPlugin(p);
      const { listPasses } = await import('../../passes/registry.ts');
      if (o.listPasses) {
        const ps = listPasses();
        if (o.json) process.stdout.write(JSON.stringify(ps, null, 2) + '\n');
        else for (const p of ps) process.stdout.write(`${p.name.padEnd(20)} ${p.description}${p.reads.length ? `  [reads: ${p.reads.join(', ')}]` : ''}\n`);
        return;
      }
      const quiet = !!o.quiet;
      const log = (m: string) => {
        if (!quiet) process.stderr.write(`dnnfuse: ${m}\n`);
      };
      if (o.functions && o.nodeMetadata) throw badInput('--functions and --node-metadata are exclusive; choose one');
      const modelPath = modelArg ?? EXAMPLE_MODEL;
      if (!modelArg && !existsSync(EXAMPLE_MODEL)) throw badInput(`the bundled example ${EXAMPLE_MODEL} is missing; give a model file (or run: node --import tsx fixtures/make-example.ts)`);
      const seed = Number(o.seed);
      if (!Number.isInteger(seed)) throw badInput(`--seed ${o.seed}: expected an integer`);
      const rtol = o.rtol === undefined ? undefined : Number(o.rtol), atol = o.atol === undefined ? undefined : Number(o.atol);
      if (rtol !== undefined && !(rtol >= 0)) throw badInput(`--rtol ${o.rtol}: expected a non-negative number`);
      if (atol !== undefined && !(atol >= 0)) throw badInput(`--atol ${o.atol}: expected a non-negative number`);
      const outDir = resolve(String(o.out));
      if (existsSync(outDir) && !statSync(outDir).isDirectory()) throw badInput(`-o ${o.out}: exists and is not a folder`);
      // The run's inputs (model, hardware file, plugins); the model's external data files are
      // added once it is loaded. Outputs are checked now, before any work, and again on write.
      const inputs = new RunInputs().add(modelPath, 'model file');
      if (!/^[a-z0-9-]+$/.test(String(o.hw)) || existsSync(String(o.hw))) inputs.add(String(o.hw), 'hardware file');
      for (const p of o.plugin as string[]) inputs.add(p, 'plugin');
      const modelOut = join(outDir, 'model.onnx');
      const scheduleOut = join(outDir, 'schedule.json');
      checkOutputTarget(modelOut, inputs, '-o');
      checkOutputTarget(scheduleOut, inputs, '-o');
      const opts: CompileOptions = {
        hw: String(o.hw),
        hwOverrides: { buffer: o.buffer as string | undefined, dtype: o.dtype as string | undefined },
        scheme: String(o.scheme),
        pipeline: o.pipeline as string | undefined,
        seed,
        shapes: o.shape as string[],
        dims: o.dim as string[],
        passOptions: parsePassOptions(o.option as string[]),
        embed: o.embed === false ? 'none' : o.nodeMetadata ? 'node-metadata' : 'functions',
        verify: o.verify !== false,
        rtol,
        atol,
        inputs: o.inputs as string[],
        inputValues: o.inputValue as string[],
        omitTimings: !!o.reproducible,
        log,
        // The example's path as seen from the working folder (absolute when outside it).
        modelPathForSchedule: modelArg ? modelArg : relative(process.cwd(), EXAMPLE_MODEL).startsWith('..') ? EXAMPLE_MODEL : relative(process.cwd(), EXAMPLE_MODEL),
      };
      traceMemory('start');
      const { compileModel } = await import('../../compile.ts');
      const { saveModel } = await import('../../onnx/io.ts');
      const { scheduleToJson } = await import('../../passes/manager.ts');
      const show = (p: string) => (relative(process.cwd(), p).startsWith('..') ? p : relative(process.cwd(), p));
      const compileAndWrite = async (): Promise<void> => {
        let r: CompileResult;
        try {
          r = await compileModel(modelPath, opts);
        } catch (e) {
          // A failed check (onnxruntime, certificate, infeasible plan) writes nothing: say so on its one line.
          if (isDnnfuseError(e) && e.kind === 'verification') throw verificationFailed(`${e.message}; nothing written to ${show(outDir)}`);
          throw e;
        }
        inputs.addModel(modelPath, r.model);
        // compileModel rejects on any failure (CompileFailed, exit 1): reaching here, all succeeded.
        // One run at a time per output folder (lock file), and model.onnx (+ its external data)
        // and schedule.json as one batch: both or neither, never mixed with another run's.
        const created = !existsSync(outDir);
        const release = lockFolder(outDir);
        try {
          const text = scheduleToJson(r.schedule);
          OutputBatch.run(inputs, (b) => {
            saveModel(r.model, modelOut, { inputs, batch: b });
            b.write(scheduleOut, text);
          });
        } catch (e) {
          release();
          if (created) {
            try {
              rmdirSync(outDir); // only if still empty
            } catch {
              /* not empty or gone */
            }
          }
          throw e;
        }
        release();
        traceMemory('write');
        log(`wrote ${show(modelOut)} and ${show(scheduleOut)}`);
        if (o.json) {
          const s = r.schedule;
          process.stdout.write(
            JSON.stringify(
              {
                ok: r.failures.length === 0,
                failures: r.failures,
                model: s.model.path ?? s.model.name,
                outputs: r.failures.length ? null : { model: modelOut, schedule: scheduleOut },
                hardware: s.hardware?.name ?? null,
                bufferBytes: s.hardware?.bufferBytes ?? null,
                scheme: s.scheme,
                seed: s.seed,
                nodes: { before: s.model.nodesBefore, after: s.model.nodesAfter },
                passes: s.passes.map((p) => ({ name: p.name, status: p.status, ...(p.reason !== undefined ? { reason: p.reason } : {}), changed: p.changed, ms: p.ms })),
                groups: r.plan?.groups.length ?? null,
                dramBytes: r.plan?.dramBytes ?? null,
                layerByLayerDramBytes: r.plan?.layerByLayerDramBytes ?? null,
                embedding: s.embedding ?? null,
                verification: s.verification ?? null,
                coverage: s.coverage ? { nodes: s.coverage.nodes, covered: s.coverage.covered, uncovered: s.coverage.uncovered.length } : null,
              },
              null,
              2,
            ) + '\n',
          );
        }
      };
      // The check's file of the rewritten model is kept until the outputs are written: the passes'
      // new weights are read back from it, so the model holds none while the check runs.
      if (opts.verify) opts.spillDir = mkdtempSync(join(tmpdir(), 'dnnfuse-compile-'));
      try {
        await compileAndWrite();
      } finally {
        if (opts.spillDir) rmSync(opts.spillDir, { recursive: true, force: true });
      }
    });
}
