/**
 * Where a piscina pool's threads start: the compiled task module (`<task>.js`) when it is there
 * (a build), else the shared source entry util/pool-worker.mjs, which registers tsx in the
 * thread and imports `<task>.ts` (from source). One place for both pools (sweep, ensembles).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** piscina's `filename` (and `workerData`) for the task module at `task` (a URL without its
 * extension, e.g. `new URL('./pool-task', import.meta.url)`). */
export function poolWorker(task: URL, what: string): { filename: string; workerData?: { task: string } } {
  const compiled = fileURLToPath(`${task.href}.js`);
  if (existsSync(compiled)) return { filename: compiled };
  const source = `${task.href}.ts`;
  if (!existsSync(fileURLToPath(source))) throw new Error(`${what}: neither ${compiled} nor its .ts source found`);
  return { filename: fileURLToPath(new URL('./pool-worker.mjs', import.meta.url)), workerData: { task: source } };
}
