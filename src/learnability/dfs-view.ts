/**
 * DFS on a bounded-degree view that preserves the DFS visiting order: the PORT VIEW and its
 * local instruction `dfs-ports`.
 *
 * Why not the chain view of graph.ts: there a split node's helpers do not know that their owner
 * was entered, so the walk re-enters a visited node through a helper and explores its remaining
 * neighbours in the wrong place (counterexample in graph.ts and
 * test/learnability/high-degree.test.ts). The port view fixes both causes: every node is a
 * path of ports in the order the classical DFS tries its neighbours, and the instruction sweeps
 * the whole path before the walk leaves it, so that a node is visited on every port or on none.
 *
 * The view (portView). Let rank be the neighbour order of the classical DFS (certify.ts: the
 * slot colour of the graph's distance-2 colouring, ties by id; the same order as DFS at full
 * degree). A node v with neighbours u_1 < ... < u_k (by rank) becomes the path of ports
 * P(v,1) - P(v,2) - ... - P(v,k) (k = 0: one port); port P(v,i) holds exactly one original edge,
 * the one to u_i, which joins it to the port of u_i that holds v. P(v,1) keeps v's id (0..n-1);
 * the other ports are appended. Every port has at most one original ("real") edge and two path
 * links: the view has max degree 3 whatever the graph's degree, so its distance-2 colouring
 * needs at most 10 slots. Each port knows statically (its initial state, like Bellman-Ford's
 * in-edge weights) which of its slots is the real neighbour, the next and the previous port,
 * and whether it is the head or the tail of its path: the node-type features that tell path
 * links from original edges. The instruction is a local template table like the others and is
 * certified the same way (NTK or trained-ensemble predictor, every update checked against the
 * table, every node's result against the classical run).
 *
 * The walk (one token, carrying the counter c = the next discovery stamp). Modes of the token
 * holder: SD (sweep down), SU (sweep up), INC, SC (scan), FWD, PASS, BK (back).
 * - Entering v through port P(v,j) (a `fwd` message over its real edge; the root's head starts
 *   in SD): the port records `ent` (its real neighbour is v's DFS parent); SD marks ports
 *   visited down to the tail, SU marks them up to the head (P(v,1)), where INC stores disc(v) = c
 *   and increments c. So before the walk leaves v's path, every port of v is visited.
 * - SC at P(v,i): if the real neighbour's port broadcasts "unvisited" (u), FWD sends the token
 *   over the real edge (u_i is discovered with parent v); else PASS hands the token to P(v,i+1)
 *   in SC. A `ret` over the real edge (u_i's subtree done) puts P(v,i) in PASS.
 * - PASS at the tail turns into BK, which climbs to the entry port; it returns the token over
 *   its real edge (`ret`); at the root's head (no entry port) the walk is done.
 *
 * Claim: the GNN run on the port view discovers the original nodes in the order of the
 * classical DFS of the original graph with neighbours tried by rank, with the same discovery
 * stamps and parents (parent = owner of the entry port's real neighbour).
 * Proof (induction over the classical DFS's steps). Invariants whenever the token is in SC at
 * some port: (a) the set of nodes whose ports are visited is exactly the set the classical DFS
 * has discovered, and each node's ports are all visited or all unvisited; (b) the classical
 * DFS's stack is the chain of entry ports (its top is the scanning node v) and its next
 * neighbour index at v is the scanning port's index i. Initially the root's sweep marks all its
 * ports, INC stamps it 0, SC starts at P(root,1): (a), (b) hold with i = 1. A step of the
 * classical DFS at v with index i: (1) u_i undiscovered: by (a) u_i's port is unvisited, so its
 * u flag is 1 (broadcast from its state, stable since only the token holder changes state) and
 * FWD enters u_i through the port that holds v; the sweep marks all of u_i's ports and INC
 * gives u_i the next stamp, exactly as the classical DFS discovers u_i with parent v and pushes
 * it; SC resumes at P(u_i,1) = index 1 of u_i: (a), (b) hold. (2) u_i discovered: by (a) its
 * ports are visited, u = 0, PASS moves to index i + 1 (classical: skip). (3) i > k (after the
 * tail): BK climbs to the entry port and `ret` gives the token, with the counter, to the port
 * of the parent that sent it, which PASSes to its next index (classical: pop, continue at the
 * parent's next neighbour); at the root the walk ends (classical: stack empty). No other node
 * changes state meanwhile, so (a), (b) are kept and the stamps and parents coincide. Message
 * sums stay 0/1: the u flag is written in the writer's own slot (distance-2 colouring), and the
 * token channel addressed to slot c is written only by the single holder, whose neighbours have
 * distinct colours. The run ends with no token and no state change: it converges.
 * Cost: the view has sum_v max(1, deg v) = 2|E| (+ isolated nodes) ports; the walk passes each
 * port at most four times (SD, SU, SC, BK) and each real edge at most twice (fwd, ret), about
 * 3 rounds a pass. The instruction has O(d l) templates for d <= 10 slots, against O(D^2 + D l)
 * for the DFS instruction at the graph's own degree D.
 */
import { makeGraph, type LearnGraph } from './graph.ts';
import { incrementTemplates } from './instructions.ts';
import { Schema, TemplateBuilder, TemplateTable, type Instruction, type Literal, type NodeInit } from './templates.ts';

/** The port view of a graph (see the module header). */
export interface PortView {
  graph: LearnGraph;
  /** view node -> original node (ports of v map to v). */
  owner: Int32Array;
  /** view node -> the port at the other end of its real edge, -1 if none. */
  real: Int32Array;
  /** view node -> next / previous port on its owner's path, -1 at the tail / head. */
  next: Int32Array;
  prev: Int32Array;
  /** Number of ports added beyond the original nodes. */
  helpers: number;
}

/** Builds the port view of g, ports in the order of `rank` (ties by id). Sources keep their ids. */
export function portView(g: LearnGraph, rank: ArrayLike<number>): PortView {
  const owner: number[] = Array.from({ length: g.n }, (_, i) => i);
  const ports: number[][] = [];
  const pos: Map<number, number>[] = [];
  for (let v = 0; v < g.n; v++) {
    const nb = [...g.adj[v]].sort((x, y) => rank[x] - rank[y] || x - y);
    const ps = [v];
    for (let i = 1; i < nb.length; i++) {
      ps.push(owner.length);
      owner.push(v);
    }
    ports.push(ps);
    pos.push(new Map(nb.map((u, i) => [u, i])));
  }
  const N = owner.length;
  const real = new Int32Array(N).fill(-1);
  const next = new Int32Array(N).fill(-1);
  const prev = new Int32Array(N).fill(-1);
  const edges: [number, number, number][] = [];
  for (let v = 0; v < g.n; v++) {
    const ps = ports[v];
    for (let i = 0; i + 1 < ps.length; i++) {
      next[ps[i]] = ps[i + 1];
      prev[ps[i + 1]] = ps[i];
      edges.push([ps[i], ps[i + 1], 1]);
    }
    for (const [u, i] of pos[v]) {
      const a = ps[i];
      const b = ports[u][pos[u].get(v)!];
      real[a] = b;
      if (v < u) edges.push([a, b, 1]);
    }
  }
  const names = owner.map((o, i) => (i < g.n ? g.names[i] : `${g.names[o]}#port${i}`));
  return { graph: makeGraph(N, edges, g.sources, names), owner: Int32Array.from(owner), real, next, prev, helpers: N - g.n };
}

/** The static per-port features of the instruction's initial state. */
export interface PortInit {
  /** Slots (colours) of the real neighbour, the next and the previous port; -1 if none. */
  realSlot: number;
  nextSlot: number;
  prevSlot: number;
  head: boolean;
  tail: boolean;
}

/** The features of every port of `pv` under the view's colouring. */
export function portInits(pv: PortView, colour: ArrayLike<number>): PortInit[] {
  const at = (x: number) => (x >= 0 ? colour[x] : -1);
  return Array.from({ length: pv.graph.n }, (_, v) => ({
    realSlot: at(pv.real[v]), nextSlot: at(pv.next[v]), prevSlot: at(pv.prev[v]), head: pv.prev[v] < 0, tail: pv.next[v] < 0,
  }));
}

const one = (b: number): Literal => [b, 1];
const zero = (b: number): Literal => [b, 0];
const MODES = ['SD', 'SU', 'INC', 'SC', 'FWD', 'PASS', 'BK'] as const;

/**
 * The `dfs-ports` instruction on the port view (module header). State: slot[d], realS[d],
 * nextS[d], prevS[d] (one-hot static links), head, tail, noReal, vis, ent, done, the holder's
 * mode (one of SD SU INC SC FWD PASS BK), disc[l], cnt[l]. Message record of slot c: u (the node
 * coloured c is unvisited, written by it) and the token channel addressed to the neighbour
 * coloured c: fwd, ret (over real edges), sd, su, sc, bk (along paths), n[l] (the counter).
 * `ports(node)` gives the static features of a view node (undefined: template counting only).
 */
export function dfsPortsInstruction(D: number, l: number, d: number, ports?: (node: number) => PortInit): Instruction {
  if (!(Number.isInteger(l) && l >= 1 && l <= 30)) throw new Error(`precision must be 1..30 bits, got ${l}`);
  if (!(Number.isInteger(d) && d >= 1 && d <= D * D + 1)) throw new Error(`slot count ${d} outside 1..D^2+1 = ${D * D + 1}`);
  const sc = new Schema(
    [
      { name: 'slot', width: d }, { name: 'realS', width: d }, { name: 'nextS', width: d }, { name: 'prevS', width: d },
      { name: 'head', width: 1 }, { name: 'tail', width: 1 }, { name: 'noReal', width: 1 }, { name: 'vis', width: 1 }, { name: 'ent', width: 1 }, { name: 'done', width: 1 },
      ...MODES.map((name) => ({ name, width: 1 })), { name: 'disc', width: l }, { name: 'cnt', width: l },
    ],
    [{ name: 'u', width: 1 }, { name: 'fwd', width: 1 }, { name: 'ret', width: 1 }, { name: 'sd', width: 1 }, { name: 'su', width: 1 }, { name: 'sc', width: 1 }, { name: 'bk', width: 1 }, { name: 'n', width: l }],
    d,
  );
  const B = (f: string, i = 0) => sc.bit(f, i);
  const M = (c: number, f: string, i = 0) => sc.msg(c, f, i);
  const cnt = Array.from({ length: l }, (_, i) => B('cnt', i));
  const tb = new TemplateBuilder();
  // static registers and results
  for (const f of ['slot', 'realS', 'nextS', 'prevS']) for (let c = 0; c < d; c++) tb.add([one(B(f, c))], [B(f, c)]);
  for (const f of ['head', 'tail', 'noReal', 'vis', 'ent', 'done']) tb.add([one(B(f))], [B(f)]);
  for (let i = 0; i < l; i++) tb.add([one(B('disc', i))], [B('disc', i)]);
  for (let s = 0; s < d; s++) tb.add([one(B('slot', s)), zero(B('vis'))], [M(s, 'u')]);
  /** the holder in `mode` (with `guard`) sends message `kind` and the counter to the neighbour
   * whose slot is one-hot in `link` */
  const send = (mode: string, guard: Literal[], link: string, kind: string) => {
    for (let c = 0; c < d; c++) {
      const pre: Literal[] = [one(B(mode)), one(B(link, c)), ...guard];
      tb.add(pre, [M(c, kind)]);
      for (let i = 0; i < l; i++) tb.add([...pre, one(cnt[i])], [M(c, 'n', i)]);
    }
  };
  /** the holder stays the holder, switching to mode `to`; the counter is kept */
  const stay = (mode: string, guard: Literal[], to: string, keepCnt = true) => {
    tb.add([one(B(mode)), ...guard], [B(to)]);
    if (keepCnt) for (let i = 0; i < l; i++) tb.add([one(B(mode)), ...guard, one(cnt[i])], [cnt[i]]);
  };
  // sweep down to the tail, then up to the head
  send('SD', [], 'nextS', 'sd');
  send('SD', [one(B('tail'))], 'prevS', 'su');
  stay('SD', [one(B('tail')), one(B('head'))], 'INC');
  send('SU', [], 'prevS', 'su');
  stay('SU', [one(B('head'))], 'INC');
  // at the head: disc = c, c = c + 1, start scanning
  for (let i = 0; i < l; i++) tb.add([one(B('INC')), one(cnt[i])], [B('disc', i)]);
  incrementTemplates(tb, [one(B('INC'))], cnt, cnt);
  tb.add([one(B('INC'))], [B('SC')]);
  // scan: forward over the real edge if its port is unvisited, else pass
  for (let c = 0; c < d; c++) {
    tb.add([one(B('SC')), one(B('realS', c)), one(M(c, 'u'))], [B('FWD')]);
    tb.add([one(B('SC')), one(B('realS', c)), zero(M(c, 'u'))], [B('PASS')]);
  }
  tb.add([one(B('SC')), one(B('noReal'))], [B('PASS')]);
  for (let i = 0; i < l; i++) tb.add([one(B('SC')), one(cnt[i])], [cnt[i]]);
  send('FWD', [], 'realS', 'fwd');
  send('PASS', [], 'nextS', 'sc');
  stay('PASS', [one(B('tail'))], 'BK');
  // back up to the entry port, which returns the token to the parent; the root's head ends
  send('BK', [one(B('ent'))], 'realS', 'ret');
  send('BK', [zero(B('ent'))], 'prevS', 'bk');
  stay('BK', [one(B('head')), zero(B('ent'))], 'done', false);
  // receive: the token channel of my own slot
  const recv: [string, string[]][] = [['fwd', ['vis', 'ent', 'SD']], ['sd', ['vis', 'SD']], ['su', ['vis', 'SU']], ['sc', ['SC']], ['bk', ['BK']], ['ret', ['PASS']]];
  for (let s = 0; s < d; s++) {
    for (const [kind, outs] of recv) tb.add([one(M(s, kind)), one(B('slot', s))], outs.map((f) => B(f)));
    for (let i = 0; i < l; i++) tb.add([one(M(s, 'n', i)), one(B('slot', s))], [cnt[i]]);
  }
  return {
    name: 'dfs-ports', D, l, slots: d, schema: sc, table: new TemplateTable(tb, sc.size), period: 1, resultFields: ['vis', 'disc', 'ent'],
    init(info: NodeInit) {
      const s = new Uint8Array(sc.size);
      s[B('slot', info.slot)] = 1;
      const p = ports?.(info.node);
      if (!p) throw new Error('dfs-ports: no port features for node ' + info.node);
      if (p.realSlot >= 0) s[B('realS', p.realSlot)] = 1;
      else s[B('noReal')] = 1;
      if (p.nextSlot >= 0) s[B('nextS', p.nextSlot)] = 1;
      if (p.prevSlot >= 0) s[B('prevS', p.prevSlot)] = 1;
      if (p.head) s[B('head')] = 1;
      if (p.tail) s[B('tail')] = 1;
      if (info.isRoot) {
        if (!p.head) throw new Error('dfs-ports: the root must be a head port');
        s[B('vis')] = 1;
        s[B('SD')] = 1; // counter 0: the root's stamp
      }
      return s;
    },
  };
}

/**
 * Per original node (ids below `n`): discovery stamp (-1: not reached) and parent (-1: none),
 * read from the final state of the port-view run (`comp`: n_view x compSize).
 */
export function decodePorts(pv: PortView, n: number, instr: Instruction, comp: Uint8Array): { values: Int32Array; extra: Int32Array } {
  const sc = instr.schema;
  const cs = sc.compSize;
  const vis = sc.bit('vis');
  const ent = sc.bit('ent');
  const disc = sc.comp.get('disc')!;
  const values = new Int32Array(n).fill(-1);
  const extra = new Int32Array(n).fill(-1);
  for (let v = 0; v < n; v++) {
    if (!comp[v * cs + vis]) continue;
    let x = 0;
    for (let i = 0; i < disc.width; i++) if (comp[v * cs + disc.offset + i]) x += 2 ** i;
    values[v] = x;
  }
  for (let p = 0; p < pv.graph.n; p++) {
    const o = pv.owner[p];
    if (o < n && comp[p * cs + ent]) extra[o] = extra[o] === -1 && pv.real[p] >= 0 ? pv.owner[pv.real[p]] : -2;
  }
  return { values, extra };
}

/** Round cap of the walk: four passes of every port and two of every real edge, 3 rounds each. */
export function portRoundCap(pv: PortView): number {
  return 3 * (4 * pv.graph.n + 2 * pv.graph.n) + 20;
}
