/**
 * Tabular input (CSV, Parquet) as set-based SQL (issue #6): DuckDB reads the file and validates
 * every row itself, on the main connection inside ingest's transaction; no row becomes a JS value.
 * Per file: one `INSERT INTO stg_<table> SELECT … FROM read_parquet/read_csv(…)` stages every row
 * (typed values, `record_valid`, provenance), and one `INSERT INTO stg_quarantine SELECT …` writes
 * the field findings of the rows that failed, reading only those rows again.
 *
 * The result is the reference path's (src/ingest/tabular.ts + records.ts + spec/validate.ts), row
 * for row and finding for finding: the same reader and column text (`source`, `asText`), the same
 * column check (`planColumns`), and the validation SQL generated from the field specs of
 * spec/fields.ts, rule by rule as `validateField` applies them (trim as JS `String.prototype.trim`,
 * lengths in code points, decimals exact, timestamps `yyyyMMddHHmmss`, detail texts with values
 * quoted as `JSON.stringify` quotes them). test/tabular-sql.test.ts holds the two paths to that.
 *
 * DuckDB aborts a whole transaction on any failing statement (even a missing file), so what can
 * fail runs first on a second connection of the same instance, outside the transaction: DESCRIBE,
 * and a probe (see `probe`). A file the probe cannot read, and the rare case the SQL path does not
 * reproduce itself (a decimal too large for DECIMAL(19,5), which fails the reference reader), are
 * handed back (`null`) for the reference path to decide, so that even they end exactly as the
 * reference ends them. A statement that still fails inside the transaction throws
 * `TabularSqlError`: ingestDay runs the day again with that file by the reference path.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Db } from '../db/duck.js';
import { parentKeyFields, recordSpec, tabularColumns, HEAD_GUID, type FieldSpec, type RecordSpec } from '../spec/fields.js';
import { ident, lit, stagingTable } from '../spec/schema.js';
import { DECIMAL_SCALE } from '../spec/validate.js';
import type { ParseResult, ParseTask } from './parse-file.js';
import { asText, planColumns, source } from './tabular.js';

/** A failure of the SQL path inside the transaction (which DuckDB has aborted with it). */
export class TabularSqlError extends Error {
  constructor(
    readonly file: string,
    cause: unknown,
  ) {
    super(`tabular SQL ingest of ${file} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'TabularSqlError';
  }
}

export interface TabularSqlResult {
  /** As a parse worker would have returned it, with no batches: the rows are already staged. */
  result: ParseResult;
  /** Field findings already inserted into stg_quarantine (`result.quarantine` holds the rest). */
  findings: number;
}


/** `quote` of spec/validate.ts, for texts known when the SQL is generated. */
function quoteConst(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
}

/**
 * Every character that JS `String.prototype.trim` removes, as a DuckDB string literal (the
 * characters themselves: a `chr(…)` concatenation costs the planner far more).
 */
const JS_WHITESPACE_SQL = (() => {
  let chars = '';
  for (let c = 0; c <= 0xffff; c++) if (!(c >= 0xd800 && c <= 0xdfff) && String.fromCharCode(c).trim() === '') chars += String.fromCharCode(c);
  return lit(chars);
})();

/** Pseudo-code of a decimal that passes the spec but does not fit DECIMAL(19,5) (see the header). */
const OVERFLOW = '#OVERFLOW';

/** The trimmed text of `s`, NULL when empty: `(raw ?? '').trim()` of validateField. */
const trimmed = (s: string) => `nullif(trim(${s}, ${JS_WHITESPACE_SQL}), '')`;

const ASTRAL = `'[\\x{10000}-\\x{10FFFF}]'`;
/** Astral characters (two UTF-16 units each) in `s`. */
const astral = (s: string) => `(length(${s}) - length(regexp_replace(${s}, ${ASTRAL}, '', 'g')))`;

/** `JSON.stringify`'s escapes of a text (column `v`) with no lone surrogate. */
function jsonEscape(v: string): string {
  const named: Record<number, string> = { 8: '\\b', 9: '\\t', 10: '\\n', 12: '\\f', 13: '\\r' };
  const ctl = Object.entries(named).map(([c, e]) => `WHEN ord(c) = ${c} THEN ${lit(e)}`);
  const each = `CASE WHEN c = '"' THEN '\\"' WHEN c = '\\' THEN '\\\\' WHEN ord(c) >= 32 THEN c ${ctl.join(' ')} ELSE '\\u' || printf('%04x', ord(c)) END`;
  return `CASE WHEN regexp_matches(${v}, '[\\x00-\\x1f"\\\\]') THEN array_to_string(list_transform(string_split(${v}, ''), lambda c: ${each}), '') ELSE ${v} END`;
}

/**
 * `quote` of spec/validate.ts for the text in column `s`, as levels over `from` (adding column
 * `q`): `JSON.stringify` of the text cut to 40 UTF-16 units, `…` appended when cut. Without astral
 * characters UTF-16 units are code points; with them, the cut takes the k code points that fit in
 * 40 units, and a pair the cut splits leaves its high surrogate, escaped as JSON escapes it.
 */
function quoteLevels(s: string, from: string): string {
  const kind = `CASE WHEN strlen(${s}) <= 40 THEN 0 WHEN NOT regexp_matches(${s}, ${ASTRAL}) THEN 1 ELSE 2 END AS "q:kind"`;
  const k = `CASE WHEN "q:kind" = 2 THEN len(list_filter(range(1, 41), lambda i: i + ${astral(`substr(${s}, 1, i)`)} <= 40)) END AS "q:k"`;
  const body = `CASE "q:kind" WHEN 0 THEN ${s} WHEN 1 THEN substr(${s}, 1, 40) ELSE substr(${s}, 1, "q:k") END AS "q:body"`;
  const cut = `CASE "q:kind" WHEN 0 THEN false WHEN 1 THEN length(${s}) > 40 ELSE length(${s}) + ${astral(s)} > 40 END AS "q:cut"`;
  const high =
    `CASE WHEN "q:kind" = 2 AND "q:k" + ${astral(`substr(${s}, 1, "q:k")`)} = 39 AND length(${s}) > "q:k" ` +
    `THEN '\\u' || printf('%04x', 55296 + ((unicode(substr(${s}, "q:k" + 1, 1)) - 65536) >> 10)) ELSE '' END AS "q:high"`;
  const q = `'"' || ${jsonEscape('"q:body"')} || "q:high" || CASE WHEN "q:cut" THEN '…' ELSE '' END || '"' AS q`;
  return `SELECT *, ${q} FROM (SELECT *, ${body}, ${cut}, ${high} FROM (SELECT *, ${k} FROM (SELECT *, ${kind} FROM (${from}))))`;
}

// ---- the validation of one field, generated from its spec -----------------------------------------
//
// Levels of the generated query, per row:
//   r:  the column's text as the reference reads it (`asText`), NULL when the file lacks the column;
//   l:  its last character (for the fast check of free text);
//   f:  the fast check: true when the text is certainly valid as it stands (no surrounding white
//       space, within its lengths, of its format, or absent while the field is optional); most
//       fields of most rows pass it and take no other check;
//   t:  the trimmed text (NULL when absent): `r` itself where `f` holds;
//   e:  the finding code, by validateField's rules (NULL when the field is fine);
// and the typed staging value. Everything a slow (non-fast) field needs is computed inside the
// branches that only those fields reach.

const R = (name: string) => ident(`r:${name}`);
const F = (name: string) => ident(`f:${name}`);
const L = (name: string) => ident(`l:${name}`);
const T = (name: string) => ident(`t:${name}`);
const E = (name: string) => ident(`e:${name}`);
const RN = ident('#rn');

const DECIMAL_RE = `'[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)'`;
/** Decimals that DECIMAL(18,5) holds exactly as written (≤ 13 integer digits, ≤ 5 after the point). */
const FAST_DECIMAL_RE = `'[+-]?[0-9]{1,13}(\\.[0-9]{0,5})?'`;
/** A real calendar day, February 29 excepted (that one takes the slow path's leap-year rule). */
const FAST_MONTH_DAY = '((0[13578]|1[02])(0[1-9]|[12][0-9]|3[01])|(0[469]|11)(0[1-9]|[12][0-9]|30)|02(0[1-9]|1[0-9]|2[0-8]))';
const FAST_TIMESTAMP_RE = `'[0-9]{4}${FAST_MONTH_DAY}([01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]'`;
const FAST_DATE_RE = `'[0-9]{4}${FAST_MONTH_DAY}'`;

/**
 * Code point ranges in which no character is JS white space (from the same scan as the trim set),
 * as conditions on a text's first character: UTF-8 compares in code point order, so
 * `s >= chr(a) AND s < chr(b + 1)` holds exactly when `s` starts with a character in [a, b].
 */
const NOT_SPACE_RANGES: readonly [number, number][] = (() => {
  const ranges: [number, number][] = [];
  let from = -1;
  for (let c = 0x21; c <= 0x10ffff; c++) {
    const space = c <= 0xffff && !(c >= 0xd800 && c <= 0xdfff) && String.fromCharCode(c).trim() === '';
    const surrogate = c >= 0xd800 && c <= 0xdfff;
    if (!space && !surrogate && from < 0) from = c;
    if ((space || surrogate) && from >= 0) {
      ranges.push([from, c - 1]);
      from = -1;
    }
  }
  if (from >= 0) ranges.push([from, 0x10ffff]);
  // the commonest first: ASCII, then CJK and the rest of the BMP
  return ranges.sort((a, b) => (a[0] === 0x21 ? -1 : b[0] === 0x21 ? 1 : b[1] - b[0] - (a[1] - a[0])));
})();

/**
 * As CASE, not OR: in a projection DuckDB evaluates every operand of AND/OR on every row, but a
 * CASE tries its next WHEN only on the rows still undecided.
 */
function startsNotSpace(s: string): string {
  // the bound above a range: the next code point that UTF-8 can hold (no surrogates)
  const cp = (c: number) => lit(String.fromCodePoint(c >= 0xd800 && c <= 0xdfff ? 0xe000 : c));
  const whens = NOT_SPACE_RANGES.map(([a, b]) => `WHEN ${s} >= ${cp(a)}${b === 0x10ffff ? '' : ` AND ${s} < ${cp(b + 1)}`} THEN true`);
  return `(CASE ${whens.join(' ')} ELSE false END)`;
}

/** All of `conditions`, evaluated in order and only as far as needed (see startsNotSpace). */
function allOf(conditions: readonly string[]): string {
  if (conditions.length === 1) return conditions[0] as string;
  return `(CASE ${conditions.map((c) => `WHEN NOT ${c} THEN false`).join(' ')} ELSE true END)`;
}

/** validateField computes the character count for these fields (and compares 0 otherwise). */
const countsChars = (f: FieldSpec) => f.type === 'string' || f.length !== undefined || f.maxLength !== undefined;
const hasLengthFacet = (f: FieldSpec) => f.length !== undefined || f.maxLength !== undefined || f.minLength !== undefined;

/** Text without surrounding white space: the first and the last character are not JS white space. */
function untrimmable(column: string): string[] {
  return [startsNotSpace(R(column)), startsNotSpace(L(column))];
}

/** Columns whose fast check looks at the last character (computed once, at level r). */
const needsLast = (spec: RecordSpec, column: string): boolean => {
  const f = spec.fields.find((x) => x.name === column);
  return !f || (f.type === 'string' && f.fixed === undefined && f.allowed === undefined);
};

/** Level f: true when the field's text is valid as it stands (see the level comment). */
function fastExpr(f: FieldSpec): string {
  const r = R(f.name);
  const fixed = f.fixed;
  const known = (fixed !== undefined ? (f.allowed ?? [fixed]).filter((v) => v === fixed) : f.allowed)?.filter((v) => v !== '' && v.trim() === v);
  let ok: string[];
  switch (f.type) {
    case 'decimal':
      // DECIMAL(19,5) holds 14 integer digits, but its text cast is slow: 13 go by DECIMAL(18,5)
      ok = [`regexp_full_match(${r}, ${FAST_DECIMAL_RE})`];
      break;
    case 'integer':
      ok = [`regexp_full_match(${r}, '[+-]?[0-9]{1,${f.totalDigits ?? 9}}')`];
      break;
    case 'timestamp':
      ok = [`regexp_full_match(${r}, ${FAST_TIMESTAMP_RE})`];
      break;
    case 'date':
      ok = [`regexp_full_match(${r}, ${FAST_DATE_RE})`];
      break;
    case 'string':
      // a fixed or allowed value as written (one that trimming would change takes the slow path)
      if (known !== undefined) ok = [known.length ? `${r} IN (${known.map(lit).join(', ')})` : 'false'];
      else ok = untrimmable(f.name);
      break;
  }
  // the length facets apply to every type (validateField checks them first); a fixed or allowed
  // value, and the fixed shape of a fast timestamp or date, is known to meet them here
  const n = countsChars(f) ? `length(${r})` : '0';
  const bounds: string[] = [];
  const shape = f.type === 'timestamp' ? 14 : f.type === 'date' ? 8 : undefined;
  const meets = (pass: (v: number) => boolean) => (known !== undefined && known.every((v) => pass(countsChars(f) ? [...v].length : 0))) || (shape !== undefined && countsChars(f) && pass(shape));
  if (f.length !== undefined && !meets((v) => v === f.length)) bounds.push(`${n} = ${f.length}`);
  if (f.maxLength !== undefined && !meets((v) => v <= (f.maxLength as number))) bounds.push(`${n} <= ${f.maxLength}`);
  if (f.minLength !== undefined && !meets((v) => v >= (f.minLength as number))) bounds.push(`${n} >= ${f.minLength}`);
  return `CASE WHEN ${r} IS NULL THEN ${f.required ? 'false' : 'true'} ELSE ${allOf([...ok, ...bounds])} END AS ${F(f.name)}`;
}

/** Level f of a head link column (no validation: trimmed, empty as NULL). */
function fastLink(column: string): string {
  return `CASE WHEN ${R(column)} IS NULL THEN true ELSE ${allOf(untrimmable(column))} END AS ${F(column)}`;
}

/** Level t. */
function textExpr(column: string): string {
  return `CASE WHEN ${F(column)} THEN ${R(column)} ELSE ${trimmed(R(column))} END AS ${T(column)}`;
}

/** The character count of the trimmed text, as validateField computes it. */
function nExpr(f: FieldSpec): string {
  return countsChars(f) ? `length(${T(f.name)})` : '0';
}
/** Decimal helpers of the trimmed text: integer digits without leading zeros, fraction without trailing ones. */
const ipExpr = (t: string) => `ltrim(split_part(ltrim(${t}, '+-'), '.', 1), '0')`;
const fpExpr = (t: string) => `rtrim(split_part(${t}, '.', 2), '0')`;

/** Calendar parts of a `YYYYMMDDhhmmss` (or `YYYYMMDD`) number. */
function parts(p: string, time: boolean) {
  const s = time ? 1_000_000 : 1;
  return {
    y: `(${p} // ${10_000 * s})`,
    mo: `(${p} // ${100 * s} % 100)`,
    d: `(${p} // ${s} % 100)`,
    h: `(${p} // 10000 % 100)`,
    mi: `(${p} // 100 % 100)`,
    se: `(${p} % 100)`,
  };
}

/** parseTimestamp14 / parseDate8 of digits `p`: a real calendar date (and time of day). */
function realTime(p: string, time: boolean): string {
  const { y, mo, d, h, mi, se } = parts(p, time);
  const leap = `((${y} % 4 = 0 AND ${y} % 100 <> 0) OR ${y} % 400 = 0)`;
  const dim = `CASE WHEN ${mo} = 2 THEN CASE WHEN ${leap} THEN 29 ELSE 28 END WHEN ${mo} IN (4, 6, 9, 11) THEN 30 ELSE 31 END`;
  const date = `${mo} BETWEEN 1 AND 12 AND ${d} >= 1 AND ${d} <= ${dim}`;
  return time ? `(${date} AND ${h} <= 23 AND ${mi} <= 59 AND ${se} <= 59)` : `(${date})`;
}

/** Level e: the finding code of a field, by validateField's rules, in its order. */
function codeExpr(f: FieldSpec): string {
  const t = T(f.name);
  const n = nExpr(f);
  const whens: string[] = [`WHEN ${F(f.name)} THEN NULL`, `WHEN ${t} IS NULL THEN ${f.required ? `'FIELD_REQUIRED'` : 'NULL'}`];
  if (f.length !== undefined) whens.push(`WHEN ${n} <> ${f.length} THEN 'FIELD_LENGTH'`);
  if (f.maxLength !== undefined) whens.push(`WHEN ${n} > ${f.maxLength} THEN 'FIELD_LENGTH'`);
  if (f.minLength !== undefined) whens.push(`WHEN ${n} < ${f.minLength} THEN 'FIELD_LENGTH'`);
  switch (f.type) {
    case 'string':
      if (f.fixed !== undefined) whens.push(`WHEN ${t} <> ${lit(f.fixed)} THEN 'FIELD_VALUE'`);
      if (f.allowed !== undefined) whens.push(`WHEN ${t} NOT IN (${f.allowed.map(lit).join(', ')}) THEN 'FIELD_VALUE'`);
      break;
    case 'decimal': {
      const ip = ipExpr(t);
      const fp = fpExpr(t);
      whens.push(`WHEN NOT regexp_full_match(${t}, ${DECIMAL_RE}) THEN 'FIELD_FORMAT'`);
      whens.push(`WHEN length(${fp}) > ${f.fractionDigits ?? DECIMAL_SCALE} THEN 'FIELD_FORMAT'`);
      whens.push(`WHEN length(${ip}) + length(${fp}) > ${f.totalDigits ?? 19} THEN 'FIELD_FORMAT'`);
      // DECIMAL(19,5) holds 14 integer digits; the reference fails its whole file beyond that
      whens.push(`WHEN length(${ip}) > ${19 - DECIMAL_SCALE} THEN '${OVERFLOW}'`);
      break;
    }
    case 'integer':
      whens.push(`WHEN NOT regexp_full_match(${t}, '[+-]?[0-9]+') OR length(ltrim(ltrim(${t}, '+-'), '0')) > ${f.totalDigits ?? 9} THEN 'FIELD_FORMAT'`);
      break;
    case 'timestamp':
    case 'date': {
      const time = f.type === 'timestamp';
      const digits = time ? 14 : 8;
      whens.push(`WHEN NOT regexp_full_match(${t}, '[0-9]{${digits}}') THEN 'FIELD_FORMAT'`);
      whens.push(`WHEN NOT ${realTime(`CAST(${t} AS BIGINT)`, time)} THEN 'FIELD_FORMAT'`);
      break;
    }
  }
  return `CASE ${whens.join(' ')} END AS ${E(f.name)}`;
}

/** The typed staging value (NULL when absent or bad). */
function valueExpr(f: FieldSpec): string {
  const r = R(f.name);
  const t = T(f.name);
  const slow = `WHEN ${E(f.name)} IS NULL AND ${t} IS NOT NULL THEN`;
  switch (f.type) {
    case 'string':
      return `CASE WHEN ${E(f.name)} IS NULL THEN ${t} END`;
    case 'decimal': {
      const ip = ipExpr(t);
      const text = `concat(CASE WHEN starts_with(${t}, '-') THEN '-' END, CASE WHEN ${ip} = '' THEN '0' ELSE ${ip} END, '.', rpad(${fpExpr(t)}, ${DECIMAL_SCALE}, '0'))`;
      return `CASE WHEN ${F(f.name)} THEN CAST(CAST(${r} AS DECIMAL(18,${DECIMAL_SCALE})) AS DECIMAL(19,${DECIMAL_SCALE})) ${slow} CAST(${text} AS DECIMAL(19,${DECIMAL_SCALE})) END`;
    }
    case 'integer':
      return `CASE WHEN ${E(f.name)} IS NULL THEN CAST(${t} AS INTEGER) END`;
    case 'timestamp': {
      const { y, mo, d, h, mi, se } = parts(`CAST(${t} AS BIGINT)`, true);
      return `CASE WHEN ${E(f.name)} IS NULL THEN make_timestamp(${y}, ${mo}, ${d}, ${h}, ${mi}, ${se}) END`;
    }
    case 'date': {
      const { y, mo, d } = parts(`CAST(${t} AS BIGINT)`, false);
      return `CASE WHEN ${E(f.name)} IS NULL THEN make_date(CAST(${y} AS INTEGER), CAST(${mo} AS INTEGER), CAST(${d} AS INTEGER)) END`;
    }
  }
}

/**
 * One failing field of a row, for the quarantine: its finding code and what the detail needs (the
 * text, helpers, and the spec's facets as constants), so that one generic detail expression serves
 * every field.
 */
function findingItem(f: FieldSpec, ord: number): string {
  const int = (v: number | undefined) => (v === undefined ? 'NULL::INTEGER' : `${v}::INTEGER`);
  const str = (v: string | undefined) => (v === undefined ? 'NULL::VARCHAR' : lit(v));
  const num = f.type === 'decimal';
  const item = [
    `'ord': ${ord}::INTEGER`,
    `'field': ${lit(f.name)}`,
    `'code': ${E(f.name)}`,
    `'t': ${T(f.name)}`,
    `'n': ${hasLengthFacet(f) ? `CAST(${nExpr(f)} AS BIGINT)` : 'NULL::BIGINT'}`,
    `'ip': ${num ? `CASE WHEN regexp_full_match(${T(f.name)}, ${DECIMAL_RE}) THEN ${ipExpr(T(f.name))} END` : 'NULL::VARCHAR'}`,
    `'fp': ${num ? fpExpr(T(f.name)) : 'NULL::VARCHAR'}`,
    `'type': ${lit(f.type)}`,
    `'len': ${int(f.length)}`,
    `'max': ${int(f.maxLength)}`,
    `'min': ${int(f.minLength)}`,
    `'fixed': ${str(f.fixed)}`,
    `'fixedq': ${str(f.fixed === undefined ? undefined : quoteConst(f.fixed))}`,
    `'allowed': ${str(f.allowed?.join(', '))}`,
    `'td': ${int(f.totalDigits ?? (f.type === 'integer' ? 9 : f.type === 'decimal' ? 19 : undefined))}`,
    `'fd': ${int(f.fractionDigits ?? (num ? DECIMAL_SCALE : undefined))}`,
  ];
  return `CASE WHEN ${E(f.name)} IS NOT NULL THEN {${item.join(', ')}} END`;
}

/**
 * The detail of a finding `x` (see `findingItem`) whose quoted text is `q`, as validateField words
 * it.
 */
const DETAIL_SQL = `CASE x.code
  WHEN 'FIELD_REQUIRED' THEN x.field || ' is required'
  WHEN 'FIELD_LENGTH' THEN CASE
    WHEN x.len IS NOT NULL AND x.n <> x.len THEN x.field || ' ' || q || ' has ' || x.n || ' characters, exactly ' || x.len || ' required'
    WHEN x.max IS NOT NULL AND x.n > x.max THEN x.field || ' has ' || x.n || ' characters, at most ' || x.max || ' allowed'
    ELSE x.field || ' ' || q || ' has ' || x.n || ' characters, at least ' || x.min || ' required' END
  WHEN 'FIELD_FORMAT' THEN CASE x.type
    WHEN 'decimal' THEN x.field || ': ' || CASE
      WHEN x.ip IS NULL THEN 'not a decimal number: ' || q
      WHEN length(x.fp) > x.fd THEN q || ' has ' || length(x.fp) || ' digits after the point, at most ' || x.fd || ' allowed'
      ELSE q || ' has ' || (length(x.ip) + length(x.fp)) || ' digits, at most ' || x.td || ' allowed' END
    WHEN 'integer' THEN x.field || ' ' || q || ' is not an integer of at most ' || x.td || ' digits'
    WHEN 'timestamp' THEN x.field || ' ' || q || ' is not a time YYYYMMDDhhmmss'
    WHEN 'date' THEN x.field || ' ' || q || ' is not a date YYYYMMDD' END
  WHEN 'FIELD_VALUE' THEN CASE
    WHEN x.fixed IS NOT NULL AND x.t <> x.fixed THEN x.field || ' ' || q || ' must be ' || x.fixedq
    ELSE x.field || ' ' || q || ' is not one of ' || x.allowed END
  ELSE x.code END`;

// ---- the statements of one file -----------------------------------------------------------------------

interface FilePlan {
  spec: RecordSpec;
  /** expected column → DuckDB type, for the columns the file has */
  present: Map<string, string>;
  path: string;
  kind: 'csv' | 'parquet';
}

/**
 * Level 0: the expected columns the file has, with the 1-based row position. Parquet numbers its
 * rows itself; the CSV scan is numbered by a streaming `row_number() OVER ()`, which DuckDB runs in
 * one ordered pipeline. `onlyRows`: a subquery of row positions to keep.
 */
function level0(p: FilePlan, onlyRows?: string): string {
  const cols = [...p.present.keys()].map(ident);
  if (p.kind === 'parquet') {
    const from = source(p.path, 'parquet').replace(/\)$/, ', file_row_number = true)');
    return `SELECT file_row_number + 1 AS ${RN}${cols.map((c) => `, ${c}`).join('')} FROM ${from}${onlyRows ? ` WHERE file_row_number + 1 IN (${onlyRows})` : ''}`;
  }
  const numbered = `SELECT row_number() OVER () AS ${RN}${cols.map((c) => `, ${c}`).join('')} FROM ${source(p.path, 'csv')}`;
  return onlyRows ? `SELECT * FROM (${numbered}) WHERE ${RN} IN (${onlyRows})` : numbered;
}

/** Each expected column as the reference reads it: `asText`, or NULL when the file lacks it. */
function rawTexts(p: FilePlan): { column: string; expr: string }[] {
  return tabularColumns(p.spec).map((c) => {
    const type = p.present.get(c);
    return { column: c, expr: type === undefined ? 'NULL::VARCHAR' : asText(c, type) };
  });
}

/** Level r (and l) of every column. */
function rawLevel(p: FilePlan, onlyRows?: string): string {
  return `SELECT ${RN}, ${rawTexts(p)
    .flatMap((x) => [`${x.expr} AS ${R(x.column)}`, ...(needsLast(p.spec, x.column) ? [`(${x.expr})[-1] AS ${L(x.column)}`] : [])])
    .join(', ')} FROM (${level0(p, onlyRows)})`;
}

/** Levels r, f, t, e of every column (see the level comment). */
function validated(p: FilePlan, onlyRows?: string): string {
  const columns = tabularColumns(p.spec);
  const links = columns.filter((c) => !p.spec.fields.some((f) => f.name === c));
  const r = rawLevel(p, onlyRows);
  const f = `SELECT *, ${[...links.map(fastLink), ...p.spec.fields.map(fastExpr)].join(', ')} FROM (${r})`;
  const t = `SELECT *, ${columns.map(textExpr).join(', ')} FROM (${f})`;
  return `SELECT *, ${p.spec.fields.map(codeExpr).join(', ')} FROM (${t})`;
}

function recordValid(spec: RecordSpec): string {
  return spec.fields.map((f) => `${E(f.name)} IS NULL`).join(' AND ');
}

/** The staging rows of the file, in staging column order (see `stagingColumns`). */
function stagingInsert(p: FilePlan, file: string): string {
  const spec = p.spec;
  const link = spec.parent ? [...parentKeyFields(spec).map((k) => T(k)), T(HEAD_GUID)] : [];
  const cols = [`${lit(file)}`, 'NULL::VARCHAR', `CAST(${RN} AS INTEGER)`, `(${recordValid(spec)})`, ...link, ...spec.fields.map(valueExpr)];
  return `INSERT INTO ${stagingTable(spec)} SELECT ${cols.join(',\n  ')} FROM (${validated(p)})`;
}

/** keyOf of records.ts: the head's business key fields, trimmed, joined by `|`; NULL when all empty. */
function businessKey(spec: RecordSpec): string {
  const keys = spec.key.filter((k) => k !== 'gnum').map((k) => T(k));
  return `CASE WHEN ${keys.map((k) => `${k} IS NULL`).join(' AND ')} THEN NULL ELSE ${keys.map((k) => `coalesce(${k}, '')`).join(" || '|' || ")} END`;
}

/** The findings of the file's invalid rows (already staged with record_valid = false). */
function quarantineInsert(p: FilePlan, file: string): string {
  const spec = p.spec;
  const invalid = `SELECT record_index FROM ${stagingTable(spec)} WHERE source_file = ${lit(file)} AND NOT record_valid`;
  const prefix = spec.parent ? `'gnum ' || coalesce(${T('gnum')}, '?') || ': '` : `''`;
  const items = spec.fields.map((f, i) => findingItem(f, i + 1));
  const failing = `SELECT ${RN}, ${businessKey(spec)} AS k, ${prefix} AS prefix, unnest(list_filter([${items.join(',\n    ')}], lambda x: x IS NOT NULL)) AS x FROM (${validated(p, invalid)})`;
  const quoted = quoteLevels('x.t', `SELECT * FROM (${failing})`);
  return `INSERT INTO stg_quarantine SELECT ${lit(file)}, NULL, CAST(${RN} AS INTEGER), ${lit(spec.name)}, k, x.field, x.code, prefix || ${DETAIL_SQL} FROM (${quoted}) ORDER BY ${RN}, x.ord`;
}

/**
 * Runs what could fail, on its own connection, outside the transaction; returns the file's row
 * count, or null when anything failed. A CSV file is read whole, every column the inserts read
 * (a CSV file may well break anywhere). A Parquet file is only bound (its columns, their types,
 * every expression the inserts use) and counted from its footer: damage inside its pages is met by
 * the insert, which fails the transaction; ingestDay then runs the day again with that file by the
 * reference path (TabularSqlError).
 */
async function probe(side: DuckDBConnection, p: FilePlan): Promise<number | null> {
  try {
    if (p.kind === 'parquet') {
      await side.runAndReadAll(`DESCRIBE ${rawLevel(p)}`);
      const r = await side.runAndReadAll(`SELECT count(*) AS n FROM ${source(p.path, 'parquet')}`);
      return Number(r.getRowObjectsJS()[0]?.n ?? 0);
    }
    const checks = rawTexts(p)
      .filter((r) => p.present.has(r.column))
      .map((r) => `max(strlen(${r.expr}))`);
    const r = await side.runAndReadAll(`SELECT count(*) AS n, max(${RN}) AS m${checks.map((c) => `, ${c}`).join('')} FROM (${level0(p)})`);
    return Number(r.getRowObjectsJS()[0]?.n ?? 0);
  } catch {
    return null;
  }
}

function malformed(task: ParseTask, detail: string): ParseResult {
  const recordType = task.recordType ?? null;
  return {
    file: task.name,
    status: 'malformed',
    detail,
    messageGuid: null,
    recordType,
    counts: {},
    batches: [],
    quarantine: [{ file: task.name, messageGuid: null, recordIndex: null, recordType, businessKey: null, field: null, code: 'MALFORMED_MESSAGE', detail }],
  };
}

/**
 * Stages one tabular file through SQL, inside the caller's transaction on `db`. Returns null when
 * the file is to go to the reference path instead (nothing of it is left staged then). Throws
 * `TabularSqlError` when a statement failed inside the transaction (DuckDB has aborted it).
 */
export async function ingestTabularSql(db: Db, task: ParseTask): Promise<TabularSqlResult | null> {
  const type = task.recordType;
  if (!type || task.kind === 'xml') return null;
  const spec = recordSpec(type);
  const side = await db.instance.connect();
  let plan: FilePlan;
  let detail: string;
  let rows: number | null;
  try {
    let described: { name: string; type: string }[];
    try {
      const d = await side.runAndReadAll(`DESCRIBE SELECT * FROM ${source(task.path, task.kind)}`);
      described = d.getRowObjectsJS().map((r) => ({ name: String(r.column_name), type: String(r.column_type) }));
    } catch {
      return null; // unreadable: the reference path words the detail
    }
    const cols = planColumns(described, tabularColumns(spec), spec);
    if (!cols.ok) return { result: malformed(task, cols.detail), findings: 0 };
    plan = { spec, present: cols.present, path: task.path, kind: task.kind };
    detail = cols.detail;
    rows = await probe(side, plan);
  } finally {
    side.closeSync();
  }
  if (rows === null) return null;
  if (rows === 0) return { result: malformed(task, 'no business record (the file has no rows)'), findings: 0 };

  const table = stagingTable(spec);
  const file = lit(task.name);
  let invalid: number;
  let findings = 0;
  try {
    await db.run(stagingInsert(plan, task.name));
    const c = await db.all(`SELECT count_if(NOT record_valid)::INTEGER AS invalid FROM ${table} WHERE source_file = ${file}`);
    invalid = Number(c[0]?.invalid ?? 0);
    if (invalid > 0) {
      await db.run(quarantineInsert(plan, task.name));
      const q = await db.all(`SELECT count(*)::INTEGER AS n, count_if(code = '${OVERFLOW}')::INTEGER AS overflow FROM stg_quarantine WHERE file = ${file}`);
      findings = Number(q[0]?.n ?? 0);
      if (Number(q[0]?.overflow ?? 0) > 0) {
        await db.run(`DELETE FROM ${table} WHERE source_file = ${file}; DELETE FROM stg_quarantine WHERE file = ${file}`);
        return null;
      }
    }
  } catch (e) {
    throw new TabularSqlError(task.name, e);
  }
  return {
    result: { file: task.name, status: 'ok', detail, messageGuid: null, recordType: type, counts: { [type]: { read: rows, invalid } }, batches: [], quarantine: [] },
    findings,
  };
}

/** The generated statements of a file with these columns (for tests and for reading). */
export function tabularSqlStatements(spec: RecordSpec, present: Map<string, string>, path: string, kind: 'csv' | 'parquet', file: string): { staging: string; quarantine: string } {
  const p = { spec, present, path, kind };
  return { staging: stagingInsert(p, file), quarantine: quarantineInsert(p, file) };
}
