/**
 * `dnnfuse inspect model.onnx [--shape name=1x3x224x224 ...] [--json] [--nodes] [--initializers]`
 *
 * Loads a model, infers shapes and prints: a summary (inputs, outputs, parameters, MACs,
 * activation bytes), the op histogram with parameters and MACs per op type, and every
 * tensor's dtype, shape and bytes (initializers with --initializers, per-node rows with
 * --nodes). Formulas: src/analysis/stats.ts.
 *
 * `--json` prints one JSON document instead (schema `dnnfuse.inspect`, version 1):
 *   { schema, version,
 *     model:   { path, irVersion, opsets: [{domain, version}], producer, graph },
 *     inputs:  [{ name, dtype, shape }], outputs: [{ name, dtype, shape }],
 *     totals:  { nodes, params, trainableParams, paramBytes, macs, macsComplete,
 *                activationBytes, maxActivationBytes, unknownShapes },
 *     ops:     [{ op, count, params, macs }]            (sorted by count, then name)
 *     nodes:   [{ name, op, params, macs, outputBytes }] (topological order)
 *     tensors: [{ name, kind: input|initializer|activation|output, dtype, shape, elements,
 *                 bytes, producer, consumers }],
 *     unknown: [{ value, reason }] }                     (values whose shape is not static)
 *   A shape is an array of dims: a number, a string (symbolic dim_param) or null (unknown);
 *   shape null = rank unknown. Unknown counts are null.
 *
 * Output is assembled completely before anything is written: on an error nothing reaches
 * stdout and stderr gets one line (`dnnfuse: ...`), exit code 2.
 */
import { collect } from '../options.ts';
import type { Command } from 'commander';
import { loadModel } from '../../onnx/io.ts';
import { analyzeShapes, applyDimOverrides, parseShapeOverrides } from '../../analysis/shapes.ts';
import { modelStats, type ModelStats } from '../../analysis/stats.ts';
import { dtypeName } from '../../ir/dtype.ts';
import type { Dim, Model } from '../../ir/graph.ts';

export const INSPECT_SCHEMA_VERSION = 1;


export interface InspectOptions {
  shape?: string[];
  dim?: string[];
  json?: boolean;
  nodes?: boolean;
  initializers?: boolean;
}

const jsonShape = (s: Dim[] | undefined) => (s ? s.map((d) => (d === undefined ? null : d)) : null);
const fmtShape = (s: Dim[] | undefined) => (s ? `[${s.map((d) => (d === undefined ? '?' : d)).join('x')}]` : '[?]');
const int = (n: number | undefined) => (n === undefined ? '?' : n.toLocaleString('en-US'));

export function humanBytes(n: number | undefined): string {
  if (n === undefined) return '?';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n, u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[u]}`;
}

function humanCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(2)} k`;
  return String(n);
}

/** Left/right aligned text table (numeric-looking columns right-aligned). */
export function table(header: string[], rows: string[][], right: boolean[] = []): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (right[i] ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ').trimEnd();
  return [line(header), line(w.map((x) => '-'.repeat(x))), ...rows.map(line)].join('\n');
}

/** The JSON document described in the header comment. */
export function inspectJson(model: Model, path: string, overrides: Record<string, number[]>) {
  const g = model.graph;
  const stats = modelStats(model, { overrides });
  const a = analyzeShapes(model, { overrides });
  const io = (names: string[]) => names.map((name) => {
    const t = a.types.get(name);
    return { name, dtype: t ? dtypeName(t.elemType) : 'unknown', shape: jsonShape(t?.shape) };
  });
  return {
    schema: 'dnnfuse.inspect',
    version: INSPECT_SCHEMA_VERSION,
    model: {
      path,
      irVersion: model.irVersion,
      opsets: model.opsetImports.map((o) => ({ domain: o.domain, version: o.version })),
      producer: [model.producerName, model.producerVersion].filter((x) => x).join(' '),
      graph: g.name,
    },
    inputs: io(g.inputs.filter((i) => !g.initializers.has(i.name)).map((i) => i.name)),
    outputs: io(g.outputs.map((o) => o.name)),
    totals: stats.totals,
    ops: opRows(stats).map(([op, count, params, macs]) => ({ op, count, params, macs })),
    nodes: stats.nodes.map((n) => ({ name: n.name, op: n.opType, params: n.params, macs: n.macs ?? null, outputBytes: n.outputBytes ?? null })),
    tensors: stats.tensors.map((t) => ({ name: t.name, kind: t.kind, dtype: t.dtype, shape: jsonShape(t.shape), elements: t.elements ?? null, bytes: t.bytes ?? null, producer: t.producer ?? null, consumers: t.consumers })),
    unknown: stats.tensors.filter((t) => t.bytes === undefined && t.kind !== 'initializer').map((t) => ({ value: t.name, reason: a.reasons.get(t.name) ?? 'unknown' })),
  };
}

/** [op, count, params, macs] per op type, histogram order. */
function opRows(stats: ModelStats): [string, number, number, number | null][] {
  const per = new Map<string, { params: number; macs: number | null }>();
  for (const n of stats.nodes) {
    const e = per.get(n.opType) ?? { params: 0, macs: 0 };
    e.params += n.params;
    e.macs = e.macs === null || n.macs === undefined ? null : e.macs + n.macs;
    per.set(n.opType, e);
  }
  return stats.opHistogram.map(([op, count]) => [op, count, per.get(op)!.params, per.get(op)!.macs]);
}

/** The human-readable report. */
export function inspectText(model: Model, path: string, overrides: Record<string, number[]>, opts: InspectOptions = {}): string {
  const j = inspectJson(model, path, overrides);
  const t = j.totals;
  const out: string[] = [];
  out.push(`model     ${path}  (IR ${j.model.irVersion}, ${j.model.opsets.map((o) => `${o.domain || 'ai.onnx'} v${o.version}`).join(', ')}${j.model.producer ? `, ${j.model.producer}` : ''})`);
  for (const i of j.inputs) out.push(`input     ${i.name}  ${i.dtype} ${fmtShape(i.shape?.map((d) => d ?? undefined))}`);
  for (const o of j.outputs) out.push(`output    ${o.name}  ${o.dtype} ${fmtShape(o.shape?.map((d) => d ?? undefined))}`);
  out.push(`nodes     ${int(t.nodes)}`);
  out.push(`params    ${int(t.params)} (${humanBytes(t.paramBytes)}); trainable (without BatchNorm running stats) ${int(t.trainableParams)}`);
  out.push(`MACs      ${int(t.macs)} (${humanCount(t.macs)}MAC${t.macsComplete ? '' : ', lower bound: some shapes unknown; fix dynamic inputs with --shape'})`);
  out.push(`activations ${humanBytes(t.activationBytes)} in total, largest ${humanBytes(t.maxActivationBytes)}${t.unknownShapes ? `; ${t.unknownShapes} with unknown shape` : ''}`);
  const dyn = j.inputs.find((i) => !i.shape || i.shape.some((d) => typeof d !== 'number'));
  // Named dims shared by several inputs (a KV cache's batch, seq, past): one --dim each fixes all.
  const named = [...new Set(j.inputs.flatMap((i) => (i.shape ?? []).filter((d): d is string => typeof d === 'string')))];
  if (dyn && named.length > 1) out.push(`hint      inputs have named dynamic dims: pass ${named.map((d) => `--dim ${d}=N`).join(' ')} (N = your sizes) for static shapes`);
  else if (dyn) out.push(`hint      input '${dyn.name}' has dynamic dims: pass --shape ${dyn.name}=${(dyn.shape ?? [1, 3, 224, 224]).map((d, k) => (typeof d === 'number' ? d : k === 0 ? 1 : 'D')).join('x')} (D = your size) for static shapes`);
  out.push('', 'ops');
  out.push(table(['op', 'count', 'params', 'MACs'], j.ops.map((o) => [o.op, String(o.count), int(o.params), o.macs === null ? '?' : int(o.macs)]), [false, true, true, true]));
  if (opts.nodes) {
    out.push('', 'nodes');
    out.push(table(['node', 'op', 'params', 'MACs', 'output bytes'], j.nodes.map((n) => [n.name, n.op, int(n.params), n.macs === null ? '?' : int(n.macs), humanBytes(n.outputBytes ?? undefined)]), [false, false, true, true, true]));
  }
  const rows = j.tensors.filter((x) => opts.initializers || x.kind !== 'initializer');
  out.push('', opts.initializers ? 'tensors' : 'tensors (initializers: --initializers)');
  out.push(table(['tensor', 'kind', 'dtype', 'shape', 'bytes', 'producer'], rows.map((x) => [x.name, x.kind, x.dtype, fmtShape(x.shape?.map((d) => d ?? undefined)), humanBytes(x.bytes ?? undefined), x.producer ?? '']), [false, false, false, false, true, false]));
  if (j.unknown.length) {
    out.push('', 'unknown shapes');
    for (const u of j.unknown.slice(0, 20)) out.push(`  ${u.value}: ${u.reason}`);
    if (j.unknown.length > 20) out.push(`  ... and ${j.unknown.length - 20} more`);
  }
  return out.join('\n') + '\n';
}

export function register(program: Command): void {
  program
    .command('inspect')
    .description('show ops, parameters, MACs and every tensor\'s shape and bytes')
    .argument('<model>', 'ONNX model file')
    .option('--shape <name=dims>', 'set a graph input\'s dims, e.g. --shape input=1x3x224x224 (repeatable)', collect, [])
    .option('--dim <name=n>', 'fix every input\'s dim named NAME (an ONNX dim_param, e.g. batch=1 or past=6) at once (repeatable)', collect, [])
    .option('--json', 'print a JSON document (schema dnnfuse.inspect, version 1) instead of tables')
    .option('--nodes', 'also list every node with its parameters, MACs and output bytes')
    .option('--initializers', 'also list initializers in the tensor table')
    .action((modelPath: string, opts: InspectOptions) => {
      const overrides = parseShapeOverrides(opts.shape);
      const model = loadModel(modelPath);
      applyDimOverrides(model, opts.dim ?? []);
      const text = opts.json ? JSON.stringify(inspectJson(model, modelPath, overrides), null, 2) + '\n' : inspectText(model, modelPath, overrides, opts);
      process.stdout.write(text); // a reader that closes early: main.ts quietClosedPipes
    });
}
