/**
 * Fuzzing `declmatch run` with mutated VALID messages (issue #7, item 3), with fast-check.
 *
 * Sources: the messages of a small generated day (seeded) and the official samples of
 * shared/ceb-spec/samples-202205 (the six messages the pipeline reads and a few it skips). A case is
 * a day folder of 1–6 files, each a source message put through up to four mutations: byte flips,
 * truncation, duplicated / removed / reordered entities, lines and fields, swapped field values,
 * values replaced by entities, CDATA, comments, oversized text, invalid dates, decimals and codes,
 * a root in the wrong namespace, an entity with its prefix rebound or undeclared, an injected
 * comment / PI / CDATA / entity reference / DOCTYPE, and gzip. Every case is run through the CLI's
 * entry point (`main(['run', ...])`, in this process, `--quarantine-threshold 1`) into a fresh
 * database, and then:
 *
 *  - the run exits 0 (never 1 at threshold 1, never 2 or 3; a signal would end this process);
 *  - every file is listed once in `input_files`; a file rejected whole stages nothing and has
 *    exactly one MALFORMED_MESSAGE row; the mutations that must break a file (truncation inside
 *    the document, an unknown entity, a DOCTYPE, a text node over 1 MiB, a root in another
 *    namespace, no business record left) do;
 *  - every other file stages exactly the records counted in it independently (business entities
 *    and their line elements, counted by this test's own reading of the mutated document), so
 *    every record read is staged; a record is invalid exactly when it has quarantine findings;
 *  - conservation (RULES.md §3): `runs.records_read` = the records staged, `records_quarantined` =
 *    the invalid ones; per record type the `ledger` fates add up to the records read and its
 *    `quarantined` fate is the number of invalid records;
 *  - every list key read gets exactly one decision, `REJECT` with `INVALID_RECORD` only when its
 *    winning version is invalid, none when it is deleted; no decision for a key not read; at most
 *    one return decision per return key, exactly one for a key with a valid winning version;
 *  - every fourth case is run again with 2 threads: the day's published rows are the same
 *    (RULES.md §1: reruns replace, whatever the thread count).
 * A second property runs the mutated day on top of a published generated day (cancels, pending
 * lists, duplicates and returns against yesterday), with the same checks.
 *
 * Seeded and replayable: the seed and fast-check path are printed on failure (and the failing day
 * folder is kept under /tmp/fuzz-*). DECLMATCH_FUZZ_SEED, DECLMATCH_FUZZ_RUNS and
 * DECLMATCH_FUZZ_PATH replay or lengthen; DECLMATCH_FUZZ_SHRINK=1 lets fast-check shrink a failure;
 * DECLMATCH_SOAK=1 runs many more cases.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { openDatabase, type Db } from '../src/db/duck.js';
import { generateDays } from '../src/generate/generator.js';
import { main } from '../src/cli/main.js';
import { projectRoot } from './xsd.js';

const ROOT = projectRoot();
const SHIM = join(ROOT, 'src', 'cli', 'declmatch.js');
const SAMPLES = join(ROOT, '..', 'shared', 'ceb-spec', 'samples-202205');
const DATE = '2025-06-12';
const SOAK = process.env.DECLMATCH_SOAK === '1';
const SEED = Number(process.env.DECLMATCH_FUZZ_SEED ?? (SOAK ? Date.now() % 2 ** 31 : 20261123));
const RUNS = Number(process.env.DECLMATCH_FUZZ_RUNS ?? (SOAK ? 400 : 30));
/** cases of the second property (a mutated day on top of a published one) */
const RUNS2 = Number(process.env.DECLMATCH_FUZZ_RUNS2 ?? Math.ceil(RUNS / 3));
const PATH = process.env.DECLMATCH_FUZZ_PATH;
const SHRINK = process.env.DECLMATCH_FUZZ_SHRINK === '1';

// ---- the messages, as this test reads them (independently of src/ingest) ---------------------------

interface MessageKind {
  type: string;
  table: string;
  entity: string;
  head?: string;
  line?: string;
  lineType?: string;
  lineTable?: string;
}
const READ_MESSAGES: Readonly<Record<string, MessageKind>> = {
  CEB303Message: { type: 'order', table: 'orders', entity: 'Order', head: 'OrderHead', line: 'OrderList', lineType: 'order_line', lineTable: 'order_lines' },
  CEB403Message: { type: 'receipt', table: 'receipts', entity: 'Receipts' },
  CEB505Message: { type: 'waybill', table: 'waybills', entity: 'Logistics' },
  CEB603Message: { type: 'list', table: 'lists', entity: 'Inventory', head: 'InventoryHead', line: 'InventoryList', lineType: 'list_line', lineTable: 'list_lines' },
  CEB605Message: { type: 'cancel', table: 'cancels', entity: 'InvtCancel' },
  CEB213Message: { type: 'return', table: 'returns', entity: 'InvtRefund', head: 'InvtRefundHead', line: 'InvtRefundList', lineType: 'return_line', lineTable: 'return_lines' },
};
const TABLES = ['orders', 'order_lines', 'receipts', 'waybills', 'lists', 'list_lines', 'cancels', 'returns', 'return_lines'];
const TYPE_OF_TABLE: Readonly<Record<string, string>> = {
  orders: 'order', order_lines: 'order_line', receipts: 'receipt', waybills: 'waybill', lists: 'list', list_lines: 'list_line', cancels: 'cancel', returns: 'return', return_lines: 'return_line',
};

type XNode = XEl | { kind: 'raw'; text: string };
interface XEl {
  kind: 'el';
  name: string;
  attrs: string;
  children: XNode[];
  empty: boolean;
  /** a namespace trick on this entity: it may or may not be read as a business entity */
  doubt?: boolean;
}
interface XDoc {
  bom: boolean;
  prolog: string;
  root: XEl;
  epilog: string;
}
const local = (name: string) => name.slice(name.indexOf(':') + 1);
const prefixOf = (name: string) => (name.includes(':') ? name.slice(0, name.indexOf(':')) : '');
const elements = (e: XEl) => e.children.filter((c): c is XEl => c.kind === 'el');

/** A small reader for the (well-formed) source messages: elements, and everything else kept as raw text. */
function parseDoc(bytes: Buffer): XDoc {
  let s = bytes.toString('utf8');
  const bom = s.charCodeAt(0) === 0xfeff;
  if (bom) s = s.slice(1);
  const tokens = s.match(/<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<\/[^>]+>|<[^>]+>|[^<]+/g) ?? [];
  let prolog = '';
  let epilog = '';
  let root: XEl | undefined;
  const stack: XEl[] = [];
  for (const t of tokens) {
    const top = stack[stack.length - 1];
    if (t.startsWith('</')) {
      const done = stack.pop();
      if (!done || done.name !== t.slice(2, -1).trim()) throw new Error(`source not well-formed at ${t}`);
    } else if (t.startsWith('<') && !t.startsWith('<?') && !t.startsWith('<!')) {
      const m = /^<([^\s/>]+)([\s\S]*?)(\/?)>$/.exec(t);
      if (!m) throw new Error(`source tag ${t}`);
      const el: XEl = { kind: 'el', name: m[1] as string, attrs: m[2] as string, children: [], empty: m[3] === '/' };
      if (top) top.children.push(el);
      else if (!root) root = el;
      else throw new Error('two roots');
      if (!el.empty) stack.push(el);
    } else if (top) top.children.push({ kind: 'raw', text: t });
    else if (root) epilog += t;
    else prolog += t;
  }
  if (!root || stack.length) throw new Error('source not well-formed');
  return { bom, prolog, root, epilog };
}
function serialize(n: XNode): string {
  if (n.kind === 'raw') return n.text;
  if (n.empty) return `<${n.name}${n.attrs}/>`;
  return `<${n.name}${n.attrs}>${n.children.map(serialize).join('')}</${n.name}>`;
}
const clone = <T>(x: T): T => structuredClone(x);

/** The entities of a read message and, per entity, the element holding its fields and its line elements. */
function entitiesOf(doc: XDoc, kind: MessageKind): XEl[] {
  return elements(doc.root).filter((e) => local(e.name) === kind.entity);
}
function fieldHolder(entity: XEl, kind: MessageKind): XEl | undefined {
  return kind.head ? elements(entity).find((e) => local(e.name) === kind.head) : entity;
}
function linesOf(entity: XEl, kind: MessageKind): XEl[] {
  return kind.line ? elements(entity).filter((e) => local(e.name) === kind.line) : [];
}

// ---- the mutations -------------------------------------------------------------------------------

/** A value written into a field: text (raw XML content) or a long run of one character. */
type Value = { text: string } | { big: number };
type Op =
  | { k: 'flip'; at: number; bit: number }
  | { k: 'truncate'; at: number }
  | { k: 'dupEntity' | 'removeEntity' | 'rebindEntityNs' | 'undeclaredPrefix'; i: number }
  | { k: 'moveEntity'; i: number; j: number }
  | { k: 'dupLine' | 'removeLine'; i: number; j: number }
  | { k: 'dupField' | 'removeField'; i: number; f: number }
  | { k: 'moveField' | 'swapValues'; i: number; f: number; g: number }
  | { k: 'setValue'; i: number; f: number; line: number | null; v: Value }
  | { k: 'rootNamespace' }
  | { k: 'inject'; at: number; what: 'comment' | 'pi' | 'cdata' | 'text' | 'charref' | 'unknownEntity' | 'doctype' };
interface FilePlan {
  /** a message the pipeline reads (most of the time), or another */
  other: boolean;
  src: number;
  ops: Op[];
  gzip: boolean;
}

const VALUES = [
  '20251332', '2025-06-12', '20250230', '20250612256060', '99999999999999', '', '   ', '1.234567', '1e5', '-0', '+1', '.5', '1,5', 'NaN', 'Infinity',
  '１２３', '0x10', '12345678901234567890.12345', '-1', 'ZZ', 'E', 'e', '9611', '3', '4', 'CNY', 'XXX', ' 142 ', '\t\n',
  '&amp;&lt;&gt;&quot;&apos;', '&#x41;&#66;', '<![CDATA[a<b&c]]>', 'a<!-- comment -->b', 'x<?fuzz pi?>y', '&unknown;', '&#0;', '\u0001', '\uFFFE', '\u{1F600}', 'a]]>b',
];
const valueArb: fc.Arbitrary<Value> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...VALUES).map((text) => ({ text })) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 30 }).map((s) => ({ text: s.replace(/&/g, '&amp;').replace(/</g, '&lt;') })) },
  { weight: 2, arbitrary: fc.integer({ min: 20, max: 6000 }).map((big) => ({ big })) },
  { weight: 1, arbitrary: fc.constantFrom({ big: 1024 * 1024 + 16 }, { big: 1024 * 1024 - 64 }) },
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ k: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constantFrom('dupEntity' as const, 'removeEntity' as const), i: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constantFrom('rebindEntityNs' as const, 'undeclaredPrefix' as const), i: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('moveEntity' as const), i: fc.nat(), j: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constantFrom('dupLine' as const, 'removeLine' as const), i: fc.nat(), j: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constantFrom('dupField' as const, 'removeField' as const), i: fc.nat(), f: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constantFrom('moveField' as const, 'swapValues' as const), i: fc.nat(), f: fc.nat(), g: fc.nat() }) },
  { weight: 12, arbitrary: fc.record({ k: fc.constant('setValue' as const), i: fc.nat(), f: fc.nat(), line: fc.option(fc.nat(), { nil: null, freq: 2 }), v: valueArb }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('rootNamespace' as const) }) },
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.constant('inject' as const), at: fc.nat(), what: fc.constantFrom('comment' as const, 'pi' as const, 'cdata' as const, 'text' as const, 'charref' as const, 'unknownEntity' as const, 'doctype' as const) }),
  },
);
const oneIn = (k: number) => fc.oneof({ weight: k - 1, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) });
const fileArb: fc.Arbitrary<FilePlan> = fc.record({ other: oneIn(10), src: fc.nat(), ops: fc.array(opArb, { maxLength: 5 }), gzip: oneIn(8) });
const caseArb = fc.array(fileArb, { minLength: 1, maxLength: 6 });

interface Source {
  name: string;
  root: string;
  bytes: Buffer;
}
/** What a mutated file must give: rejected whole, or exactly these counts of records (or one of the alternatives). */
interface Expectation {
  file: string;
  /** the root of a message the pipeline reads (else: skipped or malformed, nothing staged) */
  kind: MessageKind | null;
  mustReject: string | null;
  mayReject: string | null;
  /** acceptable [heads, lines] when the file is read */
  counts: [number, number][];
  /** why the counts cannot be known here (then any count is accepted, the other properties still hold) */
  uncertain: string | null;
}

function valueText(v: Value): string {
  return 'text' in v ? v.text : 'X'.repeat(v.big);
}
/** Text that may or must make the document not well-formed. */
function judgeValue(text: string, e: { must: string[]; may: string[] }): void {
  if (text.includes('&unknown;')) e.must.push('an unknown entity');
  if (text.length > 1024 * 1024) e.must.push('a text node over 1 MiB');
  if (/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/.test(text) || text.includes('&#0;') || text.includes(']]>')) e.may.push('a character XML does not allow');
}

/** Applies a file's plan to its source: the bytes to write and what they must give. */
function mutate(src: Source, plan: FilePlan, file: string): { bytes: Buffer; expect: Expectation } {
  const kind = READ_MESSAGES[src.root] ?? null;
  const doc = parseDoc(src.bytes);
  const must: string[] = [];
  const may: string[] = [];
  const uncertain: string[] = [];
  const e = { must, may };
  const bytesOps: Op[] = [];
  /** the values set: judged once every op is applied (a later op may remove or overwrite one) */
  const setTexts: string[] = [];
  for (const op of plan.ops) {
    const ents = kind ? entitiesOf(doc, kind) : [];
    const pick = <T>(xs: T[], n: number): T | undefined => (xs.length ? xs[n % xs.length] : undefined);
    const ent = 'i' in op ? pick(ents, op.i) : undefined;
    switch (op.k) {
      case 'flip':
      case 'truncate':
      case 'inject':
        bytesOps.push(op);
        break;
      case 'rootNamespace':
        doc.root.attrs = doc.root.attrs.replace(/http:\/\/www\.chinaport\.gov\.cn\/ceb/g, 'http://www.chinaport.gov.cn/ceb/fuzz');
        must.push('the root in another namespace');
        break;
      case 'dupEntity':
      case 'removeEntity':
      case 'moveEntity': {
        if (!ent) break;
        const at = doc.root.children.indexOf(ent);
        if (op.k === 'dupEntity') doc.root.children.splice(at + 1, 0, { kind: 'raw', text: '\n' }, clone(ent));
        else if (op.k === 'removeEntity') doc.root.children.splice(at, 1);
        else {
          const j = (op as { j: number }).j;
          const target = pick(ents, j) as XEl;
          if (target === ent) break;
          doc.root.children.splice(at, 1);
          doc.root.children.splice(doc.root.children.indexOf(target) + (j % 2), 0, ent);
        }
        break;
      }
      case 'rebindEntityNs':
      case 'undeclaredPrefix': {
        if (!ent) break;
        if (op.k === 'rebindEntityNs') {
          const p = prefixOf(ent.name);
          const decl = p ? ` xmlns:${p}="urn:fuzz"` : ' xmlns="urn:fuzz"';
          if (!ent.attrs.includes(decl)) ent.attrs += decl; // twice would be a duplicate attribute: a malformed file, not this mutation
        } else {
          const name = `zz:${local(ent.name)}`;
          ent.name = name;
          may.push('an undeclared prefix');
        }
        ent.doubt = true;
        break;
      }
      case 'dupLine':
      case 'removeLine': {
        if (!ent || !kind) break;
        const line = pick(linesOf(ent, kind), op.j);
        if (!line) break;
        const at = ent.children.indexOf(line);
        if (op.k === 'dupLine') ent.children.splice(at + 1, 0, clone(line));
        else ent.children.splice(at, 1);
        break;
      }
      case 'dupField':
      case 'removeField':
      case 'moveField':
      case 'swapValues': {
        if (!ent || !kind) break;
        const holder = fieldHolder(ent, kind);
        if (!holder) break;
        const fields = elements(holder);
        const f = pick(fields, op.f);
        if (!f) break;
        const at = holder.children.indexOf(f);
        if (op.k === 'dupField') holder.children.splice(at + 1, 0, clone(f));
        else if (op.k === 'removeField') holder.children.splice(at, 1);
        else {
          const g = pick(fields, (op as { g: number }).g) as XEl;
          if (op.k === 'swapValues') [f.children, g.children] = [g.children, f.children];
          else {
            holder.children.splice(at, 1);
            holder.children.splice(holder.children.indexOf(g) + 1, 0, f);
          }
        }
        break;
      }
      case 'setValue': {
        if (!ent || !kind) break;
        const holder = op.line === null ? fieldHolder(ent, kind) : pick(linesOf(ent, kind), op.line);
        if (!holder) break;
        const f = pick(elements(holder), op.f);
        if (!f) break;
        const text = valueText(op.v);
        f.children = [{ kind: 'raw', text }];
        f.empty = false;
        setTexts.push(text);
        break;
      }
    }
  }
  // the values set that the document still holds
  const texts = new Set<string>();
  const collect = (n: XNode): void => {
    if (n.kind === 'raw') texts.add(n.text);
    else for (const c of n.children) collect(c);
  };
  collect(doc.root);
  for (const text of setTexts) if (texts.has(text)) judgeValue(text, e);
  // what the document holds now, counted here
  const ents = kind ? entitiesOf(doc, kind) : [];
  const undoubted = ents.filter((x) => !x.doubt);
  const count = (xs: XEl[]): [number, number] => [xs.length, kind ? xs.reduce((s, x) => s + linesOf(x, kind).length, 0) : 0];
  const counts: [number, number][] = [count(ents)];
  if (undoubted.length !== ents.length) counts.push(count(undoubted));
  if (kind && undoubted.length === 0) (ents.length === 0 ? must : may).push('no business record');

  let text = (doc.bom ? '\uFEFF' : '') + doc.prolog + serialize(doc.root) + doc.epilog;
  let bytes = Buffer.from(text, 'utf8');
  for (const op of bytesOps) {
    const rootEnd = bytes.lastIndexOf(Buffer.from(`</${doc.root.name}>`)) + doc.root.name.length + 3;
    const rootStart = bytes.indexOf(Buffer.from(`<${doc.root.name}`));
    if (op.k === 'flip') {
      if (!bytes.length) continue;
      const at = op.at % bytes.length;
      bytes = Buffer.from(bytes);
      bytes[at] = (bytes[at] as number) ^ (1 << op.bit);
      may.push(`a bit flipped at byte ${at}`);
      // inside a comment, CDATA section or PI, a flip may end it elsewhere and swallow elements
      const lt = bytes.lastIndexOf(0x3c, at);
      const opener = lt >= 0 ? bytes.subarray(lt, lt + 9).toString('latin1') : '';
      const closer = opener.startsWith('<!--') ? '-->' : opener.startsWith('<![CDATA[') ? ']]>' : opener.startsWith('<?') ? '?>' : null;
      if (closer && bytes.indexOf(closer, lt + 2) + closer.length >= at) uncertain.push(`a bit flipped in a comment, CDATA section or PI at byte ${at}`);
    } else if (op.k === 'truncate') {
      const at = op.at % Math.max(1, bytes.length);
      bytes = bytes.subarray(0, at);
      if (at < rootEnd) must.push(`truncated at byte ${at}, inside the document`);
    } else if (op.k === 'inject') {
      if (op.what === 'doctype') {
        if (rootStart < 0) continue;
        bytes = Buffer.concat([bytes.subarray(0, rootStart), Buffer.from(`<!DOCTYPE ${doc.root.name}>\n`), bytes.subarray(rootStart)]);
        must.push('a DOCTYPE');
        continue;
      }
      // after a '>' inside the root element (between tags or inside a field's text)
      if (rootStart < 0) continue;
      const gaps: number[] = [];
      for (let i = rootStart; i >= 0 && i < rootEnd - 1; i = bytes.indexOf(0x3e, i + 1)) if (i > rootStart) gaps.push(i + 1);
      const at = gaps.length ? (gaps[op.at % gaps.length] as number) : rootStart;
      const add = { comment: '<!-- fuzz -->', pi: '<?fuzz x?>', cdata: '<![CDATA[fuzz]]>', text: 'fuzz', charref: '&#x4E2D;&amp;', unknownEntity: '&fuzz;' }[op.what];
      bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(add), bytes.subarray(at)]);
      if (op.what === 'unknownEntity') must.push('an unknown entity');
      else if (op.what !== 'comment' && op.what !== 'pi') may.push('text where the message has none');
    }
  }
  if (plan.gzip) bytes = gzipSync(bytes);
  return { bytes, expect: { file, kind, mustReject: must[0] ?? null, mayReject: may[0] ?? null, uncertain: uncertain[0] ?? null, counts } };
}

// ---- the sources -----------------------------------------------------------------------------------

let work = '';
let sources: Source[] = [];
let day1Db = '';
/** set when a case fails: its folder (and the generated sources) are kept for the replay */
let keep = false;
before(async () => {
  // the run's log lines would drown the test output; main() still reports errors on stderr (captured)
  process.env.DECLMATCH_LOG_LEVEL = 'silent';
  work = mkdtempSync(join(tmpdir(), 'fuzz-'));
  const days = join(work, 'generated');
  await generateDays({ out: days, date: '2025-06-11', days: 2, lists: 40, seed: 'fuzz', format: 'xml', anomalyRate: 0.2 });
  const read = (dir: string, n: string) => {
    const raw = readFileSync(join(dir, n));
    const bytes = raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw;
    const root = /<(?:[\w.-]+:)?(CEB\d{3}Message)[\s>]/.exec(bytes.toString('utf8'))?.[1] ?? '';
    return { name: n.replace(/\.gz$/, ''), root, bytes };
  };
  for (const d of ['2025-06-11', '2025-06-12']) for (const n of readdirSync(join(days, d)).sort()) sources.push(read(join(days, d), n));
  for (const n of readdirSync(SAMPLES).sort()) if (/^CEB(303|403|505|603|605|213|507|604|304|606)Message\.xml$/.test(n)) sources.push(read(SAMPLES, n));
  sources = sources.filter((s) => s.root);
  // the generated day before DATE, published: the second property decides mutated days on top of it
  day1Db = join(work, 'day1.duckdb');
  const r = await runCase(join(days, '2025-06-11'), day1Db);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!existsSync(`${day1Db}.wal`));
});
after(() => {
  if (work && !keep) rmSync(work, { recursive: true, force: true });
  else if (keep) process.stderr.write(`fuzz: the failing case is kept in ${work}\n`);
});

// ---- one case: write, run, check ----------------------------------------------------------------

/** A plan's source. */
function sourceOf(p: FilePlan): Source {
  const pool = sources.filter((s) => Boolean(READ_MESSAGES[s.root]) !== p.other);
  return pool[p.src % pool.length] as Source;
}

/** The plan that writes the source `name` as it is (or with `ops`). */
function planOf(name: string, ops: Op[] = []): FilePlan {
  const read = sources.filter((s) => READ_MESSAGES[s.root]);
  const other = sources.filter((s) => !READ_MESSAGES[s.root]);
  const r = read.findIndex((s) => s.name === name);
  const o = other.findIndex((s) => s.name === name);
  assert.ok(r >= 0 || o >= 0, `no source ${name}`);
  return { other: r < 0, src: r >= 0 ? r : o, ops, gzip: false };
}

let caseNo = 0;
/** why files were rejected whole, for the diagnostics */
const rejectedBy = new Map<string, number>();
const stats = { cases: 0, files: 0, rejected: 0, reruns: 0, read: 0, records: 0, invalid: 0, decisions: 0 };

function writeCase(plans: FilePlan[]): { dir: string; day: string; db: string; expects: Expectation[] } {
  const dir = join(work, `case-${++caseNo}`);
  const day = join(dir, DATE);
  mkdirSync(day, { recursive: true });
  const expects: Expectation[] = [];
  plans.forEach((p, n) => {
    const src = sourceOf(p);
    const file = `F${String(n).padStart(2, '0')}_${src.name}${p.gzip ? '.gz' : ''}`;
    const { bytes, expect } = mutate(src, p, file);
    writeFileSync(join(day, file), bytes);
    expects.push(expect);
  });
  return { dir, day, db: join(dir, 'fuzz.duckdb'), expects };
}

async function all(db: Db, sql: string): Promise<Record<string, unknown>[]> {
  return db.all(sql);
}
const n = (v: unknown) => Number(v ?? 0);
const ymd = DATE.replace(/-/g, '');

/** The properties of the header, on the published database of one case. */
async function checkCase(dbFile: string, expects: Expectation[]): Promise<void> {
  const db = await openDatabase(dbFile, { threads: 1 });
  try {
    const d = `DATE '${DATE}'`;
    const files = await all(db, `SELECT file, status, detail FROM input_files WHERE business_date = ${d} ORDER BY file`);
    assert.deepEqual(files.map((f) => String(f.file)), expects.map((x) => x.file).sort(), 'every file is listed once in input_files');
    const status = new Map(files.map((f) => [String(f.file), String(f.status)]));
    const detail = new Map(files.map((f) => [String(f.file), String(f.detail)]));

    // per file and record table: rows staged, and invalid rows
    const staged = new Map<string, { rows: number; invalid: number }>();
    for (const t of TABLES)
      for (const r of await all(db, `SELECT source_file AS f, count(*) AS rows, count(*) FILTER (WHERE NOT record_valid) AS invalid FROM hist_${t}__${ymd} GROUP BY ALL`))
        staged.set(`${String(r.f)}|${t}`, { rows: n(r.rows), invalid: n(r.invalid) });
    const quarantine = await all(db, `SELECT file, record_index, record_type, code FROM quarantine WHERE business_date = ${d}`);

    let records = 0;
    let invalid = 0;
    for (const x of expects) {
      const st = status.get(x.file);
      const why = `${x.file}: ${st} (${detail.get(x.file)}); expected ${x.mustReject ? `rejected whole (${x.mustReject})` : `${JSON.stringify(x.counts)} [heads, lines]${x.mayReject ? ` or rejected (${x.mayReject})` : ''}`}`;
      const rowsOf = (t: string) => staged.get(`${x.file}|${t}`) ?? { rows: 0, invalid: 0 };
      const malformedRows = quarantine.filter((q) => q.file === x.file && q.code === 'MALFORMED_MESSAGE');
      if (st !== 'ok') {
        stats.rejected++;
        const reason = !x.kind ? 'a message not read' : (x.mustReject ?? x.mayReject ?? '?').replace(/ at byte \d+.*/, '');
        rejectedBy.set(reason, (rejectedBy.get(reason) ?? 0) + 1);
        assert.ok(st === 'malformed' || st === 'skipped', why);
        if (!x.kind && st === 'malformed') assert.ok(x.mustReject || x.mayReject, `${why}: a well-formed message of another kind is skipped, not quarantined`);
        if (x.kind) assert.ok(x.mustReject || x.mayReject, `${why}: only a broken file is rejected`);
        for (const t of TABLES) assert.equal(rowsOf(t).rows, 0, `${why}: nothing staged from a rejected file (${t})`);
        assert.equal(malformedRows.length, st === 'malformed' ? 1 : 0, `${why}: one MALFORMED_MESSAGE row for a file quarantined whole`);
        assert.equal(quarantine.filter((q) => q.file === x.file).length, malformedRows.length, `${why}: no other quarantine row`);
        continue;
      }
      stats.read++;
      assert.ok(x.kind, `${why}: a message the pipeline does not read is not read`);
      assert.equal(x.mustReject, null, `${why}: this file must be rejected whole`);
      assert.equal(malformedRows.length, 0, why);
      const kind = x.kind as MessageKind;
      const got: [number, number] = [rowsOf(kind.table).rows, kind.lineTable ? rowsOf(kind.lineTable).rows : 0];
      if (!x.uncertain) assert.ok(x.counts.some(([h, l]) => h === got[0] && l === got[1]), `${why}; staged ${JSON.stringify(got)}: every record read is staged`);
      for (const t of TABLES) if (t !== kind.table && t !== kind.lineTable) assert.equal(rowsOf(t).rows, 0, `${why}: nothing staged in ${t}`);
      records += got[0] + got[1];
      invalid += rowsOf(kind.table).invalid + (kind.lineTable ? rowsOf(kind.lineTable).invalid : 0);
    }
    stats.records += records;
    stats.invalid += invalid;

    // a record is invalid exactly when it has findings (same file, record type and position)
    const findings = await all(db, `SELECT DISTINCT file, record_type, record_index FROM quarantine WHERE business_date = ${d} AND code NOT IN ('MALFORMED_MESSAGE', 'CANCEL_TARGET_MISSING', 'CANCEL_PARTY_MISMATCH') ORDER BY ALL`);
    const invalidRows: Record<string, unknown>[] = [];
    for (const t of TABLES)
      invalidRows.push(...(await all(db, `SELECT DISTINCT source_file AS file, '${TYPE_OF_TABLE[t]}' AS record_type, record_index FROM hist_${t}__${ymd} WHERE NOT record_valid`)));
    const key = (r: Record<string, unknown>) => `${String(r.file)}|${String(r.record_type)}|${String(r.record_index)}`;
    assert.deepEqual([...new Set(invalidRows.map(key))].sort(), findings.map(key).sort(), 'the invalid records are exactly those with quarantine findings');

    // conservation: the run record and the ledger
    const runs = await all(db, `SELECT status, exit_code, records_read, records_quarantined FROM runs WHERE business_date = ${d}`);
    assert.equal(runs.length, 1, 'one run of the day');
    assert.equal(runs[0]?.status, 'published');
    assert.equal(n(runs[0]?.records_read), records, 'runs.records_read = the records counted in the files');
    assert.equal(n(runs[0]?.records_quarantined), invalid, 'runs.records_quarantined = the invalid records staged');
    const ledger = await all(db, `SELECT record_type, fate, count FROM ledger WHERE business_date = ${d}`);
    for (const kind of Object.values(READ_MESSAGES)) {
      // a record is invalid when its head or a line of it is (RULES.md §3: matching leaves the whole record out)
      const key = { order: ['ebp_code', 'ebc_code', 'order_no'], list: ['agent_code', 'cop_no'], return: ['agent_code', 'co_el_no'] }[kind.type as 'order'] ?? [];
      const badLine = kind.lineTable
        ? ` OR EXISTS (SELECT 1 FROM hist_${kind.lineTable}__${ymd} l WHERE NOT l.record_valid AND l.head_guid = h.guid${key.map((c) => ` AND l.${c} = h.${c}`).join('')})`
        : '';
      const [read] = await all(db, `SELECT count(*) AS n, count(*) FILTER (WHERE NOT h.record_valid${badLine}) AS bad FROM hist_${kind.table}__${ymd} h`);
      const mine = ledger.filter((l) => l.record_type === kind.type);
      const sum = mine.filter((l) => l.fate !== 'expired').reduce((s, l) => s + n(l.count), 0);
      assert.equal(sum, n(read?.n), `ledger: the fates of ${kind.type} add up to the records read (${mine.map((l) => `${String(l.fate)} ${String(l.count)}`).join(', ')})`);
      assert.equal(mine.filter((l) => l.fate === 'quarantined').reduce((s, l) => s + n(l.count), 0), n(read?.bad), `ledger: ${kind.type} quarantined = invalid records`);
    }

    // every list key read today: one decision when its winning version (latest wins over every day
    // so far, drafts left out) is today's; REJECT with INVALID_RECORD only when that version is
    // invalid; none when it is a valid delete
    const lists = await all(
      db,
      `WITH v AS (
         SELECT h.agent_code, h.cop_no, h.app_type, h.business_date,
           NOT h.record_valid OR EXISTS (SELECT 1 FROM hist_list_lines l WHERE l.business_date <= ${d} AND NOT l.record_valid AND l.head_guid = h.guid AND l.agent_code = h.agent_code AND l.cop_no = h.cop_no) AS bad,
           row_number() OVER (PARTITION BY h.agent_code, h.cop_no ORDER BY h.app_time DESC NULLS LAST, h.business_date DESC, h.source_file DESC, h.record_index DESC) AS rn
         FROM hist_lists h WHERE h.business_date <= ${d} AND h.agent_code IS NOT NULL AND h.cop_no IS NOT NULL AND h.app_status IS DISTINCT FROM '1')
       SELECT v.agent_code, v.cop_no, v.bad, v.app_type, count(x.decision) AS decisions, any_value(x.decision) AS decision, any_value(x.reasons)::VARCHAR AS reasons
       FROM v LEFT JOIN decisions x ON x.business_date = ${d} AND x.agent_code = v.agent_code AND x.cop_no = v.cop_no
       WHERE v.rn = 1 AND v.business_date = ${d} GROUP BY ALL`,
    );
    for (const l of lists) {
      const k = `list ${String(l.agent_code)}|${String(l.cop_no)}`;
      if (l.bad) {
        assert.equal(n(l.decisions), 1, `${k}: an invalid winning version is decided once`);
        assert.equal(l.decision, 'REJECT', k);
        assert.equal(l.reasons, '[INVALID_RECORD]', `${k}: INVALID_RECORD is the only reason`);
      } else if (l.app_type === '3') assert.equal(n(l.decisions), 0, `${k}: a deleted list is not decided`);
      else assert.equal(n(l.decisions), 1, `${k}: every list read is decided exactly once`);
    }
    // and no other decision: a list decided today was read today, or was pending, or is cancelled
    const [strays] = await all(
      db,
      `SELECT count(*) AS n, any_value(agent_code || '|' || cop_no || ' ' || decision) AS e FROM decisions x WHERE business_date = ${d}
         AND NOT EXISTS (SELECT 1 FROM hist_lists h WHERE h.business_date = ${d} AND h.agent_code = x.agent_code AND h.cop_no = x.cop_no)
         AND NOT (x.decision = 'CANCELLED' AND EXISTS (SELECT 1 FROM decisions p WHERE p.business_date < ${d} AND p.agent_code = x.agent_code AND p.cop_no = x.cop_no))
         AND NOT EXISTS (SELECT 1 FROM decisions p WHERE p.business_date < ${d} AND p.agent_code = x.agent_code AND p.cop_no = x.cop_no AND p.decision = 'PENDING')`,
    );
    assert.equal(n(strays?.n), 0, `no decision for a list neither read, pending nor cancelled (${String(strays?.e)})`);
    const [dup] = await all(db, `SELECT count(*) AS n FROM (SELECT agent_code, cop_no FROM decisions WHERE business_date = ${d} GROUP BY ALL HAVING count(*) > 1)`);
    assert.equal(n(dup?.n), 0, 'one decision per list');
    stats.decisions += lists.reduce((s, l) => s + n(l.decisions), 0);

    // returns (decided on the day they are received): one decision for a key whose winning valid
    // version is today's and not a delete; none for a key not read today
    const returns = await all(
      db,
      `WITH v AS (
         SELECT h.agent_code, h.co_el_no, h.app_type, h.business_date,
           row_number() OVER (PARTITION BY h.agent_code, h.co_el_no ORDER BY h.app_time DESC, h.business_date DESC, h.source_file DESC, h.record_index DESC) AS rn
         FROM hist_returns h WHERE h.business_date <= ${d} AND h.record_valid AND h.app_status = '2'
           AND NOT EXISTS (SELECT 1 FROM hist_return_lines l WHERE l.business_date <= ${d} AND NOT l.record_valid AND l.head_guid = h.guid AND l.agent_code = h.agent_code AND l.co_el_no = h.co_el_no))
       SELECT v.agent_code, v.co_el_no, v.app_type, (SELECT count(*) FROM return_decisions x WHERE x.business_date = ${d} AND x.agent_code = v.agent_code AND x.co_el_no = v.co_el_no) AS decisions
       FROM v WHERE rn = 1 AND v.business_date = ${d}`,
    );
    for (const r of returns)
      assert.equal(n(r.decisions), r.app_type === '3' ? 0 : 1, `return ${String(r.agent_code)}|${String(r.co_el_no)} (appType ${String(r.app_type)}): decided ${n(r.decisions)} time(s)`);
    const [rdup] = await all(db, `SELECT count(*) AS n FROM (SELECT agent_code, co_el_no FROM return_decisions WHERE business_date = ${d} GROUP BY ALL HAVING count(*) > 1)`);
    assert.equal(n(rdup?.n), 0, 'one decision per return');
    const [rstray] = await all(
      db,
      `SELECT count(*) AS n FROM return_decisions x WHERE business_date = ${d} AND NOT EXISTS (SELECT 1 FROM hist_returns h WHERE h.business_date = ${d} AND h.agent_code = x.agent_code AND h.co_el_no = x.co_el_no AND h.record_valid)`,
    );
    assert.equal(n(rstray?.n), 0, 'no decision for a return not read today');
  } finally {
    db.close();
  }
}

/** Every few cases the day is run again (RULES.md §1: same rows whatever the thread count). */
const RERUN_EVERY = 4;

/** The day's rows of every published table with a business_date (run ids masked), and its history tables. */
async function dayRows(dbFile: string): Promise<Record<string, string[]>> {
  const db = await openDatabase(dbFile, { threads: 1 });
  try {
    const out: Record<string, string[]> = {};
    const tables = await db.all(
      `SELECT table_name AS t, list(column_name ORDER BY column_index) AS cols FROM duckdb_columns() WHERE schema_name = 'main' AND table_name IN (SELECT table_name FROM duckdb_tables())
         AND table_name NOT IN ('runs', 'run_stages') AND table_name NOT LIKE 'stg\\_%' ESCAPE '\\' GROUP BY ALL ORDER BY 1`,
    );
    for (const row of tables) {
      const t = String(row.t);
      const cols = (row.cols as unknown as string[]).map(String);
      if (!cols.includes('business_date') && !t.endsWith(`__${ymd}`)) continue;
      const where = cols.includes('business_date') ? `WHERE business_date = DATE '${DATE}'` : '';
      const shown = cols.map((c) => (c === 'run_id' ? `'<run>' AS run_id` : `"${c}"::VARCHAR AS "${c}"`));
      out[t] = (await db.all(`SELECT to_json(x)::VARCHAR AS j FROM (SELECT ${shown.join(', ')} FROM "${t}" ${where}) x`)).map((r) => String(r.j)).sort();
    }
    return out;
  } finally {
    db.close();
  }
}

/** Runs one case through the CLI entry point; returns the exit code and what it wrote to stderr. */
async function runCase(day: string, db: string, threads = 1): Promise<{ code: number; stderr: string }> {
  const listeners = process.stdout.listeners('error');
  const write = process.stderr.write;
  let stderr = '';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  }) as typeof process.stderr.write;
  try {
    const code = await main(['run', day, '--db', db, '--threads', String(threads), '--no-log-file', '-q', '--quarantine-threshold', '1']);
    return { code, stderr };
  } finally {
    process.stderr.write = write;
    for (const l of process.stdout.listeners('error')) if (!listeners.includes(l)) process.stdout.off('error', l as (...a: unknown[]) => void);
  }
}


function describePlan(plans: FilePlan[]): string {
  return plans
    .map((p, i) => {
      const src = sourceOf(p);
      const ops = p.ops.map((o) => (o.k === 'setValue' ? `setValue(${'text' in o.v ? JSON.stringify(o.v.text.slice(0, 40)) : `X×${o.v.big}`})` : o.k)).join(', ');
      return `F${i}: ${src.name} [${ops || 'as is'}]${p.gzip ? ' gzip' : ''}`;
    })
    .join('; ');
}

/** One case: the plans' files as the day DATE, into a fresh database or (afterDay1) a copy of one holding the generated day before. */
async function property(plans: FilePlan[], afterDay1 = false): Promise<void> {
  const c = writeCase(plans);
  if (afterDay1) copyFileSync(day1Db, c.db);
  const context = `case ${c.day} (${describePlan(plans)})`;
  let r: { code: number; stderr: string };
  try {
    r = await runCase(c.day, c.db);
  } catch (e) {
    throw new Error(`${context}: main() threw ${(e as Error)?.stack ?? String(e)}`);
  }
  try {
    assert.equal(r.code, 0, `declmatch run exits 0 with --quarantine-threshold 1 (1: above the threshold, 2: checks failed, 3: a crash); stderr:\n${r.stderr.slice(-3000)}`);
    await checkCase(c.db, c.expects);
    // RULES.md §1: a rerun of the day, with another thread count, replaces it with the same rows
    if (caseNo % RERUN_EVERY === 0) {
      const first = await dayRows(c.db);
      assert.ok(first.decisions && first.ledger && first.input_files && Object.keys(first).length >= 20, `the day's rows: ${Object.keys(first).join(', ')}`);
      const again = await runCase(c.day, c.db, 2);
      assert.equal(again.code, 0, `the rerun exits 0; stderr:\n${again.stderr.slice(-3000)}`);
      const second = await dayRows(c.db);
      for (const t of Object.keys(first)) assert.deepEqual(second[t], first[t], `a rerun with 2 threads publishes the same ${t}`);
      stats.reruns++;
    }
  } catch (e) {
    keep = true;
    const db = afterDay1 ? `a copy of ${day1Db} (the generated day before)` : '/tmp/fuzz-replay.duckdb';
    (e as Error).message = `${context}\n  replay the day: node src/cli/declmatch.js run ${c.day} --db ${db} --quarantine-threshold 1\n  ${(e as Error).message}`;
    throw e; // the folder is kept for the replay
  }
  stats.cases++;
  stats.files += plans.length;
  rmSync(c.dir, { recursive: true, force: true });
}

test('this test reads every source message back byte for byte, and all of them unmutated in one day stage every record', async () => {
  assert.ok(sources.length >= 20, `sources: ${sources.map((s) => s.name).join(', ')}`);
  for (const s of sources) {
    const doc = parseDoc(s.bytes);
    assert.equal(Buffer.from((doc.bom ? '\uFEFF' : '') + doc.prolog + serialize(doc.root) + doc.epilog).equals(s.bytes), true, `${s.name} reads back byte for byte`);
  }
  // every source once, unmutated, in one day: nothing rejected but the messages not read
  const plans = sources.map((s) => planOf(s.name));
  assert.deepEqual(plans.map((p) => sourceOf(p).name), sources.map((s) => s.name));
  await property(plans);
});

async function fuzz(t: { diagnostic: (m: string) => void }, runs: number, afterDay1: boolean): Promise<void> {
  const seed = afterDay1 ? SEED + 1 : SEED;
  const env = afterDay1 ? 'DECLMATCH_FUZZ_SEED (plus 1 here)' : 'DECLMATCH_FUZZ_SEED';
  t.diagnostic(`seed ${seed}${PATH ? ` path ${PATH}` : ''}, ${runs} runs; replay with ${env}=${SEED}${PATH ? ` DECLMATCH_FUZZ_PATH=${PATH}` : ''}`);
  const t0 = Date.now();
  const before = { ...stats };
  const out = await fc.check(
    fc.asyncProperty(caseArb, (plans) => property(plans, afterDay1)),
    { seed, numRuns: runs, ...(PATH ? { path: PATH } : {}), endOnFailure: !SHRINK },
  );
  if (out.failed) {
    const err = out.errorInstance as Error | undefined;
    assert.fail(
      `fuzzing failed after ${out.numRuns} run(s): seed ${out.seed}, path ${out.counterexamplePath}` +
        ` (replay: ${env}=${SEED} DECLMATCH_FUZZ_PATH=${out.counterexamplePath} node --test --test-name-pattern='${afterDay1 ? 'on top of' : 'fresh database'}' dist/test/fuzz.test.js)\n` +
        `counterexample: ${JSON.stringify(out.counterexample)}\n${err?.message ?? String(out.errorInstance)}`,
    );
  }
  const d = (k: keyof typeof stats) => stats[k] - before[k];
  t.diagnostic(
    `${d('cases')} cases (${d('reruns')} run twice), ${d('files')} files (${d('rejected')} rejected whole, ${d('read')} read), ` +
      `${d('records')} records staged (${d('invalid')} invalid), ${d('decisions')} list decisions, ${((Date.now() - t0) / 1000).toFixed(1)} s; ` +
      `rejected so far: ${[...rejectedBy].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`,
  );
}

test(`fuzzing declmatch run with mutated valid messages, a fresh database per case (fast-check seed ${SEED}, ${RUNS} runs)`, async (t) => {
  await fuzz(t, RUNS, false);
});

test(`fuzzing declmatch run with mutated valid messages on top of a published day (fast-check seed ${SEED + 1}, ${RUNS2} runs)`, async (t) => {
  await fuzz(t, RUNS2, true);
});

test('the real command on one mutated mix: exit 0 and no signal, as a child process', () => {
  const plans = fc.sample(caseArb, { seed: SEED, numRuns: 1 })[0] as FilePlan[];
  const c = writeCase([...plans, planOf('CEB603_000001.xml', [{ k: 'truncate', at: 100 }])]);
  const env = { ...process.env };
  delete env.DECLMATCH_LOG_LEVEL;
  const r = spawnSync(process.execPath, [SHIM, 'run', c.day, '--db', c.db, '--threads', '2', '--no-log-file', '--quarantine-threshold', '1', '--json'], { cwd: ROOT, encoding: 'utf8', env, timeout: 180_000 });
  assert.equal(r.signal, null, r.stderr.slice(-3000));
  assert.equal(r.status, 0, `${describePlan(plans)}\n${r.stderr.slice(-3000)}`);
  const j = JSON.parse(r.stdout) as { ledger: { recordType: string; read: number; staged: number; quarantined: number }[] };
  for (const l of j.ledger) assert.equal(l.read, l.staged + l.quarantined, `--json ledger: read = staged + quarantined for ${l.recordType}`);
  rmSync(c.dir, { recursive: true, force: true });
});

test(
  'a day with a return and lists dated before the first policy version is decided under the earliest version (the official samples, 2020-01-06)',
  async () => {
    // the official samples as published, as the day they are dated (2020-01-06; the bundled policy starts 2020-07-01)
    const dir = join(work, 'before-policy');
    const day = join(dir, '2020-01-06');
    mkdirSync(day, { recursive: true });
    for (const n of ['CEB303Message.xml', 'CEB505Message.xml', 'CEB603Message.xml', 'CEB213Message.xml']) writeFileSync(join(day, n), readFileSync(join(SAMPLES, n)));
    const dbFile = join(dir, 'x.duckdb');
    const r = await runCase(day, dbFile);
    assert.equal(r.code, 0, `the day is published whatever the dates of its records; stderr:\n${r.stderr.slice(-2000)}`);
    const db = await openDatabase(dbFile, { threads: 1 });
    try {
      const runs = await db.all(`SELECT status, policy_id FROM runs`);
      assert.deepEqual(runs.map((x) => [x.status, x.policy_id]), [['published', 'gacc-2020-75']]);
      const rets = await db.all(`SELECT policy_id, count(*) AS n FROM return_decisions GROUP BY ALL`);
      assert.deepEqual(rets.map((x) => [x.policy_id, Number(x.n)]), [['gacc-2020-75', 2]], "the sample's two return keys (back_26339801, back_26339802 nine times: latest wins), each decided under the earliest version");
      const lists = await db.all(`SELECT DISTINCT policy_id FROM decisions`);
      assert.deepEqual(lists.map((x) => x.policy_id), ['gacc-2020-75'], 'the lists too');
    } finally {
      db.close();
    }
    rmSync(dir, { recursive: true, force: true });
  },
);

/**
 * RULES.md §1 skips only well-formed messages of other kinds; §3 quarantines every file that is not
 * well-formed with MALFORMED_MESSAGE, whatever its first bytes say: a truncated CEB507, or a CEB603
 * whose root start tag was damaged into CEB613Message (its lists must not vanish without a trace).
 */
test(
  'a broken file whose root names a message the pipeline does not read is quarantined, not skipped',
  async () => {
    const c = writeCase([planOf('CEB603_000001.xml')]);
    writeFileSync(join(c.day, 'A_CEB507_truncated.xml'), readFileSync(join(SAMPLES, 'CEB507Message.xml')).subarray(0, 2000));
    writeFileSync(join(c.day, 'B_CEB603_root_damaged.xml'), readFileSync(join(SAMPLES, 'CEB603Message.xml'), 'utf8').replace('<ceb:CEB603Message', '<ceb:CEB613Message'));
    const r = await runCase(c.day, c.db);
    assert.equal(r.code, 0, r.stderr);
    const db = await openDatabase(c.db, { threads: 1 });
    try {
      const files = await db.all(`SELECT file, status, detail FROM input_files WHERE file <> 'F00_CEB603_000001.xml' ORDER BY file`);
      const q = await db.all(`SELECT file, code FROM quarantine WHERE code = 'MALFORMED_MESSAGE' ORDER BY file`);
      assert.deepEqual(
        files.map((f) => [f.file, f.status]),
        [['A_CEB507_truncated.xml', 'malformed'], ['B_CEB603_root_damaged.xml', 'malformed']],
        `not well-formed, so quarantined whole: ${JSON.stringify(files)}`,
      );
      assert.deepEqual(q.map((x) => x.file), ['A_CEB507_truncated.xml', 'B_CEB603_root_damaged.xml']);
    } finally {
      db.close();
    }
    rmSync(c.dir, { recursive: true, force: true });
  },
);
