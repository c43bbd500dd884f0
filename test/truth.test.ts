/**
 * Unit tests of src/generate/truth.ts: the generator's own reading of RULES.md §4–§7.
 * Fixtures follow the worked example of CEB-REFERENCE.md §8 (one consistent 9610 parcel).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { drawSelects, loadPolicy, policyFor, type PolicyVersion } from '../src/policy/policy.js';
import { loadReference, rateFor } from '../src/policy/reference.js';
import {
  checkList,
  checkReturn,
  riskReasons,
  type Doc,
  type ListWorld,
  type OriginalList,
  type Reason,
  type Rec,
} from '../src/generate/truth.js';

const policy = loadPolicy();
const ref = loadReference();
const policyAt = (date: string): PolicyVersion => policyFor(policy, date);

const EBP = '4403960PT8';
const EBC = '4403960ZK1'; // on the bundled AEO list
const OTHER_EBC = '4403960XX9'; // not on the AEO list
const ORDER_NO = 'HX2025061200018842';
const LOG_CODE = '4403960WL3';
const LOG_NO = 'XD6120025061200342';

// ---- fixtures ------------------------------------------------------------------------------------

interface Fixture {
  list: Doc;
  order: Doc;
  waybill: Rec;
  receipt: Rec;
}

function baseFixture(): Fixture {
  const list: Doc = {
    head: {
      guid: '6D2F8A41-C3B7-4E9A-A1D5-B07E4C2F9D16',
      appType: '1',
      appTime: '20250612103045',
      appStatus: '2',
      customsCode: '5141',
      ebpCode: EBP,
      ebpName: '深圳市海星跨境电子商务有限公司',
      orderNo: ORDER_NO,
      logisticsCode: LOG_CODE,
      logisticsName: '深圳市迅达国际物流有限公司',
      logisticsNo: LOG_NO,
      copNo: 'ZK20250612000342',
      invtNo: '',
      ieFlag: 'E',
      portCode: '5141',
      ieDate: '20250612',
      statisticsFlag: 'B',
      agentCode: '4403980BG2',
      agentName: '深圳市通关宝报关有限公司',
      ebcCode: EBC,
      ebcName: '深圳市卓凯数码科技有限公司',
      ownerCode: '4419960SC5',
      ownerName: '东莞市卓凯塑胶制品有限公司',
      tradeMode: '9610',
      trafMode: '5',
      country: '502',
      POD: '502',
      freight: '25.00',
      fCurrency: '142',
      fFlag: '3',
      insuredFee: '0',
      iCurrency: '142',
      iFlag: '3',
      wrapType: '2',
      packNo: '1',
      grossWeight: '0.35',
      netWeight: '0.28',
    },
    lines: [
      {
        gnum: '1',
        itemNo: 'ZK-PC-1001',
        itemName: '手机保护壳',
        gcode: '3926909090',
        gname: '手机保护壳',
        gmodel: 'TPU塑料|适用6.1英寸手机|无品牌',
        barCode: '6975123400017',
        country: '502',
        currency: '142',
        qty: '2',
        qty1: '0.08',
        unit: '011',
        unit1: '035',
        price: '19.90',
        totalPrice: '39.80',
      },
      {
        gnum: '2',
        itemNo: 'ZK-WS-2002',
        itemName: '硅胶表带',
        gcode: '9113900000',
        gname: '表带',
        gmodel: '硅胶|22mm|无品牌',
        barCode: '6975123400024',
        country: '502',
        currency: '142',
        qty: '1',
        qty1: '0.03',
        unit: '011',
        unit1: '035',
        price: '40.00',
        totalPrice: '40.00',
      },
    ],
  };
  const order: Doc = {
    head: {
      guid: 'B1D4E7A2-3C58-4F6B-9E21-7A0D5C3F8E94',
      appType: '1',
      appTime: '20250612093015',
      appStatus: '2',
      orderType: 'E',
      orderNo: ORDER_NO,
      ebpCode: EBP,
      ebpName: '深圳市海星跨境电子商务有限公司',
      ebcCode: EBC,
      ebcName: '深圳市卓凯数码科技有限公司',
      goodsValue: '79.80',
      freight: '25.00',
      currency: '142',
      note: 'B2C retail export, buyer in US',
    },
    lines: [
      {
        gnum: '1',
        itemNo: 'ZK-PC-1001',
        itemName: '手机保护壳',
        itemDescribe: 'TPU phone case for 6.1-inch phones, transparent',
        barCode: '6975123400017',
        unit: '011',
        currency: '142',
        qty: '2',
        price: '19.90',
        totalPrice: '39.80',
      },
      {
        gnum: '2',
        itemNo: 'ZK-WS-2002',
        itemName: '硅胶表带',
        itemDescribe: '22 mm silicone watch strap, black',
        barCode: '6975123400024',
        unit: '011',
        currency: '142',
        qty: '1',
        price: '40.00',
        totalPrice: '40.00',
      },
    ],
  };
  const waybill: Rec = {
    guid: '0A9D3E6F-7B21-4C8A-B5E4-9F12C6D7A830',
    appType: '1',
    appTime: '20250612101522',
    appStatus: '2',
    logisticsCode: LOG_CODE,
    logisticsName: '深圳市迅达国际物流有限公司',
    logisticsNo: LOG_NO,
    freight: '25.00',
    insuredFee: '0',
    currency: '142',
    grossWeight: '0.35',
    packNo: '1',
    goodsInfo: '手机保护壳2件;硅胶表带1件',
    ebcCode: EBC,
    ebcName: '深圳市卓凯数码科技有限公司',
  };
  const receipt: Rec = {
    guid: '3C1E5A7B-9D24-4F60-8B13-6E2A4C8D0F57',
    appType: '1',
    appTime: '20250612095000',
    appStatus: '2',
    ebpCode: EBP,
    ebcCode: EBC,
    orderNo: ORDER_NO,
    payCode: '4403169D3W',
    payNo: 'PAY2025061200077311',
    charge: '79.80',
    currency: '142',
    accountingDate: '20250612095000000',
  };
  return { list, order, waybill, receipt };
}

function worldOf(fx: Fixture, over: Partial<ListWorld> = {}): ListWorld {
  return { order: fx.order, orderOtherParty: false, waybill: fx.waybill, receipt: fx.receipt, duplicate: false, ...over };
}

interface Goods {
  gcode?: string;
  currency?: string;
  qty: string;
  price: string;
  totalPrice: string;
}

/** Replaces line goods on list and order alike and keeps goodsValue and the receipt consistent. */
function setGoods(fx: Fixture, goods: Goods[], goodsValue: string): void {
  goods.forEach((g, i) => {
    for (const l of [fx.list.lines[i]!, fx.order.lines[i]!]) {
      if (g.gcode !== undefined && 'gcode' in l) l.gcode = g.gcode;
      if (g.currency !== undefined) l.currency = g.currency;
      l.qty = g.qty;
      l.price = g.price;
      l.totalPrice = g.totalPrice;
    }
  });
  fx.order.head.goodsValue = goodsValue;
  fx.receipt.charge = goodsValue;
}

function setEbc(fx: Fixture, ebc: string): void {
  fx.list.head.ebcCode = ebc;
  fx.order.head.ebcCode = ebc;
  fx.waybill.ebcCode = ebc;
  fx.receipt.ebcCode = ebc;
}

function asB2B(fx: Fixture, mode: '9710' | '9810'): void {
  fx.list.head.tradeMode = mode;
  fx.order.head.orderType = mode === '9710' ? 'B' : 'W';
}

function check(fx: Fixture, over: Partial<ListWorld> = {}) {
  return checkList(fx.list, worldOf(fx, over), policyAt, ref);
}
function codes(reasons: readonly Reason[]): string[] {
  return reasons.map((r) => r.code).sort();
}
/** Asserts that the checks give exactly one reason, with that code and severity; returns it. */
function only(fx: Fixture, code: string, severity: Reason['severity'], over: Partial<ListWorld> = {}): Reason {
  const { reasons } = check(fx, over);
  assert.deepEqual(codes(reasons), [code], JSON.stringify(reasons));
  assert.equal(reasons[0]!.severity, severity);
  return reasons[0]!;
}
function none(fx: Fixture, over: Partial<ListWorld> = {}): void {
  const { reasons } = check(fx, over);
  assert.deepEqual(reasons, []);
}

// ---- clean case ----------------------------------------------------------------------------------

test('clean case: the worked example has no reasons, value 79.80 CNY, policy gacc-2024-167', () => {
  const fx = baseFixture();
  const c = check(fx);
  assert.deepEqual(c.reasons, []);
  assert.equal(c.valueCny13, 7980000n * 10n ** 8n);
  assert.equal(c.policy.id, 'gacc-2024-167');
  assert.deepEqual(c.profileCandidates, []);
  assert.equal(c.valueBandDetail, null);
});

test('clean case without a receipt: receipts not required on 2025-06-12', () => {
  none(baseFixture(), { receipt: undefined });
});

// ---- one mutation per reason code (§4) -----------------------------------------------------------

test('DUPLICATE_LIST (R) when the list key was already decided', () => {
  only(baseFixture(), 'DUPLICATE_LIST', 'R', { duplicate: true });
});

test('ORDER_MISSING (P) when there is no order; no LINE/VALUE/PAYMENT checks run without it', () => {
  const fx = baseFixture();
  fx.list.lines[0]!.itemNo = 'SOMETHING-ELSE';
  fx.list.lines[1]!.totalPrice = '99.00';
  fx.receipt.charge = '1.00';
  only(fx, 'ORDER_MISSING', 'P', { order: undefined });
});

test('ORDER_PARTY_MISMATCH (R) replaces ORDER_MISSING and suppresses order checks', () => {
  const fx = baseFixture();
  fx.list.lines[0]!.itemNo = 'SOMETHING-ELSE';
  fx.receipt.charge = '1.00';
  only(fx, 'ORDER_PARTY_MISMATCH', 'R', { order: undefined, orderOtherParty: true });
});

test('ORDER_TYPE_MISMATCH (R): 9610 with orderType B', () => {
  const fx = baseFixture();
  fx.order.head.orderType = 'B';
  only(fx, 'ORDER_TYPE_MISMATCH', 'R');
});

test('ORDER_TYPE_MISMATCH (R): 9710 with orderType E; 9810 needs W', () => {
  const fx = baseFixture();
  asB2B(fx, '9710');
  fx.order.head.orderType = 'E';
  only(fx, 'ORDER_TYPE_MISMATCH', 'R');
  const fx2 = baseFixture();
  asB2B(fx2, '9810');
  none(fx2);
  fx2.order.head.orderType = 'B';
  only(fx2, 'ORDER_TYPE_MISMATCH', 'R');
});

test('LINE_COUNT_MISMATCH (R) when the gnum sets differ', () => {
  const fx = baseFixture();
  fx.order.lines.pop();
  only(fx, 'LINE_COUNT_MISMATCH', 'R');
  const fx2 = baseFixture();
  fx2.order.lines.push({ ...fx2.order.lines[1]!, gnum: '3' });
  only(fx2, 'LINE_COUNT_MISMATCH', 'R');
});

test('LINE_MISMATCH (R) for itemNo, unit, currency, qty, price; the detail names gnum and field', () => {
  const cases: [number, string, string][] = [
    [0, 'itemNo', 'ZK-PC-9999'],
    [1, 'unit', '007'],
    [0, 'qty', '3'],
    [1, 'price', '41.00'],
  ];
  for (const [i, field, value] of cases) {
    const fx = baseFixture();
    fx.order.lines[i]![field] = value;
    const r = only(fx, 'LINE_MISMATCH', 'R');
    assert.match(r.detail, new RegExp(`gnum ${i + 1} ${field}`));
  }
  // currency differs (same numbers): only LINE_MISMATCH
  const fx = baseFixture();
  fx.order.lines[0]!.currency = '502';
  assert.match(only(fx, 'LINE_MISMATCH', 'R').detail, /gnum 1 currency/);
});

test('LINE_MISMATCH (R) on totalPrice beyond the tolerance, not at 0.01', () => {
  const fx = baseFixture();
  fx.order.lines[0]!.totalPrice = '39.81';
  none(fx);
  fx.order.lines[0]!.totalPrice = '39.81001';
  assert.match(only(fx, 'LINE_MISMATCH', 'R').detail, /gnum 1 totalPrice/);
});

test('currency as ISO letters USD on the list vs 502 on the order is no LINE_MISMATCH', () => {
  const fx = baseFixture();
  fx.list.lines[0]!.currency = 'USD';
  fx.order.lines[0]!.currency = '502';
  const c = check(fx);
  assert.deepEqual(c.reasons, []);
  const usd = rateFor(ref, '502', '2025-06')!;
  // 39.80 USD × rate + 40.00 CNY
  assert.equal(c.valueCny13, 3980000n * usd + 4000000n * 10n ** 8n);
});

test('VALUE_MISMATCH (R): a difference of exactly 0.01 is not a mismatch, 0.01001 is', () => {
  const fx = baseFixture();
  fx.order.head.goodsValue = '79.81';
  fx.receipt.charge = '79.81';
  none(fx);
  fx.order.head.goodsValue = '79.79';
  fx.receipt.charge = '79.79';
  none(fx);
  fx.order.head.goodsValue = '79.81001';
  fx.receipt.charge = '79.81001';
  only(fx, 'VALUE_MISMATCH', 'R');
  fx.order.head.goodsValue = '79.78999';
  fx.receipt.charge = '79.78999';
  only(fx, 'VALUE_MISMATCH', 'R');
});

test('WAYBILL_MISSING (P) when there is no waybill; no waybill checks run without it', () => {
  const fx = baseFixture();
  fx.list.head.freight = '30.00';
  fx.list.head.packNo = '4';
  only(fx, 'WAYBILL_MISSING', 'P', { waybill: undefined });
});

test('WAYBILL_PARTY_MISMATCH (R) when the waybill names another ebcCode', () => {
  const fx = baseFixture();
  fx.waybill.ebcCode = OTHER_EBC;
  only(fx, 'WAYBILL_PARTY_MISMATCH', 'R');
});

test('a waybill without ebcCode is no party mismatch', () => {
  const fx = baseFixture();
  delete fx.waybill.ebcCode;
  none(fx);
  fx.waybill.ebcCode = '';
  none(fx);
});

test('FREIGHT_MISMATCH (V) beyond the tolerance, only with fFlag 3', () => {
  const fx = baseFixture();
  fx.waybill.freight = '25.01';
  none(fx);
  fx.waybill.freight = '26.00';
  only(fx, 'FREIGHT_MISMATCH', 'V');
  fx.list.head.fFlag = '1';
  none(fx);
});

test('INSURANCE_MISMATCH (V) beyond the tolerance, only with iFlag 3', () => {
  const fx = baseFixture();
  fx.waybill.insuredFee = '1.50';
  only(fx, 'INSURANCE_MISMATCH', 'V');
  fx.list.head.iFlag = '1';
  none(fx);
});

test('PACK_MISMATCH (V) when packNo differs', () => {
  const fx = baseFixture();
  fx.waybill.packNo = '2';
  only(fx, 'PACK_MISMATCH', 'V');
});

test('WEIGHT_MISMATCH (V): within max(0.1 kg, 10 %) is fine, just beyond is not (0.1 kg branch)', () => {
  const fx = baseFixture(); // waybill 0.35 kg: 10 % = 0.035 < 0.1
  for (const ok of ['0.25', '0.45', '0.3']) {
    fx.waybill.grossWeight = ok;
    none(fx);
  }
  fx.waybill.grossWeight = '0.24999';
  only(fx, 'WEIGHT_MISMATCH', 'V');
  fx.waybill.grossWeight = '0.45001';
  only(fx, 'WEIGHT_MISMATCH', 'V');
});

test('WEIGHT_MISMATCH (V): 10 % of the waybill gross weight when that is above 0.1 kg', () => {
  const fx = baseFixture();
  fx.waybill.grossWeight = '2';
  fx.list.head.netWeight = '1.5';
  fx.list.head.grossWeight = '2.2';
  none(fx);
  fx.list.head.grossWeight = '1.8';
  none(fx);
  fx.list.head.grossWeight = '2.20001';
  only(fx, 'WEIGHT_MISMATCH', 'V');
  fx.list.head.grossWeight = '1.79999';
  only(fx, 'WEIGHT_MISMATCH', 'V');
});

test('NET_OVER_GROSS (R) when netWeight > grossWeight, not when equal', () => {
  const fx = baseFixture();
  fx.list.head.netWeight = '0.35';
  none(fx);
  fx.list.head.netWeight = '0.35001';
  only(fx, 'NET_OVER_GROSS', 'R');
});

test('PAYMENT_MISSING (P) for 9610 under gacc-2020-75 (appTime before 2024-12-15)', () => {
  const fx = baseFixture();
  fx.list.head.appTime = '20241214235959';
  const c = check(fx, { receipt: undefined });
  assert.equal(c.policy.id, 'gacc-2020-75');
  assert.deepEqual(codes(c.reasons), ['PAYMENT_MISSING']);
  assert.equal(c.reasons[0]!.severity, 'P');
  // with the receipt, nothing
  none(fx);
});

test('no PAYMENT_MISSING for 9610 on or after 2024-12-15', () => {
  const fx = baseFixture();
  fx.list.head.appTime = '20241215000000';
  const c = check(fx, { receipt: undefined });
  assert.equal(c.policy.id, 'gacc-2024-167');
  assert.deepEqual(c.reasons, []);
});

test('never PAYMENT_MISSING for 9710, even under gacc-2020-75', () => {
  const fx = baseFixture();
  asB2B(fx, '9710');
  fx.list.head.appTime = '20241214120000';
  const c = check(fx, { receipt: undefined });
  assert.equal(c.policy.id, 'gacc-2020-75');
  assert.deepEqual(c.reasons, []);
});

test('PAYMENT_MISMATCH (V) also when receipts are not required; 0.01 is within the tolerance', () => {
  const fx = baseFixture();
  fx.receipt.charge = '79.81';
  none(fx);
  fx.receipt.charge = '79.82';
  only(fx, 'PAYMENT_MISMATCH', 'V');
  // and under gacc-2020-75, where it is required
  fx.list.head.appTime = '20241201120000';
  only(fx, 'PAYMENT_MISMATCH', 'V');
});

test('UNKNOWN_CURRENCY (R) for currency 133 (no rate), value unknown', () => {
  const fx = baseFixture();
  fx.list.lines[0]!.currency = '133';
  fx.order.lines[0]!.currency = '133';
  const c = check(fx);
  assert.deepEqual(codes(c.reasons), ['UNKNOWN_CURRENCY']);
  assert.equal(c.reasons[0]!.severity, 'R');
  assert.equal(c.valueCny13, null);
});

/** The smallest USD amount (×10^5) whose CNY value at the 2025-06 rate is above 5000 CNY. */
function usdJustAbove5000(): { t5: bigint; rate: bigint } {
  const rate = rateFor(ref, '502', '2025-06');
  assert.ok(rate !== null && rate > 0n);
  const limit13 = 5000n * 10n ** 13n;
  const t5 = limit13 / rate + 1n;
  assert.ok(t5 * rate > limit13 && (t5 - 1n) * rate <= limit13);
  return { t5, rate };
}
const fmt5 = (v: bigint): string => `${v / 100000n}.${(v % 100000n).toString().padStart(5, '0')}`;

function b2bWithValue(mode: '9710' | '9810', currency: string, total: string): Fixture {
  const fx = baseFixture();
  asB2B(fx, mode);
  fx.list.lines.pop();
  fx.order.lines.pop();
  setGoods(fx, [{ gcode: '8471300000', currency, qty: '1', price: total, totalPrice: total }], total);
  return fx;
}

test('B2B_OVER_THRESHOLD (R) at a CNY value just above 5000 (USD at the bundled rate), not just below', () => {
  const { t5, rate } = usdJustAbove5000();
  for (const mode of ['9710', '9810'] as const) {
    const over = b2bWithValue(mode, '502', fmt5(t5));
    const c = check(over);
    assert.equal(c.valueCny13, t5 * rate);
    assert.deepEqual(codes(c.reasons), ['B2B_OVER_THRESHOLD']);
    assert.equal(c.reasons[0]!.severity, 'R');
    none(b2bWithValue(mode, '502', fmt5(t5 - 1n)));
  }
  // the same amount under 9610 is no B2B case
  const fx = b2bWithValue('9710', '502', fmt5(t5));
  fx.list.head.tradeMode = '9610';
  fx.order.head.orderType = 'E';
  none(fx);
});

test('B2B_OVER_THRESHOLD not at exactly 5000 CNY, but at 5000.00001', () => {
  none(b2bWithValue('9710', '142', '5000'));
  only(b2bWithValue('9710', '142', '5000.00001'), 'B2B_OVER_THRESHOLD', 'R');
});

test('B2B_CONTROLLED_GOODS (R) for a gcode starting 2844 under 9710/9810, not under 9610', () => {
  for (const mode of ['9710', '9810'] as const) {
    const fx = baseFixture();
    asB2B(fx, mode);
    fx.list.lines[0]!.gcode = '2844400000';
    assert.match(only(fx, 'B2B_CONTROLLED_GOODS', 'R').detail, /2844400000/);
  }
  const fx = baseFixture();
  fx.list.lines[0]!.gcode = '2844400000';
  none(fx);
});

test('SIMPLIFIED_NOT_ELIGIBLE (R): statisticsFlag A with a controlled gcode', () => {
  const fx = baseFixture();
  fx.list.head.statisticsFlag = 'A';
  none(fx);
  fx.list.lines[1]!.gcode = '2844400000';
  only(fx, 'SIMPLIFIED_NOT_ELIGIBLE', 'R');
  // under 9710 both rules apply
  asB2B(fx, '9710');
  assert.deepEqual(codes(check(fx).reasons), ['B2B_CONTROLLED_GOODS', 'SIMPLIFIED_NOT_ELIGIBLE']);
});

test('SIMPLIFIED_NOT_ELIGIBLE (R): statisticsFlag A with a CNY value above 5000, not at 5000', () => {
  const at = (total: string): Fixture => {
    const fx = baseFixture();
    fx.list.head.statisticsFlag = 'A';
    fx.list.lines.pop();
    fx.order.lines.pop();
    setGoods(fx, [{ qty: '1', price: total, totalPrice: total }], total);
    // keep the value band of 392690|502 out of the way: not a reason of checkList anyway
    return fx;
  };
  none(at('5000'));
  only(at('5000.01'), 'SIMPLIFIED_NOT_ELIGIBLE', 'R');
  const { t5 } = usdJustAbove5000();
  const usd = at(fmt5(t5));
  usd.list.lines[0]!.currency = '502';
  usd.order.lines[0]!.currency = '502';
  only(usd, 'SIMPLIFIED_NOT_ELIGIBLE', 'R');
  const usdBelow = at(fmt5(t5 - 1n));
  usdBelow.list.lines[0]!.currency = 'USD';
  usdBelow.order.lines[0]!.currency = 'USD';
  none(usdBelow);
});

// ---- risk selection (§6) -------------------------------------------------------------------------

test('RISK_PROFILE: a battery line (8507600090, RP-BATT rate 1) is always selected', () => {
  const fx = baseFixture();
  fx.list.lines[1]!.gcode = '8507600090';
  const c = check(fx);
  assert.deepEqual(c.reasons, []);
  assert.deepEqual(c.profileCandidates.map((p) => p.id), ['RP-BATT']);
  for (let i = 0; i < 50; i++) {
    const invtNo = `51412025E163${String(i).padStart(8, '0')}`;
    const risk = riskReasons(c, invtNo).filter((r) => r.code === 'RISK_PROFILE');
    assert.equal(risk.length, 1, invtNo);
    assert.equal(risk[0]!.severity, 'I');
    assert.match(risk[0]!.detail, /RP-BATT/);
  }
});

test('VALUE_BAND: 3926909090 to 502 at a unit price of 600 CNY (band max 500), not at 500', () => {
  const at = (price: string): ReturnType<typeof check> => {
    const fx = baseFixture();
    setGoods(
      fx,
      [
        { qty: '2', price, totalPrice: (Number(price) * 2).toFixed(2) },
        { qty: '1', price: '40.00', totalPrice: '40.00' },
      ],
      (Number(price) * 2 + 40).toFixed(2),
    );
    const c = check(fx);
    assert.deepEqual(c.reasons, []);
    return c;
  };
  const hit = at('600');
  assert.ok(hit.valueBandDetail !== null && /gnum 1/.test(hit.valueBandDetail), String(hit.valueBandDetail));
  const invtNo = '51412025E16300000001';
  const band = riskReasons(hit, invtNo).filter((r) => r.code === 'VALUE_BAND');
  assert.equal(band.length, 1);
  assert.equal(band[0]!.severity, 'I');
  const edge = at('500');
  assert.equal(edge.valueBandDetail, null);
  assert.deepEqual(riskReasons(edge, invtNo).filter((r) => r.code === 'VALUE_BAND'), []);
});

test('RANDOM_SAMPLE follows drawSelects at the 9610 rate 0.005 (ebcCode not AEO)', () => {
  const fx = baseFixture();
  setEbc(fx, OTHER_EBC);
  const c = check(fx);
  assert.deepEqual(c.reasons, []);
  assert.equal(c.randomRate.text, '0.005');
  const seed = c.policy.randomSeed;
  const rate = c.randomRate;
  let selected: string | undefined;
  let notSelected: string | undefined;
  for (let i = 1; i <= 100_000 && (selected === undefined || notSelected === undefined); i++) {
    const invtNo = `51412025E163${String(i).padStart(8, '0')}`;
    if (drawSelects(seed, invtNo, rate)) selected ??= invtNo;
    else notSelected ??= invtNo;
  }
  assert.ok(selected !== undefined && notSelected !== undefined);
  const sel = riskReasons(c, selected);
  assert.deepEqual(codes(sel), ['RANDOM_SAMPLE']);
  assert.equal(sel[0]!.severity, 'I');
  assert.deepEqual(riskReasons(c, notSelected), []);
});

test('RANDOM_SAMPLE rate is multiplied by 0.2 for an AEO ebcCode; 1 % for 9710', () => {
  const aeo = check(baseFixture());
  assert.equal(aeo.randomRate.text, '0.001');
  const fx = baseFixture();
  setEbc(fx, OTHER_EBC);
  asB2B(fx, '9710');
  assert.equal(check(fx).randomRate.text, '0.01');
});

// ---- returns (§7) --------------------------------------------------------------------------------

const Q = (n: number | string): bigint => {
  const [i, f = ''] = String(n).split('.');
  return BigInt(i! + f.padEnd(5, '0'));
};

function original(over: Partial<OriginalList> = {}): OriginalList {
  return {
    invtNo: '51412025E16300000001',
    decision: 'RELEASE',
    tradeMode: '9610',
    customsCode: '5141',
    ebpCode: EBP,
    ebcCode: EBC,
    ieDate: '20250612',
    lines: new Map([
      [1, { gcode: '3926909090', gname: '手机保护壳', gmodel: 'TPU塑料|适用6.1英寸手机|无品牌', unit: '011', qty: Q(2) }],
      [2, { gcode: '9113900000', gname: '表带', gmodel: '硅胶|22mm|无品牌', unit: '011', qty: Q(1) }],
    ]),
    returned: new Map(),
    ...over,
  };
}

function returnDoc(appTime = '20250701100000', customsCode = '5141', lines?: Rec[]): Doc {
  return {
    head: {
      guid: 'E4B7C2A9-1D35-4F8E-9A60-7C2B5D1E3F48',
      appType: '1',
      appTime,
      appStatus: '2',
      customsCode,
      ebpCode: EBP,
      ebpName: '深圳市海星跨境电子商务有限公司',
      ebcCode: EBC,
      ebcName: '深圳市卓凯数码科技有限公司',
      logisticsNo: 'XD6120025070100001',
      logisticsCode: LOG_CODE,
      logisticsName: '深圳市迅达国际物流有限公司',
      coElNo: 'RT20250701000001',
      invtNo: '51412025E16300000001',
      agentCode: '4403980BG2',
      agentName: '深圳市通关宝报关有限公司',
      billNo: 'XD6120025070100001',
      ieFlag: 'I',
      trafMode: '5',
      trafName: 'CZ328',
      portCode: customsCode,
      reason: 'buyer returned the goods',
      country: '502',
      voyageNo: 'CZ328',
    },
    lines: lines ?? [
      { gnum: '1', gcode: '3926909090', gname: '手机保护壳', gmodel: 'TPU塑料|适用6.1英寸手机|无品牌', qty: '1', qty1: '0.04', unit: '011', unit1: '035' },
    ],
  };
}

function retCodes(ret: Doc, orig: OriginalList | undefined): string[] {
  const { reasons } = checkReturn(ret, orig, policyAt);
  for (const r of reasons) assert.equal(r.severity, 'R');
  return codes(reasons);
}

test('return: a clean return of a released list has no reasons', () => {
  assert.deepEqual(retCodes(returnDoc(), original()), []);
  assert.deepEqual(retCodes(returnDoc(), original({ decision: 'INSPECT' })), []);
});

test('RETURN_ORIGINAL_MISSING is the only reason when there is no original', () => {
  const ret = returnDoc('20270101000000', '4713', [{ gnum: '9', gcode: 'x', gname: 'y', gmodel: 'z', qty: '99', unit: '999' }]);
  assert.deepEqual(retCodes(ret, undefined), ['RETURN_ORIGINAL_MISSING']);
});

test('RETURN_ORIGINAL_NOT_RELEASED for REVIEW, REJECT and CANCELLED originals', () => {
  for (const decision of ['REVIEW', 'REJECT', 'CANCELLED', 'PENDING'] as const)
    assert.deepEqual(retCodes(returnDoc(), original({ decision })), ['RETURN_ORIGINAL_NOT_RELEASED'], decision);
});

test('RETURN_EXPIRED: ieDate 20240612, a return on 2025-06-13 is expired, on 2025-06-12 not', () => {
  const orig = original({ ieDate: '20240612' });
  assert.deepEqual(retCodes(returnDoc('20250612235959'), orig), []);
  assert.deepEqual(retCodes(returnDoc('20250613000000'), orig), ['RETURN_EXPIRED']);
});

test('RETURN_MODE_NOT_ELIGIBLE for an original 9710; 9810 and 1210 are eligible', () => {
  assert.deepEqual(retCodes(returnDoc(), original({ tradeMode: '9710' })), ['RETURN_MODE_NOT_ELIGIBLE']);
  assert.deepEqual(retCodes(returnDoc(), original({ tradeMode: '9810' })), []);
  assert.deepEqual(retCodes(returnDoc(), original({ tradeMode: '1210' })), []);
});

test('RETURN_PARTY_MISMATCH when ebpCode or ebcCode differs', () => {
  const r1 = returnDoc();
  r1.head.ebcCode = OTHER_EBC;
  assert.deepEqual(retCodes(r1, original()), ['RETURN_PARTY_MISMATCH']);
  const r2 = returnDoc();
  r2.head.ebpCode = '4403960PT9';
  assert.deepEqual(retCodes(r2, original()), ['RETURN_PARTY_MISMATCH']);
});

test('RETURN_LINE_MISMATCH when gmodel differs or the gnum is not on the original', () => {
  const r1 = returnDoc();
  r1.lines[0]!.gmodel = 'TPU塑料|适用6.7英寸手机|无品牌';
  assert.deepEqual(retCodes(r1, original()), ['RETURN_LINE_MISMATCH']);
  const r2 = returnDoc();
  r2.lines[0]!.gnum = '3';
  assert.deepEqual(retCodes(r2, original()), ['RETURN_LINE_MISMATCH']);
});

test('RETURN_QTY_EXCEEDED counts the returns accepted before', () => {
  const full = returnDoc();
  full.lines[0]!.qty = '2';
  assert.deepEqual(retCodes(full, original()), []);
  const over = returnDoc();
  over.lines[0]!.qty = '2.00001';
  assert.deepEqual(retCodes(over, original()), ['RETURN_QTY_EXCEEDED']);
  const one = returnDoc(); // qty 1
  assert.deepEqual(retCodes(one, original({ returned: new Map([[1, Q(1)]]) })), []);
  assert.deepEqual(retCodes(one, original({ returned: new Map([[1, Q(1.5)]]) })), ['RETURN_QTY_EXCEEDED']);
  // returns of another line do not count
  assert.deepEqual(retCodes(one, original({ returned: new Map([[2, Q(1)]]) })), []);
});

test('cross-district: 5141 → 4713 (not a pilot) on 2025-01-10 not allowed for 9610; → 2210 (pilot) allowed', () => {
  const orig = original({ ieDate: '20241201' });
  assert.deepEqual(retCodes(returnDoc('20250110100000', '4713'), orig), ['RETURN_CROSS_DISTRICT_NOT_ALLOWED']);
  assert.deepEqual(retCodes(returnDoc('20250110100000', '2210'), orig), []);
  // same district, another office: not cross-district
  assert.deepEqual(retCodes(returnDoc('20250110100000', '5133'), orig), []);
  // 9810 into a pilot district: not allowed (pilot is for 9610 only)
  assert.deepEqual(retCodes(returnDoc('20250110100000', '2210'), original({ ieDate: '20241201', tradeMode: '9810' })), [
    'RETURN_CROSS_DISTRICT_NOT_ALLOWED',
  ]);
});

test('cross-district: before 2024-12-15 no cross-district return is allowed, even into a pilot district', () => {
  const orig = original({ ieDate: '20241101' });
  assert.deepEqual(retCodes(returnDoc('20241214235959', '2210'), orig), ['RETURN_CROSS_DISTRICT_NOT_ALLOWED']);
  assert.deepEqual(retCodes(returnDoc('20241215000000', '2210'), orig), []);
});

test('cross-district: from 2026-04-01 into any district (4713) for 9610, never for 9810', () => {
  const orig = original({ ieDate: '20260301' });
  assert.deepEqual(retCodes(returnDoc('20260331235959', '4713'), orig), ['RETURN_CROSS_DISTRICT_NOT_ALLOWED']);
  assert.deepEqual(retCodes(returnDoc('20260401000000', '4713'), orig), []);
  const o9810 = original({ ieDate: '20260301', tradeMode: '9810' });
  assert.deepEqual(retCodes(returnDoc('20260401000000', '4713'), o9810), ['RETURN_CROSS_DISTRICT_NOT_ALLOWED']);
  assert.deepEqual(retCodes(returnDoc('20260401000000', '2210'), o9810), ['RETURN_CROSS_DISTRICT_NOT_ALLOWED']);
  assert.deepEqual(retCodes(returnDoc('20260401000000', '5133'), o9810), []);
  assert.equal(checkReturn(returnDoc('20260401000000', '4713'), orig, policyAt).policy.id, 'gacc-2026-9610-returns');
});
