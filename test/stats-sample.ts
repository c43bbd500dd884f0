/**
 * The sample the statistics and report tests share: two generated CSV days of 300 lists each,
 * ingested, decided and given their statistics day after day in one in-memory database, the way a
 * run does it (decide and statistics in one transaction).
 */
import { join } from 'node:path';
import { openDatabase, type Db } from '../src/db/duck.js';
import { generateDays } from '../src/generate/generator.js';
import { ingestDay } from '../src/ingest/ingest.js';
import { decideDay } from '../src/match/run.js';
import { loadPolicy } from '../src/policy/policy.js';
import { loadReference } from '../src/policy/reference.js';
import { computeStatistics } from '../src/publish/stats.js';

export const SAMPLE_DATES = ['2025-06-12', '2025-06-13'] as const;

export async function statsSample(dir: string): Promise<{ db: Db; out: string }> {
  const out = join(dir, 'days');
  await generateDays({ out, date: SAMPLE_DATES[0], days: SAMPLE_DATES.length, lists: 300, seed: 'stats-sample', format: 'csv', anomalyRate: 0.1 });
  const db = await openDatabase(':memory:', { threads: 2 });
  const o = { policy: loadPolicy(), reference: loadReference() };
  for (const date of SAMPLE_DATES) {
    await ingestDay(join(out, date), db, { threads: 2 });
    await db.transaction(async () => {
      await decideDay(db, { date, runId: `run-${date}`, ...o });
      await computeStatistics(db, date, `run-${date}`, { ...o, decided: date }); // as publishDay: reading decideDay's temp tables
    });
  }
  return { db, out };
}
