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

export interface ReportEdge {
  from: string;
  to: string;
  /** The value (tensor) carried. */
  value: string;
}

export interface ReportMemoryItem {
  kind: string;
  tensor: string;
  bytes: number;
}

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

export interface SweepPoint {
  bufferBytes: number;
  dramBytes: number;
  /** DRAM of layer-by-layer execution at this buffer (optional baseline). */
  layerByLayerDramBytes?: number;
  groups?: number;
}

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
