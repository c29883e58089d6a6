/**
 * `npm run bench:get` — GET (graph explanation for operator fusion) against the published
 * settings (Mills et al., "Applying Graph Explanation to Operator Fusion", arXiv 2501.00636):
 *   A: LBDF, 256 KB, 5k plans: EfficientNet (efficientnet_b0 stands in for B3), ResNet-152,
 *      DeepLabV3-MobileNetV3 — RS, LS and NSGA-II, each with every explainer;
 *   B: 128 KB, 2k plans, LBDF and BRR: MobileNetV2, VGG16, ResNet-50, ResNet-18, SqueezeNet —
 *      RS and LS (the published table), each with every explainer.
 * Per cell: DRAM MB (mean over seeds) of all groups and amongst fusable ops only (the paper's
 * figure: singleton groups of ops that can never fuse excluded); the relative change vs the same
 * search without GET ('none' = the published random split) on the fusable MB (as published) and
 * on the total; "gap closed" = (none - GET) / (none - optimum) on the fusable MB, with the exact
 * optimum's plan (HiGHS / chain DP on the same cost model; when HiGHS stops on its limit, its best
 * plan, flagged) — the fair comparison with the paper where our baseline is already close to the
 * optimum and a relative reduction has little room; the rectify rate (invalid groups split
 * entirely along explained edges AND that split used), "explainer wins" (invalid groups where
 * the explainer's split was used rather than the cheaper random split, ties included), search
 * time, the gap to the optimum, and the published MB beside.
 *
 * Options: --quick (budgets / 10, 1 seed, fewer nets), --seeds n, --budget-scale x,
 * --nets a,b, --schemes lbdf,brr, --methods random,local,nsga2, --get none,gnne,pg,rg,cuts, --settings A,B,
 * --element fp32|int8, --exact-time s, --no-exact, --exact-from run.json (reuse the exact optima
 * of an earlier run's --json for the same element width), --json out.json (every per-seed figure),
 * --gnne-seeds n (GNNExplainer optimizes a mask per group and is ~30x slower than the other
 * explainers: run it on the first n seeds only; its comparisons use none's same seeds);
 * ablations of GET's rectifier: --topk n (explained edges tried per group, default 8),
 * --no-merge (no merge-back), --no-guard (do not fall back to a cheaper random split),
 * --no-explore (answer a recurring group always with SPLIT's split), --plan-merge (split parts
 * are merged into neighbouring groups of the plan: GetOptions.planMerge, off by default), --no-refine (SPLIT's
 * answer is not replaced by the group's best valid refinement: GetOptions.refine), --no-window-merge (with --plan-merge: no exact re-grouping of the windows around split parts:
 * GetOptions.windowMerge), --no-refine-first (explain every invalid group, also those whose
 * proven optimum the window DP gives: GetOptions.refineFirst), --no-refine-deep (that optimum not
 * for the sub-groups inside SPLIT: GetOptions.refineDeep off; changes answers), --no-prune (explain
 * every invalid group, also in plans the search cannot keep: GetOptions.prune), --no-finish (the
 * search's result is not re-grouped window by window at the end: GetOptions.finish; with it on,
 * 'none' cells also print, untimed, their result after that same re-grouping: the control line
 * "none + the same final window re-grouping" under each search x explainer), --gnne-stable n
 * (GNNExplainer's early stop after n stable steps; 0 = the full 20 steps; default
 * GNNE_STABLE_STEPS); --warmup n (plans per untimed warm-up run, default 10% of the budget, at
 * least 20; 0 = none: before a net/scheme's first timed seed, every (search, explainer) pair runs
 * once on that budget with a seed no timed run uses, so V8's JIT warm-up is charged to no cell and
 * 'x none' compares warm code with warm code); --recheck n (re-measure every
 * GET cell worse than none, and none, on n seeds; see recheckWorse). The
 * settings used are printed first. --report a.json,b.json re-prints the table and summaries from
 * earlier --json outputs, merged (e.g. the 3-seed run and a --get none,gnne run).
 */
import { benchArgs } from './args.ts';
import { readFileSync, writeFileSync } from 'node:fs';
import { sharedModelsDir, sharedModelsMissing } from '../src/models/shared.ts';
import { sharedOpGraph } from '../src/get/train-get.ts';
import { createCostModel } from '../src/fusion/cost.ts';
import { dramSplit } from '../src/fusion/plan.ts';
import type { FusionScheme, OpGraph } from '../src/fusion/types.ts';
import { fusabilityOf, type SearchResult } from '../src/search/common.ts';
import { searchLocal, searchNsga2, searchRandom } from '../src/search/heuristics.ts';
import { solveExact } from '../src/search/exact.ts';
import { reoptimizeWindowsWide } from '../src/search/window.ts';
import { GNNE_STABLE_STEPS, makeRectifier, prepareGet, type GetKind } from '../src/get/rectifier.ts';
import { EXPLAINER_KINDS } from '../src/get/explainers/common.ts';
import { tf } from '../src/get/tf.ts';
import { HIDDEN } from '../src/get/kgnn.ts';

const parsed: Record<string, string | boolean | undefined> = benchArgs({ 'budget-scale': { type: 'string' }, 'element': { type: 'string' }, 'exact-from': { type: 'string' }, 'exact-time': { type: 'string' }, 'get': { type: 'string' }, 'gnne-seeds': { type: 'string' }, 'gnne-stable': { type: 'string' }, 'json': { type: 'string' }, 'methods': { type: 'string' }, 'nets': { type: 'string' }, 'recheck': { type: 'string' }, 'report': { type: 'string' }, 'schemes': { type: 'string' }, 'seeds': { type: 'string' }, 'settings': { type: 'string' }, 'topk': { type: 'string' }, 'no-exact': { type: 'boolean' }, 'no-explore': { type: 'boolean' }, 'no-guard': { type: 'boolean' }, 'no-merge': { type: 'boolean' }, 'plan-merge': { type: 'boolean' }, 'no-refine': { type: 'boolean' }, 'no-refine-first': { type: 'boolean' }, 'no-refine-deep': { type: 'boolean' }, 'no-window-merge': { type: 'boolean' }, 'no-prune': { type: 'boolean' }, 'no-finish': { type: 'boolean' }, 'warmup': { type: 'string' }, 'quick': { type: 'boolean' } });
const flag = (n: string) => parsed[n] === true;
const opt = (n: string, d: string) => (parsed[n] as string | undefined) ?? d;
const quick = flag('quick');
const seeds = Number(opt('seeds', quick ? '1' : '3'));
const scale = Number(opt('budget-scale', quick ? '0.04' : '1'));
const element = opt('element', 'fp32') as 'fp32' | 'int8';
const exactTime = Number(opt('exact-time', quick ? '10' : '30'));
const noExact = flag('no-exact');
const kinds = opt('get', ['none', ...EXPLAINER_KINDS].join(',')).split(',') as GetKind[];
const methodsFilter = opt('methods', 'random,local,nsga2').split(',');
const settingsFilter = opt('settings', 'A,B').split(',');
const schemesFilter = opt('schemes', 'lbdf,brr').split(',');
const netsFilter = opt('nets', quick ? 'efficientnet_b0,mobilenet_v2,resnet18,squeezenet1_1' : '').split(',').filter(Boolean);
const jsonOut = opt('json', '');
const topK = Number(opt('topk', '8'));
const gnneSeeds = Math.min(seeds, Number(opt('gnne-seeds', String(seeds))));
const exactFrom = opt('exact-from', '');
const recheck = Number(opt('recheck', '0'));
const mergeBack = !flag('no-merge');
const guard = !flag('no-guard');
const explore = !flag('no-explore');
const planMerge = flag('plan-merge');
const refine = !flag('no-refine');
const windowMerge = !flag('no-window-merge');
const refineFirst = !flag('no-refine-first');
const refineDeep = !flag('no-refine-deep');
const prune = !flag('no-prune');
const finish = !flag('no-finish');
const gnneStable = opt('gnne-stable', '');

type Method = 'random' | 'local' | 'nsga2';
const label: Record<Method, string> = { random: 'RS', local: 'LS', nsga2: 'NSGA-II' };

// Published DRAM MB (Mills et al.), keyed setting/scheme/method/net; 'get' = with GET (A: per
// explainer; B: best explainer only, as published).
const A_NETS = ['efficientnet_b0', 'resnet152', 'deeplabv3_mobilenet_v3_large'];
const B_NETS = ['mobilenet_v2', 'vgg16', 'resnet50', 'resnet18', 'squeezenet1_1'];
const PUB_A: Record<string, Record<string, number[]>> = {
  local: { none: [90.5, 80.733, 116.644], gnne: [78.007, 74.461, 114.44], pg: [73.569, 76.421, 114.18], rg: [78.433, 75.245, 113.942] },
  nsga2: { none: [77.334, 77.205, 114.351], gnne: [61.265, 68.581, 113.602], pg: [61.792, 67.013, 113.84], rg: [61.535, 66.621, 113.602] },
  random: { none: [172.802, 113.661, 148.153], gnne: [169.928, 96.021, 143.925], pg: [164.086, 96.413, 142.548], rg: [162.774, 94.453, 147.022] },
};
const PUB_B: Record<string, Record<string, { none: number[]; best: number[] }>> = {
  brr: { local: { none: [15.101, 27.606, 83.685, 27.127, 8.202], best: [13.401, 26.975, 83.317, 26.975, 6.232] }, random: { none: [16.195, 29.274, 91.866, 28.525, 10.249], best: [12.593, 28.124, 91.669, 27.599, 7.601] } },
  lbdf: { local: { none: [9.803, 5.973, 25.764, 5.974, 3.839], best: [8.823, 5.973, 24.196, 5.974, 3.585] }, random: { none: [13.209, 6.856, 39.092, 6.856, 10.08], best: [11.432, 6.268, 32.036, 6.464, 7.333] } },
};

interface Cell {
  setting: string;
  net: string;
  scheme: FusionScheme;
  bufferKb: number;
  budget: number;
  method: Method;
  get: GetKind;
  dramMB: number[];
  fusableMB: number[];
  rectifyRate: number[];
  /** Fraction of invalid groups where the explainer's split was used (NaN for 'none'). */
  explainerWins: number[];
  /** Per seed: invalid groups, explainer split strictly cheaper than random, random cheaper,
   * merge-back applied. */
  invalid: number[];
  splitCheaper: number[];
  randomCheaper: number[];
  mergedBack: number[];
  explored: number[];
  /** Per seed: explainer calls, of which answered by the structural cache; plan-level merges. */
  explanations?: number[];
  structuralHits?: number[];
  planMerges?: number[];
  /** Per seed: groups answered by their best refinement (GetOptions.refine). */
  refined?: number[];
  /** Per seed: windows re-grouped by the exact plan-level merge (GetOptions.windowMerge). */
  windowMerges?: number[];
  /** Per seed: invalid groups answered with their proven optimum, no explanation
   * (GetOptions.refineFirst; every use counts), and invalid groups of pruned plans (skipped). */
  exactAnswers?: number[];
  pruned?: number[];
  /** Per seed: DRAM MB the final window re-grouping saved (GetOptions.finish; 0 = none). */
  finishSavedMB?: number[];
  /** Per seed: GNNExplainer's Adam steps and the sum of their groups' op counts (GetStats
   * maskSteps, maskRows: the rows of each step's six matmuls); 0 for the other explainers. */
  maskSteps?: number[];
  maskRows?: number[];
  /** 'none' cells, per seed: fusable MB of none's result after the same final window re-grouping
   * (the control: what that step does with no explanation at all). */
  noneWindowedMB?: number[];
  seconds: number[];
  /** Process CPU seconds of each seed's search (the machine is shared: wall time moves with
   * the load, CPU time much less; the time ratios use it). */
  cpuSeconds?: number[];
  published?: number;
  publishedNone?: number;
  /** --recheck: fusable MB of GET and none on seeds 0..n-1 (cells worse than none on the first seeds). */
  recheck?: { seeds: number; none: number[]; get: number[] };
}

/** The exact optimum of one net/scheme/buffer (MB; NaN when the solver failed). */
interface ExactRecord {
  dramMB: number;
  fusableMB: number;
  boundMB: number;
  status: string;
  seconds: number;
}

const warmupOpt = opt('warmup', '');
/** Plans per untimed warm-up run for a cell budget (--warmup; 0 = no warm-up). */
const warmBudget = (budget: number) => (warmupOpt === '' ? Math.max(20, Math.round(budget / 10)) : Number(warmupOpt));
const WARMUP_SEED = 1_000_003;
const cells: Cell[] = [];
const exact = new Map<string, ExactRecord>();
const MB = 1e6;

/** One seeded search run (fresh cost model: no cache shared across runs). */
function runOnce(graph: OpGraph, scheme: FusionScheme, bufferKb: number, budget: number, method: Method, kind: GetKind, seed: number) {
  const cm = createCostModel(scheme, graph, { bufferBytes: bufferKb * 1024, elementType: element });
  const rect = makeRectifier(kind, { gnne: { steps: 20, seed, ...(gnneStable ? { stableSteps: Number(gnneStable) } : {}) }, topK, mergeBack, guard, explore, planMerge, refine, refineFirst, refineDeep, windowMerge, prune, finish });
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const o = { seed, budget, rectifier: rect };
  const r: SearchResult = method === 'random' ? searchRandom(cm, o) : method === 'local' ? searchLocal(cm, o) : searchNsga2(cm, o);
  const seconds = (performance.now() - t0) / 1000;
  const cu = process.cpuUsage(c0);
  const split = dramSplit(cm, r.plan, fusabilityOf(cm));
  // Control, untimed: none's result through the same final window re-grouping GET's finish runs
  // (two sweeps, 48 then 53 ops), to show what that step does without any explanation.
  const windowed = kind === 'none' && finish ? dramSplit(cm, reoptimizeWindowsWide(cm, r.plan), fusabilityOf(cm)).fusable / MB : undefined;
  return { seconds, cpuSeconds: (cu.user + cu.system) / 1e6, dramMB: split.total / MB, fusableMB: split.fusable / MB, windowedFusableMB: windowed, stats: rect.stats, rectifyRate: rect.rectifyRate(), explainerWins: rect.explainerWinRate() };
}

/**
 * --recheck n: three seeds cannot separate two searches that land in different near-optimal
 * basins (seed-to-seed spread is often larger than the difference), so every GET cell whose
 * seed mean is worse than none's is re-measured, GET and none alike, on seeds 0..n-1 (the first
 * seeds are reused). The rule is fixed before the run and both figures are printed.
 */
function recheckWorse(n: number) {
  for (const c of cells) {
    if (c.get === 'none' || !(relVsNone(c) > 1e-9)) continue;
    const base = noneOf(c)!;
    const graph = sharedOpGraph(c.net, sharedModelsDir()); // cached per net
    const more = (cell: Cell, kind: GetKind) => {
      const xs = cell.fusableMB.slice(0, n);
      for (let s = xs.length; s < n; s++) xs.push(runOnce(graph, c.scheme, c.bufferKb, c.budget, c.method, kind, s).fusableMB);
      return xs;
    };
    c.recheck = { seeds: n, none: more(base, 'none'), get: more(c, c.get) };
    printRecheck(c);
  }
}

function printRecheck(c: Cell) {
  const r = c.recheck!;
  console.log(`  recheck ${c.setting} ${c.net} ${c.scheme} ${label[c.method]} +${c.get} on ${r.seeds} seeds: ${f(mean(r.get))} vs none ${f(mean(r.none))} fus MB (${pct(recheckRel(r), 2)}), sd ${f(sd(r.get))} / ${f(sd(r.none))}, worse on ${worseCount(r.get, r.none)}/${r.seeds} seeds`);
}

async function runSetting(setting: string, nets: string[], schemes: FusionScheme[], bufferKb: number, budget: number, methods: Method[]) {
  for (const net of nets) {
    if (netsFilter.length && !netsFilter.includes(net)) continue;
    const graph = sharedOpGraph(net, sharedModelsDir());
    for (const scheme of schemes) {
      if (!schemesFilter.includes(scheme)) continue;
      const cost = () => createCostModel(scheme, graph, { bufferBytes: bufferKb * 1024, elementType: element });
      const key = `${net}/${scheme}/${bufferKb}`;
      if (!noExact && !exact.has(key) && !exactFrom) {
        const t0 = performance.now();
        try {
          const cm = cost();
          const r = await solveExact(cm, { timeLimit: exactTime });
          const fus = dramSplit(cm, r.plan, fusabilityOf(cm)).fusable;
          exact.set(key, { dramMB: r.dram / MB, fusableMB: fus / MB, boundMB: r.bound / MB, status: `${r.status}/${r.scope}`, seconds: (performance.now() - t0) / 1000 });
        } catch (e) {
          exact.set(key, { dramMB: NaN, fusableMB: NaN, boundMB: NaN, status: `failed: ${String(e).slice(0, 60)}`, seconds: (performance.now() - t0) / 1000 });
        }
      }
      // Untimed warm-up of every (search, explainer) pair (see --warmup): no cell pays V8's JIT
      // warm-up, whichever runs first. Seed WARMUP_SEED is never a timed seed.
      if (warmBudget(budget) > 0) for (const method of methods) for (const kind of kinds) runOnce(graph, scheme, bufferKb, warmBudget(budget), method, kind, WARMUP_SEED);
      // Seed by seed across the explainers (none's seed s, then each explainer's seed s, then
      // seed s + 1): each cell's time is measured beside none's for the same seed, so the
      // machine's drift (this VM's speed moves by up to 40% within minutes) falls on both sides
      // of a ratio rather than on one (it was explainer by explainer, all seeds of each).
      for (const method of methods) {
        const byKind = kinds.map((kind): Cell => ({ setting, net, scheme, bufferKb, budget, method, get: kind, dramMB: [], fusableMB: [], rectifyRate: [], explainerWins: [], invalid: [], splitCheaper: [], randomCheaper: [], mergedBack: [], explored: [], seconds: [] }));
        const seedsOf = (kind: GetKind) => (kind === 'gnne' ? gnneSeeds : seeds);
        for (let s = 0; s < Math.max(...kinds.map(seedsOf)); s++) {
          kinds.forEach((kind, k) => {
            if (s >= seedsOf(kind)) return;
            const cell = byKind[k];
            const r = runOnce(graph, scheme, bufferKb, budget, method, kind, s);
            cell.seconds.push(r.seconds);
            (cell.cpuSeconds ??= []).push(r.cpuSeconds);
            cell.dramMB.push(r.dramMB);
            cell.fusableMB.push(r.fusableMB);
            // NaN when the search met no invalid group (nothing to rectify); excluded from means
            cell.rectifyRate.push(kind === 'none' || r.stats.invalid === 0 ? NaN : r.rectifyRate);
            cell.explainerWins.push(kind === 'none' || r.stats.invalid === 0 ? NaN : r.explainerWins);
            cell.invalid.push(r.stats.invalid);
            cell.splitCheaper.push(r.stats.splitCheaper);
            cell.randomCheaper.push(r.stats.randomCheaper);
            cell.mergedBack.push(r.stats.mergedBack);
            cell.explored.push(r.stats.explored);
            (cell.explanations ??= []).push(r.stats.explanations);
            (cell.structuralHits ??= []).push(r.stats.structuralHits);
            (cell.planMerges ??= []).push(r.stats.planMerges);
            (cell.refined ??= []).push(r.stats.refined);
            (cell.windowMerges ??= []).push(r.stats.windowMerges);
            (cell.exactAnswers ??= []).push(r.stats.exact);
            (cell.pruned ??= []).push(r.stats.pruned);
            (cell.finishSavedMB ??= []).push(r.stats.finishSaved / MB);
            (cell.maskSteps ??= []).push(r.stats.maskSteps);
            (cell.maskRows ??= []).push(r.stats.maskRows);
            if (r.windowedFusableMB !== undefined) (cell.noneWindowedMB ??= []).push(r.windowedFusableMB);
          });
        }
        for (const cell of byKind) {
          const kind = cell.get;
          const ni = (setting === 'A' ? A_NETS : B_NETS).indexOf(net);
          if (setting === 'A') {
            cell.published = PUB_A[method]?.[kind]?.[ni];
            cell.publishedNone = PUB_A[method]?.none?.[ni];
          } else {
            const p = PUB_B[scheme]?.[method];
            if (p) {
              cell.publishedNone = p.none[ni];
              cell.published = kind === 'none' ? p.none[ni] : p.best[ni];
            }
          }
          cells.push(cell);
          printCell(cell);
        }
      }
    }
  }
}

const mean = (xs: number[]) => {
  const ok = xs.filter(Number.isFinite);
  return ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : NaN;
};
const sd = (xs: number[]) => {
  const m = mean(xs);
  return Math.sqrt(mean(xs.map((x) => (x - m) ** 2)));
};
const f = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : '-');

function noneOf(c: Cell): Cell | undefined {
  return cells.find((x) => x.setting === c.setting && x.net === c.net && x.scheme === c.scheme && x.method === c.method && x.get === 'none');
}

const header = ['set', 'net', 'scheme', 'KB', 'plans', 'search', 'GET', 'total MB', 'fusable MB', 'sd fus', 'vs none fus', 'vs none tot', 'gap closed', 'worse seeds', 'rectify', 'expl wins', 'time s', 'cpu s', 'x none', 'gap opt', 'paper MB', 'paper vs none'];
const widths = [3, 28, 6, 4, 5, 7, 4, 9, 10, 7, 11, 11, 10, 11, 7, 9, 7, 6, 6, 9, 8, 13];
const row = (xs: string[]) => xs.map((x, i) => x.padEnd(widths[i])).join(' ');
const pct = (x: number, d = 1) => (Number.isFinite(x) ? `${f(100 * x, d)}%` : '-');

const exactOf = (c: Cell) => exact.get(`${c.net}/${c.scheme}/${c.bufferKb}`);
/** none's figures on the same seeds as the cell (a cell may run fewer seeds: --gnne-seeds). */
const pairedNone = (c: Cell, which: 'fusableMB' | 'dramMB' | 'seconds' | 'cpuSeconds') => {
  const base = noneOf(c);
  return base ? (base[which] ?? []).slice(0, (c[which] ?? []).length) : [];
};
/** Relative change of the mean fusable (or total) MB vs 'none' on the same seeds (negative = GET better). */
const relVsNone = (c: Cell, which: 'fusableMB' | 'dramMB' = 'fusableMB') => {
  const base = pairedNone(c, which);
  if (!base.length || c.get === 'none') return NaN;
  return (mean(c[which]) - mean(base)) / mean(base);
};
/** (none - GET) / (none - optimum) on the fusable MB; NaN ('-': no room) when none is within
 * 0.1% of the optimum (a ratio over a near-zero room says nothing) or no optimum plan is known. */
const gapClosed = (c: Cell) => {
  const base = pairedNone(c, 'fusableMB');
  const ex = exactOf(c);
  if (!base.length || c.get === 'none' || !ex || !Number.isFinite(ex.fusableMB)) return NaN;
  const n = mean(base);
  const room = n - ex.fusableMB;
  return room > 1e-3 * n ? (n - mean(c.fusableMB)) / room : NaN;
};
/** Item 1 of issue 15: a GET cell's search time over the same search's without GET (mean over
 * the same seeds, measured in this run; NaN for 'none'). */
const timeRatio = (c: Cell) => {
  if (c.get === 'none') return NaN;
  const which = c.cpuSeconds?.length && noneOf(c)?.cpuSeconds?.length ? 'cpuSeconds' : 'seconds';
  return mean(c[which]!) / mean(pairedNone(c, which));
};
/** Seeds (paired by seed) where GET's fusable MB exceeds none's. */
const worseCount = (get: number[], none: number[]) => get.filter((x, i) => x > none[i] * (1 + 1e-12)).length;
const worseSeeds = (c: Cell) => {
  const base = noneOf(c);
  return !base || c.get === 'none' ? NaN : worseCount(c.fusableMB, base.fusableMB);
};
/** Relative change of GET's mean vs none's on the --recheck seeds. */
const recheckRel = (r: NonNullable<Cell['recheck']>) => (mean(r.get) - mean(r.none)) / mean(r.none);

function printCell(c: Cell) {
  const d = mean(c.dramMB);
  const ex = exactOf(c);
  // proven optimum: gap to it; otherwise an upper bound on the gap from HiGHS's lower bound
  const gap = !ex || !Number.isFinite(ex.dramMB) ? '-' : ex.status.startsWith('optimal') ? `${f((100 * (d - ex.dramMB)) / ex.dramMB, 1)}%` : `<=${f((100 * (d - ex.boundMB)) / d, 0)}%`;
  const pubRel = c.published !== undefined && c.publishedNone !== undefined && c.get !== 'none' ? `${f((100 * (c.published - c.publishedNone)) / c.publishedNone, 1)}%` : '';
  const none = c.get === 'none';
  console.log(
    row([
      c.setting, c.net, c.scheme, String(c.bufferKb), String(c.budget), label[c.method], c.get,
      f(d), f(mean(c.fusableMB)), f(sd(c.fusableMB)),
      none ? '' : pct(relVsNone(c)), none ? '' : pct(relVsNone(c, 'dramMB')), none ? '' : pct(gapClosed(c), 0),
      none ? '' : `${worseSeeds(c)}/${c.fusableMB.length}`,
      none ? '' : pct(mean(c.rectifyRate), 0), none ? '' : pct(mean(c.explainerWins), 0),
      f(mean(c.seconds), 1), f(mean(c.cpuSeconds ?? []), 1), none ? '' : `${f(timeRatio(c), 1)}x`, gap, c.published !== undefined ? f(c.published) : '', pubRel,
    ]),
  );
}

/** The cell where `fn` is largest, named. */
const maxBy = (cs: Cell[], fn: (c: Cell) => number) => {
  const c = cs.reduce((b, x) => (fn(x) > fn(b) ? x : b));
  return `${c.setting} ${c.net} ${c.scheme} ${label[c.method]} +${c.get}`;
};

/** Exact optima and the summary per search x explainer (from `cells` / `exact`). */
function printSummary(kinds: GetKind[]) {
  console.log(`\nexact optimum (same cost model, ${exactTime} s HiGHS limit; fus = amongst fusable ops):`);
  for (const [k, e] of exact) console.log(`  ${k}: ${f(e.dramMB)} MB, fus ${f(e.fusableMB)} MB (bound ${f(e.boundMB)} MB, ${e.status}, ${f(e.seconds, 1)} s)`);
  // summary per search x explainer
  console.log('\nper search x explainer: mean relative change of fusable DRAM vs the same search without GET (ours | paper), cells worse than none (by the seed mean) and seed pairs worse, gap closed (mean of cells, and pooled = sum of MB saved / sum of MB to the optimum), rectify rate, explainer wins, time:');
  for (const m of ['random', 'local', 'nsga2'] as Method[]) {
    const noneT = mean(cells.filter((c) => c.method === m && c.get === 'none').map((c) => mean(c.seconds)));
    for (const k of kinds.filter((x) => x !== 'none')) {
      const cs = cells.filter((c) => c.method === m && c.get === k && noneOf(c));
      if (!cs.length) continue;
      const ours = cs.map((c) => relVsNone(c));
      const oursTot = cs.map((c) => relVsNone(c, 'dramMB'));
      const pub = cs.filter((c) => c.published !== undefined && c.publishedNone).map((c) => (c.published! - c.publishedNone!) / c.publishedNone!);
      const worse = cs.filter((c) => relVsNone(c) > 1e-9);
      // worse by more than the seed-to-seed spread: mean difference > the larger of the two cells' sd over seeds
      const beyond = worse.filter((c) => mean(c.fusableMB) - mean(pairedNone(c, 'fusableMB')) > Math.max(sd(c.fusableMB), sd(pairedNone(c, 'fusableMB'))));
      const seedPairs = cs.reduce((s, c) => s + c.fusableMB.length, 0);
      const worseS = cs.reduce((s, c) => s + worseSeeds(c), 0);
      const gc = cs.map(gapClosed);
      // pooled over cells: sum(none - GET) / sum(none - optimum), MB; robust where a cell's room is tiny
      const roomy = cs.filter((c) => Number.isFinite(gapClosed(c)));
      const pooled = roomy.reduce((s, c) => s + mean(pairedNone(c, 'fusableMB')) - mean(c.fusableMB), 0) / roomy.reduce((s, c) => s + mean(pairedNone(c, 'fusableMB')) - exactOf(c)!.fusableMB, 0);
      console.log(
        `  ${label[m].padEnd(8)} +${k.padEnd(5)} fus ${pct(mean(ours))} (tot ${pct(mean(oursTot))}) over ${cs.length} cells | paper ${pub.length ? pct(mean(pub)) + ` (${pub.length} cells)` : '-'}; worse than none: ${worse.length} cells (${beyond.length} by more than the seed sd), ${worseS}/${seedPairs} seed pairs; gap closed mean ${pct(mean(gc), 0)} / pooled ${pct(pooled, 0)} (${roomy.length} cells with room); rectify ${pct(mean(cs.map((c) => mean(c.rectifyRate))), 0)}, explainer wins ${pct(mean(cs.map((c) => mean(c.explainerWins))), 0)}; time ${f(mean(cs.map((c) => mean(c.seconds))), 1)} s (none ${f(noneT, 1)} s), time / none max ${f(Math.max(...cs.map(timeRatio)), 2)}x (${maxBy(cs, timeRatio)})`,
      );
      // The published reduction is measured against the paper's own baseline. Ours can only
      // reduce by the room our baseline leaves above the proven optimum, (none - optimum) / none,
      // so the target is read per cell: where that room is at least the published reduction,
      // did GET reach it; where it is not, no method can, and gap closed says how much of the
      // room GET took.
      // The control: none's own results through the same final window re-grouping, over the same
      // cells. Where it closes as much of the gap, the window DP, not the explanations, closes it.
      const ctl = roomy.filter((c) => noneOf(c)?.noneWindowedMB?.length);
      if (ctl.length) {
        const pooledCtl = ctl.reduce((s, c) => s + mean(pairedNone(c, 'fusableMB')) - mean(noneOf(c)!.noneWindowedMB!.slice(0, c.fusableMB.length)), 0) / ctl.reduce((s, c) => s + mean(pairedNone(c, 'fusableMB')) - exactOf(c)!.fusableMB, 0);
        console.log(`      control: none + the same final window re-grouping (no explanation) closes ${pct(pooledCtl, 0)} pooled of the same ${ctl.length} cells' gap`);
      }
      const withPub = cs.filter((c) => c.published !== undefined && c.publishedNone && exactOf(c) && Number.isFinite(exactOf(c)!.fusableMB));
      const room = (c: Cell) => (mean(pairedNone(c, 'fusableMB')) - exactOf(c)!.fusableMB) / mean(pairedNone(c, 'fusableMB'));
      const pubRed = (c: Cell) => (c.publishedNone! - c.published!) / c.publishedNone!;
      const reachable = withPub.filter((c) => room(c) >= pubRed(c));
      const met = reachable.filter((c) => -relVsNone(c) >= pubRed(c) - 1e-9);
      if (withPub.length) console.log(`      published reduction vs room: reachable (room >= published) in ${reachable.length}/${withPub.length} cells, met in ${met.length}${reachable.length > met.length ? ` (missed: ${reachable.filter((c) => !met.includes(c)).map((c) => `${c.net} ${c.scheme} ${pct(-relVsNone(c))} vs ${pct(pubRed(c))}, room ${pct(room(c))}`).join('; ')})` : ''}; the other ${withPub.length - reachable.length} have less room than the published reduction`);
      for (const c of worse) console.log(`      worse: ${c.setting} ${c.net} ${c.scheme}: ${f(mean(c.fusableMB))} vs none ${f(mean(pairedNone(c, 'fusableMB')))} fus MB (${pct(relVsNone(c), 2)}), per seed ${c.fusableMB.map((x) => f(x)).join('/')} vs ${pairedNone(c, 'fusableMB').map((x) => f(x)).join('/')}${c.recheck ? `; on ${c.recheck.seeds} seeds ${f(mean(c.recheck.get))} vs ${f(mean(c.recheck.none))} (${pct(recheckRel(c.recheck), 2)})` : ''}`);
    }
  }
  const gets = cells.filter((c) => c.get !== 'none' && noneOf(c));
  if (gets.length) {
    const over = gets.filter((c) => timeRatio(c) > 3);
    console.log(`\nsearch CPU time with GET / the same search without GET (same seeds, this run): max ${f(Math.max(...gets.map(timeRatio)), 2)}x (${maxBy(gets, timeRatio)}); cells above 3x: ${over.length}/${gets.length}${over.length ? ` (${over.map((c) => `${c.net} ${c.scheme} ${label[c.method]} +${c.get} ${f(timeRatio(c), 1)}x`).join('; ')})` : ''}`);
    // What the explainers actually did, per seed: an invalid group is either answered with its
    // proven optimum (no explanation: GetOptions.refineFirst), or goes through SPLIT, which
    // calls the explainer (recursion and exploration included; structural hits are calls
    // answered from the cache); groups of pruned plans get the random split, unexplained.
    console.log('\nper cell and seed: invalid groups answered (rectified) | of which proven optimum, not explained | explainer calls (structural cache hits) | groups of pruned plans (not explained) | fusable MB | CPU s | MB the final re-grouping saved:');
    for (const c of gets) {
      const per = c.fusableMB.map((x, i) => `seed ${i}: ${c.invalid[i] ?? '-'} | ${c.exactAnswers?.[i] ?? '-'} | ${c.explanations?.[i] ?? '-'} (${c.structuralHits?.[i] ?? '-'}) | ${c.pruned?.[i] ?? '-'} | ${f(x)} | ${f(c.cpuSeconds?.[i] ?? NaN, 2)} | ${f(c.finishSavedMB?.[i] ?? NaN, 4)}`);
      console.log(`  ${c.net} ${c.scheme} ${label[c.method]} +${c.get}: ${per.join('; ')}`);
    }
    arithmeticFloor(gets);
  }
}

/**
 * GNNExplainer's arithmetic, a floor under its cells' time (not a target): each Adam step of a
 * group's mask runs six [n, 128] x [128, 384] matmuls (mask-objective.ts: the k-GNN's three
 * hidden layers forward and back), 589,824 n floating-point operations, whatever the search and
 * the rectifier around it do. Their time alone, at the matmul rate this backend reaches in this
 * run on the cell's mean group size, against the same search without GET: if that is above 3x,
 * no change outside GNNExplainer's optimization (fewer steps, smaller matmuls) brings the cell to
 * item 1's target. The per-explanation forward and the loops around the matmuls are left out.
 */
/** Floating-point operations of one Adam step per op of the group: six matmuls, 2 x HIDDEN x
 * 3 HIDDEN each per row (589,824 at HIDDEN 128). */
const STEP_FLOP_PER_OP = 6 * 2 * HIDDEN * 3 * HIDDEN;

function arithmeticFloor(gets: Cell[]): void {
  const cellsWithSteps = gets.filter((c) => sum(c.maskSteps ?? []) > 0);
  if (!cellsWithSteps.length) return;
  console.log('\nGNNExplainer\'s arithmetic (a floor under the cell\'s time, not a target): per seed, Adam steps on groups of n ops on average,');
  console.log('  each six [n,128] x [128,384] matmuls; their time at the matmul rate measured now on [n,128] x [128,384] and [n,384] x [384,128]');
  for (const c of cellsWithSteps) {
    const steps = sum(c.maskSteps!), rows = sum(c.maskRows!), seeds = c.maskSteps!.length;
    const n = Math.max(1, Math.round(rows / steps));
    const rate = matmulRate(n);
    const floorS = (rows * STEP_FLOP_PER_OP) / rate / seeds;
    const none = noneOf(c);
    const noneS = none?.cpuSeconds?.length ? mean(none.cpuSeconds.slice(0, seeds)) : NaN;
    console.log(`  ${c.net} ${c.scheme} ${label[c.method]} +${c.get}: ${f(steps / seeds, 0)} steps, n ${n}, ${f((rows * STEP_FLOP_PER_OP) / seeds / 1e9, 1)} GFLOP at ${f(rate / 1e9, 1)} GFLOP/s = ${f(floorS, 2)} s per seed = ${f(floorS / noneS, 1)}x the search without GET (${f(noneS, 2)} s); the cell: ${f(timeRatio(c), 1)}x`);
  }
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** FLOP per CPU second of the mask objective's two matmul shapes at n rows on the tf backend,
 * as its Adam steps run them (untransposed, against constant weights). */
function matmulRate(n: number): number {
  const a = tf.randomNormal([n, HIDDEN]), b = tf.randomNormal([HIDDEN, 3 * HIDDEN]);
  const c = tf.randomNormal([n, 3 * HIDDEN]), d = tf.randomNormal([3 * HIDDEN, HIDDEN]);
  const pair = () => tf.tidy(() => void (tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D).dataSync(), tf.matMul(c as tf.Tensor2D, d as tf.Tensor2D).dataSync()));
  for (let i = 0; i < 100; i++) pair();
  const reps = Math.max(100, Math.round(6e4 / n)); // ~0.3 s at this machine's rate
  const c0 = process.cpuUsage();
  for (let i = 0; i < reps; i++) pair();
  const cu = process.cpuUsage(c0);
  tf.dispose([a, b, c, d]);
  return (reps * 4 * n * HIDDEN * 3 * HIDDEN) / ((cu.user + cu.system) / 1e6);
}

/** An earlier run's --json (JSON writes NaN as null: restored here). */
function readRun(file: string): { settings: Record<string, unknown> & { element: string }; cells: Cell[]; exact: Record<string, ExactRecord> } {
  const j = JSON.parse(readFileSync(file, 'utf8'));
  for (const c of j.cells as Cell[]) for (const k of ['dramMB', 'fusableMB', 'rectifyRate', 'explainerWins', 'seconds'] as const) c[k] = c[k].map((x) => x ?? NaN);
  for (const e of Object.values(j.exact as Record<string, ExactRecord>)) for (const k of ['dramMB', 'fusableMB', 'boundMB'] as const) e[k] ??= NaN;
  return j;
}

async function main() {
  const skip = sharedModelsMissing();
  if (skip) {
    console.log(`bench:get skipped: ${skip}`);
    return;
  }
  const report = opt('report', '');
  if (report) {
    // Re-print the table and summaries from earlier --json outputs (e.g. the 3-seed run and the
    // GNNExplainer run of the same element width): cells are merged, the first file wins.
    const seen = new Set<string>();
    const key = (c: Cell) => `${c.setting}/${c.net}/${c.scheme}/${c.method}/${c.get}`;
    const allKinds = new Set<GetKind>();
    for (const file of report.split(',')) {
      const j = readRun(file);
      console.log(`${file}: ${JSON.stringify(j.settings)}`);
      for (const c of j.cells) if (!seen.has(key(c))) (seen.add(key(c)), cells.push(c), allKinds.add(c.get));
      for (const [k, e] of Object.entries(j.exact)) if (!exact.has(k)) exact.set(k, e);
    }
    const order = (c: Cell) => [c.setting, A_NETS.concat(B_NETS).indexOf(c.net), c.scheme, ['local', 'nsga2', 'random'].indexOf(c.method), ['none', ...EXPLAINER_KINDS].indexOf(c.get)];
    cells.sort((a, b) => {
      const x = order(a), y = order(b);
      for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
      return 0;
    });
    console.log(row(header));
    for (const c of cells) printCell(c);
    if (cells.some((c) => c.recheck)) console.log('\nrecheck (from the runs):');
    for (const c of cells) if (c.recheck) printRecheck(c);
    printSummary(EXPLAINER_KINDS.filter((k) => allKinds.has(k)));
    return;
  }
  const backend = await prepareGet();
  if (exactFrom) {
    const prev = readRun(exactFrom);
    if (prev.settings.element !== element) throw new Error(`--exact-from ${exactFrom}: element ${prev.settings.element}, this run ${element}`);
    for (const [k, e] of Object.entries(prev.exact)) exact.set(k, { ...e, status: `${e.status} (from ${exactFrom})` });
  }
  const bA = Math.max(10, Math.round(5000 * scale));
  const bB = Math.max(10, Math.round(2000 * scale));
  console.log(`GET bench: seeds=${seeds}, element=${element}, budgets A=${bA} B=${bB} plans (published: 5000 / 2000), explainers=${kinds.join(',')}${kinds.includes('gnne') && gnneSeeds < seeds ? ` (gnne on the first ${gnneSeeds} seed(s) only)` : ''}, methods=${methodsFilter.join(',')}, exact time limit ${noExact ? 'off' : exactTime + ' s'}, untimed warm-up per (search, explainer) pair ${warmBudget(bB) > 0 ? `${warmBudget(bA)} (A) / ${warmBudget(bB)} (B) plans, seed ${WARMUP_SEED}` : 'off'}, tfjs backend ${backend}${quick ? ' [--quick: reduced]' : ''}`);
  console.log(`GNNExplainer: at most 20 Adam steps per group in this bench; SPLIT tries the top ${topK} explained edges per group; merge-back ${mergeBack ? 'on' : 'off'}; guard (cheaper random split wins) ${guard ? 'on' : 'off'}; exploration on recurring groups ${explore ? 'on' : 'off'}; split parts merged into neighbouring plan groups ${planMerge ? 'on' : 'off'}; best refinement of each split group ${refine ? 'on' : 'off'}; proven optimum first, no explanation, where the window DP is exact ${refine && refineFirst ? (refineDeep ? 'on, also inside SPLIT' : 'on, not inside SPLIT (--no-refine-deep)') : 'off'}; exact window merge around split parts ${windowMerge ? 'on' : 'off'}; pruning of plans the search cannot keep ${prune ? 'on' : 'off'}; final window re-grouping of the result ${finish ? 'on' : 'off'}; GNNExplainer early stop ${gnneStable === '' ? `after ${GNNE_STABLE_STEPS} stable steps (default)` : gnneStable === '0' ? 'off' : `after ${gnneStable} stable steps`}.`);
  console.log(`DRAM "fus" = amongst fusable ops (the paper's figure), "tot" = all groups; vs none = relative change of the mean over seeds vs the same search without GET; gap closed = (none - GET) / (none - optimum), fusable MB; worse seeds = seeds where GET's fusable MB > none's (same seed).`);
  if (netsFilter.length) console.log(`networks: ${netsFilter.join(', ')}`);
  console.log(row(header));
  const t0 = performance.now();
  if (settingsFilter.includes('A')) await runSetting('A', A_NETS, ['lbdf'], 256, bA, (['local', 'nsga2', 'random'] as Method[]).filter((m) => methodsFilter.includes(m)));
  if (settingsFilter.includes('B')) await runSetting('B', B_NETS, ['lbdf', 'brr'], 128, bB, (['local', 'random'] as Method[]).filter((m) => methodsFilter.includes(m)));
  if (recheck > 0) {
    console.log(`\nrecheck: GET cells worse than none by the ${seeds}-seed mean, GET and none on ${recheck} seeds:`);
    recheckWorse(recheck);
  }
  printSummary(kinds);
  console.log(`\ntotal ${f((performance.now() - t0) / 1000, 0)} s`);
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ settings: { seeds, element, bA, bB, kinds, quick, topK, mergeBack, guard, explore, planMerge, refine, refineFirst, refineDeep, windowMerge, prune, finish, warmup: warmBudget(bB), gnneStable: gnneStable === '' ? GNNE_STABLE_STEPS : Number(gnneStable), exactTime: noExact ? null : exactTime }, cells: cells.map((c) => ({ ...c, vsNoneFusable: relVsNone(c), vsNoneTotal: relVsNone(c, 'dramMB'), gapClosed: gapClosed(c), worseSeeds: worseSeeds(c) })), exact: Object.fromEntries(exact) }, null, 1));
}

await main();
