/**
 * publishChecks, the invariants a day must meet before it is published, on hand-made decisions:
 * the check that no order or waybill is held by two lists looks at the keys the day's lists hold,
 * against the lists of every earlier day.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { openDatabase, type Db } from '../src/db/duck.js';
import { DECISION_REASONS_DDL, DECISIONS_DDL, historyDayTable, LEDGER_DDL, RETURN_DECISIONS_DDL } from '../src/match/run.js';
import { publishChecks } from '../src/publish/publish.js';
import { RECORD_SPECS } from '../src/spec/fields.js';

const DAY1 = '2025-06-12';
const DAY2 = '2025-06-13';

/** An empty day 2 with everything publishChecks reads, and the given decisions. */
async function withDecisions(rows: [date: string, cop: string, decision: string, heldOrder: string | null, heldWaybill: string | null][]): Promise<Db> {
  const db = await openDatabase(':memory:', { threads: 1 });
  for (const ddl of [DECISIONS_DDL, DECISION_REASONS_DDL, LEDGER_DDL, RETURN_DECISIONS_DDL]) await db.run(ddl);
  await db.run(`CREATE TEMP TABLE deciding (agent_code VARCHAR, cop_no VARCHAR)`);
  await db.run(`CREATE TEMP TABLE w_returns (agent_code VARCHAR, co_el_no VARCHAR)`);
  for (const s of RECORD_SPECS) await db.run(`CREATE TABLE ${historyDayTable(s.table, DAY2)} (x INTEGER)`);
  const code: Record<string, [number, string | null]> = { RELEASE: [800, 'green'], CANCELLED: [100, null], REJECT: [100, null] };
  for (const [date, cop, decision, o, w] of rows) {
    const [status, channel] = code[decision]!;
    const q = (v: string | null) => (v === null ? 'NULL' : `'${v}'`);
    await db.run(`INSERT INTO decisions (business_date, run_id, agent_code, cop_no, decision, status_code, channel, reasons, held_order, held_waybill)
      VALUES (DATE '${date}', 'r', 'A1', '${cop}', '${decision}', ${status}, ${q(channel)}, []::VARCHAR[], ${q(o)}, ${q(w)})`);
  }
  return db;
}

test('publishChecks: an order held today by one list and since an earlier day by another fails the day', async () => {
  const db = await withDecisions([
    [DAY1, 'L1', 'RELEASE', 'P|E|O1', 'W|1'],
    [DAY2, 'L2', 'RELEASE', 'P|E|O1', 'W|2'],
  ]);
  const failures = await publishChecks(db, DAY2);
  assert.equal(failures.length, 1, failures.join('\n'));
  assert.match(failures[0]!, /^orders or waybills held by two lists: 1 \(e\.g\. P\|E\|O1\)/);
  db.close();
});

test('publishChecks: a waybill held twice is found as well; a list that no longer holds (cancelled since) is no holder', async () => {
  const twice = await withDecisions([
    [DAY1, 'L1', 'RELEASE', 'P|E|O1', 'W|1'],
    [DAY2, 'L2', 'RELEASE', 'P|E|O2', 'W|1'],
  ]);
  assert.match((await publishChecks(twice, DAY2)).join('\n'), /held by two lists: 1 \(e\.g\. W\|1\)/);
  twice.close();
  const freed = await withDecisions([
    [DAY1, 'L1', 'RELEASE', 'P|E|O1', 'W|1'],
    [DAY2, 'L1', 'CANCELLED', null, null],
    [DAY2, 'L2', 'RELEASE', 'P|E|O1', 'W|1'],
  ]);
  assert.deepEqual(await publishChecks(freed, DAY2), []);
  freed.close();
});
