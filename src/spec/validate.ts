/**
 * Record validation against the field spec (RULES.md §3): raw text per field in, a typed row or a
 * list of field findings out. Values are trimmed first (RULES.md §2 normalisation); an empty value
 * counts as absent.
 */
import type { FieldSpec, RecordSpec } from './fields.js';

export type FieldCode = 'FIELD_REQUIRED' | 'FIELD_LENGTH' | 'FIELD_FORMAT' | 'FIELD_VALUE';

export interface FieldError {
  readonly field: string;
  readonly code: FieldCode;
  readonly detail: string;
}

/**
 * A typed value: strings stay strings, decimals are exact scaled integers (value × 10^5),
 * integers are numbers, timestamps are seconds since 1970-01-01T00:00:00 of the wall clock as
 * written (China Standard Time, no zone), dates are days since 1970-01-01.
 */
export type TypedValue = string | bigint | number | null;
export type RawRecord = Readonly<Record<string, string | undefined | null>>;
export type TypedRow = Record<string, TypedValue>;

export type Validation =
  | { readonly ok: true; readonly row: TypedRow }
  | { readonly ok: false; readonly row: TypedRow; readonly errors: readonly FieldError[] };

export const DECIMAL_SCALE = 5;
const SCALE = 10n ** BigInt(DECIMAL_SCALE);
/** Scaled decimals the staging DECIMAL(19,5) holds are below this in magnitude. */
const STAGED_DECIMAL_LIMIT = 10n ** 19n;

const DECIMAL_RE = /^([+-]?)(\d*)(?:\.(\d*))?$/;
const INT_RE = /^([+-]?)(\d+)$/;

/** Characters as XSD counts them (code points), not UTF-16 units. */
export function charLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const u = s.charCodeAt(i);
    if (u >= 0xd800 && u <= 0xdbff) n--;
  }
  return n;
}

/** Parses an xs:decimal with the spec's digit limits; returns the value × 10^5 or an error text. */
export function parseDecimal(text: string, totalDigits = 19, fractionDigits = DECIMAL_SCALE): bigint | string {
  return fastDecimal(text, totalDigits, fractionDigits) ?? parseDecimalText(text, totalDigits, fractionDigits);
}

/**
 * parseDecimal for the common case, without a regular expression or a digit string: a plain valid
 * decimal of at most 10 digits before the point (its scaled value is a safe integer). Anything else
 * (signs and points only, other characters, too many digits, an error) is left to
 * `parseDecimalText` (undefined). Equal to it wherever it answers (test/validate.test.ts).
 */
function fastDecimal(text: string, totalDigits: number, fractionDigits: number): bigint | undefined {
  const n = text.length;
  let i = 0;
  let neg = false;
  let c = n > 0 ? text.charCodeAt(0) : 0;
  if (c === 45 || c === 43) {
    neg = c === 45;
    i = 1;
  }
  let digits = false;
  let intVal = 0;
  let intDigits = 0; // after leading zeros
  for (; i < n; i++) {
    c = text.charCodeAt(i);
    if (c < 48 || c > 57) break;
    digits = true;
    if (intDigits > 0 || c !== 48) {
      intDigits++;
      intVal = intVal * 10 + (c - 48);
    }
  }
  let fracVal = 0;
  let fracDigits = 0; // up to the last non-zero digit
  if (i < n) {
    if (c !== 46) return undefined;
    let pos = 0;
    for (i++; i < n; i++) {
      c = text.charCodeAt(i);
      if (c < 48 || c > 57) return undefined;
      digits = true;
      pos++;
      if (pos > DECIMAL_SCALE) {
        if (c !== 48) return undefined;
        continue;
      }
      fracVal = fracVal * 10 + (c - 48);
      if (c !== 48) fracDigits = pos;
    }
    for (let k = Math.min(pos, DECIMAL_SCALE); k < DECIMAL_SCALE; k++) fracVal *= 10;
  }
  if (!digits || intDigits > 10 || fracDigits > fractionDigits || intDigits + fracDigits > totalDigits) return undefined;
  const v = intVal * 100_000 + fracVal;
  return BigInt(neg ? -v : v);
}

/** parseDecimal by its definition: the reference for `fastDecimal`, and the path of everything else. */
export function parseDecimalText(text: string, totalDigits = 19, fractionDigits = DECIMAL_SCALE): bigint | string {
  const m = DECIMAL_RE.exec(text);
  if (!m || (m[2] === '' && (m[3] === undefined || m[3] === ''))) return `not a decimal number: ${quote(text)}`;
  const sign = m[1] === '-' ? -1n : 1n;
  const intPart = (m[2] ?? '').replace(/^0+/, '');
  const frac = (m[3] ?? '').replace(/0+$/, '');
  if (frac.length > fractionDigits)
    return `${quote(text)} has ${frac.length} digits after the point, at most ${fractionDigits} allowed`;
  if (intPart.length + frac.length > totalDigits)
    return `${quote(text)} has ${intPart.length + frac.length} digits, at most ${totalDigits} allowed`;
  return sign * BigInt((intPart || '0') + frac.padEnd(DECIMAL_SCALE, '0'));
}

/** Formats a scaled decimal back to text with exactly 5 digits after the point. */
export function formatDecimal(v: bigint): string {
  const neg = v < 0n;
  const a = neg ? -v : v;
  const int = a / SCALE;
  const frac = (a % SCALE).toString().padStart(DECIMAL_SCALE, '0');
  return `${neg ? '-' : ''}${int}.${frac}`;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
function validYmd(y: number, mo: number, d: number): boolean {
  if (mo < 1 || mo > 12 || d < 1) return false;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const dim = mo === 2 && leap ? 29 : (DAYS_IN_MONTH[mo - 1] ?? 0);
  return d <= dim;
}

/**
 * Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil): what
 * Date.UTC gives ÷ 86,400,000, without a Date object and without Date.UTC's mapping of the years
 * 0–99 to 1900–1999 (year 0050 stays 50).
 */
function daysFromCivil(y: number, mo: number, d: number): number {
  const yy = mo <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (mo > 2 ? mo - 3 : mo + 9) + 2) / 5) + d - 1;
  return era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
}

/** The number written by the digits s[from..to), or -1 if one is not an ASCII digit. */
function digitsAt(s: string, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** `YYYYMMDDhhmmss` → seconds since epoch of that wall-clock time, or null when not a real time. */
export function parseTimestamp14(s: string): number | null {
  if (s.length !== 14) return null;
  const y = digitsAt(s, 0, 4);
  const mo = digitsAt(s, 4, 6);
  const d = digitsAt(s, 6, 8);
  const h = digitsAt(s, 8, 10);
  const mi = digitsAt(s, 10, 12);
  const se = digitsAt(s, 12, 14);
  if (y < 0 || h < 0 || mi < 0 || se < 0 || !validYmd(y, mo, d) || h > 23 || mi > 59 || se > 59) return null;
  return daysFromCivil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se;
}

/** `YYYYMMDD` → days since epoch, or null when not a real date. */
export function parseDate8(s: string): number | null {
  if (s.length !== 8) return null;
  const y = digitsAt(s, 0, 4);
  const mo = digitsAt(s, 4, 6);
  const d = digitsAt(s, 6, 8);
  if (y < 0 || !validYmd(y, mo, d)) return null;
  return daysFromCivil(y, mo, d);
}

function quote(s: string): string {
  const shown = s.length > 40 ? `${s.slice(0, 40)}…` : s;
  return JSON.stringify(shown);
}

/** Checks one field's raw text; pushes findings and returns the typed value (null when absent or bad). */
export function validateField(f: FieldSpec, raw: string | undefined | null, errors: FieldError[]): TypedValue {
  const text = raw == null ? '' : raw.trim();
  if (text === '') {
    if (f.required) errors.push({ field: f.name, code: 'FIELD_REQUIRED', detail: `${f.name} is required` });
    return null;
  }
  const before = errors.length;
  // code points ≤ UTF-16 units: a text no longer than maxLength units needs no count
  const counted = f.length !== undefined || f.minLength !== undefined || (f.maxLength !== undefined && text.length > f.maxLength);
  const n = counted ? charLength(text) : 0;
  if (f.length !== undefined && n !== f.length) {
    errors.push({ field: f.name, code: 'FIELD_LENGTH', detail: `${f.name} ${quote(text)} has ${n} characters, exactly ${f.length} required` });
  } else if (f.maxLength !== undefined && n > f.maxLength) {
    errors.push({ field: f.name, code: 'FIELD_LENGTH', detail: `${f.name} has ${n} characters, at most ${f.maxLength} allowed` });
  } else if (f.minLength !== undefined && n < f.minLength) {
    errors.push({ field: f.name, code: 'FIELD_LENGTH', detail: `${f.name} ${quote(text)} has ${n} characters, at least ${f.minLength} required` });
  }
  if (errors.length > before) return null;

  switch (f.type) {
    case 'string':
      if (f.fixed !== undefined && text !== f.fixed) {
        errors.push({ field: f.name, code: 'FIELD_VALUE', detail: `${f.name} ${quote(text)} must be ${quote(f.fixed)}` });
        return null;
      }
      if (f.allowed !== undefined && !f.allowed.includes(text)) {
        errors.push({ field: f.name, code: 'FIELD_VALUE', detail: `${f.name} ${quote(text)} is not one of ${f.allowed.join(', ')}` });
        return null;
      }
      return text;
    case 'decimal': {
      const v = parseDecimal(text, f.totalDigits, f.fractionDigits);
      if (typeof v === 'string') {
        errors.push({ field: f.name, code: 'FIELD_FORMAT', detail: `${f.name}: ${v}` });
        return null;
      }
      // valid by the spec (19 digits), but more than 14 before the point do not fit the staging
      // DECIMAL(19,5): a finding on the record, not a failure of its whole file
      if (v >= STAGED_DECIMAL_LIMIT || v <= -STAGED_DECIMAL_LIMIT) {
        errors.push({ field: f.name, code: 'FIELD_FORMAT', detail: `${f.name} ${quote(text)} has more than 14 digits before the point, more than declmatch stages (DECIMAL(19,5))` });
        return null;
      }
      return v;
    }
    case 'integer': {
      const m = INT_RE.exec(text);
      const digits = m ? (m[2] ?? '').replace(/^0+/, '') : '';
      if (!m || digits.length > (f.totalDigits ?? 9)) {
        errors.push({
          field: f.name,
          code: 'FIELD_FORMAT',
          detail: `${f.name} ${quote(text)} is not an integer of at most ${f.totalDigits ?? 9} digits`,
        });
        return null;
      }
      return Number(text);
    }
    case 'timestamp': {
      const v = parseTimestamp14(text);
      if (v === null) {
        errors.push({ field: f.name, code: 'FIELD_FORMAT', detail: `${f.name} ${quote(text)} is not a time YYYYMMDDhhmmss` });
      }
      return v;
    }
    case 'date': {
      const v = parseDate8(text);
      if (v === null) {
        errors.push({ field: f.name, code: 'FIELD_FORMAT', detail: `${f.name} ${quote(text)} is not a date YYYYMMDD` });
      }
      return v;
    }
  }
}

/** Validates one record of a type: every field of the spec, in spec order. */
export function validateRecord(spec: RecordSpec, raw: RawRecord): Validation {
  const errors: FieldError[] = [];
  const row: TypedRow = {};
  for (const f of spec.fields) row[f.name] = validateField(f, raw[f.name], errors);
  return errors.length === 0 ? { ok: true, row } : { ok: false, row, errors };
}
