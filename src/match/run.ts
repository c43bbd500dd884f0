/**
 * match/ owns deciding a business day: the day's staged records join the history of earlier days,
 * latest wins picks every key's current record (RULES.md §2), the checks of §4 run as SQL
 * (checks.ts), and the day is settled in RULES.md order: ownership in (appTime, agentCode, copNo)
 * order, the grace period, the decision of §5, invtNo numbering and the risk draws of §6; then
 * cancels (§5), the inspection queue (§6), returns (§7) and the ledger. prepareDay does all this
 * into temp tables (out_*), writeDay writes them into the published tables; decideDay is both.
 * `whatIf` decides a day again under another policy and rolls it back. Publishing (the
 * transaction around writeDay, the checks, statistics) is src/publish/.
 */
import { appendRows, dropTempTables, type Db } from '../db/duck.js';
import { inForceSql, multiplyRates, policyFor, rateThreshold, type Policy, type PolicyVersion } from '../policy/policy.js';
import { districtOf, ISO_CURRENCIES, type Reference } from '../policy/reference.js';
import { formatDecimal } from '../spec/validate.js';
import { RECORD_SPECS } from '../spec/fields.js';
import { lit, stagingTable } from '../spec/schema.js';
import { timer, type StageTiming } from '../util/timer.js';
import { QUARANTINE_COLUMNS } from '../ingest/ingest.js';
import { CHECK_TABLES_DDL, runChecks } from './checks.js';

export type Decision = 'REJECT' | 'PENDING' | 'REVIEW' | 'INSPECT' | 'RELEASE' | 'CANCELLED';
const STATUS: Record<Decision, number> = { REJECT: 100, PENDING: 2, REVIEW: 300, INSPECT: 500, RELEASE: 800, CANCELLED: 100 };
const CHANNEL: Record<Decision, string | null> = { REJECT: null, PENDING: null, REVIEW: 'yellow', INSPECT: 'red', RELEASE: 'green', CANCELLED: null };

const currencySql = (col: string) =>
  `CASE ${Object.entries(ISO_CURRENCIES)
    .map(([iso, num]) => `WHEN ${col} = '${iso}' THEN '${num}'`)
    .join(' ')} ELSE ${col} END`;

export const DECISIONS_DDL = `CREATE TABLE IF NOT EXISTS decisions (
  business_date DATE NOT NULL,
  run_id VARCHAR NOT NULL,
  agent_code VARCHAR NOT NULL,
  cop_no VARCHAR NOT NULL,
  invt_no VARCHAR,
  trade_mode VARCHAR,
  customs_code VARCHAR,
  ebp_code VARCHAR,
  ebc_code VARCHAR,
  order_no VARCHAR,
  logistics_code VARCHAR,
  logistics_no VARCHAR,
  decision VARCHAR NOT NULL,
  status_code INTEGER NOT NULL,
  channel VARCHAR,
  reasons VARCHAR[] NOT NULL,
  value_cny DECIMAL(38,13),
  policy_id VARCHAR,
  held_order VARCHAR,
  held_waybill VARCHAR
);`;

export const DECISION_REASONS_DDL = `CREATE TABLE IF NOT EXISTS decision_reasons (
  business_date DATE NOT NULL,
  agent_code VARCHAR NOT NULL,
  cop_no VARCHAR NOT NULL,
  reason VARCHAR NOT NULL,
  severity VARCHAR NOT NULL,
  detail VARCHAR
);`;

/**
 * History: every staged record of every run, with its business date. The day's staging tables are
 * renamed into per-day tables `hist_<table>__<yyyymmdd>` (no copy: at a million lists copying the
 * wide staging rows into one history table was most of the decide time on a file database), and
 * `hist_<table>` is a view over all days, the date a constant per day so filters prune whole days.
 * A rerun of a day replaces that day's table. Inside the run's transaction, like everything else.
 */
export function historyDayTable(table: string, date: string): string {
  return `hist_${table}__${date.replace(/-/g, '')}`;
}

/**
 * The marker of the statistics' carried state (publish/stats.ts `carry_*` tables): the day they
 * stand for. Every write of a day's history and decisions drops it (writeDay); only the
 * statistics of a `declmatch run` write it again, so that a state left behind by any other write
 * is never taken for current.
 */
export const CARRY_AS_OF = 'carry_as_of';

/** The days (YYYY-MM-DD, in order) that `hist_<table>` holds a table of (historyDayTable). */
async function historyDays(db: Db, table: string): Promise<string[]> {
  const days = await db.all(`SELECT table_name AS t FROM duckdb_tables() WHERE NOT temporary AND regexp_matches(table_name, '^hist_${table}__[0-9]{8}$') ORDER BY table_name`);
  return days.map((d) => {
    const ymd = String(d.t).slice(-8);
    return `${ymd.slice(0, 4)}-${ymd.slice(4, 6)}-${ymd.slice(6)}`;
  });
}

/** The days recorded in the history before `date` (YYYY-MM-DD): how many, and the latest (or null). */
export async function historyBefore(db: Db, date: string): Promise<{ days: number; latest: string | null }> {
  const before = (await historyDays(db, 'orders')).filter((d) => d < date);
  return { days: before.length, latest: before.at(-1) ?? null };
}

async function appendHistory(db: Db, date: string): Promise<void> {
  for (const spec of RECORD_SPECS) {
    const stg = stagingTable(spec);
    const day = historyDayTable(spec.table, date);
    await db.run(`DROP TABLE IF EXISTS ${day}`);
    await db.run(`ALTER TABLE ${stg} RENAME TO ${day}`);
    await rebuildHistoryView(db, spec.table);
  }
}

/** The SELECTs of `hist_<table>`: one per recorded day, except `except` (a date). */
async function historyParts(db: Db, table: string, except?: string): Promise<string[]> {
  return (await historyDays(db, table))
    .filter((d) => d !== except)
    .map((d) => `SELECT DATE ${lit(d)} AS business_date, * FROM ${historyDayTable(table, d)}`);
}

/** `hist_<table>`: UNION ALL BY NAME of the per-day tables (a column added by a later spec is NULL before). */
export async function rebuildHistoryView(db: Db, table: string): Promise<void> {
  const parts = await historyParts(db, table);
  if (!parts.length) throw new Error(`no history for ${table}`);
  await db.run(`CREATE OR REPLACE VIEW hist_${table} AS ${parts.join('\nUNION ALL BY NAME\n')}`);
}

/**
 * The history as it will be once the day is recorded, for deciding before anything is written:
 * temp views `hist_<table>` (they shadow the persistent views of the same name) over the earlier
 * days' tables and the day's staging table in place of that day's table. writeDay drops them.
 */
async function shadowHistory(db: Db, date: string): Promise<void> {
  for (const spec of RECORD_SPECS) {
    const parts = [...(await historyParts(db, spec.table, date)), `SELECT DATE ${lit(date)} AS business_date, * FROM ${stagingTable(spec)}`];
    await db.run(`CREATE OR REPLACE TEMP VIEW hist_${spec.table} AS ${parts.join('\nUNION ALL BY NAME\n')}`);
  }
}

async function dropShadowHistory(db: Db): Promise<void> {
  for (const spec of RECORD_SPECS) await db.run(`DROP VIEW IF EXISTS temp.main.hist_${spec.table}`);
}

/**
 * The keys a day needs of a history table: the rows of `keys` (an SQL relation), paired with the
 * history rows `h` on `cols`, and `days`, a condition on a business date that holds for every day
 * with a row of those keys (found by `wanted`). Lookups over the history limited this way read the
 * history's key columns once and the other columns of those days only: DuckDB reads every column a
 * join needs of every row it scans, and reading every day kept made each day slower than the one
 * before.
 */
export interface Wanted {
  keys: string;
  cols: readonly string[];
  days: string;
}

/** `a.c = b.c AND …` for each column c; `nullSafe`: IS NOT DISTINCT FROM (NULL pairs with NULL). */
export const pairOn = (cols: readonly string[], a: string, b: string, nullSafe = false) =>
  cols.map((c) => `${a}.${c} ${nullSafe ? 'IS NOT DISTINCT FROM' : '='} ${b}.${c}`).join(' AND ');

/**
 * The heads with an invalid line (few), as (business_date, head_guid, key…) of `hist_<lineTable>`
 * rows matching `where` (a condition on the line `l`), and the condition pairing them with a head
 * version `x` (used by latest wins and by the ledger, which must agree on what is invalid).
 */
const badHeadsSql = (lineTable: string, key: readonly string[], where: string) =>
  `SELECT DISTINCT l.business_date, l.head_guid, ${key.map((c) => `l.${c}`).join(', ')} FROM hist_${lineTable} l WHERE NOT l.record_valid AND ${where}`;
const badHeadOf = (b: string, x: string, key: readonly string[]) => `${b}.business_date = ${x}.business_date AND ${b}.head_guid = ${x}.guid AND ${pairOn(key, b, x)}`;

/**
 * Latest wins (RULES.md §2) over the history up to the day: per key the greatest app_time, then
 * the later input (business date, file name, position). Drafts and invalid versions (the head or
 * any of its lines) take no part; a winning delete removes the key. With `only`, the keys wanted
 * only (every version of them is ranked, so their winners are the same). With `deletes`, a winning
 * delete is kept (with app_type), for a state that later versions are ranked against.
 */
export function winnersSql(date: string, table: string, key: readonly string[], lineTable?: string, cols = 'h.*', only?: Wanted, deletes = false): string {
  const k = key.join(', ');
  const upTo = /^\d{4}-\d{2}-\d{2}$/.test(date) ? `DATE ${lit(date)}` : date; // a date, or an SQL date expression
  const days = only ? `AND h.business_date ${only.days}` : '';
  // versions with an invalid line: an anti join with the few heads that have one (as a correlated
  // NOT EXISTS, DuckDB deduplicated the key and guid of every version first: 26 s over 14M orders)
  const invalidLines = lineTable
    ? `ANTI JOIN (${badHeadsSql(lineTable, key, `l.business_date <= ${upTo} ${only ? `AND l.business_date ${only.days}` : ''}`)}) bad ON ${badHeadOf('bad', 'h', key)}`
    : '';
  const all = cols === 'h.*';
  return `SELECT * EXCLUDE (rn${all || deletes ? '' : ', app_type'}) FROM (
    SELECT ${cols}${all ? '' : ', h.app_type'}, row_number() OVER (PARTITION BY ${key.map((c) => `h.${c}`).join(', ')} ORDER BY h.app_time DESC, h.business_date DESC, h.source_file DESC, h.record_index DESC) AS rn
    FROM hist_${table} h ${only ? `SEMI JOIN (${only.keys}) k ON ${pairOn(only.cols, 'k', 'h')}` : ''} ${invalidLines}
    WHERE h.business_date <= ${upTo} ${days} AND h.record_valid AND h.app_status = '2'
  ) WHERE rn = 1${deletes ? '' : ` AND app_type <> '3'`}`;
}

/**
 * The days a column of a relation holds, as a condition on a business date: `IN (DATE '…', …)`
 * (`IS NULL` when there is none, which nothing matches). With the days as constants the
 * `hist_` views read those days' tables only, and scans of the decisions (stored day after day)
 * skip the other days' row groups.
 */
async function daysIn(db: Db, relation: string, col = 'business_date'): Promise<string> {
  const days = (await db.all(`SELECT DISTINCT strftime(${col}, '%Y-%m-%d') AS b FROM ${relation} WHERE ${col} IS NOT NULL ORDER BY 1`)).map((x) => `DATE ${lit(String(x.b))}`);
  return days.length ? `IN (${days.join(', ')})` : 'IS NULL';
}

/**
 * The keys wanted of `table` (a history table, or `decisions`) up to `date`, and the days that hold
 * them (reading the key columns only). `dayKeys`, a relation of the same columns holding `keys`,
 * gives the days instead: one scan for the keys of several lookups.
 */
async function wanted(db: Db, table: string, date: string, keys: string, cols: readonly string[], dayKeys = keys): Promise<Wanted> {
  const from = table === 'decisions' ? 'decisions' : `hist_${table}`;
  // (NULL keys pair too: more days than needed only where a key is NULL, never fewer)
  const days = await daysIn(db, `(SELECT DISTINCT h.business_date FROM ${from} h SEMI JOIN (${dayKeys}) k ON ${pairOn(cols, 'k', 'h', true)} WHERE h.business_date <= DATE ${lit(date)}) x`);
  return { keys, cols, days };
}

/**
 * Creates the temp table `target`: the current version of each list key in the table `keys`
 * (agent_code, cop_no) as of `date`, the latest non-draft version, valid or not (an invalid latest
 * version is decided INVALID_RECORD), with `invalid` (the head or one of its lines failed
 * validation); a valid delete removes the key. The versions are ranked on narrow rows of the days
 * holding the keys; the winners' columns are then read from the days that hold winners. `keep`, a
 * condition on a winner `w` (its business_date b, agent_code, cop_no), keeps those winners only.
 */
async function listVersions(db: Db, date: string, keys: string, target: string, cols = LIST_COLS, dayKeys?: string, keep = 'true'): Promise<Wanted> {
  const upTo = `DATE ${lit(date)}`;
  const w = await wanted(db, 'lists', date, `SELECT agent_code, cop_no FROM ${keys}`, ['agent_code', 'cop_no'], dayKeys);
  await db.run(`CREATE OR REPLACE TEMP TABLE ${target}_at AS SELECT b, f, r FROM (
      SELECT h.business_date AS b, h.source_file AS f, h.record_index AS r, h.agent_code, h.cop_no,
        row_number() OVER (PARTITION BY h.agent_code, h.cop_no ORDER BY h.app_time DESC NULLS LAST, h.business_date DESC, h.source_file DESC, h.record_index DESC) AS rn
      FROM hist_lists h SEMI JOIN ${keys} k ON k.agent_code = h.agent_code AND k.cop_no = h.cop_no
      WHERE h.business_date <= ${upTo} AND h.business_date ${w.days} AND coalesce(h.app_status, '') <> '1') w WHERE rn = 1 AND (${keep})`);
  const on = await daysIn(db, `${target}_at`, 'b');
  // (`bad` reads the invalid lines of the winners' days, few, and is paired with the winners by the
  // join: a condition on the winners there made DuckDB materialise every wide winner row twice)
  await db.run(`CREATE OR REPLACE TEMP TABLE ${target} AS
    WITH win AS (SELECT ${cols}, h.record_valid FROM hist_lists h JOIN ${target}_at k ON h.business_date = k.b AND h.source_file = k.f AND h.record_index = k.r
        WHERE h.business_date ${on}),
    bad AS (SELECT DISTINCT l.head_guid, l.agent_code, l.cop_no FROM hist_list_lines l WHERE l.business_date ${on} AND NOT l.record_valid)
    SELECT win.* EXCLUDE (record_valid), NOT win.record_valid OR bad.head_guid IS NOT NULL AS invalid
    FROM win LEFT JOIN bad ON bad.head_guid = win.guid AND bad.agent_code = win.agent_code AND bad.cop_no = win.cop_no
    WHERE NOT win.record_valid OR bad.head_guid IS NOT NULL OR win.app_type <> '3'`);
  await db.run(`DROP TABLE ${target}_at`);
  return w;
}

/**
 * Creates the temp table `target`: the state of each list key in the table `keys` after the days
 * before `date`: its last decision and what that holds, its invtNo, whether it was ever decided,
 * whether it stands released, inspected or reviewed (not cancelled since).
 */
async function priorState(db: Db, date: string, keys: string, target: string): Promise<void> {
  const w = await wanted(db, 'decisions', date, `SELECT agent_code, cop_no FROM ${keys}`, ['agent_code', 'cop_no']);
  await db.run(`CREATE OR REPLACE TEMP TABLE ${target} AS
    WITH d AS (SELECT x.agent_code, x.cop_no, x.business_date, x.decision, x.invt_no, x.held_order, x.held_waybill
      FROM decisions x SEMI JOIN ${keys} k ON k.agent_code = x.agent_code AND k.cop_no = x.cop_no WHERE x.business_date < DATE ${lit(date)} AND x.business_date ${w.days}),
    last AS (SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY agent_code, cop_no ORDER BY business_date DESC) AS rn FROM d) WHERE rn = 1),
    pos AS (SELECT agent_code, cop_no, max(business_date) AS last_positive FROM d WHERE decision IN ('RELEASE', 'INSPECT', 'REVIEW') GROUP BY ALL),
    can AS (SELECT agent_code, cop_no, max(business_date) AS last_cancel FROM d WHERE decision = 'CANCELLED' GROUP BY ALL),
    inv AS (SELECT agent_code, cop_no, arg_min(invt_no, business_date) FILTER (WHERE decision <> 'PENDING') AS invt_no,
                   bool_or(decision <> 'PENDING') AS decided FROM d GROUP BY ALL)
    SELECT last.agent_code, last.cop_no, last.decision, last.held_order, last.held_waybill, inv.invt_no, inv.decided,
           pos.last_positive IS NOT NULL AND (can.last_cancel IS NULL OR can.last_cancel < pos.last_positive) AS positive
    FROM last JOIN inv USING (agent_code, cop_no) LEFT JOIN pos USING (agent_code, cop_no) LEFT JOIN can USING (agent_code, cop_no)`);
}

/** The columns the day's work reads from the current versions (the staging rows are much wider). */
const ORDER_COLS = 'h.business_date, h.guid, h.ebp_code, h.ebc_code, h.order_no, h.app_time, h.order_type, h.goods_value, h.currency';
const WAYBILL_COLS = 'h.business_date, h.guid, h.logistics_code, h.logistics_no, h.app_time, h.ebc_code, h.freight, h.insured_fee, h.gross_weight, h.pack_no';
const RECEIPT_COLS = 'h.business_date, h.guid, h.ebc_code, h.order_no, h.app_time, h.charge';
/** ... of the original lists of returns */
const RETURN_LIST_COLS = 'h.agent_code, h.cop_no, h.business_date, h.guid, h.app_type, h.trade_mode, h.customs_code, h.ebp_code, h.ebc_code, h.ie_date';
const LIST_COLS = `h.agent_code, h.cop_no, h.business_date, h.guid, h.source_file, h.record_index, h.app_type, h.app_time, h.invt_no, h.customs_code,
  h.ebp_code, h.ebc_code, h.order_no, h.logistics_code, h.logistics_no, h.trade_mode, h.statistics_flag, h.country, h.owner_code, h.freight, h.f_flag,
  h.insured_fee, h.i_flag, h.pack_no, h.gross_weight, h.net_weight, h.ie_date, h.loct_no, h.bill_no, h.total_package_no`;

/**
 * A row's number in a table, from 0, as an INTEGER: its rowid less the table's first. DuckDB numbers
 * the rows of a table densely, from 0 once committed and from a large base (2^55) while written in
 * the current transaction; unlike row_number() OVER (), which numbered a million rows on one
 * thread, this is computed in parallel. The cast fails loudly, never silently, were they not dense.
 */
const rowNumber = (table: string, alias?: string) => `(${alias ? `${alias}.` : ''}rowid - (SELECT min(rowid) FROM ${table}))::INTEGER`;

export interface DecideOptions {
  date: string;
  runId: string;
  policy: Policy;
  reference: Reference;
  /** Decide from the history already recorded for the day instead of the staging tables (what-if). */
  fromHistory?: boolean;
}

export interface DayDecisions {
  counts: Partial<Record<Decision, number>>;
  /** seconds per step of the decision, in order (published in run_stages) */
  stages: StageTiming[];
}

/**
 * Decides the day: prepareDay, then writeDay. Inside the caller's transaction when it has one
 * (`declmatch run` prepares before its transaction and writes inside it, which is faster: see
 * prepareDay).
 */
export async function decideDay(db: Db, o: DecideOptions): Promise<DayDecisions> {
  const d = await prepareDay(db, o);
  await writeDay(db, o, d.stages);
  return d;
}

/**
 * Records the day that prepareDay decided: the day's staging tables become its history (unless
 * fromHistory), and the day's rows of every published table of OUTPUTS are replaced by the
 * prepared ones. The only writes of deciding; meant for the publishing transaction. Appends its
 * timing (decide.write) to `stages`.
 */
export async function writeDay(db: Db, o: DecideOptions, stages: StageTiming[]): Promise<void> {
  const lap = timer(stages);
  const day = `DATE ${lit(o.date)}`;
  // the statistics' carried state (publish/stats.ts) no longer stands for the history written here
  await db.run(`DROP TABLE IF EXISTS ${CARRY_AS_OF}`);
  if (!o.fromHistory) {
    await dropShadowHistory(db);
    await appendHistory(db, o.date);
  }
  for (const { table } of OUTPUTS) {
    await db.run(`DELETE FROM ${table} WHERE business_date = ${day}`);
    await db.run(`INSERT INTO ${table} SELECT * FROM out_${table}`);
  }
  await db.run(`INSERT INTO stg_quarantine SELECT * FROM out_quarantine`);
  lap('decide.write');
}

/**
 * Decides the day into temp tables only (`out_<table>` for each of OUTPUTS, out_quarantine, and the
 * w_/m_/s_ tables publishing reads): nothing persistent changes but the creation of missing
 * published tables, so it may run outside the publishing transaction, and should: DuckDB scans a
 * table written in the current transaction on one thread only, and at a million lists this step
 * took ~26 s inside the transaction and ~21 s outside. Reads the day's records from its staging
 * tables through temp `hist_` views (shadowHistory), or from the recorded history (fromHistory).
 */
export async function prepareDay(db: Db, o: DecideOptions): Promise<DayDecisions> {
  const { date } = o;
  const day = `DATE ${lit(date)}`;
  const stages: StageTiming[] = [];
  const lap = timer(stages);
  if (!o.fromHistory) await shadowHistory(db, date);
  lap('decide.history');
  for (const { table, ddl } of OUTPUTS) {
    await db.run(ddl);
    await db.run(`CREATE OR REPLACE TEMP TABLE out_${table} AS SELECT * FROM ${table} LIMIT 0`);
  }
  await db.run(`CREATE OR REPLACE TEMP TABLE out_quarantine (${QUARANTINE_COLUMNS})`);
  // the decisions as they stand after this run: the earlier days' and this day's new ones (not
  // those of later days, when an earlier day is run again: a day is decided as it stood then)
  await db.run(`CREATE OR REPLACE TEMP VIEW cur_decisions AS
    SELECT * FROM decisions WHERE business_date < DATE ${lit(date)} UNION ALL SELECT * FROM out_decisions`);

  // the list keys the day decides: those with a version today, and those pending since an earlier
  // day. Latest wins, the prior state and everything after them look at these keys only, so that
  // the cost of a day grows little with the days kept (RULES.md §1: a list is decided on its day
  // or, while pending, on the next runs)
  await db.run(`CREATE OR REPLACE TEMP TABLE k_lists AS
    SELECT agent_code, cop_no FROM hist_lists WHERE business_date = ${day} AND agent_code IS NOT NULL AND cop_no IS NOT NULL
    UNION SELECT agent_code, cop_no FROM decisions WHERE business_date < ${day} AND decision = 'PENDING'`);
  // the list versions: latest non-draft version per key, valid or not (an invalid latest version is INVALID_RECORD)
  // (the days of these keys are those of the day's records of every key too: the ledger reuses them)
  const shared = new Map<string, Wanted>();
  const today = (table: string, cols: string) => `SELECT ${cols} FROM hist_${table} WHERE business_date = ${day}`;
  // prior state of those list keys from earlier days' decisions
  await priorState(db, date, 'k_lists', 'prior');
  // the lists to decide today (w_lists): a new winning version today, or pending since an earlier
  // day (the cancels below never change a pending list: they apply to released lists only)
  const deciding = `w.b = ${day} OR EXISTS (SELECT 1 FROM prior p WHERE p.agent_code = w.agent_code AND p.cop_no = w.cop_no AND p.decision = 'PENDING')`;
  shared.set('lists', await listVersions(db, date, 'k_lists', 'w_lists', LIST_COLS, `SELECT agent_code, cop_no FROM k_lists UNION ALL ${today('lists', 'agent_code, cop_no')}`, deciding));
  lap('decide.latest_wins');

  // cancels (RULES.md §5), before the day's lists: what they free is available to those lists
  const cancelled = await applyCancels(db, date, o.runId, shared);
  lap('decide.cancels');

  // the lists to decide today, with lid: their row in w_lists (from 0: unique, in no particular
  // order), their key in every m_ and s_ table (an integer joins much faster than the two codes). A
  // view: a copy of the wide rows cost seconds and, at ten million lists, pushed DuckDB to spill.
  const base = Number((await db.all(`SELECT coalesce(min(rowid), 0) AS m FROM w_lists`))[0]?.m ?? 0);
  await db.run(`CREATE OR REPLACE TEMP VIEW deciding AS SELECT (rowid - ${base})::INTEGER AS lid, * FROM w_lists`);

  // the current orders, waybills and receipts the deciding lists can pair with: by the list's
  // (ebpCode, orderNo) for orders (ORDER_PARTY_MISMATCH looks for the order under another ebcCode),
  // its waybill key, its (ebcCode, orderNo) for receipts
  const valid = `FROM deciding WHERE NOT invalid`;
  const counterpart = async (table: string, cols: readonly string[]) =>
    wanted(db, table, date, `SELECT ${cols.join(', ')} ${valid}`, cols, `SELECT ${cols.join(', ')} ${valid} UNION ALL ${today(table, cols.join(', '))}`);
  const orders = await counterpart('orders', ['ebp_code', 'order_no']);
  await db.run(`CREATE OR REPLACE TEMP TABLE w_orders AS ${winnersSql(date, 'orders', ['ebp_code', 'ebc_code', 'order_no'], 'order_lines', ORDER_COLS, orders)}`);
  const waybills = await counterpart('waybills', ['logistics_code', 'logistics_no']);
  await db.run(`CREATE OR REPLACE TEMP TABLE w_waybills AS ${winnersSql(date, 'waybills', ['logistics_code', 'logistics_no'], undefined, WAYBILL_COLS, waybills)}`);
  const receipts = await counterpart('receipts', ['ebc_code', 'order_no']);
  await db.run(`CREATE OR REPLACE TEMP TABLE w_receipts AS ${winnersSql(date, 'receipts', ['ebc_code', 'order_no'], undefined, RECEIPT_COLS, receipts)}`);
  for (const [table, w] of [['orders', orders], ['waybills', waybills], ['receipts', receipts]] as const) shared.set(table, w);
  lap('decide.counterparts');

  // inputs of the checks
  await db.run(CHECK_TABLES_DDL);
  const versions = [...o.policy.versions].sort((a, b) => (a.effectiveFrom < b.effectiveFrom ? -1 : 1));
  const dec5 = formatDecimal;
  for (const v of versions) {
    await db.run(
      `INSERT INTO m_policy VALUES (${lit(v.id)}, ${dec5(v.amountTolerance)}, ${v.waybillWindowDays}, ${dec5(v.weightToleranceKg)}, ${dec5(v.weightTolerancePct)}, ` +
        `[${v.receiptRequiredModes.map(lit).join(', ')}]::VARCHAR[], ${dec5(v.b2bThresholdCny)}, ${dec5(v.simplifiedThresholdCny)})`,
    );
  }
  // the version in force on a date (RULES.md §8; before the earliest, the earliest: policyFor)
  const policyOf = (col: string) => inForceSql(o.policy, col, (v) => lit(v.id));
  const rates = [...o.reference.rates.entries()];
  for (let i = 0; i < rates.length; i += 500) {
    const vals = rates
      .slice(i, i + 500)
      .map(([k, r]) => {
        const [cur, month] = k.split('|') as [string, string];
        return `(${lit(cur)}, ${lit(month)}, ${r / 100_000_000n}.${(r % 100_000_000n).toString().padStart(8, '0')})`; // exact: rates are × 10^8
      })
      .join(', ');
    await db.run(`INSERT INTO m_rates VALUES ${vals}`);
  }
  for (const c of o.reference.controlled) await db.run(`INSERT INTO m_controlled VALUES (${lit(c.hsPrefix)})`);

  await db.run(`INSERT INTO m_lists
    SELECT d.lid, d.app_time,
      ${policyOf('d.app_time')},
      d.customs_code, d.ebp_code, d.ebc_code, d.order_no, d.logistics_code, d.logistics_no, d.trade_mode, d.statistics_flag, d.country,
      d.owner_code, d.freight, d.f_flag, d.insured_fee, d.i_flag, d.pack_no, d.gross_weight, d.net_weight
    FROM deciding d WHERE NOT d.invalid`);
  // (the lines of a version are on its day: only the days of the versions are read)
  await db.run(`INSERT INTO m_list_lines
    SELECT d.lid, l.gnum, l.item_no, l.gcode, l.country, ${currencySql('l.currency')}, l.qty, l.price, l.total_price, l.unit
    FROM deciding d JOIN hist_list_lines l ON l.agent_code = d.agent_code AND l.cop_no = d.cop_no AND l.head_guid = d.guid AND l.business_date = d.business_date
    WHERE NOT d.invalid AND l.business_date ${await daysIn(db, 'deciding')}`);
  // an order's id for the checks (which pair an order with its lines by it) is its row in w_orders
  // (rowNumber: a row_number() over all rows numbered them on one thread)
  await db.run(`INSERT INTO m_orders SELECT ${rowNumber('w_orders')}, ebp_code, ebc_code, order_no, order_type, goods_value, ${currencySql('currency')} FROM w_orders`);
  await db.run(`INSERT INTO m_order_lines SELECT ${rowNumber('w_orders', 'o')}, l.ebp_code, l.ebc_code, l.order_no, l.gnum, l.item_no, l.unit, ${currencySql('l.currency')}, l.qty, l.price, l.total_price
    FROM w_orders o JOIN hist_order_lines l ON l.ebp_code = o.ebp_code AND l.ebc_code = o.ebc_code AND l.order_no = o.order_no AND l.head_guid = o.guid AND l.business_date = o.business_date
    WHERE l.business_date ${await daysIn(db, 'w_orders')}`);
  await db.run(`INSERT INTO m_waybills SELECT logistics_code, logistics_no, app_time, ebc_code, freight, insured_fee, gross_weight, pack_no FROM w_waybills`);
  await db.run(`INSERT INTO m_receipts SELECT ebc_code, order_no, charge FROM w_receipts`);
  // (each working table is dropped once read for the last time: at ten million lists they outgrew
  // DuckDB's memory limit together, and every step after spilled and read back blocks of them)
  await dropTempTables(db, 'w_orders', 'w_waybills', 'w_receipts');
  lap('decide.check_inputs');
  await runChecks(db);
  await dropTempTables(db, 'm_orders', 'm_order_lines', 'm_waybills', 'm_receipts', 'm_list_order_lines');
  lap('decide.checks');

  // risk inputs: the profiles whose conditions a list meets, value-band hits (draws come in settle)
  await riskInputs(db, o.reference);
  await dropTempTables(db, 'm_list_lines');
  lap('decide.risk_inputs');
  const counts = await settle(db, date, o.runId, versions, o.reference, policyOf);
  if (cancelled) counts.CANCELLED = cancelled;
  await dropTempTables(db, 'k_lists', 'prior', 'm_lists', 'm_list_order', 'm_list_waybill', 'm_reasons', 'm_values', 's_prof', 's_band', 's_cand', 's_holders', 's_holders_prior', 's_held', 's_claim', 's_owner', 's_decided', 's_risk', 's_reasons', 's_final');
  lap('decide.settle');
  await inspectionQueue(db, date);
  lap('decide.inspection_queue');
  await decideReturns(db, date, o, shared);
  lap('decide.returns');
  await writeLedger(db, date, o.runId, shared);
  lap('decide.ledger');
  return { counts, stages };
}

export const LEDGER_DDL = `CREATE TABLE IF NOT EXISTS ledger (
  run_id VARCHAR NOT NULL,
  business_date DATE NOT NULL,
  record_type VARCHAR NOT NULL,
  fate VARCHAR NOT NULL,
  count BIGINT NOT NULL
);`;

/** The head record types, their tables and business keys, for the ledger. */
const HEADS: readonly { type: string; table: string; key: readonly string[]; lines?: string }[] = [
  { type: 'order', table: 'orders', key: ['ebp_code', 'ebc_code', 'order_no'], lines: 'order_lines' },
  { type: 'receipt', table: 'receipts', key: ['ebc_code', 'order_no'] },
  { type: 'waybill', table: 'waybills', key: ['logistics_code', 'logistics_no'] },
  { type: 'list', table: 'lists', key: ['agent_code', 'cop_no'], lines: 'list_lines' },
  { type: 'cancel', table: 'cancels', key: ['agent_code', 'cop_no'] },
  { type: 'return', table: 'returns', key: ['agent_code', 'co_el_no'], lines: 'return_lines' },
];

/**
 * RULES.md §3 conservation: where every record received today ended, per record type. quarantined
 * (failed validation: the head or a line of it), draft (appStatus 1), stale (older than a version of
 * its key received on an earlier day), superseded (a newer version won), deleted (a delete, or
 * deleted by one), and for the
 * current versions: lists decided / pending, orders and waybills used / open, receipts open,
 * cancels applied / rejected, returns decided. Also the open waybills that left the reuse window
 * today (expired). The fates of a type add up to the records of that type read today.
 */
async function writeLedger(db: Db, date: string, runId: string, shared: ReadonlyMap<string, Wanted>): Promise<void> {
  const d = `DATE ${lit(date)}`;
  for (const h of HEADS) {
    const k = h.key.join(', ');
    const current =
      h.type === 'list'
        ? `CASE WHEN EXISTS (SELECT 1 FROM out_decisions dd WHERE dd.agent_code = t.agent_code AND dd.cop_no = t.cop_no AND dd.decision = 'PENDING') THEN 'pending' ELSE 'decided' END`
        : h.type === 'order'
          ? `CASE WHEN EXISTS (SELECT 1 FROM out_decisions dd WHERE dd.held_order = t.ebp_code || '|' || t.ebc_code || '|' || t.order_no) THEN 'used' ELSE 'open' END`
          : h.type === 'waybill'
            ? `CASE WHEN EXISTS (SELECT 1 FROM out_decisions dd WHERE dd.held_waybill = t.logistics_code || '|' || t.logistics_no) THEN 'used' ELSE 'open' END`
            : h.type === 'cancel'
              ? `CASE WHEN EXISTS (SELECT 1 FROM cancel_match m WHERE m.agent_code = t.agent_code AND m.cop_no = t.cop_no AND m.outcome = 'CANCELLED') THEN 'applied' ELSE 'rejected' END`
              : h.type === 'return'
                ? `'decided'`
                : `'open'`;
    const same = (x: string, y = 't') => pairOn(h.key, x, y, true);
    // the versions that decide the fates of today's records: today's, and the earlier ones of the
    // same keys (keys may be NULL in invalid records), narrow, each with its validity (`ok`), found
    // once: a record is valid when its head and every line of it are (RULES.md §3: matching leaves
    // out a record with an invalid line, as winnersSql does, so the ledger counts it quarantined)
    const narrow = (x: string) => `${h.key.map((c) => `${x}.${c}`).join(', ')}, ${x}.guid, ${x}.app_type, ${x}.app_status, ${x}.app_time, ${x}.source_file, ${x}.record_index, ${x}.business_date, ${x}.record_valid`;
    // (the days holding versions of today's keys: found while deciding, for every record type)
    const versions = shared.get(h.table);
    if (!versions) throw new Error(`writeLedger: deciding found no days for ${h.table}`);
    const badHeads = h.lines
      ? `bad_heads AS MATERIALIZED (${badHeadsSql(h.lines, h.key, `l.business_date <= ${d} AND l.business_date ${versions.days}`)}),`
      : '';
    // the winner of each key (`q`: a valid final version, ranked first) and the latest appTime of
    // the earlier days' valid final versions, in one window over the versions of each key (as a
    // ranking joined back with an aggregate, two joins on the key cost seconds per record type at
    // ten million lists; as correlated subqueries, seconds at a million)
    const order = `coalesce(q, false) DESC, app_time DESC NULLS LAST, business_date DESC, source_file DESC, record_index DESC`;
    const win = `PARTITION BY ${k} ORDER BY ${order}`;
    await db.run(`INSERT INTO out_ledger
      WITH ${badHeads}
      today AS MATERIALIZED (SELECT ${narrow('x')} FROM hist_${h.table} x WHERE x.business_date = ${d}),
      v AS (
        SELECT x.* EXCLUDE (record_valid), x.record_valid${h.lines ? ' AND b.head_guid IS NULL' : ''} AS ok
        FROM (SELECT * FROM today
              UNION ALL SELECT ${narrow('x')} FROM hist_${h.table} x SEMI JOIN (SELECT DISTINCT ${k} FROM today) tk ON ${same('x', 'tk')}
              WHERE x.business_date < ${d} AND x.business_date ${versions.days}) x
        ${h.lines ? `LEFT JOIN bad_heads b ON ${badHeadOf('b', 'x', h.key)}` : ''}),
      ranked AS (
        SELECT *, row_number() OVER (${win}) AS rn, first_value(q) OVER (${win}) AS w_q, first_value(app_type) OVER (${win}) AS w_type,
          max(CASE WHEN q AND business_date < ${d} THEN app_time END) OVER (${win} ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS e_time
        FROM (SELECT *, ok AND app_status = '2' AS q FROM v))
      SELECT ${lit(runId)}, ${d}, ${lit(h.type)}, fate, count(*) FROM (
        SELECT CASE
          WHEN NOT t.ok THEN 'quarantined'
          WHEN t.app_status = '1' THEN 'draft'
          WHEN t.e_time > t.app_time THEN 'stale'
          WHEN t.app_type = '3' THEN 'deleted'
          WHEN t.w_q AND t.w_type = '3' THEN 'deleted'
          -- (the winner, when there is one, is ranked first)
          WHEN NOT coalesce(t.q, false) OR t.rn > 1 THEN 'superseded'
          ELSE ${current} END AS fate
        FROM ranked t WHERE t.business_date = ${d}) GROUP BY fate`);
  }
  // open waybills that leave the reuse window today (their last day inside it was yesterday)
  const left = `${d} - to_days((SELECT max(waybill_window_days) FROM m_policy) + 1)`;
  const leaving = await wanted(db, 'waybills', date, `SELECT logistics_code, logistics_no FROM hist_waybills WHERE CAST(app_time AS DATE) = ${left}`, ['logistics_code', 'logistics_no']);
  await db.run(`INSERT INTO out_ledger
    WITH w AS (${winnersSql(date, 'waybills', ['logistics_code', 'logistics_no'], undefined, 'h.logistics_code, h.logistics_no, h.app_time', leaving)})
    SELECT ${lit(runId)}, ${d}, 'waybill', 'expired', count(*) FROM w
    WHERE CAST(w.app_time AS DATE) = ${left}
      AND NOT EXISTS (SELECT 1 FROM cur_decisions dd WHERE dd.held_waybill = w.logistics_code || '|' || w.logistics_no)
    HAVING count(*) > 0`);
}

export const INSPECTION_QUEUE_DDL = `CREATE TABLE IF NOT EXISTS inspection_queue (
  business_date DATE NOT NULL,
  customs_code VARCHAR,
  loct_no VARCHAR,
  position INTEGER NOT NULL,
  agent_code VARCHAR NOT NULL,
  cop_no VARCHAR NOT NULL,
  invt_no VARCHAR,
  trade_mode VARCHAR,
  priority BOOLEAN NOT NULL,       -- B2B (9710/9810): priority inspection
  hits INTEGER NOT NULL,           -- risk reasons that selected it
  spared INTEGER NOT NULL          -- other lists of the day sharing its billNo or totalPackageNo, which would have waited under container-level inspection
);`;

/**
 * RULES.md §6: the day's selected lists, per supervised site (customsCode, loctNo), B2B first, then
 * by number of hits, then invtNo; with the lists spared by inspecting before shipment.
 */
async function inspectionQueue(db: Db, date: string): Promise<void> {
  await db.run(`INSERT INTO out_inspection_queue
    WITH today AS MATERIALIZED (
      SELECT d.agent_code, d.cop_no, d.invt_no, d.trade_mode, d.customs_code, d.decision, d.reasons, w.loct_no, nullif(w.bill_no, '') AS bill_no, nullif(w.total_package_no, '') AS total_package_no
      FROM out_decisions d JOIN w_lists w ON w.agent_code = d.agent_code AND w.cop_no = d.cop_no
      WHERE d.decision IN ('RELEASE', 'INSPECT', 'REVIEW')),
    -- lists sharing the bill or the bag: |B ∪ P| − 1 = |B| + |P| − |B ∩ P| − 1, counted by
    -- aggregates joined to the selected lists only (windows over every list of the day sorted it)
    nb AS (SELECT bill_no, count(*) AS nb FROM today WHERE bill_no IS NOT NULL GROUP BY ALL),
    np AS (SELECT total_package_no, count(*) AS np FROM today WHERE total_package_no IS NOT NULL GROUP BY ALL),
    nbp AS (SELECT bill_no, total_package_no, count(*) AS nbp FROM today WHERE bill_no IS NOT NULL AND total_package_no IS NOT NULL GROUP BY ALL),
    sel AS (
      SELECT t.*, t.trade_mode IN ('9710', '9810') AS priority,
        len(list_filter(t.reasons, r -> r IN ('RISK_PROFILE', 'VALUE_BAND', 'RANDOM_SAMPLE')))::INTEGER AS hits,
        (coalesce(nb.nb, 0) + coalesce(np.np, 0) - coalesce(nbp.nbp, 0) - CASE WHEN t.bill_no IS NULL AND t.total_package_no IS NULL THEN 0 ELSE 1 END)::INTEGER AS spared
      FROM today t LEFT JOIN nb ON nb.bill_no = t.bill_no LEFT JOIN np ON np.total_package_no = t.total_package_no
        LEFT JOIN nbp ON nbp.bill_no = t.bill_no AND nbp.total_package_no = t.total_package_no
      WHERE t.decision = 'INSPECT')
    SELECT DATE ${lit(date)}, s.customs_code, s.loct_no,
      row_number() OVER (PARTITION BY s.customs_code, s.loct_no ORDER BY s.priority DESC, s.hits DESC, s.invt_no)::INTEGER,
      s.agent_code, s.cop_no, s.invt_no, s.trade_mode, s.priority, s.hits, s.spared
    FROM sel s`);
}

export const RETURN_DECISIONS_DDL = `CREATE TABLE IF NOT EXISTS return_decisions (
  business_date DATE NOT NULL,
  run_id VARCHAR NOT NULL,
  agent_code VARCHAR NOT NULL,
  co_el_no VARCHAR NOT NULL,
  invt_no VARCHAR,
  decision VARCHAR NOT NULL,
  status_code INTEGER NOT NULL,
  reasons VARCHAR[] NOT NULL,
  policy_id VARCHAR
);`;

const RETURN_ACCEPTED_LINES_DDL = `CREATE TABLE IF NOT EXISTS return_accepted_lines (business_date DATE, invt_no VARCHAR, gnum INTEGER, qty DECIMAL(19,5))`;

/**
 * The published tables decideDay writes for a day, with their DDL; prepareDay fills a temp table
 * `out_<table>` of the same columns for each. stg_quarantine receives the quarantined cancels.
 */
const OUTPUTS: readonly { table: string; ddl: string }[] = [
  { table: 'decisions', ddl: DECISIONS_DDL },
  { table: 'decision_reasons', ddl: DECISION_REASONS_DDL },
  { table: 'return_decisions', ddl: RETURN_DECISIONS_DDL },
  { table: 'return_accepted_lines', ddl: RETURN_ACCEPTED_LINES_DDL },
  { table: 'inspection_queue', ddl: INSPECTION_QUEUE_DDL },
  { table: 'ledger', ddl: LEDGER_DDL },
];

/**
 * CEB605 cancels received today, against lists decided in earlier runs (matching invtNo, agentCode
 * and ebcCode): the list becomes CANCELLED and frees its order and waybill; a cancel that matches
 * no list, or another party's, is quarantined.
 */
async function applyCancels(db: Db, date: string, runId: string, shared: Map<string, Wanted>): Promise<number> {
  const cancels = await wanted(db, 'cancels', date, `SELECT agent_code, cop_no FROM hist_cancels WHERE business_date = DATE ${lit(date)}`, ['agent_code', 'cop_no']);
  shared.set('cancels', cancels); // (today's keys: the ledger's too)
  await db.run(`CREATE OR REPLACE TEMP TABLE cancel_match AS
    WITH c AS (${winnersSql(date, 'cancels', ['agent_code', 'cop_no'], undefined, 'h.*', cancels)}),
    -- the last decision of the lists that had one of the cancels' invtNos
    lk AS (SELECT DISTINCT agent_code, cop_no FROM decisions WHERE business_date < DATE ${lit(date)}
      AND invt_no IN (SELECT invt_no FROM hist_cancels WHERE business_date = DATE ${lit(date)})),
    -- (their days found on narrow rows first: the decisions are stored day after day, so the join
    -- on the day reads those days' rows only)
    lastd AS (SELECT x.agent_code, x.cop_no, max(x.business_date) AS b FROM decisions x SEMI JOIN lk ON lk.agent_code = x.agent_code AND lk.cop_no = x.cop_no
      WHERE x.business_date < DATE ${lit(date)} GROUP BY ALL),
    t AS (SELECT x.* FROM decisions x JOIN lastd ON lastd.agent_code = x.agent_code AND lastd.cop_no = x.cop_no AND lastd.b = x.business_date
      WHERE x.decision NOT IN ('PENDING', 'CANCELLED'))
    SELECT c.source_file, c.message_guid, c.record_index, c.agent_code, c.cop_no, c.invt_no, c.ebc_code,
      t.agent_code AS t_agent, t.cop_no AS t_cop, t.ebc_code AS t_ebc,
      CASE WHEN t.agent_code IS NULL THEN 'CANCEL_TARGET_MISSING'
           WHEN t.agent_code <> c.agent_code OR t.ebc_code IS DISTINCT FROM c.ebc_code THEN 'CANCEL_PARTY_MISMATCH'
           ELSE 'CANCELLED' END AS outcome,
      t.* EXCLUDE (agent_code, cop_no, ebc_code, invt_no, business_date, run_id, decision, status_code, channel, reasons, value_cny, policy_id, held_order, held_waybill)
    FROM c LEFT JOIN t ON t.invt_no = c.invt_no
    WHERE c.business_date = DATE ${lit(date)}`);
  await db.run(`INSERT INTO out_quarantine
    SELECT source_file, message_guid, record_index, 'cancel', agent_code || '|' || cop_no, 'invtNo', outcome,
      CASE outcome WHEN 'CANCEL_TARGET_MISSING' THEN printf('no list %s decided in an earlier run', invt_no)
           ELSE printf('list %s belongs to %s/%s, not %s/%s', invt_no, t_agent, coalesce(t_ebc, ''), agent_code, coalesce(ebc_code, '')) END
    FROM cancel_match WHERE outcome <> 'CANCELLED'`);
  await db.run(`INSERT INTO out_decisions
    SELECT DATE ${lit(date)}, ${lit(runId)}, t_agent, t_cop, invt_no, trade_mode, customs_code, ebp_code, t_ebc, order_no, logistics_code, logistics_no,
      'CANCELLED', 100, NULL, ['CANCELLED']::VARCHAR[], NULL, NULL, NULL, NULL
    FROM cancel_match WHERE outcome = 'CANCELLED'`);
  await db.run(`INSERT INTO out_decision_reasons
    SELECT DATE ${lit(date)}, t_agent, t_cop, 'CANCELLED', 'R', printf('cancelled by %s/%s', agent_code, cop_no) FROM cancel_match WHERE outcome = 'CANCELLED'`);
  await db.run(`UPDATE prior SET decision = 'CANCELLED', positive = false, held_order = NULL, held_waybill = NULL
    FROM cancel_match m WHERE m.outcome = 'CANCELLED' AND prior.agent_code = m.t_agent AND prior.cop_no = m.t_cop`);
  const n = await db.all(`SELECT count(*)::INTEGER AS n FROM cancel_match WHERE outcome = 'CANCELLED'`);
  return Number(n[0]?.n ?? 0);
}

function addMonths(date8: string, months: number): string {
  const t = new Date(Date.UTC(+date8.slice(0, 4), +date8.slice(4, 6) - 1 + months, +date8.slice(6, 8)));
  return t.toISOString().slice(0, 10);
}

/** CEB213 returns received today, against the lists as they stand after this run (RULES.md §7). */
async function decideReturns(db: Db, date: string, o: DecideOptions, shared: Map<string, Wanted>): Promise<void> {
  const today = await wanted(db, 'returns', date, `SELECT agent_code, co_el_no FROM hist_returns WHERE business_date = DATE ${lit(date)}`, ['agent_code', 'co_el_no']);
  shared.set('returns', today); // (today's keys: the ledger's too)
  await db.run(`CREATE OR REPLACE TEMP TABLE w_returns AS SELECT * FROM (${winnersSql(date, 'returns', ['agent_code', 'co_el_no'], 'return_lines', 'h.*', today)})
    WHERE business_date = DATE ${lit(date)}`);
  const returns = await db.all(`SELECT r.agent_code, r.co_el_no, r.invt_no, r.customs_code, r.ebp_code, r.ebc_code, epoch(r.app_time)::BIGINT AS t,
      strftime(r.app_time, '%Y-%m-%d') AS day,
      (SELECT list({'gnum': l.gnum, 'gcode': l.gcode, 'gname': l.gname, 'gmodel': l.gmodel, 'unit': l.unit, 'qty': l.qty::VARCHAR} ORDER BY l.gnum)
         FROM hist_return_lines l WHERE l.head_guid = r.guid AND l.agent_code = r.agent_code AND l.co_el_no = r.co_el_no AND l.business_date = r.business_date
           AND l.business_date = DATE ${lit(date)}) AS lines
    FROM w_returns r ORDER BY r.app_time, r.agent_code, r.co_el_no`);
  if (!returns.length) return;
  // the originals: the current decision of the list with that invtNo, and its current version
  // (the lists that ever had one of the returns' invtNos are looked at)
  await db.run(`CREATE OR REPLACE TEMP TABLE k_originals AS
    SELECT DISTINCT agent_code, cop_no FROM cur_decisions WHERE invt_no IN (SELECT invt_no FROM w_returns)`);
  await listVersions(db, date, 'k_originals', 'r_lists', RETURN_LIST_COLS);
  const decided = await daysIn(db, `(SELECT DISTINCT x.business_date FROM cur_decisions x SEMI JOIN k_originals k ON k.agent_code = x.agent_code AND k.cop_no = x.cop_no) x`);
  const lineDays = await daysIn(db, 'r_lists');
  const originals = await db.all(`WITH cur AS (SELECT * FROM (SELECT x.agent_code, x.cop_no, x.invt_no, x.decision, row_number() OVER (PARTITION BY x.agent_code, x.cop_no ORDER BY x.business_date DESC) AS rn
      FROM cur_decisions x SEMI JOIN k_originals k ON k.agent_code = x.agent_code AND k.cop_no = x.cop_no WHERE x.business_date ${decided}) WHERE rn = 1)
    SELECT cur.invt_no, cur.decision, w.trade_mode, w.customs_code, w.ebp_code, w.ebc_code, strftime(w.ie_date, '%Y%m%d') AS ie_date,
      (SELECT list({'gnum': l.gnum, 'gcode': l.gcode, 'gname': l.gname, 'gmodel': l.gmodel, 'unit': l.unit, 'qty': l.qty::VARCHAR})
         FROM hist_list_lines l WHERE l.head_guid = w.guid AND l.agent_code = w.agent_code AND l.cop_no = w.cop_no AND l.business_date = w.business_date
           AND l.business_date ${lineDays}) AS lines,
      (SELECT list({'gnum': a.gnum, 'qty': a.qty::VARCHAR}) FROM return_accepted_lines a WHERE a.invt_no = cur.invt_no AND a.business_date < DATE ${lit(date)}) AS accepted
    FROM cur JOIN r_lists w ON w.agent_code = cur.agent_code AND w.cop_no = cur.cop_no
    WHERE cur.invt_no IN (SELECT invt_no FROM w_returns)`);
  type Line = { gnum: number; gcode: string | null; gname: string | null; gmodel: string | null; unit: string | null; qty: string };
  const dec = (v: string) => {
    const [i, f = ''] = v.split('.');
    return BigInt((i ?? '0') + f.padEnd(5, '0').slice(0, 5));
  };
  const byInvt = new Map(
    originals.map((r) => {
      const returned = new Map<number, bigint>();
      for (const a of (r.accepted as { gnum: number; qty: string }[] | null) ?? []) returned.set(Number(a.gnum), (returned.get(Number(a.gnum)) ?? 0n) + dec(a.qty));
      return [String(r.invt_no), { r, lines: new Map(((r.lines as Line[] | null) ?? []).map((l) => [Number(l.gnum), l])), returned }] as const;
    }),
  );
  const rows: string[] = [];
  const accepted: string[] = [];
  for (const ret of returns) {
    const pol = policyFor(o.policy, String(ret.day));
    const reasons: string[] = [];
    const orig = byInvt.get(String(ret.invt_no));
    const lines = (ret.lines as Line[] | null) ?? [];
    if (!orig) reasons.push('RETURN_ORIGINAL_MISSING');
    else {
      const r = orig.r;
      if (r.decision !== 'RELEASE' && r.decision !== 'INSPECT') reasons.push('RETURN_ORIGINAL_NOT_RELEASED');
      if (r.ie_date && String(ret.day) > addMonths(String(r.ie_date), pol.returnWindowMonths)) reasons.push('RETURN_EXPIRED');
      if (!pol.returnModes.includes(String(r.trade_mode))) reasons.push('RETURN_MODE_NOT_ELIGIBLE');
      if (ret.ebp_code !== r.ebp_code || ret.ebc_code !== r.ebc_code) reasons.push('RETURN_PARTY_MISMATCH');
      let lineBad = false;
      let qtyOver = false;
      for (const l of lines) {
        const ol = orig.lines.get(Number(l.gnum));
        if (!ol) {
          lineBad = true;
          continue;
        }
        if (l.gcode !== ol.gcode || l.gname !== ol.gname || l.gmodel !== ol.gmodel || l.unit !== ol.unit) lineBad = true;
        if ((orig.returned.get(Number(l.gnum)) ?? 0n) + dec(l.qty) > dec(ol.qty)) qtyOver = true;
      }
      if (lineBad) reasons.push('RETURN_LINE_MISMATCH');
      if (qtyOver) reasons.push('RETURN_QTY_EXCEEDED');
      const rd = districtOf(String(ret.customs_code ?? ''));
      if (rd !== districtOf(String(r.customs_code ?? ''))) {
        const cd = pol.crossDistrictReturns;
        if (!(cd.modes.includes(String(r.trade_mode)) && (cd.districts === 'any' || cd.districts.includes(rd)))) reasons.push('RETURN_CROSS_DISTRICT_NOT_ALLOWED');
      }
    }
    const decision = reasons.length ? 'REJECT' : 'ACCEPT';
    if (decision === 'ACCEPT' && orig) {
      for (const l of lines) {
        orig.returned.set(Number(l.gnum), (orig.returned.get(Number(l.gnum)) ?? 0n) + dec(l.qty));
        accepted.push(`(DATE ${lit(date)}, ${lit(String(ret.invt_no))}, ${Number(l.gnum)}, ${l.qty})`);
      }
    }
    rows.push(
      `(DATE ${lit(date)}, ${lit(o.runId)}, ${lit(String(ret.agent_code))}, ${lit(String(ret.co_el_no))}, ${ret.invt_no === null ? 'NULL' : lit(String(ret.invt_no))}, ` +
        `${lit(decision)}, ${decision === 'ACCEPT' ? 800 : 100}, [${reasons.sort().map(lit).join(', ')}]::VARCHAR[], ${lit(pol.id)})`,
    );
  }
  for (let i = 0; i < rows.length; i += 1000) await db.run(`INSERT INTO out_return_decisions VALUES ${rows.slice(i, i + 1000).join(',\n')}`);
  for (let i = 0; i < accepted.length; i += 1000) await db.run(`INSERT INTO out_return_accepted_lines VALUES ${accepted.slice(i, i + 1000).join(',\n')}`);
}

/**
 * Risk inputs of the deciding lists (RULES.md §6; the draws come in settle): s_prof, the profiles
 * whose conditions a list meets; s_band, the lines outside their value band, one text per list.
 */
async function riskInputs(db: Db, ref: Reference): Promise<void> {
  await db.run(`CREATE OR REPLACE TEMP TABLE m_profiles (id VARCHAR, gcode_prefix VARCHAR, ebc_code VARCHAR, owner_code VARCHAR, country VARCHAR, trade_mode VARCHAR,
    customs_code VARCHAR, min_value_cny DECIMAL(19,5), max_value_cny DECIMAL(19,5), valid_from DATE, valid_to DATE)`);
  const d5 = (v: bigint | null) => (v === null ? 'NULL' : formatDecimal(v));
  const s = (v: string | null) => (v === null ? 'NULL' : lit(v));
  for (const p of ref.riskProfiles) {
    await db.run(
      `INSERT INTO m_profiles VALUES (${lit(p.id)}, ${s(p.gcodePrefix)}, ${s(p.ebcCode)}, ${s(p.ownerCode)}, ${s(p.country)}, ${s(p.tradeMode)}, ${s(p.customsCode)}, ` +
        `${d5(p.minValueCny)}, ${d5(p.maxValueCny)}, ${p.validFrom ? `DATE ${lit(p.validFrom)}` : 'NULL'}, ${p.validTo ? `DATE ${lit(p.validTo)}` : 'NULL'})`,
    );
  }
  // the gcode condition first, as a join of lines and prefixes (a correlated EXISTS per list and
  // profile was seconds at a million lists), then the list's own conditions
  await db.run(`CREATE OR REPLACE TEMP TABLE s_prof AS
    WITH by_gcode AS (SELECT DISTINCT l.list_key, p.id FROM m_list_lines l JOIN m_profiles p ON p.gcode_prefix IS NOT NULL AND starts_with(l.gcode, p.gcode_prefix))
    SELECT m.list_key, p.id FROM m_lists m LEFT JOIN m_values v USING (list_key) JOIN m_profiles p ON
      (p.ebc_code IS NULL OR p.ebc_code = m.ebc_code) AND (p.owner_code IS NULL OR p.owner_code = m.owner_code)
      AND (p.country IS NULL OR p.country = m.country) AND (p.trade_mode IS NULL OR p.trade_mode = m.trade_mode)
      AND (p.customs_code IS NULL OR p.customs_code = m.customs_code)
      AND (p.min_value_cny IS NULL OR v.value_cny >= p.min_value_cny) AND (p.max_value_cny IS NULL OR v.value_cny <= p.max_value_cny)
      AND (p.valid_from IS NULL OR CAST(m.app_time AS DATE) >= p.valid_from) AND (p.valid_to IS NULL OR CAST(m.app_time AS DATE) <= p.valid_to)
      LEFT JOIN by_gcode g ON g.list_key = m.list_key AND g.id = p.id
    WHERE p.gcode_prefix IS NULL OR g.id IS NOT NULL`);
  await db.run(`CREATE OR REPLACE TEMP TABLE m_bands (hs6 VARCHAR, country VARCHAR, min_cny DECIMAL(19,5), max_cny DECIMAL(19,5))`);
  for (const [k, b] of ref.valueBands) {
    const [hs6, country] = k.split('|') as [string, string];
    await db.run(`INSERT INTO m_bands VALUES (${lit(hs6)}, ${lit(country)}, ${d5(b.min)}, ${d5(b.max)})`);
  }
  await db.run(`CREATE OR REPLACE TEMP TABLE s_band AS
    SELECT l.list_key, string_agg(printf('gnum %s %s unit price %s CNY outside [%s, %s] for %s', l.gnum::VARCHAR, l.gcode,
        CAST(CAST(l.price * coalesce(r.cny_per_unit, 1) AS DECIMAL(38,2)) AS VARCHAR), b.min_cny::VARCHAR, b.max_cny::VARCHAR, l.country), '; ' ORDER BY l.gnum) AS detail
      FROM m_list_lines l JOIN m_lists m USING (list_key)
      JOIN m_bands b ON b.hs6 = left(l.gcode, 6) AND b.country = l.country
      LEFT JOIN m_rates r ON r.currency = l.currency AND r.month = strftime(m.app_time, '%Y-%m')
      WHERE (l.currency = '142' OR r.cny_per_unit IS NOT NULL)
        AND (l.price * coalesce(r.cny_per_unit, 1) < b.min_cny OR l.price * coalesce(r.cny_per_unit, 1) > b.max_cny)
      GROUP BY l.list_key`);
}

/**
 * Settles the deciding lists in RULES.md order, set-based: reasons, the grace period, ownership of
 * orders and waybills in (appTime, agentCode, copNo) order, the decision of §5, invtNo numbering
 * and the risk draws of §6. Fills out_decisions and out_decision_reasons for the day.
 *
 * Ownership is first come, first served: a list that has no R reason yet claims its order and its
 * waybill unless either is held (by an earlier day's list, or by a list earlier in this run that
 * claimed it). A list that shares neither its order nor its waybill with another claimant of the
 * run depends only on what earlier days hold, which SQL answers; the lists that share one form
 * chains (A takes the order B wanted, so B does not take the waybill C wanted) and are walked in
 * order in TypeScript. They are few: a list per reused order or waybill.
 */
async function settle(
  db: Db,
  date: string,
  runId: string,
  versions: readonly PolicyVersion[],
  ref: Reference,
  policyOf: (col: string) => string,
): Promise<DayDecisions['counts']> {
  const day = `DATE ${lit(date)}`;
  const end = Date.UTC(+date.slice(0, 4), +date.slice(5, 7) - 1, +date.slice(8, 10)) / 1000 + 86_400;
  const doy = String(Math.floor((end - 86_400 - Date.UTC(+date.slice(0, 4), 0, 1) / 1000) / 86_400) + 1).padStart(3, '0');

  // what settling needs of the policy versions: grace period, seed, random rates with and without the AEO factor
  await db.run(`CREATE OR REPLACE TEMP TABLE s_policy (policy_id VARCHAR, grace_days INTEGER, seed VARCHAR)`);
  await db.run(`CREATE OR REPLACE TEMP TABLE s_random (policy_id VARCHAR, trade_mode VARCHAR, aeo BOOLEAN, threshold HUGEINT, rate_text VARCHAR)`);
  for (const v of versions) {
    await db.run(`INSERT INTO s_policy VALUES (${lit(v.id)}, ${v.graceDays}, ${lit(v.randomSeed)})`);
    for (const [mode, base] of Object.entries(v.randomRates)) {
      for (const aeo of [false, true]) {
        const rate = aeo ? multiplyRates(base, v.aeoFactor) : base;
        await db.run(`INSERT INTO s_random VALUES (${lit(v.id)}, ${lit(mode)}, ${aeo}, ${rateThreshold(rate)}, ${lit(rate.text)})`);
      }
    }
  }
  await db.run(`CREATE OR REPLACE TEMP TABLE s_aeo (ebc_code VARCHAR)`);
  await appendRows(db, 's_aeo', [...ref.aeo.keys()].map((k) => [k]), { temp: true });
  await db.run(`CREATE OR REPLACE TEMP TABLE s_profile_rates (id VARCHAR, threshold HUGEINT)`);
  for (const p of ref.riskProfiles) await db.run(`INSERT INTO s_profile_rates VALUES (${lit(p.id)}, ${rateThreshold(p.rate)})`);

  // one row per deciding list with what the checks found (settling order is app_s, agent_code,
  // cop_no). The s_ tables are narrow: a list's codes and numbers stay in `deciding` and are joined
  // by lid where they are written (copying them through every step cost seconds at 1M lists).
  await db.run(`CREATE OR REPLACE TEMP TABLE s_cand AS
    WITH flags AS (SELECT list_key AS lid, bool_or(severity = 'R') AS r, bool_or(severity = 'P') AS p, bool_or(severity = 'V') AS v FROM m_reasons GROUP BY list_key),
    base AS (
      SELECT d.lid, d.customs_code, coalesce(epoch(d.app_time)::BIGINT, 0) AS app_s,
        coalesce(strftime(d.app_time, '%Y'), '') AS app_year, d.invalid, d.trade_mode, d.ebc_code, ${policyOf('d.app_time')} AS policy_id,
        -- the order with the list's key, and its waybill within the window, as the checks paired them
        -- (m_lists holds the valid lists only)
        CASE WHEN d.lid IN (SELECT list_key FROM m_list_order) THEN d.ebp_code || '|' || d.ebc_code || '|' || d.order_no END AS order_key,
        CASE WHEN d.lid IN (SELECT list_key FROM m_list_waybill) THEN d.logistics_code || '|' || d.logistics_no END AS waybill_key,
        p.invt_no AS prior_invt_no, coalesce(p.positive, false) AS prior_positive, coalesce(p.decided, false) AS prior_decided
      FROM deciding d
        LEFT JOIN prior p ON p.agent_code = d.agent_code AND p.cop_no = d.cop_no),
    aged AS (
      SELECT b.*, NOT b.invalid AND ${end} - b.app_s >= coalesce(sp.grace_days, 0) * 86400 AS aged,
        coalesce(f.r, false) AS r_check, coalesce(f.p, false) AS p_check, coalesce(f.v, false) AS v_check, sp.seed
      FROM base b LEFT JOIN flags f USING (lid) LEFT JOIN s_policy sp USING (policy_id))
    SELECT *, invalid OR prior_positive OR r_check OR (aged AND p_check) AS pre_r
    FROM aged`);

  // ownership: what earlier days' lists hold, except the lists decided again today (their new
  // decision says what they hold: a released list declared again ends DUPLICATE_LIST and frees its
  // order and waybill, RULES.md §4, for the lists of this run too)
  // (only the lists that ever held an order or waybill claimed today are looked at, on the days
  // they held one; their state is that of priorState, with the cancels of today applied)
  const heldOn = (col: string, key: string) =>
    `SELECT x.business_date FROM decisions x SEMI JOIN (SELECT ${key} FROM s_cand WHERE NOT pre_r) c ON c.${key} = x.${col} WHERE x.business_date < ${day}`;
  const heldDays = await daysIn(db, `(${heldOn('held_order', 'order_key')} UNION ${heldOn('held_waybill', 'waybill_key')}) x`);
  const claimed = (col: string, key: string) =>
    `SELECT x.agent_code, x.cop_no FROM decisions x SEMI JOIN (SELECT ${key} FROM s_cand WHERE NOT pre_r) c ON c.${key} = x.${col}
     WHERE x.business_date < ${day} AND x.business_date ${heldDays}`;
  await db.run(`CREATE OR REPLACE TEMP TABLE s_holders AS ${claimed('held_order', 'order_key')} UNION ${claimed('held_waybill', 'waybill_key')}`);
  await priorState(db, date, 's_holders', 's_holders_prior');
  await db.run(`CREATE OR REPLACE TEMP TABLE s_held AS
    SELECT held_order, held_waybill, agent_code || '|' || cop_no AS holder FROM s_holders_prior p
    WHERE decision IN ('RELEASE', 'INSPECT', 'REVIEW') AND NOT EXISTS (SELECT 1 FROM deciding d WHERE d.agent_code = p.agent_code AND d.cop_no = p.cop_no)
      AND NOT EXISTS (SELECT 1 FROM cancel_match m WHERE m.outcome = 'CANCELLED' AND m.t_agent = p.agent_code AND m.t_cop = p.cop_no)`);
  await db.run(`CREATE OR REPLACE TEMP TABLE s_claim AS
    SELECT c.lid, c.order_key, c.waybill_key, ho.holder AS o_prior, hw.holder AS w_prior,
      (c.order_key IS NOT NULL AND count(*) OVER (PARTITION BY c.order_key) > 1)
        OR (c.waybill_key IS NOT NULL AND count(*) OVER (PARTITION BY c.waybill_key) > 1) AS shared
    FROM s_cand c
      LEFT JOIN (SELECT held_order, any_value(holder) AS holder FROM s_held WHERE held_order IS NOT NULL GROUP BY ALL) ho ON ho.held_order = c.order_key
      LEFT JOIN (SELECT held_waybill, any_value(holder) AS holder FROM s_held WHERE held_waybill IS NOT NULL GROUP BY ALL) hw ON hw.held_waybill = c.waybill_key
    WHERE NOT c.pre_r`);
  await db.run(`CREATE OR REPLACE TEMP TABLE s_owner (lid INTEGER, o_holder VARCHAR, w_holder VARCHAR)`);
  await db.run(`INSERT INTO s_owner SELECT lid, o_prior, w_prior FROM s_claim WHERE NOT shared`);
  const chain = await db.columns(`SELECT c.lid, c.order_key, c.waybill_key, c.o_prior, c.w_prior, d.agent_code || '|' || d.cop_no AS list_key
    FROM s_claim c JOIN s_cand s USING (lid) JOIN deciding d USING (lid) WHERE c.shared ORDER BY s.app_s, d.agent_code, d.cop_no`);
  if (chain.lid?.length) await appendRows(db, 's_owner', walkChains(chain), { temp: true });

  // the decision before the risk draws, the invtNo numbering (per customs code, in settling order,
  // for every list decided for the first time) and the draws (RELEASE only)
  await db.run(`CREATE OR REPLACE TEMP TABLE s_decided AS
    WITH d0 AS MATERIALIZED (
      SELECT c.lid, c.customs_code, c.app_s, c.app_year, c.prior_invt_no, c.prior_decided, ow.o_holder, ow.w_holder,
        ow.lid IS NOT NULL AND ow.o_holder IS NULL AND ow.w_holder IS NULL AS held,
        CASE WHEN c.pre_r OR ow.o_holder IS NOT NULL OR ow.w_holder IS NOT NULL THEN 'REJECT'
             WHEN c.p_check THEN 'PENDING' WHEN c.v_check THEN 'REVIEW' ELSE 'RELEASE' END AS decision0
      FROM s_cand c LEFT JOIN s_owner ow USING (lid)),
    -- the numbering sorts narrow rows only: sorting the whole row cost seconds at a million lists
    numbers AS (
      SELECT d0.lid, row_number() OVER (PARTITION BY coalesce(d0.customs_code, '') ORDER BY d0.app_s, d.agent_code, d.cop_no) AS n
      FROM d0 JOIN deciding d USING (lid) WHERE d0.decision0 <> 'PENDING' AND NOT d0.prior_decided)
    SELECT d0.lid, d0.o_holder, d0.w_holder, d0.held, d0.decision0,
      coalesce(d0.prior_invt_no, nullif(d.invt_no, ''), CASE WHEN n IS NOT NULL THEN coalesce(d0.customs_code, '') || d0.app_year || 'E${doy}' || lpad(n::VARCHAR, 8, '0') END) AS invt_final
    FROM d0 JOIN deciding d USING (lid) LEFT JOIN numbers USING (lid)`);
  const draw = (seed: string) => `('0x' || left(sha256(${seed} || d.invt_final), 16))::UBIGINT::HUGEINT`;
  await db.run(`CREATE OR REPLACE TEMP TABLE s_risk AS
    WITH rel AS (SELECT d.lid, d.invt_final, c.seed, c.policy_id, c.trade_mode, c.ebc_code FROM s_decided d JOIN s_cand c USING (lid)
                 WHERE d.decision0 = 'RELEASE' AND c.policy_id IS NOT NULL AND d.invt_final IS NOT NULL)
    SELECT d.lid, 'RISK_PROFILE' AS code, 'profiles ' || string_agg(h.id, ',' ORDER BY h.id) AS detail
      FROM rel d JOIN s_prof h ON h.list_key = d.lid JOIN s_profile_rates r ON r.id = h.id
      WHERE ${draw('d.seed || h.id')} < r.threshold GROUP BY d.lid
    UNION ALL SELECT d.lid, 'VALUE_BAND', b.detail FROM rel d JOIN s_band b ON b.list_key = d.lid
    UNION ALL SELECT d.lid, 'RANDOM_SAMPLE', 'rate ' || r.rate_text
      FROM rel d JOIN s_random r ON r.policy_id = d.policy_id AND r.trade_mode = coalesce(d.trade_mode, '')
        AND r.aeo = (coalesce(d.ebc_code, '') <> '' AND EXISTS (SELECT 1 FROM s_aeo a WHERE a.ebc_code = d.ebc_code))
      WHERE ${draw('d.seed')} < r.threshold`);

  // every reason: the checks' (P counted as R past the grace period), then those settling adds
  await db.run(`CREATE OR REPLACE TEMP TABLE s_reasons AS
    SELECT c.lid, r.code, CASE WHEN c.aged AND r.severity = 'P' THEN 'R' ELSE r.severity END AS severity, r.detail
      FROM s_cand c JOIN m_reasons r ON r.list_key = c.lid WHERE NOT c.invalid
    UNION ALL SELECT lid, 'INVALID_RECORD', 'R', 'the list failed validation (see the quarantine)' FROM s_cand WHERE invalid
    UNION ALL SELECT c.lid, 'DUPLICATE_LIST', 'R', d.agent_code || '|' || d.cop_no || ' was already decided and not cancelled'
      FROM s_cand c JOIN deciding d USING (lid) WHERE NOT c.invalid AND c.prior_positive
    UNION ALL SELECT lid, 'ORDER_REUSED', 'R', 'order ' || c.order_key || ' is held by ' || s.o_holder FROM s_decided s JOIN s_cand c USING (lid) WHERE s.o_holder IS NOT NULL
    UNION ALL SELECT lid, 'WAYBILL_REUSED', 'R', 'waybill ' || c.waybill_key || ' is held by ' || s.w_holder FROM s_decided s JOIN s_cand c USING (lid) WHERE s.w_holder IS NOT NULL
    UNION ALL SELECT lid, code, 'I', detail FROM s_risk`);
  await db.run(`INSERT INTO out_decision_reasons SELECT ${day}, d.agent_code, d.cop_no, r.code, r.severity, r.detail FROM s_reasons r JOIN deciding d USING (lid)`);
  // the final decision and reason codes, narrow
  await db.run(`CREATE OR REPLACE TEMP TABLE s_final AS
    WITH codes AS (SELECT lid, list_sort(list_distinct(list(code))) AS reasons FROM s_reasons GROUP BY lid),
    inspected AS (SELECT DISTINCT lid FROM s_risk)
    SELECT d.lid, CASE WHEN d.decision0 = 'RELEASE' AND i.lid IS NOT NULL THEN 'INSPECT' ELSE d.decision0 END AS decision,
      coalesce(c.reasons, []::VARCHAR[]) AS reasons
    FROM s_decided d LEFT JOIN inspected i USING (lid) LEFT JOIN codes c USING (lid)`);
  await db.run(`INSERT INTO out_decisions
    SELECT ${day}, ${lit(runId)}, d.agent_code, d.cop_no,
      CASE WHEN f.decision = 'PENDING' AND NOT c.prior_decided AND nullif(d.invt_no, '') IS NULL THEN NULL ELSE s.invt_final END,
      d.trade_mode, d.customs_code, d.ebp_code, d.ebc_code, d.order_no, d.logistics_code, d.logistics_no, f.decision,
      CASE f.decision ${Object.entries(STATUS).map(([k, v]) => `WHEN '${k}' THEN ${v}`).join(' ')} END,
      CASE f.decision ${Object.entries(CHANNEL).filter(([, v]) => v).map(([k, v]) => `WHEN '${k}' THEN '${v}'`).join(' ')} END,
      f.reasons, CASE WHEN d.invalid THEN NULL ELSE v.value_cny END, c.policy_id,
      CASE WHEN s.held THEN c.order_key END, CASE WHEN s.held THEN c.waybill_key END
    FROM deciding d JOIN s_cand c USING (lid) JOIN s_decided s USING (lid) JOIN s_final f USING (lid) LEFT JOIN m_values v ON v.list_key = d.lid`);
  const n = await db.all(`SELECT decision, count(*)::INTEGER AS n FROM s_final GROUP BY ALL`);
  return Object.fromEntries(n.map((r) => [String(r.decision), Number(r.n)]));
}

/**
 * The claimants that share an order or a waybill with another claimant, walked in settling order:
 * a claimant takes both, or neither when either is held (by an earlier day's list or by an earlier
 * claimant that took it). Returns (lid, order holder, waybill holder) rows for s_owner.
 */
function walkChains(c: Record<string, unknown[]>): (string | number | null)[][] {
  const lid = c.lid as (bigint | number)[];
  const orderKey = c.order_key as (string | null)[];
  const waybillKey = c.waybill_key as (string | null)[];
  const oPrior = c.o_prior as (string | null)[];
  const wPrior = c.w_prior as (string | null)[];
  const key = c.list_key as string[];
  const orders = new Map<string, string>();
  const waybills = new Map<string, string>();
  for (let i = 0; i < lid.length; i++) {
    if (orderKey[i] && oPrior[i]) orders.set(orderKey[i] as string, oPrior[i] as string);
    if (waybillKey[i] && wPrior[i]) waybills.set(waybillKey[i] as string, wPrior[i] as string);
  }
  const out: (string | number | null)[][] = [];
  for (let i = 0; i < lid.length; i++) {
    const ok = orderKey[i];
    const wk = waybillKey[i];
    const oh = ok ? (orders.get(ok) ?? null) : null;
    const wh = wk ? (waybills.get(wk) ?? null) : null;
    if (oh === null && wh === null) {
      if (ok) orders.set(ok, key[i] as string);
      if (wk) waybills.set(wk, key[i] as string);
    }
    out.push([Number(lid[i]), oh, wh]);
  }
  return out;
}

export interface WhatIf {
  date: string;
  policy: string;
  lists: number;
  changed: number;
  /** old decision → new decision: count and up to 5 sample list keys */
  transitions: { from: string; to: string; count: number; samples: string[] }[];
  /** reason codes that appear or disappear, with the number of lists */
  reasons: { reason: string; added: number; removed: number }[];
}

/**
 * Decides an already-run day again under another policy, inside a transaction that is rolled back:
 * nothing is published. Reports which decisions would change and why.
 */
export async function whatIf(db: Db, o: DecideOptions): Promise<WhatIf> {
  const read = async () =>
    new Map(
      (await db.all(`SELECT agent_code || '|' || cop_no AS k, decision, reasons FROM decisions WHERE business_date = DATE ${lit(o.date)}`)).map((r) => [
        String(r.k),
        { decision: String(r.decision), reasons: (r.reasons as string[]) ?? [] },
      ]),
    );
  const before = await read();
  const had = await db.all(`SELECT count(*)::INTEGER AS n FROM information_schema.tables WHERE table_name = 'hist_lists'`);
  if (!before.size || !Number(had[0]?.n)) throw new Error(`the day ${o.date} has not been run in this database: run it first`);
  const opts = { ...o, fromHistory: true };
  await prepareDay(db, opts);
  await db.run('BEGIN TRANSACTION');
  let after: typeof before;
  try {
    await writeDay(db, opts, []);
    after = await read();
  } finally {
    await db.run('ROLLBACK');
  }
  const transitions = new Map<string, { from: string; to: string; count: number; samples: string[] }>();
  const reasons = new Map<string, { reason: string; added: number; removed: number }>();
  let changed = 0;
  for (const k of new Set([...before.keys(), ...after.keys()])) {
    const b = before.get(k);
    const a = after.get(k);
    const from = b?.decision ?? '(none)';
    const to = a?.decision ?? '(none)';
    const br = new Set(b?.reasons ?? []);
    const ar = new Set(a?.reasons ?? []);
    const moved = from !== to || br.size !== ar.size || [...br].some((x) => !ar.has(x));
    if (!moved) continue;
    changed++;
    const t = transitions.get(`${from}>${to}`) ?? { from, to, count: 0, samples: [] };
    t.count++;
    if (t.samples.length < 5) t.samples.push(k);
    transitions.set(`${from}>${to}`, t);
    for (const x of ar) if (!br.has(x)) (reasons.get(x) ?? reasons.set(x, { reason: x, added: 0, removed: 0 }).get(x)!).added++;
    for (const x of br) if (!ar.has(x)) (reasons.get(x) ?? reasons.set(x, { reason: x, added: 0, removed: 0 }).get(x)!).removed++;
  }
  return {
    date: o.date,
    policy: o.policy.source,
    lists: before.size,
    changed,
    transitions: [...transitions.values()].sort((x, y) => y.count - x.count),
    reasons: [...reasons.values()].sort((x, y) => x.reason.localeCompare(y.reason)),
  };
}
