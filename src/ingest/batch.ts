/**
 * Columnar batches of staging rows, built in the parse workers: typed rows in, one Arrow IPC stream
 * (schema + one record batch) out, as a transferable buffer. The Arrow buffers are filled directly
 * (validity bitmaps, UTF-8 bytes with Int32 offsets, Int32 / 64-bit / 128-bit words); no per-value
 * Arrow builders, which cost 10–15× more (DESIGN.md, measured facts).
 */
import { makeData, RecordBatch, Struct, Table, tableFromIPC, tableToIPC, type Data, type DataType, type Schema } from 'apache-arrow';
import { arrowSchema, stagingColumns, type ColumnType } from '../spec/schema.js';
import type { RecordSpec } from '../spec/fields.js';
import type { TypedValue } from '../spec/validate.js';

/** One staging row, keyed by staging column name (snake_case, see `stagingColumns`); a missing key is NULL. */
export type StagingRow = Record<string, TypedValue | boolean>;

const DEFAULT_CAPACITY = 8192;
const TWO_32 = 4294967296;
/** Decimal(19,5) holds at most 19 digits: |scaled value| < 10^19. */
const DECIMAL_LIMIT = 10n ** 19n;

const K_STRING = 0;
const K_DECIMAL = 1;
const K_INTEGER = 2;
const K_TIMESTAMP = 3;
const K_DATE = 4;
const K_BOOLEAN = 5;

const KIND: Readonly<Record<ColumnType, number>> = {
  string: K_STRING,
  decimal: K_DECIMAL,
  integer: K_INTEGER,
  timestamp: K_TIMESTAMP,
  date: K_DATE,
  boolean: K_BOOLEAN,
};

/** 32-bit words per value of the fixed-width buffer (strings: none, booleans: bit-packed). */
const WORDS = [0, 4, 1, 2, 1, 0];

const encoder = new TextEncoder();

/**
 * The buffers of one column. Every column has the same shape (one hidden class) so that the
 * append loop stays monomorphic; a kind uses only the buffers it needs.
 */
class ColumnBuffers {
  nulls = 0;
  /** Validity bitmap, bit i set = row i is valid (Arrow's LSB order). */
  valid: Uint8Array;
  /** Fixed-width values as 32-bit words; Utf8 offsets (capacity + 1). */
  words: Int32Array;
  /** UTF-8 bytes (strings) or bit-packed values (booleans). */
  bytes: Uint8Array;
  /** Next free byte in `bytes` (strings). */
  pos = 0;

  constructor(
    readonly name: string,
    readonly kind: number,
    readonly type: DataType,
    capacity: number,
  ) {
    this.valid = new Uint8Array(bitBytes(capacity));
    this.words = new Int32Array(kind === K_STRING ? capacity + 1 : WORDS[kind]! * capacity);
    this.bytes = new Uint8Array(kind === K_STRING ? capacity * 16 : kind === K_BOOLEAN ? bitBytes(capacity) : 0);
  }

  grow(capacity: number): void {
    this.valid = grown(this.valid, bitBytes(capacity));
    if (this.kind === K_STRING) {
      const w = new Int32Array(capacity + 1);
      w.set(this.words);
      this.words = w;
    } else if (this.kind === K_BOOLEAN) {
      this.bytes = grown(this.bytes, bitBytes(capacity));
    } else {
      const w = new Int32Array(WORDS[this.kind]! * capacity);
      w.set(this.words);
      this.words = w;
    }
  }

  /** Clears what rows 0..length-1 left behind. */
  reset(length: number): void {
    this.valid.fill(0, 0, bitBytes(length));
    if (this.kind === K_BOOLEAN) this.bytes.fill(0, 0, bitBytes(length));
    this.nulls = 0;
    this.pos = 0;
  }

  toData(length: number): Data {
    const nullBitmap = this.nulls > 0 ? this.valid.subarray(0, bitBytes(length)) : undefined;
    const base = { type: this.type, length, nullCount: this.nulls, nullBitmap };
    switch (this.kind) {
      case K_STRING:
        return makeData({ ...base, valueOffsets: this.words.subarray(0, length + 1), data: this.bytes.subarray(0, this.pos) } as never);
      case K_BOOLEAN:
        return makeData({ ...base, data: this.bytes.subarray(0, bitBytes(length)) } as never);
      case K_DECIMAL:
        return makeData({ ...base, data: new Uint32Array(this.words.buffer, 0, 4 * length) } as never);
      case K_TIMESTAMP:
        return makeData({ ...base, data: new BigInt64Array(this.words.buffer, 0, length) } as never);
      default:
        return makeData({ ...base, data: this.words.subarray(0, length) } as never);
    }
  }
}

function bitBytes(n: number): number {
  return (n + 7) >>> 3;
}

function grown(a: Uint8Array, size: number): Uint8Array {
  const b = new Uint8Array(size);
  b.set(a);
  return b;
}

function typeError(col: ColumnBuffers, expected: string, v: unknown): TypeError {
  const shown = typeof v === 'string' ? JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v) : String(v);
  return new TypeError(`staging column ${col.name}: expected ${expected}, got ${typeof v} ${shown}`);
}

/** Accumulates staging rows of one record type column-wise; `finish()` hands them out as Arrow IPC. */
export class BatchBuilder {
  readonly schema: Schema;
  private readonly columns: ColumnBuffers[];
  private capacity: number;
  private rows = 0;

  constructor(
    readonly spec: RecordSpec,
    capacity: number = DEFAULT_CAPACITY,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`batch capacity must be a positive integer, got ${capacity}`);
    this.schema = arrowSchema(spec);
    this.capacity = capacity;
    const cols = stagingColumns(spec);
    this.columns = this.schema.fields.map((f, i) => new ColumnBuffers(f.name, KIND[cols[i]!.type], f.type, capacity));
  }

  get length(): number {
    return this.rows;
  }

  /** One row keyed by staging column name (a missing key is NULL). */
  append(row: StagingRow): void {
    const values = new Array<unknown>(this.columns.length);
    for (let k = 0; k < this.columns.length; k++) values[k] = row[this.columns[k]!.name];
    this.appendValues(values);
  }

  /** One row as values in staging column order (`stagingColumns(spec)`; records.ts `StagingValues`). */
  appendValues(values: readonly unknown[]): void {
    const i = this.rows;
    if (i === this.capacity) {
      this.capacity *= 2;
      for (const c of this.columns) c.grow(this.capacity);
    }
    const bit = 1 << (i & 7);
    const byte = i >>> 3;
    const cols = this.columns;
    for (let k = 0; k < cols.length; k++) {
      const c = cols[k]!;
      const v = values[k];
      if (v === null || v === undefined) {
        c.nulls++;
        switch (c.kind) {
          case K_STRING:
            c.words[i + 1] = c.pos;
            break;
          case K_DECIMAL:
            c.words.fill(0, 4 * i, 4 * i + 4);
            break;
          case K_TIMESTAMP:
            c.words[2 * i] = 0;
            c.words[2 * i + 1] = 0;
            break;
          case K_INTEGER:
          case K_DATE:
            c.words[i] = 0;
            break;
        }
        continue;
      }
      switch (c.kind) {
        case K_STRING: {
          if (typeof v !== 'string') throw typeError(c, 'a string', v);
          c.pos = writeUtf8(c, v);
          c.words[i + 1] = c.pos;
          break;
        }
        case K_DECIMAL: {
          if (typeof v !== 'bigint') throw typeError(c, 'a scaled decimal (bigint)', v);
          writeInt128(c, c.words, 4 * i, v);
          break;
        }
        case K_INTEGER:
        case K_DATE: {
          if (typeof v !== 'number' || (v | 0) !== v) throw typeError(c, 'a 32-bit integer', v);
          c.words[i] = v;
          break;
        }
        case K_TIMESTAMP: {
          if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw typeError(c, 'whole seconds since epoch', v);
          const hi = Math.floor(v / TWO_32);
          c.words[2 * i] = (v - hi * TWO_32) | 0;
          c.words[2 * i + 1] = hi;
          break;
        }
        case K_BOOLEAN: {
          if (typeof v !== 'boolean') throw typeError(c, 'a boolean', v);
          if (v) c.bytes[byte] = c.bytes[byte]! | bit;
          break;
        }
      }
      c.valid[byte] = c.valid[byte]! | bit;
    }
    this.rows = i + 1;
  }

  /**
   * Drops the rows appended after the first `length` (a file of a group that turned out malformed:
   * parse-file.ts). Clears what those rows left in the buffers, as `reset` does.
   */
  truncate(length: number): void {
    if (!Number.isInteger(length) || length < 0 || length > this.rows) throw new RangeError(`truncate to ${length} of ${this.rows} rows`);
    if (length === this.rows) return;
    for (const c of this.columns) {
      // the dropped rows' nulls leave the count; their validity and boolean bits go back to 0
      for (let i = length; i < this.rows; i++) {
        const byte = i >>> 3;
        const bit = 1 << (i & 7);
        if ((c.valid[byte]! & bit) === 0) c.nulls--;
        c.valid[byte] = c.valid[byte]! & ~bit;
        if (c.kind === K_BOOLEAN) c.bytes[byte] = c.bytes[byte]! & ~bit;
      }
      if (c.kind === K_STRING) c.pos = c.words[length]!;
    }
    this.rows = length;
  }

  /** Serialises the rows so far as one Arrow IPC stream (schema + one record batch) and resets. */
  finish(): Uint8Array {
    const n = this.rows;
    const children = this.columns.map((c) => c.toData(n));
    const struct = makeData({ type: new Struct(this.schema.fields), length: n, nullCount: 0, children });
    const ipc = tableToIPC(new Table([new RecordBatch(this.schema, struct)]), 'stream');
    for (const c of this.columns) c.reset(n);
    this.rows = 0;
    // Transferable: the bytes must own their whole ArrayBuffer.
    return ipc.byteOffset === 0 && ipc.byteLength === ipc.buffer.byteLength ? ipc : ipc.slice();
  }
}

/** Appends the UTF-8 bytes of `s` to the column's byte buffer; returns the new end position. */
function writeUtf8(c: ColumnBuffers, s: string): number {
  const start = c.pos;
  const n = s.length;
  if (start + 3 * n > c.bytes.length) c.bytes = grown(c.bytes, Math.max(2 * c.bytes.length, start + 3 * n));
  const out = c.bytes;
  // ASCII, the common case, byte by byte: cheaper than encodeInto for short values.
  let p = start;
  for (let k = 0; k < n; k++) {
    const u = s.charCodeAt(k);
    if (u >= 0x80) return start + encoder.encodeInto(s, out.subarray(start)).written;
    out[p++] = u;
  }
  return p;
}

/** Writes a scaled decimal as a 128-bit two's-complement little-endian integer (4 Int32 words). */
function writeInt128(c: ColumnBuffers, w: Int32Array, at: number, v: bigint): void {
  const n = Number(v);
  if (Number.isSafeInteger(n)) {
    const hi = Math.floor(n / TWO_32);
    w[at] = (n - hi * TWO_32) | 0;
    w[at + 1] = hi;
    const ext = n < 0 ? -1 : 0;
    w[at + 2] = ext;
    w[at + 3] = ext;
    return;
  }
  if (v >= DECIMAL_LIMIT || v <= -DECIMAL_LIMIT) throw new RangeError(`staging column ${c.name}: ${v} does not fit DECIMAL(19,5)`);
  w[at] = Number(BigInt.asIntN(32, v));
  w[at + 1] = Number(BigInt.asIntN(32, v >> 32n));
  w[at + 2] = Number(BigInt.asIntN(32, v >> 64n));
  w[at + 3] = Number(BigInt.asIntN(32, v >> 96n));
}

/** Reads a batch written by `BatchBuilder.finish()` (zero-copy views into `ipc`). */
export function readBatch(ipc: Uint8Array): Table {
  return tableFromIPC(ipc);
}
