/**
 * Policy versions (RULES.md §8): every *(policy)* number of the rules, per version, with the date
 * from which it is in force, and the deterministic random draw of RULES.md §6.
 *
 * File shape (JSON): `{ "illustrative"?: string, "description"?: string, "versions": [ {...}, ... ] }`.
 * Each version has `id`, `effectiveFrom` (YYYY-MM-DD, strictly increasing in file order), an
 * optional `note`, and any of the keys below; a key left out is inherited whole from the previous
 * version (objects such as `randomRates` are replaced, not merged); the first version must give
 * every key. Decimals and rates are JSON strings ("0.01"), never JSON numbers.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDecimal } from '../spec/validate.js';
import { PolicyError, TRADE_MODES, bundledDefaultsDir, isDate } from './common.js';

export { PolicyError, bundledDefaultsDir } from './common.js';
export type { PolicyErrorCode } from './common.js';

/** An exact rate in [0, 1]: `num / den`, `den` a power of ten in lowest terms, `text` canonical. */
export interface Rate {
  readonly text: string;
  readonly num: bigint;
  readonly den: bigint;
}

export interface PolicyVersion {
  readonly id: string;
  /** YYYY-MM-DD */
  readonly effectiveFrom: string;
  readonly note?: string;
  /** × 10^5 */
  readonly amountTolerance: bigint;
  readonly waybillWindowDays: number;
  readonly graceDays: number;
  /** × 10^5 */
  readonly weightToleranceKg: bigint;
  /** percent × 10^5 ("10" → 1000000n) */
  readonly weightTolerancePct: bigint;
  readonly receiptRequiredModes: readonly string[];
  /** × 10^5 */
  readonly b2bThresholdCny: bigint;
  /** × 10^5 */
  readonly simplifiedThresholdCny: bigint;
  /** a rate for each trade mode 9610, 9710, 9810, 1210 */
  readonly randomRates: Readonly<Record<string, Rate>>;
  readonly aeoFactor: Rate;
  readonly randomSeed: string;
  readonly returnWindowMonths: number;
  readonly returnModes: readonly string[];
  readonly crossDistrictReturns: {
    readonly modes: readonly string[];
    readonly districts: readonly string[] | 'any';
  };
}

export interface Policy {
  /** where it came from (path) */
  readonly source: string;
  /** sorted by effectiveFrom, strictly increasing */
  readonly versions: readonly PolicyVersion[];
}

const POLICY_FILE = 'policy.json';

// ---------------------------------------------------------------------------------------------
// Rates

const RATE_RE = /^(\d+)(?:\.(\d+))?$/;

function makeRate(num: bigint, den: bigint): Rate {
  while (den > 1n && num % 10n === 0n) {
    num /= 10n;
    den /= 10n;
  }
  if (num === 0n) den = 1n;
  const k = den.toString().length - 1;
  let text: string;
  if (k === 0) text = num.toString();
  else {
    const digits = num.toString().padStart(k + 1, '0');
    text = `${digits.slice(0, -k)}.${digits.slice(-k)}`;
  }
  return Object.freeze({ text, num, den });
}

/** Parses a rate written as a plain decimal in [0, 1] (`0.005`, `1`); returns it or an error text. */
export function parseRate(text: string): Rate | string {
  const m = RATE_RE.exec(text);
  if (!m) return `${JSON.stringify(text)} is not a rate: write a decimal between 0 and 1, e.g. 0.005`;
  const frac = m[2] ?? '';
  if (frac.length > 30) return `${JSON.stringify(text)} has more than 30 digits after the point`;
  const r = makeRate(BigInt(m[1]! + frac), 10n ** BigInt(frac.length));
  if (r.num > r.den) return `rate ${JSON.stringify(text)} is above 1: a rate must lie between 0 and 1`;
  return r;
}

/** The exact product of two rates. */
export function multiplyRates(a: Rate, b: Rate): Rate {
  return makeRate(a.num * b.num, a.den * b.den);
}

const TWO_64 = 1n << 64n;

/** floor(rate × 2^64), exact: rate 1 → 2^64, rate 0 → 0. */
export function rateThreshold(rate: Rate): bigint {
  return (rate.num * TWO_64) / rate.den;
}

/** First 8 bytes of SHA-256(UTF-8 of seed + invtNo) as an unsigned big-endian 64-bit integer. */
export function randomDraw(seed: string, invtNo: string): bigint {
  return createHash('sha256').update(seed + invtNo, 'utf8').digest().readBigUInt64BE(0);
}

/** True when the draw for (seed, invtNo) falls below the rate: draw < floor(rate × 2^64). */
export function drawSelects(seed: string, invtNo: string, rate: Rate): boolean {
  return randomDraw(seed, invtNo) < rateThreshold(rate);
}

// ---------------------------------------------------------------------------------------------
// Versions

type Settings = Omit<PolicyVersion, 'id' | 'effectiveFrom' | 'note'>;
type Parser = (v: unknown, key: string) => unknown;

class Bad extends Error {}
const bad = (msg: string): never => {
  throw new Bad(msg);
};

function decimalKey(v: unknown, key: string): bigint {
  if (typeof v !== 'string')
    return bad(`${key} must be a decimal written as a JSON string, e.g. "0.01" (got ${JSON.stringify(v)})`);
  const d = parseDecimal(v.trim());
  if (typeof d === 'string') return bad(`${key}: ${d}`);
  if (d < 0n) return bad(`${key} ${JSON.stringify(v)} must not be negative`);
  return d;
}

function intKey(v: unknown, key: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    return bad(`${key} must be a whole number of at least 0 (got ${JSON.stringify(v)})`);
  return v;
}

function rateValue(v: unknown, key: string): Rate {
  if (typeof v !== 'string')
    return bad(`${key} must be a rate written as a JSON string, e.g. "0.005" (got ${JSON.stringify(v)})`);
  const r = parseRate(v.trim());
  return typeof r === 'string' ? bad(`${key}: ${r}`) : r;
}

function modesKey(v: unknown, key: string): readonly string[] {
  if (!Array.isArray(v)) return bad(`${key} must be a list of trade modes, e.g. ["9610"] (got ${JSON.stringify(v)})`);
  const seen = new Set<string>();
  for (const m of v) {
    if (typeof m !== 'string' || !TRADE_MODES.includes(m))
      bad(`${key}: ${JSON.stringify(m)} is not a trade mode (one of ${TRADE_MODES.join(', ')})`);
    if (seen.has(m as string)) bad(`${key}: trade mode ${m} is listed twice`);
    seen.add(m as string);
  }
  return Object.freeze([...seen]);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const PARSERS: { readonly [K in keyof Settings]: Parser } = {
  amountTolerance: decimalKey,
  waybillWindowDays: intKey,
  graceDays: intKey,
  weightToleranceKg: decimalKey,
  weightTolerancePct: decimalKey,
  receiptRequiredModes: modesKey,
  b2bThresholdCny: decimalKey,
  simplifiedThresholdCny: decimalKey,
  randomRates: (v, key) => {
    if (!isObject(v)) return bad(`${key} must be an object of trade mode → rate, e.g. {"9610": "0.005"}`);
    const out: Record<string, Rate> = {};
    for (const [mode, r] of Object.entries(v)) {
      if (!TRADE_MODES.includes(mode)) bad(`${key}: ${JSON.stringify(mode)} is not a trade mode (one of ${TRADE_MODES.join(', ')})`);
      out[mode] = rateValue(r, `${key}.${mode}`);
    }
    const missing = TRADE_MODES.filter((m) => !(m in out));
    if (missing.length > 0) bad(`${key} must give a rate for every trade mode; missing ${missing.join(', ')}`);
    return Object.freeze(out);
  },
  aeoFactor: rateValue,
  randomSeed: (v, key) =>
    typeof v === 'string' && v.length > 0 ? v : bad(`${key} must be a non-empty string (got ${JSON.stringify(v)})`),
  returnWindowMonths: intKey,
  returnModes: modesKey,
  crossDistrictReturns: (v, key) => {
    if (!isObject(v)) return bad(`${key} must be an object {"modes": [...], "districts": [...] or "any"}`);
    for (const k of Object.keys(v))
      if (k !== 'modes' && k !== 'districts') bad(`${key}: unknown key ${JSON.stringify(k)} (expected modes, districts)`);
    if (!('modes' in v) || !('districts' in v)) bad(`${key} must give both "modes" and "districts"`);
    const modes = modesKey(v.modes, `${key}.modes`);
    let districts: readonly string[] | 'any';
    if (v.districts === 'any') districts = 'any';
    else if (Array.isArray(v.districts)) {
      const seen = new Set<string>();
      for (const d of v.districts) {
        if (typeof d !== 'string' || !/^\d{2}00$/.test(d))
          bad(`${key}.districts: ${JSON.stringify(d)} is not a district (two digits followed by 00, e.g. "5100")`);
        if (seen.has(d as string)) bad(`${key}.districts: district ${d} is listed twice`);
        seen.add(d as string);
      }
      districts = Object.freeze([...seen]);
    } else return bad(`${key}.districts must be a list of districts or "any" (got ${JSON.stringify(v.districts)})`);
    return Object.freeze({ modes, districts });
  },
};

const SETTING_KEYS = Object.keys(PARSERS) as (keyof Settings)[];
const VERSION_KEYS = new Set<string>(['id', 'effectiveFrom', 'note', ...SETTING_KEYS]);
const TOP_KEYS = new Set(['versions', 'illustrative', 'description']);

/** Validates parsed policy JSON; `source` names the file in errors. Throws PolicyError. */
export function parsePolicy(json: unknown, source: string): Policy {
  const fail = (detail: string): never => {
    throw new PolicyError('POLICY_INVALID', source, undefined, detail);
  };
  if (!isObject(json)) return fail('the policy must be a JSON object {"versions": [...]}');
  for (const k of Object.keys(json))
    if (!TOP_KEYS.has(k)) fail(`unknown top-level key ${JSON.stringify(k)} (expected versions, illustrative, description)`);
  const list = json.versions;
  if (!Array.isArray(list) || list.length === 0) return fail('"versions" must be a non-empty list of policy versions');

  const versions: PolicyVersion[] = [];
  const ids = new Set<string>();
  let prev: PolicyVersion | undefined;
  list.forEach((raw: unknown, i: number) => {
    let where = `versions[${i}]`;
    if (!isObject(raw)) fail(`${where} must be an object`);
    const v = raw as Record<string, unknown>;
    const id = v.id;
    if (typeof id !== 'string' || id.trim() === '') fail(`${where}: "id" must be a non-empty string`);
    where = `versions[${i}] (${id as string})`;
    if (ids.has(id as string)) fail(`${where}: id ${JSON.stringify(id)} is used by an earlier version; ids must be unique`);
    ids.add(id as string);
    const from = v.effectiveFrom;
    if (typeof from !== 'string' || !isDate(from))
      fail(`${where}: "effectiveFrom" must be a date written YYYY-MM-DD (got ${JSON.stringify(from)})`);
    if (prev !== undefined && (from as string) <= prev.effectiveFrom)
      fail(
        `${where}: effectiveFrom ${from as string} is not after ${prev.effectiveFrom} of ${prev.id}; ` +
          'versions must be listed in increasing effectiveFrom order, each date once',
      );
    if (v.note !== undefined && typeof v.note !== 'string') fail(`${where}: "note" must be a string`);
    for (const k of Object.keys(v))
      if (!VERSION_KEYS.has(k)) fail(`${where}: unknown key ${JSON.stringify(k)} (known keys: ${[...VERSION_KEYS].join(', ')})`);
    if (prev === undefined) {
      const missing = SETTING_KEYS.filter((k) => !(k in v));
      if (missing.length > 0) fail(`${where}: the first version must give every key; missing ${missing.join(', ')}`);
    }
    const settings: Record<string, unknown> = {};
    for (const k of SETTING_KEYS) {
      if (k in v) {
        try {
          settings[k] = PARSERS[k](v[k], k);
        } catch (e) {
          if (e instanceof Bad) fail(`${where}: ${e.message}`);
          throw e;
        }
      } else settings[k] = prev![k];
    }
    const version = Object.freeze({
      id: id as string,
      effectiveFrom: from as string,
      ...(typeof v.note === 'string' ? { note: v.note } : {}),
      ...(settings as unknown as Settings),
    });
    versions.push(version);
    prev = version;
  });
  return Object.freeze({ source, versions: Object.freeze(versions) });
}

/** Reads and validates a policy file (default: the bundled `policy.json`). Throws PolicyError. */
export function loadPolicy(file?: string): Policy {
  const path = file ?? join(bundledDefaultsDir(), POLICY_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new PolicyError('POLICY_INVALID', path, undefined, `cannot read the policy file (${(e as Error).message})`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const pos = /position (\d+)/.exec(msg);
    const line = pos ? text.slice(0, +pos[1]!).split('\n').length : undefined;
    throw new PolicyError('POLICY_INVALID', path, line, `not valid JSON: ${msg}`);
  }
  return parsePolicy(json, path);
}

/**
 * policyFor in SQL: a CASE giving `value(v)` of the version in force on the DATE of the SQL
 * expression `col`, and the earliest version's before the first effectiveFrom (or for NULL).
 * `value` returns SQL (a literal).
 */
export function inForceSql(policy: Policy, col: string, value: (v: PolicyVersion) => string): string {
  const vs = policy.versions; // sorted by effectiveFrom (parsePolicy)
  const first = vs[0];
  if (!first) throw new PolicyError('POLICY_INVALID', policy.source, undefined, 'the policy has no versions');
  const whens = [...vs].reverse().map((v) => `WHEN CAST(${col} AS DATE) >= DATE '${v.effectiveFrom}' THEN ${value(v)}`);
  return `CASE ${whens.join(' ')} ELSE ${value(first)} END`;
}

/**
 * The version in force on `date` (YYYY-MM-DD): the greatest effectiveFrom <= date. A date before the
 * earliest version is decided under the earliest one (RULES.md §8 is silent on such dates; the
 * official sample messages are dated 2020-01-06, before gacc-2020-75): a record is never left
 * without a policy, and a run never stops over one record's date. Throws only for a policy with no
 * versions, which parsePolicy already refuses.
 */
export function policyFor(policy: Policy, date: string): PolicyVersion {
  if (!isDate(date)) throw new RangeError(`policyFor: ${JSON.stringify(date)} is not a date written YYYY-MM-DD`);
  const vs = policy.versions;
  for (let i = vs.length - 1; i >= 0; i--) if (vs[i]!.effectiveFrom <= date) return vs[i]!;
  const first = vs[0];
  if (first) return first;
  throw new PolicyError('POLICY_INVALID', policy.source, undefined, 'the policy has no versions');
}
