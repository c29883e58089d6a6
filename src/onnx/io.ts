/**
 * Public ONNX I/O: bytes/files <-> IR.
 *
 * - decodeModel / loadModel: initializer raw_data stays a view into the loaded buffer (no
 *   copy); external data stays a (path, offset, length) pointer read by slice on demand;
 *   everything the IR does not model is carried for a lossless write-back. The model is
 *   validated (validate.ts) and, when loaded from a file, every external data file is checked.
 * - encodeModel / saveModel: lossless for unchanged objects (a model loaded and saved without
 *   changes gives the same bytes as written by protobuf C++/protobufjs); large tensors are
 *   written as views, never copied before the final write. saveModel writes atomically,
 *   refuses to overwrite its inputs, keeps external data external, and can move large
 *   initializers to a side file (`externalDataThreshold`), which it does on its own when the
 *   inline data would exceed protobuf's 2 GiB message limit.
 */
import { closeSync, ftruncateSync, fstatSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync, mkdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Model } from '../ir/graph.ts';
import type { Tensor } from '../ir/tensor.ts';
import { DnnfuseError, badInput, isDnnfuseError, unsupported } from '../errors.ts';
import { msgOf } from './carry.ts';
import type { Msg } from './schema.ts';
import { assertNotInput, writeFileAtomic } from '../util/fs.ts';
import { modelFromMsg, parseModelProto } from './decode.ts';
import { encodeModelChunks, inlineBytes, type EncodeContext, type ExternalSink } from './encode.ts';
import { validateModel } from './validate.ts';

export { validateModel };

export interface DecodeOptions {
  /** Folder external data locations are relative to (default: the current directory). */
  baseDir?: string;
  /** Run validateModel (default true). */
  validate?: boolean;
}

/** Decodes ONNX ModelProto bytes into the IR. Throws a one-line bad-input DnnfuseError on
 * anything that is not a well-formed model. Tensors keep views into `bytes`: do not reuse
 * the buffer while the model lives. */
export function decodeModel(bytes: Uint8Array, opts: DecodeOptions = {}): Model {
  const msg = parseModelProto(bytes);
  const baseDir = resolve(opts.baseDir ?? process.cwd());
  const model = modelFromMsg(msg, { baseDir });
  model.baseDir = opts.baseDir !== undefined ? baseDir : undefined;
  if (opts.validate !== false) validateModel(model);
  if (opts.baseDir !== undefined) checkExternalData(model);
  return model;
}

/** Reads and decodes a .onnx file; external data resolves relative to the file's folder. */
export function loadModel(path: string): Model {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ERR_FS_FILE_TOO_LARGE' || code === 'ERR_STRING_TOO_LONG') throw badInput(`${path} is over 2 GiB, more than one protobuf message can hold: store the weights as external data`);
    throw badInput(code === 'ENOENT' ? `model file not found: ${path}` : code === 'EISDIR' ? `${path} is a folder, not a model file` : `cannot read ${path}: ${code ?? String(e)}`);
  }
  try {
    return decodeModel(bytes, { baseDir: dirname(resolve(path)) });
  } catch (e) {
    if (isDnnfuseError(e) && !e.message.includes(path)) {
      throw new DnnfuseError(e.kind, `${path}: ${e.message}`, { cause: e });
    }
    throw e;
  }
}

/** Every tensor of the model (initializers and node attribute tensors). */
function* tensorsOf(model: Model): Generator<Tensor> {
  for (const g of [model.graph, ...[...model.graph.subgraphsDeep()].map((s) => s.graph)]) {
    yield* g.initializers.values();
    for (const n of g.nodes) {
      for (const a of n.attributes) {
        if (a.type === 'tensor') yield a.value;
        else if (a.type === 'tensors') yield* a.value;
      }
    }
  }
}

/** Names of external-data tensors the IR keeps opaque (in opaque attributes, model-local
 * functions, training info or sparse initializers): their locations cannot be rewritten. */
function opaqueExternalTensors(model: Model): string[] {
  const found: string[] = [];
  const walk = (x: unknown, depth: number): void => {
    if (!x || typeof x !== 'object' || x instanceof Uint8Array || depth > 200) return;
    if (Array.isArray(x)) {
      for (const y of x) walk(y, depth + 1);
      return;
    }
    const m = x as Msg;
    if (m.data_location === 1 && Array.isArray(m.external_data)) found.push(String(m.name ?? ''));
    for (const k of Object.keys(m)) walk(m[k], depth + 1);
  };
  for (const g of [model.graph, ...[...model.graph.subgraphsDeep()].map((s) => s.graph)]) {
    for (const n of g.nodes) for (const a of n.attributes) if (a.type === 'opaque') walk(a.value, 0);
    walk(msgOf(g.carry)?.sparse_initializer, 0);
  }
  walk(model.functions, 0);
  const mm = msgOf(model.carry);
  if (mm) walk(mm.training_info, 0);
  return found;
}

/** Fails clearly, naming tensor and path, when an external data file is missing or short. */
export function checkExternalData(model: Model): void {
  const sizes = new Map<string, number>();
  for (const t of tensorsOf(model)) {
    const s = t.source;
    if (s.kind !== 'external') continue;
    let size = sizes.get(s.path);
    if (size === undefined) {
      try {
        const st = statSync(s.path);
        if (!st.isFile()) throw new Error('not a file');
        size = st.size;
      } catch {
        throw badInput(`tensor '${t.name}': external data file not found: ${s.path}`);
      }
      sizes.set(s.path, size);
    }
    const need = s.offset + (s.length ?? t.byteLength);
    if (need > size) throw badInput(`tensor '${t.name}': external data ${s.path} has ${size} bytes, the tensor needs bytes ${s.offset}..${need}`);
  }
}

/** Encodes the model (external data stays external, relative to model.baseDir). */
export function encodeModel(model: Model): Uint8Array {
  const parts = encodeModelChunks(model, { baseDir: model.baseDir ?? process.cwd() });
  return concat(parts);
}

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Protobuf caps a message at 2 GiB; keep a margin for the graph structure. */
const INLINE_LIMIT = 2 ** 31 - 2 ** 26;
/** Threshold used when the data must go external because of the 2 GiB limit. */
const AUTO_THRESHOLD = 1024;

export interface SaveOptions {
  /** Input files that must not be overwritten (the CLI passes its inputs). */
  inputs?: string[];
  /** Initializers of at least this many bytes are written to an external data file. */
  externalDataThreshold?: number;
  /** External data file name, relative to the model's folder (default `<model file>.data`). */
  externalDataLocation?: string;
}

/**
 * Writes the model to `path` atomically (temporary file + rename). External tensors whose
 * file is reachable from the output folder stay as they are; those that are not (saving to
 * another folder) and, with `externalDataThreshold`, every initializer at least that large go
 * to the side file. Refuses to overwrite an input or an external data file the model reads.
 */
export function saveModel(model: Model, path: string, opts: SaveOptions = {}): void {
  const out = resolve(path);
  const outDir = dirname(out);
  assertNotInput(out, opts.inputs ?? []);
  const location = opts.externalDataLocation ?? `${basename(out)}.data`;
  const sidePath = resolve(outDir, location);
  const readFrom = new Set<string>();
  for (const t of tensorsOf(model)) if (t.source.kind === 'external') readFrom.add(resolve(t.source.path));
  if (model.baseDir !== undefined && resolve(model.baseDir) !== outDir) {
    const stuck = opaqueExternalTensors(model);
    if (stuck.length) throw unsupported(`tensor '${stuck[0]}' inside a subgraph, function or sparse initializer uses external data relative to ${model.baseDir}; save the model into that folder`);
  }
  let threshold = opts.externalDataThreshold;
  if (threshold === undefined && inlineBytes(model) > INLINE_LIMIT) threshold = AUTO_THRESHOLD;

  let sink: SideFile | undefined;
  const ctx: EncodeContext = {
    baseDir: outDir,
    threshold,
    sink: () => {
      if (!sink) {
        assertNotInput(sidePath, opts.inputs ?? []);
        if (readFrom.has(sidePath) || sidePath === out) throw badInput(`refusing to write external data to ${sidePath}: the model still reads its data from that file; choose another output name`);
        try {
          sink = new SideFile(sidePath, location);
        } catch (e) {
          throw fsError(e, sidePath);
        }
      }
      return sink;
    },
  };
  let parts: Uint8Array[];
  try {
    parts = encodeModelChunks(model, ctx);
    const total = parts.reduce((a, p) => a + p.length, 0);
    if (total >= 2 ** 31) throw badInput(`the model would be ${total} bytes, over protobuf's 2 GiB limit; save with externalDataThreshold`);
    sink?.commit();
  } catch (e) {
    sink?.abort();
    throw fsError(e, sink?.path ?? out);
  }
  try {
    writeFileAtomic(out, parts);
  } catch (e) {
    throw fsError(e, out);
  }
}

/** A file-system failure while writing, as a one-line bad-input error naming the path. */
function fsError(e: unknown, path: string): unknown {
  if (isDnnfuseError(e)) return e;
  const code = (e as NodeJS.ErrnoException).code;
  if (!code) return e;
  const why = code === 'EISDIR' ? 'it is a folder' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'ENOSPC' ? 'no space left on the device' : code;
  return badInput(`cannot write ${path}: ${why}`, e);
}

/**
 * An external data file written atomically: bytes go to a temporary file in the same folder
 * (streamed, so data larger than memory is fine), renamed into place on commit. Hand-written
 * rather than util/fs.ts writeFileAtomic because that one needs every chunk in memory at once.
 * Tensors of at least 1 MiB start at a 4096-byte boundary (page-aligned for mmap readers,
 * as onnx's own external-data writer does).
 */
class SideFile implements ExternalSink {
  private fd: number;
  private tmp: string;
  private pos = 0;
  constructor(readonly path: string, readonly location: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
    this.fd = openSync(this.tmp, 'w');
  }
  append(bytes: Uint8Array): number {
    if (bytes.length >= 1 << 20 && this.pos % 4096) this.pos += 4096 - (this.pos % 4096);
    const offset = this.pos;
    let done = 0;
    while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done, offset + done);
    this.pos += bytes.length;
    return offset;
  }
  commit(): void {
    if (fstatSync(this.fd).size < this.pos) ftruncateSync(this.fd, this.pos);
    closeSync(this.fd);
    renameSync(this.tmp, this.path);
  }
  abort(): void {
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
    rmSync(this.tmp, { force: true });
  }
}
