/**
 * The generator: same seed, same bytes; every XML message valid against the official XSD; the
 * ground truth covers every reason code of RULES.md §4 and §7; formats hold the same records; a
 * clean day is clean.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { XMLParser } from 'fast-xml-parser';
import { generateDays } from '../src/generate/generator.js';
import { writeLines } from '../src/generate/writers.js';
import { parseCsv } from '../src/policy/csv.js';
import { recordSpec, tabularColumns } from '../src/spec/fields.js';

function projectRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json'))) d = dirname(d);
  return d;
}
const XSD = join(projectRoot(), '..', 'shared', 'ceb-spec', 'xsd', 'ceb-export-202205.xsd');

const tmp = mkdtempSync(join(tmpdir(), 'declmatch-gen-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function treeHash(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p, join(rel, e.name));
      else out.set(join(rel, e.name), createHash('sha256').update(readFileSync(p)).digest('hex'));
    }
  };
  walk(dir, '');
  return out;
}

function truthRows(dir: string, date: string, file = 'decisions.csv'): string[][] {
  const rows = parseCsv(readFileSync(join(dir, `${date}.truth`, file), 'utf8'));
  return rows.slice(1).filter((r) => r.length > 1);
}

const SECTION4 = [
  'INVALID_RECORD', 'ORDER_MISSING', 'ORDER_PARTY_MISMATCH', 'ORDER_TYPE_MISMATCH', 'LINE_COUNT_MISMATCH', 'LINE_MISMATCH',
  'VALUE_MISMATCH', 'WAYBILL_MISSING', 'WAYBILL_PARTY_MISMATCH', 'FREIGHT_MISMATCH', 'INSURANCE_MISMATCH', 'PACK_MISMATCH',
  'WEIGHT_MISMATCH', 'NET_OVER_GROSS', 'PAYMENT_MISSING', 'PAYMENT_MISMATCH', 'ORDER_REUSED', 'WAYBILL_REUSED',
  'DUPLICATE_LIST', 'UNKNOWN_CURRENCY', 'B2B_OVER_THRESHOLD', 'B2B_CONTROLLED_GOODS', 'SIMPLIFIED_NOT_ELIGIBLE',
];
const SECTION7 = [
  'RETURN_ORIGINAL_MISSING', 'RETURN_ORIGINAL_NOT_RELEASED', 'RETURN_EXPIRED', 'RETURN_MODE_NOT_ELIGIBLE',
  'RETURN_PARTY_MISMATCH', 'RETURN_LINE_MISMATCH', 'RETURN_QTY_EXCEEDED', 'RETURN_CROSS_DISTRICT_NOT_ALLOWED',
];

describe('a two-day XML sample (10,000 lists a day, anomaly rate 0.05)', () => {
  const dir = join(tmp, 'big');
  const dates = ['2025-06-12', '2025-06-13'];
  before(async () => {
    await generateDays({ out: dir, date: dates[0] as string, days: 2, lists: 10_000, seed: '7', format: 'xml', anomalyRate: 0.05 });
  });

  test('the ground truth covers every reason code of RULES.md §4 and §7', () => {
    const seen = new Set<string>();
    for (const d of dates) {
      for (const r of truthRows(dir, d)) for (const code of (r[7] ?? '').split(';')) seen.add(code);
      for (const r of truthRows(dir, d, 'return_decisions.csv')) for (const code of (r[6] ?? '').split(';')) seen.add(code);
    }
    const missing = [...SECTION4, ...SECTION7, 'CANCELLED', 'RISK_PROFILE', 'VALUE_BAND', 'RANDOM_SAMPLE'].filter((c) => !seen.has(c));
    assert.deepEqual(missing, []);
  });

  test('every decision has the status code and channel of RULES.md §5', () => {
    const expected: Record<string, [string, string]> = {
      REJECT: ['100', ''], PENDING: ['2', ''], REVIEW: ['300', 'yellow'], INSPECT: ['500', 'red'], RELEASE: ['800', 'green'], CANCELLED: ['100', ''],
    };
    for (const d of dates) {
      for (const r of truthRows(dir, d)) {
        const e = expected[r[4] ?? ''];
        assert.ok(e, `unknown decision ${r[4]}`);
        assert.deepEqual([r[5], r[6]], e, `row ${r.join(',')}`);
      }
    }
  });

  test('each list key appears once per day, with sorted reasons; decided lists carry an invtNo', () => {
    for (const d of dates) {
      const keys = new Set<string>();
      for (const r of truthRows(dir, d)) {
        const key = `${r[1]}|${r[2]}`;
        assert.ok(!keys.has(key), `${key} twice on ${d}`);
        keys.add(key);
        const reasons = (r[7] ?? '').split(';').filter(Boolean);
        assert.deepEqual(reasons, [...reasons].sort());
        if (r[4] !== 'PENDING') assert.match(r[3] ?? '', /^\d{4}\d{4}E\d{11}$/, `invt_no of ${key}`);
      }
    }
  });

  test('reasons agree with their decision (R → REJECT; P without R → PENDING; V → REVIEW)', () => {
    const R = new Set(['INVALID_RECORD', 'ORDER_PARTY_MISMATCH', 'ORDER_TYPE_MISMATCH', 'LINE_COUNT_MISMATCH', 'LINE_MISMATCH', 'VALUE_MISMATCH', 'WAYBILL_PARTY_MISMATCH', 'NET_OVER_GROSS', 'ORDER_REUSED', 'WAYBILL_REUSED', 'DUPLICATE_LIST', 'UNKNOWN_CURRENCY', 'B2B_OVER_THRESHOLD', 'B2B_CONTROLLED_GOODS', 'SIMPLIFIED_NOT_ELIGIBLE']);
    const P = new Set(['ORDER_MISSING', 'WAYBILL_MISSING', 'PAYMENT_MISSING']);
    const V = new Set(['FREIGHT_MISMATCH', 'INSURANCE_MISMATCH', 'PACK_MISMATCH', 'WEIGHT_MISMATCH', 'PAYMENT_MISMATCH']);
    const I = new Set(['RISK_PROFILE', 'VALUE_BAND', 'RANDOM_SAMPLE']);
    for (const d of dates) {
      for (const r of truthRows(dir, d)) {
        const reasons = (r[7] ?? '').split(';').filter(Boolean);
        const dec = r[4];
        if (dec === 'CANCELLED') assert.deepEqual(reasons, ['CANCELLED']);
        else if (reasons.some((x) => R.has(x))) assert.equal(dec, 'REJECT', r.join(','));
        else if (reasons.some((x) => P.has(x))) assert.ok(dec === 'PENDING' || dec === 'REJECT', r.join(','));
        else if (reasons.some((x) => V.has(x))) assert.equal(dec, 'REVIEW', r.join(','));
        else if (reasons.some((x) => I.has(x))) assert.equal(dec, 'INSPECT', r.join(','));
        else assert.equal(dec, 'RELEASE', r.join(','));
        if (reasons.includes('INVALID_RECORD')) assert.deepEqual(reasons, ['INVALID_RECORD']);
      }
    }
  });

  test('lists pending on day 1 are decided or still pending on day 2', () => {
    const day2 = new Map(truthRows(dir, dates[1] as string).map((r) => [`${r[1]}|${r[2]}`, r[4]]));
    const pending1 = truthRows(dir, dates[0] as string).filter((r) => r[4] === 'PENDING');
    assert.ok(pending1.length > 50);
    for (const r of pending1) assert.ok(day2.has(`${r[1]}|${r[2]}`), `${r[1]}|${r[2]} pending on day 1 is missing on day 2`);
    assert.ok([...day2.values()].includes('PENDING'));
    const decidedLater = pending1.filter((r) => day2.get(`${r[1]}|${r[2]}`) !== 'PENDING');
    assert.ok(decidedLater.length > 10, 'late counterparts let some pending lists be decided the next day');
  });

  test('the files hold exactly the lists of the truth, plus drafts', () => {
    const parser = new XMLParser({ removeNSPrefix: true, ignoreAttributes: true, isArray: (name) => name === 'Inventory' || name === 'InventoryList', parseTagValue: false });
    const d = dates[0] as string;
    const keys = new Set<string>();
    let drafts = 0;
    for (const f of readdirSync(join(dir, d)).filter((f) => f.startsWith('CEB603'))) {
      let buf = readFileSync(join(dir, d, f));
      if (f.endsWith('.gz')) buf = gunzipSync(buf);
      const doc = parser.parse(buf.toString('utf8')) as { CEB603Message: { Inventory: { InventoryHead: Record<string, string> }[] } };
      for (const inv of doc.CEB603Message.Inventory) {
        if (inv.InventoryHead.appStatus === '1') drafts++;
        else keys.add(`${inv.InventoryHead.agentCode}|${inv.InventoryHead.copNo}`);
      }
    }
    const truth = new Set(truthRows(dir, d).map((r) => `${r[1]}|${r[2]}`));
    assert.deepEqual([...keys].filter((k) => !truth.has(k)), []);
    assert.deepEqual([...truth].filter((k) => !keys.has(k)), []);
    assert.ok(drafts > 0);
  });

  test('every XML message validates against the official XSD (xmllint)', { timeout: 600_000 }, () => {
    const which = spawnSync('xmllint', ['--version']);
    if (which.error) assert.fail('xmllint is not installed: apt-get install libxml2-utils (.ci/run does this)');
    for (const d of dates) {
      const files = readdirSync(join(dir, d)).map((f) => join(dir, d, f));
      for (let i = 0; i < files.length; i += 200) {
        const res = spawnSync('xmllint', ['--noout', '--schema', XSD, ...files.slice(i, i + 200)], { encoding: 'utf8', maxBuffer: 1 << 26 });
        const bad = res.stderr.split('\n').filter((l) => l.trim() && !l.endsWith(' validates'));
        assert.deepEqual(bad, []);
        assert.equal(res.status, 0);
      }
    }
  });
});

describe('determinism and formats', () => {
  test('writeLines writes the header and every line across chunk boundaries, multi-byte text included', () => {
    const dir = mkdtempSync(join(tmpdir(), 'declmatch-lines-'));
    try {
      const lines = Array.from({ length: 1000 }, (_, i) => `${i},${'x'.repeat(i % 37)},清单${i}`);
      for (const chunk of [1, 7, 100, 1 << 20]) {
        writeLines(join(dir, 'f.csv'), 'h1,h2\n', lines, '\n', chunk);
        assert.equal(readFileSync(join(dir, 'f.csv'), 'utf8'), 'h1,h2\n' + lines.map((l) => l + '\n').join(''), `chunk ${chunk}`);
      }
      writeLines(join(dir, 'g.csv'), 'h\n', ['a\n', 'b\n']);
      assert.equal(readFileSync(join(dir, 'g.csv'), 'utf8'), 'h\na\nb\n');
      writeLines(join(dir, 'e.csv'), 'h\n', []);
      assert.equal(readFileSync(join(dir, 'e.csv'), 'utf8'), 'h\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the same seed gives byte-identical output; another seed does not', async () => {
    const a = join(tmp, 'a');
    const b = join(tmp, 'b');
    const c = join(tmp, 'c');
    await generateDays({ out: a, date: '2025-06-12', days: 2, lists: 800, seed: 's', format: 'xml', anomalyRate: 0.1 });
    await generateDays({ out: b, date: '2025-06-12', days: 2, lists: 800, seed: 's', format: 'xml', anomalyRate: 0.1 });
    await generateDays({ out: c, date: '2025-06-12', days: 2, lists: 800, seed: 't', format: 'xml', anomalyRate: 0.1 });
    assert.deepEqual(treeHash(a), treeHash(b));
    assert.notDeepEqual(treeHash(a), treeHash(c));
  });

  test('XML, CSV and Parquet of a seed have the same ground truth and the same record counts', async () => {
    const sums = new Map<string, Map<string, string>>();
    const counts = new Map<string, unknown>();
    for (const format of ['xml', 'csv', 'parquet'] as const) {
      const out = join(tmp, `f-${format}`);
      const days = await generateDays({ out, date: '2024-12-10', days: 2, lists: 600, seed: 'fmt', format, anomalyRate: 0.1 });
      const h = treeHash(out);
      sums.set(format, new Map([...h].filter(([k]) => k.includes('.truth') && !k.includes('quarantine'))));
      counts.set(format, days.map((x) => x.records));
      if (format === 'csv') {
        const rows = parseCsv(readFileSync(join(out, '2024-12-10', 'lists.csv'), 'utf8'));
        assert.deepEqual(rows[0], [...tabularColumns(recordSpec('list'))]);
        assert.equal(rows.length - 1, days[0]?.records.list);
      }
      if (format === 'parquet') {
        const { DuckDBInstance } = await import('@duckdb/node-api');
        const db = await DuckDBInstance.create(':memory:');
        const con = await db.connect();
        const r = await con.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM read_parquet('${join(out, '2024-12-10', 'lists.parquet')}')`);
        assert.equal(r.getRowObjects()[0]?.n, days[0]?.records.list);
        con.closeSync();
        db.closeSync();
      }
    }
    assert.equal(sums.get('xml')?.size, 4);
    assert.deepEqual(counts.get('xml'), counts.get('csv'));
    assert.deepEqual(counts.get('xml'), counts.get('parquet'));
    assert.deepEqual(sums.get('xml'), sums.get('csv'));
    assert.deepEqual(sums.get('xml'), sums.get('parquet'));
  });

  test('with anomaly rate 0 nothing is rejected or quarantined', async () => {
    const out = join(tmp, 'clean');
    const days = await generateDays({ out, date: '2025-06-12', days: 2, lists: 1500, seed: 'clean', format: 'csv', anomalyRate: 0 });
    for (const d of days) {
      assert.equal(d.decisions.REJECT ?? 0, 0, JSON.stringify(d.decisions));
      assert.equal(d.quarantined, 0);
      assert.equal(d.returns.REJECT ?? 0, 0, JSON.stringify(d.returns));
    }
  });

  test('before 2024-12-15 receipts are required for 9610: missing receipts leave lists pending', async () => {
    const out = join(tmp, 'old-policy');
    await generateDays({ out, date: '2024-12-01', days: 1, lists: 2000, seed: 'old', format: 'csv', anomalyRate: 0.05 });
    const rows = truthRows(out, '2024-12-01');
    const pm = rows.filter((r) => (r[7] ?? '').split(';').includes('PAYMENT_MISSING'));
    assert.ok(pm.length > 0);
    assert.ok(pm.every((r) => r[4] === 'PENDING' || r[4] === 'REJECT'));
    assert.ok(pm.some((r) => r[4] === 'PENDING'));
    assert.ok(rows.every((r) => r[9] === 'gacc-2020-75'));
  });
});

