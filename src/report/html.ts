/**
 * Renders the report as one self-contained HTML page: inline CSS, inline SVG (graph with
 * fusion groups coloured, per-group memory bars against the buffer, DRAM-vs-buffer curve) and
 * a few lines of inline JS for highlighting. No external resource of any kind is referenced,
 * so the page opens offline and from a CI artifact.
 */
import type { ReportData, ReportGroup } from './data.ts';
import type { Layout } from './layout.ts';

const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const r1 = (x: number) => Math.round(x * 10) / 10;

/** Distinct colours by golden-angle hue steps (stable per group id). */
export function groupColour(id: number, light = false): string {
  const h = Math.round((id * 137.508) % 360);
  return light ? `hsl(${h} 70% 92%)` : `hsl(${h} 62% 52%)`;
}

export function formatBytes(b: number | undefined): string {
  if (b === undefined || !Number.isFinite(b)) return '–';
  const a = Math.abs(b);
  if (a >= 1024 * 1024) return `${(b / 1024 / 1024).toFixed(a >= 100 * 1024 * 1024 ? 0 : 2)} MiB`;
  if (a >= 1024) return `${(b / 1024).toFixed(a >= 100 * 1024 ? 0 : 1)} KiB`;
  return `${b} B`;
}

function graphSvg(layout: Layout, data: ReportData): string {
  const pad = 10;
  const w = Math.ceil(layout.width + 2 * pad), h = Math.ceil(layout.height + 2 * pad);
  const parts: string[] = [];
  parts.push(`<svg id="graph" class="graph" xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="operator graph with fusion groups">`);
  parts.push('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#666"/></marker></defs>');
  parts.push(`<g transform="translate(${pad},${pad})">`);
  const groupInfo = new Map(data.groups.map((g) => [g.id, g]));
  // Group boxes first (behind edges and nodes); in flat layouts a group is its coloured nodes.
  const nodesByGroup = new Map<number | undefined, typeof layout.nodes>();
  for (const n of layout.nodes) {
    const l = nodesByGroup.get(n.group) ?? [];
    l.push(n);
    nodesByGroup.set(n.group, l);
  }
  const nodeSvg = (n: (typeof layout.nodes)[number]) => {
    const fill = n.group === undefined ? '#eee' : groupColour(n.group, true);
    const stroke = n.group === undefined ? '#999' : groupColour(n.group);
    return `<g class="op" data-node="${esc(n.id)}"><title>${esc(n.id)} (${esc(n.op)})${n.group !== undefined ? ` — group ${n.group}` : ''}</title><rect x="${r1(n.x)}" y="${r1(n.y)}" width="${r1(n.width)}" height="${r1(n.height)}" rx="4" fill="${fill}" stroke="${stroke}"/><text x="${r1(n.x + n.width / 2)}" y="${r1(n.y + n.height / 2 + 4)}" text-anchor="middle">${esc(n.op)}</text></g>`;
  };
  const edgeSvg: string[] = [];
  for (const e of layout.edges) {
    const d = e.points.map((p, i) => `${i ? 'L' : 'M'}${r1(p.x)},${r1(p.y)}`).join('');
    edgeSvg.push(`<path class="edge" d="${d}" marker-end="url(#arrow)"><title>${esc(e.value)}: ${esc(e.from)} → ${esc(e.to)}</title></path>`);
  }
  for (const g of layout.groups) {
    const info = groupInfo.get(g.id);
    const over = info?.valid === false || (info?.memoryBytes !== undefined && data.hardware && info.memoryBytes > data.hardware.bufferBytes);
    const title = `group ${g.id}: ${info?.nodes.length ?? 0} ops, buffer ${formatBytes(info?.memoryBytes)}, DRAM ${formatBytes(info?.dramBytes)}${over ? ' (EXCEEDS BUFFER)' : ''}`;
    parts.push(`<g class="fusion-group${over ? ' invalid' : ''}" data-group="${g.id}"><title>${esc(title)}</title>`);
    if (g.box) {
      parts.push(`<rect class="group-box" x="${r1(g.box.x)}" y="${r1(g.box.y)}" width="${r1(g.box.width)}" height="${r1(g.box.height)}" rx="6" fill="${groupColour(g.id, true)}" stroke="${groupColour(g.id)}"/>`);
      parts.push(`<text class="group-label" x="${r1(g.box.x + 5)}" y="${r1(g.box.y + 12)}">G${g.id}</text>`);
    }
    parts.push('</g>');
  }
  parts.push(`<g class="edges">${edgeSvg.join('')}</g>`);
  for (const [gid, ns] of nodesByGroup) {
    parts.push(`<g class="ops"${gid !== undefined ? ` data-group="${gid}"` : ''}>${ns.map(nodeSvg).join('')}</g>`);
  }
  parts.push('</g></svg>');
  return parts.join('\n');
}

const KIND_COLOURS: Record<string, string> = {
  weights: '#4e79a7',
  'line-buffer': '#f28e2b',
  'skip-buffer': '#e15759',
  'full-map': '#76b7b2',
  'live-map': '#59a14f',
  'weight-subgroup': '#edc948',
};

function memoryBars(data: ReportData): string {
  const groups = data.groups.filter((g) => g.memoryBytes !== undefined);
  if (!groups.length) return '<p class="muted">The schedule has no per-group memory figures.</p>';
  const buffer = data.hardware?.bufferBytes;
  const maxVal = Math.max(buffer ?? 0, ...groups.map((g) => g.memoryBytes!));
  const rowH = 16, labelW = 64, barW = 560, top = 22;
  const h = top + groups.length * rowH + 8;
  const x = (v: number) => labelW + (v / maxVal) * barW;
  const out: string[] = [`<svg id="memory" class="chart" xmlns="http://www.w3.org/2000/svg" width="${labelW + barW + 150}" height="${h}" role="img" aria-label="per-group buffer requirement against the buffer size">`];
  groups.forEach((g, i) => {
    const y = top + i * rowH;
    out.push(`<g class="mem-bar" data-group="${g.id}"><title>group ${g.id}: ${formatBytes(g.memoryBytes)} of ${formatBytes(buffer)}</title><text x="${labelW - 6}" y="${y + 11}" text-anchor="end">G${g.id}</text>`);
    const items = (g.items ?? []).filter((it) => it.bytes > 0);
    const itemSum = items.reduce((a, b) => a + b.bytes, 0);
    if (items.length && Math.abs(itemSum - g.memoryBytes!) <= Math.max(1, g.memoryBytes! * 0.001)) {
      let acc = 0;
      for (const it of items) {
        out.push(`<rect x="${r1(x(acc))}" y="${y + 2}" width="${Math.max(0.5, r1(x(acc + it.bytes) - x(acc)))}" height="${rowH - 4}" fill="${KIND_COLOURS[it.kind] ?? '#bab0ac'}"><title>${esc(it.kind)} ${esc(it.tensor)}: ${formatBytes(it.bytes)}</title></rect>`);
        acc += it.bytes;
      }
    } else {
      out.push(`<rect x="${labelW}" y="${y + 2}" width="${Math.max(0.5, r1(x(g.memoryBytes!) - labelW))}" height="${rowH - 4}" fill="${groupColour(g.id)}"/>`);
    }
    const over = buffer !== undefined && g.memoryBytes! > buffer;
    out.push(`<text x="${r1(x(g.memoryBytes!) + 4)}" y="${y + 11}" class="${over ? 'over' : ''}">${formatBytes(g.memoryBytes)}${over ? ' > buffer' : ''}</text></g>`);
  });
  if (buffer !== undefined) {
    out.push(`<line class="buffer-line" x1="${r1(x(buffer))}" x2="${r1(x(buffer))}" y1="${top - 6}" y2="${h - 4}"/><text x="${r1(x(buffer))}" y="${top - 9}" text-anchor="middle">buffer ${formatBytes(buffer)}</text>`);
  }
  out.push('</svg>');
  const kinds = [...new Set(groups.flatMap((g) => (g.items ?? []).map((i) => i.kind)))];
  const legend = kinds.length ? `<p class="legend">${kinds.map((k) => `<span><i style="background:${KIND_COLOURS[k] ?? '#bab0ac'}"></i>${esc(k)}</span>`).join(' ')}</p>` : '';
  return out.join('\n') + legend;
}

function sweepChart(data: ReportData): string {
  const pts = [...data.sweep].filter((p) => p.bufferBytes > 0 && Number.isFinite(p.dramBytes)).sort((a, b) => a.bufferBytes - b.bufferBytes);
  if (pts.length < 2) return `<p class="muted">No DRAM-vs-buffer sweep in this schedule${data.sweepSource ? ` (${esc(data.sweepSource)})` : ''}.</p>`;
  const W = 660, H = 300, L = 70, R = 44, T = 16, B = 44;
  const lx = pts.map((p) => Math.log2(p.bufferBytes));
  const x0 = Math.min(...lx), x1 = Math.max(...lx);
  const ys = pts.flatMap((p) => [p.dramBytes, p.layerByLayerDramBytes ?? p.dramBytes]);
  const y1 = Math.max(...ys) * 1.05, y0 = 0;
  const X = (b: number) => L + ((Math.log2(b) - x0) / (x1 - x0 || 1)) * (W - L - R);
  const Y = (v: number) => H - B - ((v - y0) / (y1 - y0 || 1)) * (H - T - B);
  const out: string[] = [`<svg id="sweep" class="chart" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" role="img" aria-label="DRAM access against buffer size">`];
  out.push(`<line class="axis" x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}"/><line class="axis" x1="${L}" y1="${T}" x2="${L}" y2="${H - B}"/>`);
  for (const p of pts) out.push(`<text x="${r1(X(p.bufferBytes))}" y="${H - B + 14}" text-anchor="middle">${esc(formatBytes(p.bufferBytes))}</text>`);
  for (let k = 0; k <= 4; k++) {
    const v = y0 + ((y1 - y0) * k) / 4;
    out.push(`<text x="${L - 6}" y="${r1(Y(v) + 4)}" text-anchor="end">${esc(formatBytes(Math.round(v)))}</text><line class="grid" x1="${L}" x2="${W - R}" y1="${r1(Y(v))}" y2="${r1(Y(v))}"/>`);
  }
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 6}" text-anchor="middle">on-chip buffer size (log scale)</text>`);
  if (pts.every((p) => p.layerByLayerDramBytes !== undefined)) {
    out.push(`<polyline class="lbl" points="${pts.map((p) => `${r1(X(p.bufferBytes))},${r1(Y(p.layerByLayerDramBytes!))}`).join(' ')}"/>`);
  }
  out.push(`<polyline class="curve" points="${pts.map((p) => `${r1(X(p.bufferBytes))},${r1(Y(p.dramBytes))}`).join(' ')}"/>`);
  for (const p of pts) out.push(`<circle class="pt" cx="${r1(X(p.bufferBytes))}" cy="${r1(Y(p.dramBytes))}" r="3.5"><title>buffer ${formatBytes(p.bufferBytes)}: DRAM ${formatBytes(p.dramBytes)}${p.groups !== undefined ? `, ${p.groups} groups` : ''}</title></circle>`);
  const buf = data.hardware?.bufferBytes;
  if (buf !== undefined && buf >= pts[0].bufferBytes && buf <= pts[pts.length - 1].bufferBytes) {
    out.push(`<line class="buffer-line" x1="${r1(X(buf))}" x2="${r1(X(buf))}" y1="${T}" y2="${H - B}"/>`);
  }
  out.push('</svg>');
  const legend = `<p class="legend"><span><i style="background:#2b6cb0"></i>fused plan</span>${pts.every((p) => p.layerByLayerDramBytes !== undefined) ? '<span><i style="background:#aaa"></i>layer by layer</span>' : ''}${buf !== undefined ? '<span><i style="background:#c53030"></i>this buffer</span>' : ''}${data.sweepSource ? ` <span class="muted">source: ${esc(data.sweepSource)}</span>` : ''}</p>`;
  return out.join('\n') + legend;
}

function groupTable(groups: ReportGroup[], buffer: number | undefined): string {
  if (!groups.length) return '<p class="muted">No fusion groups in this schedule (was the plan pass run?).</p>';
  const rows = groups.map((g) => {
    const over = g.valid === false || (buffer !== undefined && g.memoryBytes !== undefined && g.memoryBytes > buffer);
    return `<tr data-group="${g.id}" class="${over ? 'over' : ''}"><td><i class="swatch" style="background:${groupColour(g.id)}"></i>G${g.id}</td><td>${g.nodes.length}</td><td>${formatBytes(g.memoryBytes)}</td><td>${formatBytes(g.dramBytes)}</td><td class="ops">${esc(g.nodes.slice(0, 12).join(', '))}${g.nodes.length > 12 ? ', …' : ''}</td></tr>`;
  });
  return `<table id="groups"><thead><tr><th>group</th><th>ops</th><th>buffer</th><th>DRAM</th><th>nodes</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

const CSS = `
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{padding:14px 22px;background:#1f2937;color:#fff}header h1{margin:0 0 4px;font-size:20px}
header .meta span{margin-right:18px;opacity:.9}
main{padding:12px 22px}section{background:#fff;border:1px solid #e3e3e3;border-radius:6px;margin:12px 0;padding:10px 14px}
h2{font-size:16px;margin:4px 0 10px}.muted{color:#777}
.graph-wrap{overflow:auto;max-height:80vh;border:1px solid #eee}
svg text{font-size:11px;fill:#222}svg .group-label{font-weight:600;fill:#333}
.edge{fill:none;stroke:#888;stroke-width:1}.op rect{stroke-width:1.2}
.fusion-group.invalid .group-box{stroke:#c53030;stroke-width:2.5;stroke-dasharray:4 2}
.fusion-group.hl .group-box,.ops.hl rect{stroke:#000;stroke-width:2.5}
.buffer-line{stroke:#c53030;stroke-width:1.5;stroke-dasharray:5 3}
.axis{stroke:#333}.grid{stroke:#eee}.curve{fill:none;stroke:#2b6cb0;stroke-width:2}.lbl{fill:none;stroke:#aaa;stroke-width:1.5;stroke-dasharray:4 3}
.pt{fill:#2b6cb0}text.over{fill:#c53030;font-weight:600}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eee;padding:3px 8px;text-align:left;vertical-align:top}
td.ops{font-family:ui-monospace,monospace;font-size:12px;color:#555}tr.over td{color:#c53030}tr.hl{background:#fff7d6}
.swatch,.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}.legend span{margin-right:14px}
.kv td:first-child{color:#666;width:220px}
`;

// Highlight a group in the graph, the bars and the table when any of them is clicked.
const JS = `
(function(){
  function sel(id){
    document.querySelectorAll('.hl').forEach(function(e){e.classList.remove('hl')});
    if(id===null)return;
    document.querySelectorAll('[data-group="'+id+'"]').forEach(function(e){e.classList.add('hl')});
  }
  document.addEventListener('click',function(ev){
    var t=ev.target; while(t&&t!==document&&!(t.getAttribute&&t.getAttribute('data-group')!==null))t=t.parentNode;
    sel(t&&t!==document?t.getAttribute('data-group'):null);
  });
  var n=document.querySelectorAll('#graph .fusion-group').length;
  document.documentElement.setAttribute('data-groups-rendered',String(n));
})();
`;

export function renderHtml(data: ReportData, layout: Layout): string {
  const buf = data.hardware?.bufferBytes;
  const totalOps = data.graph.nodes.length;
  const kv: [string, string][] = [
    ['model', `${data.model.name}${data.model.path ? ` (${data.model.path})` : ''}`],
    ['nodes before / after passes', `${data.model.nodesBefore ?? '–'} / ${data.model.nodesAfter ?? '–'}`],
    ['accelerator', data.hardware ? `${data.hardware.name}: buffer ${formatBytes(data.hardware.bufferBytes)}, ${data.hardware.elementType}` : '–'],
    ['fusion scheme', data.scheme ?? '–'],
    ['seed', data.seed !== undefined ? String(data.seed) : '–'],
    ['fusion groups', `${data.groups.length} over ${totalOps} ops`],
    ['DRAM access (plan)', formatBytes(data.totals.dramBytes)],
    ['DRAM access (layer by layer)', formatBytes(data.totals.layerByLayerDramBytes)],
  ];
  if (data.totals.dramBytes !== undefined && data.totals.layerByLayerDramBytes) {
    kv.push(['reduction vs layer by layer', `${(100 * (1 - data.totals.dramBytes / data.totals.layerByLayerDramBytes)).toFixed(1)} %`]);
  }
  const passes = data.passes.length
    ? `<table><thead><tr><th>pass</th><th>changed graph</th><th>ms</th></tr></thead><tbody>${data.passes.map((p) => `<tr><td>${esc(p.name)}</td><td>${p.changed ? 'yes' : 'no'}</td><td>${p.ms.toFixed(1)}</td></tr>`).join('')}</tbody></table>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>${esc(data.title)}</title><style>${CSS}</style></head>
<body>
<header><h1>${esc(data.title)}</h1><div class="meta"><span>${esc(data.model.name)}</span><span>${esc(data.hardware?.name ?? 'no accelerator')}</span><span>${esc(data.scheme ?? '')}</span><span>${data.groups.length} groups</span><span>DRAM ${esc(formatBytes(data.totals.dramBytes))}</span></div></header>
<main>
<section><h2>Summary</h2><table class="kv"><tbody>${kv.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join('')}</tbody></table>${data.notes.map((n) => `<p class="muted">${esc(n)}</p>`).join('')}</section>
<section><h2>Operator graph, fusion groups coloured</h2><p class="muted">Click a group to highlight it everywhere. ${layout.compound ? 'Boxes are fusion groups.' : 'Large graph: groups shown by colour only.'}</p><div class="graph-wrap">${graphSvg(layout, data)}</div></section>
<section><h2>Buffer requirement per group${buf !== undefined ? ` (buffer ${esc(formatBytes(buf))})` : ''}</h2>${memoryBars(data)}</section>
<section><h2>DRAM access against buffer size</h2>${sweepChart(data)}</section>
<section><h2>Groups</h2>${groupTable(data.groups, buf)}</section>
${passes ? `<section><h2>Passes</h2>${passes}</section>` : ''}
</main>
<script>${JS}</script>
</body></html>
`;
}
