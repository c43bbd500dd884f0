/**
 * Staging batches (src/ingest/batch.ts) and their load into DuckDB (src/db/load.ts, src/db/duck.ts):
 * values go in as typed rows and come back exactly, through Arrow IPC and through DuckDB.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Table } from 'apache-arrow';
import { BatchBuilder, readBatch, type StagingRow } from '../src/ingest/batch.js';
import { appendBatch } from '../src/db/load.js';
import { DbError, dbError, openDatabase, type Db } from '../src/db/duck.js';
import { LIST, LIST_LINE, snakeCase, type FieldSpec, type RecordSpec } from '../src/spec/fields.js';
import { arrowSchema, stagingColumns, stagingDDL, stagingTable, type ColumnType } from '../src/spec/schema.js';
import { formatDecimal, parseDate8, parseTimestamp14, validateRecord, type RawRecord } from '../src/spec/validate.js';

const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

// ---- helpers -----------------------------------------------------------------------------------

/** A valid raw text value for a field (the first allowed value, the fixed one, or a filler). */
function rawValue(f: FieldSpec, i: number): string {
  if (f.fixed !== undefined) return f.fixed;
  if (f.allowed !== undefined) return f.allowed[i % f.allowed.length]!;
  switch (f.type) {
    case 'decimal':
      return `${i}.${String(i % 100).padStart(2, '0')}`;
    case 'integer':
      return String(1 + (i % 9));
    case 'timestamp':
      return `202506${String(1 + (i % 28)).padStart(2, '0')}${String(i % 24).padStart(2, '0')}3015`;
    case 'date':
      return `2025${String(1 + (i % 12)).padStart(2, '0')}15`;
    case 'string': {
      const n = f.length ?? Math.min(f.maxLength ?? 10, 3 + (i % 20));
      return `${f.name}${i}`.padEnd(n, 'x').slice(0, n);
    }
  }
}

function rawRecord(spec: RecordSpec, i: number, overrides: RawRecord = {}): RawRecord {
  const raw: Record<string, string | null | undefined> = {};
  for (const f of spec.fields) raw[f.name] = rawValue(f, i);
  return { ...raw, ...overrides };
}

/** Validated raw record → staging row keyed by column, with provenance (and the head link for lines). */
function stagingRow(spec: RecordSpec, raw: RawRecord, i: number): StagingRow {
  const v = validateRecord(spec, raw);
  const row: StagingRow = { source_file: `file-${i % 3}.xml`, message_guid: `msg-${i}`, record_index: i, record_valid: v.ok };
  if (spec.parent) {
    row.agent_code = `agent${i % 5}`;
    row.cop_no = `cop${i}`;
    row.head_guid = i % 4 === 0 ? null : `guid-of-head-${i}`;
  }
  for (const f of spec.fields) row[snakeCase(f.name)] = v.row[f.name] ?? null;
  return row;
}

function int128(w: Uint32Array, at: number): bigint {
  const u = BigInt(w[at]!) | (BigInt(w[at + 1]!) << 32n) | (BigInt(w[at + 2]!) << 64n) | (BigInt(w[at + 3]!) << 96n);
  return BigInt.asIntN(128, u);
}

/** One cell of a batch as the typed value it was built from (null when not valid). */
function cell(table: Table, column: string, type: ColumnType, row: number): unknown {
  const vector = table.getChild(column);
  assert.ok(vector, `batch has no column ${column}`);
  if (!vector.isValid(row)) return null;
  let i = row;
  const data = vector.data.find((d) => {
    if (i < d.length) return true;
    i -= d.length;
    return false;
  })!;
  const at = data.offset + i;
  switch (type) {
    case 'decimal':
      return int128(data.values as Uint32Array, 4 * at);
    case 'timestamp':
      return Number((data.values as BigInt64Array)[at]);
    case 'date':
      return (data.values as Int32Array)[at];
    default:
      return vector.get(row);
  }
}

function roundTrip(spec: RecordSpec, rows: readonly StagingRow[], capacity?: number): Table {
  const b = new BatchBuilder(spec, capacity);
  for (const r of rows) b.append(r);
  assert.equal(b.length, rows.length);
  const table = readBatch(b.finish());
  assert.equal(b.length, 0, 'finish() resets the builder');
  return table;
}

function assertSameRows(spec: RecordSpec, table: Table, rows: readonly StagingRow[]): void {
  assert.equal(table.numRows, rows.length);
  for (const c of stagingColumns(spec)) {
    for (let r = 0; r < rows.length; r++) {
      assert.deepEqual(cell(table, c.column, c.type, r), rows[r]![c.column] ?? null, `row ${r} column ${c.column}`);
    }
  }
}

/** SQL that renders a staging column as text, and the same text from the typed value. */
function sqlText(c: { column: string; type: ColumnType }): string {
  switch (c.type) {
    case 'string':
      return c.column;
    case 'timestamp':
      return `CAST(epoch_us(${c.column}) AS VARCHAR)`;
    case 'date':
      return `CAST(${c.column} - DATE '1970-01-01' AS VARCHAR)`;
    default:
      return `CAST(${c.column} AS VARCHAR)`;
  }
}
function valueText(type: ColumnType, v: unknown): string | null {
  if (v === null || v === undefined) return null;
  switch (type) {
    case 'decimal':
      return formatDecimal(v as bigint);
    case 'timestamp':
      return String(BigInt(v as number) * 1_000_000n);
    default:
      return String(v);
  }
}

/** Everything staged for a spec, every column as text, in record_index order. */
async function stagedText(db: Db, spec: RecordSpec): Promise<Record<string, unknown>[]> {
  const cols = stagingColumns(spec);
  return db.all(`SELECT ${cols.map((c) => `${sqlText(c)} AS ${c.column}`).join(', ')} FROM ${stagingTable(spec)} AS t ORDER BY t.record_index`);
}
function expectedText(spec: RecordSpec, rows: readonly StagingRow[]): Record<string, unknown>[] {
  const cols = stagingColumns(spec);
  return [...rows]
    .sort((a, b) => (a.record_index as number) - (b.record_index as number))
    .map((r) => Object.fromEntries(cols.map((c) => [c.column, valueText(c.type, r[c.column])])));
}

async function freshDb(): Promise<Db> {
  const db = await openDatabase(':memory:', { threads: 1 });
  for (const spec of [LIST, LIST_LINE]) await db.run(stagingDDL(spec));
  return db;
}

// ---- the batch ---------------------------------------------------------------------------------

describe('BatchBuilder', () => {
  test('a batch has exactly the Arrow schema of the spec', () => {
    for (const spec of [LIST, LIST_LINE]) {
      const table = roundTrip(spec, [stagingRow(spec, rawRecord(spec, 1), 1)]);
      const shape = (s: typeof table.schema) => s.fields.map((f) => [f.name, String(f.type), f.nullable]);
      assert.deepEqual(shape(table.schema), shape(arrowSchema(spec)));
    }
  });

  test('every column type round-trips, nulls included', () => {
    const rows = Array.from({ length: 40 }, (_, i) => {
      const row = stagingRow(LIST, rawRecord(LIST, i), i);
      // null a different column in each row, including one of each type
      const cols = stagingColumns(LIST).filter((c) => c.nullable);
      row[cols[i % cols.length]!.column] = null;
      return row;
    });
    const types = new Set(stagingColumns(LIST).map((c) => c.type));
    assert.deepEqual([...types].sort(), ['boolean', 'date', 'decimal', 'integer', 'string', 'timestamp']);
    assertSameRows(LIST, roundTrip(LIST, rows), rows);
  });

  test('truncate drops the last rows whole: what follows is as if they had never been appended', () => {
    const mk = (i: number) => {
      const row = stagingRow(LIST, rawRecord(LIST, i), i);
      const cols = stagingColumns(LIST).filter((c) => c.nullable);
      row[cols[i % cols.length]!.column] = null; // nulls (and booleans) in the dropped rows too
      if (i % 2) row.record_valid = false;
      return row;
    };
    const kept = Array.from({ length: 13 }, (_, i) => mk(i));
    const dropped = Array.from({ length: 11 }, (_, i) => mk(100 + i));
    const after = Array.from({ length: 6 }, (_, i) => mk(200 + i));
    const b = new BatchBuilder(LIST, 4); // grows while the dropped rows come in
    for (const r of [...kept, ...dropped]) b.append(r);
    b.truncate(kept.length);
    assert.equal(b.length, kept.length);
    for (const r of after) b.append(r);
    const got = readBatch(b.finish());
    assertSameRows(LIST, got, [...kept, ...after]);
    const want = roundTrip(LIST, [...kept, ...after]);
    for (const c of stagingColumns(LIST)) assert.equal(got.getChild(c.column)?.nullCount, want.getChild(c.column)?.nullCount, `${c.column} null count`);
    assert.throws(() => b.truncate(1), RangeError, 'not beyond the rows there are');
  });

  test('a missing key is NULL', () => {
    const table = roundTrip(LIST_LINE, [{ source_file: 'a.xml', record_index: 0, record_valid: true }]);
    assert.equal(cell(table, 'qty', 'decimal', 0), null);
    assert.equal(cell(table, 'gnum', 'integer', 0), null);
    assert.equal(cell(table, 'item_no', 'string', 0), null);
  });

  test('decimals keep every digit: negatives, zero and the 19-digit extremes', () => {
    const values = [
      0n,
      -1n,
      1n,
      -12_345n,
      2n ** 32n - 1n,
      2n ** 32n,
      -(2n ** 32n),
      2n ** 53n - 1n,
      2n ** 53n,
      -(2n ** 53n) - 1n,
      2n ** 63n,
      -(2n ** 62n),
      9_999_999_999_999_999_999n, // 99999999999999.99999
      -9_999_999_999_999_999_999n,
    ];
    const rows = values.map((v, i) => ({ source_file: 'd.xml', record_index: i, record_valid: true, qty: v, price: -v }));
    const table = roundTrip(LIST_LINE, rows);
    values.forEach((v, i) => {
      assert.equal(cell(table, 'qty', 'decimal', i), v);
      assert.equal(cell(table, 'price', 'decimal', i), -v);
    });
  });

  test('a decimal beyond 19 digits is refused', () => {
    const b = new BatchBuilder(LIST_LINE);
    assert.throws(() => b.append({ source_file: 'd.xml', record_index: 0, record_valid: true, qty: 10n ** 19n }), RangeError);
  });

  test('an empty string stays an empty string, distinct from NULL', () => {
    const rows = [
      { source_file: '', record_index: 0, record_valid: true, note: '' },
      { source_file: 'x', record_index: 1, record_valid: true, note: null },
      { source_file: 'y', record_index: 2, record_valid: true, note: '' },
    ];
    const table = roundTrip(LIST, rows);
    assert.deepEqual([0, 1, 2].map((r) => cell(table, 'note', 'string', r)), ['', null, '']);
    assert.equal(cell(table, 'source_file', 'string', 0), '');
  });

  test('multi-byte UTF-8 and astral characters round-trip', () => {
    const texts = ['深圳市跨境电子商务有限公司', 'naïve café', '😀 emoji 𠀋 astral', 'a', 'ü', '€€€€€', 'x'.repeat(1000) + '漢'];
    const rows = texts.map((t, i) => ({ source_file: t, record_index: i, record_valid: true, ebp_name: t, note: i % 2 ? t : null }));
    assertSameRows(LIST, roundTrip(LIST, rows), rows);
  });

  test('0 rows make a valid batch with the schema', () => {
    const b = new BatchBuilder(LIST);
    const table = readBatch(b.finish());
    assert.equal(table.numRows, 0);
    assert.deepEqual(
      table.schema.fields.map((f) => f.name),
      stagingColumns(LIST).map((c) => c.column),
    );
  });

  test('the builder grows past its initial capacity', () => {
    const rows = Array.from({ length: 1000 }, (_, i) => stagingRow(LIST_LINE, rawRecord(LIST_LINE, i, { gname: '货物'.repeat(i % 50) }), i));
    assertSameRows(LIST_LINE, roundTrip(LIST_LINE, rows, 3), rows);
  });

  test('a builder is reusable after finish(), and batches do not share state', () => {
    const b = new BatchBuilder(LIST_LINE, 4);
    const first = Array.from({ length: 10 }, (_, i) => stagingRow(LIST_LINE, rawRecord(LIST_LINE, i), i));
    const second = Array.from({ length: 3 }, (_, i) => ({ source_file: 's', record_index: i, record_valid: false }));
    for (const r of first) b.append(r);
    const ipc1 = b.finish();
    for (const r of second) b.append(r);
    const ipc2 = b.finish();
    assertSameRows(LIST_LINE, readBatch(ipc1), first);
    assertSameRows(LIST_LINE, readBatch(ipc2), second);
  });

  test('finish() returns bytes that own their buffer (transferable)', () => {
    const b = new BatchBuilder(LIST);
    b.append(stagingRow(LIST, rawRecord(LIST, 0), 0));
    const ipc = b.finish();
    assert.equal(ipc.byteOffset, 0);
    assert.equal(ipc.byteLength, ipc.buffer.byteLength);
    const { port1, port2 } = new MessageChannel();
    port1.postMessage(ipc, [ipc.buffer as ArrayBuffer]);
    port1.close();
    port2.close();
    assert.equal(ipc.byteLength, 0, 'transferred');
  });

  test('timestamps and dates far from 1970 round-trip', () => {
    const times = ['00010101000000', '19691231235959', '19700101000000', '99991231235959'];
    const dates = ['00010101', '19691231', '99991231'];
    const rows = times.map((t, i) => ({ source_file: 't', record_index: i, record_valid: true, app_time: parseTimestamp14(t), ie_date: parseDate8(dates[i % dates.length]!) }));
    assertSameRows(LIST, roundTrip(LIST, rows), rows);
  });

  test('a value of the wrong type is refused with the column named', () => {
    const b = new BatchBuilder(LIST_LINE);
    assert.throws(() => b.append({ source_file: 'a', record_index: 0, record_valid: true, qty: 1.5 }), /qty/);
    assert.throws(() => b.append({ source_file: 'a', record_index: 0, record_valid: true, gnum: 1.5 }), /gnum/);
    assert.throws(() => b.append({ source_file: 7, record_index: 0, record_valid: true }), /source_file/);
  });
});

// ---- into DuckDB -------------------------------------------------------------------------------

describe('appendBatch', () => {
  let db: Db;
  before(async () => {
    db = await freshDb();
  });
  after(() => db.close());

  test('list and list_line rows come back from DuckDB exactly', async () => {
    await db.run(`DELETE FROM ${stagingTable(LIST)}; DELETE FROM ${stagingTable(LIST_LINE)}`);
    const heads = Array.from({ length: 50 }, (_, i) =>
      stagingRow(
        LIST,
        rawRecord(LIST, i, {
          ebpName: i % 3 === 0 ? '深圳市跨境电子商务有限公司😀' : `e${i}`,
          freight: i % 2 ? `-${i}.00001` : '99999999999999.99999',
          note: i % 5 === 0 ? '' : i % 5 === 1 ? null : `备注 ${i}`,
        }),
        i,
      ),
    );
    const lines = Array.from({ length: 120 }, (_, i) => stagingRow(LIST_LINE, rawRecord(LIST_LINE, i, { qty2: i % 2 ? null : '0.5', price: `-${i}.12345` }), i));
    for (const [spec, rows] of [
      [LIST, heads],
      [LIST_LINE, lines],
    ] as const) {
      const b = new BatchBuilder(spec);
      for (const r of rows) b.append(r);
      assert.equal(await appendBatch(db, spec, b.finish()), rows.length);
      assert.deepEqual(await stagedText(db, spec), expectedText(spec, rows));
    }
  });

  test('timestamps read back with strftime and dates with CAST as the text they came from', async () => {
    await db.run(`DELETE FROM ${stagingTable(LIST)}`);
    const raws = Array.from({ length: 30 }, (_, i) => rawRecord(LIST, i));
    const b = new BatchBuilder(LIST);
    raws.forEach((raw, i) => b.append(stagingRow(LIST, raw, i)));
    await appendBatch(db, LIST, b.finish());
    const got = await db.all(`SELECT strftime(app_time, '%Y%m%d%H%M%S') AS t, CAST(ie_date AS VARCHAR) AS d FROM ${stagingTable(LIST)} ORDER BY record_index`);
    assert.deepEqual(
      got,
      raws.map((r) => ({ t: r.appTime, d: `${r.ieDate!.slice(0, 4)}-${r.ieDate!.slice(4, 6)}-${r.ieDate!.slice(6, 8)}` })),
    );
  });

  test('record_valid false rows are staged with their bad fields NULL', async () => {
    await db.run(`DELETE FROM ${stagingTable(LIST_LINE)}`);
    const rows = [0, 1, 2].map((i) => stagingRow(LIST_LINE, rawRecord(LIST_LINE, i, i === 1 ? { qty: 'abc', gcode: '' } : {}), i));
    assert.equal(rows[1]!.record_valid, false);
    const b = new BatchBuilder(LIST_LINE);
    for (const r of rows) b.append(r);
    await appendBatch(db, LIST_LINE, b.finish());
    const got = await db.all(`SELECT record_valid, CAST(qty AS VARCHAR) AS qty, gcode FROM ${stagingTable(LIST_LINE)} ORDER BY record_index`);
    assert.deepEqual(
      got.map((r) => [r.record_valid, r.qty === null, r.gcode === null]),
      [
        [true, false, false],
        [false, true, true],
        [true, false, false],
      ],
    );
  });

  test('large batches span several DuckDB chunks; string lengths around the 12-byte inline limit and nulls survive', async () => {
    await db.run(`DELETE FROM ${stagingTable(LIST_LINE)}`);
    const texts = ['', 'a', '123456789012', '1234567890123', '漢字漢字', '漢字漢字x', '漢字漢字漢', '😀😀😀', '😀😀😀😀', 'y'.repeat(250)];
    const rows = Array.from({ length: 5000 }, (_, i) => {
      const row = stagingRow(LIST_LINE, rawRecord(LIST_LINE, i), i);
      row.gname = texts[i % texts.length]!;
      // nulls only in the first chunk's rows for this column, none later
      row.gmodel = i < 2048 && i % 3 === 0 ? null : `m${i}`;
      // nulls only after the first chunk
      row.qty2 = i >= 4096 && i % 7 === 0 ? null : BigInt(i) * 100_001n;
      row.gnum = i % 11 === 0 ? null : i;
      return row;
    });
    const b = new BatchBuilder(LIST_LINE);
    for (const r of rows) b.append(r);
    assert.equal(await appendBatch(db, LIST_LINE, b.finish()), rows.length);
    assert.deepEqual(await stagedText(db, LIST_LINE), expectedText(LIST_LINE, rows));
    const eq = await db.all(`SELECT count(*) AS n FROM ${stagingTable(LIST_LINE)} WHERE gname = '1234567890123' AND gname LIKE '1234%'`);
    assert.equal(eq[0]!.n, 500n, 'long strings compare equal to literals (prefix and pointer are right)');
  });

  test('timestamps and dates far from 1970 survive DuckDB', async () => {
    await db.run(`DELETE FROM ${stagingTable(LIST)}`);
    const times = ['00010101000000', '19691231235959', '19700101000000', '21000301120000', '99991231235959'];
    const rows = times.map((t, i) => ({ source_file: 't', record_index: i, record_valid: true, app_time: parseTimestamp14(t), ie_date: parseDate8(t.slice(0, 8)) }));
    const b = new BatchBuilder(LIST);
    for (const r of rows) b.append(r);
    await appendBatch(db, LIST, b.finish());
    assert.deepEqual(await stagedText(db, LIST), expectedText(LIST, rows));
  });

  test('0 rows append nothing', async () => {
    const before = await db.all(`SELECT count(*) AS n FROM ${stagingTable(LIST)}`);
    assert.equal(await appendBatch(db, LIST, new BatchBuilder(LIST).finish()), 0);
    assert.deepEqual(await db.all(`SELECT count(*) AS n FROM ${stagingTable(LIST)}`), before);
  });

  test('a batch of another record type is refused', async () => {
    const b = new BatchBuilder(LIST_LINE);
    b.append({ source_file: 'a', record_index: 0, record_valid: true });
    await assert.rejects(appendBatch(db, LIST, b.finish()), /staging columns of list/);
  });

  test('a NULL in a NOT NULL provenance column is refused before DuckDB', async () => {
    const b = new BatchBuilder(LIST);
    b.append({ source_file: 'a', record_index: 0 });
    await assert.rejects(appendBatch(db, LIST, b.finish()), /record_valid/);
  });

  test('many batches in one transaction', async () => {
    await db.run(`DELETE FROM ${stagingTable(LIST_LINE)}`);
    const rows = Array.from({ length: 300 }, (_, i) => stagingRow(LIST_LINE, rawRecord(LIST_LINE, i), i));
    await db.transaction(async () => {
      const b = new BatchBuilder(LIST_LINE);
      for (let i = 0; i < rows.length; i += 100) {
        for (const r of rows.slice(i, i + 100)) b.append(r);
        await appendBatch(db, LIST_LINE, b.finish());
      }
    });
    assert.deepEqual(await stagedText(db, LIST_LINE), expectedText(LIST_LINE, rows));
  });
});

// ---- the database handle -----------------------------------------------------------------------

describe('Db', () => {
  test('all() returns decimals as exact text', async () => {
    const db = await openDatabase(':memory:', { threads: 1 });
    try {
      const rows = await db.all(`SELECT CAST('99999999999999.99999' AS DECIMAL(19,5)) AS d, 42 AS i, 'x' AS s, NULL AS n`);
      assert.deepEqual(rows, [{ d: '99999999999999.99999', i: 42, s: 'x', n: null }]);
    } finally {
      db.close();
    }
  });

  test('a failing statement is a DbError DB_ERROR naming the SQL', async () => {
    const db = await openDatabase(':memory:', { threads: 1 });
    try {
      await assert.rejects(db.run('SELECT * FROM no_such_table'), (e: unknown) => {
        assert.ok(e instanceof DbError);
        assert.equal(e.code, 'DB_ERROR');
        assert.match(e.message, /no_such_table/);
        assert.match(e.sql, /SELECT \* FROM no_such_table/);
        return true;
      });
    } finally {
      db.close();
    }
  });

  test('a transaction that throws is rolled back', async () => {
    const db = await openDatabase(':memory:', { threads: 1 });
    try {
      await db.run('CREATE TABLE t (x INTEGER)');
      await assert.rejects(
        db.transaction(async () => {
          await db.run('INSERT INTO t VALUES (1)');
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.deepEqual(await db.all('SELECT count(*) AS n FROM t'), [{ n: 0n }]);
    } finally {
      db.close();
    }
  });

  test('DuckDB lock messages map to DB_LOCKED', () => {
    const e = dbError(new Error('IO Error: Could not set lock on file "/x/y.duckdb": Conflicting lock is held in /usr/bin/node (PID 12)'), 'open /x/y.duckdb');
    assert.equal(e.code, 'DB_LOCKED');
    assert.equal(dbError(new Error('Catalog Error: Table with name t does not exist!'), 'SELECT 1').code, 'DB_ERROR');
  });

  test('vacuum: false turns off the row-group merging of checkpoints (what runs use); the default keeps it', async () => {
    const off = await openDatabase(':memory:', { threads: 1, vacuum: false });
    const on = await openDatabase(':memory:', { threads: 1 });
    try {
      assert.equal(Number((await off.all(`SELECT current_setting('max_vacuum_tasks') AS v`))[0]?.v), 0);
      assert.ok(Number((await on.all(`SELECT current_setting('max_vacuum_tasks') AS v`))[0]?.v) > 0);
    } finally {
      off.close();
      on.close();
    }
  });

  test('DuckDB running out of memory is DB_OUT_OF_MEMORY, with what to do about it', async () => {
    // no spill folder and a tiny limit: a large hash aggregate cannot fit
    const db = await openDatabase(':memory:', { threads: 1, memoryLimit: '16MB', tempDirectory: '' });
    try {
      await assert.rejects(db.all('SELECT count(*) FROM (SELECT range % 3000017 AS g, list(range) AS l FROM range(6000000) GROUP BY g)'), (e: unknown) => {
        assert.ok(e instanceof DbError, String(e));
        assert.equal(e.code, 'DB_OUT_OF_MEMORY', e.message);
        assert.match(e.message, /DECLMATCH_DUCKDB_MEMORY/);
        return true;
      });
    } finally {
      db.close();
    }
  });

  test('a database file held by another process is DB_LOCKED', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'declmatch-lock-'));
    const file = join(dir, 'held.duckdb');
    const holder = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { DuckDBInstance } from '@duckdb/node-api';
         const db = await DuckDBInstance.create(process.argv[1], { threads: '1' });
         process.stdout.write('ready\\n');
         setTimeout(() => db.closeSync(), 30000);`,
        file,
      ],
      { cwd: projectRoot, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    t.after(() => {
      holder.kill();
      rmSync(dir, { recursive: true, force: true });
    });
    await new Promise<void>((resolve, reject) => {
      holder.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      holder.on('exit', (code) => reject(new Error(`lock holder exited with ${code}`)));
    });
    await assert.rejects(openDatabase(file, { threads: 1 }), (e: unknown) => {
      assert.ok(e instanceof DbError);
      assert.equal(e.code, 'DB_LOCKED');
      return true;
    });
  });
});
