import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync, spawn } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { loadModel, encodeModel } from '../../src/onnx/io.ts';
import { readFusionGroups, FUSION_DOMAIN } from '../../src/onnx/functions.ts';
import { parseSchedule, type Schedule } from '../../src/passes/manager.ts';
import { finalPlan } from '../../src/passes/schedule-groups.ts';
import { assertSameOutputs } from '../../src/testkit/properties.ts';
import { assertPlanValid } from '../../src/testkit/plan.ts';
import { compileModel } from '../../src/compile.ts';
import { buildCnn } from '../../src/testkit/arbitraries.ts';
import type { Msg } from '../../src/onnx/schema.ts';
import { DnnfuseError } from '../../src/errors.ts';
import { Graph, Model, Node } from '../../src/ir/graph.ts';
import { Tensor } from '../../src/ir/tensor.ts';
import { DataType } from '../../src/ir/dtype.ts';
import { Ajv } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'dnnfuse.mjs');
const EXAMPLE = join(ROOT, 'fixtures', 'example.onnx');

/** Runs the CLI in a child process (the test runner owns this process's stdout and exit code). */
function cli(args: string[], cwd = ROOT): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const c = spawn(process.execPath, [BIN, ...args], { cwd });
    let stdout = '', stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('error', rej);
    c.on('close', (code) => res({ code: code ?? -1, stdout, stderr }));
  });
}

const tmp = (p: string) => mkdtempSync(join(tmpdir(), `dnnfuse-${p}-`));

test('`dnnfuse compile` with no arguments compiles the bundled example into out/ (the README main command)', { timeout: 300_000 }, async () => {
  assert.ok(existsSync(EXAMPLE), 'fixtures/example.onnx is committed');
  assert.ok(readFileSync(EXAMPLE).length < 200 * 1024, 'the example stays small');
  const cwd = tmp('compile-noargs');
  try {
    const r = spawnSync(process.execPath, [BIN, 'compile'], { cwd, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '', 'progress goes to stderr only');
    assert.match(r.stderr, /\[1\/\d+\] fold-constants/);
    assert.match(r.stderr, /\[2\/\d+\] fold-bn/);
    assert.match(r.stderr, /onnxruntime check: same outputs/);
    const schedule = parseSchedule(readFileSync(join(cwd, 'out', 'schedule.json'), 'utf8'));
    assert.equal(schedule.schemaVersion, '2.3');
    assert.equal(schedule.tool.name, 'dnnfuse');
    assert.equal(schedule.model.path, EXAMPLE, 'outside the repo the example is named by its absolute path');
    assert.ok(schedule.passes.length >= 2);
    assert.ok(schedule.passes.every((p) => typeof p.ms === 'number' && typeof p.changed === 'boolean'));
    assert.equal(schedule.verification?.checked, true);
    const validate = new Ajv({ strict: false }).compile(JSON.parse(readFileSync(join(ROOT, 'schema', 'schedule-envelope.schema.json'), 'utf8')));
    assert.equal(validate(schedule), true, JSON.stringify(validate.errors));
    const full = new Ajv2020({ strict: false }).compile(JSON.parse(readFileSync(join(ROOT, 'schema', 'schedule.schema.json'), 'utf8')));
    assert.equal(full(schedule), true, JSON.stringify(full.errors));
    const rewritten = loadModel(join(cwd, 'out', 'model.onnx'));
    const plan = finalPlan(schedule);
    if (plan) {
      assertPlanValid(schedule);
      assert.equal((rewritten.functions as Msg[]).filter((f) => f.domain === FUSION_DOMAIN).length, schedule.embedding!.functions);
      assert.deepEqual(readFusionGroups(rewritten).map((g) => g.nodes), plan.groups.map((g) => g.nodes));
    }
    await assertSameOutputs(loadModel(EXAMPLE), encodeModel(rewritten), { trials: 2 });
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});

test('compile --json --quiet: summary on stdout, nothing on stderr', { timeout: 120_000 }, async () => {
  const out = tmp('compile-json');
  try {
    const r = await cli(['compile', EXAMPLE, '-o', out, '--pipeline', 'fold-bn,collapse-branches', '--json', '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const s = JSON.parse(r.stdout);
    assert.equal(s.ok, true);
    assert.deepEqual(s.passes.map((p: { name: string }) => p.name), ['fold-bn', 'collapse-branches']);
    assert.ok(s.nodes.after < s.nodes.before);
    assert.equal(s.verification.checked, true);
    assert.ok(existsSync(join(out, 'model.onnx')) && existsSync(join(out, 'schedule.json')));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('compile: bad input exits 2 with one line on stderr and writes nothing', { timeout: 120_000 }, async () => {
  const dir = tmp('compile-bad');
  try {
    const junk = join(dir, 'junk.onnx');
    writeFileSync(junk, 'definitely not protobuf');
    const out = join(dir, 'out');
    // Through the CLI (exit code, one line, nothing written); the library-level checks below.
    const cases: [string[], RegExp][] = [
      [['compile', join(dir, 'missing.onnx'), '-o', out], /model file not found/],
      [['compile', junk, '-o', out], /not a valid ONNX model|not an ONNX model/],
      [['compile', EXAMPLE, '-o', out, '--pipeline', 'fold-bn,nope'], /unknown pass 'nope'/],
      [['compile', EXAMPLE, '-o', out, '--option', 'garbage'], /--option garbage: expected <pass>.<key>=<value>/],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(args)));
    for (const [i, [args, re]] of cases.entries()) {
      const r = results[i];
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').filter((l) => !l.startsWith('dnnfuse: [') && !/^dnnfuse: {2}|nodes;/.test(l)).length, 1, r.stderr);
      assert.equal(existsSync(out), false, `${args.join(' ')} wrote output`);
    }
    const lib: [Parameters<typeof compileModel>[1], RegExp][] = [
      [{ pipeline: 'fold-bn,,dce' }, /empty entry/],
      [{ scheme: 'xyz' }, /--scheme xyz: expected lbdf or brr/],
      [{ hw: 'no-such-preset' }, /--hw no-such-preset: neither a preset/],
      [{ shapes: ['nope=1x3x8x8'], pipeline: 'dce' }, /no graph input named 'nope'/],
      [{ shapes: ['input=1x3x8'], pipeline: 'dce' }, /3 dims given, the input has rank 4/],
      [{ pipeline: 'dce', seed: 1.5 }, /seed must be an integer/],
    ];
    for (const [opts, re] of lib) {
      await assert.rejects(compileModel(EXAMPLE, opts), (e: unknown) => e instanceof DnnfuseError && e.exitCode === 2 && re.test(e.message));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('compile: a pass that breaks the numerics fails the onnxruntime check with exit 1 and no output', { timeout: 120_000 }, async () => {
  const dir = tmp('compile-plugin');
  try {
    const plugin = join(dir, 'perturb.mjs');
    // A third-party pass loaded with --plugin: scales the first initializer (wrong on purpose).
    writeFileSync(plugin, `
export const passes = [{
  name: 'perturb', description: 'breaks the model', reads: ['graph'], writes: ['graph'],
  run(model) {
    for (const [name, t] of model.graph.initializers) {
      if (t.dims.length !== 4) continue;
      const v = t.toFloat32();
      for (let i = 0; i < v.length; i++) v[i] *= 1.5;
      t.source = { kind: 'values', values: v };
      break;
    }
    return { changed: true };
  },
}];
`);
    const out = join(dir, 'out');
    const list = await cli(['compile', '--plugin', plugin, '--list-passes']);
    assert.equal(list.code, 0);
    assert.match(list.stdout, /^perturb\s+breaks the model/m);
    const r = await cli(['compile', EXAMPLE, '-o', out, '--plugin', plugin, '--pipeline', 'perturb']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /dnnfuse: the rewritten model's output '.*' differs from the original/);
    assert.equal(existsSync(out), false);
    // --no-verify writes it (the user asked not to check)
    const r2 = await cli(['compile', EXAMPLE, '-o', out, '--plugin', plugin, '--pipeline', 'perturb', '--no-verify', '-q']);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(parseSchedule(readFileSync(join(out, 'schedule.json'), 'utf8')).verification?.checked, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// The exact optimum's solver stops at a wall-clock limit (its proof status may depend on the
// machine's load), so this checks reproducibility of everything else: without it.
test('compile --reproducible: two runs give byte-identical model.onnx and schedule.json', { timeout: 180_000 }, async () => {
  const a = tmp('compile-repro-a'), b = tmp('compile-repro-b');
  try {
    for (const r of await Promise.all([a, b].map((out) => cli(['compile', EXAMPLE, '-o', out, '--reproducible', '--seed', '3', '-q', '--option', 'plan.optimum=false'])))) {
      assert.equal(r.code, 0, r.stderr);
    }
    assert.deepEqual(readFileSync(join(a, 'model.onnx')), readFileSync(join(b, 'model.onnx')));
    assert.equal(readFileSync(join(a, 'schedule.json'), 'utf8'), readFileSync(join(b, 'schedule.json'), 'utf8'));
    const s = parseSchedule(readFileSync(join(a, 'schedule.json'), 'utf8'));
    assert.equal(s.seed, 3);
    assert.ok(s.passes.every((p) => p.ms === 0));
  } finally {
    rmSync(a, { recursive: true, force: true });
    rmSync(b, { recursive: true, force: true });
  }
});

test('compile reads a gzip-compressed model (.onnx.gz) as the same model, onnxruntime check included', { timeout: 180_000 }, async () => {
  const dir = tmp('compile-gz');
  try {
    const gz = join(dir, 'example.onnx.gz');
    writeFileSync(gz, gzipSync(readFileSync(EXAMPLE)));
    const args = ['--reproducible', '--seed', '3', '-q', '--option', 'plan.optimum=false'];
    const [plain, packed] = await Promise.all([cli(['compile', EXAMPLE, '-o', join(dir, 'plain'), ...args]), cli(['compile', gz, '-o', join(dir, 'gz'), ...args])]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(packed.code, 0, packed.stderr);
    assert.deepEqual(readFileSync(join(dir, 'gz', 'model.onnx')), readFileSync(join(dir, 'plain', 'model.onnx')));
    const a = parseSchedule(readFileSync(join(dir, 'plain', 'schedule.json'), 'utf8'));
    const b = parseSchedule(readFileSync(join(dir, 'gz', 'schedule.json'), 'utf8'));
    assert.equal(b.verification?.checked, true, JSON.stringify(b.verification));
    assert.deepEqual(finalPlan(b)?.groups, finalPlan(a)?.groups);
    // A file with gzip's magic that does not inflate: one line naming it, exit 2, nothing written.
    const bad = join(dir, 'bad.onnx.gz');
    writeFileSync(bad, Buffer.from([0x1f, 0x8b, 1, 2, 3, 4]));
    const r = await cli(['compile', bad, '-o', join(dir, 'bad')]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr.trim(), /^dnnfuse: model file .*bad\.onnx\.gz: cannot inflate it/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(!existsSync(join(dir, 'bad')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('compile --node-metadata and --no-embed', { timeout: 180_000 }, async () => {
  const dir = tmp('compile-meta');
  try {
    mkdirSync(dir, { recursive: true });
    const meta = join(dir, 'meta'), none = join(dir, 'none');
    const [rm, rn] = await Promise.all([cli(['compile', EXAMPLE, '-o', meta, '--node-metadata', '-q']), cli(['compile', EXAMPLE, '-o', none, '--no-embed', '-q'])]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(rn.code, 0, rn.stderr);
    const m = loadModel(join(meta, 'model.onnx'));
    assert.equal(m.functions.length, 0);
    const s = parseSchedule(readFileSync(join(meta, 'schedule.json'), 'utf8')) as Schedule;
    if (finalPlan(s)) {
      assert.equal(s.embedding?.mode, 'node-metadata');
      assert.deepEqual(readFusionGroups(m).map((g) => g.nodes), finalPlan(s)!.groups.map((g) => g.nodes));
    }
    const n = loadModel(join(none, 'model.onnx'));
    assert.equal(n.functions.length, 0);
    assert.deepEqual(readFusionGroups(n), []);
    await assertSameOutputs(loadModel(EXAMPLE), encodeModel(m));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('compile says when the check compared empty outputs (their shapes only)', async () => {
  const int64 = (name: string, v: number[]) => new Node({ name, opType: 'Constant', inputs: [], outputs: [name], attributes: [{ name: 'value', type: 'tensor', value: Tensor.int64(name, [v.length], v) }] });
  const graph = new Graph({
    name: 'g',
    nodes: [
      new Node({ name: 'relu', opType: 'Relu', inputs: ['x'], outputs: ['y'] }),
      int64('starts', [0]), int64('ends', [0]), int64('axes', [1]),
      new Node({ name: 'none', opType: 'Slice', inputs: ['x', 'starts', 'ends', 'axes'], outputs: ['e'] }),
    ],
    inputs: [{ name: 'x', type: { elemType: DataType.FLOAT, shape: [1, 4] } }],
    outputs: [{ name: 'y', type: { elemType: DataType.FLOAT } }, { name: 'e', type: { elemType: DataType.FLOAT } }],
  });
  const lines: string[] = [];
  const r = await compileModel(new Model({ graph, opsetImports: [{ domain: '', version: 17 }] }), { pipeline: ['fold-bn'], log: (l) => lines.push(l) });
  assert.equal(r.schedule.verification?.checked, true);
  assert.deepEqual(r.schedule.verification?.outputs?.map((o) => o.elements), [4, 0]);
  assert.ok(lines.includes("onnxruntime check: output 'e' is empty on these inputs, so only its shape was compared (--inputs gives inputs on which the model outputs something)"), lines.join('\n'));
});

test('library compile: a failing check is a DnnfuseError with exit code 1', async () => {
  const m = buildCnn({ seed: 4, inChannels: 2, size: 8, blocks: [{ kind: 'conv-bn-relu', out: 4, kernel: 3, stride: 1, bn: true }], head: false });
  const negate = { name: 'negate', description: '', reads: [], writes: ['graph'], run(model: typeof m) { const out = model.graph.outputs[0].name; const p = model.graph.producer(out)!; p.opType = 'Neg'; p.attributes = []; return { changed: true }; } };
  await assert.rejects(compileModel(m, { pipeline: [negate] }), (e: unknown) => e instanceof DnnfuseError && e.exitCode === 1 && /differs from the original/.test(e.message));
});
