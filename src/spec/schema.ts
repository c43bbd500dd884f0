/**
 * Everything derived from the field tables that is not validation: staging columns, the Arrow
 * schema of a record batch, and the DuckDB DDL of the staging tables.
 */
import { Bool, DataType, DateDay, Decimal, Field, Int32, Schema, TimestampSecond, Utf8 } from 'apache-arrow';
import { HEAD_GUID, parentKeyFields, RECORD_SPECS, snakeCase, type FieldType, type RecordSpec } from './fields.js';

/** A staging column's type: a field type, or boolean for the validity flag. */
export type ColumnType = FieldType | 'boolean';

export interface Column {
  /** snake_case column name in staging and published tables. */
  readonly column: string;
  /** CEB field name it comes from (or the provenance name). */
  readonly source: string;
  readonly type: ColumnType;
  readonly nullable: boolean;
}

/** Provenance every staged row carries (RULES.md §3 quarantine and latest-wins tie-breaks). */
export const PROVENANCE: readonly Column[] = [
  { column: 'source_file', source: 'source_file', type: 'string', nullable: false },
  { column: 'message_guid', source: 'message_guid', type: 'string', nullable: true },
  { column: 'record_index', source: 'record_index', type: 'integer', nullable: false },
  /**
   * false when this row failed validation; its bad fields are NULL and its findings are in the
   * quarantine. Validity is per row, so that XML and tabular input stage the same rows: a head
   * whose line is invalid is itself valid here, and matching treats the record (head and lines) as
   * invalid. Invalid lists are staged so that they can still be decided (REJECT, INVALID_RECORD).
   */
  { column: 'record_valid', source: 'record_valid', type: 'boolean', nullable: false },
];

/** Staging columns of a record type: provenance, the head link for lines, then every CEB field. */
export function stagingColumns(spec: RecordSpec): readonly Column[] {
  const link: Column[] = spec.parent
    ? [
        ...parentKeyFields(spec).map((k) => ({ column: snakeCase(k), source: k, type: 'string' as const, nullable: true })),
        { column: 'head_guid', source: HEAD_GUID, type: 'string', nullable: true },
      ]
    : [];
  const fields = spec.fields.map((f) => ({ column: snakeCase(f.name), source: f.name, type: f.type, nullable: true }));
  return [...PROVENANCE, ...link, ...fields];
}

export function stagingTable(spec: RecordSpec): string {
  return `stg_${spec.table}`;
}

const DUCK_TYPES: Readonly<Record<ColumnType, string>> = {
  boolean: 'BOOLEAN',
  string: 'VARCHAR',
  decimal: 'DECIMAL(19,5)',
  integer: 'INTEGER',
  timestamp: 'TIMESTAMP',
  date: 'DATE',
};

export function duckType(t: ColumnType): string {
  return DUCK_TYPES[t];
}

function arrowType(t: ColumnType): DataType {
  switch (t) {
    case 'boolean':
      return new Bool();
    case 'string':
      return new Utf8();
    case 'decimal':
      return new Decimal(5, 19, 128);
    case 'integer':
      return new Int32();
    case 'timestamp':
      return new TimestampSecond();
    case 'date':
      return new DateDay();
  }
}

export function arrowSchema(spec: RecordSpec): Schema {
  return new Schema(stagingColumns(spec).map((c) => new Field(c.column, arrowType(c.type), c.nullable)));
}

/** A DuckDB string literal. */
export function lit(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** Quotes an identifier for DuckDB. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function stagingDDL(spec: RecordSpec): string {
  const cols = stagingColumns(spec)
    .map((c) => `  ${ident(c.column)} ${duckType(c.type)}${c.nullable ? '' : ' NOT NULL'}`)
    .join(',\n');
  return `CREATE TABLE IF NOT EXISTS ${stagingTable(spec)} (\n${cols}\n);`;
}

export function allStagingDDL(): string {
  return RECORD_SPECS.map(stagingDDL).join('\n');
}
