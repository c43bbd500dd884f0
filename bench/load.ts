/**
 * Load path throughput: `npx tsc -p tsconfig.json && node dist/bench/load.js [heads] [lines]`
 * (default 200,000 list heads and 500,000 list lines of realistic values). Measures, in rows/s:
 *  - build:       BatchBuilder.append + finish (what a parse worker spends per row),
 *  - appendBatch: Arrow IPC batch → DuckDB staging table (what the main thread spends per row),
 *                 into an in-memory database and into a database file, one commit per batch
 *                 and all batches in one transaction (Db.transaction),
 *  - parquet:     the reference way in, `INSERT INTO … SELECT * FROM read_parquet(…)` of the same rows
 *                 written once with COPY.
 * Prints one JSON object with the machine it ran on.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendBatch } from '../src/db/load.js';
import { openDatabase, type Db } from '../src/db/duck.js';
import { BatchBuilder, type StagingRow } from '../src/ingest/batch.js';
import { LIST, LIST_LINE, type RecordSpec } from '../src/spec/fields.js';
import { stagingDDL, stagingTable } from '../src/spec/schema.js';
import { machine } from './machine.js';

const HEADS = Number(process.argv[2] ?? 200_000);
const LINES = Number(process.argv[3] ?? 500_000);
const BATCH_ROWS = 8192;
/** Distinct rows generated per type; the timed loops cycle through them. */
const POOL = 20_000;

let seed = 42;
function rnd(): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x80000000;
}
const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
const digits = (n: number): string => Array.from({ length: n }, () => Math.floor(rnd() * 10)).join('');
const alnum = (n: number): string => Array.from({ length: n }, () => pick('ABCDEFGHJKLMNPQRSTUVWXYZ0123456789'.split(''))).join('');
const uuid = (): string => `${alnum(8)}-${alnum(4)}-${alnum(4)}-${alnum(4)}-${alnum(12)}`.toLowerCase();
const money = (max: number): bigint => BigInt(Math.floor(rnd() * max * 100)) * 1000n;
const NAMES = ['深圳市跨境电子商务有限公司', '杭州优选进出口贸易有限公司', 'Shenzhen Bright Trading Co., Ltd.', '广州市南沙物流有限公司'];
const GOODS = ['男式棉制针织T恤衫', '不锈钢保温杯 500ml', 'LED 台灯 USB 充电', '儿童益智积木玩具 120 片装', 'Bluetooth earphones, wireless'];
const T0 = 1_749_686_400; // 2025-06-12 00:00:00 as wall-clock seconds

function headRow(i: number): StagingRow {
  const ebp = `44039${digits(5)}`;
  const agent = `44039${digits(5)}`;
  return {
    source_file: `CEB603_${digits(6)}.xml`,
    message_guid: uuid(),
    record_index: i,
    record_valid: rnd() > 0.02,
    guid: uuid(),
    app_type: '1',
    app_time: T0 + Math.floor(rnd() * 86_400),
    app_status: '2',
    customs_code: '5141',
    ebp_code: ebp,
    ebp_name: pick(NAMES),
    order_no: `SO${digits(16)}`,
    logistics_code: `44039${digits(5)}`,
    logistics_name: pick(NAMES),
    logistics_no: `YT${digits(13)}`,
    cop_no: `C${digits(17)}`,
    pre_no: rnd() < 0.5 ? null : `B${digits(17)}`,
    invt_no: null,
    ie_flag: 'E',
    port_code: '5141',
    ie_date: 20_251 + Math.floor(rnd() * 3),
    statistics_flag: pick(['A', 'B']),
    agent_code: agent,
    agent_name: pick(NAMES),
    ebc_code: ebp,
    ebc_name: pick(NAMES),
    owner_code: ebp,
    owner_name: pick(NAMES),
    iac_code: null,
    iac_name: null,
    ems_no: null,
    trade_mode: '9610',
    traf_mode: '4',
    traf_name: null,
    voyage_no: null,
    bill_no: null,
    total_package_no: null,
    loct_no: null,
    license_no: null,
    country: pick(['USA', 'GBR', 'DEU', 'JPN']),
    pod: pick(['USA', 'GBR', 'DEU', 'JPN']),
    freight: money(50),
    f_currency: '142',
    f_flag: '3',
    insured_fee: 0n,
    i_currency: '142',
    i_flag: '3',
    wrap_type: '2',
    pack_no: 1,
    gross_weight: money(10),
    net_weight: money(9),
    note: rnd() < 0.9 ? null : '备注：加急',
  };
}

function lineRow(i: number): StagingRow {
  const qty = BigInt(1 + Math.floor(rnd() * 20)) * 100_000n;
  const price = money(300);
  return {
    source_file: `CEB603_${digits(6)}.xml`,
    message_guid: uuid(),
    record_index: i,
    record_valid: rnd() > 0.02,
    agent_code: `44039${digits(5)}`,
    cop_no: `C${digits(17)}`,
    head_guid: uuid(),
    gnum: 1 + (i % 4),
    item_no: `SKU${digits(8)}`,
    item_record_no: null,
    item_name: pick(GOODS),
    gcode: digits(10),
    gname: pick(GOODS),
    gmodel: '1|0|棉95%涤纶5%|无品牌|M',
    bar_code: digits(13),
    country: '142',
    currency: '142',
    qty,
    qty1: qty,
    qty2: null,
    unit: '011',
    unit1: '035',
    unit2: null,
    price,
    total_price: (price * qty) / 100_000n,
    note: null,
  };
}

interface Built {
  readonly batches: Uint8Array[];
  readonly bytes: number;
  readonly seconds: number;
}

function build(spec: RecordSpec, rows: number, make: (i: number) => StagingRow): Built {
  const pool = Array.from({ length: Math.min(POOL, rows) }, (_, i) => make(i));
  const b = new BatchBuilder(spec, BATCH_ROWS);
  const batches: Uint8Array[] = [];
  let bytes = 0;
  const t0 = performance.now();
  for (let i = 0; i < rows; i++) {
    b.append(pool[i % pool.length]!);
    if (b.length === BATCH_ROWS) {
      const ipc = b.finish();
      bytes += ipc.byteLength;
      batches.push(ipc);
    }
  }
  if (b.length > 0) {
    const ipc = b.finish();
    bytes += ipc.byteLength;
    batches.push(ipc);
  }
  return { batches, bytes, seconds: (performance.now() - t0) / 1000 };
}

/** Appends every batch into a fresh staging table; one commit per batch or one for all. */
async function load(db: Db, spec: RecordSpec, batches: readonly Uint8Array[], oneTransaction: boolean): Promise<number> {
  await db.run(`DROP TABLE IF EXISTS ${stagingTable(spec)}`);
  await db.run(stagingDDL(spec));
  const t0 = performance.now();
  const all = async (): Promise<void> => {
    for (const ipc of batches) await appendBatch(db, spec, ipc);
  };
  if (oneTransaction) await db.transaction(all);
  else await all();
  return (performance.now() - t0) / 1000;
}

/** The reference: INSERT … SELECT from a Parquet file of the same rows. */
async function loadParquet(db: Db, spec: RecordSpec, parquet: string): Promise<number> {
  await db.run(`DROP TABLE IF EXISTS ref_${spec.table}`);
  await db.run(`CREATE TABLE ref_${spec.table} AS SELECT * FROM ${stagingTable(spec)} LIMIT 0`);
  const t0 = performance.now();
  await db.run(`INSERT INTO ref_${spec.table} SELECT * FROM read_parquet('${parquet}')`);
  return (performance.now() - t0) / 1000;
}

const rate = (rows: number, seconds: number): number => Math.round(rows / seconds);
const round = (s: number): number => Math.round(s * 1000) / 1000;

const dir = mkdtempSync(join(tmpdir(), 'declmatch-bench-load-'));
try {
  const specs = [
    { spec: LIST, rows: HEADS, built: build(LIST, HEADS, headRow) },
    { spec: LIST_LINE, rows: LINES, built: build(LIST_LINE, LINES, lineRow) },
  ];

  const results: Record<string, unknown> = {};
  const mem = await openDatabase(':memory:', { threads: 2 });
  const file = await openDatabase(join(dir, 'bench.duckdb'), { threads: 2 });
  for (const { spec, rows, built } of specs) {
    const timed = (seconds: number) => ({ seconds: round(seconds), rowsPerSecond: rate(rows, seconds) });
    const r: Record<string, unknown> = {
      rows,
      batches: built.batches.length,
      ipcBytesPerRow: Math.round(built.bytes / rows),
      build: timed(built.seconds),
    };
    for (const [where, db] of [['Memory', mem], ['File', file]] as const) {
      r[`appendBatch${where}CommitPerBatch`] = timed(await load(db, spec, built.batches, false));
      r[`appendBatch${where}OneTransaction`] = timed(await load(db, spec, built.batches, true));
      if (db === file) await db.run('CHECKPOINT');
    }
    const count = await mem.all(`SELECT count(*) AS n FROM ${stagingTable(spec)}`);
    r.stagedRows = Number(count[0]?.n);

    // Reference: the same rows through Parquet, written once with COPY, read back into a copy.
    const parquet = join(dir, `${spec.table}.parquet`);
    await mem.run(`COPY ${stagingTable(spec)} TO '${parquet}' (FORMAT parquet)`);
    r.parquetInsertSelectMemory = timed(await loadParquet(mem, spec, parquet));
    r.parquetInsertSelectFile = timed(await loadParquet(file, spec, parquet));
    results[spec.name] = r;
  }
  mem.close();
  file.close();
  process.stdout.write(
    JSON.stringify({ name: 'load', state: 'completed', batchRows: BATCH_ROWS, ...results, machine: await machine(), date: new Date().toISOString() }, null, 2) + '\n',
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
