/**
 * The structure of a gzip-compressed model, read as a stream: the file is inflated 64 KiB at a
 * time and walked like lazy.ts's scanner walks a model file (ModelProto -> graph (7) ->
 * initializer (5) -> raw_data (9)). Every field is kept except the raw_data of large
 * initializers, which the walk counts past; io.ts loadModelGz gives those tensors InflatedRange
 * sources (read only if a pass asks, by inflating the file again).
 *
 * Why: `dnnfuse sweep` takes .onnx.gz files (the shared models ship so) and needs only their op
 * graphs. Inflating a file whole put all its weights in memory first: vgg16.onnx.gz (540 KB of
 * constant weights) inflated to 528 MB, ~210,000 first-touch page faults and 4.4 s before a
 * 14 KiB op graph existed; it set the sweep's peak RSS.
 *
 * Hand-written for lazy.ts's reason (protobufjs decodes one contiguous buffer). Asynchronous
 * because node:zlib inflates a stream only asynchronously; the walk awaits only when a chunk
 * runs out. Anything unusual makes the walk give up (GiveUp), and loadModelGz reads the file
 * whole as before (same errors).
 */
import { GiveUp, LAZY_MIN_TENSOR, Out } from './lazy.ts';

/** A forward-only reader over the chunks of a stream; `offset` counts the bytes consumed. */
class ChunkReader {
  private buf: Uint8Array = new Uint8Array(0);
  private pos = 0;
  offset = 0;
  constructor(private readonly it: AsyncIterator<Uint8Array>) {}

  /** Makes the next byte available; false at the end of the stream. */
  private async fill(): Promise<boolean> {
    while (this.pos >= this.buf.length) {
      const r = await this.it.next();
      if (r.done) return false;
      this.buf = r.value;
      this.pos = 0;
    }
    return true;
  }
  async atEnd(): Promise<boolean> {
    return this.pos >= this.buf.length && !(await this.fill());
  }
  /** The next byte if the chunk holds one, else -1 (then `byte`). */
  byteNow(): number {
    if (this.pos >= this.buf.length) return -1;
    this.offset++;
    return this.buf[this.pos++];
  }
  /** The next byte (gives up at the end of the stream). */
  async byte(): Promise<number> {
    if (this.pos >= this.buf.length && !(await this.fill())) throw new GiveUp();
    this.offset++;
    return this.buf[this.pos++];
  }
  /** The next n bytes, copied (or dropped when `into` is null). */
  async take(n: number, into: Uint8Array | null = new Uint8Array(n)): Promise<Uint8Array | null> {
    let o = 0;
    while (o < n) {
      if (this.pos >= this.buf.length && !(await this.fill())) throw new GiveUp();
      const k = Math.min(n - o, this.buf.length - this.pos);
      if (into) into.set(this.buf.subarray(this.pos, this.pos + k), o);
      this.pos += k;
      o += k;
    }
    this.offset += n;
    return into;
  }
}

/** A field's header as read: number, wire type, its bytes (tag, and the length or the varint
 * value), and the payload bytes after them. */
interface Head {
  num: number;
  wire: number;
  bytes: number[];
  size: number;
}

async function varint(r: ChunkReader, end: number, bytes: number[]): Promise<number> {
  let v = 0, mul = 1;
  for (let i = 0; i < 10; i++) {
    if (r.offset >= end) throw new GiveUp();
    let b = r.byteNow(); // most headers lie inside one chunk: no await per byte
    if (b < 0) b = await r.byte();
    bytes.push(b);
    v += (b & 0x7f) * mul;
    if (!(b & 0x80)) {
      if (v > Number.MAX_SAFE_INTEGER) throw new GiveUp();
      return v;
    }
    mul *= 128;
  }
  throw new GiveUp();
}

async function head(r: ChunkReader, end: number): Promise<Head> {
  const bytes: number[] = [];
  const tag = await varint(r, end, bytes);
  const num = Math.floor(tag / 8), wire = tag % 8;
  if (num === 0) throw new GiveUp();
  let size: number;
  switch (wire) {
    case 0: await varint(r, end, bytes); size = 0; break;
    case 1: size = 8; break;
    case 5: size = 4; break;
    case 2: size = await varint(r, end, bytes); break;
    default: throw new GiveUp(); // groups (3/4) and invalid wire types
  }
  if (r.offset + size > end) throw new GiveUp();
  return { num, wire, bytes, size };
}

/** Copies a field whose header was read into `out`. */
async function copy(r: ChunkReader, h: Head, out: Out): Promise<void> {
  out.push(Uint8Array.from(h.bytes));
  if (h.size) out.push((await r.take(h.size))!);
}

/** A model's structure: the ModelProto without the large initializers' raw_data, and where
 * each of those is in the inflated stream, by initializer index (order of graph.initializer). */
export interface StreamSkeleton {
  bytes: Uint8Array;
  holes: Map<number, { offset: number; length: number }>;
}

/** Walks an inflated model stream to its end; throws GiveUp on anything unusual (a repeated
 * graph field, groups, a length past its message, a stream that ends early). */
export async function scanModelStream(chunks: AsyncIterable<Uint8Array>): Promise<StreamSkeleton> {
  const r = new ChunkReader(chunks[Symbol.asyncIterator]());
  const model = new Out();
  const holes = new Map<number, { offset: number; length: number }>();
  let graphs = 0;
  while (!(await r.atEnd())) {
    const f = await head(r, Infinity);
    if (f.num !== 7 || f.wire !== 2) {
      await copy(r, f, model);
      continue;
    }
    if (++graphs > 1) throw new GiveUp(); // merged sub-messages: let protobufjs handle them
    const graph = new Out();
    const graphEnd = r.offset + f.size;
    let init = 0;
    while (r.offset < graphEnd) {
      const g = await head(r, graphEnd);
      const isInit = g.num === 5 && g.wire === 2;
      const index = isInit ? init++ : -1;
      if (!isInit || g.size < LAZY_MIN_TENSOR) {
        await copy(r, g, graph);
        continue;
      }
      const tensor = new Out();
      const tensorEnd = r.offset + g.size;
      // raw_data: the last occurrence wins (protobuf bytes); a small one is kept, after the
      // other fields (decoding does not depend on field order)
      let hole: { offset: number; length: number } | undefined;
      let small: Uint8Array[] | undefined;
      while (r.offset < tensorEnd) {
        const t = await head(r, tensorEnd);
        if (t.num !== 9 || t.wire !== 2) await copy(r, t, tensor);
        else if (t.size >= LAZY_MIN_TENSOR) {
          hole = { offset: r.offset, length: t.size };
          small = undefined;
          await r.take(t.size, null);
        } else {
          hole = undefined;
          small = [Uint8Array.from(t.bytes), (await r.take(t.size))!];
        }
      }
      for (const b of small ?? []) tensor.push(b);
      if (hole) holes.set(index, hole);
      graph.sub(5, tensor);
    }
    model.sub(7, graph);
  }
  return { bytes: model.build(), holes };
}
