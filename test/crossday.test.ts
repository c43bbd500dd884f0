/**
 * Hand-made cross-day cases of RULES.md §1–§7, each a few records written as CSV day folders and
 * run day after day through ingest + decide: a late waybill, grace expiry, reuse across days,
 * cancel then declare again, a return a year later, cross-district returns by date. Risk selection
 * is switched off (rates 0, no profiles, no bands) so that clean lists are RELEASE.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openDatabase, type Db } from '../src/db/duck.js';
import { csvCell } from '../src/generate/writers.js';
import { ingestDay } from '../src/ingest/ingest.js';
import { decideDay } from '../src/match/run.js';
import { loadPolicy, parsePolicy, type Policy } from '../src/policy/policy.js';
import { loadReference, type Reference } from '../src/policy/reference.js';
import { recordSpec, tabularColumns, type RecordTypeName } from '../src/spec/fields.js';

const tmp = mkdtempSync(join(tmpdir(), 'declmatch-crossday-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function quietPolicy(): Policy {
  const raw = JSON.parse(readFileSync(loadPolicy().source, 'utf8')) as { versions: Record<string, unknown>[] };
  for (const v of raw.versions) if (v.randomRates) v.randomRates = { '9610': '0', '9710': '0', '9810': '0', '1210': '0' };
  return parsePolicy(raw, 'quiet-policy.json');
}
function quietReference(): Reference {
  const dir = join(tmp, 'ref');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'risk_profiles.csv'), 'id,gcode_prefix,ebc_code,owner_code,country,trade_mode,customs_code,min_value_cny,max_value_cny,valid_from,valid_to,rate\n');
  writeFileSync(join(dir, 'value_bands.csv'), 'hs6,country,min_unit_price_cny,max_unit_price_cny\n');
  return loadReference(dir);
}

type Rec = Record<string, string>;
let serial = 0;
const guid = () => `00000000-0000-4000-8000-${String(++serial).padStart(12, '0')}`;

/** The worked example of CEB-REFERENCE §8, with keys made unique by `n`. */
function sample(n: number, appTime: string, over: { list?: Rec; order?: Rec; waybill?: Rec } = {}) {
  const orderNo = `HX${n}`;
  const logisticsNo = `XD${n}`;
  const order: Rec = { guid: guid(), appType: '1', appTime, appStatus: '2', orderType: 'E', orderNo, ebpCode: '4403960PT8', ebpName: '平台', ebcCode: '4403960ZK9', ebcName: '卓凯', goodsValue: '79.80', freight: '25.00', currency: '142', ...over.order };
  const orderLines: Rec[] = [
    { gnum: '1', itemNo: 'ZK-PC-1001', itemName: '手机保护壳', unit: '011', currency: '142', qty: '2', price: '19.90', totalPrice: '39.80' },
    { gnum: '2', itemNo: 'ZK-WS-2002', itemName: '硅胶表带', unit: '011', currency: '142', qty: '1', price: '40.00', totalPrice: '40.00' },
  ];
  const waybill: Rec = { guid: guid(), appType: '1', appTime, appStatus: '2', logisticsCode: '4403960WL3', logisticsName: '迅达', logisticsNo, freight: '25.00', insuredFee: '0', currency: '142', grossWeight: '0.35', packNo: '1', goodsInfo: '手机保护壳', ebcCode: '4403960ZK9', ...over.waybill };
  const list: Rec = {
    guid: guid(), appType: '1', appTime, appStatus: '2', customsCode: '5141', ebpCode: '4403960PT8', ebpName: '平台', orderNo, logisticsCode: '4403960WL3', logisticsName: '迅达', logisticsNo,
    copNo: `CP${n}`, ieFlag: 'E', portCode: '5141', ieDate: appTime.slice(0, 8), statisticsFlag: 'B', agentCode: '4403980BG2', agentName: '通关宝', ebcCode: '4403960ZK9', ebcName: '卓凯',
    ownerCode: '4419960SC5', ownerName: '东莞卓凯', tradeMode: '9610', trafMode: '5', country: '502', POD: '502', freight: '25.00', fCurrency: '142', fFlag: '3', insuredFee: '0', iCurrency: '142', iFlag: '3',
    wrapType: '2', packNo: '1', grossWeight: '0.35', netWeight: '0.28', ...over.list,
  };
  const listLines: Rec[] = [
    { gnum: '1', itemNo: 'ZK-PC-1001', gcode: '3926909090', gname: '手机保护壳', gmodel: 'TPU', barCode: '无', country: '502', currency: '142', qty: '2', qty1: '0.08', unit: '011', unit1: '035', price: '19.90', totalPrice: '39.80' },
    { gnum: '2', itemNo: 'ZK-WS-2002', gcode: '9113900000', gname: '表带', gmodel: '硅胶', barCode: '无', country: '502', currency: '142', qty: '1', qty1: '0.03', unit: '011', unit1: '035', price: '40.00', totalPrice: '40.00' },
  ];
  const receipt: Rec = { guid: guid(), appType: '1', appTime, appStatus: '2', ebpCode: '4403960PT8', ebpName: '平台', ebcCode: '4403960ZK9', ebcName: '卓凯', orderNo, payName: '支付', charge: '79.80', currency: '142', accountingDate: appTime };
  return { order, orderLines, waybill, receipt, list, listLines };
}

/** Writes one day folder of CSV files; line rows get their head's key and guid. */
function writeDay(dir: string, records: Day): string {
  mkdirSync(dir, { recursive: true });
  for (const [type, rows] of Object.entries(records) as [RecordTypeName, Rec[]][]) {
    if (!rows.length) continue;
    const cols = tabularColumns(recordSpec(type));
    writeFileSync(join(dir, `${recordSpec(type).table}.csv`), [cols.join(','), ...rows.map((r) => cols.map((c) => csvCell(r[c])).join(','))].join('\n') + '\n');
  }
  return dir;
}
const linesOf = (head: Rec, lines: Rec[], key: string[]) => lines.map((l) => ({ ...l, headGuid: head.guid as string, ...Object.fromEntries(key.map((k) => [k, head[k] as string])) }));
type Day = Partial<Record<RecordTypeName, Rec[]>>;
function dayOf(parts: ReturnType<typeof sample>[], omit: { order?: boolean; waybill?: boolean } = {}): Day {
  return {
    order: omit.order ? [] : parts.map((p) => p.order),
    order_line: omit.order ? [] : parts.flatMap((p) => linesOf(p.order, p.orderLines, ['ebpCode', 'ebcCode', 'orderNo'])),
    receipt: parts.map((p) => p.receipt),
    waybill: omit.waybill ? [] : parts.map((p) => p.waybill),
    list: parts.map((p) => p.list),
    list_line: parts.flatMap((p) => linesOf(p.list, p.listLines, ['agentCode', 'copNo'])),
  };
}

async function runDays(name: string, days: [string, Day][]): Promise<Db> {
  const db = await openDatabase(':memory:', { threads: 1 });
  const policy = quietPolicy();
  const reference = quietReference();
  for (const [date, recs] of days) {
    const dir = writeDay(join(tmp, name, date), recs);
    await ingestDay(dir, db, { threads: 1 });
    await decideDay(db, { date, runId: `r-${date}`, policy, reference });
  }
  return db;
}
async function decisionsOf(db: Db, copNo: string): Promise<string[]> {
  const rows = await db.all(`SELECT business_date::VARCHAR AS d, decision, array_to_string(reasons, ';') AS r FROM decisions WHERE cop_no = '${copNo}' ORDER BY business_date`);
  return rows.map((x) => `${x.d} ${x.decision} ${x.r}`.trim());
}

describe('cross-day cases', () => {
  test('a late waybill: PENDING on day 1, decided as if it had come with the list on day 2', async () => {
    const a = sample(1, '20250612100000');
    const d1 = dayOf([a], { waybill: true });
    const db = await runDays('late', [
      ['2025-06-12', d1],
      ['2025-06-13', { waybill: [a.waybill] }],
    ]);
    assert.deepEqual(await decisionsOf(db, 'CP1'), ['2025-06-12 PENDING WAYBILL_MISSING', '2025-06-13 RELEASE']);
    db.close();
  });

  test('grace expiry: pending for three business days from its appTime, then REJECT with the P reason as R', async () => {
    const a = sample(2, '20250612100000');
    const db = await runDays('grace', [
      ['2025-06-12', dayOf([a], { order: true })],
      ['2025-06-13', {}],
      ['2025-06-14', {}],
      ['2025-06-15', {}],
    ]);
    assert.deepEqual(await decisionsOf(db, 'CP2'), ['2025-06-12 PENDING ORDER_MISSING', '2025-06-13 PENDING ORDER_MISSING', '2025-06-14 PENDING ORDER_MISSING', '2025-06-15 REJECT ORDER_MISSING']);
    const sev = await db.all(`SELECT severity FROM decision_reasons WHERE cop_no = 'CP2' AND business_date = DATE '2025-06-15'`);
    assert.deepEqual(sev.map((x) => x.severity), ['R']);
    db.close();
  });

  test('reuse across days: the order of a list released yesterday is held; a new list naming it is ORDER_REUSED', async () => {
    const a = sample(3, '20250612100000');
    const b = sample(4, '20250613100000');
    b.list.orderNo = a.list.orderNo as string;
    const db = await runDays('reuse', [
      ['2025-06-12', dayOf([a])],
      ['2025-06-13', { waybill: [b.waybill], list: [b.list], list_line: linesOf(b.list, b.listLines, ['agentCode', 'copNo']) }],
    ]);
    assert.deepEqual(await decisionsOf(db, 'CP3'), ['2025-06-12 RELEASE']);
    assert.deepEqual(await decisionsOf(db, 'CP4'), ['2025-06-13 REJECT ORDER_REUSED']);
    db.close();
  });

  test('cancel then declare again: the cancel frees the order and waybill for a new list the same day', async () => {
    const a = sample(5, '20250612100000');
    const db0 = await runDays('cancel-probe', [['2025-06-12', dayOf([a])]]);
    const invt = (await db0.all(`SELECT invt_no FROM decisions WHERE cop_no = 'CP5'`))[0]?.invt_no as string;
    db0.close();
    const again = { ...a.list, guid: guid(), copNo: 'CP5B', appTime: '20250613090000', ieDate: '20250613' };
    const cancel: Rec = { guid: guid(), appType: '1', appTime: '20250613080000', appStatus: '2', customsCode: '5141', copNo: 'CX5', invtNo: invt, reason: '撤销重报', agentCode: '4403980BG2', agentName: '通关宝', ebcCode: '4403960ZK9', ebcName: '卓凯' };
    const db = await runDays('cancel', [
      ['2025-06-12', dayOf([a])],
      ['2025-06-13', { cancel: [cancel], list: [again], list_line: linesOf(again, a.listLines, ['agentCode', 'copNo']) }],
    ]);
    assert.deepEqual(await decisionsOf(db, 'CP5'), ['2025-06-12 RELEASE', '2025-06-13 CANCELLED CANCELLED']);
    assert.deepEqual(await decisionsOf(db, 'CP5B'), ['2025-06-13 RELEASE']);
    db.close();
  });

  const returnOf = (invtNo: string, appTime: string, customsCode: string, n: number): { ret: Rec; lines: Rec[] } => {
    const ret: Rec = {
      guid: guid(), appType: '1', appTime, appStatus: '2', customsCode, ebpCode: '4403960PT8', ebpName: '平台', ebcCode: '4403960ZK9', ebcName: '卓凯', logisticsNo: `RT${n}`, logisticsCode: '4403960WL3',
      logisticsName: '迅达', coElNo: `RE${n}`, invtNo, agentCode: '4403980BG2', agentName: '通关宝', billNo: `RB${n}`, ieFlag: 'I', trafMode: '5', trafName: 'CZ3096', portCode: customsCode, reason: '退货', country: '502', voyageNo: 'CZ3096',
    };
    const lines = linesOf(ret, [{ gnum: '1', gcode: '3926909090', gname: '手机保护壳', gmodel: 'TPU', qty: '1', qty1: '0.04', unit: '011', unit1: '035' }], ['agentCode', 'coElNo']);
    return { ret, lines };
  };
  async function returnDecision(name: string, listDay: string, listTime: string, returnDay: string, returnTime: string, customsCode: string): Promise<string> {
    const a = sample(100 + serial, listTime);
    const db0 = await runDays(`${name}-probe`, [[listDay, dayOf([a])]]);
    const invt = (await db0.all(`SELECT invt_no FROM decisions`))[0]?.invt_no as string;
    db0.close();
    const r = returnOf(invt, returnTime, customsCode, serial);
    const db = await runDays(name, [
      [listDay, dayOf([a])],
      [returnDay, { return: [r.ret], return_line: r.lines }],
    ]);
    const rows = await db.all(`SELECT decision, array_to_string(reasons, ';') AS r FROM return_decisions`);
    db.close();
    return `${rows[0]?.decision} ${rows[0]?.r}`.trim();
  }

  test('a return within a year of the export date is accepted; a year and a day later it is RETURN_EXPIRED', async () => {
    assert.equal(await returnDecision('ret-in', '2024-06-12', '20240612100000', '2025-06-12', '20250612100000', '5141'), 'ACCEPT');
    assert.equal(await returnDecision('ret-late', '2024-06-12', '20240612100000', '2025-06-13', '20250613100000', '5141'), 'REJECT RETURN_EXPIRED');
  });

  test('cross-district returns of 9610: none before 2024-12-15, into pilot districts from then, anywhere from 2026-04-01', async () => {
    // 5141 is Guangzhou (5100); 2210 Shanghai (2200, a pilot district); 4713 Wuhan (4700, not a pilot district)
    assert.equal(await returnDecision('x1', '2024-12-01', '20241201100000', '2024-12-10', '20241210100000', '2210'), 'REJECT RETURN_CROSS_DISTRICT_NOT_ALLOWED');
    assert.equal(await returnDecision('x2', '2024-12-20', '20241220100000', '2025-01-10', '20250110100000', '2210'), 'ACCEPT');
    assert.equal(await returnDecision('x3', '2024-12-20', '20241220100000', '2025-01-10', '20250110100000', '4713'), 'REJECT RETURN_CROSS_DISTRICT_NOT_ALLOWED');
    assert.equal(await returnDecision('x4', '2026-03-20', '20260320100000', '2026-04-01', '20260401100000', '4713'), 'ACCEPT');
  });
});
