/**
 * Agreement of a database's decisions with a generated day's ground truth: every list's invtNo,
 * decision, reasons, CNY value (2 decimals) and policy; every return's invtNo, decision, reasons
 * and policy. Used by `declmatch verify` and the tests.
 *
 * The comparison runs in DuckDB, which reads the truth files itself: a 10,000,000-list day's
 * decisions.csv (~1 GB) is longer than the longest string V8 can hold, and its rows as JS objects
 * would not fit the command's heap.
 */
import { join } from 'node:path';
import type { Db } from '../db/duck.js';
import { lit } from '../spec/schema.js';

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

/**
 * The truth side of a comparison: an SQL relation of a truth CSV written by the generator, read as
 * text (empty fields are '' as in the file), with columns k (key text), v (values text) and o
 * (position in the file). The other side, from the database, has k and v.
 */
function truthSide(file: string, key: readonly string[], values: readonly string[]): string {
  const text = (c: string) => `coalesce("${c}", '')`;
  return `SELECT ${key.map(text).join(` || '|' || `)} AS k, arg_max(${values.map(text).join(` || ',' || `)}, o) AS v, max(o) AS o
      FROM (SELECT *, row_number() OVER () AS o FROM read_csv(${lit(file)}, header = true, all_varchar = true, delim = ',', quote = '"', escape = '"'))
      GROUP BY k`;
}

/** Compares two sides: counts and the first `limit` disagreements (truth order, then extra rows by key). */
async function compare(db: Db, what: string, want: string, got: string, limit: number): Promise<{ total: number; agreeing: number; diffs: string[]; diffCount: number }> {
  await db.run(`CREATE OR REPLACE TEMP TABLE v_cmp AS
    SELECT w.k AS wk, w.v AS wv, w.o AS wo, g.k AS gk, g.v AS gv FROM (${want}) w FULL OUTER JOIN (${got}) g ON g.k = w.k`);
  try {
    const [c] = await db.all(`SELECT count(wk)::BIGINT AS total, count(*) FILTER (WHERE wk IS NOT NULL AND wv = gv)::BIGINT AS agreeing,
        count(*) FILTER (WHERE wv IS DISTINCT FROM gv)::BIGINT AS diffs FROM v_cmp`);
    const rows = limit > 0 ? await db.all(`SELECT wk, wv, gk, gv FROM v_cmp WHERE wv IS DISTINCT FROM gv ORDER BY wk IS NULL, wo, gk LIMIT ${limit}`) : [];
    const diffs = rows.map((r) =>
      r.wk !== null ? `${what} ${String(r.wk)}: expected ${String(r.wv)}, got ${r.gv === null ? '(no decision)' : String(r.gv)}` : `${what} ${String(r.gk)}: not expected, got ${String(r.gv)}`,
    );
    return { total: Number(c!.total), agreeing: Number(c!.agreeing), diffs, diffCount: Number(c!.diffs) };
  } finally {
    await db.run('DROP TABLE IF EXISTS v_cmp');
  }
}

export async function compareWithTruth(db: Db, truthDir: string, date: string, maxDiffs = 50): Promise<Agreement> {
  const day = `DATE ${lit(date)}`;
  const lists = await compare(
    db,
    'list',
    truthSide(join(truthDir, 'decisions.csv'), ['agent_code', 'cop_no'], ['invt_no', 'decision', 'reasons', 'value_cny', 'policy_id']),
    `SELECT agent_code || '|' || cop_no AS k, any_value(concat_ws(',', coalesce(invt_no, ''), coalesce(decision, ''), coalesce(array_to_string(reasons, ';'), ''),
          coalesce(CAST(round(value_cny, 2) AS DECIMAL(38,2))::VARCHAR, ''), coalesce(policy_id, ''))) AS v
        FROM decisions WHERE business_date = ${day} GROUP BY k`,
    maxDiffs,
  );
  const returns = await compare(
    db,
    'return',
    truthSide(join(truthDir, 'return_decisions.csv'), ['agent_code', 'co_el_no'], ['invt_no', 'decision', 'reasons', 'policy_id']),
    `SELECT agent_code || '|' || co_el_no AS k, any_value(concat_ws(',', coalesce(invt_no, ''), coalesce(decision, ''), coalesce(array_to_string(reasons, ';'), ''), coalesce(policy_id, ''))) AS v
        FROM return_decisions WHERE business_date = ${day} GROUP BY k`,
    Math.max(0, maxDiffs - lists.diffs.length),
  );
  return {
    date,
    lists: lists.total,
    listsAgreeing: lists.agreeing,
    returns: returns.total,
    returnsAgreeing: returns.agreeing,
    diffs: [...lists.diffs, ...returns.diffs],
    diffCount: lists.diffCount + returns.diffCount,
  };
}
