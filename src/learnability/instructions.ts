/**
 * Template generators for the local instructions (our own encodings, documented per
 * generator). Parameters: the degree bound D (informational; the tables depend on the slot
 * count d <= D^2 + 1 of the actual distance-2 colouring) and the precision l in bits.
 *
 * Common pieces: `slot` (one-hot, the node's own colour) is kept every round and tells a node
 * where to write its broadcast; every other field is either a kept register ("keep" templates
 * {x_j = 1} -> x'_j), or recomputed from the aggregated messages.
 */
import { paddingFor } from './predictors.ts';
import { Schema, TemplateBuilder, TemplateTable, type Instruction, type Literal, type NodeInit } from './templates.ts';

const one = (b: number): Literal => [b, 1];
const zero = (b: number): Literal => [b, 0];

function newState(schema: Schema, info: NodeInit): Uint8Array {
  const s = new Uint8Array(schema.size);
  s[schema.bit('slot', info.slot)] = 1;
  return s;
}

function keepSlot(schema: Schema, tb: TemplateBuilder): void {
  for (let s = 0; s < schema.slots; s++) tb.add([one(schema.bit('slot', s))], [schema.bit('slot', s)]);
}

export function checkParams(D: number, l: number, d: number): void {
  if (!(Number.isInteger(D) && D >= 0)) throw new Error(`degree bound must be a non-negative integer, got ${D}`);
  if (!(Number.isInteger(l) && l >= 1 && l <= 30)) throw new Error(`precision must be 1..30 bits, got ${l}`);
  if (!(Number.isInteger(d) && d >= 1 && d <= D * D + 1)) throw new Error(`slot count ${d} outside 1..D^2+1 = ${D * D + 1}`);
}

/**
 * Message flooding (OR-flood). State: slot[d], got, val[l]; message: ok, x[l].
 * A node that holds the message keeps it and broadcasts it in its slot; every node ORs the
 * messages in all slots into its own (bit by bit, for the bits it does not hold yet). Ends with the OR of the messages of all sources in the
 * node's component (= reachability for one source). Templates: 2dl + 3d + l + 1.
 * Rounds: 2 per hop (receive, then broadcast) + 1 to confirm the fixed point.
 */
export function floodingInstruction(D: number, l: number, d: number, messages: number[] = [1]): Instruction {
  checkParams(D, l, d);
  const sc = new Schema([{ name: 'slot', width: d }, { name: 'got', width: 1 }, { name: 'val', width: l }], [{ name: 'ok', width: 1 }, { name: 'x', width: l }], d);
  const tb = new TemplateBuilder();
  keepSlot(sc, tb);
  tb.add([one(sc.bit('got'))], [sc.bit('got')]);
  for (let i = 0; i < l; i++) tb.add([one(sc.bit('val', i))], [sc.bit('val', i)]);
  for (let s = 0; s < d; s++) {
    tb.add([one(sc.bit('got')), one(sc.bit('slot', s))], [sc.msg(s, 'ok')]);
    for (let i = 0; i < l; i++) tb.add([one(sc.bit('val', i)), one(sc.bit('slot', s))], [sc.msg(s, 'x', i)]);
  }
  // receive, gated per bit on the bit still being 0: once set, a bit is held by its keep
  // template alone, which keeps the number of matched templates m small
  for (let c = 0; c < d; c++) {
    tb.add([one(sc.msg(c, 'ok')), zero(sc.bit('got'))], [sc.bit('got')]);
    for (let i = 0; i < l; i++) tb.add([one(sc.msg(c, 'x', i)), zero(sc.bit('val', i))], [sc.bit('val', i)]);
  }
  return {
    name: 'flooding', D, l, slots: d, schema: sc, table: new TemplateTable(tb, sc.size), period: 1, resultFields: ['got', 'val'],
    init(info) {
      const s = newState(sc, info);
      if (info.isSource) {
        s[sc.bit('got')] = 1;
        sc.writeNumber(s, 'val', messages[info.sourceIndex] ?? 1);
      }
      return s;
    },
  };
}

/**
 * Increment templates on an l-bit little-endian number read from bits `x`: for the first zero
 * position j (x_0..x_{j-1} = 1, x_j = 0) the result has bit j set, bits below cleared and bits
 * above copied. Exactly one pattern matches any value other than all-ones, so at most l
 * templates match. `guard` literals are prepended; results go to bits `y`.
 */
export function incrementTemplates(tb: TemplateBuilder, guard: Literal[], x: number[], y: number[]): void {
  const l = x.length;
  for (let j = 0; j < l; j++) {
    const pat: Literal[] = [...guard];
    for (let k = 0; k < j; k++) pat.push(one(x[k]));
    pat.push(zero(x[j]));
    tb.add(pat, [y[j]]);
    for (let k = j + 1; k < l; k++) tb.add([...pat, one(x[k])], [y[k]]);
  }
}

/**
 * BFS distances (hop counts). State: slot[d], vis, fresh, dist[l], nxt[l]; message: ok, x[l].
 * Layer-synchronous, two rounds per layer: a node reached in round r copies the heard value
 * into dist (gated on vis = 0, so later messages are ignored) and sets `fresh`; in round r+1
 * it computes nxt = dist + 1 (increment templates on its own register); from then on it
 * broadcasts ok + nxt in its slot. All first messages reaching a node come from the same BFS
 * layer, so dist equals the sequential queue BFS distance. Unvisited = infinity.
 * Splitting receive (copy, d + 1 writers per dist bit) from increment (<= l + 1 writers per
 * nxt bit) keeps the number of templates writing one bit small, which the NTK predictor needs
 * (its interference term grows with the writers of a bit).
 * Rounds: 3 per layer (receive, increment, broadcast). Needs max distance <= 2^l - 2.
 */
export function bfsInstruction(D: number, l: number, d: number): Instruction {
  checkParams(D, l, d);
  const sc = new Schema(
    [{ name: 'slot', width: d }, { name: 'vis', width: 1 }, { name: 'fresh', width: 1 }, { name: 'dist', width: l }, { name: 'nxt', width: l }],
    [{ name: 'ok', width: 1 }, { name: 'x', width: l }],
    d,
  );
  const tb = new TemplateBuilder();
  keepSlot(sc, tb);
  tb.add([one(sc.bit('vis'))], [sc.bit('vis')]);
  for (let i = 0; i < l; i++) tb.add([one(sc.bit('dist', i))], [sc.bit('dist', i)]);
  for (let s = 0; s < d; s++) {
    tb.add([one(sc.bit('vis')), one(sc.bit('slot', s)), zero(sc.bit('fresh'))], [sc.msg(s, 'ok')]);
    for (let i = 0; i < l; i++) tb.add([one(sc.bit('nxt', i)), one(sc.bit('slot', s))], [sc.bit('nxt', i), sc.msg(s, 'x', i)]);
  }
  const dist = Array.from({ length: l }, (_, i) => sc.bit('dist', i));
  const nxt = Array.from({ length: l }, (_, i) => sc.bit('nxt', i));
  incrementTemplates(tb, [one(sc.bit('fresh'))], dist, nxt);
  for (let c = 0; c < d; c++) {
    const guard: Literal[] = [one(sc.msg(c, 'ok')), zero(sc.bit('vis'))];
    tb.add(guard, [sc.bit('vis'), sc.bit('fresh')]);
    for (let i = 0; i < l; i++) tb.add([one(sc.msg(c, 'x', i)), ...guard], [dist[i]]);
  }
  return {
    name: 'bfs', D, l, slots: d, schema: sc, table: new TemplateTable(tb, sc.size), period: 1, resultFields: ['vis', 'dist'],
    init(info) {
      const s = newState(sc, info);
      if (info.isSource) {
        s[sc.bit('vis')] = 1;
        s[sc.bit('fresh')] = 1;
      }
      return s;
    },
  };
}

/**
 * DFS token walk with discovery time stamps. State: slot[d], vis, tok, inc, root, done,
 * par[d] (one-hot parent slot), disc[l], cnt[l] (next stamp, travels with the token).
 * Message record of slot c: u (the neighbour coloured c is unvisited: written by that
 * neighbour) and the token channel ADDRESSED TO the neighbour coloured c: fwd, ret, from[d]
 * (sender's slot), n[l] (counter). Only the token holder writes the token channel, and only
 * its addressee has colour c among the holder's neighbours (distance-2 colouring), so sums
 * stay 0/1 and a receiver reads just its own slot's record: O(d) templates write any bit.
 * The holder (tok, inc = 0) forwards to its lowest-slot unvisited neighbour with the
 * counter, or returns it to its parent, or (root) finishes. A receiver of a forward stores
 * disc = cnt = counter, records the sender's slot as parent and spends one round (inc)
 * incrementing cnt; a receiver of a return takes the counter back. Neighbours are ordered by
 * slot colour. Rounds ~ 3 per forward move + 2 per return. Needs n <= 2^l - 1.
 */
export function dfsInstruction(D: number, l: number, d: number): Instruction {
  checkParams(D, l, d);
  const sc = new Schema(
    [
      { name: 'slot', width: d }, { name: 'vis', width: 1 }, { name: 'tok', width: 1 }, { name: 'inc', width: 1 }, { name: 'root', width: 1 },
      { name: 'done', width: 1 }, { name: 'par', width: d }, { name: 'disc', width: l }, { name: 'cnt', width: l },
    ],
    [{ name: 'u', width: 1 }, { name: 'fwd', width: 1 }, { name: 'ret', width: 1 }, { name: 'from', width: d }, { name: 'n', width: l }],
    d,
  );
  const tb = new TemplateBuilder();
  const B = (f: string, i = 0) => sc.bit(f, i);
  keepSlot(sc, tb);
  for (const f of ['vis', 'root', 'done']) tb.add([one(B(f))], [B(f)]);
  for (let i = 0; i < l; i++) tb.add([one(B('disc', i))], [B('disc', i)]);
  for (let c = 0; c < d; c++) tb.add([one(B('par', c))], [B('par', c)]);
  for (let s = 0; s < d; s++) tb.add([one(B('slot', s)), zero(B('vis'))], [sc.msg(s, 'u')]);
  // increment round
  tb.add([one(B('inc')), one(B('tok'))], [B('tok')]);
  incrementTemplates(tb, [one(B('inc'))], Array.from({ length: l }, (_, i) => B('cnt', i)), Array.from({ length: l }, (_, i) => B('cnt', i)));
  // decide round (tok = 1, inc = 0). The holder's own u flag is 0 (it is visited).
  const me: Literal[] = [one(B('tok')), zero(B('inc'))];
  for (let c = 0; c < d; c++) {
    const pick: Literal[] = [...me, one(sc.msg(c, 'u'))];
    for (let c2 = 0; c2 < c; c2++) pick.push(zero(sc.msg(c2, 'u')));
    tb.add(pick, [sc.msg(c, 'fwd')]);
    for (let s = 0; s < d; s++) if (s !== c) tb.add([one(B('slot', s)), ...pick], [sc.msg(c, 'from', s)]);
    for (let i = 0; i < l; i++) tb.add([one(B('cnt', i)), ...pick], [sc.msg(c, 'n', i)]);
  }
  const none: Literal[] = [...me, ...Array.from({ length: d }, (_, c) => zero(sc.msg(c, 'u')))];
  for (let p = 0; p < d; p++) {
    tb.add([one(B('par', p)), ...none], [sc.msg(p, 'ret')]);
    for (let i = 0; i < l; i++) tb.add([one(B('cnt', i)), one(B('par', p)), ...none], [sc.msg(p, 'n', i)]);
  }
  tb.add([one(B('root')), ...none], [B('done')]);
  // receive: the token channel of my own slot
  for (let s = 0; s < d; s++) {
    const mine: Literal = one(B('slot', s));
    tb.add([one(sc.msg(s, 'fwd')), mine], [B('vis'), B('tok'), B('inc')]);
    tb.add([one(sc.msg(s, 'ret')), mine], [B('tok')]);
    for (let c = 0; c < d; c++) if (c !== s) tb.add([one(sc.msg(s, 'from', c)), one(sc.msg(s, 'fwd')), mine], [B('par', c)]);
    for (let i = 0; i < l; i++) {
      tb.add([one(sc.msg(s, 'n', i)), mine], [B('cnt', i)]);
      tb.add([one(sc.msg(s, 'n', i)), one(sc.msg(s, 'fwd')), mine], [B('disc', i)]);
    }
  }
  return {
    name: 'dfs', D, l, slots: d, schema: sc, table: new TemplateTable(tb, sc.size), period: 1, resultFields: ['vis', 'disc', 'par'],
    init(info) {
      const s = newState(sc, info);
      if (info.isRoot) {
        // the root starts in its increment round (cnt 0 -> 1) so that every neighbour's
        // first broadcast (its `u` flag) is in place when it first decides
        s[B('vis')] = 1;
        s[B('tok')] = 1;
        s[B('inc')] = 1;
        s[B('root')] = 1;
      }
      return s;
    },
  };
}

/**
 * Bellman-Ford with bounded integer weights, synchronous relaxation in lock-step phases with
 * bit-serial arithmetic. State: slot[d], in[d] (slot is an in-neighbour), w[d*wb] (in-edge
 * weights, wb <= l bits), ph[P] (one-hot phase), dist[l], fin (finite), s[d*l] (candidate sums), car[d],
 * alive[d*(l+1)], aself[l+1] (live flags per bit position), any0[l] (one flag per bit
 * position; per-position registers keep the number of templates writing one bit small),
 * mn[l] (the minimum, bit by bit);
 * message: fin, x[l].
 * Phases per iteration (P = 3l + 2): A_0..A_{l-1} add x[c] + w[c] LSB first into s[c] with
 * per-slot carries (the last one drops candidates that overflow or come from non-finite or
 * non-in slots); then for bit i = l-1..0, Any_i (is there a live candidate with bit 0?) and
 * Elim_i (drop live candidates with bit 1 if so): the survivors hold the minimum of the own
 * distance and all candidates, whose bits are recorded in mn as they are decided; Write copies
 * mn to dist (all ones = infinity: fin cleared); Sync broadcasts it.
 * Termination: an iteration that changes no distance (checked at period boundaries).
 */
export function bellmanFordInstruction(D: number, l: number, d: number, weightBits = l): Instruction {
  checkParams(D, l, d);
  const wb = Math.min(l, Math.max(1, weightBits));
  const P = 3 * l + 2;
  const A = (i: number) => i;
  const ANY = (i: number) => l + 2 * (l - 1 - i);
  const ELIM = (i: number) => ANY(i) + 1;
  const W = 3 * l;
  const SYNC = 3 * l + 1;
  const sc = new Schema(
    [
      { name: 'slot', width: d }, { name: 'in', width: d }, { name: 'w', width: d * wb }, { name: 'ph', width: P }, { name: 'dist', width: l },
      { name: 'fin', width: 1 }, { name: 's', width: d * l }, { name: 'car', width: d }, { name: 'alive', width: d * (l + 1) }, { name: 'aself', width: l + 1 },
      { name: 'any0', width: l }, { name: 'mn', width: l },
    ],
    [{ name: 'fin', width: 1 }, { name: 'x', width: l }],
    d,
  );
  const B = (f: string, i = 0) => sc.bit(f, i);
  const S = (c: number, i: number) => B('s', c * l + i);
  const Wt = (c: number, i: number) => B('w', c * wb + i);
  const ph = (k: number) => B('ph', k);
  // alive(c, i): candidate c still live after eliminating on bits >= i (i = l: before any)
  const AL = (c: number, i: number) => B('alive', c * (l + 1) + i);
  const AS = (i: number) => B('aself', i);
  const tb = new TemplateBuilder();
  keepSlot(sc, tb);
  for (let k = 0; k < P; k++) tb.add([one(ph(k))], [ph((k + 1) % P)]);
  for (let c = 0; c < d; c++) {
    tb.add([one(B('in', c))], [B('in', c)]);
    // the static weight register is kept by one template per non-zero value (one match per slot)
    for (const pat of enumerate(wb)) {
      if (pat.every((b) => b === 0)) continue;
      const lits: Literal[] = pat.map((b, i) => [Wt(c, i), b as 0 | 1]);
      tb.add([...lits.filter(([, v]) => v === 1), ...lits.filter(([, v]) => v === 0)], pat.flatMap((b, i) => (b ? [Wt(c, i)] : [])));
    }
  }
  for (let s = 0; s < d; s++) {
    tb.add([one(B('fin')), one(B('slot', s))], [sc.msg(s, 'fin')]);
    for (let i = 0; i < l; i++) tb.add([one(B('dist', i)), one(B('slot', s))], [sc.msg(s, 'x', i)]);
  }
  for (let i = 0; i < l; i++) tb.add([one(B('dist', i)), zero(ph(W))], [B('dist', i)]);
  tb.add([one(B('fin')), zero(ph(W))], [B('fin')]);
  for (let c = 0; c < d; c++) for (let i = 0; i < l; i++) tb.add([one(S(c, i)), zero(ph(W))], [S(c, i)]);
  // bit-serial add (only in-slots compute candidates; weights have wb <= l bits)
  for (let i = 0; i < l; i++) {
    for (let c = 0; c < d; c++) {
      const x = sc.msg(c, 'x', i);
      const cy = B('car', c);
      const p: Literal = one(ph(A(i)));
      const inc: Literal = one(B('in', c));
      // operand pairs: with a weight bit (i < wb) the full adder, else a half adder
      const ops: number[] = i < wb ? [x, Wt(c, i), cy] : [x, cy];
      const odd = (bits: number[]) => bits.reduce((a, b) => a + b, 0) % 2 === 1;
      const pats = enumerate(ops.length);
      for (const pat of pats) if (odd(pat)) tb.add(order(ops.map((b, k) => [b, pat[k] as 0 | 1]), inc, p), [S(c, i)]);
      if (i < l - 1) {
        for (let a = 0; a < ops.length; a++) for (let b = a + 1; b < ops.length; b++) tb.add([one(ops[a]), one(ops[b]), inc, p], [cy]);
      } else {
        // no carry out (at most one operand set), finite sender, in-edge -> candidate
        const guard: Literal[] = [inc, one(sc.msg(c, 'fin'))];
        for (const pat of pats) if (pat.reduce((a, b) => a + b, 0) <= 1) tb.add([...guard, ...ops.map((b, k) => [b, pat[k] as 0 | 1] as Literal), p], [AL(c, l)]);
      }
    }
  }
  tb.add([one(B('fin')), one(ph(A(l - 1)))], [AS(l)]);
  // minimum by elimination, MSB first; one live-flag register per bit position so that each
  // flag has at most 4 writers (keep in Any_i, two ways to survive Elim_i, or the init). The
  // minimum's bit i is known at Elim_i: mn_i = NOT any0[i] (all ones = no live candidate =
  // infinity), so Write copies mn into dist with one template per bit.
  for (let i = l - 1; i >= 0; i--) {
    const pa = one(ph(ANY(i)));
    const pe = one(ph(ELIM(i)));
    tb.add([one(AS(i + 1)), pa, zero(B('dist', i))], [B('any0', i)]);
    tb.add([one(AS(i + 1)), pa], [AS(i + 1)]);
    tb.add([pe, zero(B('any0', i))], [B('mn', i)]);
    if (i > 0) {
      tb.add([one(AS(i + 1)), pe, zero(B('dist', i))], [AS(i)]);
      tb.add([one(AS(i + 1)), pe, zero(B('any0', i))], [AS(i)]);
    }
    for (let c = 0; c < d; c++) {
      tb.add([one(AL(c, i + 1)), pa, zero(S(c, i))], [B('any0', i)]);
      tb.add([one(AL(c, i + 1)), pa], [AL(c, i + 1)]);
      if (i > 0) {
        tb.add([one(AL(c, i + 1)), pe, zero(S(c, i))], [AL(c, i)]);
        tb.add([one(AL(c, i + 1)), pe, zero(B('any0', i))], [AL(c, i)]);
      }
    }
  }
  for (let j = 0; j < l; j++) tb.add([one(B('mn', j)), zero(ph(W))], [B('mn', j)]);
  // write: dist = mn, finite unless mn is all ones
  const pw = one(ph(W));
  for (let j = 0; j < l; j++) {
    tb.add([one(B('mn', j)), pw], [B('dist', j)]);
    tb.add([pw, zero(B('mn', j))], [B('fin')]);
  }
  void SYNC;
  return {
    name: 'bellman-ford', D, l, slots: d, schema: sc, table: new TemplateTable(tb, sc.size), period: P, resultFields: ['fin', 'dist'],
    init(info) {
      const s = newState(sc, info);
      s[ph(SYNC)] = 1;
      info.inSlots.forEach((c, k) => {
        s[B('in', c)] = 1;
        const wv = info.inWeights[k];
        if (!(wv >= 0 && wv < 2 ** wb)) throw new Error(`edge weight ${wv} does not fit in ${wb} bits`);
        for (let i = 0; i < wb; i++) s[Wt(c, i)] = Math.floor(wv / 2 ** i) % 2;
      });
      if (info.isSource) s[B('fin')] = 1;
      return s;
    },
  };
}

/** Literal list with the positive data literals first (they key the match index), guards last. */
function order(lits: [number, 0 | 1][], ...guards: Literal[]): Literal[] {
  return [...lits.filter(([, v]) => v === 1), ...guards, ...lits.filter(([, v]) => v === 0)] as Literal[];
}

function enumerate(k: number): number[][] {
  return Array.from({ length: 2 ** k }, (_, a) => Array.from({ length: k }, (_, j) => (a >> j) & 1));
}

/**
 * A generic LOCAL-model step on the same machinery: the update is given as local Boolean
 * rules, each reading a few state bits (own fields and/or per-slot message bits) and
 * producing some output bits. Each rule is compiled by enumerating the assignments of the
 * bits it reads: one template (a full assignment of those bits) per assignment with a non-zero
 * result. Rules writing the same output bit are OR-ed. Rule sizes are bounded by `maxRead`
 * (2^maxRead templates per rule).
 */
export interface LocalRule {
  reads: number[];
  writes: number[];
  fn: (bits: number[]) => number[];
}

export function localInstruction(opts: {
  name?: string; D: number; l: number; slots: number; schema: Schema; rules: LocalRule[]; init: (info: NodeInit) => Uint8Array; maxRead?: number; resultFields: string[]; eps?: number;
}): Instruction {
  const maxRead = opts.maxRead ?? 12;
  const tb = new TemplateBuilder();
  for (const r of opts.rules) {
    if (r.reads.length > maxRead) throw new Error(`LOCAL rule reads ${r.reads.length} bits (> ${maxRead})`);
    for (let a = 0; a < 2 ** r.reads.length; a++) {
      const bits = r.reads.map((_, k) => (a >> k) & 1);
      const res = r.fn(bits);
      const outs = r.writes.filter((_, k) => res[k]);
      const lits: Literal[] = r.reads.map((b, k) => [b, bits[k] as 0 | 1]);
      if (outs.length) tb.add([...lits.filter(([, v]) => v === 1), ...lits.filter(([, v]) => v === 0)], outs);
    }
  }
  const table = new TemplateTable(tb, opts.schema.size);
  // Truth tables can write one output bit from many assignments; each rule matches exactly one
  // of its templates, so m <= number of rules, and the table is padded until the closed form
  // is exact for every m up to that.
  table.padding = paddingFor(table, opts.rules.length, opts.eps ?? 5e-3);
  return { name: opts.name ?? 'local', D: opts.D, l: opts.l, slots: opts.slots, schema: opts.schema, table, period: 1, resultFields: opts.resultFields, init: opts.init };
}
