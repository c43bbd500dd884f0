/**
 * CEB604 list receipts (清单回执) for a business day: one `CEB604Message` per 100 lists of the
 * day's `decisions` rows (every row of the day, PENDING and CANCELLED included: each carries its
 * status code), ordered by (agent_code, cop_no), written as
 *
 *   <dir>/CEB604_<YYYY-MM-DD>_<seq, 5 digits from 00001>.xml
 *
 * Each `InventoryReturn` has the XSD's fields in the XSD's order (INVENTORY_RETURN_FIELDS; the
 * tests check it against the official XSD):
 * - `guid`: derived from (sender, date, agentCode, copNo), a UUID-shaped SHA-1 digest in upper case,
 *   so the same list on the same day always gets the same guid. The message guid is derived from
 *   (sender, date, sequence number, the message's records), so it changes when the content does.
 * - `returnStatus`: the decision's `status_code`; `returnInfo`: "<decision>: <reason codes, ', '>"
 *   (or the decision alone), cut to 1000 characters (Unicode code points, as the XSD counts; a cut
 *   text ends with '…'); characters XML 1.0 cannot carry are dropped, tabs and line breaks become
 *   spaces; XML escaping is XMLBuilder's.
 * - `returnTime`: `o.returnTime` (a Date, written in China Standard Time, or 17 digits
 *   yyyyMMddHHmmssSSS); by default the end of the business day, `<yyyyMMdd>235959000`, so that
 *   re-running a day writes byte-identical files.
 * - `preNo` and `statisticsFlag` are not in `decisions`: they come from the list's latest version
 *   as of the day in `hist_lists` (the latest one holding an 18-character preNo, and an A/B flag).
 *   E-port assigns preNo and the lists normally arrive without it; then it is
 *   `B<yyyyMMdd of the business day><9-digit position of the list in the day's receipts>`, unique
 *   within the day. A list without a valid statisticsFlag (an invalid record) gets `B`.
 *
 * Writing a day replaces its files: each file goes to a hidden temporary name and is renamed over
 * the final name, then the day's files from an earlier write that this one did not produce are
 * removed. Files of other days are never touched.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { XMLBuilder } from 'fast-xml-parser';
import { dropTempTables, type Db } from '../db/duck.js';
import { CEB_NAMESPACE } from '../spec/fields.js';
import { lit } from '../spec/schema.js';
import { checkDate } from './export.js';

/** `InventoryReturn` children in XSD order with their XSD length facets (characters). */
export const INVENTORY_RETURN_FIELDS: readonly { name: string; length?: number; minLength?: number; maxLength?: number }[] = [
  { name: 'guid', length: 36 },
  { name: 'agentCode', maxLength: 18 },
  { name: 'copNo', maxLength: 30 },
  { name: 'preNo', length: 18 },
  { name: 'invtNo', maxLength: 20 },
  { name: 'ebcCode', maxLength: 18 },
  { name: 'ebpCode', maxLength: 18 },
  { name: 'orderNo', maxLength: 60 },
  { name: 'statisticsFlag', length: 1 },
  { name: 'returnStatus', minLength: 1, maxLength: 10 },
  { name: 'returnTime', length: 17 },
  { name: 'returnInfo', maxLength: 1000 },
];

/** `CEB604Message` holds 1..100 `InventoryReturn`s (XSD maxOccurs). */
export const RETURNS_PER_MESSAGE = 100;
const RETURN_INFO_MAX = 1000;
const DEFAULT_SENDER = 'declmatch';
const PAGE = 100 * RETURNS_PER_MESSAGE;

export interface ReceiptsOptions {
  /** Mixed into every guid, so that two senders never produce the same guids. Default 'declmatch'. */
  sender?: string;
  /** The receipts' returnTime: a Date (written in UTC+8) or 17 digits; default `<date>235959000`. */
  returnTime?: Date | string;
}

export interface ReceiptsResult {
  date: string;
  /** Absolute. */
  dir: string;
  /** Absolute paths of the files written, in sequence order. */
  files: string[];
  /** InventoryReturn elements written (= decisions rows of the day). */
  returns: number;
  /** The day's files from an earlier write that were removed (absolute paths). */
  removed: string[];
}

type RecordValues = Record<string, string>;

/** A UUID-shaped (version 5 layout), upper-case digest of the parts. */
export function derivedGuid(...parts: readonly string[]): string {
  const h = createHash('sha1').update(parts.join('\u0000'), 'utf8').digest().subarray(0, 16);
  h.writeUInt8((h.readUInt8(6) & 0x0f) | 0x50, 6);
  h.writeUInt8((h.readUInt8(8) & 0x3f) | 0x80, 8);
  const x = h.toString('hex').toUpperCase();
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** Formats a Date as yyyyMMddHHmmssSSS in China Standard Time (UTC+8). */
export function cebTime(t: Date): string {
  const s = new Date(t.getTime() + 8 * 3600_000).toISOString(); // 2025-06-12T15:30:01.001Z
  return s.slice(0, 23).replace(/[-T:.]/g, '');
}

function returnTimeOf(date: string, t: Date | string | undefined): string {
  if (t === undefined) return `${date.replace(/-/g, '')}235959000`;
  if (t instanceof Date) {
    if (Number.isNaN(t.getTime())) throw new Error('returnTime is an invalid Date');
    return cebTime(t);
  }
  if (!/^\d{17}$/.test(t)) throw new Error(`returnTime must be 17 digits yyyyMMddHHmmssSSS: ${JSON.stringify(t)}`);
  return t;
}

/** Text XML 1.0 can carry on one line: illegal characters dropped, tabs and line breaks → space. */
function xmlText(s: string): string {
  return s
    .replace(/[\t\n\r]/g, ' ')
    .replace(/[^\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '');
}

/** At most `max` characters (code points); a cut text ends with '…'. */
export function clip(s: string, max: number): string {
  const cps = Array.from(s);
  return cps.length <= max ? s : `${cps.slice(0, max - 1).join('')}…`;
}

/** The receipt text of a decision: "<decision>: <reason, reason …>", at most 1000 characters. */
export function returnInfo(decision: string, reasons: readonly string[]): string {
  const text = reasons.length > 0 ? `${decision}: ${reasons.join(', ')}` : decision;
  return clip(xmlText(text), RETURN_INFO_MAX);
}

function checkLengths(r: RecordValues): void {
  for (const f of INVENTORY_RETURN_FIELDS) {
    const n = Array.from(r[f.name] ?? '').length;
    const ok = (f.length === undefined || n === f.length) && (f.maxLength === undefined || n <= f.maxLength) && (f.minLength === undefined || n >= f.minLength);
    if (!ok) throw new Error(`CEB604 ${r.agentCode}|${r.copNo}: ${f.name} ${JSON.stringify(r[f.name])} does not fit the XSD length`);
  }
}

async function hasColumns(db: Db, table: string, cols: readonly string[]): Promise<boolean> {
  const rows = await db.all(`SELECT column_name FROM information_schema.columns
    WHERE table_catalog = current_database() AND table_schema = current_schema() AND table_name = ${lit(table)}`);
  const have = new Set(rows.map((r) => String(r.column_name)));
  return cols.every((c) => have.has(c));
}

const DECISION_COLUMNS = ['business_date', 'agent_code', 'cop_no', 'invt_no', 'ebc_code', 'ebp_code', 'order_no', 'decision', 'status_code', 'reasons'];
const LIST_COLUMNS = ['business_date', 'agent_code', 'cop_no', 'pre_no', 'statistics_flag', 'app_time', 'app_status', 'source_file', 'record_index'];

/** Fills the temp table `receipt_src`: the day's decisions in receipt order, with preNo and statisticsFlag. */
async function stageReceipts(db: Db, date: string): Promise<number> {
  const d = `DATE ${lit(date)}`;
  const exists = await db.all(`SELECT count(*) AS n FROM information_schema.tables
    WHERE table_catalog = current_database() AND table_schema = current_schema() AND table_name = 'decisions'`);
  if (Number(exists[0]?.n ?? 0) === 0) return 0; // no decisions table: no receipts
  if (!(await hasColumns(db, 'decisions', DECISION_COLUMNS))) {
    throw new Error(`decisions lacks columns needed for CEB604 receipts (${DECISION_COLUMNS.join(', ')})`);
  }
  const lists = (await hasColumns(db, 'hist_lists', LIST_COLUMNS))
    ? `SELECT agent_code, cop_no,
         arg_min(pre_no, rn) FILTER (WHERE length(pre_no) = 18) AS pre_no,
         arg_min(statistics_flag, rn) FILTER (WHERE statistics_flag IN ('A', 'B')) AS statistics_flag
       FROM (SELECT h.agent_code, h.cop_no, h.pre_no, h.statistics_flag,
               row_number() OVER (PARTITION BY h.agent_code, h.cop_no
                                  ORDER BY h.app_time DESC NULLS LAST, h.business_date DESC, h.source_file DESC, h.record_index DESC) AS rn
             FROM hist_lists h SEMI JOIN day ON day.agent_code = h.agent_code AND day.cop_no = h.cop_no
             WHERE h.business_date <= ${d} AND coalesce(h.app_status, '') <> '1')
       GROUP BY ALL`
    : `SELECT NULL::VARCHAR AS agent_code, NULL::VARCHAR AS cop_no, NULL::VARCHAR AS pre_no, NULL::VARCHAR AS statistics_flag WHERE false`;
  await db.run(`CREATE OR REPLACE TEMP TABLE receipt_src AS
    WITH day AS (SELECT agent_code, cop_no, invt_no, ebc_code, ebp_code, order_no, decision, status_code, reasons
                 FROM decisions WHERE business_date = ${d}),
    lists AS (${lists})
    SELECT row_number() OVER (ORDER BY day.agent_code, day.cop_no) AS rn, day.*, lists.pre_no, lists.statistics_flag
    FROM day LEFT JOIN lists ON lists.agent_code = day.agent_code AND lists.cop_no = day.cop_no`);
  const n = await db.all(`SELECT count(*) AS n FROM receipt_src`);
  return Number(n[0]?.n ?? 0);
}

const str = (v: unknown): string => (v === null || v === undefined ? '' : String(v));

/**
 * Writes the day's CEB604 receipts under `dir` (see the file comment) and returns what it wrote.
 */
export async function writeReceipts(db: Db, date: string, dir: string, o: ReceiptsOptions = {}): Promise<ReceiptsResult> {
  checkDate(date);
  const root = resolve(dir);
  const sender = o.sender ?? DEFAULT_SENDER;
  const returnTime = returnTimeOf(date, o.returnTime);
  const ymd = date.replace(/-/g, '');
  const builder = new XMLBuilder({
    ignoreAttributes: false,
    attributeNamePrefix: '@_',
    format: true,
    indentBy: '\t',
    suppressEmptyNode: false,
    processEntities: true,
  });

  mkdirSync(root, { recursive: true });
  const total = await stageReceipts(db, date);
  const files: string[] = [];
  try {
    for (let start = 0; start < total; start += PAGE) {
      const rows = await db.all(`SELECT * FROM receipt_src WHERE rn > ${start} AND rn <= ${start + PAGE} ORDER BY rn`);
      const records: RecordValues[] = rows.map((r) => {
        const rn = Number(r.rn);
        const agentCode = str(r.agent_code);
        const copNo = str(r.cop_no);
        const reasons = Array.isArray(r.reasons) ? r.reasons.map(str) : [];
        const rec: RecordValues = {
          guid: derivedGuid('CEB604/InventoryReturn', sender, date, agentCode, copNo),
          agentCode,
          copNo,
          preNo: r.pre_no === null || r.pre_no === undefined ? `B${ymd}${String(rn).padStart(9, '0')}` : str(r.pre_no),
          invtNo: str(r.invt_no),
          ebcCode: str(r.ebc_code),
          ebpCode: str(r.ebp_code),
          orderNo: str(r.order_no),
          statisticsFlag: r.statistics_flag === null || r.statistics_flag === undefined ? 'B' : str(r.statistics_flag),
          returnStatus: str(r.status_code),
          returnTime,
          returnInfo: returnInfo(str(r.decision), reasons),
        };
        checkLengths(rec);
        return rec;
      });
      for (let i = 0; i < records.length; i += RETURNS_PER_MESSAGE) {
        const chunk = records.slice(i, i + RETURNS_PER_MESSAGE);
        const seq = (start + i) / RETURNS_PER_MESSAGE + 1;
        const guid = derivedGuid('CEB604Message', sender, date, String(seq), JSON.stringify(chunk));
        const xml = builder.build({
          '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' },
          'ceb:CEB604Message': {
            '@_guid': guid,
            '@_version': '1.0',
            '@_xmlns:ceb': CEB_NAMESPACE,
            'ceb:InventoryReturn': chunk.map((rec) => Object.fromEntries(INVENTORY_RETURN_FIELDS.map((f) => [`ceb:${f.name}`, rec[f.name] ?? '']))),
          },
        }) as string;
        const file = join(root, `CEB604_${date}_${String(seq).padStart(5, '0')}.xml`);
        const tmp = join(root, `.CEB604_${date}_${String(seq).padStart(5, '0')}.xml.${process.pid}.tmp`);
        try {
          writeFileSync(tmp, xml.endsWith('\n') ? xml : `${xml}\n`, 'utf8');
          renameSync(tmp, file);
        } catch (e) {
          rmSync(tmp, { force: true });
          throw e;
        }
        files.push(file);
      }
    }
  } finally {
    await dropTempTables(db, 'receipt_src');
  }

  const written = new Set(files);
  const dayFile = new RegExp(`^CEB604_${date}_\\d{5,}\\.xml$`);
  const removed: string[] = [];
  for (const name of readdirSync(root).sort()) {
    const path = join(root, name);
    if (dayFile.test(name) && !written.has(path)) {
      rmSync(path, { force: true });
      removed.push(path);
    }
  }
  return { date, dir: root, files, returns: total, removed };
}
