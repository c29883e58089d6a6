/**
 * Conformance: every model of Debian's libonnx-testdata (ONNX's own backend test models) and
 * every shared reference model round-trips losslessly: load -> encode gives the original
 * bytes (byte-identical, which implies an identical decoded protobuf), and the re-encoded
 * model decodes to the same bytes again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { decodeModel, encodeModel } from '../../src/onnx/io.ts';
import { encodeModelChunks } from '../../src/onnx/encode.ts';
import { sharedModelPath, sharedModels, sharedModelsMissing, sharedReparamModels } from '../../src/models/shared.ts';

const TESTDATA = '/usr/share/libonnx-testdata/data';

function findModels(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name === 'model.onnx') out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** Compares encoded chunks with the original bytes without concatenating them (the shared
 * models reach 550 MB; a copy of that costs seconds on these machines). */
function chunksEqual(parts: Uint8Array[], original: Uint8Array): boolean {
  let off = 0;
  for (const p of parts) {
    if (off + p.length > original.length) return false;
    if (Buffer.compare(Buffer.from(p.buffer, p.byteOffset, p.length), Buffer.from(original.buffer, original.byteOffset + off, p.length)) !== 0) return false;
    off += p.length;
  }
  return off === original.length;
}

function roundTrip(path: string): string | undefined {
  const bytes = readFileSync(path);
  const model = decodeModel(bytes, { baseDir: dirname(path) });
  const parts = encodeModelChunks(model, { baseDir: dirname(path) });
  if (!chunksEqual(parts as Uint8Array[], bytes)) { // decodeModel: no lazy (FileRange) parts
    // Not byte-identical: report whether at least the re-encoding is a fixed point.
    const once = encodeModel(model);
    const twice = encodeModel(decodeModel(once, { baseDir: dirname(path) }));
    return Buffer.compare(Buffer.from(once), Buffer.from(twice)) === 0 ? 'bytes differ (re-encoding stable)' : 'bytes differ and re-encoding unstable';
  }
  return undefined;
}

const testdataMissing = existsSync(TESTDATA) ? false : `libonnx-testdata not installed at ${TESTDATA} (apt-get install libonnx-testdata)`;

test('libonnx-testdata: every model round-trips byte for byte', { skip: testdataMissing }, () => {
  const files = findModels(TESTDATA);
  assert.ok(files.length > 1000, `expected 1000+ models, found ${files.length}`);
  const failures: string[] = [];
  let passed = 0;
  for (const f of files) {
    try {
      const why = roundTrip(f);
      if (why) failures.push(`${f}: ${why}`);
      else passed++;
    } catch (e) {
      failures.push(`${f}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  console.log(`# libonnx-testdata round-trip: ${passed}/${files.length} byte-identical`);
  assert.deepEqual(failures, []);
});

test('shared reference models (incl. reparam blocks) round-trip byte for byte', { skip: sharedModelsMissing() }, () => {
  const names = [...sharedModels().map((m) => m.name), ...sharedReparamModels()];
  assert.ok(names.length >= 14, `found ${names.length} shared models`);
  let passed = 0, bytes = 0;
  const failures: string[] = [];
  for (const n of names) {
    const p = sharedModelPath(n);
    bytes += statSync(p).size;
    const why = roundTrip(p);
    if (why) failures.push(`${n}: ${why}`);
    else passed++;
  }
  console.log(`# shared models round-trip: ${passed}/${names.length} byte-identical (${(bytes / 2 ** 20).toFixed(0)} MiB)`);
  assert.deepEqual(failures, []);
});
