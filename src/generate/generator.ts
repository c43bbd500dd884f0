/**
 * generate/ owns the seeded synthetic-day generator and its ground truth. `generateDays` writes K
 * consecutive business-day folders of CEB records (XML messages or CSV/Parquet tables) and, beside
 * each folder, the decisions a correct run must reach for it (`<date>.truth/`).
 *
 * How the truth is made: every list is a *case* whose records (order, waybill, receipt, list, and
 * any later versions) are written as they are made. The case's checks are computed by
 * `truth.ts` from the text actually written, with the records the list can see on that day; the
 * day's ownership, grace, numbering and risk draws are then settled over all the day's lists in
 * RULES.md order. Keys are unique per case, so what a list can see is exactly its case's records,
 * except where a scenario deliberately shares one (reuse, duplicates, cancels, returns).
 * Memory stays bounded: a case keeps its documents only while it may still be needed (pending, or
 * kept as a target for a later scenario).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { recordSpec, type RecordTypeName } from '../spec/fields.js';
import { parseTimestamp14, validateRecord } from '../spec/validate.js';
import { loadPolicy, policyFor, type Policy, type PolicyVersion } from '../policy/policy.js';
import { loadReference, rateFor, districtOf, type Reference } from '../policy/reference.js';
import { buildWorld, GOODS, type Good, type Party, type World } from './catalog.js';
import { Rng } from './random.js';
import {
  CHANNEL,
  STATUS,
  checkList,
  checkReturn,
  dec,
  formatValueCny,
  riskReasons,
  tsOf,
  type Decision,
  type Doc,
  type RiskInputs,
  type OriginalList,
  type Reason,
  type Rec,
} from './truth.js';
import { csvCell, makeSink, writeLines, type Format, type HeadType, type Location, type Sink } from './writers.js';

export interface GenerateOptions {
  out: string;
  /** First business day, YYYY-MM-DD. */
  date: string;
  days: number;
  /** Lists per day. */
  lists: number;
  seed: string;
  format: Format;
  anomalyRate: number;
  reference?: Reference;
  policy?: Policy;
  /** Called every few thousand lists and at the end of each day. */
  onProgress?: (p: { day: string; dayIndex: number; listsDone: number; listsTotal: number }) => void;
}

export interface DaySummary {
  date: string;
  folder: string;
  truth: string;
  files: number;
  bytes: number;
  records: Record<string, number>;
  decisions: Record<string, number>;
  returns: Record<string, number>;
  quarantined: number;
}

// ---- small helpers --------------------------------------------------------------------------------

const DAY = 86_400;
const pad = (n: number, w: number) => String(n).padStart(w, '0');
function fmtTs(sec: number): string {
  const d = new Date(sec * 1000);
  return (
    `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1, 2)}${pad(d.getUTCDate(), 2)}` +
    `${pad(d.getUTCHours(), 2)}${pad(d.getUTCMinutes(), 2)}${pad(d.getUTCSeconds(), 2)}`
  );
}
const fmtDate8 = (sec: number) => fmtTs(sec).slice(0, 8);
const isoDate = (sec: number) => new Date(sec * 1000).toISOString().slice(0, 10);
/** Integer hundredths → "12.34". */
function money(cents: number): string {
  const neg = cents < 0;
  const a = Math.abs(cents);
  return `${neg ? '-' : ''}${Math.floor(a / 100)}.${pad(a % 100, 2)}`;
}
/** Integer grams → kg with 3 decimals. */
const kg = (g: number) => `${Math.floor(g / 1000)}.${pad(g % 1000, 3)}`;
function dayStart(date: string): number {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return Date.UTC(y, m - 1, d) / 1000;
}
function dayOfYear(sec: number): number {
  const d = new Date(sec * 1000);
  return Math.floor((sec - Date.UTC(d.getUTCFullYear(), 0, 1) / 1000) / DAY) + 1;
}

// ---- versions and latest wins -----------------------------------------------------------------

interface Version<T> {
  rec: T;
  /** Day index on which it is written (and becomes visible). */
  day: number;
  /** Global write order, the tie-break of latest wins. */
  seq: number;
  invalid: boolean;
}

function headOf(v: Doc | Rec): Rec {
  return 'head' in v && 'lines' in v ? (v as Doc).head : (v as Rec);
}

/** RULES.md §2: greatest appTime wins (tie: later in input order); drafts and invalid records take no part; appType 3 deletes. */
function winner<T extends Doc | Rec>(versions: readonly Version<T>[] | undefined, day: number): T | undefined {
  if (!versions) return undefined;
  let best: Version<T> | undefined;
  let bestT = -Infinity;
  for (const v of versions) {
    if (v.day > day || v.invalid) continue;
    const h = headOf(v.rec);
    if (h.appStatus === '1') continue;
    const t = tsOf(h);
    if (t > bestT || (t === bestT && best !== undefined && v.seq > best.seq)) {
      best = v;
      bestT = t;
    }
  }
  if (!best || headOf(best.rec).appType === '3') return undefined;
  return best.rec;
}

// ---- cases ----------------------------------------------------------------------------------------

interface Case {
  listKey: string;
  /** Numeric identities (cheaper to hold for a million lists than the key strings). */
  listId: number;
  orderId: number;
  waybillId: number;
  lists: Version<Doc>[];
  orderKey: string;
  orders: Version<Doc>[];
  /** Orders with the list's (ebpCode, orderNo) and another ebcCode. */
  decoys: Version<Doc>[];
  waybillKey: string;
  waybills: Version<Rec>[];
  receipts: Version<Rec>[];
}

/** What is kept of a list until the end of its day (compact; documents only when needed later). */
class Pending {
  constructor(
    /** The case, kept only while it may be needed after today (pending, or a target for later scenarios). */
    readonly c: Case | null,
    /** The list version that was checked (kept only with the case). */
    readonly list: Doc | null,
    readonly policyId: string,
    readonly key: string,
    readonly agentCode: string,
    readonly copNo: string,
    readonly customsCode: string,
    readonly appTime: number,
    readonly prefilledInvtNo: string,
    readonly invalid: boolean,
    /** Risk inputs (shared between lists with nothing particular) and the policy; null for invalid lists. */
    readonly risk: RiskInputs | null,
    /** CNY value as written to the truth ('' when unknown). */
    readonly value: string,
    /** Reason codes and severities (details are dropped to keep a large day small). */
    readonly reasons: Reason[],
    readonly listId: number,
    readonly orderId: number | null,
    readonly waybillId: number | null,
    readonly keepDocs: boolean,
  ) {}
}

const NO_REASONS: Reason[] = [];
/** A flat copy of a string built by concatenation (a rope costs several small objects per list). */
const flat = (s: string): string => (s.length > 12 ? Buffer.from(s, 'utf8').toString('utf8') : s);
const INVALID_REASONS: Reason[] = [{ code: 'INVALID_RECORD', severity: 'R', detail: '' }];

interface ListState {
  invtNo: string;
  /** decided RELEASE, INSPECT or REVIEW on some day and not cancelled since */
  positive: boolean;
  decision: Decision;
  day: number;
}

/** A decided list kept for later scenarios (cancel, duplicate, reuse, returns). */
interface Target {
  c: Case;
  list: Doc;
  invtNo: string;
  decision: Decision;
  day: number;
  original: OriginalList;
}

type Kind =
  | 'CLEAN'
  | 'INVALID_LIST'
  | 'ORDER_NEVER'
  | 'ORDER_INVALID'
  | 'ORDER_DELETED'
  | 'ORDER_PARTY_MISMATCH'
  | 'ORDER_TYPE_MISMATCH'
  | 'LINE_COUNT_MISMATCH'
  | 'LINE_MISMATCH'
  | 'VALUE_MISMATCH'
  | 'WAYBILL_NEVER'
  | 'WAYBILL_TOO_OLD'
  | 'WAYBILL_PARTY_MISMATCH'
  | 'FREIGHT_MISMATCH'
  | 'INSURANCE_MISMATCH'
  | 'PACK_MISMATCH'
  | 'WEIGHT_MISMATCH'
  | 'NET_OVER_GROSS'
  | 'PAYMENT_MISSING'
  | 'PAYMENT_MISMATCH'
  | 'UNKNOWN_CURRENCY'
  | 'B2B_OVER_THRESHOLD'
  | 'B2B_CONTROLLED_GOODS'
  | 'SIMPLIFIED_NOT_ELIGIBLE'
  | 'ORDER_REUSED'
  | 'WAYBILL_REUSED'
  | 'VALUE_BAND'
  | 'DRAFT_ONLY'
  | 'HISTORIC';

/** Relative weights of the injected list anomalies (their share of `anomalyRate`). */
const ANOMALY_WEIGHTS: readonly (readonly [Kind, number])[] = [
  ['INVALID_LIST', 4],
  ['ORDER_NEVER', 3],
  ['ORDER_INVALID', 1],
  ['ORDER_DELETED', 1],
  ['ORDER_PARTY_MISMATCH', 2],
  ['ORDER_TYPE_MISMATCH', 2],
  ['LINE_COUNT_MISMATCH', 2],
  ['LINE_MISMATCH', 3],
  ['VALUE_MISMATCH', 2],
  ['WAYBILL_NEVER', 2],
  ['WAYBILL_TOO_OLD', 1],
  ['WAYBILL_PARTY_MISMATCH', 2],
  ['FREIGHT_MISMATCH', 2],
  ['INSURANCE_MISMATCH', 1],
  ['PACK_MISMATCH', 1],
  ['WEIGHT_MISMATCH', 2],
  ['NET_OVER_GROSS', 2],
  ['PAYMENT_MISSING', 2],
  ['PAYMENT_MISMATCH', 2],
  ['UNKNOWN_CURRENCY', 1],
  ['B2B_OVER_THRESHOLD', 2],
  ['B2B_CONTROLLED_GOODS', 1],
  ['SIMPLIFIED_NOT_ELIGIBLE', 2],
  ['ORDER_REUSED', 2],
  ['WAYBILL_REUSED', 2],
  ['VALUE_BAND', 1],
  ['DRAFT_ONLY', 0.5],
  ['HISTORIC', 1],
];

/** Shares of a day's lists that arrive with a counterpart a day late / a day early (not anomalies). */
const LATE_ORDER = 0.01;
const LATE_WAYBILL = 0.005;
const EARLY_COUNTERPARTS = 0.01;

const RETURN_KINDS = [
  'RETURN_ORIGINAL_MISSING',
  'RETURN_ORIGINAL_NOT_RELEASED',
  'RETURN_EXPIRED',
  'RETURN_MODE_NOT_ELIGIBLE',
  'RETURN_PARTY_MISMATCH',
  'RETURN_LINE_MISMATCH',
  'RETURN_QTY_EXCEEDED',
  'RETURN_CROSS_DISTRICT_NOT_ALLOWED',
] as const;
type ReturnKind = (typeof RETURN_KINDS)[number] | 'CLEAN';

const FOREIGN = ['502', '300', '303', '110', '116', '601'] as const;
const ISO: Record<string, string> = { '502': 'USD', '300': 'EUR', '303': 'GBP', '110': 'HKD', '116': 'JPY', '601': 'AUD' };
const UNKNOWN_CURRENCY_CODE = '133';

// ---- the generator ------------------------------------------------------------------------------

class Generator {
  private readonly rng: Rng;
  private readonly styleRng: Rng;
  private readonly world: World;
  private readonly ref: Reference;
  private readonly policy: Policy;
  private seqNo = 0;
  private serial = 0;
  private readonly listStates = new Map<string, ListState>();
  /** Pending lists carried to the next day. */
  private carried: Case[] = [];
  /** Cases whose list is written on a later day (early counterparts). */
  private readonly earlyCases = new Map<number, Case[]>();
  /** Records to write on a later day (late counterparts). */
  private readonly scheduled = new Map<number, { type: HeadType; doc: Doc; sender: Party }[]>();
  private positiveTargets: Target[] = [];
  private rejectedTargets: Target[] = [];
  /** Orders and waybills held by decided lists that later scenarios may still refer to. */
  private readonly heldOrders = new Map<number, number>();
  private readonly heldWaybills = new Map<number, number>();
  private readonly policyCache = new Map<string, PolicyVersion>();
  private sink!: Sink;
  private quarantine: string[] = [];
  private counts: Record<string, number> = {};

  constructor(private readonly o: GenerateOptions) {
    this.rng = new Rng(`${o.seed}|content`);
    this.styleRng = new Rng(`${o.seed}|envelope`);
    this.ref = o.reference ?? loadReference();
    this.policy = o.policy ?? loadPolicy();
    this.world = buildWorld(this.ref);
  }

  private policyAt = (date: string): PolicyVersion => {
    let p = this.policyCache.get(date);
    if (!p) {
      p = policyFor(this.policy, date);
      this.policyCache.set(date, p);
    }
    return p;
  };

  private nextSerial(): number {
    return ++this.serial;
  }

  // ---- writing ----

  private emit<T extends Doc | Rec>(type: HeadType, versions: Version<T>[], rec: T, day: number, today: number, sender: Party): void {
    const doc: Doc = 'head' in rec && 'lines' in rec ? (rec as Doc) : { head: rec as Rec, lines: [] };
    const errors = this.validate(type, doc);
    versions.push({ rec, day, seq: 0, invalid: errors !== null });
    const v = versions[versions.length - 1] as Version<T>;
    if (day === today) {
      v.seq = ++this.seqNo;
      this.write(type, doc, sender, errors);
    } else {
      const q = this.scheduled.get(day) ?? [];
      q.push({ type, doc, sender });
      this.scheduled.set(day, q);
      // seq is given when written; later writes are later in input order
      v.seq = Number.MAX_SAFE_INTEGER - 1;
    }
  }

  private validate(type: HeadType, doc: Doc): string[] | null {
    const spec = recordSpec(type);
    const res = validateRecord(spec, doc.head);
    const errs = res.ok ? [] : res.errors.map((e) => `${e.field}\t${e.code}\t${e.detail}`);
    if (spec.lines) {
      const ls = recordSpec(spec.lines);
      for (const l of doc.lines) {
        const r = validateRecord(ls, l);
        if (!r.ok) errs.push(...r.errors.map((e) => `${e.field}\t${e.code}\tgnum ${l.gnum}: ${e.detail}`));
      }
    }
    return errs.length ? errs : null;
  }

  private write(type: HeadType, doc: Doc, sender: Party, errors?: string[] | null): Location {
    const loc = this.sink.emit(type, doc, sender);
    this.counts[type] = (this.counts[type] ?? 0) + 1;
    const errs = errors === undefined ? this.validate(type, doc) : errors;
    if (errs) {
      const spec = recordSpec(type);
      const key = spec.key.map((k) => doc.head[k] ?? '').join('|');
      for (const e of errs) {
        const [field, code, detail] = e.split('\t') as [string, string, string];
        this.quarantine.push([loc.file, loc.messageGuid, loc.recordIndex, type, key, field, code, detail].map((x) => csvCell(String(x))).join(','));
      }
    }
    return loc;
  }

  // ---- building one clean case ----

  private pickCurrency(month: string): string {
    if (this.rng.chance(0.7)) return '142';
    const options = FOREIGN.filter((c) => rateFor(this.ref, c, month) !== null);
    return options.length ? this.rng.pick(options) : '142';
  }

  /** Price in the line currency (hundredths) for a CNY price (hundredths). */
  private toCurrency(cnyCents: number, currency: string, month: string): number {
    const rate = rateFor(this.ref, currency, month);
    if (rate === null || currency === '142') return cnyCents;
    return Math.max(1, Math.round((cnyCents * 1e8) / Number(rate)));
  }

  private buildCase(listTime: number, opts: { mode?: string; goods?: Good[]; cnyScale?: number; currency?: string; statisticsFlag?: string } = {}): { c: Case; list: Doc; order: Doc; waybill: Rec; receipt: Rec | null; agent: Party; carrier: Party; platform: Party; ebc: Party } {
    const r = this.rng;
    const w = this.world;
    const serial = this.nextSerial();
    const date8 = fmtDate8(listTime);
    const month = isoDate(listTime).slice(0, 7);
    const mode = opts.mode ?? r.weighted<string>([['9610', 85], ['9710', 7], ['9810', 5], ['1210', 3]]);
    const b2b = mode === '9710' || mode === '9810';
    const ebc = r.pick(w.ebcs);
    const platform = mode === '9810' ? r.pick(w.warehouses) : r.pick(w.platforms);
    const agent = r.pick(w.agents);
    const carrier = r.pick(w.carriers);
    const owner = r.chance(0.6) ? r.pick(w.owners) : { code: ebc.code, name: ebc.name };
    const office = r.weighted(w.offices.map((x) => [x, x.weight] as const));
    const country = r.weighted(w.countries.map((x) => [x.code, x.weight] as const));
    const currency = opts.currency ?? this.pickCurrency(month);
    const nLines = opts.goods?.length ?? r.weighted<number>([[1, 50], [2, 25], [3, 12], [4, 8], [5, 5]]);
    const policy = this.policyAt(isoDate(listTime));
    const thresholdCents = Number(policy.b2bThresholdCny / 1000n); // ×10^5 → hundredths

    const lines: Rec[] = [];
    const orderLines: Rec[] = [];
    let totalCents = 0;
    let netGrams = 0;
    let cnyCents = 0;
    for (let g = 1; g <= nLines; g++) {
      const good = opts.goods?.[g - 1] ?? r.pick(GOODS);
      let qty = b2b ? r.int(5, 40) : r.int(1, 4);
      const cnyPrice = Math.round(r.int(good.price[0] * 100, good.price[1] * 100) * (opts.cnyScale ?? 1));
      const price = this.toCurrency(cnyPrice, currency, month);
      // B2B lists stay below the threshold unless a case wants otherwise
      if (b2b && opts.cnyScale === undefined) {
        const room = Math.floor((thresholdCents * 0.8) / nLines / Math.max(1, cnyPrice));
        qty = Math.max(1, Math.min(qty, room));
      }
      const total = price * qty;
      totalCents += total;
      cnyCents += cnyPrice * qty;
      netGrams += Math.round(good.kg * 1000) * qty;
      const gnum = String(g);
      const listCur = currency !== '142' && r.chance(0.05) ? (ISO[currency] ?? currency) : currency;
      lines.push({
        gnum,
        itemNo: good.itemNo,
        itemName: good.itemName,
        gcode: good.gcode,
        gname: good.gname,
        gmodel: good.gmodel,
        barCode: good.barCode,
        country,
        currency: listCur,
        qty: String(qty),
        qty1: good.unit1 === '035' ? kg(Math.round(good.kg * 1000) * qty) : String(qty),
        unit: good.unit,
        unit1: good.unit1,
        price: money(price),
        totalPrice: money(total),
      });
      orderLines.push({
        gnum,
        itemNo: good.itemNo,
        itemName: good.itemName,
        itemDescribe: `${good.itemName} ${good.gmodel}`,
        barCode: good.barCode,
        unit: good.unit,
        currency,
        qty: String(qty),
        price: money(price),
        totalPrice: money(total),
      });
    }
    const grossGrams = Math.round(netGrams * 1.12) + 60;
    const freightCents = r.int(800, 6000);
    const insured = r.chance(0.1) ? r.int(100, 900) : 0;
    const packNo = b2b ? r.int(1, 5) : 1;
    const orderNo = `${mode === '9810' ? 'BK' : 'OD'}${date8}${pad(serial, 9)}`;
    const logisticsNo = `${carrier.code.slice(-3)}${date8}${pad(serial, 9)}`;
    const copNo = `CP${date8}${pad(serial, 9)}`;
    const orderTime = listTime - r.int(20, 240) * 60;
    const waybillTime = listTime - r.int(5, 180) * 60;
    // enterprises choose simplified declaration (A) only for lists that look eligible
    const simpleLimit = Number(policy.simplifiedThresholdCny / 1000n) * 0.9;
    const statisticsFlag = opts.statisticsFlag ?? (cnyCents < simpleLimit && r.chance(b2b ? 0.3 : 0.4) ? 'A' : 'B');
    const site = r.chance(0.6) ? r.pick(office.sites) : '';
    const billNo = r.chance(0.5) ? `MB${date8}${pad(r.int(1, 40), 3)}` : '';
    const head: Rec = {
      guid: r.guid(),
      appType: '1',
      appTime: fmtTs(listTime),
      appStatus: '2',
      customsCode: office.code,
      ebpCode: platform.code,
      ebpName: platform.name,
      orderNo,
      logisticsCode: carrier.code,
      logisticsName: carrier.name,
      logisticsNo,
      copNo,
      invtNo: r.chance(0.1) ? `${office.code}${date8.slice(0, 4)}E9${pad(serial, 10)}` : '',
      ieFlag: 'E',
      portCode: office.code,
      ieDate: date8,
      statisticsFlag,
      agentCode: agent.code,
      agentName: agent.name,
      ebcCode: ebc.code,
      ebcName: ebc.name,
      ownerCode: owner.code,
      ownerName: owner.name,
      tradeMode: mode,
      trafMode: r.pick(['5', '5', '5', '2', '4']),
      billNo,
      totalPackageNo: billNo && r.chance(0.5) ? `BAG${pad(r.int(1, 200), 4)}` : '',
      loctNo: site,
      country,
      POD: country,
      freight: money(freightCents),
      fCurrency: '142',
      fFlag: '3',
      insuredFee: money(insured),
      iCurrency: '142',
      iFlag: '3',
      wrapType: '2',
      packNo: String(packNo),
      grossWeight: kg(grossGrams),
      netWeight: kg(netGrams),
    };
    if (mode === '1210') {
      head.iacCode = owner.code === 'NO' ? ebc.code : owner.code;
      head.iacName = owner.code === 'NO' ? ebc.name : owner.name;
      head.emsNo = `T${office.code}W${pad(serial % 100000, 6)}`;
    }
    const orderHead: Rec = {
      guid: r.guid(),
      appType: '1',
      appTime: fmtTs(orderTime),
      appStatus: '2',
      orderType: mode === '9710' ? 'B' : mode === '9810' ? 'W' : 'E',
      orderNo,
      ebpCode: platform.code,
      ebpName: platform.name,
      ebcCode: ebc.code,
      ebcName: ebc.name,
      goodsValue: money(totalCents),
      freight: currency === '142' ? money(freightCents) : '0',
      currency,
    };
    const waybill: Rec = {
      guid: r.guid(),
      appType: '1',
      appTime: fmtTs(waybillTime),
      appStatus: '2',
      logisticsCode: carrier.code,
      logisticsName: carrier.name,
      logisticsNo,
      freight: money(freightCents),
      insuredFee: money(insured),
      currency: '142',
      grossWeight: kg(grossGrams),
      packNo: String(packNo),
      goodsInfo: lines.map((l) => `${l.itemName}${l.qty}件`).join(';').slice(0, 200),
    };
    if (r.chance(0.8)) {
      waybill.ebcCode = ebc.code;
      waybill.ebcName = ebc.name;
      waybill.ebcTelephone = `0755-8${pad(r.int(0, 9999999), 7)}`;
    }
    let receipt: Rec | null = null;
    if (policy.receiptRequiredModes.includes(mode) || r.chance(0.3)) {
      const payer = r.pick(w.payers);
      const rt = orderTime + r.int(1, 60) * 60;
      receipt = {
        guid: r.guid(),
        appType: '1',
        appTime: fmtTs(rt),
        appStatus: '2',
        ebpCode: platform.code,
        ebpName: platform.name,
        ebcCode: ebc.code,
        ebcName: ebc.name,
        orderNo,
        payCode: payer.code,
        payName: payer.name,
        payNo: `PAY${date8}${pad(serial, 9)}`,
        charge: money(totalCents),
        currency,
        accountingDate: fmtTs(rt - r.int(1, 30) * 60),
      };
    }
    const c: Case = {
      listKey: `${agent.code}|${copNo}`,
      listId: this.nextSerial(),
      orderId: this.nextSerial(),
      waybillId: this.nextSerial(),
      lists: [],
      orderKey: `${platform.code}|${ebc.code}|${orderNo}`,
      orders: [],
      decoys: [],
      waybillKey: `${carrier.code}|${logisticsNo}`,
      waybills: [],
      receipts: [],
    };
    return { c, list: { head, lines }, order: { head: orderHead, lines: orderLines }, waybill, receipt, agent, carrier, platform, ebc };
  }

  // ---- one day ----

  async runDay(d: number, date: string): Promise<DaySummary> {
    const o = this.o;
    const folder = join(o.out, date);
    const truthDir = join(o.out, `${date}.truth`);
    mkdirSync(truthDir, { recursive: true });
    this.sink = makeSink(o.format, folder, this.styleRng);
    this.quarantine = [];
    this.counts = {};
    const start = dayStart(date);
    const last = d === o.days - 1;
    const r = this.rng;

    // 1. counterparts scheduled by earlier days
    for (const s of this.scheduled.get(d) ?? []) this.write(s.type, s.doc, s.sender);
    for (const c of [...this.carried, ...(this.earlyCases.get(d) ?? [])]) {
      for (const arr of [c.lists, c.orders, c.waybills, c.receipts, c.decoys] as Version<Doc | Rec>[][])
        for (const v of arr) if (v.day === d && v.seq === Number.MAX_SAFE_INTEGER - 1) v.seq = ++this.seqNo;
    }
    this.scheduled.delete(d);

    // 2. cancels of lists decided on earlier days (RULES.md §5: applied before the day's lists)
    const cancelledToday: { t: Target }[] = [];
    const quota = (share: number) => (o.anomalyRate > 0 ? Math.max(1, Math.round(o.lists * o.anomalyRate * share)) : 0);
    const deciding: Case[] = [...this.carried, ...(this.earlyCases.get(d) ?? [])];
    this.earlyCases.delete(d);
    const extraLists: Case[] = [];
    if (d > 0) {
      const cancels = this.takeTargets(this.positiveTargets, quota(0.006) + Math.round(o.lists * 0.002));
      for (const t of cancels) {
        const cancelTime = start + r.int(1800, 7200);
        const head = this.cancelHead(t, cancelTime, {});
        this.write('cancel', { head, lines: [] }, { code: head.agentCode ?? '', name: head.agentName ?? '' });
        cancelledToday.push({ t });
        // half the cancelled lists are declared again under a new copNo with the same order and waybill
        if (r.chance(0.5)) extraLists.push(this.redeclare(t, d, start));
      }
      for (const t of this.takeTargets(this.positiveTargets, quota(0.003))) {
        const head = this.cancelHead(t, start + r.int(1800, 7200), { agentCode: r.pick(this.world.agents.filter((a) => a.code !== t.list.head.agentCode)).code });
        const loc = this.write('cancel', { head, lines: [] }, { code: head.agentCode ?? '', name: head.agentName ?? '' });
        this.quarantineRow(loc, 'cancel', `${head.agentCode}|${head.copNo}`, 'invtNo', 'CANCEL_PARTY_MISMATCH', `list ${t.invtNo} belongs to ${t.list.head.agentCode}/${t.list.head.ebcCode}`);
        this.positiveTargets.push(t);
      }
      for (let i = 0; i < quota(0.003); i++) {
        const agent = r.pick(this.world.agents);
        const ebc = r.pick(this.world.ebcs);
        const head: Rec = {
          guid: r.guid(), appType: '1', appTime: fmtTs(start + r.int(1800, 7200)), appStatus: '2', customsCode: '5141',
          copNo: `CX${fmtDate8(start)}${pad(this.nextSerial(), 9)}`, invtNo: `5141${date.slice(0, 4)}E8${pad(r.int(0, 999999999), 10)}`,
          reason: '订单取消', agentCode: agent.code, agentName: agent.name, ebcCode: ebc.code, ebcName: ebc.name,
        };
        const loc = this.write('cancel', { head, lines: [] }, agent);
        this.quarantineRow(loc, 'cancel', `${head.agentCode}|${head.copNo}`, 'invtNo', 'CANCEL_TARGET_MISSING', `no list ${head.invtNo}`);
      }
      // a list key that was released is declared again: DUPLICATE_LIST
      for (const t of this.takeTargets(this.positiveTargets, quota(0.004))) extraLists.push(this.duplicate(t, d, start));
      // the order / waybill of a released list is declared on a new list: ORDER_REUSED / WAYBILL_REUSED across days
      for (const t of this.takeTargets(this.positiveTargets, quota(0.003))) extraLists.push(this.reuseAcrossDays(t, d, start, 'order'));
      for (const t of this.takeTargets(this.positiveTargets, quota(0.003))) extraLists.push(this.reuseAcrossDays(t, d, start, 'waybill'));
      // a rejected list declared again, corrected, under the same key
      for (const t of this.takeTargets(this.rejectedTargets, quota(0.003))) extraLists.push(this.redeclareAfterReject(t, d, start));
    }
    const cancelRows: string[] = [];
    for (const { t } of cancelledToday) {
      const st = this.listStates.get(t.c.listKey);
      if (st) {
        st.positive = false;
        st.decision = 'CANCELLED';
      }
      t.decision = 'CANCELLED';
      t.original.decision = 'CANCELLED';
      this.heldOrders.delete(t.c.orderId);
      this.heldWaybills.delete(t.c.waybillId);
      cancelRows.push(this.decisionRow(date, t.list.head, t.invtNo, 'CANCELLED', ['CANCELLED'], '', ''));
    }
    deciding.push(...extraLists);

    // 3. today's fresh lists
    const fresh = Math.max(0, o.lists - deciding.length + this.carried.length);
    const kinds = this.schedule(fresh);
    const pendings: Pending[] = [];
    let listsDone = 0;
    const evaluate = (c: Case, keepDocs: boolean) => {
      const p = this.evaluateCase(c, d, keepDocs);
      if (p) pendings.push(p);
      listsDone++;
    };
    // enough targets for the day's scenarios without holding a large day in memory
    const keep9610 = Math.min(0.02, 4000 / Math.max(1, o.lists));
    const keepOther = Math.min(0.2, 3000 / Math.max(1, o.lists));
    let done = 0;
    for (const c of deciding) evaluate(c, true);
    for (const kind of kinds) {
      const listTime = start + r.int(1800, DAY - 120);
      const made = this.makeCase(kind, d, listTime, start, last);
      // a sample of lists (more of the rarer trade modes) is kept as targets for later scenarios
      const keep = made.keep || r.chance(made.mode === '9610' ? keep9610 : keepOther);
      for (const c of made.now) evaluate(c, keep);
      done++;
      if (done % 5000 === 0) o.onProgress?.({ day: date, dayIndex: d, listsDone, listsTotal: Math.max(listsDone, o.lists) });
    }

    // 4. settle the day: ownership, grace, decision, numbering, risk
    const rows: string[] = [...cancelRows];
    const decisionsCount: Record<string, number> = {};
    for (const _ of cancelRows) decisionsCount.CANCELLED = (decisionsCount.CANCELLED ?? 0) + 1;
    const decided = this.settle(pendings, d, date, start, rows, decisionsCount);

    // 5. returns, against the lists as they stand after this run's decisions
    const returnRows: string[] = [];
    const returnCounts: Record<string, number> = {};
    this.makeReturns(date, start, returnRows, returnCounts);

    // 6. keep targets for later days
    this.carried = decided.pending;
    const sinkResult = await this.sink.close();

    rows.sort();
    writeLines(join(truthDir, 'decisions.csv'), 'business_date,agent_code,cop_no,invt_no,decision,status_code,channel,reasons,value_cny,policy_id\n', rows);
    returnRows.sort();
    writeLines(join(truthDir, 'return_decisions.csv'), 'business_date,agent_code,co_el_no,invt_no,decision,status_code,reasons,policy_id\n', returnRows);
    this.quarantine.sort();
    writeLines(join(truthDir, 'quarantine.csv'), 'file,message_guid,record_index,record_type,business_key,field,code,detail\n', this.quarantine, '\n');
    o.onProgress?.({ day: date, dayIndex: d, listsDone, listsTotal: listsDone });
    return {
      date,
      folder,
      truth: truthDir,
      files: sinkResult.files.length,
      bytes: sinkResult.bytes,
      records: { ...this.counts },
      decisions: decisionsCount,
      returns: returnCounts,
      quarantined: this.quarantine.length,
    };
  }

  private quarantineRow(loc: Location, type: RecordTypeName, key: string, field: string, code: string, detail: string): void {
    this.quarantine.push([loc.file, loc.messageGuid, loc.recordIndex, type, key, field, code, detail].map((x) => csvCell(String(x))).join(','));
  }

  /** The kinds of today's fresh cases: exact anomaly quotas, the rest clean, in seeded order. */
  private schedule(n: number): Kind[] {
    const kinds: Kind[] = [];
    if (this.o.anomalyRate > 0 && n > 0) {
      const total = ANOMALY_WEIGHTS.reduce((s, [, w]) => s + w, 0);
      for (const [k, w] of ANOMALY_WEIGHTS) {
        const q = Math.max(n >= 200 ? 1 : 0, Math.round((n * this.o.anomalyRate * w) / total));
        for (let i = 0; i < q && kinds.length < n; i++) kinds.push(k);
      }
    }
    // a reuse case declares two lists
    const pairs = kinds.filter((k) => k === 'ORDER_REUSED' || k === 'WAYBILL_REUSED').length;
    while (kinds.length < n - pairs) kinds.push('CLEAN');
    for (let i = kinds.length - 1; i > 0; i--) {
      const j = Math.floor(this.rng.next() * (i + 1));
      const t = kinds[i] as Kind;
      kinds[i] = kinds[j] as Kind;
      kinds[j] = t;
    }
    return kinds;
  }

  private takeTargets(pool: Target[], n: number): Target[] {
    const out: Target[] = [];
    while (out.length < n && pool.length) {
      const i = Math.floor(this.rng.next() * pool.length);
      const t = pool[i] as Target;
      pool[i] = pool[pool.length - 1] as Target;
      pool.pop();
      out.push(t);
    }
    return out;
  }

  private cancelHead(t: Target, time: number, over: Partial<Rec>): Rec {
    const h = t.list.head;
    const agent = over.agentCode ? (this.world.agents.find((a) => a.code === over.agentCode) ?? { code: over.agentCode, name: h.agentName ?? '' }) : { code: h.agentCode ?? '', name: h.agentName ?? '' };
    return {
      guid: this.rng.guid(),
      appType: '1',
      appTime: fmtTs(time),
      appStatus: '2',
      customsCode: h.customsCode ?? '',
      copNo: `CX${fmtDate8(time)}${pad(this.nextSerial(), 9)}`,
      invtNo: t.invtNo,
      reason: this.rng.pick(['订单取消', '买家退单', '申报信息有误，撤销重报']),
      agentCode: agent.code,
      agentName: agent.name,
      ebcCode: h.ebcCode ?? '',
      ebcName: h.ebcName ?? '',
    };
  }

  private newListVersion(base: Doc, time: number, over: Partial<Rec>): Doc {
    return { head: { ...base.head, guid: this.rng.guid(), appTime: fmtTs(time), appType: '1', ...over } as Rec, lines: base.lines.map((l) => ({ ...l })) };
  }

  private redeclare(t: Target, d: number, start: number): Case {
    const time = start + this.rng.int(7300, DAY - 200);
    const copNo = `CP${fmtDate8(time)}${pad(this.nextSerial(), 9)}`;
    const doc = this.newListVersion(t.list, time, { copNo, invtNo: '' });
    const c: Case = { ...t.c, listKey: `${doc.head.agentCode}|${copNo}`, listId: this.nextSerial(), lists: [] };
    this.emit('list', c.lists, doc, d, d, { code: doc.head.agentCode ?? '', name: doc.head.agentName ?? '' });
    return c;
  }

  private duplicate(t: Target, d: number, start: number): Case {
    const time = start + this.rng.int(1800, DAY - 200);
    const doc = this.newListVersion(t.list, time, {});
    this.emit('list', t.c.lists, doc, d, d, { code: doc.head.agentCode ?? '', name: doc.head.agentName ?? '' });
    return t.c;
  }

  private reuseAcrossDays(t: Target, d: number, start: number, what: 'order' | 'waybill'): Case {
    return this.shareCounterpart(t.c, t.list, start + this.rng.int(1800, DAY - 200), d, what);
  }

  /**
   * A new list (a fresh case) that declares the order — or the waybill — of an existing list, with
   * everything else consistent, so that the only thing wrong with it is the reuse.
   */
  private shareCounterpart(base: Case, baseList: Doc, time: number, d: number, what: 'order' | 'waybill'): Case {
    const g = this.buildCase(time, { mode: baseList.head.tradeMode ?? '9610' });
    const c = g.c;
    const b = baseList.head;
    let head: Rec;
    let lines: Rec[];
    if (what === 'order') {
      c.orderKey = base.orderKey;
      c.orderId = base.orderId;
      c.orders = base.orders;
      c.decoys = base.decoys;
      c.receipts = base.receipts;
      head = { ...g.list.head, ebpCode: b.ebpCode ?? '', ebpName: b.ebpName ?? '', ebcCode: b.ebcCode ?? '', ebcName: b.ebcName ?? '', orderNo: b.orderNo ?? '', tradeMode: b.tradeMode ?? '', statisticsFlag: b.statisticsFlag ?? 'B', country: b.country ?? '', POD: b.POD ?? '' };
      lines = baseList.lines.map((l) => ({ ...l }));
      this.emit('waybill', c.waybills, { ...g.waybill, ebcCode: head.ebcCode ?? '', ebcName: head.ebcName ?? '', grossWeight: head.grossWeight ?? '', packNo: head.packNo ?? '' }, d, d, g.carrier);
    } else {
      c.waybillKey = base.waybillKey;
      c.waybillId = base.waybillId;
      c.waybills = base.waybills;
      head = { ...g.list.head, logisticsCode: b.logisticsCode ?? '', logisticsName: b.logisticsName ?? '', logisticsNo: b.logisticsNo ?? '', ebcCode: b.ebcCode ?? '', ebcName: b.ebcName ?? '', freight: b.freight ?? '', insuredFee: b.insuredFee ?? '', packNo: b.packNo ?? '', grossWeight: b.grossWeight ?? '', netWeight: b.netWeight ?? '' };
      lines = g.list.lines;
      const oh: Rec = { ...g.order.head, ebcCode: head.ebcCode ?? '', ebcName: head.ebcName ?? '' };
      c.orderKey = `${oh.ebpCode}|${oh.ebcCode}|${oh.orderNo}`;
      this.emit('order', c.orders, { head: oh, lines: g.order.lines }, d, d, g.platform);
      if (g.receipt) this.emit('receipt', c.receipts, { ...g.receipt, ebcCode: head.ebcCode ?? '' }, d, d, g.platform);
    }
    c.listKey = `${head.agentCode}|${head.copNo}`;
    this.emit('list', c.lists, { head, lines }, d, d, g.agent);
    return c;
  }

  private redeclareAfterReject(t: Target, d: number, start: number): Case {
    const time = start + this.rng.int(1800, DAY - 200);
    const fixed = this.newListVersion(t.list, time, { ieFlag: 'E', tradeMode: t.c.orders[0]?.rec.head.orderType === 'B' ? '9710' : t.c.orders[0]?.rec.head.orderType === 'W' ? '9810' : (['9610', '1210'].includes(t.list.head.tradeMode ?? '') ? (t.list.head.tradeMode as string) : '9610'), statisticsFlag: 'B', ieDate: fmtDate8(time) });
    this.emit('list', t.c.lists, fixed, d, d, { code: fixed.head.agentCode ?? '', name: fixed.head.agentName ?? '' });
    return t.c;
  }

  /** Makes one fresh case of a kind; returns the cases whose list is decided today. */
  private makeCase(kind: Kind, d: number, listTime: number, start: number, last: boolean): { now: Case[]; keep: boolean; mode: string } {
    const r = this.rng;
    // early counterparts: the order and waybill come today, the list tomorrow
    if (kind === 'CLEAN' && !last && r.chance(EARLY_COUNTERPARTS)) {
      // besides this list: one whose order and waybill come today and the list itself tomorrow
      const f = this.buildCase(listTime + DAY);
      this.emitCounterparts(f, d, d);
      this.emit('list', f.c.lists, f.list, d + 1, d, f.agent);
      const q = this.earlyCases.get(d + 1) ?? [];
      q.push(f.c);
      this.earlyCases.set(d + 1, q);
    }
    let time = listTime;
    if (kind === 'HISTORIC') time = start - r.int(395, 420) * DAY + r.int(3600, 70000);
    if (kind === 'PAYMENT_MISSING') {
      // a list under a policy that requires receipts: today's, or one filed late from that period
      const today = isoDate(start);
      const pol = this.policyAt(today);
      if (!pol.receiptRequiredModes.includes('9610')) {
        const v = [...this.policy.versions].filter((x) => x.receiptRequiredModes.includes('9610') && x.effectiveFrom <= today).pop();
        const next = v ? this.policy.versions[this.policy.versions.indexOf(v) + 1] : undefined;
        if (v && next) time = dayStart(next.effectiveFrom) - r.int(2, 20) * DAY + r.int(3600, 70000);
        else kind = 'CLEAN';
      }
    }
    const opts: Parameters<Generator['buildCase']>[1] = {};
    switch (kind) {
      case 'PAYMENT_MISSING':
        opts.mode = '9610';
        break;
      case 'UNKNOWN_CURRENCY':
        opts.mode = '9610';
        opts.currency = UNKNOWN_CURRENCY_CODE;
        opts.statisticsFlag = 'B';
        break;
      case 'B2B_OVER_THRESHOLD':
        opts.mode = r.pick(['9710', '9810']);
        opts.cnyScale = 40;
        opts.goods = [r.pick(GOODS.filter((g) => g.price[0] >= 100)), r.pick(GOODS.filter((g) => g.price[0] >= 100))];
        break;
      case 'B2B_CONTROLLED_GOODS':
      case 'SIMPLIFIED_NOT_ELIGIBLE': {
        opts.mode = kind === 'B2B_CONTROLLED_GOODS' ? r.pick(['9710', '9810']) : '9610';
        opts.statisticsFlag = kind === 'SIMPLIFIED_NOT_ELIGIBLE' ? 'A' : 'B';
        if (kind === 'SIMPLIFIED_NOT_ELIGIBLE' && r.chance(0.5)) {
          opts.cnyScale = 30;
          opts.goods = [r.pick(GOODS.filter((g) => g.price[0] >= 200))];
        } else {
          const prefix = r.pick(this.ref.controlled).hsPrefix;
          const code = (prefix + '0000000000').slice(0, 10);
          opts.goods = [{ ...r.pick(GOODS), gcode: code, itemNo: `CG-${prefix}`, gname: '管制类商品' }];
        }
        break;
      }
      case 'VALUE_BAND': {
        const g = GOODS.find((x) => x.gcode.startsWith('392690')) as Good;
        opts.goods = [g];
        opts.cnyScale = 60;
        opts.mode = '9610';
        opts.statisticsFlag = 'B';
        break;
      }
      default:
        break;
    }
    const f = this.buildCase(time, opts);
    const { c } = f;
    const h = f.list.head;
    if (kind === 'VALUE_BAND') {
      h.country = '502';
      h.POD = '502';
      for (const l of f.list.lines) l.country = '502';
    }
    let orderDay = d;
    let waybillDay = d;
    if (kind === 'CLEAN' && r.chance(LATE_ORDER)) orderDay = d + 1;
    else if (kind === 'CLEAN' && r.chance(LATE_WAYBILL)) waybillDay = d + 1;
    let keep = orderDay !== d || waybillDay !== d;
    const pickLine = () => r.pick(f.order.lines);
    switch (kind) {
      case 'INVALID_LIST': {
        const bad = r.weighted<[string, string]>([
          [['ieFlag', 'I'], 3],
          [['tradeMode', '0110'], 3],
          [['statisticsFlag', 'C'], 2],
          [['ieDate', `${fmtDate8(time).slice(0, 4)}1332`], 2],
          [['appStatus', '3'], 1],
        ]);
        h[bad[0]] = bad[1];
        keep = true;
        break;
      }
      case 'ORDER_INVALID':
        f.order.head.orderType = 'I';
        break;
      case 'ORDER_PARTY_MISMATCH': {
        const other = r.pick(this.world.ebcs.filter((e) => e.code !== f.ebc.code));
        f.order.head.ebcCode = other.code;
        f.order.head.ebcName = other.name;
        break;
      }
      case 'ORDER_TYPE_MISMATCH':
        f.order.head.orderType = f.order.head.orderType === 'E' ? r.pick(['B', 'W']) : 'E';
        break;
      case 'LINE_COUNT_MISMATCH': {
        const g = r.pick(GOODS);
        f.order.lines.push({ gnum: String(f.order.lines.length + 1), itemNo: g.itemNo, itemName: g.itemName, unit: g.unit, currency: f.order.head.currency ?? '142', qty: '1', price: money(g.price[0] * 100), totalPrice: money(g.price[0] * 100) });
        break;
      }
      case 'LINE_MISMATCH': {
        const l = pickLine();
        const field = r.pick(['itemNo', 'unit', 'qty', 'price', 'totalPrice', 'currency']);
        if (field === 'itemNo') l.itemNo = `${l.itemNo}-X`;
        else if (field === 'unit') l.unit = l.unit === '011' ? '007' : '011';
        else if (field === 'currency') l.currency = l.currency === '142' ? '502' : '142';
        else l[field] = money(Math.round(Number(l[field]) * 100) + 100 * r.int(1, 9));
        break;
      }
      case 'VALUE_MISMATCH':
        f.order.head.goodsValue = money(Math.round(Number(f.order.head.goodsValue) * 100) + r.int(200, 5000));
        if (f.receipt) f.receipt.charge = f.order.head.goodsValue;
        break;
      case 'WAYBILL_TOO_OLD': {
        const pol = this.policyAt(isoDate(time));
        f.waybill.appTime = fmtTs(time - (pol.waybillWindowDays + r.int(5, 60)) * DAY);
        keep = true;
        break;
      }
      case 'WAYBILL_PARTY_MISMATCH': {
        const other = r.pick(this.world.ebcs.filter((e) => e.code !== f.ebc.code));
        f.waybill.ebcCode = other.code;
        f.waybill.ebcName = other.name;
        break;
      }
      case 'FREIGHT_MISMATCH':
        f.waybill.freight = money(Math.round(Number(f.waybill.freight) * 100) + r.int(100, 3000));
        break;
      case 'INSURANCE_MISMATCH':
        f.waybill.insuredFee = money(Math.round(Number(f.waybill.insuredFee) * 100) + r.int(100, 900));
        break;
      case 'PACK_MISMATCH':
        f.waybill.packNo = String(Number(f.waybill.packNo) + r.int(1, 3));
        break;
      case 'WEIGHT_MISMATCH': {
        const g = Math.round(Number(f.waybill.grossWeight) * 1000);
        f.waybill.grossWeight = kg(g + Math.max(300, Math.round(g * 0.5)));
        break;
      }
      case 'NET_OVER_GROSS': {
        const g = Math.round(Number(h.grossWeight) * 1000);
        h.netWeight = kg(g + r.int(10, 500));
        break;
      }
      case 'PAYMENT_MISSING':
        f.receipt = null;
        keep = true;
        break;
      case 'PAYMENT_MISMATCH':
        if (!f.receipt) {
          const payer = r.pick(this.world.payers);
          f.receipt = { guid: r.guid(), appType: '1', appTime: f.order.head.appTime ?? '', appStatus: '2', ebpCode: h.ebpCode ?? '', ebpName: h.ebpName ?? '', ebcCode: h.ebcCode ?? '', ebcName: h.ebcName ?? '', orderNo: h.orderNo ?? '', payName: payer.name, charge: f.order.head.goodsValue ?? '0', currency: f.order.head.currency ?? '142', accountingDate: f.order.head.appTime ?? '' };
        }
        f.receipt.charge = money(Math.round(Number(f.receipt.charge) * 100) + r.int(100, 2000));
        break;
      case 'ORDER_NEVER':
      case 'WAYBILL_NEVER':
      case 'HISTORIC':
        keep = true;
        break;
      default:
        break;
    }
    const now: Case[] = [c];
    // write the counterparts
    if (kind !== 'ORDER_NEVER') {
      if (kind === 'ORDER_DELETED') {
        this.emit('order', c.orders, f.order, d, d, f.platform);
        const del = { head: { ...f.order.head, guid: r.guid(), appType: '3', appTime: fmtTs(tsOf(f.order.head) + 600) }, lines: f.order.lines };
        this.emit('order', c.orders, del, d, d, f.platform);
      } else if (kind === 'ORDER_PARTY_MISMATCH') {
        this.emit('order', c.decoys, f.order, d, d, f.platform);
        keep = true;
      } else {
        // a tenth of the orders were first sent with an error and corrected later the same day
        if (kind === 'CLEAN' && r.chance(0.05)) {
          const draft = { head: { ...f.order.head, guid: r.guid(), appTime: fmtTs(tsOf(f.order.head) - 300), goodsValue: money(Math.round(Number(f.order.head.goodsValue) * 100) + 1000) }, lines: f.order.lines };
          this.emit('order', c.orders, draft, orderDay, d, f.platform);
          f.order.head.appType = '2';
        }
        this.emit('order', c.orders, f.order, orderDay, d, f.platform);
        if (kind === 'CLEAN' && r.chance(0.02)) {
          // a draft (appStatus 1) sent after the declared order: ignored
          const draft = { head: { ...f.order.head, guid: r.guid(), appStatus: '1', appTime: fmtTs(tsOf(f.order.head) + 900), goodsValue: '1.00' }, lines: f.order.lines };
          this.emit('order', c.orders, draft, orderDay, d, f.platform);
        }
      }
    }
    if (f.receipt) this.emit('receipt', c.receipts, f.receipt, orderDay, d, f.platform);
    if (kind !== 'WAYBILL_NEVER') this.emit('waybill', c.waybills, f.waybill, waybillDay, d, f.carrier);
    if (kind === 'DRAFT_ONLY') h.appStatus = '1';
    this.emit('list', c.lists, f.list, d, d, f.agent);
    if (kind === 'ORDER_REUSED' || kind === 'WAYBILL_REUSED') {
      // a second list, declared later the same day, names the same order (or waybill)
      const t2 = Math.min(start + DAY - 1, tsOf(h) + r.int(60, 3600));
      now.push(this.shareCounterpart(c, f.list, t2, d, kind === 'ORDER_REUSED' ? 'order' : 'waybill'));
    }
    return { now, keep, mode: h.tradeMode ?? '' };
  }

  private emitCounterparts(f: ReturnType<Generator['buildCase']>, day: number, today: number): void {
    this.emit('order', f.c.orders, f.order, day, today, f.platform);
    if (f.receipt) this.emit('receipt', f.c.receipts, f.receipt, day, today, f.platform);
    this.emit('waybill', f.c.waybills, f.waybill, day, today, f.carrier);
  }

  private readonly sharedRisk = new Map<string, RiskInputs>();
  /** Risk inputs of a list; lists with no profile candidate and no value-band hit share one object. */
  private riskOf(c: { policy: PolicyVersion; profileCandidates: RiskInputs['profileCandidates']; valueBandDetail: string | null; randomRate: RiskInputs['randomRate'] }): RiskInputs {
    if (c.profileCandidates.length || c.valueBandDetail !== null) return { policy: c.policy, profileCandidates: c.profileCandidates, valueBandDetail: c.valueBandDetail, randomRate: c.randomRate };
    const k = `${c.policy.id}|${c.randomRate.text}`;
    let r = this.sharedRisk.get(k);
    if (!r) this.sharedRisk.set(k, (r = { policy: c.policy, profileCandidates: [], valueBandDetail: null, randomRate: c.randomRate }));
    return r;
  }

  /** The checks of one list on day d (everything but ownership and grace). */
  private evaluateCase(c: Case, d: number, keepDocs: boolean): Pending | null {
    // latest wins over the list's versions seen so far; drafts take no part; an invalid latest version is INVALID_RECORD
    let latest: Version<Doc> | undefined;
    let latestT = -Infinity;
    for (const v of c.lists) {
      if (v.day > d || v.rec.head.appStatus === '1') continue;
      const t = parseTimestamp14((v.rec.head.appTime ?? '').trim()) ?? -Infinity;
      if (!latest || t > latestT || (t === latestT && v.seq > latest.seq)) {
        latest = v;
        latestT = t;
      }
    }
    if (!latest || (!latest.invalid && latest.rec.head.appType === '3')) return null;
    const list = latest.rec;
    const h = list.head;
    const key = `${h.agentCode}|${h.copNo}`;
    const policyId = this.safePolicyId(h);
    const agentCode = h.agentCode ?? '';
    const copNo = h.copNo ?? '';
    const customsCode = h.customsCode ?? '';
    const prefilled = (h.invtNo ?? '').trim();
    if (latest.invalid) {
      return new Pending(keepDocs ? c : null, keepDocs ? list : null, policyId, keepDocs ? key : '', agentCode, flat(copNo), customsCode, latestT, prefilled, true, null, '', INVALID_REASONS, c.listId, null, null, keepDocs);
    }
    const order = winner(c.orders, d);
    const decoy = winner(c.decoys, d);
    const pol = this.policyAt(isoDate(latestT));
    let waybill = winner(c.waybills, d);
    if (waybill && tsOf(waybill) < latestT - pol.waybillWindowDays * DAY) waybill = undefined;
    const receipt = winner(c.receipts, d);
    const st = this.listStates.get(key);
    const duplicate = st !== undefined && st.positive && st.day < d;
    const checks = checkList(list, { order, orderOtherParty: !order && decoy !== undefined, waybill, receipt, duplicate }, this.policyAt, this.ref);
    const retain = keepDocs || checks.reasons.some((x) => x.severity === 'P');
    const reasons = checks.reasons.length ? checks.reasons.map((x) => ({ code: x.code, severity: x.severity, detail: '' })) : NO_REASONS;
    return new Pending(retain ? c : null, retain ? list : null, policyId, keepDocs ? key : '', agentCode, flat(copNo), customsCode, latestT, prefilled, false, this.riskOf(checks), formatValueCny(checks.valueCny13), reasons, c.listId, order ? c.orderId : null, waybill ? c.waybillId : null, keepDocs);
  }

  private decisionRow(date: string, h: Rec, invtNo: string, decision: Decision, reasons: string[], value: string, policyId: string): string {
    return [date, h.agentCode ?? '', h.copNo ?? '', invtNo, decision, STATUS[decision], CHANNEL[decision], [...new Set(reasons)].sort().join(';'), value, policyId].map((x) => csvCell(String(x))).join(',') + '\n';
  }

  private settle(pendings: Pending[], d: number, date: string, start: number, rows: string[], counts: Record<string, number>): { pending: Case[] } {
    const end = start + DAY;
    pendings.sort((a, b) => a.appTime - b.appTime || (a.agentCode < b.agentCode ? -1 : a.agentCode > b.agentCode ? 1 : 0) || (a.copNo < b.copNo ? -1 : a.copNo > b.copNo ? 1 : 0));
    const heldO = new Map(this.heldOrders);
    const heldW = new Map(this.heldWaybills);
    const outcome: { p: Pending; reasons: Reason[]; decision: Decision }[] = [];
    for (const p of pendings) {
      const reasons = p.reasons.map((x) => ({ ...x }));
      const grace = p.risk ? p.risk.policy.graceDays : 0;
      const expired = end - p.appTime >= grace * DAY;
      if (expired) for (const x of reasons) if (x.severity === 'P') x.severity = 'R';
      const hasR = reasons.some((x) => x.severity === 'R');
      if (!hasR && !p.invalid) {
        const oHolder = p.orderId !== null ? heldO.get(p.orderId) : undefined;
        const wHolder = p.waybillId !== null ? heldW.get(p.waybillId) : undefined;
        const oTaken = oHolder !== undefined && oHolder !== p.listId;
        const wTaken = wHolder !== undefined && wHolder !== p.listId;
        if (oTaken) reasons.push({ code: 'ORDER_REUSED', severity: 'R', detail: '' });
        if (wTaken) reasons.push({ code: 'WAYBILL_REUSED', severity: 'R', detail: '' });
        if (!oTaken && !wTaken) {
          if (p.orderId !== null) heldO.set(p.orderId, p.listId);
          if (p.waybillId !== null) heldW.set(p.waybillId, p.listId);
        }
      }
      let decision: Decision;
      if (reasons.some((x) => x.severity === 'R')) decision = 'REJECT';
      else if (reasons.some((x) => x.severity === 'P')) decision = 'PENDING';
      else if (reasons.some((x) => x.severity === 'V')) decision = 'REVIEW';
      else decision = 'RELEASE';
      outcome.push({ p, reasons, decision });
    }
    // numbering (RULES.md §2): per customsCode, among the lists this run decides first, in the order above
    const rank = new Map<string, number>();
    const doy = pad(dayOfYear(start), 3);
    const pending: Case[] = [];
    for (const out of outcome) {
      const { p } = out;
      let decision = out.decision;
      const st = this.listStates.get(p.key);
      let invtNo = st?.invtNo || p.prefilledInvtNo;
      if (decision !== 'PENDING' && !st) {
        const n = (rank.get(p.customsCode) ?? 0) + 1;
        rank.set(p.customsCode, n);
        if (!invtNo) invtNo = `${p.customsCode}${fmtTs(p.appTime).slice(0, 4)}E${doy}${pad(n, 8)}`;
      }
      const reasons = out.reasons;
      if (decision === 'RELEASE' && p.risk) {
        const risk = riskReasons(p.risk, invtNo);
        if (risk.length) {
          decision = 'INSPECT';
          reasons.push(...risk);
        }
      }
      counts[decision] = (counts[decision] ?? 0) + 1;
      rows.push(this.decisionRow(date, { agentCode: p.agentCode, copNo: p.copNo }, decision === 'PENDING' ? p.prefilledInvtNo || (st?.invtNo ?? '') : invtNo, decision, reasons.map((x) => x.code), p.value, p.policyId));
      if (decision === 'PENDING') {
        if (!p.c) throw new Error(`internal: pending list ${p.key} kept no documents`);
        pending.push(p.c);
        continue;
      }
      const positive = decision === 'RELEASE' || decision === 'INSPECT' || decision === 'REVIEW';
      if (st) {
        st.decision = decision;
        st.positive = st.positive || positive;
        st.day = d;
      } else if (p.keepDocs) this.listStates.set(p.key, { invtNo, positive, decision, day: d });
      if (p.keepDocs && p.c && p.list) {
        const list = p.list;
        const t: Target = { c: p.c, list, invtNo, decision, day: d, original: this.original(list, invtNo, decision) };
        if (decision === 'RELEASE' || decision === 'INSPECT') {
          // REVIEW lists are kept for "original not released" returns only
          if (!reasons.some((x) => x.code === 'DUPLICATE_LIST')) {
            this.positiveTargets.push(t);
            this.heldOrders.set(p.c.orderId, p.listId);
            this.heldWaybills.set(p.c.waybillId, p.listId);
          }
        } else if (decision === 'REJECT' && p.invalid && !st) this.rejectedTargets.push(t);
        else if (decision === 'REVIEW' || decision === 'REJECT') this.notReleased.push(t);
      }
    }
    // bound what is kept
    if (this.positiveTargets.length > 20000) this.positiveTargets = this.positiveTargets.slice(-20000);
    if (this.rejectedTargets.length > 2000) this.rejectedTargets = this.rejectedTargets.slice(-2000);
    if (this.notReleased.length > 2000) this.notReleased = this.notReleased.slice(-2000);
    return { pending };
  }

  private notReleased: Target[] = [];

  private safePolicyId(h: Rec): string {
    try {
      return this.policyAt(isoDate(tsOf(h))).id;
    } catch {
      return '';
    }
  }

  private original(list: Doc, invtNo: string, decision: Decision): OriginalList {
    const h = list.head;
    return {
      invtNo,
      decision,
      tradeMode: h.tradeMode ?? '',
      customsCode: h.customsCode ?? '',
      ebpCode: h.ebpCode ?? '',
      ebcCode: h.ebcCode ?? '',
      ieDate: h.ieDate ?? '',
      lines: new Map(list.lines.map((l) => [Number(l.gnum), { gcode: l.gcode ?? '', gname: l.gname ?? '', gmodel: l.gmodel ?? '', unit: l.unit ?? '', qty: dec(l, 'qty') }])),
      // returned quantities belong to the list (its invtNo), whichever later decision of it is kept
      returned: this.returnedFor(invtNo),
    };
  }

  private readonly returnedByInvt = new Map<string, Map<number, bigint>>();
  private returnedFor(invtNo: string): Map<number, bigint> {
    let m = this.returnedByInvt.get(invtNo);
    if (!m) this.returnedByInvt.set(invtNo, (m = new Map()));
    return m;
  }

  // ---- returns ----

  private makeReturns(date: string, start: number, rows: string[], counts: Record<string, number>): void {
    const o = this.o;
    const r = this.rng;
    const byInvt = new Map<string, Target>();
    for (const t of this.positiveTargets) byInvt.set(t.invtNo, t);
    for (const t of this.notReleased) byInvt.set(t.invtNo, t);
    const released = this.positiveTargets.filter((t) => t.decision === 'RELEASE' || t.decision === 'INSPECT');
    const quota = (share: number) => (o.anomalyRate > 0 ? Math.max(o.lists >= 200 ? 1 : 0, Math.round(o.lists * o.anomalyRate * share)) : 0);
    const plan: { kind: ReturnKind; t?: Target }[] = [];
    // pools, computed once
    const pol = this.policyAt(date);
    const recent = fmtDate8(start - 300 * DAY);
    const old = fmtDate8(start - 370 * DAY);
    // originals nothing has been returned from yet (so an ordinary return stays within what was exported)
    const eligible = released.filter((t) => pol.returnModes.includes(t.original.tradeMode) && t.original.ieDate >= recent && t.original.returned.size === 0);
    const pools = {
      expired: released.filter((t) => t.original.ieDate < old),
      mode: released.filter((t) => !pol.returnModes.includes(t.original.tradeMode)),
      cross: released.filter((t) => t.original.tradeMode === '9810' || t.original.tradeMode === '1210'),
    };
    const pick = (pool: Target[]): Target | undefined => (pool.length ? r.pick(pool) : undefined);
    // ordinary returns: each of a different original, at most half of the kept originals
    const shuffled = [...eligible];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(r.next() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j] as Target, shuffled[i] as Target];
    }
    const clean = Math.min(Math.round(o.lists * 0.008), Math.floor(shuffled.length / 2));
    for (let i = 0; i < clean; i++) plan.push({ kind: 'CLEAN', t: shuffled[i] });
    for (const kind of RETURN_KINDS) {
      for (let i = 0; i < quota(0.004); i++) {
        let t: Target | undefined;
        if (kind === 'RETURN_ORIGINAL_NOT_RELEASED') t = pick(this.notReleased);
        else if (kind === 'RETURN_EXPIRED') t = pick(pools.expired);
        else if (kind === 'RETURN_MODE_NOT_ELIGIBLE') t = pick(pools.mode);
        else if (kind === 'RETURN_CROSS_DISTRICT_NOT_ALLOWED') t = pick(pools.cross) ?? pick(eligible);
        else if (kind !== 'RETURN_ORIGINAL_MISSING') t = pick(eligible);
        if (kind === 'RETURN_ORIGINAL_MISSING' || t) plan.push({ kind, t });
      }
    }
    const docs: { doc: Doc; t?: Target }[] = [];
    for (const { kind, t } of plan) {
      if (kind !== 'RETURN_ORIGINAL_MISSING' && !t) continue;
      const minTime = t ? Math.max(start + 600, tsOf(t.list.head) + 600) : start + 600;
      if (minTime >= start + DAY - 60) continue;
      const time = r.int(minTime, start + DAY - 60);
      const doc = this.returnDoc(kind, t, time, start);
      docs.push({ doc, t });
    }
    for (const { doc } of docs) {
      const agent = { code: doc.head.agentCode ?? '', name: doc.head.agentName ?? '' };
      this.write('return', doc, agent);
    }
    // RULES.md §7: in (appTime, agentCode, coElNo) order, cumulative over accepted returns
    docs.sort((a, b) => tsOf(a.doc.head) - tsOf(b.doc.head) || cmp(a.doc.head.agentCode, b.doc.head.agentCode) || cmp(a.doc.head.coElNo, b.doc.head.coElNo));
    for (const { doc } of docs) {
      const orig = byInvt.get((doc.head.invtNo ?? '').trim())?.original;
      const { reasons, policy } = checkReturn(doc, orig, this.policyAt);
      const decision = reasons.length ? 'REJECT' : 'ACCEPT';
      if (decision === 'ACCEPT' && orig) {
        for (const l of doc.lines) orig.returned.set(Number(l.gnum), (orig.returned.get(Number(l.gnum)) ?? 0n) + dec(l, 'qty'));
      }
      counts[decision] = (counts[decision] ?? 0) + 1;
      rows.push(
        [date, doc.head.agentCode ?? '', doc.head.coElNo ?? '', doc.head.invtNo ?? '', decision, decision === 'ACCEPT' ? 800 : 100, [...new Set(reasons.map((x) => x.code))].sort().join(';'), policy.id]
          .map((x) => csvCell(String(x)))
          .join(',') + '\n',
      );
    }
  }

  private returnDoc(kind: ReturnKind, t: Target | undefined, time: number, start: number): Doc {
    const r = this.rng;
    const w = this.world;
    const agent = r.pick(w.agents);
    const carrier = r.pick(w.carriers);
    const serial = this.nextSerial();
    const h0 = t?.list.head;
    const sameDistrict = (code: string) => w.offices.filter((x) => districtOf(x.code) === districtOf(code));
    let customsCode = h0 ? r.pick(sameDistrict(h0.customsCode ?? '5141')).code : '5141';
    if (kind === 'RETURN_CROSS_DISTRICT_NOT_ALLOWED' && h0) {
      const others = w.offices.filter((x) => districtOf(x.code) !== districtOf(h0.customsCode ?? ''));
      // a non-pilot district when the original is 9610, so that the 2024 pilot does not allow it
      const nonPilot = others.filter((x) => !this.policyAt(isoDate(time)).crossDistrictReturns.districts.includes(districtOf(x.code)));
      customsCode = r.pick(h0.tradeMode === '9610' && nonPilot.length ? nonPilot : others).code;
    }
    const head: Rec = {
      guid: r.guid(),
      appType: '1',
      appTime: fmtTs(time),
      appStatus: '2',
      customsCode,
      ebpCode: h0?.ebpCode ?? r.pick(w.platforms).code,
      ebpName: h0?.ebpName ?? '',
      ebcCode: h0?.ebcCode ?? r.pick(w.ebcs).code,
      ebcName: h0?.ebcName ?? '',
      logisticsNo: `RT${fmtDate8(time)}${pad(serial, 9)}`,
      logisticsCode: carrier.code,
      logisticsName: carrier.name,
      coElNo: `RE${fmtDate8(time)}${pad(serial, 9)}`,
      invtNo: t?.invtNo ?? `${customsCode}${fmtDate8(time).slice(0, 4)}E7${pad(r.int(0, 999999999), 10)}`,
      agentCode: agent.code,
      agentName: agent.name,
      billNo: `RB${fmtDate8(time)}${pad(serial % 1000, 3)}`,
      ieFlag: 'I',
      trafMode: '5',
      trafName: 'CZ3096',
      portCode: customsCode,
      reason: r.pick(['买家退货', '质量问题退货', '尺码不符退货', '无法派送退回']),
      country: h0?.country ?? '502',
      voyageNo: `CZ${pad(r.int(1, 9999), 4)}`,
    };
    if (!head.ebpName) head.ebpName = '跨境电商平台';
    if (!head.ebcName) head.ebcName = '跨境电商企业';
    if (kind === 'RETURN_PARTY_MISMATCH') {
      const other = r.pick(w.ebcs.filter((e) => e.code !== head.ebcCode));
      head.ebcCode = other.code;
      head.ebcName = other.name;
    }
    const lines: Rec[] = [];
    const origLines = t ? t.list.lines : [{ gnum: '1', gcode: '3926909090', gname: '手机保护壳', gmodel: 'TPU塑料', unit: '011', unit1: '035', qty: '1', qty1: '0.040' }];
    const chosen = origLines.filter((_, i) => i === 0 || r.chance(0.5));
    for (const l of chosen) {
      const oq = Number(l.qty);
      const remaining = t ? oq - Number(t.original.returned.get(Number(l.gnum)) ?? 0n) / 1e5 : oq;
      let q = Math.max(1, Math.min(remaining, r.int(1, Math.max(1, Math.floor(oq)))));
      if (kind === 'RETURN_QTY_EXCEEDED' && l === chosen[0]) q = oq + r.int(1, 3);
      lines.push({ gnum: l.gnum ?? '1', gcode: l.gcode ?? '', gname: l.gname ?? '', gmodel: l.gmodel ?? '', qty: String(q), qty1: String(q), unit: l.unit ?? '011', unit1: l.unit1 ?? '011' });
    }
    if (kind === 'RETURN_LINE_MISMATCH') {
      const first = lines[0] as Rec;
      if (r.chance(0.5)) first.gmodel = `${first.gmodel}|改`;
      else first.gnum = String(origLines.length + r.int(1, 5));
    }
    return { head, lines };
  }
}

function cmp(a: string | undefined, b: string | undefined): number {
  const x = a ?? '';
  const y = b ?? '';
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Writes `days` consecutive business-day folders under `out` and the ground truth beside each. */
export async function generateDays(o: GenerateOptions): Promise<DaySummary[]> {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(o.date) || Number.isNaN(dayStart(o.date))) throw new RangeError(`--date must be YYYY-MM-DD, not ${o.date}`);
  const g = new Generator(o);
  const out: DaySummary[] = [];
  const first = dayStart(o.date);
  for (let d = 0; d < o.days; d++) out.push(await g.runDay(d, isoDate(first + d * DAY)));
  writeFileSync(
    join(o.out, 'manifest.json'),
    JSON.stringify(
      {
        generator: 'declmatch generate',
        note: 'Synthetic data: every code, name and number is invented. <date>/ is the input of a run; <date>.truth/ is what a correct run decides.',
        seed: o.seed,
        firstDate: o.date,
        days: o.days,
        listsPerDay: o.lists,
        format: o.format,
        anomalyRate: o.anomalyRate,
        dates: out.map((s) => ({ date: s.date, files: s.files, bytes: s.bytes, records: s.records, decisions: s.decisions, returns: s.returns, quarantined: s.quarantined })),
      },
      null,
      2,
    ) + '\n',
  );
  return out;
}

