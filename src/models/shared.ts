/**
 * Locates the reference models of `../shared/models` (present on the developers' machines
 * and in CI, absent from a user's clone) and decompresses the `.onnx.gz` ones into a cache
 * folder once ($DNNFUSE_SHARED_CACHE, else dnnfuse-shared-models in the temporary folder).
 * Tests that need them skip with `sharedModelsMissing()` as the printed reason.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync, statSync, renameSync, readdirSync } from 'node:fs';
import { join, resolve, basename } from 'node:path';
import { tmpdir } from 'node:os';
import { gunzipSync } from 'node:zlib';

/** The shared models folder: $DNNFUSE_SHARED_MODELS, else ../shared/models from the repo root. */
export function sharedModelsDir(): string {
  return process.env.DNNFUSE_SHARED_MODELS ?? resolve(process.cwd(), '..', 'shared', 'models');
}

/** A skip reason when the shared models are absent, else false (for `test(name, { skip }, ...)`). */
export function sharedModelsMissing(): string | false {
  return existsSync(sharedModelsDir()) ? false : `reference models not found at ${sharedModelsDir()} (set DNNFUSE_SHARED_MODELS); only developers' machines and CI have them`;
}

/** Path to a shared model by file name ('resnet50' / 'resnet50.onnx' / 'reparam/dbb_block'),
 * decompressing a .gz variant into the cache on first use. Throws if absent. */
export function sharedModelPath(name: string, dir = sharedModelsDir()): string {
  const base = name.replace(/\.onnx(\.gz)?$/, '');
  const plain = join(dir, `${base}.onnx`);
  if (existsSync(plain)) return plain;
  const gz = `${plain}.gz`;
  if (!existsSync(gz)) throw new Error(`shared model ${name} not found in ${dir}`);
  const cacheDir = process.env.DNNFUSE_SHARED_CACHE ?? join(tmpdir(), 'dnnfuse-shared-models');
  mkdirSync(cacheDir, { recursive: true });
  const out = join(cacheDir, `${base.replace(/\//g, '__')}.onnx`);
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(gz).mtimeMs) {
    const tmp = `${out}.${process.pid}.tmp`;
    writeFileSync(tmp, gunzipSync(readFileSync(gz)));
    renameSync(tmp, out); // atomic: concurrent test files may decompress the same model
  }
  return out;
}

/** Every shared torchvision model (not the reparam blocks), as { name, path, weights }. */
export function sharedModels(dir = sharedModelsDir()): { name: string; file: string; weights: 'random' | 'const' }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.onnx') || f.endsWith('.onnx.gz'))
    .sort()
    .map((f) => ({ name: basename(f).replace(/\.onnx(\.gz)?$/, ''), file: f, weights: f.endsWith('.gz') ? ('const' as const) : ('random' as const) }));
}

/** Every reparam block name ('reparam/acnet_block', ...). */
export function sharedReparamModels(): string[] {
  const dir = join(sharedModelsDir(), 'reparam');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.onnx')).sort().map((f) => `reparam/${f.replace(/\.onnx$/, '')}`);
}
