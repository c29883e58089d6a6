/**
 * Graph inputs that are not tensors (a sequence, an optional): they have no shape to give, so the
 * plan leaves their consumers out with that reason instead of asking for `--shape`, `--shape` on
 * one is a one-line error, and the onnxruntime check says why it cannot feed them. Models from
 * ONNX's own conformance data (Debian's libonnx-testdata).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { compileModel } from '../../src/compile.ts';
import { loadModel } from '../../src/onnx/io.ts';
import { nonTensorKind } from '../../src/onnx/decode.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const NODE = '/usr/share/libonnx-testdata/data/node';
const skip = existsSync(NODE) ? false : `${NODE} not found (apt-get install libonnx-testdata; .ci/run does it)`;
const SEQ = join(NODE, 'test_sequence_insert_at_back', 'model.onnx');
const OPT = join(NODE, 'test_optional_get_element_sequence', 'model.onnx');
const MIXED = join(NODE, 'test_sequence_map_add_1_sequence_1_tensor', 'model.onnx');

test('non-tensor graph inputs are named by kind; a tensor input is not', { skip }, () => {
  const seq = loadModel(SEQ);
  assert.deepEqual(seq.graph.inputs.map((i) => nonTensorKind(i)), ['a sequence', undefined]);
  assert.equal(nonTensorKind(loadModel(OPT).graph.inputs[0]), 'an optional');
});

test('compile: a sequence input leaves its consumer unplanned with that reason, and the check says it cannot feed it', { skip, timeout: 120_000 }, async () => {
  for (const [file, name, kind] of [[SEQ, 'sequence', 'a sequence'], [OPT, 'optional_input', 'an optional']] as const) {
    const r = await compileModel(file, {});
    const plan = r.schedule.passes.find((p) => p.name === 'plan' || p.name === 'get');
    const unplanned = JSON.stringify((plan?.annotations as { unplanned?: unknown } | undefined)?.unplanned ?? r.schedule);
    assert.match(unplanned, new RegExp(`graph input '${name}' is ${kind}, not a tensor`));
    assert.equal(r.schedule.verification?.checked, false);
    assert.equal(r.schedule.verification?.reason, `graph input '${name}' is ${kind}: onnxruntime-node feeds tensors only`);
  }
});

test('--shape on a sequence input is a one-line error, exit 2, nothing written', { skip, timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-seq-'));
  try {
    const out = join(dir, 'out');
    const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'dnnfuse.mjs'), 'compile', SEQ, '--shape', 'sequence=1x2', '-o', out], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim(), "dnnfuse: --shape sequence=...: input 'sequence' is a sequence, not a tensor");
    assert.equal(existsSync(out) ? readdirSync(out).length : 0, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a sequence input beside a dynamic tensor input: the error names the tensor input and the --shape to give', { skip, timeout: 60_000 }, () => {
  const bin = join(ROOT, 'bin', 'dnnfuse.mjs');
  const r = spawnSync(process.execPath, [bin, 'plan', MIXED], { encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr.trim(), /^dnnfuse: shape of value 'x1' is not static \[N\]: graph input 'x1' has dynamic dims \[N\]; pass --shape x1=DIMS/);
  const ok = spawnSync(process.execPath, [bin, 'plan', MIXED, '--shape', 'x1=4'], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(JSON.stringify(JSON.parse(ok.stdout).passes[0].annotations.unplanned), /graph input 'x0' is a sequence, not a tensor/);
});
