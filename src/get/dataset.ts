/**
 * GET training data (Mills et al., "Applying Graph Explanation to Operator Fusion", arXiv 2501.00636): fusion groups drawn by random search on networks, each
 * paired with every buffer size in BETAS_KB, labelled invalid when the scheme's ground-truth
 * F_beta exceeds beta.
 *
 * Group sampler ("random LF search" in the paper): a random seed op grows by random data-flow
 * neighbours up to a random target size, and every growth step takes the convex closure (ops
 * on a path between members) so the group could stand in an acyclic plan. Target sizes are
 * drawn from 1..maxSize with a bias towards small groups, like the groups a random plan
 * contains; duplicates per network are dropped.
 */
import type { CostModel, FusionScheme, Group, OpGraph } from '../fusion/types.ts';
import { Rng } from '../util/random.ts';
import { convexClosure, groupKey } from '../fusion/groups.ts';

export const BETAS_KB = [128, 256, 512, 1024, 2048] as const;

export type CostFactory = (graph: OpGraph, scheme: FusionScheme, bufferBytes: number, elementBytes: number) => CostModel;

export interface NamedGraph {
  name: string;
  graph: OpGraph;
}

export interface Sample {
  net: string;
  graph: OpGraph;
  group: number[];
  bufferBytes: number;
  elementBytes: number;
  /** Ground truth: F_beta > beta. */
  invalid: boolean;
}

/** One random connected, convex group of about `target` ops. */
export function sampleGroup(graph: OpGraph, rng: Rng, target: number): number[] {
  const n = graph.ops.length;
  let members = [rng.int(0, n - 1)];
  for (let guard = 0; members.length < target && guard < 4 * target; guard++) {
    const set = new Set(members);
    const frontier: number[] = [];
    for (const v of members) {
      for (const u of graph.succ[v]) if (!set.has(u)) frontier.push(u);
      for (const u of graph.pred[v]) if (!set.has(u)) frontier.push(u);
    }
    if (frontier.length === 0) break;
    const uniq = [...new Set(frontier)].sort((a, b) => a - b);
    members = convexClosure(graph, [...members, rng.pick(uniq)]);
  }
  return members.sort((a, b) => a - b);
}

export interface DrawOptions {
  /** Distinct groups per network. */
  groupsPerNet: number;
  maxSize: number;
  seed: number;
}

/** Distinct random groups of a network (deterministic for a seed). */
export function drawGroups(graph: OpGraph, o: DrawOptions): number[][] {
  const rng = new Rng(o.seed);
  const seen = new Set<string>();
  const out: number[][] = [];
  for (let tries = 0; out.length < o.groupsPerNet && tries < o.groupsPerNet * 6; tries++) {
    // bias towards small groups: size = 1 + floor(maxSize * u^2)
    const u = rng.next();
    const target = 1 + Math.floor(o.maxSize * u * u);
    const g = sampleGroup(graph, rng, target);
    const k = groupKey(g);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(g);
  }
  return out;
}

export interface DatasetOptions extends DrawOptions {
  scheme: FusionScheme;
  /** Buffer sizes in KiB (default BETAS_KB). */
  betasKb?: readonly number[];
  /** Element widths; group i uses elementBytes[i % length] (default [4, 1]: fp32 and int8). */
  elementBytes?: readonly number[];
}

/** Labelled samples of every network, in a fixed order (network, group, beta). */
export function buildSamples(nets: readonly NamedGraph[], cost: CostFactory, o: DatasetOptions): Sample[] {
  const betas = o.betasKb ?? BETAS_KB;
  const widths = o.elementBytes ?? [4, 1];
  const out: Sample[] = [];
  nets.forEach((net, ni) => {
    const groups = drawGroups(net.graph, { ...o, seed: o.seed * 1009 + ni });
    const models = new Map<string, CostModel>();
    groups.forEach((group, gi) => {
      const eb = widths[gi % widths.length];
      for (const kb of betas) {
        const key = `${kb}/${eb}`;
        let cm = models.get(key);
        if (!cm) models.set(key, (cm = cost(net.graph, o.scheme, kb * 1024, eb)));
        out.push({ net: net.name, graph: net.graph, group, bufferBytes: kb * 1024, elementBytes: eb, invalid: !cm.valid(group) });
      }
    });
  });
  return out;
}

export interface Metrics {
  n: number;
  accuracy: number;
  /** F1 of the "invalid" class. */
  f1: number;
  precision: number;
  recall: number;
  invalidFraction: number;
}

export function metrics(pred: ArrayLike<boolean>, truth: ArrayLike<boolean>): Metrics {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  for (let i = 0; i < truth.length; i++) {
    if (pred[i] && truth[i]) tp++;
    else if (pred[i]) fp++;
    else if (truth[i]) fn++;
    else tn++;
  }
  const n = truth.length;
  const precision = tp + fp ? tp / (tp + fp) : 1;
  const recall = tp + fn ? tp / (tp + fn) : 1;
  const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
  return { n, accuracy: n ? (tp + tn) / n : 0, f1, precision, recall, invalidFraction: n ? (tp + fn) / n : 0 };
}

export type { Group };
