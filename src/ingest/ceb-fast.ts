/**
 * ingest/ceb-fast: the fast parse path of the CEB XML reader (the default; `xml.ts` keeps the
 * fast-xml-parser path as the reference, `--parser reference`).
 *
 * It is a second implementation of the reference tokenizer (`CebReader` in `xml.ts`): the same
 * buffering, the same well-formedness and namespace checks in the same order, the same caps and
 * the same error messages with the same line and column. What differs is what it does with a
 * business entity: instead of rewriting the entity as a small XML text and handing it to
 * fast-xml-parser, it builds the `RawEntity` directly from the tokens, reproducing what
 * fast-xml-parser would have made of that text:
 *
 *  - a field's value is all its text and CDATA, references decoded, concatenated; fast-xml-parser
 *    turns every CR (only a `&#13;` can still hold one) into LF, merging it with a following LF
 *    when the two meet in the rewritten text (see `fieldValue`);
 *  - an element's key is its local name up to the first JavaScript white-space character (what
 *    fast-xml-parser takes as the tag name);
 *  - the findings about the entity's shape (text where no text belongs, a field with child
 *    elements, a second head, an unexpected element, a missing head) are reported in the order of
 *    the keys of fast-xml-parser's object: first appearance, the text last.
 *
 * The common tokens take short paths: inside a record, whole fields `<name>text</name>` in one
 * step (`fields`); elsewhere a start tag without attributes whose name was seen before (guessed
 * from the tag that followed the previous one last time), the end tag of the open element, text
 * without references. Everything else goes through code that follows the reference line by line.
 *
 * One difference is allowed and only for malformed files: the reference looks for invalid
 * characters in each piece of text before reading it; here they are found as the piece is read
 * (one pass over the text less), and `fail` then reports the piece's first one as the reference
 * does. The outcome is the same, but entities that end before the invalid character in the same
 * piece have been handed to `onEntity`, which the caller drops with the malformed file anyway.
 *
 * `test/parser-diff.test.ts` holds both paths to the same records and the same findings on the
 * official samples, the fixtures and thousands of fuzzed messages.
 */
import { CEB_NAMESPACE, MESSAGE_ROOTS, recordSpec, type RecordTypeName } from '../spec/fields.js';
import type { RawEntity, XmlCaps, XmlFileOutcome } from './xml.js';

/** How the reader reports: a problem of the input, or an exception thrown by `onEntity`. */
export interface FastReaderErrors {
  malformed(detail: string): Error;
  callback(error: unknown): Error;
}

// ---- characters and names (as in xml.ts) -----------------------------------------------------------

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
const AMP = 0x26;

const NAME_START =
  'A-Z_a-z\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u02FF\\u0370-\\u037D\\u037F-\\u1FFF\\u200C-\\u200D' +
  '\\u2070-\\u218F\\u2C00-\\u2FEF\\u3001-\\uD7FF\\uF900-\\uFDCF\\uFDF0-\\uFFFD\\u{10000}-\\u{EFFFF}';
const NAME_CHAR = `${NAME_START}\\-.0-9\\u00B7\\u0300-\\u036F\\u203F-\\u2040`;
const NAME_Y = new RegExp(`[:${NAME_START}][:${NAME_CHAR}]*`, 'uy');
const NAME_FULL = new RegExp(`^[:${NAME_START}][:${NAME_CHAR}]*$`, 'u');
const NCNAME_START = new RegExp(`^[${NAME_START}]`, 'u');
const END_TAG = new RegExp(`^</([:${NAME_START}][:${NAME_CHAR}]*)[ \\t\\r\\n]*>$`, 'u');
const WS_Y = /[ \t\r\n]*/y;
const WS_ONLY = /^[ \t\r\n]*$/;
const NON_WS = /[^ \t\r\n]/;
const INVALID_CHAR = /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/;
const XML_DECL =
  /^<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(["'])1\.[0-9]+\1(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(["'])([A-Za-z][A-Za-z0-9._-]*)\2)?(?:[ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(["'])(?:yes|no)\4)?[ \t\r\n]*\?>$/;
const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';
const CEB_ROOT = /^CEB\d{3}Message$/;
const MAX_REF = 64;
const SKIPPED_CHILDREN = new Set(['BaseTransfer', 'BaseSubscribe', 'ExtendMessage']);
/** Characters fast-xml-parser's tag-name split (`/\s/`) stops at. */
const JS_SPACE = /\s/;
/** Text fast-xml-parser receives wrapped in CDATA (see `capText` in xml.ts). */
const WRAPPED = /[<>&]/;

/**
 * ASCII characters that end the short scan of a start tag's name: white space, '/', '>', and those
 * that the reference's start-tag scan treats specially ('<', quotes, '=').
 */
const NAME_STOP = new Uint8Array(128);
for (const ch of ' \t\r\n/><"\'=') NAME_STOP[ch.charCodeAt(0)] = 1;

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

function invalidCharText(ch: string): string {
  return `invalid character U+${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
}

function show(s: string, max = 40): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** The element name fast-xml-parser would use for a local name. */
function fxpName(local: string): string {
  const k = local.search(JS_SPACE);
  return k < 0 ? local : local.slice(0, k);
}

// ---- the reader ------------------------------------------------------------------------------------

type Scope = Record<string, string>;

// element kinds (as in xml.ts)
const ROOT_READ = 0;
const ROOT_SKIP = 1;
const SKIP = 2;
const ENTITY = 3;
const IN_ENTITY = 4;

// roles of the elements of a business entity
const R_NONE = 0;
/** The entity element of a head + lines entity (`Order`). */
const R_ENTITY = 1;
/** The entity element of a single-element entity (`Logistics`): it is the record. */
const R_ENTITY_REC = 2;
const R_HEAD = 3;
const R_LINE = 4;
/** Any other element directly in a head + lines entity (a finding). */
const R_OTHER = 5;
const R_FIELD = 6;
/** Below a field or an unexpected element: its content does not matter. */
const R_DEEP = 7;

/** An element name seen (and checked) before, with what is known about it. */
interface QInfo {
  readonly qname: string;
  readonly prefix: string;
  readonly local: string;
  /** The key fast-xml-parser gives the element, shared by all names with that key. */
  readonly key: FieldKey;
  /** The scope the cached namespace was resolved in, the namespace, and whether it is CEB's. */
  scope: Scope | null;
  ns: string | null;
  ceb: boolean;
  /** The start tag that followed this one last time: the first guess for the next. */
  next: QInfo | null;
}

interface FieldKey {
  readonly name: string;
  /**
   * Shared by every name with this key (the map of keys is bounded like the map of names; past
   * its bound a key is made for one use and the record itself says whether it has the field).
   */
  readonly shared: boolean;
  /** The record (`recStamp`) that has this field already. */
  stamp: number;
}

interface EntityShape {
  entity: string;
  head: string | null;
  line: string | null;
}

export class FastCebReader {
  private buf = '';
  private pos = 0;
  private base = 0;
  /**
   * Line accounting for the messages: the newlines before absolute position `lnAbs` (the end of
   * the last token read; never behind `base`) and the position after the last of them.
   */
  private lnCount = 0;
  private lnStart = 0;
  private lnAbs = 0;

  private scan = 0;
  private quote = 0;
  private eqs = 0;
  /** Inside `feed`, where in `buf` the new text starts, and root and guid as known before it. */
  private feeding = false;
  private newStart = 0;
  private fedRoot: string | null = null;
  private fedGuid: string | null = null;

  // the element stack, as parallel arrays
  private depth = 0;
  private readonly qnameStack: string[] = [];
  private readonly kindStack: number[] = [];
  private readonly scopeStack: Scope[] = [];
  private readonly roleStack: number[] = [];

  private rootSeen = false;
  private rootClosed = false;
  /** `depth` while the innermost open element is a record (its children are fields), else -1. */
  private recTop = -1;
  private rootLocal: string | null = null;
  private guid: string | null = null;
  private recordType: RecordTypeName | null = null;
  private shape: EntityShape | null = null;
  private textLen = 0;

  private entityStart = -1;
  private entities = 0;
  private readonly rootScope: Scope;
  private readonly qnames = new Map<string, QInfo>();
  private readonly keys = new Map<string, FieldKey>();
  /** The last start tag with a cached name. */
  private prev: QInfo | null = null;

  // ---- the entity being built ----
  /** Keys of a head + lines entity, in first-appearance order (and as a set once there are many). */
  private ekeys: string[] = [];
  private ekeySet: Set<string> | null = null;
  private entNonWs = false;
  private headCount = 0;
  private headRec: Record<string, string> | null = null;
  private headErr: string | null = null;
  private lines: Record<string, string>[] = [];
  private lineErr: string | null = null;
  // the record being built (the head, a line, or a single-element entity)
  private rec: Record<string, string> = Object.create(null) as Record<string, string>;
  private recStamp = 0;
  private recHas = false;
  private recNonWs = false;
  /** Fields of the record that have child elements (a finding). */
  private recObj: Set<string> | null = null;
  // the field being read
  private fKey: FieldKey = { name: '', shared: false, stamp: -1 };
  private fVal = '';
  private fParts: string[] | null = null;
  private fCr = false;
  private fObj = false;

  constructor(
    private readonly caps: XmlCaps,
    private readonly onEntity: (e: RawEntity) => void,
    private readonly errors: FastReaderErrors,
  ) {
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
    if (this.feeding) {
      // the reference checks a piece of input for invalid characters before reading any of it
      this.feeding = false;
      const from = this.newStart;
      const bad = INVALID_CHAR.exec(from === 0 ? this.buf : this.buf.slice(from));
      if (bad) {
        detail = invalidCharText(bad[0]);
        at = from + bad.index;
        // and what the outcome says is what was known before that piece was read
        this.rootLocal = this.fedRoot;
        this.guid = this.fedGuid;
      }
    }
    if (at === undefined) throw this.errors.malformed(detail);
    throw this.errors.malformed(`${detail} (${this.where(at)})`);
  }

  /** An invalid character at `buf[at]` (the first of the piece is reported, see `fail`). */
  private invalidChar(at: number): never {
    this.fail(invalidCharText(this.buf[at]!), at);
  }

  /** Checks `buf[a..b)` for invalid characters, in a token whose reading does not look at them. */
  private checkChars(a: number, b: number): void {
    const bad = INVALID_CHAR.exec(this.buf.slice(a, b));
    if (bad) this.invalidChar(a + bad.index);
  }

  /** "line L, column C" of position `at` of `buf` (1-based, counted in characters). */
  private where(at: number): string {
    const buf = this.buf;
    const p = Math.min(Math.max(at, 0), buf.length);
    const from = this.lnAbs - this.base;
    let line = this.lnCount + 1;
    let lineStart = this.lnStart;
    if (p >= from) {
      for (let i = buf.indexOf('\n', from); i >= 0 && i < p; i = buf.indexOf('\n', i + 1)) {
        line++;
        lineStart = this.base + i + 1;
      }
    } else {
      // not expected: every message points at or after the token being read
      for (let i = buf.indexOf('\n', p); i >= 0 && i < from; i = buf.indexOf('\n', i + 1)) line--;
      const nl = p > 0 ? buf.lastIndexOf('\n', p - 1) : -1;
      if (nl >= 0) lineStart = this.base + nl + 1;
    }
    return `line ${line}, column ${this.base + p - lineStart + 1}`;
  }

  /**
   * Counts the newlines of `buf[a..b)`, the token just read (`a` is where the count stands). A
   * loop bounded by the token: `indexOf` would look on to the next newline, wherever it is.
   */
  private countLines(a: number, b: number): void {
    const buf = this.buf;
    for (let i = a; i < b; i++) {
      if (buf.charCodeAt(i) === 0x0a) {
        this.lnCount++;
        this.lnStart = this.base + i + 1;
      }
    }
    this.lnAbs = this.base + b;
  }

  // ---- feeding ----

  feed(text: string): void {
    let buf: string;
    let startOfNew: number;
    if (this.pos >= this.buf.length) {
      this.base += this.buf.length;
      buf = text;
      startOfNew = 0;
    } else {
      this.base += this.pos;
      const rest = this.buf.slice(this.pos);
      buf = [rest, text].join(''); // flat: a cons string is slower to index
      startOfNew = rest.length;
    }
    this.buf = buf;
    this.pos = 0;
    // Invalid characters: the reference looks for them in the new text before reading it. Here
    // the scans of the tokens look for them as they go, `fail` gives the reference's message,
    // and what is left unread is checked at the end (the same outcome for one regex pass less;
    // only entities that end before an invalid character of the same piece are delivered first).
    this.newStart = startOfNew;
    this.fedRoot = this.rootLocal;
    this.fedGuid = this.guid;
    this.feeding = true;
    this.run(false);
    const from = Math.max(this.pos, startOfNew);
    if (from < buf.length) {
      const bad = INVALID_CHAR.exec(buf.slice(from));
      if (bad) this.invalidChar(from + bad.index);
    }
    this.feeding = false;
  }

  end(): void {
    this.run(true);
    if (!this.rootSeen) this.fail(this.base + this.buf.length === 0 ? 'empty file: no root element' : 'no root element');
    if (this.depth > 0) {
      this.fail(
        `truncated: document ends inside <${this.qnameStack[this.depth - 1]!}> (${this.depth} element(s) not closed)`,
        this.buf.length,
      );
    }
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
      if (this.depth === this.recTop && this.scan === 0) {
        const p = this.fields(pos);
        if (p !== pos) {
          pos = p;
          continue;
        }
      }
      const next = this.markup(pos, final);
      if (next < 0) break;
      pos = next;
    }
    this.pos = pos;
  }

  /**
   * The shortest path, inside a record: whole fields `<name>text</name>` (a name seen before, in
   * the CEB namespace, no attributes, text without '&', ']' or CR, all in the buffer) and the white
   * space after each, as long as they come. Returns where it stopped (`pos` if it read nothing);
   * the state is then what the token-by-token path would have left. Anything unusual, a cap
   * included, is left to that path, which reports it at the same place as the reference.
   */
  private fields(pos: number): number {
    const buf = this.buf;
    const len = buf.length;
    const d = this.depth;
    if (d + 1 > this.caps.maxDepth) return pos;
    const scope = this.scopeStack[d - 1]!;
    const maxText = this.caps.maxTextBytes;
    /** The furthest the entity may reach in `buf` (the entity cap). */
    const limit = this.entityStart + this.caps.maxEntityBytes - this.base;
    for (;;) {
      // the start tag
      const prev = this.prev;
      let info = prev !== null ? prev.next : null;
      let e = info !== null ? pos + 1 + info.qname.length : 0;
      if (info === null || buf.charCodeAt(e) !== GT || !startsAt(buf, pos + 1, info.qname)) {
        let i = pos + 1;
        for (; i < len; i++) {
          const ch = buf.charCodeAt(i);
          if (ch < 128 && NAME_STOP[ch] === 1) break;
        }
        if (i >= len || i === pos + 1 || buf.charCodeAt(i) !== GT) return pos;
        info = this.qnames.get(buf.slice(pos + 1, i)) ?? null;
        if (info === null) return pos;
        if (prev !== null) prev.next = info;
        e = i;
      }
      if (info.scope !== scope || !info.ceb) return pos;
      // the text and the end tag
      const vs = e + 1;
      const lt = buf.indexOf('<', vs);
      if (lt < 0 || lt - vs > maxText) return pos;
      const q = info.qname;
      const gt = lt + 2 + q.length;
      if (buf.charCodeAt(lt + 1) !== SLASH || buf.charCodeAt(gt) !== GT || !startsAt(buf, lt + 2, q)) return pos;
      let nl = 0;
      let lastNl = -1;
      for (let i = vs; i < lt; i++) {
        const ch = buf.charCodeAt(i);
        if (ch <= AMP) {
          if (ch === 0x0a) {
            nl++;
            lastNl = i;
          } else if (ch === AMP || (ch < 0x20 && ch !== 0x09)) return pos; // CR, invalid characters
        } else if (ch === RSQB || ch >= 0xfffe) return pos;
      }
      // white space up to the next tag
      let w = gt + 1;
      let wnl = 0;
      let wLast = -1;
      for (; w < len; w++) {
        const ch = buf.charCodeAt(w);
        if (ch === 0x0a) {
          wnl++;
          wLast = w;
        } else if (ch !== 0x20 && ch !== 0x09) break;
      }
      let stop = gt + 1;
      if (w < len && buf.charCodeAt(w) === LT && w - stop <= maxText) {
        stop = w;
        nl += wnl;
        if (wLast >= 0) lastNl = wLast;
      }
      if (stop > limit) return pos;
      // read: as the token-by-token path would have
      this.recHas = true;
      const key = info.key;
      if (key.shared ? key.stamp !== this.recStamp : this.rec[key.name] === undefined) {
        key.stamp = this.recStamp;
        this.rec[key.name] = buf.slice(vs, lt);
      }
      if (nl > 0) {
        this.lnCount += nl;
        this.lnStart = this.base + lastNl + 1;
      }
      this.lnAbs = this.base + stop;
      this.textLen = stop - gt - 1;
      this.prev = info;
      pos = stop;
      if (stop === gt + 1) return pos;
      const c1 = buf.charCodeAt(pos + 1);
      if (c1 === SLASH || c1 === BANG || c1 === QMARK) return pos;
    }
  }

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
    if (this.scan === 0) {
      // short path: `<name>` with a name already seen, no attributes; first guess: the tag that
      // followed the previous one last time
      const prev = this.prev;
      const guess = prev !== null ? prev.next : null;
      if (guess !== null) {
        const e = pos + 1 + guess.qname.length;
        if (buf.charCodeAt(e) === GT && startsAt(buf, pos + 1, guess.qname) && this.openShort(guess, pos, e + 1)) {
          this.prev = guess;
          return e + 1;
        }
      }
      let i = pos + 1;
      for (; i < len; i++) {
        const ch = buf.charCodeAt(i);
        if (ch < 128 && NAME_STOP[ch] === 1) break;
      }
      if (i < len && i > pos + 1 && buf.charCodeAt(i) === GT) {
        const info = this.qnames.get(buf.slice(pos + 1, i));
        if (info !== undefined && this.openShort(info, pos, i + 1)) {
          if (prev !== null) prev.next = info;
          this.prev = info;
          return i + 1;
        }
      }
    }
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
    this.countLines(pos, i + 1);
    return i + 1;
  }

  /**
   * The start tag `buf[pos..end)` of an element without attributes whose name is valid (it is in
   * the cache). Returns false, having changed nothing, where the general path must judge it.
   */
  private openShort(info: QInfo, pos: number, end: number): boolean {
    const d = this.depth;
    if (d === 0 || this.rootClosed || d + 1 > this.caps.maxDepth) return false;
    const scope = this.scopeStack[d - 1]!;
    if (info.scope !== scope) {
      let ns: string | null;
      if (info.prefix === '') ns = scope[''] || null;
      else {
        const uri = scope[info.prefix];
        if (uri === undefined) return false;
        ns = uri;
      }
      info.scope = scope;
      info.ns = ns;
      info.ceb = ns === CEB_NAMESPACE;
    }
    const ceb = info.ceb;
    const parentKind = this.kindStack[d - 1]!;
    let kind: number;
    if (parentKind === ROOT_READ) {
      if (ceb && info.local === this.shape!.entity) kind = ENTITY;
      else if (!ceb || SKIPPED_CHILDREN.has(info.local)) kind = SKIP;
      else return false;
    } else if (parentKind === ENTITY || parentKind === IN_ENTITY) {
      kind = ceb ? IN_ENTITY : SKIP;
    } else kind = SKIP;
    this.textLen = 0;
    let role = R_NONE;
    if (kind === ENTITY) {
      this.entityStart = this.base + pos;
      role = this.openEntity();
    } else if (kind === IN_ENTITY) role = this.openInEntity(info.key, d);
    if (this.entityStart >= 0) this.entityCap(end);
    this.qnameStack[d] = info.qname;
    this.kindStack[d] = kind;
    this.scopeStack[d] = scope;
    this.roleStack[d] = role;
    this.depth = d + 1;
    if (role === R_HEAD || role === R_LINE || role === R_ENTITY_REC) this.recTop = d + 1;
    return true;
  }

  private tagName(pos: number): string {
    NAME_Y.lastIndex = pos + 1;
    const m = NAME_Y.exec(this.buf);
    return m ? show(m[0]) : '?';
  }

  private endTag(pos: number, final: boolean): number {
    const buf = this.buf;
    const d = this.depth;
    if (d > 0) {
      const qname = this.qnameStack[d - 1]!;
      const k = pos + 2 + qname.length;
      if (buf.charCodeAt(k) === GT && startsAt(buf, pos + 2, qname)) {
        this.closeElement(qname, pos, k + 1);
        return k + 1;
      }
    }
    const k = buf.indexOf('>', pos + 2);
    if (k < 0) return this.more(pos, final, 'an end tag');
    const s = buf.slice(pos, k + 1);
    const m = END_TAG.exec(s);
    if (!m) this.fail(`malformed end tag ${JSON.stringify(show(s))}`, pos);
    this.closeElement(m[1]!, pos, k + 1);
    this.countLines(pos, k + 1);
    return k + 1;
  }

  private comment(pos: number, final: boolean): number {
    const buf = this.buf;
    const k = buf.indexOf('--', pos + Math.max(4, this.scan));
    if (k < 0 || k + 2 >= buf.length) {
      this.scan = k < 0 ? Math.max(4, buf.length - 1 - pos) : k - pos;
      return this.more(pos, final, 'a comment');
    }
    this.checkChars(pos, k);
    if (buf.charCodeAt(k + 2) !== GT) this.fail("'--' inside a comment", k);
    this.scan = 0;
    if (this.entityStart >= 0) this.entityCap(k + 3);
    this.countLines(pos, k + 3);
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
    const d = this.depth;
    if (d === 0) this.fail('CDATA section outside the root element', pos);
    this.textLen += k - pos - 9;
    if (this.textLen > this.caps.maxTextBytes) this.fail(`text cap: text node longer than ${this.caps.maxTextBytes} characters`, pos);
    if (this.entityStart >= 0) this.entityCap(k + 3);
    const content = buf.slice(pos + 9, k);
    const bad = INVALID_CHAR.exec(content);
    if (bad) this.invalidChar(pos + 9 + bad.index);
    const kind = this.kindStack[d - 1]!;
    if (kind === ROOT_READ) {
      if (NON_WS.test(content)) this.fail(`unexpected text directly inside <${this.qnameStack[d - 1]!}>`, pos);
    } else if (kind === ENTITY || kind === IN_ENTITY) {
      const s = content.indexOf('\r') >= 0 ? content.replace(/\r\n?/g, '\n') : content;
      this.entityText(this.roleStack[d - 1]!, s, NON_WS.test(s), false);
    }
    this.countLines(pos, k + 3);
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
    this.checkChars(pos, k);
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
    this.countLines(pos, k + 2);
    return k + 2;
  }

  /** Character data `buf[a..b)` (a whole text node or a piece of one). */
  private text(a: number, b: number): void {
    const buf = this.buf;
    this.textLen += b - a;
    if (this.textLen > this.caps.maxTextBytes) this.fail(`text cap: text node longer than ${this.caps.maxTextBytes} characters`, a);
    if (this.entityStart >= 0) this.entityCap(b);
    const d = this.depth;
    if (d === 0) {
      const piece = buf.slice(a, b);
      const m = NON_WS.exec(piece);
      if (m) this.fail(this.rootClosed ? 'text after the root element' : 'text before the root element', a + m.index);
      this.countLines(a, b);
      return;
    }
    // one pass: newlines, the first character that is not white space, and any ']', '&', CR
    let first = -1;
    let rsqb = false;
    let amp = false;
    let cr = false;
    let nl = 0;
    let lastNl = -1;
    for (let i = a; i < b; i++) {
      const ch = buf.charCodeAt(i);
      if (ch === 0x20 || ch === 0x09) continue;
      if (ch === 0x0a) {
        nl++;
        lastNl = i;
        continue;
      }
      if (ch === CR) {
        cr = true;
        continue;
      }
      if (first < 0) first = i;
      if (ch === AMP) amp = true;
      else if (ch === RSQB) rsqb = true;
      else if (ch < 0x20 || ch >= 0xfffe) this.invalidChar(i);
    }
    const kind = this.kindStack[d - 1]!;
    if (first >= 0 || (kind === IN_ENTITY && this.roleStack[d - 1] === R_FIELD)) {
      if (rsqb) {
        const bad = buf.slice(a, b).indexOf(']]>');
        if (bad >= 0) this.fail("']]>' in text", a + bad);
      }
      switch (kind) {
        case ROOT_READ:
          this.fail(`unexpected text directly inside <${this.qnameStack[d - 1]!}>`, first);
          break;
        case ENTITY:
        case IN_ENTITY: {
          const role = this.roleStack[d - 1]!;
          if (role === R_FIELD || amp) {
            let s = buf.slice(a, b);
            if (cr) s = s.replace(/\r\n?/g, '\n');
            if (amp) s = this.decode(s, a);
            this.entityText(role, s, role !== R_FIELD && NON_WS.test(s), amp);
          } else this.entityText(role, '', true, false);
          break;
        }
        default:
          if (amp) this.decode(buf.slice(a, b), a);
      }
    }
    // white space between elements needs nothing more
    if (nl > 0) {
      this.lnCount += nl;
      this.lnStart = this.base + lastNl + 1;
    }
    this.lnAbs = this.base + b;
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

  // ---- elements: the general path (the reference's `element`) ----

  private element(tag: string, pos: number): void {
    const bad = INVALID_CHAR.exec(tag);
    if (bad) this.invalidChar(pos + bad.index);
    let e = 1;
    for (; e < tag.length; e++) {
      const ch = tag.charCodeAt(e);
      if (ch === 0x20 || ch === 0x09 || ch === 0x0a || ch === 0x0d || ch === SLASH || ch === GT) break;
    }
    const qname = tag.slice(1, e);
    let info = this.qnames.get(qname);
    if (info === undefined) {
      if (!NAME_FULL.test(qname)) this.fail(`invalid element name in ${JSON.stringify(show(tag))}`, pos);
      const [p, l] = this.splitQName(qname, pos);
      info = this.qinfo(qname, p, l);
      if (this.qnames.size < 4096) this.qnames.set(qname, info);
    }
    this.prev = info;
    const d = this.depth;
    const depth = d + 1;
    if (this.rootClosed) this.fail(`element <${show(qname)}> after the root element (a second root)`, pos);
    if (depth > this.caps.maxDepth) this.fail(`depth cap: elements nested deeper than ${this.caps.maxDepth}`, pos);
    this.textLen = 0;

    // attributes
    let i = e;
    let selfClose = false;
    let attrs: string[] | null = null;
    const end = tag.length - 1;
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
    let scope = d > 0 ? this.scopeStack[d - 1]! : this.rootScope;
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
    const prefix = info.prefix;
    const local = info.local;
    let ns: string | null;
    if (prefix === '') ns = scope[''] || null;
    else {
      const uri = scope[prefix];
      if (uri === undefined) this.fail(`unbound namespace prefix ${show(prefix)} on <${show(qname)}>`, pos);
      ns = uri;
    }

    // classification
    let kind: number;
    let role = R_NONE;
    if (d === 0) {
      kind = this.openRoot(qname, local, ns, attrs, pos);
    } else {
      const parentKind = this.kindStack[d - 1]!;
      switch (parentKind) {
        case ROOT_READ:
          if (ns === CEB_NAMESPACE && local === this.shape!.entity) {
            kind = ENTITY;
            this.entityStart = this.base + pos;
            role = this.openEntity();
          } else if (ns !== CEB_NAMESPACE || SKIPPED_CHILDREN.has(local)) {
            kind = SKIP;
          } else {
            this.fail(`unexpected element <${show(qname)}> in <${this.qnameStack[d - 1]!}>`, pos);
          }
          break;
        case ENTITY:
        case IN_ENTITY:
          if (ns === CEB_NAMESPACE) {
            kind = IN_ENTITY;
            role = this.openInEntity(info.key, d);
          } else kind = SKIP;
          break;
        default:
          kind = SKIP;
      }
    }
    if (this.entityStart >= 0) this.entityCap(pos + tag.length);
    if (selfClose) this.close(kind, role);
    else {
      this.qnameStack[d] = qname;
      this.kindStack[d] = kind;
      this.scopeStack[d] = scope;
      this.roleStack[d] = role;
      this.depth = depth;
      if (role === R_HEAD || role === R_LINE || role === R_ENTITY_REC) this.recTop = depth;
    }
  }

  private qinfo(qname: string, prefix: string, local: string): QInfo {
    const name = fxpName(local);
    let key = this.keys.get(name);
    if (key === undefined) {
      const shared = this.keys.size < 4096;
      key = { name, shared, stamp: -1 };
      if (shared) this.keys.set(name, key);
    }
    return { qname, prefix, local, key, scope: null, ns: null, ceb: false, next: null };
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

  private openRoot(qname: string, local: string, ns: string | null, attrs: string[] | null, pos: number): number {
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
    if (rt === undefined) return ROOT_SKIP;
    const spec = recordSpec(rt);
    this.recordType = rt;
    this.shape = spec.entity
      ? { entity: spec.entity, head: spec.element, line: spec.lines ? recordSpec(spec.lines).element : null }
      : { entity: spec.element, head: null, line: null };
    return ROOT_READ;
  }

  private closeElement(qname: string, pos: number, endPos: number): void {
    const d = this.depth;
    if (d === 0) {
      this.fail(
        this.rootClosed ? `end tag </${show(qname)}> after the root element` : `end tag </${show(qname)}> without a start tag`,
        pos,
      );
    }
    const top = this.qnameStack[d - 1]!;
    if (top !== qname) this.fail(`mismatched end tag: expected </${show(top)}> but found </${show(qname)}>`, pos);
    this.textLen = 0;
    if (this.entityStart >= 0) this.entityCap(endPos);
    this.depth = d - 1;
    this.close(this.kindStack[d - 1]!, this.roleStack[d - 1]!);
  }

  /** The end of an element (popped already, or self-closing). */
  private close(kind: number, role: number): void {
    switch (kind) {
      case IN_ENTITY:
        this.closeInEntity(role);
        break;
      case ENTITY:
        this.finishEntity();
        break;
      case ROOT_READ:
      case ROOT_SKIP:
        this.rootClosed = true;
        break;
      default:
    }
  }

  // ---- the entity builder ----

  /** A business entity starts; returns the entity element's role. */
  private openEntity(): number {
    if (this.shape!.head === null) {
      this.startRecord();
      return R_ENTITY_REC;
    }
    this.ekeys = [];
    this.ekeySet = null;
    this.entNonWs = false;
    this.headCount = 0;
    this.headRec = null;
    this.headErr = null;
    this.lines = [];
    this.lineErr = null;
    return R_ENTITY;
  }

  /** A CEB element inside the entity, child of the element at stack position `d - 1`. */
  private openInEntity(key: FieldKey, d: number): number {
    const parent = this.roleStack[d - 1]!;
    switch (parent) {
      case R_ENTITY_REC:
      case R_HEAD:
      case R_LINE:
        this.recHas = true;
        this.fKey = key;
        this.fVal = '';
        this.fParts = null;
        this.fCr = false;
        this.fObj = false;
        return R_FIELD;
      case R_ENTITY: {
        const shape = this.shape!;
        const fxp = key.name;
        const ekeys = this.ekeys;
        if (ekeys.length < 16 ? !ekeys.includes(fxp) : !(this.ekeySet ??= new Set(ekeys)).has(fxp)) {
          ekeys.push(fxp);
          this.ekeySet?.add(fxp);
        }
        if (fxp === shape.head) {
          this.startRecord();
          return R_HEAD;
        }
        if (shape.line !== null && fxp === shape.line) {
          this.startRecord();
          return R_LINE;
        }
        return R_OTHER;
      }
      case R_FIELD:
        this.fObj = true;
        return R_DEEP;
      default:
        return R_DEEP;
    }
  }

  private closeInEntity(role: number): void {
    switch (role) {
      case R_FIELD: {
        // the first of a repeated field is kept; one with child elements is a finding, its key
        // holds its place in the order
        const key = this.fKey;
        if (key.shared ? key.stamp !== this.recStamp : this.rec[key.name] === undefined) {
          key.stamp = this.recStamp;
          this.rec[key.name] = this.fObj ? '' : this.fieldValue();
        }
        if (this.fObj) (this.recObj ??= new Set()).add(key.name);
        break;
      }
      case R_HEAD: {
        this.recTop = -1;
        const err = this.recordError(this.shape!.head!);
        if (++this.headCount === 1) {
          this.headRec = this.rec;
          this.headErr = err;
        }
        break;
      }
      case R_LINE: {
        this.recTop = -1;
        const err = this.recordError(this.shape!.line!);
        this.lines.push(this.rec);
        if (this.lineErr === null) this.lineErr = err;
        break;
      }
      default:
    }
  }

  /**
   * Text inside the entity (decoded, line ends normalised) at an element of role `role`; `nonWs`
   * matters outside fields, `decoded` says whether it held references (only they can give a CR).
   */
  private entityText(role: number, s: string, nonWs: boolean, decoded: boolean): void {
    switch (role) {
      case R_FIELD:
        this.fieldText(s, decoded);
        break;
      case R_ENTITY:
        if (nonWs) this.entNonWs = true;
        break;
      case R_ENTITY_REC:
      case R_HEAD:
      case R_LINE:
        if (nonWs) this.recNonWs = true;
        break;
      default:
    }
  }

  private fieldText(s: string, decoded: boolean): void {
    if (s.length === 0) return;
    if (decoded && !this.fCr && s.indexOf('\r') >= 0) this.fCr = true;
    if (this.fVal === '' && this.fParts === null) {
      this.fVal = s;
      return;
    }
    if (this.fParts === null) this.fParts = [this.fVal];
    this.fParts.push(s);
    this.fVal += s;
  }

  /**
   * The field's value as fast-xml-parser reads it: it replaces /\r\n?/ by LF over the rewritten
   * entity text, where a piece holding '<', '>' or '&' is wrapped in CDATA and so never touches its
   * neighbours; other pieces of the same element sit side by side.
   */
  private fieldValue(): string {
    if (!this.fCr) return this.fVal;
    const parts = this.fParts;
    if (parts === null) return this.fVal.replace(/\r\n?/g, '\n');
    let out = '';
    let run = '';
    for (const p of parts) {
      if (WRAPPED.test(p)) {
        out += run.replace(/\r\n?/g, '\n') + p.replace(/\r\n?/g, '\n');
        run = '';
      } else run += p;
    }
    return out + run.replace(/\r\n?/g, '\n');
  }

  private startRecord(): void {
    this.rec = Object.create(null) as Record<string, string>;
    this.recStamp++;
    this.recHas = false;
    this.recNonWs = false;
    this.recObj = null;
  }

  /** What the reference's `fields` reports for the record just closed, or null. */
  private recordError(element: string): string | null {
    const entity = this.shape!.entity;
    const index = this.entities + 1;
    if (!this.recHas) return this.recNonWs ? `text directly inside <${element}> of <${entity}> #${index}` : null;
    const obj = this.recObj;
    if (obj !== null) {
      for (const name of Object.keys(this.rec)) {
        if (obj.has(name)) return `field <${show(name)}> of <${element}> in <${entity}> #${index} has child elements`;
      }
    }
    return this.recNonWs ? `text mixed with elements in <${element}> of <${entity}> #${index}` : null;
  }

  private finishEntity(): void {
    const shape = this.shape!;
    const index = this.entities + 1;
    this.entityStart = -1;
    this.recTop = -1;
    let head: Record<string, string>;
    let lines: Record<string, string>[];
    if (shape.head === null) {
      const err = this.recordError(shape.entity);
      if (err !== null) this.fail(err);
      head = this.rec;
      lines = [];
    } else {
      for (const key of this.ekeys) {
        if (key === shape.head) {
          if (this.headCount > 1) this.fail(`<${shape.entity}> #${index} has ${this.headCount} <${shape.head}> elements`);
          if (this.headErr !== null) this.fail(this.headErr);
        } else if (shape.line !== null && key === shape.line) {
          if (this.lineErr !== null) this.fail(this.lineErr);
        } else {
          this.fail(`unexpected element <${show(key)}> in <${shape.entity}> #${index}`);
        }
      }
      if (this.entNonWs) this.fail(`text directly inside <${shape.entity}> #${index}`);
      if (this.headRec === null) this.fail(`<${shape.entity}> #${index} has no <${shape.head}>`);
      head = this.headRec;
      lines = this.lines;
      this.headRec = null;
      this.lines = [];
    }
    this.entities = index;
    try {
      this.onEntity({ index, messageGuid: this.guid, head, lines });
    } catch (e) {
      if (this.feeding && INVALID_CHAR.test(this.buf.slice(this.newStart))) this.fail('');
      throw this.errors.callback(e);
    }
  }
}

/** Whether `buf` holds `s` at `at` (a loop the compiler inlines, cheaper here than `startsWith`). */
function startsAt(buf: string, at: number, s: string): boolean {
  const n = s.length;
  if (at + n > buf.length) return false;
  for (let i = 0; i < n; i++) if (buf.charCodeAt(at + i) !== s.charCodeAt(i)) return false;
  return true;
}

/** As in xml.ts: where to stop a text run at the end of the buffer. */
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
