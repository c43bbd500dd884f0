/**
 * exportDay: the day's rows of the published tables as hive-partitioned Parquet (and CSV), read back
 * with read_parquet(hive_partitioning) exactly as they are in the database.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openDatabase, type Db } from '../src/db/duck.js';
import { DECISION_REASONS_DDL, DECISIONS_DDL, INSPECTION_QUEUE_DDL, LEDGER_DDL, RETURN_DECISIONS_DDL } from '../src/match/run.js';
import { exportDay } from '../src/publish/export.js';
import { lit } from '../src/spec/schema.js';
import { QUARANTINE_DDL } from '../src/publish/publish.js';


const D1 = '2025-06-12';
const D2 = '2025-06-13';

const tmp = mkdtempSync(join(tmpdir(), 'declmatch-export-'));
/** The export root has a quote (and a space) in its name: every path in SQL must be quoted right. */
const out = join(tmp, `it's "out" dir`);
let db: Db;

async function fill(db: Db): Promise<void> {
  for (const ddl of [DECISIONS_DDL, DECISION_REASONS_DDL, RETURN_DECISIONS_DDL, LEDGER_DDL, INSPECTION_QUEUE_DDL, QUARANTINE_DDL]) await db.run(ddl);
  await db.run(`INSERT INTO decisions VALUES
    ('${D1}', 'r1', 'A1', 'C1', '2201202500000000001', '9610', '2201', 'P1', 'E1', 'O1', 'L1', 'W1', 'RELEASE', 800, 'green', [], 1234567890123456789012345.1234567890123, 'gacc-2024-167', 'E1|O1', 'L1|W1'),
    ('${D1}', 'r1', 'A1', 'C2', NULL, '9710', '2201', 'P1', 'E1', 'O2', 'L1', 'W2', 'REJECT', 100, NULL, ['ORDER_MISSING', 'WAYBILL_MISSING'], -0.0000000000001, 'gacc-2024-167', NULL, NULL),
    ('${D1}', 'r1', 'A2', 'C3', NULL, '9610', '2201', 'P1', 'E1', 'O3', 'L1', 'W3', 'PENDING', 2, NULL, ['数量不符', 'x,y "q"'], NULL, NULL, NULL, NULL),
    ('${D2}', 'r2', 'A1', 'C4', NULL, '9610', '2201', 'P1', 'E1', 'O4', 'L1', 'W4', 'RELEASE', 800, 'green', [], 5.5, 'gacc-2024-167', NULL, NULL)`);
  await db.run(`INSERT INTO decision_reasons VALUES
    ('${D1}', 'A1', 'C2', 'ORDER_MISSING', 'P', NULL), ('${D1}', 'A1', 'C2', 'WAYBILL_MISSING', 'P', 'logisticsNo=W2, 中文'),
    ('${D2}', 'A1', 'C4', 'VALUE_BAND', 'V', 'x')`);
  await db.run(`INSERT INTO return_decisions VALUES ('${D1}', 'r1', 'A1', 'R1', '2201202500000000001', 'ACCEPT', 800, ['X'], 'p'), ('${D2}', 'r2', 'A1', 'R2', NULL, 'REJECT', 100, [], NULL)`);
  await db.run(`INSERT INTO ledger VALUES ('r1', '${D1}', 'list', 'decided', 3), ('r1', '${D1}', 'order', 'used', 2), ('r2', '${D2}', 'list', 'decided', 1)`);
  await db.run(`INSERT INTO quarantine VALUES ('${D1}', 'r1', 'CEB603_1.xml', 'G1', 0, 'list', 'A9|C9', 'copNo', 'FIELD_LENGTH', 'it''s <too> long')`);
  // inspection_queue: rows only on D2, so D1's file is empty
  await db.run(`INSERT INTO inspection_queue VALUES ('${D2}', '2201', 'S1', 1, 'A1', 'C4', NULL, '9610', false, 1, 0)`);
  await db.run(`CREATE TABLE stats_daily (business_date DATE, metric VARCHAR, n HUGEINT, share DECIMAL(9,4))`);
  await db.run(`INSERT INTO stats_daily VALUES ('${D1}', 'lists', 3, 0.3333), ('${D2}', 'lists', 1, 1)`);
  await db.run(`CREATE TABLE stats_meta (k VARCHAR)`); // no business_date: not exported
}

before(async () => {
  db = await openDatabase(':memory:', { threads: 2 });
  await fill(db);
});
after(() => {
  db.close();
  rmSync(tmp, { recursive: true, force: true });
});

const glob = (table: string) => lit(join(out, table, '*', '*.parquet'));

/** Columns of a table in order, business_date first (as the published tables have it), with their types. */
async function columnsOf(table: string): Promise<{ name: string; type: string }[]> {
  const rows = await db.all(`SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ${lit(table)} ORDER BY ordinal_position`);
  return rows.map((r) => ({ name: `"${String(r.column_name)}"`, type: String(r.data_type) }));
}

/**
 * The table's rows of a day, and the rows read back from the export, in the same column order. The
 * read-back columns are cast to the table's types (a no-op but for the types the export converts,
 * such as HUGEINT written as DECIMAL(38,0)).
 */
async function both(table: string, date: string): Promise<[Record<string, unknown>[], Record<string, unknown>[]]> {
  const cols = await columnsOf(table);
  const src = await db.all(`SELECT ${cols.map((c) => c.name).join(', ')} FROM ${table} WHERE business_date = DATE '${date}' ORDER BY ALL`);
  const back = await db.all(`SELECT ${cols.map((c) => `CAST(${c.name} AS ${c.type}) AS ${c.name}`).join(', ')}
    FROM read_parquet(${glob(table)}, hive_partitioning = true) WHERE business_date = DATE '${date}' ORDER BY ALL`);
  return [src, back];
}

describe('exportDay', () => {
  test('writes one day of every published table and the stats_ tables, read back exactly', async () => {
    const res = await exportDay(db, D1, out);
    assert.deepEqual(
      res.tables.map((t) => [t.table, t.rows]),
      [
        ['decisions', 3],
        ['decision_reasons', 2],
        ['return_decisions', 1],
        ['quarantine', 1],
        ['inspection_queue', 0],
        ['ledger', 2],
        ['stats_daily', 1],
      ],
    );
    assert.deepEqual(res.skipped, []);
    for (const t of res.tables) {
      assert.deepEqual(t.files, [join(out, t.table, `business_date=${D1}`, 'data.parquet')]);
      assert.deepEqual(readdirSync(join(out, t.table)), [`business_date=${D1}`]);
      assert.deepEqual(readdirSync(join(out, t.table, `business_date=${D1}`)), ['data.parquet']);
      const [src, back] = await both(t.table, D1);
      assert.deepEqual(back, src, t.table);
    }
    // decimals, lists and the partition column keep their types
    const types = await db.all(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(${glob('decisions')}, hive_partitioning = true))
      WHERE column_name IN ('business_date', 'reasons', 'value_cny', 'status_code') ORDER BY column_name`);
    assert.deepEqual(
      types.map((r) => [r.column_name, r.column_type]),
      [
        ['business_date', 'DATE'],
        ['reasons', 'VARCHAR[]'],
        ['status_code', 'INTEGER'],
        ['value_cny', 'DECIMAL(38,13)'],
      ],
    );
    const [src] = await both('decisions', D1);
    assert.deepEqual(
      src.map((r) => [r.cop_no, r.value_cny, r.reasons]),
      [
        ['C1', '1234567890123456789012345.1234567890123', []],
        ['C2', '-0.0000000000001', ['ORDER_MISSING', 'WAYBILL_MISSING']],
        ['C3', null, ['数量不符', 'x,y "q"']],
      ],
    );
    // the file holds no business_date (it is the partition column; Spark refuses duplicates), and no HUGEINT as DOUBLE
    const schema = await db.all(`SELECT name, type, logical_type FROM parquet_schema(${lit(join(out, 'stats_daily', `business_date=${D1}`, 'data.parquet'))})`);
    assert.ok(!schema.some((r) => r.name === 'business_date'));
    assert.match(String(schema.find((r) => r.name === 'n')?.logical_type), /Decimal/);
    const stats = await db.all(`SELECT n::VARCHAR AS n FROM read_parquet(${glob('stats_daily')}, hive_partitioning = true)`);
    assert.deepEqual(stats, [{ n: '3' }]);
  });

  test('re-exporting a day replaces its files; other days stay', async () => {
    await exportDay(db, D1, out);
    await exportDay(db, D2, out);
    await db.run(`DELETE FROM decisions WHERE business_date = DATE '${D1}' AND cop_no = 'C3'`);
    const res = await exportDay(db, D1, out);
    assert.equal(res.tables.find((t) => t.table === 'decisions')?.rows, 2);
    assert.deepEqual(readdirSync(join(out, 'decisions')).sort(), [`business_date=${D1}`, `business_date=${D2}`]);
    assert.deepEqual(readdirSync(join(out, 'decisions', `business_date=${D1}`)), ['data.parquet']);
    for (const date of [D1, D2]) {
      const [src, back] = await both('decisions', date);
      assert.deepEqual(back, src);
    }
    const n = await db.all(`SELECT count(*)::INTEGER AS n FROM read_parquet(${glob('decisions')}, hive_partitioning = true)`);
    assert.deepEqual(n, [{ n: 3 }]);
  });

  test('CSV beside the Parquet: lists as ;-joined text; dropped again by an export without CSV', async () => {
    const res = await exportDay(db, D1, out, { csv: true });
    const dec = res.tables.find((t) => t.table === 'decisions');
    const part = join(out, 'decisions', `business_date=${D1}`);
    assert.deepEqual(dec?.files, [join(part, 'data.parquet'), join(part, 'data.csv')]);
    const text = readFileSync(join(part, 'data.csv'), 'utf8');
    const header = text.split('\n')[0] ?? '';
    assert.ok(header.startsWith('run_id,agent_code,cop_no,'), header);
    assert.ok(!header.includes('business_date'));
    const csv = await db.all(`SELECT cop_no, reasons, value_cny FROM read_csv(${lit(join(part, 'data.csv'))}, header = true, all_varchar = true, allow_quoted_nulls = false) ORDER BY cop_no`);
    assert.deepEqual(csv, [
      { cop_no: 'C1', reasons: '', value_cny: '1234567890123456789012345.1234567890123' },
      { cop_no: 'C2', reasons: 'ORDER_MISSING;WAYBILL_MISSING', value_cny: '-0.0000000000001' },
    ]);
    const reasons = await db.all(`SELECT detail FROM read_csv(${lit(join(out, 'decision_reasons', `business_date=${D1}`, 'data.csv'))}, header = true, all_varchar = true) ORDER BY ALL`);
    assert.deepEqual(reasons, [{ detail: 'logisticsNo=W2, 中文' }, { detail: null }]);

    await exportDay(db, D1, out);
    assert.deepEqual(readdirSync(part), ['data.parquet']);
  });

  test('named tables: missing ones and ones without business_date are skipped and reported', async () => {
    const res = await exportDay(db, D2, join(tmp, 'only'), { tables: ['ledger', 'no_such_table', 'stats_meta'] });
    assert.deepEqual(
      res.tables.map((t) => [t.table, t.rows]),
      [['ledger', 1]],
    );
    assert.deepEqual(res.skipped, [
      { table: 'no_such_table', reason: 'missing' },
      { table: 'stats_meta', reason: 'no business_date column' },
    ]);
    assert.ok(!existsSync(join(tmp, 'only', 'no_such_table')));
  });

  test('a date that is not YYYY-MM-DD is refused', async () => {
    await assert.rejects(exportDay(db, "2025-06-12' OR 1=1 --", out), /not a business date/);
    await assert.rejects(exportDay(db, '2025-02-30', out), /not a business date/);
  });
});
