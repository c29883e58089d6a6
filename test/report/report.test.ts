import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { Pass } from '../../src/passes/pass.ts';
import { runPasses, scheduleGraph, scheduleToJson, SCHEDULE_SCHEMA_VERSION, type Schedule } from '../../src/passes/manager.ts';
import { buildCnn } from '../../src/testkit/arbitraries.ts';
import { generateReport, recomputeSweep, reportDataFromSchedule } from '../../src/report/index.ts';
import { finalPlan } from '../../src/passes/schedule-groups.ts';
import { hasPass } from '../../src/passes/registry.ts';
import { noChromium, withPage } from '../support/chromium.ts';


/** A stand-in planner (runs of 3 ops in topological order) with figures and a sweep, so the
 * report is tested independently of the real planner. */
const toyPlanner: Pass = {
  name: 'toy-plan',
  description: 'runs of 3 ops',
  reads: ['hardware'],
  writes: ['annotations:toy-plan'],
  kind: 'fusion-plan',
  run(model, ctx) {
    const order = model.graph.topoOrder().map((n) => n.name);
    const groups = [];
    for (let i = 0; i < order.length; i += 3) {
      const mem = 20000 * (1 + (i % 5));
      groups.push({ id: groups.length, nodes: order.slice(i, i + 3), memoryBytes: mem, dramBytes: 5000 + 10 * i, memory: { bytes: mem, items: [{ kind: 'weights', tensor: 'w', bytes: 8000 }, { kind: 'line-buffer', tensor: 'x', bytes: mem - 8000 }] } });
    }
    const beta = ctx.hardware!.bufferBytes;
    return { changed: false, annotations: { groups, totals: { dramBytes: 70000, layerByLayerDramBytes: 150000 }, sweep: [0.25, 0.5, 1, 2, 4].map((f) => ({ bufferBytes: beta * f, dramBytes: 70000 / f, layerByLayerDramBytes: 150000 })) } };
  },
};

async function toySchedule(): Promise<Schedule> {
  const m = buildCnn({ seed: 9, inChannels: 3, size: 16, blocks: [{ kind: 'conv-bn-relu', out: 8, kernel: 3, stride: 2, bn: true }, { kind: 'residual', bottleneck: true }, { kind: 'concat', a: 4, b: 4 }, { kind: 'se', reduction: 2 }], head: true });
  const { schedule } = await runPasses(m, [toyPlanner], { hardware: { name: 'test-hw', bufferBytes: 64 * 1024, elementType: 'int8', dramBytesPerSecond: 1e10, macsPerSecond: 1e12 }, scheme: 'lbdf', seed: 1 });
  schedule.graph = scheduleGraph(m);
  return schedule;
}

test('report HTML is self-contained and carries every group, bar and sweep point', async () => {
  const s = await toySchedule();
  const groups = reportDataFromSchedule(s).groups.length;
  assert.ok(groups >= 5);
  const html = await generateReport(s);
  assert.equal((html.match(/<g class="fusion-group/g) ?? []).length, groups);
  assert.equal((html.match(/<g class="mem-bar"/g) ?? []).length, groups);
  assert.equal((html.match(/<circle class="pt"/g) ?? []).length, 5);
  // no external resource of any kind
  assert.doesNotMatch(html, /\b(src|href)\s*=\s*["'](?!#)/i);
  assert.doesNotMatch(html, /https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
  assert.doesNotMatch(html, /@import|url\((?!#)/);
  // deterministic: same schedule, same page
  assert.equal(await generateReport(s), html);
});

test('report of a schedule without a plan says so instead of failing', async () => {
  const m = buildCnn({ seed: 2, inChannels: 1, size: 8, blocks: [{ kind: 'pool', op: 'max' }], head: false });
  const { schedule } = await runPasses(m, []);
  schedule.graph = scheduleGraph(m);
  const html = await generateReport(schedule);
  assert.match(html, /No fusion plan in this schedule/);
  assert.equal((html.match(/<g class="fusion-group/g) ?? []).length, 0);
});

async function renderInChromium(file: string): Promise<{ groups: number; groupsAttr: string | null; bars: number; points: number; errors: string[]; requests: string[] }> {
  return withPage(file, async (page, { errors, requests }) => {
    const groups = await page.locator('#graph g.fusion-group').count();
    // the groups are drawn: each has a visible box with a non-zero size
    const sized = await page.$$eval('#graph g.fusion-group rect.group-box', (els) => els.filter((r) => (r as unknown as { getBBox(): { width: number } }).getBBox().width > 0).length);
    assert.equal(sized, groups, 'every group box has a size');
    // clicking a group highlights it (the inline script runs)
    await page.locator('#graph g.fusion-group').first().dispatchEvent('click');
    assert.ok((await page.locator('.hl').count()) > 0, 'click highlights the group');
    return {
      groups,
      groupsAttr: await page.getAttribute('html', 'data-groups-rendered'),
      bars: await page.locator('#memory g.mem-bar').count(),
      points: await page.locator('#sweep circle.pt').count(),
      errors,
      requests,
    };
  });
}

test('report renders its fusion groups in headless Chromium without console errors', { skip: noChromium, timeout: 120_000 }, async () => {
  const s = await toySchedule();
  const expected = reportDataFromSchedule(s).groups.length;
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-report-'));
  try {
    const file = join(dir, 'report.html');
    writeFileSync(file, await generateReport(s));
    const r = await renderInChromium(file);
    assert.equal(r.groups, expected);
    assert.equal(r.groupsAttr, String(expected));
    assert.equal(r.bars, expected);
    assert.equal(r.points, 5);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.requests.filter((u) => !u.startsWith('file://')), [], 'no network request');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dnnfuse compile then dnnfuse report on the bundled example renders in Chromium', { skip: noChromium || (!hasPass('plan') ? 'the plan pass is not in this build' : false), timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-report-cli-'));
  try {
    const out = join(dir, 'out');
    const c = spawnSync(process.execPath, ['bin/dnnfuse.mjs', 'compile', '-o', out, '--quiet', '--no-verify', '--pipeline', 'fold-bn,collapse-branches,plan', '--option', 'plan.optimum=false'], { encoding: 'utf8' });
    assert.equal(c.status, 0, c.stderr);
    const html = join(dir, 'report.html');
    const r = spawnSync(process.execPath, ['bin/dnnfuse.mjs', 'report', join(out, 'schedule.json'), '-o', html, '--json', '--quiet'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    const schedule = JSON.parse(readFileSync(join(out, 'schedule.json'), 'utf8')) as Schedule;
    const groups = reportDataFromSchedule(schedule).groups.length;
    assert.ok(groups > 0);
    assert.equal(summary.groups, groups);
    const b = await renderInChromium(html);
    assert.equal(b.groups, groups);
    assert.ok(b.points >= 2, 'the DRAM-vs-buffer curve has points');
    assert.deepEqual(b.errors, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dnnfuse report: bad inputs exit 2 with one line and no output', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-report-bad-'));
  try {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"hello": 1}');
    const html = join(dir, 'r.html');
    for (const [args, re] of [
      [[join(dir, 'missing.json'), '-o', html], /schedule file not found/],
      [[bad, '-o', html], /not a dnnfuse schedule \(no schemaVersion/],
      [[bad, '-o', bad], /./],
    ] as [string[], RegExp][]) {
      const r = spawnSync(process.execPath, ['bin/dnnfuse.mjs', 'report', ...args], { encoding: 'utf8' });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(existsSync(html), false);
    }
    assert.equal(readFileSync(bad, 'utf8'), '{"hello": 1}');
    void scheduleToJson;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a 2.1 schedule carries what the report draws: graph and op graph, re-planned without the model or the pipeline', { skip: hasPass('plan') ? false : 'the plan pass is not in this build', timeout: 120_000 }, async () => {
  const { compileModel } = await import('../../src/compile.ts');
  const example = join(import.meta.dirname, '..', '..', 'fixtures', 'example.onnx');
  const hw = { name: 'hw', bufferBytes: 256 * 1024, elementType: 'int8' as const, dramBytesPerSecond: 1e10, macsPerSecond: 1e12 };
  const { schedule } = await compileModel(example, { hw, pipeline: 'fold-bn,plan', passOptions: { plan: { budget: 50, optimum: false } }, verify: false, omitTimings: true });
  assert.equal(schedule.schemaVersion, SCHEDULE_SCHEMA_VERSION);
  assert.ok(schedule.graph && schedule.planning, 'graph and planning sections written');
  assert.equal(schedule.planning.pass, 'plan');
  // The source model is gone: the report needs nothing but the schedule.
  const s: Schedule = JSON.parse(scheduleToJson({ ...schedule, model: { ...schedule.model, path: join(tmpdir(), 'no-such-dir', 'gone.onnx') } }));
  const logged: string[] = [];
  const { points } = await recomputeSweep(s, { log: (m) => logged.push(m) });
  assert.equal(points.length, 7);
  assert.equal(logged.length, 7);
  // The point at the schedule's own buffer is the schedule's plan (same op graph, search, seed).
  const at = points.find((p) => p.bufferBytes === hw.bufferBytes)!;
  assert.equal(at.dramBytes, finalPlan(s)!.dramBytes);
  assert.equal(at.groups, finalPlan(s)!.groups.length);
  assert.ok(points[0].dramBytes >= points[6].dramBytes, 'a larger buffer moves no more DRAM');
  const html = await generateReport(s);
  assert.equal((html.match(/<circle class="pt"/g) ?? []).length, 7);
  assert.ok((html.match(/<path class="edge"/g) ?? []).length > 10, 'edges drawn');
  assert.equal((html.match(/<g class="fusion-group/g) ?? []).length, reportDataFromSchedule(s).groups.length);
  // An older schedule (no planning section, no graph section): groups drawn unconnected, and
  // the page says why there is no curve instead of re-running anything.
  const { planning: _p, graph: _g, ...old } = s;
  const oldHtml = await generateReport({ ...old, schemaVersion: '2.0' });
  assert.match(oldHtml, /records no op graph to re-plan/);
  assert.match(oldHtml, /has no graph section/);
  assert.equal((oldHtml.match(/<circle class="pt"/g) ?? []).length, 0);
  assert.equal((oldHtml.match(/<g class="fusion-group/g) ?? []).length, reportDataFromSchedule(s).groups.length);
});
