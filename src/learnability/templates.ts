/**
 * Local instructions as template tables.
 *
 * A node's state is a flat bit vector: a computation block (named fields: l-bit little-endian
 * numbers, flags, one-hot counters, per-slot registers) followed by a message block of `slots`
 * equal slot records (named per-slot fields). The GNN output vector has the same layout: the
 * node's next computation block, and the message bits it broadcasts (a node only writes into
 * its own slot, so after sum aggregation over N[v] every slot holds at most one message).
 *
 * A template is a partial assignment of a few state bits (literals bit=0/1) paired with the
 * set of output bits it turns on (its target output vector, stored sparsely). The instruction's
 * exact semantics is the OR of the targets of all matching templates; the learned predictors
 * reproduce it from one-hot training on the template list.
 */
import { createHash } from 'node:crypto';

export interface FieldSpec {
  name: string;
  width: number;
}

export interface Field {
  name: string;
  offset: number;
  width: number;
}

export class Schema {
  readonly comp = new Map<string, Field>();
  readonly slotFields = new Map<string, Field>();
  readonly compSize: number;
  readonly slotSize: number;
  readonly slots: number;
  readonly size: number;

  constructor(comp: FieldSpec[], perSlot: FieldSpec[], slots: number) {
    let off = 0;
    for (const f of comp) {
      if (this.comp.has(f.name)) throw new Error(`duplicate field ${f.name}`);
      this.comp.set(f.name, { name: f.name, offset: off, width: f.width });
      off += f.width;
    }
    this.compSize = off;
    let so = 0;
    for (const f of perSlot) {
      this.slotFields.set(f.name, { name: f.name, offset: so, width: f.width });
      so += f.width;
    }
    this.slotSize = so;
    this.slots = slots;
    this.size = this.compSize + so * slots;
  }

  /** Bit `i` of computation field `name`. */
  bit(name: string, i = 0): number {
    const f = this.comp.get(name);
    if (!f) throw new Error(`unknown field ${name}`);
    if (i < 0 || i >= f.width) throw new Error(`bit ${i} out of field ${name}[${f.width}]`);
    return f.offset + i;
  }

  /** Bit `i` of per-slot message field `name` in slot `slot`. */
  msg(slot: number, name: string, i = 0): number {
    const f = this.slotFields.get(name);
    if (!f) throw new Error(`unknown slot field ${name}`);
    if (i < 0 || i >= f.width || slot < 0 || slot >= this.slots) throw new Error(`bit ${slot}.${name}[${i}] out of range`);
    return this.compSize + slot * this.slotSize + f.offset + i;
  }

  isMessageBit(b: number): boolean {
    return b >= this.compSize;
  }

  /** Reads a little-endian unsigned number from a computation field. */
  readNumber(state: ArrayLike<number>, name: string): number {
    const f = this.comp.get(name)!;
    let v = 0;
    for (let i = 0; i < f.width; i++) if (state[f.offset + i]) v += 2 ** i;
    return v;
  }

  writeNumber(state: Uint8Array, name: string, value: number): void {
    const f = this.comp.get(name)!;
    for (let i = 0; i < f.width; i++) state[f.offset + i] = Math.floor(value / 2 ** i) % 2;
  }

  describe(b: number): string {
    if (b < this.compSize) {
      for (const f of this.comp.values()) if (b >= f.offset && b < f.offset + f.width) return f.width > 1 ? `${f.name}[${b - f.offset}]` : f.name;
    }
    const r = b - this.compSize;
    const slot = Math.floor(r / this.slotSize);
    const o = r % this.slotSize;
    for (const f of this.slotFields.values()) if (o >= f.offset && o < f.offset + f.width) return `msg${slot}.${f.name}${f.width > 1 ? `[${o - f.offset}]` : ''}`;
    return `bit${b}`;
  }
}

export type Literal = [bit: number, value: 0 | 1];

/** Collects templates; literal lists are deduplicated, contradictory ones rejected. */
export class TemplateBuilder {
  readonly lits: Literal[][] = [];
  readonly outs: number[][] = [];
  add(lits: Literal[], outs: number[]): void {
    const m = new Map<number, 0 | 1>();
    for (const [b, v] of lits) {
      const o = m.get(b);
      if (o !== undefined && o !== v) throw new Error(`contradictory template literal on bit ${b}`);
      m.set(b, v);
    }
    if (outs.length === 0) return;
    this.lits.push([...m.entries()]);
    this.outs.push([...new Set(outs)].sort((a, b) => a - b));
  }
}

/** Flattened (CSR) template table with a bit-indexed match index. */
export class TemplateTable {
  readonly count: number;
  readonly litStart: Int32Array;
  readonly litBit: Int32Array;
  readonly litVal: Uint8Array;
  readonly outStart: Int32Array;
  readonly outBit: Int32Array;
  /** Templates keyed by one positive literal: keyStart[b]..keyStart[b+1] in keyList. */
  readonly keyStart: Int32Array;
  readonly keyList: Int32Array;
  /** Templates without a positive literal: checked for every state. */
  readonly unkeyed: Int32Array;
  /** N_b: number of templates whose target sets output bit b. */
  readonly writers: Int32Array;
  readonly outputSize: number;
  readonly maxLiterals: number;
  /**
   * Inert training rows: one-hot inputs that no state ever matches, with zero targets. They
   * only enlarge the training set (n0 = count + padding), which shrinks the closed form's
   * interference term beta(m) * N_b; used when a table has densely written output bits.
   */
  padding = 0;

  constructor(b: TemplateBuilder, stateSize: number) {
    const n = b.lits.length;
    this.count = n;
    this.outputSize = stateSize;
    this.litStart = new Int32Array(n + 1);
    this.outStart = new Int32Array(n + 1);
    let nl = 0;
    let no = 0;
    let maxL = 0;
    for (let t = 0; t < n; t++) {
      nl += b.lits[t].length;
      no += b.outs[t].length;
      maxL = Math.max(maxL, b.lits[t].length);
      this.litStart[t + 1] = nl;
      this.outStart[t + 1] = no;
    }
    this.maxLiterals = maxL;
    this.litBit = new Int32Array(nl);
    this.litVal = new Uint8Array(nl);
    this.outBit = new Int32Array(no);
    this.writers = new Int32Array(stateSize);
    const keyOf = new Int32Array(n).fill(-1);
    const keyCount = new Int32Array(stateSize + 1);
    const unkeyed: number[] = [];
    for (let t = 0; t < n; t++) {
      b.lits[t].forEach(([bit, v], k) => {
        this.litBit[this.litStart[t] + k] = bit;
        this.litVal[this.litStart[t] + k] = v;
      });
      b.outs[t].forEach((o, k) => {
        if (o < 0 || o >= stateSize) throw new Error(`template output bit ${o} out of range`);
        this.outBit[this.outStart[t] + k] = o;
        this.writers[o]++;
      });
      // key: the first positive literal (generators list the most selective one first)
      const pos = b.lits[t].find(([, v]) => v === 1);
      if (pos) {
        keyOf[t] = pos[0];
        keyCount[pos[0]]++;
      } else unkeyed.push(t);
    }
    this.keyStart = new Int32Array(stateSize + 1);
    for (let i = 0; i < stateSize; i++) this.keyStart[i + 1] = this.keyStart[i] + keyCount[i];
    this.keyList = new Int32Array(this.keyStart[stateSize]);
    const fill = this.keyStart.slice(0, stateSize);
    for (let t = 0; t < n; t++) if (keyOf[t] >= 0) this.keyList[fill[keyOf[t]]++] = t;
    this.unkeyed = Int32Array.from(unkeyed);
  }

  /** Size of the training set (templates + inert padding rows). */
  get n0(): number {
    return this.count + this.padding;
  }

  /** Whether template t's partial assignment holds in `state`. */
  matches(t: number, state: Uint8Array): boolean {
    for (let k = this.litStart[t]; k < this.litStart[t + 1]; k++) if (state[this.litBit[k]] !== this.litVal[k]) return false;
    return true;
  }

  /**
   * All templates matching `state`, found through the set bits of the state (bit-indexed
   * lookup) plus the unkeyed ones. Writes ids into `out`, returns the count.
   */
  match(state: Uint8Array, setBits: ArrayLike<number>, nSet: number, out: Int32Array): number {
    let m = 0;
    for (let i = 0; i < nSet; i++) {
      const b = setBits[i];
      for (let k = this.keyStart[b]; k < this.keyStart[b + 1]; k++) {
        const t = this.keyList[k];
        if (this.matches(t, state)) out[m++] = t;
      }
    }
    for (let i = 0; i < this.unkeyed.length; i++) if (this.matches(this.unkeyed[i], state)) out[m++] = this.unkeyed[i];
    return m;
  }

  /** Stable content hash (cache key for trained ensembles). */
  hash(): string {
    const h = createHash('sha256');
    h.update(new Uint8Array(this.litStart.buffer));
    h.update(new Uint8Array(this.litBit.buffer));
    h.update(this.litVal);
    h.update(new Uint8Array(this.outStart.buffer));
    h.update(new Uint8Array(this.outBit.buffer));
    h.update(`${this.outputSize}/${this.padding}`);
    return h.digest('hex').slice(0, 16);
  }
}

/** Per-node data an instruction's initial state may depend on. */
export interface NodeInit {
  node: number;
  slot: number;
  isSource: boolean;
  sourceIndex: number;
  /** Slots of in-neighbours and their edge weights (directed algorithms). */
  inSlots: number[];
  inWeights: number[];
  isRoot: boolean;
}

/** A compiled local instruction. */
export interface Instruction {
  name: string;
  /** Degree bound D it was generated for and the slot count d actually used. */
  D: number;
  l: number;
  slots: number;
  schema: Schema;
  table: TemplateTable;
  /** Initial computation block of a node (message block starts empty). */
  init(info: NodeInit): Uint8Array;
  /** Rounds between termination checks: 1 = stop at the first round with no change at all;
   * P > 1 = lock-step phases, stop when the result fields are unchanged over a period. */
  period: number;
  /** The computation fields compared at period boundaries (for period > 1). */
  resultFields: string[];
}

export function oneHot(schema: Schema, state: Uint8Array, name: string, i: number): void {
  state[schema.bit(name, i)] = 1;
}
