/**
 * The ingest stage end to end: discovery, the official samples, formats that must stage the same
 * rows, thread counts that must not matter, the ledger, and files quarantined whole.
 */
import { strict as assert } from 'node:assert';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { openDatabase, type Db } from '../src/db/duck.js';
import { generateDays } from '../src/generate/generator.js';
import { discover } from '../src/ingest/discover.js';
import { ingestDay, type IngestResult } from '../src/ingest/ingest.js';
import { groupTasks, workerYoungMb } from '../src/ingest/pool.js';
import { readBatch } from '../src/ingest/batch.js';
import { packGroup, packResult, parseGroup, unpackGroup, unpackResult, type ParseTask } from '../src/ingest/parse-file.js';
import { parseCsv } from '../src/policy/csv.js';
import { RECORD_SPECS } from '../src/spec/fields.js';
import { stagingTable } from '../src/spec/schema.js';

function projectRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json'))) d = dirname(d);
  return d;
}
const SAMPLES = join(projectRoot(), '..', 'shared', 'ceb-spec', 'samples-202205');
const tmp = mkdtempSync(join(tmpdir(), 'declmatch-ingest-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

async function ingest(dir: string, threads: number): Promise<{ db: Db; r: IngestResult }> {
  const db = await openDatabase(':memory:', { threads: 1 });
  const r = await ingestDay(dir, db, { threads });
  return { db, r };
}

/** A staging table's rows, sorted, without the columns that name where a row came from. */
async function contents(db: Db, table: string, exclude = ['source_file', 'message_guid', 'record_index']): Promise<string> {
  const cols = exclude.length ? `* EXCLUDE (${exclude.join(', ')})` : '*';
  const rows = await db.all(`SELECT ${cols} FROM ${table} ORDER BY ALL`);
  return JSON.stringify(rows, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

describe('discover', () => {
  test('classifies XML by its root (any CEB prefix, gzip), tabular files by name, and reports the rest', () => {
    const dir = join(tmp, 'discover');
    mkdirSync(dir, { recursive: true });
    const ns = 'http://www.chinaport.gov.cn/ceb';
    writeFileSync(join(dir, 'a.xml'), `\uFEFF<?xml version="1.0"?>\n<!-- c -->\n<c:CEB603Message guid="x" version="1.0" xmlns:c="${ns}"></c:CEB603Message>`);
    writeFileSync(join(dir, 'b.xml.gz'), gzipSync(`<CEB505Message xmlns="${ns}" guid="y" version="1.0"/>`));
    writeFileSync(join(dir, 'c.xml'), `<ceb:CEB507Message xmlns:ceb="${ns}"/>`);
    writeFileSync(join(dir, 'd.xml'), `<ceb:CEB603Message xmlns:ceb="urn:other"/>`);
    writeFileSync(join(dir, 'lists.csv'), 'copNo\n');
    writeFileSync(join(dir, 'stuff.csv'), 'x\n');
    writeFileSync(join(dir, 'notes.txt'), 'hello');
    mkdirSync(join(dir, 'sub'));
    const got = Object.fromEntries(discover(dir).map((f) => [f.name, [f.verdict, f.recordType]]));
    assert.deepEqual(got, {
      'a.xml': ['read', 'list'],
      'b.xml.gz': ['read', 'waybill'],
      'c.xml': ['skipped', null],
      'd.xml': ['read', null],
      'lists.csv': ['read', 'list'],
      'stuff.csv': ['unknown', null],
      'notes.txt': ['unknown', null],
      sub: ['unknown', null],
    });
  });
});

describe('the official samples', () => {
  const dir = join(tmp, 'samples');
  let db: Db;
  let r: IngestResult;
  before(async () => {
    mkdirSync(dir, { recursive: true });
    for (const m of ['CEB303', 'CEB403', 'CEB505', 'CEB603', 'CEB605', 'CEB213', 'CEB507', 'CEB604']) copyFileSync(join(SAMPLES, `${m}Message.xml`), join(dir, `${m}Message.xml`));
    ({ db, r } = await ingest(dir, 2));
  });
  after(() => db.close());

  test('every business record of the six read messages is staged, the others are skipped', async () => {
    const expect: Record<string, [string, RegExp]> = {
      order: ['CEB303', /<ceb:Order>/g],
      receipt: ['CEB403', /<ceb:Receipts>/g],
      waybill: ['CEB505', /<ceb:Logistics>/g],
      list: ['CEB603', /<ceb:Inventory>/g],
      cancel: ['CEB605', /<ceb:InvtCancel>/g],
      return: ['CEB213', /<ceb:InvtRefund>/g],
    };
    for (const [type, [m, re]] of Object.entries(expect)) {
      const n = (readFileSync(join(SAMPLES, `${m}Message.xml`), 'utf8').match(re) ?? []).length;
      assert.ok(n > 0);
      assert.equal(r.ledger.find((l) => l.recordType === type)?.read, n, type);
    }
    assert.equal(r.files.read, 6);
    assert.equal(r.files.skipped, 2);
    assert.equal(r.files.malformed, 0);
  });

  test('their bad values come out as field findings with codes', async () => {
    const rows = await db.all(`SELECT record_type, field, code, count(*)::INTEGER AS n FROM stg_quarantine GROUP BY ALL ORDER BY ALL`);
    const has = (type: string, field: string, code: string) => rows.some((x) => x.record_type === type && x.field === field && x.code === code);
    assert.ok(has('list', 'ieFlag', 'FIELD_VALUE'), JSON.stringify(rows));
    assert.ok(has('list', 'tradeMode', 'FIELD_VALUE'), JSON.stringify(rows));
    const invalid = await db.all(`SELECT count(*)::INTEGER AS n FROM stg_lists WHERE NOT record_valid`);
    assert.ok((invalid[0]?.n as number) > 0);
  });

  test('staged rows name their file, message guid and entity index', async () => {
    const rows = await db.all(`SELECT DISTINCT source_file, message_guid FROM stg_lists`);
    const guid = /<ceb:CEB603Message guid="([^"]+)"/.exec(readFileSync(join(SAMPLES, 'CEB603Message.xml'), 'utf8'))?.[1];
    assert.deepEqual(rows, [{ source_file: 'CEB603Message.xml', message_guid: guid }]);
    const idx = await db.all(`SELECT list(DISTINCT record_index ORDER BY record_index) AS i FROM stg_list_lines`);
    assert.deepEqual(idx[0]?.i, Array.from({ length: r.ledger.find((l) => l.recordType === 'list')?.read ?? 0 }, (_, k) => k + 1));
  });

  test('the ledger adds up: read = staged + quarantined for every record type', () => {
    for (const l of r.ledger) assert.equal(l.read, l.staged + l.quarantined, l.recordType);
  });
});

describe('a generated day in three formats', () => {
  const base = join(tmp, 'formats');
  const date = '2025-06-12';
  const dbs = new Map<string, Db>();
  const results = new Map<string, IngestResult>();
  before(async () => {
    for (const format of ['xml', 'csv', 'parquet'] as const) {
      await generateDays({ out: join(base, format), date, days: 1, lists: 1500, seed: 'ingest', format, anomalyRate: 0.1 });
      const { db, r } = await ingest(join(base, format, date), 2);
      dbs.set(format, db);
      results.set(format, r);
    }
  });
  after(() => {
    for (const db of dbs.values()) db.close();
  });

  test('XML, CSV and Parquet stage the same rows in every staging table', async () => {
    for (const spec of RECORD_SPECS) {
      const xml = await contents(dbs.get('xml') as Db, stagingTable(spec));
      assert.equal(await contents(dbs.get('csv') as Db, stagingTable(spec)), xml, `${spec.table} csv`);
      assert.equal(await contents(dbs.get('parquet') as Db, stagingTable(spec)), xml, `${spec.table} parquet`);
    }
  });

  test('the same field findings are quarantined from every format', async () => {
    const q = (f: string) => contents(dbs.get(f) as Db, 'stg_quarantine', ['file', 'message_guid', 'record_index']);
    assert.equal(await q('csv'), await q('xml'));
    assert.equal(await q('parquet'), await q('xml'));
  });

  test('the quarantine holds exactly the generator’s expected field findings', async () => {
    const truth = parseCsv(readFileSync(join(base, 'xml', `${date}.truth`, 'quarantine.csv'), 'utf8'))
      .slice(1)
      .filter((r) => r.length > 1 && (r[6] ?? '').startsWith('FIELD_'))
      .map((r) => [r[0], Number(r[2]), r[3], r[4], r[5], r[6]].join('|'))
      .sort();
    const got = (await (dbs.get('xml') as Db).all(`SELECT file, record_index, record_type, business_key, field, code FROM stg_quarantine WHERE code LIKE 'FIELD_%' ORDER BY ALL`))
      .map((r) => [r.file, r.record_index, r.record_type, r.business_key, r.field, r.code].join('|'))
      .sort();
    assert.ok(truth.length > 0);
    assert.deepEqual(got, truth);
  });

  test('the ledger counts every list the generator wrote', () => {
    const lists = results.get('xml')?.ledger.find((l) => l.recordType === 'list');
    assert.equal(lists?.read, 1500);
    for (const r of results.values()) for (const l of r.ledger) assert.equal(l.read, l.staged + l.quarantined);
  });
});

describe('threads and bad files', () => {
  test('one and two threads stage identical tables, provenance included', async () => {
    const out = join(tmp, 'threads');
    await generateDays({ out, date: '2025-06-12', days: 1, lists: 1200, seed: 'threads', format: 'xml', anomalyRate: 0.05 });
    const a = await ingest(join(out, '2025-06-12'), 1);
    const b = await ingest(join(out, '2025-06-12'), 2);
    try {
      for (const spec of RECORD_SPECS) assert.equal(await contents(b.db, stagingTable(spec), []), await contents(a.db, stagingTable(spec), []), spec.table);
      assert.equal(await contents(b.db, 'stg_quarantine', []), await contents(a.db, 'stg_quarantine', []));
    } finally {
      a.db.close();
      b.db.close();
    }
  });

  test('a truncated, a binary and an empty file are quarantined whole and the run goes on', async () => {
    const dir = join(tmp, 'bad');
    mkdirSync(dir, { recursive: true });
    const good = readFileSync(join(SAMPLES, 'CEB505Message.xml'));
    writeFileSync(join(dir, 'good.xml'), good);
    writeFileSync(join(dir, 'truncated.xml'), good.subarray(0, Math.floor(good.length / 2)));
    writeFileSync(join(dir, 'binary.xml'), Buffer.from([0, 1, 2, 255, 254, 0x3c, 0x00, 0x80]));
    writeFileSync(join(dir, 'empty.xml'), '');
    writeFileSync(join(dir, 'waybills.csv'), '');
    const { db, r } = await ingest(dir, 2);
    try {
      assert.equal(r.files.read, 1);
      assert.equal(r.files.malformed, 4);
      const q = await db.all(`SELECT file, code FROM stg_quarantine WHERE record_index IS NULL ORDER BY file`);
      assert.deepEqual(q.map((x) => [x.file, x.code]), [
        ['binary.xml', 'MALFORMED_MESSAGE'],
        ['empty.xml', 'MALFORMED_MESSAGE'],
        ['truncated.xml', 'MALFORMED_MESSAGE'],
        ['waybills.csv', 'MALFORMED_MESSAGE'],
      ]);
      const staged = await db.all(`SELECT DISTINCT source_file FROM stg_waybills`);
      assert.deepEqual(staged.map((x) => x.source_file), ['good.xml']);
    } finally {
      db.close();
    }
  });

  for (const mode of ['throw', 'exit', 'hang'] as const) {
    test(`a worker that fails by ${mode} on a file quarantines that file and the run goes on`, async () => {
      const dir = join(tmp, `fault-${mode}`);
      mkdirSync(dir, { recursive: true });
      for (const m of ['CEB303', 'CEB505', 'CEB603']) copyFileSync(join(SAMPLES, `${m}Message.xml`), join(dir, `${m}Message.xml`));
      process.env.DECLMATCH_FAULT_INJECT = `${mode}:CEB505`;
      const db = await openDatabase(':memory:', { threads: 1 });
      try {
        const r = await ingestDay(dir, db, { threads: 2, timeoutMs: 3000 });
        assert.equal(r.files.read, 2);
        assert.equal(r.files.malformed, 1);
        const q = await db.all(`SELECT file, code, detail FROM stg_quarantine WHERE record_index IS NULL`);
        assert.equal(q.length, 1);
        assert.equal(q[0]?.file, 'CEB505Message.xml');
        assert.match(String(q[0]?.detail), mode === 'hang' ? /ran out of time/ : /worker failed/);
        assert.ok((r.ledger.find((l) => l.recordType === 'list')?.read ?? 0) > 0);
      } finally {
        delete process.env.DECLMATCH_FAULT_INJECT;
        db.close();
      }
    });
  }

  test('groupTasks: consecutive small XML files in groups of about the group size, everything else alone, order kept', () => {
    const t = (name: string, bytes: number, kind: ParseTask['kind'] = 'xml'): ParseTask => ({ path: name, name, kind, recordType: 'list', bytes });
    const tasks = [t('a', 300), t('b', 300), t('c', 300), t('big', 2000), t('d', 300), t('e.csv', 10, 'csv'), t('f', 300), t('g', 100), t('h', 300), t('i', 300)];
    const names = (u: ParseTask | ParseTask[]) => (Array.isArray(u) ? u.map((x) => x.name) : u.name);
    // groups close once they reach 800 bytes; files over 1000 bytes and tabular files go alone
    assert.deepEqual(groupTasks(tasks, 800, 1000).map(names), [['a', 'b', 'c'], 'big', 'd', 'e.csv', ['f', 'g', 'h', 'i']]);
    assert.deepEqual(groupTasks(tasks, 0, 1000).map(names), tasks.map((x) => x.name), 'group size 0: every file alone');
    const many = Array.from({ length: 150 }, (_, i) => t(`m${i}`, 1));
    assert.deepEqual(groupTasks(many, 1e9, 1000).map((u) => (Array.isArray(u) ? u.length : 1)), [64, 64, 22], 'at most 64 files a group');
  });

  test('a packed worker result: the batches come back whole, each 8-byte aligned, and are read without a copy', async () => {
    const names = ['CEB303Message.xml', 'CEB603Message.xml', 'CEB505Message.xml'];
    const tasks: ParseTask[] = names.map((name) => ({ path: join(SAMPLES, name), name, kind: 'xml', recordType: null, batchRows: 1 }));
    const g = await parseGroup(tasks);
    assert.ok(g.batches.length >= 3, 'several batches of one row');
    // the header grows by 0–7 bytes in turn, so the batches would start at every offset mod 8
    for (let pad = 0; pad < 8; pad++) {
      const results = g.results.map((r) => ({ ...r, detail: r.detail + 'x'.repeat(pad) }));
      for (const back of [unpackGroup(packGroup({ results, batches: g.batches })), unpackResult(packResult({ ...results[0]!, batches: g.batches }))]) {
        assert.equal(back.batches.length, g.batches.length);
        back.batches.forEach((b, i) => {
          assert.deepEqual(Buffer.from(b.ipc), Buffer.from(g.batches[i]!.ipc), `batch ${i} intact`);
          assert.equal(b.ipc.byteOffset % 8, 0, `batch ${i} aligned (pad ${pad})`);
          // Arrow reads an aligned body in place: its columns are views of the packed buffer
          const col = readBatch(b.ipc).batches[0]!.data.children[0]!;
          assert.equal(col.values.buffer, b.ipc.buffer, `batch ${i} read in place (pad ${pad})`);
        });
      }
    }
  });

  test('workerYoungMb: 192 MB of young generation per worker up to two, 384 MB in all beyond, never below V8 default of 48', () => {
    assert.deepEqual([1, 2, 3, 4, 8, 16, 64].map(workerYoungMb), [192, 192, 128, 96, 48, 48, 48]);
  });

  test('after N worker failures in a row the ingest stops with an error', async () => {
    const dir = join(tmp, 'fault-many');
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < 5; i++) copyFileSync(join(SAMPLES, 'CEB505Message.xml'), join(dir, `bad${i}.xml`));
    process.env.DECLMATCH_FAULT_INJECT = 'throw:bad';
    const db = await openDatabase(':memory:', { threads: 1 });
    try {
      await assert.rejects(ingestDay(dir, db, { threads: 1, maxConsecutiveFailures: 3 }), /3 parse workers failed in a row/);
    } finally {
      delete process.env.DECLMATCH_FAULT_INJECT;
      db.close();
    }
  });
});
