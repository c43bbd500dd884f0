/**
 * `declmatch verify`'s comparison with the ground truth (src/generate/compare.ts), on hand-made
 * decisions and truth files: what agrees, each kind of disagreement, and their order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../src/db/duck.js';
import { compareWithTruth } from '../src/generate/compare.js';

test('verify counts agreeing lists and returns and lists each disagreement, truth order first', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'declmatch-compare-'));
  const db = await openDatabase(':memory:', { threads: 1 });
  try {
    await db.run(`CREATE TABLE decisions (business_date DATE, agent_code VARCHAR, cop_no VARCHAR, invt_no VARCHAR, decision VARCHAR,
      reasons VARCHAR[], value_cny DECIMAL(18,4), policy_id VARCHAR)`);
    await db.run(`CREATE TABLE return_decisions (business_date DATE, agent_code VARCHAR, co_el_no VARCHAR, invt_no VARCHAR, decision VARCHAR,
      reasons VARCHAR[], policy_id VARCHAR)`);
    await db.run(`INSERT INTO decisions VALUES
      ('2025-06-12', 'A1', 'C1', 'I1', 'RELEASE', [], 100.005, 'p1'),
      ('2025-06-12', 'A1', 'C2', NULL, 'PENDING', ['ORDER_MISSING', 'WAYBILL_MISSING'], NULL, 'p1'),
      ('2025-06-12', 'A1', 'C3', 'I3', 'REJECT', ['X'], 5, 'p1'),
      ('2025-06-12', 'A9', 'C9', 'I9', 'RELEASE', [], 1, 'p1'),
      ('2025-06-13', 'A1', 'C4', 'I4', 'RELEASE', [], 1, 'p1')`);
    await db.run(`INSERT INTO return_decisions VALUES ('2025-06-12', 'A1', 'R1', 'I1', 'ACCEPT', [], 'p1'), ('2025-06-12', 'A1', 'R2', 'I1', 'REJECT', ['Y'], 'p1')`);
    const truth = join(dir, '2025-06-12.truth');
    mkdirSync(truth);
    writeFileSync(
      join(truth, 'decisions.csv'),
      'business_date,agent_code,cop_no,invt_no,decision,status_code,channel,reasons,value_cny,policy_id\n' +
        '2025-06-12,A1,C1,I1,RELEASE,800,,,100.01,p1\n' + // agrees (value rounded to 2 decimals)
        '2025-06-12,A1,C2,,PENDING,,,ORDER_MISSING;WAYBILL_MISSING,,p1\n' + // agrees (no invtNo, no value)
        '2025-06-12,A1,C4,I4,RELEASE,800,,,1.00,p1\n' + // decided on another day only: no decision
        '2025-06-12,A1,C3,I3,REVIEW,,,X,5.00,p1\n', // another decision
    );
    writeFileSync(
      join(truth, 'return_decisions.csv'),
      'business_date,agent_code,co_el_no,invt_no,decision,status_code,reasons,policy_id\n2025-06-12,A1,R1,I1,ACCEPT,,,p1\n2025-06-12,A1,R3,I1,ACCEPT,,,p1\n',
    );
    const a = await compareWithTruth(db, truth, '2025-06-12');
    assert.deepEqual(
      { lists: a.lists, listsAgreeing: a.listsAgreeing, returns: a.returns, returnsAgreeing: a.returnsAgreeing, diffCount: a.diffCount },
      { lists: 4, listsAgreeing: 2, returns: 2, returnsAgreeing: 1, diffCount: 5 },
    );
    assert.deepEqual(a.diffs, [
      'list A1|C4: expected I4,RELEASE,,1.00,p1, got (no decision)',
      'list A1|C3: expected I3,REVIEW,X,5.00,p1, got I3,REJECT,X,5.00,p1',
      'list A9|C9: not expected, got I9,RELEASE,,1.00,p1',
      'return A1|R3: expected I1,ACCEPT,,p1, got (no decision)',
      'return A1|R2: not expected, got I1,REJECT,Y,p1',
    ]);
    const few = await compareWithTruth(db, truth, '2025-06-12', 2);
    assert.equal(few.diffCount, 5);
    assert.deepEqual(few.diffs, a.diffs.slice(0, 2));
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
