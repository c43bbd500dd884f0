/**
 * One business record (head + lines, as raw text) → staging rows and quarantine findings. Shared
 * by the XML and the tabular paths, so that both stage exactly the same rows for the same data.
 */
import { HEAD_GUID, parentKeyFields, recordSpec, type RecordSpec, type RecordTypeName } from '../spec/fields.js';
import { stagingColumns } from '../spec/schema.js';
import { validateField, type FieldError, type RawRecord, type TypedValue } from '../spec/validate.js';
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

/**
 * One staging row as values in `stagingColumns(spec)` order (provenance, the head link of a line,
 * then the fields): what BatchBuilder.appendValues takes. Building it by position instead of as an
 * object keyed by column name saved two ~50-key objects per record in the parse workers.
 */
export type StagingValues = (TypedValue | boolean)[];

/** Index of record_valid in StagingValues (PROVENANCE: source_file, message_guid, record_index, record_valid). */
export const RECORD_VALID = 3;

/** A validated row of one record type, with its provenance and validity flag, as values. */
export function stagingValues(spec: RecordSpec, raw: RawRecord, prov: Provenance, link?: RawRecord): { values: StagingValues; errors: readonly FieldError[] } {
  const errors: FieldError[] = [];
  const { parentKeys, width } = shapeOf(spec);
  const values: StagingValues = new Array(width);
  values[0] = prov.file;
  values[1] = prov.messageGuid;
  values[2] = prov.recordIndex;
  let k = 4;
  if (spec.parent) {
    for (const p of parentKeys) values[k++] = link ? emptyToNull(link[p]) : null;
    values[k++] = link ? emptyToNull(link[HEAD_GUID]) : null;
  }
  for (const f of spec.fields) values[k++] = validateField(f, raw[f.name], errors);
  values[RECORD_VALID] = errors.length === 0;
  return { values, errors };
}

/** Per record spec, computed once: the head key fields a line carries, and the row width. */
const SHAPES = new Map<RecordSpec, { parentKeys: readonly string[]; width: number }>();
function shapeOf(spec: RecordSpec): { parentKeys: readonly string[]; width: number } {
  let s = SHAPES.get(spec);
  if (!s) {
    s = { parentKeys: parentKeyFields(spec), width: stagingColumns(spec).length };
    SHAPES.set(spec, s);
  }
  return s;
}

/** The same row keyed by staging column name. */
export function stagingRow(spec: RecordSpec, raw: RawRecord, prov: Provenance, link?: RawRecord): { row: StagingRow; errors: readonly FieldError[] } {
  const { values, errors } = stagingValues(spec, raw, prov, link);
  return { row: keyed(spec, values), errors };
}

function emptyToNull(v: string | null | undefined): string | null {
  const t = (v ?? '').trim();
  return t === '' ? null : t;
}

/**
 * A head and its lines from one XML business entity: the lines are linked to the head by the
 * head's business key and guid, as a tabular line file links them.
 */
export function entityValues(
  type: RecordTypeName,
  head: RawRecord,
  lines: readonly RawRecord[],
  prov: Provenance,
): { head: StagingValues; lines: StagingValues[]; quarantine: QuarantineRow[] } {
  const spec = recordSpec(type);
  const key = keyOf(spec, head);
  const h = stagingValues(spec, head, prov);
  const quarantine = h.errors.length ? findings(spec, h.errors, prov, key) : [];
  const out: StagingValues[] = [];
  if (spec.lines) {
    const ls = recordSpec(spec.lines);
    const link: Record<string, string> = { [HEAD_GUID]: head.guid ?? '' };
    for (const k of parentKeyFields(ls)) link[k] = head[k] ?? '';
    for (const l of lines) {
      const r = stagingValues(ls, l, prov, link);
      out.push(r.values);
      if (r.errors.length) quarantine.push(...findings(ls, r.errors, prov, key, `gnum ${(l.gnum ?? '').trim() || '?'}: `));
    }
  }
  return { head: h.values, lines: out, quarantine };
}

/** entityValues with rows keyed by staging column name. */
export function entityRows(
  type: RecordTypeName,
  head: RawRecord,
  lines: readonly RawRecord[],
  prov: Provenance,
): { head: StagingRow; lines: StagingRow[]; quarantine: QuarantineRow[] } {
  const e = entityValues(type, head, lines, prov);
  const spec = recordSpec(type);
  return { head: keyed(spec, e.head), lines: spec.lines ? e.lines.map((l) => keyed(recordSpec(spec.lines!), l)) : [], quarantine: e.quarantine };
}

/** A row of a tabular file of one record type (heads and lines alike). */
export function tabularValues(type: RecordTypeName, raw: RawRecord, prov: Provenance): { values: StagingValues; quarantine: QuarantineRow[] } {
  const spec = recordSpec(type);
  const r = stagingValues(spec, raw, prov, spec.parent ? raw : undefined);
  if (!r.errors.length) return { values: r.values, quarantine: [] };
  const prefix = spec.parent ? `gnum ${(raw.gnum ?? '').trim() || '?'}: ` : '';
  return { values: r.values, quarantine: findings(spec, r.errors, prov, keyOf(spec, raw), prefix) };
}

/** tabularValues with the row keyed by staging column name. */
export function tabularRow(type: RecordTypeName, raw: RawRecord, prov: Provenance): { row: StagingRow; quarantine: QuarantineRow[] } {
  const r = tabularValues(type, raw, prov);
  return { row: keyed(recordSpec(type), r.values), quarantine: r.quarantine };
}

function keyed(spec: RecordSpec, values: StagingValues): StagingRow {
  const row: StagingRow = {};
  stagingColumns(spec).forEach((c, i) => (row[c.column] = values[i] ?? null));
  return row;
}
