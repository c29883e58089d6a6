import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, existsSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { sharedModelPath, sharedModelsMissing } from '../../src/models/shared.ts';
import { ModelBuilder } from '../../src/models/builder.ts';
import { saveModel, loadModel } from '../../src/onnx/io.ts';

const cli = (args: string[]) => spawnSync(process.execPath, ['bin/dnnfuse.mjs', ...args], { encoding: 'utf8', cwd: process.cwd() });
const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-rewrite-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('cli rewrite: builder model, --verify --json summary with nodes/params and rewrites', () => {
  const b = new ModelBuilder({ seed: 1 });
  const x = b.input('x', [1, 4, 8, 8]);
  b.output(b.relu(b.add(b.batchNorm(b.conv(x, { outChannels: 4, kernel: 3, pads: 1 })), b.batchNorm(b.conv(x, { outChannels: 4, kernel: 1 })))));
  const inPath = join(dir, 'block.onnx');
  saveModel(b.build(), inPath);
  const out = join(dir, 'block.rep.onnx');
  const r = cli(['rewrite', inPath, '--passes', 'fold-bn,collapse-branches', '-o', out, '--verify', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.deepEqual(s.nodes, { before: 6, after: 2 });
  assert.ok(s.params.after < s.params.before);
  assert.equal(s.verification.ok, true);
  assert.ok(s.passes.find((p: { name: string }) => p.name === 'collapse-branches').applied === 1);
  assert.equal(loadModel(out).graph.nodes.length, 2);
  // compile's allclose criterion and defaults, with its figures
  assert.equal(s.verification.criterion, 'allclose');
  assert.deepEqual([s.verification.rtol, s.verification.atol], [1e-5, 1e-5]);
  const o = s.verification.outputs[0];
  assert.equal(o.mismatched, 0);
  assert.ok(o.maxAbs < 1e-4 && o.cosine > 0.999999, JSON.stringify(o));
});

test('cli rewrite --verify: allclose catches what tolerances rule out; --tolerance is refused naming --rtol/--atol', () => {
  const b = new ModelBuilder({ seed: 3 });
  const x = b.input('x', [1, 4, 8, 8]);
  b.output(b.relu(b.batchNorm(b.conv(x, { outChannels: 4, kernel: 3, pads: 1 }))));
  const inPath = join(dir, 'cbr.onnx');
  saveModel(b.build(), inPath);
  const out = join(dir, 'cbr.rep.onnx');
  // --atol 0 --rtol 0 demands bit-equal outputs; BN folding reassociates sums (seeded model and
  // inputs: it does here): exit 1, nothing written
  const strict = cli(['rewrite', inPath, '--passes', 'fold-bn', '-o', out, '--verify', '--rtol', '0', '--atol', '0']);
  assert.equal(strict.status, 1, strict.stderr);
  assert.match(strict.stderr, /differs from .* on output '.*': \d+ of \d+ elements outside \|a-b\| <= 0 \+ 0\|b\|.*was not written/);
  assert.ok(!existsSync(out));
  const ok = cli(['rewrite', inPath, '--passes', 'fold-bn', '-o', out, '--verify']);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /verify: outputs equal \(allclose rtol 0.00001, atol 0.00001, 2 random draws; max abs error .*, min cosine/);
  for (const args of [['--tolerance', '1e-4'], ['--rtol', '-1'], ['--atol', 'x']]) {
    const r = cli(['rewrite', inPath, '-o', join(dir, 'never.onnx'), '--verify', ...args]);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(!existsSync(join(dir, 'never.onnx')));
  }
  assert.match(cli(['rewrite', inPath, '-o', join(dir, 'never.onnx'), '--tolerance', '1e-4']).stderr, /--tolerance was replaced by --rtol and --atol/);
});

test('cli rewrite: shared dbb_block text summary, exit codes for bad input', { skip: sharedModelsMissing() }, () => {
  const src = sharedModelPath('reparam/dbb_block');
  const out = join(dir, 'dbb.onnx');
  const r = cli(['rewrite', src, '-o', out, '--verify']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /nodes: +18 -> 3/);
  assert.match(r.stdout, /border-correction bias map/);
  assert.match(r.stdout, /verify: outputs equal/);
  const same = cli(['rewrite', src, '-o', src]);
  assert.equal(same.status, 2);
  assert.match(same.stderr, /refusing to overwrite the input/);
});

test('cli rewrite: unreadable model and unknown pass exit 2 with one line', () => {
  const junk = join(dir, 'junk.onnx');
  writeFileSync(junk, 'not a model');
  const r = cli(['rewrite', junk, '-o', join(dir, 'o.onnx')]);
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  const b = new ModelBuilder({ seed: 1 });
  b.output(b.relu(b.input('x', [1, 2])));
  const ok = join(dir, 'ok.onnx');
  saveModel(b.build(), ok);
  const u = cli(['rewrite', ok, '-o', join(dir, 'o2.onnx'), '--passes', 'fold-bn,nope']);
  assert.equal(u.status, 2);
  assert.match(u.stderr, /unknown pass 'nope'/);
  assert.ok(!existsSync(join(dir, 'o2.onnx')));
});

test('cli rewrite --shape: dynamic dims block the border correction until fixed; the output declares them', () => {
  const b = new ModelBuilder({ seed: 2 });
  const x = b.input('x', [1, 4, 8, 8]);
  const seq = b.batchNorm(b.conv(b.batchNorm(b.conv(x, { outChannels: 4, kernel: 1 })), { outChannels: 4, kernel: 3, pads: 1 }));
  b.output(b.add(b.batchNorm(b.conv(x, { outChannels: 4, kernel: 3, pads: 1 })), seq));
  const m = b.build();
  m.graph.inputs[0].type!.shape = ['N', 4, 'H', 'W'];
  m.graph.outputs[0].type!.shape = ['N', 4, 'H', 'W'];
  const inPath = join(dir, 'dyn.onnx');
  saveModel(m, inPath);
  const out = join(dir, 'dyn.rep.onnx');
  const r1 = cli(['rewrite', inPath, '-o', out, '--json']);
  assert.equal(r1.status, 0, r1.stderr);
  const s1 = JSON.parse(r1.stdout);
  assert.ok(s1.passes[1].rewrites.some((r: { detail: string }) => /spatial size .* unknown/.test(r.detail)));
  const r2 = cli(['rewrite', inPath, '-o', out, '--json', '--shape', 'x=1x4x6x7', '--verify']);
  assert.equal(r2.status, 0, r2.stderr);
  const s2 = JSON.parse(r2.stdout);
  assert.deepEqual(s2.nodes, { before: 7, after: 2 });
  assert.equal(s2.verification.ok, true);
  assert.deepEqual(loadModel(out).graph.inputs[0].type!.shape, [1, 4, 6, 7]);
  const bad = cli(['rewrite', inPath, '-o', out, '--shape', 'y=1x4x6x7']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--shape y=\.\.\.: the model has no graph input named 'y' \(inputs: x\)/);
});
