/**
 * Record validation (src/spec/validate.ts) against RULES.md §3: one behaviour per test.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { LIST, LIST_LINE, ORDER, RETURN, RETURN_LINE, type FieldSpec, type RecordSpec } from '../src/spec/fields.js';
import {
  charLength,
  formatDecimal,
  parseDate8,
  parseDecimal,
  parseDecimalText,
  parseTimestamp14,
  validateField,
  validateRecord,
  type FieldCode,
  type FieldError,
  type RawRecord,
  type TypedValue,
} from '../src/spec/validate.js';
import { projectRoot } from './xsd.js';

// ---- helpers -----------------------------------------------------------------------------------

function field(spec: RecordSpec, name: string): FieldSpec {
  const f = spec.fields.find((g) => g.name === name);
  if (!f) throw new Error(`${spec.name} has no field ${name}`);
  return f;
}

/** Validates one field of a record type; returns its typed value and findings. */
function check(spec: RecordSpec, name: string, raw: string | undefined | null): { value: TypedValue; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const value = validateField(field(spec, name), raw, errors);
  return { value, errors };
}

function assertOk(spec: RecordSpec, name: string, raw: string, expected: TypedValue): void {
  const r = check(spec, name, raw);
  assert.deepEqual(r.errors, [], `${name}=${JSON.stringify(raw)} should be valid`);
  assert.equal(r.value, expected);
}

function assertCode(spec: RecordSpec, name: string, raw: string | undefined | null, code: FieldCode): void {
  const r = check(spec, name, raw);
  assert.equal(r.errors.length, 1, `${name}=${JSON.stringify(raw)}: exactly one finding, got ${JSON.stringify(r.errors)}`);
  assert.equal(r.errors[0]?.code, code);
  assert.equal(r.errors[0]?.field, name);
  assert.ok((r.errors[0]?.detail ?? '').length > 0, 'a finding has a detail');
  assert.equal(r.value, null, 'a bad value types to null');
}

/** The CEB603 worked example of CEB-REFERENCE.md §8.3, read from the document at run time. */
function workedExample(): { head: RawRecord; lines: RawRecord[] } {
  const doc = readFileSync(join(projectRoot(), '..', 'shared', 'domain', 'CEB-REFERENCE.md'), 'utf8');
  const section = doc.slice(doc.indexOf('### 8.3'));
  const m = /```xml\n([\s\S]*?)```/.exec(section);
  if (!m?.[1]) throw new Error('no XML block in CEB-REFERENCE.md §8.3');
  const parser = new XMLParser({
    removeNSPrefix: true,
    ignoreAttributes: true,
    parseTagValue: false,
    isArray: (name) => name === 'InventoryList',
  });
  const parsed = parser.parse(m[1]) as {
    CEB603Message: { Inventory: { InventoryHead: RawRecord; InventoryList: RawRecord[] } };
  };
  return { head: parsed.CEB603Message.Inventory.InventoryHead, lines: parsed.CEB603Message.Inventory.InventoryList };
}

const EXAMPLE = workedExample();
const GUID = String(EXAMPLE.head['guid']);

// ---- required / trimming -------------------------------------------------------------------------

describe('required fields and trimming', () => {
  test('a required field that is absent is FIELD_REQUIRED', () => {
    const { copNo: _dropped, ...rest } = EXAMPLE.head;
    const v = validateRecord(LIST, rest);
    assert.equal(v.ok, false);
    assert.ok(!v.ok);
    assert.deepEqual(
      v.errors.map((e) => [e.field, e.code]),
      [['copNo', 'FIELD_REQUIRED']],
    );
    assert.equal(v.row['copNo'], null);
  });

  test('null, undefined and the empty string count as absent', () => {
    for (const raw of [null, undefined, '']) assertCode(LIST, 'copNo', raw, 'FIELD_REQUIRED');
  });

  test('a whitespace-only value counts as absent', () => {
    for (const raw of [' ', '   ', '\t', '\r\n ']) assertCode(LIST, 'copNo', raw, 'FIELD_REQUIRED');
    assertCode(LIST, 'freight', '  ', 'FIELD_REQUIRED');
    assertCode(LIST, 'appTime', ' \n', 'FIELD_REQUIRED');
  });

  test('an optional field that is absent or blank is fine and types to null', () => {
    for (const raw of [undefined, null, '', '   ']) {
      const r = check(LIST, 'preNo', raw);
      assert.deepEqual(r.errors, []);
      assert.equal(r.value, null);
    }
    const q = check(LIST_LINE, 'qty2', '  ');
    assert.deepEqual(q.errors, []);
    assert.equal(q.value, null);
  });

  test('values are trimmed before they are checked and typed', () => {
    assertOk(LIST, 'copNo', '  ZK20250612000342 \t', 'ZK20250612000342');
    // 36 characters once trimmed
    assertOk(LIST, 'guid', ` ${GUID}\n`, GUID);
    assertOk(LIST, 'freight', ' 25.00 ', 2_500_000n);
    assertOk(LIST_LINE, 'gnum', ' 2 ', 2);
    assertOk(LIST, 'ieFlag', ' E ', 'E');
  });
});

// ---- lengths -----------------------------------------------------------------------------------

describe('lengths', () => {
  test('guid needs exactly 36 characters', () => {
    assert.equal(GUID.length, 36);
    assertOk(LIST, 'guid', GUID, GUID);
    assertCode(LIST, 'guid', GUID.slice(1), 'FIELD_LENGTH');
    assertCode(LIST, 'guid', `${GUID}X`, 'FIELD_LENGTH');
  });

  test('maxLength counts characters: 30 Chinese characters fit copNo (C..30), 31 do not', () => {
    assertOk(LIST, 'copNo', '卓'.repeat(30), '卓'.repeat(30));
    assertCode(LIST, 'copNo', '卓'.repeat(31), 'FIELD_LENGTH');
  });

  test('an astral-plane character counts as one character', () => {
    const astral = '𠀀'; // U+20000, two UTF-16 units
    assert.equal(astral.length, 2);
    assert.equal(charLength(astral), 1);
    assert.equal(charLength(`a${astral}b😀`), 4);
    assertOk(LIST, 'copNo', `${'A'.repeat(29)}${astral}`, `${'A'.repeat(29)}${astral}`);
    assertCode(LIST, 'copNo', `${'A'.repeat(30)}${astral}`, 'FIELD_LENGTH');
  });

  test('minLength and maxLength together: POD is 3 or 4 characters', () => {
    assertOk(LIST, 'POD', '502', '502');
    assertOk(LIST, 'POD', 'USNY', 'USNY');
    assertCode(LIST, 'POD', '50', 'FIELD_LENGTH');
    assertCode(LIST, 'POD', '50201', 'FIELD_LENGTH');
  });

  test('a length error is the only finding for that field', () => {
    // 2 characters and not 'E': reported as FIELD_LENGTH only, not also FIELD_VALUE
    assertCode(LIST, 'ieFlag', 'EE', 'FIELD_LENGTH');
    assertCode(LIST, 'fFlag', '33', 'FIELD_LENGTH');
  });
});

// ---- decimals ----------------------------------------------------------------------------------

describe('decimals (19 digits, 5 after the point)', () => {
  test('a decimal types to an exact value × 10^5', () => {
    assertOk(LIST, 'freight', '79.80', 7_980_000n);
    assertOk(LIST, 'freight', '0', 0n);
    assertOk(LIST, 'freight', '0.00001', 1n);
    assertOk(LIST, 'freight', '25', 2_500_000n);
  });

  test('more than 14 digits before the point: valid by the spec, but a FIELD_FORMAT finding (the staging DECIMAL(19,5) cannot hold it)', () => {
    assertOk(LIST, 'freight', '99999999999999.99999', 9_999_999_999_999_999_999n);
    assertOk(LIST, 'freight', '-99999999999999', -9_999_999_999_999_900_000n);
    assertCode(LIST, 'freight', '123456789012345', 'FIELD_FORMAT');
    assertCode(LIST, 'freight', '-1234567890123456789', 'FIELD_FORMAT');
  });

  test('signs and a bare point on either side are accepted', () => {
    assertOk(LIST, 'freight', '-1.5', -150_000n);
    assertOk(LIST, 'freight', '+1.5', 150_000n);
    assertOk(LIST, 'freight', '.5', 50_000n);
    assertOk(LIST, 'freight', '5.', 500_000n);
    assertOk(LIST, 'freight', '-.5', -50_000n);
  });

  test('more than 5 fraction digits is FIELD_FORMAT', () => {
    assertCode(LIST, 'freight', '1.123456', 'FIELD_FORMAT');
    assert.equal(typeof parseDecimal('1.123456'), 'string');
  });

  test('trailing fraction zeros do not count', () => {
    assertOk(LIST, 'freight', '1.1234500', 112_345n);
    assertOk(LIST, 'freight', '1.00000000000', 100_000n);
  });

  test('leading integer zeros do not count', () => {
    assertOk(LIST, 'freight', `${'0'.repeat(30)}1.5`, 150_000n);
  });

  test('19 significant digits fit, 20 are FIELD_FORMAT', () => {
    assertOk(LIST, 'freight', '12345678901234.56789', 1_234_567_890_123_456_789n);
    assertOk(LIST, 'freight', '99999999999999.99999', 9_999_999_999_999_999_999n);
    assertCode(LIST, 'freight', '123456789012345.67891', 'FIELD_FORMAT');
    assertCode(LIST, 'freight', '12345678901234567890', 'FIELD_FORMAT');
  });

  test('text that is not a plain decimal is FIELD_FORMAT', () => {
    for (const raw of ['abc', '1e5', '1E5', '.', '-', '+', '1.2.3', '1,5', '0x10', '1 000', 'NaN', 'Infinity', '--1'])
      assertCode(LIST, 'freight', raw, 'FIELD_FORMAT');
  });

  test('an empty decimal is FIELD_REQUIRED when required and null when optional', () => {
    assertCode(LIST, 'freight', '', 'FIELD_REQUIRED');
    const r = check(LIST_LINE, 'qty2', '');
    assert.deepEqual(r.errors, []);
    assert.equal(r.value, null);
  });

  test('formatDecimal writes exactly 5 fraction digits and round trips through parseDecimal', () => {
    assert.equal(formatDecimal(7_980_000n), '79.80000');
    assert.equal(formatDecimal(0n), '0.00000');
    assert.equal(formatDecimal(1n), '0.00001');
    assert.equal(formatDecimal(-150_000n), '-1.50000');
    assert.equal(formatDecimal(-5n), '-0.00005');
    for (const v of [0n, 1n, -1n, 5n, -5n, 99_999n, 100_000n, -150_000n, 7_980_000n, 9_999_999_999_999_999_999n, -9_999_999_999_999_999_999n])
      assert.equal(parseDecimal(formatDecimal(v)), v, `round trip of ${v}`);
    for (const text of ['79.80', '-1.5', '.5', '5.', '0.00001', '12345678901234.56789']) {
      const v = parseDecimal(text);
      assert.equal(typeof v, 'bigint', text);
      assert.equal(parseDecimal(formatDecimal(v as bigint)), v, `round trip of ${text}`);
    }
  });
});

// ---- integers ----------------------------------------------------------------------------------

describe('integers', () => {
  test('gnum types to a number; a plus sign and leading zeros are accepted', () => {
    assertOk(LIST_LINE, 'gnum', '1', 1);
    assertOk(LIST_LINE, 'gnum', '+3', 3);
    assertOk(LIST_LINE, 'gnum', '007', 7);
    assertOk(LIST_LINE, 'gnum', '99999', 99_999);
  });

  test('more digits than totalDigits is FIELD_FORMAT', () => {
    assertCode(LIST_LINE, 'gnum', '123456', 'FIELD_FORMAT'); // int N5
    assertOk(RETURN_LINE, 'gnum', '9999', 9999); // int N4
    assertCode(RETURN_LINE, 'gnum', '12345', 'FIELD_FORMAT');
    assertOk(LIST, 'packNo', '123456789', 123_456_789); // int N9
    assertCode(LIST, 'packNo', '1234567890', 'FIELD_FORMAT');
  });

  test('a decimal point or other text is FIELD_FORMAT', () => {
    for (const raw of ['1.0', '1.', '.1', '1e2', 'one', '0x1', '1,000', '--1'])
      assertCode(LIST_LINE, 'gnum', raw, 'FIELD_FORMAT');
  });
});

// ---- times and dates ---------------------------------------------------------------------------

describe('times and dates', () => {
  test('appTime YYYYMMDDhhmmss types to seconds of that wall-clock time', () => {
    assertOk(LIST, 'appTime', '20250612093015', Date.UTC(2025, 5, 12, 9, 30, 15) / 1000);
    assertOk(LIST, 'appTime', '20240229235959', Date.UTC(2024, 1, 29, 23, 59, 59) / 1000);
    assertOk(LIST, 'appTime', '19700101000000', 0);
  });

  test('a time that does not exist is FIELD_FORMAT', () => {
    for (const raw of ['20250230120000', '20250229120000', '20251301120000', '20250600120000', '20250612240000', '20250612126000', '20250612120060', '2025061209301x', '2025061209:301', '+2025061209301', '2025061209301:', '20250612093:15', '2025 612093015', '20250612095/15'])
      assertCode(LIST, 'appTime', raw, 'FIELD_FORMAT');
  });

  test('a time of the wrong length is FIELD_LENGTH', () => {
    assertCode(LIST, 'appTime', '2025061209301', 'FIELD_LENGTH');
    assertCode(LIST, 'appTime', '202506120930150', 'FIELD_LENGTH');
    assertCode(LIST, 'appTime', '20250612', 'FIELD_LENGTH');
  });

  test('years below 100 are not shifted into the 1900s', () => {
    const r = check(LIST, 'appTime', '00500101000000');
    assert.deepEqual(r.errors, []);
    const d = new Date(Date.UTC(2000, 0, 1));
    d.setUTCFullYear(50);
    assert.equal(r.value, d.getTime() / 1000);
    assert.equal(new Date((r.value as number) * 1000).getUTCFullYear(), 50);
  });

  test('every day of years 0000–9999 (sampled) and every time of day type as Date.UTC says', () => {
    // parseTimestamp14 / parseDate8 count days arithmetically; Date (with setUTCFullYear for the
    // years below 100) is the reference
    const ref = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0) => {
      const t = new Date(Date.UTC(2000, mo - 1, d, h, mi, s));
      t.setUTCFullYear(y);
      return t.getTime();
    };
    const p2 = (n: number) => String(n).padStart(2, '0');
    const years = [0, 1, 4, 50, 99, 100, 399, 400, 1582, 1899, 1900, 1969, 1970, 1999, 2000, 2024, 2025, 2100, 2400, 9999];
    for (let y = 3; y < 10000; y += 97) years.push(y);
    let seed = 7;
    for (const y of years) {
      for (let mo = 1; mo <= 12; mo++) {
        for (const d of [1, 15, 28, 29, 30, 31]) {
          const ymd = `${String(y).padStart(4, '0')}${p2(mo)}${p2(d)}`;
          const exists = new Date(ref(y, mo, d)).getUTCDate() === d;
          assert.equal(parseDate8(ymd), exists ? ref(y, mo, d) / 86_400_000 : null, ymd);
          seed = (seed * 1103515245 + 12345) & 0x7fffffff;
          const [h, mi, s] = [seed % 24, (seed >> 5) % 60, (seed >> 11) % 60];
          const ts = `${ymd}${p2(h)}${p2(mi)}${p2(s)}`;
          assert.equal(parseTimestamp14(ts), exists ? ref(y, mo, d, h, mi, s) / 1000 : null, ts);
        }
      }
    }
  });

  test('ieDate YYYYMMDD types to days since 1970-01-01', () => {
    assertOk(LIST, 'ieDate', '20250612', Date.UTC(2025, 5, 12) / 86_400_000);
    assertOk(LIST, 'ieDate', '19700101', 0);
    assertOk(LIST, 'ieDate', '20000229', Date.UTC(2000, 1, 29) / 86_400_000);
  });

  test('an ieDate that does not exist or is not YYYYMMDD is FIELD_FORMAT', () => {
    for (const raw of ['20250229', '19000229', '20251232', '20250001', '2025-6-1', '2025061x', '2025061:', '202506 1', '2025061/'])
      assertCode(LIST, 'ieDate', raw, 'FIELD_FORMAT');
    assertCode(LIST, 'ieDate', '2025612', 'FIELD_LENGTH');
    assertCode(LIST, 'ieDate', '20250612093015', 'FIELD_LENGTH');
  });
});

// ---- enumerations and fixed values -------------------------------------------------------------

describe('enumerations and fixed values (RULES.md §3)', () => {
  test('list ieFlag must be E (case-sensitive)', () => {
    assertOk(LIST, 'ieFlag', 'E', 'E');
    assertCode(LIST, 'ieFlag', 'I', 'FIELD_VALUE');
    assertCode(LIST, 'ieFlag', 'a', 'FIELD_VALUE');
    assertCode(LIST, 'ieFlag', 'e', 'FIELD_VALUE');
  });

  test('tradeMode is one of 9610, 9710, 9810, 1210', () => {
    for (const m of ['9610', '9710', '9810', '1210']) assertOk(LIST, 'tradeMode', m, m);
    assertCode(LIST, 'tradeMode', '0101', 'FIELD_VALUE');
    assertCode(LIST, 'tradeMode', '9661', 'FIELD_VALUE');
  });

  test('a return accepts any 4-character tradeMode and may omit it', () => {
    assertOk(RETURN, 'tradeMode', '9661', '9661');
    assertOk(RETURN, 'tradeMode', '9610', '9610');
    assert.deepEqual(check(RETURN, 'tradeMode', '').errors, []);
  });

  test('orderType is one of E, B, W', () => {
    for (const t of ['E', 'B', 'W']) assertOk(ORDER, 'orderType', t, t);
    assertCode(ORDER, 'orderType', 'I', 'FIELD_VALUE');
    assertCode(ORDER, 'orderType', 'e', 'FIELD_VALUE');
  });

  test('statisticsFlag is A or B', () => {
    assertOk(LIST, 'statisticsFlag', 'A', 'A');
    assertOk(LIST, 'statisticsFlag', 'B', 'B');
    assertCode(LIST, 'statisticsFlag', 'C', 'FIELD_VALUE');
    assertCode(LIST, 'statisticsFlag', 'a', 'FIELD_VALUE');
  });

  test('appType is 1, 2 or 3', () => {
    for (const t of ['1', '2', '3']) assertOk(LIST, 'appType', t, t);
    assertCode(LIST, 'appType', '4', 'FIELD_VALUE');
    assertCode(LIST, 'appType', '0', 'FIELD_VALUE');
  });

  test('appStatus is 1 or 2', () => {
    assertOk(LIST, 'appStatus', '1', '1');
    assertOk(LIST, 'appStatus', '2', '2');
    assertCode(LIST, 'appStatus', '3', 'FIELD_VALUE');
  });

  test('fFlag and iFlag are fixed to 3', () => {
    assertOk(LIST, 'fFlag', '3', '3');
    assertOk(LIST, 'iFlag', '3', '3');
    assertCode(LIST, 'fFlag', '1', 'FIELD_VALUE');
    assertCode(LIST, 'iFlag', '2', 'FIELD_VALUE');
  });
});

// ---- whole records -----------------------------------------------------------------------------

describe('whole records', () => {
  test('the CEB-REFERENCE §8.3 list head validates and types every field', () => {
    const v = validateRecord(LIST, EXAMPLE.head);
    assert.deepEqual(v.ok ? [] : v.errors, []);
    assert.ok(v.ok);
    assert.deepEqual(Object.keys(v.row), LIST.fields.map((f) => f.name));
    assert.equal(v.row['copNo'], 'ZK20250612000342');
    assert.equal(v.row['agentCode'], '4403980BG2');
    assert.equal(v.row['appTime'], Date.UTC(2025, 5, 12, 10, 30, 45) / 1000);
    assert.equal(v.row['ieDate'], Date.UTC(2025, 5, 12) / 86_400_000);
    assert.equal(v.row['freight'], 2_500_000n);
    assert.equal(v.row['insuredFee'], 0n);
    assert.equal(v.row['grossWeight'], 35_000n);
    assert.equal(v.row['netWeight'], 28_000n);
    assert.equal(v.row['packNo'], 1);
    assert.equal(v.row['preNo'], null);
    assert.equal(v.row['invtNo'], null);
    assert.equal(v.row['note'], null);
  });

  test('the CEB-REFERENCE §8.3 list lines validate', () => {
    assert.equal(EXAMPLE.lines.length, 2);
    const totals = EXAMPLE.lines.map((line) => {
      const v = validateRecord(LIST_LINE, line);
      assert.deepEqual(v.ok ? [] : v.errors, []);
      return v.row['totalPrice'];
    });
    assert.deepEqual(totals, [3_980_000n, 4_000_000n]);
  });

  test('findings come in spec field order, one per bad field', () => {
    const v = validateRecord(LIST, { ...EXAMPLE.head, netWeight: 'x', guid: 'short', ieFlag: 'I', tradeMode: undefined });
    assert.ok(!v.ok);
    assert.deepEqual(
      v.errors.map((e) => [e.field, e.code]),
      [
        ['guid', 'FIELD_LENGTH'],
        ['ieFlag', 'FIELD_VALUE'],
        ['tradeMode', 'FIELD_REQUIRED'],
        ['netWeight', 'FIELD_FORMAT'],
      ],
    );
    // the good fields are still typed
    assert.equal(v.row['copNo'], 'ZK20250612000342');
  });

  test('fields the spec does not know are ignored', () => {
    const v = validateRecord(LIST, { ...EXAMPLE.head, somethingElse: 'x' });
    assert.ok(v.ok);
    assert.equal('somethingElse' in v.row, false);
  });
});

describe('parseDecimal fast path', () => {
  test('agrees with parseDecimalText on 200,000 seeded decimal-like texts and every digit limit', () => {
    let seed = 20261123;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const parts = ['0', '00', '1', '9', '5', '12345', '99999', '000', '.', '-', '+', '0.', '.0', '1234567890', '12345678901', 'e', ' ', '1e5', '٣'];
    const limits: [number, number][] = [[19, 5], [19, 2], [18, 5], [5, 0], [10, 3], [15, 5], [3, 1]];
    let answered = 0;
    for (let k = 0; k < 200_000; k++) {
      let t = '';
      for (let j = 1 + rnd(5); j > 0; j--) t += parts[rnd(parts.length)];
      const [total, frac] = limits[rnd(limits.length)]!;
      const want = parseDecimalText(t, total, frac);
      assert.deepEqual(parseDecimal(t, total, frac), want, `${JSON.stringify(t)} (${total}, ${frac})`);
      if (typeof want === 'bigint') answered++;
    }
    assert.ok(answered > 20_000, `enough valid decimals among them (${answered})`);
  });
});
