/**
 * publish/stats owns the statistics of RULES.md §10: for one business day, tables named
 * `stats_<what>` that an analyst can query without reading this code. Every table starts with
 * `business_date DATE, run_id VARCHAR`; a run deletes the day's rows and inserts them again, so a
 * rerun replaces them. Every value is exact or computed from exact integers (counts, DECIMAL sums,
 * quantile_disc over whole seconds), so a rerun gives identical rows.
 *
 * Definitions (the contract of these tables; repeated in `STATS_COMMENTS`):
 * - **Lists of the day** ("decided that day") are the rows of `decisions` with that business_date:
 *   every list decided or left PENDING by that day's run, and the lists CANCELLED that day. A list
 *   pending on three days is counted on each of the three days.
 * - **Matching population** (match rates, latency) is the day's rows except CANCELLED ones (a cancel
 *   runs no check). Lists rejected with INVALID_RECORD stay in the population and count as not found
 *   (no check ran on them).
 * - **Order found**: no ORDER_MISSING / ORDER_PARTY_MISMATCH / INVALID_RECORD reason, i.e. an order
 *   with the list's three-part key was there (ORDER_REUSED still counts as found: the order exists,
 *   another list holds it). **Waybill found** likewise with WAYBILL_MISSING (which also covers a
 *   waybill outside the reuse window).
 * - The **list version** behind a row (its appTime, country, statisticsFlag) is the one the matcher
 *   decided: latest wins over `hist_lists` up to the day, drafts excluded (as in match/run.ts).
 * - **Pending backlog** = the day's PENDING rows; a list's age = end of the business day (00:00 of
 *   the next day, CST) − list appTime, as for the grace period of RULES.md §4.
 * - **Orphans**: the current orders / waybills as of the day (latest wins, valid, not deleted) that
 *   no list holds (the held_order / held_waybill of each list's latest decision row up to the day)
 *   and whose age at the end of the day is at least the grace period of the policy version in force
 *   on their own appTime date.
 * - **Inspection rate** = INSPECT / (RELEASE + INSPECT): the share of the lists that reached risk
 *   selection (no R, P or V reason, RULES.md §6) that were selected.
 * - **Previous day** = the greatest business_date in `decisions` before the day. Its metrics come
 *   from `stats_summary` when already computed there, otherwise they are computed now (not stored).
 */
import { dropTempTables, type Db } from '../db/duck.js';
import { CARRY_AS_OF, historyBefore, pairOn, winnersSql } from '../match/run.js';
import { inForceSql, type Policy } from '../policy/policy.js';
import { districtOf, type Reference } from '../policy/reference.js';
import { lit } from '../spec/schema.js';


/** The statistics tables, in the order they are written. */
export const STATS_TABLES = [
  'stats_summary',
  'stats_breakdown',
  'stats_match',
  'stats_pending',
  'stats_pending_age',
  'stats_orphans',
  'stats_latency',
  'stats_inspection',
  'stats_returns',
  'stats_change',
] as const;
export type StatsTable = (typeof STATS_TABLES)[number];

/** What each table holds, one line (for COMMENT ON TABLE). */
export const STATS_TABLE_DESCRIPTIONS: Readonly<Record<StatsTable, string>> = {
  stats_summary: 'Headline metrics of the business day, one row per metric (the numbers stats_change compares)',
  stats_breakdown: 'Lists of the day (rows of decisions with that business_date) and their CNY value by one dimension at a time, with the decision mix',
  stats_match: 'Match rates of the day: lists whose order / waybill / both were found, over the lists of the day except CANCELLED ones',
  stats_pending: 'Pending backlog at the end of the day: PENDING lists, their value and age',
  stats_pending_age: 'Pending backlog at the end of the day by age bucket (age = end of the business day - list appTime)',
  stats_orphans: 'Orders and waybills open at the end of the day that no list holds, and those of them past the grace period (orphans)',
  stats_latency: 'Seconds from the order / waybill appTime to the list appTime, exact percentiles (quantile_disc) over the lists of the day that found it',
  stats_inspection: 'Inspection rate = INSPECT / (RELEASE + INSPECT) by trade mode and by AEO status of the ebcCode, with the selecting reasons',
  stats_returns: 'Return decisions (CEB213) of the day by decision and by reason',
  stats_change: 'Each stats_summary metric today against the previous business day present in the database',
};

const BD = 'business day (CST) the statistics are for';
const RUN = 'run_id of the run that computed them';

/** table → column → description, for COMMENT ON COLUMN. */
export const STATS_COMMENTS: Readonly<Record<StatsTable, Readonly<Record<string, string>>>> = {
  stats_summary: {
    business_date: BD,
    run_id: RUN,
    metric: 'metric name (stable): lists, value_cny, released, inspected, reviewed, rejected, pending, cancelled, order_match_rate, waybill_match_rate, both_match_rate, pending_backlog, pending_oldest_age_seconds, orphan_orders, orphan_waybills, order_latency_p50_seconds, waybill_latency_p50_seconds, inspection_rate, returns, returns_accepted, returns_rejected',
    unit: 'unit of value: lists, CNY, ratio (0..1), seconds, items or returns',
    value: 'the metric for the day (ratios rounded to 6 decimals, CNY to 2); NULL when it has no denominator or no data',
  },
  stats_breakdown: {
    business_date: BD,
    run_id: RUN,
    dimension: 'trade_mode, district (first two digits of customs_code + 00), customs_office (customs_code), decision, reason (a list counts once under each of its reason codes), ebp_code, country (destination of the decided list version), statistics_flag, aeo (ebc_code on the AEO list or not)',
    key: "the dimension's value; '(none)' when empty or not valid (a field that failed validation is not stored), '(no reason)' for lists without reasons",
    label: 'readable name of the key where reference data has one (customs office name, district name), else NULL',
    lists: 'number of rows of decisions of the day with that key',
    value_cny: 'sum of their value_cny (Σ line totalPrice in CNY; NULL values, e.g. INVALID_RECORD or CANCELLED rows, count as nothing), rounded to 2 decimals',
    released: 'of them, decision RELEASE',
    inspected: 'of them, decision INSPECT',
    reviewed: 'of them, decision REVIEW',
    rejected: 'of them, decision REJECT',
    pending: 'of them, decision PENDING',
    cancelled: 'of them, decision CANCELLED',
  },
  stats_match: {
    business_date: BD,
    run_id: RUN,
    lists: 'rows of decisions of the day except CANCELLED (the matching population)',
    invalid_lists: 'of them, rejected INVALID_RECORD (no check ran; counted as neither found)',
    order_found: 'lists with no ORDER_MISSING, ORDER_PARTY_MISMATCH or INVALID_RECORD reason (an order with their key existed; ORDER_REUSED counts as found)',
    waybill_found: 'lists with no WAYBILL_MISSING or INVALID_RECORD reason',
    both_found: 'lists with order and waybill found',
    order_held: 'lists that hold their order after the run (decisions.held_order not NULL)',
    waybill_held: 'lists that hold their waybill after the run (decisions.held_waybill not NULL)',
    order_match_rate: 'order_found / lists (6 decimals)',
    waybill_match_rate: 'waybill_found / lists (6 decimals)',
    both_match_rate: 'both_found / lists (6 decimals)',
  },
  stats_pending: {
    business_date: BD,
    run_id: RUN,
    pending_lists: 'rows of decisions of the day with decision PENDING (the backlog carried to the next day)',
    value_cny: 'their CNY value, rounded to 2 decimals',
    new_today: 'of them, lists not pending on an earlier business day',
    carried: 'of them, lists already pending on an earlier business day',
    oldest_app_time: 'appTime of the oldest pending list (CST, as written in the message)',
    max_age_seconds: 'age of the oldest pending list at the end of the business day',
    p50_age_seconds: 'median age (quantile_disc) at the end of the business day',
  },
  stats_pending_age: {
    business_date: BD,
    run_id: RUN,
    bucket: "age bucket at the end of the business day: '0-1d', '1-2d', '2-3d', '3d+' (a day = 86400 s; lower bound inclusive)",
    bucket_order: 'sort order of the bucket (1 = youngest)',
    lists: 'pending lists in the bucket (0 when none)',
    value_cny: 'their CNY value, rounded to 2 decimals (0 when none)',
  },
  stats_orphans: {
    business_date: BD,
    run_id: RUN,
    record_type: 'order or waybill',
    current_items: 'current records at the end of the day (latest wins, valid, not deleted)',
    held: 'of them, held by a list (held_order / held_waybill of the latest decision row of each list up to the day)',
    open_items: 'current records no list holds',
    orphans: 'open records whose age at the end of the day (00:00 of the next day − appTime) is at least the grace period of the policy version in force on their appTime date',
    oldest_app_time: 'appTime of the oldest orphan',
    orphans_under_7d: 'orphans younger than 7 days',
    orphans_7_30d: 'orphans 7 to under 30 days old',
    orphans_30_180d: 'orphans 30 to under 180 days old',
    orphans_180d_plus: 'orphans 180 days old or more (waybills this old can no longer be used, RULES.md §4)',
  },
  stats_latency: {
    business_date: BD,
    run_id: RUN,
    counterpart: 'order or waybill',
    lists: 'lists of the day (not CANCELLED) whose counterpart was found (see stats_match) and measured',
    p50_seconds: 'median of list appTime − counterpart appTime in seconds (quantile_disc: an observed value; negative when the counterpart is younger than the list)',
    p90_seconds: '90th percentile (quantile_disc)',
    p99_seconds: '99th percentile (quantile_disc)',
    min_seconds: 'smallest latency',
    max_seconds: 'largest latency',
  },
  stats_inspection: {
    business_date: BD,
    run_id: RUN,
    dimension: "all (one row, key 'all'), trade_mode, or aeo (key AEO / non-AEO: the list's ebc_code is on the AEO list of the reference data)",
    key: 'value of the dimension',
    lists: 'lists of the day with this key (all decisions)',
    eligible: 'lists that reached risk selection: RELEASE + INSPECT',
    inspected: 'lists decided INSPECT',
    inspection_rate: 'inspected / eligible (6 decimals); NULL when none eligible',
    risk_profile: 'inspected lists selected by a risk profile (RISK_PROFILE reason)',
    value_band: 'inspected lists selected by the value band (VALUE_BAND reason)',
    random_sample: 'inspected lists selected by the random draw (RANDOM_SAMPLE reason)',
  },
  stats_returns: {
    business_date: BD,
    run_id: RUN,
    dimension: "all (key 'all'), decision (ACCEPT / REJECT) or reason (a return counts once under each of its reason codes)",
    key: 'value of the dimension',
    returns: 'rows of return_decisions of the day with that key',
  },
  stats_change: {
    business_date: BD,
    run_id: RUN,
    metric: 'a metric of stats_summary',
    unit: 'unit of the metric',
    today: 'the metric on business_date',
    previous_date: 'the previous business day present in decisions (NULL when none)',
    previous: 'the metric on previous_date (NULL when no previous day)',
    delta: 'today − previous (NULL when either is NULL)',
  },
};

const DDL: Readonly<Record<StatsTable, string>> = {
  stats_summary: `CREATE TABLE IF NOT EXISTS stats_summary (business_date DATE NOT NULL, run_id VARCHAR NOT NULL,
    metric VARCHAR NOT NULL, unit VARCHAR NOT NULL, value DECIMAL(38,6))`,
  stats_breakdown: `CREATE TABLE IF NOT EXISTS stats_breakdown (business_date DATE NOT NULL, run_id VARCHAR NOT NULL,
    dimension VARCHAR NOT NULL, key VARCHAR NOT NULL, label VARCHAR, lists BIGINT NOT NULL, value_cny DECIMAL(38,2),
    released BIGINT NOT NULL, inspected BIGINT NOT NULL, reviewed BIGINT NOT NULL, rejected BIGINT NOT NULL, pending BIGINT NOT NULL, cancelled BIGINT NOT NULL)`,
  stats_match: `CREATE TABLE IF NOT EXISTS stats_match (business_date DATE NOT NULL, run_id VARCHAR NOT NULL,
    lists BIGINT NOT NULL, invalid_lists BIGINT NOT NULL, order_found BIGINT NOT NULL, waybill_found BIGINT NOT NULL, both_found BIGINT NOT NULL,
    order_held BIGINT NOT NULL, waybill_held BIGINT NOT NULL, order_match_rate DECIMAL(9,6), waybill_match_rate DECIMAL(9,6), both_match_rate DECIMAL(9,6))`,
  stats_pending: `CREATE TABLE IF NOT EXISTS stats_pending (business_date DATE NOT NULL, run_id VARCHAR NOT NULL,
    pending_lists BIGINT NOT NULL, value_cny DECIMAL(38,2), new_today BIGINT NOT NULL, carried BIGINT NOT NULL,
    oldest_app_time TIMESTAMP, max_age_seconds BIGINT, p50_age_seconds BIGINT)`,
  stats_pending_age: `CREATE TABLE IF NOT EXISTS stats_pending_age (business_date DATE NOT NULL, run_id VARCHAR NOT NULL,
    bucket VARCHAR NOT NULL, bucket_order INTEGER NOT NULL, lists BIGINT NOT NULL, value_cny DECIMAL(38,2) NOT NULL)`,
  stats_orphans: `CREATE TABLE IF NOT EXISTS stats_orphans (business_date DATE NOT NULL, run_id VARCHAR NOT NULL,
    record_type VARCHAR NOT NULL, current_items BIGINT NOT NULL, held BIGINT NOT NULL, open_items BIGINT NOT NULL, orphans BIGINT NOT NULL,
    oldest_app_time TIMESTAMP, orphans_under_7d BIGINT NOT NULL, orphans_7_30d BIGINT NOT NULL, orphans_30_180d BIGINT NOT NULL, orphans_180d_plus BIGINT NOT NULL)`,
  stats_latency: `CREATE TABLE IF NOT EXISTS stats_latency (business_date DATE NOT NULL, run_id VARCHAR NOT NULL,
    counterpart VARCHAR NOT NULL, lists BIGINT NOT NULL, p50_seconds BIGINT, p90_seconds BIGINT, p99_seconds BIGINT, min_seconds BIGINT, max_seconds BIGINT)`,
  stats_inspection: `CREATE TABLE IF NOT EXISTS stats_inspection (business_date DATE NOT NULL, run_id VARCHAR NOT NULL,
    dimension VARCHAR NOT NULL, key VARCHAR NOT NULL, lists BIGINT NOT NULL, eligible BIGINT NOT NULL, inspected BIGINT NOT NULL, inspection_rate DECIMAL(9,6),
    risk_profile BIGINT NOT NULL, value_band BIGINT NOT NULL, random_sample BIGINT NOT NULL)`,
  stats_returns: `CREATE TABLE IF NOT EXISTS stats_returns (business_date DATE NOT NULL, run_id VARCHAR NOT NULL,
    dimension VARCHAR NOT NULL, key VARCHAR NOT NULL, returns BIGINT NOT NULL)`,
  stats_change: `CREATE TABLE IF NOT EXISTS stats_change (business_date DATE NOT NULL, run_id VARCHAR NOT NULL,
    metric VARCHAR NOT NULL, unit VARCHAR NOT NULL, today DECIMAL(38,6), previous_date DATE, previous DECIMAL(38,6), delta DECIMAL(38,6))`,
};

/** COMMENT ON statements for every statistics table and column (run them after computeStatistics). */
export function statsCommentStatements(): string[] {
  const out: string[] = [];
  for (const t of STATS_TABLES) {
    out.push(`COMMENT ON TABLE ${t} IS ${lit(STATS_TABLE_DESCRIPTIONS[t])}`);
    for (const [c, d] of Object.entries(STATS_COMMENTS[t])) out.push(`COMMENT ON COLUMN ${t}.${c} IS ${lit(d)}`);
  }
  return out;
}

/** Names of the 20 districts RULES.md §7 names (labels only; any other district has no label). */
const DISTRICT_NAMES: Readonly<Record<string, string>> = {
  '0100': 'Beijing', '0200': 'Tianjin', '0900': 'Dalian', '1900': 'Harbin', '2200': 'Shanghai', '2300': 'Nanjing',
  '2900': 'Hangzhou', '3100': 'Ningbo', '3300': 'Hefei', '3500': 'Fuzhou', '3700': 'Xiamen', '4000': 'Nanchang', '4200': 'Qingdao',
  '4600': 'Zhengzhou', '4900': 'Changsha', '5100': 'Guangzhou', '5200': 'Huangpu', '5300': 'Shenzhen', '7900': 'Chengdu', '9400': 'Urumqi',
};

/** The metrics of stats_summary (and stats_change), in order, with their units. */
export const STATS_METRICS: readonly (readonly [metric: string, unit: string])[] = [
  ['lists', 'lists'],
  ['value_cny', 'CNY'],
  ['released', 'lists'],
  ['inspected', 'lists'],
  ['reviewed', 'lists'],
  ['rejected', 'lists'],
  ['pending', 'lists'],
  ['cancelled', 'lists'],
  ['order_match_rate', 'ratio'],
  ['waybill_match_rate', 'ratio'],
  ['both_match_rate', 'ratio'],
  ['pending_backlog', 'lists'],
  ['pending_oldest_age_seconds', 'seconds'],
  ['orphan_orders', 'items'],
  ['orphan_waybills', 'items'],
  ['order_latency_p50_seconds', 'seconds'],
  ['waybill_latency_p50_seconds', 'seconds'],
  ['inspection_rate', 'ratio'],
  ['returns', 'returns'],
  ['returns_accepted', 'returns'],
  ['returns_rejected', 'returns'],
];

const ratio = (num: string, den: string) => `CAST(CASE WHEN (${den}) = 0 THEN NULL ELSE (${num}) / (${den}) END AS DECIMAL(9,6))`;
const cny = (expr: string) => `CAST(round(${expr}, 2) AS DECIMAL(38,2))`;

async function tableExists(db: Db, name: string): Promise<boolean> {
  const r = await db.all(`SELECT count(*)::INTEGER AS n FROM duckdb_tables() WHERE table_name = ${lit(name)} AND NOT temporary`);
  return Number(r[0]?.n ?? 0) > 0;
}

/**
 * The day's decision rows as an SQL relation. With `decided` (decideDay of this very day has run in
 * this connection) they are its out_decisions, the very rows writeDay publishes: a temp table
 * written before the publishing transaction, which DuckDB scans on every thread (it scans rows
 * written in the current transaction on one).
 */
const dayRows = (d: string, decided: boolean) => (decided ? 'out_decisions' : `(SELECT * FROM decisions WHERE business_date = ${d})`);

/** Reference facts the SQL needs, as temp tables. */
async function loadInputs(db: Db, d: string, o: { reference: Reference }, decided = false): Promise<void> {
  await db.run(`CREATE OR REPLACE TEMP TABLE st_aeo (code VARCHAR)`);
  const aeo = [...o.reference.aeo.keys()].sort();
  for (let i = 0; i < aeo.length; i += 500) await db.run(`INSERT INTO st_aeo VALUES ${aeo.slice(i, i + 500).map((c) => `(${lit(c)})`).join(', ')}`);
  // customs offices of the day → district (districtOf) and names
  const codes = await db.all(`SELECT DISTINCT customs_code FROM ${dayRows(d, decided)} x WHERE customs_code IS NOT NULL ORDER BY 1`);
  await db.run(`CREATE OR REPLACE TEMP TABLE st_offices (code VARCHAR, name VARCHAR, district VARCHAR, district_name VARCHAR)`);
  const rows = codes.map((r) => {
    const code = String(r.customs_code);
    const district = districtOf(code);
    const name = o.reference.customsOffices.get(code)?.name ?? null;
    const dn = DISTRICT_NAMES[district] ?? null;
    return `(${lit(code)}, ${name === null ? 'NULL' : lit(name)}, ${lit(district)}, ${dn === null ? 'NULL' : lit(dn)})`;
  });
  for (let i = 0; i < rows.length; i += 500) await db.run(`INSERT INTO st_offices VALUES ${rows.slice(i, i + 500).join(', ')}`);
}

/**
 * The day's decision rows with the facts the statistics need (one row per decisions row). With
 * `decided`, decideDay of this very day has just run in this connection: the current versions of
 * the lists it decided (temp table w_lists) are read instead of being ranked again.
 */
async function dayLists(db: Db, d: string, decided: boolean, items: Items = 'whole'): Promise<void> {
  const today = dayRows(d, decided);
  // the orders and waybills held at the end of the day, and the current ones (for the orphans and
  // the latency; see the carried state below)
  if (items !== 'carried') await heldWhole(db, d, today, items === 'whole-state');
  await currentItems(db, d, today, items);
  // the list version the matcher decided: latest non-draft version up to the day. w_lists holds it
  // for the lists decided today, but those whose winner is a valid delete; those few, and the lists
  // cancelled today (the only ones of the day's decisions not decided from w_lists), are ranked here.
  const ranked = (keys: string) => `SELECT * EXCLUDE (rn) FROM (
        SELECT h.agent_code, h.cop_no, h.app_time, h.country, h.statistics_flag,
          row_number() OVER (PARTITION BY h.agent_code, h.cop_no ORDER BY h.app_time DESC NULLS LAST, h.business_date DESC, h.source_file DESC, h.record_index DESC) AS rn
        FROM hist_lists h SEMI JOIN ${keys} k ON k.agent_code = h.agent_code AND k.cop_no = h.cop_no
        WHERE h.business_date <= ${d} AND coalesce(h.app_status, '') <> '1') WHERE rn = 1`;
  const versions = decided
    ? `SELECT agent_code, cop_no, app_time, country, statistics_flag FROM w_lists
       UNION ALL ${ranked(`(SELECT DISTINCT agent_code, cop_no FROM ${today} x WHERE decision = 'CANCELLED'
         AND NOT EXISTS (SELECT 1 FROM w_lists w WHERE w.agent_code = x.agent_code AND w.cop_no = x.cop_no))`)}`
    : ranked('keys');
  await db.run(`CREATE OR REPLACE TEMP TABLE st_lists AS
    WITH keys AS (SELECT DISTINCT agent_code, cop_no FROM ${today} x),
    v AS (${versions}),
    earlier_pending AS (SELECT DISTINCT agent_code, cop_no FROM decisions WHERE business_date < ${d} AND decision = 'PENDING')
    SELECT dd.agent_code, dd.cop_no, dd.decision, dd.reasons, dd.value_cny, dd.held_order, dd.held_waybill,
      coalesce(nullif(trim(dd.trade_mode), ''), '(none)') AS trade_mode,
      coalesce(nullif(trim(dd.customs_code), ''), '(none)') AS customs_office,
      coalesce(f.district, '(none)') AS district, f.name AS office_name, f.district_name,
      coalesce(nullif(trim(dd.ebp_code), ''), '(none)') AS ebp_code,
      coalesce(nullif(trim(v.country), ''), '(none)') AS country,
      coalesce(nullif(trim(v.statistics_flag), ''), '(none)') AS statistics_flag,
      CASE WHEN dd.ebc_code IN (SELECT code FROM st_aeo) THEN 'AEO' ELSE 'non-AEO' END AS aeo,
      v.app_time AS list_app_time,
      dd.decision <> 'CANCELLED' AS matched,
      list_contains(dd.reasons, 'INVALID_RECORD') AS invalid,
      dd.decision <> 'CANCELLED' AND NOT list_has_any(dd.reasons, ['INVALID_RECORD', 'ORDER_MISSING', 'ORDER_PARTY_MISMATCH']) AS order_found,
      dd.decision <> 'CANCELLED' AND NOT list_has_any(dd.reasons, ['INVALID_RECORD', 'WAYBILL_MISSING']) AS waybill_found,
      o.app_time AS order_app_time, w.app_time AS waybill_app_time,
      ep.agent_code IS NOT NULL AS pending_before
    FROM ${today} dd
      LEFT JOIN v ON v.agent_code = dd.agent_code AND v.cop_no = dd.cop_no
      LEFT JOIN st_offices f ON f.code = dd.customs_code
      LEFT JOIN st_w_orders o ON o.ebp_code = dd.ebp_code AND o.ebc_code = dd.ebc_code AND o.order_no = dd.order_no
      LEFT JOIN st_w_waybills w ON w.logistics_code = dd.logistics_code AND w.logistics_no = dd.logistics_no
      LEFT JOIN earlier_pending ep ON ep.agent_code = dd.agent_code AND ep.cop_no = dd.cop_no`);
}

/**
 * st_held: the orders and waybills held at the end of the day, from the whole history: by the
 * day's decisions, and by the last decision of each list not decided on the day (those are all
 * on earlier days).
 */
async function heldWhole(db: Db, d: string, today: string, keys: boolean): Promise<void> {
  const cols = `${keys ? 'agent_code, cop_no, ' : ''}held_order, held_waybill`;
  await db.run(`CREATE OR REPLACE TEMP TABLE st_held AS
    SELECT ${cols} FROM ${today} x
    UNION ALL SELECT ${cols} FROM (
      SELECT x.agent_code, x.cop_no, x.held_order, x.held_waybill, row_number() OVER (PARTITION BY x.agent_code, x.cop_no ORDER BY x.business_date DESC) AS rn
      FROM decisions x WHERE x.business_date < ${d} AND NOT EXISTS (SELECT 1 FROM ${today} y WHERE y.agent_code = x.agent_code AND y.cop_no = x.cop_no)) WHERE rn = 1`);
}

// ---- the carried state ------------------------------------------------------------------------------
//
// The orphans count every current order and waybill, held or not. Ranking every version and
// decision kept for that made each day's statistics slower than the one before (a 100,000-list
// day: 1.0 s on the first day, 4.7 s on the twelfth). `declmatch run` therefore keeps them as they
// stand after its day, in tables of its own (internal, not part of RULES.md §11):
//   carry_orders, carry_waybills: the winning version of every key (latest wins over the valid,
//     non-draft versions; a winning delete is kept, as the version later ones are ranked against):
//     its appTime, appType and business date (a later day's version that ties on appTime wins by
//     its later business date, so the file and position of a carried version are never needed),
//     `k`, the key as `held_order` / `held_waybill` write it, and `held`: whether the last
//     decision row of some list holds it;
//   carry_holdings: the orders and waybills held by each list's last decision row;
//   carry_as_of: the day they stand for (match/run.ts CARRY_AS_OF; writeDay drops it).
// A day then ranks only its own keys against them, and changes `held` only where the day's lists
// took or let go of something; the orphans are one scan of them. They are used only when they
// stand for the day recorded just before the one being published (the history has no day in
// between); otherwise (a first day, a rerun, a day run out of order, a day published another way)
// they are computed from the whole history, and written again whole once the history before the
// day has CARRY_FROM_DAYS days.

/**
 * Where a day's statistics find the current orders and waybills: 'whole', ranked from the whole
 * history, the orphans joined with st_held (no state written); 'whole-state', likewise but with
 * every winning version, deletes included, flagged `held` (st_new_<…>), as the state is written
 * whole; 'carried', from the state of the day before.
 */
type Items = 'whole' | 'whole-state' | 'carried';

const CARRIED = [
  { table: 'carry_orders', hist: 'orders', key: ['ebp_code', 'ebc_code', 'order_no'], lines: 'order_lines', heldCol: 'held_order' },
  { table: 'carry_waybills', hist: 'waybills', key: ['logistics_code', 'logistics_no'], lines: undefined, heldCol: 'held_waybill' },
] as const;

/** The key of an order or waybill as held_order / held_waybill write it. */
const heldKey = (key: readonly string[]) => key.join(` || '|' || `);

/**
 * The current orders and waybills: st_w_<orders|waybills>, the current ones ('whole'); for
 * 'whole-state' also st_new_<…>, every winning version (deletes included) with `k` and `held` (by
 * st_held). 'carried': st_new_<…>, the winning versions of the keys with a version today,
 * ranked against the carried ones (`held` as carried); st_flag_<…>, the keys whose `held` the day
 * changes, with their new value; st_w_<…>, the current items of the keys the day's lists name.
 */
async function currentItems(db: Db, d: string, today: string, items: Items): Promise<void> {
  for (const c of CARRIED) {
    const key = c.key.join(', ');
    if (items === 'whole') {
      await db.run(`CREATE OR REPLACE TEMP TABLE st_w_${c.hist} AS ${winnersSql(d, c.hist, c.key, c.lines, `${c.key.map((k) => `h.${k}`).join(', ')}, h.app_time`)}`);
      continue;
    }
    const cols = `${c.key.map((k) => `h.${k}`).join(', ')}, h.app_time, h.business_date`;
    const fresh = `st_new_${c.hist}`;
    const out = `${key}, app_time, business_date, app_type, ${heldKey(c.key)} AS k`;
    if (items === 'whole-state') {
      await db.run(`CREATE OR REPLACE TEMP TABLE ${fresh} AS SELECT *, coalesce(k IN (SELECT ${c.heldCol} FROM st_held WHERE ${c.heldCol} IS NOT NULL), false) AS held
        FROM (SELECT ${out} FROM (${winnersSql(d, c.hist, c.key, c.lines, cols, undefined, true)}))`);
      await db.run(`CREATE OR REPLACE TEMP TABLE st_w_${c.hist} AS SELECT ${key}, app_time FROM ${fresh} WHERE app_type <> '3'`);
      continue;
    }
    const day = { keys: `SELECT DISTINCT ${key} FROM hist_${c.hist} WHERE business_date = ${d}`, cols: c.key, days: `= ${d}` };
    await db.run(`CREATE OR REPLACE TEMP TABLE ${fresh} AS SELECT ${out}, coalesce(carried_held, false) AS held FROM (
        SELECT *, row_number() OVER (PARTITION BY ${key} ORDER BY app_time DESC, business_date DESC) AS rn, bool_or(held) OVER (PARTITION BY ${key}) AS carried_held FROM (
          SELECT *, NULL::BOOLEAN AS held FROM (${winnersSql(d, c.hist, c.key, c.lines, cols, day, true)})
          UNION ALL BY NAME SELECT s.* EXCLUDE (k) FROM ${c.table} s SEMI JOIN (${day.keys}) k ON ${pairOn(c.key, 'k', 's', true)})) WHERE rn = 1`);
    // what the day's lists took (their rows) and let go of (their lists' carried holdings, unless
    // taken again today); a key let go of stays held if a list not decided today holds it
    await db.run(`CREATE OR REPLACE TEMP TABLE st_flag_${c.hist} AS
      WITH took AS (SELECT DISTINCT ${c.heldCol} AS k FROM ${today} x WHERE ${c.heldCol} IS NOT NULL),
      let_go AS (SELECT DISTINCT h.${c.heldCol} AS k FROM carry_holdings h SEMI JOIN ${today} x ON x.agent_code = h.agent_code AND x.cop_no = h.cop_no
        WHERE h.${c.heldCol} IS NOT NULL AND h.${c.heldCol} NOT IN (SELECT k FROM took)),
      kept AS (SELECT DISTINCT h.${c.heldCol} AS k FROM carry_holdings h ANTI JOIN ${today} x ON x.agent_code = h.agent_code AND x.cop_no = h.cop_no
        WHERE h.${c.heldCol} IN (SELECT k FROM let_go))
      SELECT k, true AS held FROM took UNION ALL SELECT k, k IN (SELECT k FROM kept) FROM let_go`);
    // (for the latency: the current items of the keys the day's lists name)
    await db.run(`CREATE OR REPLACE TEMP TABLE st_w_${c.hist} AS
      WITH want AS (SELECT DISTINCT ${key} FROM ${today} x)
      SELECT ${key}, app_time FROM (
        SELECT n.${c.key.join(', n.')}, n.app_time, n.app_type FROM ${fresh} n SEMI JOIN want w ON ${pairOn(c.key, 'w', 'n')}
        UNION ALL SELECT s.${c.key.join(', s.')}, s.app_time, s.app_type FROM ${c.table} s SEMI JOIN want w ON ${pairOn(c.key, 'w', 's')}
          ANTI JOIN ${fresh} n ON ${pairOn(c.key, 'n', 's', true)}) WHERE app_type <> '3'`);
  }
}

/**
 * Days of history before which the whole history is cheaper than the carried state: ranking a
 * few days whole costs less than writing the state each day and ranking the day against it (at a
 * million lists a day, measured: the state costs the first days ~2–3 s more each and pays from
 * about the fourth). So the state is first written on the day that has this many days before it.
 */
export const CARRY_FROM_DAYS = 3;

/** How the statistics of `date` find the current items and holdings (see Items). */
async function carryMode(db: Db, date: string, fromDays: number): Promise<Items> {
  const before = await historyBefore(db, date);
  let valid = true;
  for (const t of [CARRY_AS_OF, 'carry_holdings', ...CARRIED.map((c) => c.table)]) if (!(await tableExists(db, t))) valid = false;
  if (valid) {
    const asOf = await db.all(`SELECT strftime(max(as_of), '%Y-%m-%d') AS a, count(*)::INTEGER AS n FROM ${CARRY_AS_OF}`);
    valid = before.latest !== null && Number(asOf[0]?.n) === 1 && asOf[0]?.a === before.latest;
  }
  return valid ? 'carried' : before.days >= fromDays ? 'whole-state' : 'whole';
}

/**
 * The carried state as of the day being published, written whole or changed where the day changed
 * it (inside its transaction, before the orphans read it).
 */
async function writeCarry(db: Db, d: string, items: 'whole-state' | 'carried'): Promise<void> {
  const today = dayRows(d, true);
  const holds = `held_order IS NOT NULL OR held_waybill IS NOT NULL`;
  if (items === 'whole-state') {
    for (const c of CARRIED) await db.run(`CREATE OR REPLACE TABLE ${c.table} AS SELECT * FROM st_new_${c.hist}`);
    await db.run(`CREATE OR REPLACE TABLE carry_holdings AS SELECT * FROM st_held WHERE ${holds}`);
  } else {
    for (const c of CARRIED) {
      await db.run(`DELETE FROM ${c.table} USING st_new_${c.hist} n WHERE ${pairOn(c.key, 'n', c.table, true)}`);
      await db.run(`INSERT INTO ${c.table} BY NAME SELECT * FROM st_new_${c.hist}`);
      await db.run(`UPDATE ${c.table} SET held = f.held FROM st_flag_${c.hist} f WHERE ${c.table}.k = f.k`);
    }
    await db.run(`DELETE FROM carry_holdings USING (SELECT DISTINCT agent_code, cop_no FROM ${today} x) y
      WHERE y.agent_code = carry_holdings.agent_code AND y.cop_no = carry_holdings.cop_no`);
    await db.run(`INSERT INTO carry_holdings SELECT agent_code, cop_no, held_order, held_waybill FROM ${today} x WHERE ${holds}`);
  }
  await db.run(`CREATE OR REPLACE TABLE ${CARRY_AS_OF} AS SELECT ${d} AS as_of`);
}

const mix = `count(*) FILTER (WHERE decision = 'RELEASE'), count(*) FILTER (WHERE decision = 'INSPECT'), count(*) FILTER (WHERE decision = 'REVIEW'),
  count(*) FILTER (WHERE decision = 'REJECT'), count(*) FILTER (WHERE decision = 'PENDING'), count(*) FILTER (WHERE decision = 'CANCELLED')`;

/** Writes every table but stats_change for the day into `t(table)` (the real tables, or temp copies). */
async function computeInto(db: Db, date: string, runId: string, policy: Policy, t: (x: StatsTable) => string, decided = false, prepared = false, items: Items = 'whole'): Promise<void> {
  const d = `DATE ${lit(date)}`;
  const head = `${d}, ${lit(runId)}`;
  // end of the business day, as epoch seconds of the wall-clock time (timestamps are CST without zone)
  const end = `epoch(${d} + INTERVAL 1 DAY)::BIGINT`;
  if (!prepared) await dayLists(db, d, decided);

  const dims: [string, string, string][] = [
    ['trade_mode', 'trade_mode', 'NULL'],
    ['district', 'district', 'any_value(district_name)'],
    ['customs_office', 'customs_office', 'any_value(office_name)'],
    ['decision', 'decision', 'NULL'],
    ['ebp_code', 'ebp_code', 'NULL'],
    ['country', 'country', 'NULL'],
    ['statistics_flag', 'statistics_flag', 'NULL'],
    ['aeo', 'aeo', 'NULL'],
  ];
  for (const [dim, col, label] of dims) {
    await db.run(`INSERT INTO ${t('stats_breakdown')}
      SELECT ${head}, ${lit(dim)}, ${col}, ${label}, count(*), ${cny('sum(value_cny)')}, ${mix}
      FROM st_lists GROUP BY ${col} ORDER BY ${col}`);
  }
  await db.run(`INSERT INTO ${t('stats_breakdown')}
    SELECT ${head}, 'reason', reason, NULL, count(*), ${cny('sum(value_cny)')}, ${mix}
    FROM (SELECT CASE WHEN len(reasons) = 0 THEN ['(no reason)'] ELSE list_distinct(reasons) END AS rs, * FROM st_lists), unnest(rs) AS u(reason)
    GROUP BY reason ORDER BY reason`);

  await db.run(`INSERT INTO ${t('stats_match')}
    SELECT ${head}, count(*), count(*) FILTER (WHERE invalid), count(*) FILTER (WHERE order_found), count(*) FILTER (WHERE waybill_found),
      count(*) FILTER (WHERE order_found AND waybill_found), count(held_order), count(held_waybill),
      ${ratio('count(*) FILTER (WHERE order_found)', 'count(*)')}, ${ratio('count(*) FILTER (WHERE waybill_found)', 'count(*)')},
      ${ratio('count(*) FILTER (WHERE order_found AND waybill_found)', 'count(*)')}
    FROM st_lists WHERE matched`);

  const age = `(${end} - epoch(list_app_time)::BIGINT)`;
  await db.run(`INSERT INTO ${t('stats_pending')}
    SELECT ${head}, count(*), ${cny('coalesce(sum(value_cny), 0)')}, count(*) FILTER (WHERE NOT pending_before), count(*) FILTER (WHERE pending_before),
      min(list_app_time), max(${age}), quantile_disc(${age}, 0.5)
    FROM st_lists WHERE decision = 'PENDING'`);
  await db.run(`INSERT INTO ${t('stats_pending_age')}
    WITH b(bucket, bucket_order, lo, hi) AS (VALUES ('0-1d', 1, 0, 86400), ('1-2d', 2, 86400, 172800), ('2-3d', 3, 172800, 259200), ('3d+', 4, 259200, NULL)),
    p AS (SELECT ${age} AS age, value_cny FROM st_lists WHERE decision = 'PENDING')
    SELECT ${head}, b.bucket, b.bucket_order, count(p.age), ${cny('coalesce(sum(p.value_cny), 0)')}
    FROM b LEFT JOIN p ON p.age >= b.lo AND (b.hi IS NULL OR p.age < b.hi)
    GROUP BY b.bucket, b.bucket_order ORDER BY b.bucket_order`);

  // orphans: current orders / waybills no list holds, past the grace period of the policy in force
  // on their appTime date: the current ones (st_w_<…>) joined with what is held (st_held), or every
  // winning version with its `held` (st_new_<…>, or the carried state)
  // graceDays of the version in force on a date (policyFor); before the first version, the first one's
  const grace = (col: string) => inForceSql(policy, col, (v) => String(v.graceDays));
  for (const c of CARRIED) {
    const x =
      items === 'whole'
        ? `WITH c AS (SELECT ${heldKey(c.key)} AS k, app_time FROM st_w_${c.hist}),
      h AS (SELECT DISTINCT ${c.heldCol} AS k FROM st_held WHERE ${c.heldCol} IS NOT NULL),
      x AS (SELECT c.app_time, h.k IS NOT NULL AS held FROM c LEFT JOIN h ON h.k = c.k)`
        : `WITH x AS (SELECT app_time, held FROM ${items === 'carried' ? c.table : `st_new_${c.hist}`} WHERE app_type <> '3')`;
    await db.run(`INSERT INTO ${t('stats_orphans')}
      ${x},
      y AS (SELECT *, ${end} - epoch(app_time)::BIGINT AS age, ${grace('app_time')} AS grace_days FROM x),
      z AS (SELECT *, NOT held AND age >= grace_days * 86400 AS orphan FROM y)
      SELECT ${head}, ${lit(c.hist.slice(0, -1))}, count(*), count(*) FILTER (WHERE held), count(*) FILTER (WHERE NOT held), count(*) FILTER (WHERE orphan),
        min(app_time) FILTER (WHERE orphan),
        count(*) FILTER (WHERE orphan AND age < 7 * 86400), count(*) FILTER (WHERE orphan AND age >= 7 * 86400 AND age < 30 * 86400),
        count(*) FILTER (WHERE orphan AND age >= 30 * 86400 AND age < 180 * 86400), count(*) FILTER (WHERE orphan AND age >= 180 * 86400)
      FROM z`);
  }

  for (const [cp, found, at] of [
    ['order', 'order_found', 'order_app_time'],
    ['waybill', 'waybill_found', 'waybill_app_time'],
  ] as const) {
    const lat = `(epoch(list_app_time)::BIGINT - epoch(${at})::BIGINT)`;
    await db.run(`INSERT INTO ${t('stats_latency')}
      SELECT ${head}, ${lit(cp)}, count(*), quantile_disc(${lat}, 0.5), quantile_disc(${lat}, 0.9), quantile_disc(${lat}, 0.99), min(${lat}), max(${lat})
      FROM st_lists WHERE ${found} AND ${at} IS NOT NULL AND list_app_time IS NOT NULL`);
  }

  const insp = (dim: string, col: string) => `INSERT INTO ${t('stats_inspection')}
    SELECT ${head}, ${lit(dim)}, ${col}, count(*), count(*) FILTER (WHERE decision IN ('RELEASE', 'INSPECT')), count(*) FILTER (WHERE decision = 'INSPECT'),
      ${ratio(`count(*) FILTER (WHERE decision = 'INSPECT')`, `count(*) FILTER (WHERE decision IN ('RELEASE', 'INSPECT'))`)},
      count(*) FILTER (WHERE decision = 'INSPECT' AND list_contains(reasons, 'RISK_PROFILE')),
      count(*) FILTER (WHERE decision = 'INSPECT' AND list_contains(reasons, 'VALUE_BAND')),
      count(*) FILTER (WHERE decision = 'INSPECT' AND list_contains(reasons, 'RANDOM_SAMPLE'))
    FROM st_lists GROUP BY ALL ORDER BY ALL`;
  await db.run(insp('all', `'all'`));
  await db.run(insp('trade_mode', 'trade_mode'));
  await db.run(insp('aeo', 'aeo'));

  const hasReturns = await tableExists(db, 'return_decisions');
  const rd = hasReturns ? `(SELECT * FROM return_decisions WHERE business_date = ${d})` : `(SELECT NULL::VARCHAR AS decision, []::VARCHAR[] AS reasons WHERE false)`;
  await db.run(`INSERT INTO ${t('stats_returns')} SELECT ${head}, 'all', 'all', count(*) FROM ${rd}`);
  await db.run(`INSERT INTO ${t('stats_returns')} SELECT ${head}, 'decision', decision, count(*) FROM ${rd} GROUP BY decision ORDER BY decision`);
  await db.run(`INSERT INTO ${t('stats_returns')} SELECT ${head}, 'reason', reason, count(*) FROM ${rd}, unnest(list_distinct(reasons)) AS u(reason) GROUP BY reason ORDER BY reason`);

  // the headline metrics, from the tables just written
  const bd = `business_date = ${d}`;
  const metricSql: Record<string, string> = {
    lists: `(SELECT count(*) FROM st_lists)`,
    value_cny: `(SELECT ${cny('coalesce(sum(value_cny), 0)')} FROM st_lists)`,
    released: `(SELECT count(*) FILTER (WHERE decision = 'RELEASE') FROM st_lists)`,
    inspected: `(SELECT count(*) FILTER (WHERE decision = 'INSPECT') FROM st_lists)`,
    reviewed: `(SELECT count(*) FILTER (WHERE decision = 'REVIEW') FROM st_lists)`,
    rejected: `(SELECT count(*) FILTER (WHERE decision = 'REJECT') FROM st_lists)`,
    pending: `(SELECT count(*) FILTER (WHERE decision = 'PENDING') FROM st_lists)`,
    cancelled: `(SELECT count(*) FILTER (WHERE decision = 'CANCELLED') FROM st_lists)`,
    order_match_rate: `(SELECT order_match_rate FROM ${t('stats_match')} WHERE ${bd})`,
    waybill_match_rate: `(SELECT waybill_match_rate FROM ${t('stats_match')} WHERE ${bd})`,
    both_match_rate: `(SELECT both_match_rate FROM ${t('stats_match')} WHERE ${bd})`,
    pending_backlog: `(SELECT pending_lists FROM ${t('stats_pending')} WHERE ${bd})`,
    pending_oldest_age_seconds: `(SELECT max_age_seconds FROM ${t('stats_pending')} WHERE ${bd})`,
    orphan_orders: `(SELECT orphans FROM ${t('stats_orphans')} WHERE ${bd} AND record_type = 'order')`,
    orphan_waybills: `(SELECT orphans FROM ${t('stats_orphans')} WHERE ${bd} AND record_type = 'waybill')`,
    order_latency_p50_seconds: `(SELECT p50_seconds FROM ${t('stats_latency')} WHERE ${bd} AND counterpart = 'order')`,
    waybill_latency_p50_seconds: `(SELECT p50_seconds FROM ${t('stats_latency')} WHERE ${bd} AND counterpart = 'waybill')`,
    inspection_rate: `(SELECT inspection_rate FROM ${t('stats_inspection')} WHERE ${bd} AND dimension = 'all')`,
    returns: `(SELECT returns FROM ${t('stats_returns')} WHERE ${bd} AND dimension = 'all')`,
    returns_accepted: `(SELECT coalesce(sum(returns), 0) FROM ${t('stats_returns')} WHERE ${bd} AND dimension = 'decision' AND key = 'ACCEPT')`,
    returns_rejected: `(SELECT coalesce(sum(returns), 0) FROM ${t('stats_returns')} WHERE ${bd} AND dimension = 'decision' AND key = 'REJECT')`,
  };
  await db.run(`INSERT INTO ${t('stats_summary')} VALUES ${STATS_METRICS.map(
    ([m, unit]) => `(${head}, ${lit(m)}, ${lit(unit)}, CAST(${metricSql[m]} AS DECIMAL(38,6)))`,
  ).join(',\n')}`);
}

const TEMP_STATS: readonly StatsTable[] = STATS_TABLES.filter((x) => x !== 'stats_change');

/** Throws unless `date` is written YYYY-MM-DD (it becomes a DATE literal of the SQL). */
function checkDateArg(fn: string, date: string): void {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new RangeError(`${fn}: ${JSON.stringify(date)} is not a date written YYYY-MM-DD`);
}

/**
 * The inputs of the statistics of a day that decideDay's prepareDay has just decided in this
 * connection (the st_ temp tables: the day's lists with their facts, the current orders and
 * waybills, what is held), read from its temp tables. Meant for before the publishing
 * transaction, as prepareDay: DuckDB scans rows written in the current transaction on one thread
 * only, and these read every list, order and waybill of the day. computeStatistics with
 * `prepared` (the same date) then uses them.
 */
export async function prepareStatistics(db: Db, date: string, o: { reference: Reference; carryFromDays?: number }): Promise<void> {
  checkDateArg('prepareStatistics', date);
  const d = `DATE ${lit(date)}`;
  await loadInputs(db, d, o, true);
  const items = await carryMode(db, date, o.carryFromDays ?? CARRY_FROM_DAYS);
  await dayLists(db, d, true, items);
  await db.run(`CREATE OR REPLACE TEMP TABLE st_carry AS SELECT ${lit(items)} AS items, ${d} AS day`);
}

/**
 * Writes the RULES.md §10 statistics of business day `date` into the stats_* tables (creating them
 * if needed), replacing the day's earlier rows. Runs inside the caller's transaction: it never
 * begins or commits one. Needs `decisions` (and the `hist_*` tables) of the day. `decided`: the
 * date decideDay has just decided in this connection, whose temp tables can be read (publishDay);
 * `prepared`: the date whose inputs prepareStatistics has made.
 */
export async function computeStatistics(
  db: Db,
  date: string,
  runId: string,
  o: { reference: Reference; policy: Policy; decided?: string; prepared?: string },
): Promise<void> {
  checkDateArg('computeStatistics', date);
  const d = `DATE ${lit(date)}`;
  for (const x of STATS_TABLES) {
    await db.run(DDL[x]);
    await db.run(`DELETE FROM ${x} WHERE business_date = ${d}`);
  }
  const prepared = o.prepared === date;
  const decided = prepared || o.decided === date;
  if (!prepared) await loadInputs(db, d, o, decided);
  let items: Items = 'whole';
  if (prepared) {
    // the carried state as of the day (its orphans are counted from it when carried)
    const carry = await db.all(`SELECT items FROM st_carry WHERE day = ${d}`);
    const i = carry[0]?.items;
    if (i !== 'whole' && i !== 'whole-state' && i !== 'carried') throw new Error(`computeStatistics: the inputs prepared for ${date} are missing`);
    items = i;
    if (items !== 'whole') await writeCarry(db, d, items);
  }
  await computeInto(db, date, runId, o.policy, (x) => x, decided, prepared, items);

  // change against the previous business day present in decisions
  const prev = await db.all(`SELECT strftime(max(business_date), '%Y-%m-%d') AS p FROM decisions WHERE business_date < ${d}`);
  const p = (prev[0]?.p as string | null | undefined) ?? null;
  let prevTable = 'stats_summary';
  if (p !== null) {
    const have = await db.all(`SELECT count(*)::INTEGER AS n FROM stats_summary WHERE business_date = DATE ${lit(p)}`);
    if (!Number(have[0]?.n ?? 0)) {
      // not computed for that day: compute it now into temp copies (not published)
      for (const x of TEMP_STATS) await db.run(`CREATE OR REPLACE TEMP TABLE st_prev_${x} AS SELECT * FROM ${x} WHERE false`);
      await loadInputs(db, `DATE ${lit(p)}`, o);
      await computeInto(db, p, runId, o.policy, (x) => `st_prev_${x}`);
      prevTable = 'st_prev_stats_summary';
    }
  }
  const pd = p === null ? 'NULL::DATE' : `DATE ${lit(p)}`;
  await db.run(`INSERT INTO stats_change
    SELECT t.business_date, t.run_id, t.metric, t.unit, t.value, ${pd}, pv.value, t.value - pv.value
    FROM stats_summary t LEFT JOIN (SELECT metric, value FROM ${prevTable} WHERE business_date = ${pd}) pv USING (metric)
    WHERE t.business_date = ${d}`);

  await dropTempTables(db, 'st_aeo', 'st_offices', 'st_w_orders', 'st_w_waybills', 'st_new_orders', 'st_new_waybills', 'st_flag_orders', 'st_flag_waybills', 'st_lists', 'st_held', 'st_carry',
    ...TEMP_STATS.map((x) => `st_prev_${x}`));
}
