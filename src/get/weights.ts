/**
 * Shipped GET weights: `models/get/<scheme>.json` (manifest) + `models/get/<scheme>.bin`.
 *
 * Format "dnnfuse-get-weights" version 1 (documented in models/get/README.md):
 *   { format, version, scheme, featureVersion, featureDim, hidden, layers,
 *     tensors: [{ name, shape, dtype: 'int8' | 'float32', offset?, scale?, values? }],
 *     metrics, training }
 * Matrices (rank 2, [in, out]) are int8 with one symmetric scale per output column
 * (value = q * scale[col]); they sit in the .bin at `offset` (row-major, shape[0]*shape[1]
 * bytes). Vectors (biases) are float32 inline in `values`. Names are namespaced:
 * `kgnn/...` (predictor), `pg/...` (PGExplainer edge MLP), `rg/...` (RG-Explainer policy).
 * int8 keeps each scheme's file under 200 KB; the reported metrics are measured on the
 * dequantized weights, i.e. on exactly what `plan` loads.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../util/fs.ts';
import { badInput } from '../errors.ts';
import type { FusionScheme } from '../fusion/types.ts';
import { FEATURE_DIM, FEATURE_VERSION } from './features.ts';
import { HIDDEN, LAYERS } from './kgnn.ts';

export const WEIGHTS_FORMAT = 'dnnfuse-get-weights';

export interface TensorEntry {
  name: string;
  shape: number[];
  dtype: 'int8' | 'float32';
  offset?: number;
  scale?: number[];
  values?: number[];
}

export interface WeightsManifest {
  format: string;
  version: 1;
  scheme: FusionScheme;
  featureVersion: number;
  featureDim: number;
  hidden: number;
  layers: number;
  tensors: TensorEntry[];
  metrics: Record<string, unknown>;
  training: Record<string, unknown>;
}

/** The shipped weights folder (models/get at the package root). */
export function shippedWeightsDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'models', 'get');
}

export function saveWeights(dir: string, scheme: FusionScheme, tensors: Map<string, { shape: number[]; values: Float32Array }>, metrics: Record<string, unknown>, training: Record<string, unknown>): { json: string; bin: string; bytes: number } {
  const entries: TensorEntry[] = [];
  const chunks: Int8Array[] = [];
  let offset = 0;
  for (const [name, t] of [...tensors].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    if (t.shape.length === 2) {
      const [rows, cols] = t.shape;
      const scale = new Array<number>(cols).fill(0);
      for (let i = 0; i < rows * cols; i++) scale[i % cols] = Math.max(scale[i % cols], Math.abs(t.values[i]));
      for (let c = 0; c < cols; c++) scale[c] = scale[c] > 0 ? Math.fround(scale[c] / 127) : 1;
      const q = new Int8Array(rows * cols);
      for (let i = 0; i < rows * cols; i++) q[i] = Math.max(-127, Math.min(127, Math.round(t.values[i] / scale[i % cols])));
      entries.push({ name, shape: t.shape, dtype: 'int8', offset, scale });
      chunks.push(q);
      offset += q.length;
    } else {
      entries.push({ name, shape: t.shape, dtype: 'float32', values: Array.from(t.values) });
    }
  }
  const manifest: WeightsManifest = {
    format: WEIGHTS_FORMAT,
    version: 1,
    scheme,
    featureVersion: FEATURE_VERSION,
    featureDim: FEATURE_DIM,
    hidden: HIDDEN,
    layers: LAYERS,
    tensors: entries,
    metrics,
    training,
  };
  const bin = new Uint8Array(offset);
  let at = 0;
  for (const c of chunks) {
    bin.set(new Uint8Array(c.buffer, c.byteOffset, c.length), at);
    at += c.length;
  }
  const json = join(dir, `${scheme}.json`);
  const binPath = join(dir, `${scheme}.bin`);
  writeFileAtomic(binPath, bin);
  writeFileAtomic(json, JSON.stringify(manifest, null, 1) + '\n');
  return { json, bin: binPath, bytes: bin.length };
}

export interface LoadedWeights {
  manifest: WeightsManifest;
  tensors: Map<string, Float32Array>;
}

export function loadWeights(scheme: FusionScheme, dir = shippedWeightsDir()): LoadedWeights {
  const json = join(dir, `${scheme}.json`);
  const binPath = join(dir, `${scheme}.bin`);
  if (!existsSync(json) || !existsSync(binPath)) throw badInput(`GET weights for scheme '${scheme}' not found in ${dir} (run 'dnnfuse get train --scheme ${scheme}')`);
  const manifest = JSON.parse(readFileSync(json, 'utf8')) as WeightsManifest;
  if (manifest.format !== WEIGHTS_FORMAT || manifest.version !== 1) throw badInput(`${json}: not a ${WEIGHTS_FORMAT} v1 file`);
  if (manifest.featureVersion !== FEATURE_VERSION || manifest.featureDim !== FEATURE_DIM) {
    throw badInput(`${json}: trained for node features v${manifest.featureVersion} (${manifest.featureDim} dims), this dnnfuse computes v${FEATURE_VERSION} (${FEATURE_DIM}); retrain with 'dnnfuse get train'`);
  }
  const bin = readFileSync(binPath);
  const q = new Int8Array(bin.buffer, bin.byteOffset, bin.length);
  const tensors = new Map<string, Float32Array>();
  for (const e of manifest.tensors) {
    const size = e.shape.reduce((a, b) => a * b, 1);
    if (e.dtype === 'int8') {
      const cols = e.shape[e.shape.length - 1];
      if (e.offset === undefined || !e.scale || e.offset + size > q.length) throw badInput(`${json}: tensor '${e.name}' lies outside ${binPath}`);
      const v = new Float32Array(size);
      for (let i = 0; i < size; i++) v[i] = q[e.offset + i] * e.scale[i % cols];
      tensors.set(e.name, v);
    } else {
      if (!e.values || e.values.length !== size) throw badInput(`${json}: tensor '${e.name}' has ${e.values?.length ?? 0} values, shape needs ${size}`);
      tensors.set(e.name, Float32Array.from(e.values));
    }
  }
  return { manifest, tensors };
}

/** Tensors of one namespace ('kgnn', 'pg', 'rg') with the prefix stripped. */
export function namespace(w: LoadedWeights, ns: string): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [k, v] of w.tensors) if (k.startsWith(ns + '/')) out.set(k.slice(ns.length + 1), v);
  return out;
}
