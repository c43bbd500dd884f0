/**
 * Differential test (issue #4): on small random business days the SQL matcher (ingestDay +
 * decideDay) must agree, list by list and return by return, with the plain TypeScript reading of
 * RULES.md in test/reference/matcher.ts. The days come from test/reference/random-days.ts: small
 * key spaces, so that orders and waybills collide, counterparts come late or early, versions are
 * re-declared, deleted, drafted, stale or tied, and cancels and returns aim at earlier days.
 *
 * Compared per list and day: decision, sorted reasons, invtNo, policy id, exact value_cny; per
 * return: decision, sorted reasons, invtNo, policy id; per day the ledger (RULES.md §3: the count
 * of each record type and fate). `DECLMATCH_DIFF_SEEDS=25` runs more seeds.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openDatabase, type Db } from '../src/db/duck.js';
import { ingestDay } from '../src/ingest/ingest.js';
import { decideDay } from '../src/match/run.js';
import { loadPolicy, parsePolicy, type Policy } from '../src/policy/policy.js';
import { loadReference } from '../src/policy/reference.js';
import { ReferenceMatcher, type DayInput, type DayResult, type Rec } from './reference/matcher.js';
import { RandomDays, writeDayCsv, type Outcome } from './reference/random-days.js';

const tmp = mkdtempSync(join(tmpdir(), 'declmatch-differential-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * Runs that straddle the policy changes of 2024-12-15 and 2026-04-01, year ends (invtNo year and day
 * of year; the end of the bundled RP-OLD profile's validity on 2021-12-31) and a plain week.
 */
const STARTS = ['2024-12-13', '2024-12-14', '2026-03-30', '2026-03-31', '2025-06-12', '2024-12-30', '2021-12-30'];
/**
 * Seeds 1..N: seed % 7 picks the start date, seed % 2 the policy (10 seeds: every start date, three
 * of them under both policies; 14 cover every pair). Each run of a day costs about a second of fixed
 * ingest (the parse pool) and decide time, so the default keeps the file near 30 s on 2 cores.
 */
const SEEDS = Array.from({ length: Number(process.env.DECLMATCH_DIFF_SEEDS ?? 10) }, (_, i) => i + 1);
const DAYS = 3;
const LISTS_PER_DAY: [number, number] = [70, 160];

/** The bundled policy, or (odd seeds) one with high random rates so that the draws select often. */
function policyFor(seed: number): Policy {
  if (seed % 2 === 0) return loadPolicy();
  const raw = JSON.parse(readFileSync(loadPolicy().source, 'utf8')) as { versions: Record<string, unknown>[] };
  for (const v of raw.versions) {
    if (v.randomRates) v.randomRates = { '9610': '0.15', '1210': '0.2', '9710': '0.3', '9810': '0.25' };
    if (v.aeoFactor) v.aeoFactor = '0.5';
  }
  return parsePolicy(raw, 'noisy-policy.json');
}


const totals = { days: 0, lists: 0, returns: 0 };
const show = (x: unknown) => JSON.stringify(x);

async function actualDay(db: Db, date: string) {
  const lists = await db.all(`SELECT agent_code, cop_no, invt_no, decision, array_to_string(list_sort(reasons), ';') AS reasons, policy_id, value_cny::VARCHAR AS value_cny
    FROM decisions WHERE business_date = DATE '${date}' ORDER BY agent_code, cop_no`);
  const returns = await db.all(`SELECT agent_code, co_el_no, invt_no, decision, array_to_string(list_sort(reasons), ';') AS reasons, policy_id
    FROM return_decisions WHERE business_date = DATE '${date}' ORDER BY agent_code, co_el_no`);
  const ledger = new Map((await db.all(`SELECT record_type || ' ' || fate AS k, count::INTEGER AS n FROM ledger WHERE business_date = DATE '${date}'`)).map((r) => [String(r.k), Number(r.n)]));
  return { lists, returns, ledger };
}
type Actual = Awaited<ReturnType<typeof actualDay>>;

/** Every difference between the reference's day and the matcher's, as a message naming seed, date, key and both sides. */
function compare(seed: number | string, expected: DayResult, actual: Actual): string[] {
  const diffs: string[] = [];
  const d = expected.date;
  const exp = new Map(expected.decisions.map((x) => [`${x.agentCode}|${x.copNo}`, x]));
  const act = new Map(actual.lists.map((x) => [`${x.agent_code}|${x.cop_no}`, x]));
  for (const [k, e] of exp) {
    const a = act.get(k);
    const want = { decision: e.decision, reasons: e.reasons.join(';'), invtNo: e.invtNo, policyId: e.policyId, valueCny: e.valueCny };
    if (a === undefined) {
      diffs.push(`seed ${seed} ${d} list ${k}: reference ${show(want)}, matcher: no row`);
      continue;
    }
    const got = { decision: a.decision, reasons: a.reasons, invtNo: a.invt_no ?? null, policyId: a.policy_id ?? null, valueCny: a.value_cny ?? null };
    if (show(want) !== show(got)) diffs.push(`seed ${seed} ${d} list ${k}: reference ${show(want)}, matcher ${show(got)}`);
  }
  for (const [k, a] of act) if (!exp.has(k)) diffs.push(`seed ${seed} ${d} list ${k}: reference: no row, matcher ${show(a)}`);

  const expR = new Map(expected.returns.map((x) => [`${x.agentCode}|${x.coElNo}`, x]));
  const actR = new Map(actual.returns.map((x) => [`${x.agent_code}|${x.co_el_no}`, x]));
  for (const [k, e] of expR) {
    const a = actR.get(k);
    const want = { decision: e.decision, reasons: e.reasons.join(';'), invtNo: e.invtNo, policyId: e.policyId };
    if (a === undefined) {
      diffs.push(`seed ${seed} ${d} return ${k}: reference ${show(want)}, matcher: no row`);
      continue;
    }
    const got = { decision: a.decision, reasons: a.reasons, invtNo: a.invt_no ?? null, policyId: a.policy_id ?? null };
    if (show(want) !== show(got)) diffs.push(`seed ${seed} ${d} return ${k}: reference ${show(want)}, matcher ${show(got)}`);
  }
  for (const [k, a] of actR) if (!expR.has(k)) diffs.push(`seed ${seed} ${d} return ${k}: reference: no row, matcher ${show(a)}`);

  for (const k of new Set([...expected.ledger.keys(), ...actual.ledger.keys()]))
    if ((expected.ledger.get(k) ?? 0) !== (actual.ledger.get(k) ?? 0)) diffs.push(`seed ${seed} ${d} ledger ${k}: reference ${expected.ledger.get(k) ?? 0}, matcher ${actual.ledger.get(k) ?? 0}`);
  return diffs;
}

describe('differential: the SQL matcher against the reference reading of RULES.md', () => {
  const reference = loadReference();
  for (const seed of SEEDS) {
    const start = STARTS[seed % STARTS.length]!;
    test(`seed ${seed}: ${DAYS} days from ${start}`, async () => {
      const policy = policyFor(seed);
      const ref = new ReferenceMatcher(policy, reference);
      const days = new RandomDays(`differential-${seed}`, start, DAYS, LISTS_PER_DAY);
      const db = await openDatabase(':memory:', { threads: 1 });
      const diffs: string[] = [];
      try {
        for (let d = 0; d < DAYS; d++) {
          const outcomes = new Map<string, Outcome>([...ref.lists].map(([k, s]) => [k, { invtNo: s.invtNo, decision: s.decision }]));
          const input = days.day(d, outcomes);
          const dir = writeDayCsv(join(tmp, String(seed)), input);
          await ingestDay(dir, db, { threads: 1 });
          await decideDay(db, { date: input.date, runId: `diff-${seed}-${input.date}`, policy, reference });
          const actual = await actualDay(db, input.date);
          const expected = ref.runDay(input);
          diffs.push(...compare(seed, expected, actual));
          totals.days++;
          totals.lists += expected.decisions.length;
          totals.returns += expected.returns.length;
        }
      } finally {
        db.close();
      }
      assert.deepEqual(diffs.slice(0, 25), [], `${diffs.length} disagreements`);
    });
  }
  after(() =>
    console.log(
      `differential: ${SEEDS.length} seeds, ${totals.days} days, ${totals.lists} list decisions, ${totals.returns} return decisions compared`,
    ),
  );
});

describe('a disagreement the differential test found, by hand', () => {
  // A released on day 1 holds order HX1; on day 2 A is declared again (DUPLICATE_LIST) and B names
  // HX1; on day 3 C names HX1. RULES.md §4: "A list that ends rejected or cancelled frees what it
  // held", so B takes HX1 on day 2 and C is ORDER_REUSED on day 3. The matcher once kept A's hold
  // for the lists of day 2 (B ORDER_REUSED) and dropped it from day 3 (C RELEASE).
  test('a re-declared released list frees its order for the lists of the same run', async () => {
    const raw = JSON.parse(readFileSync(loadPolicy().source, 'utf8')) as { versions: Record<string, unknown>[] };
    for (const v of raw.versions) if (v.randomRates) v.randomRates = { '9610': '0', '9710': '0', '9810': '0', '1210': '0' };
    const policy = parsePolicy(raw, 'quiet-policy.json');
    const refDir = join(tmp, 'quiet-ref');
    mkdirSync(refDir, { recursive: true });
    writeFileSync(join(refDir, 'risk_profiles.csv'), 'id,gcode_prefix,ebc_code,owner_code,country,trade_mode,customs_code,min_value_cny,max_value_cny,valid_from,valid_to,rate\n');
    writeFileSync(join(refDir, 'value_bands.csv'), 'hs6,country,min_unit_price_cny,max_unit_price_cny\n');
    const reference = loadReference(refDir);
    let n = 0;
    const guid = () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
    const order: Rec = { guid: guid(), appType: '1', appTime: '20250612090000', appStatus: '2', orderType: 'E', orderNo: 'HX1', ebpCode: '4403960PT8', ebpName: 'P', ebcCode: '4403960ZK9', ebcName: 'E', goodsValue: '39.80', freight: '25.00', currency: '142' };
    const orderLine: Rec = { ebpCode: '4403960PT8', ebcCode: '4403960ZK9', orderNo: 'HX1', headGuid: order.guid!, gnum: '1', itemNo: 'ZK-PC-1001', itemName: '壳', unit: '011', currency: '142', qty: '2', price: '19.90', totalPrice: '39.80' };
    const waybill = (no: string, t: string): Rec => ({ guid: guid(), appType: '1', appTime: t, appStatus: '2', logisticsCode: '4403960WL3', logisticsName: 'L', logisticsNo: no, freight: '25.00', insuredFee: '0', currency: '142', grossWeight: '0.35', packNo: '1', goodsInfo: 'g', ebcCode: '4403960ZK9' });
    const list = (copNo: string, wb: string, t: string, appType = '1'): Rec => ({
      guid: guid(), appType, appTime: t, appStatus: '2', customsCode: '5141', ebpCode: '4403960PT8', ebpName: 'P', orderNo: 'HX1', logisticsCode: '4403960WL3', logisticsName: 'L', logisticsNo: wb, copNo,
      ieFlag: 'E', portCode: '5141', ieDate: t.slice(0, 8), statisticsFlag: 'B', agentCode: '4403980BG2', agentName: 'A', ebcCode: '4403960ZK9', ebcName: 'E', ownerCode: '4419960SC5', ownerName: 'O',
      tradeMode: '9610', trafMode: '5', country: '502', POD: '502', freight: '25.00', fCurrency: '142', fFlag: '3', insuredFee: '0', iCurrency: '142', iFlag: '3', wrapType: '2', packNo: '1', grossWeight: '0.35', netWeight: '0.28',
    });
    const listLine = (l: Rec): Rec => ({ agentCode: l.agentCode!, copNo: l.copNo!, headGuid: l.guid!, gnum: '1', itemNo: 'ZK-PC-1001', gcode: '3926909090', gname: '壳', gmodel: 'TPU', barCode: '无', country: '502', currency: '142', qty: '2', qty1: '0.08', unit: '011', unit1: '035', price: '19.90', totalPrice: '39.80' });
    const day = (date: string, r: Partial<DayInput>): DayInput => ({ date, order: [], order_line: [], receipt: [], waybill: [], list: [], list_line: [], cancel: [], return: [], return_line: [], ...r });
    const a1 = list('A', 'W1', '20250612100000');
    const a2 = list('A', 'W1', '20250613100000', '2');
    const b = list('B', 'W2', '20250613110000');
    const c = list('C', 'W3', '20250614110000');
    const days = [
      day('2025-06-12', { order: [order], order_line: [orderLine], waybill: [waybill('W1', '20250612090000')], list: [a1], list_line: [listLine(a1)] }),
      day('2025-06-13', { waybill: [waybill('W2', '20250613090000')], list: [a2, b], list_line: [listLine(a2), listLine(b)] }),
      day('2025-06-14', { waybill: [waybill('W3', '20250614090000')], list: [c], list_line: [listLine(c)] }),
    ];
    const db = await openDatabase(':memory:', { threads: 1 });
    const ref = new ReferenceMatcher(policy, reference);
    const diffs: string[] = [];
    try {
      for (const d of days) {
        await ingestDay(writeDayCsv(join(tmp, 'known'), d), db, { threads: 1 });
        await decideDay(db, { date: d.date, runId: d.date, policy, reference });
        diffs.push(...compare('by hand', ref.runDay(d), await actualDay(db, d.date)));
      }
      const rows = await db.all(`SELECT business_date::VARCHAR AS d, cop_no, decision, array_to_string(reasons, ';') AS r FROM decisions WHERE cop_no IN ('B', 'C') ORDER BY 1`);
      const got = rows.map((x) => `${x.d} ${x.cop_no} ${x.decision} ${x.r}`.trim());
      assert.deepEqual(got, ['2025-06-13 B RELEASE', '2025-06-14 C REJECT ORDER_REUSED'], `matcher: ${got.join(', ')}`);
      assert.deepEqual(diffs, [], 'the reference agrees');
    } finally {
      db.close();
    }
  });
});
