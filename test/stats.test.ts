/**
 * The statistics of RULES.md §10 (publish/stats.ts) against an independent reading of a generated
 * sample: the generator's ground truth (`<date>.truth/decisions.csv`, `return_decisions.csv`,
 * `quarantine.csv`) and the CSV input files themselves, with latest wins, grace and quantiles done
 * here in plain TypeScript — not with the SQL under test.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Db } from '../src/db/duck.js';
import { parseCsv } from '../src/policy/csv.js';
import { loadPolicy, policyFor } from '../src/policy/policy.js';
import { districtOf, loadReference } from '../src/policy/reference.js';
import { computeStatistics, STATS_COMMENTS, STATS_METRICS, STATS_TABLES, statsCommentStatements } from '../src/publish/stats.js';
import { parseTimestamp14 } from '../src/spec/validate.js';
import { SAMPLE_DATES, statsSample } from './stats-sample.js';

const tmp = mkdtempSync(join(tmpdir(), 'declmatch-stats-'));
let db: Db;
let out: string;
before(async () => ({ db, out } = await statsSample(tmp)));
after(() => {
  db?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const policy = loadPolicy();
const reference = loadReference();
const D1 = SAMPLE_DATES[0];
const D2 = SAMPLE_DATES[1];

// ---- the independent model -----------------------------------------------------------------------

type Rec = Record<string, string>;
const csvCache = new Map<string, Rec[]>();
/** The rows of a CSV file as objects (fresh copies), cells trimmed; none when the file is absent. */
function readCsv(file: string): Rec[] {
  let recs = csvCache.get(file);
  if (!recs) {
    const [head, ...rows] = existsSync(file) ? parseCsv(readFileSync(file, 'utf8')) : [];
    recs = rows.filter((r) => r.length > 1).map((r) => Object.fromEntries((head ?? []).map((h, i) => [h, (r[i] ?? '').trim()])));
    csvCache.set(file, recs);
  }
  return recs.map((r) => ({ ...r }));
}
interface Version {
  rec: Rec;
  day: string;
  file: string;
  index: number;
  valid: boolean;
  t: number | null;
}
/** Every record of `file` in the day folders up to `date`, with validity from the truth's quarantine. */
function versions(date: string, file: string, lineFile?: string): Version[] {
  const outv: Version[] = [];
  for (const day of SAMPLE_DATES.filter((d) => d <= date)) {
    const q = readCsv(join(out, `${day}.truth`, 'quarantine.csv'));
    const bad = new Set(q.filter((r) => r.file === file).map((r) => Number(r.record_index)));
    // a field that failed validation is not stored (ingest keeps NULL for it)
    const badFields = new Map<number, string[]>();
    for (const r of q.filter((x) => x.file === file)) badFields.set(Number(r.record_index), [...(badFields.get(Number(r.record_index)) ?? []), r.field ?? '']);
    const badHeads = new Set<string>();
    if (lineFile) {
      const lines = readCsv(join(out, day, lineFile));
      for (const r of q.filter((x) => x.file === lineFile)) badHeads.add(lines[Number(r.record_index) - 1]?.headGuid ?? '');
    }
    readCsv(join(out, day, file)).forEach((rec, i) => {
      for (const f of badFields.get(i + 1) ?? []) rec[f] = '';
      outv.push({ rec, day, file, index: i + 1, valid: !bad.has(i + 1) && !badHeads.has(rec.guid ?? ''), t: parseTimestamp14(rec.appTime ?? '') });
    });
  }
  return outv;
}
/** Latest wins: greatest appTime (missing last), then the later day, file and position. */
function latest(vs: Version[], key: (r: Rec) => string): Map<string, Version> {
  const sorted = [...vs].sort((a, b) => (b.t ?? -Infinity) - (a.t ?? -Infinity) || cmp(b.day, a.day) || cmp(b.file, a.file) || b.index - a.index);
  const m = new Map<string, Version>();
  for (const v of sorted) if (!m.has(key(v.rec))) m.set(key(v.rec), v);
  return m;
}
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
const orderKey = (r: Rec) => `${r.ebpCode}|${r.ebcCode}|${r.orderNo}`;
const waybillKey = (r: Rec) => `${r.logisticsCode}|${r.logisticsNo}`;
const listKey = (r: Rec) => `${r.agentCode}|${r.copNo}`;
/** Current orders / waybills as of the date: valid, sent, latest wins, a winning delete removes the key. */
function current(date: string, file: string, key: (r: Rec) => string, lineFile?: string): Map<string, Version> {
  const m = latest(versions(date, file, lineFile).filter((v) => v.valid && v.rec.appStatus === '2'), key);
  for (const [k, v] of m) if (v.rec.appType === '3') m.delete(k);
  return m;
}
/** The list version decided: latest non-draft version, valid or not. */
const listCache = new Map<string, Map<string, Version>>();
function listVersions(date: string): Map<string, Version> {
  const hit = listCache.get(date);
  if (hit) return hit;
  const m = latest(versions(date, 'lists.csv').filter((v) => v.rec.agentCode && v.rec.copNo && v.rec.appStatus !== '1'), listKey);
  listCache.set(date, m);
  return m;
}
interface TruthRow {
  key: string;
  decision: string;
  reasons: string[];
  cents: bigint | null;
}
function truth(date: string): TruthRow[] {
  return readCsv(join(out, `${date}.truth`, 'decisions.csv')).map((r) => ({
    key: `${r.agent_code}|${r.cop_no}`,
    decision: r.decision as string,
    reasons: r.reasons ? (r.reasons as string).split(';') : [],
    cents: r.value_cny ? BigInt((r.value_cny as string).replace('.', '')) : null,
  }));
}
const cents = (v: unknown): bigint | null => (v === null || v === undefined ? null : BigInt(String(v).replace('.', '')));
const endOf = (date: string) => Date.UTC(+date.slice(0, 4), +date.slice(5, 7) - 1, +date.slice(8, 10)) / 1000 + 86_400;
const orderFound = (t: TruthRow) => t.decision !== 'CANCELLED' && !t.reasons.some((r) => ['INVALID_RECORD', 'ORDER_MISSING', 'ORDER_PARTY_MISMATCH'].includes(r));
const waybillFound = (t: TruthRow) => t.decision !== 'CANCELLED' && !t.reasons.some((r) => ['INVALID_RECORD', 'WAYBILL_MISSING'].includes(r));
/** Nearest rank, as quantile_disc: the value at position ceil(n·q) of the sorted values. */
const quantile = (sorted: number[], q: number) => sorted[Math.max(0, Math.ceil(sorted.length * q) - 1)];

const big = (v: unknown) => (typeof v === 'bigint' ? Number(v) : v);
const rows = async (sql: string) => (await db.all(sql)).map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, big(v)])));
const on = (date: string) => `business_date = DATE '${date}'`;

// ---- tests ---------------------------------------------------------------------------------------

describe('statistics of a generated sample against its ground truth', () => {
  for (const date of SAMPLE_DATES) {
    test(`${date}: counts, CNY values and decision mix by every dimension`, async () => {
      const vs = listVersions(date);
      const aeo = reference.aeo;
      const want = new Map<string, { lists: number; cents: bigint; values: number; mix: Record<string, number> }>();
      const add = (dim: string, key: string, t: TruthRow) => {
        const k = `${dim}|${key}`;
        const e = want.get(k) ?? { lists: 0, cents: 0n, values: 0, mix: {} };
        e.lists++;
        if (t.cents !== null) (e.cents += t.cents), e.values++;
        e.mix[t.decision] = (e.mix[t.decision] ?? 0) + 1;
        want.set(k, e);
      };
      const or = (s: string | undefined) => (s ? s : '(none)');
      for (const t of truth(date)) {
        const v = vs.get(t.key)?.rec;
        assert.ok(v, `no list version for ${t.key}`);
        add('trade_mode', or(v.tradeMode), t);
        add('district', v.customsCode ? districtOf(v.customsCode) : '(none)', t);
        add('customs_office', or(v.customsCode), t);
        add('decision', t.decision, t);
        for (const r of t.reasons.length ? new Set(t.reasons) : ['(no reason)']) add('reason', r, t);
        add('ebp_code', or(v.ebpCode), t);
        add('country', or(v.country), t);
        add('statistics_flag', or(v.statisticsFlag), t);
        add('aeo', aeo.has(v.ebcCode ?? '') ? 'AEO' : 'non-AEO', t);
      }
      const got = await rows(`SELECT * FROM stats_breakdown WHERE ${on(date)}`);
      assert.deepEqual(got.map((r) => `${r.dimension}|${r.key}`).sort(), [...want.keys()].sort());
      for (const r of got) {
        const e = want.get(`${r.dimension}|${r.key}`)!;
        const label = `${r.dimension} ${r.key}`;
        assert.equal(r.lists, e.lists, label);
        const mix = { RELEASE: r.released, INSPECT: r.inspected, REVIEW: r.reviewed, REJECT: r.rejected, PENDING: r.pending, CANCELLED: r.cancelled };
        for (const [d, n] of Object.entries(mix)) assert.equal(n, e.mix[d] ?? 0, `${label} ${d}`);
        // the truth rounds each list to cents; the statistics round the exact sum once
        if (!e.values) assert.equal(r.value_cny, null, label);
        else {
          const diff = (cents(r.value_cny) as bigint) - e.cents;
          assert.ok((diff < 0n ? -diff : diff) <= BigInt(Math.ceil(e.values / 2) + 1), `${label}: ${r.value_cny} vs ${e.cents} cents`);
        }
      }
      const office = got.find((r) => r.dimension === 'customs_office' && reference.customsOffices.has(String(r.key)));
      assert.equal(office?.label, reference.customsOffices.get(String(office?.key))?.name);
    });

    test(`${date}: match rates, pending backlog and its age`, async () => {
      const ts = truth(date);
      const pop = ts.filter((t) => t.decision !== 'CANCELLED');
      const m = (await rows(`SELECT * FROM stats_match WHERE ${on(date)}`))[0]!;
      const of = (f: (t: TruthRow) => boolean) => pop.filter(f).length;
      assert.equal(m.lists, pop.length);
      assert.equal(m.invalid_lists, of((t) => t.reasons.includes('INVALID_RECORD')));
      assert.equal(m.order_found, of(orderFound));
      assert.equal(m.waybill_found, of(waybillFound));
      assert.equal(m.both_found, of((t) => orderFound(t) && waybillFound(t)));
      const holding = (t: TruthRow) => ['RELEASE', 'INSPECT', 'REVIEW', 'PENDING'].includes(t.decision);
      assert.equal(m.order_held, of((t) => holding(t) && orderFound(t)));
      assert.equal(m.waybill_held, of((t) => holding(t) && waybillFound(t)));
      assert.equal(Number(m.order_match_rate), Number((of(orderFound) / pop.length).toFixed(6)));
      assert.equal(Number(m.both_match_rate), Number((of((t) => orderFound(t) && waybillFound(t)) / pop.length).toFixed(6)));

      const vs = listVersions(date);
      const earlier = new Set(SAMPLE_DATES.filter((d) => d < date).flatMap((d) => truth(d).filter((t) => t.decision === 'PENDING').map((t) => t.key)));
      const pend = ts.filter((t) => t.decision === 'PENDING');
      const ages = pend.map((t) => endOf(date) - (vs.get(t.key)?.t as number)).sort((a, b) => a - b);
      const p = (await rows(`SELECT * FROM stats_pending WHERE ${on(date)}`))[0]!;
      assert.ok(pend.length > 0, 'the sample has pending lists');
      assert.equal(p.pending_lists, pend.length);
      assert.equal(p.carried, pend.filter((t) => earlier.has(t.key)).length);
      assert.equal(p.new_today, pend.filter((t) => !earlier.has(t.key)).length);
      assert.equal(p.max_age_seconds, ages[ages.length - 1]);
      assert.equal(p.p50_age_seconds, quantile(ages, 0.5));
      const buckets = await rows(`SELECT bucket, lists FROM stats_pending_age WHERE ${on(date)} ORDER BY bucket_order`);
      const inB = (lo: number, hi: number) => ages.filter((a) => a >= lo * 86_400 && a < hi * 86_400).length;
      assert.deepEqual(buckets, [
        { bucket: '0-1d', lists: inB(0, 1) },
        { bucket: '1-2d', lists: inB(1, 2) },
        { bucket: '2-3d', lists: inB(2, 3) },
        { bucket: '3d+', lists: inB(3, Infinity) },
      ]);
      if (date === D2) assert.ok(Number(p.carried) > 0, 'some lists stay pending into the second day');
    });

    test(`${date}: latency percentiles from order and waybill appTime to list appTime`, async () => {
      const vs = listVersions(date);
      const orders = current(date, 'orders.csv', orderKey, 'order_lines.csv');
      const waybills = current(date, 'waybills.csv', waybillKey);
      for (const [cp, found, items, key] of [
        ['order', orderFound, orders, orderKey],
        ['waybill', waybillFound, waybills, waybillKey],
      ] as const) {
        const lat = truth(date)
          .filter(found)
          .map((t) => {
            const v = vs.get(t.key) as Version;
            const c = items.get(key(v.rec));
            assert.ok(c, `${cp} of ${t.key} was found by the matcher but not by the model`);
            return (v.t as number) - (c.t as number);
          })
          .sort((a, b) => a - b);
        const r = (await rows(`SELECT * FROM stats_latency WHERE ${on(date)} AND counterpart = '${cp}'`))[0]!;
        assert.deepEqual(
          [r.lists, r.p50_seconds, r.p90_seconds, r.p99_seconds, r.min_seconds, r.max_seconds],
          [lat.length, quantile(lat, 0.5), quantile(lat, 0.9), quantile(lat, 0.99), lat[0], lat[lat.length - 1]],
          cp,
        );
      }
    });

    test(`${date}: orphan orders and waybills past the grace period`, async () => {
      // what each list holds after the day: its latest decision up to the day, if it holds anything
      const state = new Map<string, { t: TruthRow; day: string }>();
      for (const d of SAMPLE_DATES.filter((x) => x <= date)) for (const t of truth(d)) state.set(t.key, { t, day: d });
      const heldOrders = new Set<string>();
      const heldWaybills = new Set<string>();
      for (const { t, day } of state.values()) {
        if (!['RELEASE', 'INSPECT', 'REVIEW', 'PENDING'].includes(t.decision)) continue;
        const v = listVersions(day).get(t.key)!.rec;
        if (orderFound(t)) heldOrders.add(orderKey(v));
        if (waybillFound(t)) heldWaybills.add(waybillKey(v));
      }
      const end = endOf(date);
      for (const [type, items, held] of [
        ['order', current(date, 'orders.csv', orderKey, 'order_lines.csv'), heldOrders],
        ['waybill', current(date, 'waybills.csv', waybillKey), heldWaybills],
      ] as const) {
        const open = [...items].filter(([k]) => !held.has(k)).map(([, v]) => v);
        const orphans = open.filter((v) => {
          const grace = policyFor(policy, new Date((v.t as number) * 1000).toISOString().slice(0, 10)).graceDays;
          return end - (v.t as number) >= grace * 86_400;
        });
        const age = (v: Version) => (end - (v.t as number)) / 86_400;
        const r = (await rows(`SELECT * FROM stats_orphans WHERE ${on(date)} AND record_type = '${type}'`))[0]!;
        assert.deepEqual(
          [r.current_items, r.open_items, r.orphans, r.orphans_under_7d, r.orphans_7_30d, r.orphans_30_180d, r.orphans_180d_plus],
          [
            items.size,
            open.length,
            orphans.length,
            orphans.filter((v) => age(v) < 7).length,
            orphans.filter((v) => age(v) >= 7 && age(v) < 30).length,
            orphans.filter((v) => age(v) >= 30 && age(v) < 180).length,
            orphans.filter((v) => age(v) >= 180).length,
          ],
          type,
        );
        assert.equal(r.held, items.size - open.length);
      }
    });

    test(`${date}: inspection rate by mode and by AEO status, returns by decision and reason`, async () => {
      const vs = listVersions(date);
      const want = new Map<string, number[]>();
      for (const t of truth(date)) {
        const v = vs.get(t.key)!.rec;
        for (const k of ['all|all', `trade_mode|${v.tradeMode || '(none)'}`, `aeo|${reference.aeo.has(v.ebcCode ?? '') ? 'AEO' : 'non-AEO'}`]) {
          const e = want.get(k) ?? [0, 0, 0, 0, 0, 0];
          const insp = t.decision === 'INSPECT';
          e[0]!++;
          if (insp || t.decision === 'RELEASE') e[1]!++;
          if (insp) e[2]!++;
          if (insp && t.reasons.includes('RISK_PROFILE')) e[3]!++;
          if (insp && t.reasons.includes('VALUE_BAND')) e[4]!++;
          if (insp && t.reasons.includes('RANDOM_SAMPLE')) e[5]!++;
          want.set(k, e);
        }
      }
      const got = await rows(`SELECT * FROM stats_inspection WHERE ${on(date)}`);
      assert.deepEqual(
        new Map(got.map((r) => [`${r.dimension}|${r.key}`, [r.lists, r.eligible, r.inspected, r.risk_profile, r.value_band, r.random_sample]])),
        want,
      );
      for (const r of got) assert.equal(r.inspection_rate === null ? null : Number(r.inspection_rate), r.eligible ? Number((Number(r.inspected) / Number(r.eligible)).toFixed(6)) : null);
      assert.ok(got.some((r) => r.dimension === 'aeo' && r.key === 'AEO'), 'the sample has AEO lists');

      const ret = readCsv(join(out, `${date}.truth`, 'return_decisions.csv'));
      const wr = new Map<string, number>([['all|all', ret.length]]);
      for (const r of ret) {
        wr.set(`decision|${r.decision}`, (wr.get(`decision|${r.decision}`) ?? 0) + 1);
        for (const x of new Set(r.reasons ? r.reasons.split(';') : [])) wr.set(`reason|${x}`, (wr.get(`reason|${x}`) ?? 0) + 1);
      }
      const gr = await rows(`SELECT dimension, key, returns FROM stats_returns WHERE ${on(date)}`);
      assert.deepEqual(new Map(gr.map((r) => [`${r.dimension}|${r.key}`, r.returns])), wr);
      assert.ok(ret.length > 0, 'the sample has returns');
    });
  }

  test('the summary holds every metric, and the change compares it with the previous business day', async () => {
    for (const date of SAMPLE_DATES) {
      const s = await rows(`SELECT metric, value FROM stats_summary WHERE ${on(date)}`);
      assert.deepEqual(s.map((r) => r.metric).sort(), STATS_METRICS.map(([m]) => m).sort());
      const v = new Map(s.map((r) => [r.metric, r.value === null ? null : Number(r.value)]));
      const ts = truth(date);
      assert.equal(v.get('lists'), ts.length);
      for (const [m, d] of [['released', 'RELEASE'], ['inspected', 'INSPECT'], ['reviewed', 'REVIEW'], ['rejected', 'REJECT'], ['pending', 'PENDING'], ['cancelled', 'CANCELLED']] as const)
        assert.equal(v.get(m), ts.filter((t) => t.decision === d).length, m);
      assert.equal(v.get('returns'), readCsv(join(out, `${date}.truth`, 'return_decisions.csv')).length);
    }
    const first = await rows(`SELECT * FROM stats_change WHERE ${on(D1)}`);
    assert.equal(first.length, STATS_METRICS.length);
    assert.ok(first.every((r) => r.previous_date === null && r.previous === null && r.delta === null));
    const ch = await rows(`SELECT metric, today, strftime(previous_date, '%Y-%m-%d') AS pd, previous, delta FROM stats_change WHERE ${on(D2)}`);
    const s1 = new Map((await rows(`SELECT metric, value FROM stats_summary WHERE ${on(D1)}`)).map((r) => [r.metric, r.value]));
    const s2 = new Map((await rows(`SELECT metric, value FROM stats_summary WHERE ${on(D2)}`)).map((r) => [r.metric, r.value]));
    assert.equal(ch.length, STATS_METRICS.length);
    for (const r of ch) {
      assert.equal(r.pd, D1);
      assert.equal(r.today, s2.get(r.metric));
      assert.equal(r.previous, s1.get(r.metric));
      if (r.today !== null && r.previous !== null) assert.equal(Number(r.delta).toFixed(6), (Number(r.today) - Number(r.previous)).toFixed(6), String(r.metric));
    }
    const lists = ch.find((r) => r.metric === 'lists')!;
    assert.deepEqual([Number(lists.today), Number(lists.previous)], [truth(D2).length, truth(D1).length]);
  });

  test('every table starts with business_date DATE and run_id VARCHAR, and every column has a comment', async () => {
    for (const s of statsCommentStatements()) await db.run(s);
    const cols = await rows(`SELECT table_name, column_name, data_type, column_index, comment FROM duckdb_columns() WHERE table_name LIKE 'stats\\_%' ESCAPE '\\' ORDER BY table_name, column_index`);
    assert.deepEqual([...new Set(cols.map((c) => c.table_name))].sort(), [...STATS_TABLES].sort());
    for (const t of STATS_TABLES) {
      const c = cols.filter((x) => x.table_name === t);
      assert.deepEqual(c.slice(0, 2).map((x) => [x.column_name, x.data_type]), [['business_date', 'DATE'], ['run_id', 'VARCHAR']], t);
      assert.deepEqual(c.map((x) => x.column_name), Object.keys(STATS_COMMENTS[t]), `${t}: STATS_COMMENTS names every column, in order`);
      for (const x of c) assert.ok(String(x.comment ?? '').length > 10, `${t}.${x.column_name} has a comment`);
    }
    const tc = await rows(`SELECT table_name, comment FROM duckdb_tables() WHERE table_name LIKE 'stats\\_%' ESCAPE '\\'`);
    assert.ok(tc.every((r) => String(r.comment ?? '').length > 10));
  });

  test('a rerun replaces the day (identical rows but the run id), whatever the threads, and with or without the previous day computed', async () => {
    const snap = async () =>
      JSON.stringify(
        await Promise.all(STATS_TABLES.map((t) => db.all(`SELECT * EXCLUDE (run_id) FROM ${t} ORDER BY ALL`))),
        (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v),
      );
    const o = { reference, policy };
    const before = await snap();
    await db.run('SET threads = 1');
    await db.transaction(() => computeStatistics(db, D2, 'rerun-1', o));
    assert.equal(await snap(), before);
    await db.run('SET threads = 2');
    await db.transaction(() => computeStatistics(db, D2, 'rerun-2', o));
    assert.equal(await snap(), before);
    const ids = await rows(`SELECT DISTINCT run_id FROM stats_summary WHERE ${on(D2)}`);
    assert.deepEqual(ids, [{ run_id: 'rerun-2' }]);
    // without the previous day's statistics, the change is computed from the previous day's data
    const change = async () => JSON.stringify(await rows(`SELECT * EXCLUDE (run_id) FROM stats_change WHERE ${on(D2)} ORDER BY ALL`));
    const had = await change();
    await db.transaction(async () => {
      for (const t of STATS_TABLES) await db.run(`DELETE FROM ${t} WHERE ${on(D1)}`);
      await computeStatistics(db, D2, 'rerun-3', o);
    });
    assert.equal(await change(), had);
    const temps = await rows(`SELECT table_name FROM duckdb_tables() WHERE temporary AND table_name LIKE 'st\\_%' ESCAPE '\\'`);
    assert.deepEqual(temps, [], 'no helper tables are left behind');
    await db.transaction(() => computeStatistics(db, D1, 'run-again', o));
    assert.equal(await snap(), before);
  });

  test('inside a transaction that rolls back, nothing of the statistics stays', async () => {
    const count = async () => Number((await rows(`SELECT count(*) AS n FROM stats_breakdown WHERE ${on(D2)}`))[0]?.n);
    const n = await count();
    await assert.rejects(
      db.transaction(async () => {
        await db.run(`DELETE FROM stats_breakdown WHERE ${on(D2)}`);
        await computeStatistics(db, D2, 'doomed', { reference, policy });
        throw new Error('the publish failed');
      }),
      /the publish failed/,
    );
    assert.equal(await count(), n);
  });
});
