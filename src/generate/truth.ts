/**
 * The generator's own reading of RULES.md §4–§7: given the records a list (or return) can see,
 * which reasons it gets and what it is decided. It works on the raw text the generator wrote, so
 * the ground truth follows from the data actually written, not from what a case meant to inject.
 * It is deliberately independent of the SQL matcher: when the two disagree, one of them departs
 * from RULES.md.
 */
import { parseDate8, parseDecimal, parseTimestamp14 } from '../spec/validate.js';
import type { PolicyVersion, Rate } from '../policy/policy.js';
import { drawSelects, multiplyRates } from '../policy/policy.js';
import type { Reference } from '../policy/reference.js';
import { districtOf, isControlled, normaliseCurrency, rateFor } from '../policy/reference.js';

export type Rec = Record<string, string>;
export interface Doc {
  head: Rec;
  lines: Rec[];
}

/** R reject, V review, P pending (RULES.md §4); I for the risk-selection reasons of §6. */
export type Severity = 'R' | 'V' | 'P' | 'I';
export interface Reason {
  code: string;
  severity: Severity;
  detail: string;
}

export type Decision = 'REJECT' | 'PENDING' | 'REVIEW' | 'INSPECT' | 'RELEASE' | 'CANCELLED';
export const STATUS: Readonly<Record<Decision, number>> = {
  REJECT: 100,
  PENDING: 2,
  REVIEW: 300,
  INSPECT: 500,
  RELEASE: 800,
  CANCELLED: 100,
};
export const CHANNEL: Readonly<Record<Decision, string>> = {
  REJECT: '',
  PENDING: '',
  REVIEW: 'yellow',
  INSPECT: 'red',
  RELEASE: 'green',
  CANCELLED: '',
};

const RATE_ONE = 10n ** 8n; // reference rates are CNY per unit × 10^8
const TEN5 = 100000n;

/** A decimal field of a record as value × 10^5 (the generator only writes valid decimals here). */
export function dec(r: Rec, field: string): bigint {
  const v = parseDecimal((r[field] ?? '').trim());
  if (typeof v === 'string') throw new Error(`generator wrote a bad decimal in ${field}: ${v}`);
  return v;
}
export function tsOf(r: Rec, field = 'appTime'): number {
  const v = parseTimestamp14((r[field] ?? '').trim());
  if (v === null) throw new Error(`generator wrote a bad time in ${field}: ${r[field]}`);
  return v;
}
function abs(v: bigint): bigint {
  return v < 0n ? -v : v;
}
export function fmt5(v: bigint): string {
  const neg = v < 0n;
  const a = neg ? -v : v;
  const s = `${a / TEN5}.${(a % TEN5).toString().padStart(5, '0')}`.replace(/\.?0+$/, '');
  return (neg ? '-' : '') + s;
}
/** A value × 10^13 rounded half up to 2 decimals, as text. */
function fmtCny13(v: bigint): string {
  const cents = (v + 5n * 10n ** 10n) / 10n ** 11n;
  return `${cents / 100n}.${(cents % 100n).toString().padStart(2, '0')}`;
}

export const dateOfSeconds = (s: number): string => new Date(s * 1000).toISOString().slice(0, 10);
export const monthOfSeconds = (s: number): string => new Date(s * 1000).toISOString().slice(0, 7);

export const ORDER_TYPE_FOR_MODE: Readonly<Record<string, string>> = { '9610': 'E', '1210': 'E', '9710': 'B', '9810': 'W' };

/** What a list can see when it is checked. */
export interface ListWorld {
  /** The winning order with the list's three-part key, open or held (undefined: none). */
  order?: Doc;
  /** An order with the list's (ebpCode, orderNo) but another ebcCode exists. */
  orderOtherParty: boolean;
  /** The winning waybill with the list's key whose appTime is inside the reuse window. */
  waybill?: Rec;
  /** The open receipt for (ebcCode, orderNo). */
  receipt?: Rec;
  /** The list key was decided RELEASE/INSPECT/REVIEW on an earlier day and not cancelled. */
  duplicate: boolean;
}

export interface ListChecks {
  reasons: Reason[];
  /** Σ line totalPrice in CNY × 10^13, or null when a currency has no rate. */
  valueCny13: bigint | null;
  policy: PolicyVersion;
  /** Risk inputs that do not depend on invtNo. */
  profileCandidates: { id: string; rate: Rate }[];
  valueBandDetail: string | null;
  randomRate: Rate;
}

/** Every check of RULES.md §4 except ownership (ORDER_REUSED / WAYBILL_REUSED) and the grace rule. */
export function checkList(list: Doc, w: ListWorld, policyAt: (date: string) => PolicyVersion, ref: Reference): ListChecks {
  const h = list.head;
  const reasons: Reason[] = [];
  const add = (code: string, severity: Severity, detail: string) => reasons.push({ code, severity, detail });
  const appTime = tsOf(h);
  const month = monthOfSeconds(appTime);
  const pol = policyAt(dateOfSeconds(appTime));
  const tol = pol.amountTolerance;
  const mode = h.tradeMode ?? '';
  const b2b = mode === '9710' || mode === '9810';

  // CNY value (RULES.md §2)
  let value13: bigint | null = 0n;
  const unknown: string[] = [];
  for (const l of list.lines) {
    const rate = rateFor(ref, l.currency ?? '', month);
    if (rate === null) {
      unknown.push(`gnum ${l.gnum}: ${l.currency} in ${month}`);
      value13 = null;
    } else if (value13 !== null) value13 += dec(l, 'totalPrice') * rate;
  }
  if (unknown.length) add('UNKNOWN_CURRENCY', 'R', `no rate for ${unknown.join('; ')}`);

  if (w.duplicate) add('DUPLICATE_LIST', 'R', `${h.agentCode}/${h.copNo} was already decided and not cancelled`);

  // order
  const order = w.order;
  if (!order) {
    if (w.orderOtherParty) add('ORDER_PARTY_MISMATCH', 'R', `order ${h.ebpCode}/${h.orderNo} exists for another ebcCode, not ${h.ebcCode}`);
    else add('ORDER_MISSING', 'P', `no order ${h.ebpCode}/${h.ebcCode}/${h.orderNo}`);
  } else {
    const want = ORDER_TYPE_FOR_MODE[mode];
    if (want !== undefined && order.head.orderType !== want)
      add('ORDER_TYPE_MISMATCH', 'R', `tradeMode ${mode} needs orderType ${want}, order has ${order.head.orderType}`);
    const lg = new Map(list.lines.map((l) => [Number(l.gnum), l]));
    const og = new Map(order.lines.map((l) => [Number(l.gnum), l]));
    const onlyList = [...lg.keys()].filter((g) => !og.has(g)).sort((a, b) => a - b);
    const onlyOrder = [...og.keys()].filter((g) => !lg.has(g)).sort((a, b) => a - b);
    if (onlyList.length || onlyOrder.length)
      add('LINE_COUNT_MISMATCH', 'R', `gnum only on list: [${onlyList.join(',')}], only on order: [${onlyOrder.join(',')}]`);
    const diffs: string[] = [];
    for (const [g, l] of [...lg].sort((a, b) => a[0] - b[0])) {
      const o = og.get(g);
      if (!o) continue;
      if ((l.itemNo ?? '').trim() !== (o.itemNo ?? '').trim()) diffs.push(`gnum ${g} itemNo ${l.itemNo} vs ${o.itemNo}`);
      if ((l.unit ?? '').trim() !== (o.unit ?? '').trim()) diffs.push(`gnum ${g} unit ${l.unit} vs ${o.unit}`);
      if (normaliseCurrency(l.currency ?? '') !== normaliseCurrency(o.currency ?? ''))
        diffs.push(`gnum ${g} currency ${l.currency} vs ${o.currency}`);
      for (const f of ['qty', 'price', 'totalPrice']) {
        if (abs(dec(l, f) - dec(o, f)) > tol) diffs.push(`gnum ${g} ${f} ${l[f]} vs ${o[f]}`);
      }
    }
    if (diffs.length) add('LINE_MISMATCH', 'R', diffs.join('; '));
    let sum = 0n;
    for (const l of list.lines) sum += dec(l, 'totalPrice');
    const gv = dec(order.head, 'goodsValue');
    if (abs(sum - gv) > tol) add('VALUE_MISMATCH', 'R', `lines total ${fmt5(sum)} vs goodsValue ${fmt5(gv)}`);
  }

  // waybill
  const wb = w.waybill;
  if (!wb) add('WAYBILL_MISSING', 'P', `no waybill ${h.logisticsCode}/${h.logisticsNo} within ${pol.waybillWindowDays} days`);
  else {
    const wEbc = (wb.ebcCode ?? '').trim();
    if (wEbc !== '' && wEbc !== (h.ebcCode ?? '').trim()) add('WAYBILL_PARTY_MISMATCH', 'R', `waybill ebcCode ${wEbc} vs list ${h.ebcCode}`);
    if ((h.fFlag ?? '').trim() === '3' && abs(dec(h, 'freight') - dec(wb, 'freight')) > tol)
      add('FREIGHT_MISMATCH', 'V', `list freight ${h.freight} vs waybill ${wb.freight}`);
    if ((h.iFlag ?? '').trim() === '3' && abs(dec(h, 'insuredFee') - dec(wb, 'insuredFee')) > tol)
      add('INSURANCE_MISMATCH', 'V', `list insuredFee ${h.insuredFee} vs waybill ${wb.insuredFee}`);
    if (Number(h.packNo) !== Number(wb.packNo)) add('PACK_MISMATCH', 'V', `list packNo ${h.packNo} vs waybill ${wb.packNo}`);
    const lgw = dec(h, 'grossWeight');
    const wgw = dec(wb, 'grossWeight');
    // max(0.1 kg, 10 % of the waybill's gross weight), compared exactly: ×100 on both sides
    const pctLimit = wgw * pol.weightTolerancePct; // ×10^10 with pct ×10^5 → compare against |Δ| × 100 × 10^5
    const absLimit = pol.weightToleranceKg * 100n * TEN5;
    const limit = pctLimit > absLimit ? pctLimit : absLimit;
    if (abs(lgw - wgw) * 100n * TEN5 > limit) add('WEIGHT_MISMATCH', 'V', `list grossWeight ${h.grossWeight} vs waybill ${wb.grossWeight}`);
  }
  if (dec(h, 'netWeight') > dec(h, 'grossWeight')) add('NET_OVER_GROSS', 'R', `netWeight ${h.netWeight} > grossWeight ${h.grossWeight}`);

  // receipts
  if (pol.receiptRequiredModes.includes(mode) && !w.receipt)
    add('PAYMENT_MISSING', 'P', `policy ${pol.id} requires a receipt for ${mode}; none for ${h.ebcCode}/${h.orderNo}`);
  if (w.receipt && order) {
    const ch = dec(w.receipt, 'charge');
    const gv = dec(order.head, 'goodsValue');
    if (abs(ch - gv) > tol) add('PAYMENT_MISMATCH', 'V', `receipt charge ${w.receipt.charge} vs goodsValue ${order.head.goodsValue}`);
  }

  // value thresholds and controlled goods
  const controlled = list.lines.filter((l) => isControlled(ref, (l.gcode ?? '').trim())).map((l) => `gnum ${l.gnum} ${l.gcode}`);
  const b2bLimit13 = pol.b2bThresholdCny * RATE_ONE;
  const simpleLimit13 = pol.simplifiedThresholdCny * RATE_ONE;
  if (b2b && value13 !== null && value13 > b2bLimit13)
    add('B2B_OVER_THRESHOLD', 'R', `CNY value ${fmtCny13(value13)} > ${fmt5(pol.b2bThresholdCny)}`);
  if (b2b && controlled.length) add('B2B_CONTROLLED_GOODS', 'R', `controlled goods: ${controlled.join('; ')}`);
  if ((h.statisticsFlag ?? '').trim() === 'A' && ((value13 !== null && value13 > simpleLimit13) || controlled.length)) {
    const why = controlled.length ? `controlled goods: ${controlled.join('; ')}` : `CNY value ${fmtCny13(value13 ?? 0n)} > ${fmt5(pol.simplifiedThresholdCny)}`;
    add('SIMPLIFIED_NOT_ELIGIBLE', 'R', why);
  }

  // risk inputs (§6), evaluated on the list alone
  const profileCandidates: { id: string; rate: Rate }[] = [];
  const listDate = dateOfSeconds(appTime);
  for (const p of ref.riskProfiles) {
    if (p.gcodePrefix !== null && !list.lines.some((l) => (l.gcode ?? '').trim().startsWith(p.gcodePrefix as string))) continue;
    if (p.ebcCode !== null && p.ebcCode !== (h.ebcCode ?? '').trim()) continue;
    if (p.ownerCode !== null && p.ownerCode !== (h.ownerCode ?? '').trim()) continue;
    if (p.country !== null && p.country !== (h.country ?? '').trim()) continue;
    if (p.tradeMode !== null && p.tradeMode !== mode) continue;
    if (p.customsCode !== null && p.customsCode !== (h.customsCode ?? '').trim()) continue;
    if (p.minValueCny !== null && (value13 === null || value13 < p.minValueCny * RATE_ONE)) continue;
    if (p.maxValueCny !== null && (value13 === null || value13 > p.maxValueCny * RATE_ONE)) continue;
    if (p.validFrom !== null && listDate < p.validFrom) continue;
    if (p.validTo !== null && listDate > p.validTo) continue;
    profileCandidates.push({ id: p.id, rate: p.rate });
  }
  const bandHits: string[] = [];
  for (const l of list.lines) {
    const band = ref.valueBands.get(`${(l.gcode ?? '').trim().slice(0, 6)}|${(l.country ?? '').trim()}`);
    if (!band) continue;
    const rate = rateFor(ref, l.currency ?? '', month);
    if (rate === null) continue;
    const unit13 = dec(l, 'price') * rate;
    if (unit13 < band.min * RATE_ONE || unit13 > band.max * RATE_ONE)
      bandHits.push(`gnum ${l.gnum} ${l.gcode} unit price ${fmtCny13(unit13)} CNY outside [${fmt5(band.min)}, ${fmt5(band.max)}] for ${l.country}`);
  }
  const randomRate = randomRateFor(pol, mode, ref.aeo.has((h.ebcCode ?? '').trim()));
  return {
    reasons,
    valueCny13: value13,
    policy: pol,
    profileCandidates: profileCandidates.length ? profileCandidates : NO_PROFILES,
    valueBandDetail: bandHits.length ? bandHits.join('; ') : null,
    randomRate,
  };
}

const NO_PROFILES: { id: string; rate: Rate }[] = [];
const ZERO_RATE: Rate = { text: '0', num: 0n, den: 1n };
const aeoRates = new WeakMap<PolicyVersion, Map<string, Rate>>();
/** The random-sample rate of a mode under a policy version, times the AEO factor for AEO enterprises (cached). */
function randomRateFor(pol: PolicyVersion, mode: string, aeo: boolean): Rate {
  const base = pol.randomRates[mode] ?? ZERO_RATE;
  if (!aeo) return base;
  let m = aeoRates.get(pol);
  if (!m) aeoRates.set(pol, (m = new Map()));
  let r = m.get(mode);
  if (!r) m.set(mode, (r = multiplyRates(base, pol.aeoFactor)));
  return r;
}

/** Risk selection (§6) once the list has its invtNo. */
/** What risk selection needs of a list's checks. */
export type RiskInputs = Pick<ListChecks, 'policy' | 'profileCandidates' | 'valueBandDetail' | 'randomRate'>;

export function riskReasons(c: RiskInputs, invtNo: string): Reason[] {
  const out: Reason[] = [];
  const seed = c.policy.randomSeed;
  const hits = c.profileCandidates.filter((p) => drawSelects(seed + p.id, invtNo, p.rate)).map((p) => p.id);
  if (hits.length) out.push({ code: 'RISK_PROFILE', severity: 'I', detail: `profiles ${hits.join(',')}` });
  if (c.valueBandDetail !== null) out.push({ code: 'VALUE_BAND', severity: 'I', detail: c.valueBandDetail });
  if (drawSelects(seed, invtNo, c.randomRate)) out.push({ code: 'RANDOM_SAMPLE', severity: 'I', detail: `rate ${c.randomRate.text}` });
  return out;
}

export function formatValueCny(v: bigint | null): string {
  return v === null ? '' : fmtCny13(v);
}

// ---- returns (§7) ---------------------------------------------------------------------------------

export interface OriginalList {
  invtNo: string;
  decision: Decision;
  tradeMode: string;
  customsCode: string;
  ebpCode: string;
  ebcCode: string;
  ieDate: string; // YYYYMMDD
  lines: Map<number, { gcode: string; gname: string; gmodel: string; unit: string; qty: bigint }>;
  /** Σ qty of accepted returns per gnum so far. */
  returned: Map<number, bigint>;
}

export function addMonthsToDate8(d8: string, months: number): string {
  const days = parseDate8(d8);
  if (days === null) throw new Error(`bad date ${d8}`);
  const d = new Date(days * 86_400_000);
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + months, d.getUTCDate()));
  return t.toISOString().slice(0, 10);
}

export function checkReturn(ret: Doc, orig: OriginalList | undefined, policyAt: (date: string) => PolicyVersion): { reasons: Reason[]; policy: PolicyVersion } {
  const h = ret.head;
  const date = dateOfSeconds(tsOf(h));
  const pol = policyAt(date);
  const reasons: Reason[] = [];
  const add = (code: string, detail: string) => reasons.push({ code, severity: 'R', detail });
  if (!orig) {
    add('RETURN_ORIGINAL_MISSING', `no list ${h.invtNo}`);
    return { reasons, policy: pol };
  }
  if (orig.decision !== 'RELEASE' && orig.decision !== 'INSPECT') add('RETURN_ORIGINAL_NOT_RELEASED', `original ${orig.invtNo} is ${orig.decision}`);
  const limit = addMonthsToDate8(orig.ieDate, pol.returnWindowMonths);
  if (date > limit) add('RETURN_EXPIRED', `return ${date} is after ${limit} (ieDate ${orig.ieDate} + ${pol.returnWindowMonths} months)`);
  if (!pol.returnModes.includes(orig.tradeMode)) add('RETURN_MODE_NOT_ELIGIBLE', `original tradeMode ${orig.tradeMode}`);
  if ((h.ebpCode ?? '').trim() !== orig.ebpCode || (h.ebcCode ?? '').trim() !== orig.ebcCode)
    add('RETURN_PARTY_MISMATCH', `return ${h.ebpCode}/${h.ebcCode} vs original ${orig.ebpCode}/${orig.ebcCode}`);
  const lineDiffs: string[] = [];
  const qtyOver: string[] = [];
  for (const l of ret.lines) {
    const g = Number(l.gnum);
    const o = orig.lines.get(g);
    if (!o) {
      lineDiffs.push(`gnum ${g} not on the original`);
      continue;
    }
    for (const f of ['gcode', 'gname', 'gmodel', 'unit'] as const) {
      if ((l[f] ?? '').trim() !== o[f]) lineDiffs.push(`gnum ${g} ${f} ${l[f]} vs ${o[f]}`);
    }
    const before = orig.returned.get(g) ?? 0n;
    if (before + dec(l, 'qty') > o.qty) qtyOver.push(`gnum ${g} returns ${fmt5(before)} + ${l.qty} > ${fmt5(o.qty)}`);
  }
  if (lineDiffs.length) add('RETURN_LINE_MISMATCH', lineDiffs.join('; '));
  if (qtyOver.length) add('RETURN_QTY_EXCEEDED', qtyOver.join('; '));
  const rd = districtOf((h.customsCode ?? '').trim());
  const od = districtOf(orig.customsCode);
  if (rd !== od) {
    const cd = pol.crossDistrictReturns;
    const ok = cd.modes.includes(orig.tradeMode) && (cd.districts === 'any' || cd.districts.includes(rd));
    if (!ok) add('RETURN_CROSS_DISTRICT_NOT_ALLOWED', `return district ${rd} vs original ${od} under ${pol.id}`);
  }
  return { reasons, policy: pol };
}
