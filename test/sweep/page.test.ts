import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sweepCurves, sweepPage, smallestBufferFor } from '../../src/sweep/page.ts';
import type { PointRow } from '../../src/sweep/point.ts';
import { noChromium, withPage } from '../support/chromium.ts';


const KIB = 1024;
/** Synthetic rows: DRAM falls as 1/sqrt(buffer) down to a floor; BRR higher than LBDF. */
function rows(): PointRow[] {
  const out: PointRow[] = [];
  for (const model of ['netA', 'netB'])
    for (const scheme of ['lbdf', 'brr'])
      for (const dtype of ['int8', 'fp16'])
        for (const kib of [64, 128, 256, 512, 1024, 2048, 4096, 8192]) {
          const lbl = (model === 'netA' ? 40e6 : 90e6) * (dtype === 'fp16' ? 2 : 1);
          const floor = lbl * (scheme === 'lbdf' ? 0.2 : 0.45);
          const dram = Math.round(Math.max(floor, lbl * Math.sqrt(64 / kib)));
          out.push({
            key: `${model}-${scheme}-${dtype}-${kib}`, model, model_hash: model, base: 'hw', hardware: 'hw', buffer_bytes: kib * KIB, dtype, bandwidth: 12.8e9, macs: 1e12,
            scheme, search: 'greedy', optimum: true, seed: 0, budget: 1000, time_limit: 30, tool_version: '0.1.0', status: 'optimal',
            dram_bytes: dram, dram_fusable_bytes: dram, lbl_bytes: lbl, lbl_fusable_bytes: lbl, reduction: 1 - dram / lbl, groups: 10, max_memory_bytes: kib * KIB,
            latency_us: 1, seeded: false, optimum_bytes: dram, bound_bytes: dram, optimum_scope: 'all', optimum_groups: 10, plan: '[]', error: null, time_ms: 1,
          });
        }
  return out;
}

test('curves: monotone DRAM, the knee is the smallest buffer within 5% of the minimum, smallest buffer per reduction', () => {
  const r = rows();
  // a non-monotone point (a worse plan at a larger size) is clipped to the running minimum
  const bump = r.find((x) => x.key === 'netA-lbdf-int8-256')!;
  bump.optimum_bytes = bump.dram_bytes = 39e6;
  const curves = sweepCurves(r);
  assert.equal(curves.length, 8);
  assert.deepEqual(curves.slice(0, 4).map((c) => `${c.model} ${c.scheme} ${c.dtype}`), ['netA lbdf fp16', 'netA lbdf int8', 'netA brr fp16', 'netA brr int8']);
  const c = curves.find((x) => x.model === 'netA' && x.scheme === 'lbdf' && x.dtype === 'int8')!;
  for (let i = 1; i < c.points.length; i++) assert.ok(c.points[i].dram <= c.points[i - 1].dram);
  // floor 0.2 x 40 MB = 8 MB reached at 64 / 0.2^2 = 1600 KiB -> 2048 KiB; within 5%: 1/sqrt(x) <= 0.21 -> 2048 KiB too
  assert.equal(c.min, 8e6);
  assert.equal(c.knee.buffer, 2048 * KIB);
  // 50% reduction: sqrt(64/kib) <= 0.5 -> 256 KiB, but the bumped 256 KiB point stays at the
  // 128 KiB value (28.3 MB > 20 MB), so 512 KiB
  assert.equal(c.points[2].dram, c.points[1].dram);
  assert.equal(smallestBufferFor(c, 0.5)!.buffer, 512 * KIB);
  assert.equal(smallestBufferFor(curves.find((x) => x.model === 'netA' && x.scheme === 'lbdf' && x.dtype === 'fp16')!, 0.5)!.buffer, 256 * KIB);
  const brr = curves.find((x) => x.model === 'netA' && x.scheme === 'brr' && x.dtype === 'int8')!;
  assert.equal(smallestBufferFor(brr, 0.6), undefined, 'BRR never reaches -60% (floor 45%)');
  // error rows are left out
  const withErr = [...r, { ...r[0], key: 'e', status: 'error', dram_bytes: null, model: 'broken' }];
  assert.equal(sweepCurves(withErr).length, 8);
});

test('curves: a proven bound holds at every smaller buffer; the page draws a bar down to it where the optimum is not proven', async () => {
  const r = rows().filter((x) => x.model === 'netA' && x.scheme === 'brr' && x.dtype === 'int8');
  const at = (kib: number) => r.find((x) => x.buffer_bytes === kib * KIB)!;
  at(256).status = 'not-proven';
  at(256).bound_bytes = Math.round(at(256).optimum_bytes! * 0.7);
  at(1024).bound_bytes = at(1024).optimum_bytes! + 1; // (impossible, but shows the running maximum)
  const c = sweepCurves(r)[0];
  assert.deepEqual(c.points.map((p) => p.bound! >= at(1024).bound_bytes!), [true, true, true, true, true, false, false, false]);
  assert.equal(c.points[7].bound, at(8192).bound_bytes);
  const html = await sweepPage(r);
  assert.match(html, /errorbar/, 'an error bar is drawn');
  assert.doesNotMatch(await sweepPage(rows()), /errorbar/, 'no bar when every point is proven');
});

test('sweep page: one chart per model with LBDF and BRR panels, knees, the reduction table; self-contained and deterministic', async () => {
  const html = await sweepPage(rows(), { reduction: 0.5 });
  assert.equal((html.match(/<figure class="model-chart"/g) ?? []).length, 2);
  assert.equal((html.match(/<tr class="reach"/g) ?? []).length, 8);
  assert.match(html, /data-model="netA" data-curves="4" data-knees="lbdf:fp16:2097152 lbdf:int8:2097152 brr:fp16:524288 brr:int8:524288"/);
  assert.match(html, /<td class="buf">256 KiB<\/td>/);
  assert.match(html, />LBDF<\/text>[\s\S]*>BRR<\/text>/);
  assert.match(html, /knee 2 MiB/);
  // the x axis: the swept sizes, labelled in KiB / MiB
  for (const t of ['64 KiB', '128 KiB', '512 KiB', '1 MiB', '8 MiB']) assert.match(html, new RegExp(`>${t}</text>`), t);
  assert.doesNotMatch(html, /<script/i);
  assert.doesNotMatch(html, /\b(src|href)\s*=\s*["'](?!#)/i);
  assert.doesNotMatch(html, /https?:\/\/(?!www\.w3\.org\/(2000\/svg|1999\/xlink))/);
  assert.doesNotMatch(html, /@import|url\((?!#)/);
  assert.equal(await sweepPage(rows(), { reduction: 0.5 }), html);
});

test('sweep page renders in headless Chromium: every chart drawn, no console error, no request', { skip: noChromium, timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-sweep-page-'));
  const file = join(dir, 'page.html');
  writeFileSync(file, await sweepPage(rows()));
  try {
    await withPage(file, async (page, { errors, requests }) => {
      assert.equal(await page.locator('figure.model-chart svg').count(), 2);
      const sizes = await page.$$eval('figure.model-chart svg', (els) => els.map((e) => (e as unknown as { getBBox(): { width: number; height: number } }).getBBox()).map((b) => b.width * b.height));
      assert.ok(sizes.every((s) => s > 10000), `charts have a size: ${sizes}`);
      // four panels' curves per chart (2 schemes x 2 dtypes lines + layer-by-layer) are drawn paths
      const lines = await page.$$eval('figure.model-chart path', (els) => els.filter((e) => (e.getAttribute('d') ?? '').length > 20).length);
      assert.ok(lines >= 2 * 8, `${lines} drawn paths`);
      assert.equal(await page.locator('table#reach tbody tr').count(), 8);
      assert.deepEqual(errors, []);
      assert.deepEqual(requests.filter((u) => !u.startsWith('file://')), [], 'no network request');
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
