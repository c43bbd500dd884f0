/**
 * src/match/checks.ts: the SQL checks of RULES.md §4 against fixtures (one mutation per reason
 * code, the boundaries), then differentially against checkList of src/generate/truth.ts on a few
 * hundred seeded random lists fed the same records.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase } from '../src/db/duck.js';
import { CHECKS, CHECK_TABLES_DDL, runChecks } from '../src/match/checks.js';
import { checkList, type Doc, type ListWorld, type Rec } from '../src/generate/truth.js';
import { loadPolicy, policyFor, type PolicyVersion } from '../src/policy/policy.js';
import { loadReference, normaliseCurrency } from '../src/policy/reference.js';
import { formatDecimal, parseDecimal, parseTimestamp14 } from '../src/spec/validate.js';

const policy = loadPolicy();
const ref = loadReference();
const policyAt = (date: string): PolicyVersion => policyFor(policy, date);

const EBP = '4403960PT8';
const EBC = '4403960ZK1';
const OTHER_EBC = '4403960XX9';
const LOG_CODE = '4403960WL3';
const DAY = 86_400;

// ---- fixtures ------------------------------------------------------------------------------------

/** One list and what it may see; `decoy` is another order with the list's (ebpCode, orderNo). */
interface Case {
  list: Doc;
  order?: Doc;
  decoy?: Doc;
  waybill?: Rec;
  receipt?: Rec;
}

/** The worked example of CEB-REFERENCE.md §8 (as in truth.test.ts), keys made unique by `n`. */
function baseCase(n = 0, listTime = '20250612103045', waybillTime = '20250612101522'): Case {
  const orderNo = `HX20250612${String(n).padStart(8, '0')}`;
  const logisticsNo = `XD61200250612${String(n).padStart(5, '0')}`;
  const line = (gnum: string, itemNo: string, gcode: string, qty: string, price: string, total: string): Rec => ({
    gnum, itemNo, gcode, country: '502', currency: '142', qty, price, totalPrice: total, unit: '011',
  });
  return {
    list: {
      head: {
        appTime: listTime, customsCode: '5141', ebpCode: EBP, ebcCode: EBC, orderNo,
        logisticsCode: LOG_CODE, logisticsNo, agentCode: '4403980BG2', copNo: `ZK${String(n).padStart(14, '0')}`,
        tradeMode: '9610', statisticsFlag: 'B', country: '502', ownerCode: '4419960SC5',
        freight: '25.00', fFlag: '3', insuredFee: '0', iFlag: '3', packNo: '1', grossWeight: '0.35', netWeight: '0.28',
      },
      lines: [
        line('1', 'ZK-PC-1001', '3926909090', '2', '19.90', '39.80'),
        line('2', 'ZK-WS-2002', '9113900000', '1', '40.00', '40.00'),
      ],
    },
    order: {
      head: { ebpCode: EBP, ebcCode: EBC, orderNo, orderType: 'E', goodsValue: '79.80', currency: '142' },
      lines: [
        { gnum: '1', itemNo: 'ZK-PC-1001', unit: '011', currency: '142', qty: '2', price: '19.90', totalPrice: '39.80' },
        { gnum: '2', itemNo: 'ZK-WS-2002', unit: '011', currency: '142', qty: '1', price: '40.00', totalPrice: '40.00' },
      ],
    },
    waybill: {
      logisticsCode: LOG_CODE, logisticsNo, appTime: waybillTime, ebcCode: EBC,
      freight: '25.00', insuredFee: '0', grossWeight: '0.35', packNo: '1',
    },
    receipt: { ebcCode: EBC, orderNo, charge: '79.80' },
  };
}

const listKey = (list: Doc): string => `${list.head.agentCode}|${list.head.copNo}`;

/** Sets the goods amounts of list and order lines alike and keeps goodsValue and the receipt in step. */
function setTotals(c: Case, totals: readonly string[], currency?: string): void {
  let sum = 0n;
  totals.forEach((t, i) => {
    sum += dec(t);
    for (const l of [c.list.lines[i], c.order?.lines[i]]) {
      if (!l) continue;
      l.totalPrice = t;
      if (currency !== undefined) l.currency = currency;
    }
  });
  if (c.order) c.order.head.goodsValue = formatDecimal(sum);
  if (c.receipt) c.receipt.charge = formatDecimal(sum);
}

function asB2B(c: Case, mode: '9710' | '9810'): void {
  c.list.head.tradeMode = mode;
  if (c.order) c.order.head.orderType = mode === '9710' ? 'B' : 'W';
}

// ---- numbers and times ---------------------------------------------------------------------------

function dec(text: string): bigint {
  const v = parseDecimal(text);
  if (typeof v === 'string') throw new Error(v);
  return v;
}
const plus = (text: string, delta: string): string => formatDecimal(dec(text) + dec(delta));
function secondsOf(ts14: string): number {
  const s = parseTimestamp14(ts14);
  if (s === null) throw new Error(`bad time ${ts14}`);
  return s;
}
function ts14(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/[-T:]/g, '').slice(0, 14);
}
const dateOf = (ts: string): string => `${ts.slice(0, 4)}-${ts.slice(4, 6)}-${ts.slice(6, 8)}`;

// ---- the same records into DuckDB and into truth.ts ---------------------------------------------

interface World {
  lists: Doc[];
  orders: Doc[];
  waybills: Rec[];
  receipts: Rec[];
}

function worldOf(cases: readonly Case[]): World {
  const w: World = { lists: [], orders: [], waybills: [], receipts: [] };
  for (const c of cases) {
    w.lists.push(c.list);
    if (c.order) w.orders.push(c.order);
    if (c.decoy) w.orders.push(c.decoy);
    if (c.waybill) w.waybills.push(c.waybill);
    if (c.receipt) w.receipts.push(c.receipt);
  }
  for (const [what, keys] of [
    ['list', w.lists.map((l) => listKey(l))],
    ['order', w.orders.map((o) => `${o.head.ebpCode}|${o.head.ebcCode}|${o.head.orderNo}`)],
    ['waybill', w.waybills.map((x) => `${x.logisticsCode}|${x.logisticsNo}`)],
    ['receipt', w.receipts.map((r) => `${r.ebcCode}|${r.orderNo}`)],
  ] as const)
    assert.equal(new Set(keys).size, keys.length, `fixture bug: duplicate ${what} key`);
  return w;
}

const str = (v: string | undefined): string => {
  const t = (v ?? '').trim();
  return t === '' ? 'NULL' : `'${t.replace(/'/g, "''")}'`;
};
const num = (v: string | undefined): string => (str(v) === 'NULL' ? 'NULL' : `CAST(${str(v)} AS DECIMAL(19,5))`);
const int = (v: string | undefined): string => (str(v) === 'NULL' ? 'NULL' : `CAST(${str(v)} AS INTEGER)`);
const cur = (v: string | undefined): string => str(normaliseCurrency(v ?? ''));
const tsLit = (v: string | undefined): string => {
  const t = (v ?? '').trim();
  return t === '' ? 'NULL' : `TIMESTAMP '${dateOf(t)} ${t.slice(8, 10)}:${t.slice(10, 12)}:${t.slice(12, 14)}'`;
};
const scaled = (v: bigint, scale: number): string => {
  const one = 10n ** BigInt(scale);
  return `${v / one}.${(v % one).toString().padStart(scale, '0')}`;
};

function insert(table: string, rows: string[][]): string {
  return rows.length ? `INSERT INTO ${table} VALUES ${rows.map((r) => `(${r.join(', ')})`).join(',\n')};\n` : '';
}

function referenceSql(): string {
  const pol = policy.versions.map((v) => [
    str(v.id), num(formatDecimal(v.amountTolerance)), String(v.waybillWindowDays), num(formatDecimal(v.weightToleranceKg)),
    num(formatDecimal(v.weightTolerancePct)), `CAST([${v.receiptRequiredModes.map(str).join(', ')}] AS VARCHAR[])`,
    num(formatDecimal(v.b2bThresholdCny)), num(formatDecimal(v.simplifiedThresholdCny)),
  ]);
  const rates = [...ref.rates].map(([k, v]) => {
    const [currency, month] = k.split('|');
    return [str(currency), str(month), `CAST('${scaled(v, 8)}' AS DECIMAL(18,8))`];
  });
  return insert('m_policy', pol) + insert('m_rates', rates) + insert('m_controlled', ref.controlled.map((c) => [str(c.hsPrefix)]));
}

function worldSql(w: World): string {
  // m_ tables key a list and an order by an integer (run.ts numbers them): its place in the world, from 1
  const lists = w.lists.map(({ head: h }, i) => [
    String(i + 1), tsLit(h.appTime), str(policyAt(dateOf(h.appTime ?? '')).id), str(h.customsCode),
    str(h.ebpCode), str(h.ebcCode), str(h.orderNo), str(h.logisticsCode), str(h.logisticsNo), str(h.tradeMode),
    str(h.statisticsFlag), str(h.country), str(h.ownerCode), num(h.freight), str(h.fFlag), num(h.insuredFee), str(h.iFlag),
    int(h.packNo), num(h.grossWeight), num(h.netWeight),
  ]);
  const listLines = w.lists.flatMap((l, i) =>
    l.lines.map((x) => [
      String(i + 1), int(x.gnum), str(x.itemNo), str(x.gcode), str(x.country), cur(x.currency), num(x.qty), num(x.price),
      num(x.totalPrice), str(x.unit),
    ]),
  );
  const orders = w.orders.map(({ head: h }, i) => [
    String(i + 1), str(h.ebpCode), str(h.ebcCode), str(h.orderNo), str(h.orderType), num(h.goodsValue), cur(h.currency),
  ]);
  const orderLines = w.orders.flatMap((o, i) =>
    o.lines.map((x) => [
      String(i + 1), str(o.head.ebpCode), str(o.head.ebcCode), str(o.head.orderNo), int(x.gnum), str(x.itemNo), str(x.unit), cur(x.currency),
      num(x.qty), num(x.price), num(x.totalPrice),
    ]),
  );
  const waybills = w.waybills.map((x) => [
    str(x.logisticsCode), str(x.logisticsNo), tsLit(x.appTime), str(x.ebcCode), num(x.freight), num(x.insuredFee),
    num(x.grossWeight), int(x.packNo),
  ]);
  const receipts = w.receipts.map((r) => [str(r.ebcCode), str(r.orderNo), num(r.charge)]);
  return (
    insert('m_lists', lists) + insert('m_list_lines', listLines) + insert('m_orders', orders) +
    insert('m_order_lines', orderLines) + insert('m_waybills', waybills) + insert('m_receipts', receipts)
  );
}

interface Outcome {
  /** sorted `CODE/severity` */
  codes: string[];
  details: string[];
  /** CNY value × 10^13, null when unknown */
  value: bigint | null;
}

async function sqlOutcomes(w: World): Promise<Map<string, Outcome>> {
  const db = await openDatabase(':memory:', { threads: 1 });
  try {
    await db.run(CHECK_TABLES_DDL);
    await db.run(referenceSql());
    await db.run(worldSql(w));
    await runChecks(db);
    const out = new Map<string, Outcome>();
    const keyOf = (id: unknown): string => listKey(w.lists[Number(id) - 1]!);
    for (const r of await db.all('SELECT list_key, value_cny FROM m_values')) {
      const v = r.value_cny;
      out.set(keyOf(r.list_key), { codes: [], details: [], value: v === null ? null : BigInt(String(v).replace('.', '')) });
    }
    for (const r of await db.all('SELECT list_key, code, severity, detail FROM m_reasons ORDER BY list_key, code')) {
      const o = out.get(keyOf(r.list_key));
      assert.ok(o, `a reason for a list without a value row: ${String(r.list_key)}`);
      o.codes.push(`${String(r.code)}/${String(r.severity)}`);
      o.details.push(r.detail as string);
    }
    return out;
  } finally {
    db.close();
  }
}

/** What the list sees, read the way the generator reads it (latest versions are already the only ones). */
function listWorld(list: Doc, w: World): ListWorld {
  const h = list.head;
  const order = w.orders.find((o) => o.head.ebpCode === h.ebpCode && o.head.ebcCode === h.ebcCode && o.head.orderNo === h.orderNo);
  const orderOtherParty = !order && w.orders.some((o) => o.head.ebpCode === h.ebpCode && o.head.orderNo === h.orderNo);
  const t = secondsOf(h.appTime ?? '');
  const days = policyAt(dateOf(h.appTime ?? '')).waybillWindowDays;
  const waybill = w.waybills.find(
    (x) => x.logisticsCode === h.logisticsCode && x.logisticsNo === h.logisticsNo && secondsOf(x.appTime ?? '') >= t - days * DAY,
  );
  const receipt = w.receipts.find((r) => r.ebcCode === h.ebcCode && r.orderNo === h.orderNo);
  return { order, orderOtherParty, waybill, receipt, duplicate: false };
}

function truthOutcomes(w: World): Map<string, Outcome> {
  const out = new Map<string, Outcome>();
  for (const list of w.lists) {
    const c = checkList(list, listWorld(list, w), policyAt, ref);
    out.set(listKey(list), {
      codes: c.reasons.map((r) => `${r.code}/${r.severity}`).sort(),
      details: c.reasons.map((r) => r.detail),
      value: c.valueCny13,
    });
  }
  return out;
}

/** Runs one case (or several) through both; asserts they agree and returns the first list's SQL outcome. */
async function outcome(cases: Case | Case[]): Promise<Outcome> {
  const all = Array.isArray(cases) ? cases : [cases];
  const w = worldOf(all);
  const sql = await sqlOutcomes(w);
  const truth = truthOutcomes(w);
  for (const [k, t] of truth) {
    const s = sql.get(k);
    assert.ok(s, `no SQL outcome for ${k}`);
    assert.deepEqual(s.codes, t.codes, `SQL vs truth.ts for ${k}: ${JSON.stringify(s.details)}`);
    assert.equal(s.value, t.value, `value of ${k}`);
  }
  const first = sql.get(listKey(all[0]!.list));
  assert.ok(first);
  return first;
}

/** Asserts exactly these reasons (`CODE/severity`), in SQL and in truth.ts alike. */
async function expect(c: Case | Case[], codes: string[]): Promise<Outcome> {
  const o = await outcome(c);
  assert.deepEqual(o.codes, [...codes].sort(), JSON.stringify(o.details));
  for (const d of o.details) assert.ok(typeof d === 'string' && d.length > 0, 'every reason has a detail');
  return o;
}

// ---- shape -----------------------------------------------------------------------------------------

test('CHECKS: every §4 reason except those decided elsewhere, in §4 order, each an INSERT INTO m_reasons', () => {
  assert.deepEqual(
    CHECKS.map((c) => `${c.code}/${c.severity}`),
    [
      'ORDER_MISSING/P', 'ORDER_PARTY_MISMATCH/R', 'ORDER_TYPE_MISMATCH/R', 'LINE_COUNT_MISMATCH/R', 'LINE_MISMATCH/R',
      'VALUE_MISMATCH/R', 'WAYBILL_MISSING/P', 'WAYBILL_PARTY_MISMATCH/R', 'FREIGHT_MISMATCH/V', 'INSURANCE_MISMATCH/V',
      'PACK_MISMATCH/V', 'WEIGHT_MISMATCH/V', 'NET_OVER_GROSS/R', 'PAYMENT_MISSING/P', 'PAYMENT_MISMATCH/V',
      'UNKNOWN_CURRENCY/R', 'B2B_OVER_THRESHOLD/R', 'B2B_CONTROLLED_GOODS/R', 'SIMPLIFIED_NOT_ELIGIBLE/R',
    ],
  );
  for (const c of CHECKS) {
    assert.match(c.sql, /^\s*INSERT INTO m_reasons\b/);
    assert.ok(c.sql.includes(`'${c.code}', '${c.severity}'`), c.code);
    assert.doesNotMatch(c.sql, /DOUBLE|FLOAT|REAL/i, `${c.code} stays in exact decimals`);
  }
});

test('runChecks refuses a list whose policy version m_policy lacks', async () => {
  const db = await openDatabase(':memory:', { threads: 1 });
  try {
    await db.run(CHECK_TABLES_DDL);
    await db.run(worldSql(worldOf([baseCase()])));
    await assert.rejects(runChecks(db), /gacc-2024-167/);
  } finally {
    db.close();
  }
});

// ---- clean case ------------------------------------------------------------------------------------

test('clean case: no reasons, value 79.80 CNY; also without a receipt under gacc-2024-167', async () => {
  const o = await expect(baseCase(), []);
  assert.equal(o.value, 7980000n * 10n ** 8n);
  const c = baseCase();
  delete c.receipt;
  await expect(c, []);
});

// ---- one mutation per reason code ------------------------------------------------------------------

test('ORDER_MISSING (P): no order; no order checks run (PAYMENT_MISMATCH needs the order)', async () => {
  const c = baseCase();
  delete c.order;
  c.receipt!.charge = '1.00';
  c.list.lines[0]!.itemNo = 'OTHER';
  await expect(c, ['ORDER_MISSING/P']);
});

test('ORDER_PARTY_MISMATCH (R) instead of ORDER_MISSING when the order has another ebcCode', async () => {
  const c = baseCase();
  c.order!.head.ebcCode = OTHER_EBC;
  c.receipt!.charge = '1.00';
  await expect(c, ['ORDER_PARTY_MISMATCH/R']);
  // the right order and a decoy: the right one wins
  const d = baseCase();
  d.decoy = { head: { ...d.order!.head, ebcCode: OTHER_EBC }, lines: d.order!.lines };
  await expect(d, []);
});

test('ORDER_TYPE_MISMATCH (R): 9610 needs E, 9710 B, 9810 W, 1210 E', async () => {
  const c = baseCase();
  c.order!.head.orderType = 'B';
  await expect(c, ['ORDER_TYPE_MISMATCH/R']);
  for (const mode of ['9710', '9810'] as const) {
    const b = baseCase();
    asB2B(b, mode);
    await expect(b, []);
    b.order!.head.orderType = 'E';
    await expect(b, ['ORDER_TYPE_MISMATCH/R']);
  }
  const e = baseCase();
  e.list.head.tradeMode = '1210';
  await expect(e, []);
});

test('LINE_COUNT_MISMATCH (R): a gnum only on the order, or only on the list', async () => {
  const c = baseCase();
  c.order!.lines.push({ ...c.order!.lines[1]!, gnum: '3' });
  const o = await expect(c, ['LINE_COUNT_MISMATCH/R']);
  assert.equal(o.details[0], 'gnum only on list: [], only on order: [3]');
  const d = baseCase();
  d.order!.lines.pop();
  await expect(d, ['LINE_COUNT_MISMATCH/R']);
  const e = baseCase();
  e.order!.lines = [];
  await expect(e, ['LINE_COUNT_MISMATCH/R']);
});

test('LINE_MISMATCH (R): one reason per list naming every gnum and field', async () => {
  for (const [i, field, value] of [
    [0, 'itemNo', 'ZK-PC-9999'],
    [1, 'unit', '007'],
    [0, 'currency', '502'],
    [0, 'qty', '2.01001'],
    [1, 'price', '39.98999'],
  ] as const) {
    const c = baseCase();
    c.order!.lines[i]![field] = value;
    const o = await expect(c, ['LINE_MISMATCH/R']);
    assert.match(o.details[0]!, new RegExp(`^gnum ${i + 1} ${field} `));
  }
  const c = baseCase();
  c.order!.lines[1]!.itemNo = 'X';
  c.order!.lines[0]!.unit = '007';
  c.order!.lines[0]!.totalPrice = '39.82';
  const o = await expect(c, ['LINE_MISMATCH/R']);
  assert.equal(o.details[0], 'gnum 1 unit 011 vs 007; gnum 1 totalPrice 39.8 vs 39.82; gnum 2 itemNo ZK-WS-2002 vs X');
  // ISO letters on one side, the customs code on the other: the same currency
  const u = baseCase();
  setTotals(u, ['39.80', '40.00'], '502');
  u.order!.lines[0]!.currency = 'USD';
  await expect(u, []);
});

test('amount tolerance: 0.01 exactly is no mismatch, 0.01001 is (lines and goodsValue)', async () => {
  const c = baseCase();
  c.order!.lines[0]!.price = '19.91';
  c.order!.lines[1]!.qty = '0.99';
  await expect(c, []);
  c.order!.lines[0]!.price = '19.91001';
  await expect(c, ['LINE_MISMATCH/R']);
  const v = baseCase();
  v.order!.head.goodsValue = '79.81';
  v.receipt!.charge = '79.81';
  await expect(v, []);
  v.order!.head.goodsValue = '79.81001';
  v.receipt!.charge = '79.81001';
  await expect(v, ['VALUE_MISMATCH/R']);
});

test('VALUE_MISMATCH (R): Σ list totalPrice vs goodsValue', async () => {
  const c = baseCase();
  c.order!.head.goodsValue = '79.78999';
  c.receipt!.charge = '79.78999';
  const o = await expect(c, ['VALUE_MISMATCH/R']);
  assert.equal(o.details[0], 'lines total 79.8 vs goodsValue 79.78999');
});

test('WAYBILL_MISSING (P); the window edge counts, one second older does not, a later waybill is fine', async () => {
  const c = baseCase();
  delete c.waybill;
  await expect(c, ['WAYBILL_MISSING/P']);
  const t = secondsOf('20250612103045');
  const at = (s: number) => baseCase(0, '20250612103045', ts14(s));
  await expect(at(t - 180 * DAY), []);
  await expect(at(t - 180 * DAY - 1), ['WAYBILL_MISSING/P']);
  await expect(at(t + 5 * DAY), []);
  // a waybill outside the window is missing, so its checks do not run
  const old = at(t - 200 * DAY);
  old.waybill!.packNo = '7';
  old.waybill!.ebcCode = OTHER_EBC;
  await expect(old, ['WAYBILL_MISSING/P']);
  // the window of gacc-2020-75 (also 180 days) on a December 2024 list
  const d = secondsOf('20241210103045');
  await expect(baseCase(0, '20241210103045', ts14(d - 180 * DAY)), []);
  await expect(baseCase(0, '20241210103045', ts14(d - 180 * DAY - 1)), ['WAYBILL_MISSING/P']);
});

test('WAYBILL_PARTY_MISMATCH (R): another ebcCode; a waybill without one is no mismatch', async () => {
  const c = baseCase();
  c.waybill!.ebcCode = OTHER_EBC;
  await expect(c, ['WAYBILL_PARTY_MISMATCH/R']);
  const d = baseCase();
  delete d.waybill!.ebcCode;
  await expect(d, []);
});

test('FREIGHT_MISMATCH (V) and INSURANCE_MISMATCH (V) beyond the tolerance', async () => {
  const c = baseCase();
  c.waybill!.freight = '25.01';
  await expect(c, []);
  c.waybill!.freight = '25.01001';
  const o = await expect(c, ['FREIGHT_MISMATCH/V']);
  assert.equal(o.details[0], 'list freight 25 vs waybill 25.01001');
  const i = baseCase();
  i.waybill!.insuredFee = '0.01';
  await expect(i, []);
  i.waybill!.insuredFee = '0.01001';
  await expect(i, ['INSURANCE_MISMATCH/V']);
});

test('PACK_MISMATCH (V)', async () => {
  const c = baseCase();
  c.waybill!.packNo = '2';
  await expect(c, ['PACK_MISMATCH/V']);
});

test('WEIGHT_MISMATCH (V): max(0.1 kg, 10 % of the waybill) exactly is fine, beyond is not', async () => {
  const c = baseCase(); // waybill 0.35 kg: 10 % is 0.035, so 0.1 kg applies
  c.list.head.grossWeight = '0.45';
  await expect(c, []);
  c.list.head.grossWeight = '0.45001';
  await expect(c, ['WEIGHT_MISMATCH/V']);
  c.list.head.grossWeight = '0.25';
  c.list.head.netWeight = '0.2';
  await expect(c, []);
  c.list.head.grossWeight = '0.24999';
  await expect(c, ['WEIGHT_MISMATCH/V']);
  const p = baseCase(); // waybill 10 kg: 10 % is 1 kg
  p.waybill!.grossWeight = '10';
  p.list.head.grossWeight = '11';
  await expect(p, []);
  p.list.head.grossWeight = '11.00001';
  await expect(p, ['WEIGHT_MISMATCH/V']);
});

test('NET_OVER_GROSS (R): netWeight > grossWeight; equal is fine', async () => {
  const c = baseCase();
  c.list.head.netWeight = '0.35';
  await expect(c, []);
  c.list.head.netWeight = '0.35001';
  await expect(c, ['NET_OVER_GROSS/R']);
});

test('PAYMENT_MISSING (P) under gacc-2020-75 for 9610 only; not under gacc-2024-167', async () => {
  const c = baseCase(0, '20241210103045', '20241210101522');
  delete c.receipt;
  await expect(c, ['PAYMENT_MISSING/P']);
  const b = baseCase(0, '20241210103045', '20241210101522');
  delete b.receipt;
  asB2B(b, '9710');
  await expect(b, []);
  const e = baseCase(0, '20241214235959', '20241214101522');
  delete e.receipt;
  await expect(e, ['PAYMENT_MISSING/P']);
  const f = baseCase(0, '20241215000000', '20241214101522');
  delete f.receipt;
  await expect(f, []);
});

test('PAYMENT_MISMATCH (V): receipt charge vs goodsValue, whether or not a receipt is required', async () => {
  const c = baseCase();
  c.receipt!.charge = '79.81';
  await expect(c, []);
  c.receipt!.charge = '79.81001';
  await expect(c, ['PAYMENT_MISMATCH/V']);
  const d = baseCase(0, '20241210103045', '20241210101522');
  d.receipt!.charge = '1';
  await expect(d, ['PAYMENT_MISMATCH/V']);
});

test('UNKNOWN_CURRENCY (R): a currency without a rate for the month; the value is then NULL', async () => {
  const c = baseCase();
  setTotals(c, ['39.80', '40.00'], '609'); // NZD: no rows in the bundled rates
  const o = await expect(c, ['UNKNOWN_CURRENCY/R']);
  assert.equal(o.value, null);
  assert.equal(o.details[0], 'no rate for gnum 1: 609 in 2025-06; gnum 2: 609 in 2025-06');
  // a statisticsFlag A list with an unknown value is not over the threshold (its value is unknown)
  c.list.head.statisticsFlag = 'A';
  await expect(c, ['UNKNOWN_CURRENCY/R']);
});

test('USD value from m_rates (month of the list appTime), exact', async () => {
  const c = baseCase();
  setTotals(c, ['39.80', '40.00'], '502');
  const o = await expect(c, []);
  assert.equal(o.value, 5696602800000000n); // 79.80 × 7.1386 (2025-06) = 569.66028
  const d = baseCase(0, '20241210103045', '20241210101522');
  setTotals(d, ['39.80', '40.00'], 'USD'); // ISO letters, mapped to 502 for the SQL
  const od = await expect(d, []);
  assert.equal(od.value, 5760762000000000n); // 79.80 × 7.2190 (2024-12) = 576.0762
});

test('B2B_OVER_THRESHOLD (R): 9710/9810 with value > 5000 CNY; exactly 5000 is not over', async () => {
  for (const mode of ['9710', '9810'] as const) {
    const c = baseCase();
    asB2B(c, mode);
    setTotals(c, ['4960', '40.00']);
    await expect(c, []);
    setTotals(c, ['4960.00001', '40.00']);
    const o = await expect(c, ['B2B_OVER_THRESHOLD/R']);
    assert.equal(o.details[0], 'CNY value 5000.00 > 5000');
  }
  // 700.43 USD × 7.1386 = 5000.089598 CNY
  const u = baseCase();
  asB2B(u, '9710');
  setTotals(u, ['660.43', '40.00'], '502');
  await expect(u, ['B2B_OVER_THRESHOLD/R']);
  // not B2B: no threshold
  const r = baseCase();
  setTotals(r, ['9960', '40.00']);
  await expect(r, []);
});

test('B2B_CONTROLLED_GOODS (R): 9710/9810 with a gcode starting with a controlled prefix', async () => {
  const c = baseCase();
  asB2B(c, '9810');
  c.list.lines[1]!.gcode = '8526101000'; // prefix 852610
  const o = await expect(c, ['B2B_CONTROLLED_GOODS/R']);
  assert.equal(o.details[0], 'controlled goods: gnum 2 8526101000');
  const n = baseCase();
  asB2B(n, '9810');
  n.list.lines[1]!.gcode = '8526201000'; // 8526 alone is not controlled
  await expect(n, []);
  const r = baseCase();
  r.list.lines[1]!.gcode = '8526101000';
  await expect(r, []);
});

test('SIMPLIFIED_NOT_ELIGIBLE (R): statisticsFlag A and value > 5000 or controlled goods', async () => {
  const c = baseCase();
  c.list.head.statisticsFlag = 'A';
  setTotals(c, ['4960', '40.00']);
  await expect(c, []);
  setTotals(c, ['4960.00001', '40.00']);
  await expect(c, ['SIMPLIFIED_NOT_ELIGIBLE/R']);
  const g = baseCase();
  g.list.head.statisticsFlag = 'A';
  g.list.lines[0]!.gcode = '2844100000';
  await expect(g, ['SIMPLIFIED_NOT_ELIGIBLE/R']);
  asB2B(g, '9710');
  await expect(g, ['B2B_CONTROLLED_GOODS/R', 'SIMPLIFIED_NOT_ELIGIBLE/R']);
});

test('lists sharing an order and a waybill each see them', async () => {
  const a = baseCase(1);
  const b = baseCase(2);
  b.list.head.orderNo = a.list.head.orderNo!;
  b.list.head.logisticsNo = a.list.head.logisticsNo!;
  delete b.order;
  delete b.waybill;
  delete b.receipt;
  b.list.head.packNo = '3';
  await expect([a, b], []);
  const o = await outcome([b, a]);
  assert.deepEqual(o.codes, ['PACK_MISMATCH/V']);
});

// ---- differential test against truth.ts ------------------------------------------------------------

/** mulberry32 */
function rng(seed: number) {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo + 1)),
    pick<T>(xs: readonly T[]): T {
      return xs[Math.floor(next() * xs.length)]!;
    },
    chance: (p: number): boolean => next() < p,
  };
}
type Rng = ReturnType<typeof rng>;

const DELTAS = ['0', '0.01', '-0.01', '0.01001', '-0.01001', '0.00999', '1'];
const GCODES = ['3926909090', '2844100000', '8526101000', '8526201000', '0106110000', '9113900000'];
const CURRENCIES = ['142', 'CNY', '502', 'USD', '110', '116', '609'];
const T2025 = secondsOf('20250101000000');
const T2024_12 = secondsOf('20241201000000');

type Mutation = (c: Case, r: Rng, prev: Case | undefined) => void;
const VALUES_NEAR_THRESHOLD: Mutation = (c, r) => {
  const total = r.pick(['5000', '5000.00001', '4999.99999', '8000', '100', '700.43', '660.43']);
  setTotals(c, [plus(total, '-40'), '40.00'], r.chance(0.4) ? r.pick(['502', 'USD', '110', '609']) : undefined);
};
const CONTROLLED_GCODE: Mutation = (c, r) => {
  const l = r.pick(c.list.lines);
  if (l) l.gcode = r.pick(GCODES);
};
const MUTATIONS: Mutation[] = [
  (c) => void delete c.order,
  (c, r) => {
    if (!c.order) return;
    c.decoy = { head: { ...c.order.head, ebcCode: OTHER_EBC }, lines: c.order.lines.map((l) => ({ ...l })) };
    if (r.chance(0.6)) delete c.order;
  },
  (c) => void (c.list.head.ebcCode = OTHER_EBC),
  (c, r) => void (c.order && (c.order.head.orderType = r.pick(['E', 'B', 'W']))),
  (c, r) => {
    const mode = r.pick(['9610', '1210', '9710', '9810']);
    c.list.head.tradeMode = mode;
    if (c.order && r.chance(0.7)) c.order.head.orderType = mode === '9710' ? 'B' : mode === '9810' ? 'W' : 'E';
  },
  (c, r) => {
    if (!c.order) return;
    if (r.chance(0.5)) c.order.lines.push({ ...c.order.lines[0]!, gnum: String(r.int(3, 5)) });
    else c.order.lines.splice(r.int(0, c.order.lines.length - 1), 1);
  },
  (c, r) => void c.list.lines.splice(r.int(0, c.list.lines.length - 1), 1),
  (c, r) => {
    const l = r.pick(c.order ? c.order.lines : c.list.lines);
    if (!l) return;
    const f = r.pick(['itemNo', 'unit', 'currency', 'qty', 'price', 'totalPrice']);
    if (f === 'itemNo') l.itemNo = 'ZK-XX-9999';
    else if (f === 'unit') l.unit = '007';
    else if (f === 'currency') l.currency = r.pick(CURRENCIES);
    else l[f] = plus(l[f] ?? '0', r.pick(DELTAS));
  },
  (c, r) => {
    if (!c.order) return;
    c.order.head.goodsValue = plus(c.order.head.goodsValue ?? '0', r.pick(DELTAS));
    if (c.receipt && r.chance(0.5)) c.receipt.charge = c.order.head.goodsValue;
  },
  (c) => void delete c.waybill,
  (c, r) => {
    if (!c.waybill) return;
    const t = secondsOf(c.list.head.appTime ?? '');
    c.waybill.appTime = ts14(t - 180 * DAY + r.pick([0, -1, 1, 200 * DAY, -30 * DAY]));
  },
  (c, r) => {
    if (!c.waybill) return;
    if (r.chance(0.5)) delete c.waybill.ebcCode;
    else c.waybill.ebcCode = r.pick([OTHER_EBC, EBC]);
  },
  (c, r) => {
    const on = r.chance(0.5) ? c.waybill : c.list.head;
    if (on) on.freight = plus(on.freight ?? '0', r.pick(DELTAS));
  },
  (c, r) => void (c.waybill && (c.waybill.insuredFee = plus('0', r.pick(DELTAS.filter((d) => !d.startsWith('-')))))),
  (c, r) => {
    const on = r.chance(0.5) ? c.waybill : c.list.head;
    if (on) on.packNo = String(r.int(1, 3));
  },
  (c, r) => {
    const wg = r.pick(['0.35', '10', '3', '0.5']);
    if (c.waybill) c.waybill.grossWeight = wg;
    const w = dec(wg);
    const pctLimit = (w * 10n) / 100n; // exact for these weights
    const limit = pctLimit > 10000n ? pctLimit : 10000n;
    const d = r.pick([0n, limit, -limit, limit + 1n, -limit - 1n, 3n]);
    c.list.head.grossWeight = formatDecimal(w + d);
    c.list.head.netWeight = formatDecimal(((w + d) * 8n) / 10n);
  },
  (c, r) => void (c.list.head.netWeight = plus(c.list.head.grossWeight ?? '0', r.pick(['0', '0.00001', '-0.00001']))),
  (c) => void delete c.receipt,
  (c, r) => void (c.receipt && (c.receipt.charge = plus(c.receipt.charge ?? '0', r.pick(DELTAS)))),
  (c, r) => {
    const cu = r.pick(CURRENCIES);
    for (const l of [...c.list.lines, ...(c.order?.lines ?? [])]) l.currency = cu;
  },
  VALUES_NEAR_THRESHOLD,
  CONTROLLED_GCODE,
  (c) => void (c.list.head.statisticsFlag = 'A'),
  (c, _r, prev) => {
    if (!prev?.order) return;
    for (const f of ['ebpCode', 'ebcCode', 'orderNo'] as const) c.list.head[f] = prev.order.head[f]!;
    delete c.order;
    delete c.decoy;
    delete c.receipt;
  },
  (c, _r, prev) => {
    if (!prev?.waybill) return;
    c.list.head.logisticsNo = prev.waybill.logisticsNo!;
    delete c.waybill;
  },
];

function randomCase(n: number, r: Rng, prev: Case | undefined): Case {
  const t = r.chance(0.25) ? T2024_12 + r.int(0, 14 * DAY - 1) : T2025 + r.int(0, 364 * DAY);
  const c = baseCase(n, ts14(t), ts14(t - r.int(0, 3 * DAY)));
  // the threshold reasons need B2B modes, statisticsFlag A, values near 5000 and foreign currencies
  if (r.chance(0.35)) asB2B(c, r.pick(['9710', '9810']));
  if (r.chance(0.25)) c.list.head.statisticsFlag = 'A';
  if (r.chance(0.35)) VALUES_NEAR_THRESHOLD(c, r, prev);
  if (r.chance(0.15)) CONTROLLED_GCODE(c, r, prev);
  const k = r.pick([0, 0, 1, 1, 2, 2, 3, 4]);
  for (let i = 0; i < k; i++) r.pick(MUTATIONS)(c, r, prev);
  return c;
}

test('differential: 300 seeded random lists give the same reasons and values in SQL as in truth.ts', async () => {
  const r = rng(20250612);
  const cases: Case[] = [];
  for (let n = 0; n < 300; n++) cases.push(randomCase(n, r, cases[n - 1]));
  const w = worldOf(cases);
  const sql = await sqlOutcomes(w);
  const truth = truthOutcomes(w);
  const diffs: string[] = [];
  const seen = new Map<string, number>();
  for (const [k, t] of truth) {
    const s = sql.get(k);
    for (const code of t.codes) seen.set(code, (seen.get(code) ?? 0) + 1);
    if (!s) diffs.push(`${k}: no SQL outcome`);
    else if (JSON.stringify(s.codes) !== JSON.stringify(t.codes) || s.value !== t.value)
      diffs.push(`${k}: SQL ${s.codes.join(',')} ${s.value} vs truth ${t.codes.join(',')} ${t.value} (${t.details.join(' | ')})`);
  }
  assert.equal(sql.size, truth.size);
  assert.deepEqual(diffs.slice(0, 10), []);
  // the random lists reach every reason code, and clean lists too
  const missing = CHECKS.map((c) => `${c.code}/${c.severity}`).filter((code) => !seen.has(code));
  assert.deepEqual(missing, [], `codes never produced: ${[...seen].map(([c, n]) => `${c}=${n}`).join(' ')}`);
  assert.ok([...truth.values()].some((t) => t.codes.length === 0), 'some lists are clean');
});
