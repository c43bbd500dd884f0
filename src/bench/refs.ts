/**
 * The side-by-side references every stage is reported against (DESIGN.md: numbers that mean
 * something on any machine):
 *
 *  - floor: reading the files and tokenising them, nothing else: read (page cache or disk),
 *    gunzip when gzipped, check the bytes are UTF-8, find every tag (`<` … `>`). On
 *    several threads the files are split by size across plain worker threads
 *    (`workers/bench-floor.ts`).
 *  - fxp: fast-xml-parser alone on the same bytes (decode + `XMLParser.parse` of the whole file,
 *    with the options the reference entity reader uses).
 *  - naive: a straightforward ingest of the same bytes: fast-xml-parser on whole files, the
 *    project's own validation (`entityRows`), and a DuckDB appender fed row by row, value by value,
 *    into plain tables. One thread.
 *  - store (tabular days): keeping the day's files in a DuckDB database file, nothing else: one
 *    `CREATE TABLE … AS SELECT * FROM read_parquet(…)` per file in one transaction, into a fresh
 *    file opened as `declmatch run` opens its database, with the run's threads and memory limit
 *    (`storeDay`); closing the file counts. No validation, no typing (the columns stay as the files
 *    hold them), no deciding. A run must at least read its input and keep it, so this is the least
 *    a Parquet day can take with DuckDB on the machine.
 */
import { XMLParser } from 'fast-xml-parser';
import { FXP_OPTIONS } from '../ingest/xml.js';
import {
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBTimestampValue,
  type DuckDBAppender,
} from '@duckdb/node-api';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from '../db/duck.js';
import { entityRows, type QuarantineRow } from '../ingest/records.js';
import type { StagingRow } from '../ingest/batch.js';
import { MESSAGE_ROOTS, RECORD_SPECS, recordSpec, type RecordSpec, type RecordTypeName } from '../spec/fields.js';
import { stagingColumns, stagingDDL, stagingTable, type Column } from '../spec/schema.js';
import { removeDatabase } from './data.js';
import { inflate } from './floor.js';

export { floorFiles, floorThreads, inflate, tokenise } from './floor.js';

// ---- storing a tabular day --------------------------------------------------------------------------

/**
 * The store reference: every `.parquet` file of `day` into a fresh DuckDB database file `db` (one
 * table per file, one transaction, then closed); the file, its WAL and its spill folder are removed
 * afterwards (`removeDatabase`).
 * Returns the rows stored.
 */
export async function storeDay(day: string, db: string, opts: { threads: number; memoryLimit?: string }): Promise<number> {
  removeDatabase(db);
  const files = readdirSync(day).filter((n) => n.endsWith('.parquet')).sort();
  if (files.length === 0) throw new Error(`store reference: no Parquet file in ${day}`);
  // imported here, not at the top: with a static import the modules of the hot scope were
  // evaluated in another order, and its first parse benchmark measured half its speed (706208e)
  const { openDatabase } = await import('../db/duck.js');
  // as `declmatch run` opens its database (cli/main.ts): without `vacuum: false` closing the file
  // merges the row groups a parallel CREATE TABLE AS leaves partly filled, which took 12 of the 24 s
  // of storing the 1M-list day
  const conn = await openDatabase(db, { threads: opts.threads, ...(opts.memoryLimit ? { memoryLimit: opts.memoryLimit } : {}), tempDirectory: `${db}.tmp`, vacuum: false });
  let rows = 0;
  try {
    await conn.run('BEGIN TRANSACTION');
    for (const [i, n] of files.entries()) {
      // (CREATE TABLE AS answers with the rows it stored, in its column `Count`)
      const c = await conn.all(`CREATE TABLE t${i} AS SELECT * FROM read_parquet('${join(day, n).replace(/'/g, "''")}')`);
      rows += Number(c[0]?.Count ?? NaN);
    }
    await conn.run('COMMIT');
  } finally {
    conn.close();
    removeDatabase(db);
  }
  return rows;
}

// ---- fast-xml-parser alone -------------------------------------------------------------------------

/** The options of the reference entity reader (src/ingest/xml.ts), on whole files. */
export { FXP_OPTIONS };

const fxp = new XMLParser(FXP_OPTIONS);

/** fast-xml-parser alone: decode + parse one whole file; returns the number of top-level keys. */
export function fxpParse(bytes: Uint8Array): number {
  const doc = fxp.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as Record<string, unknown>;
  return Object.keys(doc).length;
}

// ---- the straightforward ingest --------------------------------------------------------------------

const NAIVE_QUARANTINE_DDL = `CREATE OR REPLACE TABLE naive_quarantine (file VARCHAR, message_guid VARCHAR, record_index INTEGER, record_type VARCHAR,
  business_key VARCHAR, field VARCHAR, code VARCHAR, detail VARCHAR)`;

export function naiveTable(spec: RecordSpec): string {
  return `naive_${spec.table}`;
}

/**
 * fast-xml-parser on whole files + validation + a row-by-row appender into plain `naive_*` tables
 * (the staging columns, no constraints). `reset()` (re)creates the tables.
 */
export class NaiveIngest {
  private readonly parser = new XMLParser({ removeNSPrefix: true, ignoreAttributes: false, attributeNamePrefix: '@', parseTagValue: false, parseAttributeValue: false, processEntities: true, htmlEntities: false });
  private appenders = new Map<string, DuckDBAppender>();
  rows = 0;

  constructor(private readonly db: Db) {}

  async reset(): Promise<void> {
    await this.close();
    for (const spec of RECORD_SPECS) await this.db.run(stagingDDL(spec).replace(`CREATE TABLE IF NOT EXISTS ${stagingTable(spec)}`, `CREATE OR REPLACE TABLE ${naiveTable(spec)}`));
    await this.db.run(NAIVE_QUARANTINE_DDL);
    this.rows = 0;
  }

  private async appender(table: string): Promise<DuckDBAppender> {
    let a = this.appenders.get(table);
    if (!a) {
      a = await this.db.connection.createAppender(table);
      this.appenders.set(table, a);
    }
    return a;
  }

  /** One file's bytes (gzip allowed); returns the rows appended. */
  async file(name: string, raw: Uint8Array): Promise<number> {
    const doc = this.parser.parse(new TextDecoder('utf-8', { fatal: true }).decode(inflate(raw))) as Record<string, unknown>;
    const rootName = Object.keys(doc).find((k) => k.endsWith('Message'));
    const type = rootName !== undefined && Object.hasOwn(MESSAGE_ROOTS, rootName) ? MESSAGE_ROOTS[rootName] : undefined;
    if (type === undefined) return 0;
    const root = doc[rootName!] as Record<string, unknown>;
    const spec = recordSpec(type);
    const lineSpec = spec.lines ? recordSpec(spec.lines) : null;
    const guid = typeof root['@guid'] === 'string' ? root['@guid'] : null;
    const entities = asArray(root[spec.entity ?? spec.element]);
    let n = 0;
    for (let i = 0; i < entities.length; i++) {
      const e = entities[i] as Record<string, unknown>;
      const head = spec.entity ? record(e[spec.element]) : record(e);
      const lines = lineSpec ? asArray(e[lineSpec.element]).map(record) : [];
      const r = entityRows(type, head, lines, { file: name, messageGuid: guid, recordIndex: i + 1 });
      appendRow(await this.appender(naiveTable(spec)), stagingColumns(spec), r.head);
      n++;
      if (lineSpec) {
        const a = await this.appender(naiveTable(lineSpec));
        const cols = stagingColumns(lineSpec);
        for (const l of r.lines) appendRow(a, cols, l);
        n += r.lines.length;
      }
      if (r.quarantine.length) {
        const q = await this.appender('naive_quarantine');
        for (const row of r.quarantine) appendQuarantine(q, row);
      }
    }
    this.rows += n;
    return n;
  }

  /** Appends staging rows of one type row by row (the naive load, on its own). */
  async rowsOf(spec: RecordSpec, rows: readonly StagingRow[]): Promise<void> {
    const a = await this.appender(naiveTable(spec));
    const cols = stagingColumns(spec);
    for (const r of rows) appendRow(a, cols, r);
    this.rows += rows.length;
  }

  /** Flushes and closes the appenders (the rows become visible). */
  async close(): Promise<void> {
    for (const a of this.appenders.values()) {
      a.flushSync();
      a.closeSync();
    }
    this.appenders = new Map();
  }
}

function asArray(v: unknown): unknown[] {
  return v === undefined || v === null ? [] : Array.isArray(v) ? v : [v];
}

function record(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof v !== 'object' || v === null) return out;
  for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

function appendRow(a: DuckDBAppender, cols: readonly Column[], row: StagingRow): void {
  for (const c of cols) {
    const v = row[c.column];
    if (v === null || v === undefined) {
      a.appendNull();
      continue;
    }
    switch (c.type) {
      case 'string':
        a.appendVarchar(v as string);
        break;
      case 'decimal':
        a.appendDecimal(new DuckDBDecimalValue(v as bigint, 19, 5));
        break;
      case 'integer':
        a.appendInteger(v as number);
        break;
      case 'date':
        a.appendDate(new DuckDBDateValue(v as number));
        break;
      case 'timestamp':
        a.appendTimestamp(new DuckDBTimestampValue(BigInt(v as number) * 1_000_000n));
        break;
      case 'boolean':
        a.appendBoolean(v as boolean);
        break;
    }
  }
  a.endRow();
}

function appendQuarantine(a: DuckDBAppender, q: QuarantineRow): void {
  for (const v of [q.file, q.messageGuid, q.recordIndex, q.recordType, q.businessKey, q.field, q.code, q.detail]) {
    if (v === null) a.appendNull();
    else if (typeof v === 'number') a.appendInteger(v);
    else a.appendVarchar(v);
  }
  a.endRow();
}

/** Record types in the order of the spec, for stable result names. */
export const TYPE_ORDER: readonly RecordTypeName[] = RECORD_SPECS.map((s) => s.name);
