/**
 * src/ingest/xml.ts: the streaming CEB XML reader on the official 202205 samples, hand-made
 * fixtures (fixtures/xml/) and generated hostile or large input.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { DEFAULT_XML_CAPS, readCebXml } from '../src/ingest/xml.js';
import { CEB_NS, chopped, plain, read, sample, type Read } from './xml-read.js';
import { projectRoot } from './xsd.js';


const ROOT = projectRoot();
const FIXTURES = join(ROOT, 'fixtures', 'xml');

const fixture = (name: string) => join(FIXTURES, name);

/** A byte stream of the given string parts, re-cut into ~64 KiB buffers. */
function streamOf(parts: Iterable<string>): Readable {
  return Readable.from(
    (function* () {
      let pending: string[] = [];
      let size = 0;
      for (const p of parts) {
        pending.push(p);
        size += p.length;
        if (size >= 64 * 1024) {
          yield Buffer.from(pending.join(''), 'utf8');
          pending = [];
          size = 0;
        }
      }
      if (pending.length) yield Buffer.from(pending.join(''), 'utf8');
    })(),
  );
}

function assertMalformed(r: Read, pattern: RegExp): void {
  assert.equal(r.outcome.status, 'malformed', `expected malformed, got ${JSON.stringify(r.outcome)}`);
  if (r.outcome.status === 'malformed') assert.match(r.outcome.detail, pattern);
}

// ---- official samples ------------------------------------------------------------------------------

const SAMPLE_CASES = [
  { code: 'CEB303', recordType: 'order', entity: 'Order', line: 'OrderList', head: { orderNo: 'order2018050711340001', goodsValue: '12345678912345.12345', currency: '142' } },
  { code: 'CEB403', recordType: 'receipt', entity: 'Receipts', line: null, head: { payNo: 'P20180507001', charge: '200.50', accountingDate: '20180507153001' } },
  { code: 'CEB505', recordType: 'waybill', entity: 'Logistics', line: null, head: { logisticsNo: 'L2018050700001', freight: '20.50', goodsInfo: '包裹' } },
  { code: 'CEB603', recordType: 'list', entity: 'Inventory', line: 'InventoryList', head: { ieFlag: 'a', tradeMode: '0101', copNo: 'Cop20180507001', iacCode: '' } },
  { code: 'CEB605', recordType: 'cancel', entity: 'InvtCancel', line: null, head: { copNo: 'Cop20180507001', invtNo: 'Invt20180507000001', reason: '撤单原因' } },
  { code: 'CEB213', recordType: 'return', entity: 'InvtRefund', line: 'InvtRefundList', head: { coElNo: 'back_26339801', invtNo: '111222333', trafName: '飞机', note: '' } },
] as const;

const countTag = (text: string, tag: string) => text.split(`<ceb:${tag}>`).length - 1;

describe('official 202205 samples', () => {
  for (const c of SAMPLE_CASES) {
    test(`${c.code} reads every ${c.entity} with its head and lines`, async () => {
      const text = readFileSync(sample(c.code), 'utf8');
      const r = await read(sample(c.code));
      assert.equal(r.outcome.status, 'ok');
      assert.ok(r.outcome.status === 'ok');
      assert.equal(r.outcome.root, `${c.code}Message`);
      assert.equal(r.outcome.recordType, c.recordType);
      const expected = countTag(text, c.entity);
      assert.ok(expected > 0);
      assert.equal(r.outcome.entities, expected);
      assert.deepEqual(
        r.entities.map((e) => e.index),
        Array.from({ length: expected }, (_, i) => i + 1),
      );
      const first = r.entities[0]!;
      for (const [k, v] of Object.entries(c.head)) assert.equal(first.head[k], v, `${c.code} head ${k}`);
      const lines = r.entities.reduce((n, e) => n + e.lines.length, 0);
      assert.equal(lines, c.line ? countTag(text, c.line) : 0);
    });
  }

  test('the root guid is the message guid', async () => {
    const r = await read(sample('CEB213'));
    assert.equal(r.outcome.messageGuid, 'B5242EE6-6C37-F55F-6E9A-694EE48E9667');
  });

  test('CEB603 first list line has its fields', async () => {
    const r = await read(sample('CEB603'));
    assert.deepEqual(plain(r.entities[0]!.lines[0]!), {
      gnum: '1', itemNo: 'AF001-001', itemRecordNo: '1210', itemName: '小米盒子', gcode: '8541401000', gname: '小米盒子',
      gmodel: '44mm', barCode: '2345123', country: '116', currency: '142', qty: '100', qty1: '200', qty2: '300',
      unit: '007', unit1: '007', unit2: '007', price: '20', totalPrice: '200', note: 'test',
    });
  });

  for (const code of ['CEB507', 'CEB604']) {
    test(`${code} is a CEB message this pipeline skips`, async () => {
      const r = await read(sample(code));
      assert.deepEqual(r.outcome, { status: 'skipped', root: `${code}Message`, messageGuid: '311af125-6fed-4603-8c5d-49b1fa4b4b9b' });
      assert.equal(r.entities.length, 0);
    });
  }

  test('chunk boundaries do not change what is read (1..7-byte pieces)', async () => {
    for (const c of SAMPLE_CASES) {
      const whole = await read(sample(c.code));
      const pieces = await read(chopped(readFileSync(sample(c.code)), 7));
      assert.deepEqual(pieces.outcome, whole.outcome, c.code);
      assert.deepEqual(
        pieces.entities.map((e) => ({ ...e, head: plain(e.head), lines: e.lines.map(plain) })),
        whole.entities.map((e) => ({ ...e, head: plain(e.head), lines: e.lines.map(plain) })),
        c.code,
      );
    }
  });
});

// ---- well-formed fixtures --------------------------------------------------------------------------

describe('hand-made well-formed messages', () => {
  test('BOM and CRLF line ends; CRLF inside a value becomes LF', async () => {
    const bytes = readFileSync(fixture('bom-crlf.xml'));
    assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
    assert.ok(bytes.includes('\r\n'));
    const r = await read(fixture('bom-crlf.xml'));
    assert.deepEqual(r.outcome, { status: 'ok', root: 'CEB505Message', recordType: 'waybill', messageGuid: 'g-bom-crlf', entities: 2 });
    assert.equal(r.entities[0]!.head['logisticsName'], '顺丰速运');
    assert.equal(r.entities[0]!.head['note'], 'line one\nline two');
    assert.equal(r.entities[1]!.head['logisticsNo'], 'SF00000002');
  });

  test('another prefix bound to the CEB namespace (c:)', async () => {
    const r = await read(fixture('prefix-c.xml'));
    assert.deepEqual(r.outcome, { status: 'ok', root: 'CEB505Message', recordType: 'waybill', messageGuid: 'g-prefix-c', entities: 3 });
    assert.equal(r.entities[2]!.head['logisticsNo'], 'SF00000003');
  });

  test('default namespace; elements of other namespaces are skipped', async () => {
    const r = await read(fixture('default-ns.xml'));
    assert.deepEqual(r.outcome, { status: 'ok', root: 'CEB605Message', recordType: 'cancel', messageGuid: 'g-default-ns', entities: 1 });
    const head = r.entities[0]!.head;
    assert.equal(head['invtNo'], '51412024E00000000001');
    assert.equal(head['preNo'], '');
    assert.equal(head['reason'], '客户取消');
    assert.ok(!('extra' in head) && !('deep' in head));
    assert.deepEqual(r.entities[0]!.lines, []);
  });

  test('CDATA kept literally, references decoded, empty elements give "", first of a repeated field kept', async () => {
    const r = await read(fixture('cdata-entities.xml'));
    assert.equal(r.outcome.status, 'ok');
    const head = r.entities[0]!.head;
    assert.equal(head['orderNo'], 'A&B中国<>"\'');
    assert.equal(head['ebpName'], 'Tom & Jerry <Ltd> &amp; ]]');
    assert.equal(head['ebcName'], 'pre<mid>post😀');
    assert.equal(head['note'], '');
    // fast-xml-parser turns every CR into LF, so even a &#13; reads as a line feed (values never hold CR)
    assert.equal(head['ebpCode'], 'x\ny\nz');
    assert.equal(head['freight'], '');
    assert.equal(head['currency'], '142');
    assert.equal(head['unknownField'], 'kept');
    assert.deepEqual(r.entities[0]!.lines.map(plain), [
      { gnum: '1', itemName: '  spaced  ' },
      { gnum: '2', itemName: 'a]]>b' },
    ]);
  });

  test('comments and processing instructions anywhere', async () => {
    const r = await read(fixture('comments-pi.xml'));
    assert.deepEqual(r.outcome, { status: 'ok', root: 'CEB403Message', recordType: 'receipt', messageGuid: 'g-comments', entities: 2 });
    assert.equal(r.entities[0]!.head['orderNo'], 'ORD-1-A');
    assert.equal(r.entities[1]!.head['orderNo'], 'ORD-2');
  });

  test('a ds:Signature block is skipped whole, CEB elements inside it included', async () => {
    const r = await read(fixture('signature.xml'));
    assert.deepEqual(r.outcome, { status: 'ok', root: 'CEB505Message', recordType: 'waybill', messageGuid: 'g-signature', entities: 1 });
  });

  test('repeated BaseTransfer, BaseSubscribe and ExtendMessage are skipped', async () => {
    const r = await read(fixture('repeated-basetransfer.xml'));
    assert.deepEqual(r.outcome, { status: 'ok', root: 'CEB505Message', recordType: 'waybill', messageGuid: 'g-basetransfer', entities: 2 });
    assert.deepEqual(r.entities.map((e) => e.head['logisticsNo']), ['SF00000001', 'SF00000002']);
  });

  test('__proto__, constructor, prototype as field names are plain fields and pollute nothing', async () => {
    const r = await read(fixture('proto-names.xml'));
    assert.equal(r.outcome.status, 'ok');
    const head = r.entities[0]!.head;
    assert.equal(Object.getPrototypeOf(head), null);
    assert.equal(Object.getOwnPropertyDescriptor(head, '__proto__')?.value, 'yes');
    assert.equal(head['constructor'], 'c');
    assert.equal(head['prototype'], 'p');
    assert.equal(head['hasOwnProperty'], 'h');
    assert.equal(head['toString'], 't');
    assert.equal(head['goodsInfo'], '衣服');
    assert.equal((({}) as Record<string, unknown>)['polluted'], undefined);
    assert.equal((Object.prototype as Record<string, unknown>)['yes'], undefined);
  });

  test('a gzip-compressed file is read like the plain one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'declmatch-xml-'));
    try {
      const gz = join(dir, 'prefix-c.xml.gz');
      writeFileSync(gz, gzipSync(readFileSync(fixture('prefix-c.xml'))));
      const plainRead = await read(fixture('prefix-c.xml'));
      const gzRead = await read(gz);
      assert.deepEqual(gzRead.outcome, plainRead.outcome);
      assert.deepEqual(gzRead.entities.map((e) => plain(e.head)), plainRead.entities.map((e) => plain(e.head)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a gzip byte stream in small pieces is read too', async () => {
    const r = await read(chopped(gzipSync(readFileSync(sample('CEB603'))), 5));
    assert.equal(r.outcome.status, 'ok');
    assert.equal(r.entities.length, countTag(readFileSync(sample('CEB603'), 'utf8'), 'Inventory'));
  });

  test('hand-made fixtures read the same in 1..3-byte pieces', async () => {
    for (const f of ['bom-crlf.xml', 'cdata-entities.xml', 'comments-pi.xml', 'default-ns.xml', 'signature.xml']) {
      const whole = await read(fixture(f));
      const pieces = await read(chopped(readFileSync(fixture(f)), 3));
      assert.deepEqual(pieces.outcome, whole.outcome, f);
      assert.deepEqual(pieces.entities.map((e) => plain(e.head)), whole.entities.map((e) => plain(e.head)), f);
    }
  });
});

// ---- malformed input -------------------------------------------------------------------------------

describe('malformed input is an outcome, never an exception', () => {
  const cases: [string, RegExp][] = [
    ['bad-truncated.xml', /truncated/],
    ['bad-mismatched-tags.xml', /mismatched end tag.*<\/ceb:orderNo>.*<\/ceb:orderno>.*line 6/],
    ['bad-unclosed-element.xml', /mismatched end tag: expected <\/ceb:Receipts> but found <\/ceb:CEB403Message>/],
    ['bad-unclosed-start-tag.xml', /unclosed start tag <ceb:charge/],
    ['bad-text-after-root.xml', /text after the root element/],
    ['bad-second-root.xml', /after the root element \(a second root\)/],
    ['bad-doctype-billion-laughs.xml', /DOCTYPE not allowed/],
    ['bad-external-entity.xml', /DOCTYPE not allowed/],
    ['bad-undefined-entity.xml', /undefined entity &foo;/],
    ['bad-bare-ampersand.xml', /'&' not starting a reference/],
    ['bad-invalid-utf8.xml', /invalid UTF-8 at byte \d+/],
    ['bad-nul-byte.xml', /invalid character U\+0000/],
    ['bad-duplicate-attribute.xml', /duplicate attribute guid/],
    ['bad-not-ceb-root.xml', /unknown root <Orders>/],
    ['bad-wrong-namespace.xml', /not in the CEB namespace/],
    ['bad-no-business-record.xml', /no business record/],
    ['bad-empty.xml', /empty file/],
    ['bad-binary.xml', /invalid UTF-8/],
    ['bad-nested-field.xml', /field <__proto__> .* has child elements/],
    ['bad-unbound-prefix.xml', /unbound namespace prefix x/],
    ['bad-encoding.xml', /unsupported encoding "GBK"/],
  ];
  for (const [file, pattern] of cases) {
    test(file, async () => {
      assertMalformed(await read(fixture(file)), pattern);
    });
  }

  test('the external-entity fixture does not leak file content even if read past the DOCTYPE', async () => {
    const r = await read(fixture('bad-external-entity.xml'));
    assert.equal(r.entities.length, 0);
  });

  test('a nested field does not pollute Object.prototype', async () => {
    await read(fixture('bad-nested-field.xml'));
    assert.equal((({}) as Record<string, unknown>)['polluted'], undefined);
  });

  test('a truncated official sample (cut in text) is malformed', async () => {
    const bytes = readFileSync(sample('CEB603'));
    const cut = bytes.indexOf('Cop20180507001', bytes.length / 2);
    assertMalformed(await read(Readable.from([bytes.subarray(0, cut + 3)])), /truncated: document ends inside <ceb:copNo>/);
  });

  test('the malformed outcome names the root and guid once they are known', async () => {
    const r = await read(fixture('bad-truncated.xml'));
    assert.equal(r.outcome.status, 'malformed');
    assert.equal(r.outcome.root, 'CEB403Message');
    assert.equal(r.outcome.messageGuid, 'g-bad');
  });

  const deep = (n: number) =>
    streamOf(
      (function* () {
        yield `<?xml version="1.0"?><ceb:CEB505Message guid="g" xmlns:ceb="${CEB_NS}"><ceb:Logistics>`;
        for (let i = 0; i < n; i++) yield '<ceb:a>';
        for (let i = 0; i < n; i++) yield '</ceb:a>';
        yield '</ceb:Logistics></ceb:CEB505Message>';
      })(),
    );

  test('10,000-deep nesting hits the depth cap', async () => {
    assertMalformed(await read(deep(10_000)), /depth cap/);
  });

  test('100,000-deep nesting hits the depth cap', async () => {
    assertMalformed(await read(deep(100_000)), /depth cap/);
  });

  test('nesting within a smaller depth cap is read, one more level is not', async () => {
    const caps = { ...DEFAULT_XML_CAPS, maxDepth: 4 };
    const msg = (extra: string) =>
      `<ceb:CEB505Message xmlns:ceb="${CEB_NS}"><ceb:Logistics><ceb:guid>${extra}</ceb:guid></ceb:Logistics></ceb:CEB505Message>`;
    assert.equal((await read(Readable.from([Buffer.from(msg('<ceb:x/>'))]), caps)).outcome.status, 'malformed'); // nested field
    assertMalformed(await read(Readable.from([Buffer.from(msg('<ceb:x><ceb:y/></ceb:x>'))]), caps), /depth cap/);
    assert.equal((await read(Readable.from([Buffer.from(msg('g'))]), caps)).outcome.status, 'ok');
  });

  test('100,000 attributes on one element hit the attribute cap', async () => {
    const r = await read(
      streamOf(
        (function* () {
          yield `<ceb:CEB505Message xmlns:ceb="${CEB_NS}"`;
          for (let i = 0; i < 100_000; i++) yield ` a${i}="v"`;
          yield '><ceb:Logistics><ceb:guid>g</ceb:guid></ceb:Logistics></ceb:CEB505Message>';
        })(),
      ),
    );
    assertMalformed(r, /attribute cap/);
  });

  const bigText = (mb: number) =>
    streamOf(
      (function* () {
        yield `<ceb:CEB505Message xmlns:ceb="${CEB_NS}"><ceb:Logistics><ceb:note>`;
        const block = 'x'.repeat(64 * 1024);
        for (let i = 0; i < mb * 16; i++) yield block;
        yield '</ceb:note></ceb:Logistics></ceb:CEB505Message>';
      })(),
    );

  test('a 20 MB text node is stopped by a small text cap, quickly', async () => {
    const started = performance.now();
    const r = await read(bigText(20), { ...DEFAULT_XML_CAPS, maxTextBytes: 256 * 1024 });
    assertMalformed(r, /text cap/);
    assert.ok(performance.now() - started < 2000, 'sanity bound: rejected within 2 s');
  });

  test('a 20 MB text node exceeds the default text cap', async () => {
    assertMalformed(await read(bigText(20)), /text cap/);
  });

  test('an entity over the entity cap', async () => {
    assertMalformed(await read(sample('CEB603'), { ...DEFAULT_XML_CAPS, maxEntityBytes: 500 }), /entity cap: <Inventory> #1/);
  });

  test('a file over the file cap', async () => {
    assertMalformed(await read(sample('CEB603'), { ...DEFAULT_XML_CAPS, maxFileBytes: 10_000 }), /file cap/);
  });

  test('a gzip bomb is stopped by the file cap on the inflated bytes', async () => {
    const doc = Buffer.concat([
      Buffer.from(`<ceb:CEB505Message xmlns:ceb="${CEB_NS}">`),
      Buffer.alloc(50 * 1024 * 1024, ' '),
      Buffer.from('</ceb:CEB505Message>'),
    ]);
    const gz = gzipSync(doc);
    assert.ok(gz.length < 1024 * 1024);
    assertMalformed(await read(Readable.from([gz]), { ...DEFAULT_XML_CAPS, maxFileBytes: 1024 * 1024 }), /file cap: decompressed/);
  });

  test('corrupt gzip data', async () => {
    const gz = gzipSync(readFileSync(sample('CEB505')));
    gz.fill(0x55, 40, 80);
    assertMalformed(await read(Readable.from([gz])), /invalid gzip data|invalid UTF-8|not well|truncated/);
  });

  test('a CEB message this pipeline skips is still checked: a truncated CEB507 is malformed', async () => {
    const bytes = readFileSync(sample('CEB507'));
    assertMalformed(await read(Readable.from([bytes.subarray(0, bytes.length - 30)])), /truncated/);
  });

  test('randomly damaged samples and fixtures never throw', async () => {
    const files = [...SAMPLE_CASES.map((c) => sample(c.code)), fixture('cdata-entities.xml'), fixture('default-ns.xml')];
    const alphabet = Buffer.from('<>/&;:="\'![]?-#x \n\r\u00e4\u0000');
    let seed = 99;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const seen = new Set<string>();
    for (let iter = 0; iter < 300; iter++) {
      let b = Buffer.from(readFileSync(files[rnd(files.length)]!));
      for (let k = 1 + rnd(3); k > 0; k--) {
        const at = rnd(b.length);
        const op = rnd(3);
        if (op === 0) b[at] = alphabet[rnd(alphabet.length)]!;
        else if (op === 1) b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + rnd(40)))]);
        else b = Buffer.concat([b.subarray(0, at), b.subarray(rnd(b.length)).subarray(0, rnd(60)), b.subarray(at)]);
      }
      const r = await read(chopped(b, 200));
      assert.ok(['ok', 'skipped', 'malformed'].includes(r.outcome.status));
      seen.add(r.outcome.status);
    }
    assert.ok(seen.has('malformed'));
  });

  test('a file that cannot be read', async () => {
    assertMalformed(await read(fixture('does-not-exist.xml')), /read error: ENOENT/);
  });

  test('an exception thrown by onEntity is passed through', async () => {
    const boom = new Error('boom');
    await assert.rejects(
      readCebXml(sample('CEB505'), () => {
        throw boom;
      }),
      (e) => e === boom,
    );
  });
});

// ---- large input -----------------------------------------------------------------------------------

describe('large input', () => {
  test('a ~200 MB CEB505 message streams with bounded memory', async (t) => {
    const logistics = (i: number) => `
  <ceb:Logistics>
    <ceb:guid>0b7c9f52-0000-4000-8000-${String(i).padStart(12, '0')}</ceb:guid>
    <ceb:appType>1</ceb:appType>
    <ceb:appTime>20240105120000</ceb:appTime>
    <ceb:appStatus>2</ceb:appStatus>
    <ceb:logisticsCode>LC0001</ceb:logisticsCode>
    <ceb:logisticsName>顺丰速运有限公司</ceb:logisticsName>
    <ceb:logisticsNo>SF${String(i).padStart(12, '0')}</ceb:logisticsNo>
    <ceb:freight>10.5</ceb:freight>
    <ceb:insuredFee>0</ceb:insuredFee>
    <ceb:currency>142</ceb:currency>
    <ceb:grossWeight>1.25</ceb:grossWeight>
    <ceb:packNo>1</ceb:packNo>
    <ceb:goodsInfo>衣服 &amp; 鞋</ceb:goodsInfo>
    <ceb:ebcCode>EBC0001</ceb:ebcCode>
    <ceb:ebcName>测试电商企业</ceb:ebcName>
    <ceb:ebcTelephone>15088795220</ceb:ebcTelephone>
    <ceb:note>${'n'.repeat(200)}</ceb:note>
  </ceb:Logistics>`;
    const entityBytes = Buffer.byteLength(logistics(0));
    const count = Math.ceil((200 * 1024 * 1024) / entityBytes);
    const source = streamOf(
      (function* () {
        yield `<?xml version="1.0" encoding="UTF-8"?>\n<ceb:CEB505Message guid="big" version="1.0" xmlns:ceb="${CEB_NS}">`;
        for (let i = 0; i < count; i++) yield logistics(i);
        yield '\n</ceb:CEB505Message>\n';
      })(),
    );
    let seen = 0;
    let maxHeap = 0;
    let lastNo = '';
    const outcome = await readCebXml(source, (e) => {
      seen++;
      lastNo = e.head['logisticsNo'] ?? '';
      if (seen % 2000 === 0) maxHeap = Math.max(maxHeap, process.memoryUsage().heapUsed);
    });
    t.diagnostic(`${count} entities, heapUsed at most ${Math.round(maxHeap / 2 ** 20)} MB`);
    assert.deepEqual(outcome, { status: 'ok', root: 'CEB505Message', recordType: 'waybill', messageGuid: 'big', entities: count });
    assert.equal(seen, count);
    assert.equal(lastNo, `SF${String(count - 1).padStart(12, '0')}`);
    assert.ok(maxHeap > 0 && maxHeap < 150 * 1024 * 1024, `heap stayed at most ${Math.round(maxHeap / 2 ** 20)} MB`);
  });
});
