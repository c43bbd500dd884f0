/**
 * The fast XML parse path (src/ingest/ceb-fast.ts) against the fast-xml-parser reference path:
 * the same entities (fields, values, key order, lines), the same outcome (the same message for a
 * malformed file, line and column included) and so the same ParseResult (records, counts,
 * quarantine rows, Arrow batches), on the official samples, every fixture of test/xml.test.ts
 * and a few thousand seeded mutations of them, read in pieces of seeded random sizes and under
 * seeded random caps.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { parseFile, parseGroup, type ParseResult } from '../src/ingest/parse-file.js';
import { readBatch } from '../src/ingest/batch.js';
import { DEFAULT_XML_CAPS, readCebXml, type RawEntity, type XmlCaps, type XmlParserKind } from '../src/ingest/xml.js';
import { MESSAGE_ROOTS } from '../src/spec/fields.js';
import { projectRoot } from './xsd.js';


const ROOT = projectRoot();
const FIXTURES = join(ROOT, 'fixtures', 'xml');
const SAMPLES = join(ROOT, '..', 'shared', 'ceb-spec', 'samples-202205');
const CEB_NS = 'http://www.chinaport.gov.cn/ceb';
/** How many mutations, and the first seed: DECLMATCH_PARSER_DIFF=<count>[:<seed>] for a longer run. */
const [MUTANTS, MUTANT_SEED] = (() => {
  const m = /^(\d+)(?::(\d+))?$/.exec(process.env.DECLMATCH_PARSER_DIFF ?? '');
  return m ? [Number(m[1]), Number(m[2] ?? 1000)] : [3000, 1000];
})();
/** The samples of messages this pipeline reads. */
const READ = /CEB(303|403|505|603|605|213)Message/;

const samples = readdirSync(SAMPLES)
  .filter((n) => n.endsWith('.xml'))
  .sort()
  .map((n) => ({ name: n, bytes: readFileSync(join(SAMPLES, n)) }));
const fixtures = readdirSync(FIXTURES)
  .filter((n) => n.endsWith('.xml'))
  .sort()
  .map((n) => ({ name: n, bytes: readFileSync(join(FIXTURES, n)) }));

// ---- seeded randomness ----------------------------------------------------------------------------

type Rng = (n: number) => number;

function rng(seed: number): Rng {
  let a = seed >>> 0;
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % n) >>> 0;
  };
}

const pick = <T>(r: Rng, xs: readonly T[]): T => xs[r(xs.length)]!;

// ---- reading with both paths -----------------------------------------------------------------------

/** A byte stream of `data` in pieces of 1..maxPiece bytes (seeded), or whole 64 KiB pieces. */
function pieces(data: Uint8Array, seed: number, maxPiece: number): Readable {
  const r = rng(seed);
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; ) {
    const n = maxPiece >= 65536 ? 65536 : 1 + r(maxPiece);
    out.push(Buffer.from(data.subarray(i, i + n)));
    i += n;
  }
  return Readable.from(out);
}

/** Everything a read gives, as text: the outcome, and each entity with its keys in order. */
async function readAs(parser: XmlParserKind, data: Uint8Array, caps: XmlCaps, seed: number, maxPiece: number): Promise<{ outcome: string; entities: string[] }> {
  const entities: RawEntity[] = [];
  const outcome = await readCebXml(pieces(data, seed, maxPiece), (e) => entities.push(e), caps, parser);
  for (const e of entities) {
    assert.equal(Object.getPrototypeOf(e.head), null);
    for (const l of e.lines) assert.equal(Object.getPrototypeOf(l), null);
  }
  return {
    outcome: JSON.stringify(outcome),
    entities: entities.map((e) => JSON.stringify([e.index, e.messageGuid, Object.entries(e.head), e.lines.map((l) => Object.entries(l))])),
  };
}

function differ(what: string, fast: string, ref: string): never {
  let i = 0;
  while (i < fast.length && fast[i] === ref[i]) i++;
  assert.fail(`${what}: the paths differ at ${i}\n  fast:      …${fast.slice(Math.max(0, i - 80), i + 200)}\n  reference: …${ref.slice(Math.max(0, i - 80), i + 200)}`);
}

/**
 * The same outcome, and the same entities. Of a malformed file (whose entities the caller drops)
 * the fast path may have delivered more before it stopped: an invalid character is found where it
 * is read, not before the piece of input that holds it is read, so the reference's entities are
 * a prefix of the fast path's.
 */
async function assertSameRead(data: Uint8Array, what: string, caps: XmlCaps = DEFAULT_XML_CAPS, seed = 1, maxPiece = 65536): Promise<string> {
  const ref = await readAs('reference', data, caps, seed, maxPiece);
  const fast = await readAs('fast', data, caps, seed, maxPiece);
  if (fast.outcome !== ref.outcome) differ(`${what}, outcome`, fast.outcome, ref.outcome);
  const malformed = ref.outcome.includes('"status":"malformed"');
  if (!malformed && fast.entities.length !== ref.entities.length) {
    assert.fail(`${what}: ${fast.entities.length} entities on the fast path, ${ref.entities.length} on the reference`);
  }
  if (fast.entities.length < ref.entities.length) assert.fail(`${what}: fewer entities on the fast path`);
  for (let i = 0; i < ref.entities.length; i++) {
    if (fast.entities[i] !== ref.entities[i]) differ(`${what}, entity ${i + 1}`, fast.entities[i]!, ref.entities[i]!);
  }
  return ref.outcome;
}

// ---- ParseResult through parseFile -----------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), 'declmatch-parser-diff-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;

function resultText(r: ParseResult): { header: string; ipc: Buffer[] } {
  const { batches, ...rest } = r;
  return {
    header: JSON.stringify({ ...rest, batches: batches.map((b) => [b.type, b.rows, b.ipc.byteLength]) }),
    ipc: batches.map((b) => Buffer.from(b.ipc)),
  };
}

async function assertSameParse(data: Uint8Array, name: string, caps?: XmlCaps): Promise<ParseResult> {
  const path = join(dir, `${String(++fileNo).padStart(5, '0')}-${name}`);
  writeFileSync(path, data);
  const code = /CEB\d{3}/.exec(name)?.[0];
  const recordType = code ? (MESSAGE_ROOTS[`${code}Message`] ?? null) : null;
  const task = { path, name, kind: 'xml' as const, recordType, batchRows: 7, ...(caps ? { caps } : {}) };
  const ref = await parseFile({ ...task, parser: 'reference' });
  const fast = await parseFile({ ...task, parser: 'fast' });
  const a = resultText(ref);
  const b = resultText(fast);
  assert.equal(b.header, a.header, `${name}: ParseResult differs`);
  assert.equal(b.ipc.length, a.ipc.length);
  for (let i = 0; i < a.ipc.length; i++) assert.ok(b.ipc[i]!.equals(a.ipc[i]!), `${name}: Arrow batch ${i} differs`);
  return ref;
}

// ---- mutations -------------------------------------------------------------------------------------

const ALPHABET = Buffer.from('<>/&;:="\'![]?-#x \n\r\t\u00e4\u0000');
const REFS = [
  '&amp;', '&lt;', '&gt;', '&quot;', '&apos;', '&#13;', '&#xD;', '&#x0d;', '&#10;', '&#13;&#10;', '&#13;\n', '&#xd;<!--c-->&#10;',
  '&#160;', '&#x1F600;', '&#32;', '&#9;', '&#0;', '&#xFFFE;', '&#55296;', '&foo;', '&', '&#;', '&#x;', '&#12345678901;', '&amp', ' ', '\t',
  ']]>', ']]', ']', '\r', '\r\n', '<', '>',
];
const CDATAS = [
  '<![CDATA[x]]>', '<![CDATA[]]>', '<![CDATA[a<b&c>d]]>', '<![CDATA[\r\n]]>', '<![CDATA[\r]]>', '<![CDATA[]]]]>', '<![CDATA[ ]]>',
  '<![CDATA[&#13;]]>', '<![CDATA[]]]]><![CDATA[>]]>', '<![CDATA[x', '<![CDATA[ \n ]]>',
];
const MARKUP = [
  '<!-- c -->', '<!---->', '<!-- a -- b -->', '<!-- \r\n -->', '<?pi x?>', '<?pi?>', '<?xml version="1.0"?>', '<?x:y?>', '<?XML?>',
  '<!DOCTYPE x>', '<!ELEMENT>', '<!-', '<!', '<?', '</', '<x', '<ceb:x/>', '<ceb:x></ceb:x>', '<ceb:x>t</ceb:x>', '<ceb:x><ceb:y>1</ceb:y></ceb:x>',
  '<q:z>1</q:z>', '<x:y xmlns:x="urn:x">t&amp;<ceb:z>q</ceb:z></x:y>', '<x:y xmlns:x="urn:x"/>', '<ceb:BaseTransfer/>', 'junk', '\n  ',
  '<ceb:g a="1">v</ceb:g>', '<ceb:g a="1" a="2">v</ceb:g>', '<ceb:g xmlns:ceb="urn:other">v</ceb:g>', '<g xmlns="urn:o"><h>1</h></g>',
  '<ceb:g\n>v</ceb:g >', '<ceb:g/>', '<ceb:x\uFEFFy>1</ceb:x\uFEFFy>', '<ceb:\uFEFFy>1</ceb:\uFEFFy>', '<ceb:a\u1680b>1</ceb:a\u1680b>',
  '<ceb:__proto__>p</ceb:__proto__>', '<ceb:constructor>c</ceb:constructor>', '<ceb:1x>1</ceb:1x>', '<ceb:a:b>1</ceb:a:b>', '<:a>1</:a>',
];
const BAD_BYTES = [[0x00], [0x01], [0x0b], [0xc3], [0xff], [0xef, 0xbf, 0xbe], [0xed, 0xa0, 0x80], [0xe2, 0x80], [0xf0, 0x9f, 0x98, 0x80]];

/** Offsets just after a '>' (text or markup may go there). */
function gaps(s: string): number[] {
  const out: number[] = [];
  for (let i = s.indexOf('>'); i >= 0; i = s.indexOf('>', i + 1)) out.push(i + 1);
  return out;
}

const insertAt = (s: string, at: number, x: string) => s.slice(0, at) + x + s.slice(at);

/** Leaf elements `<p:n>text</p:n>` of a message: [start, end, name with prefix]. */
function leaves(s: string): [number, number, string][] {
  const out: [number, number, string][] = [];
  const re = /<([A-Za-z_][\w.:-]*)>[^<]*<\/\1>/g;
  for (let m = re.exec(s); m; m = re.exec(s)) out.push([m.index, m.index + m[0].length, m[1]!]);
  return out;
}

/** Whole elements that have child elements: [start, end, name with prefix]. */
function blocks(s: string): [number, number, string][] {
  const out: [number, number, string][] = [];
  const re = /<([A-Za-z_][\w.:-]*)>\s*</g;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    const close = s.indexOf(`</${m[1]!}>`, m.index);
    if (close > 0) out.push([m.index, close + m[1]!.length + 3, m[1]!]);
  }
  return out;
}

type Mutation = (b: Buffer, r: Rng) => Buffer;
const str = (f: (s: string, r: Rng) => string): Mutation => (b, r) => Buffer.from(f(b.toString('utf8'), r), 'utf8');

const MUTATIONS: [string, Mutation][] = [
  ['flip', (b, r) => {
    const c = Buffer.from(b);
    if (c.length) c[r(c.length)] = ALPHABET[r(ALPHABET.length)]!;
    return c;
  }],
  ['truncate', (b, r) => b.subarray(0, r(b.length + 1))],
  ['delete', (b, r) => {
    const at = r(b.length + 1);
    return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + r(40)))]);
  }],
  ['copy-span', (b, r) => {
    const at = r(b.length + 1);
    const from = r(b.length + 1);
    return Buffer.concat([b.subarray(0, at), b.subarray(from, from + r(80)), b.subarray(at)]);
  }],
  ['bad-bytes', (b, r) => {
    const at = r(b.length + 1);
    return Buffer.concat([b.subarray(0, at), Buffer.from(pick(r, BAD_BYTES)), b.subarray(at)]);
  }],
  ['ref', str((s, r) => {
    const g = gaps(s);
    return g.length ? insertAt(s, pick(r, g) + (r(3) === 0 ? 1 : 0), pick(r, REFS)) : s;
  })],
  ['ref-in-value', str((s, r) => {
    const l = leaves(s);
    if (!l.length) return s;
    const [start, end, name] = pick(r, l);
    const open = start + name.length + 2;
    const close = end - name.length - 3;
    return insertAt(s, open + r(close - open + 1), pick(r, REFS) + (r(2) ? pick(r, REFS) : ''));
  })],
  ['cdata', str((s, r) => {
    const l = leaves(s);
    if (!l.length || r(4) === 0) {
      const g = gaps(s);
      return g.length ? insertAt(s, pick(r, g), pick(r, CDATAS)) : s;
    }
    const [start, , name] = pick(r, l);
    return insertAt(s, start + name.length + 2, pick(r, CDATAS));
  })],
  ['markup', str((s, r) => {
    const g = gaps(s);
    return g.length ? insertAt(s, pick(r, g), pick(r, MARKUP)) : s;
  })],
  ['markup-in-value', str((s, r) => {
    const l = leaves(s);
    if (!l.length) return s;
    const [start, end, name] = pick(r, l);
    const open = start + name.length + 2;
    const close = end - name.length - 3;
    return insertAt(s, open + r(close - open + 1), pick(r, MARKUP));
  })],
  ['dup-leaf', str((s, r) => {
    const l = leaves(s);
    if (!l.length) return s;
    const [start, end] = pick(r, l);
    return s.slice(0, end) + (r(2) ? '' : '\n') + s.slice(start, end) + s.slice(end);
  })],
  ['drop-leaf', str((s, r) => {
    const l = leaves(s);
    if (!l.length) return s;
    const [start, end] = pick(r, l);
    return s.slice(0, start) + s.slice(end);
  })],
  ['empty-leaf', str((s, r) => {
    const l = leaves(s);
    if (!l.length) return s;
    const [start, end, name] = pick(r, l);
    return s.slice(0, start) + (r(2) ? `<${name}/>` : `<${name}></${name}>`) + s.slice(end);
  })],
  ['dup-block', str((s, r) => {
    const bl = blocks(s);
    if (!bl.length) return s;
    const [start, end] = pick(r, bl);
    return s.slice(0, end) + s.slice(start, end) + s.slice(end);
  })],
  ['drop-block', str((s, r) => {
    const bl = blocks(s);
    if (!bl.length) return s;
    const [start, end] = pick(r, bl);
    return s.slice(0, start) + s.slice(end);
  })],
  ['move-block', str((s, r) => {
    const bl = blocks(s);
    if (bl.length < 2) return s;
    const [start, end] = pick(r, bl);
    const cut = s.slice(0, start) + s.slice(end);
    const g = gaps(cut);
    return insertAt(cut, pick(r, g), s.slice(start, end));
  })],
  ['rename', str((s, r) => {
    const l = leaves(s);
    if (!l.length) return s;
    const name = pick(r, l)[2];
    const to = pick(r, [`${name}\uFEFFz`, `${name}\u1680`, `${name}\u00b7`, `${name}x`, name.replace(/:.*/, ':guid'), name.replace(/.*:/, '')]);
    return s.split(`<${name}>`).join(`<${to}>`).split(`</${name}>`).join(`</${to}>`);
  })],
  ['prefix', str((s, r) => {
    switch (r(4)) {
      case 0:
        return s.replace(/xmlns:ceb=/g, 'xmlns:c=').replace(/(<\/?)ceb:/g, '$1c:');
      case 1:
        return s.replace(/xmlns:ceb=/g, 'xmlns=').replace(/(<\/?)ceb:/g, '$1');
      case 2:
        return s.replace(/xmlns:ceb="[^"]*"/, `xmlns:ceb="${CEB_NS}" xmlns:c="${CEB_NS}"`).replace(/(<\/?)ceb:(guid|gnum|orderNo|logisticsNo)>/g, '$1c:$2>');
      default:
        return s.replace(/xmlns:ceb="[^"]*"/, 'xmlns:ceb="urn:not-ceb"');
    }
  })],
  ['attrs', str((s, r) => {
    const l = leaves(s);
    if (!l.length) return s;
    const [start, , name] = pick(r, l);
    const attr = pick(r, [' a="1"', " a='&amp;'", ' a="1" a="2"', ' xmlns:q="urn:q" q:a="1"', ' q:a="1"', ` xmlns:ceb="${CEB_NS}"`, ' xmlns=""', ' \n', ' a="<"', ' a', ' a=1']);
    return insertAt(s, start + name.length + 1, attr);
  })],
  ['bom', (b) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b])],
  ['crlf', str((s) => s.replace(/\n/g, '\r\n'))],
  ['cr', str((s) => s.replace(/\n/g, '\r'))],
  ['nest', str((s, r) => {
    const l = leaves(s);
    if (!l.length) return s;
    const [start, end, name] = pick(r, l);
    const n = 1 + r(6);
    const p = name.includes(':') ? name.slice(0, name.indexOf(':') + 1) : '';
    const inner = s.slice(start + name.length + 2, end - name.length - 3);
    return s.slice(0, start) + `<${name}>` + `<${p}n>`.repeat(n) + inner + `</${p}n>`.repeat(n) + `</${name}>` + s.slice(end);
  })],
];

function randomCaps(r: Rng): XmlCaps {
  if (r(4) !== 0) return DEFAULT_XML_CAPS;
  return {
    maxFileBytes: r(6) === 0 ? 500 + r(20_000) : DEFAULT_XML_CAPS.maxFileBytes,
    maxEntityBytes: r(2) === 0 ? 100 + r(4000) : DEFAULT_XML_CAPS.maxEntityBytes,
    maxDepth: r(2) === 0 ? 2 + r(6) : DEFAULT_XML_CAPS.maxDepth,
    maxAttributes: r(2) === 0 ? 1 + r(4) : DEFAULT_XML_CAPS.maxAttributes,
    maxTextBytes: r(2) === 0 ? 5 + r(300) : DEFAULT_XML_CAPS.maxTextBytes,
  };
}

/** Smaller bases read faster: the first business entity of each sample, cut out with its root. */
function firstEntity(b: Buffer): Buffer | null {
  const s = b.toString('utf8');
  const root = /<((?:\w+:)?CEB\d{3}Message)\b[^>]*>/.exec(s);
  if (!root) return null;
  const after = root.index + root[0].length;
  const first = /<((?:\w+:)?(?:Order|Receipts|Logistics|Inventory|InvtCancel|InvtRefund))>/.exec(s.slice(after));
  if (!first) return null;
  const close = s.indexOf(`</${first[1]!}>`, after);
  if (close < 0) return null;
  return Buffer.from(`${s.slice(0, close + first[1]!.length + 3)}\n</${root[1]!}>\n`, 'utf8');
}

// ---- the tests -------------------------------------------------------------------------------------

describe('fast and reference parse paths agree', () => {
  test('official 202205 samples: same entities and outcome, whole and in small pieces', async () => {
    for (const s of samples) {
      const out = await assertSameRead(s.bytes, s.name);
      await assertSameRead(s.bytes, `${s.name} in 1..13-byte pieces`, DEFAULT_XML_CAPS, 7, 13);
      if (READ.test(s.name)) assert.match(out, /"status":"ok"/, s.name);
    }
  });

  test('official 202205 samples: same ParseResult (records, counts, quarantine, Arrow batches)', async () => {
    for (const s of samples) await assertSameParse(s.bytes, s.name);
    for (const s of samples) await assertSameParse(gzipSync(s.bytes), `${s.name}.gz`);
  });

  test('every fixture: same entities, outcome and ParseResult', async () => {
    for (const f of fixtures) {
      await assertSameRead(f.bytes, f.name);
      await assertSameRead(f.bytes, `${f.name} in 1..3-byte pieces`, DEFAULT_XML_CAPS, 3, 3);
      await assertSameParse(f.bytes, f.name);
    }
  });

  test('generated hostile input of test/xml.test.ts: same outcome', async () => {
    const deep = (n: number) =>
      `<?xml version="1.0"?><ceb:CEB505Message guid="g" xmlns:ceb="${CEB_NS}"><ceb:Logistics>${'<ceb:a>'.repeat(n)}${'</ceb:a>'.repeat(n)}</ceb:Logistics></ceb:CEB505Message>`;
    await assertSameRead(Buffer.from(deep(10_000)), 'deep 10,000');
    await assertSameRead(Buffer.from(deep(3)), 'deep 3', { ...DEFAULT_XML_CAPS, maxDepth: 4 });
    await assertSameRead(Buffer.from(deep(2)), 'deep 2', { ...DEFAULT_XML_CAPS, maxDepth: 4 });
    const attrs = `<ceb:CEB505Message xmlns:ceb="${CEB_NS}"${Array.from({ length: 2000 }, (_, i) => ` a${i}="v"`).join('')}><ceb:Logistics><ceb:guid>g</ceb:guid></ceb:Logistics></ceb:CEB505Message>`;
    await assertSameRead(Buffer.from(attrs), 'many attributes', DEFAULT_XML_CAPS, 5, 700);
    const big = `<ceb:CEB505Message xmlns:ceb="${CEB_NS}"><ceb:Logistics><ceb:note>${'x'.repeat(300_000)}</ceb:note></ceb:Logistics></ceb:CEB505Message>`;
    await assertSameRead(Buffer.from(big), 'big text', { ...DEFAULT_XML_CAPS, maxTextBytes: 100_000 });
    await assertSameRead(Buffer.from(big), 'big text, under the cap');
    const ceb603 = samples.find((s) => s.name === 'CEB603Message.xml')!.bytes;
    await assertSameRead(ceb603, 'entity cap', { ...DEFAULT_XML_CAPS, maxEntityBytes: 500 });
    await assertSameRead(ceb603, 'file cap', { ...DEFAULT_XML_CAPS, maxFileBytes: 10_000 });
    const cut = ceb603.indexOf('Cop20180507001', ceb603.length / 2);
    await assertSameRead(ceb603.subarray(0, cut + 3), 'truncated in text');
    const bomb = gzipSync(Buffer.concat([Buffer.from(`<ceb:CEB505Message xmlns:ceb="${CEB_NS}">`), Buffer.alloc(3 * 1024 * 1024, ' '), Buffer.from('</ceb:CEB505Message>')]));
    await assertSameRead(bomb, 'gzip bomb', { ...DEFAULT_XML_CAPS, maxFileBytes: 1024 * 1024 });
    const corrupt = gzipSync(samples.find((s) => s.name === 'CEB505Message.xml')!.bytes);
    corrupt.fill(0x55, 40, 80);
    await assertSameRead(corrupt, 'corrupt gzip');
    await assertSameRead(new Uint8Array(0), 'empty');
    // more element names than the readers remember (4,096), repeated fields among them
    const fields = Array.from({ length: 5000 }, (_, i) => `<ceb:f${i}>${i}</ceb:f${i}>`).join('');
    const wide = `<ceb:CEB505Message xmlns:ceb="${CEB_NS}"><ceb:Logistics>${fields}<ceb:f4500>again</ceb:f4500><ceb:f10>again</ceb:f10></ceb:Logistics></ceb:CEB505Message>`;
    await assertSameRead(Buffer.from(wide), 'many names');
    const nested = Array.from({ length: 5000 }, (_, i) => `<ceb:f${i}>${i % 2 ? '<ceb:y/>' : i}</ceb:f${i}>`).join('');
    await assertSameRead(Buffer.from(wide.replace(fields, nested)), 'many fields with child elements');
    const others = Array.from({ length: 5000 }, (_, i) => `<ceb:x${i % 4700}/>`).join('');
    const order = `<ceb:CEB303Message xmlns:ceb="${CEB_NS}"><ceb:Order><ceb:OrderHead><ceb:guid>g</ceb:guid></ceb:OrderHead>${others}</ceb:Order></ceb:CEB303Message>`;
    await assertSameRead(Buffer.from(order), 'many unexpected elements');
  });

  test('CR from character references next to line feeds, across pieces and CDATA', async () => {
    const values = [
      'a&#13;\nb', 'a&#13;<!--c-->\nb', 'a&#13;<![CDATA[\nb]]>', 'a&#13;<![CDATA[<\nb]]>', '&#13;&lt;<!---->\nz', '&lt;&#13;<!---->&#10;',
      'x&#13;<x:i xmlns:x="urn:x">q</x:i>\ny', '&#13;&#13;&#10;&#10;', '<![CDATA[a]]>&#13;&#10;', '&#13;<?p?>&amp;\n', '&#xD;\r\n&#xA;',
    ];
    for (const [i, v] of values.entries()) {
      const doc = Buffer.from(`<ceb:CEB505Message xmlns:ceb="${CEB_NS}"><ceb:Logistics><ceb:note>${v}</ceb:note><ceb:guid>g${i}</ceb:guid></ceb:Logistics></ceb:CEB505Message>`);
      for (const maxPiece of [65536, 1, 2, 5]) await assertSameRead(doc, `value ${JSON.stringify(v)} in pieces of ${maxPiece}`, DEFAULT_XML_CAPS, i, maxPiece);
    }
  });

  test(`${MUTANTS.toLocaleString('en')} seeded mutations of the samples and fixtures: same entities and outcome`, async () => {
    // mostly messages this pipeline reads, small: the first entity of each read sample, twice
    const read = samples.filter((s) => READ.test(s.name));
    const bases = [
      ...read.map((s) => firstEntity(s.bytes)!),
      ...read.map((s) => firstEntity(s.bytes)!),
      ...read.filter((s) => s.bytes.length < 12_000).map((s) => s.bytes),
      ...fixtures.map((f) => f.bytes),
      pick(rng(5), samples.filter((s) => !READ.test(s.name))).bytes,
    ];
    const seen = new Map<string, number>();
    for (let iter = 0; iter < MUTANTS; iter++) {
      const r = rng(MUTANT_SEED + iter);
      let b: Buffer = pick(r, bases);
      const names: string[] = [];
      for (let k = r(3) === 0 ? 2 + r(2) : 1; k > 0; k--) {
        const [name, m] = pick(r, MUTATIONS);
        names.push(name);
        b = m(b, r);
      }
      const maxPiece = pick(r, [65536, 65536, 65536, 65536, 65536, 1 + r(300), 1 + r(300), 1 + r(8)]);
      const out = await assertSameRead(b, `mutation #${iter} (${names.join(', ')}, pieces ≤ ${maxPiece})`, randomCaps(r), iter, maxPiece);
      const status = /"status":"(\w+)"/.exec(out)?.[1] ?? '?';
      seen.set(status, (seen.get(status) ?? 0) + 1);
    }
    // the mutations reach both sides of the judgement
    assert.ok((seen.get('ok') ?? 0) > MUTANTS / 10, JSON.stringify([...seen]));
    assert.ok((seen.get('malformed') ?? 0) > MUTANTS / 3, JSON.stringify([...seen]));
  });

  test('the reference path is chosen by name; an unknown name is a programmer error', async () => {
    const data = samples.find((s) => s.name === 'CEB505Message.xml')!.bytes;
    for (const parser of ['fast', 'reference'] as const) {
      assert.equal((await readCebXml(Readable.from([data]), () => {}, DEFAULT_XML_CAPS, parser)).status, 'ok');
    }
    await assert.rejects(readCebXml(Readable.from([data]), () => {}, DEFAULT_XML_CAPS, 'quick' as XmlParserKind), RangeError);
  });

  test('a group of files (one worker task) gives each file the result it has alone, and exactly the rows of its ok files', async () => {
    // samples, with mutated ones among them: some end malformed after rows were read, one is read twice (a wrong sniff)
    const bases = samples.filter((s) => READ.test(s.name));
    const tasks = [];
    const alone: ParseResult[] = [];
    for (let i = 0; i < 40; i++) {
      const r = rng(70_000 + i);
      const base = pick(r, bases);
      let b: Buffer = base.bytes;
      if (i % 3 === 1) b = pick(r, MUTATIONS)[1](b, r);
      if (i % 5 === 4) b = b.subarray(0, Math.floor(b.length * 0.8)); // truncated: malformed after its first entities
      const path = join(dir, `group-${String(i).padStart(3, '0')}-${base.name}`);
      writeFileSync(path, b);
      const code = /CEB\d{3}/.exec(base.name)?.[0];
      let recordType = code ? (MESSAGE_ROOTS[`${code}Message`] ?? null) : null;
      if (i === 7) recordType = recordType === 'order' ? 'waybill' : 'order'; // sniffed wrong: the reader reads it again as what it is
      const task = { path, name: `group-${i}.xml`, kind: 'xml' as const, recordType, batchRows: 16 };
      tasks.push(task);
      alone.push(await parseFile(task));
    }
    assert.ok(alone.some((r) => r.status === 'malformed' && Object.keys(r.counts).length === 0) && alone.some((r) => r.status === 'ok'), 'both kinds');
    const g = await parseGroup(tasks);
    assert.deepEqual(
      g.results.map((r) => ({ ...r, batches: [] })),
      alone.map((r) => ({ ...r, batches: [] })),
    );
    // the rows: those of the files alone, in the same order, per record type
    const rowsOf = (bs: ParseResult['batches']) => {
      const by = new Map<string, string[]>();
      for (const b of bs) for (const row of readBatch(b.ipc).toArray()) by.set(b.type, [...(by.get(b.type) ?? []), JSON.stringify(row.toJSON(), (_, v) => (typeof v === 'bigint' ? String(v) : v))]);
      return by;
    };
    assert.deepEqual(rowsOf(g.batches), rowsOf(alone.flatMap((r) => r.batches)));
  });

  test('300 seeded mutations: same ParseResult through parseFile', async () => {
    const bases = samples.filter((s) => READ.test(s.name));
    for (let iter = 0; iter < 300; iter++) {
      const r = rng(90_000 + iter);
      const base = pick(r, bases);
      let b: Buffer = base.bytes;
      for (let k = 1 + r(2); k > 0; k--) b = pick(r, MUTATIONS)[1](b, r);
      await assertSameParse(b, base.name);
    }
  });
});
