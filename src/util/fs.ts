import { writeFileSync, renameSync, rmSync, mkdirSync, realpathSync, existsSync } from 'node:fs';
import { dirname, resolve, basename, join } from 'node:path';
import { badInput } from '../errors.ts';

/** Refuses to write over an input file (compared by real path). */
export function assertNotInput(output: string, inputs: string[]): void {
  const real = (p: string) => (existsSync(p) ? realpathSync(p) : resolve(p));
  const out = real(output);
  for (const i of inputs) if (real(i) === out) throw badInput(`refusing to overwrite the input file ${i}; choose another output path`);
}

/** Writes a file atomically: a temporary file in the same folder, then rename. A crash or an
 * error never leaves a half-written output. */
export function writeFileAtomic(path: string, data: string | Uint8Array | (string | Uint8Array)[]): void {
  const dir = dirname(resolve(path));
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  try {
    if (Array.isArray(data)) {
      writeFileSync(tmp, '');
      for (const chunk of data) writeFileSync(tmp, chunk, { flag: 'a' });
    } else writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
