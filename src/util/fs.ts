import { writeFileSync, renameSync, rmSync, mkdirSync, realpathSync, existsSync, openSync, closeSync, writevSync } from 'node:fs';
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
      // One descriptor and gathered writes: chunks (e.g. views of large tensors) are written
      // in place, never copied into one buffer.
      const fd = openSync(tmp, 'w');
      try {
        writeAllv(fd, data.map((c) => (typeof c === 'string' ? Buffer.from(c) : c)));
      } finally {
        closeSync(fd);
      }
    } else writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** writev until every byte is written (handles partial writes and the IOV_MAX limit). */
function writeAllv(fd: number, chunks: Uint8Array[]): void {
  let i = 0;
  let skip = 0; // bytes of chunks[i] already written
  while (i < chunks.length) {
    const batch: Uint8Array[] = [];
    for (let j = i; j < chunks.length && batch.length < 512; j++) {
      const c = j === i ? chunks[j].subarray(skip) : chunks[j];
      if (c.length) batch.push(c);
    }
    if (!batch.length) break;
    let n = writevSync(fd, batch);
    while (n > 0 && i < chunks.length) {
      const left = chunks[i].length - skip;
      if (n >= left) {
        n -= left;
        i++;
        skip = 0;
      } else {
        skip += n;
        n = 0;
      }
    }
    while (i < chunks.length && chunks[i].length - skip === 0) {
      i++;
      skip = 0;
    }
  }
}
