/**
 * The statistics' carried state (publish/stats.ts `carry_*`): the statistics a `declmatch run`
 * publishes from it must be those computed from the whole history, whatever the order of the runs.
 *
 * Database A goes through the days the way `declmatch run` does (prepareDay, prepareStatistics,
 * then writeDay and the statistics in one transaction), with reruns, a day run out of order, a day
 * published another way and a run that rolls back; database B decides and computes every day from
 * the whole history (decideDay + computeStatistics, no carried state). Every statistics table must
 * be the same in both, and the carried state must be what the whole history gives as of its day.
 * Which way A took (carried or whole) is asserted too, so that each path is exercised.
 */
import { strict as assert } from 'node:assert';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openDatabase, type Db } from '../src/db/duck.js';
import { generateDays } from '../src/generate/generator.js';
import { csvCell } from '../src/generate/writers.js';
import { ingestDay } from '../src/ingest/ingest.js';
import { decideDay, prepareDay, winnersSql, writeDay } from '../src/match/run.js';
import { parseCsv } from '../src/policy/csv.js';
import { loadPolicy } from '../src/policy/policy.js';
import { loadReference } from '../src/policy/reference.js';
import { CARRY_FROM_DAYS, computeStatistics, prepareStatistics, STATS_TABLES } from '../src/publish/stats.js';
import { parseTimestamp14 } from '../src/spec/validate.js';

const DAYS = ['2025-06-10', '2025-06-11', '2025-06-12', '2025-06-13', '2025-06-14', '2025-06-15', '2025-06-16'];
const policy = loadPolicy();
const reference = loadReference();
const tmp = mkdtempSync(join(tmpdir(), 'declmatch-carry-'));
const out = join(tmp, 'days');
let a: Db;
let b: Db;
let c: Db;

/** `yyyyMMddHHmmss` moved by `seconds`. */
function shifted(t: string, seconds: number): string {
  const s = parseTimestamp14(t);
  assert.ok(s !== null, t);
  return new Date((s + seconds) * 1000).toISOString().replace(/[-T:]/g, '').slice(0, 14);
}

/**
 * Later versions of earlier days' orders and waybills, appended to a day's files (the generator
 * keeps each key's versions on one day): in turn a newer version (it wins), an older one (stale:
 * the carried version must beat it) and a delete. An order's version comes with its lines.
 */
function addVersions(day: string, from: string, n: number): void {
  for (const [file, lineFile] of [
    ['orders.csv', 'order_lines.csv'],
    ['waybills.csv', undefined],
  ] as const) {
    const [head = [], ...rows] = parseCsv(readFileSync(join(out, from, file), 'utf8')).filter((r) => r.length > 1);
    const at = (name: string) => head.indexOf(name);
    const picked = rows.filter((_, i) => i % 5 === 0).slice(0, n);
    const added = picked.map((r, i) => {
      const v = [...r];
      const kind = i % 3;
      v[at('appTime')] = shifted(r[at('appTime')]!, kind === 1 ? -3600 : 86_400);
      if (kind === 2) v[at('appType')] = '3';
      return v;
    });
    appendFileSync(join(out, day, file), added.map((r) => `${r.map(csvCell).join(',')}\n`).join(''));
    if (lineFile) {
      const [lhead = [], ...lines] = parseCsv(readFileSync(join(out, from, lineFile), 'utf8')).filter((r) => r.length > 1);
      const guids = new Set(picked.map((r) => r[at('guid')]));
      const copies = lines.filter((l) => guids.has(l[lhead.indexOf('headGuid')]));
      appendFileSync(join(out, day, lineFile), copies.map((r) => `${r.map(csvCell).join(',')}\n`).join(''));
    }
  }
}

before(async () => {
  await generateDays({ out, date: DAYS[0]!, days: DAYS.length, lists: 200, seed: 'carry', format: 'csv', anomalyRate: 0.1 });
  for (let i = 1; i < DAYS.length; i++) addVersions(DAYS[i]!, DAYS[i - 1]!, 12);
  a = await openDatabase(':memory:', { threads: 2 });
  b = await openDatabase(':memory:', { threads: 2 });
  c = await openDatabase(':memory:', { threads: 2 });
  for (const date of DAYS) await wholeDay(b, date);
});
after(() => {
  a?.close();
  b?.close();
  c?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/**
 * A day through `declmatch run`'s steps; returns how its statistics found the current items
 * ('whole', 'whole-state': from the whole history, the state written whole; 'carried'). Unless
 * said, the state is written from the first day, so that every day after it can carry.
 */
async function runDay(db: Db, date: string, fail = false, carryFromDays = 0): Promise<string> {
  await ingestDay(join(out, date), db, { threads: 2 });
  const o = { date, runId: `run-${date}`, policy, reference };
  const d = await prepareDay(db, o);
  await prepareStatistics(db, date, { reference, carryFromDays });
  const mode = String((await db.all('SELECT items FROM st_carry'))[0]?.items);
  const publish = db.transaction(async () => {
    await writeDay(db, o, d.stages);
    await computeStatistics(db, date, o.runId, { reference, policy, decided: date, prepared: date });
    if (fail) throw new Error('the publish failed');
  });
  if (fail) await assert.rejects(publish, /the publish failed/);
  else await publish;
  return mode;
}

/** A day decided and given its statistics from the whole history (no carried state). */
async function wholeDay(db: Db, date: string): Promise<void> {
  await ingestDay(join(out, date), db, { threads: 2 });
  await db.transaction(async () => {
    await decideDay(db, { date, runId: `whole-${date}`, policy, reference });
    await computeStatistics(db, date, `whole-${date}`, { reference, policy, decided: date });
  });
}

const json = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
const stats = async (db: Db, date: string) =>
  json(await Promise.all(STATS_TABLES.map((t) => db.all(`SELECT * EXCLUDE (run_id) FROM ${t} WHERE business_date = DATE '${date}' ORDER BY ALL`))));

async function sameStats(dates: readonly string[], db = a): Promise<void> {
  for (const date of dates) assert.equal(await stats(db, date), await stats(b, date), `statistics of ${date}`);
}

/** The carried state of A against the whole history as of its day. */
async function carriedIsWhole(): Promise<string> {
  const asOf = (await a.all(`SELECT strftime(as_of, '%Y-%m-%d') AS d FROM carry_as_of`)).map((r) => String(r.d));
  assert.equal(asOf.length, 1);
  const day = asOf[0]!;
  const holdings = `SELECT agent_code, cop_no, held_order, held_waybill FROM (
        SELECT *, row_number() OVER (PARTITION BY agent_code, cop_no ORDER BY business_date DESC) AS rn FROM decisions WHERE business_date <= DATE '${day}')
       WHERE rn = 1 AND (held_order IS NOT NULL OR held_waybill IS NOT NULL)`;
  // every winning version, deletes included, with its key as held_order / held_waybill write it and whether a list holds it
  const items = (table: string, key: string[], lines: string | undefined, heldCol: string) => {
    const k = key.join(` || '|' || `);
    return `SELECT w.*, ${k} AS k, coalesce(${k} IN (SELECT ${heldCol} FROM (${holdings}) WHERE ${heldCol} IS NOT NULL), false) AS held
      FROM (${winnersSql(day, table, key, lines, `${key.map((c) => `h.${c}`).join(', ')}, h.app_time, h.business_date`, undefined, true)}) w`;
  };
  const expected = [
    ['carry_orders', items('orders', ['ebp_code', 'ebc_code', 'order_no'], 'order_lines', 'held_order')],
    ['carry_waybills', items('waybills', ['logistics_code', 'logistics_no'], undefined, 'held_waybill')],
    ['carry_holdings', holdings],
  ] as const;
  for (const [table, sql] of expected) {
    const diff = await a.all(`SELECT (SELECT count(*) FROM (SELECT * FROM ${table} EXCEPT ALL (${sql})))::INTEGER AS extra,
      (SELECT count(*) FROM ((${sql}) EXCEPT ALL SELECT * FROM ${table}))::INTEGER AS missing, (SELECT count(*) FROM ${table})::INTEGER AS n`);
    assert.deepEqual({ extra: diff[0]?.extra, missing: diff[0]?.missing }, { extra: 0, missing: 0 }, `${table} as of ${day}`);
    assert.ok(Number(diff[0]?.n) > 0, `${table} holds something`);
  }
  return day;
}

test('the statistics a run makes from the carried state are those of the whole history, whatever the order of the runs', async () => {
  const [d1, d2, d3, d4, d5, d6, d7] = DAYS as unknown as [string, string, string, string, string, string, string];

  assert.equal(await runDay(a, d1), 'whole-state', 'a first day: nothing carried');
  assert.equal(await runDay(a, d2), 'carried');
  assert.equal(await runDay(a, d3), 'carried');
  await sameStats([d1, d2, d3]);
  assert.equal(await carriedIsWhole(), d3);

  // a rerun of an earlier day: from the whole history as of that day, and the state with it
  assert.equal(await runDay(a, d2), 'whole-state', 'a rerun');
  assert.equal(await carriedIsWhole(), d2);
  // the next recorded day again: carried from the rerun's state
  assert.equal(await runDay(a, d3), 'carried');
  assert.equal(await carriedIsWhole(), d3);
  await sameStats([d2, d3]);

  // a day published another way (decideDay without prepareStatistics) leaves no state to carry
  await wholeDay(a, d4);
  assert.equal((await a.all(`SELECT count(*)::INTEGER AS n FROM duckdb_tables() WHERE table_name = 'carry_as_of'`))[0]?.n, 0);
  assert.equal(await runDay(a, d5), 'whole-state', 'after a day published without carrying');
  assert.equal(await runDay(a, d6), 'carried');

  // a run that rolls back leaves the state as it was
  assert.equal(await runDay(a, d7, true), 'carried');
  assert.equal(await carriedIsWhole(), d6);
  assert.equal(await runDay(a, d7), 'carried');
  assert.equal(await carriedIsWhole(), d7);
  await sameStats(DAYS);

  // the carried state saw deletes, stale versions and holdings change (what it must get right)
  const seen = await a.all(`SELECT (SELECT count(*) FROM carry_orders WHERE app_type = '3')::INTEGER AS deleted,
    (SELECT count(*) FROM carry_orders WHERE held)::INTEGER AS held, (SELECT count(*) FROM carry_orders WHERE NOT held AND app_type <> '3')::INTEGER AS open,
    (SELECT count(*) FROM carry_waybills WHERE app_type = '3')::INTEGER AS deleted_waybills,
    (SELECT sum(count) FROM ledger WHERE record_type IN ('order', 'waybill') AND fate = 'stale')::INTEGER AS stale,
    (SELECT count(DISTINCT business_date) FROM carry_orders)::INTEGER AS order_days,
    (SELECT count(*) FROM decisions WHERE decision = 'CANCELLED')::INTEGER AS cancelled`);
  const s = seen[0] ?? {};
  assert.ok(Number(s.deleted) > 0 && Number(s.held) > 0 && Number(s.open) > 0 && Number(s.deleted_waybills) > 0 && Number(s.stale) > 0 && Number(s.order_days) === DAYS.length && Number(s.cancelled) > 0, json(seen));
  const temps = await a.all(`SELECT table_name FROM duckdb_tables() WHERE temporary AND table_name LIKE 'st\\_%' ESCAPE '\\'`);
  assert.deepEqual(temps, [], 'no helper tables are left behind');
});

test('the state is first written once the history before the day has CARRY_FROM_DAYS days (the whole history is cheaper before)', async () => {
  assert.equal(CARRY_FROM_DAYS, 3);
  const modes: string[] = [];
  for (const date of DAYS.slice(0, 5)) modes.push(await runDay(c, date, false, CARRY_FROM_DAYS));
  assert.deepEqual(modes, ['whole', 'whole', 'whole', 'whole-state', 'carried']);
  await sameStats(DAYS.slice(0, 5), c);
});
