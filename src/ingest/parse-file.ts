/**
 * The work of one parse task, run inside a pool worker: one file in, Arrow batches per record
 * type and quarantine rows out (streamed, see below; what is left is packed into one transferable
 * buffer with the counts at the end). A malformed file yields no
 * batch, only its MALFORMED_MESSAGE row (RULES.md §3: quarantined whole).
 *
 * Streaming: when the pool gives the task a `port`, finished batches and quarantine rows leave
 * through it while the file is read (`StreamedPart`), and reading waits while the loader is
 * `STREAM_WINDOW` parts behind, so that a worker holds a bounded amount of a file whatever its size
 * (a 1 GB message held ~480 MB of batches, packed into a second copy, before this). The pool stages
 * them as they come and drops them again when the file ends malformed or the reader starts a second
 * attempt (`attempt`). Without a port (tests, benchmarks) everything comes back in the ParseResult.
 *
 * Groups: small files may come as one task (`parseGroup`, grouped by pool.ts): one set of builders
 * for all of them, each file's ParseResult as alone, the batches once for the group.
 */
import type { MessagePort } from 'node:worker_threads';
import { recordSpec, tabularColumns, type RecordTypeName } from '../spec/fields.js';
import { BatchBuilder } from './batch.js';
import type { FileKind } from './discover.js';
import { entityValues, RECORD_VALID, tabularValues, type QuarantineRow, type StagingValues } from './records.js';
import { readTabular } from './tabular.js';
import { DEFAULT_XML_CAPS, readCebXml, type XmlCaps, type XmlParserKind } from './xml.js';

export interface ParseTask {
  path: string;
  name: string;
  kind: FileKind;
  /** Rows per Arrow batch. */
  batchRows?: number;
  caps?: XmlCaps;
  /** XML files: the entity reader, `fast` (default) or the fast-xml-parser `reference`. */
  parser?: XmlParserKind;
  /** Tabular files: the record type named by the file. */
  recordType?: RecordTypeName | null;
  /** File size, for the time limit. */
  bytes?: number;
  /** Set by the pool (transferred to the worker): where finished parts are streamed (see the header). */
  port?: MessagePort;
}

/**
 * What a worker streams through `ParseTask.port` while it reads a file. `attempt` counts the
 * reader's passes over the file: the parts of an earlier pass are void once a later one starts.
 */
export type StreamedPart =
  | { attempt: number; kind: 'batch'; type: RecordTypeName; rows: number; ipc: Uint8Array }
  | { attempt: number; kind: 'quarantine'; rows: QuarantineRow[] };

/** Parts a worker may have sent that the loader has not acknowledged yet; reading waits beyond it. */
export const STREAM_WINDOW = 4;
/** Quarantine rows a worker keeps before it streams them. */
const STREAM_QUARANTINE_ROWS = 4096;

export interface Counts {
  /** rows read */
  read: number;
  /** rows that failed validation (staged with record_valid = false) */
  invalid: number;
}

export interface ParseResult {
  file: string;
  status: 'ok' | 'skipped' | 'malformed';
  detail: string;
  messageGuid: string | null;
  recordType: RecordTypeName | null;
  counts: Partial<Record<RecordTypeName, Counts>>;
  batches: { type: RecordTypeName; rows: number; ipc: Uint8Array }[];
  quarantine: QuarantineRow[];
  /** The worker thread that parsed it (for the logs). */
  worker?: number;
  /**
   * Streaming only: how many parts were sent through the port before this result (all attempts),
   * and the attempt this result belongs to. Parts of other attempts, and every part of a file
   * whose status is not 'ok', are to be dropped.
   */
  streamed?: number;
  attempt?: number;
}

/** The worker's side of a task's port: sends parts, counts the acknowledgements, paces the reader. */
class PartSender {
  sent = 0;
  private unacked = 0;
  private wake: (() => void) | null = null;
  private readonly onAck = (): void => {
    this.unacked--;
    const w = this.wake;
    this.wake = null;
    w?.();
  };

  constructor(private readonly port: MessagePort) {
    port.on('message', this.onAck);
  }

  send(part: StreamedPart): void {
    this.sent++;
    this.unacked++;
    this.port.postMessage(part, part.kind === 'batch' ? [part.ipc.buffer as ArrayBuffer] : []);
  }

  /** Resolves once the loader is less than STREAM_WINDOW parts behind. */
  async pace(): Promise<void> {
    while (this.unacked >= STREAM_WINDOW) await new Promise<void>((resolve) => (this.wake = resolve));
  }

  close(): void {
    this.port.off('message', this.onAck);
    this.port.unref();
  }
}

/**
 * Where the rows of one file attempt go. Alone (`shared` unset) a collector has its own builders and
 * hands a batch out whenever one reaches `batchRows`. In a group (parseGroup) the builders are the
 * group's: nothing is handed out in the middle of a file, so that a file that ends malformed can be
 * taken back out whole (`BatchBuilder.truncate` to the marks taken when the file began).
 */
class Collector {
  private readonly builders: Map<RecordTypeName, BatchBuilder>;
  readonly batches: ParseResult['batches'] = [];
  readonly counts: ParseResult['counts'] = {};
  quarantine: QuarantineRow[] = [];
  constructor(
    private readonly batchRows: number,
    /** Where finished batches and quarantine rows go while reading (streaming), else kept here. */
    private readonly sender: PartSender | null = null,
    private readonly attempt = 1,
    shared?: Map<RecordTypeName, BatchBuilder>,
  ) {
    this.builders = shared ?? new Map();
    this.grouped = shared !== undefined;
  }
  private readonly grouped: boolean;

  findings(rows: readonly QuarantineRow[]): void {
    for (const r of rows) this.quarantine.push(r);
    if (this.sender && this.quarantine.length >= STREAM_QUARANTINE_ROWS) {
      this.sender.send({ attempt: this.attempt, kind: 'quarantine', rows: this.quarantine });
      this.quarantine = [];
    }
  }

  add(type: RecordTypeName, values: StagingValues): void {
    let b = this.builders.get(type);
    if (!b) {
      b = new BatchBuilder(recordSpec(type), Math.min(this.batchRows, 512));
      this.builders.set(type, b);
    }
    b.appendValues(values);
    const c = (this.counts[type] ??= { read: 0, invalid: 0 });
    c.read++;
    if (values[RECORD_VALID] === false) c.invalid++;
    if (!this.grouped && b.length >= this.batchRows) {
      const rows = b.length;
      const ipc = b.finish();
      if (this.sender) this.sender.send({ attempt: this.attempt, kind: 'batch', type, rows, ipc });
      else this.batches.push({ type, rows, ipc });
    }
  }

  flush(): void {
    if (this.grouped) return; // the group hands its builders out between files
    for (const [type, b] of this.builders) if (b.length > 0) this.batches.push({ type, rows: b.length, ipc: b.finish() });
  }
}

function malformed(task: ParseTask, detail: string, messageGuid: string | null, recordType: RecordTypeName | null): ParseResult {
  return {
    file: task.name,
    status: 'malformed',
    detail,
    messageGuid,
    recordType,
    counts: {},
    batches: [],
    quarantine: [{ file: task.name, messageGuid, recordIndex: null, recordType, businessKey: null, field: null, code: 'MALFORMED_MESSAGE', detail }],
  };
}

export async function parseFile(task: ParseTask): Promise<ParseResult> {
  const sender = task.port ? new PartSender(task.port) : null;
  let attempt = 0;
  try {
    const r = await parseWith(task, (batchRows) => new Collector(batchRows, sender, ++attempt), sender);
    return sender ? { ...r, streamed: sender.sent, attempt } : r;
  } finally {
    sender?.close();
  }
}

/** What a worker returns for a group of files: each file's result (no batches) and the group's batches. */
export interface GroupResult {
  results: ParseResult[];
  batches: ParseResult['batches'];
}

/**
 * Several small files as one task (pool.ts groups them): their rows share one set of builders, so
 * a day of thousands of small messages travels as a few large batches instead of thousands of small
 * ones (each batch costs a fixed amount to serialise, read and append: measured as a third of the
 * main thread's work on a 100,000-list XML day). A file that ends malformed or skipped is taken back
 * out of the builders whole; its result says so, as it would alone. No streaming: the files are small.
 */
export async function parseGroup(tasks: readonly ParseTask[]): Promise<GroupResult> {
  const builders = new Map<RecordTypeName, BatchBuilder>();
  const batches: GroupResult['batches'] = [];
  const results: ParseResult[] = [];
  const batchRows = tasks[0]?.batchRows ?? 16_384;
  for (const task of tasks) {
    const marks = new Map([...builders].map(([t, b]) => [t, b.length] as const));
    // every attempt at the file starts from the marks (a second pass drops what the first added)
    const rollback = () => {
      for (const [t, b] of builders) b.truncate(marks.get(t) ?? 0);
    };
    const r = await parseWith(task, (n) => {
      rollback();
      return new Collector(n, null, 1, builders);
    }, null);
    if (r.status !== 'ok') rollback();
    results.push(r);
    for (const [type, b] of builders) if (b.length >= batchRows) batches.push({ type, rows: b.length, ipc: b.finish() });
  }
  for (const [type, b] of builders) if (b.length > 0) batches.push({ type, rows: b.length, ipc: b.finish() });
  return { results, batches };
}

async function parseWith(task: ParseTask, collector: (batchRows: number) => Collector, sender: PartSender | null): Promise<ParseResult> {
  const pace = sender ? () => sender.pace() : undefined;
  if (task.kind === 'xml') {
    const read = async (type: RecordTypeName | null) => {
      const c = collector(task.batchRows ?? 16_384);
      const outcome = await readCebXml(
        task.path,
        (e) => {
          if (type === null) return; // the root was not sniffed: a second pass reads the entities
          const r = entityValues(type, e.head, e.lines, { file: task.name, messageGuid: e.messageGuid, recordIndex: e.index });
          c.add(type, r.head);
          const lineType = recordSpec(type).lines;
          if (lineType) for (const l of r.lines) c.add(lineType, l);
          c.findings(r.quarantine);
        },
        task.caps ?? DEFAULT_XML_CAPS,
        task.parser ?? 'fast',
        pace,
      );
      return { c, outcome };
    };
    // discover sniffed the root; the reader is the judge of it
    let { c, outcome } = await read(task.recordType ?? null);
    if (outcome.status === 'ok' && outcome.recordType !== task.recordType) ({ c, outcome } = await read(outcome.recordType));
    if (outcome.status === 'malformed') return malformed(task, outcome.detail, outcome.messageGuid, task.recordType ?? null);
    if (outcome.status === 'skipped')
      return { file: task.name, status: 'skipped', detail: `${outcome.root} is not read by the matching`, messageGuid: outcome.messageGuid, recordType: null, counts: {}, batches: [], quarantine: [] };
    c.flush();
    return { file: task.name, status: 'ok', detail: outcome.root, messageGuid: outcome.messageGuid, recordType: outcome.recordType, counts: c.counts, batches: c.batches, quarantine: c.quarantine };
  }
  const col = collector(task.batchRows ?? 16_384);
  const type = task.recordType;
  if (!type) return malformed(task, 'the file name names no record type', null, null);
  const res = await readTabular(
    task.path,
    task.kind,
    tabularColumns(recordSpec(type)),
    recordSpec(type),
    (raw, index) => {
      const r = tabularValues(type, raw, { file: task.name, messageGuid: null, recordIndex: index });
      col.add(type, r.values);
      col.findings(r.quarantine);
    },
    pace,
  );
  if (res.status === 'malformed') return malformed(task, res.detail, null, type);
  col.flush();
  return { file: task.name, status: 'ok', detail: res.detail, messageGuid: null, recordType: type, counts: col.counts, batches: col.batches, quarantine: col.quarantine };
}

// ---- one transferable buffer: [u32 header length][header JSON][ipc bytes ...] --------------------

export function packResult(r: ParseResult): ArrayBuffer {
  return pack(r);
}

export function unpackResult(buf: ArrayBuffer): ParseResult {
  return unpack<ParseResult>(buf);
}

export function packGroup(g: GroupResult): ArrayBuffer {
  return pack(g);
}

export function unpackGroup(buf: ArrayBuffer): GroupResult {
  return unpack<GroupResult>(buf);
}

/**
 * Every batch starts at a multiple of 8 bytes in the packed buffer: Arrow's reader copies a message
 * body that is not 8-byte aligned (`readMessageBody`), which cost the main thread ~0.4 s per 100,000
 * lists while the bodies sat wherever the header's length left them.
 */
const align8 = (n: number): number => (n + 7) & ~7;

function pack(r: { batches: ParseResult['batches'] }): ArrayBuffer {
  const { batches, ...rest } = r;
  const header = Buffer.from(JSON.stringify({ ...rest, batches: batches.map((b) => ({ type: b.type, rows: b.rows, bytes: b.ipc.byteLength })) }), 'utf8');
  const total = batches.reduce((at, b) => align8(at) + b.ipc.byteLength, 4 + header.length);
  const out = new Uint8Array(new ArrayBuffer(total));
  new DataView(out.buffer).setUint32(0, header.length, true);
  out.set(header, 4);
  let at = 4 + header.length;
  for (const b of batches) {
    at = align8(at);
    out.set(b.ipc, at);
    at += b.ipc.byteLength;
  }
  return out.buffer;
}

function unpack<T extends { batches: ParseResult['batches'] }>(buf: ArrayBuffer): T {
  const bytes = new Uint8Array(buf);
  const len = new DataView(buf).getUint32(0, true);
  const header = JSON.parse(Buffer.from(bytes.subarray(4, 4 + len)).toString('utf8')) as Omit<T, 'batches'> & { batches: { type: RecordTypeName; rows: number; bytes: number }[] };
  let at = 4 + len;
  const batches = header.batches.map((b) => {
    at = align8(at);
    const ipc = bytes.subarray(at, at + b.bytes);
    at += b.bytes;
    return { type: b.type, rows: b.rows, ipc };
  });
  return { ...header, batches } as unknown as T;
}
