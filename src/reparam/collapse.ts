/**
 * Collapsing parallel branches (the collapse-branches pass's method): parallel linear branches
 * summed by Add/Sum merged into one conv (structural reparameterization, RepVGG, ACNet, DBB
 * and their grouped and depthwise variants).
 *
 * Matching. A *sum* is a maximal tree of Add/Sum nodes (interior results read only by the next
 * Add). Each leaf term is traced back through linear ops — Conv, BatchNormalization (inference),
 * AveragePool, zero Pad, Identity — while every intermediate value is read only by the chain;
 * the chain is folded into one affine conv (kernel.ts `compose`), keeping the longest suffix
 * that composes exactly. Where the walk stops is the branch's *source*; a term with no linear
 * op is an identity branch. Terms with the same source form a group, merged with
 * `mergeParallel` (common stride/dilation/groups, kernels placed at aligned offsets).
 *
 * Exactness. Every merge is exact up to float rounding: BN is folded per branch, AveragePool
 * only with count_include_pad semantics, sequential 1x1 -> KxK whose zero padding meets a bias
 * gets a precomputed border-correction bias map (Conv + Add of a [1, M, H, W] constant) unless
 * the option `borderCorrection: false` asks to refuse such chains instead. Groups: branches are
 * regrouped to the gcd of their group counts (a dense branch never merges *into* a depthwise
 * conv: the result is dense); a merge whose conv would hold more weights than the branches did
 * together (e.g. a dense 1x1 beside a depthwise 3x3) is refused unless `allowGrowth: true`.
 *
 * Refusals (logged with the nodes and reason, graph unchanged): mismatched strides, dilations,
 * output channels or output sizes, misaligned kernel offsets, non-zero padding modes,
 * training-mode BN, count_include_pad=0 with pads, ceil_mode, a nonlinearity or a shared
 * intermediate inside a branch that otherwise reaches the common input.
 *
 * One call of `collapseSweep` tries every sum once; the collapse-branches pass
 * (src/passes/collapse-branches.ts) repeats it until nothing merges (a merge can expose
 * another: nested blocks), then removes dead code.
 */
import { Node, type Graph, type Model } from '../ir/graph.ts';
import { compose, identitySpec, mergeParallel, ReparamError, weightCount, type ConvSpec, type Pads } from './kernel.ts';
import {
  avgPoolAsConv, bnSpec, channelsOf, convSpec, emitConv, isOp, Refusal, spatialSize, zeroPadAmounts, type RewriteLog,
} from './graph-ops.ts';
import { constTensor } from '../ir/constant.ts';

/** What a merge may do (the collapse-branches pass's options minus its sweep limit). */
export interface CollapseRules {
  /** Add exact border-correction bias maps (default true); false refuses such merges. */
  borderCorrection?: boolean;
  /** Allow merges whose conv has more weights than the branches together (default false). */
  allowGrowth?: boolean;
}

const LINEAR = new Set(['Conv', 'BatchNormalization', 'AveragePool', 'Pad', 'Identity']);

interface Unit {
  nodes: Node[];
  /** Value the unit reads. */
  input: string;
  spec?: ConvSpec;
  /** Why this unit cannot join a branch (then it is a barrier). */
  barrier?: string;
}

interface Branch {
  term: string;
  source: string;
  nodes: Node[];
  spec?: ConvSpec;
  /** Why the walk stopped at `source` (when a producer exists there). */
  stop?: string;
  /** Where the walk through linear ops reached before composition cut it short. */
  far: string;
}

/** The Add/Sum tree rooted at `root`: its nodes and leaf terms. */
function sumTree(g: Graph, root: Node): { nodes: Node[]; terms: string[] } {
  const nodes: Node[] = [];
  const terms: string[] = [];
  const visit = (n: Node) => {
    nodes.push(n);
    for (const v of n.inputs) {
      if (!v) continue;
      const p = g.producer(v);
      if (p && isSum(p) && p.outputs.length === 1 && !g.isGraphOutput(v) && g.consumers(v).length === 1 && !nodes.includes(p)) visit(p);
      else terms.push(v);
    }
  };
  visit(root);
  return { nodes, terms };
}

const isSum = (n: Node) => isOp(n, 'Add') || isOp(n, 'Sum');

function isRoot(g: Graph, n: Node): boolean {
  if (!isSum(n)) return false;
  const out = n.outputs[0];
  const cons = g.consumers(out);
  return g.isGraphOutput(out) || cons.length !== 1 || !isSum(cons[0]);
}

/** Splits a chain of linear ops (source side first) into units with their specs. */
function makeUnits(model: Model, ops: Node[]): Unit[] {
  const units: Unit[] = [];
  let channels: number | undefined;
  for (let i = 0; i < ops.length; i++) {
    const n = ops[i];
    const u: Unit = { nodes: [n], input: n.inputs[0] };
    try {
      if (isOp(n, 'Identity')) {
        units.push(u);
        continue;
      } else if (isOp(n, 'Pad')) {
        const pads = zeroPadAmounts(model, n);
        const next = ops[i + 1];
        const c = channels ?? channelsOf(model, n.inputs[0]);
        if (isOp(next, 'Conv')) {
          const s = convSpec(model, next);
          u.spec = { ...s, pads: s.pads.map((p, k) => p + pads[k]) as Pads };
        } else if (isOp(next, 'AveragePool')) {
          if (c === undefined) throw new Refusal(`channel count of '${n.inputs[0]}' is unknown`);
          u.spec = avgPoolAsConv(model, next, c, pads);
        } else throw new Refusal(`Pad '${n.name}' is not followed by a Conv or AveragePool`);
        u.nodes.push(next);
        i++;
      } else if (isOp(n, 'Conv')) u.spec = convSpec(model, n);
      else if (isOp(n, 'BatchNormalization')) u.spec = bnSpec(model, n);
      else if (isOp(n, 'AveragePool')) {
        const c = channels ?? channelsOf(model, n.inputs[0]);
        if (c === undefined) throw new Refusal(`channel count of '${n.inputs[0]}' is unknown`);
        u.spec = avgPoolAsConv(model, n, c);
      }
      channels = u.spec?.M ?? channels;
    } catch (e) {
      if (!(e instanceof Refusal) && !(e instanceof ReparamError)) throw e;
      u.barrier = e.message;
      channels = undefined;
    }
    units.push(u);
  }
  return units;
}

function traceBranch(model: Model, term: string, opts: CollapseRules): Branch {
  const g = model.graph;
  const ops: Node[] = [];
  let cur = term;
  let stop: string | undefined;
  for (;;) {
    const p = g.producer(cur);
    if (!p) break;
    if (g.isGraphOutput(cur)) { stop = `'${cur}' is a graph output`; break; }
    if (g.consumers(cur).length !== 1) { stop = `'${cur}' is also read by ${g.consumers(cur).filter((c) => !ops.includes(c)).map((c) => `'${c.name}'`).join(', ')}`; break; }
    if (!LINEAR.has(p.opType) || (p.domain !== '' && p.domain !== 'ai.onnx')) { stop = `${p.opType} '${p.name}' is not linear`; break; }
    ops.unshift(p);
    cur = p.inputs[0];
  }
  const units = makeUnits(model, ops);
  // Longest suffix of units that composes into one affine conv.
  let spec: ConvSpec | undefined;
  let first = units.length;
  for (let j = units.length - 1; j >= 0; j--) {
    const u = units[j];
    if (u.barrier) { stop = u.barrier; break; }
    if (!u.spec) { first = j; continue; } // Identity
    if (!spec) { spec = u.spec; first = j; continue; }
    try {
      spec = compose(u.spec, spec, spatialSize(model, u.input), opts.borderCorrection !== false);
      first = j;
    } catch (e) {
      if (!(e instanceof ReparamError)) throw e;
      stop = `sequential ${u.nodes.map((n) => `'${n.name}'`).join('+')} -> rest of the branch: ${e.message}`;
      break;
    }
  }
  const kept = units.slice(first);
  const source = kept.length ? kept[0].input : term;
  return { term, source, nodes: kept.flatMap((u) => u.nodes), spec, stop, far: ops.length ? ops[0].inputs[0] : term };
}

/** Walks a few producers back from `value`, looking for `target`. */
function reaches(g: Graph, value: string, targets: Set<string>, depth = 8): boolean {
  let frontier = [value];
  for (let d = 0; d < depth && frontier.length; d++) {
    const next: string[] = [];
    for (const v of frontier) {
      const p = g.producer(v);
      if (!p) continue;
      for (const i of p.inputs) {
        if (!i || g.initializers.has(i)) continue;
        if (targets.has(i)) return true;
        next.push(i);
      }
    }
    frontier = next.slice(0, 16);
  }
  return false;
}

/** Tries every sum once; returns whether anything merged (the caller re-sweeps until not:
 * a merge can turn an enclosing sum's branch linear). Sums are disjoint (their branches are
 * single-consumer chains), so one sweep can rewrite several; a sum touched by an earlier
 * rewrite of the same sweep is left for the next one. */
export function collapseSweep(model: Model, log: RewriteLog, opts: CollapseRules): boolean {
  const g = model.graph;
  const removed = new Set<Node>();
  let changed = false;
  for (const root of [...g.topoOrder()]) {
    if (removed.has(root) || !isRoot(g, root)) continue;
    const tree = sumTree(g, root);
    if (tree.terms.length < 2) continue;
    const branches = tree.terms.map((t) => traceBranch(model, t, opts));
    const groups = new Map<string, Branch[]>();
    for (const b of branches) {
      const l = groups.get(b.source) ?? [];
      l.push(b);
      groups.set(b.source, l);
    }
    // Report branches that reach another branch's input but stopped early.
    const sources = new Set(groups.keys());
    for (const b of branches) {
      if (!b.stop) continue;
      const others = new Set([...sources].filter((s) => s !== b.source));
      const cutShort = b.far !== b.source && branches.some((o) => o !== b && (o.source === b.far || o.far === b.far));
      if (cutShort || (others.size && reaches(g, b.source, others))) log.refused('collapse-branches', [root, ...b.nodes], `branch ending in '${b.term}' cannot join the merge: ${b.stop}`);
    }
    const merged: { branches: Branch[]; spec: ConvSpec }[] = [];
    for (const [source, group] of groups) {
      if (group.length < 2) continue;
      const convs = group.flatMap((b) => b.nodes.filter((n) => isOp(n, 'Conv')));
      if (convs.length === 0) continue;
      const names: (Node | string)[] = group.flatMap((b): (Node | string)[] => (b.nodes.length ? b.nodes : [b.term]));
      try {
        const C = group.find((b) => b.spec)!.spec!.C;
        const specs = group.map((b) => b.spec ?? identitySpec(C)); // a bare term is the shared input itself
        const spec = mergeParallel(specs, spatialSize(model, source));
        const before = convs.reduce((a, n) => a + (constTensor(g, n.inputs[1])?.size ?? 0), 0);
        if (weightCount(spec) > before && !opts.allowGrowth) {
          throw new ReparamError(`mismatched groups: the merged ${spec.kh}x${spec.kw} conv with ${spec.group} group(s) would hold ${weightCount(spec)} weights, the branches hold ${before} (pass allowGrowth to densify anyway)`);
        }
        merged.push({ branches: group, spec });
      } catch (e) {
        if (!(e instanceof ReparamError) && !(e instanceof Refusal)) throw e;
        log.refused('collapse-branches', [root, ...names], `branches from '${source}': ${e.message}`);
      }
    }
    if (!merged.length) continue;
    // Rewrite: merged convs + untouched terms, summed into the root's output.
    const mergedTerms = new Set(merged.flatMap((m) => m.branches.map((b) => b.term)));
    const rest = tree.terms.filter((t) => !mergedTerms.has(t));
    const outName = root.outputs[0];
    const newNodes: Node[] = [];
    const outs: string[] = [];
    const single = merged.length === 1 && rest.length === 0;
    for (const m of merged) {
      const main = m.branches.flatMap((b) => b.nodes).filter((n) => isOp(n, 'Conv')).sort((a, b) => (constTensor(g, b.inputs[1])?.size ?? 0) - (constTensor(g, a.inputs[1])?.size ?? 0))[0];
      const name = g.freshName(`${main.name}_reparam`);
      const out = single ? outName : g.freshName(`${name}_output`);
      newNodes.push(...emitConv(g, m.spec, { name, input: m.branches[0].source, output: out }));
      outs.push(out);
      const kinds = m.branches.map((b) => (b.nodes.length ? b.nodes.map((n) => n.opType).join('>') : 'identity'));
      log.applied('collapse-branches', [root, ...m.branches.flatMap((b) => b.nodes)], `${m.branches.length} branches [${kinds.join(', ')}] -> ${m.spec.kh}x${m.spec.kw} Conv '${name}' (group ${m.spec.group}${m.spec.biasMap ? ', with border-correction bias map' : ''})`);
    }
    if (!single) {
      // Two or more terms remain (merged convs and untouched terms): sum them into the root's output.
      const terms = [...outs, ...rest];
      const op = terms.length === 2 ? 'Add' : 'Sum';
      newNodes.push(new Node({ name: g.freshName(`${root.name}_sum`), opType: op, inputs: terms, outputs: [outName] }));
    }
    const dead = new Set<Node>([...tree.nodes, ...merged.flatMap((m) => m.branches.flatMap((b) => b.nodes))]);
    const at = g.nodes.indexOf(root);
    g.nodes = [...g.nodes.slice(0, at).filter((n) => !dead.has(n)), ...newNodes, ...g.nodes.slice(at + 1).filter((n) => !dead.has(n))];
    g.invalidate();
    for (const n of dead) removed.add(n);
    changed = true;
  }
  return changed;
}
