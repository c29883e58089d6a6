/**
 * `assertPlanValid(schedule, hw, { model })`: the fusion plan a schedule carries is a valid
 * partition plan for the accelerator. Throws a verification DnnfuseError (exit 1) naming the
 * first broken rule; returns a summary otherwise.
 *
 * Always checked, from the schedule alone:
 * - a plan exists; no node is in two groups; every grouped node is in the schedule's graph;
 * - every group of two or more ops fits the buffer (recorded F_beta <= hw.bufferBytes; single
 *   ops are always valid: layer-by-layer is the accelerator's fallback) and is not marked
 *   invalid;
 * - each group is weakly connected and the graph of groups is acyclic (on the schedule's
 *   graph; nodes outside every group — constants, aliases — are transparent for connectivity
 *   and count as their own vertices for cycles);
 * - the recorded total DRAM equals the sum of the groups' F_D.
 * With `model` (the model the plan was made for, i.e. after the rewriting passes), the plan is
 * re-checked against the cost model itself: op graph rebuilt from the model, every op covered,
 * F_beta/F_D recomputed for each group and compared with the recorded figures.
 */
import type { Model } from '../ir/graph.ts';
import type { Accelerator } from '../hardware/accelerator.ts';
import type { Schedule } from '../passes/manager.ts';
import { finalPlan, type ScheduledPlan } from '../passes/schedule-groups.ts';
import { verificationFailed } from '../errors.ts';
import { inferShapes } from '../analysis/shapes.ts';
import { buildOpGraph } from '../fusion/op-graph.ts';
import { createCostModel } from '../fusion/cost.ts';
import { checkPlan, planDram } from '../fusion/plan.ts';
import type { CostModel } from '../fusion/types.ts';

/** Options of `assertPlanValid`. */
export interface PlanValidOptions {
  /** Re-check against the cost model on this model (the plan's model, after rewrites). */
  model?: Model;
  /** Fusion scheme for the re-check (default: the schedule's). */
  scheme?: 'lbdf' | 'brr';
  /** Relative tolerance of recorded vs recomputed figures (default 1e-9: they must agree). */
  tolerance?: number;
}

/** What `assertPlanValid` checked: the plan's pass, group counts, largest group, DRAM, and whether
 * figures were recomputed.
 */
export interface PlanValidSummary {
  pass: string;
  groups: number;
  fusedGroups: number;
  largestGroupBytes: number;
  dramBytes?: number;
  recomputed: boolean;
}

const fail = (msg: string) => verificationFailed(`invalid plan: ${msg}`);

function structural(s: Schedule, plan: ScheduledPlan, hw: Pick<Accelerator, 'bufferBytes'>): void {
  const owner = new Map<string, number>();
  for (const g of plan.groups) {
    if (!g.nodes.length) throw fail(`group ${g.id} is empty`);
    for (const n of g.nodes) {
      const prev = owner.get(n);
      if (prev !== undefined) throw fail(`node '${n}' is in groups ${prev} and ${g.id}`);
      owner.set(n, g.id);
    }
    if (g.nodes.length > 1) {
      if (g.valid === false) throw fail(`group ${g.id} (${g.nodes.length} ops from '${g.nodes[0]}') is marked invalid`);
      if (g.memoryBytes !== undefined && g.memoryBytes > hw.bufferBytes) throw fail(`group ${g.id} (${g.nodes.length} ops from '${g.nodes[0]}') needs ${g.memoryBytes} B on chip > buffer ${hw.bufferBytes} B`);
    }
  }
  const groupDram = plan.groups.map((g) => g.dramBytes);
  if (plan.dramBytes !== undefined && groupDram.every((d) => d !== undefined)) {
    const sum = (groupDram as number[]).reduce((a, b) => a + b, 0);
    if (Math.abs(sum - plan.dramBytes) > 1e-6 * Math.max(1, plan.dramBytes)) throw fail(`total DRAM ${plan.dramBytes} B is not the sum of the groups' F_D (${sum} B)`);
  }
  const graph = s.graph;
  if (!graph) return;
  const names = new Set(graph.nodes.map((n) => n.name));
  for (const n of owner.keys()) if (!names.has(n)) throw fail(`node '${n}' is not in the schedule's graph`);
  const succ = new Map<string, string[]>(), pred = new Map<string, string[]>();
  for (const e of graph.edges) {
    (succ.get(e.from) ?? succ.set(e.from, []).get(e.from)!).push(e.to);
    (pred.get(e.to) ?? pred.set(e.to, []).get(e.to)!).push(e.from);
  }
  // Weak connectivity within a group, through ungrouped nodes.
  for (const g of plan.groups) {
    if (g.nodes.length < 2) continue;
    const seen = new Set<string>([g.nodes[0]]);
    const stack = [g.nodes[0]];
    while (stack.length) {
      const v = stack.pop()!;
      for (const u of [...(succ.get(v) ?? []), ...(pred.get(v) ?? [])]) {
        if (seen.has(u)) continue;
        const o = owner.get(u);
        if (o === g.id || o === undefined) {
          seen.add(u);
          stack.push(u);
        }
      }
    }
    const cut = g.nodes.find((n) => !seen.has(n));
    if (cut) throw fail(`group ${g.id} is not connected: '${cut}' shares no path with '${g.nodes[0]}' inside the group`);
  }
  // Acyclic group graph (Kahn on the contracted graph).
  const vid = (n: string) => (owner.has(n) ? `g${owner.get(n)}` : `n:${n}`);
  const out = new Map<string, Set<string>>(), indeg = new Map<string, number>();
  for (const n of graph.nodes) indeg.set(vid(n.name), 0);
  for (const e of graph.edges) {
    const a = vid(e.from), b = vid(e.to);
    if (a === b) continue;
    const set = out.get(a) ?? out.set(a, new Set()).get(a)!;
    if (!set.has(b)) {
      set.add(b);
      indeg.set(b, (indeg.get(b) ?? 0) + 1);
    }
  }
  const ready = [...indeg.entries()].filter(([, d]) => d === 0).map(([k]) => k);
  let done = 0;
  while (ready.length) {
    const v = ready.pop()!;
    done++;
    for (const u of out.get(v) ?? []) {
      const d = indeg.get(u)! - 1;
      indeg.set(u, d);
      if (d === 0) ready.push(u);
    }
  }
  if (done !== indeg.size) {
    const stuck = [...indeg.entries()].find(([k, d]) => d > 0 && k.startsWith('g'));
    throw fail(`the graph of groups has a cycle${stuck ? ` (through group ${stuck[0].slice(1)})` : ''}`);
  }
}

/** Asserts that a schedule's final fusion plan is valid: every node in at most one group, groups
 * connected, the group graph acyclic, every multi-op group within the buffer, DRAM total = sum of
 * the groups; with `opts.model`, F_beta and F_D recomputed by the cost model and every op covered.
 * Throws a DnnfuseError naming what broke; returns a summary.
 */
export function assertPlanValid(schedule: Schedule, hw?: Pick<Accelerator, 'bufferBytes' | 'elementType'>, opts: PlanValidOptions = {}): PlanValidSummary {
  const plan = finalPlan(schedule);
  if (!plan) throw fail('the schedule holds no fusion plan (no pass record of kind fusion-plan)');
  const acc = hw ?? schedule.hardware ?? undefined;
  if (!acc) throw fail('no accelerator given and none recorded in the schedule');
  structural(schedule, plan, acc);
  let recomputed = false;
  if (opts.model) {
    const scheme = opts.scheme ?? schedule.scheme ?? 'lbdf';
    inferShapes(opts.model);
    const og = buildOpGraph(opts.model);
    const idOf = new Map(og.ops.map((o) => [o.node, o.id]));
    const groups = plan.groups.map((g) => g.nodes.filter((n) => idOf.has(n)).map((n) => idOf.get(n)!).sort((a, b) => a - b)).filter((g) => g.length);
    const cost = createCostModel(scheme, og, acc);
    const r = checkPlan(og, groups, cost);
    if (!r.ok) throw fail(r.reason);
    const tol = opts.tolerance ?? 1e-9;
    const close = (a: number, b: number) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));
    for (const g of plan.groups) {
      const ids = g.nodes.filter((n) => idOf.has(n)).map((n) => idOf.get(n)!).sort((a, b) => a - b);
      if (!ids.length) continue;
      const mem = cost.memory(ids).bytes, dram = cost.dram(ids);
      if (g.memoryBytes !== undefined && !close(g.memoryBytes, mem)) throw fail(`group ${g.id}: recorded F_beta ${g.memoryBytes} B, the ${scheme.toUpperCase()} cost model gives ${mem} B`);
      if (g.dramBytes !== undefined && !close(g.dramBytes, dram)) throw fail(`group ${g.id}: recorded F_D ${g.dramBytes} B, the ${scheme.toUpperCase()} cost model gives ${dram} B`);
    }
    recomputed = true;
  }
  const fused = plan.groups.filter((g) => g.nodes.length > 1);
  return {
    pass: plan.pass,
    groups: plan.groups.length,
    fusedGroups: fused.length,
    largestGroupBytes: Math.max(0, ...fused.map((g) => g.memoryBytes ?? 0)),
    dramBytes: plan.dramBytes,
    recomputed,
  };
}

/**
 * The optimum plan DRAM of a tiny fusion problem by brute force over every set partition of its
 * ops (restricted growth strings; Bell(n) partitions, so keep n <= ~10), each checked with
 * `checkPlan`. The reference the exact solver and the window re-optimization are tested against:
 * it shares no code with them beyond the plan checks and the cost model.
 */
export function bruteForceOptimum(cost: CostModel): number {
  const n = cost.graph.ops.length;
  const a = new Array<number>(n).fill(0);
  let best = Infinity;
  const rec = (i: number, max: number) => {
    if (i === n) {
      const groups: number[][] = [];
      a.forEach((gi, v) => (groups[gi] ??= []).push(v));
      if (checkPlan(cost.graph, groups, cost).ok) best = Math.min(best, planDram(cost, groups));
      return;
    }
    for (let gi = 0; gi <= max + 1; gi++) {
      a[i] = gi;
      rec(i + 1, Math.max(max, gi));
    }
  };
  if (!n) return 0;
  rec(1, 0);
  return best;
}
