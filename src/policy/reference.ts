/**
 * Reference data (RULES.md §9): bundled illustrative defaults in `src/policy/defaults/`; a
 * `--reference DIR` replaces any of them by a CSV file of the same name and columns.
 *
 * CSV files: UTF-8, RFC 4180, comment lines starting with `#` allowed before the header, one header
 * row naming exactly the file's columns (any order), cells trimmed, blank lines ignored.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseDecimal } from '../spec/validate.js';
import { CsvError, parseCsvRecords } from './csv.js';
import { PolicyError, TRADE_MODES, bundledDefaultsDir, isDate, isMonth, parseScaled } from './common.js';
import { parseRate, type Rate } from './policy.js';

export { PolicyError, bundledDefaultsDir } from './common.js';

/** Exchange rates are CNY per unit × 10^RATE_SCALE. */
export const RATE_SCALE = 8;
const RATE_ONE = 10n ** BigInt(RATE_SCALE);

export type ControlKind = 'licence' | 'inspection' | 'duty';

export interface RiskProfile {
  readonly id: string;
  readonly gcodePrefix: string | null;
  readonly ebcCode: string | null;
  readonly ownerCode: string | null;
  readonly country: string | null;
  readonly tradeMode: string | null;
  readonly customsCode: string | null;
  /** × 10^5 */
  readonly minValueCny: bigint | null;
  /** × 10^5 */
  readonly maxValueCny: bigint | null;
  /** YYYY-MM-DD, inclusive */
  readonly validFrom: string | null;
  /** YYYY-MM-DD, inclusive */
  readonly validTo: string | null;
  readonly rate: Rate;
}

export interface Reference {
  /** file name → path it came from */
  readonly source: Readonly<Record<string, string>>;
  /** key `${currency}|${month}` (numeric currency, YYYY-MM) → CNY per unit × 10^8 */
  readonly rates: ReadonlyMap<string, bigint>;
  readonly controlled: readonly { readonly hsPrefix: string; readonly kind: ControlKind }[];
  /** AEO enterprise code → name */
  readonly aeo: ReadonlyMap<string, string>;
  readonly riskProfiles: readonly RiskProfile[];
  /** key `${hs6}|${country}` → unit price band in CNY × 10^5, inclusive */
  readonly valueBands: ReadonlyMap<string, { readonly min: bigint; readonly max: bigint }>;
  /** customs office code → name and district */
  readonly customsOffices: ReadonlyMap<string, { readonly name: string; readonly district: string }>;
}

const FILES = {
  exchange_rates: 'exchange_rates.csv',
  controlled_goods: 'controlled_goods.csv',
  aeo_enterprises: 'aeo_enterprises.csv',
  risk_profiles: 'risk_profiles.csv',
  value_bands: 'value_bands.csv',
  customs_offices: 'customs_offices.csv',
} as const;
/** The reference file names a `--reference` folder may hold. */
export const REFERENCE_FILES: readonly string[] = Object.values(FILES);

const COLUMNS: Record<string, readonly string[]> = {
  [FILES.exchange_rates]: ['currency', 'month', 'cny_per_unit'],
  [FILES.controlled_goods]: ['hs_prefix', 'kind'],
  [FILES.aeo_enterprises]: ['code', 'name'],
  [FILES.risk_profiles]: [
    'id', 'gcode_prefix', 'ebc_code', 'owner_code', 'country', 'trade_mode', 'customs_code',
    'min_value_cny', 'max_value_cny', 'valid_from', 'valid_to', 'rate',
  ],
  [FILES.value_bands]: ['hs6', 'country', 'min_unit_price_cny', 'max_unit_price_cny'],
  [FILES.customs_offices]: ['code', 'name', 'district'],
};

/** ISO letters → numeric customs currency codes (RULES.md §2). */
export const ISO_CURRENCIES: Readonly<Record<string, string>> = {
  CNY: '142', USD: '502', HKD: '110', JPY: '116', EUR: '300', GBP: '303', AUD: '601', CAD: '501',
  SGD: '132', NZD: '609', KRW: '133',
};

/** Trims; ISO letters (CNY, USD, …) → numeric customs code; anything else returned trimmed. */
export function normaliseCurrency(code: string): string {
  const c = code.trim();
  return ISO_CURRENCIES[c] ?? c;
}

/** District of a customs office: first two characters followed by `00`. */
export function districtOf(customsCode: string): string {
  return `${customsCode.trim().slice(0, 2)}00`;
}

/** CNY per unit × 10^8 for the currency in the month (YYYY-MM); 142 (CNY) → 10^8; null if none. */
export function rateFor(ref: Reference, currency: string, month: string): bigint | null {
  const c = normaliseCurrency(currency);
  if (c === '142') return RATE_ONE;
  return ref.rates.get(`${c}|${month}`) ?? null;
}

const controlIndex = new WeakMap<Reference, { lengths: number[]; prefixes: Set<string> }>();

/** True when the goods code starts with a prefix in the controlled-goods table (any kind). */
export function isControlled(ref: Reference, gcode: string): boolean {
  let idx = controlIndex.get(ref);
  if (idx === undefined) {
    const prefixes = new Set(ref.controlled.map((c) => c.hsPrefix));
    idx = { prefixes, lengths: [...new Set([...prefixes].map((p) => p.length))] };
    controlIndex.set(ref, idx);
  }
  const g = gcode.trim();
  for (const n of idx.lengths) if (g.length >= n && idx.prefixes.has(g.slice(0, n))) return true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// Loading

interface Row {
  readonly line: number;
  /** column → trimmed cell */
  readonly cell: Readonly<Record<string, string>>;
}

class RowFail extends Error {}

/** Reads one reference CSV: comment lines, header check, column counts; returns trimmed rows. */
function readTable(name: string, path: string): Row[] {
  const fail = (line: number | undefined, detail: string): never => {
    throw new PolicyError('REFERENCE_INVALID', path, line, detail);
  };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return fail(undefined, `cannot read ${name} (${(e as Error).message})`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  // Comment lines (starting with #) and blank lines before the header are skipped.
  let pos = 0;
  let line = 1;
  for (;;) {
    const nl = text.indexOf('\n', pos);
    const raw = text.slice(pos, nl < 0 ? text.length : nl).replace(/\r$/, '');
    if (nl >= 0 && (raw.startsWith('#') || raw.trim() === '')) {
      pos = nl + 1;
      line++;
      continue;
    }
    if (nl < 0 && (raw.startsWith('#') || raw.trim() === '')) pos = text.length;
    break;
  }
  let records;
  try {
    records = parseCsvRecords(text.slice(pos), line);
  } catch (e) {
    if (e instanceof CsvError) return fail(e.line, `not valid CSV: ${e.message.replace(/^line \d+: /, '')}`);
    throw e;
  }
  records = records.filter((r) => !(r.fields.length === 1 && r.fields[0]!.trim() === ''));
  const expected = COLUMNS[name]!;
  const header = records.shift();
  if (header === undefined) return fail(undefined, `no header row; the first line must be: ${expected.join(',')}`);
  const names = header.fields.map((f) => f.trim());
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) fail(header.line, `column ${JSON.stringify(n)} appears twice in the header`);
    seen.add(n);
  }
  const missing = expected.filter((c) => !seen.has(c));
  const extra = names.filter((c) => !expected.includes(c));
  if (missing.length > 0 || extra.length > 0)
    fail(
      header.line,
      [
        missing.length > 0 ? `missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}` : '',
        extra.length > 0 ? `unknown column${extra.length > 1 ? 's' : ''} ${extra.map((c) => JSON.stringify(c)).join(', ')}` : '',
      ]
        .filter(Boolean)
        .join('; ') + `; the header must be: ${expected.join(',')}`,
    );
  return records.map((r) => {
    if (r.fields.length !== names.length)
      fail(r.line, `${r.fields.length} fields, but the header has ${names.length} columns (${names.join(',')})`);
    const cell: Record<string, string> = {};
    names.forEach((n, i) => (cell[n] = r.fields[i]!.trim()));
    return { line: r.line, cell };
  });
}

/** Runs `each` on every row, turning RowFail into a PolicyError for that file and line. */
function eachRow(path: string, rows: Row[], each: (r: Row) => void): void {
  for (const r of rows) {
    try {
      each(r);
    } catch (e) {
      if (e instanceof RowFail) throw new PolicyError('REFERENCE_INVALID', path, r.line, e.message);
      throw e;
    }
  }
}

const rowFail = (detail: string): never => {
  throw new RowFail(detail);
};

function required(r: Row, col: string): string {
  const v = r.cell[col]!;
  return v === '' ? rowFail(`${col} is empty; it is required`) : v;
}
function optional(r: Row, col: string): string | null {
  const v = r.cell[col]!;
  return v === '' ? null : v;
}
function digits(col: string, v: string, min: number, max: number): string {
  if (!/^\d+$/.test(v) || v.length < min || v.length > max)
    rowFail(`${col} ${JSON.stringify(v)} must be ${min === max ? min : `${min} to ${max}`} digits`);
  return v;
}
function amount(col: string, v: string): bigint {
  const d = parseDecimal(v);
  if (typeof d === 'string') return rowFail(`${col} ${JSON.stringify(v)} is not a decimal (${d})`);
  if (d < 0n) return rowFail(`${col} ${JSON.stringify(v)} must not be negative`);
  return d;
}
function date(col: string, v: string): string {
  return isDate(v) ? v : rowFail(`${col} ${JSON.stringify(v)} is not a date written YYYY-MM-DD`);
}
function dup<K>(seen: Map<K, number>, key: K, what: string): void {
  const first = seen.get(key);
  if (first !== undefined) rowFail(`duplicate ${what}; already given on line ${first}`);
}

function loadExchangeRates(path: string): Map<string, bigint> {
  const rows = readTable(FILES.exchange_rates, path);
  const out = new Map<string, bigint>();
  const lines = new Map<string, number>();
  eachRow(path, rows, (r) => {
    const raw = required(r, 'currency');
    const cur = normaliseCurrency(raw);
    if (!/^\d{3}$/.test(cur))
      rowFail(`currency ${JSON.stringify(raw)} is not a numeric customs currency code (3 digits, e.g. 502) or a known ISO code`);
    const month = required(r, 'month');
    if (!isMonth(month)) rowFail(`month ${JSON.stringify(month)} is not a month written YYYY-MM`);
    const text = required(r, 'cny_per_unit');
    const v = parseScaled(text, RATE_SCALE);
    if (typeof v === 'string') return rowFail(`cny_per_unit ${v} (expected a positive decimal with at most ${RATE_SCALE} digits after the point, e.g. 7.1234)`);
    if (v === 0n) rowFail('cny_per_unit must be greater than 0');
    if (cur === '142' && v !== RATE_ONE) rowFail(`currency 142 (CNY) is 1 CNY per unit by definition; remove the row or give 1`);
    const key = `${cur}|${month}`;
    dup(lines, key, `rate for currency ${cur} in ${month}`);
    lines.set(key, r.line);
    out.set(key, v);
  });
  return out;
}

const KINDS: readonly string[] = ['licence', 'inspection', 'duty'];

function loadControlled(path: string): { hsPrefix: string; kind: ControlKind }[] {
  const rows = readTable(FILES.controlled_goods, path);
  const out: { hsPrefix: string; kind: ControlKind }[] = [];
  const lines = new Map<string, number>();
  eachRow(path, rows, (r) => {
    const hsPrefix = digits('hs_prefix', required(r, 'hs_prefix'), 2, 10);
    const kind = required(r, 'kind');
    if (!KINDS.includes(kind)) rowFail(`kind ${JSON.stringify(kind)} is not one of ${KINDS.join(', ')}`);
    const key = `${hsPrefix}|${kind}`;
    dup(lines, key, `hs_prefix ${hsPrefix} with kind ${kind}`);
    lines.set(key, r.line);
    out.push(Object.freeze({ hsPrefix, kind: kind as ControlKind }));
  });
  return out;
}

function loadAeo(path: string): Map<string, string> {
  const rows = readTable(FILES.aeo_enterprises, path);
  const out = new Map<string, string>();
  const lines = new Map<string, number>();
  eachRow(path, rows, (r) => {
    const code = required(r, 'code');
    dup(lines, code, `code ${code}`);
    lines.set(code, r.line);
    out.set(code, r.cell.name!);
  });
  return out;
}

function loadRiskProfiles(path: string): RiskProfile[] {
  const rows = readTable(FILES.risk_profiles, path);
  const out: RiskProfile[] = [];
  const lines = new Map<string, number>();
  eachRow(path, rows, (r) => {
    const id = required(r, 'id');
    dup(lines, id, `profile id ${id}`);
    lines.set(id, r.line);
    const gcodePrefix = optional(r, 'gcode_prefix');
    if (gcodePrefix !== null) digits('gcode_prefix', gcodePrefix, 1, 10);
    const tradeMode = optional(r, 'trade_mode');
    if (tradeMode !== null && !TRADE_MODES.includes(tradeMode))
      rowFail(`trade_mode ${JSON.stringify(tradeMode)} is not one of ${TRADE_MODES.join(', ')}`);
    const customsCode = optional(r, 'customs_code');
    if (customsCode !== null) digits('customs_code', customsCode, 4, 4);
    const minText = optional(r, 'min_value_cny');
    const maxText = optional(r, 'max_value_cny');
    const minValueCny = minText === null ? null : amount('min_value_cny', minText);
    const maxValueCny = maxText === null ? null : amount('max_value_cny', maxText);
    if (minValueCny !== null && maxValueCny !== null && minValueCny > maxValueCny)
      rowFail(`min_value_cny ${minText} is greater than max_value_cny ${maxText}`);
    const fromText = optional(r, 'valid_from');
    const toText = optional(r, 'valid_to');
    const validFrom = fromText === null ? null : date('valid_from', fromText);
    const validTo = toText === null ? null : date('valid_to', toText);
    if (validFrom !== null && validTo !== null && validFrom > validTo)
      rowFail(`valid_from ${validFrom} is after valid_to ${validTo}`);
    const rateText = required(r, 'rate');
    const rate = parseRate(rateText);
    if (typeof rate === 'string') return rowFail(`rate: ${rate}`);
    out.push(
      Object.freeze({
        id,
        gcodePrefix,
        ebcCode: optional(r, 'ebc_code'),
        ownerCode: optional(r, 'owner_code'),
        country: optional(r, 'country'),
        tradeMode,
        customsCode,
        minValueCny,
        maxValueCny,
        validFrom,
        validTo,
        rate,
      }),
    );
  });
  return out;
}

function loadValueBands(path: string): Map<string, { min: bigint; max: bigint }> {
  const rows = readTable(FILES.value_bands, path);
  const out = new Map<string, { min: bigint; max: bigint }>();
  const lines = new Map<string, number>();
  eachRow(path, rows, (r) => {
    const hs6 = digits('hs6', required(r, 'hs6'), 6, 6);
    const country = required(r, 'country');
    const minText = required(r, 'min_unit_price_cny');
    const maxText = required(r, 'max_unit_price_cny');
    const min = amount('min_unit_price_cny', minText);
    const max = amount('max_unit_price_cny', maxText);
    if (min > max) rowFail(`min_unit_price_cny ${minText} is greater than max_unit_price_cny ${maxText}`);
    const key = `${hs6}|${country}`;
    dup(lines, key, `band for hs6 ${hs6} and country ${country}`);
    lines.set(key, r.line);
    out.set(key, Object.freeze({ min, max }));
  });
  return out;
}

function loadCustomsOffices(path: string): Map<string, { name: string; district: string }> {
  const rows = readTable(FILES.customs_offices, path);
  const out = new Map<string, { name: string; district: string }>();
  const lines = new Map<string, number>();
  eachRow(path, rows, (r) => {
    const code = digits('code', required(r, 'code'), 4, 4);
    const district = required(r, 'district');
    if (district !== districtOf(code))
      rowFail(`district ${JSON.stringify(district)} does not fit code ${code}; a district is the first two digits of the code followed by 00 (${districtOf(code)})`);
    dup(lines, code, `code ${code}`);
    lines.set(code, r.line);
    out.set(code, Object.freeze({ name: r.cell.name!, district }));
  });
  return out;
}

/**
 * Loads the reference data: the bundled defaults, each replaced by the file of the same name in
 * `dir` when there is one. Throws PolicyError (REFERENCE_INVALID) naming the file and line.
 */
export function loadReference(dir?: string): Reference {
  const bundled = bundledDefaultsDir();
  const override = new Set<string>();
  if (dir !== undefined) {
    const abs = resolve(dir);
    let entries: string[];
    try {
      if (!statSync(abs).isDirectory()) throw new Error('not a folder');
      entries = readdirSync(abs);
    } catch (e) {
      throw new PolicyError('REFERENCE_INVALID', abs, undefined, `the --reference folder cannot be read (${(e as Error).message})`);
    }
    for (const f of entries) {
      if (!f.toLowerCase().endsWith('.csv')) continue;
      if (!REFERENCE_FILES.includes(f))
        throw new PolicyError(
          'REFERENCE_INVALID',
          join(abs, f),
          undefined,
          `not a reference file name; a --reference folder may hold ${REFERENCE_FILES.join(', ')}`,
        );
      override.add(f);
    }
  }
  const source: Record<string, string> = {};
  const pick = (name: string): string => {
    const path = override.has(name) ? join(resolve(dir!), name) : join(bundled, name);
    if (!override.has(name) && !existsSync(path))
      throw new PolicyError('REFERENCE_INVALID', path, undefined, `the bundled ${name} is missing from the installation`);
    source[name] = path;
    return path;
  };
  const ref: Reference = {
    rates: loadExchangeRates(pick(FILES.exchange_rates)),
    controlled: Object.freeze(loadControlled(pick(FILES.controlled_goods))),
    aeo: loadAeo(pick(FILES.aeo_enterprises)),
    riskProfiles: Object.freeze(loadRiskProfiles(pick(FILES.risk_profiles))),
    valueBands: loadValueBands(pick(FILES.value_bands)),
    customsOffices: loadCustomsOffices(pick(FILES.customs_offices)),
    source: Object.freeze(source),
  };
  return Object.freeze(ref);
}
