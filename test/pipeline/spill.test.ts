/** compile's check with a spill folder (what `dnnfuse compile` does, issue 15 item 5): the
 * rewritten model's file of the check is written before any session, the passes' new weights are
 * read back from it (the IR holds none of them while the sessions run), and the model saved
 * afterwards is byte-identical to the one compiled without spilling; the CLI's outputs are the
 * same as the library's, and it leaves no temporary folder behind. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ModelBuilder } from '../../src/models/builder.ts';
import { saveModel, encodeModel } from '../../src/onnx/io.ts';
import { LazyRawSource } from '../../src/onnx/lazy.ts';
import { compileModel } from '../../src/compile.ts';
import { scheduleToJson } from '../../src/passes/manager.ts';

const BIN = fileURLToPath(new URL('../../bin/dnnfuse.mjs', import.meta.url));

/** Convs with weights over the lazy threshold (64 KiB), each followed by a BN that fold-bn folds
 * into a new weight; one conv without BN keeps its weight as read. */
function bigConvModel(seed: number) {
  const b = new ModelBuilder({ seed });
  let x = b.input('input', [1, 32, 12, 12]);
  x = b.conv(x, { outChannels: 128, kernel: 3, pads: 1 });
  x = b.batchNorm(x);
  x = b.relu(x);
  x = b.conv(x, { outChannels: 128, kernel: 3, pads: 1 });
  x = b.batchNorm(x);
  x = b.relu(x);
  x = b.conv(x, { outChannels: 128, kernel: 3, pads: 1 });
  b.output(x);
  return b.build('big_conv');
}

test('with a spill folder the new weights are read from the check file, and the saved model is byte-identical', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-spill-test-'));
  try {
    const p = join(dir, 'm.onnx');
    saveModel(bigConvModel(3), p);
    const opts = { pipeline: 'fold-constants,fold-bn,plan', seed: 0, omitTimings: true };
    const plain = await compileModel(p, opts);
    const spillDir = join(dir, 'spill');
    mkdirSync(spillDir);
    const spilled = await compileModel(p, { ...opts, spillDir });
    assert.equal(spilled.schedule.verification?.checked, true);
    const made = [...spilled.model.graph.initializers.values()].filter((t) => t.name.includes('_bn') && t.byteLength >= 1 << 16);
    assert.equal(made.length, 2, 'fold-bn made two large weights');
    for (const t of made) {
      assert.ok(t.source instanceof LazyRawSource && t.source.pending, `${t.name} is read from the check file, not held`);
      assert.equal(t.source.range.file.path, join(spillDir, 'rewritten.onnx'));
    }
    const plainMade = [...plain.model.graph.initializers.values()].filter((t) => t.name.includes('_bn') && t.byteLength >= 1 << 16);
    assert.ok(plainMade.every((t) => t.source.kind === 'values'), 'without a spill folder the weights stay in memory');
    assert.deepEqual(encodeModel(spilled.model), encodeModel(plain.model), 'same encoded model');
    const a = join(dir, 'a.onnx'), b = join(dir, 'b.onnx');
    saveModel(plain.model, a);
    saveModel(spilled.model, b);
    assert.deepEqual(readFileSync(b), readFileSync(a), 'same saved file');
    assert.equal(scheduleToJson(spilled.schedule), scheduleToJson(plain.schedule), 'same schedule');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dnnfuse compile (spilling) writes the same files as compile --no-verify and the library, and removes its folder', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-spill-test-'));
  try {
    const p = join(dir, 'm.onnx');
    saveModel(bigConvModel(4), p);
    // The CLI's temporary folders go to a TMPDIR of this test's own (other runs share the system's).
    const ownTmp = join(dir, 'tmp');
    mkdirSync(ownTmp);
    const run = (out: string, extra: string[]) => execFileSync(process.execPath, [BIN, 'compile', p, '-o', join(dir, out), '--reproducible', '--quiet', ...extra], { encoding: 'utf8', env: { ...process.env, TMPDIR: ownTmp } });
    run('checked', []);
    run('unchecked', ['--no-verify']);
    const lib = await compileModel(p, { omitTimings: true });
    const libFile = join(dir, 'lib.onnx');
    saveModel(lib.model, libFile);
    assert.deepEqual(readFileSync(join(dir, 'checked', 'model.onnx')), readFileSync(join(dir, 'unchecked', 'model.onnx')));
    assert.deepEqual(readFileSync(join(dir, 'checked', 'model.onnx')), readFileSync(libFile));
    const sched = JSON.parse(readFileSync(join(dir, 'checked', 'schedule.json'), 'utf8'));
    assert.equal(sched.verification.checked, true);
    assert.deepEqual(readdirSync(ownTmp).filter((f) => f.startsWith('dnnfuse-')), [], 'the spill folder and the check file are removed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
