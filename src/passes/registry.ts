/**
 * The pass registry: built-in passes by name, plus `registerPass` for third-party passes
 * (a library user's own rewrite or analysis joins `--pipeline` and `runPipeline` by name).
 * Names are kebab-case; a pipeline string is a comma-separated list of them.
 */
import type { Pass } from './pass.ts';
import { badInput } from '../errors.ts';
import { builtinPasses } from './builtins.ts';

const registry = new Map<string, { pass: Pass; builtin: boolean }>();
for (const p of builtinPasses) registry.set(p.name, { pass: p, builtin: true });

import { DEFAULT_PIPELINE } from './default-pipeline.ts';

export { DEFAULT_PIPELINE };

const NAME_RE = /^[a-z][a-z0-9]*(?:[-_.:][a-z0-9]+)*$/;

/** Adds a pass. Throws if the name is taken, unless `replace` is set (replacing a built-in is
 * allowed on purpose: a user may swap in their own 'plan'). */
export function registerPass(pass: Pass, opts: { replace?: boolean } = {}): void {
  if (!pass || typeof pass.name !== 'string' || typeof pass.run !== 'function') throw badInput('registerPass: a pass needs a name and a run(model, ctx) function');
  if (!NAME_RE.test(pass.name)) throw badInput(`registerPass: pass name '${pass.name}' must be lower-case kebab-case (e.g. 'my-pass')`);
  if (!Array.isArray(pass.reads) || !Array.isArray(pass.writes)) throw badInput(`registerPass: pass '${pass.name}' must declare reads and writes (arrays, possibly empty)`);
  if (registry.has(pass.name) && !opts.replace) throw badInput(`registerPass: a pass named '${pass.name}' is already registered (use { replace: true } to override it)`);
  registry.set(pass.name, { pass, builtin: false });
}

/** Removes a registered pass (third-party or replaced built-in); restores the built-in if any. */
export function unregisterPass(name: string): boolean {
  const had = registry.delete(name);
  const b = builtinPasses.find((p) => p.name === name);
  if (b) registry.set(name, { pass: b, builtin: true });
  return had;
}

/** Whether a pass of this name is registered (built-in or yours). */
export function hasPass(name: string): boolean {
  return registry.has(name);
}

/** The registered pass of this name; throws a DnnfuseError (exit code 2) listing the known passes
 * otherwise.
 */
export function getPass(name: string): Pass {
  const e = registry.get(name);
  if (!e) {
    const known = [...registry.keys()].sort().join(', ');
    throw badInput(`unknown pass '${name}' (known passes: ${known || 'none'})`);
  }
  return e.pass;
}

/** Every registered pass with its description, reads, writes and whether it is built in. */
export function listPasses(): { name: string; description: string; reads: string[]; writes: string[]; builtin: boolean }[] {
  return [...registry.values()]
    .map(({ pass, builtin }) => ({ name: pass.name, description: pass.description, reads: pass.reads, writes: pass.writes, builtin }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Parses 'a,b, c' into passes; empty entries and unknown names are errors. */
export function parsePipeline(spec: string | string[]): Pass[] {
  const names = (Array.isArray(spec) ? spec : spec.split(',')).map((s) => s.trim());
  if (names.length === 0 || names.some((n) => n === '')) throw badInput(`--pipeline '${Array.isArray(spec) ? spec.join(',') : spec}' has an empty entry; give pass names separated by commas`);
  return names.map(getPass);
}

/** The default pipeline's passes that exist in this build. Passes needing hardware/scheme are
 * kept (the manager will then ask for --hw with a clear message). */
export function defaultPipeline(): Pass[] {
  return DEFAULT_PIPELINE.filter(hasPass).map(getPass);
}
