/**
 * Lazy loading of a model file's large initializers: `loadModel` reads the file's structure
 * (nodes, value_info, small tensors) and leaves the raw_data of every large initializer on
 * disk, as a (file, offset, length) range read by `pread` when a pass first asks for the bytes
 * (then kept), or copied straight from the file into the output by encode/save.
 *
 * Why: reading a whole model file into one buffer maps fresh pages for every load (V8 backing
 * stores over ~32 MB are always a new mmap), and on VMs where a first-touch page fault is
 * expensive that dominated load, encode and save when a compiler loads many models in one
 * process (bench:io setting 2). Structure-only reads touch a few hundred KB; tensor bytes are
 * read per tensor (allocations under 32 MB, which glibc recycles) or never.
 *
 * Hand-written rather than protobufjs: protobufjs decodes from one contiguous buffer, so it
 * cannot skip fields on disk. The scanner here only walks three levels (ModelProto -> graph
 * (7) -> initializer (5) -> raw_data (9)), re-emitting every other field's bytes unchanged
 * into a "skeleton" message (lengths recomputed) that protobufjs then decodes as usual; the
 * skipped raw_data fields come back as FileRange values. Anything unusual (a repeated graph
 * field, groups, a malformed varint, a length past the end of the file) makes the scanner
 * give up, and loadModel reads the file whole as before (same errors for corrupt files).
 *
 * Safety: a range records the file's device, inode, size and mtime at load; a read checks
 * them and fails with a one-line error if the file was replaced or modified since. saveModel
 * over the file a model still reads from materializes those tensors first.
 */
import { closeSync, constants, fstatSync, openSync, readSync, writeSync, writevSync, type Stats } from 'node:fs';
import { resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { badInput, isDnnfuseError } from '../errors.ts';

/** A model file as it was when loaded (identity checked before every read). */
export class LazyFile {
  readonly path: string;
  private readonly stamp: string;
  constructor(path: string, st: Stats) {
    this.path = path;
    this.stamp = LazyFile.stampOf(st);
  }
  static stampOf(st: Stats): string {
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
  }
  /** Opens the file, checking it is the one loaded. */
  open(what: string): number {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      throw badInput(`${what}: the model file ${this.path} it was loaded from is gone`);
    }
    if (LazyFile.stampOf(fstatSync(fd)) !== this.stamp) {
      closeSync(fd);
      throw badInput(`${what}: the model file ${this.path} changed on disk since it was loaded; load it again`);
    }
    return fd;
  }
}

/** Bytes of a tensor not read yet: where they are and how to read them. */
export interface RawRange {
  readonly file: LazyFile;
  readonly length: number;
  /** Reads the bytes into `into` (length bytes), or a new array. */
  read(what: string, into?: Uint8Array): Uint8Array;
}

/** Bytes of a model file not read yet (a TensorProto's raw_data). */
export class FileRange implements RawRange {
  constructor(readonly file: LazyFile, readonly offset: number, readonly length: number) {}

  /** Reads the range into `into` (length bytes), or a new array. */
  read(what: string, into?: Uint8Array): Uint8Array {
    const out = into ?? newBytes(this.length);
    const fd = this.file.open(what);
    try {
      readFully(fd, out, this.offset, what, this.file.path);
    } finally {
      closeSync(fd);
    }
    return out;
  }
}

/**
 * Bytes of a tensor inside a gzip-compressed model file (loadModelGz, lazy-gz.ts): `offset` and
 * `length` are in the inflated stream. A structure-only load (a sweep builds op graphs, which
 * need no weights) reads none; when a pass does ask, the file is inflated again and the range
 * copied out: slow (the whole file per tensor) but correct, and never on the planner's path.
 */
export class InflatedRange implements RawRange {
  constructor(readonly file: LazyFile, readonly offset: number, readonly length: number) {}

  read(what: string, into?: Uint8Array): Uint8Array {
    const fd = this.file.open(what);
    let inflated: Uint8Array;
    try {
      const size = fstatSync(fd).size;
      const raw = newBytes(size);
      readFully(fd, raw, 0, what, this.file.path);
      inflated = gunzipSync(raw);
    } catch (e) {
      if (isDnnfuseError(e)) throw e;
      throw badInput(`${what}: cannot inflate the model file ${this.file.path}: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      closeSync(fd);
    }
    if (this.offset + this.length > inflated.length) throw badInput(`${what}: the model file ${this.file.path} ended early`);
    const out = into ?? newBytes(this.length);
    out.set(inflated.subarray(this.offset, this.offset + this.length));
    return out;
  }
}

/** Reads file ranges during one encode or save, opening (and checking) each model file once
 * rather than once per tensor. */
export class RangeReader {
  private fds = new Map<LazyFile, number>();
  constructor(readonly what: string) {}
  /** Reads `r` into `into` (r.length bytes). */
  read(r: FileRange, into: Uint8Array): void {
    let fd = this.fds.get(r.file);
    if (fd === undefined) {
      fd = r.file.open(this.what);
      this.fds.set(r.file, fd);
    }
    readFully(fd, into, r.offset, this.what, r.file.path);
  }
  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

/** A file range and the offset in an output buffer its bytes go to. */
export interface RangeAt {
  range: FileRange;
  at: number;
}

/**
 * Reads each range into `buf` at its offset, after everything else of `buf` is written. Ranges
 * in output order whose file offsets keep the same distance to their output offsets (the layout
 * of an unchanged lazily loaded model: its initializers' raw_data with the small fields between)
 * are read with one pread over the whole run, and the bytes between them, already written, are
 * put back after it. MobileNetV2: 22 preads per encode become 1, ResNet-50: 52 become 1; on
 * issue 15's VM a syscall costs 15-50 us. Gaps over READ_GAP end a run (bytes read needlessly).
 */
export function readRangesInto(buf: Uint8Array, list: RangeAt[], reader: RangeReader): void {
  let i = 0;
  while (i < list.length) {
    const first = list[i];
    const delta = first.at - first.range.offset;
    let j = i;
    while (j + 1 < list.length) {
      const prev = list[j], next = list[j + 1];
      const gap = next.range.offset - (prev.range.offset + prev.range.length);
      if (next.range.file !== first.range.file || next.at - next.range.offset !== delta || gap < 0 || gap > READ_GAP) break;
      j++;
    }
    const start = first.at, end = list[j].at + list[j].range.length;
    if (j === i) reader.read(first.range, buf.subarray(start, end));
    else {
      // The bytes between the ranges (structure written by the encoder) are kept aside.
      const gaps: Uint8Array[] = [];
      for (let k = i; k < j; k++) gaps.push(buf.slice(list[k].at + list[k].range.length, list[k + 1].at));
      reader.read(new FileRange(first.range.file, first.range.offset, end - start), buf.subarray(start, end));
      for (let k = i; k < j; k++) buf.set(gaps[k - i], list[k].at + list[k].range.length);
    }
    i = j + 1;
  }
}

/** A plain Uint8Array over uninitialized memory (no zero fill: every byte is overwritten). */
function newBytes(n: number): Uint8Array {
  const b = Buffer.allocUnsafeSlow(n);
  return new Uint8Array(b.buffer, b.byteOffset, n);
}

function readFully(fd: number, out: Uint8Array, offset: number, what: string, path: string): void {
  let done = 0;
  while (done < out.length) {
    const n = readSync(fd, out, done, out.length - done, offset + done);
    if (n === 0) throw badInput(`${what}: the model file ${path} ended early`);
    done += n;
  }
}

/** A raw tensor source whose bytes are read from the model file on first use. Satisfies the
 * IR's `{ kind: 'raw'; bytes }` source: passes see ordinary bytes. */
export class LazyRawSource {
  readonly kind = 'raw' as const;
  private data: Uint8Array | undefined;
  constructor(readonly range: RawRange, readonly tensorName: string) {}
  get bytes(): Uint8Array {
    return (this.data ??= this.range.read(`tensor '${this.tensorName}'`));
  }
  /** The file range while the bytes have not been read, else undefined. Only a FileRange is
   * pending: encode and save copy its bytes straight from the file; any other range (an
   * InflatedRange) is read through `bytes` like a loaded tensor. */
  get pending(): FileRange | undefined {
    return this.data || !(this.range instanceof FileRange) ? undefined : this.range;
  }
  /** Whether the bytes were read (and are kept). */
  get isRead(): boolean {
    return this.data !== undefined;
  }
  /** The bytes for one immediate use, without keeping them: the kept bytes once read, else a
   * read of the range into a scratch buffer shared by every source (valid until the next call;
   * tensors over 16 MiB get an array of their own). Conversions (Tensor.toFloat32) and hashes
   * (duplicate initializers) read every weight of a model once: kept, they held a second copy of
   * the weights for the whole run (ResNet-50: 98 MiB from fold-constants on, bench:memory). */
  transientBytes(): Uint8Array {
    if (this.data) return this.data;
    const n = this.range.length;
    if (n > SCRATCH_MAX) return this.range.read(`tensor '${this.tensorName}'`);
    if (scratch.length < n) scratch = newBytes(Math.max(n, Math.min(SCRATCH_MAX, scratch.length * 2)));
    return this.range.read(`tensor '${this.tensorName}'`, scratch.subarray(0, n));
  }
}

const SCRATCH_MAX = 16 << 20;
let scratch: Uint8Array = new Uint8Array(0);

/** Drops the scratch buffer of transientBytes (up to 16 MiB; ResNet-50: its largest weight,
 * 9 MiB), for a caller about to need the memory elsewhere: compile's onnxruntime check, when no
 * pass reads a weight any more (bench:memory, issue 15 item 5). The next use allocates it again. */
export function releaseScratch(): void {
  scratch = new Uint8Array(0);
}

/** The byte length of a lazy raw source not read yet, measured without reading it (undefined
 * for any other source). */
export function unreadLength(source: unknown): number | undefined {
  return source instanceof LazyRawSource && !source.isRead ? source.range.length : undefined;
}

/** The file range of a raw source not read yet (undefined for any other source). */
export function pendingRange(source: unknown): FileRange | undefined {
  return source instanceof LazyRawSource ? source.pending : undefined;
}

// ---------------------------------------------------------------------------------------
// Scanner

/** Files smaller than this are read whole (the structure is then most of the file). */
export const LAZY_MIN_FILE = 1 << 20;
/** raw_data of at least this many bytes stays on disk. */
export const LAZY_MIN_TENSOR = 1 << 16;
/** Read-ahead of the field walk: the size of the largest initializer kept in the skeleton, so
 * a run of small tensors and node headers is one read, and at most this much of a large
 * raw_data is read needlessly (each window starts at a field header). On this VM a syscall
 * costs tens of microseconds: 120 reads of 8 KiB took longer than 36 of 64 KiB. */
const WINDOW = LAZY_MIN_TENSOR;

/** The scanners' signal that a file is unusual: read it whole instead (same errors). */
export class GiveUp extends Error {}

/** Window buffers kept between scans, at most this many (4 MiB). A window is scratch: the
 * skeleton copies what it needs out of them, and nothing a scan returns points into them. Kept
 * because on this VM a fresh 64 KiB buffer costs 16 first-touch page faults (~30 us each):
 * MobileNetV2's 30 windows were ~480 faults, ~10 ms of a ~25 ms load when a process loads
 * model after model (bench:io setting 2), where python's allocator hands onnx.load memory its
 * last model freed. */
const POOL_MAX = 64;
/** The pool: one buffer of POOL_MAX windows, allocated on first use (only the pages a scan
 * touches become resident). A save's arena (writeParts) is its first 1 MiB: in a command that
 * loads a model and saves one, the arena's pages were already touched by the load's windows
 * (MobileNetV2: ~256 fewer first-touch faults in the save, bench:io setting 1). */
let pool: Uint8Array | undefined;
const poolBuffer = (): Uint8Array => (pool ??= newBytes(POOL_MAX * WINDOW));
/** Set while a scan or a save uses the pool (both are synchronous; this only guards against
 * re-entry). */
let poolBusy = false;

/** The pool for one save (undefined when something holds it): its first 1 MiB is writeParts'
 * arena, the rest may hold the save's encoded structure (see saveModel), so that a save after a
 * load writes through memory the load already touched. Release it with releasePool. */
export function holdPool(): Uint8Array | undefined {
  if (poolBusy) return undefined;
  poolBusy = true;
  return poolBuffer();
}

export function releasePool(held: Uint8Array | undefined): void {
  if (held) poolBusy = false;
}

/** Bytes of the pool a save's structure may use (after the arena). */
export const POOL_STRUCTURE_OFFSET = 1 << 20;

/** Positional reader over a file with read-ahead windows, for the field walk; the windows are
 * kept (in file order, the walk only moves forward) so that `Out.build` copies the skeleton's
 * bytes from them and reads from the file only what no window covered. */
class Cursor {
  /** The current window (read by varintAt's fast path; written only by `byte`). */
  win: Uint8Array = new Uint8Array(0);
  winAt = 0;
  winLen = 0;
  /** Every window read: file offset and bytes, in increasing offsets, not overlapping. */
  readonly windows: { at: number; bytes: Uint8Array }[] = [];
  constructor(readonly fd: number, readonly size: number, private readonly pooled: boolean) {}
  /** A buffer for the next window: from the pool while it has one (or may grow), else new. */
  private buffer(len: number): Uint8Array {
    if (!this.pooled) return newBytes(len);
    const k = this.windows.length;
    if (k >= POOL_MAX) return newBytes(len);
    return poolBuffer().subarray(k * WINDOW, k * WINDOW + len);
  }
  byte(at: number): number {
    let i = at - this.winAt;
    if (i < 0 || i >= this.winLen) {
      if (at >= this.size) throw new GiveUp();
      const len = Math.min(WINDOW, this.size - at);
      const win = this.buffer(len);
      let done = 0;
      while (done < len) {
        const r = readSync(this.fd, win, done, len - done, at + done);
        if (r === 0) throw new GiveUp();
        done += r;
      }
      this.win = win;
      this.winAt = at;
      this.winLen = len;
      this.windows.push({ at, bytes: win });
      i = 0;
    }
    return this.win[i];
  }
  /** Copies file bytes [from, from + into.length) into `into`: from the windows where they
   * cover it, else read from the file. `hint`: index of the window to start looking from
   * (calls come in file order); returns the hint for the next call. */
  copy(from: number, into: Uint8Array, hint: number): number {
    const ws = this.windows;
    let o = 0;
    while (o < into.length) {
      const pos = from + o;
      while (hint < ws.length && ws[hint].at + ws[hint].bytes.length <= pos) hint++;
      const w = ws[hint];
      if (w && w.at <= pos) {
        const n = Math.min(into.length - o, w.at + w.bytes.length - pos);
        into.set(w.bytes.subarray(pos - w.at, pos - w.at + n), o);
        o += n;
        continue;
      }
      // Not covered: read up to the next window (or the end of the range).
      const stop = Math.min(into.length, w ? w.at - from : into.length);
      const view = into.subarray(o, stop);
      let done = 0;
      while (done < view.length) {
        const r = readSync(this.fd, view, done, view.length - done, pos + done);
        if (r === 0) throw new GiveUp();
        done += r;
      }
      o = stop;
    }
    return hint;
  }
}

/** One field of a message region: [tag start, value start, end), number and wire type (the
 * walk reuses one object). */
interface Field { start: number; value: number; end: number; num: number; wire: number }

/** Reads a varint at `at` (before `end`) into f.value, returning the next position. Values beyond
 * 2^53 give up. */
function varintAt(c: Cursor, at: number, end: number, f: Field): number {
  // Fast path: all 10 bytes a varint may take are in the current window and before `end`
  // (nearly every field header): read them from the window array instead of a `byte` call
  // per byte. Same result as the loop below, which handles the window and region edges.
  const i = at - c.winAt;
  if (i >= 0 && i + 10 <= c.winLen && at + 10 <= end) {
    const w = c.win;
    let v = 0, mul = 1;
    for (let k = 0; k < 10; k++) {
      const b = w[i + k];
      v += (b & 0x7f) * mul;
      if (!(b & 0x80)) {
        if (v > Number.MAX_SAFE_INTEGER) throw new GiveUp();
        f.value = v;
        return at + k + 1;
      }
      mul *= 128;
    }
    throw new GiveUp();
  }
  let v = 0, mul = 1;
  for (let i = 0; i < 10; i++) {
    if (at >= end) throw new GiveUp();
    const b = c.byte(at++);
    v += (b & 0x7f) * mul;
    if (!(b & 0x80)) {
      if (v > Number.MAX_SAFE_INTEGER) throw new GiveUp();
      f.value = v;
      return at;
    }
    mul *= 128;
  }
  throw new GiveUp();
}

/** Reads the field starting at `at` (before `end`) into `f`. */
function fieldAt(c: Cursor, at: number, end: number, f: Field): void {
  f.start = at;
  const p = varintAt(c, at, end, f);
  const tag = f.value;
  f.num = Math.floor(tag / 8);
  f.wire = tag % 8;
  if (f.num === 0) throw new GiveUp();
  let value = p, stop: number;
  switch (f.wire) {
    case 0: stop = varintAt(c, p, end, f); break;
    case 1: stop = p + 8; break;
    case 5: stop = p + 4; break;
    case 2: {
      const q = varintAt(c, p, end, f);
      value = q;
      stop = q + f.value;
      break;
    }
    default: throw new GiveUp(); // groups (3/4) and invalid wire types
  }
  if (stop > end) throw new GiveUp();
  f.value = value;
  f.end = stop;
}

const newField = (): Field => ({ start: 0, value: 0, end: 0, num: 0, wire: 0 });

/** A protobuf varint's bytes (the skeleton writer here). */
export function varintBytes(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

/** Skeleton of one message: new bytes (headers with recomputed lengths) and spans of the file
 * kept as they are (read later, straight into the skeleton), plus the total length. */
export class Out {
  parts: (Uint8Array | number)[] = []; // a span is two numbers: start, end
  length = 0;
  /** A run of file bytes [runAt, runEnd) not recorded yet: consecutive fields become one span. */
  private runAt = 0;
  private runEnd = 0;
  push(b: Uint8Array): void {
    this.flush();
    this.parts.push(b);
    this.length += b.length;
  }
  span(start: number, end: number): void {
    if (this.runEnd !== start || this.runEnd === this.runAt) {
      this.flush();
      this.runAt = start;
    }
    this.runEnd = end;
  }
  flush(): void {
    if (this.runEnd > this.runAt) {
      this.parts.push(this.runAt, this.runEnd);
      this.length += this.runEnd - this.runAt;
    }
    this.runAt = this.runEnd = 0;
  }
  sub(num: number, inner: Out): void {
    inner.flush();
    this.push(Uint8Array.from([...varintBytes(num * 8 + 2), ...varintBytes(inner.length)]));
    for (const p of inner.parts) this.parts.push(p);
    this.length += inner.length;
  }
  /** The skeleton bytes: one allocation, each span copied from the walk's windows or read
   * from the file into its place (`c` may be absent when only bytes were pushed). */
  build(c?: Cursor): Uint8Array {
    this.flush();
    const out = newBytes(this.length);
    let o = 0, hint = 0;
    const parts = this.parts;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (typeof p !== 'number') {
        out.set(p, o);
        o += p.length;
        continue;
      }
      const end = parts[++i] as number;
      hint = c!.copy(p, out.subarray(o, o + end - p), hint);
      o += end - p;
    }
    return out;
  }
}

export interface Skeleton {
  /** The ModelProto with the large initializers' raw_data removed. */
  bytes: Uint8Array;
  /** raw_data left on disk, by initializer index (order of graph.initializer). */
  holes: Map<number, FileRange>;
}

/** Scans a model file; undefined when it is small or anything is unusual (read it whole). */
export function scanModelFile(path: string): Skeleton | undefined {
  let fd: number;
  let pooled = false;
  try {
    // Non-blocking: a FIFO must not block here (its stat below sends it to the bounded reader).
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size < LAZY_MIN_FILE || st.size >= 2 ** 31) return undefined;
    const file = new LazyFile(resolve(path), st);
    pooled = !poolBusy;
    poolBusy = true;
    const c = new Cursor(fd, st.size, pooled);
    const holes = new Map<number, FileRange>();
    const model = new Out();
    const f = newField(), g = newField(), t = newField();
    let graphs = 0;
    for (let at = 0; at < st.size; at = f.end) {
      fieldAt(c, at, st.size, f);
      if (f.num !== 7 || f.wire !== 2) {
        model.span(f.start, f.end);
        continue;
      }
      if (++graphs > 1) return undefined; // merged sub-messages: let protobufjs handle them
      const graph = new Out();
      let init = 0;
      for (let ga = f.value; ga < f.end; ga = g.end) {
        fieldAt(c, ga, f.end, g);
        if (g.num !== 5 || g.wire !== 2) {
          graph.span(g.start, g.end);
          continue;
        }
        const index = init++;
        if (g.end - g.value < LAZY_MIN_TENSOR) {
          graph.span(g.start, g.end);
          continue;
        }
        const tensor = new Out();
        let rawStart = -1, rawValue = 0, rawEnd = 0;
        for (let ta = g.value; ta < g.end; ta = t.end) {
          fieldAt(c, ta, g.end, t);
          if (t.num === 9 && t.wire === 2) [rawStart, rawValue, rawEnd] = [t.start, t.value, t.end]; // bytes: the last occurrence wins
          else tensor.span(t.start, t.end);
        }
        if (rawStart >= 0 && rawEnd - rawValue >= LAZY_MIN_TENSOR) holes.set(index, new FileRange(file, rawValue, rawEnd - rawValue));
        else if (rawStart >= 0) tensor.span(rawStart, rawEnd); // small: keep it (after the others; field order is not preserved by decoding anyway)
        graph.sub(5, tensor);
      }
      model.sub(7, graph);
    }
    if (!holes.size) return undefined;
    return { bytes: model.build(c), holes };
  } catch (e) {
    if (e instanceof GiveUp) return undefined;
    throw e;
  } finally {
    if (pooled) poolBusy = false;
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------
// Writing chunks that include file ranges

export type Part = Uint8Array | FileRange;

/** Concatenates parts into one new array, reading ranges straight into it. */
export function concatParts(parts: Part[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = newBytes(n);
  let o = 0;
  const reader = new RangeReader('model');
  try {
    for (const p of parts) {
      if (p instanceof FileRange) reader.read(p, out.subarray(o, o + p.length));
      else out.set(p, o);
      o += p.length;
    }
  } finally {
    reader.close();
  }
  return out;
}

/** Largest arena a save gathers file ranges in before one gathered write (kept between saves).
 * 1 MiB: measured on MobileNetV2 (14 MB, one save in a fresh process, the CLI case), a 4 MiB
 * arena, grown 1 -> 2 -> 4 MiB, took 2,300-2,900 first-touch page faults (~30 us each on this
 * VM) against 620-830 for 1 MiB, 30-45 ms less per save; repeated saves in one process (arena
 * warm) took the same time with either (16 ms CPU), the extra reads and writes costing less
 * than the noise. */
const ARENA_MAX = POOL_STRUCTURE_OFFSET;
/** File ranges closer than this in their file are read with one pread (the bytes between are
 * read needlessly: the small fields of a lazily loaded model, between its large tensors). */
const READ_GAP = 1 << 16;

/** Writes a list of chunks at `pos` with gathered writes (at most 1024 per call; short writes
 * finish chunk by chunk); returns the position after them. */
function writeAllAt(fd: number, chunks: Uint8Array[], pos: number): number {
  for (let i = 0; i < chunks.length; i += 1024) {
    const batch = chunks.slice(i, i + 1024);
    let n = writevSync(fd, batch, pos);
    for (const b of batch) {
      if (n >= b.length) {
        n -= b.length;
        pos += b.length;
        continue;
      }
      let done = n;
      n = 0;
      while (done < b.length) done += writeSync(fd, b, done, b.length - done, pos + done);
      pos += b.length;
    }
  }
  return pos;
}

/**
 * Writes parts at the start of an open file. File ranges are gathered in one reused arena (up to
 * 1 MiB, ARENA_MAX): ranges close together in their file are read with one pread, and the arena's ranges
 * with the in-memory chunks between them go out in one gathered write. A MobileNetV2 save is
 * then a few reads and gathered writes instead of one read and one write per tensor: on this VM a syscall
 * costs tens of microseconds. Ranges larger than the arena are copied through it in chunks.
 */
export function writeParts(fd: number, parts: Part[], arenaGiven?: Uint8Array): void {
  let pos = 0;
  const iov: Uint8Array[] = [];
  let used = 0;
  const flush = () => {
    pos = writeAllAt(fd, iov, pos);
    iov.length = 0;
    used = 0;
  };
  const reader = new RangeReader('model');
  // The arena: scratch (every range read into it is written out before this returns).
  let shared = false;
  let arenaBuf: Uint8Array | undefined;
  const arenaOf = (): Uint8Array => {
    if (!arenaBuf && arenaGiven) arenaBuf = arenaGiven.subarray(0, ARENA_MAX);
    if (!arenaBuf) {
      shared = !poolBusy;
      poolBusy = true;
      arenaBuf = shared ? poolBuffer().subarray(0, ARENA_MAX) : newBytes(ARENA_MAX);
    }
    return arenaBuf;
  };
  try {
    let i = 0;
    while (i < parts.length) {
      const p = parts[i];
      if (!(p instanceof FileRange)) {
        if (p.length) iov.push(p);
        i++;
        continue;
      }
      if (p.length > ARENA_MAX) {
        flush();
        const arena = arenaOf();
        for (let at = 0; at < p.length; at += ARENA_MAX) {
          const n = Math.min(ARENA_MAX, p.length - at);
          const view = arena.subarray(0, n);
          reader.read(new FileRange(p.file, p.offset + at, n), view);
          pos = writeAllAt(fd, [view], pos);
        }
        i++;
        continue;
      }
      // p and the next ranges of the same file that follow it closely, while they fit.
      const start = p.offset;
      let end = p.offset + p.length, last = i;
      for (let k = i + 1; k < parts.length; k++) {
        const q = parts[k];
        if (!(q instanceof FileRange)) continue;
        if (q.file !== p.file || q.offset < end || q.offset - end > READ_GAP || q.offset + q.length - start > ARENA_MAX - used) break;
        end = q.offset + q.length;
        last = k;
      }
      if (end - start > ARENA_MAX - used) {
        flush(); // p fits in an empty arena
        continue;
      }
      const arena = arenaOf();
      reader.read(new FileRange(p.file, start, end - start), arena.subarray(used, used + end - start));
      for (let k = i; k <= last; k++) {
        const q = parts[k];
        if (q instanceof FileRange) iov.push(arena.subarray(used + q.offset - start, used + q.offset - start + q.length));
        else if (q.length) iov.push(q);
      }
      used += end - start;
      i = last + 1;
    }
    flush();
  } finally {
    if (shared) poolBusy = false;
    reader.close();
  }
}
