/**
 * The SQL path of tabular ingest (src/ingest/tabular-sql.ts) against the reference path (the parse
 * workers, row by row through spec/validate.ts): every staging table, the quarantine and the file
 * list must be identical, row for row (EXCEPT ALL both ways, over all columns, provenance
 * included), and so must the ledger. Inputs: generated days in CSV and Parquet, fuzzed field values
 * for every record type, and hostile files.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Logger } from 'pino';
import { appendRows, openDatabase, type Db } from '../src/db/duck.js';
import { generateDays } from '../src/generate/generator.js';
import { Rng } from '../src/generate/random.js';
import { csvCell } from '../src/generate/writers.js';
import { ingestDay, type IngestResult } from '../src/ingest/ingest.js';
import { tabularSqlStatements } from '../src/ingest/tabular-sql.js';
import { RECORD_SPECS, recordSpec, tabularColumns, type FieldSpec, type RecordSpec } from '../src/spec/fields.js';
import { stagingDDL, stagingTable } from '../src/spec/schema.js';

const tmp = mkdtempSync(join(tmpdir(), 'tabfast-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const TABLES = [...RECORD_SPECS.map(stagingTable), 'stg_quarantine', 'stg_files'];

/** Which files each path read itself: 'sql', or 'reference' when the SQL path handed the file back. */
type Routes = Record<string, 'sql' | 'reference'>;

function routeLog(routes: Routes): Logger {
  const log = {
    debug(o: { file?: string; worker?: number }, msg?: string) {
      if (msg === 'file parsed' && o.file) routes[o.file] = o.worker === undefined ? 'sql' : 'reference';
    },
    info() {},
    warn() {},
    error() {},
  };
  return log as unknown as Logger;
}

/** Ingests `dir` by the reference path (kept as ref_<table>), then by the SQL path. */
async function bothPaths(dir: string): Promise<{ db: Db; ref: IngestResult; sql: IngestResult; routes: Routes }> {
  const db = await openDatabase(':memory:', { threads: 2 });
  const ref = await ingestDay(dir, db, { threads: 2, tabular: 'reference' });
  for (const t of TABLES) await db.run(`CREATE TABLE ref_${t} AS SELECT * FROM ${t}`);
  const routes: Routes = {};
  const sql = await ingestDay(dir, db, { threads: 2, log: routeLog(routes) });
  return { db, ref, sql, routes };
}

const show = (rows: unknown) => JSON.stringify(rows, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 1).slice(0, 3000);

async function assertSame(db: Db, ref: IngestResult, sql: IngestResult): Promise<void> {
  for (const t of TABLES) {
    const onlySql = await db.all(`SELECT * FROM ${t} EXCEPT ALL SELECT * FROM ref_${t}`);
    const onlyRef = await db.all(`SELECT * FROM ref_${t} EXCEPT ALL SELECT * FROM ${t}`);
    assert.ok(onlySql.length === 0 && onlyRef.length === 0, `${t}: only by SQL ${show(onlySql.slice(0, 5))}\nonly by reference ${show(onlyRef.slice(0, 5))}`);
  }
  assert.deepEqual(sql.files, ref.files);
  assert.deepEqual(sql.ledger, ref.ledger);
  assert.equal(sql.quarantineRows, ref.quarantineRows);
}

async function count(db: Db, sql: string): Promise<number> {
  return Number((await db.all(sql))[0]?.n ?? 0);
}

// ---- writing test files ------------------------------------------------------------------------------

function writeCsv(path: string, columns: readonly string[], rows: readonly (readonly (string | null)[])[], o: { bom?: boolean; crlf?: boolean } = {}): void {
  const nl = o.crlf ? '\r\n' : '\n';
  const text = [columns.join(','), ...rows.map((r) => r.map((v) => (v === null ? '' : v === '' ? '""' : csvCell(v))).join(','))].join(nl) + nl;
  writeFileSync(path, (o.bom ? '\uFEFF' : '') + text);
}

/** A Parquet file of VARCHAR columns (any text, NUL included), written through an appender. */
async function writeParquet(db: Db, path: string, columns: readonly string[], rows: readonly (readonly (string | null)[])[]): Promise<void> {
  await db.run(`CREATE OR REPLACE TABLE pq (${columns.map((c) => `"${c}" VARCHAR`).join(', ')})`);
  await appendRows(db, 'pq', rows);
  await db.run(`COPY pq TO '${path}' (FORMAT parquet)`);
}

// ---- fuzzed field values ---------------------------------------------------------------------------------

const SPACES = [' ', '\t', '\n', '\r\n', '\v', '\f', '\u00a0', '\u1680', '\u2003', '\u200a', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000', '\ufeff'];
const NOT_SPACES = ['\u200b', '\u180e', '\u0085', '\u0000', '\u0001', '\u001f', '\u007f', '\u00ad'];
const ODD = ['😀', '𠜎', 'é', 'e\u0301', '中', '"', '\\', "'", ',', '|', 'Ω', '\ud7ff', '\ue000', '\uffff'];

function randomText(g: Rng, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) {
    const r = g.next();
    s += r < 0.7 ? String.fromCharCode(g.int(0x30, 0x7a)) : r < 0.85 ? g.pick(ODD) : r < 0.95 ? g.pick(SPACES) : g.pick(NOT_SPACES);
  }
  return s;
}

/** A value for the field: valid, at the edges of its facets, or wrong, with or without white space around. */
function fuzzValue(g: Rng, f: FieldSpec): string | null {
  const r = g.next();
  if (r < 0.06) return null;
  if (r < 0.09) return '';
  if (r < 0.11) return g.pick(SPACES) + g.pick(SPACES);
  let v: string;
  const len = f.length ?? g.int(Math.max(1, f.minLength ?? 1), f.maxLength ?? 20);
  switch (f.type) {
    case 'decimal':
      v = g.pick([
        '0', '1.5', '-1.5', '+2.25', '.5', '-.5', '5.', '.', '-', '+', '1e5', '1,5', '١٢', '0.12345', '0.123456', '0.1234500',
        '12345678901234.5', '1234567890123.12345', '99999999999999.99999', '-99999999999999', '00000000000000000000001', '0.00000000000000000001',
        '12345678901234567890', '1.2.3', '--1', '0x10', String(g.int(0, 1e6) / 100), String(-g.int(0, 1e9)), `${g.int(0, 99)}.${g.int(0, 99999)}`,
      ]);
      break;
    case 'integer':
      v = g.pick(['1', '+1', '-0', '007', '0000000001', '123456789', '1234567890', '12345', '123456', 'x', '1.0', '', '²', String(g.int(0, 99999))]);
      break;
    case 'timestamp':
      v = g.pick([
        '20250612123456', '20240229000000', '20230229000000', '19000229000000', '20000229000000', '00000101000000', '99991231235959', '00040229120000',
        '20250612240000', '20250612126000', '20250612123460', '2025061212345', '202506121234567', '２０２５０６１２１２３４５６', '20251301000000',
        '20250431000000', '20250100000000', '20251231235959', '2025-06-12 12:3', `2025${String(g.int(1, 12)).padStart(2, '0')}${String(g.int(0, 31)).padStart(2, '0')}${String(g.int(0, 24)).padStart(2, '0')}0000`,
      ]);
      break;
    case 'date':
      v = g.pick(['20250612', '20240229', '20230229', '00000101', '99991231', '20251301', '20250431', '2025061', '202506120', '2025-06-', '１２３４５６７８']);
      break;
    case 'string':
      if ((f.allowed || f.fixed) && g.chance(0.6)) v = g.pick([...(f.allowed ?? []), ...(f.fixed ? [f.fixed] : []), 'e', '0', '4', '9999', 'E ', 'A']);
      else if (g.chance(0.15)) v = randomText(g, g.pick([len - 1, len + 1, 39, 40, 41, 45]));
      else if (g.chance(0.1)) v = 'a'.repeat(g.pick([38, 39])) + '😀' + randomText(g, 5); // the 40th UTF-16 unit: a cut surrogate pair
      else v = randomText(g, Math.max(0, len));
      break;
  }
  if (g.chance(0.15)) v = g.pick(SPACES) + v;
  if (g.chance(0.15)) v = v + g.pick(SPACES);
  return v;
}

/** Rows of three kinds: all fields clean, a few fuzzed, many fuzzed. */
function fuzzRows(g: Rng, spec: RecordSpec, n: number): (string | null)[][] {
  const cols = tabularColumns(spec);
  const rows: (string | null)[][] = [];
  for (let i = 0; i < n; i++) {
    const fuzz = g.pick([0, 0.04, 0.3]);
    rows.push(
      cols.map((c) => {
        const f = spec.fields.find((x) => x.name === c);
        if (f) return g.chance(fuzz) ? fuzzValue(g, f) : cleanValue(g, f);
        // head link columns: keys and headGuid
        return g.chance(0.8) ? `K${g.int(1, 40)}` : g.pick([null, '', ' K1 ', '\u3000K2', 'K3\t', '   ']);
      }),
    );
  }
  return rows;
}

/** A valid value (most fields of most rows are), so that rows mix good and bad fields. */
function cleanValue(g: Rng, f: FieldSpec): string | null {
  if (!f.required && g.chance(0.2)) return null;
  switch (f.type) {
    case 'decimal':
      return `${g.int(0, 9999)}.${String(g.int(0, 99)).padStart(2, '0')}`;
    case 'integer':
      return String(g.int(1, 9));
    case 'timestamp':
      return `2025${String(g.int(1, 12)).padStart(2, '0')}${String(g.int(1, 28)).padStart(2, '0')}${String(g.int(0, 23)).padStart(2, '0')}${String(g.int(0, 59)).padStart(2, '0')}00`;
    case 'date':
      return `2025${String(g.int(1, 12)).padStart(2, '0')}${String(g.int(1, 28)).padStart(2, '0')}`;
    case 'string': {
      if (f.fixed) return f.fixed;
      if (f.allowed) return g.pick(f.allowed);
      const n = f.length ?? g.int(f.minLength ?? 1, Math.min(f.maxLength ?? 10, 12));
      let s = '';
      for (let i = 0; i < n; i++) s += g.chance(0.1) ? '中' : String.fromCharCode(g.int(0x41, 0x5a));
      return s;
    }
  }
}

// ---- the tests ----------------------------------------------------------------------------------------------

describe('tabular SQL ingest stages exactly what the reference path stages', () => {
  for (const format of ['csv', 'parquet'] as const) {
    test(`a generated ${format} day (all files by SQL)`, async () => {
      const out = join(tmp, `gen-${format}`);
      await generateDays({ out, date: '2025-06-12', days: 1, lists: 800, seed: 'tabular-sql', format, anomalyRate: 0.1 });
      const { db, ref, sql, routes } = await bothPaths(join(out, '2025-06-12'));
      try {
        await assertSame(db, ref, sql);
        assert.ok(Object.keys(routes).length >= 6 && Object.values(routes).every((r) => r === 'sql'), show(routes));
        assert.ok((await count(db, `SELECT count(*) AS n FROM stg_quarantine WHERE code LIKE 'FIELD_%'`)) > 0);
      } finally {
        db.close();
      }
    });
  }

  test('fuzzed values in every field of every record type, CSV and Parquet', async () => {
    const dir = join(tmp, 'fuzz');
    mkdirSync(dir, { recursive: true });
    const g = new Rng('tabular-sql fuzz');
    const w = await openDatabase(':memory:', { threads: 1 });
    try {
      for (const spec of RECORD_SPECS) {
        writeCsv(join(dir, `${spec.table}.csv`), tabularColumns(spec), fuzzRows(g, spec, 240), { crlf: g.chance(0.5), bom: g.chance(0.5) });
        await writeParquet(w, join(dir, `${spec.table}.parquet`), tabularColumns(spec), fuzzRows(g, spec, 240));
      }
    } finally {
      w.close();
    }
    const { db, ref, sql, routes } = await bothPaths(dir);
    try {
      await assertSame(db, ref, sql);
      assert.deepEqual(Object.entries(routes).filter(([, r]) => r !== 'sql'), [], 'every fuzz file by SQL');
      const codes = await db.all(`SELECT code, count(*)::INTEGER AS n FROM stg_quarantine GROUP BY code ORDER BY code`);
      assert.deepEqual(
        codes.map((c) => c.code),
        ['FIELD_FORMAT', 'FIELD_LENGTH', 'FIELD_REQUIRED', 'FIELD_VALUE'],
      );
      assert.ok((await count(db, `SELECT count(*) AS n FROM stg_quarantine WHERE detail LIKE '%…"%'`)) > 0, 'some quoted values are cut');
      assert.ok((await count(db, `SELECT count(*) AS n FROM stg_quarantine WHERE detail LIKE '%\\ud83d…%'`)) > 0, 'a cut surrogate pair');
      assert.ok((await count(db, `SELECT count(*) AS n FROM stg_lists WHERE record_valid`)) > 0, 'some rows are valid');
    } finally {
      db.close();
    }
  });

  test('hostile CSV files: BOM, CRLF, quotes and newlines, NUL, extra and missing columns, header only, empty, ragged, a 2 MB field', async () => {
    const dir = join(tmp, 'hostile-csv');
    mkdirSync(dir, { recursive: true });
    const g = new Rng('hostile csv');
    const order = tabularColumns(recordSpec('order'));
    // extra columns, a missing optional one (note), BOM and CRLF, quoted values with newlines and quotes
    const orderRows = fuzzRows(g, recordSpec('order'), 50).map((r, i) => [...r.slice(0, -1), `extra ${i}`, i % 2 ? 'a\r\nb "c"' : null]);
    writeCsv(join(dir, 'orders.csv'), [...order.slice(0, -1), 'surplus', 'other'], orderRows, { bom: true, crlf: true });
    // NUL and other control characters inside values
    const lineCols = tabularColumns(recordSpec('order_line'));
    const lines = fuzzRows(g, recordSpec('order_line'), 60).map((r, i) => r.map((v, k) => (k === 6 && i % 3 === 0 ? `A\u0000B${v ?? ''}` : v)));
    writeCsv(join(dir, 'order_lines.csv'), lineCols, lines);
    writeFileSync(join(dir, 'receipts.csv'), tabularColumns(recordSpec('receipt')).join(',') + '\n'); // header only
    writeFileSync(join(dir, 'waybills.csv'), ''); // empty
    const list = tabularColumns(recordSpec('list')).filter((c) => c !== 'copNo'); // a required column missing
    writeCsv(join(dir, 'lists.csv'), list, fuzzRows(g, recordSpec('list'), 5).map((r) => r.slice(0, list.length)));
    const ll = tabularColumns(recordSpec('list_line'));
    const big = fuzzRows(g, recordSpec('list_line'), 10);
    (big[3] as (string | null)[])[ll.indexOf('gname')] = 'x'.repeat(2 * 1024 * 1024); // beyond DuckDB's CSV line limit
    writeCsv(join(dir, 'list_lines.csv'), ll, big);
    const rc = tabularColumns(recordSpec('return'));
    writeFileSync(join(dir, 'returns.csv'), `${rc.join(',')}\n${rc.map(() => 'x').join(',')}\n${rc.map(() => 'y').join(',')},surplus,cells\n`); // ragged
    const rl = tabularColumns(recordSpec('return_line'));
    writeCsv(join(dir, 'return_lines.csv'), [...rl, 'gnum'], fuzzRows(g, recordSpec('return_line'), 30).map((r) => [...r, 'dup'])); // a duplicate header
    writeCsv(join(dir, 'cancels.csv'), tabularColumns(recordSpec('cancel')), fuzzRows(g, recordSpec('cancel'), 40), { crlf: true });
    const { db, ref, sql, routes } = await bothPaths(dir);
    try {
      await assertSame(db, ref, sql);
      const files = await db.all(`SELECT file, status, detail FROM stg_files ORDER BY file`);
      const status = Object.fromEntries(files.map((f) => [f.file, f.status]));
      assert.equal(status['receipts.csv'], 'malformed');
      assert.equal(status['waybills.csv'], 'malformed');
      assert.equal(status['lists.csv'], 'malformed');
      assert.equal(status['orders.csv'], 'ok');
      assert.match(String(files.find((f) => f.file === 'orders.csv')?.detail), /columns ignored: surplus, other/);
      assert.equal(routes['orders.csv'], 'sql');
      assert.equal(routes['order_lines.csv'], 'sql');
      assert.equal(routes['receipts.csv'], 'sql');
    } finally {
      db.close();
    }
  });

  test('hostile Parquet files: typed columns, no rows, unreadable, 2 MB fields, a decimal DECIMAL(19,5) cannot hold, a corrupt page', async () => {
    const dir = join(tmp, 'hostile-parquet');
    mkdirSync(dir, { recursive: true });
    const g = new Rng('hostile parquet');
    const w = await openDatabase(':memory:', { threads: 1 });
    try {
      const q = (p: string) => `'${join(dir, p)}'`;
      // typed columns: TIMESTAMP, DOUBLE, DECIMAL, INTEGER, BOOLEAN, DATE, BLOB, TIMESTAMPTZ, LIST
      await writeParquet(w, join(dir, 'src.parquet'), tabularColumns(recordSpec('order')), fuzzRows(g, recordSpec('order'), 80));
      await w.run(
        `COPY (SELECT * REPLACE (TIMESTAMP '2025-06-12 10:11:12' + INTERVAL (i) SECOND AS appTime, (i / 7.0)::DOUBLE AS goodsValue, (i * 1.125)::DECIMAL(18,3) AS freight,
           (i % 4)::INTEGER AS appType, (i % 2 = 0) AS note, (TIMESTAMPTZ '2025-06-12 10:00:00+08' + INTERVAL (i) HOUR) AS ebpName, [i, i + 1] AS ebcName)
         FROM (SELECT *, row_number() OVER () AS i FROM read_parquet(${q('src.parquet')}))) TO ${q('orders.parquet')} (FORMAT parquet)`,
      );
      const ol = tabularColumns(recordSpec('order_line'));
      await writeParquet(w, join(dir, 'ol.parquet'), ol, fuzzRows(g, recordSpec('order_line'), 60));
      await w.run(
        `COPY (SELECT * REPLACE (CAST(row_number() OVER () AS BIGINT) AS gnum, CASE WHEN row_number() OVER () % 5 = 0 THEN 1e300 ELSE 0.1 + row_number() OVER () END AS qty,
           DATE '2025-06-12' AS unit, encode('bl' || chr(0) || 'ob')::BLOB AS itemNo) FROM read_parquet(${q('ol.parquet')})) TO ${q('order_lines.parquet')} (FORMAT parquet)`,
      );
      // no rows
      await writeParquet(w, join(dir, 'receipts.parquet'), tabularColumns(recordSpec('receipt')), []);
      // not Parquet at all
      writeFileSync(join(dir, 'waybills.parquet'), Buffer.from('PAR1 this is not parquet PAR1'));
      // 2 MB values: a guid (quoted, cut) and a note (counted)
      const lists = fuzzRows(g, recordSpec('list'), 20);
      const lc = tabularColumns(recordSpec('list'));
      (lists[2] as (string | null)[])[lc.indexOf('guid')] = '😀'.repeat(1024 * 1024);
      (lists[5] as (string | null)[])[lc.indexOf('note')] = 'n'.repeat(2 * 1024 * 1024);
      await writeParquet(w, join(dir, 'lists.parquet'), lc, lists);
      // a decimal with 15 integer digits: valid by the spec, beyond DECIMAL(19,5) (handed to the reference path: a FIELD_FORMAT finding)
      const ll = tabularColumns(recordSpec('list_line'));
      const llRows = fuzzRows(g, recordSpec('list_line'), 30).map((r) => r.map((v, k) => (ll[k] === 'qty' ? '5' : v)));
      (llRows[7] as (string | null)[])[ll.indexOf('qty')] = '123456789012345';
      await writeParquet(w, join(dir, 'list_lines.parquet'), ll, llRows);
      // a column the SQL path's row numbering would collide with
      const cc = tabularColumns(recordSpec('cancel'));
      await writeParquet(w, join(dir, 'cancels.parquet'), [...cc, 'file_row_number'], fuzzRows(g, recordSpec('cancel'), 20).map((r) => [...r, '7']));
      await writeParquet(w, join(dir, 'returns.parquet'), tabularColumns(recordSpec('return')), fuzzRows(g, recordSpec('return'), 200));
      // a corrupt data page in the middle of the file (footer intact)
      const rl = tabularColumns(recordSpec('return_line'));
      await writeParquet(w, join(dir, 'rl.parquet'), rl, fuzzRows(g, recordSpec('return_line'), 2000));
      await w.run(`COPY (SELECT * FROM read_parquet(${q('rl.parquet')})) TO ${q('rl2.parquet')} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 500)`);
      const bytes = readFileSync(join(dir, 'rl2.parquet'));
      for (let i = Math.floor(bytes.length * 0.4); i < Math.floor(bytes.length * 0.45); i++) bytes[i] = (bytes[i] as number) ^ 0x5a;
      writeFileSync(join(dir, 'return_lines.parquet'), bytes);
    } finally {
      w.close();
    }
    for (const f of ['src.parquet', 'ol.parquet', 'rl.parquet', 'rl2.parquet']) rmSync(join(dir, f));
    const { db, ref, sql, routes } = await bothPaths(dir);
    try {
      await assertSame(db, ref, sql);
      const status = Object.fromEntries((await db.all(`SELECT file, status FROM stg_files`)).map((f) => [f.file, f.status]));
      assert.equal(status['orders.parquet'], 'ok');
      assert.equal(status['receipts.parquet'], 'malformed');
      assert.equal(status['waybills.parquet'], 'malformed');
      // the decimal DECIMAL(19,5) cannot hold is a finding on its record; the file's other rows are staged
      assert.equal(status['list_lines.parquet'], 'ok');
      const big = await db.all(`SELECT record_index, field, code FROM stg_quarantine WHERE file = 'list_lines.parquet' AND detail LIKE '%more than 14 digits before the point%'`);
      assert.deepEqual(big.map((r) => [Number(r.record_index), r.field, r.code]), [[8, 'qty', 'FIELD_FORMAT']]); // llRows[7]: record_index counts rows from 1
      assert.equal(routes['orders.parquet'], 'sql');
      assert.equal(routes['order_lines.parquet'], 'sql');
      assert.equal(routes['lists.parquet'], 'sql');
      assert.equal(routes['list_lines.parquet'], 'reference'); // handed back: the decimal
      assert.equal(routes['waybills.parquet'], 'reference'); // handed back: DESCRIBE failed
      assert.equal(routes['cancels.parquet'], 'reference'); // handed back: the probe failed to bind
      assert.equal(routes['return_lines.parquet'], 'reference'); // the insert failed: the day again
    } finally {
      db.close();
    }
  });

  test('a statement that fails inside the transaction: the day again, that file by the reference path', async () => {
    const dir = join(tmp, 'retry');
    mkdirSync(dir, { recursive: true });
    const g = new Rng('retry');
    for (const type of ['order', 'list'] as const) writeCsv(join(dir, `${recordSpec(type).table}.csv`), tabularColumns(recordSpec(type)), fuzzRows(g, recordSpec(type), 30));
    const refDb = await openDatabase(':memory:', { threads: 2 });
    const expected = await ingestDay(dir, refDb, { threads: 2, tabular: 'reference' });
    refDb.close();
    const db = await openDatabase(':memory:', { threads: 2 });
    // the lists insert fails in DuckDB itself, which aborts the whole transaction
    const run = db.run.bind(db);
    let injected = 0;
    db.run = async (sql: string) => run(sql.startsWith('INSERT INTO stg_lists SELECT') && injected++ === 0 ? `SELECT error('injected failure')` : sql);
    const warnings: string[] = [];
    const routes: Routes = {};
    const log = { ...routeLog(routes), warn: (_o: unknown, msg: string) => warnings.push(msg) } as unknown as Logger;
    try {
      const r = await ingestDay(dir, db, { threads: 2, log });
      assert.equal(injected, 1);
      assert.match(warnings.join('\n'), /ingesting the day again with this file by the reference path/);
      assert.deepEqual(routes, { 'lists.csv': 'reference', 'orders.csv': 'sql' });
      assert.deepEqual(r.ledger, expected.ledger);
      assert.equal(r.quarantineRows, expected.quarantineRows);
      assert.equal(await count(db, `SELECT count(*) AS n FROM stg_lists`), 30);
      assert.equal(await count(db, `SELECT count(*) AS n FROM stg_orders`), 30);
    } finally {
      db.close();
    }
  });

  test('the generated statements bind for every record type with only its required columns', async () => {
    const db = await openDatabase(':memory:', { threads: 1 });
    try {
      await db.run(`CREATE TABLE stg_quarantine (file VARCHAR, message_guid VARCHAR, record_index INTEGER, record_type VARCHAR, business_key VARCHAR, field VARCHAR, code VARCHAR, detail VARCHAR)`);
      for (const spec of RECORD_SPECS) {
        await db.run(stagingDDL(spec));
        const path = join(tmp, `bind-${spec.table}.csv`);
        writeCsv(path, tabularColumns(spec), [tabularColumns(spec).map(() => 'x')]);
        const keep = (c: string) => spec.fields.some((f) => f.name === c && f.required) || !spec.fields.some((f) => f.name === c);
        const present = new Map(tabularColumns(spec).filter(keep).map((c) => [c, 'VARCHAR']));
        const st = tabularSqlStatements(spec, present, path, 'csv', 'x.csv');
        await db.run(st.staging);
        await db.run(st.quarantine);
        assert.equal(await count(db, `SELECT count(*) AS n FROM ${stagingTable(spec)} WHERE NOT record_valid`), 1, spec.name);
      }
    } finally {
      db.close();
    }
  });
});
