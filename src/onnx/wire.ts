/**
 * A protobuf writer for the ONNX schema's decoded messages (`Msg` trees), byte-identical to
 * protobufjs 8's `Type.encode(m).finish()` (node's BufferWriter), but:
 *
 * - two passes: the first computes every nested message's length (pre-order, into one array),
 *   the second writes each field once, straight into one buffer allocated at its final size.
 *   protobufjs's Writer reserves one byte per length prefix and shifts the whole nested message
 *   when the prefix needs more (`ldelim`'s copyWithin), so a 100 MB model's tensor bytes are
 *   moved once per nesting level, and `finish()` copies the result once more;
 * - large bytes fields (raw_data) can be left out of the buffer and handed back as separate
 *   parts (a view of the tensor, or a FileRange still on disk), so a save writes them straight
 *   from where they are (writev / file-to-file copy) instead of copying them into a buffer;
 * - a FileRange value (raw_data of a lazily loaded tensor, lazy.ts) is read from its file
 *   directly into its place in the output: protobufjs only knows in-memory bytes;
 * - the per-type field tables are built once from protobufjs's reflection (the schema stays
 *   protobufjs's), with no code generation (protobufjs's first encode of each type compiles an
 *   encoder with `new Function`, a cost every fresh CLI process pays again).
 *
 * Byte-identical means the same field order (field number order, `$unknowns` last), the same
 * presence rules (proto2: a field is written when it is an own property and not null), packed
 * runs for `[packed = true]` fields, negative int32 as 10-byte varints, strings encoded exactly
 * as BufferWriter does (protobufjs's UTF-8 under 40 UTF-16 units, Buffer's from 40 on). The
 * tests compare this writer with protobufjs on random and conformance models.
 */
import { protobuf, type Msg } from './schema.ts';
import { FileRange, RangeReader, readRangesInto, type Part, type RangeAt } from './lazy.ts';

const enum Kind { Int32, Uint32, Int64, Bool, Float, Double, String, Bytes, Message }

interface FieldDesc {
  name: string;
  kind: Kind;
  repeated: boolean;
  packed: boolean;
  /** The tag varint's bytes (field number and wire type). */
  tag: number[];
  /** Proto3 implicit presence: skip the type's default value (not used by ONNX's proto2). */
  implicit: boolean;
  sub?: TypeDesc;
}

interface TypeDesc {
  fields: FieldDesc[];
}

const descs = new Map<protobuf.Type, TypeDesc>();

const KINDS: Record<string, Kind> = {
  int32: Kind.Int32, uint32: Kind.Uint32, int64: Kind.Int64, uint64: Kind.Int64, bool: Kind.Bool,
  float: Kind.Float, double: Kind.Double, string: Kind.String, bytes: Kind.Bytes,
};
const WIRE: Record<number, number> = {
  [Kind.Int32]: 0, [Kind.Uint32]: 0, [Kind.Int64]: 0, [Kind.Bool]: 0, [Kind.Float]: 5, [Kind.Double]: 1,
  [Kind.String]: 2, [Kind.Bytes]: 2, [Kind.Message]: 2,
};

/** The field table of a protobufjs type (built once per type, recursively). */
export function describe(type: protobuf.Type): TypeDesc {
  let d = descs.get(type);
  if (d) return d;
  d = { fields: [] };
  descs.set(type, d);
  const fields = type.fieldsArray.slice().sort((a, b) => a.id - b.id);
  for (const f of fields) {
    f.resolve();
    if (f.map || f.delimited) throw new Error(`wire.ts: field ${type.name}.${f.name}: maps and groups are not supported`);
    const rt = f.resolvedType;
    let kind: Kind;
    if (rt instanceof protobuf.Type) kind = Kind.Message;
    else if (rt instanceof protobuf.Enum) kind = Kind.Int32;
    else if (f.type in KINDS) kind = KINDS[f.type];
    else throw new Error(`wire.ts: field ${type.name}.${f.name}: type ${f.type} is not supported`);
    const packed = f.repeated && f.packed && kind !== Kind.String && kind !== Kind.Bytes && kind !== Kind.Message;
    const wire = packed ? 2 : WIRE[kind];
    d.fields.push({
      name: f.name,
      kind,
      repeated: f.repeated,
      packed,
      tag: varintArray(((f.id << 3) | wire) >>> 0),
      implicit: !f.repeated && !f.hasPresence && kind !== Kind.Message,
      sub: rt instanceof protobuf.Type ? describe(rt) : undefined,
    });
  }
  return d;
}

function varintArray(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

const hasOwn = Object.prototype.hasOwnProperty;
const utf8 = protobuf.util.utf8;
const LongBits = protobuf.util.LongBits;

function varint32Size(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

/** 64-bit value of an int64 field as [lo, hi] (protobufjs's LongBits.from semantics). */
function longBits(v: unknown): { lo: number; hi: number } {
  return LongBits.from(v as number) as unknown as { lo: number; hi: number };
}

function varint64Size(lo: number, hi: number): number {
  const part1 = ((lo >>> 28) | (hi << 4)) >>> 0, part2 = hi >>> 24;
  if (part2 !== 0) return part2 < 128 ? 9 : 10;
  if (part1 !== 0) return part1 < 16384 ? (part1 < 128 ? 5 : 6) : part1 < 2097152 ? 7 : 8;
  return lo < 16384 ? (lo < 128 ? 1 : 2) : lo < 2097152 ? 3 : 4;
}

/** Bytes of one int64 value. Non-negative integers under 2^32 (dims, ints): the fast path. */
function int64Size(v: unknown): number {
  if (typeof v === 'number' && v >= 0 && v <= 0xffffffff && v === Math.floor(v)) return varint32Size(v);
  const b = longBits(v);
  return varint64Size(b.lo, b.hi);
}

function int32Size(v: number): number {
  v |= 0;
  return v < 0 ? 10 : varint32Size(v);
}

/** protobufjs's default checks for implicit presence (proto3); unused by ONNX's proto2 schema. */
function isDefault(kind: Kind, v: any): boolean {
  switch (kind) {
    case Kind.Bool: return v === false;
    case Kind.String: return v === '';
    case Kind.Bytes: return !v.length;
    case Kind.Float: case Kind.Double: return Object.is(v, 0);
    case Kind.Int64: return typeof v === 'object' ? !(v.low || v.high) : v === 0;
    default: return v === 0;
  }
}

/** UTF-8 length of a string as protobufjs's BufferWriter computes it. */
function stringSize(s: string): number {
  const n = s.length;
  if (n < 0x80) {
    let ascii = true;
    for (let i = 0; i < n; i++) if (s.charCodeAt(i) >= 0x80) { ascii = false; break; }
    if (ascii) return n;
  }
  return n < 40 ? utf8.length(s) : Buffer.byteLength(s);
}

function bytesOf(v: any): Uint8Array | FileRange {
  if (typeof v === 'string') return Buffer.from(v, 'base64'); // protobufjs accepts base64 strings
  return v;
}

// ---------------------------------------------------------------------------------------
// Pass 1: sizes

/** Lengths recorded in pre-order: every nested message, string and packed run, in the order
 * pass 2 writes them. */
class Sizes {
  a: number[] = [];
  /** Bytes of fields left out of the buffer (spliced in as parts). */
  spliced = 0;
  constructor(readonly spliceMin: number) {}
}

function measure(d: TypeDesc, m: Msg, S: Sizes): number {
  let n = 0;
  const fields = d.fields;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i];
    const v = m[f.name];
    if (v == null) continue;
    if (f.repeated) {
      const len = v.length;
      if (!len) continue;
      if (f.packed) {
        let body = 0;
        if (f.kind === Kind.Int64) for (let k = 0; k < len; k++) body += int64Size(v[k]);
        else if (f.kind === Kind.Int32) for (let k = 0; k < len; k++) body += int32Size(v[k]);
        else for (let k = 0; k < len; k++) body += scalarSize(f.kind, v[k]);
        S.a.push(body);
        n += f.tag.length + varint32Size(body) + body;
        continue;
      }
      for (let k = 0; k < len; k++) n += f.tag.length + valueSize(f, v[k], S);
      continue;
    }
    if (!hasOwn.call(m, f.name)) continue;
    if (f.implicit && isDefault(f.kind, v)) continue;
    n += f.tag.length + valueSize(f, v, S);
  }
  if (m.$unknowns != null && hasOwn.call(m, '$unknowns')) for (const u of m.$unknowns) n += u.length;
  return n;
}

function scalarSize(kind: Kind, v: any): number {
  switch (kind) {
    case Kind.Float: return 4;
    case Kind.Double: return 8;
    case Kind.Bool: return 1;
    case Kind.Int32: return int32Size(v);
    case Kind.Uint32: return varint32Size(v >>> 0);
    default: return int64Size(v);
  }
}

/** Size of one value after its tag (length prefix included for length-delimited kinds). */
function valueSize(f: FieldDesc, v: any, S: Sizes): number {
  switch (f.kind) {
    case Kind.Message: {
      const at = S.a.length;
      S.a.push(0);
      const len = measure(f.sub!, v, S);
      S.a[at] = len;
      return varint32Size(len) + len;
    }
    case Kind.String: {
      const len = stringSize(v);
      S.a.push(len);
      return varint32Size(len) + len;
    }
    case Kind.Bytes: {
      const b = bytesOf(v);
      const len = b.length >>> 0;
      if (len >= S.spliceMin || (b instanceof FileRange && S.spliceMin !== Infinity)) S.spliced += len;
      return varint32Size(len) + len;
    }
    default:
      return scalarSize(f.kind, v);
  }
}

// ---------------------------------------------------------------------------------------
// Pass 2: writing

class Out {
  pos = 0;
  k = 0;
  /** Start of the buffer region not yet handed out as a part. */
  from = 0;
  parts: Part[] = [];
  /** FileRange values of a flat encode and where they go: read after the structure is written,
   * runs of them with one pread each (readRangesInto). */
  ranges: RangeAt[] = [];
  f32 = new Float32Array(1);
  f64 = new Float64Array(1);
  f32b = new Uint8Array(this.f32.buffer);
  f64b = new Uint8Array(this.f64.buffer);
  constructor(readonly buf: Uint8Array, readonly S: Sizes) {}

  varint32(v: number): void {
    const buf = this.buf;
    let pos = this.pos;
    while (v > 127) {
      buf[pos++] = (v & 127) | 128;
      v >>>= 7;
    }
    buf[pos++] = v;
    this.pos = pos;
  }
  varint64(lo: number, hi: number): void {
    const buf = this.buf;
    let pos = this.pos;
    while (hi) {
      buf[pos++] = (lo & 127) | 128;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    while (lo > 127) {
      buf[pos++] = (lo & 127) | 128;
      lo >>>= 7;
    }
    buf[pos++] = lo;
    this.pos = pos;
  }
  int64(v: unknown): void {
    if (typeof v === 'number' && v >= 0 && v <= 0xffffffff && v === Math.floor(v)) this.varint32(v >>> 0);
    else {
      const b = longBits(v);
      this.varint64(b.lo, b.hi);
    }
  }
  int32(v: number): void {
    v |= 0;
    if (v < 0) {
      const b = LongBits.fromNumber(v) as unknown as { lo: number; hi: number };
      this.varint64(b.lo, b.hi);
    } else this.varint32(v);
  }
  raw(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  tag(t: number[]): void {
    const buf = this.buf;
    for (let i = 0; i < t.length; i++) buf[this.pos++] = t[i];
  }
  scalar(kind: Kind, v: any): void {
    switch (kind) {
      case Kind.Float:
        this.f32[0] = v;
        this.raw(this.f32b);
        return;
      case Kind.Double:
        this.f64[0] = v;
        this.raw(this.f64b);
        return;
      case Kind.Bool: this.buf[this.pos++] = v ? 1 : 0; return;
      case Kind.Int32: this.int32(v); return;
      case Kind.Uint32: this.varint32(v >>> 0); return;
      default: this.int64(v);
    }
  }
  string(s: string): void {
    const len = this.S.a[this.k++];
    this.varint32(len);
    if (len === s.length) {
      const buf = this.buf;
      let pos = this.pos;
      for (let i = 0; i < len; i++) buf[pos++] = s.charCodeAt(i);
    } else if (s.length < 40) utf8.write(s, this.buf, this.pos);
    else (Buffer.from(this.buf.buffer, this.buf.byteOffset, this.buf.length) as Buffer & { utf8Write(s: string, o: number): number }).utf8Write(s, this.pos);
    this.pos += len;
  }
  bytes(v: any): void {
    const b = bytesOf(v);
    const len = b.length >>> 0;
    this.varint32(len);
    if (!len) return;
    if (len >= this.S.spliceMin || (b instanceof FileRange && this.S.spliceMin !== Infinity)) {
      if (this.pos > this.from) this.parts.push(this.buf.subarray(this.from, this.pos));
      this.parts.push(b);
      this.from = this.pos;
      return;
    }
    if (b instanceof FileRange) this.ranges.push({ range: b, at: this.pos });
    else this.buf.set(b, this.pos);
    this.pos += len;
  }
  message(d: TypeDesc, m: Msg): void {
    const fields = d.fields;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i];
      const v = m[f.name];
      if (v == null) continue;
      if (f.repeated) {
        const len = v.length;
        if (!len) continue;
        if (f.packed) {
          this.tag(f.tag);
          this.varint32(this.S.a[this.k++]);
          for (let k = 0; k < len; k++) this.scalar(f.kind, v[k]);
          continue;
        }
        for (let k = 0; k < len; k++) {
          this.tag(f.tag);
          this.value(f, v[k]);
        }
        continue;
      }
      if (!hasOwn.call(m, f.name)) continue;
      if (f.implicit && isDefault(f.kind, v)) continue;
      this.tag(f.tag);
      this.value(f, v);
    }
    if (m.$unknowns != null && hasOwn.call(m, '$unknowns')) for (const u of m.$unknowns) this.raw(u);
  }
  value(f: FieldDesc, v: any): void {
    switch (f.kind) {
      case Kind.Message:
        this.varint32(this.S.a[this.k++]);
        this.message(f.sub!, v);
        return;
      case Kind.String: this.string(v); return;
      case Kind.Bytes: this.bytes(v); return;
      default: this.scalar(f.kind, v);
    }
  }
}

/** A plain Uint8Array over uninitialized memory (every byte is written). */
function newBytes(n: number): Uint8Array {
  const b = Buffer.allocUnsafeSlow(n);
  return new Uint8Array(b.buffer, b.byteOffset, n);
}

/** Encodes `m` as `type` into one new array; FileRange values are read from their files. */
export function encodeFlat(type: protobuf.Type, m: Msg): Uint8Array {
  const d = describe(type);
  const S = new Sizes(Infinity);
  const total = measure(d, m, S);
  const reader = new RangeReader('model');
  try {
    const o = new Out(newBytes(total), S);
    o.message(d, m);
    if (o.pos !== total) throw new Error(`wire.ts: wrote ${o.pos} bytes, measured ${total}`);
    readRangesInto(o.buf, o.ranges, reader);
    return o.buf;
  } finally {
    reader.close();
  }
}

/**
 * Encodes `m` as `type` into parts: the message structure in one buffer, and every bytes field
 * of at least `spliceMin` bytes (and every FileRange) as its own part (the value itself, not a
 * copy). Concatenated, the parts are exactly `encodeFlat`'s bytes. `alloc`: where the structure
 * buffer comes from (a caller's scratch; default a new array): the parts then point into it.
 */
export function encodeParts(type: protobuf.Type, m: Msg, spliceMin: number, alloc?: (n: number) => Uint8Array | undefined): Part[] {
  const d = describe(type);
  const S = new Sizes(Math.max(1, spliceMin));
  const total = measure(d, m, S);
  const o = new Out(alloc?.(total - S.spliced) ?? newBytes(total - S.spliced), S);
  o.message(d, m);
  if (o.pos !== total - S.spliced) throw new Error(`wire.ts: wrote ${o.pos} bytes, measured ${total - S.spliced}`);
  if (o.pos > o.from) o.parts.push(o.buf.subarray(o.from, o.pos));
  return o.parts;
}
