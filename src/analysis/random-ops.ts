/**
 * Graph outputs that change from run to run: they depend on a random op (Bernoulli,
 * RandomNormal/Uniform(Like), Multinomial) without a `seed` attribute, which draws new numbers in
 * every session. Two runs of such a model differ whatever a rewrite did, so compile's check
 * cannot compare them (ONNX's test_bernoulli failed the check before this).
 */
import type { Graph, Node } from '../ir/graph.ts';

const RANDOM_OPS = new Set(['Bernoulli', 'RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'Multinomial']);

function unseeded(n: Node): boolean {
  return (n.domain === '' || n.domain === 'ai.onnx') && RANDOM_OPS.has(n.opType) && n.attr('seed') === undefined;
}

/** The unseeded random node a node's results draw on: itself, or one in its subgraphs. */
function randomIn(n: Node): Node | undefined {
  if (unseeded(n)) return n;
  for (const sub of n.subgraphs()) for (const m of sub.nodes) {
    const r = randomIn(m);
    if (r) return r;
  }
  return undefined;
}

/** The first graph output (in output order) that depends on an unseeded random op, with that op. */
export function unseededRandomOutput(g: Graph): { output: string; node: Node } | undefined {
  const from = new Map<string, Node>(); // value -> the unseeded random node it draws on
  for (const n of g.topoOrder()) {
    let r = randomIn(n);
    for (const i of [...n.inputs, ...n.implicitInputs()]) r ??= i ? from.get(i) : undefined;
    if (r) for (const o of n.outputs) if (o) from.set(o, r);
  }
  for (const out of g.outputs) {
    const node = from.get(out.name);
    if (node) return { output: out.name, node };
  }
  return undefined;
}
