/**
 * The SQL matcher against the generator's ground truth: the decision, reasons, invtNo, value and
 * policy of every list of a generated day must agree. (Cancels, returns and later days come with
 * the rest of issue #4.)
 */
import { strict as assert } from 'node:assert';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openDatabase, type Db } from '../src/db/duck.js';
import { generateDays } from '../src/generate/generator.js';
import { ingestDay } from '../src/ingest/ingest.js';
import { decideDay, prepareDay, whatIf, writeDay } from '../src/match/run.js';
import { parsePolicy } from '../src/policy/policy.js';
import { compareWithTruth } from '../src/generate/compare.js';
import { loadPolicy } from '../src/policy/policy.js';
import { loadReference } from '../src/policy/reference.js';

const tmp = mkdtempSync(join(tmpdir(), 'declmatch-match-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

async function compareDay(db: Db, out: string, date: string): Promise<string[]> {
  const a = await compareWithTruth(db, join(out, `${date}.truth`), date, 20);
  assert.ok(a.lists > 0);
  return a.diffs.map((d) => `${date} ${d}`).concat(a.diffCount > a.diffs.length ? [`${date}: ${a.diffCount - a.diffs.length} more`] : []);
}

/** Ingests and decides the days in order, comparing each with its ground truth. */
async function runAndCompare(db: Db, out: string, dates: readonly string[]): Promise<string[]> {
  const diffs: string[] = [];
  for (const date of dates) {
    await ingestDay(join(out, date), db, { threads: 2 });
    await decideDay(db, { date, runId: `run-${date}`, policy: loadPolicy(), reference: loadReference() });
    diffs.push(...(await compareDay(db, out, date)));
  }
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
        const diffs = await runAndCompare(db, out, [date]);
        assert.deepEqual(diffs, []);
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
        const diffs = await runAndCompare(db, out, dates);
        assert.deepEqual(diffs.slice(0, 20), [], `${diffs.length} disagreements`);
      } finally {
        db.close();
      }
    });
  }
});

describe('an earlier day run again after later days', () => {
  test('is decided as it stood on its day: the later days\' decisions (a cancel of a returned list) do not count', async () => {
    const out = join(tmp, 'rerun-earlier');
    const dates = ['2025-06-12', '2025-06-13', '2025-06-14'];
    await generateDays({ out, date: dates[0] as string, days: 3, lists: 10_000, seed: 'verify3', format: 'parquet', anomalyRate: 0.05 });
    const db = await openDatabase(':memory:', { threads: 2 });
    try {
      assert.deepEqual(await runAndCompare(db, out, dates), []);
      // day 2 again, with day 3 recorded; then day 3 is still as it was
      assert.deepEqual(await runAndCompare(db, out, [dates[1] as string]), []);
      assert.deepEqual(await compareDay(db, out, dates[2] as string), []);
    } finally {
      db.close();
    }
  });
});

describe('five days across the 2026-04-01 policy change', () => {
  test('lists pending past their grace are rejected, returns follow the policy of their date, and every day agrees with the ground truth', async () => {
    const out = join(tmp, 'five');
    const dates = ['2026-03-29', '2026-03-30', '2026-03-31', '2026-04-01', '2026-04-02'];
    await generateDays({ out, date: dates[0] as string, days: 5, lists: 1500, seed: 'five', format: 'csv', anomalyRate: 0.08 });
    const db = await openDatabase(':memory:', { threads: 2 });
    try {
      const diffs = await runAndCompare(db, out, dates);
      assert.deepEqual(diffs, []);
      const expired = await db.all(`SELECT count(*)::INTEGER AS n FROM decisions d WHERE decision = 'REJECT' AND list_contains(reasons, 'ORDER_MISSING')
          AND EXISTS (SELECT 1 FROM decisions p WHERE p.agent_code = d.agent_code AND p.cop_no = d.cop_no AND p.decision = 'PENDING' AND p.business_date < d.business_date)`);
      assert.ok(Number(expired[0]?.n) > 0, 'some lists were pending and then rejected at the end of their grace');
      const policies = await db.all(`SELECT DISTINCT policy_id FROM return_decisions ORDER BY 1`);
      assert.deepEqual(policies.map((p) => p.policy_id), ['gacc-2024-167', 'gacc-2026-9610-returns']);
    } finally {
      db.close();
    }
  });
});

describe('reruns, threads, what-if and the inspection queue', () => {
  const out = join(tmp, 'rerun');
  const date = '2025-06-12';
  const snapshot = async (db: Db) =>
    JSON.stringify(await db.all(`SELECT * EXCLUDE (run_id) FROM decisions ORDER BY ALL`), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));

  before(() => generateDays({ out, date, days: 1, lists: 1500, seed: 'rerun', format: 'xml', anomalyRate: 0.1 }));
  /** The sample day ingested and decided in a fresh in-memory database. */
  const decided = async () => {
    const db = await openDatabase(':memory:', { threads: 2 });
    const r = await ingestDay(join(out, date), db, { threads: 2 });
    await decideDay(db, { date, runId: 'a', policy: loadPolicy(), reference: loadReference() });
    return { db, r };
  };

  test('running a day again replaces its results, whatever the thread count', async () => {
    const { db } = await decided();
    try {
      const first = await snapshot(db);
      await ingestDay(join(out, date), db, { threads: 1 });
      await decideDay(db, { date, runId: 'b', policy: loadPolicy(), reference: loadReference() });
      assert.equal(await snapshot(db), first);
      const n = await db.all(`SELECT count(*)::INTEGER AS n, count(DISTINCT (agent_code, cop_no))::INTEGER AS k FROM decisions`);
      assert.equal(n[0]?.n, n[0]?.k);
    } finally {
      db.close();
    }
  });

  test('prepareDay decides a rerun into temp tables and changes nothing persistent; writeDay then publishes what decideDay did', async () => {
    const { db } = await decided();
    try {
      const first = await snapshot(db);
      await ingestDay(join(out, date), db, { threads: 2 }); // the day's staging again, as a rerun has it
      /** every persistent table and view with its row count */
      const persistent = async () => {
        const names = await db.all(`SELECT table_name AS t FROM duckdb_tables() WHERE NOT temporary UNION ALL SELECT view_name FROM duckdb_views() WHERE NOT temporary AND NOT internal ORDER BY 1`);
        const out: string[] = [];
        for (const { t } of names) out.push(`${String(t)} ${String((await db.all(`SELECT count(*) AS n FROM main."${String(t)}"`))[0]?.n)}`);
        return out;
      };
      const beforePrepare = await persistent();
      assert.ok(beforePrepare.some((x) => x.startsWith('stg_lists ')));
      const o = { date, runId: 'c', policy: loadPolicy(), reference: loadReference() };
      const d = await prepareDay(db, o);
      assert.deepEqual(await persistent(), beforePrepare);
      assert.ok(Number((await db.all(`SELECT count(*) AS n FROM out_decisions`))[0]?.n) > 0);
      await db.transaction(() => writeDay(db, o, d.stages));
      assert.equal(d.stages.at(-1)?.stage, 'decide.write');
      assert.equal(await snapshot(db), first);
      assert.ok(!(await persistent()).some((x) => x.startsWith('stg_lists ')), 'the staging tables became the history');
    } finally {
      db.close();
    }
  });

  test('what-if under another policy reports the changes and publishes nothing', async () => {
    const { db } = await decided();
    try {
      const before = await snapshot(db);
      const base = JSON.parse(readFileSync(loadPolicy().source, 'utf8')) as { versions: { id: string; receiptRequiredModes?: string[] }[] };
      for (const v of base.versions) if (v.id === 'gacc-2024-167') v.receiptRequiredModes = ['9610'];
      const w = await whatIf(db, { date, runId: 'w', policy: parsePolicy(base, 'receipts-again.json'), reference: loadReference() });
      assert.ok(w.changed > 0);
      assert.ok((w.reasons.find((r) => r.reason === 'PAYMENT_MISSING')?.added ?? 0) > 0);
      assert.ok(w.transitions.some((t) => t.from === 'RELEASE' && t.to === 'PENDING'));
      assert.equal(await snapshot(db), before);
      const same = await whatIf(db, { date, runId: 'w', policy: loadPolicy(), reference: loadReference() });
      assert.equal(same.changed, 0);
    } finally {
      db.close();
    }
  });

  test('the ledger accounts for every record read: fates add up to the ingest counts per record type', async () => {
    const { db, r } = await decided();
    try {
      const rows = await db.all(`SELECT record_type, sum(count)::INTEGER AS n, list(fate ORDER BY fate) AS fates FROM ledger WHERE fate <> 'expired' GROUP BY ALL`);
      const byType = new Map(rows.map((x) => [String(x.record_type), Number(x.n)]));
      for (const l of r.ledger.filter((x) => !x.recordType.endsWith('_line') && x.read > 0)) assert.equal(byType.get(l.recordType), l.read, l.recordType);
      const lists = rows.find((x) => x.record_type === 'list')?.fates as string[];
      assert.ok(lists.includes('decided') && lists.includes('quarantined') && lists.includes('draft'), lists.join());
      const orders = rows.find((x) => x.record_type === 'order')?.fates as string[];
      assert.ok(orders.includes('superseded') && orders.includes('deleted') && orders.includes('used'), orders.join());
    } finally {
      db.close();
    }
  });

  test('an order whose head is valid but a line is not takes no part in matching, and the ledger counts it quarantined', async () => {
    const fates = async (db: Db) =>
      new Map((await db.all(`SELECT fate, count::INTEGER AS n FROM ledger WHERE record_type = 'order'`)).map((x) => [String(x.fate), Number(x.n)]));
    const { db } = await decided();
    const bad = join(tmp, 'bad-order-line', date);
    cpSync(join(out, date), bad, { recursive: true });
    // the first order line of an order that a list uses gets a gnum that is not a number (FIELD_FORMAT)
    const file = readdirSync(bad).filter((f) => f.startsWith('CEB303')).sort()[0]!;
    const xml = readFileSync(join(bad, file), 'utf8');
    const orderNo = /<ceb:orderNo>([^<]+)<\/ceb:orderNo>/.exec(xml)![1]!;
    writeFileSync(join(bad, file), xml.replace(/<ceb:gnum>1<\/ceb:gnum>/, '<ceb:gnum>x</ceb:gnum>'));
    const db2 = await openDatabase(':memory:', { threads: 2 });
    try {
      const before = await fates(db);
      await ingestDay(bad, db2, { threads: 2 });
      await decideDay(db2, { date, runId: 'b', policy: loadPolicy(), reference: loadReference() });
      const h = await db2.all(`SELECT h.record_valid AS head, bool_and(l.record_valid) AS lines FROM hist_orders h JOIN hist_order_lines l ON l.head_guid = h.guid AND l.order_no = h.order_no
        WHERE h.order_no = '${orderNo}' GROUP BY ALL`);
      assert.deepEqual(h, [{ head: true, lines: false }], 'the head is valid, a line is not');
      const after = await fates(db2);
      assert.equal(after.get('quarantined'), (before.get('quarantined') ?? 0) + 1);
      assert.equal((after.get('used') ?? 0) + (after.get('open') ?? 0), (before.get('used') ?? 0) + (before.get('open') ?? 0) - 1);
      const lists = await db2.all(`SELECT reasons FROM decisions WHERE order_no = '${orderNo}'`);
      for (const l of lists) assert.ok((l.reasons as string[]).includes('ORDER_MISSING'), JSON.stringify(l));
    } finally {
      db.close();
      db2.close();
    }
  });

  test('the inspection queue holds every inspected list, B2B first within each site, positions 1..n', async () => {
    const { db } = await decided();
    try {
      const q = await db.all(`SELECT customs_code, loct_no, list(position ORDER BY position) AS pos, list(priority ORDER BY position) AS pri FROM inspection_queue GROUP BY ALL`);
      const inspected = await db.all(`SELECT count(*)::INTEGER AS n FROM decisions WHERE decision = 'INSPECT'`);
      assert.equal(q.reduce((s, r) => s + (r.pos as number[]).length, 0), inspected[0]?.n);
      for (const r of q) {
        const pos = r.pos as number[];
        assert.deepEqual(pos, pos.map((_, i) => i + 1));
        const pri = r.pri as boolean[];
        assert.deepEqual(pri, [...pri].sort((a, b) => Number(b) - Number(a)));
      }
    } finally {
      db.close();
    }
  });
});
