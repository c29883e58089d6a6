/**
 * Carrying a fusion schedule inside the rewritten ONNX model, in one of two forms:
 *
 * - `outlineFusionGroups` (default): each fusion group becomes a model-local function
 *   (FunctionProto, domain `dnnfuse.fusion`, name `group_<id>`) holding the group's nodes; the
 *   main graph calls it with one node per group. Function inputs are the values the group
 *   reads from outside (feature maps, graph inputs and its weights, since a function cannot
 *   see the graph's initializers); outputs are the values read after the group or by the graph
 *   outputs. onnxruntime inlines the functions at load time, so the numerics are unchanged.
 * - `annotateFusionGroups` (`--node-metadata`): nodes stay where they are; each node gets
 *   `metadata_props` entries (`dnnfuse.group`, `dnnfuse.scheme`) and a doc_string.
 *
 * Both also record the schedule summary in the model's metadata_props (`dnnfuse.schedule`:
 * compact JSON with the version, scheme and every group's node names), so the grouping can be
 * read back from the model alone (`readFusionGroups`).
 *
 * Nodes outside every group (constants, Identity/Shape folding that the op graph does not
 * count as ops) are absorbed into a group when they sit between two of its nodes, otherwise
 * outlining could create a cycle; those left stay in the main graph. A group with a node that
 * has a subgraph attribute (If/Loop/Scan bodies may capture outer values implicitly) is left
 * un-outlined and annotated instead.
 *
 * Inside control flow: the groups of each subgraph's own plan (`EmbedOptions.subgraphs`, by the
 * subgraph's path from the main graph, `If_25.else_branch/If_651.then_branch`) are outlined in
 * that subgraph the same way, as functions named after the path (`If_25_else_branch__group_3`).
 * A value the group reads from an enclosing graph becomes a function input like any other, so
 * the call node captures it where the group's nodes did; the control-flow nodes themselves stay
 * where they are (they are groups with a subgraph attribute), which keeps every path valid.
 *
 * Representation: Model.functions holds decoded FunctionProto messages (plain objects with
 * ONNX's snake_case field names, as src/onnx/decode.ts produces). The nodes inside are
 * produced by the IO layer's own encoder (encode a scratch model holding the nodes, decode
 * its NodeProtos) so attribute and tensor encoding has one implementation.
 */
import { Graph, Model, Node, attr, subgraphPath, type Attribute } from '../ir/graph.ts';
import { encodeModel } from './io.ts';
import type { Msg } from './schema.ts';
import { parseModelProto } from './decode.ts';
import { NodeCarry, copyMsg } from './carry.ts';
import { verificationFailed } from '../errors.ts';

/** The ONNX domain of the model-local functions that carry the fusion groups. */
export const FUSION_DOMAIN = 'dnnfuse.fusion';
/** The model `metadata_props` key holding the embedded schedule (JSON: mode, scheme, every group's
 * node names).
 */
export const SCHEDULE_METADATA_KEY = 'dnnfuse.schedule';
const META_VERSION = 1;

/** A fusion group to embed: its id and the names of its nodes. */
export interface FusionGroupSpec {
  id: number;
  /** IR node names. */
  nodes: string[];
}

/** The fusion groups of one subgraph (If branch, Loop/Scan body), planned on their own. */
export interface SubgraphGroupSpec {
  /** From the main graph: `If_25.else_branch`, nested `If_25.else_branch/If_651.then_branch`
   * (node name, `.`, attribute, `[k]` for a graph list; as the schedule records it). */
  path: string;
  /** The subgraph plan's groups, of that subgraph's node names. */
  groups: FusionGroupSpec[];
}

/** Options of embedding fusion groups in a model. */
export interface EmbedOptions {
  scheme?: string | null;
  /** Outline groups of at least this many nodes (default 1: every group). */
  minNodes?: number;
  /** The groups of subgraphs' own plans, embedded in those subgraphs (default: none). */
  subgraphs?: SubgraphGroupSpec[];
}

/** What embedding did: functions created, nodes annotated, groups skipped (with why). */
export interface EmbedResult {
  /** Groups outlined as functions. */
  functions: number;
  /** Groups annotated in place (metadata mode, or not outlinable). */
  annotated: number;
  /** Nodes outside groups absorbed into a group to keep the graph acyclic. */
  absorbed: number;
  /** Groups skipped, with the reason (and the subgraph's path for a group inside control flow). */
  skipped: { id: number; reason: string; path?: string }[];
}

/** Validates group specs against the graph: known node names, no node in two groups. */
function indexGroups(graph: Graph, groups: FusionGroupSpec[], path = ''): Map<string, number> {
  const of = path ? ` of subgraph ${path}` : '';
  const names = new Set(graph.nodes.map((n) => n.name));
  const groupOf = new Map<string, number>();
  for (const g of groups) {
    for (const n of g.nodes) {
      if (!names.has(n)) throw verificationFailed(`fusion group ${g.id}${of} names node '${n}', which is not in the graph (was the plan computed before a rewrite? put 'plan' after the rewriting passes)`);
      const prev = groupOf.get(n);
      if (prev !== undefined && prev !== g.id) throw verificationFailed(`node '${n}'${of} is in fusion groups ${prev} and ${g.id}`);
      groupOf.set(n, g.id);
    }
  }
  return groupOf;
}

/** Adds ungrouped nodes that sit between nodes of one group to that group (fixed point). */
function absorbSandwiched(graph: Graph, groupOf: Map<string, number>): number {
  let absorbed = 0;
  for (let changed = true; changed; ) {
    changed = false;
    for (const n of graph.topoOrder()) {
      if (groupOf.has(n.name)) continue;
      const fromGroups = new Set<number>();
      for (const i of n.inputs) {
        const p = i ? graph.producer(i) : undefined;
        const g = p ? groupOf.get(p.name) : undefined;
        if (g !== undefined) fromGroups.add(g);
      }
      if (!fromGroups.size) continue;
      // Groups reachable downstream through ungrouped nodes.
      const toGroups = new Set<number>();
      const stack = [n];
      const seen = new Set<Node>();
      while (stack.length) {
        const m = stack.pop()!;
        if (seen.has(m)) continue;
        seen.add(m);
        for (const o of m.outputs) {
          for (const c of graph.consumers(o)) {
            const g = groupOf.get(c.name);
            if (g !== undefined) toGroups.add(g);
            else stack.push(c);
          }
        }
      }
      const both = [...fromGroups].filter((g) => toGroups.has(g)).sort((a, b) => a - b);
      if (both.length) {
        groupOf.set(n.name, both[0]);
        absorbed++;
        changed = true;
      }
    }
  }
  return absorbed;
}

/** Defaults written out for nodes moved into a function. onnxruntime 1.30 cannot load a model-local
 * function holding a MeanVarianceNormalization without `axes`: ONNX expands MVN's function body
 * there, whose Constant takes `axes` by attribute reference, and the reference to a defaulted
 * attribute resolves to nothing ("[ShapeInferenceError] (op_type:Constant)"; ONNX's test_mvn).
 * With the default spelled out the node means the same and loads. */
const FUNCTION_BODY_DEFAULTS: Record<string, Attribute> = {
  MeanVarianceNormalization: attr.ints('axes', [0, 2, 3]),
};

/** NodeProto messages for IR nodes, through the IO layer's encoder. */
function nodeMessages(model: Model, nodes: Node[]): Msg[] {
  for (const n of nodes) {
    const d = (n.domain === '' || n.domain === 'ai.onnx') && Object.hasOwn(FUNCTION_BODY_DEFAULTS, n.opType) ? FUNCTION_BODY_DEFAULTS[n.opType] : undefined;
    if (d && !n.attr(d.name)) n.setAttr(d);
  }
  const scratch = new Model({ graph: new Graph({ name: 'scratch', nodes }), irVersion: model.irVersion, opsetImports: model.opsetImports, baseDir: model.baseDir });
  return (parseModelProto(encodeModel(scratch)).graph?.node ?? []) as Msg[];
}

/** Every subgraph of the model by its path, named the way the plan pass names them
 * (search/subgraph-plans.ts). Walked rather than parsed: node names may hold '/' and '.'. */
function subgraphsByPath(model: Model): Map<string, Graph> {
  const out = new Map<string, Graph>();
  const walk = (g: Graph, prefix: string) => {
    for (const n of g.nodes) {
      for (const { attribute, graph: sub } of n.namedSubgraphs()) {
        const path = subgraphPath(prefix, n, attribute);
        out.set(path, sub);
        walk(sub, path);
      }
    }
  };
  walk(model.graph, '');
  return out;
}

/** The subgraph of each spec; an unknown path is the plan's mistake, like an unknown node. */
function resolveSubgraphs(model: Model, specs: SubgraphGroupSpec[] | undefined): { spec: SubgraphGroupSpec; graph: Graph }[] {
  if (!specs?.length) return [];
  const byPath = subgraphsByPath(model);
  return specs.map((spec) => {
    const graph = byPath.get(spec.path);
    if (!graph) throw verificationFailed(`fusion groups are given for subgraph '${spec.path}', which is not in the model`);
    return { spec, graph };
  });
}

function scheduleMetadata(model: Model, groups: FusionGroupSpec[], mode: 'functions' | 'node-metadata', scheme?: string | null, subgraphs: SubgraphGroupSpec[] = []): void {
  const spec = (gs: FusionGroupSpec[]) => gs.map((g) => ({ id: g.id, nodes: g.nodes }));
  const summary = JSON.stringify({ version: META_VERSION, mode, scheme: scheme ?? null, groups: spec(groups), ...(subgraphs.length ? { subgraphs: subgraphs.map((x) => ({ path: x.path, groups: spec(x.groups) })) } : {}) });
  model.metadata = model.metadata.filter((e) => e.key !== SCHEDULE_METADATA_KEY);
  model.metadata.push({ key: SCHEDULE_METADATA_KEY, value: summary });
}

/** Sets dnnfuse.* metadata_props and a doc_string line on a node (kept through the writer). */
function tagNode(n: Node, group: number, scheme?: string | null): void {
  const carry = n.carry instanceof NodeCarry ? n.carry : undefined;
  const msg = copyMsg(carry?.msg);
  const props = ((msg.metadata_props ?? []) as Msg[]).filter((e) => !String(e.key ?? '').startsWith('dnnfuse.'));
  props.push({ key: 'dnnfuse.group', value: String(group) });
  if (scheme) props.push({ key: 'dnnfuse.scheme', value: scheme });
  msg.metadata_props = props;
  const doc = String(msg.doc_string ?? '').split('\n').filter((l) => !l.startsWith('dnnfuse.fusion ')).join('\n');
  msg.doc_string = [doc, `dnnfuse.fusion group ${group}${scheme ? ` (${scheme})` : ''}`].filter(Boolean).join('\n');
  n.carry = new NodeCarry(msg, carry?.synthName);
}

/** `--node-metadata`: tags every grouped node in place. */
export function annotateFusionGroups(model: Model, groups: FusionGroupSpec[], opts: EmbedOptions = {}): EmbedResult {
  const subs = resolveSubgraphs(model, opts.subgraphs);
  for (const { graph, spec } of [{ graph: model.graph, spec: { path: '', groups } }, ...subs]) {
    const groupOf = indexGroups(graph, spec.groups, spec.path);
    for (const n of graph.nodes) {
      const g = groupOf.get(n.name);
      if (g !== undefined) tagNode(n, g, opts.scheme);
    }
  }
  scheduleMetadata(model, groups, 'node-metadata', opts.scheme, opts.subgraphs);
  return { functions: 0, annotated: groups.length + subs.reduce((a, x) => a + x.spec.groups.length, 0), absorbed: 0, skipped: [] };
}

/** Outlines each group into a model-local function called from the graph that held it (the main
 * graph, and each subgraph of `opts.subgraphs`). In place. */
export function outlineFusionGroups(model: Model, groups: FusionGroupSpec[], opts: EmbedOptions = {}): EmbedResult {
  // Resolve every path before anything moves (outlining keeps control-flow nodes, but a path
  // must name the subgraph the plan was made on).
  const subs = resolveSubgraphs(model, opts.subgraphs);
  const result: EmbedResult = { functions: 0, annotated: 0, absorbed: 0, skipped: [] };
  const usedFnNames = new Set((model.functions as Msg[]).filter((f) => f.domain === FUSION_DOMAIN).map((f) => String(f.name)));
  const newFunctions: Msg[] = [];
  outlineIn(model, model.graph, groups, opts, { prefix: '', usedFnNames, newFunctions, result });
  for (const { spec, graph } of subs) outlineIn(model, graph, spec.groups, opts, { prefix: spec.path, usedFnNames, newFunctions, result });
  if (newFunctions.length) {
    model.functions = [...model.functions, ...newFunctions];
    if (!model.opsetImports.some((o) => o.domain === FUSION_DOMAIN)) model.opsetImports = [...model.opsetImports, { domain: FUSION_DOMAIN, version: 1 }];
    // Model-local functions need IR version 8 (ONNX 1.10).
    if (model.irVersion < 8) model.irVersion = 8;
  }
  scheduleMetadata(model, groups, 'functions', opts.scheme, opts.subgraphs);
  return result;
}

/** Outlines the groups of one graph (the main graph, or the subgraph at path `at.prefix`). */
function outlineIn(model: Model, graph: Graph, groups: FusionGroupSpec[], opts: EmbedOptions, at: { prefix: string; usedFnNames: Set<string>; newFunctions: Msg[]; result: EmbedResult }): void {
  const { prefix, usedFnNames, newFunctions, result } = at;
  const where = prefix ? { path: prefix } : {};
  const groupOf = indexGroups(graph, groups, prefix);
  result.absorbed += absorbSandwiched(graph, groupOf);
  const members = new Map<number, Node[]>();
  for (const n of graph.topoOrder()) {
    const g = groupOf.get(n.name);
    if (g === undefined) continue;
    let l = members.get(g);
    if (!l) members.set(g, (l = []));
    l.push(n);
  }
  const outputsRead = new Set(graph.outputs.map((o) => o.name));
  const replacement = new Map<Node, Node | null>(); // first member -> call node; other members -> null
  let outlined = 0;
  const minNodes = Math.max(1, opts.minNodes ?? 1);
  for (const g of [...members.keys()].sort((a, b) => a - b)) {
    const nodes = members.get(g)!;
    if (nodes.length < minNodes) continue;
    if (nodes.some((n) => n.subgraphs().length)) {
      result.skipped.push({ id: g, reason: 'a node has a subgraph attribute (may capture outer values); annotated instead', ...where });
      for (const n of nodes) tagNode(n, g, opts.scheme);
      result.annotated++;
      continue;
    }
    const inside = new Set(nodes);
    const produced = new Set(nodes.flatMap((n) => n.outputs.filter(Boolean)));
    const inputs: string[] = [];
    const seenIn = new Set<string>();
    for (const n of nodes) {
      for (const i of n.inputs) {
        if (!i || produced.has(i) || seenIn.has(i)) continue;
        seenIn.add(i);
        inputs.push(i);
      }
    }
    const outputs: string[] = [];
    for (const n of nodes) {
      for (const o of n.outputs) {
        if (!o) continue;
        if (outputsRead.has(o) || graph.consumers(o).some((c) => !inside.has(c))) outputs.push(o);
      }
    }
    if (!outputs.length) {
      result.skipped.push({ id: g, reason: 'the group has no output read outside it (dead code?)', ...where });
      continue;
    }
    const stem = `${prefix ? `${prefix.replace(/[^A-Za-z0-9_]/g, '_')}__` : ''}group_${g}`;
    let fname = stem;
    for (let k = 1; usedFnNames.has(fname); k++) fname = `${stem}_${k}`;
    usedFnNames.add(fname);
    newFunctions.push({
      name: fname,
      domain: FUSION_DOMAIN,
      input: inputs,
      output: outputs,
      node: nodeMessages(model, nodes),
      opset_import: model.opsetImports.filter((o) => o.domain !== FUSION_DOMAIN).map((o) => ({ domain: o.domain, version: o.version })),
      doc_string: `dnnfuse fusion group ${g}${prefix ? ` of subgraph ${prefix}` : ''}: ${nodes.length} node(s)${opts.scheme ? `, scheme ${opts.scheme}` : ''}`,
    });
    const call = new Node({ name: graph.freshName(`dnnfuse_group_${g}`), opType: fname, domain: FUSION_DOMAIN, inputs, outputs });
    tagNode(call, g, opts.scheme);
    replacement.set(nodes[0], call);
    for (const n of nodes.slice(1)) replacement.set(n, null);
    result.functions++;
    outlined++;
  }
  if (outlined) {
    const before = graph.nodes;
    graph.nodes = before.flatMap((n) => (replacement.has(n) ? (replacement.get(n) ? [replacement.get(n)!] : []) : [n]));
    graph.invalidate();
    // ONNX requires topological node order; outlining may have moved a call ahead of an input.
    let order: Node[];
    try {
      order = graph.topoOrder();
    } catch (e) {
      graph.nodes = before;
      graph.invalidate();
      throw verificationFailed(`outlining fusion groups${prefix ? ` of subgraph ${prefix}` : ''} would create a cycle (${e instanceof Error ? e.message : e}); the plan's groups are not convex`);
    }
    graph.nodes = [...order];
    graph.invalidate();
    // value_info of values now internal to a function no longer belongs to the main graph.
    const live = new Set<string>(graph.nodes.flatMap((n) => [...n.inputs, ...n.outputs]));
    for (const k of [...graph.valueInfo.keys()]) if (!live.has(k)) graph.valueInfo.delete(k);
  }
}

/** Reads the grouping back from a model written by dnnfuse: the schedule metadata when present,
 * else the dnnfuse.fusion functions, else node metadata. Empty when the model carries none. */
export function readFusionGroups(model: Model): FusionGroupSpec[] {
  const meta = model.metadata.find((e) => e.key === SCHEDULE_METADATA_KEY);
  if (meta) {
    try {
      const s = JSON.parse(meta.value) as { groups?: FusionGroupSpec[] };
      if (Array.isArray(s.groups)) return s.groups.map((g) => ({ id: Number(g.id), nodes: g.nodes.map(String) }));
    } catch {
      /* fall through to the structural forms */
    }
  }
  // the main graph's functions (a subgraph's are named after its path: `..._else_branch__group_3`)
  const fns = (model.functions as Msg[]).filter((f) => f.domain === FUSION_DOMAIN && /^group_\d+/.test(String(f.name)));
  if (fns.length) {
    return fns.map((f, i) => {
      const m = /^group_(\d+)/.exec(String(f.name));
      return { id: m ? Number(m[1]) : i, nodes: ((f.node ?? []) as Msg[]).map((n) => String(n.name ?? '')) };
    });
  }
  const byGroup = new Map<number, string[]>();
  for (const n of model.graph.nodes) {
    const msg = n.carry instanceof NodeCarry ? n.carry.msg : undefined;
    const e = ((msg?.metadata_props ?? []) as Msg[]).find((x) => x.key === 'dnnfuse.group');
    if (!e) continue;
    const id = Number(e.value);
    byGroup.set(id, [...(byGroup.get(id) ?? []), n.name]);
  }
  return [...byGroup.entries()].sort((a, b) => a[0] - b[0]).map(([id, nodes]) => ({ id, nodes }));
}
