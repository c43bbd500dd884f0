/**
 * db/ is the one place that talks to DuckDB: opening a database (file or in-memory) with explicit
 * threads and memory settings, running SQL, reading rows back as JS values, and turning DuckDB's
 * errors into `DbError`s with a stable code. Only one instance may open a database file per
 * process (DESIGN.md); open it once and pass the `Db` around.
 */
import {
  BIGINT,
  BOOLEAN,
  DOUBLE,
  DuckDBDataChunk,
  INTEGER,
  VARCHAR,
  type DuckDBAppender,
  type DuckDBType,
  DuckDBConnection,
  DuckDBDecimalValue,
  DuckDBInstance,
  JSDuckDBValueConverter,
  type DuckDBValueConverter,
  type JS,
} from '@duckdb/node-api';

export type DbErrorCode = 'DB_LOCKED' | 'DB_OUT_OF_MEMORY' | 'DB_ERROR';

/** A DuckDB failure. `code` is 'DB_LOCKED' when another process holds the database file's lock. */
export class DbError extends Error {
  constructor(
    readonly code: DbErrorCode,
    message: string,
    /** The SQL (or operation) that failed, truncated. */
    readonly sql: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DbError';
  }
}

const SQL_SHOWN = 300;

function shorten(sql: string): string {
  const s = sql.replace(/\s+/g, ' ').trim();
  return s.length > SQL_SHOWN ? `${s.slice(0, SQL_SHOWN)}…` : s;
}

/** Wraps anything DuckDB threw into a `DbError` naming what was being done. */
export function dbError(cause: unknown, sql: string): DbError {
  if (cause instanceof DbError) return cause;
  const text = cause instanceof Error ? cause.message : String(cause);
  const shown = shorten(sql);
  if (/Could not set lock on file/i.test(text)) {
    return new DbError(
      'DB_LOCKED',
      `the database is locked by another process (${text.split('\n')[0]}); wait for it to finish or use another database file`,
      shown,
      { cause },
    );
  }
  if (/^Out of Memory Error/m.test(text)) {
    return new DbError(
      'DB_OUT_OF_MEMORY',
      `DuckDB ran out of memory (${text.split('\n')[0]}); raise its memory limit (DECLMATCH_DUCKDB_MEMORY), run with fewer --threads, or free disk for its spill folder\n  while running: ${shown}`,
      shown,
      { cause },
    );
  }
  return new DbError('DB_ERROR', `${text}\n  while running: ${shown}`, shown, { cause });
}

export interface DbOptions {
  /** DuckDB worker threads; defaults to all cores when not given, so set it. */
  threads?: number;
  /** e.g. '4GB'. */
  memoryLimit?: string;
  /** Where DuckDB spills when over the memory limit. */
  tempDirectory?: string;
  /**
   * false: checkpoints do not merge partly filled or partly deleted row groups (max_vacuum_tasks 0).
   * A parallel INSERT from Parquet leaves a few partly filled row groups per table, and the next
   * checkpoint rewrote them: 16.7 of the 87 s of a 1M-list Parquet run were its final COMMIT, 0.6 s
   * without. Wholly deleted row groups are still freed.
   */
  vacuum?: boolean;
}

/**
 * Row values as JS: numbers, strings, booleans, bigint (BIGINT/HUGEINT), Date (TIMESTAMP/DATE, the
 * stored wall-clock time read as UTC), and DECIMAL as its exact text (e.g. '-12.50000'), never a
 * float.
 */
const rowValue: DuckDBValueConverter<JS> = (value, type, converter) =>
  value instanceof DuckDBDecimalValue ? value.toString() : JSDuckDBValueConverter(value, type, converter);

/**
 * DECLMATCH_SQL_PROFILE=1: every statement's wall time and the process's CPU time during it (all
 * DuckDB threads) on stderr; CPU ÷ wall is how many cores it kept busy (slowest first is `sort -rn`).
 */
const PROFILE = process.env.DECLMATCH_SQL_PROFILE === '1';
type Started = { t: bigint; cpu: NodeJS.CpuUsage } | undefined;
const started = (): Started => (PROFILE ? { t: process.hrtime.bigint(), cpu: process.cpuUsage() } : undefined);
function profiled(s: Started, sql: string): void {
  if (!s) return;
  const ms = Number(process.hrtime.bigint() - s.t) / 1e6;
  const c = process.cpuUsage(s.cpu);
  const cpu = (c.user + c.system) / 1000;
  process.stderr.write(`${ms.toFixed(1).padStart(9)} ms  cpu ${cpu.toFixed(0).padStart(6)} ms  ${shorten(sql).slice(0, 160)}\n`);
}

export class Db {
  private closed = false;

  constructor(
    readonly path: string,
    readonly instance: DuckDBInstance,
    /** For the loader (appenders); everything else should go through `run` / `all`. */
    readonly connection: DuckDBConnection,
  ) {}

  /** Runs one or more statements; results are discarded. */
  async run(sql: string): Promise<void> {
    const t0 = started();
    try {
      await this.connection.run(sql);
    } catch (e) {
      throw dbError(e, sql);
    }
    profiled(t0, sql);
  }

  /** Runs a query and returns its rows as objects of JS values (decimals as exact strings). */
  async all(sql: string): Promise<Record<string, unknown>[]> {
    const t0 = started();
    try {
      const reader = await this.connection.runAndReadAll(sql);
      const rows = reader.convertRowObjects(rowValue);
      profiled(t0, sql);
      return rows;
    } catch (e) {
      throw dbError(e, sql);
    }
  }

  /**
   * Runs a query and returns its columns by name, each an array: the fast way to read many rows.
   * Values are the driver's own (VARCHAR string, INTEGER number, BIGINT bigint, BOOLEAN boolean,
   * NULL null); decimals become exact strings. Meant for scalar columns: the generic conversion of
   * `all` costs about 3 µs a value, this about 0.1 µs.
   */
  async columns(sql: string): Promise<Record<string, unknown[]>> {
    const t0 = started();
    try {
      const reader = await this.connection.runAndReadAll(sql);
      const names = reader.columnNames();
      const data = reader.getColumns();
      const out: Record<string, unknown[]> = {};
      names.forEach((n, i) => {
        const c = (data[i] ?? []) as unknown[]; // no rows: the reader has no columns
        for (let j = 0; j < c.length; j++) if (c[j] instanceof DuckDBDecimalValue) c[j] = (c[j] as DuckDBDecimalValue).toString();
        out[n] = c;
      });
      profiled(t0, sql);
      return out;
    } catch (e) {
      throw dbError(e, sql);
    }
  }

  /**
   * Runs `fn` inside one transaction: COMMIT when it resolves, ROLLBACK when it throws. Appending
   * many batches inside one transaction is several times faster than one commit per batch.
   */
  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    await this.run('BEGIN TRANSACTION');
    let result: T;
    try {
      result = await fn();
    } catch (e) {
      try {
        await this.connection.run('ROLLBACK');
      } catch {
        // the transaction may already be aborted; the first error is the one to report
      }
      throw e;
    }
    await this.run('COMMIT');
    return result;
  }

  /** Closes the connection and the instance (flushes a file database). Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.connection.closeSync();
      this.instance.closeSync();
    } catch (e) {
      throw dbError(e, `close ${this.path}`);
    }
  }
}

export async function openDatabase(path: string, opts: DbOptions = {}): Promise<Db> {
  const config: Record<string, string> = {};
  if (opts.threads !== undefined) config.threads = String(opts.threads);
  if (opts.memoryLimit !== undefined) config.memory_limit = opts.memoryLimit;
  if (opts.tempDirectory !== undefined) config.temp_directory = opts.tempDirectory;
  if (opts.vacuum === false) config.max_vacuum_tasks = '0';
  let instance: DuckDBInstance | undefined;
  try {
    instance = await DuckDBInstance.create(path, config);
    const connection = await instance.connect();
    return new Db(path, instance, connection);
  } catch (e) {
    instance?.closeSync();
    throw dbError(e, `open ${path}`);
  }
}

/** Drops temp tables of this connection (those that do not exist are skipped). */
export async function dropTempTables(db: Db, ...tables: readonly string[]): Promise<void> {
  for (const t of tables) await db.run(`DROP TABLE IF EXISTS temp.main.${t}`);
}

/**
 * Appends plain rows to a table whose columns are VARCHAR, INTEGER or BOOLEAN, through one DuckDB
 * appender (far faster than INSERT … VALUES text for many rows). Values must match the column
 * types in order; null is NULL.
 */
const CHUNK_ROWS = 2048;
const CHUNK_TYPES: Readonly<Record<string, DuckDBType>> = { VARCHAR: VARCHAR, INTEGER: INTEGER, BOOLEAN: BOOLEAN, BIGINT: BIGINT, DOUBLE: DOUBLE };

/**
 * Appends rows of plain values (VARCHAR, INTEGER, BIGINT, DOUBLE, BOOLEAN columns; null for NULL)
 * to a table, 2,048 rows per data chunk: about ten times faster than appending value by value.
 */
export async function appendRows(
  db: Db,
  table: string,
  rows: readonly (readonly (string | number | boolean | null)[])[],
  opts: { temp?: boolean } = {},
): Promise<void> {
  const a = await RowAppender.open(db, table, opts);
  try {
    a.append(rows);
    a.flush();
  } finally {
    a.close();
  }
}

/**
 * An appender of plain rows kept open across calls (appendRows' column types), for many small
 * appends into one table within one transaction: opening and closing an appender costs about
 * 2 ms each, which was most of an ingest's main-thread time with one append per file.
 */
export class RowAppender {
  private constructor(
    private readonly appender: DuckDBAppender,
    private readonly types: readonly DuckDBType[],
    private readonly chunk: DuckDBDataChunk,
  ) {}

  /** `temp`: the table is a temp table (of this connection), else one of the current schema. */
  static async open(db: Db, table: string, opts: { temp?: boolean } = {}): Promise<RowAppender> {
    const where = opts.temp ? `database_name = 'temp' AND schema_name = 'main'` : `database_name = current_database() AND schema_name = current_schema()`;
    const described = await db.all(
      `SELECT data_type AS t FROM duckdb_columns() WHERE table_name = '${table.replace(/'/g, "''")}' AND ${where} ORDER BY column_index`,
    );
    const types = described.map((d) => CHUNK_TYPES[String(d.t)]);
    if (!types.length || types.some((t) => t === undefined)) throw new Error(`appendRows: ${table} has a column type other than ${Object.keys(CHUNK_TYPES).join(', ')}`);
    const appender = opts.temp ? await db.connection.createAppender(table, 'main', 'temp') : await db.connection.createAppender(table);
    return new RowAppender(appender, types as DuckDBType[], DuckDBDataChunk.create(types as DuckDBType[]));
  }

  append(rows: readonly (readonly (string | number | boolean | null)[])[]): void {
    const { types, chunk } = this;
    for (let from = 0; from < rows.length; from += CHUNK_ROWS) {
      const n = Math.min(CHUNK_ROWS, rows.length - from);
      const cols: (string | number | boolean | null)[][] = types.map(() => new Array(n));
      for (let r = 0; r < n; r++) {
        const row = rows[from + r]!;
        for (let c = 0; c < cols.length; c++) cols[c]![r] = row[c] ?? null;
      }
      chunk.reset();
      chunk.setColumns(cols);
      chunk.rowCount = n;
      this.appender.appendDataChunk(chunk);
    }
  }

  /** Writes the rows appended so far into the table. */
  flush(): void {
    this.appender.flushSync();
  }

  close(): void {
    this.appender.closeSync();
  }
}
