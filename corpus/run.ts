/**
 * The corpus runner, one for the test suite (test/corpus/corpus.test.ts) and the README table
 * (`npm run corpus`): compiles a corpus model (corpus/models.ts, fetched by corpus/fetch.ts)
 * with `dnnfuse compile` and the default pipeline in a child process, as a user runs it, and
 * reads its schedule into a row: compile exit, nodes before/after, fusion groups (and those
 * planned inside control-flow subgraphs), nodes outside every group with their reasons, DRAM
 * of the plan vs layer-by-layer, the onnxruntime check's figures, wall time and peak memory
 * (RSS of the compile process). `rowProblems` is what the test asserts empty and what the
 * README table marks ✗.
 *
 * Options: --only id,id  --readme (rewrite the table in README.md between its corpus markers)
 *          --json file  --hw preset (default edge-512k)  --option pass.key=value (repeatable)
 *          --suite (the models the test suite compiles instead of the README's)
 * Models that cannot be fetched here are listed with the reason.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CORPUS, ROOT, type CorpusModel } from './models.ts';
import { fetchModel } from './fetch.ts';
import { benchArgs } from '../bench/args.ts';

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
  /** Groups of control-flow nodes (opaque, planned alone): node names. */
  opaqueGroups?: string[];
  /** Fusion groups planned inside control-flow subgraphs (all levels). */
  subgraphGroups?: number;
  /** Subgraph nodes in no subgraph group (each with its reason in the schedule). */
  subgraphOutside?: number;
  outside?: number;
  /** Nodes in no fusion group: op type and reason, with counts. */
  outsideReasons?: { op: string; reason: string; count: number }[];
  outsideOps?: string[];
  /** Coverage faults: nodes in two groups, group members not in the graph. */
  coverageFaults?: string[];
  dramBytes?: number;
  layerByLayerDramBytes?: number;
  verification?: { maxAbs: number; meanAbs: number; cosine: number; mismatched: number; elements: number; rtol: number; atol: number };
  /** The compile's progress log (stderr). */
  log?: string;
  seconds?: number;
  peakMiB?: number;
}

const sourceText = (m: CorpusModel) => {
  const s = m.source;
  return 'resource' in s ? `npm ${s.npm}@${s.version} resource \`${s.resource}\` (${s.file})` : 'npm' in s ? `npm ${s.npm}@${s.version} \`${s.path}\`` : 'ort' in s ? `${s.ort} saved by onnxruntime-node's ${s.level} graph optimizations` : `${s.script} ${s.job} (${s.from})`;
};

interface SubPlan { path: string; plan: { groups: PlanGroup[] } | null }
interface PlanGroup { nodes: string[]; opaque?: string; subgraphs?: SubPlan[] }
interface SubCoverage { path: string; nodes: number; covered: number; uncovered: { node: string; op: string; reason: string }[]; duplicated: string[]; unknown: string[] }

/** Runs `dnnfuse compile` on one corpus model; returns its row. */
export function compileCorpusModel(m: CorpusModel, extra: string[] = []): CorpusRow {
  const row: CorpusRow = { id: m.id, family: m.family, source: sourceText(m), exitCode: null };
  const got = fetchModel(m);
  if ('missing' in got) return { ...row, missing: got.missing };
  const out = mkdtempSync(join(tmpdir(), `dnnfuse-corpus-${m.id}-`));
  try {
    const args = ['--import', join(ROOT, 'corpus', 'peak-rss.mjs'), join(ROOT, 'bin', 'dnnfuse.mjs'), 'compile', got.path, '-o', out, '--json', ...m.shapes.flatMap((s) => ['--shape', s]), ...(m.dims ?? []).flatMap((d) => ['--dim', d]), ...extra];
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
    row.seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    row.exitCode = r.status;
    row.log = r.stderr ?? '';
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
    const plan = [...s.passes].reverse().find((p: { kind: string; annotations?: { groups?: unknown } }) => p.kind === 'fusion-plan' && p.annotations?.groups)?.annotations as { groups: PlanGroup[] } | undefined;
    row.opaqueGroups = (plan?.groups ?? []).filter((g) => g.opaque).map((g) => g.nodes.join('+'));
    const subGroups = (gs: PlanGroup[]): number => gs.reduce((a, g) => a + (g.subgraphs ?? []).reduce((b, sp) => b + (sp.plan?.groups.length ?? 0) + subGroups(sp.plan?.groups ?? []), 0), 0);
    row.subgraphGroups = subGroups(plan?.groups ?? []);
    const cov = s.coverage as ({ uncovered: { node: string; op: string; reason: string }[]; duplicated: string[]; unknown: string[]; subgraphs?: SubCoverage[] } | undefined);
    const uncovered = cov?.uncovered ?? [];
    row.outside = uncovered.length;
    row.outsideOps = [...new Set(uncovered.map((u) => u.op))];
    const reasons = new Map<string, { op: string; reason: string; count: number }>();
    for (const u of uncovered) {
      const key = `${u.op}\0${u.reason}`;
      const e = reasons.get(key);
      if (e) e.count++;
      else reasons.set(key, { op: u.op, reason: u.reason, count: 1 });
    }
    row.outsideReasons = [...reasons.values()];
    row.subgraphOutside = (cov?.subgraphs ?? []).reduce((a, c) => a + c.uncovered.length, 0);
    row.coverageFaults = [
      ...(cov ? [] : ['the schedule has no coverage section']),
      ...(cov?.duplicated ?? []).map((n) => `'${n}' is in more than one group`),
      ...(cov?.unknown ?? []).map((n) => `group member '${n}' is not in the graph`),
      ...(cov?.subgraphs ?? []).flatMap((c) => [...c.duplicated.map((n) => `${c.path}: '${n}' is in more than one group`), ...c.unknown.map((n) => `${c.path}: group member '${n}' is not in the subgraph`), ...c.uncovered.filter((u) => !u.reason).map((u) => `${c.path}: '${u.node}' has no reason`)]),
    ];
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

const PLANNER_LEFT_OUT = 'not placed in any group by the planner';

/** What is wrong with a compiled corpus model's row against its entry's expectations (empty:
 * resolved): exit 0, a plan, every node in exactly one group or listed with a reason its entry
 * allows, control-flow nodes alone in opaque groups, onnxruntime ran the check and agreed. */
export function rowProblems(m: CorpusModel, r: CorpusRow): string[] {
  if (r.missing) return [`not available: ${r.missing}`];
  if (r.exitCode !== 0) return [`exit ${r.exitCode}: ${r.error}`];
  const p: string[] = [];
  if (!(r.groups! >= 1)) p.push('no fusion plan');
  if (!(r.nodesAfter! <= r.nodesBefore!)) p.push(`nodes ${r.nodesBefore} -> ${r.nodesAfter}`);
  p.push(...(r.coverageFaults ?? []));
  const allowed = new Set(m.expect.outsideGroups ?? []);
  for (const o of r.outsideReasons ?? []) {
    const ok = allowed.has(o.op) || !!m.expect.outsideReasons?.test(o.reason);
    if (!ok || o.reason === PLANNER_LEFT_OUT) p.push(`${o.count} ${o.op} node(s) outside every fusion group: ${o.reason}`);
  }
  for (const cf of m.expect.controlFlow ?? []) if (!r.opaqueGroups?.includes(cf)) p.push(`control-flow node '${cf}' is not alone in an opaque group (opaque groups: ${r.opaqueGroups?.join(', ') || 'none'})`);
  if (m.expect.subgraphPlans && !r.subgraphGroups) p.push('no fusion group inside the control-flow subgraphs');
  if (m.expect.log && !m.expect.log.test(r.log ?? '')) p.push(`the compile log does not say ${m.expect.log}`);
  if (!r.verification) p.push('the onnxruntime check did not run');
  else if (r.verification.mismatched) p.push(`onnxruntime: ${r.verification.mismatched} of ${r.verification.elements} elements outside allclose`);
  return p;
}

const mb = (b?: number) => (b === undefined ? '–' : (b / 1e6).toFixed(2));
const sci = (x: number) => (x === 0 ? '0' : x.toExponential(1));

/** A short text for the reasons nodes are outside every group. */
function outsideText(r: CorpusRow): string {
  if (!r.outside) return '0';
  const short = (reason: string) => (/has no static shape/.test(reason) ? 'no static shape' : /dequantizes a constant/.test(reason) ? 'constant weights' : reason.split(':')[0]);
  const by = new Map<string, number>();
  for (const o of r.outsideReasons ?? []) by.set(`${o.op}: ${short(o.reason)}`, (by.get(`${o.op}: ${short(o.reason)}`) ?? 0) + o.count);
  const parts = [...by.entries()];
  const shown = parts.slice(0, 4).map(([k, n]) => `${n} ${k}`).join('; ');
  return `${r.outside} (${shown}${parts.length > 4 ? `; ${parts.length - 4} more kinds` : ''})`;
}

function groupsText(r: CorpusRow): string {
  if (r.groups === undefined) return '–';
  const extra = [
    ...(r.opaqueGroups?.length ? [`${r.opaqueGroups.length} opaque: ${r.opaqueGroups.join(', ')}`] : []),
    ...(r.subgraphGroups ? [`+${r.subgraphGroups} inside subgraphs${r.subgraphOutside ? `, ${r.subgraphOutside} subgraph nodes outside with reasons` : ''}`] : []),
  ];
  return `${r.groups}${extra.length ? ` (${extra.join('; ')})` : ''}`;
}

/** The README table: one row a model, with the same columns for every model. */
export function corpusTable(rows: (CorpusRow & { problems?: string[] })[]): string {
  const head = '| model | family | compile | nodes before → after | fusion groups | nodes outside groups | DRAM MB (plan / layer-by-layer) | onnxruntime check: max / mean abs error, min cosine, mismatched | time s | peak MiB |\n|---|---|---|---|---|---|---|---|---|---|';
  const lines = rows.map((r) => {
    const id = `${r.id} (${r.source})`;
    if (r.missing) return `| ${id} | ${r.family} | not run: ${r.missing} | | | | | | | |`;
    if (r.exitCode !== 0) return `| ${id} | ${r.family} | ✗ exit ${r.exitCode}: ${r.error} | | | | | | ${r.seconds?.toFixed(1)} | ${r.peakMiB?.toFixed(0) ?? ''} |`;
    const v = r.verification;
    const check = v ? `${sci(v.maxAbs)} / ${sci(v.meanAbs)}, ${v.cosine.toFixed(7)}, ${v.mismatched} of ${v.elements}` : 'not checked';
    const status = r.problems?.length ? `✗ exit 0 but: ${r.problems.join('; ')}` : '✓';
    return `| ${id} | ${r.family} | ${status} | ${r.nodesBefore} → ${r.nodesAfter} | ${groupsText(r)} | ${outsideText(r)} | ${mb(r.dramBytes)} / ${mb(r.layerByLayerDramBytes)} | ${check} | ${r.seconds!.toFixed(1)} | ${r.peakMiB!.toFixed(0)} |`;
  });
  return [head, ...lines].join('\n');
}

async function main(): Promise<void> {
  const opt = benchArgs({ only: { type: 'string' }, hw: { type: 'string' }, option: { type: 'string', multiple: true }, suite: { type: 'boolean' }, json: { type: 'string' }, readme: { type: 'boolean' } });
  const only = opt.only?.split(',');
  const unknown = only?.filter((id) => !CORPUS.some((m) => m.id === id));
  if (unknown?.length) {
    process.stderr.write(`--only: no corpus model ${unknown.join(', ')} (corpus: ${CORPUS.map((m) => m.id).join(', ')})\n`);
    process.exit(2);
  }
  const extra: string[] = [];
  if (opt.hw) extra.push('--hw', opt.hw);
  for (const o of opt.option ?? []) extra.push('--option', o);
  const suite = opt.suite;
  const models = CORPUS.filter((m) => (only ? only.includes(m.id) : suite ? !m.readmeOnly : !m.suiteOnly));
  const rows: (CorpusRow & { problems: string[] })[] = [];
  for (const m of models) {
    process.stderr.write(`corpus: ${m.id} ...\n`);
    const r = compileCorpusModel(m, extra);
    const problems = r.missing || r.exitCode !== 0 ? [] : rowProblems(m, r);
    process.stderr.write(`corpus: ${m.id}: ${r.missing ? `not run (${r.missing})` : r.exitCode === 0 ? `exit 0, ${r.seconds!.toFixed(1)} s${problems.length ? `; PROBLEMS: ${problems.join('; ')}` : ''}` : `exit ${r.exitCode}: ${r.error}`}\n`);
    delete r.log;
    rows.push({ ...r, problems });
  }
  const table = corpusTable(rows);
  process.stdout.write(table + '\n');
  if (opt.json) writeFileSync(opt.json, JSON.stringify(rows, null, 2) + '\n');
  if (opt.readme) {
    const path = join(ROOT, 'README.md');
    const text = readFileSync(path, 'utf8');
    const [b, e] = ['<!-- corpus-table:begin -->', '<!-- corpus-table:end -->'];
    const i = text.indexOf(b), k = text.indexOf(e);
    if (i < 0 || k < i) throw new Error(`README.md has no ${b} ... ${e} markers`);
    writeFileSync(path + '.tmp', text.slice(0, i + b.length) + '\n' + table + '\n' + text.slice(k));
    renameSync(path + '.tmp', path);
    process.stderr.write('corpus: README.md table updated\n');
  }
  if (rows.some((r) => !r.missing && (r.exitCode !== 0 || r.problems.length))) process.exitCode = 1;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) await main();
