/**
 * The sweep's design space: models (files, folders, globs) x buffer sizes (a log grid
 * `64KiB..8MiB` or a list) x schemes x dtypes x bandwidths, on a base accelerator. A *series* is
 * one model x scheme x dtype x bandwidth over every buffer size, ascending: its points run in that
 * order so that each point is seeded by the plan of the one before (the optimum at a larger
 * buffer is then never worse, see planner.ts).
 */
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { globSync, isDynamicPattern } from 'tinyglobby';
import { badInput } from '../errors.ts';
import { parseSize, formatSize } from '../hardware/load.ts';
import type { Accelerator, ElementType } from '../hardware/accelerator.ts';
import type { FusionScheme } from '../fusion/types.ts';

export type SweepSearch = 'lbl' | 'greedy' | 'local';
export const SWEEP_SEARCHES: SweepSearch[] = ['greedy', 'lbl', 'local'];

/** Everything a point's result depends on besides the model and the hardware. */
export interface SweepOptions {
  search: SweepSearch;
  optimum: boolean;
  seed: number;
  budget: number;
  /** Exact solver safety-net time limit, seconds (the solver stops on deterministic work limits first). */
  timeLimit: number;
}

export interface SweepModel {
  name: string;
  path: string;
  /** What identifies the model in point keys and rows (`model_hash`): sha256 of the file's bytes
   * (hex), or, with `shapes`, sha256 over that and the shapes (a model planned at other input
   * dims is another model). */
  hash: string;
  /** With `shapes`: sha256 of the file's bytes, which a worker checks before planning. */
  fileHash?: string;
  /** `--shape name=dims` specs fixing dynamic graph inputs, sorted; each applies to the models
   * that have a graph input of that name. */
  shapes?: string[];
  /** `--dim name=N` specs fixing named input dims, sorted; each applies to the models whose
   * inputs have a dim of that name (applied before `shapes`). */
  dims?: string[];
}

export interface PointSpec {
  model: SweepModel;
  hardware: Accelerator;
  /** Name of the base accelerator (preset or file) the axes override. */
  base: string;
  scheme: FusionScheme;
  options: SweepOptions;
}

export interface Series {
  id: string;
  points: PointSpec[];
}

export interface SweepGrid {
  models: SweepModel[];
  buffers: number[];
  schemes: FusionScheme[];
  dtypes: ElementType[];
  bandwidths: number[];
  base: Accelerator;
  options: SweepOptions;
}

/** `64KiB..8MiB` (a log grid: powers of two, or `steps` log-spaced sizes rounded to whole KiB)
 * or a comma list `64KiB,256KiB,1MiB`. Sorted ascending, duplicates dropped. */
export function parseBufferAxis(spec: string, steps?: number): number[] {
  const bad = (why: string) => badInput(`--buffer ${spec}: ${why}`);
  const size = (s: string) => {
    const x = parseSize(s.trim());
    if (!Number.isInteger(x) || x < 1) throw bad(`'${s}' is not a size such as 256KiB or 1MiB`);
    return x;
  };
  let out: number[];
  const range = /^(.+?)\.\.(.+)$/.exec(spec);
  if (range) {
    const lo = size(range[1]);
    const hi = size(range[2]);
    if (hi < lo) throw bad('the upper end is below the lower end');
    if (steps !== undefined) {
      if (!Number.isInteger(steps) || steps < 1) throw badInput(`--steps ${steps}: expected a positive integer`);
      out = Array.from({ length: steps }, (_, i) => {
        if (steps === 1) return lo;
        const x = lo * (hi / lo) ** (i / (steps - 1));
        return i === 0 ? lo : i === steps - 1 ? hi : lo >= 1024 ? Math.round(x / 1024) * 1024 : Math.round(x);
      });
    } else {
      out = [];
      for (let x = lo; x <= hi; x *= 2) out.push(x);
      if (out[out.length - 1] !== hi) out.push(hi);
    }
  } else out = spec.split(',').filter((s) => s.trim()).map(size);
  if (!out.length) throw bad('no buffer size');
  return [...new Set(out)].sort((a, b) => a - b);
}

/** A comma list whose items must come from `allowed`. */
export function parseChoiceList<T extends string>(flag: string, spec: string, allowed: readonly T[]): T[] {
  const items = spec.split(',').map((s) => s.trim()).filter(Boolean);
  if (!items.length) throw badInput(`--${flag} ${spec}: empty list`);
  for (const s of items) if (!allowed.includes(s as T)) throw badInput(`--${flag} ${s}: expected one of ${allowed.join(', ')}`);
  return [...new Set(items)] as T[];
}

/** Bandwidths, bytes/s: `12.8GB,25.6GB` or plain numbers. */
export function parseBandwidths(spec: string): number[] {
  const out = spec.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
    const x = parseSize(s);
    if (!(x > 0)) throw badInput(`--bandwidth ${s}: expected bytes per second such as 12.8GB`);
    return x;
  });
  return [...new Set(out)].sort((a, b) => a - b);
}

const MODEL_RE = /\.onnx(\.gz)?$/;

/** Model arguments -> model files: a file, a folder (its .onnx / .onnx.gz files, not its
 * subfolders'), or a glob (`models/*.onnx`, `zoo/**\/*.onnx.gz`, `{a,b}/*.onnx`: tinyglobby, the
 * shell's syntax, for shells that do not expand `**` or when the pattern is quoted). A path that
 * exists is taken as it is, even with glob characters in its name. Sorted by path, duplicates
 * dropped. */
export function expandModelArgs(args: string[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    if (existsSync(a)) {
      if (!statSync(a).isDirectory()) {
        out.push(a);
        continue;
      }
      const hits = readdirSync(a).filter((f) => MODEL_RE.test(f)).map((f) => join(a, f));
      if (!hits.length) throw badInput(`model folder ${a}: no .onnx or .onnx.gz file in it (subfolders are not searched: give '${join(a, '**', '*.onnx*')}')`);
      out.push(...hits);
    } else if (isDynamicPattern(a)) {
      const hits = globSync(a, { absolute: true, onlyFiles: true, expandDirectories: false }).filter((f) => MODEL_RE.test(f));
      if (!hits.length) throw badInput(`model glob ${a}: no .onnx or .onnx.gz file matches`);
      out.push(...hits);
    } else throw badInput(`model file not found: ${a}`);
  }
  return [...new Set(out.map((p) => resolve(p)))].sort();
}

/** sha256 of a file's bytes (hex), read in 1 MiB chunks into one buffer: reading a whole model
 * at once allocates its size and then costs as much in garbage collection as the hash itself. */
export function hashFile(path: string): string {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 20);
  const fd = openSync(path, 'r');
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/** What identifies a file's content without reading it, as git's index does: device, inode, size,
 * and the modification and status-change times in nanoseconds (any write changes the ctime, which
 * no tool can set back). */
export function fileStamp(path: string): string {
  const st = statSync(path, { bigint: true });
  return [st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs].join(':');
}

/** Hashes already computed, by path and file stamp (the sweep store keeps them: re-running a
 * sweep does not read its models again). */
export interface HashCache {
  get(path: string, stamp: string): string | undefined;
  set(path: string, stamp: string, hash: string): void;
}

/** The model files of the arguments (expandModelArgs), named by file name (`name~2` for a second
 * file of the same name), with their hashes: from `cache` when a file's stamp is unchanged.
 * `shapes` (`--shape name=dims`) and `dims` (`--dim name=N`), checked by the caller, go with
 * every model and are part of its identity. */
export function sweepModels(args: string[], cache?: HashCache, shapes: readonly string[] = [], dims: readonly string[] = []): SweepModel[] {
  const paths = expandModelArgs(args);
  const names = new Map<string, number>();
  const specs = [...new Set(shapes)].sort();
  const dimSpecs = [...new Set(dims)].sort();
  // Without --dim, the identity text is what it was before --dim existed (databases stay valid).
  const identity = specs.join('\n') + (dimSpecs.length ? `\n--dim\n${dimSpecs.join('\n')}` : '');
  return paths.map((path) => {
    let name = basename(path).replace(MODEL_RE, '');
    const seen = names.get(name) ?? 0;
    names.set(name, seen + 1);
    if (seen) name = `${name}~${seen + 1}`;
    let hash: string | undefined;
    if (!cache) hash = hashFile(path);
    else {
      const stamp = fileStamp(path);
      hash = cache.get(path, stamp);
      if (!hash) cache.set(path, stamp, (hash = hashFile(path)));
    }
    if (!specs.length && !dimSpecs.length) return { name, path, hash };
    return {
      name, path, hash: createHash('sha256').update(`${hash}\n${identity}`).digest('hex'), fileHash: hash,
      ...(specs.length ? { shapes: specs } : {}), ...(dimSpecs.length ? { dims: dimSpecs } : {}),
    };
  });
}

/** The series of a grid, in a stable order (model, scheme, dtype, bandwidth); each series'
 * points ascend in buffer size. */
export function gridSeries(g: SweepGrid): Series[] {
  const out: Series[] = [];
  for (const model of g.models)
    for (const scheme of g.schemes)
      for (const dtype of g.dtypes)
        for (const bw of g.bandwidths) {
          const points = g.buffers.map((b) => ({
            model,
            scheme,
            base: g.base.name,
            options: g.options,
            hardware: { ...g.base, name: `${g.base.name}[${formatSize(b)},${dtype}]`, bufferBytes: b, elementType: dtype, dramBytesPerSecond: bw },
          }));
          out.push({ id: `${model.name}/${scheme}/${dtype}/${bw}`, points });
        }
  return out;
}
