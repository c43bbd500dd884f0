/**
 * A seeded builder of small random business days for the differential test: few parties and small
 * key spaces so that records collide (lists sharing an order or a waybill, late and early
 * counterparts, waybills outside the reuse window, re-declared, deleted, draft, stale and tied
 * versions, cancels and returns of every kind, mismatching amounts, weights and currencies, B2B
 * and simplified-declaration limits, controlled goods, a few invalid records). Each day is written
 * as one CSV file per record type (RULES.md §1) into a folder named by the date.
 *
 * Cancels and returns aim at lists decided on earlier days, so `day(d, outcomes)` takes what the
 * reference decided so far (invtNo and decision per list key).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { recordSpec, tabularColumns, type RecordTypeName } from '../../src/spec/fields.js';
import type { DayInput, Rec } from './matcher.js';

// ---------------------------------------------------------------------------------------------
// a small seeded generator (sfc32 seeded from a string hash)

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: string) {
    let h = 1779033703 ^ seed.length;
    for (let i = 0; i < seed.length; i++) {
      h = Math.imul(h ^ seed.charCodeAt(i), 3432918353);
      h = (h << 13) | (h >>> 19);
    }
    const next = () => {
      h = Math.imul(h ^ (h >>> 16), 2246822507);
      h = Math.imul(h ^ (h >>> 13), 3266489909);
      return (h ^= h >>> 16) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.next();
  }
  next(): number {
    this.a >>>= 0;
    this.b >>>= 0;
    this.c >>>= 0;
    this.d >>>= 0;
    let t = (this.a + this.b) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.d = (this.d + 1) | 0;
    t = (t + this.d) | 0;
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[Math.floor(this.next() * a.length)] as T;
  }
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [a[i], a[j]] = [a[j] as T, a[i] as T];
    }
    return a;
  }
}

// ---------------------------------------------------------------------------------------------
// catalog: few parties, a few goods (some selected by risk profiles or value bands, some controlled)

interface Goods {
  gcode: string;
  gname: string;
  gmodel: string;
  itemNo: string;
  unit: string;
  /** CNY cents */
  price: number;
}
const g = (gcode: string, gname: string, gmodel: string, itemNo: string, unit: string, price: number): Goods => ({ gcode, gname, gmodel, itemNo, unit, price });
const COMMON: Goods[] = [
  g('3926909090', '手机保护壳', 'TPU', 'ZK-PC-1001', '011', 1990),
  g('9113900000', '表带', '硅胶', 'ZK-WS-2002', '011', 4000),
  g('6109100000', 'T恤', '棉', 'ZK-TS-3003', '011', 5900),
  g('4202920000', '背包', '涤纶', 'ZK-BG-4004', '011', 12900),
  g('9503000000', '玩具', '塑料', 'ZK-TY-5005', '011', 3500),
  g('8517629900', '蓝牙耳机', '无线', 'ZK-EP-6006', '011', 19900),
];
const BATTERY = g('8507600090', '锂电池', '3000mAh', 'ZK-BT-7007', '011', 8800); // RP-BATT
const WATCH = g('9102110000', '手表', '石英', 'ZK-WT-8008', '011', 29900); // RP-9810-WATCH
const LAPTOP = g('8471300000', '笔记本电脑', '14寸', 'ZK-NB-9009', '011', 480000);
const CONTROLLED: Goods[] = [g('0106190090', '宠物仓鼠', '活体', 'ZK-AN-1010', '011', 5000), g('4403110000', '原木', '松木', 'ZK-WD-1111', '035', 30000)];

const EBP = ['4403960PT8', '3301960PT2'];
const EBC = ['4403960ZK9', '4403960ZK1', '3301960HZ3']; // 4403960ZK1 is on the AEO list
const AGENT = ['4403980BG2', '3301980AG7'];
const LOGISTICS = ['4403960WL3', '3301960SF1'];
const CUSTOMS = ['5141', '5316', '2210', '4713', '0801'];
const COUNTRY = ['502', '304', '116', '303'];
/** currency as written → CNY cents to price units (×1000) */
const CURRENCY: [string, number][] = [
  ['142', 1000], ['142', 1000], ['142', 1000], ['142', 1000], ['142', 1000], ['142', 1000], ['142', 1000], ['142', 1000],
  ['CNY', 1000], ['502', 140], ['USD', 140], ['502', 140], ['110', 1100], ['HKD', 1100], ['300', 128], ['303', 110],
  ['KRW', 190000], ['999', 1000],
];
const ISO_OF: Record<string, string> = { '142': 'CNY', '502': 'USD', '110': 'HKD', '300': 'EUR', '303': 'GBP', CNY: '142', USD: '502', HKD: '110', EUR: '300', GBP: '303', KRW: 'KRW', '999': '999' };

// ---------------------------------------------------------------------------------------------
// time

const DAY = 86_400;
export const secondsOf = (date: string): number => Date.UTC(+date.slice(0, 4), +date.slice(5, 7) - 1, +date.slice(8, 10)) / 1000;
export const dateOf = (s: number): string => new Date(s * 1000).toISOString().slice(0, 10);
const ts14 = (s: number): string => new Date(s * 1000).toISOString().replace(/[-:T]/g, '').slice(0, 14);
const date8 = (s: number): string => ts14(s).slice(0, 8);
export const addDays = (date: string, n: number): string => dateOf(secondsOf(date) + n * DAY);
function addMonths(date: string, n: number): string {
  const d = new Date(secondsOf(date) * 1000);
  d.setUTCMonth(d.getUTCMonth() + n);
  return d.toISOString().slice(0, 10);
}
const money = (cents: number): string => `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;

// ---------------------------------------------------------------------------------------------

export interface Outcome {
  invtNo: string | null;
  decision: string;
}

interface Item {
  goods: Goods;
  qty: number;
  /** price in the currency, cents */
  price: number;
  currency: string;
  country: string;
}
interface OrderInfo {
  ebpCode: string;
  ebcCode: string;
  orderNo: string;
  tradeMode: string;
  items: Item[];
}
interface WaybillInfo {
  logisticsCode: string;
  logisticsNo: string;
  ebcCode: string;
  gross: number; // grams
  freight: number; // cents
  packNo: number;
}
interface ListInfo {
  list: Rec;
  lines: Rec[];
  invalid: boolean;
}

const emptyDay = (date: string): DayInput => ({
  date, order: [], order_line: [], receipt: [], waybill: [], list: [], list_line: [], cancel: [], return: [], return_line: [],
});

export class RandomDays {
  readonly dates: string[];
  private readonly rng: Rng;
  private readonly days: DayInput[];
  private serial = 0;
  private readonly orders: OrderInfo[] = [];
  private readonly waybills: WaybillInfo[] = [];
  /** the latest valid version written of each list key (what returns and cancels aim at) */
  private readonly lists = new Map<string, ListInfo>();

  constructor(
    seed: string,
    start: string,
    nDays = 3,
    private readonly perDay: [number, number] = [40, 120],
  ) {
    this.rng = new Rng(seed);
    this.dates = Array.from({ length: nDays }, (_, i) => addDays(start, i));
    this.days = this.dates.map(emptyDay);
  }

  private guid(): string {
    return `00000000-0000-4000-8000-${String(++this.serial).padStart(12, '0')}`;
  }
  private push(d: number, type: RecordTypeName, rec: Rec): void {
    if (d < this.days.length) (this.days[d]![type] as Rec[]).push(rec);
  }

  /** The records of day `d` (0-based); `outcomes` is what the run decided on the earlier days. */
  day(d: number, outcomes: ReadonlyMap<string, Outcome>): DayInput {
    const r = this.rng;
    const D = this.dates[d]!;
    const base = secondsOf(D);
    if (d > 0) {
      this.cancels(d, outcomes);
      this.returns(d, outcomes);
      this.redeclare(d, outcomes);
    }
    const n = r.int(this.perDay[0], this.perDay[1]);
    for (let i = 0; i < n; i++) this.newCase(d, base + r.int(1800, 23 * 3600));
    if (d === 0) for (let i = 0; i < Math.max(2, Math.floor(n / 15)); i++) this.oldCase(d);
    const day = this.days[d]!;
    for (const k of Object.keys(day) as (keyof DayInput)[]) if (k !== 'date') r.shuffle(day[k]);
    return day;
  }

  // -------------------------------------------------------------------------------------------
  // a list and its counterparts

  private items(tradeMode: string, statisticsFlag: string): Item[] {
    const r = this.rng;
    const [currency, factor] = r.pick(CURRENCY);
    const country = r.pick(COUNTRY);
    const n = r.int(1, 3);
    const out: Item[] = [];
    const b2b = tradeMode === '9710' || tradeMode === '9810';
    for (let i = 0; i < n; i++) {
      let goods = r.pick(COMMON);
      if (r.chance(0.06)) goods = BATTERY;
      else if (r.chance(0.04) || (tradeMode === '9810' && r.chance(0.2))) goods = WATCH;
      else if (r.chance(0.03)) goods = r.pick(CONTROLLED);
      else if ((b2b || statisticsFlag === 'A') && r.chance(0.2)) goods = LAPTOP;
      let price = Math.max(1, Math.round((goods.price * factor) / 1000));
      if (r.chance(0.04)) price = 500000; // exactly 5,000.00 in its currency (the B2B and simplified thresholds)
      else if (r.chance(0.03)) price = 300000; // exactly 3,000.00 (a risk profile's value range)
      out.push({ goods, qty: r.int(1, 3), price, currency: i > 0 && r.chance(0.1) ? r.pick(CURRENCY)[0] : currency, country: r.chance(0.9) ? country : r.pick(COUNTRY) });
    }
    return out;
  }

  private orderLines(items: Item[]): Rec[] {
    return items.map((it, i) => ({
      gnum: String(i + 1), itemNo: it.goods.itemNo, itemName: it.goods.gname, unit: it.goods.unit,
      currency: this.rng.chance(0.15) ? ISO_OF[it.currency] ?? it.currency : it.currency,
      qty: String(it.qty), price: money(it.price), totalPrice: money(it.price * it.qty),
    }));
  }
  private listLines(items: Item[]): Rec[] {
    return items.map((it, i) => ({
      gnum: String(i + 1), itemNo: it.goods.itemNo, gcode: it.goods.gcode, gname: it.goods.gname, gmodel: it.goods.gmodel, barCode: '无', country: it.country,
      currency: it.currency, qty: String(it.qty), qty1: '0.05', unit: it.goods.unit, unit1: '035', price: money(it.price), totalPrice: money(it.price * it.qty),
    }));
  }

  private writeOrder(d: number, o: OrderInfo, appTime: number, over: Rec = {}, lines?: Rec[]): Rec {
    const goodsValue = o.items.reduce((s, it) => s + it.price * it.qty, 0);
    const rec: Rec = {
      guid: this.guid(), appType: '1', appTime: ts14(appTime), appStatus: '2', orderType: { '9610': 'E', '1210': 'E', '9710': 'B', '9810': 'W' }[o.tradeMode]!,
      orderNo: o.orderNo, ebpCode: o.ebpCode, ebpName: '平台', ebcCode: o.ebcCode, ebcName: '企业', goodsValue: money(goodsValue), freight: '25.00', currency: '142', ...over,
    };
    this.push(d, 'order', rec);
    for (const l of lines ?? this.orderLines(o.items)) this.push(d, 'order_line', { ...l, ebpCode: rec.ebpCode!, ebcCode: rec.ebcCode!, orderNo: rec.orderNo!, headGuid: rec.guid! });
    return rec;
  }

  private writeWaybill(d: number, w: WaybillInfo, appTime: number, over: Rec = {}): Rec {
    const rec: Rec = {
      guid: this.guid(), appType: '1', appTime: ts14(appTime), appStatus: '2', logisticsCode: w.logisticsCode, logisticsName: '物流', logisticsNo: w.logisticsNo,
      freight: money(w.freight), insuredFee: '0', currency: '142', grossWeight: (w.gross / 1000).toFixed(3), packNo: String(w.packNo), goodsInfo: '货物', ebcCode: w.ebcCode, ...over,
    };
    if (rec.ebcCode === '') delete rec.ebcCode;
    this.push(d, 'waybill', rec);
    return rec;
  }

  private writeReceipt(d: number, o: OrderInfo, appTime: number, charge: number): void {
    this.push(d, 'receipt', {
      guid: this.guid(), appType: '1', appTime: ts14(appTime), appStatus: '2', ebpCode: o.ebpCode, ebpName: '平台', ebcCode: o.ebcCode, ebcName: '企业',
      orderNo: o.orderNo, payName: '支付', charge: money(charge), currency: '142', accountingDate: ts14(appTime),
    });
  }

  private writeList(d: number, list: Rec, lines: Rec[], track = true): void {
    this.push(d, 'list', list);
    for (const l of lines) this.push(d, 'list_line', { ...l, agentCode: list.agentCode!, copNo: list.copNo!, headGuid: list.guid! });
    if (track && list.appStatus === '2' && list.appType !== '3') {
      const key = `${list.agentCode}|${list.copNo}`;
      const prev = this.lists.get(key);
      if (prev === undefined || prev.list.appTime! <= list.appTime!) this.lists.set(key, { list, lines, invalid: false });
    }
  }

  private makeList(o: OrderInfo, w: WaybillInfo, appTime: number, customsCode: string, statisticsFlag: string, items: Item[]): { list: Rec; lines: Rec[] } {
    const r = this.rng;
    const net = Math.max(1, Math.round(w.gross * 0.8));
    const list: Rec = {
      guid: this.guid(), appType: '1', appTime: ts14(appTime), appStatus: '2', customsCode, ebpCode: o.ebpCode, ebpName: '平台', orderNo: o.orderNo,
      logisticsCode: w.logisticsCode, logisticsName: '物流', logisticsNo: w.logisticsNo, copNo: `CP${++this.serial}`, ieFlag: 'E', portCode: customsCode,
      ieDate: date8(appTime), statisticsFlag, agentCode: r.pick(AGENT), agentName: '报关行', ebcCode: o.ebcCode, ebcName: '企业', ownerCode: '4419960SC5', ownerName: '货主',
      tradeMode: o.tradeMode, trafMode: '5', country: items[0]!.country, POD: '502', freight: money(w.freight), fCurrency: '142', fFlag: '3', insuredFee: '0', iCurrency: '142', iFlag: '3',
      wrapType: '2', packNo: String(w.packNo), grossWeight: (w.gross / 1000).toFixed(3), netWeight: (net / 1000).toFixed(3), billNo: `BL${r.int(1, 4)}`, loctNo: `L${r.int(1, 2)}`,
    };
    return { list, lines: this.listLines(items) };
  }

  /** One new list of day d at time t, with its counterparts and its anomalies. */
  private newCase(d: number, t: number): void {
    const r = this.rng;
    // an early list: its order and waybill come today, the list tomorrow
    const future = d + 1 < this.days.length && r.chance(0.05);
    // a late-arriving list with an old appTime (past or near the end of its grace)
    const lateDays = !future && r.chance(0.04) ? r.pick([2, 4]) : 0;
    let listTime = future ? t + DAY : t - lateDays * DAY;
    // at the grace edge: three days old at the end of the day exactly (no longer pending), or one second less
    if (lateDays === 2 && r.chance(0.3)) listTime = secondsOf(this.dates[d]!) - 2 * DAY + r.pick([0, 1]);
    const listDay = future ? d + 1 : d;

    // the order: a new one, or one already made (several lists naming one order)
    let o: OrderInfo;
    let newOrder = true;
    if (this.orders.length > 5 && r.chance(0.12)) {
      o = r.pick(this.orders);
      newOrder = false;
    } else {
      const tradeMode = r.chance(0.7) ? '9610' : r.pick(['9710', '9810', '1210']);
      const statisticsFlag = r.chance(0.1) ? 'A' : 'B';
      o = { ebpCode: r.pick(EBP), ebcCode: r.pick(EBC), orderNo: `OR${r.int(1, 9)}${++this.serial}`, tradeMode, items: this.items(tradeMode, statisticsFlag) };
      this.orders.push(o);
    }
    // the waybill: a new one, or one of the same enterprise already made
    let w: WaybillInfo;
    let newWaybill = true;
    const sameEbc = this.waybills.filter((x) => x.ebcCode === o.ebcCode || x.ebcCode === '');
    if (sameEbc.length > 3 && r.chance(0.1)) {
      w = r.pick(sameEbc);
      newWaybill = false;
    } else {
      w = { logisticsCode: r.pick(LOGISTICS), logisticsNo: `WB${++this.serial}`, ebcCode: r.chance(0.1) ? '' : o.ebcCode, gross: r.int(100, 5000), freight: r.pick([1000, 2500, 3000]), packNo: r.int(1, 2) };
      this.waybills.push(w);
    }
    const statisticsFlag = r.chance(0.12) ? 'A' : 'B';
    const customsCode = r.pick(CUSTOMS);
    const { list, lines } = this.makeList(o, w, listTime, customsCode, statisticsFlag, o.items);

    // --- the order's versions
    const orderTime = listTime - r.int(60, 7200);
    if (newOrder) {
      const orderDay = r.chance(0.06) ? d + 1 : r.chance(0.03) ? -1 : d; // late, never, on time
      if (orderDay >= 0) {
        const over: Rec = {};
        if (r.chance(0.02)) over.ebcCode = r.pick(EBC.filter((x) => x !== o.ebcCode)); // ORDER_PARTY_MISMATCH
        if (r.chance(0.02)) over.orderType = r.pick(['E', 'B', 'W']); // may be ORDER_TYPE_MISMATCH
        if (r.chance(0.03)) over.goodsValue = money(o.items.reduce((s, it) => s + it.price * it.qty, 0) + r.pick([1, 2, -2, 50])); // VALUE_MISMATCH beyond 0.01 or not
        if (r.chance(0.01)) over.goodsValue = 'x'; // an invalid order
        this.writeOrder(orderDay, o, orderTime, over);
        if (r.chance(0.04)) {
          // a tie on appTime: another version with the same appTime; input order decides
          this.writeOrder(orderDay, o, orderTime, { appType: '2', goodsValue: money(o.items.reduce((s, it) => s + it.price * it.qty, 0) + r.pick([0, 300])) });
        }
        if (r.chance(0.03)) this.writeOrder(orderDay, o, orderTime - 600, { appType: '2', goodsValue: '1.00' }); // a stale older version
        if (r.chance(0.02)) this.writeOrder(Math.min(orderDay + 1, d + 1), o, orderTime - 900, { appType: '2', goodsValue: '2.00' }); // stale, a day later
        if (r.chance(0.02)) this.writeOrder(orderDay + 1, o, orderTime, { appType: '2', goodsValue: r.chance(0.5) ? '4.00' : money(o.items.reduce((s, it) => s + it.price * it.qty, 0)) }); // a tie a day later: the later day wins
        if (r.chance(0.03)) this.writeOrder(orderDay, o, orderTime + 60, { appStatus: '1', goodsValue: '3.00' }); // a newer draft
        if (r.chance(0.015)) this.writeOrder(orderDay, o, orderTime + 120, { appType: '3' }); // deleted
        if (r.chance(0.01)) this.writeOrder(orderDay, o, orderTime + 180, { appType: '2', currency: '14' }); // an invalid newer version
      }
      // the receipt (required for 9610 before 2024-12-15)
      if (!r.chance(0.08)) {
        const charge = o.items.reduce((s, it) => s + it.price * it.qty, 0) + (r.chance(0.04) ? r.pick([1, 2, 500]) : 0);
        this.writeReceipt(r.chance(0.05) ? d + 1 : d, o, orderTime + 30, charge);
      }
    }

    // --- the waybill's versions
    if (newWaybill) {
      const roll = r.next();
      let wbTime = listTime - r.int(60, 3600);
      if (roll < 0.03) wbTime = listTime - 200 * DAY; // outside the reuse window
      else if (roll < 0.04) wbTime = listTime - 180 * DAY; // exactly at the edge: still inside
      else if (roll < 0.05) wbTime = listTime - 180 * DAY - 1; // one second outside
      else if (roll < 0.08) wbTime = listTime + r.int(60, 3600); // later than the list: fine
      const wbDay = r.chance(0.05) ? d + 1 : r.chance(0.02) ? -1 : d;
      if (wbDay >= 0) {
        const over: Rec = {};
        if (r.chance(0.02)) over.ebcCode = r.pick(EBC.filter((x) => x !== o.ebcCode)); // WAYBILL_PARTY_MISMATCH
        if (r.chance(0.01)) over.grossWeight = 'heavy'; // an invalid waybill
        this.writeWaybill(wbDay, w, wbTime, over);
        if (r.chance(0.02)) this.writeWaybill(wbDay, w, wbTime + 60, { appStatus: '1', packNo: '9' }); // a newer draft
        if (r.chance(0.02)) this.writeWaybill(wbDay, w, wbTime, { appType: '2', packNo: String(w.packNo + 1) }); // a tie
      }
    }

    // --- the list's own anomalies
    let lines2 = lines;
    const a = r.next();
    if (a < 0.02 && lines.length > 1) lines2 = lines.slice(0, -1); // LINE_COUNT_MISMATCH (and VALUE_MISMATCH)
    else if (a < 0.06) {
      const i = r.int(0, lines.length - 1);
      const l = { ...lines[i]! };
      const f = r.pick(['itemNo', 'unit', 'qty', 'price', 'totalPrice', 'totalPriceSmall', 'currencyIso', 'currencyOther', 'gcodeControlled']);
      if (f === 'itemNo') l.itemNo = 'ZK-OTHER';
      else if (f === 'unit') l.unit = '035';
      else if (f === 'qty') l.qty = String(Number(l.qty) + 1);
      else if (f === 'price') l.price = money(Math.round(Number(l.price) * 100) + 2);
      else if (f === 'totalPrice') l.totalPrice = money(Math.round(Number(l.totalPrice) * 100) + 2);
      else if (f === 'totalPriceSmall') l.totalPrice = money(Math.round(Number(l.totalPrice) * 100) + 1); // within the tolerance
      else if (f === 'currencyIso') l.currency = ISO_OF[l.currency!] ?? l.currency!; // the same currency, other spelling
      else if (f === 'currencyOther') l.currency = l.currency === '142' ? '502' : '142';
      else l.gcode = r.pick(CONTROLLED).gcode;
      lines2 = lines.map((x, j) => (j === i ? l : x));
    }
    const b = r.next();
    if (b < 0.02) list.freight = money(w.freight + r.pick([1, 2, 50]));
    else if (b < 0.03) list.insuredFee = '0.02';
    else if (b < 0.05) list.packNo = String(w.packNo + 1);
    else if (b < 0.09) {
      // weight at and around the tolerance max(0.1 kg, 10 %)
      const tol = Math.max(100, w.gross / 10);
      const gross = w.gross + r.pick([tol, tol + 1, -tol, -tol - 1, 2 * tol]);
      list.grossWeight = (Math.max(1, Math.round(gross)) / 1000).toFixed(3);
      list.netWeight = (Math.max(1, Math.round(Math.min(gross, w.gross) * 0.5)) / 1000).toFixed(3);
    } else if (b < 0.11) list.netWeight = ((w.gross + 10) / 1000).toFixed(3); // NET_OVER_GROSS
    if (r.chance(0.05)) {
      list.invtNo = `${customsCode}${dateOf(listTime).slice(0, 4)}E9${String(++this.serial).padStart(10, '0')}`; // arrives filled in
      if (r.chance(0.2)) {
        // cancelled the day it is declared: not a list decided in an earlier run (CANCEL_TARGET_MISSING)
        this.push(listDay, 'cancel', {
          guid: this.guid(), appType: '1', appTime: ts14(listTime + 60), appStatus: '2', customsCode, copNo: list.copNo!, invtNo: list.invtNo, reason: '撤单',
          agentCode: list.agentCode!, agentName: '报关行', ebcCode: list.ebcCode!, ebcName: '企业',
        });
      }
    }

    // --- the list's versions
    const v = r.next();
    if (v < 0.02) {
      // invalid: the only version, or the latest over a valid one
      const bad: Rec = { ...list, guid: this.guid(), appType: '2', appTime: ts14(listTime + 300) };
      const how = r.int(0, 3);
      if (how === 0) bad.ieFlag = 'I';
      else if (how === 1) bad.tradeMode = '9999';
      else if (how === 2) bad.grossWeight = 'abc';
      const badLines = how === 3 ? lines2.map((l, j) => (j === 0 ? { ...l, qty: 'x' } : l)) : lines2;
      if (r.chance(0.5)) this.writeList(listDay, list, lines2);
      this.writeList(listDay, bad, badLines, false);
      this.lists.set(`${list.agentCode}|${list.copNo}`, { list: bad, lines: badLines, invalid: true });
    } else if (v < 0.06) {
      // re-declared the same day: a first version with an error, then the corrected one (or a tie)
      const wrong = { ...list, freight: '99.00' };
      this.writeList(listDay, wrong, lines2);
      const tie = r.chance(0.3);
      this.writeList(listDay, { ...list, guid: this.guid(), appType: '2', appTime: tie ? list.appTime! : ts14(listTime + 600) }, lines);
    } else if (v < 0.08) {
      // declared, then deleted the same day
      this.writeList(listDay, list, lines2);
      this.push(listDay, 'list', { ...list, guid: this.guid(), appType: '3', appTime: ts14(listTime + 900) });
      this.lists.delete(`${list.agentCode}|${list.copNo}`);
    } else if (v < 0.1) {
      // a draft: the only version (never decided), or a newer draft over a real one (ignored)
      if (r.chance(0.5)) this.writeList(listDay, list, lines2);
      this.writeList(listDay, { ...list, guid: this.guid(), appStatus: '1', appTime: ts14(listTime + 60), freight: '1.00' }, lines2, false);
    } else if (v < 0.12) {
      // a stale older version after the real one
      this.writeList(listDay, list, lines2);
      this.writeList(listDay, { ...list, guid: this.guid(), appType: '2', appTime: ts14(listTime - 600), packNo: '7' }, lines2, false);
    } else this.writeList(listDay, list, lines2);
  }

  /** Day 0 only: a list declared about a year ago (decided today, returned on a later day). */
  private oldCase(d: number): void {
    const r = this.rng;
    const ie = addDays(addMonths(this.dates[Math.min(1 + r.int(0, 1), this.dates.length - 1)]!, -12), r.pick([0, 0, -1, 1]));
    const t = secondsOf(ie) + r.int(3600, 20 * 3600);
    const tradeMode = r.chance(0.75) ? '9610' : r.pick(['9710', '9810', '1210']);
    const o: OrderInfo = { ebpCode: r.pick(EBP), ebcCode: r.pick(EBC), orderNo: `OY${++this.serial}`, tradeMode, items: this.items(tradeMode, 'B').filter((it) => !CONTROLLED.includes(it.goods) && it.goods !== LAPTOP) };
    if (o.items.length === 0) o.items.push({ goods: COMMON[0]!, qty: 2, price: 1990, currency: '142', country: '502' });
    for (const it of o.items) it.currency = '142';
    const w: WaybillInfo = { logisticsCode: r.pick(LOGISTICS), logisticsNo: `WY${++this.serial}`, ebcCode: o.ebcCode, gross: 800, freight: 2500, packNo: 1 };
    this.writeOrder(d, o, t - 600);
    this.writeWaybill(d, w, t - 300);
    this.writeReceipt(d, o, t - 500, o.items.reduce((s, it) => s + it.price * it.qty, 0));
    const { list, lines } = this.makeList(o, w, t, r.pick(CUSTOMS), 'B', o.items);
    list.ieDate = ie.replace(/-/g, '');
    this.writeList(d, list, lines);
  }

  // -------------------------------------------------------------------------------------------
  // cancels, returns and re-declarations aimed at what earlier days decided

  private decided(outcomes: ReadonlyMap<string, Outcome>, which: (o: Outcome) => boolean): [string, Outcome, ListInfo][] {
    const out: [string, Outcome, ListInfo][] = [];
    for (const [k, o] of outcomes) {
      const info = this.lists.get(k);
      if (info && !info.invalid && which(o)) out.push([k, o, info]);
    }
    return out.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  }

  private touched = new Set<string>();
  /** invtNos already returned once (returned again more often: cumulative quantities over days) */
  private returnedOnce = new Set<string>();

  private cancels(d: number, outcomes: ReadonlyMap<string, Outcome>): void {
    const r = this.rng;
    const base = secondsOf(this.dates[d]!);
    const positive = this.decided(outcomes, (o) => ['RELEASE', 'INSPECT', 'REVIEW'].includes(o.decision) && o.invtNo !== null);
    const mk = (info: ListInfo, invtNo: string, over: Rec = {}): Rec => ({
      guid: this.guid(), appType: '1', appTime: ts14(base + r.int(600, 20000)), appStatus: '2', customsCode: info.list.customsCode!, copNo: info.list.copNo!, invtNo,
      reason: '撤单', agentCode: info.list.agentCode!, agentName: '报关行', ebcCode: info.list.ebcCode!, ebcName: '企业', ...over,
    });
    for (const [k, o, info] of positive) {
      if (this.touched.has(k) || !r.chance(0.08)) continue;
      this.touched.add(k);
      const kind = r.next();
      if (kind < 0.7) {
        this.push(d, 'cancel', mk(info, o.invtNo!));
        if (r.chance(0.5)) {
          // declared again under a new copNo: takes the freed order and waybill
          const again: Rec = { ...info.list, guid: this.guid(), copNo: `CP${++this.serial}`, appType: '1', appTime: ts14(base + r.int(21000, 80000)), invtNo: '' };
          again.ieDate = again.appTime!.slice(0, 8);
          this.writeList(d, again, info.lines);
        }
      } else if (kind < 0.85) this.push(d, 'cancel', mk(info, o.invtNo!, { ebcCode: r.pick(EBC.filter((x) => x !== info.list.ebcCode)) })); // another party
      else this.push(d, 'cancel', mk(info, o.invtNo!, { agentCode: r.pick(AGENT.filter((x) => x !== info.list.agentCode)) }));
    }
    // a cancel of a rejected list (decided in an earlier run), of a pending one (not decided: no target)
    for (const [k, o, info] of this.decided(outcomes, (o) => (o.decision === 'REJECT' || o.decision === 'PENDING') && o.invtNo !== null)) {
      if (this.touched.has(k) || !r.chance(o.decision === 'PENDING' ? 0.3 : 0.04)) continue;
      this.touched.add(k);
      this.push(d, 'cancel', mk(info, o.invtNo!));
    }
    const any = this.decided(outcomes, () => true);
    for (let i = 0; i < 2 && any.length > 0; i++) {
      const [, , info] = r.pick(any);
      this.push(d, 'cancel', mk(info, `${info.list.customsCode}2099E${String(r.int(1, 99999999999)).padStart(11, '0')}`, { copNo: `CX${++this.serial}` })); // no target
    }
  }

  private returns(d: number, outcomes: ReadonlyMap<string, Outcome>): void {
    const r = this.rng;
    const base = secondsOf(this.dates[d]!);
    const targets = this.decided(outcomes, (o) => o.invtNo !== null && (o.decision !== 'PENDING' || r.chance(0.3)));
    const write = (info: ListInfo, invtNo: string, t: number, shape: (lines: Rec[]) => Rec[], over: Rec = {}): void => {
      const customsCode = over.customsCode ?? info.list.customsCode!;
      const ret: Rec = {
        guid: this.guid(), appType: '1', appTime: ts14(t), appStatus: '2', customsCode, ebpCode: info.list.ebpCode!, ebpName: '平台', ebcCode: info.list.ebcCode!, ebcName: '企业',
        logisticsNo: `RT${++this.serial}`, logisticsCode: info.list.logisticsCode!, logisticsName: '物流', coElNo: `RE${this.serial}`, invtNo, tradeMode: '9610',
        agentCode: info.list.agentCode!, agentName: '报关行', billNo: `RB${this.serial}`, ieFlag: 'I', trafMode: '5', trafName: 'CZ3096', portCode: customsCode, reason: '退货',
        country: '502', voyageNo: 'CZ3096', ...over,
      };
      const lines = shape(info.lines).map((l) => ({ ...l, agentCode: ret.agentCode!, coElNo: ret.coElNo!, headGuid: ret.guid! }));
      this.push(d, 'return', ret);
      for (const l of lines) this.push(d, 'return_line', l);
      if (r.chance(0.05)) {
        // a newer version of the same return the same day (latest wins), or a draft
        const v2 = { ...ret, guid: this.guid(), appType: '2', appTime: ts14(t + 60), appStatus: r.chance(0.5) ? '1' : '2' };
        this.push(d, 'return', v2);
        for (const l of shape(info.lines)) this.push(d, 'return_line', { ...l, agentCode: ret.agentCode!, coElNo: ret.coElNo!, headGuid: v2.guid! });
      }
    };
    const line = (l: Rec, qty: number, over: Rec = {}): Rec => ({ gnum: l.gnum!, gcode: l.gcode!, gname: l.gname!, gmodel: l.gmodel!, qty: String(qty), qty1: '0.05', unit: l.unit!, unit1: '035', ...over });
    for (const [, o, info] of targets) {
      const p = info.list.ieDate! < this.dates[0]!.replace(/-/g, '') ? 0.9 : this.returnedOnce.has(o.invtNo!) ? 0.5 : 0.15;
      if (!r.chance(p)) continue;
      this.returnedOnce.add(o.invtNo!);
      const t = base + r.int(600, 80000);
      const kind = r.next();
      const partial = (ls: Rec[]) => ls.filter((_, i) => i === 0 || r.chance(0.5)).map((l) => line(l, r.int(1, Number(l.qty)), {}));
      let over: Rec = {};
      let shape = partial;
      if (kind < 0.12) shape = (ls) => ls.map((l) => line(l, Number(l.qty) + 1)); // over the original quantity
      else if (kind < 0.2) over = { ebcCode: r.pick(EBC.filter((x) => x !== info.list.ebcCode)) };
      else if (kind < 0.28) shape = (ls) => [line(ls[0]!, 1, r.chance(0.5) ? { gnum: '9' } : { gmodel: '其他' })];
      else if (kind < 0.45) over = { customsCode: r.pick(CUSTOMS.filter((c) => c.slice(0, 2) !== info.list.customsCode!.slice(0, 2))) }; // cross-district
      else if (kind < 0.55) {
        // two returns of the same list the same day: cumulative quantities
        write(info, o.invtNo!, t - 300, (ls) => [line(ls[0]!, Math.max(1, Number(ls[0]!.qty) - 1))]);
        shape = (ls) => [line(ls[0]!, r.int(1, 2))];
      }
      write(info, o.invtNo!, t, shape, over);
    }
    // returns of lists that do not exist
    for (let i = 0; i < 2 && targets.length > 0; i++) {
      const [, , info] = r.pick(targets);
      write(info, `${info.list.customsCode}2099E${String(r.int(1, 99999999999)).padStart(11, '0')}`, base + r.int(600, 80000), (ls) => [line(ls[0]!, 1)]);
    }
  }

  private redeclare(d: number, outcomes: ReadonlyMap<string, Outcome>): void {
    const r = this.rng;
    const base = secondsOf(this.dates[d]!);
    for (const [k, o, info] of this.decided(outcomes, () => true)) {
      if (this.touched.has(k)) continue;
      const p = o.decision === 'PENDING' ? 0.25 : o.decision === 'REJECT' ? 0.08 : 0.04;
      if (!r.chance(p)) continue;
      this.touched.add(k);
      const t = base + r.int(600, 80000);
      if (o.decision === 'PENDING' && r.chance(0.2)) {
        this.push(d, 'list', { ...info.list, guid: this.guid(), appType: '3', appTime: ts14(t) }); // a pending list deleted
        this.lists.delete(k);
        continue;
      }
      const again: Rec = { ...info.list, guid: this.guid(), appType: '2', appTime: ts14(t) };
      if (r.chance(0.5)) again.freight = money(Math.round(Number(again.freight) * 100) + 100);
      if (r.chance(0.08)) {
        // an invalid newer version: REJECT with INVALID_RECORD only
        this.writeList(d, { ...again, ieFlag: 'X' }, info.lines, false);
        info.invalid = true;
        continue;
      }
      if (r.chance(0.3)) this.writeList(d, { ...again, guid: this.guid(), appStatus: '1', appTime: ts14(t + 30) }, info.lines, false); // a draft on top
      this.writeList(d, again, info.lines);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// CSV

function cell(v: string | undefined): string {
  if (v === undefined || v === '') return '';
  return /[",\r\n]/.test(v) || v !== v.trim() ? `"${v.replace(/"/g, '""')}"` : v;
}

const TYPES: RecordTypeName[] = ['order', 'order_line', 'receipt', 'waybill', 'list', 'list_line', 'cancel', 'return', 'return_line'];

/** Writes one day as CSV files (one per record type, the tabular columns of the field spec) into `root/date`. */
export function writeDayCsv(root: string, day: DayInput): string {
  const dir = join(root, day.date);
  mkdirSync(dir, { recursive: true });
  for (const type of TYPES) {
    const rows = day[type] as Rec[];
    if (rows.length === 0) continue;
    const spec = recordSpec(type);
    const cols = tabularColumns(spec);
    writeFileSync(join(dir, `${spec.table}.csv`), [cols.join(','), ...rows.map((x) => cols.map((c) => cell(x[c])).join(','))].join('\n') + '\n');
  }
  return dir;
}
