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
import { openDatabase } from '../src/db/duck.js';
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
  return new Map(rows.filter((r) => r[4] !== 'CANCELLED').map((r) => [`${r[1]}|${r[2]}`, [r[3], r[4], r[7], r[8], r[9]].join(',')]));
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
