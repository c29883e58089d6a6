/**
 * `npm run corpus`: compiles every corpus model (corpus/models.ts) with `dnnfuse compile` and the
 * default pipeline, one child process at a time, and prints the table (markdown): compile exit,
 * nodes before/after, fusion groups, nodes outside every group, DRAM of the plan vs
 * layer-by-layer, the onnxruntime check's figures, wall time and peak memory (RSS of the
 * compile process).
 *
 * Options: --only id,id  --readme (rewrite the table in README.md between its corpus markers)
 *          --json file  --hw preset (default edge-512k)  --option pass.key=value (repeatable)
 * Models whose file is missing are listed with the reason (run corpus/make-models.py first).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CORPUS, ROOT, modelMissing, modelPath, type CorpusModel } from './models.ts';

export interface CorpusRow {
  id: string;
  family: string;
  source: string;
  exitCode: number | null;
  error?: string;
  missing?: string;
  nodesBefore?: number;
  nodesAfter?: number;
  groups?: number;
  outside?: number;
  outsideOps?: string[];
  dramBytes?: number;
  layerByLayerDramBytes?: number;
  verification?: { maxAbs: number; meanAbs: number; cosine: number; mismatched: number; elements: number; rtol: number; atol: number };
  seconds?: number;
  peakMiB?: number;
}

const sourceText = (m: CorpusModel) => ('npm' in m.source ? `npm ${m.source.npm}@${m.source.version} \`${m.source.path}\`` : `${m.source.script} (${m.source.from})`);

/** Runs `dnnfuse compile` on one corpus model; returns its row. */
export function compileCorpusModel(m: CorpusModel, extra: string[] = []): CorpusRow {
  const row: CorpusRow = { id: m.id, family: m.family, source: sourceText(m), exitCode: null };
  const missing = modelMissing(m);
  if (missing) return { ...row, missing };
  const out = mkdtempSync(join(tmpdir(), `dnnfuse-corpus-${m.id}-`));
  try {
    const args = ['--import', join(ROOT, 'corpus', 'peak-rss.mjs'), join(ROOT, 'bin', 'dnnfuse.mjs'), 'compile', modelPath(m), '-o', out, '--json', ...m.shapes.flatMap((s) => ['--shape', s]), ...extra];
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
    row.seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    row.exitCode = r.status;
    const rss = /corpus-peak-rss-kib (\d+)/.exec(r.stderr ?? '');
    if (rss) row.peakMiB = Number(rss[1]) / 1024;
    if (r.status !== 0) {
      row.error = (r.stderr ?? '').split('\n').filter((l) => l.startsWith('dnnfuse: ') && !l.startsWith('dnnfuse:   ')).pop()?.replace(/^dnnfuse: /, '') ?? `exit ${r.status}`;
      return row;
    }
    const s = JSON.parse(readFileSync(join(out, 'schedule.json'), 'utf8'));
    const j = JSON.parse(r.stdout);
    row.nodesBefore = s.model.nodesBefore;
    row.nodesAfter = s.model.nodesAfter;
    row.groups = j.groups ?? undefined;
    row.dramBytes = j.dramBytes ?? undefined;
    row.layerByLayerDramBytes = j.layerByLayerDramBytes ?? undefined;
    row.outside = s.coverage?.uncovered.length;
    row.outsideOps = [...new Set<string>((s.coverage?.uncovered ?? []).map((u: { op: string }) => u.op))];
    const v = s.verification;
    if (v?.checked) {
      const outs = v.outputs as { maxAbs: number; meanAbs: number; cosine: number; mismatched: number; elements: number }[];
      row.verification = {
        maxAbs: Math.max(...outs.map((o) => o.maxAbs)),
        meanAbs: Math.max(...outs.map((o) => o.meanAbs)),
        cosine: Math.min(...outs.map((o) => o.cosine)),
        mismatched: outs.reduce((a, o) => a + o.mismatched, 0),
        elements: outs.reduce((a, o) => a + o.elements, 0),
        rtol: v.rtol,
        atol: v.atol,
      };
    }
    return row;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

const mb = (b?: number) => (b === undefined ? '–' : (b / 1e6).toFixed(2));
const sci = (x: number) => (x === 0 ? '0' : x.toExponential(1));

export function corpusTable(rows: CorpusRow[]): string {
  const head = '| model | family | compile | nodes before → after | fusion groups | nodes outside groups | DRAM MB (plan / layer-by-layer) | onnxruntime check: max / mean abs error, min cosine, mismatched | time s | peak MiB |\n|---|---|---|---|---|---|---|---|---|---|';
  const lines = rows.map((r) => {
    if (r.missing) return `| ${r.id} | ${r.family} | not run: ${r.missing} | | | | | | | |`;
    if (r.exitCode !== 0) return `| ${r.id} | ${r.family} | ✗ exit ${r.exitCode}: ${r.error} | | | | | | ${r.seconds?.toFixed(1)} | ${r.peakMiB?.toFixed(0) ?? ''} |`;
    const v = r.verification;
    const check = v ? `${sci(v.maxAbs)} / ${sci(v.meanAbs)}, ${v.cosine.toFixed(7)}, ${v.mismatched} of ${v.elements}` : 'not checked';
    const outside = r.outside ? `${r.outside} (${r.outsideOps!.join(', ')}: constant weights)` : '0';
    return `| ${r.id} | ${r.family} | ✓ | ${r.nodesBefore} → ${r.nodesAfter} | ${r.groups ?? '–'} | ${outside} | ${mb(r.dramBytes)} / ${mb(r.layerByLayerDramBytes)} | ${check} | ${r.seconds!.toFixed(1)} | ${r.peakMiB!.toFixed(0)} |`;
  });
  return [head, ...lines].join('\n');
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const arg = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const only = arg('only')?.split(',');
  const extra: string[] = [];
  if (arg('hw')) extra.push('--hw', arg('hw')!);
  argv.forEach((a, i) => a === '--option' && extra.push('--option', argv[i + 1]));
  const models = CORPUS.filter((m) => !only || only.includes(m.id));
  const rows: CorpusRow[] = [];
  for (const m of models) {
    process.stderr.write(`corpus: ${m.id} ...\n`);
    const r = compileCorpusModel(m, extra);
    process.stderr.write(`corpus: ${m.id}: ${r.missing ? `not run (${r.missing})` : r.exitCode === 0 ? `ok, ${r.seconds!.toFixed(1)} s` : `exit ${r.exitCode}: ${r.error}`}\n`);
    rows.push(r);
  }
  const table = corpusTable(rows);
  process.stdout.write(table + '\n');
  if (arg('json')) writeFileSync(arg('json')!, JSON.stringify(rows, null, 2) + '\n');
  if (argv.includes('--readme')) {
    const path = join(ROOT, 'README.md');
    const text = readFileSync(path, 'utf8');
    const [b, e] = ['<!-- corpus-table:begin -->', '<!-- corpus-table:end -->'];
    const i = text.indexOf(b), k = text.indexOf(e);
    if (i < 0 || k < i) throw new Error(`README.md has no ${b} ... ${e} markers`);
    writeFileSync(path + '.tmp', text.slice(0, i + b.length) + '\n' + table + '\n' + text.slice(k));
    (await import('node:fs')).renameSync(path + '.tmp', path);
    process.stderr.write('corpus: README.md table updated\n');
  }
  if (rows.some((r) => !r.missing && r.exitCode !== 0)) process.exitCode = 1;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) await main();
