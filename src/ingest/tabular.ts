/**
 * Tabular input (CSV, Parquet): DuckDB reads the file (in the worker's own in-memory instance),
 * every expected column comes out as the text it would have in a CEB message, and each row goes
 * through the same validation as an XML record. Typed Parquet columns are turned back into CEB
 * text (TIMESTAMP → YYYYMMDDhhmmss, DATE → YYYYMMDD, numbers → their decimal text).
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { parentKeyFields, type RecordSpec } from '../spec/fields.js';
import type { RawRecord } from '../spec/validate.js';
import type { FileKind } from './discover.js';
import { lit } from '../spec/schema.js';

const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;

/** The DuckDB table function that reads a tabular file, as both tabular paths read it. */
export function source(path: string, kind: FileKind): string {
  return kind === 'csv'
    ? `read_csv(${lit(path)}, header = true, all_varchar = true, delim = ',', quote = '"', escape = '"', sample_size = -1)`
    : `read_parquet(${lit(path)})`;
}

/** A column of the file as the text it would have in a CEB message (SQL expression). */
export function asText(col: string, type: string): string {
  const c = ident(col);
  const t = type.toUpperCase();
  if (t === 'VARCHAR') return c;
  if (t.startsWith('TIMESTAMP')) return `strftime(${c}, '%Y%m%d%H%M%S')`;
  if (t === 'DATE') return `strftime(${c}, '%Y%m%d')`;
  return `CAST(${c} AS VARCHAR)`;
}

/**
 * DuckDB's error about a file, in one line: its first line, plus for a CSV error the line that
 * says what is wrong (the first line only gives "CSV Error on Line: N"; the message goes on with
 * the offending line itself, which may be megabytes long and is never copied).
 */
export function readError(e: unknown): string {
  const lines = (e instanceof Error ? e.message : String(e)).split('\n');
  const first = cut((lines[0] ?? '').trim(), 240);
  if (!/CSV Error on Line/.test(first)) return first;
  const why = lines.map((l) => l.trim()).find((l) => CSV_WHY.test(l));
  return why ? `${first}: ${cut(why, 160)}` : first;
}

const cut = (s: string, max: number) => (s.length > max ? `${s.slice(0, max)}…` : s);

/** The explaining lines of DuckDB's CSV errors. */
const CSV_WHY = /^(Maximum line size of \d+ bytes exceeded|Expected Number of Columns|Value with unterminated quote|Invalid unicode|Could not convert)/;

export type TabularOutcome = { status: 'ok'; detail: string; rows: number } | { status: 'malformed'; detail: string };

export type ColumnPlan =
  | { ok: false; detail: string }
  | { ok: true; /** expected column → its DuckDB type, for the columns the file has */ present: Map<string, string>; /** the file's stg_files detail */ detail: string };

/** Which expected columns a file has (from DESCRIBE): required ones missing make the file malformed. */
export function planColumns(described: readonly { name: string; type: string }[], columns: readonly string[], spec: RecordSpec): ColumnPlan {
  const present = new Map(described.map((c) => [c.name, c.type]));
  const required = [...spec.fields.filter((f) => f.required).map((f) => f.name), ...parentKeyFields(spec)];
  const missing = required.filter((c) => !present.has(c));
  if (missing.length) return { ok: false, detail: `missing columns: ${missing.join(', ')}` };
  const unknown = described.map((c) => c.name).filter((n) => !columns.includes(n));
  for (const n of unknown) present.delete(n);
  return { ok: true, present, detail: unknown.length ? `columns ignored: ${unknown.join(', ')}` : '' };
}

/**
 * Reads a CSV/Parquet file row by row; `onRow` gets the raw CEB text per column and the 1-based row
 * number. `pace`, when given, is awaited before each chunk of rows (the caller's back-pressure).
 */
export async function readTabular(
  path: string,
  kind: FileKind,
  columns: readonly string[],
  spec: RecordSpec,
  onRow: (raw: RawRecord, index: number) => void,
  pace?: () => Promise<void>,
): Promise<TabularOutcome> {
  const db = await DuckDBInstance.create(':memory:', { threads: '1' });
  const con = await db.connect();
  try {
    let described: { name: string; type: string }[];
    try {
      const d = await con.runAndReadAll(`DESCRIBE SELECT * FROM ${source(path, kind)}`);
      described = d.getRowObjectsJS().map((r) => ({ name: String(r.column_name), type: String(r.column_type) }));
    } catch (e) {
      return { status: 'malformed', detail: `cannot read ${kind}: ${readError(e)}` };
    }
    const plan = planColumns(described, columns, spec);
    if (!plan.ok) return { status: 'malformed', detail: plan.detail };
    const { present } = plan;
    const exprs = columns.map((c) => (present.has(c) ? `${asText(c, present.get(c) as string)} AS ${ident(c)}` : `NULL::VARCHAR AS ${ident(c)}`));
    let rows = 0;
    try {
      const result = await con.stream(`SELECT ${exprs.join(', ')} FROM ${source(path, kind)}`);
      for await (const chunk of result.yieldRowsJs()) {
        if (pace) await pace();
        for (const values of chunk) {
          const raw: Record<string, string | null> = Object.create(null) as Record<string, string | null>;
          for (let i = 0; i < columns.length; i++) {
            const v = values[i];
            raw[columns[i] as string] = v === null || v === undefined ? null : String(v);
          }
          onRow(raw, ++rows);
        }
      }
    } catch (e) {
      return { status: 'malformed', detail: `cannot read ${kind} at row ${rows + 1}: ${readError(e)}` };
    }
    if (rows === 0) return { status: 'malformed', detail: 'no business record (the file has no rows)' };
    return { status: 'ok', detail: plan.detail, rows };
  } finally {
    con.closeSync();
    db.closeSync();
  }
}
