/**
 * What the HTML report draws, independent of where it came from: the op graph, the fusion
 * groups with their buffer requirement and DRAM traffic, the buffer size, and the
 * DRAM-vs-buffer-size sweep. `fromSchedule` (report/schedule-adapter.ts) builds it from a
 * schedule.json; tests and library users may build it directly.
 */
export interface ReportNode {
  id: string;
  op: string;
}

/** An edge of the report's operator graph. */
export interface ReportEdge {
  from: string;
  to: string;
  /** The value (tensor) carried. */
  value: string;
}

/** One part of a group's buffer requirement in the report. */
export interface ReportMemoryItem {
  kind: string;
  tensor: string;
  bytes: number;
}

/** A fusion group as the report draws it. */
export interface ReportGroup {
  id: number;
  /** Node ids in the group. */
  nodes: string[];
  /** F_beta: on-chip bytes required. */
  memoryBytes?: number;
  /** F_D: DRAM bytes moved. */
  dramBytes?: number;
  valid?: boolean;
  items?: ReportMemoryItem[];
}

/** One point of the DRAM-access-vs-buffer-size curve. */
export interface SweepPoint {
  bufferBytes: number;
  dramBytes: number;
  /** DRAM of layer-by-layer execution at this buffer (optional baseline). */
  layerByLayerDramBytes?: number;
  groups?: number;
}

/** Everything the HTML report draws: graph, groups, memory breakdowns, DRAM-vs-buffer sweep. */
export interface ReportData {
  title: string;
  model: { name: string; path?: string; nodesBefore?: number; nodesAfter?: number };
  hardware: { name: string; bufferBytes: number; elementType: string } | null;
  scheme: string | null;
  seed?: number;
  graph: { nodes: ReportNode[]; edges: ReportEdge[] };
  groups: ReportGroup[];
  totals: { dramBytes?: number; layerByLayerDramBytes?: number };
  sweep: SweepPoint[];
  /** Where the sweep came from (e.g. 'plan annotations', 'recomputed by dnnfuse report'). */
  sweepSource?: string;
  passes: { name: string; changed: boolean; ms: number }[];
  notes: string[];
}
