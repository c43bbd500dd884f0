/**
 * publish/ owns what analysts read: the published tables of RULES.md §11 beyond those decideDay
 * writes (quarantine, runs, run_stages, input_files), the statistics of §10 (stats.ts), the checks a
 * day must pass before it is published, and a comment on every published table and column.
 *
 * Atomicity: `declmatch run` decides the day into temp tables first (prepareDay: nothing persistent
 * changes), then calls writeDay and publishDay inside ONE DuckDB transaction. DuckDB commits a
 * transaction atomically through its write-ahead log, so a run that fails, is killed or loses
 * power leaves the previous published state as it was, and the day either appears whole or not at
 * all. A rerun deletes the day's rows and writes them again inside the same transaction.
 */
import type { Db } from '../db/duck.js';
import type { Policy } from '../policy/policy.js';
import { policyFor } from '../policy/policy.js';
import type { Reference } from '../policy/reference.js';
import { RECORD_SPECS } from '../spec/fields.js';
import { historyDayTable } from '../match/run.js';
import { FILES_COLUMNS, QUARANTINE_COLUMNS } from '../ingest/ingest.js';
import { timer, type StageTiming } from '../util/timer.js';
import { computeStatistics, statsCommentStatements } from './stats.js';
import { lit } from '../spec/schema.js';


export const QUARANTINE_DDL = `CREATE TABLE IF NOT EXISTS quarantine (
  business_date DATE NOT NULL,
  run_id VARCHAR NOT NULL,${QUARANTINE_COLUMNS}
);`;

export const INPUT_FILES_DDL = `CREATE TABLE IF NOT EXISTS input_files (
  business_date DATE NOT NULL,
  run_id VARCHAR NOT NULL,${FILES_COLUMNS}
);`;

export const RUNS_DDL = `CREATE TABLE IF NOT EXISTS runs (
  run_id VARCHAR NOT NULL,
  business_date DATE NOT NULL,
  started_at TIMESTAMP NOT NULL,
  finished_at TIMESTAMP NOT NULL,
  status VARCHAR NOT NULL,
  exit_code INTEGER NOT NULL,
  policy_id VARCHAR,
  policy_source VARCHAR,
  reference_source VARCHAR,
  threads INTEGER,
  input_files INTEGER,
  input_bytes BIGINT,
  records_read BIGINT,
  records_quarantined BIGINT,
  quarantine_rows BIGINT,
  lists_decided BIGINT,
  lists_pending BIGINT,
  lists_cancelled BIGINT,
  returns_decided BIGINT,
  declmatch_version VARCHAR,
  message VARCHAR
);`;

export const RUN_STAGES_DDL = `CREATE TABLE IF NOT EXISTS run_stages (
  run_id VARCHAR NOT NULL,
  business_date DATE NOT NULL,
  stage VARCHAR NOT NULL,
  seconds DOUBLE NOT NULL,
  rows BIGINT
);`;

/** The current state of every list: its row of `decisions` with the latest business_date (RULES.md §11). */
export const CURRENT_DECISIONS_VIEW = `CREATE OR REPLACE VIEW current_decisions AS
  SELECT * EXCLUDE (rn) FROM (
    SELECT *, row_number() OVER (PARTITION BY agent_code, cop_no ORDER BY business_date DESC) AS rn FROM decisions
  ) WHERE rn = 1`;

/** Descriptions of the published tables and their columns, written with COMMENT ON. */
export const TABLE_COMMENTS: Readonly<Record<string, { table: string; columns: Readonly<Record<string, string>> }>> = {
  decisions: {
    table: 'One row per list and business day on which it was decided or left pending (RULES.md §11); current state = latest business_date (view current_decisions)',
    columns: {
      business_date: 'Business day of the run that wrote the row (China Standard Time)',
      run_id: 'The run that wrote the row (runs.run_id)',
      agent_code: 'Declaring agent code (CEB603 agentCode); with cop_no the business key of the list',
      cop_no: 'Enterprise internal number of the list (CEB603 copNo)',
      invt_no: 'Customs list number: as declared, or assigned at the first non-pending decision (customsCode + year + E + day of year + rank); NULL while pending without one',
      trade_mode: 'Trade mode: 9610 B2C retail, 9710 B2B direct, 9810 B2B overseas warehouse, 1210 bonded',
      customs_code: 'Customs office of declaration (4 digits; its first 2 are the district)',
      ebp_code: 'E-commerce platform code',
      ebc_code: 'E-commerce enterprise code',
      order_no: 'Order number the list refers to (CEB303 orderNo)',
      logistics_code: 'Logistics enterprise code',
      logistics_no: 'Waybill number the list refers to (CEB505 logisticsNo)',
      decision: 'REJECT, PENDING, REVIEW, INSPECT, RELEASE or CANCELLED (RULES.md §5)',
      status_code: 'Customs status code of the decision: 100 reject/cancelled, 2 pending, 300 review, 500 inspect, 800 release',
      channel: 'green (release), yellow (review), red (inspect); NULL otherwise',
      reasons: 'Sorted list of the reason codes found (details in decision_reasons)',
      value_cny: 'CNY value of the list: sum of line totalPrice converted at the month rate of the list appTime; NULL when a currency has no rate or the list is invalid',
      policy_id: 'Id of the policy version in force on the list appTime date (RULES.md §8)',
      held_order: 'Order key (ebpCode|ebcCode|orderNo) the list holds after this decision, NULL if none',
      held_waybill: 'Waybill key (logisticsCode|logisticsNo) the list holds after this decision, NULL if none',
    },
  },
  decision_reasons: {
    table: 'One row per reason of a decision, with the evidence (the compared values)',
    columns: {
      business_date: 'Business day of the decision',
      agent_code: 'List agentCode',
      cop_no: 'List copNo',
      reason: 'Reason code (RULES.md §4–§6)',
      severity: 'R reject, P pending, V review, I inspection (risk)',
      detail: 'The compared values, in words',
    },
  },
  return_decisions: {
    table: 'One row per return (CEB213) decided on the business day, against the original list (RULES.md §7)',
    columns: {
      business_date: 'Business day of the run',
      run_id: 'The run that decided it',
      agent_code: 'Return agentCode',
      co_el_no: 'Return copNo-like key (CEB213 copNo, named coElNo in RULES.md)',
      invt_no: 'The original list number',
      decision: 'ACCEPT or REJECT',
      status_code: '800 accepted, 100 rejected',
      reasons: 'Sorted reason codes (empty when accepted)',
      policy_id: 'Policy version in force on the return appTime date',
    },
  },
  quarantine: {
    table: 'One row per rejected file or record (RULES.md §3) and per cancel that matched no list',
    columns: {
      business_date: 'Business day of the run that read the input',
      run_id: 'The run',
      file: 'Input file name',
      message_guid: 'guid of the message (XML) the record came in, if known',
      record_index: '1-based position of the record in the file (NULL for a whole file)',
      record_type: 'order, order_line, receipt, waybill, list, list_line, cancel, return, return_line (NULL for a whole file)',
      business_key: 'The record business key, | separated, when it could be read',
      field: 'CEB field name at fault, if one',
      code: 'MALFORMED_MESSAGE, FIELD_REQUIRED, FIELD_LENGTH, FIELD_FORMAT, FIELD_VALUE, CANCEL_TARGET_MISSING, CANCEL_PARTY_MISMATCH, ...',
      detail: 'What is wrong, in words',
    },
  },
  inspection_queue: {
    table: 'One row per list selected for inspection on the day, in queue order per supervised site (RULES.md §6)',
    columns: {
      business_date: 'Business day',
      customs_code: 'Customs office',
      loct_no: 'Supervised site (list loctNo)',
      position: '1-based place in the queue of the site',
      agent_code: 'List agentCode',
      cop_no: 'List copNo',
      invt_no: 'List number',
      trade_mode: 'Trade mode',
      priority: 'B2B (9710/9810): inspected first',
      hits: 'Number of risk reasons that selected it',
      spared: 'Other lists of the day sharing its billNo or totalPackageNo, spared by inspecting before shipment',
    },
  },
  runs: {
    table: 'One row per run attempt: published, failed or checks_failed',
    columns: {
      run_id: 'Run id (run-<date>-<UTC time>-<pid>)',
      business_date: 'Business day run',
      started_at: 'Start (UTC)',
      finished_at: 'End (UTC)',
      status: 'published, checks_failed (nothing published) or failed (nothing published)',
      exit_code: 'Exit code of the command (0, 1, 2, 3, ...)',
      policy_id: 'Policy version in force on the business date',
      policy_source: 'Policy file used',
      reference_source: 'Reference data folder used (bundled if NULL)',
      threads: 'Parse worker threads',
      input_files: 'Files in the day folder',
      input_bytes: 'Bytes read',
      records_read: 'Records read from well-formed files',
      records_quarantined: 'Records that failed validation',
      quarantine_rows: 'Rows written to quarantine',
      lists_decided: 'Lists given a decision other than PENDING (CANCELLED included)',
      lists_pending: 'Lists left PENDING',
      lists_cancelled: 'Lists CANCELLED',
      returns_decided: 'Returns decided',
      declmatch_version: 'Version of declmatch',
      message: 'Why a run failed',
    },
  },
  run_stages: {
    table: 'Wall time of each stage of a published run',
    columns: {
      run_id: 'The run',
      business_date: 'Business day',
      stage: 'ingest, decide.<step>, publish.<step>',
      seconds: 'Wall time in seconds',
      rows: 'Rows handled, where meaningful',
    },
  },
  ledger: {
    table: 'Where every record received on the day ended, per record type and fate; fates of a type add up to the records read (RULES.md §3)',
    columns: {
      run_id: 'The run',
      business_date: 'Business day',
      record_type: 'order, receipt, waybill, list, cancel, return',
      fate: 'quarantined, draft, stale, superseded, deleted, decided, pending, used, open, applied, rejected, expired (waybills leaving the reuse window, not a record of the day)',
      count: 'Records',
    },
  },
  input_files: {
    table: 'One row per file of the day folder and what became of it',
    columns: {
      business_date: 'Business day',
      run_id: 'The run',
      file: 'File name',
      kind: 'xml, csv, parquet or other',
      bytes: 'Size',
      record_type: 'Record type of a tabular file, or of the message',
      status: 'ok, skipped (another CEB message), unknown (not recognised), malformed (quarantined whole)',
      detail: 'Why, in words',
    },
  },
};

export function commentStatements(): string[] {
  const out: string[] = [];
  for (const [t, c] of Object.entries(TABLE_COMMENTS)) {
    out.push(`COMMENT ON TABLE ${t} IS ${lit(c.table)}`);
    for (const [col, text] of Object.entries(c.columns)) out.push(`COMMENT ON COLUMN ${t}.${col} IS ${lit(text)}`);
  }
  out.push(`COMMENT ON VIEW current_decisions IS ${lit('The current state of every list: its decisions row with the latest business_date')}`);
  return [...out, ...statsCommentStatements()];
}

export class ChecksFailed extends Error {
  constructor(readonly failures: string[]) {
    super(`${failures.length} check(s) failed before publishing: ${failures.slice(0, 5).join('; ')}${failures.length > 5 ? '; …' : ''}`);
    this.name = 'ChecksFailed';
  }
}

/**
 * The invariants a day must meet before it is published (any failure: nothing is published, exit 2).
 * They guard against a bug or a damaged database, not against bad input (that is quarantined).
 */
export async function publishChecks(db: Db, date: string): Promise<string[]> {
  const d = `DATE ${lit(date)}`;
  const failures: string[] = [];
  const count = async (what: string, sql: string) => {
    const r = await db.all(sql);
    const n = Number(r[0]?.n ?? 0);
    if (n > 0) failures.push(`${what}: ${n}${r[0]?.e ? ` (e.g. ${String(r[0].e)})` : ''}`);
  };
  await count(
    'lists with more than one decision on the day',
    `SELECT count(*) AS n, any_value(k) AS e FROM (SELECT agent_code || '|' || cop_no AS k FROM decisions WHERE business_date = ${d} GROUP BY ALL HAVING count(*) > 1)`,
  );
  await count(
    'lists to decide without a decision',
    `SELECT count(*) AS n, any_value(agent_code || '|' || cop_no) AS e FROM deciding x WHERE NOT EXISTS (SELECT 1 FROM decisions y WHERE y.business_date = ${d} AND y.agent_code = x.agent_code AND y.cop_no = x.cop_no)`,
  );
  await count(
    'decisions whose status code or channel does not match the decision',
    `SELECT count(*) AS n, any_value(agent_code || '|' || cop_no || ' ' || decision) AS e FROM decisions WHERE business_date = ${d} AND NOT (
       (decision IN ('REJECT', 'CANCELLED') AND status_code = 100 AND channel IS NULL) OR (decision = 'PENDING' AND status_code = 2 AND channel IS NULL)
       OR (decision = 'REVIEW' AND status_code = 300 AND channel = 'yellow') OR (decision = 'INSPECT' AND status_code = 500 AND channel = 'red')
       OR (decision = 'RELEASE' AND status_code = 800 AND channel = 'green'))`,
  );
  await count(
    'decisions whose reasons differ from decision_reasons',
    `WITH r AS (SELECT agent_code, cop_no, list_sort(list(DISTINCT reason)) AS rs FROM decision_reasons WHERE business_date = ${d} GROUP BY ALL)
     SELECT count(*) AS n, any_value(x.agent_code || '|' || x.cop_no) AS e FROM decisions x LEFT JOIN r USING (agent_code, cop_no)
     WHERE x.business_date = ${d} AND x.reasons IS DISTINCT FROM coalesce(r.rs, []::VARCHAR[])`,
  );
  await count(
    'RELEASE or INSPECT decisions with an R, P or V reason',
    `SELECT count(*) AS n, any_value(x.agent_code || '|' || x.cop_no) AS e FROM decisions x JOIN decision_reasons r ON r.business_date = x.business_date AND r.agent_code = x.agent_code AND r.cop_no = x.cop_no
     WHERE x.business_date = ${d} AND x.decision IN ('RELEASE', 'INSPECT') AND r.severity IN ('R', 'P', 'V')`,
  );
  await count(
    'orders or waybills held by two lists',
    // (among the keys held by the day's lists: those of earlier days were checked on their day.
    // The holders are the day's decisions, and the last decisions of the lists not decided on the
    // day that held one of those keys on an earlier day, found first on narrow rows)
    `WITH today AS (SELECT agent_code, cop_no, held_order, held_waybill FROM decisions WHERE business_date = ${d}),
     ko AS (SELECT held_order AS k FROM today WHERE held_order IS NOT NULL),
     kw AS (SELECT held_waybill AS k FROM today WHERE held_waybill IS NOT NULL),
     lists AS (SELECT x.agent_code, x.cop_no FROM decisions x SEMI JOIN ko ON ko.k = x.held_order WHERE x.business_date < ${d}
       UNION SELECT x.agent_code, x.cop_no FROM decisions x SEMI JOIN kw ON kw.k = x.held_waybill WHERE x.business_date < ${d}),
     earlier AS (SELECT * FROM (SELECT x.held_order, x.held_waybill, row_number() OVER (PARTITION BY x.agent_code, x.cop_no ORDER BY x.business_date DESC) AS rn
                 FROM decisions x SEMI JOIN (SELECT * FROM lists ANTI JOIN today t ON t.agent_code = lists.agent_code AND t.cop_no = lists.cop_no) l
                   ON l.agent_code = x.agent_code AND l.cop_no = x.cop_no WHERE x.business_date < ${d}) WHERE rn = 1),
     cur AS (SELECT held_order, held_waybill FROM today UNION ALL SELECT held_order, held_waybill FROM earlier)
     SELECT count(*) AS n, any_value(k) AS e FROM (
       SELECT held_order AS k FROM cur WHERE held_order IS NOT NULL GROUP BY ALL HAVING count(*) > 1
       UNION ALL SELECT held_waybill FROM cur WHERE held_waybill IS NOT NULL GROUP BY ALL HAVING count(*) > 1)`,
  );
  // the ledger: the fates of a record type add up to the records of that type read on the day
  const heads = RECORD_SPECS.filter((s) => !s.name.endsWith('_line'));
  for (const s of heads) {
    await count(
      `ledger does not add up for ${s.name}`,
      `SELECT count(*) AS n, any_value(printf('%s read, %s in the ledger', read, led)) AS e FROM (
         SELECT (SELECT count(*) FROM ${historyDayTable(s.table, date)}) AS read,
                coalesce((SELECT sum(count) FROM ledger WHERE business_date = ${d} AND record_type = ${lit(s.name)} AND fate <> 'expired'), 0) AS led)
       WHERE read <> led`,
    );
  }
  await count(
    'returns of the day without a decision',
    `SELECT count(*) AS n, any_value(agent_code || '|' || co_el_no) AS e FROM w_returns x WHERE NOT EXISTS (
       SELECT 1 FROM return_decisions y WHERE y.business_date = ${d} AND y.agent_code = x.agent_code AND y.co_el_no = x.co_el_no)`,
  );
  return failures;
}

export interface RunRecord {
  runId: string;
  date: string;
  startedAt: Date;
  status: 'published' | 'checks_failed' | 'failed';
  exitCode: number;
  policyId: string | null;
  policySource: string | null;
  referenceSource: string | null;
  threads: number;
  inputFiles: number;
  inputBytes: number;
  recordsRead: number;
  recordsQuarantined: number;
  message: string | null;
}

const ts = (d: Date) => `TIMESTAMP ${lit(d.toISOString().replace('T', ' ').replace('Z', ''))}`;
const num = (n: number | null) => (n === null || !Number.isFinite(n) ? 'NULL' : String(n));
const str = (s: string | null) => (s === null ? 'NULL' : lit(s));

export async function ensurePublishedTables(db: Db): Promise<void> {
  for (const ddl of [QUARANTINE_DDL, INPUT_FILES_DDL, RUNS_DDL, RUN_STAGES_DDL]) await db.run(ddl);
}

/** Records a run attempt in `runs` (its own statement; for failures, after the rollback). */
export async function recordRun(db: Db, r: RunRecord, finishedAt = new Date()): Promise<void> {
  await db.run(RUNS_DDL);
  const d = `DATE ${lit(r.date)}`;
  const c = (sql: string) => `(${sql})`;
  const published = r.status === 'published';
  await db.run(`INSERT INTO runs VALUES (${lit(r.runId)}, ${d}, ${ts(r.startedAt)}, ${ts(finishedAt)}, ${lit(r.status)}, ${r.exitCode},
    ${str(r.policyId)}, ${str(r.policySource)}, ${str(r.referenceSource)}, ${r.threads}, ${r.inputFiles}, ${r.inputBytes}, ${r.recordsRead}, ${r.recordsQuarantined},
    ${published ? c(`SELECT count(*) FROM quarantine WHERE business_date = ${d}`) : 'NULL'},
    ${published ? c(`SELECT count(*) FROM decisions WHERE business_date = ${d} AND decision <> 'PENDING'`) : 'NULL'},
    ${published ? c(`SELECT count(*) FROM decisions WHERE business_date = ${d} AND decision = 'PENDING'`) : 'NULL'},
    ${published ? c(`SELECT count(*) FROM decisions WHERE business_date = ${d} AND decision = 'CANCELLED'`) : 'NULL'},
    ${published ? c(`SELECT count(*) FROM return_decisions WHERE business_date = ${d}`) : 'NULL'},
    ${lit(DECLMATCH_VERSION)}, ${str(r.message)})`);
}

export const DECLMATCH_VERSION = '0.1.0';

export interface PublishOptions {
  date: string;
  runId: string;
  policy: Policy;
  reference: Reference;
  /** stage timings so far (ingest, decide.*); publish adds its own */
  stages: StageTiming[];
  run: Omit<RunRecord, 'status' | 'exitCode' | 'message' | 'policyId'>;
  /** exit code the run will end with when published (0, or 1 for quarantine above the threshold) */
  exitCode: () => Promise<number>;
  /** prepareStatistics has made the inputs of the day's statistics (before the transaction) */
  statisticsPrepared?: boolean;
}

/**
 * Publishes a decided day: quarantine and input files of the day, statistics, the checks, the run
 * record and its stage timings, comments. Call inside the transaction that decided the day; throws
 * ChecksFailed (caller rolls back) when a check fails.
 */
export async function publishDay(db: Db, o: PublishOptions): Promise<{ exitCode: number }> {
  const d = `DATE ${lit(o.date)}`;
  const lap = timer(o.stages);
  await ensurePublishedTables(db);
  await db.run(CURRENT_DECISIONS_VIEW);
  await db.run(`DELETE FROM quarantine WHERE business_date = ${d}`);
  await db.run(`INSERT INTO quarantine SELECT ${d}, ${lit(o.runId)}, file, message_guid, record_index, record_type, business_key, field, code, detail FROM stg_quarantine
    ORDER BY file, record_index NULLS FIRST, field`);
  await db.run(`DELETE FROM input_files WHERE business_date = ${d}`);
  await db.run(`INSERT INTO input_files SELECT ${d}, ${lit(o.runId)}, file, kind, bytes, record_type, status, detail FROM stg_files ORDER BY file`);
  lap('publish.quarantine');
  await computeStatistics(db, o.date, o.runId, { reference: o.reference, policy: o.policy, decided: o.date, ...(o.statisticsPrepared ? { prepared: o.date } : {}) });
  lap('publish.statistics');
  const failures = await publishChecks(db, o.date);
  lap('publish.checks');
  if (failures.length) throw new ChecksFailed(failures);
  for (const s of commentStatements()) await db.run(s);
  const exitCode = await o.exitCode();
  await db.run(`DELETE FROM run_stages WHERE business_date = ${d}`);
  lap('publish.record');
  const values = o.stages.map((s) => `(${lit(o.runId)}, ${d}, ${lit(s.stage)}, ${s.seconds.toFixed(6)}, ${num(s.rows ?? null)})`);
  if (values.length) await db.run(`INSERT INTO run_stages VALUES ${values.join(', ')}`);
  await recordRun(db, { ...o.run, status: 'published', exitCode, message: null, policyId: policyFor(o.policy, o.date).id });
  return { exitCode };
}
