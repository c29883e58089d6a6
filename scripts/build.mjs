#!/usr/bin/env node
// The package build (`npm run build`; `prepare` runs it, hence `npm ci`, `npm pack` and
// `npm publish`): src/ -> dist/ as ES modules, .d.ts declarations and source maps.
//
// 1. tsc -p tsconfig.build.json: every module, one output file per source file, relative
//    `.ts` imports rewritten to `.js` (rewriteRelativeImportExtensions).
// 2. esbuild bundles src/get/tf-gradients.ts into dist/get/tf-gradients.js: tfjs-core's
//    per-op gradient modules import their neighbours without file extensions, which Node's
//    own loader does not resolve (tsx does, which is why the sources run as they are).
// 3. tsc keeps `.ts` in the declarations' relative imports (it rewrites only JavaScript);
//    they are rewritten to `.js` here so that every TypeScript version and tool reading
//    dist/*.d.ts (API Extractor, TypeDoc, a consumer's tsc) resolves them the same way.
//
// Written as a script rather than a chain in package.json so that it runs the same on every
// shell (npm runs scripts with cmd.exe on Windows).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');
const require = createRequire(import.meta.url);

const t0 = Date.now();
rmSync(DIST, { recursive: true, force: true });

const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
if (tsc.status !== 0) {
  console.error('build: tsc failed');
  process.exit(1);
}

const { build } = await import('esbuild');
await build({
  absWorkingDir: ROOT,
  entryPoints: ['src/get/tf-gradients.ts'],
  outfile: 'dist/get/tf-gradients.js',
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  sourcesContent: false, // tfjs's own code: its sources are in its package
  legalComments: 'inline',
  allowOverwrite: true,
  logLevel: 'warning',
});

/** Rewrites `./x.ts` -> `./x.js` in relative module specifiers of a declaration file. */
const rewrite = (text) =>
  text
    .replace(/(\bfrom\s+['"])(\.{1,2}\/[^'"]*?)\.ts(['"])/g, '$1$2.js$3')
    .replace(/(\bimport\(\s*['"])(\.{1,2}\/[^'"]*?)\.ts(['"]\s*\))/g, '$1$2.js$3');
const LEFT = /(\bfrom\s+|\bimport\(\s*)['"]\.{1,2}\/[^'"]*\.ts['"]/;
let declarations = 0;
const left = [];
for (const entry of readdirSync(DIST, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !/\.(d\.ts|js)$/.test(entry.name)) continue;
  const file = join(entry.parentPath ?? entry.path, entry.name);
  const text = readFileSync(file, 'utf8');
  const out = entry.name.endsWith('.d.ts') ? rewrite(text) : text;
  if (out !== text) writeFileSync(file, out);
  if (entry.name.endsWith('.d.ts')) declarations++;
  if (LEFT.test(out)) left.push(file);
}
if (left.length) {
  console.error(`build: relative .ts imports left in ${left.join(', ')}`);
  process.exit(1);
}
console.error(`build: dist/ written (${declarations} declaration files) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
