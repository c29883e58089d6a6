import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { PRESETS, parseSize, formatSize, loadAcceleratorFile, resolveAccelerator, acceleratorFromObject } from '../../src/hardware/load.ts';
import { isDnnfuseError } from '../../src/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-hw-'));

test('presets: the published settings and the edge/NPU family', () => {
  assert.equal(PRESETS['paper-128k'].bufferBytes, 128 * 1024);
  assert.equal(PRESETS['paper-256k'].bufferBytes, 256 * 1024);
  assert.equal(PRESETS['edge-512k'].bufferBytes, 512 * 1024);
  assert.equal(PRESETS['edge-1m'].bufferBytes, 1 << 20);
  assert.equal(PRESETS['edge-2m'].bufferBytes, 2 << 20);
  assert.equal(PRESETS['npu-8m'].bufferBytes, 8 << 20);
  for (const p of Object.values(PRESETS)) assert.ok(p.dramBytesPerSecond > 0 && p.macsPerSecond > 0);
});

test('parseSize: IEC and SI units, plain bytes, malformed -> NaN', () => {
  assert.equal(parseSize('256KiB'), 262144);
  assert.equal(parseSize('256 KB'), 256000);
  assert.equal(parseSize('1MiB'), 1048576);
  assert.equal(parseSize('1.5MB'), 1500000);
  assert.equal(parseSize('4096'), 4096);
  assert.ok(Number.isNaN(parseSize('12 parsecs')));
  assert.equal(formatSize(262144), '256 KiB');
  assert.equal(formatSize(3 << 19), '1.5 MiB');
});

test('loads JSON and YAML files with defaults', () => {
  const j = join(dir, 'acc.json');
  writeFileSync(j, JSON.stringify({ name: 'my-npu', bufferBytes: '384KiB', elementType: 'fp16' }));
  const a = loadAcceleratorFile(j);
  assert.deepEqual([a.name, a.bufferBytes, a.elementType], ['my-npu', 393216, 'fp16']);
  assert.ok(a.dramBytesPerSecond > 0);
  const y = join(dir, 'acc.yaml');
  writeFileSync(y, 'bufferBytes: 1MiB\nelementType: int8\ndramBytesPerSecond: 25.6GB\nmacsPerSecond: 2e12\n');
  const b = loadAcceleratorFile(y);
  assert.deepEqual([b.name, b.bufferBytes, b.dramBytesPerSecond, b.macsPerSecond], ['acc', 1 << 20, 25.6e9, 2e12]);
});

test('bad configs: one-line errors naming the file and the field', () => {
  const cases: [unknown, RegExp][] = [
    [{ bufferBytes: 0 }, /hardware config x\.json: bufferBytes must be > 0/],
    [{ bufferBytes: -5 }, /bufferBytes must be > 0/],
    [{ elementType: 'int8' }, /missing required field bufferBytes/],
    [{ bufferBytes: 1024, elementType: 'int4' }, /elementType must be one of int8, fp16, fp32/],
    [{ bufferBytes: 1024, colour: 'red' }, /unknown field colour/],
    [{ bufferBytes: 'lots' }, /bufferBytes must be a positive number of bytes or a size/],
    [{ bufferBytes: 1024, macsPerSecond: 0 }, /macsPerSecond must be > 0/],
    [[1, 2], /expected an object/],
  ];
  for (const [obj, re] of cases) {
    const f = join(dir, 'x.json');
    writeFileSync(f, JSON.stringify(obj));
    assert.throws(() => loadAcceleratorFile(f), (e: unknown) => isDnnfuseError(e) && e.exitCode === 2 && re.test(e.message) && !e.message.includes('\n'), JSON.stringify(obj));
  }
  const broken = join(dir, 'broken.json');
  writeFileSync(broken, '{ "bufferBytes": ');
  assert.throws(() => loadAcceleratorFile(broken), /hardware config broken\.json: not valid JSON/);
  assert.throws(() => loadAcceleratorFile(join(dir, 'missing.yaml')), /file not found/);
});

test('--hw preset|file plus --buffer/--dtype overrides', () => {
  const a = resolveAccelerator('edge-1m', { buffer: '256KiB', dtype: 'fp32' });
  assert.equal(a.bufferBytes, 262144);
  assert.equal(a.elementType, 'fp32');
  assert.equal(a.dramBytesPerSecond, PRESETS['edge-1m'].dramBytesPerSecond);
  assert.match(a.name, /edge-1m\[256 KiB,fp32\]/);
  assert.deepEqual(resolveAccelerator('npu-8m'), PRESETS['npu-8m']);
  assert.throws(() => resolveAccelerator('tpu-9000'), /neither a preset \(edge-512k.*\) nor a \.json\/\.yaml file/);
  assert.throws(() => resolveAccelerator('edge-1m', { dtype: 'int3' }), /elementType must be one of/);
  assert.throws(() => acceleratorFromObject({ bufferBytes: 0.5 }, 'cfg'), /bufferBytes must be a whole number of bytes/);
});
