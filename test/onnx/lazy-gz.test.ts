/** loadModelGz (src/onnx/lazy-gz.ts): a .onnx.gz read for its structure while it is inflated as
 * a stream. Every observable result equals the whole-file path (gunzip, then decodeModel), the
 * large tensors stay unread until asked for, and bad files fail in one line naming the file. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { decodeModel, encodeModel, loadModel, loadModelGz, saveModel } from '../../src/onnx/io.ts';
import { buildCnn } from '../../src/testkit/arbitraries.ts';
import { LAZY_MIN_TENSOR, unreadLength } from '../../src/onnx/lazy.ts';
import { scanModelStream } from '../../src/onnx/lazy-gz.ts';
import { isDnnfuseError } from '../../src/errors.ts';
import { opGraphOf } from '../../src/sweep/planner.ts';
import { bigModelMsg, encodeMsg } from './helpers.ts';
import type { Msg } from '../../src/onnx/schema.ts';
import { sameBytes as same } from '../support/bytes.ts';

const made: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'dnnfuse-lazy-gz-'));
  made.push(d);
  return d;
};
after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

function writeGz(bytes: Uint8Array): { dir: string; path: string } {
  const dir = tmp();
  const path = join(dir, 'm.onnx.gz');
  writeFileSync(path, gzipSync(bytes));
  return { dir, path };
}

async function* chunked(bytes: Uint8Array, cuts: number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    yield bytes.subarray(at, Math.max(at, c));
    at = Math.max(at, c);
  }
  yield bytes.subarray(at);
}

test('random models: the structure-only load equals the whole-file path, large tensors unread', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 60_000 }), { minLength: 0, maxLength: 5 }), fc.boolean(), async (sizes, extras) => {
      const bytes = encodeMsg(bigModelMsg(sizes, extras));
      const { dir, path } = writeGz(bytes);
      const eager = decodeModel(bytes, { baseDir: dir });
      const m = await loadModelGz(path);
      for (const [name, t] of m.graph.initializers) {
        const big = t.source.kind === 'raw' && dtypeLength(eager.graph.initializers.get(name)!) >= LAZY_MIN_TENSOR;
        assert.equal(unreadLength(t.source) !== undefined, big, `${name}: unread after load iff large`);
      }
      // every byte, read back through the inflated ranges, is the file's
      assert.ok(same(encodeModel(m), encodeModel(eager)), 'encodeModel equals the whole-file path');
      for (const [name, t] of m.graph.initializers) if (name.startsWith('big')) assert.ok(same(t.bytes(), eager.graph.initializers.get(name)!.bytes()), name);
    }),
    { numRuns: 12 },
  );
});

const dtypeLength = (t: { source: { kind: string; bytes?: Uint8Array } }) => (t.source.kind === 'raw' ? t.source.bytes!.length : 0);

test('the walk gives the same skeleton whatever the chunks are', async () => {
  const bytes = encodeMsg(bigModelMsg([20_000, 5, 40_000], true));
  const whole = await scanModelStream(chunked(bytes, []));
  assert.equal(whole.holes.size, 2, 'two tensors past the threshold');
  await fc.assert(
    fc.asyncProperty(fc.array(fc.integer({ min: 0, max: bytes.length }), { maxLength: 40 }), async (cuts) => {
      const s = await scanModelStream(chunked(bytes, cuts));
      assert.ok(same(s.bytes, whole.bytes));
      assert.deepEqual([...s.holes], [...whole.holes]);
    }),
    { numRuns: 60 },
  );
});

test('a CNN: the same op graph from .onnx and .onnx.gz, no weight read to build it', async () => {
  const dir = tmp();
  const plain = join(dir, 'cnn.onnx');
  saveModel(buildCnn({ seed: 1, inChannels: 3, size: 32, blocks: [{ kind: 'conv-bn-relu', out: 64, kernel: 3, stride: 1, bn: true }, { kind: 'conv-bn-relu', out: 128, kernel: 3, stride: 2, bn: true }, { kind: 'residual', bottleneck: true }], head: true }), plain);
  const { path } = writeGz(readFileSync(plain));
  const m = await loadModelGz(path);
  const unread = () => [...m.graph.initializers.values()].filter((t) => unreadLength(t.source) !== undefined).length;
  const before = unread();
  assert.ok(before >= 2, `tensors over 64 KiB unread after the load: ${before}`);
  assert.deepEqual(opGraphOf(m), opGraphOf(loadModel(plain)));
  assert.equal(unread(), before, 'building the op graph read no large tensor');
});

test('a file the walk cannot follow is read whole: a repeated graph field', async () => {
  const a = encodeMsg(bigModelMsg([30_000], false));
  const b = encodeMsg({ graph: { name: 'second', doc_string: 'merged' } } as Msg);
  const bytes = new Uint8Array([...a, ...b]);
  const { dir, path } = writeGz(bytes);
  const m = await loadModelGz(path);
  assert.ok(same(encodeModel(m), encodeModel(decodeModel(bytes, { baseDir: dir }))));
});

test('bad files: one-line bad-input errors naming the file', async () => {
  const dir = tmp();
  const cases: [string, Uint8Array][] = [
    ['not-gzip.onnx.gz', new TextEncoder().encode('this is not gzip at all')],
    ['truncated.onnx.gz', gzipSync(encodeMsg(bigModelMsg([70_000], false))).subarray(0, 2000)],
    ['not-onnx.onnx.gz', gzipSync(new Uint8Array(100_000).fill(0xff))],
  ];
  for (const [name, data] of cases) {
    const path = join(dir, name);
    writeFileSync(path, data);
    await assert.rejects(loadModelGz(path), (e: unknown) => {
      assert.ok(isDnnfuseError(e) && e.kind === 'bad-input', `${name}: ${String(e)}`);
      assert.ok(e.message.includes(path) && !e.message.includes('\n'), `${name}: ${e.message}`);
      return true;
    });
  }
  await assert.rejects(loadModelGz(join(dir, 'missing.onnx.gz')), (e: unknown) => isDnnfuseError(e) && e.message.includes('not found'));
});

test('a tensor read after its file changed fails naming the tensor and the file', async () => {
  const { path } = writeGz(encodeMsg(bigModelMsg([70_000], false)));
  const m = await loadModelGz(path);
  writeFileSync(path, gzipSync(encodeMsg(bigModelMsg([70_000, 3], false))));
  utimesSync(path, new Date(), new Date(Date.now() + 5000));
  assert.throws(() => m.graph.initializers.get('big0')!.bytes(), (e: unknown) => isDnnfuseError(e) && /tensor 'big0'.*changed on disk/.test(e.message) && e.message.includes(path));
});

test('loadModel reads a .onnx.gz whole (told by its magic bytes, whatever its name): the same model as the raw bytes', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 60_000 }), { minLength: 0, maxLength: 4 }), fc.boolean(), async (sizes, extras) => {
      const bytes = encodeMsg(bigModelMsg(sizes, extras));
      const { dir, path } = writeGz(bytes);
      const eager = decodeModel(bytes, { baseDir: dir });
      assert.ok(same(encodeModel(loadModel(path)), encodeModel(eager)));
      const named = join(dir, 'no-suffix.onnx');
      writeFileSync(named, readFileSync(path));
      assert.ok(same(encodeModel(loadModel(named)), encodeModel(eager)));
      assert.ok(same(encodeModel(await loadModelGz(path)), encodeModel(eager)));
    }),
    { numRuns: 8 },
  );
});
