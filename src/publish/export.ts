/**
 * Publishes one business day of the published tables (RULES.md §11) as files for readers outside
 * DuckDB: Parquet (and CSV on request), partitioned by business day hive-style,
 *
 *   <dir>/<table>/business_date=<YYYY-MM-DD>/data.parquet   (and data.csv)
 *
 * so that `read_parquet('<dir>/decisions/*\/*.parquet', hive_partitioning=true)` in DuckDB, or
 * `spark.read.parquet('<dir>/decisions')`, sees every exported day with `business_date` (DATE)
 * taken from the folder name. The files themselves do not hold `business_date` (Spark refuses a
 * column that is both in the data and in the partition path).
 *
 * - Every file is written by DuckDB COPY to a hidden temporary name in its partition folder and then
 *   renamed over the final name, so a reader sees the old file or the new one, never half of one;
 *   re-exporting a day replaces its files (one file per table and format, never a second one).
 * - A table with no rows for the day still gets its (empty) file, so that the day's partition of
 *   every exported table reflects the database, including a re-export after rows went away.
 * - Rows are written in a fixed order (ORDER BY ALL), so a re-export of unchanged rows writes the
 *   same rows in the same order.
 * - Parquet keeps list columns (`reasons` VARCHAR[]) as Parquet lists and decimals as decimals; CSV
 *   writes lists as ';'-joined text (an empty list is an empty quoted string, NULL an empty field).
 * - Types Parquet readers (Spark) cannot take exactly are converted: HUGEINT/UHUGEINT → DECIMAL(38,0)
 *   (DuckDB would write DOUBLE), UBIGINT → DECIMAL(20,0), UUID and INTERVAL → VARCHAR.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Db } from '../db/duck.js';
import { ident, lit } from '../spec/schema.js';

/** The published tables exported by default, before the `stats_*` tables. */
export const PUBLISHED_TABLES = ['decisions', 'decision_reasons', 'return_decisions', 'quarantine', 'inspection_queue', 'ledger'] as const;

export interface ExportOptions {
  /** Also write `data.csv` beside each `data.parquet`. */
  csv?: boolean;
  /**
   * The tables to export instead of the default set (the published tables plus every `stats_*`
   * table or view with a `business_date` column). Missing ones are skipped and reported.
   */
  tables?: string[];
}

export interface TableExport {
  table: string;
  /** Rows of the day written (per file: the Parquet and the CSV hold the same rows). */
  rows: number;
  /** Absolute paths of the files written: data.parquet, then data.csv when asked. */
  files: string[];
}

export interface SkippedTable {
  table: string;
  reason: 'missing' | 'no business_date column';
}

export interface ExportResult {
  date: string;
  /** The export root, absolute. */
  dir: string;
  tables: TableExport[];
  skipped: SkippedTable[];
}

/** Throws unless `date` is a real calendar date written YYYY-MM-DD. */
export function checkDate(date: string): void {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  const d = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : undefined;
  if (!d || d.toISOString().slice(0, 10) !== date) throw new Error(`not a business date (YYYY-MM-DD): ${JSON.stringify(date)}`);
}

interface ColumnInfo {
  name: string;
  type: string;
}

/** Columns of every table and view in the current schema, by table name. */
async function schemaColumns(db: Db): Promise<Map<string, ColumnInfo[]>> {
  const rows = await db.all(`SELECT table_name, column_name, data_type FROM information_schema.columns
    WHERE table_catalog = current_database() AND table_schema = current_schema()
    ORDER BY table_name, ordinal_position`);
  const out = new Map<string, ColumnInfo[]>();
  for (const r of rows) {
    const t = String(r.table_name);
    let cols = out.get(t);
    if (!cols) out.set(t, (cols = []));
    cols.push({ name: String(r.column_name), type: String(r.data_type) });
  }
  return out;
}

/** The SELECT-list expression of a column in a Parquet file. */
function parquetColumn(c: ColumnInfo): string {
  const q = ident(c.name);
  switch (c.type) {
    case 'HUGEINT':
    case 'UHUGEINT':
      return `CAST(${q} AS DECIMAL(38,0)) AS ${q}`;
    case 'UBIGINT':
      return `CAST(${q} AS DECIMAL(20,0)) AS ${q}`;
    case 'UUID':
    case 'INTERVAL':
      return `CAST(${q} AS VARCHAR) AS ${q}`;
    default:
      return q;
  }
}

/** The SELECT-list expression of a column in a CSV file: lists (and arrays) as ';'-joined text. */
function csvColumn(c: ColumnInfo): string {
  const q = ident(c.name);
  if (/\[\d*\]$/.test(c.type)) return `array_to_string(CAST(${q} AS VARCHAR[]), ';') AS ${q}`;
  if (/^(STRUCT|MAP|UNION)\b/.test(c.type)) return `CAST(${q} AS VARCHAR) AS ${q}`;
  return parquetColumn(c);
}

/** A hidden name in the same folder (readers globbing *.parquet or skipping dot files ignore it). */
function tempName(final: string): string {
  return join(dirname(final), `.${basename(final)}.${process.pid}.tmp`);
}

/** COPYs a query to `file` through a temporary name beside it; returns the rows written. */
async function copyTo(db: Db, query: string, file: string, format: string): Promise<number> {
  const tmp = tempName(file);
  rmSync(tmp, { force: true });
  try {
    const res = await db.all(`COPY (${query}) TO ${lit(tmp)} (${format})`);
    renameSync(tmp, file);
    return Number(res[0]?.Count ?? 0);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Writes the business day's rows of the published tables under `dir` (see the file comment).
 * Tables missing from the database (or, when named in `o.tables`, without a `business_date`
 * column) are skipped and listed in `skipped`.
 */
export async function exportDay(db: Db, date: string, dir: string, o: ExportOptions = {}): Promise<ExportResult> {
  checkDate(date);
  const root = resolve(dir);
  const columns = await schemaColumns(db);
  const hasDate = (t: string) => columns.get(t)?.some((c) => c.name === 'business_date') ?? false;

  const wanted: string[] = o.tables
    ? [...new Set(o.tables)]
    : [...PUBLISHED_TABLES, ...[...columns.keys()].filter((t) => t.startsWith('stats_') && hasDate(t)).sort()];

  const result: ExportResult = { date, dir: root, tables: [], skipped: [] };
  for (const table of wanted) {
    const cols = columns.get(table);
    if (!cols) {
      result.skipped.push({ table, reason: 'missing' });
      continue;
    }
    if (!hasDate(table)) {
      result.skipped.push({ table, reason: 'no business_date column' });
      continue;
    }
    if (table.includes('/') || table.includes('\\') || table === '.' || table === '..') {
      throw new Error(`table name not usable as a folder name: ${JSON.stringify(table)}`);
    }
    const data = cols.filter((c) => c.name !== 'business_date');
    const from = `FROM ${ident(table)} WHERE business_date = DATE ${lit(date)} ORDER BY ALL`;
    const part = join(root, table, `business_date=${date}`);
    mkdirSync(part, { recursive: true });

    const files: string[] = [];
    const parquet = join(part, 'data.parquet');
    const rows = await copyTo(db, `SELECT ${data.map(parquetColumn).join(', ')} ${from}`, parquet, 'FORMAT parquet');
    files.push(parquet);
    const csv = join(part, 'data.csv');
    if (o.csv) {
      await copyTo(db, `SELECT ${data.map(csvColumn).join(', ')} ${from}`, csv, 'FORMAT csv, HEADER true');
      files.push(csv);
    } else if (existsSync(csv)) {
      rmSync(csv); // an earlier export of the day asked for CSV; the day's files are now these
    }
    result.tables.push({ table, rows, files });
  }
  return result;
}
