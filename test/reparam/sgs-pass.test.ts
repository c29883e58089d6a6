import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ModelBuilder } from '../../src/models/builder.ts';
import { computeSgs, applySgs } from '../../src/reparam/sgs.ts';
import { loadCalibration, readNpy } from '../../src/reparam/calib.ts';
import { loadModel, saveModel } from '../../src/onnx/io.ts';
import { assertSameOutputs, cloneViaOnnx } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-sgs-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function model() {
  const b = new ModelBuilder({ seed: 4 });
  const x = b.input('x', [1, 3, 16, 16]);
  const y = b.relu(b.conv(x, { outChannels: 8, kernel: 3, pads: 1, name: 'stem' }));
  const z = b.relu(b.conv(y, { outChannels: 8, kernel: 1, name: 'pw' }));
  const d = b.relu(b.conv(z, { outChannels: 8, kernel: 5, pads: 2, group: 8, name: 'dw' }));
  b.output(b.conv(d, { outChannels: 4, kernel: [3, 1], pads: [1, 0, 1, 0], name: 'tall' }));
  return b.build();
}

test('sgs: one mean-1 positive matrix per spatial conv (1x1 excluded), deterministic per seed', async () => {
  const a = await computeSgs(model(), { calib: 'random', batches: 2, seed: 3 });
  assert.deepEqual(a.convs.map((c) => c.node), ['stem', 'dw', 'tall']);
  for (const c of a.convs) {
    const flat = c.scale.flat();
    assert.equal(flat.length, c.kernel[0] * c.kernel[1]);
    assert.ok(flat.every((v) => v > 0));
    assert.ok(Math.abs(flat.reduce((s, v) => s + v, 0) / flat.length - 1) < 1e-4);
    // Mirror symmetry for odd kernels.
    assert.deepEqual(flat, [...flat].reverse());
  }
  const again = await computeSgs(model(), { calib: 'random', batches: 2, seed: 3 });
  assert.equal(JSON.stringify(again), JSON.stringify(a));
  const other = await computeSgs(model(), { calib: 'random', batches: 2, seed: 4 });
  assert.notEqual(JSON.stringify(other.convs[1].scale), JSON.stringify(a.convs[1].scale));
});

test('sgs: embedding and the W = sqrt(S) . V training graph keep outputs and survive ONNX round trip', async () => {
  const m = model();
  const orig = cloneViaOnnx(m);
  const a = await computeSgs(m, { calib: 'random', batches: 1 });
  assert.ok(applySgs(m, a, { embed: true, trainingGraph: true }));
  const back = cloneViaOnnx(m);
  const meta = back.metadata.find((e) => e.key === 'dnnfuse.sgs');
  assert.ok(meta);
  const scales = JSON.parse(meta!.value).scales;
  assert.equal(scales.stem, 'stem_sgs_scale');
  assert.deepEqual(back.graph.initializers.get('stem_sgs_scale')!.dims, [3, 3]);
  assert.equal(back.graph.nodes.filter((n) => n.opType === 'Mul').length, 3);
  await assertSameOutputs(orig, back);
});

test('sgs calibration: ONNX test-data folder and .npy files; bad folders are one-line errors', async () => {
  const conf = '/usr/share/libonnx-testdata/data/pytorch-converted/test_Conv2d';
  if (existsSync(conf)) {
    const m = loadModel(join(conf, 'model.onnx'));
    const batches = loadCalibration(m, conf);
    assert.equal(batches.length, 1);
    assert.deepEqual(batches[0]['0'].dims, [2, 3, 7, 5]);
    const a = await computeSgs(m, { calib: conf });
    assert.deepEqual(a.convs[0].kernel, [3, 2]);
  } else console.log(`skipping the test-data layout part: ${conf} absent`);
  // .npy: header + float32 data.
  const npyDir = join(dir, 'npy');
  mkdirSync(npyDir, { recursive: true });
  const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 16, 16), }";
  const pad = 64 - ((10 + header.length + 1) % 64);
  const h = Buffer.from(header + ' '.repeat(pad) + '\n', 'latin1');
  const pre = Buffer.from([0x93, ...Buffer.from('NUMPY'), 1, 0, h.length & 0xff, h.length >> 8]);
  const data = Float32Array.from({ length: 768 }, (_, i) => Math.sin(i / 7));
  writeFileSync(join(npyDir, 'a.npy'), Buffer.concat([pre, h, Buffer.from(data.buffer)]));
  assert.equal(readNpy(join(npyDir, 'a.npy')).data[5], data[5]);
  const a = await computeSgs(model(), { calib: npyDir });
  assert.equal(a.calibration.batches, 1);
  assert.throws(() => loadCalibration(model(), join(dir, 'missing')), /not a folder/);
  writeFileSync(join(dir, 'npy', 'b.npy'), Buffer.concat([pre, h, Buffer.from(new Float32Array(10).buffer)]));
  assert.throws(() => loadCalibration(model(), npyDir), /truncated/);
});

test('cli sgs: prints matrices, writes the embedded model, exit 2 on bad --calib', () => {
  const inPath = join(dir, 'm.onnx');
  saveModel(model(), inPath);
  const out = join(dir, 'm.sgs.onnx');
  const r = spawnSync(process.execPath, ['bin/dnnfuse.mjs', 'sgs', inPath, '--calib', 'random', '--batches', '1', '-o', out, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.convs.length, 3);
  assert.ok(existsSync(out));
  const bad = spawnSync(process.execPath, ['bin/dnnfuse.mjs', 'sgs', inPath, '--calib', join(dir, 'nowhere')], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /not a folder/);
});
