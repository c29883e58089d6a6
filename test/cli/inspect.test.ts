/**
 * `dnnfuse inspect`: tables and JSON on a generated model (figures checked against hand-computed
 * formulas), `--shape` overrides on a model with a symbolic batch, and bad inputs (missing,
 * truncated, random bytes, bad --shape) giving exactly one stderr line, exit code 2, no stdout.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ModelBuilder } from '../../src/models/builder.ts';
import { saveModel } from '../../src/onnx/io.ts';
import { Rng } from '../../src/util/random.ts';

const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-inspect-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/dnnfuse.mjs', 'inspect', ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** conv 3->8 (3x3, pad 1) -> BN -> relu -> maxpool 2 -> GAP -> flatten -> gemm 8->10. */
function smallModel(): string {
  const b = new ModelBuilder({ seed: 3 });
  let x = b.input('image', [1, 3, 16, 16]);
  x = b.conv(x, { outChannels: 8, kernel: 3, pads: 1, bias: true });
  x = b.batchNorm(x);
  x = b.relu(x);
  x = b.maxPool(x, { kernel: 2, stride: 2 });
  x = b.globalAveragePool(x);
  x = b.flatten(x);
  x = b.gemm(x, 10);
  b.output(x);
  const path = join(dir, 'small.onnx');
  saveModel(b.build('small'), path);
  return path;
}

// Hand-computed figures for smallModel().
const CONV_MACS = 8 * 16 * 16 * 3 * 3 * 3; // output elements x C_in x k x k
const GEMM_MACS = 1 * 10 * 8;
const PARAMS = 8 * 3 * 3 * 3 + 8 /* conv */ + 4 * 8 /* BN */ + 10 * 8 + 10; /* gemm */

test('inspect --json reports ops, params, MACs, shapes and bytes of a generated model', () => {
  const r = cli(smallModel(), '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const j = JSON.parse(r.stdout);
  assert.equal(j.schema, 'dnnfuse.inspect');
  assert.equal(j.version, 1);
  assert.equal(j.totals.macs, CONV_MACS + GEMM_MACS);
  assert.equal(j.totals.macsComplete, true);
  assert.equal(j.totals.params, PARAMS);
  assert.equal(j.totals.trainableParams, PARAMS - 2 * 8);
  assert.equal(j.totals.paramBytes, PARAMS * 4);
  assert.deepEqual(j.ops.map((o: { op: string }) => o.op).sort(), ['BatchNormalization', 'Conv', 'Flatten', 'Gemm', 'GlobalAveragePool', 'MaxPool', 'Relu']);
  assert.equal(j.ops.find((o: { op: string }) => o.op === 'Conv').macs, CONV_MACS);
  const byProducerOp = (op: string) => j.tensors.find((t: { producer: string | null }) => t.producer && j.nodes.find((n: { name: string; op: string }) => n.name === t.producer && n.op === op));
  assert.deepEqual(byProducerOp('MaxPool').shape, [1, 8, 8, 8]);
  assert.equal(byProducerOp('MaxPool').bytes, 8 * 8 * 8 * 4);
  assert.deepEqual(byProducerOp('Gemm').shape, [1, 10]);
  assert.equal(byProducerOp('Gemm').kind, 'output');
  assert.deepEqual(j.inputs, [{ name: 'image', dtype: 'float', shape: [1, 3, 16, 16] }]);
  assert.deepEqual(j.unknown, []);
  // Activation bytes: conv, bn, relu (8x16x16 each), pool (8x8x8), gap (8), flatten (8), gemm (10).
  assert.equal(j.totals.activationBytes, 4 * (3 * 8 * 16 * 16 + 8 * 8 * 8 + 8 + 8 + 10));
});

test('inspect prints readable tables', () => {
  const r = cli(smallModel(), '--nodes', '--initializers');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^MACs +\d[\d,]* \(/m);
  assert.ok(r.stdout.includes((CONV_MACS + GEMM_MACS).toLocaleString('en-US')));
  assert.match(r.stdout, /^Conv +1 +\S+ +\S+$/m);
  assert.match(r.stdout, /\[1x8x8x8\] +2\.00 KiB/);
  assert.match(r.stdout, /^nodes$/m);
  assert.match(r.stdout, /initializer/);
});

test('inspect --shape resolves a symbolic batch; without it shapes stay symbolic', async () => {
  const { decodeModel, encodeModel } = await import('../../src/onnx/io.ts');
  const m = decodeModel(readFileSync(smallModel()));
  m.graph.inputs[0].type = { elemType: 1, shape: ['batch', 3, 16, 16] };
  const path = join(dir, 'dynamic.onnx');
  writeFileSync(path, encodeModel(m));
  const sym = JSON.parse(cli(path, '--json').stdout);
  assert.deepEqual(sym.inputs[0].shape, ['batch', 3, 16, 16]);
  assert.equal(sym.totals.macsComplete, false);
  assert.ok(sym.unknown.length > 0);
  assert.match(sym.unknown[0].reason, /graph input 'image' has dynamic dims/);
  const text = cli(path).stdout;
  assert.match(text, /hint +input 'image' has dynamic dims: pass --shape image=1x3x16x16/);
  // Two named dims (a batch and an image size): the hint names one --dim each.
  m.graph.inputs[0].type = { elemType: 1, shape: ['batch', 3, 'size', 'size'] };
  const named = join(dir, 'named.onnx');
  writeFileSync(named, encodeModel(m));
  assert.match(cli(named).stdout, /hint +inputs have named dynamic dims: pass --dim batch=N --dim size=N \(N = your sizes\)/);
  const fixed = JSON.parse(cli(named, '--json', '--dim', 'batch=4', '--dim', 'size=16').stdout);
  assert.equal(fixed.totals.macs, 4 * (CONV_MACS + GEMM_MACS));
  assert.match(text, /\[batchx8x8x8\] +\?/);
  const r = cli(path, '--json', '--shape', 'image=4x3x16x16');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.totals.macs, 4 * (CONV_MACS + GEMM_MACS));
  assert.deepEqual(j.outputs[0].shape, [4, 10]);
});

function assertOneLineError(r: ReturnType<typeof cli>, pattern: RegExp) {
  assert.equal(r.code, 2, `exit code (stderr: ${r.stderr})`);
  assert.equal(r.stdout, '', 'no partial stdout');
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `one stderr line, got: ${r.stderr}`);
  assert.match(lines[0], /^dnnfuse: /);
  assert.match(lines[0], pattern);
}

test('inspect on bad inputs: one stderr line, exit 2, nothing on stdout', () => {
  assertOneLineError(cli(join(dir, 'does-not-exist.onnx')), /not found/);
  const good = readFileSync(smallModel());
  const truncated = join(dir, 'truncated.onnx');
  writeFileSync(truncated, good.subarray(0, Math.floor(good.length / 2)));
  assertOneLineError(cli(truncated), /truncated|corrupt|invalid|not a valid/i);
  const rng = new Rng(7);
  const random = join(dir, 'random.onnx');
  writeFileSync(random, Uint8Array.from({ length: 4096 }, () => rng.int(0, 256)));
  assertOneLineError(cli(random), /./);
  assertOneLineError(cli(smallModel(), '--shape', 'nosuch=1x3x16x16'), /no graph input 'nosuch'/);
  assertOneLineError(cli(smallModel(), '--shape', 'image=1x3x16'), /rank 4/);
  assertOneLineError(cli(smallModel(), '--shape', 'image=1xQx16x16'), /--shape/);
  // An override that makes the model inconsistent is reported naming the node.
  assertOneLineError(cli(smallModel(), '--shape', 'image=1x5x16x16'), /node '.*' \(Conv\): input has 5 channels/);
});

test('inspect piped into a reader that closes early exits quietly', () => {
  // Output well beyond a pipe buffer (64 KiB), so the write really hits the closed pipe.
  const b = new ModelBuilder({ seed: 1 });
  let x = b.input('x', [1, 4, 8, 8]);
  for (let i = 0; i < 1500; i++) x = b.relu(x);
  b.output(x);
  const path = join(dir, 'long.onnx');
  saveModel(b.build('long'), path);
  const r = spawnSync('sh', ['-c', `"${process.execPath}" bin/dnnfuse.mjs inspect "${path}" --nodes | head -c 10`], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  assert.equal(r.stdout.length, 10);
  assert.doesNotMatch(r.stderr, /EPIPE|Error/);
});

test('help, and compile with its progress, piped into a reader that has closed: no trace, the same exit code, the outputs written', () => {
  // `true` exits before node has started, so every write meets a closed pipe (EPIPE): before,
  // the help printed a stack trace and the compile died at its first progress line.
  const r = spawnSync('sh', ['-c', `"${process.execPath}" bin/dnnfuse.mjs rewrite --help | true`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = join(dir, 'piped-out'), code = join(dir, 'piped-code');
  const c = spawnSync('sh', ['-c', `{ "${process.execPath}" bin/dnnfuse.mjs rewrite --help 2>/dev/null; echo $? > "${code}.help"; "${process.execPath}" bin/dnnfuse.mjs compile fixtures/example.onnx -o "${out}" --no-verify --pipeline plan; echo $? > "${code}"; } 2>&1 | true`], { encoding: 'utf8' });
  assert.equal(c.status, 0, c.stderr);
  assert.equal(readFileSync(`${code}.help`, 'utf8').trim(), '0', 'the exit code of help written to a closed pipe');
  assert.equal(readFileSync(code, 'utf8').trim(), '0', 'the exit code of a compile whose progress went nowhere');
  assert.ok(existsSync(join(out, 'model.onnx')) && existsSync(join(out, 'schedule.json')), 'compile went on and wrote its outputs');
});
