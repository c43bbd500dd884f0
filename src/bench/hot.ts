/**
 * The hot paths, one benchmark each, in this process with tinybench, on a generated day of the
 * scope's size (two days, so that every message type is there):
 *
 *  per message type (order, receipt, waybill, list, cancel, return), on the same bytes in memory:
 *    ref.floor.<type>, ref.fxp.<type>, ref.naive.<type>   the references (MB/s of XML)
 *    parse.<parser>.<type>     readCebXml, entities to a no-op, for each parser the reader has
 *    parsefile.<type>          the worker's whole job: file → validated rows → Arrow batches
 *  per record type (heads and lines), on the same rows:
 *    build.<record>            Arrow batch building (BatchBuilder), rows/s
 *    load.<record>             Arrow batches → DuckDB staging (appendBatch, one transaction)
 *    ref.appender.<record>     the same rows through a row-by-row appender (the naive load)
 *  on a systematic sample of the day (its mix of types), one thread:
 *    parse.<parser>.per-core, ref.floor.per-core, ref.fxp.per-core, ref.naive.per-core,
 *    parse.fast.x-fxp          how many times fast-xml-parser's time the fast reader saves
 *  on the first day, whole:
 *    ref.floor.day(.1t)        the floor with the ingest's threads (and one)
 *    ingest.xml(.1t), ingest.parquet
 *    decide, decide.<step>     decideDay on the staged day (its own steps from its timings)
 *    publish, publish.<step>   publishDay on the decided day
 *    report                    the HTML report of the published day
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { appendBatch } from '../db/load.js';
import { openDatabase, type Db } from '../db/duck.js';
import { BatchBuilder, type StagingRow } from '../ingest/batch.js';
import { discover, type DayFile } from '../ingest/discover.js';
import { ingestDay } from '../ingest/ingest.js';
import { parseFile } from '../ingest/parse-file.js';
import { entityRows } from '../ingest/records.js';
import * as xml from '../ingest/xml.js';
import { decideDay } from '../match/run.js';
import { loadPolicy } from '../policy/policy.js';
import { loadReference } from '../policy/reference.js';
import { publishDay } from '../publish/publish.js';
import { writeReport } from '../report/report.js';
import { recordSpec, RECORD_SPECS, type RecordTypeName } from '../spec/fields.js';
import { stagingDDL } from '../spec/schema.js';
import { BENCH_DATE, folderBytes, type DaySet } from './data.js';
import { floorThreads, fxpParse, inflate, NaiveIngest, tokenise } from './refs.js';
import { fromSamples, round, timeIt, type Recorder, type Timed } from './measure.js';
import type { Ratios } from './types.js';

export interface HotConfig {
  /** lists per generated day */
  lists: number;
  /** MB of XML per message type for the per-type benchmarks */
  typeMb: number;
  /** MB of XML in the mixed sample (the per-core figures) */
  mixedMb: number;
  /** timed samples per micro benchmark, at least */
  iterations: number;
  /** and at least this many ms of sampling */
  time: number;
  /** timed samples of the whole-day benchmarks (ingest, decide, publish, report) */
  mesoIterations: number;
  /** a warm-up run before the whole-day benchmarks */
  mesoWarmup: boolean;
}

export interface Ctx {
  rec: Recorder;
  threads: number;
  /** scratch folder of this run */
  work: string;
  log: (line: string) => void;
  /** Samples the machine's speed (the scope's noise probe) between two sections of the scope. */
  sampleMachine?: () => Promise<void>;
}

/**
 * The XML entity readers to compare. `readCebXml` takes the parser as its fourth argument
 * (`XML_PARSER_KINDS`: 'fast', 'reference'); a reader without that option is benchmarked as
 * 'default' alone.
 */
export const PARSERS: readonly string[] = (xml as { XML_PARSER_KINDS?: readonly string[] }).XML_PARSER_KINDS ?? ['default'];

interface Loaded {
  name: string;
  path: string;
  recordType: RecordTypeName;
  /** XML bytes (inflated) */
  bytes: Uint8Array;
}

const PIECE = 64 * 1024;
function pieces(b: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < b.length; i += PIECE) out.push(b.subarray(i, i + PIECE));
  return out;
}

/** Parses in-memory XML with one of the readers, entities to a no-op; returns the entity count. */
export async function parseBytes(files: readonly { bytes: Uint8Array }[], parser: string): Promise<number> {
  let n = 0;
  const read = xml.readCebXml as (s: Readable, on: (e: xml.RawEntity) => void, caps: xml.XmlCaps, parser?: string) => Promise<xml.XmlFileOutcome>;
  for (const f of files) {
    const o = parser === 'default' ? await read(Readable.from(pieces(f.bytes)), () => n++, xml.DEFAULT_XML_CAPS) : await read(Readable.from(pieces(f.bytes)), () => n++, xml.DEFAULT_XML_CAPS, parser);
    if (o.status !== 'ok') throw new Error(`bench: ${o.status} file in the benchmark data: ${'detail' in o ? o.detail : ''}`);
  }
  return n;
}

/** The XML files of the day folders that will be read, by record type. */
export function xmlFiles(days: readonly string[]): DayFile[] {
  return days.flatMap((d) => discover(d)).filter((f) => f.kind === 'xml' && f.verdict === 'read' && f.recordType !== null);
}

function load(files: readonly DayFile[]): Loaded[] {
  return files.map((f) => ({ name: f.name, path: f.path, recordType: f.recordType as RecordTypeName, bytes: inflate(readFileSync(f.path)) }));
}

/** Files of one type, in name order, until `mb` MB of XML. */
function take(files: readonly DayFile[], mb: number): Loaded[] {
  const out: Loaded[] = [];
  let total = 0;
  for (const f of files) {
    if (total >= mb * 1e6) break;
    const [l] = load([f]);
    out.push(l!);
    total += l!.bytes.length;
  }
  return out;
}

/** Every k-th file, so that the sample keeps the day's mix of types, until `mb` MB of XML. */
export function systematicSample(files: readonly DayFile[], mb: number): Loaded[] {
  const total = files.reduce((s, f) => s + f.bytes, 0);
  const step = Math.max(1, Math.floor(total / (mb * 1e6)));
  const sorted = [...files].sort((a, b) => (a.name < b.name ? -1 : 1));
  return take(sorted.filter((_, i) => i % step === 0), mb);
}

const mbOf = (files: readonly { bytes: Uint8Array }[]) => files.reduce((s, f) => s + f.bytes.length, 0) / 1e6;

/** Seconds of the stage / seconds of each reference, for the same work (rates in the same unit). */
export function ratios(stageRate: number, refs: { floor?: number | undefined; fxp?: number | undefined; naive?: number | undefined }): Ratios {
  const r: Ratios = {};
  for (const k of ['floor', 'fxp', 'naive'] as const) {
    const v = refs[k];
    if (v !== undefined && Number.isFinite(v) && v > 0) r[k] = v / stageRate;
  }
  return r;
}

/**
 * The reference measurements on in-memory files, one thread: floor, fxp and naive. Returns their
 * rates (MB/s of XML) under `ref.<ref>.<label>`.
 */
export async function references(ctx: Ctx, label: string, files: readonly Loaded[], o: { iterations: number; time: number; naiveIterations?: number }, naive: NaiveIngest): Promise<{ floor?: number; fxp?: number; naive?: number }> {
  const mb = mbOf(files);
  const detail = { files: files.length, mb: round(mb, 5), threads: 1 };
  const floor = ctx.rec.rate(`ref.floor.${label}`, mb, 'MB/s', await timeIt(`floor ${label}`, () => files.reduce((s, f) => s + tokenise(f.bytes), 0), o), { detail });
  const fx = ctx.rec.rate(`ref.fxp.${label}`, mb, 'MB/s', await timeIt(`fxp ${label}`, () => files.reduce((s, f) => s + fxpParse(f.bytes), 0), o), { detail });
  const nv = ctx.rec.rate(
    `ref.naive.${label}`,
    mb,
    'MB/s',
    await timeIt(
      `naive ${label}`,
      async () => {
        for (const f of files) await naive.file(f.name, f.bytes);
        await naive.close();
      },
      { iterations: o.naiveIterations ?? o.iterations, time: o.time, beforeEach: () => naive.reset() },
    ),
    { detail },
  );
  return { floor: floor.value, fxp: fx.value, naive: nv.value };
}

export async function hotBenchmarks(ctx: Ctx, cfg: HotConfig, xmlDays: DaySet, parquetDays: DaySet): Promise<void> {
  const { rec, log } = ctx;
  const micro = { iterations: cfg.iterations, time: cfg.time };
  const scratch = await openDatabase(':memory:', { threads: 1 });
  const naive = new NaiveIngest(scratch);
  try {
    // ---- per message type ----
    const all = xmlFiles(xmlDays.days);
    const types = RECORD_SPECS.filter((s) => !s.parent).map((s) => s.name);
    const rows = new Map<RecordTypeName, StagingRow[]>();
    for (const type of types) {
      const files = take(all.filter((f) => f.recordType === type), cfg.typeMb);
      if (!files.length) {
        log(`  (no ${type} files in the data: skipped)`);
        continue;
      }
      await ctx.sampleMachine?.();
      log(`${type}: ${files.length} files, ${mbOf(files).toFixed(1)} MB of XML`);
      const mb = mbOf(files);
      const refs = await references(ctx, type, files, micro, naive);
      const detail = { files: files.length, mb: round(mb, 5), threads: 1 };
      for (const p of PARSERS) {
        const t = await timeIt(`parse ${p} ${type}`, () => parseBytes(files, p), micro);
        rec.rate(`parse.${p}.${type}`, mb, 'MB/s', t, { ratioTo: ratios(mb / (t.ms / 1000), refs), detail });
      }
      const t = await timeIt(
        `parsefile ${type}`,
        async () => {
          for (const f of files) await parseFile({ path: f.path, name: f.name, kind: 'xml', recordType: type });
        },
        micro,
      );
      rec.rate(`parsefile.${type}`, mb, 'MB/s', t, { ratioTo: ratios(mb / (t.ms / 1000), refs), detail });

      // the rows these files stage, for the Arrow and load benchmarks
      for (const f of files) {
        await xml.readCebXml(Readable.from(pieces(f.bytes)), (e) => {
          const r = entityRows(type, e.head, e.lines, { file: f.name, messageGuid: e.messageGuid, recordIndex: e.index });
          push(rows, type, [r.head]);
          const line = recordSpec(type).lines;
          if (line) push(rows, line, r.lines);
        });
      }
    }

    // ---- per record type: Arrow batches, loading ----
    const db = await openDatabase(':memory:', { threads: ctx.threads });
    try {
      for (const spec of RECORD_SPECS) {
        const rs = rows.get(spec.name);
        if (!rs?.length) continue;
        const detail = { rows: rs.length };
        let ipcs: Uint8Array[] = [];
        const build = () => {
          const out: Uint8Array[] = [];
          const b = new BatchBuilder(spec, 512);
          for (const r of rs) {
            b.append(r);
            if (b.length >= 16_384) out.push(b.finish());
          }
          if (b.length) out.push(b.finish());
          ipcs = out;
          return out.length;
        };
        const naiveT = await timeIt(
          `appender ${spec.name}`,
          async () => {
            await naive.rowsOf(spec, rs);
            await naive.close();
          },
          { ...micro, beforeEach: () => naive.reset() },
        );
        const appender = rec.rate(`ref.appender.${spec.name}`, rs.length, 'rows/s', naiveT, { detail });
        const bt = await timeIt(`build ${spec.name}`, build, micro);
        rec.rate(`build.${spec.name}`, rs.length, 'rows/s', bt, { ratioTo: ratios(rs.length / (bt.ms / 1000), { naive: appender.value }), detail });
        const lt = await timeIt(
          `load ${spec.name}`,
          () =>
            db.transaction(async () => {
              for (const ipc of ipcs) await appendBatch(db, spec, ipc);
            }),
          { ...micro, beforeEach: () => db.run(stagingDDL(spec).replace('CREATE TABLE IF NOT EXISTS', 'CREATE OR REPLACE TABLE')) },
        );
        rec.rate(`load.${spec.name}`, rs.length, 'rows/s', lt, { ratioTo: ratios(rs.length / (lt.ms / 1000), { naive: appender.value }), detail: { ...detail, batches: ipcs.length } });
      }
    } finally {
      db.close();
    }
    rows.clear();

    // ---- the per-core figures on a sample of the day ----
    const day1 = xmlFiles(xmlDays.days.slice(0, 1));
    await perCore(ctx, systematicSample(day1, cfg.mixedMb), micro, naive);
  } finally {
    await naive.close();
    scratch.close();
  }

  // ---- the whole first day ----
  await wholeDay(ctx, cfg, xmlDays.days[0]!, parquetDays.days[0]!);
}

function push(m: Map<RecordTypeName, StagingRow[]>, type: RecordTypeName, rs: readonly StagingRow[]): void {
  let a = m.get(type);
  if (!a) m.set(type, (a = []));
  for (const r of rs) a.push(r);
}

/** parse.<parser>.per-core, the references on the same sample, and parse.fast.x-fxp. */
export async function perCore(ctx: Ctx, sample: readonly Loaded[], micro: { iterations: number; time: number }, naive: NaiveIngest): Promise<void> {
  const mb = mbOf(sample);
  await ctx.sampleMachine?.();
  ctx.log(`per-core sample: ${sample.length} files, ${mb.toFixed(1)} MB of XML`);
  const refs = await references(ctx, 'per-core', sample, { ...micro, naiveIterations: Math.min(3, micro.iterations) }, naive);
  const detail = { files: sample.length, mb: round(mb, 5), threads: 1 };
  const times = new Map<string, Timed>();
  for (const p of PARSERS) {
    const t = await timeIt(`parse ${p} sample`, () => parseBytes(sample, p), micro);
    times.set(p, t);
    ctx.rec.rate(`parse.${p}.per-core`, mb, 'MB/s', t, { ratioTo: ratios(mb / (t.ms / 1000), refs), detail });
  }
  const fast = times.get('fast') ?? times.get('default');
  const fx = ctx.rec.get('ref.fxp.per-core');
  if (fast && fx && !fast.error) {
    const fastRate = mb / (fast.ms / 1000);
    ctx.rec.add('parse.fast.x-fxp', fastRate / fx.value, 'x', 'higher', { samples: fast.samples, rme: Math.hypot(fast.rme, fx.rme) }, { detail: { ...detail, fastMbPerSecond: Math.round(fastRate * 10) / 10, fxpMbPerSecond: fx.value } });
  }
}

/** Copies the staging tables of `db` into a database file, to restore a staged day from. */
async function snapshot(db: Db, file: string): Promise<string[]> {
  rmSync(file, { force: true });
  const tables = (await db.all(`SELECT table_name AS t FROM duckdb_tables() WHERE database_name = current_database() AND table_name LIKE 'stg\\_%' ESCAPE '\\' ORDER BY 1`)).map((r) => String(r.t));
  await db.run(`ATTACH '${file.replace(/'/g, "''")}' AS snap`);
  for (const t of tables) await db.run(`CREATE TABLE snap.${t} AS SELECT * FROM ${t}`);
  await db.run('DETACH snap');
  return tables;
}

async function restore(file: string, tables: readonly string[], threads: number): Promise<Db> {
  const db = await openDatabase(':memory:', { threads });
  await db.run(`ATTACH '${file.replace(/'/g, "''")}' AS snap (READ_ONLY)`);
  for (const t of tables) await db.run(`CREATE TABLE ${t} AS SELECT * FROM snap.${t}`);
  await db.run('DETACH snap');
  return db;
}

/** Step timings of every timed sample (the warm-up's dropped) → one result per step. */
class Steps {
  private readonly samples = new Map<string, number[]>();
  private calls = 0;
  constructor(private readonly warmup: boolean) {}
  add(stages: readonly { stage: string; seconds: number }[]): void {
    if (this.calls++ === 0 && this.warmup) return;
    for (const s of stages) {
      let a = this.samples.get(s.stage);
      if (!a) this.samples.set(s.stage, (a = []));
      a.push(s.seconds * 1000);
    }
  }
  record(rec: Recorder, floorSeconds: number | undefined, prefix: string): void {
    for (const [stage, ms] of this.samples) {
      if (!stage.startsWith(prefix)) continue;
      const t = fromSamples(ms);
      rec.seconds(stage, t, { ratioTo: floorSeconds ? { floor: t.ms / 1000 / floorSeconds } : {} });
    }
  }
}

async function wholeDay(ctx: Ctx, cfg: HotConfig, xmlDay: string, parquetDay: string): Promise<void> {
  const { rec, threads, log } = ctx;
  const meso = { iterations: cfg.mesoIterations, warmup: cfg.mesoWarmup };
  const files = xmlFiles([xmlDay]);
  const { bytes } = folderBytes(xmlDay);
  await ctx.sampleMachine?.();
  log(`whole day: ${files.length} XML files, ${(bytes / 1e6).toFixed(1)} MB on disk`);

  // the floor of this day, with the ingest's threads and with one
  let xmlBytes = 0;
  const floorT = await timeIt(
    'floor day',
    async () => {
      xmlBytes = (await floorThreads(files, threads)).xmlBytes;
    },
    { iterations: Math.max(3, cfg.mesoIterations) },
  );
  const xmlMb = xmlBytes / 1e6;
  const floor = rec.rate('ref.floor.day', xmlMb, 'MB/s', floorT, { detail: { files: files.length, mb: round(xmlMb, 5), threads } });
  const floorSeconds = xmlMb / floor.value;
  let floor1Seconds = floorSeconds;
  if (threads > 1) {
    const t1 = await timeIt('floor day 1t', () => floorThreads(files, 1), { iterations: Math.max(3, cfg.mesoIterations) });
    const f1 = rec.rate('ref.floor.day.1t', xmlMb, 'MB/s', t1, { detail: { files: files.length, mb: round(xmlMb, 5), threads: 1 } });
    floor1Seconds = xmlMb / f1.value;
  }
  const fxpRate = rec.get('ref.fxp.per-core')?.value;
  const naiveRate = rec.get('ref.naive.per-core')?.value;
  const dayRatios = (seconds: number, floorS: number): Ratios => ({
    floor: seconds / floorS,
    ...(fxpRate ? { fxp: seconds / (xmlMb / fxpRate) } : {}),
    ...(naiveRate ? { naive: seconds / (xmlMb / naiveRate) } : {}),
  });

  // ingest
  let db: Db | null = null;
  const fresh = async (t: number) => {
    db?.close();
    db = await openDatabase(':memory:', { threads: t });
  };
  for (const t of threads > 1 ? [threads, 1] : [threads]) {
    const name = t === threads ? 'ingest.xml' : 'ingest.xml.1t';
    const it = await timeIt(name, () => ingestDay(xmlDay, db!, { threads: t }), { ...meso, beforeEach: () => fresh(t) });
    rec.rate(name, xmlMb, 'MB/s', it, { ratioTo: dayRatios(it.ms / 1000, t === threads ? floorSeconds : floor1Seconds), detail: { files: files.length, mb: round(xmlMb, 5), threads: t } });
  }
  let records = 0;
  const pt = await timeIt(
    'ingest.parquet',
    async () => {
      const r = await ingestDay(parquetDay, db!, { threads });
      records = r.ledger.reduce((s, l) => s + l.read, 0);
    },
    { ...meso, beforeEach: () => fresh(threads) },
  );
  rec.rate('ingest.parquet', records, 'rows/s', pt, { detail: { records, threads, mb: Math.round(folderBytes(parquetDay).bytes / 1e5) / 10 } });

  // decide, publish, report on the staged XML day
  await fresh(threads);
  await ingestDay(xmlDay, db!, { threads });
  const snap = join(ctx.work, 'staged.duckdb');
  const tables = await snapshot(db!, snap);
  const policy = loadPolicy();
  const reference = loadReference();
  const decideOpts = { date: BENCH_DATE, runId: 'bench', policy, reference };
  const restoreDb = async () => {
    (db as Db | null)?.close();
    db = await restore(snap, tables, threads);
  };
  try {
    const steps = new Steps(meso.warmup);
    const dt = await timeIt(
      'decide',
      async () => {
        const d = await decideDay(db!, decideOpts);
        steps.add(d.stages);
      },
      { ...meso, beforeEach: restoreDb },
    );
    rec.seconds('decide', dt, { ratioTo: { floor: dt.ms / 1000 / floorSeconds } });
    steps.record(rec, floorSeconds, 'decide.');

    const psteps = new Steps(meso.warmup);
    let stages: { stage: string; seconds: number }[] = [];
    const pubt = await timeIt(
      'publish',
      async () => {
        await publishDay(db!, {
          ...decideOpts,
          stages,
          run: { runId: 'bench', date: BENCH_DATE, startedAt: new Date(), policySource: policy.source, referenceSource: null, threads, inputFiles: files.length, inputBytes: bytes, recordsRead: 0, recordsQuarantined: 0 },
          exitCode: async () => 0,
        });
        psteps.add(stages);
      },
      {
        ...meso,
        beforeEach: async () => {
          await restoreDb();
          await db!.run('BEGIN TRANSACTION');
          stages = [];
          await decideDay(db!, decideOpts);
        },
        afterEach: () => db!.run('COMMIT'),
      },
    );
    rec.seconds('publish', pubt, { ratioTo: { floor: pubt.ms / 1000 / floorSeconds } });
    psteps.record(rec, floorSeconds, 'publish.');

    const out = join(ctx.work, 'report.html');
    const rt = await timeIt('report', () => writeReport(db!, { date: BENCH_DATE, out }), meso);
    rec.seconds('report', rt, { ratioTo: { floor: rt.ms / 1000 / floorSeconds } });
  } finally {
    (db as Db | null)?.close();
    rmSync(snap, { force: true });
    rmSync(`${snap}.wal`, { force: true });
  }
}
