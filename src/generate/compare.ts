/**
 * Agreement of a database's decisions with a generated day's ground truth: every list's invtNo,
 * decision, reasons, CNY value (2 decimals) and policy; every return's invtNo, decision, reasons
 * and policy. Used by `declmatch verify` and the tests.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from '../db/duck.js';
import { parseCsv } from '../policy/csv.js';

export interface Agreement {
  date: string;
  lists: number;
  listsAgreeing: number;
  returns: number;
  returnsAgreeing: number;
  /** The first disagreements, as text. */
  diffs: string[];
  /** All disagreements. */
  diffCount: number;
}

function rows(file: string): string[][] {
  return parseCsv(readFileSync(file, 'utf8'))
    .slice(1)
    .filter((r) => r.length > 1);
}

export async function compareWithTruth(db: Db, truthDir: string, date: string, maxDiffs = 50): Promise<Agreement> {
  const want = new Map(rows(join(truthDir, 'decisions.csv')).map((r) => [`${r[1]}|${r[2]}`, [r[3], r[4], r[7], r[8], r[9]].join(',')]));
  const got = new Map(
    (
      await db.all(`SELECT agent_code, cop_no, coalesce(invt_no, '') AS invt_no, decision, array_to_string(reasons, ';') AS reasons,
          CASE WHEN value_cny IS NULL THEN '' ELSE CAST(round(value_cny, 2) AS DECIMAL(38,2))::VARCHAR END AS value, coalesce(policy_id, '') AS policy_id
        FROM decisions WHERE business_date = DATE '${date}'`)
    ).map((r) => [`${r.agent_code}|${r.cop_no}`, [r.invt_no, r.decision, r.reasons, r.value, r.policy_id].join(',')]),
  );
  const rwant = new Map(rows(join(truthDir, 'return_decisions.csv')).map((r) => [`${r[1]}|${r[2]}`, [r[3], r[4], r[6], r[7]].join(',')]));
  const rgot = new Map(
    (
      await db.all(`SELECT agent_code, co_el_no, coalesce(invt_no, '') AS invt_no, decision, array_to_string(reasons, ';') AS reasons, coalesce(policy_id, '') AS policy_id
        FROM return_decisions WHERE business_date = DATE '${date}'`)
    ).map((r) => [`${r.agent_code}|${r.co_el_no}`, [r.invt_no, r.decision, r.reasons, r.policy_id].join(',')]),
  );
  const diffs: string[] = [];
  let listsAgreeing = 0;
  for (const [k, v] of want) {
    if (got.get(k) === v) listsAgreeing++;
    else diffs.push(`list ${k}: expected ${v}, got ${got.get(k) ?? '(no decision)'}`);
  }
  for (const [k, v] of got) if (!want.has(k)) diffs.push(`list ${k}: not expected, got ${v}`);
  let returnsAgreeing = 0;
  for (const [k, v] of rwant) {
    if (rgot.get(k) === v) returnsAgreeing++;
    else diffs.push(`return ${k}: expected ${v}, got ${rgot.get(k) ?? '(no decision)'}`);
  }
  for (const [k, v] of rgot) if (!rwant.has(k)) diffs.push(`return ${k}: not expected, got ${v}`);
  return { date, lists: want.size, listsAgreeing, returns: rwant.size, returnsAgreeing, diffs: diffs.slice(0, maxDiffs), diffCount: diffs.length };
}
