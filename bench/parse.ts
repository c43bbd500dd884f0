/**
 * The XML parse paths on the same bytes, one core: the fast path (src/ingest/ceb-fast.ts, the
 * default), the fast-xml-parser reference path (`--parser reference`) and two floors: walking the
 * bytes (counting '<') and decoding them with the fatal UTF-8 decoder plus finding every '<'.
 *
 * `npm run build && node dist/bench/parse.js [MB] [rounds]` (default 32 MB of XML, 5 rounds; the
 * reference path reads a quarter of the files, one round, as it is slow). The files are the cached
 * generated day of bench/ingest.ts (bench/.cache/ingest-100000-xml/2025-06-12) when it is there,
 * else a small day generated once into bench/.cache/parse-3000-xml/. Gzipped files are inflated
 * first: the numbers are parse only, from bytes in memory, fed in 64 KiB pieces as a file read
 * would be, every entity delivered to a no-op.
 *
 * Each path is timed by wall clock and by the process's CPU time (MB per CPU-second), the better
 * figure on a busy machine; the best round is kept. Results go to bench/results/parse-<cores>c.json.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { generateDays } from '../src/generate/generator.js';
import { DEFAULT_XML_CAPS, readCebXml, type XmlParserKind } from '../src/ingest/xml.js';
import { machine } from './machine.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const wantMb = Number(process.argv[2] ?? 32);
const rounds = Math.max(1, Number(process.argv[3] ?? 5));

async function dayDir(): Promise<string> {
  const cached = join(root, 'bench', '.cache', 'ingest-100000-xml', '2025-06-12');
  if (existsSync(cached)) return cached;
  const out = join(root, 'bench', '.cache', 'parse-3000-xml');
  if (!existsSync(join(out, 'manifest.json'))) {
    process.stderr.write(`generating a small day into ${out} (once)\n`);
    await generateDays({ out, date: '2025-06-12', days: 1, lists: 3000, seed: 'bench-parse', format: 'xml', anomalyRate: 0.05 });
  }
  return join(out, '2025-06-12');
}

/** Files of every message type in turn, up to `wantMb` MB of XML, inflated. */
function load(dir: string): { name: string; bytes: Buffer }[] {
  const byType = new Map<string, string[]>();
  for (const n of readdirSync(dir).sort()) {
    if (!/\.xml(\.gz)?$/.test(n)) continue;
    const t = n.slice(0, n.indexOf('_') > 0 ? n.indexOf('_') : 6);
    byType.set(t, [...(byType.get(t) ?? []), n]);
  }
  const out: { name: string; bytes: Buffer }[] = [];
  let total = 0;
  for (let i = 0; total < wantMb * 1e6; i++) {
    let added = false;
    for (const names of byType.values()) {
      const n = names[i];
      if (n === undefined || total >= wantMb * 1e6) continue;
      let b = readFileSync(join(dir, n));
      if (n.endsWith('.gz')) b = gunzipSync(b);
      out.push({ name: n, bytes: b });
      total += b.length;
      added = true;
    }
    if (!added) break;
  }
  return out;
}

function pieces(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += 64 * 1024) out.push(b.subarray(i, i + 64 * 1024));
  return out;
}

interface Timing {
  state: 'completed';
  mb: number;
  seconds: number;
  cpuSeconds: number;
  mbPerSecond: number;
  mbPerCpuSecond: number;
  rounds: number;
}

async function time(n: number, files: { bytes: Buffer }[], once: () => Promise<number>): Promise<Timing> {
  const mb = files.reduce((s, f) => s + f.bytes.length, 0) / 1e6;
  let best: Timing | null = null;
  for (let r = 0; r < n; r++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await once();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cu = process.cpuUsage(c0);
    const cpuSeconds = (cu.user + cu.system) / 1e6;
    const t: Timing = { state: 'completed', mb: round(mb), seconds: ms(seconds), cpuSeconds: ms(cpuSeconds), mbPerSecond: round(mb / seconds), mbPerCpuSecond: round(mb / cpuSeconds), rounds: n };
    if (best === null || t.mbPerCpuSecond > best.mbPerCpuSecond) best = t;
  }
  return best!;
}

const round = (x: number) => Math.round(x * 10) / 10;
const ms = (x: number) => Math.round(x * 1000) / 1000;

/** Reads every file; the count of entities (and of files that are not ok) keeps the work honest. */
async function parseAll(files: { bytes: Buffer }[], parser: XmlParserKind): Promise<number> {
  let entities = 0;
  for (const f of files) {
    const o = await readCebXml(Readable.from(pieces(f.bytes)), () => entities++, DEFAULT_XML_CAPS, parser);
    if (o.status !== 'ok') entities += 1e9;
  }
  return entities;
}

function byteWalk(files: { bytes: Buffer }[]): number {
  let n = 0;
  for (const f of files) {
    const b = f.bytes;
    for (let i = 0; i < b.length; i++) if (b[i] === 0x3c) n++;
  }
  return n;
}

function decodeScan(files: { bytes: Buffer }[]): number {
  let n = 0;
  for (const f of files) {
    const d = new TextDecoder('utf-8', { fatal: true });
    for (const p of pieces(f.bytes)) {
      const s = d.decode(p, { stream: true });
      for (let i = s.indexOf('<'); i >= 0; i = s.indexOf('<', i + 1)) n++;
    }
    d.decode();
  }
  return n;
}

const dir = await dayDir();
const files = load(dir);
const refFiles = files.filter((_, i) => i % 4 === 0);
process.stderr.write(`${files.length} files, ${round(files.reduce((s, f) => s + f.bytes.length, 0) / 1e6)} MB from ${dir}\n`);

// warm up each path once on a few files
await parseAll(files.slice(0, 8), 'fast');
await parseAll(files.slice(0, 2), 'reference');
byteWalk(files.slice(0, 8));
decodeScan(files.slice(0, 8));

const fast = await time(rounds, files, () => parseAll(files, 'fast'));
const fastOnRef = await time(rounds, refFiles, () => parseAll(refFiles, 'fast'));
const reference = await time(1, refFiles, () => parseAll(refFiles, 'reference'));
const walk = await time(rounds, files, async () => byteWalk(files));
const decode = await time(rounds, files, async () => decodeScan(files));

const result = {
  name: 'parse',
  input: dir.slice(root.length + 1),
  files: files.length,
  paths: { fast, reference, referenceFilesFast: fastOnRef, floorByteWalk: walk, floorDecodeScan: decode },
  /** fast vs reference on the same (reference) files, by CPU time and by wall time */
  speedup: { cpu: round(fastOnRef.mbPerCpuSecond / reference.mbPerCpuSecond), wall: round(fastOnRef.mbPerSecond / reference.mbPerSecond) },
  machine: await machine(),
  note: 'one thread; MB = 10^6 bytes of XML; the best of the rounds by CPU time; other work on the machine inflates wall time',
  date: new Date().toISOString(),
};
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', `parse-${result.machine.cores}c.json`), JSON.stringify(result, null, 2) + '\n');
process.stdout.write(JSON.stringify(result, null, 2) + '\n');
