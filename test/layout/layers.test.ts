/**
 * Layers import downward only (README "Source layout"). Every relative import of every file
 * under src/ is mapped to its layer; an import of a higher layer fails this test. Files of one
 * layer may import each other. The layer order lives here and in README only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname, sep } from 'node:path';

const SRC = resolve(import.meta.dirname, '..', '..', 'src');

/** Bottom to top. An entry is a folder under src/ or a top-level file without its .ts. */
export const LAYERS: string[][] = [
  ['util', 'errors'],
  ['ir'],
  ['onnx', 'analysis', 'models'],
  ['hardware'],
  ['fusion'],
  ['search'],
  ['get', 'learnability', 'reparam', 'fold'],
  ['passes'],
  ['sweep'],
  ['compile', 'report', 'testkit', 'cli', 'index'],
];

function layerOf(file: string): number {
  const top = relative(SRC, file).split(sep)[0].replace(/\.ts$/, '');
  const i = LAYERS.findIndex((l) => l.includes(top));
  assert.ok(i >= 0, `src/${relative(SRC, file)}: its folder '${top}' is in no layer (add it to LAYERS and README)`);
  return i;
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Relative specifiers of static imports, re-exports, `import type` and dynamic import(). */
export function importsOf(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)(['"])(\.{1,2}\/[^'"]+)\1/gm)) out.push(m[2]);
  return out;
}

test('importsOf finds static, type-only, re-exported and dynamic imports', () => {
  const text = "import { a } from '../x/a.ts';\nimport type { B } from './b.ts';\nexport { c } from '../../c.ts';\nconst d = await import('../d.ts');\nimport '../e.ts';\nconst s = 'from nowhere';";
  assert.deepEqual(importsOf(text), ['../x/a.ts', './b.ts', '../../c.ts', '../d.ts', '../e.ts']);
});

test('every import under src/ goes to the same or a lower layer', () => {
  const bad: string[] = [];
  const files = sources(SRC);
  assert.ok(files.length > 50, 'src/ scanned');
  for (const f of files) {
    const from = layerOf(f);
    for (const spec of importsOf(readFileSync(f, 'utf8'))) {
      const target = resolve(dirname(f), spec);
      assert.ok(target.startsWith(SRC + sep), `src/${relative(SRC, f)} imports ${spec}, outside src/`);
      const to = layerOf(target);
      if (to > from) bad.push(`src/${relative(SRC, f)} (${LAYERS[from].join('/')}) imports ${spec} (${LAYERS[to].join('/')})`);
    }
  }
  assert.deepEqual(bad, [], `upward imports:\n${bad.join('\n')}`);
});
