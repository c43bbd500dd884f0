import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import {
  PolicyError,
  drawSelects,
  loadPolicy,
  multiplyRates,
  parsePolicy,
  parseRate,
  policyFor,
  randomDraw,
  rateThreshold,
  type Rate,
} from '../src/policy/policy.js';
import {
  RATE_SCALE,
  bundledDefaultsDir,
  districtOf,
  isControlled,
  loadReference,
  normaliseCurrency,
  rateFor,
} from '../src/policy/reference.js';
import { parseCsv } from '../src/policy/csv.js';

const BANNER = '# ILLUSTRATIVE DATA — not official customs values; replace with --reference DIR\n';

function rate(text: string): Rate {
  const r = parseRate(text);
  if (typeof r === 'string') throw new Error(r);
  return r;
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'declmatch-policy-'));
}

function bundledPolicyJson(): Record<string, unknown> {
  return JSON.parse(readFileSync(join(bundledDefaultsDir(), 'policy.json'), 'utf8')) as Record<string, unknown>;
}

/** Asserts that fn throws a PolicyError for the given file name, line and code. */
function throwsPolicy(fn: () => unknown, fileName: string, line: number | undefined, code: string, match?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof PolicyError, `expected a PolicyError, got ${String(caught)}`);
  assert.equal(basename(caught.file), fileName);
  assert.equal(caught.line, line, caught.message);
  assert.equal(caught.code, code);
  if (match) assert.match(caught.message, match);
}

// ------------------------------------------------------------------------------------------------
// CSV

test('parseCsv: quotes, doubled quotes, CRLF, BOM, embedded line breaks', () => {
  assert.deepEqual(parseCsv('\ufeffa,b\r\n"x,1","say ""hi"""\r\n"two\nlines",\r\n'), [
    ['a', 'b'],
    ['x,1', 'say "hi"'],
    ['two\nlines', ''],
  ]);
  assert.deepEqual(parseCsv('a,b'), [['a', 'b']]);
  assert.deepEqual(parseCsv(''), []);
  assert.throws(() => parseCsv('a,"b\n'), /not closed/);
  assert.throws(() => parseCsv('a,b"c\n'), /quote inside an unquoted field/);
});

// ------------------------------------------------------------------------------------------------
// Policy

test('bundled policy loads with the three versions of RULES §8', () => {
  const p = loadPolicy();
  assert.equal(basename(p.source), 'policy.json');
  assert.deepEqual(
    p.versions.map((v) => [v.id, v.effectiveFrom]),
    [
      ['gacc-2020-75', '2020-07-01'],
      ['gacc-2024-167', '2024-12-15'],
      ['gacc-2026-9610-returns', '2026-04-01'],
    ],
  );
  const v = p.versions[0]!;
  assert.equal(v.amountTolerance, 1000n);
  assert.equal(v.waybillWindowDays, 180);
  assert.equal(v.graceDays, 3);
  assert.equal(v.weightToleranceKg, 10000n);
  assert.equal(v.weightTolerancePct, 1000000n);
  assert.equal(v.b2bThresholdCny, 500000000n);
  assert.equal(v.simplifiedThresholdCny, 500000000n);
  assert.equal(v.randomRates['9610']!.text, '0.005');
  assert.equal(v.randomRates['9710']!.text, '0.01');
  assert.equal(v.aeoFactor.text, '0.2');
  assert.equal(v.randomSeed, 'declmatch-illustrative-seed-1');
  assert.equal(v.returnWindowMonths, 12);
  assert.deepEqual(v.returnModes, ['9610', '9810', '1210']);
  assert.deepEqual(v.crossDistrictReturns, { modes: [], districts: [] });
});

test('policyFor picks the version in force; receipts for 9610 only before 2024-12-15', () => {
  const p = loadPolicy();
  assert.equal(policyFor(p, '2020-07-01').id, 'gacc-2020-75');
  assert.equal(policyFor(p, '2024-12-14').id, 'gacc-2020-75');
  assert.equal(policyFor(p, '2024-12-15').id, 'gacc-2024-167');
  assert.equal(policyFor(p, '2026-03-31').id, 'gacc-2024-167');
  assert.equal(policyFor(p, '2026-04-01').id, 'gacc-2026-9610-returns');
  assert.equal(policyFor(p, '2099-01-01').id, 'gacc-2026-9610-returns');
  assert.deepEqual(policyFor(p, '2024-12-14').receiptRequiredModes, ['9610']);
  assert.deepEqual(policyFor(p, '2024-12-15').receiptRequiredModes, []);
  assert.deepEqual(policyFor(p, '2026-04-01').receiptRequiredModes, []);
  const pilot = policyFor(p, '2024-12-15').crossDistrictReturns;
  assert.deepEqual(pilot.modes, ['9610']);
  assert.ok(Array.isArray(pilot.districts) && pilot.districts.length === 20);
  assert.ok(pilot.districts.includes('5100') && !pilot.districts.includes('4700'));
  assert.equal(policyFor(p, '2026-04-01').crossDistrictReturns.districts, 'any');
  // before the earliest version: the earliest (the official samples are dated 2020-01-06)
  assert.equal(policyFor(p, '2020-06-30').id, 'gacc-2020-75');
  assert.equal(policyFor(p, '2020-01-06').id, 'gacc-2020-75');
  assert.throws(() => policyFor({ ...p, versions: [] }, '2020-07-01'), (e: unknown) => e instanceof PolicyError && /no versions/.test(e.message));
  assert.throws(() => policyFor(p, '20241215'), RangeError);
});

test('a version inherits every key it omits from the previous version', () => {
  const p = loadPolicy();
  const [a, b, c] = p.versions;
  for (const v of [b!, c!]) {
    assert.equal(v.amountTolerance, a!.amountTolerance);
    assert.equal(v.randomSeed, a!.randomSeed);
    assert.deepEqual(v.randomRates, a!.randomRates);
    assert.deepEqual(v.returnModes, a!.returnModes);
  }
  assert.deepEqual(c!.receiptRequiredModes, []); // inherited from gacc-2024-167
  const json = bundledPolicyJson();
  const versions = json.versions as Record<string, unknown>[];
  versions[2]!.graceDays = 5;
  const q = parsePolicy(json, 'x.json');
  assert.equal(q.versions[1]!.graceDays, 3);
  assert.equal(q.versions[2]!.graceDays, 5);
});

test('malformed policy files give PolicyError naming the file', () => {
  const dir = tempDir();
  try {
    const file = join(dir, 'policy.json');
    const write = (mutate: (j: Record<string, unknown>, vs: Record<string, unknown>[]) => void): void => {
      const j = bundledPolicyJson();
      mutate(j, j.versions as Record<string, unknown>[]);
      writeFileSync(file, JSON.stringify(j, null, 2));
    };
    const cases: [string, (j: Record<string, unknown>, vs: Record<string, unknown>[]) => void, RegExp][] = [
      ['missing key in first version', (_j, vs) => delete vs[0]!.graceDays, /first version must give every key; missing graceDays/],
      ['unsorted effectiveFrom', (_j, vs) => (vs[2]!.effectiveFrom = '2024-01-01'), /not after 2024-12-15/],
      ['duplicate effectiveFrom', (_j, vs) => (vs[2]!.effectiveFrom = '2024-12-15'), /not after 2024-12-15/],
      ['duplicate id', (_j, vs) => (vs[2]!.id = 'gacc-2020-75'), /ids must be unique/],
      ['bad date', (_j, vs) => (vs[1]!.effectiveFrom = '2024-02-30'), /YYYY-MM-DD/],
      ['rate above 1', (_j, vs) => (vs[1]!.aeoFactor = '1.5'), /above 1/],
      ['rate not a decimal', (_j, vs) => (vs[1]!.randomRates = { '9610': 'x', '1210': '0', '9710': '0', '9810': '0' }), /randomRates\.9610/],
      ['missing mode rate', (_j, vs) => (vs[1]!.randomRates = { '9610': '0.1' }), /missing 9710, 9810, 1210/],
      ['decimal as number', (_j, vs) => (vs[0]!.amountTolerance = 0.01), /JSON string/],
      ['bad decimal', (_j, vs) => (vs[0]!.amountTolerance = 'abc'), /amountTolerance/],
      ['unknown key', (_j, vs) => (vs[1]!.graceDay = 4), /unknown key "graceDay"/],
      ['unknown mode', (_j, vs) => (vs[1]!.returnModes = ['9999']), /not a trade mode/],
      ['bad district', (_j, vs) => (vs[1]!.crossDistrictReturns = { modes: ['9610'], districts: ['5141'] }), /not a district/],
      ['no versions', (j) => (j.versions = []), /non-empty/],
    ];
    for (const [name, mutate, re] of cases) {
      write(mutate);
      throwsPolicy(() => loadPolicy(file), 'policy.json', undefined, 'POLICY_INVALID', re);
      assert.ok(name);
    }
    writeFileSync(file, '{\n  "versions": [\n    {"id": "x",}\n  ]\n}\n');
    throwsPolicy(() => loadPolicy(file), 'policy.json', 3, 'POLICY_INVALID', /not valid JSON/);
    throwsPolicy(() => loadPolicy(join(dir, 'absent.json')), 'absent.json', undefined, 'POLICY_INVALID', /cannot read/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ------------------------------------------------------------------------------------------------
// Rates and the random draw

test('rateThreshold and multiplyRates are exact', () => {
  assert.equal(rateThreshold(rate('1')), 2n ** 64n);
  assert.equal(rateThreshold(rate('0')), 0n);
  const aeo = multiplyRates(rate('0.005'), rate('0.2'));
  assert.deepEqual(aeo, rate('0.001'));
  assert.equal(aeo.text, '0.001');
  assert.equal(aeo.num, 1n);
  assert.equal(aeo.den, 1000n);
  assert.equal(rateThreshold(aeo), (2n ** 64n) / 1000n);
  assert.equal(rateThreshold(aeo), 18446744073709551n);
  assert.equal(rateThreshold(rate('0.5')), 2n ** 63n);
  assert.equal(rate('0.2500').text, '0.25');
  assert.equal(typeof parseRate('1.01'), 'string');
  assert.equal(typeof parseRate('-0.1'), 'string');
  assert.equal(typeof parseRate('1e-3'), 'string');
});

test('randomDraw is the first 8 bytes of SHA-256(seed ‖ invtNo), big-endian', () => {
  const seed = 'declmatch-illustrative-seed-1';
  const invtNo = '51412024E00100000001';
  const hex = createHash('sha256').update(Buffer.from(seed + invtNo, 'utf8')).digest('hex').slice(0, 16);
  assert.equal(randomDraw(seed, invtNo), BigInt('0x' + hex));
  const withProfile = createHash('sha256').update(Buffer.from(seed + 'RP-BATT' + invtNo, 'utf8')).digest('hex');
  assert.equal(randomDraw(seed + 'RP-BATT', invtNo), BigInt('0x' + withProfile.slice(0, 16)));
  assert.equal(drawSelects(seed, invtNo, rate('1')), true);
  assert.equal(drawSelects(seed, invtNo, rate('0')), false);
  const d = randomDraw(seed, invtNo);
  const exact: Rate = { text: 'x', num: d, den: 2n ** 64n };
  assert.equal(drawSelects(seed, invtNo, exact), false); // draw < threshold is strict
  assert.equal(drawSelects(seed, invtNo, { text: 'x', num: d + 1n, den: 2n ** 64n }), true);
});

// ------------------------------------------------------------------------------------------------
// Reference data

test('bundled reference data loads', () => {
  const ref = loadReference();
  for (const f of ['exchange_rates.csv', 'controlled_goods.csv', 'aeo_enterprises.csv', 'risk_profiles.csv', 'value_bands.csv', 'customs_offices.csv'])
    assert.equal(ref.source[f], join(bundledDefaultsDir(), f));
  assert.equal(ref.rates.size, 8 * 96);
  assert.equal(RATE_SCALE, 8);
  for (const c of ['502', '110', '116', '300', '303', '601', '501', '132'])
    for (const m of ['2020-01', '2024-12', '2027-12']) assert.ok(ref.rates.has(`${c}|${m}`), `${c} ${m}`);
  assert.equal(rateFor(ref, '133', '2024-06'), null);
  assert.equal(rateFor(ref, 'KRW', '2024-06'), null);
  assert.equal(rateFor(ref, '502', '2019-12'), null);
  const usd = rateFor(ref, '502', '2024-06')!;
  assert.ok(usd > 710000000n && usd < 730000000n);
  assert.equal(rateFor(ref, 'USD', '2024-06'), usd);
  assert.equal(rateFor(ref, ' USD ', '2024-06'), usd);
  assert.equal(rateFor(ref, '142', '1999-01'), 10n ** 8n);
  assert.equal(rateFor(ref, 'CNY', '2024-06'), 10n ** 8n);
  assert.equal(normaliseCurrency('NZD'), '609');
  assert.equal(normaliseCurrency(' XYZ '), 'XYZ');

  assert.ok(isControlled(ref, '2844100000'));
  assert.ok(isControlled(ref, '8526101000'));
  assert.ok(!isControlled(ref, '8526910000'));
  for (const p of ['3926', '9113', '6109', '6110', '6204', '6403', '6404', '8517', '8518', '8471', '8504', '8507', '9503', '4202', '3304', '7117', '9102', '6307', '8516', '9405'])
    assert.ok(!isControlled(ref, p + '900000'), p);

  assert.equal(ref.aeo.get('4403960ZK1') !== undefined, true);
  const batt = ref.riskProfiles.find((r) => r.id === 'RP-BATT')!;
  assert.equal(batt.gcodePrefix, '8507');
  assert.equal(batt.country, null);
  assert.equal(batt.rate.text, '1');
  const us = ref.riskProfiles.find((r) => r.id === 'RP-US-HIGH')!;
  assert.equal(us.minValueCny, 300000000n);
  assert.equal(us.maxValueCny, null);
  const old = ref.riskProfiles.find((r) => r.id === 'RP-OLD')!;
  assert.deepEqual([old.validFrom, old.validTo], ['2020-01-01', '2021-12-31']);
  assert.deepEqual(ref.valueBands.get('392690|502'), { min: 100000n, max: 50000000n });
  assert.deepEqual(ref.customsOffices.get('5141')?.district, '5100');
  assert.equal(districtOf('5141'), '5100');
  assert.equal(districtOf('0801'), '0800');
  for (const [code, o] of ref.customsOffices) assert.equal(o.district, districtOf(code));
});

test('--reference DIR replaces one file and keeps the other defaults', () => {
  const dir = tempDir();
  try {
    writeFileSync(
      join(dir, 'exchange_rates.csv'),
      '\ufeff# my rates\r\ncny_per_unit,currency,month\r\n7.5,USD,2024-06\r\n"0.0091",133,2024-06\r\n',
    );
    const ref = loadReference(dir);
    assert.equal(ref.source['exchange_rates.csv'], join(dir, 'exchange_rates.csv'));
    assert.equal(ref.source['controlled_goods.csv'], join(bundledDefaultsDir(), 'controlled_goods.csv'));
    assert.equal(ref.rates.size, 2);
    assert.equal(rateFor(ref, '502', '2024-06'), 750000000n);
    assert.equal(rateFor(ref, 'KRW', '2024-06'), 910000n);
    assert.equal(rateFor(ref, '502', '2024-07'), null);
    assert.ok(ref.controlled.length > 0);
    // an unknown .csv name is refused rather than ignored
    writeFileSync(join(dir, 'exchange_rate.csv'), 'currency,month,cny_per_unit\n');
    throwsPolicy(() => loadReference(dir), 'exchange_rate.csv', undefined, 'REFERENCE_INVALID', /not a reference file name/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  throwsPolicy(() => loadReference(join(dir, 'gone')), 'gone', undefined, 'REFERENCE_INVALID', /cannot be read/);
});

test('malformed reference files give PolicyError with the file and line', () => {
  const cases: [string, string, number | undefined, RegExp][] = [
    ['exchange_rates.csv', BANNER + 'currency,month,cny_per_unit\n502,2024-01,7.1\n502,2024-02,abc\n', 4, /cny_per_unit "abc" is not a decimal/],
    ['exchange_rates.csv', BANNER + 'currency,month\n502,2024-01\n', 2, /missing column cny_per_unit/],
    ['exchange_rates.csv', BANNER + 'currency,month,cny_per_unit,note\n', 2, /unknown column "note"/],
    ['exchange_rates.csv', 'currency,month,cny_per_unit\n502,2024-01\n', 2, /2 fields, but the header has 3/],
    ['exchange_rates.csv', 'currency,month,cny_per_unit\n502,2024-13,7.1\n', 2, /YYYY-MM/],
    ['exchange_rates.csv', 'currency,month,cny_per_unit\n502,2024-01,7.1\nUSD,2024-01,7.2\n', 3, /duplicate.*line 2/],
    ['exchange_rates.csv', 'currency,month,cny_per_unit\nXYZ,2024-01,7.1\n', 2, /not a numeric customs currency code/],
    ['exchange_rates.csv', 'currency,month,cny_per_unit\n502,2024-01,0\n', 2, /greater than 0/],
    ['exchange_rates.csv', 'currency,month,cny_per_unit\n502,2024-01,"7.1\n', 2, /not valid CSV/],
    ['exchange_rates.csv', BANNER, undefined, /no header row/],
    ['controlled_goods.csv', 'hs_prefix,kind\n2844,licence\n9301,banned\n', 3, /kind "banned"/],
    ['controlled_goods.csv', 'hs_prefix,kind\n2844,licence\n2844,licence\n', 3, /duplicate/],
    ['controlled_goods.csv', 'hs_prefix,kind\n28X4,licence\n', 2, /hs_prefix/],
    ['aeo_enterprises.csv', 'code,name\nA1,x\nA1,y\n', 3, /duplicate code A1/],
    ['risk_profiles.csv', BANNER + 'id,gcode_prefix,ebc_code,owner_code,country,trade_mode,customs_code,min_value_cny,max_value_cny,valid_from,valid_to,rate\nRP-X,,,,,,,,,,,1.5\n', 3, /above 1/],
    ['risk_profiles.csv', 'id,gcode_prefix,ebc_code,owner_code,country,trade_mode,customs_code,min_value_cny,max_value_cny,valid_from,valid_to,rate\nRP-X,,,,,,,100,50,,,0.1\n', 2, /min_value_cny 100 is greater than max_value_cny 50/],
    ['risk_profiles.csv', 'id,gcode_prefix,ebc_code,owner_code,country,trade_mode,customs_code,min_value_cny,max_value_cny,valid_from,valid_to,rate\nRP-X,,,,,,,,,2021-02-29,,0.1\n', 2, /valid_from "2021-02-29"/],
    ['risk_profiles.csv', 'id,gcode_prefix,ebc_code,owner_code,country,trade_mode,customs_code,min_value_cny,max_value_cny,valid_from,valid_to,rate\nRP-X,,,,,,,,,,,\n', 2, /rate is empty/],
    ['risk_profiles.csv', 'id,gcode_prefix,ebc_code,owner_code,country,trade_mode,customs_code,min_value_cny,max_value_cny,valid_from,valid_to,rate\nRP-X,,,,,,,,,,,1\nRP-X,,,,,,,,,,,1\n', 3, /duplicate profile id RP-X/],
    ['value_bands.csv', 'hs6,country,min_unit_price_cny,max_unit_price_cny\n392690,502,10,5\n', 2, /greater than/],
    ['value_bands.csv', 'hs6,country,min_unit_price_cny,max_unit_price_cny\n392690,502,1.123456,5\n', 2, /min_unit_price_cny "1.123456" is not a decimal/],
    ['customs_offices.csv', 'code,name,district\n5141,Baiyun,5300\n', 2, /district "5300" does not fit code 5141/],
  ];
  for (const [file, text, line, re] of cases) {
    const dir = tempDir();
    try {
      writeFileSync(join(dir, file), text);
      throwsPolicy(() => loadReference(dir), file, line, 'REFERENCE_INVALID', re);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('an empty table (header only) is allowed', () => {
  const dir = tempDir();
  try {
    writeFileSync(join(dir, 'risk_profiles.csv'), BANNER + 'id,gcode_prefix,ebc_code,owner_code,country,trade_mode,customs_code,min_value_cny,max_value_cny,valid_from,valid_to,rate\n');
    assert.equal(loadReference(dir).riskProfiles.length, 0);
    assert.ok(existsSync(join(dir, 'risk_profiles.csv')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
