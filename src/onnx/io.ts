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
import { closeSync, createReadStream, ftruncateSync, fstatSync, openSync, readSync, statSync, writeSync, type Stats } from 'node:fs';
import { createGunzip, gunzipSync } from 'node:zlib';
import { basename, dirname, resolve } from 'node:path';
import type { Model } from '../ir/graph.ts';
import type { Tensor } from '../ir/tensor.ts';
import { DnnfuseError, badInput, isDnnfuseError, unsupported } from '../errors.ts';
import { msgOf } from './carry.ts';
import type { Msg } from './schema.ts';
import { OutputBatch, RunInputs, writeError } from '../util/output.ts';
import { readInputFile } from '../util/input.ts';
import { modelFromMsg, parseModelProto } from './decode.ts';
import { encodeModelBytes, encodeModelChunks, inlineBytes, type EncodeContext, type ExternalSink } from './encode.ts';
import { validateModel } from './validate.ts';
import { InflatedRange, LazyFile, LazyRawSource, POOL_STRUCTURE_OFFSET, holdPool, releasePool, scanModelFile, writeParts } from './lazy.ts';
import { scanModelStream } from './lazy-gz.ts';

export { validateModel };

/** Options of decoding ONNX bytes: where external data files are resolved, whether to validate. */
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
  return modelOf(parseModelProto(bytes), opts);
}

function modelOf(msg: Msg, opts: DecodeOptions): Model {
  const baseDir = resolve(opts.baseDir ?? process.cwd());
  const model = modelFromMsg(msg, { baseDir });
  model.baseDir = opts.baseDir !== undefined ? baseDir : undefined;
  if (opts.validate !== false) validateModel(model);
  if (opts.baseDir !== undefined) checkExternalData(model);
  return model;
}

/** Reads and decodes a .onnx file; external data resolves relative to the file's folder. A
 * gzip-compressed file (`.onnx.gz`, told by its magic bytes, not its name) is inflated whole
 * first: the IR's tensors are then views into the inflated bytes. */
export function loadModel(path: string): Model {
  // Only a regular file is scanned lazily; anything else goes to the bounded reader's errors.
  let regular = false;
  try {
    regular = statSync(path).isFile();
  } catch {
    /* the reader names the error */
  }
  if (regular && isGzipFile(path)) return decodeGz(path);
  const lazy = regular ? loadLazily(path) : undefined;
  if (lazy) return lazy;
  const bytes = readInputFile(path, 'model file');
  try {
    return decodeModel(bytes, { baseDir: dirname(resolve(path)) });
  } catch (e) {
    throw namingFile(e, path);
  }
}

/** Whether the file starts with gzip's magic bytes (1f 8b). */
export function isGzipFile(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const head = Buffer.alloc(2);
    return readSync(fd, head, 0, 2, 0) === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } catch {
    return false; // the reader names the error
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** A gzip file's inflated bytes, or a one-line error naming the file. */
export function inflateModelFile(path: string): Uint8Array {
  const bytes = readInputFile(path, 'model file');
  try {
    return gunzipSync(bytes);
  } catch (e) {
    throw badInput(`model file ${path}: cannot inflate it (${(e as Error).message})`);
  }
}

/** A gzip-compressed model file read and inflated whole. */
function decodeGz(path: string): Model {
  const raw = inflateModelFile(path);
  try {
    return decodeModel(raw, { baseDir: dirname(resolve(path)) });
  } catch (e) {
    throw namingFile(e, path);
  }
}

/** A bad-input error of a model's content, its message prefixed with the file's path. */
function namingFile(e: unknown, path: string): unknown {
  return isDnnfuseError(e) && !e.message.includes(path) ? new DnnfuseError(e.kind, `${path}: ${e.message}`, { cause: e }) : e;
}

/**
 * Reads a gzip-compressed .onnx file (`.onnx.gz`) for its structure: the file is inflated as a
 * stream and the raw_data of large initializers is not kept (lazy-gz.ts); those tensors read
 * their bytes, if a pass asks, by inflating the file again (InflatedRange). For what needs the
 * graph and not the weights (`dnnfuse sweep` builds op graphs): memory stays at the structure's
 * size. A file the stream walk cannot follow is read and inflated whole (same errors as
 * loadModel, the file named).
 */
export async function loadModelGz(path: string): Promise<Model> {
  // As loadModel: only a regular file is read as a stream; anything else, and any failure on
  // that path, goes to the whole-file read, which names the error.
  let st: Stats | undefined;
  try {
    st = statSync(path);
  } catch {
    /* the reader names the error */
  }
  const lazy = st?.isFile() ? await loadGzLazily(path, st) : undefined;
  if (lazy) return lazy;
  return decodeGz(path);
}

/** The stream path of loadModelGz (lazy-gz.ts); undefined when the walk gives up, the stream
 * fails, the file changed meanwhile, or the model is invalid (the whole-file read then gives
 * the error), as loadLazily. */
async function loadGzLazily(path: string, st: Stats): Promise<Model | undefined> {
  const source = createReadStream(path, { highWaterMark: 1 << 16 });
  const inflated = source.pipe(createGunzip({ chunkSize: 1 << 16 }));
  source.on('error', (e) => inflated.destroy(e));
  try {
    const sk = await scanModelStream(inflated);
    if (LazyFile.stampOf(statSync(path)) !== LazyFile.stampOf(st)) return undefined;
    const file = new LazyFile(resolve(path), st);
    const msg = parseModelProto(sk.bytes);
    const inits = (msg.graph?.initializer ?? []) as Msg[];
    for (const [i, h] of sk.holes) inits[i].raw_data = new InflatedRange(file, h.offset, h.length);
    return modelOf(msg, { baseDir: dirname(resolve(path)) });
  } catch {
    return undefined;
  } finally {
    source.destroy();
    inflated.destroy();
  }
}

/** Large initializers left on disk and read on first use (lazy.ts); undefined when the file is
 * small, unusual, or fails anywhere on this path (the whole-file read then gives the error). */
function loadLazily(path: string): Model | undefined {
  try {
    const sk = scanModelFile(path);
    if (!sk) return undefined;
    const msg = parseModelProto(sk.bytes);
    const inits = (msg.graph?.initializer ?? []) as Msg[];
    for (const [i, range] of sk.holes) inits[i].raw_data = range;
    return modelOf(msg, { baseDir: dirname(resolve(path)) });
  } catch {
    return undefined;
  }
}

/** Every tensor of the model (initializers and node attribute tensors), in the order: main
 * graph, then each subgraph (subgraphsDeep order); per graph, initializers then attribute
 * tensors in node order. A plain array rather than a generator: it runs on every load
 * (checkExternalData) and save, and a generator allocates an iterator result per tensor until
 * it is optimized (MobileNetV2: ~6% of a load's allocations). */
function tensorsOf(model: Model): Tensor[] {
  const out: Tensor[] = [];
  const visit = (g: Model['graph']) => {
    for (const t of g.initializers.values()) out.push(t);
    for (const n of g.nodes) {
      for (const a of n.attributes) {
        if (a.type === 'tensor') out.push(a.value);
        else if (a.type === 'tensors') for (const t of a.value) out.push(t);
      }
    }
  };
  visit(model.graph);
  if (model.graph.nodes.some((n) => n.attributes.some((a) => a.type === 'graph' || a.type === 'graphs'))) {
    for (const s of model.graph.subgraphsDeep()) visit(s.graph);
  }
  return out;
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
  return encodeModelBytes(model, { baseDir: model.baseDir ?? process.cwd() });
}

/** Writes the model to a new file at `path` (created exclusively, mode 0600), for a reader that
 * wants a file rather than bytes (compile's onnxruntime check): views and lazily loaded tensors
 * are copied through one 1 MiB buffer, never assembled into one array as encodeModel does.
 * Returns false, writing nothing, when the model reads external data (its locations are relative
 * to the model's folder, not to `path`'s). Not atomic: for temporary files; use saveModel for
 * outputs. */
export function writeModelFile(model: Model, path: string): boolean {
  for (const t of tensorsOf(model)) if (t.source.kind === 'external') return false;
  if (opaqueExternalTensors(model).length) return false;
  const parts = encodeModelChunks(model, { baseDir: dirname(resolve(path)) });
  const fd = openSync(path, 'wx', 0o600);
  try {
    writeParts(fd, parts);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** Protobuf caps a message at 2 GiB; keep a margin for the graph structure. */
const INLINE_LIMIT = 2 ** 31 - 2 ** 26;
/** Threshold used when the data must go external because of the 2 GiB limit. */
const AUTO_THRESHOLD = 1024;

/** Options of saving a model: input values to keep, external data threshold and location. */
export interface SaveOptions {
  /** Input files that must not be overwritten (the CLI passes its inputs); the model's own
   * external data files are always added. */
  inputs?: string[] | RunInputs;
  /** Initializers of at least this many bytes are written to an external data file. */
  externalDataThreshold?: number;
  /** External data file name, relative to the model's folder (default `<model file>.data`). */
  externalDataLocation?: string;
  /** Stage the files in this batch instead of committing them (the caller commits the batch with
   * its other outputs: compile's model + schedule are renamed into place together). */
  batch?: OutputBatch;
}

/**
 * Writes the model to `path` atomically (temporary file + rename; with its external data file,
 * as one batch: both or neither). External tensors whose file is reachable from the output
 * folder stay as they are; those that are not (saving to another folder) and, with
 * `externalDataThreshold`, every initializer at least that large go to the side file. Refuses to
 * overwrite an input, an external data file the model reads, a folder, link, FIFO or device.
 */
export function saveModel(model: Model, path: string, opts: SaveOptions = {}): void {
  const out = resolve(path);
  const outDir = dirname(out);
  const inputs = new RunInputs();
  if (opts.inputs instanceof RunInputs) inputs.items.push(...opts.inputs.items);
  else for (const i of opts.inputs ?? []) inputs.add(i, 'file');
  const readFrom = new Set<string>();
  for (const t of tensorsOf(model)) {
    if (t.source.kind !== 'external') continue;
    const p = resolve(t.source.path);
    if (!readFrom.has(p)) (readFrom.add(p), inputs.add(p, 'external data file'));
  }
  // Saving over the file lazily loaded tensors still read from: read them first.
  for (const t of tensorsOf(model)) if (t.source instanceof LazyRawSource && !t.source.isRead && t.source.range.file.path === out) void t.source.bytes;
  const own = !opts.batch;
  const batch = opts.batch ?? new OutputBatch(inputs);
  try {
    saveInto(model, out, outDir, opts, inputs, readFrom, batch);
    if (own) batch.commit();
  } catch (e) {
    batch.abort();
    throw e;
  }
}

function saveInto(model: Model, out: string, outDir: string, opts: SaveOptions, inputs: RunInputs, readFrom: Set<string>, batch: OutputBatch): void {
  const location = opts.externalDataLocation ?? `${basename(out)}.data`;
  const sidePath = resolve(outDir, location);
  if (model.baseDir !== undefined && resolve(model.baseDir) !== outDir) {
    const stuck = opaqueExternalTensors(model);
    if (stuck.length) throw unsupported(`tensor '${stuck[0]}' inside a subgraph, function or sparse initializer uses external data relative to ${model.baseDir}; save the model into that folder`);
  }
  // The target is checked (inputs, non-regular files) before anything is encoded.
  const modelTmp = batch.stage(out, '-o');
  let threshold = opts.externalDataThreshold;
  if (threshold === undefined && inlineBytes(model) > INLINE_LIMIT) threshold = AUTO_THRESHOLD;

  let sink: SideFile | undefined;
  const ctx: EncodeContext = {
    baseDir: outDir,
    threshold,
    sink: () => {
      if (!sink) {
        if (readFrom.has(sidePath) || sidePath === out) throw badInput(`refusing to write external data to ${sidePath}: the model still reads its data from that file; choose another output name`);
        const tmp = batch.stage(sidePath, 'external data file');
        try {
          sink = new SideFile(tmp, location);
        } catch (e) {
          throw fsError(e, sidePath);
        }
      }
      return sink;
    },
  };
  // The structure is encoded into the window pool past the arena when it fits (scratch: the
  // parts are written out below, before the pool is released), else into a new array.
  const held = holdPool();
  try {
    saveParts(model, ctx, out, modelTmp, sidePath, () => sink, held);
  } finally {
    releasePool(held);
  }
}

function saveParts(model: Model, ctx: EncodeContext, out: string, modelTmp: string, sidePath: string, sinkOf: () => SideFile | undefined, held: Uint8Array | undefined): void {
  const alloc = held && ((n: number) => (n <= held.length - POOL_STRUCTURE_OFFSET ? held.subarray(POOL_STRUCTURE_OFFSET, POOL_STRUCTURE_OFFSET + n) : undefined));
  let parts: ReturnType<typeof encodeModelChunks>;
  try {
    parts = encodeModelChunks(model, ctx, alloc);
    const total = parts.reduce((a, p) => a + p.length, 0);
    if (total >= 2 ** 31) throw badInput(`the model would be ${total} bytes, over protobuf's 2 GiB limit; save with externalDataThreshold`);
    sinkOf()?.close();
  } catch (e) {
    sinkOf()?.close();
    throw fsError(e, sinkOf() ? sidePath : out);
  }
  try {
    const fd = openSync(modelTmp, 'wx', 0o644);
    try {
      writeParts(fd, parts, held);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw fsError(e, out);
  }
}

/** A file-system failure while writing, as a one-line bad-input error naming the path. */
function fsError(e: unknown, path: string): unknown {
  return writeError(e, path);
}

/**
 * An external data file, streamed into the temporary file its batch staged (so data larger than
 * memory is fine); the batch renames it into place with the model. Hand-written rather than an
 * OutputBatch.write because that needs every chunk in memory at once.
 * Tensors of at least 1 MiB start at a 4096-byte boundary (page-aligned for mmap readers,
 * as onnx's own external-data writer does).
 */
class SideFile implements ExternalSink {
  private fd: number | undefined;
  private pos = 0;
  constructor(readonly tmp: string, readonly location: string) {
    this.fd = openSync(tmp, 'wx', 0o644);
  }
  append(bytes: Uint8Array): number {
    if (bytes.length >= 1 << 20 && this.pos % 4096) this.pos += 4096 - (this.pos % 4096);
    const offset = this.pos;
    let done = 0;
    while (done < bytes.length) done += writeSync(this.fd!, bytes, done, bytes.length - done, offset + done);
    this.pos += bytes.length;
    return offset;
  }
  close(): void {
    if (this.fd === undefined) return;
    try {
      if (fstatSync(this.fd).size < this.pos) ftruncateSync(this.fd, this.pos);
    } finally {
      closeSync(this.fd);
      this.fd = undefined;
    }
  }
}
