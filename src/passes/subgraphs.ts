/**
 * Running a graph pass on every graph of a model: the main graph and every subgraph (If
 * branches, Loop/Scan bodies, nested ones included), so that a rewrite such as fold-bn,
 * collapse-branches or dce need not know control flow exists.
 *
 * `onEveryGraph(pass)` returns a pass with the same name that runs `pass.run` on each
 * subgraph, innermost first (post-order: a DCE inside a branch can free an outer value the
 * outer DCE then removes), then on the main graph. A subgraph is presented to the pass as a
 * model of its own (same opsets, functions and folder) whose graph is the subgraph; values it
 * reads from an enclosing graph are simply not produced in it, which the IR's rewrites treat
 * like graph inputs. After a change inside a subgraph, the caches of every enclosing graph are
 * dropped (their implicit inputs may have changed).
 *
 * The annotations are the main graph's, plus `subgraphs`: one entry per subgraph the pass
 * changed (path `node.attribute[/node.attribute...]`, its annotations). The status is the most
 * serious of any run's (failed, then limit-reached), a subgraph's reason prefixed with its path.
 */
import { Model, subgraphPath, type Graph } from '../ir/graph.ts';
import type { Pass, PassContext, PassResult, PassStatus } from './pass.ts';

/** What a rewrite pass did inside one If/Loop/Scan subgraph (its node, attribute and annotations). */
export interface SubgraphRecord<A> {
  /** e.g. `If_25.else_branch/If_651.then_branch`. */
  path: string;
  annotations: A | null;
}

export type EveryGraphAnnotations<A> = A & { subgraphs?: SubgraphRecord<A>[] };

interface Visit {
  graph: Graph;
  path: string;
  /** Enclosing graphs, outermost first (the main graph included). */
  ancestors: Graph[];
}

/** Every subgraph of `g`, post-order (a subgraph's own subgraphs before it). */
function postOrder(g: Graph, path: string, ancestors: Graph[]): Visit[] {
  const res: Visit[] = [];
  for (const n of g.nodes) {
    for (const { attribute, graph: sub } of n.namedSubgraphs()) {
      const p = subgraphPath(path, n, attribute);
      res.push(...postOrder(sub, p, [...ancestors, g]));
      res.push({ graph: sub, path: p, ancestors: [...ancestors, g] });
    }
  }
  return res;
}

/** A model whose graph is `graph` and everything else is `model`'s. */
export function modelView(model: Model, graph: Graph): Model {
  return new Model({
    irVersion: model.irVersion, opsetImports: model.opsetImports, producerName: model.producerName,
    producerVersion: model.producerVersion, domain: model.domain, modelVersion: model.modelVersion,
    docString: model.docString, metadata: model.metadata, functions: model.functions, baseDir: model.baseDir, graph,
  });
}

/** Runs `run` on every subgraph (post-order) and then on the model; see the file comment. */
export async function runOnEveryGraph<A>(model: Model, run: (m: Model) => PassResult<A> | Promise<PassResult<A>>): Promise<PassResult<EveryGraphAnnotations<A>>> {
  const records: SubgraphRecord<A>[] = [];
  let changed = false;
  // The most serious status of any run is the pass's (a limit reached inside a Loop body must
  // not be lost), its reason prefixed with the subgraph's path.
  let worst: Pick<PassResult, 'status' | 'reason'> = {};
  const note = (r: PassResult<A>, path?: string) => {
    if (!r.status || r.status === 'ok' || SEVERITY[r.status] <= SEVERITY[worst.status ?? 'ok']) return;
    worst = { status: r.status, reason: path ? `in ${path}: ${r.reason ?? r.status}` : r.reason };
  };
  for (const v of postOrder(model.graph, '', [])) {
    const r = await run(modelView(model, v.graph));
    note(r, v.path);
    if (!r.changed) continue;
    changed = true;
    records.push({ path: v.path, annotations: r.annotations ?? null });
    for (const g of v.ancestors) g.invalidate();
  }
  const main = await run(model);
  note(main);
  const annotations = { ...(main.annotations ?? {}), ...(records.length ? { subgraphs: records } : {}) } as EveryGraphAnnotations<A>;
  return { changed: changed || main.changed, annotations, ...worst };
}

const SEVERITY: Record<PassStatus, number> = { ok: 0, 'limit-reached': 1, failed: 2 };

/** The same pass, run on the main graph and on every subgraph. */
export function onEveryGraph<A>(pass: Pass<A>): Pass<EveryGraphAnnotations<A>> {
  return {
    ...pass,
    description: `${pass.description} (in every graph, subgraphs included)`,
    run: (model: Model, ctx: PassContext) => runOnEveryGraph(model, (m) => pass.run(m, ctx)),
  };
}
