/**
 * writeReceipts: CEB604 receipts for a day's decisions, 100 InventoryReturn per message, valid
 * against the official 202205 XSD (xmllint), escaped, deterministic.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { XMLParser } from 'fast-xml-parser';
import { openDatabase, type Db } from '../src/db/duck.js';
import { DECISIONS_DDL } from '../src/match/run.js';
import { cebTime, INVENTORY_RETURN_FIELDS, writeReceipts } from '../src/publish/receipts.js';
import { xsdChildren, xsdPath } from './xsd.js';

const D1 = '2025-06-12';
const D2 = '2025-06-13';
const tmp = mkdtempSync(join(tmpdir(), 'declmatch-receipts-'));
const out = join(tmp, `it's receipts`);
let db: Db;

const SPECIAL = ['数量不符<2&3>', `"quoted" 'single' ]]>`];
const LONG = Array.from({ length: 400 }, (_, i) => `原因😀${i}`); // far over 1000 characters, with astral characters

before(async () => {
  db = await openDatabase(':memory:', { threads: 2 });
  await db.run(DECISIONS_DDL);
  // 250 lists decided on D1 (inserted in reverse, the receipts must sort them), 7 on D2
  await db.run(`INSERT INTO decisions
    SELECT DATE '${D1}', 'r1', 'AG' || lpad((i % 3)::VARCHAR, 8, '0'), 'COP' || lpad(i::VARCHAR, 6, '0'),
      CASE WHEN i % 5 = 0 THEN NULL ELSE '2201' || '2025' || 'E' || lpad(i::VARCHAR, 11, '0') END,
      '9610', '2201', 'EBP0000001', 'EBC0000001', 'ORD' || i, 'LOG01', 'W' || i,
      CASE i % 4 WHEN 0 THEN 'RELEASE' WHEN 1 THEN 'REJECT' WHEN 2 THEN 'REVIEW' ELSE 'PENDING' END,
      CASE i % 4 WHEN 0 THEN 800 WHEN 1 THEN 100 WHEN 2 THEN 300 ELSE 2 END, NULL,
      CASE i % 4 WHEN 0 THEN []::VARCHAR[] WHEN 1 THEN ['ORDER_MISSING', 'VALUE_MISMATCH'] ELSE ['WAYBILL_MISSING'] END,
      10.5, 'gacc-2024-167', NULL, NULL
    FROM range(250, 0, -1) t(i)`);
  await db.run(`UPDATE decisions SET reasons = [${SPECIAL.map((s) => `'${s.replace(/'/g, "''")}'`).join(', ')}] WHERE cop_no = 'COP000007'`);
  await db.run(`UPDATE decisions SET reasons = [${LONG.map((s) => `'${s}'`).join(', ')}] WHERE cop_no = 'COP000008'`);
  await db.run(`INSERT INTO decisions SELECT DATE '${D2}', 'r2', 'AG9', 'D2COP' || i, NULL, '9610', '2201', 'EBP', 'EBC', 'O', 'L', 'W', 'RELEASE', 800, 'green', [], 1, NULL, NULL, NULL FROM range(7) t(i)`);
  // the list versions: preNo and statisticsFlag come from the latest one
  await db.run(`CREATE TABLE hist_lists (business_date DATE, source_file VARCHAR, record_index INTEGER, agent_code VARCHAR, cop_no VARCHAR,
    app_time TIMESTAMP, app_status VARCHAR, pre_no VARCHAR, statistics_flag VARCHAR)`);
  await db.run(`INSERT INTO hist_lists VALUES
    ('${D1}', 'a.xml', 0, 'AG00000001', 'COP000001', '2025-06-12 08:00:00', '2', 'B20250612000000042', 'A'),
    ('${D1}', 'a.xml', 1, 'AG00000001', 'COP000001', '2025-06-12 07:00:00', '2', 'B20250612000000001', 'B'),
    ('${D1}', 'a.xml', 2, 'AG00000002', 'COP000002', '2025-06-12 07:00:00', '2', NULL, NULL)`);
});
after(() => {
  db.close();
  rmSync(tmp, { recursive: true, force: true });
});

const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@_', parseTagValue: false, isArray: (name) => name === 'ceb:InventoryReturn' });

function returnsOf(file: string): Record<string, string>[] {
  const doc = parser.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, unknown>>;
  return doc['ceb:CEB604Message']?.['ceb:InventoryReturn'] as Record<string, string>[];
}

function xmllint(files: readonly string[]): void {
  const which = spawnSync('xmllint', ['--version']);
  if (which.error) assert.fail('xmllint is not installed: apt-get install libxml2-utils');
  const res = spawnSync('xmllint', ['--noout', '--schema', xsdPath(), ...files], { encoding: 'utf8' });
  assert.equal(res.status, 0, res.stderr);
}

describe('writeReceipts', () => {
  test('InventoryReturn fields are the XSD children, in order, with their lengths', () => {
    const xsd = xsdChildren('InventoryReturn').map((c) => ({ name: c.name, length: c.length, minLength: c.minLength, maxLength: c.maxLength, minOccurs: c.minOccurs }));
    assert.deepEqual(
      INVENTORY_RETURN_FIELDS.map((f) => ({ name: f.name, length: f.length, minLength: f.minLength, maxLength: f.maxLength, minOccurs: 1 })),
      xsd,
    );
    assert.equal(xsdChildren('CEB604Message')[0]?.maxOccurs, 100);
  });

  test('250 lists: 3 messages of 100/100/50, valid against the official XSD, in (agentCode, copNo) order', async () => {
    await writeReceipts(db, D2, out);
    const res = await writeReceipts(db, D1, out);
    assert.deepEqual(res.files, [1, 2, 3].map((n) => join(out, `CEB604_${D1}_0000${n}.xml`)));
    assert.equal(res.returns, 250);
    const all = res.files.map(returnsOf);
    assert.deepEqual(
      all.map((r) => r.length),
      [100, 100, 50],
    );
    xmllint([...res.files, join(out, `CEB604_${D2}_00001.xml`)]);

    const flat = all.flat();
    const keys = flat.map((r) => `${r['ceb:agentCode']}|${r['ceb:copNo']}`);
    assert.deepEqual(keys, [...keys].sort());
    assert.equal(new Set(flat.map((r) => r['ceb:guid'])).size, 250);
    const head = readFileSync(res.files[0]!, 'utf8');
    assert.match(head, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<ceb:CEB604Message guid="[0-9A-F-]{36}" version="1.0" xmlns:ceb="http:\/\/www.chinaport.gov.cn\/ceb">\n/);

    const byCop = new Map(flat.map((r) => [r['ceb:copNo'], r]));
    const r4 = byCop.get('COP000004')!;
    assert.deepEqual(
      [r4['ceb:returnStatus'], r4['ceb:returnInfo'], r4['ceb:returnTime'], r4['ceb:invtNo'], r4['ceb:orderNo'], r4['ceb:statisticsFlag']],
      ['800', 'RELEASE', '20250612235959000', '22012025E00000000004', 'ORD4', 'B'],
    );
    assert.equal(byCop.get('COP000005')!['ceb:invtNo'], ''); // no invtNo yet
    assert.equal(byCop.get('COP000001')!['ceb:returnInfo'], 'REJECT: ORDER_MISSING, VALUE_MISMATCH');
    assert.equal(byCop.get('COP000003')!['ceb:returnStatus'], '2');
    // preNo and statisticsFlag from the latest list version; else preNo B + date + position
    assert.deepEqual([byCop.get('COP000001')!['ceb:preNo'], byCop.get('COP000001')!['ceb:statisticsFlag']], ['B20250612000000042', 'A']);
    const pos = keys.indexOf('AG00000002|COP000002') + 1;
    assert.equal(byCop.get('COP000002')!['ceb:preNo'], `B20250612${String(pos).padStart(9, '0')}`);
  });

  test('reason text: escaped, Chinese kept, cut to 1000 characters', async () => {
    const res = await writeReceipts(db, D1, out);
    const flat = res.files.map(returnsOf).flat();
    const special = flat.find((r) => r['ceb:copNo'] === 'COP000007')!;
    assert.equal(special['ceb:returnInfo'], `PENDING: ${SPECIAL.join(', ')}`);
    const raw = res.files.map((f) => readFileSync(f, 'utf8')).join('');
    assert.ok(raw.includes('数量不符&lt;2&amp;3&gt;'));
    const long = Array.from(flat.find((r) => r['ceb:copNo'] === 'COP000008')!['ceb:returnInfo']!);
    assert.equal(long.length, 1000);
    assert.equal(long.at(-1), '…');
    assert.equal(long.join(''), `${Array.from(`RELEASE: ${LONG.join(', ')}`).slice(0, 999).join('')}…`); // code points, not UTF-16 units
  });

  test('a rerun writes byte-identical files; fewer lists remove the extra file; other days stay', async () => {
    const first = await writeReceipts(db, D1, out);
    const bytes = first.files.map((f) => readFileSync(f));
    const again = await writeReceipts(db, D1, out);
    assert.deepEqual(again.files, first.files);
    assert.deepEqual(again.files.map((f) => readFileSync(f)), bytes);

    const d2 = readFileSync(join(out, `CEB604_${D2}_00001.xml`));
    await db.run(`DELETE FROM decisions WHERE business_date = DATE '${D1}' AND cop_no > 'COP000200'`); // 200 left
    const fewer = await writeReceipts(db, D1, out);
    assert.equal(fewer.files.length, 2);
    assert.deepEqual(fewer.removed, [join(out, `CEB604_${D1}_00003.xml`)]);
    assert.deepEqual(readdirSync(out).sort(), [`CEB604_${D1}_00001.xml`, `CEB604_${D1}_00002.xml`, `CEB604_${D2}_00001.xml`]);
    assert.deepEqual(readFileSync(join(out, `CEB604_${D2}_00001.xml`)), d2);
    xmllint(fewer.files);
  });

  test('returnTime: the run time given (China Standard Time) or 17 digits', async () => {
    assert.equal(cebTime(new Date('2025-06-12T07:30:01.001Z')), '20250612153001001');
    const dir = join(tmp, 'time');
    const res = await writeReceipts(db, D2, dir, { returnTime: new Date('2025-06-13T16:00:00.000Z') });
    assert.equal(returnsOf(res.files[0]!)[0]?.['ceb:returnTime'], '20250614000000000');
    await assert.rejects(writeReceipts(db, D2, dir, { returnTime: '2025' }), /17 digits/);
  });

  test('no decisions that day: no files, earlier ones removed', async () => {
    const dir = join(tmp, 'empty');
    await writeReceipts(db, D2, dir);
    await db.run(`DELETE FROM decisions WHERE business_date = DATE '${D2}'`);
    const res = await writeReceipts(db, D2, dir);
    assert.deepEqual([res.files, res.returns, readdirSync(dir)], [[], 0, []]);
  });
});
