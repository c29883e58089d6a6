/**
 * The learnability view of an ONNX model: its operator graph (graph.ts conventions) with
 * Bellman-Ford weights from static tensor sizes when shape inference can give them.
 */
import type { Model } from '../ir/graph.ts';
import { analyzeShapes } from '../analysis/shapes.ts';
import { graphFromModel, type LearnGraph } from './graph.ts';

export interface ModelGraphInfo {
  graph: LearnGraph;
  /** How many edges got their weight from a static tensor size (the rest weigh 1). */
  sizedValues: number;
  shapeNote?: string;
}

export function modelLearnGraph(model: Model, opts: { weightBits?: number; overrides?: Record<string, number[]> } = {}): ModelGraphInfo {
  let types: Map<string, { shape?: (number | string | undefined)[] }> | undefined;
  let shapeNote: string | undefined;
  try {
    types = analyzeShapes(model, { overrides: opts.overrides }).types;
  } catch (e) {
    shapeNote = `shape inference failed (${e instanceof Error ? e.message : String(e)}); Bellman-Ford weights are 1`;
  }
  let sized = 0;
  const numel = (v: string): number | undefined => {
    const sh = types?.get(v)?.shape;
    if (!sh || !sh.every((d) => typeof d === 'number')) return undefined;
    sized++;
    return (sh as number[]).reduce((a, b) => a * b, 1);
  };
  const graph = graphFromModel(model, { weightBits: opts.weightBits, numel });
  return { graph, sizedValues: sized, shapeNote };
}
