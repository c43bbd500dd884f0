/**
 * spec/ owns the one description of every CEB record type the pipeline reads (RULES.md §2, the
 * 202205 export XSD). Validation, the Arrow schema, the DuckDB staging DDL, the tabular column
 * mapping and the test-data generator are all derived from the tables in this file; nothing else
 * in the project lists CEB fields by hand.
 */

/** How a field's text is typed once it is valid. */
export type FieldType = 'string' | 'decimal' | 'integer' | 'timestamp' | 'date';

export interface FieldSpec {
  /** The 202205 element name, e.g. `copNo`. */
  readonly name: string;
  readonly type: FieldType;
  readonly required: boolean;
  /** XSD `length` facet: exactly this many characters. */
  readonly length?: number;
  /** XSD `minLength` / `maxLength` facets. */
  readonly minLength?: number;
  readonly maxLength?: number;
  /** XSD `totalDigits` (decimals and integers) and `fractionDigits` (decimals). */
  readonly totalDigits?: number;
  readonly fractionDigits?: number;
  /** Values RULES.md §3 allows (enumerations); anything else is `FIELD_VALUE`. */
  readonly allowed?: readonly string[];
  /** XSD `fixed` value (e.g. `fFlag` = 3). */
  readonly fixed?: string;
}

export type RecordTypeName =
  | 'order'
  | 'order_line'
  | 'receipt'
  | 'waybill'
  | 'list'
  | 'list_line'
  | 'cancel'
  | 'return'
  | 'return_line';

export interface RecordSpec {
  readonly name: RecordTypeName;
  /** Tabular file stem (RULES.md §1): `orders.csv`, `order_lines.parquet`, ... */
  readonly table: string;
  /** CEB message code that carries the record. */
  readonly message: 'CEB303' | 'CEB403' | 'CEB505' | 'CEB603' | 'CEB605' | 'CEB213';
  /** XSD element name of the record (head element for head+lines records). */
  readonly element: string;
  /** For heads of head+lines records: the wrapping entity (`Order`, `Inventory`, `InvtRefund`). */
  readonly entity?: string;
  /** For line records: the head record they belong to. */
  readonly parent?: RecordTypeName;
  /** For head records: their line record. */
  readonly lines?: RecordTypeName;
  /** Business key fields (RULES.md §2). For line records: the parent's key plus `gnum`. */
  readonly key: readonly string[];
  /** The CEB fields, in XSD order. Line records list only their own element's fields. */
  readonly fields: readonly FieldSpec[];
}

// ---- field constructors: read like the XSD format notation (C36, C..60, N19,5, int N5) ----------

const c = (name: string, len: number, required = true, extra: Partial<FieldSpec> = {}): FieldSpec => ({
  name,
  type: 'string',
  required,
  length: len,
  ...extra,
});
const cMax = (name: string, max: number, required = true, extra: Partial<FieldSpec> = {}): FieldSpec => ({
  name,
  type: 'string',
  required,
  maxLength: max,
  ...extra,
});
const dec = (name: string, required = true): FieldSpec => ({
  name,
  type: 'decimal',
  required,
  totalDigits: 19,
  fractionDigits: 5,
});
const int = (name: string, digits: number, required = true): FieldSpec => ({
  name,
  type: 'integer',
  required,
  totalDigits: digits,
});
/** C14 YYYYMMDDhhmmss, typed as a timestamp (China Standard Time, no zone written). */
const ts = (name: string, required = true): FieldSpec => ({ name, type: 'timestamp', required, length: 14 });
/** C8 YYYYMMDD, typed as a date. */
const date = (name: string, required = true): FieldSpec => ({ name, type: 'date', required, length: 8 });

// ---- enumerations of RULES.md §3 -------------------------------------------------------------------

export const APP_TYPES = ['1', '2', '3'] as const;
export const APP_STATUSES = ['1', '2'] as const;
export const TRADE_MODES = ['9610', '9710', '9810', '1210'] as const;
export const ORDER_TYPES = ['E', 'B', 'W'] as const;
export const STATISTICS_FLAGS = ['A', 'B'] as const;

const guid = c('guid', 36);
const appType = c('appType', 1, true, { allowed: APP_TYPES });
const appTime = ts('appTime');
const appStatus = c('appStatus', 1, true, { allowed: APP_STATUSES });
const note = (max = 1000) => cMax('note', max, false);

// ---- the record types ------------------------------------------------------------------------------

export const ORDER: RecordSpec = {
  name: 'order',
  table: 'orders',
  message: 'CEB303',
  element: 'OrderHead',
  entity: 'Order',
  lines: 'order_line',
  key: ['ebpCode', 'ebcCode', 'orderNo'],
  fields: [
    guid,
    appType,
    appTime,
    appStatus,
    c('orderType', 1, true, { allowed: ORDER_TYPES }),
    cMax('orderNo', 60),
    cMax('ebpCode', 18),
    cMax('ebpName', 100),
    cMax('ebcCode', 18),
    cMax('ebcName', 100),
    dec('goodsValue'),
    dec('freight'),
    c('currency', 3),
    note(),
  ],
};

export const ORDER_LINE: RecordSpec = {
  name: 'order_line',
  table: 'order_lines',
  message: 'CEB303',
  element: 'OrderList',
  parent: 'order',
  key: ['ebpCode', 'ebcCode', 'orderNo', 'gnum'],
  fields: [
    int('gnum', 5),
    cMax('itemNo', 30),
    cMax('itemName', 250),
    cMax('itemDescribe', 1000, false),
    cMax('barCode', 50, false),
    c('unit', 3),
    c('currency', 3),
    dec('qty'),
    dec('price'),
    dec('totalPrice'),
    note(),
  ],
};

export const RECEIPT: RecordSpec = {
  name: 'receipt',
  table: 'receipts',
  message: 'CEB403',
  element: 'Receipts',
  key: ['ebcCode', 'orderNo'],
  fields: [
    guid,
    appType,
    appTime,
    appStatus,
    cMax('ebpCode', 18),
    cMax('ebpName', 100),
    cMax('ebcCode', 18),
    cMax('ebcName', 100),
    cMax('orderNo', 60),
    cMax('payCode', 18, false),
    cMax('payName', 100),
    cMax('payNo', 60, false),
    dec('charge'),
    c('currency', 3),
    ts('accountingDate'),
    note(),
  ],
};

export const WAYBILL: RecordSpec = {
  name: 'waybill',
  table: 'waybills',
  message: 'CEB505',
  element: 'Logistics',
  key: ['logisticsCode', 'logisticsNo'],
  fields: [
    guid,
    appType,
    appTime,
    appStatus,
    cMax('logisticsCode', 18),
    cMax('logisticsName', 100),
    cMax('logisticsNo', 32),
    dec('freight'),
    dec('insuredFee'),
    c('currency', 3),
    dec('grossWeight'),
    int('packNo', 9),
    cMax('goodsInfo', 200),
    cMax('ebcCode', 18, false),
    cMax('ebcName', 100, false),
    cMax('ebcTelephone', 50, false),
    note(),
  ],
};

export const LIST: RecordSpec = {
  name: 'list',
  table: 'lists',
  message: 'CEB603',
  element: 'InventoryHead',
  entity: 'Inventory',
  lines: 'list_line',
  key: ['agentCode', 'copNo'],
  fields: [
    guid,
    appType,
    appTime,
    appStatus,
    c('customsCode', 4),
    cMax('ebpCode', 18),
    cMax('ebpName', 100),
    cMax('orderNo', 60),
    cMax('logisticsCode', 18),
    cMax('logisticsName', 100),
    cMax('logisticsNo', 32),
    cMax('copNo', 30),
    c('preNo', 18, false),
    cMax('invtNo', 20, false),
    c('ieFlag', 1, true, { allowed: ['E'] }),
    c('portCode', 4),
    date('ieDate'),
    c('statisticsFlag', 1, true, { allowed: STATISTICS_FLAGS }),
    cMax('agentCode', 18),
    cMax('agentName', 100),
    cMax('ebcCode', 18),
    cMax('ebcName', 100),
    cMax('ownerCode', 18),
    cMax('ownerName', 100),
    cMax('iacCode', 18, false),
    cMax('iacName', 100, false),
    cMax('emsNo', 30, false),
    c('tradeMode', 4, true, { allowed: TRADE_MODES }),
    c('trafMode', 1),
    cMax('trafName', 100, false),
    cMax('voyageNo', 32, false),
    cMax('billNo', 37, false),
    cMax('totalPackageNo', 37, false),
    cMax('loctNo', 10, false),
    cMax('licenseNo', 19, false),
    c('country', 3),
    { name: 'POD', type: 'string', required: true, minLength: 3, maxLength: 4 },
    dec('freight'),
    c('fCurrency', 3),
    c('fFlag', 1, true, { fixed: '3' }),
    dec('insuredFee'),
    c('iCurrency', 3),
    c('iFlag', 1, true, { fixed: '3' }),
    c('wrapType', 1),
    int('packNo', 9),
    dec('grossWeight'),
    dec('netWeight'),
    note(),
  ],
};

export const LIST_LINE: RecordSpec = {
  name: 'list_line',
  table: 'list_lines',
  message: 'CEB603',
  element: 'InventoryList',
  parent: 'list',
  key: ['agentCode', 'copNo', 'gnum'],
  fields: [
    int('gnum', 5),
    cMax('itemNo', 20),
    cMax('itemRecordNo', 30, false),
    cMax('itemName', 250, false),
    c('gcode', 10),
    cMax('gname', 250),
    cMax('gmodel', 250),
    cMax('barCode', 50),
    c('country', 3),
    c('currency', 3),
    dec('qty'),
    dec('qty1'),
    dec('qty2', false),
    c('unit', 3),
    c('unit1', 3),
    cMax('unit2', 3, false),
    dec('price'),
    dec('totalPrice'),
    note(),
  ],
};

export const CANCEL: RecordSpec = {
  name: 'cancel',
  table: 'cancels',
  message: 'CEB605',
  element: 'InvtCancel',
  key: ['agentCode', 'copNo'],
  fields: [
    guid,
    appType,
    appTime,
    appStatus,
    c('customsCode', 4),
    cMax('copNo', 30),
    c('preNo', 18, false),
    cMax('invtNo', 20),
    cMax('reason', 1000),
    cMax('agentCode', 18),
    cMax('agentName', 100),
    cMax('ebcCode', 18),
    cMax('ebcName', 100),
    note(),
  ],
};

export const RETURN: RecordSpec = {
  name: 'return',
  table: 'returns',
  message: 'CEB213',
  element: 'InvtRefundHead',
  entity: 'InvtRefund',
  lines: 'return_line',
  key: ['agentCode', 'coElNo'],
  fields: [
    guid,
    appType,
    appTime,
    appStatus,
    c('customsCode', 4),
    cMax('loctNo', 10, false),
    cMax('ebpCode', 18),
    cMax('ebpName', 100),
    cMax('ebcCode', 18),
    cMax('ebcName', 100),
    cMax('logisticsNo', 80),
    cMax('logisticsCode', 18),
    cMax('logisticsName', 100),
    cMax('coElNo', 30),
    cMax('preNo', 18, false),
    cMax('invtNo', 20),
    // CEB-REFERENCE §2.9: the return's tradeMode is disputed (9610 vs 9661); accept any 4 characters.
    c('tradeMode', 4, false),
    cMax('agentCode', 18),
    cMax('agentName', 100),
    cMax('billNo', 37),
    cMax('ieFlag', 1),
    cMax('trafMode', 1),
    cMax('trafName', 100),
    cMax('portCode', 4),
    cMax('reason', 500),
    cMax('country', 3),
    cMax('voyageNo', 32),
    note(500),
  ],
};

export const RETURN_LINE: RecordSpec = {
  name: 'return_line',
  table: 'return_lines',
  message: 'CEB213',
  element: 'InvtRefundList',
  parent: 'return',
  key: ['agentCode', 'coElNo', 'gnum'],
  fields: [
    int('gnum', 4),
    cMax('gcode', 10),
    cMax('gname', 250),
    cMax('gmodel', 250),
    dec('qty'),
    dec('qty1'),
    c('unit', 3),
    c('unit1', 3),
    dec('qty2', false),
    c('unit2', 3, false),
    note(500),
  ],
};

export const RECORD_SPECS: readonly RecordSpec[] = [
  ORDER,
  ORDER_LINE,
  RECEIPT,
  WAYBILL,
  LIST,
  LIST_LINE,
  CANCEL,
  RETURN,
  RETURN_LINE,
];

export function recordSpec(name: RecordTypeName): RecordSpec {
  const spec = RECORD_SPECS.find((s) => s.name === name);
  if (!spec) throw new Error(`unknown record type ${name}`);
  return spec;
}

/** Fields a line record carries from its head so that a tabular line row names its head. */
export function parentKeyFields(spec: RecordSpec): readonly string[] {
  return spec.parent ? spec.key.filter((k) => k !== 'gnum') : [];
}

/**
 * The columns of a tabular file (CSV/Parquet) of this record type: for heads, the CEB fields; for
 * lines, the head's business key, then `headGuid` (the `guid` of the head version the line belongs
 * to, optional: without it a line belongs to the latest head of its key), then the line's fields.
 */
export function tabularColumns(spec: RecordSpec): readonly string[] {
  if (!spec.parent) return spec.fields.map((f) => f.name);
  return [...parentKeyFields(spec), HEAD_GUID, ...spec.fields.map((f) => f.name)];
}

export const HEAD_GUID = 'headGuid';

/** The CEB root element of each message this pipeline reads, and the record its entities hold. */
export const MESSAGE_ROOTS: Readonly<Record<string, RecordTypeName>> = {
  CEB303Message: 'order',
  CEB403Message: 'receipt',
  CEB505Message: 'waybill',
  CEB603Message: 'list',
  CEB605Message: 'cancel',
  CEB213Message: 'return',
};

export const CEB_NAMESPACE = 'http://www.chinaport.gov.cn/ceb';

/** CEB field name → snake_case column name (`copNo` → `cop_no`, `POD` → `pod`). */
export function snakeCase(name: string): string {
  if (name === name.toUpperCase()) return name.toLowerCase();
  return name.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`);
}
