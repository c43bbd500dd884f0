/**
 * One business record (head + lines, as raw text) → staging rows and quarantine findings. Shared
 * by the XML and the tabular paths, so that both stage exactly the same rows for the same data.
 */
import { HEAD_GUID, parentKeyFields, recordSpec, snakeCase, type RecordSpec, type RecordTypeName } from '../spec/fields.js';
import { validateRecord, type FieldError, type RawRecord } from '../spec/validate.js';
import type { StagingRow } from './batch.js';

/** One row of the quarantine (RULES.md §3, §11): a rejected file or a record's field finding. */
export interface QuarantineRow {
  file: string;
  messageGuid: string | null;
  recordIndex: number | null;
  recordType: RecordTypeName | null;
  businessKey: string | null;
  field: string | null;
  code: string;
  detail: string;
}

export interface Provenance {
  file: string;
  messageGuid: string | null;
  recordIndex: number;
}

function keyOf(spec: RecordSpec, raw: RawRecord): string | null {
  const parts = spec.key.filter((k) => k !== 'gnum').map((k) => (raw[k] ?? '').trim());
  return parts.some((p) => p !== '') ? parts.join('|') : null;
}

function findings(spec: RecordSpec, errors: readonly FieldError[], prov: Provenance, key: string | null, prefix = ''): QuarantineRow[] {
  return errors.map((e) => ({
    file: prov.file,
    messageGuid: prov.messageGuid,
    recordIndex: prov.recordIndex,
    recordType: spec.name,
    businessKey: key,
    field: e.field,
    code: e.code,
    detail: prefix + e.detail,
  }));
}

/** A validated row of one record type, with its provenance and validity flag. */
export function stagingRow(spec: RecordSpec, raw: RawRecord, prov: Provenance, link?: RawRecord): { row: StagingRow; errors: readonly FieldError[] } {
  const v = validateRecord(spec, raw);
  const row: StagingRow = { source_file: prov.file, message_guid: prov.messageGuid, record_index: prov.recordIndex, record_valid: v.ok };
  if (spec.parent && link) {
    for (const k of parentKeyFields(spec)) row[snake(k)] = emptyToNull(link[k]);
    row.head_guid = emptyToNull(link[HEAD_GUID]);
  }
  for (const f of spec.fields) row[snake(f.name)] = v.row[f.name] ?? null;
  return { row, errors: v.ok ? [] : v.errors };
}

function emptyToNull(v: string | null | undefined): string | null {
  const t = (v ?? '').trim();
  return t === '' ? null : t;
}

/** snakeCase, cached: it runs for every field of every record. */
const SNAKE = new Map<string, string>();
function snake(name: string): string {
  let s = SNAKE.get(name);
  if (s === undefined) {
    s = snakeCase(name);
    SNAKE.set(name, s);
  }
  return s;
}

/**
 * A head and its lines from one XML business entity: the lines are linked to the head by the
 * head's business key and guid, as a tabular line file links them.
 */
export function entityRows(
  type: RecordTypeName,
  head: RawRecord,
  lines: readonly RawRecord[],
  prov: Provenance,
): { head: StagingRow; lines: StagingRow[]; quarantine: QuarantineRow[] } {
  const spec = recordSpec(type);
  const key = keyOf(spec, head);
  const h = stagingRow(spec, head, prov);
  const quarantine = findings(spec, h.errors, prov, key);
  const out: StagingRow[] = [];
  if (spec.lines) {
    const ls = recordSpec(spec.lines);
    const link: Record<string, string> = { [HEAD_GUID]: head.guid ?? '' };
    for (const k of parentKeyFields(ls)) link[k] = head[k] ?? '';
    for (const l of lines) {
      const r = stagingRow(ls, l, prov, link);
      out.push(r.row);
      quarantine.push(...findings(ls, r.errors, prov, key, `gnum ${(l.gnum ?? '').trim() || '?'}: `));
    }
  }
  return { head: h.row, lines: out, quarantine };
}

/** A row of a tabular file of one record type (heads and lines alike). */
export function tabularRow(type: RecordTypeName, raw: RawRecord, prov: Provenance): { row: StagingRow; quarantine: QuarantineRow[] } {
  const spec = recordSpec(type);
  const r = stagingRow(spec, raw, prov, spec.parent ? raw : undefined);
  const key = keyOf(spec, raw);
  const prefix = spec.parent ? `gnum ${(raw.gnum ?? '').trim() || '?'}: ` : '';
  return { row: r.row, quarantine: findings(spec, r.errors, prov, key, prefix) };
}
