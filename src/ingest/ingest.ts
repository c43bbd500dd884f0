/**
 * The ingest stage: a business-day folder into DuckDB staging tables (`stg_<table>` per record
 * type, `stg_quarantine`, `stg_files`), with the ingest ledger. Parsing runs in the worker pool;
 * this thread only loads finished batches.
 */
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import { RECORD_SPECS, recordSpec, type RecordTypeName } from '../spec/fields.js';
import { stagingDDL, stagingTable } from '../spec/schema.js';
import type { Db } from '../db/duck.js';
import { StagingLoader } from '../db/load.js';
import { discover, type DayFile } from './discover.js';
import type { ParseResult, ParseTask, StreamedPart } from './parse-file.js';
import { runPool } from './pool.js';
import type { QuarantineRow } from './records.js';
import { ingestTabularSql, TabularSqlError } from './tabular-sql.js';

export interface IngestOptions {
  threads?: number;
  /** Time limit per file (default 2 min) plus this per MB of the file (default 10 s). */
  timeoutMs?: number;
  timeoutMsPerMb?: number;
  batchRows?: number;
  maxConsecutiveFailures?: number;
  workerHeapMb?: number;
  /**
   * CSV/Parquet files: 'sql' (default) validates and stages them in DuckDB, set-based, on this
   * connection (src/ingest/tabular-sql.ts); 'reference' reads them row by row in the parse workers.
   */
  tabular?: 'sql' | 'reference';
  /** XML files: the entity reader, 'fast' (default) or the fast-xml-parser 'reference'. */
  parser?: 'fast' | 'reference';
  log?: Logger;
  onProgress?: (p: { files: number; filesTotal: number; bytes: number; bytesTotal: number; records: number }) => void;
}

export interface LedgerRow {
  recordType: RecordTypeName;
  /** rows read from well-formed files */
  read: number;
  /** valid rows staged */
  staged: number;
  /** rows that failed validation (staged with record_valid = false, findings in the quarantine) */
  quarantined: number;
}

export interface IngestResult {
  files: { total: number; read: number; skipped: number; unknown: number; malformed: number };
  bytes: number;
  ledger: LedgerRow[];
  quarantineRows: number;
  seconds: number;
  threads: number;
}

/** The columns of a quarantine row; the published `quarantine` adds business_date and run_id in front. */
export const QUARANTINE_COLUMNS = `
  file VARCHAR NOT NULL,
  message_guid VARCHAR,
  record_index INTEGER,
  record_type VARCHAR,
  business_key VARCHAR,
  field VARCHAR,
  code VARCHAR NOT NULL,
  detail VARCHAR NOT NULL`;

export const QUARANTINE_DDL = `CREATE OR REPLACE TABLE stg_quarantine (${QUARANTINE_COLUMNS}\n);`;

/** The columns of a file row (ok | skipped | unknown | malformed); published as `input_files`. */
export const FILES_COLUMNS = `
  file VARCHAR NOT NULL,
  kind VARCHAR NOT NULL,
  bytes BIGINT NOT NULL,
  record_type VARCHAR,
  status VARCHAR NOT NULL,
  detail VARCHAR NOT NULL`;

export const FILES_DDL = `CREATE OR REPLACE TABLE stg_files (${FILES_COLUMNS}\n);`;

/** A SQL string literal; a NUL (which would end the statement's text) as chr(0). */
const q = (v: string | null) => (v === null ? 'NULL' : `'${v.replace(/'/g, "''").replace(/\0/g, "' || chr(0) || '")}'`);

/** Quarantine rows through an appender: a file of invalid records can bring millions (SQL text did 13k a second). */
function quarantineRows(rows: readonly QuarantineRow[]): (string | number | null)[][] {
  return rows.map((r) => [r.file, r.messageGuid, r.recordIndex, r.recordType, r.businessKey, r.field, r.code, r.detail]);
}

function fileRow(f: DayFile, status: string, detail: string, recordType: string | null): string {
  return `(${q(f.name)}, ${q(f.kind)}, ${f.bytes}, ${q(recordType)}, ${q(status)}, ${q(detail)})`;
}

/** stg_files rows, 500 per INSERT (one INSERT per file cost ~1 ms each: 4 s on a 4,000-file day). */
async function insertFiles(db: Db, rows: readonly string[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) await db.run(`INSERT INTO stg_files VALUES ${rows.slice(i, i + 500).join(',\n')}`);
}

/** Replaces the staging tables with the day folder's records. */
export async function ingestDay(dayDir: string, db: Db, o: IngestOptions = {}): Promise<IngestResult> {
  const byReference = new Set<string>();
  for (;;) {
    try {
      return await ingestDayOnce(dayDir, db, o, byReference);
    } catch (e) {
      if (!(e instanceof TabularSqlError) || byReference.has(e.file)) throw e;
      // DuckDB rolled the day back with the failed statement: the day again, that file by the reference path
      o.log?.warn({ file: e.file, err: e.message }, 'tabular SQL ingest failed; ingesting the day again with this file by the reference path');
      byReference.add(e.file);
    }
  }
}

async function ingestDayOnce(dayDir: string, db: Db, o: IngestOptions, byReference: ReadonlySet<string>): Promise<IngestResult> {
  const t0 = Date.now();
  const threads = Math.max(1, o.threads ?? availableParallelism());
  for (const spec of RECORD_SPECS) await db.run(stagingDDL(spec).replace('CREATE TABLE IF NOT EXISTS', 'CREATE OR REPLACE TABLE'));
  await db.run(QUARANTINE_DDL);
  await db.run(FILES_DDL);

  const files = discover(dayDir);
  const byName = new Map(files.map((f) => [f.name, f]));
  const result: IngestResult = { files: { total: files.length, read: 0, skipped: 0, unknown: 0, malformed: 0 }, bytes: 0, ledger: [], quarantineRows: 0, seconds: 0, threads };
  const counts = new Map<RecordTypeName, LedgerRow>(RECORD_SPECS.map((s) => [s.name, { recordType: s.name, read: 0, staged: 0, quarantined: 0 }]));
  const tasks: ParseTask[] = [];
  const fileRows: string[] = [];
  // one appender per staging table (and the quarantine) for the whole day: see StagingLoader
  const loader = new StagingLoader(db);
  const insertQuarantine = (rows: readonly QuarantineRow[]) => loader.appendRows('stg_quarantine', quarantineRows(rows));
  for (const f of files) {
    if (f.verdict === 'unknown') {
      result.files.unknown++;
      fileRows.push(fileRow(f, 'unknown', f.detail, null));
      o.log?.warn({ file: f.name, detail: f.detail }, 'file not read');
    } else {
      // 'skipped' ones are read too: only a well-formed other message is skipped (RULES.md §1), a broken one is MALFORMED_MESSAGE (§3)
      tasks.push({ path: f.path, name: f.name, kind: f.kind, recordType: f.recordType, bytes: f.bytes, ...(o.batchRows ? { batchRows: o.batchRows } : {}), ...(o.parser ? { parser: o.parser } : {}) });
    }
  }
  const bytesTotal = tasks.reduce((s, t) => s + (byName.get(t.name)?.bytes ?? 0), 0);
  let done = 0;
  let records = 0;

  const onResult = async (r: ParseResult) => {
    const f = byName.get(r.file) as DayFile;
    for (const b of r.batches) await loader.append(recordSpec(b.type), b.ipc);
    await insertQuarantine(r.quarantine);
    result.quarantineRows += r.quarantine.length;
    for (const [type, c] of Object.entries(r.counts) as [RecordTypeName, { read: number; invalid: number }][]) {
      const row = counts.get(type) as LedgerRow;
      row.read += c.read;
      row.quarantined += c.invalid;
      row.staged += c.read - c.invalid;
      records += c.read;
    }
    o.log?.debug({ file: r.file, worker: r.worker, status: r.status, counts: r.counts }, 'file parsed');
    if (r.status === 'malformed') {
      result.files.malformed++;
      o.log?.warn({ file: r.file, worker: r.worker, detail: r.detail }, 'file quarantined');
    } else if (r.status === 'skipped') result.files.skipped++;
    else result.files.read++;
    fileRows.push(fileRow(f, r.status, r.detail, r.recordType));
    done++;
    result.bytes += f.bytes;
    o.onProgress?.({ files: done, filesTotal: tasks.length, bytes: result.bytes, bytesTotal, records });
  };

  // parts of a file streamed by its worker while it reads (see pool.ts): staged at once, dropped
  // again if the file ends malformed; the ledger counts come with the file's result
  const streamedFindings = new Map<string, number>();
  const onPart = async (file: string, part: StreamedPart) => {
    if (part.kind === 'batch') await loader.append(recordSpec(part.type), part.ipc);
    else {
      await insertQuarantine(part.rows);
      result.quarantineRows += part.rows.length;
      streamedFindings.set(file, (streamedFindings.get(file) ?? 0) + part.rows.length);
    }
  };
  const onDiscard = async (file: string) => {
    loader.flush();
    for (const spec of RECORD_SPECS) await db.run(`DELETE FROM ${stagingTable(spec)} WHERE source_file = ${q(file)}`);
    await db.run(`DELETE FROM stg_quarantine WHERE file = ${q(file)}`);
    result.quarantineRows -= streamedFindings.get(file) ?? 0;
    streamedFindings.delete(file);
    o.log?.debug({ file }, 'streamed rows of the file dropped');
  };

  // tabular files by SQL on this connection first; what it hands back goes to the parse workers
  const viaSql = o.tabular === 'reference' ? [] : tasks.filter((t) => t.kind !== 'xml' && !byReference.has(t.name));
  const poolTasks = tasks.filter((t) => !viaSql.includes(t));
  // one transaction for the day's staging: faster than a commit per batch, and all or nothing
  await db.transaction(async () => {
    let staged = false;
    try {
      await stageAll();
      staged = true;
    } finally {
      // after a failure the transaction rolls back: an error of closing must not hide the first one
      try {
        loader.close();
      } catch (e) {
        if (staged) throw e;
      }
    }
    await insertFiles(db, fileRows);
  });
  async function stageAll(): Promise<void> {
    for (const t of viaSql) {
      loader.flush();
      const r = await ingestTabularSql(db, t);
      if (r === null) poolTasks.push(t);
      else {
        result.quarantineRows += r.findings;
        await onResult(r.result);
      }
    }
    if (poolTasks.length === 0) return;
    await runPool(poolTasks, {
      threads,
      timeoutMs: o.timeoutMs ?? 120_000,
      timeoutMsPerMb: o.timeoutMsPerMb ?? 10_000,
      maxConsecutiveFailures: o.maxConsecutiveFailures ?? 8,
      workerHeapMb: o.workerHeapMb ?? 768,
      onResult,
      onPart,
      onDiscard,
    });
  }
  result.ledger = [...counts.values()];
  result.seconds = (Date.now() - t0) / 1000;
  o.log?.info({ files: result.files, ledger: result.ledger, seconds: result.seconds, threads }, 'ingest done');
  return result;
}

