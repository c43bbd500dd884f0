/**
 * The SQL matcher against the generator's ground truth: the decision, reasons, invtNo, value and
 * policy of every list of a generated day must agree. (Cancels, returns and later days come with
 * the rest of issue #4.)
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openDatabase, type Db } from '../src/db/duck.js';
import { generateDays } from '../src/generate/generator.js';
import { ingestDay } from '../src/ingest/ingest.js';
import { decideDay } from '../src/match/run.js';
import { parseCsv } from '../src/policy/csv.js';
import { loadPolicy } from '../src/policy/policy.js';
import { loadReference } from '../src/policy/reference.js';

const tmp = mkdtempSync(join(tmpdir(), 'declmatch-match-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function truth(dir: string, date: string): Map<string, string> {
  const rows = parseCsv(readFileSync(join(dir, `${date}.truth`, 'decisions.csv'), 'utf8')).slice(1).filter((r) => r.length > 1);
  return new Map(rows.map((r) => [`${r[1]}|${r[2]}`, [r[3], r[4], r[7], r[8], r[9]].join(',')]));
}

function truthReturns(dir: string, date: string): Map<string, string> {
  const rows = parseCsv(readFileSync(join(dir, `${date}.truth`, 'return_decisions.csv'), 'utf8')).slice(1).filter((r) => r.length > 1);
  return new Map(rows.map((r) => [`${r[1]}|${r[2]}`, [r[3], r[4], r[6], r[7]].join(',')]));
}

async function compareDay(db: Db, out: string, date: string): Promise<string[]> {
  const rows = await db.all(`SELECT agent_code, cop_no, invt_no, decision, array_to_string(reasons, ';') AS reasons,
      CASE WHEN value_cny IS NULL THEN '' ELSE CAST(round(value_cny, 2) AS DECIMAL(38,2))::VARCHAR END AS value, coalesce(policy_id, '') AS policy_id
    FROM decisions WHERE business_date = DATE '${date}'`);
  const got = new Map(rows.map((r) => [`${r.agent_code}|${r.cop_no}`, [r.invt_no ?? '', r.decision, r.reasons, r.value, r.policy_id].join(',')]));
  const want = truth(out, date);
  const diffs: string[] = [];
  for (const [k, v] of want) if (got.get(k) !== v) diffs.push(`${date} ${k}: want ${v} got ${got.get(k)}`);
  for (const k of got.keys()) if (!want.has(k)) diffs.push(`${date} ${k}: not in the truth, got ${got.get(k)}`);
  const rrows = await db.all(`SELECT agent_code, co_el_no, invt_no, decision, array_to_string(reasons, ';') AS reasons, policy_id FROM return_decisions WHERE business_date = DATE '${date}'`);
  const rgot = new Map(rrows.map((r) => [`${r.agent_code}|${r.co_el_no}`, [r.invt_no ?? '', r.decision, r.reasons, r.policy_id].join(',')]));
  const rwant = truthReturns(out, date);
  for (const [k, v] of rwant) if (rgot.get(k) !== v) diffs.push(`${date} return ${k}: want ${v} got ${rgot.get(k)}`);
  for (const k of rgot.keys()) if (!rwant.has(k)) diffs.push(`${date} return ${k}: not in the truth`);
  return diffs;
}

describe('the first day of a generated sample', () => {
  for (const [date, format] of [
    ['2025-06-12', 'xml'],
    ['2024-12-10', 'parquet'],
  ] as const) {
    test(`${format} day ${date}: every list's decision, reasons, invtNo, value and policy agree with the ground truth`, async () => {
      const out = join(tmp, `${format}-${date}`);
      await generateDays({ out, date, days: 1, lists: 4000, seed: `match-${format}`, format, anomalyRate: 0.08 });
      const db = await openDatabase(':memory:', { threads: 2 });
      try {
        await ingestDay(join(out, date), db, { threads: 2 });
        await decideDay(db, { date, runId: 'test', policy: loadPolicy(), reference: loadReference() });
        const rows = await db.all(`SELECT agent_code, cop_no, invt_no, decision, array_to_string(reasons, ';') AS reasons,
            CASE WHEN value_cny IS NULL THEN '' ELSE CAST(round(value_cny, 2) AS DECIMAL(38,2))::VARCHAR END AS value, coalesce(policy_id, '') AS policy_id
          FROM decisions WHERE business_date = DATE '${date}'`);
        const got = new Map(rows.map((r) => [`${r.agent_code}|${r.cop_no}`, [r.invt_no ?? '', r.decision, r.reasons, r.value, r.policy_id].join(',')]));
        const want = truth(out, date);
        const diffs: string[] = [];
        for (const [k, v] of want) if (got.get(k) !== v) diffs.push(`${k}: want ${v} got ${got.get(k)}`);
        for (const k of got.keys()) if (!want.has(k)) diffs.push(`${k}: not in the truth, got ${got.get(k)}`);
        assert.deepEqual(diffs.slice(0, 20), [], `${diffs.length} of ${want.size} lists disagree`);
      } finally {
        db.close();
      }
    });
  }
});

describe('consecutive days', () => {
  for (const format of ['xml', 'parquet'] as const) {
    test(`three ${format} days: lists, cancels and returns agree with the ground truth every day`, async () => {
      const out = join(tmp, `days-${format}`);
      const dates = ['2025-06-12', '2025-06-13', '2025-06-14'];
      await generateDays({ out, date: dates[0] as string, days: 3, lists: 3000, seed: `days-${format}`, format, anomalyRate: 0.08 });
      const db = await openDatabase(':memory:', { threads: 2 });
      try {
        const diffs: string[] = [];
        for (const date of dates) {
          await ingestDay(join(out, date), db, { threads: 2 });
          await decideDay(db, { date, runId: `run-${date}`, policy: loadPolicy(), reference: loadReference() });
          diffs.push(...(await compareDay(db, out, date)));
        }
        assert.deepEqual(diffs.slice(0, 20), [], `${diffs.length} disagreements`);
      } finally {
        db.close();
      }
    });
  }
});
