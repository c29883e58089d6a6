/**
 * Headless Chromium for the tests that render a self-contained page (the report, the sweep
 * page): the browser at Debian's path, a skip reason when it is absent, and a page opened on a
 * file with its console errors and network requests recorded.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const noChromium: string | false = existsSync(CHROMIUM) ? false : `chromium not installed at ${CHROMIUM} (apt-get install chromium; .ci/run installs it)`;

/** Opens `file` in a fresh headless profile, runs `use` on the loaded page with the console
 * errors and the URLs requested so far (arrays that keep filling), then closes the browser. */
export async function withPage<T>(file: string, use: (page: Page, seen: { errors: string[]; requests: string[] }) => Promise<T>): Promise<T> {
  const { chromium } = await import('playwright-core');
  const userDir = mkdtempSync(join(tmpdir(), 'dnnfuse-chromium-'));
  const ctx = await chromium.launchPersistentContext(userDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await ctx.newPage();
    const seen = { errors: [] as string[], requests: [] as string[] };
    page.on('console', (m) => {
      if (m.type() === 'error') seen.errors.push(m.text());
    });
    page.on('pageerror', (e) => seen.errors.push(String(e)));
    page.on('request', (r) => seen.requests.push(r.url()));
    await page.goto(`file://${file}`, { waitUntil: 'load' });
    return await use(page, seen);
  } finally {
    await ctx.close();
    rmSync(userDir, { recursive: true, force: true });
  }
}
