/**
 * Loads Arrow record batches (from `BatchBuilder.finish()`) into the DuckDB staging tables.
 *
 * `@duckdb/node-api` has no Arrow import, so the batch's buffers are copied into raw DuckDB data
 * chunks and handed to an appender: fixed-width columns are copied whole (INTEGER, DATE and the
 * 128-bit DECIMAL(19,5) have the same layout in both), validity bitmaps byte for byte, timestamps
 * are scaled from seconds to microseconds, booleans unpacked to bytes, and strings are written as
 * DuckDB `string_t`s into one buffer copied per chunk (see `fillStrings`): a handful of native
 * calls per column and chunk, none per value. No value becomes a JS object on the way, and
 * decimals never pass through a float.
 */
import bindings from '@duckdb/node-bindings';
import {
  BOOLEAN,
  DATE,
  DECIMAL,
  DuckDBDataChunk,
  DuckDBVector,
  INTEGER,
  TIMESTAMP,
  VARCHAR,
  type DuckDBAppender,
  type DuckDBType,
} from '@duckdb/node-api';
import type { Data, Table } from 'apache-arrow';
import { readBatch } from '../ingest/batch.js';
import type { RecordSpec } from '../spec/fields.js';
import { stagingColumns, stagingTable, type Column, type ColumnType } from '../spec/schema.js';
import { dbError, RowAppender, type Db } from './duck.js';

const DUCK_TYPE: Readonly<Record<ColumnType, DuckDBType>> = {
  string: VARCHAR,
  decimal: DECIMAL(19, 5),
  integer: INTEGER,
  timestamp: TIMESTAMP,
  date: DATE,
  boolean: BOOLEAN,
};

/** Rows per DuckDB data chunk (STANDARD_VECTOR_SIZE). */
const CHUNK = DuckDBVector.standardSize();
const TWO_32 = 4294967296;
/** Largest |seconds| whose microseconds are still an exact double. */
const SAFE_SECONDS = Math.floor(Number.MAX_SAFE_INTEGER / 1e6);
/** Longest string DuckDB keeps inline in its 16-byte `string_t`. */
const INLINE = 12;

/** Scratch buffers, reused for every chunk (the main thread loads one batch at a time). */
const stringSlots = new Uint8Array(CHUNK * 16);
const scratch = {
  strings: stringSlots,
  stringWords: new Int32Array(stringSlots.buffer),
  micros: new Int32Array(CHUNK * 2),
  bools: new Uint8Array(CHUNK),
  validity: new Uint8Array(CHUNK / 8),
};

interface Plan {
  readonly columns: readonly Column[];
  readonly chunk: DuckDBDataChunk;
}
const plans = new Map<string, Plan>();

function plan(spec: RecordSpec): Plan {
  let p = plans.get(spec.name);
  if (!p) {
    const columns = stagingColumns(spec);
    p = { columns, chunk: DuckDBDataChunk.create(columns.map((c) => DUCK_TYPE[c.type])) };
    plans.set(spec.name, p);
  }
  return p;
}

/**
 * Appends the rows of one IPC batch to `stagingTable(spec)` (which the caller created with
 * `stagingDDL(spec)`); returns the number of rows appended.
 *
 * Outside a transaction every call commits on its own, which costs more than the append itself:
 * wrap a day's batches in `db.transaction(...)` (measured 2.5–4.5× faster, bench/load.ts).
 * Concurrent calls are safe: from the appender's creation on, a call runs synchronously.
 */
export async function appendBatch(db: Db, spec: RecordSpec, ipc: Uint8Array): Promise<number> {
  // a loader for one batch: its appender is closed (flushed, or cleared after an error) before returning
  const loader = new StagingLoader(db);
  let n: number;
  try {
    n = await loader.append(spec, ipc);
  } catch (e) {
    loader.close(); // after an error: discards, throws nothing of its own
    throw e;
  }
  loader.close();
  return n;
}

/** The rows of a checked batch into an open appender, one data chunk at a time. */
function appendTable(appender: DuckDBAppender, spec: RecordSpec, table: Table): void {
  const { columns, chunk } = plan(spec);
  for (const batch of table.batches) {
    const data = columns.map((_, i) => batch.data.children[i]!);
    for (let from = 0; from < batch.numRows; from += CHUNK) {
      const n = Math.min(CHUNK, batch.numRows - from);
      chunk.reset();
      for (let i = 0; i < columns.length; i++) {
        fillVector(bindings.data_chunk_get_vector(chunk.chunk, i), columns[i]!.type, data[i]!, from, n);
      }
      chunk.rowCount = n;
      appender.appendDataChunk(chunk);
    }
  }
}

/**
 * appendBatch (and appendRows) for a whole ingest: one appender per table, kept open across
 * batches (a day's XML arrives as thousands of small per-file batches, and opening and closing an
 * appender for each cost ~2.4 ms, most of the main thread's time: 19 of 47 s on a 100,000-list
 * day). The rows reach their tables at `flush()` (and whenever DuckDB's appender buffer fills):
 * flush before anything reads or deletes them, and `close()` before the transaction ends. After an
 * error the loader must not be used again; `close()` then discards what it holds.
 */
export class StagingLoader {
  private readonly batches = new Map<string, DuckDBAppender>();
  private readonly plain = new Map<string, RowAppender>();
  private failed = false;

  constructor(private readonly db: Db) {}

  /** appendBatch into `stagingTable(spec)`. */
  async append(spec: RecordSpec, ipc: Uint8Array): Promise<number> {
    if (this.failed) throw new Error('StagingLoader: used after an error');
    const table = readBatch(ipc);
    checkSchema(spec, table, plan(spec).columns);
    if (table.numRows === 0) return 0;
    const target = stagingTable(spec);
    let appender = this.batches.get(target);
    if (!appender) {
      try {
        appender = await this.db.connection.createAppender(target);
      } catch (e) {
        this.failed = true;
        throw dbError(e, `append to ${target}`);
      }
      this.batches.set(target, appender);
    }
    try {
      appendTable(appender, spec, table);
    } catch (e) {
      this.failed = true;
      throw dbError(e, `append ${table.numRows} rows to ${target}`);
    }
    return table.numRows;
  }

  /** appendRows into `table` (its column types as appendRows takes them). */
  async appendRows(table: string, rows: readonly (readonly (string | number | boolean | null)[])[]): Promise<void> {
    if (this.failed) throw new Error('StagingLoader: used after an error');
    if (rows.length === 0) return;
    let appender = this.plain.get(table);
    if (!appender) {
      appender = await RowAppender.open(this.db, table);
      this.plain.set(table, appender);
    }
    try {
      appender.append(rows);
    } catch (e) {
      this.failed = true;
      throw e;
    }
  }

  /** Writes every row appended so far into its table. */
  flush(): void {
    try {
      for (const a of this.batches.values()) a.flushSync();
      for (const a of this.plain.values()) a.flush();
    } catch (e) {
      this.failed = true;
      throw dbError(e, 'flush the appended rows');
    }
  }

  /** Flushes (unless an error came first) and closes every appender. */
  close(): void {
    const closes = [
      ...[...this.batches.values()].map((a) => () => {
        if (this.failed) a.clear();
        a.closeSync();
      }),
      ...[...this.plain.values()].map((a) => () => a.close()),
    ];
    this.batches.clear();
    this.plain.clear();
    let first: unknown = null;
    for (const close of closes) {
      try {
        close();
      } catch (e) {
        first ??= e;
      }
    }
    if (first !== null && !this.failed) throw dbError(first, 'close the staging appenders');
  }
}

function checkSchema(spec: RecordSpec, table: Table, columns: readonly Column[]): void {
  const fields = table.schema.fields;
  const ok = fields.length === columns.length && fields.every((f, i) => f.name === columns[i]!.column);
  if (!ok) {
    throw new TypeError(
      `batch columns (${fields.map((f) => f.name).join(', ')}) are not the staging columns of ${spec.name}; build batches with BatchBuilder for the same spec`,
    );
  }
  // NOT NULL columns (provenance): refuse the batch here, with the column named, before DuckDB does.
  for (const batch of table.batches) {
    columns.forEach((c, i) => {
      const nulls = batch.data.children[i]!.nullCount;
      if (!c.nullable && nulls > 0) throw new TypeError(`batch for ${stagingTable(spec)} has ${nulls} NULL ${c.column} value(s); the column is NOT NULL`);
    });
  }
}

/** Copies rows from..from+n-1 of one Arrow column into a DuckDB vector (rows 0..n-1). */
function fillVector(vec: bindings.Vector, type: ColumnType, d: Data, from: number, n: number): void {
  const at = d.offset + from;
  if (d.nullCount > 0) copyValidity(vec, d.nullBitmap!, at, n);
  switch (type) {
    case 'string':
      fillStrings(vec, d.valueOffsets as Int32Array, d.values as Uint8Array, d.nullCount > 0 ? d.nullBitmap! : null, at, n);
      return;
    case 'integer':
    case 'date': {
      const v = d.values as Int32Array;
      bindings.copy_data_to_vector(vec, 0, v.buffer as ArrayBuffer, v.byteOffset + 4 * at, 4 * n);
      return;
    }
    case 'decimal': {
      const v = d.values as Uint32Array;
      bindings.copy_data_to_vector(vec, 0, v.buffer as ArrayBuffer, v.byteOffset + 16 * at, 16 * n);
      return;
    }
    case 'timestamp': {
      const v = d.values as BigInt64Array;
      fillMicros(vec, new Int32Array(v.buffer, v.byteOffset + 8 * at, 2 * n), n);
      return;
    }
    case 'boolean': {
      const bits = d.values as Uint8Array;
      const out = scratch.bools;
      for (let i = 0; i < n; i++) {
        const b = at + i;
        out[i] = (bits[b >>> 3]! >>> (b & 7)) & 1;
      }
      bindings.copy_data_to_vector(vec, 0, out.buffer, 0, n);
      return;
    }
  }
}

/** DuckDB's validity mask has Arrow's bit order; copy the bytes when the slice is byte-aligned. */
function copyValidity(vec: bindings.Vector, bitmap: Uint8Array, at: number, n: number): void {
  bindings.vector_ensure_validity_writable(vec);
  const bytes = (n + 7) >>> 3;
  if ((at & 7) === 0) {
    bindings.copy_data_to_vector_validity(vec, 0, bitmap.buffer as ArrayBuffer, bitmap.byteOffset + (at >>> 3), bytes);
    return;
  }
  const out = scratch.validity;
  out.fill(0, 0, bytes);
  for (let i = 0; i < n; i++) {
    const b = at + i;
    if ((bitmap[b >>> 3]! >>> (b & 7)) & 1) out[i >>> 3] = out[i >>> 3]! | (1 << (i & 7));
  }
  bindings.copy_data_to_vector_validity(vec, 0, out.buffer, 0, bytes);
}

/** TIMESTAMP is int64 microseconds; the batch holds int64 seconds (as little-endian Int32 pairs). */
function fillMicros(vec: bindings.Vector, seconds: Int32Array, n: number): void {
  const out = scratch.micros;
  for (let i = 0; i < n; i++) {
    const s = seconds[2 * i + 1]! * TWO_32 + (seconds[2 * i]! >>> 0);
    if (s <= SAFE_SECONDS && s >= -SAFE_SECONDS) {
      const us = s * 1e6;
      const hi = Math.floor(us / TWO_32);
      out[2 * i] = (us - hi * TWO_32) | 0;
      out[2 * i + 1] = hi;
    } else {
      const us = BigInt(s) * 1_000_000n;
      out[2 * i] = Number(BigInt.asIntN(32, us));
      out[2 * i + 1] = Number(BigInt.asIntN(32, us >> 32n));
    }
  }
  bindings.copy_data_to_vector(vec, 0, out.buffer, 0, 8 * n);
}

/**
 * Writes DuckDB `string_t`s (the C API's `duckdb_string_t`, 16 bytes): {uint32 length, 12 inline
 * bytes, zero-padded} for strings of at most 12 bytes; {uint32 length, 4-byte prefix, pointer} for
 * longer ones. Rather than one native call per long string, the chunk's whole UTF-8 byte range is
 * assigned once as one string (DuckDB copies it into the vector's string heap and checks it is
 * UTF-8), its heap address is read back, and every long string points into that copy. The vector
 * owns the heap until the chunk is reset, and the appender copies the strings it is given.
 */
function fillStrings(vec: bindings.Vector, offsets: Int32Array, bytes: Uint8Array, bitmap: Uint8Array | null, at: number, n: number): void {
  const buf = scratch.strings;
  const words = scratch.stringWords;
  const base = offsets[at]!;
  let heapLo = 0;
  let heapHi = 0;
  let heapKnown = false;
  buf.fill(0, 0, 16 * n);
  for (let i = 0; i < n; i++) {
    const r = at + i;
    if (bitmap !== null && ((bitmap[r >>> 3]! >>> (r & 7)) & 1) === 0) continue;
    const s = offsets[r]!;
    const len = offsets[r + 1]! - s;
    const o = 16 * i;
    words[4 * i] = len;
    if (len <= INLINE) {
      for (let k = 0; k < len; k++) buf[o + 4 + k] = bytes[s + k]!;
      continue;
    }
    if (!heapKnown) {
      bindings.vector_assign_string_element_len(vec, 0, bytes.subarray(base, offsets[at + n]!));
      const t = new Int32Array(bindings.vector_get_data(vec, 16).slice().buffer);
      heapLo = t[2]! >>> 0;
      heapHi = t[3]!;
      heapKnown = true;
    }
    buf[o + 4] = bytes[s]!;
    buf[o + 5] = bytes[s + 1]!;
    buf[o + 6] = bytes[s + 2]!;
    buf[o + 7] = bytes[s + 3]!;
    const lo = heapLo + (s - base);
    words[4 * i + 2] = lo | 0;
    words[4 * i + 3] = lo >= TWO_32 ? heapHi + 1 : heapHi;
  }
  bindings.copy_data_to_vector(vec, 0, buf.buffer, 0, 16 * n);
}
