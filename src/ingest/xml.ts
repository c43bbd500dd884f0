/**
 * ingest/xml: the XML reader of the ingest stage (RULES.md §1, §3). One CEB message file in, its
 * business records out, streaming with bounded memory and safe on hostile input.
 *
 * Layers (a small file is read whole in layer 1; everything after it streams):
 *  1. bytes: a path or a byte stream, gunzipped when it starts with 1f 8b; the file cap applies to
 *     the bytes read and to the decompressed bytes. A path of up to 8 MiB is read whole with one
 *     synchronous read (and, gzipped, inflated in one call up to 64 MiB: see SMALL); a larger one
 *     is streamed (`fs.createReadStream`, 64 KiB chunks), as is anything the one-call inflate
 *     rejects. Either way the text goes on in 64 KiB pieces.
 *  2. text: a streaming fatal UTF-8 `TextDecoder` (a leading BOM is dropped).
 *  3. a small XML tokenizer that checks the well-formedness of the whole document (tag matching,
 *     attributes, references, comments, CDATA, PIs, the XML declaration; no DOCTYPE, no entity other
 *     than the five predefined ones and character references, nothing after the root) and tracks
 *     namespace scopes, so that any prefix bound to the CEB namespace is recognised.
 *  4. each business entity (`Order`, `Receipts`, …) becomes a `RawEntity`, handed to `onEntity` at
 *     once. Two interchangeable paths, chosen by `parser`:
 *     - `fast` (the default, `ceb-fast.ts`): a second implementation of the tokenizer below that
 *       builds the entity directly from its tokens;
 *     - `reference`: the entity is cut out as a small rewritten XML text (local names, no
 *       attributes, references already decoded, text in CDATA) and read with fast-xml-parser.
 *     Both give the same entities and the same outcome, messages included
 *     (test/parser-diff.test.ts); the reference costs about 15× the CPU (bench/parse.ts).
 *
 * Beyond a small file read whole, only the buffered part of the document (one chunk, one unfinished
 * token, one entity) is ever in memory. Every problem of the input is an outcome
 * `{ status: 'malformed', detail }`; nothing thrown here comes from the input (an exception thrown
 * by `onEntity` is passed through unchanged).
 */
import { closeSync, createReadStream, fstatSync, openSync, readSync } from 'node:fs';
import { Readable, pipeline } from 'node:stream';
import { createGunzip, gunzipSync, type Gunzip } from 'node:zlib';
import { XMLParser } from 'fast-xml-parser';
import { CEB_NAMESPACE, MESSAGE_ROOTS, recordSpec, type RecordTypeName } from '../spec/fields.js';
import { FastCebReader, type FastReaderErrors } from './ceb-fast.js';

// ---- public API ------------------------------------------------------------------------------------

/**
 * Safety caps. "Bytes" of entity and text are measured on the decoded text in UTF-16 code units
 * (never more than its UTF-8 bytes); the file cap counts bytes read and, for gzip, bytes inflated.
 */
/** fast-xml-parser as the reference reader uses it (also what the benchmarks time it with). */
export const FXP_OPTIONS = {
  processEntities: true,
  htmlEntities: false,
  parseTagValue: false,
  parseAttributeValue: false,
  ignoreAttributes: true,
  trimValues: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  jPath: false,
} as const;

export interface XmlCaps {
  /** Largest file, in bytes (raw and, for gzip, decompressed). */
  maxFileBytes: number;
  /** Largest business entity (from its start tag to its end tag). */
  maxEntityBytes: number;
  /** Deepest element nesting; the root is depth 1. */
  maxDepth: number;
  /** Most attributes (namespace declarations included) on one element. */
  maxAttributes: number;
  /** Longest text node (text and CDATA between two element tags); also bounds one tag, comment or PI. */
  maxTextBytes: number;
}

export const DEFAULT_XML_CAPS: XmlCaps = Object.freeze({
  maxFileBytes: 4 * 1024 ** 3,
  maxEntityBytes: 8 * 1024 ** 2,
  maxDepth: 64,
  maxAttributes: 64,
  maxTextBytes: 1024 ** 2,
});

export interface RawEntity {
  /** 1-based position of the business entity in the message. */
  index: number;
  /** The root's `guid` attribute (known before the first entity). */
  messageGuid: string | null;
  /** The head's fields (for single-element entities such as `Receipts`: the entity's fields). */
  head: Record<string, string>;
  /** The line elements (`OrderList`, `InventoryList`, `InvtRefundList`) in document order. */
  lines: Record<string, string>[];
}

/** Which entity reader: the fast one (default) or the fast-xml-parser reference. */
export type XmlParserKind = 'fast' | 'reference';

export const XML_PARSER_KINDS: readonly XmlParserKind[] = ['fast', 'reference'];

export type XmlFileOutcome =
  | { status: 'ok'; root: string; recordType: RecordTypeName; messageGuid: string | null; entities: number }
  | { status: 'skipped'; root: string; messageGuid: string | null }
  | { status: 'malformed'; root: string | null; messageGuid: string | null; detail: string };

/**
 * Reads one CEB message. `onEntity` is called once per business entity, in document order, as soon
 * as the entity has been read; if the outcome is `malformed`, the caller must discard the entities
 * already delivered (the file is quarantined whole). `parser` picks the entity reader (layer 4
 * above). `pace`, when given, is awaited before each piece of input is read: the caller's
 * back-pressure (the parse worker waits there for the loader). Resolves with the outcome; rejects
 * only on programmer errors (bad caps, an unknown parser) or when `onEntity` throws (that error is
 * passed through).
 */
export async function readCebXml(
  source: string | Readable,
  onEntity: (e: RawEntity) => void,
  caps: XmlCaps = DEFAULT_XML_CAPS,
  parser: XmlParserKind = 'fast',
  pace?: () => Promise<void>,
): Promise<XmlFileOutcome> {
  checkCaps(caps);
  if (parser !== 'fast' && parser !== 'reference') throw new RangeError(`readCebXml: unknown parser ${String(parser)}`);
  const reader = parser === 'reference' ? new CebReader(caps, onEntity) : new FastCebReader(caps, onEntity, FAST_ERRORS);
  let input: Readable | undefined;
  let gunzip: Gunzip | undefined;
  let whole: Uint8Array | null = null;
  try {
    whole = typeof source === 'string' ? readSmall(source) : null;
    let raw: AsyncIterator<unknown> | Iterator<unknown>;
    if (whole) raw = pieces(whole);
    else {
      input = typeof source === 'string' ? createReadStream(source, { highWaterMark: CHUNK }) : source;
      raw = input[Symbol.asyncIterator]() as AsyncIterator<unknown>;
    }
    let rawBytes = 0;
    const nextRaw = async (): Promise<Uint8Array | null> => {
      if (pace) await pace();
      let r: IteratorResult<unknown>;
      try {
        r = await raw.next();
      } catch (e) {
        throw new Malformed(`read error: ${errorText(e)}`);
      }
      if (r.done) return null;
      const chunk = toBytes(r.value);
      rawBytes += chunk.length;
      if (rawBytes > caps.maxFileBytes) throw new Malformed(`file cap: file larger than ${caps.maxFileBytes} bytes`);
      return chunk;
    };

    // Peek at the first two bytes to tell gzip from plain text.
    let first: Uint8Array | null = await nextRaw();
    while (first && first.length < 2) {
      const more = await nextRaw();
      if (!more) break;
      first = concatBytes(first, more);
    }
    let next: () => Promise<Uint8Array | null>;
    const gzip = first !== null && first.length >= 2 && first[0] === 0x1f && first[1] === 0x8b;
    const inflatedWhole = gzip && whole ? inflateSmall(whole, caps) : null;
    if (inflatedWhole) {
      const out = pieces(inflatedWhole);
      next = async () => {
        if (pace) await pace();
        const r = out.next();
        return r.done ? null : r.value;
      };
    } else if (gzip && first) {
      const head = first;
      async function* compressed(): AsyncGenerator<Uint8Array> {
        yield head;
        for (let c = await nextRaw(); c; c = await nextRaw()) yield c;
      }
      gunzip = createGunzip({ chunkSize: CHUNK });
      pipeline(Readable.from(compressed(), { objectMode: false }), gunzip, () => {});
      const inflated = gunzip[Symbol.asyncIterator]() as AsyncIterator<unknown>;
      let inflatedBytes = 0;
      next = async () => {
        let r: IteratorResult<unknown>;
        try {
          r = await inflated.next();
        } catch (e) {
          if (e instanceof Malformed) throw e;
          throw new Malformed(`invalid gzip data: ${errorText(e)}`);
        }
        if (r.done) return null;
        const chunk = toBytes(r.value);
        inflatedBytes += chunk.length;
        if (inflatedBytes > caps.maxFileBytes) {
          throw new Malformed(`file cap: decompressed file larger than ${caps.maxFileBytes} bytes`);
        }
        return chunk;
      };
    } else {
      let pending = first;
      next = async () => {
        if (pending) {
          const c = pending;
          pending = null;
          return c;
        }
        return nextRaw();
      };
    }

    const decoder = new TextDecoder('utf-8', { fatal: true });
    let offset = 0;
    let tail: Uint8Array = new Uint8Array(0);
    for (let chunk = await next(); chunk; chunk = await next()) {
      let text: string;
      try {
        text = decoder.decode(chunk, { stream: true });
      } catch {
        const at = invalidUtf8Offset(tail, chunk);
        throw new Malformed(`invalid UTF-8 ${at !== null ? `at byte ${offset + at}` : `in bytes ${offset}..${offset + chunk.length}`}`);
      }
      tail = chunk.length >= 3 ? chunk.subarray(chunk.length - 3) : concatBytes(tail, chunk).slice(-3);
      offset += chunk.length;
      if (text.length > 0) reader.feed(text);
    }
    let last: string;
    try {
      last = decoder.decode();
    } catch {
      throw new Malformed(`invalid UTF-8: truncated multi-byte sequence at byte ${offset}`);
    }
    if (last.length > 0) reader.feed(last);
    reader.end();
    return reader.outcome();
  } catch (e) {
    if (e instanceof Malformed) return reader.malformed(e.message);
    if (e instanceof CallbackError) throw e.error;
    throw e;
  } finally {
    if (gunzip) gunzip.destroy(); // an inflate may still be reading `whole`: not given back
    else giveBack(whole);
    if (input && !input.destroyed) input.destroy();
  }
}

// ---- internals -------------------------------------------------------------------------------------

const CHUNK = 64 * 1024;
/**
 * Files up to SMALL bytes are read whole with one synchronous read, and gzip ones inflated in one
 * synchronous call (up to INFLATE_MAX bytes). A parse worker has nothing else to do while it waits,
 * and each asynchronous 64 KiB read or inflate step is a round trip through libuv's thread pool:
 * on a day of ~140 KB files the worker sat idle ~25 % of its time waiting for them.
 */
const SMALL = 8 * 1024 * 1024;
const INFLATE_MAX = 64 * 1024 * 1024;

/**
 * One reusable buffer for whole-file reads, so that a worker reading thousands of files does not
 * leave gigabytes of dead buffers for the collector. It is free again once the file's text has been
 * decoded (readCebXml releases it in its `finally`); a read that finds it taken gets its own.
 */
let spare: Buffer | null = null;
let lent: Buffer | null = null;

function readBuffer(size: number): Buffer {
  let b = spare;
  spare = null;
  if (!b || b.length < size) b = Buffer.allocUnsafe(Math.max(size, 256 * 1024));
  lent = b;
  return b;
}

function giveBack(b: Uint8Array | null): void {
  if (b && lent && b.buffer === lent.buffer) {
    spare = lent;
    lent = null;
  }
}

/**
 * The bytes of a regular file of up to SMALL bytes, or null when the stream path must read it (a
 * larger file, anything but a regular file, or any error: the stream path reports it as it always
 * did).
 */
function readSmall(path: string): Uint8Array | null {
  let fd: number;
  let buf: Buffer | null = null;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > SMALL) return null;
    const size = st.size;
    buf = readBuffer(size);
    let n = 0;
    while (n < size) {
      const r = readSync(fd, buf, n, size - n, n);
      if (r === 0) break;
      n += r;
    }
    return buf.subarray(0, n);
  } catch {
    giveBack(buf);
    return null;
  } finally {
    closeSync(fd);
  }
}

/**
 * The inflated bytes of a small gzip file read whole, or null when the stream path must take it:
 * invalid or truncated data (the stream reports the error after the text before it, as it always
 * did), a file over the caps, or more than INFLATE_MAX inflated (a bomb is never held whole).
 */
function inflateSmall(gz: Uint8Array, caps: XmlCaps): Uint8Array | null {
  if (gz.length > caps.maxFileBytes) return null;
  try {
    const out = gunzipSync(gz, { maxOutputLength: INFLATE_MAX });
    return out.length <= caps.maxFileBytes ? out : null;
  } catch {
    return null;
  }
}

function* pieces(b: Uint8Array): Generator<Uint8Array> {
  for (let i = 0; i < b.length; i += CHUNK) yield b.subarray(i, Math.min(b.length, i + CHUNK));
}

/** A problem of the input; becomes a `malformed` outcome. */
class Malformed extends Error {}

/** Wraps an exception thrown by the caller's `onEntity`, so that it is passed through untouched. */
class CallbackError extends Error {
  constructor(readonly error: unknown) {
    super('onEntity threw');
  }
}

/** How the fast reader raises the two kinds of error above. */
const FAST_ERRORS: FastReaderErrors = {
  malformed: (detail) => new Malformed(detail),
  callback: (error) => new CallbackError(error),
};

function checkCaps(caps: XmlCaps): void {
  for (const k of ['maxFileBytes', 'maxEntityBytes', 'maxDepth', 'maxAttributes', 'maxTextBytes'] as const) {
    const v = caps[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 1) throw new RangeError(`XmlCaps.${k} must be a positive number`);
  }
}

function errorText(e: unknown): string {
  if (e instanceof Error) return (e as NodeJS.ErrnoException).code ? `${(e as NodeJS.ErrnoException).code}: ${e.message}` : e.message;
  return String(e);
}

function toBytes(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  throw new TypeError('readCebXml: the source stream must yield bytes');
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/**
 * Offset from the start of `chunk` of the first invalid UTF-8 sequence — negative when the sequence
 * starts in `tail`, the end of the previous chunk (a lead byte whose continuation is missing at the
 * start of this one) — or null when it cannot be placed (it runs past the end).
 */
function invalidUtf8Offset(tail: Uint8Array, chunk: Uint8Array): number | null {
  const b = concatBytes(tail, chunk);
  let i = 0;
  // Resynchronise: skip continuation bytes at the very start (they belong to an earlier sequence).
  while (i < tail.length && (b[i]! & 0xc0) === 0x80) i++;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    } else return i - tail.length;
    for (let k = 1; k <= need; k++) {
      if (i + k >= b.length) return null;
      const d = b[i + k]!;
      if (k === 1 ? d < lo || d > hi : (d & 0xc0) !== 0x80) return i - tail.length;
    }
    i += need + 1;
  }
  return null;
}

// ---- characters and names --------------------------------------------------------------------------

const LT = 0x3c; // <
const GT = 0x3e; // >
const SLASH = 0x2f;
const QMARK = 0x3f;
const BANG = 0x21;
const QUOT = 0x22;
const APOS = 0x27;
const EQ = 0x3d;
const RSQB = 0x5d; // ]
const CR = 0x0d;
const HASH = 0x23;

const NAME_START =
  'A-Z_a-z\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u02FF\\u0370-\\u037D\\u037F-\\u1FFF\\u200C-\\u200D' +
  '\\u2070-\\u218F\\u2C00-\\u2FEF\\u3001-\\uD7FF\\uF900-\\uFDCF\\uFDF0-\\uFFFD\\u{10000}-\\u{EFFFF}';
const NAME_CHAR = `${NAME_START}\\-.0-9\\u00B7\\u0300-\\u036F\\u203F-\\u2040`;
/** An XML Name (colons allowed; QName rules are checked separately), sticky. */
const NAME_Y = new RegExp(`[:${NAME_START}][:${NAME_CHAR}]*`, 'uy');
const NAME_FULL = new RegExp(`^[:${NAME_START}][:${NAME_CHAR}]*$`, 'u');
const NCNAME_START = new RegExp(`^[${NAME_START}]`, 'u');
const END_TAG = new RegExp(`^</([:${NAME_START}][:${NAME_CHAR}]*)[ \\t\\r\\n]*>$`, 'u');
const WS_Y = /[ \t\r\n]*/y;
const WS_ONLY = /^[ \t\r\n]*$/;
const NON_WS = /[^ \t\r\n]/;
/** Characters XML 1.0 does not allow anywhere (lone surrogates cannot come out of the decoder). */
const INVALID_CHAR = /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/;
const XML_DECL =
  /^<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(["'])1\.[0-9]+\1(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(["'])([A-Za-z][A-Za-z0-9._-]*)\2)?(?:[ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(["'])(?:yes|no)\4)?[ \t\r\n]*\?>$/;
const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';
const CEB_ROOT = /^CEB\d{3}Message$/;
/** Longest entity or character reference we wait for across a chunk boundary. */
const MAX_REF = 64;
/** CEB elements directly under the root that carry no business record (may repeat). */
const SKIPPED_CHILDREN = new Set(['BaseTransfer', 'BaseSubscribe', 'ExtendMessage']);

function isXmlChar(cp: number): boolean {
  return (
    cp === 0x9 ||
    cp === 0xa ||
    cp === 0xd ||
    (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff)
  );
}

function show(s: string, max = 40): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

// ---- the tokenizer ---------------------------------------------------------------------------------

type Scope = Record<string, string>;

const enum Kind {
  /** The root of a message this pipeline reads: children are entities or skipped. */
  RootRead,
  /** The root of another CEB message: everything inside is only checked. */
  RootSkip,
  /** A skipped subtree (other namespace, BaseTransfer, …). */
  Skip,
  /** A business entity being captured. */
  Entity,
  /** A CEB element inside a captured entity. */
  InEntity,
}

interface Frame {
  readonly qname: string;
  readonly local: string;
  readonly scope: Scope;
  readonly kind: Kind;
}

interface EntityShape {
  /** The entity element (`Order`, `Receipts`, …). */
  entity: string;
  /** The head element when the entity wraps head + lines (`OrderHead`), else null. */
  head: string | null;
  /** The line element (`OrderList`), else null. */
  line: string | null;
}

/** FXP renames tag names through this prefix so that no element name is special to it. */
const TAG_PREFIX = '$';

class CebReader {
  private buf = '';
  private pos = 0;
  /** Absolute offset (in decoded characters) of `buf[0]`. */
  private base = 0;
  /** Newlines in the text already dropped from `buf`, and the absolute offset after the last one. */
  private linesDropped = 0;
  private lineStartAbs = 0;

  // resumable scan of an unfinished token at `pos`
  private scan = 0;
  private quote = 0;
  private eqs = 0;

  private readonly stack: Frame[] = [];
  private rootSeen = false;
  private rootClosed = false;
  private rootLocal: string | null = null;
  private guid: string | null = null;
  private recordType: RecordTypeName | null = null;
  private shape: EntityShape | null = null;
  /** Characters of text in the current text node (reset at element tags). */
  private textLen = 0;

  private entityStart = -1;
  private cap: string[] = [];
  private entities = 0;
  private readonly fxp: XMLParser;
  private readonly rootScope: Scope;
  /** Element names already checked, split into prefix and local name. */
  private readonly qnames = new Map<string, [string, string]>();

  constructor(
    private readonly caps: XmlCaps,
    private readonly onEntity: (e: RawEntity) => void,
  ) {
    this.fxp = new XMLParser({
      ...FXP_OPTIONS,
      maxNestedTags: caps.maxDepth + 8,
      transformTagName: (name: string) => TAG_PREFIX + name,
    });
    const scope: Scope = Object.create(null) as Scope;
    scope['xml'] = XML_NS;
    this.rootScope = scope;
  }

  // ---- outcomes ----

  outcome(): XmlFileOutcome {
    const root = this.rootLocal ?? '';
    if (this.recordType === null) return { status: 'skipped', root, messageGuid: this.guid };
    if (this.entities === 0) return this.malformed(`no business record: ${root} holds no ${this.shape?.entity ?? 'record'}`);
    return { status: 'ok', root, recordType: this.recordType, messageGuid: this.guid, entities: this.entities };
  }

  malformed(detail: string): XmlFileOutcome {
    return { status: 'malformed', root: this.rootLocal, messageGuid: this.guid, detail };
  }

  private fail(detail: string, at?: number): never {
    if (at === undefined) throw new Malformed(detail);
    throw new Malformed(`${detail} (${this.where(at)})`);
  }

  /** "line L, column C" of position `at` of `buf` (1-based, counted in characters). */
  private where(at: number): string {
    const buf = this.buf;
    const p = Math.min(Math.max(at, 0), buf.length);
    let line = this.linesDropped + 1;
    let lineStart = this.lineStartAbs;
    for (let i = buf.indexOf('\n'); i >= 0 && i < p; i = buf.indexOf('\n', i + 1)) {
      line++;
      lineStart = this.base + i + 1;
    }
    return `line ${line}, column ${this.base + p - lineStart + 1}`;
  }

  // ---- feeding ----

  feed(text: string): void {
    let buf: string;
    let startOfNew: number;
    if (this.pos >= this.buf.length) {
      this.drop(this.buf.length);
      buf = text;
      startOfNew = 0;
    } else {
      this.drop(this.pos);
      const rest = this.buf.slice(this.pos);
      buf = rest + text;
      startOfNew = rest.length;
    }
    this.buf = buf;
    this.pos = 0;
    const bad = INVALID_CHAR.exec(text);
    if (bad) {
      const cp = bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
      this.fail(`invalid character U+${cp}`, startOfNew + bad.index);
    }
    this.run(false);
  }

  end(): void {
    this.run(true);
    if (!this.rootSeen) this.fail(this.base + this.buf.length === 0 ? 'empty file: no root element' : 'no root element');
    const top = this.stack[this.stack.length - 1];
    if (top) {
      this.fail(`truncated: document ends inside <${top.qname}> (${this.stack.length} element(s) not closed)`, this.buf.length);
    }
  }

  /** Forgets `buf[0..n)`, keeping the line count. */
  private drop(n: number): void {
    const buf = this.buf;
    let last = -1;
    for (let i = buf.indexOf('\n'); i >= 0 && i < n; i = buf.indexOf('\n', i + 1)) {
      this.linesDropped++;
      last = i;
    }
    if (last >= 0) this.lineStartAbs = this.base + last + 1;
    this.base += n;
  }

  private run(final: boolean): void {
    const buf = this.buf;
    const len = buf.length;
    let pos = this.pos;
    while (pos < len) {
      if (buf.charCodeAt(pos) !== LT) {
        const lt = buf.indexOf('<', pos);
        if (lt >= 0) {
          this.text(pos, lt);
          pos = lt;
        } else {
          const cut = final ? len : safeCut(buf, pos);
          if (cut > pos) this.text(pos, cut);
          pos = cut;
          break;
        }
      }
      const next = this.markup(pos, final);
      if (next < 0) break;
      pos = next;
    }
    this.pos = pos;
  }

  /** Waits for more input for the unfinished token at `pos` (or fails when there is none). */
  private more(pos: number, final: boolean, what: string): number {
    if (final) this.fail(`truncated: document ends inside ${what}`, pos);
    if (this.buf.length - pos > this.caps.maxTextBytes + 1024) {
      this.fail(`text cap: ${what} longer than ${this.caps.maxTextBytes} characters`, pos);
    }
    if (this.entityStart >= 0) this.entityCap(this.buf.length);
    return -1;
  }

  private markup(pos: number, final: boolean): number {
    const buf = this.buf;
    if (pos + 1 >= buf.length) return this.more(pos, final, 'markup');
    const c1 = buf.charCodeAt(pos + 1);
    if (c1 === SLASH) return this.endTag(pos, final);
    if (c1 === QMARK) return this.pi(pos, final);
    if (c1 === BANG) {
      if (buf.startsWith('<!--', pos)) return this.comment(pos, final);
      if (buf.startsWith('<![CDATA[', pos)) return this.cdata(pos, final);
      if (buf.startsWith('<!DOCTYPE', pos)) this.fail('DOCTYPE not allowed', pos);
      const avail = buf.slice(pos, pos + 9);
      if (avail.length < 9 && ['<!--', '<![CDATA[', '<!DOCTYPE'].some((p) => p.startsWith(avail))) {
        return this.more(pos, final, 'markup');
      }
      this.fail(`markup declaration not allowed: ${JSON.stringify(show(avail, 12))}`, pos);
    }
    return this.startTag(pos, final);
  }

  // ---- tokens ----

  private startTag(pos: number, final: boolean): number {
    const buf = this.buf;
    const len = buf.length;
    let i = pos + (this.scan || 1);
    let q = this.quote;
    let eq = this.eqs;
    for (; i < len; i++) {
      const ch = buf.charCodeAt(i);
      if (q !== 0) {
        if (ch === q) q = 0;
        else if (ch === LT) this.fail(`'<' in an attribute value of <${this.tagName(pos)}>`, i);
        continue;
      }
      if (ch === GT) break;
      if (ch === QUOT || ch === APOS) q = ch;
      else if (ch === EQ) {
        if (++eq > this.caps.maxAttributes) {
          this.fail(`attribute cap: more than ${this.caps.maxAttributes} attributes on <${this.tagName(pos)}>`, pos);
        }
      } else if (ch === LT) this.fail(`unclosed start tag <${this.tagName(pos)}`, pos);
    }
    if (i >= len) {
      this.scan = i - pos;
      this.quote = q;
      this.eqs = eq;
      return this.more(pos, final, `a start tag <${this.tagName(pos)}`);
    }
    this.scan = 0;
    this.quote = 0;
    this.eqs = 0;
    this.element(buf.slice(pos, i + 1), pos);
    return i + 1;
  }

  private tagName(pos: number): string {
    NAME_Y.lastIndex = pos + 1;
    const m = NAME_Y.exec(this.buf);
    return m ? show(m[0]) : '?';
  }

  private endTag(pos: number, final: boolean): number {
    const buf = this.buf;
    const top = this.stack[this.stack.length - 1];
    if (top) {
      // fast path: the end tag of the open element, without white space
      const k = pos + 2 + top.qname.length;
      if (buf.charCodeAt(k) === GT && buf.startsWith(top.qname, pos + 2)) {
        this.closeElement(top.qname, pos, k + 1);
        return k + 1;
      }
    }
    const k = buf.indexOf('>', pos + 2);
    if (k < 0) return this.more(pos, final, 'an end tag');
    const s = buf.slice(pos, k + 1);
    const m = END_TAG.exec(s);
    if (!m) this.fail(`malformed end tag ${JSON.stringify(show(s))}`, pos);
    this.closeElement(m[1]!, pos, k + 1);
    return k + 1;
  }

  private comment(pos: number, final: boolean): number {
    const buf = this.buf;
    const k = buf.indexOf('--', pos + Math.max(4, this.scan));
    if (k < 0 || k + 2 >= buf.length) {
      this.scan = k < 0 ? Math.max(4, buf.length - 1 - pos) : k - pos;
      return this.more(pos, final, 'a comment');
    }
    if (buf.charCodeAt(k + 2) !== GT) this.fail("'--' inside a comment", k);
    this.scan = 0;
    if (this.entityStart >= 0) this.entityCap(k + 3);
    return k + 3;
  }

  private cdata(pos: number, final: boolean): number {
    const buf = this.buf;
    const k = buf.indexOf(']]>', pos + Math.max(9, this.scan));
    if (k < 0) {
      this.scan = Math.max(9, buf.length - 2 - pos);
      return this.more(pos, final, 'a CDATA section');
    }
    this.scan = 0;
    const top = this.stack[this.stack.length - 1];
    if (!top) this.fail('CDATA section outside the root element', pos);
    this.textLen += k - pos - 9;
    if (this.textLen > this.caps.maxTextBytes) this.fail(`text cap: text node longer than ${this.caps.maxTextBytes} characters`, pos);
    if (this.entityStart >= 0) this.entityCap(k + 3);
    const content = buf.slice(pos + 9, k);
    if (top.kind === Kind.RootRead) {
      if (NON_WS.test(content)) this.fail(`unexpected text directly inside <${top.qname}>`, pos);
    } else if (top.kind === Kind.Entity || top.kind === Kind.InEntity) {
      this.capText(content.indexOf('\r') >= 0 ? content.replace(/\r\n?/g, '\n') : content);
    }
    return k + 3;
  }

  private pi(pos: number, final: boolean): number {
    const buf = this.buf;
    const k = buf.indexOf('?>', pos + Math.max(2, this.scan));
    if (k < 0) {
      this.scan = Math.max(2, buf.length - 1 - pos);
      return this.more(pos, final, 'a processing instruction');
    }
    this.scan = 0;
    NAME_Y.lastIndex = pos + 2;
    const m = NAME_Y.exec(buf);
    const target = m ? m[0] : '';
    const after = pos + 2 + target.length;
    if (!m || target.includes(':') || (after < k && !WS_ONLY.test(buf[after]!))) {
      this.fail('malformed processing instruction', pos);
    }
    if (target.toLowerCase() === 'xml') {
      if (target !== 'xml' || this.base + pos !== 0) this.fail('XML declaration not at the start of the document', pos);
      const decl = buf.slice(pos, k + 2);
      const d = XML_DECL.exec(decl);
      if (!d) this.fail(`malformed XML declaration ${JSON.stringify(show(decl, 80))}`, pos);
      const enc = d[3];
      if (enc !== undefined && !/^utf-?8$/i.test(enc)) this.fail(`unsupported encoding ${JSON.stringify(enc)} (only UTF-8)`, pos);
    }
    if (this.entityStart >= 0) this.entityCap(k + 2);
    return k + 2;
  }

  /** Character data `buf[a..b)` (a whole text node or a piece of one). */
  private text(a: number, b: number): void {
    const buf = this.buf;
    this.textLen += b - a;
    if (this.textLen > this.caps.maxTextBytes) this.fail(`text cap: text node longer than ${this.caps.maxTextBytes} characters`, a);
    if (this.entityStart >= 0) this.entityCap(b);
    const piece = buf.slice(a, b);
    const top = this.stack[this.stack.length - 1];
    if (!top) {
      const m = NON_WS.exec(piece);
      if (m) this.fail(this.rootClosed ? 'text after the root element' : 'text before the root element', a + m.index);
      return;
    }
    const bad = piece.indexOf(']]>');
    if (bad >= 0) this.fail("']]>' in text", a + bad);
    switch (top.kind) {
      case Kind.RootRead: {
        const m = NON_WS.exec(piece);
        if (m) this.fail(`unexpected text directly inside <${top.qname}>`, a + m.index);
        return;
      }
      case Kind.Entity:
      case Kind.InEntity: {
        // line ends are normalised before references are decoded (a &#13; stays a CR)
        const text = piece.indexOf('\r') >= 0 ? piece.replace(/\r\n?/g, '\n') : piece;
        this.capText(text.indexOf('&') >= 0 ? this.decode(text, a) : text);
        return;
      }
      default:
        if (piece.indexOf('&') >= 0) this.decode(piece, a);
    }
  }

  /** Decodes the references in `s` (found at `buf[at]`), failing on anything but the XML ones. */
  private decode(s: string, at: number): string {
    let out = '';
    let last = 0;
    for (let i = s.indexOf('&'); i >= 0; i = s.indexOf('&', last)) {
      const semi = s.indexOf(';', i + 1);
      if (semi < 0 || semi - i > MAX_REF) this.fail(`'&' not starting a reference: ${JSON.stringify(show(s.slice(i), 12))}`, at + i);
      const name = s.slice(i + 1, semi);
      let rep: string;
      if (name.charCodeAt(0) === HASH) {
        const hex = /^#x([0-9a-fA-F]{1,8})$/.exec(name);
        const dec = hex ? null : /^#([0-9]{1,10})$/.exec(name);
        const cp = hex ? parseInt(hex[1]!, 16) : dec ? parseInt(dec[1]!, 10) : -1;
        if (!isXmlChar(cp)) this.fail(`invalid character reference &${show(name, 12)};`, at + i);
        rep = String.fromCodePoint(cp);
      } else {
        switch (name) {
          case 'lt':
            rep = '<';
            break;
          case 'gt':
            rep = '>';
            break;
          case 'amp':
            rep = '&';
            break;
          case 'apos':
            rep = "'";
            break;
          case 'quot':
            rep = '"';
            break;
          default:
            if (NAME_FULL.test(name)) this.fail(`undefined entity &${show(name)};`, at + i);
            this.fail(`'&' not starting a reference: ${JSON.stringify(show(s.slice(i), 12))}`, at + i);
        }
      }
      out += s.slice(last, i) + rep;
      last = semi + 1;
    }
    return out + s.slice(last);
  }

  private entityCap(end: number): void {
    if (this.base + end - this.entityStart > this.caps.maxEntityBytes) {
      this.fail(`entity cap: <${this.shape?.entity ?? '?'}> #${this.entities + 1} larger than ${this.caps.maxEntityBytes} characters`);
    }
  }

  // ---- elements ----

  private element(tag: string, pos: number): void {
    let e = 1;
    for (; e < tag.length; e++) {
      const ch = tag.charCodeAt(e);
      if (ch === 0x20 || ch === 0x09 || ch === 0x0a || ch === 0x0d || ch === SLASH || ch === GT) break;
    }
    const qname = tag.slice(1, e);
    let split = this.qnames.get(qname);
    if (split === undefined) {
      if (!NAME_FULL.test(qname)) this.fail(`invalid element name in ${JSON.stringify(show(tag))}`, pos);
      split = this.splitQName(qname, pos);
      if (this.qnames.size < 4096) this.qnames.set(qname, split);
    }
    const depth = this.stack.length + 1;
    if (this.rootClosed) this.fail(`element <${show(qname)}> after the root element (a second root)`, pos);
    if (depth > this.caps.maxDepth) this.fail(`depth cap: elements nested deeper than ${this.caps.maxDepth}`, pos);
    this.textLen = 0;

    // attributes
    let i = e;
    let selfClose = false;
    let attrs: string[] | null = null; // name, value, name, value, …
    const end = tag.length - 1; // the '>'
    for (;;) {
      WS_Y.lastIndex = i;
      WS_Y.exec(tag);
      const j = WS_Y.lastIndex;
      const c = tag.charCodeAt(j);
      if (j === end) break;
      if (c === SLASH && j + 1 === end) {
        selfClose = true;
        break;
      }
      if (j === i) this.fail(`malformed start tag <${show(qname)}>: white space expected at ${JSON.stringify(show(tag.slice(j), 12))}`, pos);
      NAME_Y.lastIndex = j;
      const an = NAME_Y.exec(tag);
      if (!an) this.fail(`malformed attribute in <${show(qname)}> at ${JSON.stringify(show(tag.slice(j), 12))}`, pos);
      const aname = an[0];
      WS_Y.lastIndex = NAME_Y.lastIndex;
      WS_Y.exec(tag);
      let k = WS_Y.lastIndex;
      if (tag.charCodeAt(k) !== EQ) this.fail(`attribute ${show(aname)} of <${show(qname)}> has no value`, pos);
      WS_Y.lastIndex = k + 1;
      WS_Y.exec(tag);
      k = WS_Y.lastIndex;
      const qc = tag.charCodeAt(k);
      if (qc !== QUOT && qc !== APOS) this.fail(`attribute ${show(aname)} of <${show(qname)}> is not quoted`, pos);
      const close = tag.indexOf(qc === QUOT ? '"' : "'", k + 1);
      if (close < 0 || close >= end) this.fail(`attribute ${show(aname)} of <${show(qname)}> is not closed`, pos);
      const rawValue = tag.slice(k + 1, close);
      if (rawValue.indexOf('<') >= 0) this.fail(`'<' in an attribute value of <${show(qname)}>`, pos);
      attrs ??= [];
      for (let a = 0; a < attrs.length; a += 2) {
        if (attrs[a] === aname) this.fail(`duplicate attribute ${show(aname)} on <${show(qname)}>`, pos);
      }
      if (attrs.length / 2 >= this.caps.maxAttributes) {
        this.fail(`attribute cap: more than ${this.caps.maxAttributes} attributes on <${show(qname)}>`, pos);
      }
      const norm = rawValue.replace(/\r\n|[\t\n\r]/g, ' ');
      attrs.push(aname, norm.indexOf('&') >= 0 ? this.decode(norm, pos) : norm);
      i = close + 1;
    }

    // namespaces
    const parent = this.stack[this.stack.length - 1];
    let scope = parent ? parent.scope : this.rootScope;
    if (attrs) {
      let own: Scope | null = null;
      for (let a = 0; a < attrs.length; a += 2) {
        const an = attrs[a]!;
        if (an !== 'xmlns' && !an.startsWith('xmlns:')) continue;
        const prefix = an === 'xmlns' ? '' : an.slice(6);
        const uri = attrs[a + 1]!;
        if (prefix !== '' && !this.isNcName(prefix)) this.fail(`invalid namespace prefix in ${show(an)}`, pos);
        if (prefix === 'xmlns' || uri === XMLNS_NS) this.fail('the xmlns prefix and namespace cannot be declared', pos);
        if ((prefix === 'xml') !== (uri === XML_NS)) this.fail('the xml prefix is bound to its own namespace only', pos);
        if (prefix !== '' && uri === '') this.fail(`namespace prefix ${show(prefix)} bound to an empty name`, pos);
        own ??= Object.assign(Object.create(null) as Scope, scope);
        own[prefix] = uri;
      }
      if (own) scope = own;
      // prefixed attributes: bound prefixes, no duplicate expanded names
      let expanded: Set<string> | null = null;
      for (let a = 0; a < attrs.length; a += 2) {
        const an = attrs[a]!;
        if (an === 'xmlns' || an.startsWith('xmlns:')) continue;
        const colon = an.indexOf(':');
        if (colon < 0) continue;
        const [p, l] = this.splitQName(an, pos);
        const uri = scope[p];
        if (uri === undefined) this.fail(`unbound namespace prefix ${show(p)} on attribute ${show(an)}`, pos);
        expanded ??= new Set();
        const key = `{${uri}}${l}`;
        if (expanded.has(key)) this.fail(`duplicate attribute ${show(an)} on <${show(qname)}> (same namespace and local name)`, pos);
        expanded.add(key);
      }
    }
    const [prefix, local] = split;
    let ns: string | null;
    if (prefix === '') ns = scope[''] || null;
    else {
      const uri = scope[prefix];
      if (uri === undefined) this.fail(`unbound namespace prefix ${show(prefix)} on <${show(qname)}>`, pos);
      ns = uri;
    }

    // classification
    let kind: Kind;
    if (!parent) {
      kind = this.openRoot(qname, local, ns, attrs, pos);
    } else {
      switch (parent.kind) {
        case Kind.RootRead:
          if (ns === CEB_NAMESPACE && local === this.shape!.entity) {
            kind = Kind.Entity;
            this.entityStart = this.base + pos;
            this.cap = [`<${local}>`];
          } else if (ns !== CEB_NAMESPACE || SKIPPED_CHILDREN.has(local)) {
            kind = Kind.Skip;
          } else {
            this.fail(`unexpected element <${show(qname)}> in <${parent.qname}>`, pos);
          }
          break;
        case Kind.Entity:
        case Kind.InEntity:
          if (ns === CEB_NAMESPACE) {
            kind = Kind.InEntity;
            this.cap.push(`<${local}>`);
          } else kind = Kind.Skip;
          break;
        default:
          kind = Kind.Skip;
      }
    }
    if (this.entityStart >= 0) this.entityCap(pos + tag.length);
    const frame: Frame = { qname, local, scope, kind };
    if (selfClose) this.close(frame);
    else this.stack.push(frame);
  }

  private isNcName(s: string): boolean {
    return s.length > 0 && !s.includes(':') && NCNAME_START.test(s) && NAME_FULL.test(s);
  }

  private splitQName(qname: string, pos: number): [string, string] {
    const colon = qname.indexOf(':');
    if (colon < 0) return ['', qname];
    const p = qname.slice(0, colon);
    const l = qname.slice(colon + 1);
    if (!this.isNcName(p) || !this.isNcName(l)) this.fail(`invalid qualified name ${show(qname)}`, pos);
    return [p, l];
  }

  private openRoot(qname: string, local: string, ns: string | null, attrs: string[] | null, pos: number): Kind {
    this.rootSeen = true;
    if (!CEB_ROOT.test(local)) this.fail(`unknown root <${show(qname)}>: not a CEB message`, pos);
    this.rootLocal = local;
    if (attrs) {
      for (let a = 0; a < attrs.length; a += 2) if (attrs[a] === 'guid') this.guid = attrs[a + 1]!;
    }
    if (ns !== CEB_NAMESPACE) {
      this.fail(`root <${show(qname)}> not in the CEB namespace ${CEB_NAMESPACE} (its namespace: ${ns ?? 'none'})`, pos);
    }
    const rt = Object.hasOwn(MESSAGE_ROOTS, local) ? MESSAGE_ROOTS[local] : undefined;
    if (rt === undefined) return Kind.RootSkip;
    const spec = recordSpec(rt);
    this.recordType = rt;
    this.shape = spec.entity
      ? { entity: spec.entity, head: spec.element, line: spec.lines ? recordSpec(spec.lines).element : null }
      : { entity: spec.element, head: null, line: null };
    return Kind.RootRead;
  }

  private closeElement(qname: string, pos: number, endPos: number): void {
    const top = this.stack[this.stack.length - 1];
    if (!top) {
      this.fail(
        this.rootClosed ? `end tag </${show(qname)}> after the root element` : `end tag </${show(qname)}> without a start tag`,
        pos,
      );
    }
    if (top.qname !== qname) this.fail(`mismatched end tag: expected </${show(top.qname)}> but found </${show(qname)}>`, pos);
    this.textLen = 0;
    if (this.entityStart >= 0) this.entityCap(endPos);
    this.stack.pop();
    this.close(top);
  }

  private close(frame: Frame): void {
    switch (frame.kind) {
      case Kind.InEntity:
        this.cap.push(`</${frame.local}>`);
        break;
      case Kind.Entity:
        this.cap.push(`</${frame.local}>`);
        this.finishEntity();
        break;
      case Kind.RootRead:
      case Kind.RootSkip:
        this.rootClosed = true;
        break;
      default:
    }
  }

  /** Text captured inside an entity, already decoded. */
  private capText(s: string): void {
    if (s.length === 0) return;
    if (/[<>&]/.test(s)) s = `<![CDATA[${s.replace(/]]>/g, ']]]]><![CDATA[>')}]]>`;
    this.cap.push(s);
  }

  // ---- entities ----

  private finishEntity(): void {
    const shape = this.shape!;
    const index = this.entities + 1;
    const xml = this.cap.join('');
    this.cap = [];
    this.entityStart = -1;
    let doc: unknown;
    try {
      doc = this.fxp.parse(xml);
    } catch (e) {
      this.fail(`cannot read <${shape.entity}> #${index}: ${errorText(e)}`);
    }
    const top = isObject(doc) ? doc[TAG_PREFIX + shape.entity] : undefined;
    let head: Record<string, string> | null = null;
    const lines: Record<string, string>[] = [];
    if (shape.head === null) {
      head = this.fields(top, shape.entity, index);
    } else {
      if (typeof top === 'string') {
        if (NON_WS.test(top)) this.fail(`text directly inside <${shape.entity}> #${index}`);
      } else if (isObject(top)) {
        for (const key of Object.keys(top)) {
          const v = top[key];
          if (key === '#text') {
            if (typeof v !== 'string' || NON_WS.test(v)) this.fail(`text directly inside <${shape.entity}> #${index}`);
          } else if (key === TAG_PREFIX + shape.head) {
            if (Array.isArray(v)) this.fail(`<${shape.entity}> #${index} has ${v.length} <${shape.head}> elements`);
            head = this.fields(v, shape.head, index);
          } else if (shape.line !== null && key === TAG_PREFIX + shape.line) {
            for (const l of Array.isArray(v) ? v : [v]) lines.push(this.fields(l, shape.line, index));
          } else {
            this.fail(`unexpected element <${show(key.slice(TAG_PREFIX.length))}> in <${shape.entity}> #${index}`);
          }
        }
      }
      if (head === null) this.fail(`<${shape.entity}> #${index} has no <${shape.head}>`);
    }
    this.entities = index;
    try {
      this.onEntity({ index, messageGuid: this.guid, head, lines });
    } catch (e) {
      throw new CallbackError(e);
    }
  }

  /** One record from FXP's object for a head, line or single-element entity. */
  private fields(v: unknown, element: string, index: number): Record<string, string> {
    const rec = Object.create(null) as Record<string, string>;
    if (typeof v === 'string') {
      if (NON_WS.test(v)) this.fail(`text directly inside <${element}> of <${this.shape!.entity}> #${index}`);
      return rec;
    }
    if (!isObject(v)) this.fail(`cannot read <${element}> of <${this.shape!.entity}> #${index}`);
    for (const key of Object.keys(v)) {
      const val = v[key];
      if (key === '#text') {
        if (typeof val !== 'string' || NON_WS.test(val)) {
          this.fail(`text mixed with elements in <${element}> of <${this.shape!.entity}> #${index}`);
        }
        continue;
      }
      if (!key.startsWith(TAG_PREFIX)) this.fail(`cannot read <${element}> of <${this.shape!.entity}> #${index}`);
      const name = key.slice(TAG_PREFIX.length);
      const all = Array.isArray(val) ? val : [val];
      for (const x of all) {
        if (typeof x !== 'string') {
          this.fail(`field <${show(name)}> of <${element}> in <${this.shape!.entity}> #${index} has child elements`);
        }
      }
      // A repeated field keeps its first value (validation happens elsewhere).
      if (!Object.hasOwn(rec, name)) rec[name] = all[0] as string;
    }
    return rec;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Where to stop processing a text run that reaches the end of the buffer: before a reference that
 * may continue in the next chunk, and before a trailing ']' or CR (a ']]>' or CRLF split in two).
 */
function safeCut(buf: string, pos: number): number {
  const len = buf.length;
  const amp = buf.lastIndexOf('&');
  if (amp >= pos && len - amp <= MAX_REF && buf.indexOf(';', amp) < 0) return amp;
  let cut = len;
  while (cut > pos && cut > len - 2) {
    const ch = buf.charCodeAt(cut - 1);
    if (ch === RSQB || ch === CR) cut--;
    else break;
  }
  return cut;
}
