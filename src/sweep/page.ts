/**
 * The sweep's HTML page: one self-contained file (inline SVG and CSS, no script, no network).
 * Per model, the DRAM-vs-buffer curves on log axes, LBDF and BRR side by side (one line per
 * dtype / bandwidth), with layer-by-layer dashed and the knee marked (the smallest buffer whose
 * DRAM is within 5% of the curve's minimum); then a table of the smallest buffer reaching a
 * chosen reduction vs layer-by-layer, per model, scheme and dtype. The charts are Vega-Lite
 * specs rendered to SVG at generation time (vega's headless renderer), so the page needs nothing
 * at view time. The curve is the best plan's DRAM (the optimum when the sweep computed it),
 * made monotone (running minimum over ascending buffers: a plan valid at a smaller buffer is
 * valid at a larger one).
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { formatSize } from '../hardware/load.ts';
import type { PointRow } from './row.ts';

export interface PageOptions {
  /** Target reduction of DRAM traffic vs layer-by-layer for the table (default 0.5). */
  reduction?: number;
  /** Knee tolerance: within this fraction of the curve's minimum (default 0.05). */
  kneeTolerance?: number;
  title?: string;
}

export interface CurvePoint {
  buffer: number;
  dram: number;
  lbl: number;
  /** The proven lower bound (the largest proven at this or any larger size), when computed. */
  bound: number | null;
}

export interface Curve {
  model: string;
  scheme: string;
  dtype: string;
  bandwidth: number;
  points: CurvePoint[];
  /** Smallest buffer within the tolerance of the minimum. */
  knee: CurvePoint;
  min: number;
}

/** The curves of a set of rows: one per model x scheme x dtype x bandwidth (x search options),
 * ascending buffers, DRAM made monotone. Error rows are left out. */
export function sweepCurves(rows: PointRow[], kneeTolerance = 0.05): Curve[] {
  const by = new Map<string, PointRow[]>();
  for (const r of rows) {
    if (r.status === 'error' || r.dram_bytes === null) continue;
    const k = [r.model, r.scheme, r.dtype, r.bandwidth, r.search, r.optimum, r.seed].join('\u0000');
    (by.get(k) ?? by.set(k, []).get(k)!).push(r);
  }
  const out: Curve[] = [];
  for (const rs of by.values()) {
    rs.sort((a, b) => a.buffer_bytes - b.buffer_bytes);
    let run = Infinity;
    const points: CurvePoint[] = rs.map((r) => {
      run = Math.min(run, r.optimum_bytes ?? r.dram_bytes!);
      return { buffer: r.buffer_bytes, dram: run, lbl: r.lbl_bytes!, bound: r.bound_bytes };
    });
    // a bound proven at a larger buffer also holds at a smaller one (as the view points_monotone)
    let high = -Infinity;
    for (let i = points.length - 1; i >= 0; i--) if (points[i].bound !== null) points[i].bound = high = Math.max(high, points[i].bound!);
    const min = Math.min(...points.map((p) => p.dram));
    const knee = points.find((p) => p.dram <= min * (1 + kneeTolerance))!;
    out.push({ model: rs[0].model, scheme: rs[0].scheme, dtype: rs[0].dtype, bandwidth: rs[0].bandwidth, points, knee, min });
  }
  const rank = (s: string) => (s === 'lbdf' ? 0 : 1);
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return out.sort((a, b) => cmp(a.model, b.model) || rank(a.scheme) - rank(b.scheme) || cmp(a.dtype, b.dtype) || a.bandwidth - b.bandwidth);
}

/** Smallest buffer of a curve whose DRAM is at most (1 - reduction) x layer-by-layer. */
export function smallestBufferFor(c: Curve, reduction: number): CurvePoint | undefined {
  return c.points.find((p) => p.dram <= (1 - reduction) * p.lbl);
}

const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);
const mb = (b: number) => (b / 1e6).toFixed(3);

async function svgOf(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

function modelSpec(model: string, curves: Curve[]): TopLevelSpec {
  const label = (c: Curve) => (curves.some((d) => d.bandwidth !== c.bandwidth) ? `${c.dtype} ${(c.bandwidth / 1e9).toFixed(1)} GB/s` : c.dtype);
  const pts = curves.flatMap((c) => c.points.map((p) => ({ scheme: c.scheme.toUpperCase(), series: label(c), kib: p.buffer / 1024, mb: p.dram / 1e6, lbl: p.lbl / 1e6, bound: p.bound === null ? null : p.bound / 1e6 })));
  const gaps = pts.filter((p) => p.bound !== null && p.bound < p.mb * (1 - 1e-9));
  const knees = curves.map((c) => ({ scheme: c.scheme.toUpperCase(), series: label(c), kib: c.knee.buffer / 1024, mb: c.knee.dram / 1e6, text: `knee ${formatSize(c.knee.buffer)}` }));
  // The x axis spans the swept sizes (no 'nice' decade padding) and labels them in KiB / MiB.
  const kibs = [...new Set(pts.map((p) => p.kib))].sort((a, b) => a - b);
  const ticks = kibs.length <= 10 ? kibs : kibs.filter((_, i) => i % Math.ceil(kibs.length / 10) === 0);
  const x = {
    field: 'kib',
    type: 'quantitative' as const,
    scale: { type: 'log' as const, base: 2, nice: false, domain: [kibs[0] / 1.25, kibs[kibs.length - 1] * 1.25] },
    axis: { values: ticks, labelExpr: "datum.value >= 1024 ? format(datum.value / 1024, '~g') + ' MiB' : format(datum.value, '~g') + ' KiB'", labelAngle: ticks.length > 6 ? -40 : 0, labelOverlap: false, labelFontSize: 9, grid: true },
    title: 'on-chip buffer (log)',
  };
  const y = { field: 'mb', type: 'quantitative' as const, scale: { type: 'log' as const }, title: 'DRAM traffic (MB, log)' };
  const color = { field: 'series', type: 'nominal' as const, title: 'dtype' };
  const panel = (scheme: string) => ({
    title: scheme,
    width: 300,
    height: 200,
    layer: [
      // where the optimum is not proven: the band between the proven bound and the best plan
      ...(gaps.some((p) => p.scheme === scheme) ? [{ data: { values: gaps.filter((p) => p.scheme === scheme) }, mark: { type: 'errorbar' as const, ticks: true, thickness: 1.5 }, encoding: { x, y: { ...y, field: 'bound' }, y2: { field: 'mb' }, color } }] : []),
      { data: { values: pts.filter((p) => p.scheme === scheme) }, mark: { type: 'line' as const, strokeDash: [4, 3], opacity: 0.6 }, encoding: { x, y: { ...y, field: 'lbl' }, color, detail: color } },
      { data: { values: pts.filter((p) => p.scheme === scheme) }, mark: { type: 'line' as const, point: true }, encoding: { x, y, color } },
      { data: { values: knees.filter((p) => p.scheme === scheme) }, mark: { type: 'point' as const, shape: 'diamond', size: 140, filled: true, color: '#d62728' }, encoding: { x, y } },
      { data: { values: knees.filter((p) => p.scheme === scheme) }, mark: { type: 'text' as const, dy: -12, fontSize: 10, color: '#d62728' }, encoding: { x, y, text: { field: 'text' } } },
    ],
  });
  const schemes = [...new Set(curves.map((c) => c.scheme.toUpperCase()))].sort((a, b) => (a === 'LBDF' ? -1 : b === 'LBDF' ? 1 : a < b ? -1 : 1));
  return { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', title: model, hconcat: schemes.map(panel), resolve: { scale: { y: 'shared' } }, config: { font: 'sans-serif' } } as TopLevelSpec;
}

/** The page's HTML. Deterministic: the same rows give the same page. */
export async function sweepPage(rows: PointRow[], o: PageOptions = {}): Promise<string> {
  const reduction = o.reduction ?? 0.5;
  const curves = sweepCurves(rows, o.kneeTolerance ?? 0.05);
  const models = [...new Set(curves.map((c) => c.model))];
  const figures: string[] = [];
  for (const m of models) {
    const cs = curves.filter((c) => c.model === m);
    const svg = (await svgOf(modelSpec(m, cs))).replace(/\s(href|xlink:href)="https?:[^"]*"/g, '');
    figures.push(`<figure class="model-chart" data-model="${esc(m)}" data-curves="${cs.length}" data-knees="${cs.map((c) => `${c.scheme}:${c.dtype}:${c.knee.buffer}`).join(' ')}">${svg}</figure>`);
  }
  const tableRows = curves.map((c) => {
    const s = smallestBufferFor(c, reduction);
    const lbl = c.points[0].lbl;
    return `<tr class="reach" data-model="${esc(c.model)}" data-scheme="${c.scheme}"><td>${esc(c.model)}</td><td>${c.scheme.toUpperCase()}</td><td>${c.dtype}</td><td>${(c.bandwidth / 1e9).toFixed(1)}</td><td class="buf">${s ? formatSize(s.buffer) : `not reached (&le; ${formatSize(c.points[c.points.length - 1].buffer)})`}</td><td>${s ? `${mb(s.dram)} (-${((1 - s.dram / s.lbl) * 100).toFixed(1)}%)` : '-'}</td><td>${formatSize(c.knee.buffer)}</td><td>${mb(c.min)}</td><td>${mb(lbl)}</td></tr>`;
  });
  const total = rows.length;
  const errors = rows.filter((r) => r.status === 'error').length;
  const withOpt = rows.some((r) => r.optimum);
  const title = o.title ?? 'dnnfuse sweep';
  return `<!doctype html>
<html lang="en" data-models="${models.length}" data-curves="${curves.length}">
<head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body { font: 14px/1.4 sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
figure.model-chart { margin: 0; padding: 8px; border: 1px solid #ddd; border-radius: 4px; }
table { border-collapse: collapse; } th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
td:first-child, th:first-child { text-align: left; } .note { color: #666; }
</style></head>
<body>
<h1>${esc(title)}</h1>
<p class="note">${total} points, ${models.length} model${models.length === 1 ? '' : 's'}${errors ? `, ${errors} failed points left out` : ''}. Curve: DRAM traffic of the ${withOpt ? 'optimal plan (or the best found, with a bar down to the proven lower bound where optimality is not proven)' : 'search’s plan'} at each buffer size, monotone over ascending sizes; dashed: layer-by-layer. Red diamond: the knee, the smallest buffer within ${((o.kneeTolerance ?? 0.05) * 100).toFixed(0)}% of the curve’s minimum.</p>
<h2>Smallest buffer reaching a ${(reduction * 100).toFixed(0)}% reduction of DRAM traffic vs layer-by-layer</h2>
<table id="reach"><thead><tr><th>model</th><th>scheme</th><th>dtype</th><th>GB/s</th><th>smallest buffer</th><th>DRAM there (MB)</th><th>knee</th><th>min DRAM (MB)</th><th>layer-by-layer (MB)</th></tr></thead>
<tbody>
${tableRows.join('\n')}
</tbody></table>
<h2>DRAM traffic vs buffer size, LBDF and BRR side by side</h2>
<div class="charts">
${figures.join('\n')}
</div>
</body></html>
`;
}
