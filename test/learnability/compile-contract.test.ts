/**
 * compile's contract on a failed certificate (README "dnnfuse compile"): one rule for the CLI
 * and the library. A learnability certificate not granted fails the job like a failed
 * onnxruntime check: the CLI exits 1 with one stderr line and writes neither model.onnx nor
 * schedule.json; compile() rejects with CompileFailed (exit code 1) carrying the result.
 * A granted certificate: exit 0, both files written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ModelBuilder } from '../../src/models/builder.ts';
import { saveModel } from '../../src/onnx/io.ts';
import { compile, CompileFailed, isDnnfuseError } from '../../src/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-contract-'));

function smallModel() {
  const b = new ModelBuilder({ seed: 3 });
  let x = b.input('image', [1, 4, 8, 8]);
  x = b.relu(b.conv(x, { outChannels: 4, kernel: 3, pads: 1 }));
  x = b.add(x, b.relu(b.conv(x, { outChannels: 4, kernel: 3, pads: 1 })));
  b.output(x);
  return b.build();
}

const file = join(dir, 'small.onnx');
saveModel(smallModel(), file);

function compileCli(out: string, ...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/dnnfuse.mjs', 'compile', file, '-o', out, '--pipeline', 'learnability', '-q', ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('CLI: a certificate not granted exits 1, one stderr line, nothing written; granted: exit 0, both files', () => {
  const bad = join(dir, 'bad');
  const r = compileCli(bad, '--option', 'learnability.algorithms=flooding', '--option', 'learnability.eps=0.5');
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^dnnfuse: FAILED: learnability: not certified: flooding/);
  assert.ok(!existsSync(join(bad, 'model.onnx')) && !existsSync(join(bad, 'schedule.json')), 'nothing written');
  if (existsSync(bad)) assert.deepEqual(readdirSync(bad), []);
  const good = join(dir, 'good');
  const ok = compileCli(good, '--option', 'learnability.algorithms=flooding');
  assert.equal(ok.code, 0, ok.stderr);
  assert.ok(existsSync(join(good, 'model.onnx')) && existsSync(join(good, 'schedule.json')));
});

test('library: compile() rejects with CompileFailed (exit code 1) carrying the schedule; resolves with no failures when certified', async () => {
  const opts = { pipeline: 'learnability', passOptions: { learnability: { algorithms: 'flooding', eps: 0.5 } } };
  await assert.rejects(compile(smallModel(), opts), (e: unknown) => {
    assert.ok(e instanceof CompileFailed && isDnnfuseError(e));
    assert.equal(e.exitCode, 1);
    assert.match(e.message, /not certified: flooding/);
    assert.deepEqual(e.result.failures.length, 1);
    assert.ok(e.result.schedule.passes.some((p) => p.name === 'learnability'));
    return true;
  });
  const r = await compile(smallModel(), { pipeline: 'learnability', passOptions: { learnability: { algorithms: 'flooding' } } });
  assert.deepEqual(r.failures, []);
});
