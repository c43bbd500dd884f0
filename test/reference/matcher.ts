/**
 * A plain TypeScript reference reading of RULES.md §1, §2, §4–§8 (and of the README section "How
 * the ground truth is made"), for the differential test against the SQL matcher. It is
 * deliberately independent of src/match/ and src/generate/: maps and loops, one function per rule,
 * each citing the section it implements. It uses only the field spec (validation, §3), the policy
 * (§8, the draw arithmetic of §6) and the reference data (§9).
 *
 * Input: per business day, the day's records as plain `Record<string, string>` objects with CEB
 * field names, in input order (line records carry their head's key and `headGuid`).
 * Output: per day, the list decisions and the return decisions.
 */
import { drawSelects, multiplyRates, policyFor, type Policy, type PolicyVersion } from '../../src/policy/policy.js';
import { districtOf, isControlled, normaliseCurrency, rateFor, RATE_SCALE, type Reference } from '../../src/policy/reference.js';
import { recordSpec, type RecordTypeName } from '../../src/spec/fields.js';
import { validateRecord, type TypedRow } from '../../src/spec/validate.js';

export type Rec = Record<string, string>;

/** One business day's input. Arrays are in input order (one tabular file per record type). */
export interface DayInput {
  date: string; // YYYY-MM-DD
  order: Rec[];
  order_line: Rec[];
  receipt: Rec[];
  waybill: Rec[];
  list: Rec[];
  list_line: Rec[];
  cancel: Rec[];
  return: Rec[];
  return_line: Rec[];
}

export interface ListDecision {
  agentCode: string;
  copNo: string;
  invtNo: string | null;
  decision: string;
  reasons: string[]; // sorted
  policyId: string | null;
  /** exact CNY value with 13 digits after the point (as DECIMAL(38,13) prints it), or null */
  valueCny: string | null;
}

export interface ReturnDecision {
  agentCode: string;
  coElNo: string;
  invtNo: string | null;
  decision: 'ACCEPT' | 'REJECT';
  reasons: string[]; // sorted
  policyId: string | null;
}

export interface DayResult {
  date: string;
  decisions: ListDecision[];
  returns: ReturnDecision[];
  /** §3 conservation: the day's records per `<record type> <fate>` (and the waybills that expired today) */
  ledger: Map<string, number>;
}

/** What the state holds about one list key after a run (exposed so a day builder can aim at it). */
export interface ListState {
  agentCode: string;
  copNo: string;
  decision: string;
  invtNo: string | null;
  heldOrder: string | null;
  heldWaybill: string | null;
  /** has had a decision other than PENDING (§2: invtNo is assigned once, at the first one) */
  decidedOnce: boolean;
  /** decided RELEASE, INSPECT or REVIEW on some day and not cancelled since (§4 DUPLICATE_LIST) */
  positiveNotCancelled: boolean;
  /** the version last decided */
  version: Version;
  invalid: boolean;
  valueCny: string | null;
  policyId: string | null;
}

// ---------------------------------------------------------------------------------------------
// Records seen so far

export interface Version {
  type: RecordTypeName;
  raw: Rec;
  row: TypedRow;
  /** head and every line valid (§3) */
  valid: boolean;
  draft: boolean;
  appTime: number | null; // seconds of the wall clock, CST
  appType: string | null;
  day: number; // index of the business day it came in (input order across days)
  pos: number; // position in its file (input order within the day)
  lines: TypedRow[];
}

const LINE_OF: Partial<Record<RecordTypeName, RecordTypeName>> = { order: 'order_line', list: 'list_line', return: 'return_line' };
const KEYS: Record<string, string[]> = {
  order: ['ebpCode', 'ebcCode', 'orderNo'],
  receipt: ['ebcCode', 'orderNo'],
  waybill: ['logisticsCode', 'logisticsNo'],
  list: ['agentCode', 'copNo'],
  cancel: ['agentCode', 'copNo'],
  return: ['agentCode', 'coElNo'],
};
const keyOf = (type: string, raw: Rec): string => KEYS[type]!.map((k) => (raw[k] ?? '').trim()).join('|');

const DAY = 86_400;
const str = (v: unknown): string => (v === null || v === undefined ? '' : String(v));
const big = (v: unknown): bigint => (typeof v === 'bigint' ? v : 0n);
const abs = (v: bigint): bigint => (v < 0n ? -v : v);

function dateOfSeconds(s: number): string {
  return new Date(s * 1000).toISOString().slice(0, 10);
}
function secondsOfDate(d: string): number {
  return Date.UTC(+d.slice(0, 4), +d.slice(5, 7) - 1, +d.slice(8, 10)) / 1000;
}
function dayOfYear(d: string): number {
  return (secondsOfDate(d) - Date.UTC(+d.slice(0, 4), 0, 1) / 1000) / DAY + 1;
}
/** A version takes part in latest wins (README: drafts and invalid records do not). */
const takesPart = (v: Version) => v.valid && !v.draft && v.appTime !== null;

/** §2 the winner among a key's versions that take part, a delete included; null when none does. */
function winnerOf(versions: readonly Version[]): Version | null {
  let best: Version | null = null;
  for (const v of versions) if (takesPart(v) && (best === null || later(v, best))) best = v;
  return best;
}

/** Latest-wins order (§2): greater appTime, then later input (day, position). */
function later(a: Version, b: Version): boolean {
  if (a.appTime! !== b.appTime!) return a.appTime! > b.appTime!;
  if (a.day !== b.day) return a.day > b.day;
  return a.pos > b.pos;
}

export class ReferenceMatcher {
  private day = -1;
  private readonly versions = new Map<string, Map<string, Version[]>>(); // type → key → versions
  readonly lists = new Map<string, ListState>();
  /** accepted return quantities per original invtNo and gnum (§7 RETURN_QTY_EXCEEDED) */
  private readonly returned = new Map<string, bigint>();
  /** the cancel keys applied in this run, the list keys it decided, every waybill a decision ever held */
  private appliedCancels = new Set<string>();
  private decidedNow = new Set<string>();
  private readonly everHeldWaybill = new Set<string>();

  constructor(
    private readonly policy: Policy,
    private readonly ref: Reference,
  ) {
    for (const t of ['order', 'receipt', 'waybill', 'list', 'cancel', 'return']) this.versions.set(t, new Map());
  }

  // -------------------------------------------------------------------------------------------
  // §1 a run: latest wins, cancels, the lists, the returns

  runDay(input: DayInput): DayResult {
    this.day++;
    const D = input.date;
    this.addRecords(input);
    const decisions: ListDecision[] = [];
    decisions.push(...this.applyCancels());
    decisions.push(...this.decideLists(D));
    const returns = this.decideReturns();
    return { date: D, decisions, returns, ledger: this.ledger(D) };
  }

  /**
   * §3 conservation: where each record read today ended. Invalid (head or a line): quarantined;
   * draft; stale (an earlier day's valid version of its key is newer); deleted (it is a delete, or
   * a delete wins its key); superseded (another version wins); else, the winner: a list decided or
   * pending, an order or waybill used (held by a list decided today) or open, a receipt open, a
   * cancel applied or rejected, a return decided. Also the current waybills whose appTime date
   * left the widest reuse window today and that no decision ever held: expired.
   */
  private ledger(D: string): Map<string, number> {
    const out = new Map<string, number>();
    const add = (type: string, fate: string) => out.set(`${type} ${fate}`, (out.get(`${type} ${fate}`) ?? 0) + 1);
    const used = { order: new Set<string>(), waybill: new Set<string>() };
    for (const k of this.decidedNow) {
      const s = this.lists.get(k);
      if (s?.heldOrder) used.order.add(s.heldOrder);
      if (s?.heldWaybill) used.waybill.add(s.heldWaybill);
    }
    for (const type of ['order', 'receipt', 'waybill', 'list', 'cancel', 'return'] as const) {
      for (const [key, versions] of this.versions.get(type)!) {
        const winner = winnerOf(versions);
        for (const v of versions) {
          if (v.day !== this.day) continue;
          let fate: string;
          if (!v.valid) fate = 'quarantined';
          else if (v.draft) fate = 'draft';
          else if (versions.some((u) => u.day < this.day && takesPart(u) && v.appTime !== null && u.appTime! > v.appTime)) fate = 'stale';
          else if (v.appType === '3' || winner?.appType === '3') fate = 'deleted';
          else if (winner !== v) fate = 'superseded';
          else if (type === 'list') fate = this.lists.get(key)?.decision === 'PENDING' && this.decidedNow.has(key) ? 'pending' : 'decided';
          else if (type === 'order' || type === 'waybill') fate = used[type].has(key) ? 'used' : 'open';
          else if (type === 'cancel') fate = this.appliedCancels.has(key) ? 'applied' : 'rejected';
          else fate = type === 'return' ? 'decided' : 'open';
          add(type, fate);
        }
      }
    }
    const widest = Math.max(...this.policy.versions.map((v) => v.waybillWindowDays));
    const left = dateOfSeconds(secondsOfDate(D) - (widest + 1) * DAY);
    for (const [key] of this.versions.get('waybill')!) {
      const w = this.current('waybill', key);
      if (w !== null && dateOfSeconds(w.appTime!) === left && !this.everHeldWaybill.has(key)) add('waybill', 'expired');
    }
    return out;
  }

  /** §2/§3: every record read joins the history with its validity; lines join their head by headGuid. */
  private addRecords(input: DayInput): void {
    for (const type of ['order', 'receipt', 'waybill', 'list', 'cancel', 'return'] as const) {
      const lineType = LINE_OF[type];
      const linesByHead = new Map<string, { row: TypedRow; ok: boolean }[]>();
      if (lineType) {
        for (const l of input[lineType] as Rec[]) {
          const v = validateRecord(recordSpec(lineType), l);
          const hk = `${keyOf(type, l)}|${(l.headGuid ?? '').trim()}`;
          if (!linesByHead.has(hk)) linesByHead.set(hk, []);
          linesByHead.get(hk)!.push({ row: v.row, ok: v.ok });
        }
      }
      input[type].forEach((raw, pos) => {
        const v = validateRecord(recordSpec(type), raw);
        const key = keyOf(type, raw);
        const lines = lineType ? (linesByHead.get(`${key}|${(raw.guid ?? '').trim()}`) ?? []) : [];
        const version: Version = {
          type,
          raw,
          row: v.row,
          valid: v.ok && lines.every((l) => l.ok),
          draft: v.row.appStatus === '1',
          appTime: typeof v.row.appTime === 'number' ? v.row.appTime : null,
          appType: v.row.appType === null ? null : String(v.row.appType),
          day: this.day,
          pos,
          lines: lines.map((l) => l.row),
        };
        const byKey = this.versions.get(type)!;
        if (!byKey.has(key)) byKey.set(key, []);
        byKey.get(key)!.push(version);
      });
    }
  }

  /**
   * §2 latest wins (README: drafts and invalid records take no part): the key's current record, or
   * null when it has none or a delete (appType 3) wins.
   */
  private current(type: string, key: string): Version | null {
    const best = winnerOf(this.versions.get(type)!.get(key) ?? []);
    return best !== null && best.appType !== '3' ? best : null;
  }

  /** The latest non-draft version of a list key, valid or not (README: an invalid latest version → INVALID_RECORD). */
  private latestAny(key: string): Version | null {
    let best: Version | null = null;
    for (const v of this.versions.get('list')!.get(key) ?? []) {
      if (v.draft || v.appTime === null) continue;
      if (best === null || later(v, best)) best = v;
    }
    return best;
  }

  // -------------------------------------------------------------------------------------------
  // §5 cancels, against lists decided in earlier runs

  private applyCancels(): ListDecision[] {
    const out: ListDecision[] = [];
    this.appliedCancels = new Set();
    for (const [key] of this.versions.get('cancel')!) {
      const c = this.current('cancel', key);
      if (c === null || c.day !== this.day) continue;
      const invtNo = str(c.row.invtNo);
      let target: ListState | null = null;
      for (const s of this.lists.values())
        if (s.invtNo === invtNo && s.decision !== 'PENDING' && s.decision !== 'CANCELLED') target = s;
      if (target === null) continue; // CANCEL_TARGET_MISSING (quarantine)
      if (target.agentCode !== str(c.row.agentCode) || str(target.version.row.ebcCode) !== str(c.row.ebcCode)) continue; // CANCEL_PARTY_MISMATCH
      target.decision = 'CANCELLED';
      target.heldOrder = null; // frees its order and waybill
      target.heldWaybill = null;
      target.positiveNotCancelled = false;
      this.appliedCancels.add(key);
      out.push({
        agentCode: target.agentCode,
        copNo: target.copNo,
        invtNo: target.invtNo,
        decision: 'CANCELLED',
        reasons: ['CANCELLED'],
        // RULES.md leaves open which policy and value a cancel row carries; the project writes
        // neither (the generator's ground truth and the matcher agree), and so does this reading.
        policyId: null,
        valueCny: null,
      });
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // §4–§6 the day's lists and the pending lists

  private decideLists(D: string): ListDecision[] {
    const endOfDay = secondsOfDate(D) + DAY;
    interface Work {
      key: string;
      agentCode: string;
      copNo: string;
      v: Version;
      invalid: boolean;
      policy: PolicyVersion;
      reasons: Map<string, 'R' | 'P' | 'V' | 'I'>;
      orderKey: string | null;
      waybillKey: string | null;
      value: bigint | null; // × 10^13
      decision?: string;
      firstDecision: boolean;
      invtNo: string | null;
    }
    const work: Work[] = [];
    for (const [key] of this.versions.get('list')!) {
      const prior = this.lists.get(key);
      const any = this.latestAny(key);
      const cur = this.current('list', key);
      let v: Version | null = null;
      let invalid = false;
      if (any !== null && !any.valid && any.day === this.day) {
        v = any; // README: an invalid latest version makes it REJECT with INVALID_RECORD only
        invalid = true;
      } else if (cur !== null && cur.day === this.day) v = cur; // the day's list (a new key or a newer version)
      else if (prior?.decision === 'PENDING') {
        if (cur === null) {
          // deleted while pending: it leaves, holding nothing
          this.lists.delete(key);
          continue;
        }
        v = cur; // a pending list is decided again with everything now available
      }
      if (v === null) continue;
      const agentCode = str(v.row.agentCode);
      const copNo = str(v.row.copNo);
      const policy = policyFor(this.policy, dateOfSeconds(v.appTime!));
      const prefilled = str(v.row.invtNo) || null;
      work.push({
        key, agentCode, copNo, v, invalid, policy,
        reasons: new Map(),
        orderKey: null,
        waybillKey: null,
        value: null,
        firstDecision: !(prior?.decidedOnce ?? false),
        invtNo: prior?.invtNo ?? prefilled,
      });
    }
    // Ownership is re-settled for the lists decided in this run: what they held is theirs to take again.
    const decidedNow = new Set(work.map((w) => w.key));
    this.decidedNow = decidedNow;
    const heldOrder = new Map<string, string>();
    const heldWaybill = new Map<string, string>();
    for (const [key, s] of this.lists) {
      if (decidedNow.has(key)) continue; // decided again today: today's decision says what it holds
      if (s.heldOrder) heldOrder.set(s.heldOrder, key);
      if (s.heldWaybill) heldWaybill.set(s.heldWaybill, key);
    }

    for (const w of work) {
      if (w.invalid) {
        w.reasons.set('INVALID_RECORD', 'R'); // §3: the only reason, no other check runs
        continue;
      }
      w.value = this.cnyValue(w.v);
      this.checkList(w.v, w.policy, w.reasons, (o, b) => {
        w.orderKey = o;
        w.waybillKey = b;
      });
      this.checkDuplicate(w.key, w.reasons);
      this.applyGrace(w.v, w.policy, endOfDay, w.reasons);
    }

    // §4 Ownership: lists without an R reason, in (appTime, agentCode, copNo) order
    const ordered = [...work].sort(byListOrder);
    for (const w of ordered) {
      if (hasSeverity(w.reasons, 'R')) continue;
      const orderHeld = w.orderKey !== null && heldOrder.has(w.orderKey) && heldOrder.get(w.orderKey) !== w.key;
      const waybillHeld = w.waybillKey !== null && heldWaybill.has(w.waybillKey) && heldWaybill.get(w.waybillKey) !== w.key;
      if (orderHeld) w.reasons.set('ORDER_REUSED', 'R');
      if (waybillHeld) w.reasons.set('WAYBILL_REUSED', 'R');
      if (!orderHeld && !waybillHeld) {
        if (w.orderKey !== null) heldOrder.set(w.orderKey, w.key);
        if (w.waybillKey !== null) heldWaybill.set(w.waybillKey, w.key);
      }
    }

    // §5 decision (risk comes after invtNo numbering)
    for (const w of work) w.decision = decisionOf(w.reasons);

    // §2 invtNo: the lists this run decides (not pending) for the first time, ranked per customsCode
    const firsts = ordered.filter((w) => w.firstDecision && w.decision !== 'PENDING');
    const rank = new Map<string, number>();
    for (const w of firsts) {
      const customs = str(w.v.row.customsCode);
      const r = (rank.get(customs) ?? 0) + 1;
      rank.set(customs, r);
      if (w.invtNo === null) w.invtNo = assignInvtNo(customs, w.v, D, r);
    }

    // §6 risk selection for the lists without R, P or V reasons
    for (const w of work) {
      if (w.decision !== 'RELEASE') continue;
      this.riskSelect(w.v, w.policy, w.invtNo!, w.value, w.reasons);
      w.decision = decisionOf(w.reasons);
    }

    // the state after the run
    const out: ListDecision[] = [];
    for (const w of ordered) {
      const prior = this.lists.get(w.key);
      const holds = w.decision !== 'REJECT' && !hasSeverity(w.reasons, 'R');
      const isPositive = w.decision === 'RELEASE' || w.decision === 'INSPECT' || w.decision === 'REVIEW';
      const valueCny = w.invalid || w.value === null ? null : formatScaled(w.value, 13);
      const state: ListState = {
        agentCode: w.agentCode,
        copNo: w.copNo,
        decision: w.decision!,
        invtNo: w.invtNo,
        heldOrder: holds && heldOrder.get(w.orderKey ?? '') === w.key ? w.orderKey : null,
        heldWaybill: holds && heldWaybill.get(w.waybillKey ?? '') === w.key ? w.waybillKey : null,
        decidedOnce: (prior?.decidedOnce ?? false) || w.decision !== 'PENDING',
        positiveNotCancelled: (prior?.positiveNotCancelled ?? false) || isPositive,
        version: w.v,
        invalid: w.invalid,
        valueCny,
        policyId: w.policy.id,
      };
      this.lists.set(w.key, state);
      if (state.heldWaybill) this.everHeldWaybill.add(state.heldWaybill);
      out.push({
        agentCode: w.agentCode,
        copNo: w.copNo,
        invtNo: w.invtNo,
        decision: w.decision!,
        reasons: [...w.reasons.keys()].sort(),
        policyId: w.policy.id,
        valueCny,
      });
    }
    return out;
  }

  /** §2 CNY value: Σ line totalPrice at the rate of the month of appTime; null on an unknown currency. × 10^13. */
  private cnyValue(v: Version): bigint | null {
    const month = dateOfSeconds(v.appTime!).slice(0, 7);
    let sum = 0n;
    for (const l of v.lines) {
      const rate = rateFor(this.ref, str(l.currency), month);
      if (rate === null) return null;
      sum += big(l.totalPrice) * rate;
    }
    return sum;
  }

  /** §4 the checks against the order, the waybill and the receipt, and on the list alone. */
  private checkList(
    list: Version,
    policy: PolicyVersion,
    reasons: Map<string, 'R' | 'P' | 'V' | 'I'>,
    found: (orderKey: string | null, waybillKey: string | null) => void,
  ): void {
    const L = list.row;
    const tol = policy.amountTolerance;
    const orderKey = [str(L.ebpCode), str(L.ebcCode), str(L.orderNo)].join('|');
    const order = this.current('order', orderKey);
    const waybillKey = [str(L.logisticsCode), str(L.logisticsNo)].join('|');
    let waybill = this.current('waybill', waybillKey);
    if (waybill !== null && waybill.appTime! < list.appTime! - policy.waybillWindowDays * DAY) waybill = null; // §4 reuse window
    const receipt = this.current('receipt', [str(L.ebcCode), str(L.orderNo)].join('|'));

    // order
    if (order === null) {
      if (this.orderOfOtherParty(L)) reasons.set('ORDER_PARTY_MISMATCH', 'R');
      else reasons.set('ORDER_MISSING', 'P');
    } else {
      this.checkOrder(list, order, tol, reasons);
      // §4 PAYMENT_MISMATCH: a receipt is open, its charge differs from the order's goodsValue
      if (receipt !== null && abs(big(receipt.row.charge) - big(order.row.goodsValue)) > tol) reasons.set('PAYMENT_MISMATCH', 'V');
    }
    // §4 PAYMENT_MISSING
    if (policy.receiptRequiredModes.includes(str(L.tradeMode)) && receipt === null) reasons.set('PAYMENT_MISSING', 'P');

    // waybill
    if (waybill === null) reasons.set('WAYBILL_MISSING', 'P');
    else this.checkWaybill(list, waybill, policy, reasons);

    // the list alone
    if (big(L.netWeight) > big(L.grossWeight)) reasons.set('NET_OVER_GROSS', 'R');
    this.checkValueRules(list, policy, reasons);
    found(order === null ? null : orderKey, waybill === null ? null : waybillKey);
  }

  /** §4 ORDER_PARTY_MISMATCH: an order with the list's (ebpCode, orderNo) but another ebcCode. */
  private orderOfOtherParty(L: TypedRow): boolean {
    for (const [key] of this.versions.get('order')!) {
      const [ebp, ebc, no] = key.split('|');
      if (ebp === str(L.ebpCode) && no === str(L.orderNo) && ebc !== str(L.ebcCode) && this.current('order', key) !== null) return true;
    }
    return false;
  }

  /** §4 ORDER_TYPE_MISMATCH, LINE_COUNT_MISMATCH, LINE_MISMATCH, VALUE_MISMATCH. */
  private checkOrder(list: Version, order: Version, tol: bigint, reasons: Map<string, 'R' | 'P' | 'V' | 'I'>): void {
    const wanted: Record<string, string> = { '9610': 'E', '1210': 'E', '9710': 'B', '9810': 'W' };
    if (wanted[str(list.row.tradeMode)] !== str(order.row.orderType)) reasons.set('ORDER_TYPE_MISMATCH', 'R');
    const ol = new Map(order.lines.map((l) => [Number(l.gnum), l]));
    const ll = new Map(list.lines.map((l) => [Number(l.gnum), l]));
    const sameSet = ol.size === ll.size && [...ll.keys()].every((g) => ol.has(g));
    if (!sameSet) reasons.set('LINE_COUNT_MISMATCH', 'R');
    for (const [g, a] of ll) {
      const b = ol.get(g);
      if (b === undefined) continue;
      const differs =
        str(a.itemNo) !== str(b.itemNo) ||
        str(a.unit) !== str(b.unit) ||
        normaliseCurrency(str(a.currency)) !== normaliseCurrency(str(b.currency)) ||
        abs(big(a.qty) - big(b.qty)) > tol ||
        abs(big(a.price) - big(b.price)) > tol ||
        abs(big(a.totalPrice) - big(b.totalPrice)) > tol;
      if (differs) reasons.set('LINE_MISMATCH', 'R');
    }
    let sum = 0n;
    for (const l of list.lines) sum += big(l.totalPrice);
    if (abs(sum - big(order.row.goodsValue)) > tol) reasons.set('VALUE_MISMATCH', 'R');
  }

  /** §4 WAYBILL_PARTY_MISMATCH, FREIGHT_, INSURANCE_, PACK_, WEIGHT_MISMATCH. */
  private checkWaybill(list: Version, wb: Version, policy: PolicyVersion, reasons: Map<string, 'R' | 'P' | 'V' | 'I'>): void {
    const L = list.row;
    const W = wb.row;
    const tol = policy.amountTolerance;
    if (str(W.ebcCode) !== '' && str(W.ebcCode) !== str(L.ebcCode)) reasons.set('WAYBILL_PARTY_MISMATCH', 'R');
    if (str(L.fFlag) === '3' && abs(big(L.freight) - big(W.freight)) > tol) reasons.set('FREIGHT_MISMATCH', 'V');
    if (str(L.iFlag) === '3' && abs(big(L.insuredFee) - big(W.insuredFee)) > tol) reasons.set('INSURANCE_MISMATCH', 'V');
    if (Number(L.packNo) !== Number(W.packNo)) reasons.set('PACK_MISMATCH', 'V');
    // |list − waybill| > max(kg, pct % of the waybill's weight), exactly: both sides × 10^7
    const diff = abs(big(L.grossWeight) - big(W.grossWeight)) * 10_000_000n;
    const byKg = policy.weightToleranceKg * 10_000_000n;
    const byPct = big(W.grossWeight) * policy.weightTolerancePct;
    if (diff > (byKg > byPct ? byKg : byPct)) reasons.set('WEIGHT_MISMATCH', 'V');
  }

  /** §4 UNKNOWN_CURRENCY, B2B_OVER_THRESHOLD, B2B_CONTROLLED_GOODS, SIMPLIFIED_NOT_ELIGIBLE. */
  private checkValueRules(list: Version, policy: PolicyVersion, reasons: Map<string, 'R' | 'P' | 'V' | 'I'>): void {
    const L = list.row;
    const value = this.cnyValue(list);
    if (value === null) reasons.set('UNKNOWN_CURRENCY', 'R');
    const b2b = str(L.tradeMode) === '9710' || str(L.tradeMode) === '9810';
    const controlled = list.lines.some((l) => isControlled(this.ref, str(l.gcode)));
    const scale = 10n ** BigInt(RATE_SCALE); // value is × 10^13, thresholds × 10^5
    if (b2b && value !== null && value > policy.b2bThresholdCny * scale) reasons.set('B2B_OVER_THRESHOLD', 'R');
    if (b2b && controlled) reasons.set('B2B_CONTROLLED_GOODS', 'R');
    if (str(L.statisticsFlag) === 'A' && ((value !== null && value > policy.simplifiedThresholdCny * scale) || controlled))
      reasons.set('SIMPLIFIED_NOT_ELIGIBLE', 'R');
  }

  /** §4 DUPLICATE_LIST: decided RELEASE, INSPECT or REVIEW on an earlier day and not cancelled. */
  private checkDuplicate(key: string, reasons: Map<string, 'R' | 'P' | 'V' | 'I'>): void {
    if (this.lists.get(key)?.positiveNotCancelled) reasons.set('DUPLICATE_LIST', 'R');
  }

  /** §4 grace (README: age = end of the business day − appTime; pending while age < grace): past it, P counts as R. */
  private applyGrace(list: Version, policy: PolicyVersion, endOfDay: number, reasons: Map<string, 'R' | 'P' | 'V' | 'I'>): void {
    const age = endOfDay - list.appTime!;
    if (age < policy.graceDays * DAY) return;
    for (const [code, sev] of reasons) if (sev === 'P') reasons.set(code, 'R');
  }

  /** §6 risk selection: profiles, value bands, the random sample. */
  private riskSelect(list: Version, policy: PolicyVersion, invtNo: string, value: bigint | null, reasons: Map<string, 'R' | 'P' | 'V' | 'I'>): void {
    const L = list.row;
    const date = dateOfSeconds(list.appTime!);
    const month = date.slice(0, 7);
    const scale = 10n ** BigInt(RATE_SCALE);
    // 1. RISK_PROFILE: every condition met (empty = any), inclusive ranges and dates, drawn with seed ‖ id
    for (const p of this.ref.riskProfiles) {
      if (p.gcodePrefix !== null && !list.lines.some((l) => str(l.gcode).startsWith(p.gcodePrefix!))) continue;
      if (p.ebcCode !== null && p.ebcCode !== str(L.ebcCode)) continue;
      if (p.ownerCode !== null && p.ownerCode !== str(L.ownerCode)) continue;
      if (p.country !== null && p.country !== str(L.country)) continue;
      if (p.tradeMode !== null && p.tradeMode !== str(L.tradeMode)) continue;
      if (p.customsCode !== null && p.customsCode !== str(L.customsCode)) continue;
      if (p.minValueCny !== null && (value === null || value < p.minValueCny * scale)) continue;
      if (p.maxValueCny !== null && (value === null || value > p.maxValueCny * scale)) continue;
      if (p.validFrom !== null && date < p.validFrom) continue;
      if (p.validTo !== null && date > p.validTo) continue;
      if (drawSelects(policy.randomSeed + p.id, invtNo, p.rate)) reasons.set('RISK_PROFILE', 'I');
    }
    // 2. VALUE_BAND: a line's CNY unit price outside [min, max] for its HS-6 and the line's country
    for (const l of list.lines) {
      const band = this.ref.valueBands.get(`${str(l.gcode).slice(0, 6)}|${str(l.country)}`);
      if (band === undefined) continue;
      const rate = rateFor(this.ref, str(l.currency), month);
      if (rate === null) continue;
      const unit = big(l.price) * rate; // × 10^13
      if (unit < band.min * scale || unit > band.max * scale) reasons.set('VALUE_BAND', 'I');
    }
    // 3. RANDOM_SAMPLE: the mode's rate, × the AEO factor for an AEO ebcCode
    let rate = policy.randomRates[str(L.tradeMode)]!;
    if (this.ref.aeo.has(str(L.ebcCode))) rate = multiplyRates(rate, policy.aeoFactor);
    if (drawSelects(policy.randomSeed, invtNo, rate)) reasons.set('RANDOM_SAMPLE', 'I');
  }

  // -------------------------------------------------------------------------------------------
  // §7 returns, against the lists as they stand after this run's decisions

  private decideReturns(): ReturnDecision[] {
    const todays: Version[] = [];
    for (const [key] of this.versions.get('return')!) {
      const r = this.current('return', key);
      if (r !== null && r.day === this.day) todays.push(r); // a return whose current version came today
    }
    // taken in (appTime, agentCode, coElNo) order
    todays.sort((a, b) => a.appTime! - b.appTime! || cmp(str(a.row.agentCode), str(b.row.agentCode)) || cmp(str(a.row.coElNo), str(b.row.coElNo)));
    const out: ReturnDecision[] = [];
    for (const r of todays) {
      const R = r.row;
      const policy = policyFor(this.policy, dateOfSeconds(r.appTime!));
      const reasons = new Set<string>();
      const invtNo = str(R.invtNo);
      let original: ListState | null = null;
      for (const s of this.lists.values()) if (s.invtNo === invtNo) original = s;
      const pendingAdds = new Map<string, bigint>();
      if (original === null) reasons.add('RETURN_ORIGINAL_MISSING');
      else {
        const O = original.version.row;
        if (original.decision !== 'RELEASE' && original.decision !== 'INSPECT') reasons.add('RETURN_ORIGINAL_NOT_RELEASED');
        if (returnExpired(dateOfSeconds(r.appTime!), Number(O.ieDate), policy.returnWindowMonths)) reasons.add('RETURN_EXPIRED');
        if (!policy.returnModes.includes(str(O.tradeMode))) reasons.add('RETURN_MODE_NOT_ELIGIBLE');
        if (str(R.ebpCode) !== str(O.ebpCode) || str(R.ebcCode) !== str(O.ebcCode)) reasons.add('RETURN_PARTY_MISMATCH');
        const lines = new Map(original.version.lines.map((l) => [Number(l.gnum), l]));
        for (const rl of r.lines) {
          const ol = lines.get(Number(rl.gnum));
          if (ol === undefined || str(rl.gcode) !== str(ol.gcode) || str(rl.gname) !== str(ol.gname) || str(rl.gmodel) !== str(ol.gmodel) || str(rl.unit) !== str(ol.unit)) {
            reasons.add('RETURN_LINE_MISMATCH');
            if (ol === undefined) continue;
          }
          const k = `${invtNo}|${Number(rl.gnum)}`;
          const before = (this.returned.get(k) ?? 0n) + (pendingAdds.get(k) ?? 0n);
          if (before + big(rl.qty) > big(ol.qty)) reasons.add('RETURN_QTY_EXCEEDED');
          pendingAdds.set(k, (pendingAdds.get(k) ?? 0n) + big(rl.qty));
        }
        if (!crossDistrictAllowed(policy, str(R.customsCode), str(O.customsCode), str(O.tradeMode))) reasons.add('RETURN_CROSS_DISTRICT_NOT_ALLOWED');
      }
      const decision = reasons.size === 0 ? 'ACCEPT' : 'REJECT';
      if (decision === 'ACCEPT') for (const [k, q] of pendingAdds) this.returned.set(k, (this.returned.get(k) ?? 0n) + q);
      out.push({
        agentCode: str(R.agentCode),
        coElNo: str(R.coElNo),
        invtNo: invtNo || null,
        decision,
        reasons: [...reasons].sort(),
        policyId: policy.id,
      });
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// small rules

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** §4 ownership / §2 invtNo order: (appTime, agentCode, copNo). */
function byListOrder(a: { v: Version; agentCode: string; copNo: string }, b: { v: Version; agentCode: string; copNo: string }): number {
  return a.v.appTime! - b.v.appTime! || cmp(a.agentCode, b.agentCode) || cmp(a.copNo, b.copNo);
}

function hasSeverity(reasons: Map<string, string>, sev: string): boolean {
  for (const s of reasons.values()) if (s === sev) return true;
  return false;
}

/** §5 precedence: REJECT, PENDING, REVIEW, INSPECT, RELEASE. */
function decisionOf(reasons: Map<string, string>): string {
  if (hasSeverity(reasons, 'R')) return 'REJECT';
  if (hasSeverity(reasons, 'P')) return 'PENDING';
  if (hasSeverity(reasons, 'V')) return 'REVIEW';
  if (hasSeverity(reasons, 'I')) return 'INSPECT';
  return 'RELEASE';
}

/** §2 customsCode (4) + year of appTime (4) + E + day of year of the run (3) + rank (8). */
function assignInvtNo(customs: string, list: Version, D: string, rank: number): string {
  const year = dateOfSeconds(list.appTime!).slice(0, 4);
  return `${customs}${year}E${String(dayOfYear(D)).padStart(3, '0')}${String(rank).padStart(8, '0')}`;
}

/** §7 RETURN_EXPIRED (README): the return's appTime date is after ieDate + N calendar months. */
function returnExpired(returnDate: string, ieDateDays: number, months: number): boolean {
  const ie = new Date(ieDateDays * DAY * 1000);
  const y = ie.getUTCFullYear();
  const m = ie.getUTCMonth() + months;
  const ty = y + Math.floor(m / 12);
  const tm = m % 12;
  const dim = new Date(Date.UTC(ty, tm + 1, 0)).getUTCDate();
  const limit = new Date(Date.UTC(ty, tm, Math.min(ie.getUTCDate(), dim))).toISOString().slice(0, 10);
  return returnDate > limit;
}

/** §7 district rule: the same district, or the policy of the return's date allows it. */
function crossDistrictAllowed(policy: PolicyVersion, returnCustoms: string, originalCustoms: string, originalMode: string): boolean {
  const rd = districtOf(returnCustoms);
  if (rd === districtOf(originalCustoms)) return true;
  const x = policy.crossDistrictReturns;
  if (!x.modes.includes(originalMode)) return false;
  return x.districts === 'any' || x.districts.includes(rd);
}

/** An exact scaled integer as decimal text with `scale` digits after the point. */
export function formatScaled(v: bigint, scale: number): string {
  const neg = v < 0n;
  const a = neg ? -v : v;
  const s = a.toString().padStart(scale + 1, '0');
  return `${neg ? '-' : ''}${s.slice(0, -scale)}.${s.slice(-scale)}`;
}
