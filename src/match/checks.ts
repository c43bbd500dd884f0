/**
 * The checks of RULES.md §4 on a list, one piece of DuckDB SQL per reason code, plus the list's CNY
 * value (RULES.md §2). Ownership (ORDER_REUSED, WAYBILL_REUSED), DUPLICATE_LIST and
 * INVALID_RECORD are decided elsewhere, as are the grace period and the decision itself.
 *
 * The caller fills the m_* input tables of CHECK_TABLES_DDL (valid lists only, each keyed by an
 * integer `list_key` of the caller's choosing; each order numbered by an integer `order_id` that its
 * lines carry too; codes trimmed, currencies mapped to numeric customs codes), then `runChecks`
 * pairs each list with its order, the order's lines and its waybill once (PAIRS_SQL) and appends
 * to m_values and m_reasons.
 * The SQL is meant to give exactly the reasons of `checkList` in src/generate/truth.ts.
 *
 * Conventions of every check:
 * - amounts stay DECIMAL throughout (no division, no DOUBLE): tolerances are compared as
 *   `abs(a - b) > tolerance`, the weight limit with both sides multiplied by 100;
 * - NULLs never decide silently: "differs" is `a IS DISTINCT FROM b` and, when both are known,
 *   beyond the tolerance, so a value on one side only counts as a difference; texts compare as
 *   truth.ts does (a missing text is the empty text); absent counterparts are found with
 *   NOT EXISTS, never NOT IN;
 * - a detail is never NULL: every value shown goes through `txt`/`num` (printf yields NULL when an
 *   argument is NULL, and DuckDB's printf refuses %s for a non-text argument).
 */
import type { Db } from '../db/duck.js';

export interface Check {
  readonly code: string;
  readonly severity: 'R' | 'V' | 'P';
  readonly sql: string;
}

// ---- SQL fragments ------------------------------------------------------------------------------

/** A value as text for a detail; 'NULL' when absent. */
const txt = (e: string): string => `coalesce(CAST(${e} AS VARCHAR), 'NULL')`;
/** A DECIMAL as text without trailing zeros ('39.80000' → '39.8', '0.00000' → '0'); 'NULL' when absent. */
const num = (e: string): string => `coalesce(regexp_replace(CAST(${e} AS VARCHAR), '\\.?0+$', ''), 'NULL')`;
/** Two amounts differ beyond the tolerance; a value on one side only is a difference. */
const amountsDiffer = (a: string, b: string, tol: string): string =>
  `(${a} IS DISTINCT FROM ${b} AND coalesce(abs(${a} - ${b}) > ${tol}, true))`;
/** Two codes differ (a missing code is the empty code, as in truth.ts). */
const textsDiffer = (a: string, b: string): string => `coalesce(${a}, '') <> coalesce(${b}, '')`;

/** The list with the policy version it is decided under. */
const LIST = `m_lists l
  JOIN m_policy p ON p.policy_id = l.policy_id`;

/** ... and the order with the list's three-part key (only lists that have one). */
const LIST_ORDER = `${LIST}
  JOIN m_list_order o ON o.list_key = l.list_key`;

/** The waybill with the list's key whose appTime is at most window days before the list's. */
const WAYBILL_IN_WINDOW = `w.logistics_code = l.logistics_code AND w.logistics_no = l.logistics_no
    AND w.app_time >= l.app_time - INTERVAL (p.waybill_window_days) DAY`;

/** ... and that waybill (only lists that have one). */
const LIST_WAYBILL = `${LIST}
  JOIN m_list_waybill w ON w.list_key = l.list_key`;

/** An order with the list's three-part key exists. */
const ORDER_EXISTS = `EXISTS (SELECT 1 FROM m_list_order o WHERE o.list_key = l.list_key)`;

/** An order with the list's (ebp_code, order_no) exists under another ebc_code. */
const ORDER_OTHER_PARTY_EXISTS = `EXISTS (SELECT 1 FROM m_orders o
    WHERE o.ebp_code = l.ebp_code AND o.order_no = l.order_no AND o.ebc_code IS DISTINCT FROM l.ebc_code)`;

/** Each list line with its rate for the month of the list's appTime (NULL: no rate; CNY is 1). */
const LINE_RATES = `SELECT ll.list_key, ll.gnum, ll.currency, ll.total_price,
         strftime(l.app_time, '%Y-%m') AS month,
         CASE WHEN ll.currency = '142' THEN CAST(1 AS DECIMAL(18, 8)) ELSE r.cny_per_unit END AS rate
  FROM m_list_lines ll
  JOIN m_lists l ON l.list_key = ll.list_key
  LEFT JOIN m_rates r ON r.currency = ll.currency AND r.month = strftime(l.app_time, '%Y-%m')`;

/** The lines of each list whose gcode starts with a controlled prefix, as one text per list. */
const CONTROLLED_LINES = `SELECT ll.list_key,
         string_agg(printf('gnum %s %s', ${txt('ll.gnum')}, ${txt('ll.gcode')}), '; ' ORDER BY ll.gnum) AS lines
  FROM m_list_lines ll
  WHERE EXISTS (SELECT 1 FROM m_controlled c WHERE starts_with(ll.gcode, c.hs_prefix))
  GROUP BY ll.list_key`;

const B2B_MODES = `('9710', '9810')`;

// ---- tables -------------------------------------------------------------------------------------

// list_key is unique in m_lists and m_values (the caller numbers the lists; the checks give one
// value per list) but is not declared a PRIMARY KEY: building the index cost ~0.25 s per table at
// a million lists, and nothing looks a list up by it alone.
export const CHECK_TABLES_DDL = `
CREATE OR REPLACE TEMP TABLE m_lists (
  list_key INTEGER, app_time TIMESTAMP, policy_id VARCHAR, customs_code VARCHAR,
  ebp_code VARCHAR, ebc_code VARCHAR, order_no VARCHAR, logistics_code VARCHAR, logistics_no VARCHAR,
  trade_mode VARCHAR, statistics_flag VARCHAR, country VARCHAR, owner_code VARCHAR,
  freight DECIMAL(19,5), f_flag VARCHAR, insured_fee DECIMAL(19,5), i_flag VARCHAR, pack_no INTEGER,
  gross_weight DECIMAL(19,5), net_weight DECIMAL(19,5));
CREATE OR REPLACE TEMP TABLE m_list_lines (
  list_key INTEGER, gnum INTEGER, item_no VARCHAR, gcode VARCHAR, country VARCHAR, currency VARCHAR,
  qty DECIMAL(19,5), price DECIMAL(19,5), total_price DECIMAL(19,5), unit VARCHAR);
CREATE OR REPLACE TEMP TABLE m_orders (
  order_id INTEGER, ebp_code VARCHAR, ebc_code VARCHAR, order_no VARCHAR, order_type VARCHAR, goods_value DECIMAL(19,5),
  currency VARCHAR);
CREATE OR REPLACE TEMP TABLE m_order_lines (
  order_id INTEGER, ebp_code VARCHAR, ebc_code VARCHAR, order_no VARCHAR, gnum INTEGER, item_no VARCHAR, unit VARCHAR,
  currency VARCHAR, qty DECIMAL(19,5), price DECIMAL(19,5), total_price DECIMAL(19,5));
CREATE OR REPLACE TEMP TABLE m_waybills (
  logistics_code VARCHAR, logistics_no VARCHAR, app_time TIMESTAMP, ebc_code VARCHAR,
  freight DECIMAL(19,5), insured_fee DECIMAL(19,5), gross_weight DECIMAL(19,5), pack_no INTEGER);
CREATE OR REPLACE TEMP TABLE m_receipts (ebc_code VARCHAR, order_no VARCHAR, charge DECIMAL(19,5));
CREATE OR REPLACE TEMP TABLE m_policy (
  policy_id VARCHAR PRIMARY KEY, amount_tolerance DECIMAL(19,5), waybill_window_days INTEGER,
  weight_tolerance_kg DECIMAL(19,5), weight_tolerance_pct DECIMAL(19,5), receipt_required_modes VARCHAR[],
  b2b_threshold_cny DECIMAL(19,5), simplified_threshold_cny DECIMAL(19,5));
CREATE OR REPLACE TEMP TABLE m_rates (currency VARCHAR, month VARCHAR, cny_per_unit DECIMAL(18,8));
CREATE OR REPLACE TEMP TABLE m_controlled (hs_prefix VARCHAR);
CREATE OR REPLACE TEMP TABLE m_reasons (list_key INTEGER, code VARCHAR, severity VARCHAR, detail VARCHAR);
CREATE OR REPLACE TEMP TABLE m_values (list_key INTEGER, value_cny DECIMAL(38,13));
`;

// ---- the pairs, joined once -----------------------------------------------------------------------

/**
 * Each list's order (three-part key), the lines of that order, and the list's waybill in the
 * window, keyed by list_key. Joined on the text keys once here, so that the checks join on the
 * integer list_key (at a million lists each text-key join cost a few tenths of a second, and a
 * dozen checks made them). Every match is kept, as the joins of the checks kept them.
 */
export const PAIRS_SQL = [
  `CREATE OR REPLACE TEMP TABLE m_list_order AS
   SELECT l.list_key, o.order_id, o.ebp_code, o.ebc_code, o.order_no, o.order_type, o.goods_value
   FROM m_lists l
   JOIN m_orders o ON o.ebp_code = l.ebp_code AND o.ebc_code = l.ebc_code AND o.order_no = l.order_no`,
  `CREATE OR REPLACE TEMP TABLE m_list_order_lines AS
   SELECT lo.list_key, ol.gnum, ol.item_no, ol.unit, ol.currency, ol.qty, ol.price, ol.total_price
   FROM m_list_order lo
   JOIN m_order_lines ol ON ol.order_id = lo.order_id`,
  `CREATE OR REPLACE TEMP TABLE m_list_waybill AS
   SELECT l.list_key, w.ebc_code, w.freight, w.insured_fee, w.gross_weight, w.pack_no
   FROM ${LIST}
   JOIN m_waybills w ON ${WAYBILL_IN_WINDOW}`,
];

// ---- the CNY value ------------------------------------------------------------------------------

/**
 * Σ line total_price × rate for the month of the list's appTime, exact (DECIMAL(38,13)); NULL when
 * a line's CNY amount is unknown (its currency has no rate); 0 for a list without lines.
 */
export const VALUE_SQL = `
INSERT INTO m_values
WITH line_rates AS (${LINE_RATES})
SELECT l.list_key,
       CAST(CASE WHEN bool_or(lr.list_key IS NOT NULL AND (lr.rate IS NULL OR lr.total_price IS NULL)) THEN NULL
                 ELSE coalesce(sum(lr.total_price * lr.rate), 0)
            END AS DECIMAL(38, 13)) AS value_cny
FROM m_lists l
LEFT JOIN line_rates lr ON lr.list_key = l.list_key
GROUP BY l.list_key`;

// ---- the checks, in RULES.md §4 order -----------------------------------------------------------

const ORDER_MISSING = `
INSERT INTO m_reasons
SELECT l.list_key, 'ORDER_MISSING', 'P',
       printf('no order %s/%s/%s', ${txt('l.ebp_code')}, ${txt('l.ebc_code')}, ${txt('l.order_no')})
FROM m_lists l
WHERE NOT ${ORDER_EXISTS}
  AND NOT ${ORDER_OTHER_PARTY_EXISTS}`;

const ORDER_PARTY_MISMATCH = `
INSERT INTO m_reasons
SELECT l.list_key, 'ORDER_PARTY_MISMATCH', 'R',
       printf('order %s/%s exists for another ebcCode, not %s', ${txt('l.ebp_code')}, ${txt('l.order_no')}, ${txt('l.ebc_code')})
FROM m_lists l
WHERE NOT ${ORDER_EXISTS}
  AND ${ORDER_OTHER_PARTY_EXISTS}`;

const ORDER_TYPE_MISMATCH = `
INSERT INTO m_reasons
SELECT list_key, 'ORDER_TYPE_MISMATCH', 'R',
       printf('tradeMode %s needs orderType %s, order has %s', ${txt('trade_mode')}, ${txt('wanted')}, ${txt('order_type')})
FROM (SELECT l.list_key, l.trade_mode, o.order_type,
             CASE l.trade_mode WHEN '9610' THEN 'E' WHEN '1210' THEN 'E' WHEN '9710' THEN 'B' WHEN '9810' THEN 'W' END AS wanted
      FROM ${LIST_ORDER})
WHERE wanted IS NOT NULL
  AND ${textsDiffer('order_type', 'wanted')}`;

const LINE_COUNT_MISMATCH = `
INSERT INTO m_reasons
WITH list_gnums AS MATERIALIZED (
  SELECT l.list_key, ll.gnum
  FROM ${LIST_ORDER}
  JOIN m_list_lines ll ON ll.list_key = l.list_key
), order_gnums AS MATERIALIZED (
  SELECT ol.list_key, ol.gnum
  FROM m_list_order_lines ol
), unpaired AS (
  SELECT coalesce(lg.list_key, og.list_key) AS list_key, lg.gnum AS list_gnum, og.gnum AS order_gnum
  FROM list_gnums lg
  FULL JOIN order_gnums og ON og.list_key = lg.list_key AND og.gnum = lg.gnum
  WHERE lg.gnum IS NULL OR og.gnum IS NULL
)
SELECT list_key, 'LINE_COUNT_MISMATCH', 'R',
       printf('gnum only on list: [%s], only on order: [%s]',
              coalesce(string_agg(CAST(list_gnum AS VARCHAR), ',' ORDER BY list_gnum) FILTER (WHERE order_gnum IS NULL), ''),
              coalesce(string_agg(CAST(order_gnum AS VARCHAR), ',' ORDER BY order_gnum) FILTER (WHERE list_gnum IS NULL), ''))
FROM unpaired
GROUP BY list_key`;

const LINE_MISMATCH = `
INSERT INTO m_reasons
WITH paired AS (
  SELECT l.list_key, ll.gnum, p.amount_tolerance AS tol,
         ll.item_no AS l_item_no, ol.item_no AS o_item_no, ll.unit AS l_unit, ol.unit AS o_unit,
         ll.currency AS l_currency, ol.currency AS o_currency, ll.qty AS l_qty, ol.qty AS o_qty,
         ll.price AS l_price, ol.price AS o_price, ll.total_price AS l_total, ol.total_price AS o_total
  FROM ${LIST}
  JOIN m_list_lines ll ON ll.list_key = l.list_key
  JOIN m_list_order_lines ol ON ol.list_key = ll.list_key AND ol.gnum = ll.gnum
), diffs AS (
  SELECT list_key, gnum, 1 AS field_no, printf('gnum %s itemNo %s vs %s', ${txt('gnum')}, ${txt('l_item_no')}, ${txt('o_item_no')}) AS diff
  FROM paired WHERE ${textsDiffer('l_item_no', 'o_item_no')}
  UNION ALL
  SELECT list_key, gnum, 2, printf('gnum %s unit %s vs %s', ${txt('gnum')}, ${txt('l_unit')}, ${txt('o_unit')})
  FROM paired WHERE ${textsDiffer('l_unit', 'o_unit')}
  UNION ALL
  SELECT list_key, gnum, 3, printf('gnum %s currency %s vs %s', ${txt('gnum')}, ${txt('l_currency')}, ${txt('o_currency')})
  FROM paired WHERE ${textsDiffer('l_currency', 'o_currency')}
  UNION ALL
  SELECT list_key, gnum, 4, printf('gnum %s qty %s vs %s', ${txt('gnum')}, ${num('l_qty')}, ${num('o_qty')})
  FROM paired WHERE ${amountsDiffer('l_qty', 'o_qty', 'tol')}
  UNION ALL
  SELECT list_key, gnum, 5, printf('gnum %s price %s vs %s', ${txt('gnum')}, ${num('l_price')}, ${num('o_price')})
  FROM paired WHERE ${amountsDiffer('l_price', 'o_price', 'tol')}
  UNION ALL
  SELECT list_key, gnum, 6, printf('gnum %s totalPrice %s vs %s', ${txt('gnum')}, ${num('l_total')}, ${num('o_total')})
  FROM paired WHERE ${amountsDiffer('l_total', 'o_total', 'tol')}
)
SELECT list_key, 'LINE_MISMATCH', 'R', string_agg(diff, '; ' ORDER BY gnum, field_no)
FROM diffs
GROUP BY list_key`;

const VALUE_MISMATCH = `
INSERT INTO m_reasons
SELECT list_key, 'VALUE_MISMATCH', 'R',
       printf('lines total %s vs goodsValue %s', ${num('lines_total')}, ${num('goods_value')})
FROM (SELECT l.list_key, o.goods_value, p.amount_tolerance AS tol,
             coalesce((SELECT sum(ll.total_price) FROM m_list_lines ll WHERE ll.list_key = l.list_key), 0) AS lines_total
      FROM ${LIST_ORDER})
WHERE ${amountsDiffer('lines_total', 'goods_value', 'tol')}`;

const WAYBILL_MISSING = `
INSERT INTO m_reasons
SELECT l.list_key, 'WAYBILL_MISSING', 'P',
       printf('no waybill %s/%s within %s days', ${txt('l.logistics_code')}, ${txt('l.logistics_no')}, ${txt('p.waybill_window_days')})
FROM ${LIST}
WHERE NOT EXISTS (SELECT 1 FROM m_list_waybill w WHERE w.list_key = l.list_key)`;

const WAYBILL_PARTY_MISMATCH = `
INSERT INTO m_reasons
SELECT l.list_key, 'WAYBILL_PARTY_MISMATCH', 'R',
       printf('waybill ebcCode %s vs list %s', ${txt('w.ebc_code')}, ${txt('l.ebc_code')})
FROM ${LIST_WAYBILL}
WHERE coalesce(w.ebc_code, '') <> ''  -- a waybill that names no ebcCode names no other party
  AND ${textsDiffer('w.ebc_code', 'l.ebc_code')}`;

const FREIGHT_MISMATCH = `
INSERT INTO m_reasons
SELECT l.list_key, 'FREIGHT_MISMATCH', 'V',
       printf('list freight %s vs waybill %s', ${num('l.freight')}, ${num('w.freight')})
FROM ${LIST_WAYBILL}
WHERE l.f_flag = '3'
  AND ${amountsDiffer('l.freight', 'w.freight', 'p.amount_tolerance')}`;

const INSURANCE_MISMATCH = `
INSERT INTO m_reasons
SELECT l.list_key, 'INSURANCE_MISMATCH', 'V',
       printf('list insuredFee %s vs waybill %s', ${num('l.insured_fee')}, ${num('w.insured_fee')})
FROM ${LIST_WAYBILL}
WHERE l.i_flag = '3'
  AND ${amountsDiffer('l.insured_fee', 'w.insured_fee', 'p.amount_tolerance')}`;

const PACK_MISMATCH = `
INSERT INTO m_reasons
SELECT l.list_key, 'PACK_MISMATCH', 'V',
       printf('list packNo %s vs waybill %s', ${txt('l.pack_no')}, ${txt('w.pack_no')})
FROM ${LIST_WAYBILL}
WHERE l.pack_no IS DISTINCT FROM w.pack_no`;

// |Δ| > max(kg, waybill gross × pct / 100), both sides × 100 so that no division (DOUBLE) is needed
const WEIGHT_MISMATCH = `
INSERT INTO m_reasons
SELECT l.list_key, 'WEIGHT_MISMATCH', 'V',
       printf('list grossWeight %s vs waybill %s (tolerance max(%s kg, %s %%))', ${num('l.gross_weight')}, ${num('w.gross_weight')},
              ${num('p.weight_tolerance_kg')}, ${num('p.weight_tolerance_pct')})
FROM ${LIST_WAYBILL}
WHERE l.gross_weight IS DISTINCT FROM w.gross_weight
  AND coalesce(abs(l.gross_weight - w.gross_weight) * 100
                 > greatest(p.weight_tolerance_kg * 100, w.gross_weight * p.weight_tolerance_pct), true)`;

const NET_OVER_GROSS = `
INSERT INTO m_reasons
SELECT l.list_key, 'NET_OVER_GROSS', 'R',
       printf('netWeight %s > grossWeight %s', ${num('l.net_weight')}, ${num('l.gross_weight')})
FROM m_lists l
WHERE l.net_weight > l.gross_weight`;

const PAYMENT_MISSING = `
INSERT INTO m_reasons
SELECT l.list_key, 'PAYMENT_MISSING', 'P',
       printf('policy %s requires a receipt for %s; none for %s/%s', ${txt('p.policy_id')}, ${txt('l.trade_mode')},
              ${txt('l.ebc_code')}, ${txt('l.order_no')})
FROM ${LIST}
WHERE coalesce(list_contains(p.receipt_required_modes, l.trade_mode), false)
  AND NOT EXISTS (SELECT 1 FROM m_receipts r WHERE r.ebc_code = l.ebc_code AND r.order_no = l.order_no)`;

// whether or not the policy requires a receipt; needs the order
const PAYMENT_MISMATCH = `
INSERT INTO m_reasons
SELECT l.list_key, 'PAYMENT_MISMATCH', 'V',
       printf('receipt charge %s vs goodsValue %s', ${num('r.charge')}, ${num('o.goods_value')})
FROM ${LIST_ORDER}
  JOIN m_receipts r ON r.ebc_code = o.ebc_code AND r.order_no = o.order_no  -- the order's key is the list's; joined to the order, not to the list, or the optimizer paired every receipt with every order first
WHERE ${amountsDiffer('r.charge', 'o.goods_value', 'p.amount_tolerance')}`;

const UNKNOWN_CURRENCY = `
INSERT INTO m_reasons
SELECT list_key, 'UNKNOWN_CURRENCY', 'R',
       'no rate for ' || string_agg(printf('gnum %s: %s in %s', ${txt('gnum')}, ${txt('currency')}, ${txt('month')}), '; ' ORDER BY gnum)
FROM (${LINE_RATES})
WHERE rate IS NULL
GROUP BY list_key`;

const B2B_OVER_THRESHOLD = `
INSERT INTO m_reasons
SELECT l.list_key, 'B2B_OVER_THRESHOLD', 'R',
       printf('CNY value %s > %s', ${txt('round(v.value_cny, 2)')}, ${num('p.b2b_threshold_cny')})
FROM ${LIST}
  JOIN m_values v ON v.list_key = l.list_key
WHERE l.trade_mode IN ${B2B_MODES}
  AND v.value_cny > p.b2b_threshold_cny  -- an unknown value (NULL) is UNKNOWN_CURRENCY, not this`;

const B2B_CONTROLLED_GOODS = `
INSERT INTO m_reasons
SELECT l.list_key, 'B2B_CONTROLLED_GOODS', 'R', 'controlled goods: ' || c.lines
FROM m_lists l
  JOIN (${CONTROLLED_LINES}) c ON c.list_key = l.list_key
WHERE l.trade_mode IN ${B2B_MODES}`;

const SIMPLIFIED_NOT_ELIGIBLE = `
INSERT INTO m_reasons
SELECT l.list_key, 'SIMPLIFIED_NOT_ELIGIBLE', 'R',
       CASE WHEN c.lines IS NOT NULL THEN 'controlled goods: ' || c.lines
            ELSE printf('CNY value %s > %s', ${txt('round(v.value_cny, 2)')}, ${num('p.simplified_threshold_cny')}) END
FROM ${LIST}
  JOIN m_values v ON v.list_key = l.list_key
  LEFT JOIN (${CONTROLLED_LINES}) c ON c.list_key = l.list_key
WHERE l.statistics_flag = 'A'
  AND (c.lines IS NOT NULL OR coalesce(v.value_cny > p.simplified_threshold_cny, false))`;

export const CHECKS: readonly Check[] = Object.freeze([
  { code: 'ORDER_MISSING', severity: 'P', sql: ORDER_MISSING },
  { code: 'ORDER_PARTY_MISMATCH', severity: 'R', sql: ORDER_PARTY_MISMATCH },
  { code: 'ORDER_TYPE_MISMATCH', severity: 'R', sql: ORDER_TYPE_MISMATCH },
  { code: 'LINE_COUNT_MISMATCH', severity: 'R', sql: LINE_COUNT_MISMATCH },
  { code: 'LINE_MISMATCH', severity: 'R', sql: LINE_MISMATCH },
  { code: 'VALUE_MISMATCH', severity: 'R', sql: VALUE_MISMATCH },
  { code: 'WAYBILL_MISSING', severity: 'P', sql: WAYBILL_MISSING },
  { code: 'WAYBILL_PARTY_MISMATCH', severity: 'R', sql: WAYBILL_PARTY_MISMATCH },
  { code: 'FREIGHT_MISMATCH', severity: 'V', sql: FREIGHT_MISMATCH },
  { code: 'INSURANCE_MISMATCH', severity: 'V', sql: INSURANCE_MISMATCH },
  { code: 'PACK_MISMATCH', severity: 'V', sql: PACK_MISMATCH },
  { code: 'WEIGHT_MISMATCH', severity: 'V', sql: WEIGHT_MISMATCH },
  { code: 'NET_OVER_GROSS', severity: 'R', sql: NET_OVER_GROSS },
  { code: 'PAYMENT_MISSING', severity: 'P', sql: PAYMENT_MISSING },
  { code: 'PAYMENT_MISMATCH', severity: 'V', sql: PAYMENT_MISMATCH },
  { code: 'UNKNOWN_CURRENCY', severity: 'R', sql: UNKNOWN_CURRENCY },
  { code: 'B2B_OVER_THRESHOLD', severity: 'R', sql: B2B_OVER_THRESHOLD },
  { code: 'B2B_CONTROLLED_GOODS', severity: 'R', sql: B2B_CONTROLLED_GOODS },
  { code: 'SIMPLIFIED_NOT_ELIGIBLE', severity: 'R', sql: SIMPLIFIED_NOT_ELIGIBLE },
] satisfies Check[]);

/**
 * Fills m_values, then appends every check's reasons to m_reasons, in CHECKS order. The tables are
 * appended to, not cleared: start from fresh ones (CHECK_TABLES_DDL). Throws when a list names a
 * policy version that m_policy lacks, since its policy checks would otherwise be skipped silently.
 */
export async function runChecks(db: Db): Promise<void> {
  const orphans = await db.all(
    `SELECT l.list_key, l.policy_id FROM m_lists l
     WHERE NOT EXISTS (SELECT 1 FROM m_policy p WHERE p.policy_id = l.policy_id)
     ORDER BY l.list_key LIMIT 5`,
  );
  if (orphans.length > 0) {
    const shown = orphans.map((r) => `${String(r.list_key)} (policy ${String(r.policy_id ?? 'NULL')})`).join(', ');
    throw new Error(`runChecks: lists name a policy version that m_policy does not hold: ${shown}`);
  }
  for (const q of PAIRS_SQL) await db.run(q);
  await db.run(VALUE_SQL);
  for (const c of CHECKS) await db.run(c.sql);
}
