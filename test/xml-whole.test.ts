/**
 * src/ingest/xml.ts reads a file of up to 8 MiB whole (one synchronous read, a small gzip file
 * inflated in one call) and streams anything else: both paths must give the same outcome and
 * entities. In its own file (its own process): the multi-megabyte texts it builds would change how
 * far V8 lets the heap grow for xml.test's bounded-memory test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DEFAULT_XML_CAPS, type XmlCaps } from '../src/ingest/xml.js';
import { CEB_NS, chopped, plain, read, sample } from './xml-read.js';

test('a file read whole (paths up to 8 MiB) gives what its bytes give streamed', async () => {
  // readCebXml(path) reads small files with one synchronous read and inflates small gzip files
  // in one call; a byte stream goes through the streaming path. Both must agree on every input,
  // broken ones included (each case also says which way the whole-file path must go).
  const dir = mkdtempSync(join(tmpdir(), 'declmatch-xml-'));
  try {
    const doc = readFileSync(sample('CEB603'));
    const text = doc.toString('utf8');
    const cut = text.indexOf('</ceb:Inventory>') + 5;
    const badUtf8 = Buffer.from(doc);
    badUtf8[doc.indexOf('<ceb:Inventory>') + 3] = 0xff;
    const gz = gzipSync(doc);
    const corrupt = Buffer.from(gz);
    corrupt.fill(0x55, 40, 80);
    const first = text.indexOf('<ceb:Inventory>');
    const last = text.lastIndexOf('</ceb:Inventory>') + '</ceb:Inventory>'.length;
    const body = text.slice(first, last);
    const big = Buffer.from(text.slice(0, first) + body.repeat(Math.ceil((9 * 1024 * 1024) / body.length)) + text.slice(last));
    const bomb = gzipSync(Buffer.concat([Buffer.from(`<ceb:CEB505Message xmlns:ceb="${CEB_NS}">`), Buffer.alloc(80 * 1024 * 1024, ' '), Buffer.from('</ceb:CEB505Message>')]));
    const cases: [string, Uint8Array, XmlCaps?][] = [
      ['plain', doc],
      ['invalid UTF-8', badUtf8],
      ['truncated', doc.subarray(0, doc.length - 30)],
      ['gzip', gz],
      ['gzip of two members', Buffer.concat([gzipSync(Buffer.from(text.slice(0, cut))), gzipSync(Buffer.from(text.slice(cut)))])],
      ['gzip with trailing garbage', Buffer.concat([gz, Buffer.from('garbage after the member')])],
      ['gzip truncated', gz.subarray(0, gz.length - 20)],
      ['gzip corrupt', corrupt],
      ['gzip of invalid UTF-8', gzipSync(badUtf8)],
      ['gzip over the file cap once inflated', gz, { ...DEFAULT_XML_CAPS, maxFileBytes: doc.length - 1 }],
      ['plain over the file cap', doc, { ...DEFAULT_XML_CAPS, maxFileBytes: 1000 }],
      ['gzip inflating past 64 MiB', bomb],
      ['plain over 8 MiB (streamed from the path)', big],
    ];
    for (const [name, bytes, caps] of cases) {
      const path = join(dir, 'f.xml');
      writeFileSync(path, bytes);
      const whole = await read(path, caps);
      const streamed = await read(chopped(bytes, 64 * 1024), caps);
      assert.deepEqual(whole.outcome, streamed.outcome, name);
      assert.deepEqual(whole.entities.map((e) => plain(e.head)), streamed.entities.map((e) => plain(e.head)), name);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
