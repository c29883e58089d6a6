/**
 * The sweep's results: an embedded DuckDB database file (`@duckdb/node-api`), one row a point in
 * the `points` table, keyed by the point key (insertion is idempotent: a key already present is
 * left as it is). Queryable with SQL (`dnnfuse sweep --db f --sql ...`, or any DuckDB client);
 * exported to Parquet and CSV by DuckDB's COPY. The view `points_monotone` adds, per series,
 * the best plan's DRAM as a running minimum over ascending buffer sizes and the proven lower
 * bound as a running maximum over descending ones (see planner.ts for why both are valid).
 * The table `model_files` keeps each model file's hash by path and file stamp, so that a re-run
 * hashes no unchanged model again.
 * Every insert is its own transaction (DuckDB's write-ahead log), so a killed sweep keeps every
 * point it stored.
 */
import { renameSync, rmSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve, basename, join } from 'node:path';
import { createRequire } from 'node:module';
import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { badInput } from '../errors.ts';
import type { PointRow } from './row.ts';
import type { HashCache } from './grid.ts';

// @duckdb/node-api is CommonJS whose index re-exports ~120 modules: imported from an ES module,
// Node first scans every one of them for its export names (cjs-module-lexer), then loads them
// again; required, it loads them once, which halves its load (450 -> 205 ms CPU here), the
// largest part of re-running a finished sweep.
const { DuckDBInstance } = createRequire(import.meta.url)('@duckdb/node-api') as typeof import('@duckdb/node-api');
type DuckDBInstance = InstanceType<typeof DuckDBInstance>;

/** Column order and SQL types of `points` (the order of PointRow's fields). */
export const COLUMNS: [keyof PointRow, string][] = [
  ['key', 'VARCHAR PRIMARY KEY'],
  ['model', 'VARCHAR'],
  ['model_hash', 'VARCHAR'],
  ['base', 'VARCHAR'],
  ['hardware', 'VARCHAR'],
  ['buffer_bytes', 'BIGINT'],
  ['dtype', 'VARCHAR'],
  ['bandwidth', 'DOUBLE'],
  ['macs', 'DOUBLE'],
  ['scheme', 'VARCHAR'],
  ['search', 'VARCHAR'],
  ['optimum', 'BOOLEAN'],
  ['seed', 'INTEGER'],
  ['budget', 'INTEGER'],
  ['time_limit', 'DOUBLE'],
  ['tool_version', 'VARCHAR'],
  ['status', 'VARCHAR'],
  ['dram_bytes', 'BIGINT'],
  ['dram_fusable_bytes', 'BIGINT'],
  ['lbl_bytes', 'BIGINT'],
  ['lbl_fusable_bytes', 'BIGINT'],
  ['reduction', 'DOUBLE'],
  ['groups', 'INTEGER'],
  ['max_memory_bytes', 'BIGINT'],
  ['latency_us', 'DOUBLE'],
  ['seeded', 'BOOLEAN'],
  ['optimum_bytes', 'BIGINT'],
  ['bound_bytes', 'BIGINT'],
  ['optimum_scope', 'VARCHAR'],
  ['optimum_groups', 'INTEGER'],
  ['plan', 'VARCHAR'],
  ['error', 'VARCHAR'],
  ['time_ms', 'DOUBLE'],
];

const SERIES = 'model_hash, scheme, dtype, bandwidth, macs, search, optimum, seed, budget, time_limit, tool_version';
const ORDER = 'model, scheme, dtype, bandwidth, macs, search, optimum, seed, buffer_bytes, key';

export class SweepStore {
  private constructor(
    readonly path: string,
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
  ) {}

  // One statement at a time on the connection (the sweep's chains insert concurrently).
  private tail: Promise<unknown> = Promise.resolve();
  private serial<T>(f: () => Promise<T>): Promise<T> {
    const next = this.tail.then(f, f);
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** Opens (creating when absent) the database file. One process at a time may write it. */
  static async open(path: string): Promise<SweepStore> {
    mkdirSync(dirname(resolve(path)), { recursive: true });
    let instance: DuckDBInstance;
    try {
      instance = await DuckDBInstance.create(path);
    } catch (e) {
      const msg = (e as Error).message.split('\n')[0];
      throw badInput(/lock/i.test(msg) ? `results database ${path} is in use by another process (${msg})` : `results database ${path}: ${msg}`);
    }
    const conn = await instance.connect();
    await conn.run(`CREATE TABLE IF NOT EXISTS points (${COLUMNS.map(([n, t]) => `${n} ${t}`).join(', ')})`);
    await conn.run('CREATE TABLE IF NOT EXISTS model_files (path VARCHAR PRIMARY KEY, stamp VARCHAR, hash VARCHAR)');
    await conn.run(`CREATE OR REPLACE VIEW points_monotone AS SELECT *,
      min(coalesce(optimum_bytes, dram_bytes)) OVER (PARTITION BY ${SERIES} ORDER BY buffer_bytes ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS best_bytes_monotone,
      max(bound_bytes) OVER (PARTITION BY ${SERIES} ORDER BY buffer_bytes DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS bound_bytes_monotone
      FROM points WHERE status <> 'error'`);
    return new SweepStore(path, instance, conn);
  }

  /** Inserts a row unless its key is present; returns whether it was inserted. A plain INSERT
   * whose primary-key violation is caught, not `ON CONFLICT DO NOTHING`: DuckDB plans and runs the
   * conflict check of that clause at a cost of ~15 ms of CPU a row (224 rows of the bench's sweep:
   * 3.7-5.8 s of CPU against 1.2-1.7 s plain), CPU the parent takes from the pool's threads. */
  async insert(row: PointRow): Promise<boolean> {
    const values = COLUMNS.map(([n]) => row[n] as DuckDBValue);
    try {
      await this.serial(() => this.conn.run(`INSERT INTO points VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`, values));
      return true;
    } catch (e) {
      if (/^Constraint Error: Duplicate key/.test((e as Error).message)) return false;
      throw e;
    }
  }

  /** The model hashes of earlier sweeps into this database, by path and file stamp (table
   * `model_files`); `save()` stores the ones computed since. */
  async hashCache(): Promise<HashCache & { save(): Promise<void> }> {
    const known = new Map((await this.query('SELECT path, stamp, hash FROM model_files')).map((r) => [r.path as string, r as { stamp: string; hash: string }]));
    const fresh: [string, string, string][] = [];
    return {
      get: (path, stamp) => (known.get(path)?.stamp === stamp ? known.get(path)!.hash : undefined),
      set: (path, stamp, hash) => void fresh.push([path, stamp, hash]),
      save: async () => {
        for (const v of fresh.splice(0)) await this.serial(() => this.conn.run('INSERT OR REPLACE INTO model_files VALUES ($1, $2, $3)', v));
      },
    };
  }

  /** The stored rows of these keys, by key. */
  async rowsByKey(keys: string[]): Promise<Map<string, PointRow>> {
    const out = new Map<string, PointRow>();
    for (let i = 0; i < keys.length; i += 1000) {
      const part = keys.slice(i, i + 1000);
      const rows = await this.query(`SELECT * FROM points WHERE key IN (${part.map((_, j) => `$${j + 1}`).join(', ')})`, part);
      for (const r of rows) out.set(r.key as string, r as unknown as PointRow);
    }
    return out;
  }

  /** Every row, in a stable order (model, scheme, dtype, bandwidth, ..., buffer size). */
  async rows(where = ''): Promise<PointRow[]> {
    return (await this.query(`SELECT * FROM points ${where} ORDER BY ${ORDER}`)) as unknown as PointRow[];
  }

  /** Any SQL; BIGINT values come back as numbers. */
  async query(sql: string, params: DuckDBValue[] = []): Promise<Record<string, unknown>[]> {
    let reader;
    try {
      reader = await this.serial(() => this.conn.runAndReadAll(sql, params.length ? params : undefined));
    } catch (e) {
      throw badInput(`SQL: ${(e as Error).message.split('\n')[0]}`);
    }
    return reader.getRowObjectsJS().map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])));
  }

  /** Writes every row (or the rows of a query) to .parquet or .csv, atomically. */
  async export(file: string, sql = `SELECT * FROM points ORDER BY ${ORDER}`): Promise<void> {
    const fmt = /\.parquet$/i.test(file) ? 'FORMAT parquet' : /\.csv$/i.test(file) ? 'FORMAT csv, HEADER' : undefined;
    if (!fmt) throw badInput(`--export ${file}: expected a .parquet or .csv file name`);
    const dir = dirname(resolve(file));
    mkdirSync(dir, { recursive: true });
    const tmp = join(dir, `.${basename(file)}.${process.pid}.tmp`);
    try {
      await this.serial(() => this.conn.run(`COPY (${sql}) TO '${tmp.replace(/'/g, "''")}' (${fmt})`));
      renameSync(tmp, file);
    } catch (e) {
      if (existsSync(tmp)) rmSync(tmp, { force: true });
      throw e;
    }
  }

  close(): void {
    this.conn.closeSync();
    this.instance.closeSync();
  }
}

/** A row without its timing: what must be byte-identical wherever the point ran. */
export function rowWithoutTime(r: PointRow): Omit<PointRow, 'time_ms'> {
  const { time_ms: _t, ...rest } = r;
  return rest;
}
