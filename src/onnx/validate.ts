/**
 * Structural checks of a model's main graph (ONNX IR.md rules the passes rely on). Each
 * failure is a one-line bad-input DnnfuseError naming the node, value or field at fault.
 *
 * Checked: op_type present, node names unique (IR.md: names in the node namespace MUST be
 * unique; unnamed nodes get unique IR names at load), single assignment (every value has at
 * most one producer among initializers, graph inputs and node outputs), no dangling inputs
 * (every node input and graph output is produced by something), acyclic (topological order
 * exists), opset_import present for IR >= 3.
 * Subgraphs (If/Loop/Scan bodies) and model-local functions are opaque: not checked here.
 */
import type { Model, Node } from '../ir/graph.ts';
import { badInput } from '../errors.ts';
import { msgOf } from './carry.ts';
import { checkModelValues } from './check-model.ts';
import type { Msg } from './schema.ts';

/** Who produces a value, as the error messages name it: a node, or the kind of producer
 * (named after the value itself). Kept as objects and built into text only for an error: a
 * description string per value was a tenth of what a load allocated. */
const INITIALIZER = 1, GRAPH_INPUT = 2;
type Producer = Node | typeof INITIALIZER | typeof GRAPH_INPUT | string;

function describe(value: string, by: Producer): string {
  if (by === INITIALIZER) return `initializer '${value}'`;
  if (by === GRAPH_INPUT) return `graph input '${value}'`;
  if (typeof by === 'string') return by;
  return `node '${by.name}' (${by.opType})`;
}

export function validateModel(model: Model): void {
  const g = model.graph;
  if (model.irVersion >= 3 && model.opsetImports.length === 0) throw badInput('model has no opset_import (required from IR version 3)');
  const producedBy = new Map<string, Producer>();
  const produce = (value: string, by: Producer) => {
    if (!value) return;
    const prev = producedBy.get(value);
    if (prev !== undefined) throw badInput(`value '${value}' has two producers: ${describe(value, prev)} and ${describe(value, by)}`);
    producedBy.set(value, by);
  };
  for (const name of g.initializers.keys()) produce(name, INITIALIZER);
  // Sparse initializers (kept opaque in the graph's carry) are producers too.
  const gm = msgOf(g.carry);
  for (const s of (gm?.sparse_initializer ?? []) as Msg[]) {
    const name: string = s.values?.name ?? '';
    produce(name, `sparse initializer '${name}'`);
  }
  for (const v of g.inputs) {
    // IR < 4: initializers are also listed as graph inputs (same value, not a second producer).
    if (!g.initializers.has(v.name)) produce(v.name, GRAPH_INPUT);
  }
  const names = new Set<string>();
  const outs = new Set<string>();
  for (let i = 0; i < g.nodes.length; i++) {
    const n = g.nodes[i];
    if (!n.opType) throw badInput(`node #${i} '${n.name}' has no op_type`);
    if (names.has(n.name)) throw badInput(`duplicate node name '${n.name}'; node names must be unique within a graph`);
    names.add(n.name);
    outs.clear();
    for (const o of n.outputs) {
      if (o && outs.has(o)) throw badInput(`node '${n.name}' (${n.opType}) lists output '${o}' twice`);
      outs.add(o);
    }
    for (const o of n.outputs) produce(o, n);
  }
  for (const n of g.nodes) {
    for (let k = 0; k < n.inputs.length; k++) {
      const v = n.inputs[k];
      if (v && !producedBy.has(v)) throw badInput(`node '${n.name}' (${n.opType}) input #${k} '${v}' is not produced by any node, initializer or graph input`);
    }
  }
  for (const o of g.outputs) {
    if (!o.name) throw badInput(`graph '${g.name}' has an output without a name`);
    if (!producedBy.has(o.name)) throw badInput(`graph output '${o.name}' is not produced by any node, initializer or graph input`);
  }
  g.topoOrder(); // throws on a cycle, naming a node on it
  checkModelValues(model); // dims, tensor lengths, dtypes, opset
}
