/** A small sweep shared by the sweep tests: the bundled example and a generated CNN, three
 * buffer sizes, LBDF and BRR, greedy + the exact optimum. */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveModel } from '../../src/onnx/io.ts';
import { buildCnn } from '../../src/testkit/arbitraries.ts';
import { resolveAccelerator } from '../../src/hardware/load.ts';
import { gridSeries, parseBufferAxis, sweepModels, type Series, type SweepGrid } from '../../src/sweep/grid.ts';
import { SweepStore, rowWithoutTime } from '../../src/sweep/store.ts';
import type { PointRow } from '../../src/sweep/point.ts';

export const EXAMPLE = join(import.meta.dirname, '..', '..', 'fixtures', 'example.onnx');
export const BUFFERS = '16KiB,64KiB,256KiB';
export const CLI = join(import.meta.dirname, '..', '..', 'bin', 'dnnfuse.mjs');

export function makeDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `dnnfuse-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes the generated CNN into dir and returns the two model paths. */
export function sweepModelsIn(dir: string): string[] {
  const toy = buildCnn({ seed: 4, inChannels: 3, size: 32, blocks: [{ kind: 'conv-bn-relu', out: 16, kernel: 3, stride: 2, bn: false }, { kind: 'residual', bottleneck: true }, { kind: 'depthwise', out: 24, stride: 1 }, { kind: 'se', reduction: 2 }, { kind: 'concat', a: 8, b: 8 }], head: true });
  const p = join(dir, 'toy.onnx');
  saveModel(toy, p);
  return [EXAMPLE, p];
}

export function testGrid(models: string[], optimum = true): SweepGrid {
  const base = resolveAccelerator('edge-512k');
  return { models: sweepModels(models), buffers: parseBufferAxis(BUFFERS), schemes: ['lbdf', 'brr'], dtypes: ['int8'], bandwidths: [base.dramBytesPerSecond], base, options: { search: 'greedy', optimum, seed: 0, budget: 1000, timeLimit: 30 } };
}

export function testSeries(models: string[], optimum = true): Series[] {
  return gridSeries(testGrid(models, optimum));
}

/** The rows of a database, sorted by key, without timings. */
export async function dbRows(file: string): Promise<Omit<PointRow, 'time_ms'>[]> {
  const s = await SweepStore.open(file);
  try {
    return (await s.rows()).map(rowWithoutTime).sort((a, b) => (a.key < b.key ? -1 : 1));
  } finally {
    s.close();
  }
}

/** The CLI arguments of the same sweep. */
export function cliArgs(models: string[], db: string): string[] {
  return ['sweep', ...models, '--buffer', BUFFERS, '--scheme', 'lbdf,brr', '--dtype', 'int8', '--optimum', '--db', db];
}

/** A loopback port free now (bound, then released): a Redis to start there, or one nothing
 * listens on. */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}
