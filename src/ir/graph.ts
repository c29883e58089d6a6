/**
 * The IR: a model holds one main graph of operator nodes connected by named values, as in
 * ONNX. Edges are value names (a node lists its input/output value names); the producer and
 * consumer index, the topological order and the graphology view are derived on demand and
 * cached, and every mutation goes through the helpers here so that the caches are dropped.
 *
 * Losslessness: every IR object has an opaque `carry` slot where the ONNX reader keeps the
 * fields the IR does not model (doc strings, metadata, unknown protobuf fields, subgraphs'
 * exact encoding). Passes never look inside it; writers put it back.
 *
 * The IR knows nothing about passes. Analyses (shapes, costs) attach to a graph through
 * `Graph.analysis(key, compute)` and are invalidated by any mutation.
 */
import { MultiDirectedGraph } from 'graphology';
import { Tensor } from './tensor.ts';
import type { DataTypeCode } from './dtype.ts';
import { badInput, internal } from '../errors.ts';

/** A dimension: a number, a symbolic name (dim_param), or undefined (unknown). */
export type Dim = number | string | undefined;

/** A value's element type and shape (dims numeric, symbolic or unknown). */
export interface TensorType {
  elemType: DataTypeCode;
  /** undefined = rank unknown. */
  shape?: Dim[];
}

/** A typed value declaration (graph input/output, value_info). */
export interface ValueInfo {
  name: string;
  /** Absent for non-tensor types (sequences, maps, optionals), which stay in `carry`. */
  type?: TensorType;
  carry?: unknown;
}

/** A node attribute, tagged by its ONNX type. */
export type Attribute =
  | { name: string; type: 'float'; value: number; carry?: unknown }
  | { name: string; type: 'int'; value: bigint; carry?: unknown }
  | { name: string; type: 'string'; value: Uint8Array; carry?: unknown }
  | { name: string; type: 'tensor'; value: Tensor; carry?: unknown }
  | { name: string; type: 'graph'; value: Graph; carry?: unknown }
  | { name: string; type: 'floats'; value: number[]; carry?: unknown }
  | { name: string; type: 'ints'; value: bigint[]; carry?: unknown }
  | { name: string; type: 'strings'; value: Uint8Array[]; carry?: unknown }
  | { name: string; type: 'tensors'; value: Tensor[]; carry?: unknown }
  | { name: string; type: 'graphs'; value: Graph[]; carry?: unknown }
  /** Anything else (sparse tensors, type protos, ref_attr_name-only): kept verbatim. */
  | { name: string; type: 'opaque'; value: unknown; carry?: unknown };

/** Op types whose attributes hold subgraphs that run as part of the node (ONNX control flow). */
export const CONTROL_FLOW_OPS: ReadonlySet<string> = new Set(['If', 'Loop', 'Scan']);

/** A node of the IR: op type and domain, input and output value names, attributes. */
export class Node {
  name: string;
  opType: string;
  domain: string;
  /** Input value names; '' marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attributes: Attribute[];
  carry?: unknown;

  constructor(init: { name: string; opType: string; domain?: string; inputs: string[]; outputs: string[]; attributes?: Attribute[]; carry?: unknown }) {
    this.name = init.name;
    this.opType = init.opType;
    this.domain = init.domain ?? '';
    this.inputs = init.inputs;
    this.outputs = init.outputs;
    this.attributes = init.attributes ?? [];
    this.carry = init.carry;
  }

  attr(name: string): Attribute | undefined {
    return this.attributes.find((a) => a.name === name);
  }

  /** INT attribute as a JS number (fallback when absent). */
  attrInt(name: string, fallback: number): number;
  attrInt(name: string): number | undefined;
  attrInt(name: string, fallback?: number): number | undefined {
    const a = this.attr(name);
    if (!a) return fallback;
    if (a.type !== 'int') throw badInput(`node '${this.name}' (${this.opType}): attribute '${name}' should be an int`);
    return Number(a.value);
  }

  attrFloat(name: string, fallback: number): number;
  attrFloat(name: string): number | undefined;
  attrFloat(name: string, fallback?: number): number | undefined {
    const a = this.attr(name);
    if (!a) return fallback;
    if (a.type !== 'float') throw badInput(`node '${this.name}' (${this.opType}): attribute '${name}' should be a float`);
    return a.value;
  }

  attrInts(name: string, fallback: number[]): number[];
  attrInts(name: string): number[] | undefined;
  attrInts(name: string, fallback?: number[]): number[] | undefined {
    const a = this.attr(name);
    if (!a) return fallback;
    if (a.type !== 'ints') throw badInput(`node '${this.name}' (${this.opType}): attribute '${name}' should be a list of ints`);
    return a.value.map(Number);
  }

  attrFloats(name: string, fallback?: number[]): number[] | undefined {
    const a = this.attr(name);
    if (!a) return fallback;
    if (a.type !== 'floats') throw badInput(`node '${this.name}' (${this.opType}): attribute '${name}' should be a list of floats`);
    return a.value;
  }

  attrString(name: string, fallback: string): string;
  attrString(name: string): string | undefined;
  attrString(name: string, fallback?: string): string | undefined {
    const a = this.attr(name);
    if (!a) return fallback;
    if (a.type !== 'string') throw badInput(`node '${this.name}' (${this.opType}): attribute '${name}' should be a string`);
    return new TextDecoder().decode(a.value);
  }

  /** The subgraphs held by this node's attributes (If branches, Loop/Scan bodies), in
   * attribute order. Empty for ordinary nodes. */
  subgraphs(): Graph[] {
    const res: Graph[] = [];
    for (const a of this.attributes) {
      if (a.type === 'graph') res.push(a.value);
      else if (a.type === 'graphs') res.push(...a.value);
    }
    return res;
  }

  /** The subgraphs with the attribute holding each: `then_branch`, `body`, `branches[k]` for a
   * graph list. The attribute names a subgraph in its path from the main graph (`subgraphPath`),
   * as the plan, the schedule's coverage and the embedded groups name it. */
  namedSubgraphs(): { attribute: string; graph: Graph }[] {
    const res: { attribute: string; graph: Graph }[] = [];
    for (const a of this.attributes) {
      if (a.type === 'graph') res.push({ attribute: a.name, graph: a.value });
      else if (a.type === 'graphs') a.value.forEach((graph, k) => res.push({ attribute: `${a.name}[${k}]`, graph }));
    }
    return res;
  }

  /** Values of the enclosing graph that this node's subgraphs read by name (ONNX outer-scope
   * references): data dependencies exactly like `inputs`, though not listed there. */
  implicitInputs(): string[] {
    const subs = this.subgraphs();
    if (!subs.length) return [];
    const res = new Set<string>();
    for (const g of subs) for (const v of g.outerReads()) res.add(v);
    return [...res];
  }

  /** Sets (replaces or adds) an attribute. */
  setAttr(a: Attribute): void {
    const i = this.attributes.findIndex((x) => x.name === a.name);
    if (i >= 0) this.attributes[i] = a;
    else this.attributes.push(a);
  }
}

/** Whether a node holds a subgraph (`n.subgraphs().length > 0` without building the list). */
function hasSubgraph(n: Node): boolean {
  for (const a of n.attributes) if (a.type === 'graph' || (a.type === 'graphs' && a.value.length)) return true;
  return false;
}

/** Attribute constructors for passes that create nodes. */
export const attr = {
  int: (name: string, v: number): Attribute => ({ name, type: 'int', value: BigInt(v) }),
  ints: (name: string, v: number[]): Attribute => ({ name, type: 'ints', value: v.map((x) => BigInt(x)) }),
  float: (name: string, v: number): Attribute => ({ name, type: 'float', value: v }),
  floats: (name: string, v: number[]): Attribute => ({ name, type: 'floats', value: v }),
  string: (name: string, v: string): Attribute => ({ name, type: 'string', value: new TextEncoder().encode(v) }),
  tensor: (name: string, v: Tensor): Attribute => ({ name, type: 'tensor', value: v }),
};

interface Index {
  producer: Map<string, Node>;
  consumers: Map<string, Node[]>;
}

/** A graph of the IR: nodes (topologically ordered on demand), inputs, outputs, initializers, value
 * infos; mutation helpers keep its cached indices and analyses consistent.
 */
export class Graph {
  name: string;
  nodes: Node[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  initializers: Map<string, Tensor>;
  /** Intermediate value declarations (value_info), by name. Shape inference writes here. */
  valueInfo: Map<string, ValueInfo>;
  carry?: unknown;

  private index?: Index;
  private topo?: Node[];
  private analyses = new Map<string, unknown>();

  constructor(init: { name?: string; nodes?: Node[]; inputs?: ValueInfo[]; outputs?: ValueInfo[]; initializers?: Tensor[]; valueInfo?: ValueInfo[]; carry?: unknown }) {
    this.name = init.name ?? 'graph';
    this.nodes = init.nodes ?? [];
    this.inputs = init.inputs ?? [];
    this.outputs = init.outputs ?? [];
    this.initializers = new Map((init.initializers ?? []).map((t) => [t.name, t]));
    this.valueInfo = new Map((init.valueInfo ?? []).map((v) => [v.name, v]));
    this.carry = init.carry;
  }

  // ---- derived structure (cached) ----

  /** Drops every cached index and analysis. Called by every mutation helper; a pass that edits
   * `nodes` or node inputs/outputs directly must call it itself. */
  invalidate(): void {
    this.index = undefined;
    this.topo = undefined;
    this.analyses.clear();
  }

  /** A cached analysis result, computed on first use and dropped on mutation. */
  analysis<T>(key: string, compute: (g: Graph) => T): T {
    if (!this.analyses.has(key)) this.analyses.set(key, compute(this));
    return this.analyses.get(key) as T;
  }

  private idx(): Index {
    if (this.index) return this.index;
    const producer = new Map<string, Node>();
    const consumers = new Map<string, Node[]>();
    for (const n of this.nodes) {
      for (const o of n.outputs) if (o) producer.set(o, n);
      for (const i of hasSubgraph(n) ? [...n.inputs, ...n.implicitInputs()] : n.inputs) {
        if (!i) continue;
        let l = consumers.get(i);
        if (!l) consumers.set(i, (l = []));
        if (!l.includes(n)) l.push(n);
      }
    }
    return (this.index = { producer, consumers });
  }

  producer(value: string): Node | undefined {
    return this.idx().producer.get(value);
  }

  consumers(value: string): Node[] {
    return this.idx().consumers.get(value) ?? [];
  }

  isGraphInput(value: string): boolean {
    return this.inputs.some((v) => v.name === value) && !this.initializers.has(value);
  }

  isGraphOutput(value: string): boolean {
    return this.outputs.some((v) => v.name === value);
  }

  /** Declared type of a value: graph input/output, value_info, or initializer. */
  typeOf(value: string): TensorType | undefined {
    const t = this.initializers.get(value);
    if (t) return { elemType: t.dataType, shape: [...t.dims] };
    return (this.valueInfo.get(value) ?? this.inputs.find((v) => v.name === value) ?? this.outputs.find((v) => v.name === value))?.type;
  }

  /** Nodes in a topological order (stable: ties keep file order). Throws on a cycle, naming a node on it. */
  topoOrder(): Node[] {
    if (this.topo) return this.topo;
    // Runs at every load (validateModel): one Set reused for every node's predecessors and
    // swaps without array destructuring keep it from allocating per node.
    const pos = new Map<Node, number>();
    for (let i = 0; i < this.nodes.length; i++) pos.set(this.nodes[i], i);
    const indeg = new Map<Node, number>();
    const succ = new Map<Node, Node[]>();
    const preds = new Set<Node>();
    for (const n of this.nodes) {
      preds.clear();
      for (const i of hasSubgraph(n) ? [...n.inputs, ...n.implicitInputs()] : n.inputs) {
        const p = i ? this.producer(i) : undefined;
        if (p && p !== n) preds.add(p);
        if (p === n) throw badInput(`node '${n.name}' (${n.opType}) consumes its own output '${i}' (cycle)`);
      }
      indeg.set(n, preds.size);
      for (const p of preds) {
        let l = succ.get(p);
        if (!l) succ.set(p, (l = []));
        l.push(n);
      }
    }
    // Min-heap by file position keeps the order deterministic and close to the file's.
    const heap: Node[] = [];
    const swap = (a: number, b: number) => {
      const x = heap[a];
      heap[a] = heap[b];
      heap[b] = x;
    };
    const push = (n: Node) => {
      heap.push(n);
      let i = heap.length - 1;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (pos.get(heap[p])! <= pos.get(heap[i])!) break;
        swap(p, i);
        i = p;
      }
    };
    const pop = (): Node => {
      const top = heap[0];
      const last = heap.pop()!;
      if (heap.length) {
        heap[0] = last;
        let i = 0;
        for (;;) {
          const l = 2 * i + 1, r = l + 1;
          let m = i;
          if (l < heap.length && pos.get(heap[l])! < pos.get(heap[m])!) m = l;
          if (r < heap.length && pos.get(heap[r])! < pos.get(heap[m])!) m = r;
          if (m === i) break;
          swap(m, i);
          i = m;
        }
      }
      return top;
    };
    for (const n of this.nodes) if (indeg.get(n) === 0) push(n);
    const order: Node[] = [];
    while (heap.length) {
      const n = pop();
      order.push(n);
      for (const s of succ.get(n) ?? []) {
        const d = indeg.get(s)! - 1;
        indeg.set(s, d);
        if (d === 0) push(s);
      }
    }
    if (order.length !== this.nodes.length) {
      const stuck = this.nodes.find((n) => indeg.get(n)! > 0)!;
      throw badInput(`graph '${this.name}' has a cycle through node '${stuck.name}' (${stuck.opType})`);
    }
    return (this.topo = order);
  }

  /** A graphology directed graph: one graph node per IR node (key = node name), one edge per
   * (producer, consumer, value) with attribute `value`. Cached. */
  topology(): MultiDirectedGraph {
    return this.analysis('ir.topology', () => {
      const g = new MultiDirectedGraph({ allowSelfLoops: false });
      for (const n of this.nodes) g.addNode(n.name, { opType: n.opType });
      for (const n of this.nodes) {
        for (const i of new Set([...n.inputs, ...n.implicitInputs()])) {
          const p = i ? this.producer(i) : undefined;
          if (p) g.addDirectedEdge(p.name, n.name, { value: i });
        }
      }
      return g;
    });
  }

  // ---- mutation helpers ----

  addNode(node: Node, before?: Node): Node {
    if (before) {
      const i = this.nodes.indexOf(before);
      this.nodes.splice(i < 0 ? this.nodes.length : i, 0, node);
    } else this.nodes.push(node);
    this.invalidate();
    return node;
  }

  removeNodes(nodes: Iterable<Node>): void {
    const dead = new Set(nodes);
    this.nodes = this.nodes.filter((n) => !dead.has(n));
    this.invalidate();
  }

  /** Replaces `old` by `nodes` at its position (a rewrite's usual last step). */
  replaceNode(old: Node, nodes: Node[]): void {
    const i = this.nodes.indexOf(old);
    if (i < 0) throw internal(`replaceNode: '${old.name}' is not in graph '${this.name}'`);
    this.nodes.splice(i, 1, ...nodes);
    this.invalidate();
  }

  /** Every consumer of `from` (and the graph outputs) reads `to` instead, including the
   * outer-scope reads of subgraphs (unless a subgraph defines a value of that name itself). */
  rewireConsumers(from: string, to: string): void {
    for (const n of this.nodes) {
      n.inputs = n.inputs.map((x) => (x === from ? to : x));
      for (const sub of n.subgraphs()) if (sub.outerReads().includes(from)) sub.rewireConsumers(from, to);
    }
    for (const o of this.outputs) if (o.name === from) o.name = to;
    this.invalidate();
  }

  /** Values this graph (its nodes, nested subgraphs included, and its outputs) reads from an
   * enclosing scope: read, but neither produced by one of its nodes nor one of its inputs or
   * initializers. Empty for a model's main graph that is valid. Cached. */
  outerReads(): string[] {
    return this.analysis('ir.outer-reads', () => {
      const local = new Set<string>([...this.inputs.map((v) => v.name), ...this.initializers.keys()]);
      for (const n of this.nodes) for (const o of n.outputs) if (o) local.add(o);
      const res = new Set<string>();
      for (const n of this.nodes) {
        for (const i of n.inputs) if (i && !local.has(i)) res.add(i);
        for (const i of n.implicitInputs()) if (!local.has(i)) res.add(i);
      }
      for (const o of this.outputs) if (!local.has(o.name)) res.add(o.name);
      return [...res];
    });
  }

  /** This graph's subgraphs, recursively (depth-first, in node order), each with the node that
   * holds it and the graph that node belongs to. */
  *subgraphsDeep(): Generator<{ graph: Graph; node: Node; parent: Graph }> {
    for (const n of this.nodes) {
      for (const sub of n.subgraphs()) {
        yield { graph: sub, node: n, parent: this };
        yield* sub.subgraphsDeep();
      }
    }
  }

  setInitializer(t: Tensor): void {
    this.initializers.set(t.name, t);
    this.invalidate();
  }

  removeInitializer(name: string): void {
    this.initializers.delete(name);
    this.inputs = this.inputs.filter((v) => v.name !== name || !this.initializers.has(name));
    this.invalidate();
  }

  /** A value name not used anywhere in the graph, derived from `base`. */
  freshName(base: string): string {
    // Names inside subgraphs count too: ONNX forbids a subgraph value shadowing an outer one.
    const used = new Set<string>();
    for (const g of [this, ...[...this.subgraphsDeep()].map((s) => s.graph)]) {
      for (const n of g.nodes) {
        used.add(n.name);
        for (const v of [...n.inputs, ...n.outputs]) used.add(v);
      }
      for (const k of g.initializers.keys()) used.add(k);
      for (const v of [...g.inputs, ...g.outputs]) used.add(v.name);
    }
    if (!used.has(base)) return base;
    for (let i = 1; ; i++) if (!used.has(`${base}_${i}`)) return `${base}_${i}`;
  }

  /** Removes nodes whose outputs reach no graph output, and initializers nobody reads.
   * Returns the number of nodes removed. */
  eliminateDeadCode(): number {
    const live = new Set<Node>();
    const need = this.outputs.map((o) => o.name);
    const seen = new Set<string>();
    while (need.length) {
      const v = need.pop()!;
      if (seen.has(v)) continue;
      seen.add(v);
      const p = this.producer(v);
      if (p && !live.has(p)) {
        live.add(p);
        for (const i of p.inputs) if (i) need.push(i);
        for (const i of p.implicitInputs()) need.push(i);
      }
    }
    const before = this.nodes.length;
    this.nodes = this.nodes.filter((n) => live.has(n));
    const read = new Set(this.nodes.flatMap((n) => [...n.inputs, ...n.implicitInputs()]));
    for (const o of this.outputs) read.add(o.name);
    for (const name of [...this.initializers.keys()]) {
      if (!read.has(name)) {
        this.initializers.delete(name);
        this.inputs = this.inputs.filter((v) => v.name !== name);
      }
    }
    for (const name of [...this.valueInfo.keys()]) if (!read.has(name) && !this.nodes.some((n) => n.outputs.includes(name))) this.valueInfo.delete(name);
    this.invalidate();
    return before - this.nodes.length;
  }
}

/** An opset the model imports: domain ('' for ONNX) and version. */
export interface OpsetImport {
  domain: string;
  version: number;
}

/** An ONNX model in dnnfuse's IR: the main graph, opset imports, metadata, model-local functions;
 * lossless round trip with `decodeModel`/`encodeModel`.
 */
export class Model {
  irVersion: number;
  opsetImports: OpsetImport[];
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString: string;
  metadata: { key: string; value: string }[];
  graph: Graph;
  /** Model-local functions, kept as decoded protobuf messages (opaque to passes). */
  functions: unknown[];
  /** Directory external data paths are relative to (the model file's folder), if loaded from a file. */
  baseDir?: string;
  carry?: unknown;

  constructor(init: Partial<Omit<Model, 'graph'>> & { graph: Graph }) {
    this.irVersion = init.irVersion ?? 8;
    this.opsetImports = init.opsetImports ?? [{ domain: '', version: 13 }];
    this.producerName = init.producerName ?? 'dnnfuse';
    this.producerVersion = init.producerVersion ?? '';
    this.domain = init.domain ?? '';
    this.modelVersion = init.modelVersion ?? 0;
    this.docString = init.docString ?? '';
    this.metadata = init.metadata ?? [];
    this.graph = init.graph;
    this.functions = init.functions ?? [];
    this.baseDir = init.baseDir;
    this.carry = init.carry;
  }

  /** The opset version imported for a domain ('' and 'ai.onnx' are the same domain). */
  opset(domain = ''): number | undefined {
    const d = domain === 'ai.onnx' ? '' : domain;
    return this.opsetImports.find((o) => (o.domain === 'ai.onnx' ? '' : o.domain) === d)?.version;
  }
}

/** A subgraph's path from the main graph: `If_25.else_branch`, nested
 * `If_25.else_branch/If_651.then_branch` (`prefix` is the enclosing subgraph's path, '' at the
 * main graph; `attribute` as `Node.namedSubgraphs` gives it). */
export function subgraphPath(prefix: string, node: Node, attribute: string): string {
  return `${prefix ? prefix + '/' : ''}${node.name}.${attribute}`;
}
