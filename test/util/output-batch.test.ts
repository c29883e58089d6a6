/** OutputBatch's checks after issue 15 item 4 cut its stat calls (no real-path walk when the run
 * has no inputs or only one target; commit reuses its target check's lstat): the refusals and
 * the rollback still hold on those paths. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { OutputBatch, RunInputs } from '../../src/util/output.ts';
import { isDnnfuseError } from '../../src/errors.ts';

const fresh = () => mkdtempSync(join(tmpdir(), 'dnnfuse-batch-'));

test('two targets naming one file through a linked folder are refused (no inputs)', () => {
  const d = fresh();
  mkdirSync(join(d, 'real'));
  symlinkSync(join(d, 'real'), join(d, 'alias'));
  const b = new OutputBatch();
  b.stage(join(d, 'real', 'a.onnx'));
  assert.throws(() => b.stage(join(d, 'alias', 'a.onnx'), '--schedule'), (e: unknown) => isDnnfuseError(e) && e.exitCode === 2 && /name the same file/.test(e.message));
  b.abort();
  assert.deepEqual(readdirSync(join(d, 'real')), []);
});

test('a symbolic link or a folder as target is refused with no inputs; an input through a link is refused', () => {
  const d = fresh();
  writeFileSync(join(d, 'in.onnx'), 'x');
  symlinkSync(join(d, 'in.onnx'), join(d, 'link.onnx'));
  mkdirSync(join(d, 'dir'));
  assert.throws(() => new OutputBatch().stage(join(d, 'link.onnx')), /symbolic link/);
  assert.throws(() => new OutputBatch().stage(join(d, 'dir')), /it is a folder/);
  mkdirSync(join(d, 'sub'));
  symlinkSync(d, join(d, 'sub', 'up'));
  const inputs = new RunInputs().add(join(d, 'in.onnx'), 'model file');
  assert.throws(() => new OutputBatch(inputs).stage(join(d, 'sub', 'up', 'in.onnx')), /refusing to overwrite the input model file/);
});

test('commit replaces an existing file, and restores it when a later rename fails', () => {
  const d = fresh();
  writeFileSync(join(d, 'a.txt'), 'old a');
  const ok = new OutputBatch();
  ok.write(join(d, 'a.txt'), 'new a');
  ok.commit();
  assert.equal(readFileSync(join(d, 'a.txt'), 'utf8'), 'new a');

  const b = new OutputBatch();
  b.write(join(d, 'a.txt'), 'newer a');
  const tmp = b.stage(join(d, 'b.txt'), '--schedule'); // never written: its rename fails
  rmSync(tmp, { force: true });
  assert.throws(() => b.commit(), (e: unknown) => isDnnfuseError(e) && e.exitCode === 2 && /b\.txt/.test(e.message));
  assert.equal(readFileSync(join(d, 'a.txt'), 'utf8'), 'new a', 'the replaced file is restored');
  assert.deepEqual(readdirSync(d).sort(), ['a.txt'], 'no temporary or backup left, no b.txt');
});

test('stage creates missing folders (nested), writes into an existing one, and names a file in the way', () => {
  const d = fresh();
  OutputBatch.run(undefined, (b) => b.write(join(d, 'x', 'y', 'a.txt'), 'a'));
  assert.equal(readFileSync(join(d, 'x', 'y', 'a.txt'), 'utf8'), 'a');
  OutputBatch.run(undefined, (b) => b.write(join(d, 'x', 'b.txt'), 'b'));
  OutputBatch.run(undefined, (b) => b.write(join(d, 'x', 'b.txt'), 'b2')); // existing target: no mkdir
  assert.equal(readFileSync(join(d, 'x', 'b.txt'), 'utf8'), 'b2');
  writeFileSync(join(d, 'file'), 'f');
  assert.throws(() => OutputBatch.run(undefined, (b) => b.write(join(d, 'file', 'c.txt'), 'c')), (e: unknown) => isDnnfuseError(e) && e.exitCode === 2 && /c\.txt.*not a folder/.test(e.message));
  assert.throws(() => OutputBatch.run(undefined, (b) => b.write(join(d, 'file', 'sub', 'c.txt'), 'c')), (e: unknown) => isDnnfuseError(e) && e.exitCode === 2 && /c\.txt/.test(e.message));
  assert.deepEqual(readdirSync(d).sort(), ['file', 'x']);
});
