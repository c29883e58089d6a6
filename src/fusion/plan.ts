/**
 * Partition plans: a plan is a list of fusion groups (sorted op ids). A plan is well-formed when
 * (1) every op is in exactly one group, (2) every group is weakly connected, (3) the graph of
 * groups is acyclic; it is feasible when, in addition, every group is valid under the cost model
 * (F_beta <= beta; single ops always are). `checkPlan` says which rule breaks and where.
 */
import type { CostModel, Group, OpGraph } from './types.ts';
import { components } from './groups.ts';

/** A fusion plan as the searches see it: groups of op indices. */
export type Plan = Group[];

export type PlanCheck = { ok: true } | { ok: false; reason: string };

/** Canonical form: each group sorted, groups ordered by first op id. */
export function canonicalPlan(plan: readonly (readonly number[])[]): Plan {
  const out: Plan = [];
  for (let i = 0; i < plan.length; i++) out.push([...plan[i]].sort(byNumber));
  return out.sort(byFirstOp);
}
// Module-level comparators rather than arrows in each call: a closure's optimized code is dropped
// by a major GC once its call returns, and the next call's arrow is compiled again.
const byNumber = (a: number, b: number) => a - b;
const byFirstOp = (a: Group, b: Group) => a[0] - b[0];

/** Stable text key of a plan (for deduplication). */
export function planKey(plan: Plan): string {
  return canonicalPlan(plan).map((g) => g.join(',')).join('|');
}

/** op id -> group index. */
export function assignmentOf(plan: Plan, n: number): Int32Array {
  const a = new Int32Array(n).fill(-1);
  plan.forEach((g, i) => {
    for (const id of g) a[id] = i;
  });
  return a;
}

/** Groups in an execution order (topological order of the group DAG, ties by first op id; groups
 * sorted by id), or undefined when the group graph has a cycle. The plan may be partial: only
 * edges between its groups count. */
export function executionOrder(graph: OpGraph, plan: Plan): number[] | undefined {
  // op -> group in a per-graph array, -1 outside this call (what is set is reset before it
  // returns), and the group graph in flat arrays: the searches order plans by the hundred
  // thousand, and a new Int32Array of the ops (a malloc'd backing store, freed by V8's
  // ArrayBuffer sweeper on a helper thread) and a Set per group each time was most of this.
  let a = groupOfScratch.get(graph);
  if (!a || a.length !== graph.ops.length) groupOfScratch.set(graph, (a = new Int32Array(graph.ops.length).fill(-1)));
  const m = plan.length;
  for (let i = 0; i < m; i++) for (const id of plan[i]) a[id] = i;
  try {
    // Edges are read from the groups' own ops, so a partial plan (e.g. the parts of one split
    // group, or a window of groups) is ordered too: ops outside every group are ignored.
    const start: number[] = [0];
    const target: number[] = [];
    const last: number[] = [];
    const indeg: number[] = [];
    for (let i = 0; i < m; i++) (last.push(-1), indeg.push(0));
    for (let gv = 0; gv < m; gv++) {
      for (const v of plan[gv]) for (const u of graph.succ[v]) {
        const gu = a[u];
        if (gu >= 0 && gu !== gv && last[gu] !== gv) {
          last[gu] = gv;
          target.push(gu);
          indeg[gu]++;
        }
      }
      start.push(target.length);
    }
    // Min-heap on first op id would be ideal; plans are small enough for a sorted ready list.
    const ready: number[] = [];
    for (let i = 0; i < m; i++) if (indeg[i] === 0) ready.push(i);
    const order: number[] = [];
    while (ready.length) {
      let bi = 0;
      for (let k = 1; k < ready.length; k++) if (plan[ready[k]][0] < plan[ready[bi]][0]) bi = k;
      const g = ready[bi];
      ready[bi] = ready[ready.length - 1];
      ready.pop();
      order.push(g);
      for (let e = start[g]; e < start[g + 1]; e++) if (--indeg[target[e]] === 0) ready.push(target[e]);
    }
    return order.length === m ? order : undefined;
  } finally {
    for (let i = 0; i < m; i++) for (const id of plan[i]) a[id] = -1;
  }
}

const groupOfScratch = new WeakMap<OpGraph, Int32Array>();

/** Structural check (cover, connectivity, acyclicity); with `cost`, also group validity. */
export function checkPlan(graph: OpGraph, plan: Plan, cost?: CostModel): PlanCheck {
  const n = graph.ops.length;
  const owner = new Int32Array(n).fill(-1);
  for (let i = 0; i < plan.length; i++) {
    const g = plan[i];
    if (g.length === 0) return { ok: false, reason: `group ${i} is empty` };
    for (const id of g) {
      if (!Number.isInteger(id) || id < 0 || id >= n) return { ok: false, reason: `group ${i} names op ${id}, which does not exist (${n} ops)` };
      if (owner[id] >= 0) return { ok: false, reason: `op ${graph.ops[id].node} is in groups ${owner[id]} and ${i}` };
      owner[id] = i;
    }
  }
  for (let id = 0; id < n; id++) if (owner[id] < 0) return { ok: false, reason: `op ${graph.ops[id].node} is in no group` };
  for (let i = 0; i < plan.length; i++) {
    const comps = components(graph, plan[i]);
    if (comps.length > 1) return { ok: false, reason: `group ${i} is not connected: {${comps[0].map((id) => graph.ops[id].node).join(', ')}} and {${comps[1].map((id) => graph.ops[id].node).join(', ')}} share no edge` };
  }
  if (!executionOrder(graph, plan)) return { ok: false, reason: `the group graph has a cycle (${describeCycle(graph, plan)})` };
  if (cost) {
    for (let i = 0; i < plan.length; i++) {
      if (!cost.valid(plan[i])) {
        const m = cost.memory(plan[i]).bytes;
        return { ok: false, reason: `group ${i} (${plan[i].length} ops from ${graph.ops[plan[i][0]].node}) needs ${m} B on chip > buffer ${cost.bufferBytes} B under ${cost.scheme.toUpperCase()}` };
      }
    }
  }
  return { ok: true };
}

function describeCycle(graph: OpGraph, plan: Plan): string {
  const a = assignmentOf(plan, graph.ops.length);
  // DFS on the group graph for a back edge.
  const succ: number[][] = plan.map(() => []);
  for (let v = 0; v < graph.ops.length; v++) for (const u of graph.succ[v]) if (a[v] !== a[u] && !succ[a[v]].includes(a[u])) succ[a[v]].push(a[u]);
  const state = new Int8Array(plan.length);
  const stack: number[] = [];
  let cycle: number[] | undefined;
  const dfs = (g: number): boolean => {
    state[g] = 1;
    stack.push(g);
    for (const h of succ[g]) {
      if (state[h] === 1) {
        cycle = stack.slice(stack.indexOf(h));
        return true;
      }
      if (state[h] === 0 && dfs(h)) return true;
    }
    stack.pop();
    state[g] = 2;
    return false;
  };
  for (let g = 0; g < plan.length && !cycle; g++) if (state[g] === 0) dfs(g);
  return cycle ? cycle.map((g) => `group ${g} [${graph.ops[plan[g][0]].node}..]`).concat(`group ${cycle[0]}`).join(' -> ') : 'unknown';
}

/** Total DRAM bytes of a plan: sum of F_D over its groups. */
export function planDram(cost: CostModel, plan: Plan): number {
  let s = 0;
  for (const g of plan) s += cost.dram(g);
  return s;
}

/** Every op its own group. */
export function layerByLayer(graph: OpGraph): Plan {
  return graph.ops.map((op) => [op.id]);
}

/**
 * What can fuse at all. An op is **unfusable** when every two-op group it forms with a neighbour
 * is invalid: both cost models' validity is monotone under inclusion (a group's F_beta is at least
 * that of any connected sub-group with the same ops adjacent), so such an op can only ever be a
 * singleton — e.g. under LBDF a conv whose weights alone exceed beta. An edge is **fusable** when
 * its two ops form a valid pair; ops joined only by unfusable edges never share a group.
 */
export interface Fusability {
  /** Ops that can never be in a group of >= 2 ops (pruned to singletons before search). */
  unfusable: boolean[];
  /** Undirected fusable edges [u, v] with u < v, sorted. */
  edges: [number, number][];
  /** Fusable neighbours per op (sorted). */
  adj: number[][];
}

export function fusability(graph: OpGraph, cost: CostModel): Fusability {
  const n = graph.ops.length;
  const adj: number[][] = Array.from({ length: n }, () => []);
  const edges: [number, number][] = [];
  for (let u = 0; u < n; u++) {
    for (const v of graph.succ[u]) {
      if (cost.valid([u, v])) {
        edges.push([u, v]);
        adj[u].push(v);
        adj[v].push(u);
      }
    }
  }
  for (const l of adj) l.sort((a, b) => a - b);
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return { unfusable: adj.map((l) => l.length === 0), edges, adj };
}

/** DRAM of a plan split into all groups vs the groups holding fusable ops (the paper reports
 * the latter: singleton groups of unfusable ops excluded). */
export function dramSplit(cost: CostModel, plan: Plan, fus: Fusability): { total: number; fusable: number } {
  let total = 0;
  let fusable = 0;
  for (const g of plan) {
    const d = cost.dram(g);
    total += d;
    if (!(g.length === 1 && fus.unfusable[g[0]])) fusable += d;
  }
  return { total, fusable };
}
