/**
 * Pads a database with synthetic earlier days, to measure how a run grows with the history kept:
 * `node dist/bench/pad-history.js DB DAY N` copies the history tables and the decisions of DAY (a
 * day already run into DB) into the N days before it, with every business key and reference
 * suffixed (`~s1`, `~s2`, …) so that no key meets a real one, and pending decisions made REJECT (a
 * real pending list is decided again the next day). Then run the day after DAY into DB and compare
 * its stages with the same run on a copy without the padding. Writes DB in place.
 */
import { openDatabase } from '../src/db/duck.js';

const [file, src, n] = process.argv.slice(2);
if (!file || !src || !/^\d{4}-\d{2}-\d{2}$/.test(src) || !Number.isInteger(Number(n)) || Number(n) < 1)
  throw new Error('usage: node dist/bench/pad-history.js DB YYYY-MM-DD N');
const db = await openDatabase(file, { threads: 2, memoryLimit: '3GB', vacuum: false });
const keys = ['order_no', 'logistics_no', 'cop_no', 'invt_no', 'co_el_no', 'held_order', 'held_waybill'];
const ymd = src.replace(/-/g, '');
const tables = (await db.all(`SELECT table_name AS t FROM duckdb_tables() WHERE NOT temporary AND table_name LIKE 'hist_%__${ymd}'`)).map((r) => String(r.t));
if (!tables.length) throw new Error(`${file} has no history for ${src}: run that day into it first`);
for (let i = 1; i <= Number(n); i++) {
  const day = new Date(Date.parse(src) - i * 86_400_000).toISOString().slice(0, 10);
  const sfx = `~s${i}`;
  for (const t of tables) {
    const cols = (await db.all(`SELECT column_name AS c FROM duckdb_columns() WHERE table_name = '${t}'`)).map((r) => String(r.c));
    const rep = cols.filter((c) => keys.includes(c)).map((c) => `${c} || '${sfx}' AS ${c}`);
    await db.run(`CREATE OR REPLACE TABLE ${t.replace(ymd, day.replace(/-/g, ''))} AS SELECT * ${rep.length ? `REPLACE (${rep.join(', ')})` : ''} FROM ${t}`);
  }
  const dk = keys.filter((k) => k !== 'co_el_no').map((k) => `${k} || '${sfx}' AS ${k}`);
  await db.run(`INSERT INTO decisions SELECT * REPLACE (DATE '${day}' AS business_date, ${dk.join(', ')},
    CASE decision WHEN 'PENDING' THEN 'REJECT' ELSE decision END AS decision, CASE decision WHEN 'PENDING' THEN 100 ELSE status_code END AS status_code) FROM decisions WHERE business_date = DATE '${src}'`);
  await db.run(`INSERT INTO return_accepted_lines SELECT DATE '${day}', invt_no || '${sfx}', gnum, qty FROM return_accepted_lines WHERE business_date = DATE '${src}'`);
  process.stdout.write(`${day}\n`);
}
db.close();
