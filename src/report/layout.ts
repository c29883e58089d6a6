/**
 * Graph layout for the report, computed in node with elkjs (Eclipse Layout Kernel, layered
 * algorithm) at report-generation time; the page only embeds the resulting coordinates as
 * SVG, so it needs no layout code and no network.
 *
 * Fusion groups are compound nodes (ELK lays out each group's ops inside a box and routes
 * edges across box borders with hierarchy handling INCLUDE_CHILDREN). Past `compoundLimit`
 * nodes the compound layout gets slow, so large graphs are laid out flat and groups are shown
 * by colour only.
 */
import ElkBundled from 'elkjs/lib/elk.bundled.js';
import type { ElkNode, ElkExtendedEdge, ELK as ElkApi } from 'elkjs/lib/elk-api.js';

// elkjs is CommonJS: under NodeNext its default import is the module object or the class.
const ELK = ((ElkBundled as unknown as { default?: unknown }).default ?? ElkBundled) as unknown as new () => ElkApi;
import type { ReportData } from './data.ts';

export interface Point {
  x: number;
  y: number;
}

export interface LaidOutNode {
  id: string;
  op: string;
  group: number | undefined;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface LaidOutGroup {
  id: number;
  /** Absent in flat layouts (no box around the group). */
  box?: { x: number; y: number; width: number; height: number };
}

export interface LaidOutEdge {
  from: string;
  to: string;
  value: string;
  points: Point[];
}

export interface Layout {
  width: number;
  height: number;
  compound: boolean;
  nodes: LaidOutNode[];
  groups: LaidOutGroup[];
  edges: LaidOutEdge[];
}

const NODE_H = 22;
const CHAR_W = 7;

const LAYERED = {
  'elk.algorithm': 'layered',
  'elk.direction': 'DOWN',
  'elk.edgeRouting': 'POLYLINE',
  'elk.layered.spacing.nodeNodeBetweenLayers': '18',
  'elk.spacing.nodeNode': '12',
  'elk.layered.nodePlacement.strategy': 'NETWORK_SIMPLEX',
  // Deterministic layouts: same graph, same picture.
  'elk.randomSeed': '1',
};

export async function layoutGraph(data: ReportData, opts: { compoundLimit?: number } = {}): Promise<Layout> {
  const groupOf = new Map<string, number>();
  for (const g of data.groups) for (const n of g.nodes) groupOf.set(n, g.id);
  const nodeIds = new Set(data.graph.nodes.map((n) => n.id));
  const compound = data.groups.length > 0 && data.graph.nodes.length <= (opts.compoundLimit ?? 600);

  const leaf = (n: { id: string; op: string }): ElkNode => ({ id: `n:${n.id}`, width: Math.max(40, n.op.length * CHAR_W + 14), height: NODE_H });
  const edges: ElkExtendedEdge[] = [];
  const seen = new Set<string>();
  for (const [i, e] of data.graph.edges.entries()) {
    if (!nodeIds.has(e.from) || !nodeIds.has(e.to) || e.from === e.to) continue;
    const key = `${e.from}\u0000${e.to}`;
    if (seen.has(key)) continue; // one drawn edge per node pair
    seen.add(key);
    edges.push({ id: `e${i}`, sources: [`n:${e.from}`], targets: [`n:${e.to}`] });
  }

  let root: ElkNode;
  if (compound) {
    const children: ElkNode[] = [];
    const groupBoxes = new Map<number, ElkNode>();
    for (const g of data.groups) {
      const box: ElkNode = { id: `g:${g.id}`, children: [], layoutOptions: { ...LAYERED, 'elk.padding': '[top=16,left=6,bottom=6,right=6]' } };
      groupBoxes.set(g.id, box);
      children.push(box);
    }
    for (const n of data.graph.nodes) {
      const g = groupOf.get(n.id);
      if (g !== undefined) groupBoxes.get(g)!.children!.push(leaf(n));
      else children.push(leaf(n));
    }
    root = { id: 'root', layoutOptions: { ...LAYERED, 'elk.hierarchyHandling': 'INCLUDE_CHILDREN' }, children: children.filter((c) => !c.children || c.children.length > 0), edges };
  } else {
    root = { id: 'root', layoutOptions: LAYERED, children: data.graph.nodes.map(leaf), edges };
  }

  const elk = new ELK();
  const out = await elk.layout(root);

  const nodes: LaidOutNode[] = [];
  const groups: LaidOutGroup[] = [];
  const opOf = new Map(data.graph.nodes.map((n) => [n.id, n.op]));
  const absolute = new Map<string, Point>(); // container offsets (edge coordinates are relative to their container)
  const walk = (n: ElkNode, ox: number, oy: number) => {
    absolute.set(n.id, { x: ox, y: oy });
    for (const c of n.children ?? []) {
      const x = ox + (c.x ?? 0), y = oy + (c.y ?? 0);
      if (c.id.startsWith('g:')) {
        groups.push({ id: Number(c.id.slice(2)), box: { x, y, width: c.width ?? 0, height: c.height ?? 0 } });
        walk(c, x, y);
      } else {
        const id = c.id.slice(2);
        nodes.push({ id, op: opOf.get(id) ?? '?', group: groupOf.get(id), x, y, width: c.width ?? 0, height: c.height ?? 0 });
      }
    }
  };
  walk(out, 0, 0);
  if (!compound) for (const g of data.groups) groups.push({ id: g.id });

  const laidEdges: LaidOutEdge[] = [];
  const byId = new Map(data.graph.edges.map((e, i) => [`e${i}`, e]));
  const collect = (n: ElkNode) => {
    const off = absolute.get(n.id) ?? { x: 0, y: 0 };
    for (const e of (n.edges ?? []) as ElkExtendedEdge[]) {
      const src = byId.get(e.id);
      if (!src) continue;
      // ELK reports edge sections relative to the edge's container ("container" field).
      const c = absolute.get((e as ElkExtendedEdge & { container?: string }).container ?? n.id) ?? off;
      const pts: Point[] = [];
      for (const s of e.sections ?? []) {
        pts.push({ x: c.x + s.startPoint.x, y: c.y + s.startPoint.y });
        for (const b of s.bendPoints ?? []) pts.push({ x: c.x + b.x, y: c.y + b.y });
        pts.push({ x: c.x + s.endPoint.x, y: c.y + s.endPoint.y });
      }
      if (pts.length) laidEdges.push({ from: src.from, to: src.to, value: src.value, points: pts });
    }
    for (const ch of n.children ?? []) collect(ch);
  };
  collect(out);
  groups.sort((a, b) => a.id - b.id);
  return { width: out.width ?? 0, height: out.height ?? 0, compound, nodes, groups, edges: laidEdges };
}
