/**
 * The npm package as a user gets it: `npm pack` (which builds dist/ through `prepare`), the
 * tarball's file list, the API report of the freshly built declarations, then the tarball
 * installed into a temporary project from the registry (the npm cache that `npm ci` filled
 * makes that fast) and used the three ways dnnfuse is meant to be used:
 *
 * - installed with npm 10 (which runs dependencies' install scripts): nothing is downloaded,
 *   onnxruntime-node (an optional peer dependency) is not installed, and then without it
 *   (b) a plain Node ES module uses the library, (c) CommonJS require() works (and, on a Node
 *   without require(esm), fails with one line saying to use `await import`), and `dnnfuse
 *   compile` says in one line that verification needs onnxruntime-node;
 * - with onnxruntime-node added: (a) `npx dnnfuse compile` on a reference model exits 0 and
 *   writes both outputs, (d) `tsc --noEmit` type-checks a strict nodenext TypeScript consumer,
 *   (e) the consumer's own `node --test` file uses the testkit.
 *
 * One file, run in order: the steps share the tarball and the temporary project, and the
 * build must not run twice at once. Every step prints what it ran and its output (`# ...`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { sharedModelPath, sharedModelsMissing } from '../../src/models/shared.ts';
import { HEAVY, heavyIn, loadedBy } from '../support/modules.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURES = join(ROOT, 'test', 'package', 'consumer');
const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; exports: Record<string, unknown>; devDependencies: Record<string, string> };
const versionOf = (name: string): string => (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;

/** The environment of a child npm/node: without the npm_* variables of the `npm test` running
 * us (npm_config_local_prefix would point a nested npm at this repository) and without
 * ONNXRUNTIME_NODE_INSTALL (CI exports it; a user's machine has no such thing). */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // (and without NODE_TEST_CONTEXT, which would make the consumer's `node --test` report to us)
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && !['ONNXRUNTIME_NODE_INSTALL', 'DNNFUSE_DIST', 'NODE_TEST_CONTEXT'].includes(k)) env[k] = v;
  return { ...env, NO_UPDATE_NOTIFIER: '1', npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false', ...extra };
}

function run(cmd: string, args: string[], cwd: string, env = cleanEnv(), timeout = 600_000): SpawnSyncReturns<string> {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout, maxBuffer: 64 * 1024 * 1024 });
  const out = `${r.stdout ?? ''}${r.stderr ? `\n[stderr]\n${r.stderr}` : ''}`.trim();
  console.log(`# $ ${[cmd, ...args].join(' ')}  (exit ${r.status}, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  for (const line of out.split('\n').slice(0, 40)) console.log(`#   ${line}`);
  return r;
}

/** Gradients through relu, matMul, transpose, sigmoid, sum, mul, sub, exp, log1p, concat, slice (tfjs
 * registers none of them without dnnfuse's tf-gradients module). */
const GRADIENT_SCRIPT = `
const { tf, initTf } = await import(process.argv[2]);
await initTf();
const f = (x) => tf.sum(tf.mul(tf.sigmoid(tf.matMul(tf.relu(x), tf.transpose(x))), tf.slice(tf.log1p(tf.exp(tf.sub(tf.concat([x, x], 1), 1))), [0, 0], [2, 2])));
const x = tf.tensor2d([[1, -2, 3], [0.5, 2, -1]]);
console.log('grad ' + Array.from(await tf.grad(f)(x).data()).map((v) => v.toFixed(6)).join(' '));
`;

const npmAvailable = spawnSync('npm', ['--version'], { encoding: 'utf8' });
const cannotPack = npmAvailable.status === 0 ? false : `npm is not on PATH (${npmAvailable.error?.message ?? npmAvailable.stderr}): the package cannot be packed here`;
if (cannotPack) console.log(`# skipped: ${cannotPack}`);

const work = mkdtempSync(join(tmpdir(), 'dnnfuse-package-'));
const consumer = join(work, 'consumer');
let tarball = '';
const example = () => join(consumer, 'node_modules', 'dnnfuse', 'fixtures', 'example.onnx');

test.after(() => rmSync(work, { recursive: true, force: true }));

test('npm pack builds dist/ and ships only what a user needs', { skip: cannotPack, timeout: 600_000 }, () => {
  const r = run('npm', ['pack', '--json', '--pack-destination', work], ROOT);
  assert.equal(r.status, 0, r.stderr);
  const info = (JSON.parse(r.stdout.slice(r.stdout.indexOf('['))) as { filename: string; size: number; unpackedSize: number; entryCount: number; files: { path: string }[] }[])[0];
  tarball = join(work, info.filename);
  assert.ok(existsSync(tarball));
  assert.equal(info.filename, `dnnfuse-${pkg.version}.tgz`);
  const files = info.files.map((f) => f.path).sort();
  console.log(`# tarball ${info.filename}: ${info.size} bytes packed, ${info.unpackedSize} unpacked, ${info.entryCount} files`);

  const allowed = [/^dist\/.+\.(js|d\.ts|js\.map)$/, /^cjs\/[a-z]+\.cjs$/, /^bin\/dnnfuse\.mjs$/, /^schema\/[a-z-]+\.schema\.json$/, /^models\/get\/(README\.md|(lbdf|brr)\.(bin|json))$/, /^fixtures\/example\.onnx$/, /^(README\.md|LICENSE|CHANGELOG\.md|package\.json)$/];
  const unexpected = files.filter((f) => !allowed.some((re) => re.test(f)));
  assert.deepEqual(unexpected, [], 'files a user does not need (tests, benches, sources, configs)');
  for (const f of files) assert.doesNotMatch(f, /(^|\/)(test|bench|src|scripts|etc)\/|\.test\.|tsconfig|(?<!\.d)\.ts$/, f);
  for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/testkit/index.js', 'dist/testkit/index.d.ts', 'dist/cli/main.js', 'dist/get/tf-gradients.js', 'cjs/index.cjs', 'cjs/testkit.cjs', 'cjs/load.cjs', 'bin/dnnfuse.mjs', 'models/get/lbdf.bin', 'models/get/brr.json', 'schema/schedule.schema.json', 'schema/hardware.schema.json', 'schema/schedule-envelope.schema.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'package.json']) {
    assert.ok(files.includes(f), `${f} is in the tarball`);
  }
  // every file the exports map names is in the tarball
  const targets: string[] = [];
  const collect = (x: unknown): void => {
    if (typeof x === 'string') {
      if (!x.includes('*')) targets.push(x.slice(2));
    } else if (x && typeof x === 'object') for (const v of Object.values(x)) collect(v);
  };
  collect(pkg.exports);
  assert.ok(targets.length >= 7);
  for (const t of targets) assert.ok(files.includes(t), `exports target ${t} is in the tarball`);
  // the declarations never name onnxruntime-node (an optional peer dependency: a TypeScript
  // user without it must still type-check)
  for (const f of files.filter((x) => x.endsWith('.d.ts'))) assert.doesNotMatch(readFileSync(join(ROOT, f), 'utf8'), /from 'onnxruntime-node'|import\('onnxruntime-node'\)/, f);
});

test('API report: the built declarations match etc/*.api.md, every used type is exported, no `any`', { skip: cannotPack, timeout: 300_000 }, async () => {
  assert.ok(tarball, 'the package was packed');
  const extractor = join(dirname(require.resolve('@microsoft/api-extractor/package.json')), 'bin', 'api-extractor');
  for (const config of ['etc/api-extractor.json', 'etc/api-extractor.testkit.json']) {
    const r = run(process.execPath, [extractor, 'run', '--config', config], ROOT);
    assert.equal(r.status, 0, `API Extractor (${config}) failed: the public API changed (review the diff of etc/*.api.md after \`npm run api:update\`) or a used type is not exported:\n${r.stdout}\n${r.stderr}`);
  }
  for (const report of ['etc/dnnfuse.api.md', 'etc/dnnfuse-testkit.api.md']) {
    const code = readFileSync(join(ROOT, report), 'utf8').split('\n').filter((l) => !/^\s*\/\//.test(l));
    const withAny = code.filter((l) => /\bany\b/.test(l));
    assert.deepEqual(withAny, [], `${report}: \`any\` in the public API`);
  }
  // the testkit is a subset of the main entry point: same functions, so one report covers both
  const main = (await import(pathToFileURL(join(ROOT, 'dist', 'index.js')).href)) as Record<string, unknown>;
  const kit = (await import(pathToFileURL(join(ROOT, 'dist', 'testkit', 'index.js')).href)) as Record<string, unknown>;
  for (const [name, value] of Object.entries(kit)) assert.equal(main[name], value, `dnnfuse/testkit's ${name} is dnnfuse's ${name}`);
});

test('installed with npm 10 (dependency install scripts on): nothing downloaded, no onnxruntime-node; (b) ESM, (c) CJS, compile without it', { skip: cannotPack, timeout: 600_000 }, () => {
  assert.ok(tarball, 'the package was packed');
  mkdirSync(consumer, { recursive: true });
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'dnnfuse-consumer', version: '1.0.0', private: true, type: 'module' }, null, 2));
  for (const f of readdirSync(FIXTURES)) copyFileSync(join(FIXTURES, f), join(consumer, f));
  const npm10 = ['-y', 'npm@10', 'install', tarball, '--prefer-offline', '--foreground-scripts', '--no-audit', '--no-fund'];
  const r = run('npx', npm10, consumer);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(`${r.stdout}${r.stderr}`, /Downloading|nuget/i);
  assert.equal(existsSync(join(consumer, 'node_modules', 'onnxruntime-node')), false, 'onnxruntime-node is not installed with dnnfuse');
  assert.equal(existsSync(join(consumer, 'node_modules', 'tsx')), false, 'no tsx');
  assert.equal((JSON.parse(readFileSync(join(consumer, 'node_modules', 'dnnfuse', 'package.json'), 'utf8')) as { version: string }).version, pkg.version);

  // (b) a plain ES module script
  const b = run(process.execPath, ['esm.mjs', example()], consumer);
  assert.equal(b.status, 0, b.stderr);
  assert.match(b.stdout, /^nodes \d+ -> \d+$/m);
  assert.match(b.stdout, /^plan: \d+ groups, DRAM \d+ B$/m);
  assert.match(b.stdout, /^schedule \d+ chars, schema dnnfuse annotated schedule$/m);
  assert.match(b.stdout, /^onnxruntime-node: not installed$/m, 'the library runs without onnxruntime-node (loaded lazily)');

  // (c) CommonJS: require() of the ES module package (Node >= 20.19 / >= 22.12) ...
  const c = run(process.execPath, ['cjs.cjs', example()], consumer);
  assert.equal(c.status, 0, c.stderr);
  assert.match(c.stdout, /^require: \d+ nodes, function, function, function$/m);
  assert.match(c.stdout, /^same module as import: true$/m);
  // ... and a Node without require(esm): one line naming `await import`
  const c2 = run(process.execPath, ['--no-experimental-require-module', 'cjs.cjs', example()], consumer);
  assert.equal(c2.status, 1);
  assert.match(c2.stderr, /Error \[ERR_REQUIRE_ESM\]: dnnfuse is an ES module and this Node\.js \(v[\d.]+\) cannot require\(\) it: use `const dnnfuse = await import\('dnnfuse'\)`/m);
  assert.doesNotMatch(c2.stderr, /^\s+at /m, 'no stack trace');

  // tfjs's gradient modules, bundled by esbuild into dist/get/tf-gradients.js (Node cannot
  // load them as they are), give the same gradients installed as from the sources
  const gradFile = join(work, 'grad.mjs');
  writeFileSync(gradFile, GRADIENT_SCRIPT);
  const installedTf = pathToFileURL(join(consumer, 'node_modules', 'dnnfuse', 'dist', 'get', 'tf.js')).href;
  const fromDist = run(process.execPath, [gradFile, installedTf], consumer, cleanEnv({ DNNFUSE_TF_BACKEND: 'cpu' }));
  const fromSource = run(process.execPath, ['--import', 'tsx', gradFile, pathToFileURL(join(ROOT, 'src', 'get', 'tf.ts')).href], ROOT, cleanEnv({ DNNFUSE_TF_BACKEND: 'cpu' }));
  assert.equal(fromDist.status, 0, fromDist.stderr);
  assert.match(fromDist.stdout, /^grad -?\d/m);
  assert.equal(fromDist.stdout, fromSource.stdout);

  // the CLI without onnxruntime-node: the check it cannot run is a one-line error (exit 2),
  // said before any pass runs (not --quiet: a pass would log its progress line first);
  // --no-verify compiles
  const out = join(work, 'out-noort');
  const v = run('npx', ['dnnfuse', 'compile', example(), '-o', out], consumer);
  assert.equal(v.status, 2);
  assert.equal(v.stderr.trim().split('\n').length, 1, v.stderr);
  assert.match(v.stderr, /^dnnfuse: onnxruntime-node is not installed; .*npm install onnxruntime-node/);
  assert.equal(existsSync(out), false, 'nothing written');
  const nv = run('npx', ['dnnfuse', 'compile', example(), '-o', out, '--quiet', '--no-verify'], consumer);
  assert.equal(nv.status, 0, nv.stderr);
  assert.ok(existsSync(join(out, 'model.onnx')) && existsSync(join(out, 'schedule.json')));
});

test('with onnxruntime-node: (a) npx dnnfuse compile, (d) tsc --noEmit, (e) node --test with the testkit', { skip: cannotPack, timeout: 900_000 }, () => {
  assert.ok(existsSync(join(consumer, 'node_modules', 'dnnfuse')), 'dnnfuse was installed');
  // What README tells users: onnxruntime-node next to dnnfuse, its install script skipped.
  const deps = [`onnxruntime-node@${versionOf('onnxruntime-node')}`, `fast-check@${versionOf('fast-check')}`, `typescript@${versionOf('typescript')}`, `@types/node@${versionOf('@types/node')}`];
  const i = run('npm', ['install', ...deps, '--prefer-offline', '--no-audit', '--no-fund'], consumer, cleanEnv({ ONNXRUNTIME_NODE_INSTALL: 'skip' }));
  assert.equal(i.status, 0, i.stderr);

  // (a) the CLI on a reference model (the bundled example where ../shared/models is absent)
  const missing = sharedModelsMissing();
  if (missing) console.log(`# (a) runs on the bundled example instead of squeezenet1_1: ${missing}`);
  const model = missing ? example() : sharedModelPath('squeezenet1_1');
  assert.equal(run('npx', ['dnnfuse', '--version'], consumer).stdout.trim(), pkg.version);
  // the installed CLI starts without loading what its commands load on use (test/cli/startup.test.ts)
  for (const args of [['--version'], ['compile', '--help'], ['sweep', '--help']]) {
    const l = loadedBy(args, { cli: join(consumer, 'node_modules', 'dnnfuse', 'bin', 'dnnfuse.mjs'), cwd: consumer });
    assert.equal(l.status, 0, l.stderr);
    assert.ok(l.modules.some((m) => m.includes('/node_modules/dnnfuse/dist/cli/main.js')), `dnnfuse ${args.join(' ')} ran the installed dist/`);
    assert.deepEqual(heavyIn(l.modules), [], `dnnfuse ${args.join(' ')} loads none of ${Object.keys(HEAVY).join(', ')}`);
  }
  const out = join(work, 'out');
  const a = run('npx', ['dnnfuse', 'compile', model, '-o', out, '--hw', 'paper-256k', '--json', '--quiet'], consumer);
  assert.equal(a.status, 0, a.stderr);
  assert.equal(a.stderr.trim(), '', 'nothing on stderr under --quiet');
  const summary = JSON.parse(a.stdout) as { ok: boolean; outputs: { model: string; schedule: string } };
  assert.equal(summary.ok, true);
  for (const f of ['model.onnx', 'schedule.json']) assert.ok(statSync(join(out, f)).size > 0, `${f} written`);
  const schedule = JSON.parse(readFileSync(join(out, 'schedule.json'), 'utf8')) as { tool: { version: string }; verification: { checked: boolean } };
  assert.equal(schedule.tool.version, pkg.version);
  assert.equal(schedule.verification.checked, true, 'onnxruntime verified the rewritten model');
  // a plugin registering its pass with the installed package's registry
  const p = run('npx', ['dnnfuse', 'compile', '--plugin', './plugin.mjs', '--list-passes'], consumer);
  assert.equal(p.status, 0, p.stderr);
  assert.match(p.stdout, /^count-convs\s+Count the Conv nodes/m);

  // (d) the strict TypeScript consumer
  const d = run(process.execPath, [join(consumer, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], consumer);
  assert.equal(d.status, 0, `tsc --noEmit:\n${d.stdout}`);

  // (e) the consumer's node --test file using the testkit
  const e = run(process.execPath, ['--test', 'testkit.test.mjs'], consumer);
  assert.equal(e.status, 0, e.stdout);
  assert.match(e.stdout, /^# pass 3$/m);
  assert.match(e.stdout, /^# fail 0$/m);
});
