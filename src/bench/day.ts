/**
 * Whole-run benchmarks on a generated day: `declmatch run` end to end in a child process (wall
 * time, CPU time, peak RSS, the run's own stage timings), for XML and Parquet, with the XML run
 * also at one and two threads (the scaling figure); decideDay alone on the staged day (child
 * process); and the references on the same files: the floor with the run's threads (and one
 * thread), fast-xml-parser and the naive ingest on a systematic sample (one thread, scaled to the
 * day's bytes by their throughput).
 *
 *   run.<fmt>.wall / .cpu / .peak-rss / .exit / .stage.<stage>     fmt: xml, parquet
 *   run.xml.1t.wall, run.xml.2t.wall, run.xml.scaling-1to2          thread scaling (--threads 1 and 2)
 *   run.xml.1c.wall, run.xml.2c.wall, run.xml.scaling-cores         the same held to 1 and 2 CPUs (taskset)
 *   run.xml.x-floor                                                 the run's time / the floor's
 *   ref.store.day, run.parquet.x-store                              storing the Parquet files whole in a DuckDB file, the run's time / that
 *   ref.floor.day(.1t)                                              the floor on every file
 *   parse.<parser>.per-core, ref.*.per-core, parse.fast.x-fxp       on the sample
 *   decide, decide.<step>                                           decideDay alone
 *   run.parquet-<n>.wall, run.parquet.x-<n>                         a smaller day to compare with
 *   run.night-<i>.*, run.nightly.x-first, run.nightly.decide.x-first  Parquet days run in turn into one database
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../db/duck.js';
import { allowedCpus, BENCH_DATE, daySet, folderBytes, removeDatabase, runChild, type DaySet } from './data.js';
import { fromSamples, round, timeIt, type Timed } from './measure.js';
import { perCore, systematicSample, xmlFiles, type Ctx } from './hot.js';
import { floorThreads, NaiveIngest, storeDay } from './refs.js';
import type { Ratios } from './types.js';

export interface DayConfig {
  lists: number;
  /** days generated in the XML set (the first is run); 2 lets smoke share the hot part's data */
  generatedDays?: number;
  xml: boolean;
  parquet: boolean;
  /** XML runs at 1 and 2 threads too */
  scaling: boolean;
  /** MB of the per-core sample; 0 = no per-core figures */
  sampleMb: number;
  /** samples of the in-process benchmarks (floor, per-core) */
  iterations: number;
  /** decideDay alone on the staged day */
  decide: boolean;
  /** DuckDB memory_limit for the runs, e.g. '8GB' */
  memoryLimit?: string;
  /** also run a Parquet day of this many lists and report the ratio to it */
  compareParquet?: number;
  /** how long one run may take before it is stopped (s) */
  timeoutSeconds?: number;
  /**
   * Parquet days run in turn into one database, as an operator runs them night after night: each
   * run has one more day of history than the one before (`nightlyBenchmarks`).
   */
  nightly?: number;
}

interface RunOutcome {
  exitCode: number;
  /** wall time from starting the process to its exit */
  seconds: number;
  /** wall time of the command itself (`main`), without starting Node and loading the modules */
  inProcessSeconds: number;
  cpuSeconds: number;
  peakRssMiB: number;
  stages: { stage: string; seconds: number }[];
}

let runCounter = 0;

/**
 * `declmatch run <day> --db <fresh file> --threads <n> --json` in a child process; with `keep`,
 * into that database, which is kept (the nightly runs).
 */
async function declmatchRun(ctx: Ctx, day: string, threads: number, memoryLimit: string | undefined, timeoutSeconds?: number, keep?: string, cpus?: readonly number[]): Promise<RunOutcome> {
  await ctx.sampleMachine?.();
  const n = ++runCounter;
  const db = keep ?? join(ctx.work, `run-${n}.duckdb`);
  const resultFile = join(ctx.work, `run-${n}.json`);
  const clean = () => {
    if (!keep) removeDatabase(db);
    rmSync(resultFile, { force: true });
  };
  clean();
  try {
    const t0 = process.hrtime.bigint();
    const stdout = await runChild(
      ['run', resultFile, memoryLimit ?? '-', 'run', day, '--db', db, '--threads', String(threads), '--json', '--quiet', '--no-log-file', '--quarantine-threshold', '1'],
      Number(process.env.DECLMATCH_HEAP_MB ?? 1536),
      process.env,
      timeoutSeconds,
      cpus,
    );
    // end to end: from starting the process to its exit (the command's own time is in inProcessSeconds)
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const m = JSON.parse(readFileSync(resultFile, 'utf8')) as Omit<RunOutcome, 'stages' | 'inProcessSeconds'>;
    let stages: RunOutcome['stages'] = [];
    try {
      stages = (JSON.parse(stdout) as { stages?: RunOutcome['stages'] }).stages ?? [];
    } catch {
      // not a run summary (the run failed): no stages
    }
    return { ...m, inProcessSeconds: m.seconds, seconds, stages };
  } finally {
    clean();
  }
}

/** A run's seconds per top-level stage (`decide.settle` counts to `decide`). */
function stageTotals(r: RunOutcome): Map<string, number> {
  const top = new Map<string, number>();
  for (const s of r.stages) {
    const head = s.stage.split('.')[0]!;
    top.set(head, (top.get(head) ?? 0) + s.seconds);
  }
  return top;
}

/** Records one run's figures under `run.<label>.*`; returns its wall seconds (NaN when it failed). */
function recordRun(ctx: Ctx, label: string, r: RunOutcome, ratioTo: Ratios, detail: Record<string, number | string>): number {
  const one: Timed = { ms: r.seconds * 1000, samples: 1, rme: 0, ...(r.exitCode === 0 ? {} : { error: `declmatch run exited ${r.exitCode}` }) };
  ctx.rec.add(`run.${label}.exit`, r.exitCode, 'code', 'lower', { samples: 1, rme: 0 }, { detail });
  ctx.rec.seconds(`run.${label}.wall`, one, { ratioTo, detail: { ...detail, inProcessSeconds: round(r.inProcessSeconds) } });
  ctx.rec.add(`run.${label}.cpu`, r.cpuSeconds, 's', 'lower', one, { detail: { note: 'CPU seconds of the whole process (all threads)' } });
  ctx.rec.add(`run.${label}.peak-rss`, r.peakRssMiB, 'MiB', 'lower', one.error ? one : { samples: 1, rme: 0 }, { detail });
  const top = stageTotals(r);
  // a stage's ratios: the run's, scaled by the stage's share of the run (the references are for the same bytes)
  const scaled = (seconds: number): Ratios => Object.fromEntries(Object.entries(ratioTo).map(([k, v]) => [k, (v * seconds) / r.seconds]));
  for (const [stage, seconds] of top) ctx.rec.add(`run.${label}.stage.${stage}`, seconds, 's', 'lower', { samples: 1, rme: 0 }, { ratioTo: scaled(seconds) });
  return r.exitCode === 0 ? r.seconds : NaN;
}

async function safely<T>(ctx: Ctx, what: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (e) {
    ctx.rec.add(what, NaN, 's', 'lower', { samples: 0, rme: 0, error: (e as Error).message.slice(0, 500) });
    return undefined;
  }
}

/** The generated days a day scope runs on (null: the scope does not run that part). */
export interface DayData {
  xml: DaySet | null;
  parquet: DaySet | null;
  /** the smaller Parquet day of `compareParquet` */
  compare: DaySet | null;
  /** the `nightly` Parquet days */
  nights: DaySet | null;
}

/**
 * Every day set the scope `cfg` runs on, generated first where the cache lacks it. The runner calls
 * this before it measures anything (see `runBench`).
 */
export async function dayData(cfg: DayConfig, cache: string, log: (s: string) => void): Promise<DayData> {
  return {
    xml: cfg.xml ? await daySet(cache, cfg.lists, 'xml', cfg.generatedDays ?? 1, log) : null,
    parquet: cfg.parquet ? await daySet(cache, cfg.lists, 'parquet', 1, log) : null,
    compare: cfg.compareParquet ? await daySet(cache, cfg.compareParquet, 'parquet', 1, log) : null,
    nights: cfg.nightly ? await daySet(cache, cfg.lists, 'parquet', cfg.nightly, log) : null,
  };
}

export async function dayBenchmarks(ctx: Ctx, cfg: DayConfig, data: DayData): Promise<void> {
  const { rec, threads, log } = ctx;
  const micro = { iterations: cfg.iterations, time: 0 };
  const { xml: xmlSet, parquet: parquetSet } = data;

  if (xmlSet) {
    const day = xmlSet.days[0]!;
    const files = xmlFiles([day]);
    const { bytes } = folderBytes(day);
    log(`XML day of ${cfg.lists.toLocaleString('en-US')} lists: ${files.length} files, ${(bytes / 1e6).toFixed(1)} MB on disk`);
    // the floor on every file, with the run's threads (and with one, for the 1-thread run); a scope
    // that measured it on this day already (smoke: the hot part) keeps that measurement
    const floorOpts = { iterations: Math.max(2, Math.min(cfg.iterations, 5)) };
    let floor = rec.get('ref.floor.day');
    if (!floor) {
      let xmlBytes = 0;
      const t = await timeIt('floor day', async () => void (xmlBytes = (await floorThreads(files, threads)).xmlBytes), floorOpts);
      floor = rec.rate('ref.floor.day', xmlBytes / 1e6, 'MB/s', t, { detail: { files: files.length, mb: round(xmlBytes / 1e6, 5), threads } });
    }
    const xmlMb = Number(floor.detail?.mb ?? NaN);
    const detail = { files: files.length, mb: xmlMb, threads };
    const floorSeconds = xmlMb / floor.value;
    let floor1 = floorSeconds;
    if (cfg.scaling && threads > 1) {
      const f1 = rec.get('ref.floor.day.1t') ?? rec.rate('ref.floor.day.1t', xmlMb, 'MB/s', await timeIt('floor day 1t', () => floorThreads(files, 1), floorOpts), { detail: { ...detail, threads: 1 } });
      floor1 = xmlMb / f1.value;
    }
    if (cfg.sampleMb > 0) {
      const scratch = await openDatabase(':memory:', { threads: 1 });
      const naive = new NaiveIngest(scratch);
      try {
        await perCore(ctx, systematicSample(files, cfg.sampleMb), micro, naive);
      } finally {
        await naive.close();
        scratch.close();
      }
    }
    const fxpRate = rec.get('ref.fxp.per-core')?.value;
    const naiveRate = rec.get('ref.naive.per-core')?.value;
    const ratiosFor = (seconds: number, floorS: number): Ratios => ({
      floor: seconds / floorS,
      ...(fxpRate ? { fxp: seconds / (xmlMb / fxpRate) } : {}),
      ...(naiveRate ? { naive: seconds / (xmlMb / naiveRate) } : {}),
    });

    log(`declmatch run, XML, ${threads} thread(s)…`);
    const r = await safely(ctx, 'run.xml.wall', () => declmatchRun(ctx, day, threads, cfg.memoryLimit, cfg.timeoutSeconds));
    const wall = r ? recordRun(ctx, 'xml', r, ratiosFor(r.seconds, floorSeconds), { ...detail, lists: cfg.lists }) : NaN;
    if (Number.isFinite(wall)) rec.add('run.xml.x-floor', wall / floorSeconds, 'x', 'lower', { samples: 1, rme: floor.rme }, { detail: { runSeconds: wall, floorSeconds, threads } });

    if (cfg.scaling && ctx.threads >= 2) {
      log('declmatch run, XML, 1 thread…');
      const r1 = await safely(ctx, 'run.xml.1t.wall', () => declmatchRun(ctx, day, 1, cfg.memoryLimit, cfg.timeoutSeconds));
      const w1 = r1 ? recordRun(ctx, 'xml.1t', r1, ratiosFor(r1.seconds, floor1), { ...detail, threads: 1, lists: cfg.lists }) : NaN;
      let w2 = threads === 2 ? wall : NaN;
      if (threads !== 2) {
        log('declmatch run, XML, 2 threads…');
        const r2 = await safely(ctx, 'run.xml.2t.wall', () => declmatchRun(ctx, day, 2, cfg.memoryLimit, cfg.timeoutSeconds));
        w2 = r2 ? recordRun(ctx, 'xml.2t', r2, {}, { ...detail, threads: 2, lists: cfg.lists }) : NaN;
      }
      if (Number.isFinite(w1) && Number.isFinite(w2)) rec.add('run.xml.scaling-1to2', w1 / w2, 'x', 'higher', { samples: 1, rme: 0 }, { detail: { oneThreadSeconds: w1, twoThreadSeconds: w2 } });

      // `--threads 1` sets the parse workers and DuckDB's threads, but the main thread still loads
      // DuckDB beside the one worker on another core: the same runs held to one and to two CPUs
      // say what a second core gives (the 2-thread run above is that run where it had two CPUs)
      const cpus = allowedCpus();
      if (cpus && cpus.length >= 2) {
        log('declmatch run, XML, 1 thread held to 1 CPU…');
        const c1 = await safely(ctx, 'run.xml.1c.wall', () => declmatchRun(ctx, day, 1, cfg.memoryLimit, cfg.timeoutSeconds, undefined, cpus.slice(0, 1)));
        const wc1 = c1 ? recordRun(ctx, 'xml.1c', c1, ratiosFor(c1.seconds, floor1), { ...detail, threads: 1, cpus: 1, lists: cfg.lists }) : NaN;
        const mainRunIsTwoCpus = cpus.length === 2 && threads === 2;
        let wc2 = mainRunIsTwoCpus ? wall : NaN;
        if (!mainRunIsTwoCpus) {
          log('declmatch run, XML, 2 threads held to 2 CPUs…');
          const c2 = await safely(ctx, 'run.xml.2c.wall', () => declmatchRun(ctx, day, 2, cfg.memoryLimit, cfg.timeoutSeconds, undefined, cpus.slice(0, 2)));
          wc2 = c2 ? recordRun(ctx, 'xml.2c', c2, {}, { ...detail, threads: 2, cpus: 2, lists: cfg.lists }) : NaN;
        }
        if (Number.isFinite(wc1) && Number.isFinite(wc2)) {
          rec.add('run.xml.scaling-cores', wc1 / wc2, 'x', 'higher', { samples: 1, rme: 0 }, { detail: { oneCpuSeconds: wc1, twoCpuSeconds: wc2 } });
        }
      }
    }
  }

  let parquetWall = NaN;
  const xmlFloorSeconds = (() => {
    const f = rec.get('ref.floor.day');
    return f ? Number(f.detail?.mb) / f.value : NaN;
  })();
  if (parquetSet) {
    const day = parquetSet.days[0]!;
    log(`declmatch run, Parquet day of ${cfg.lists.toLocaleString('en-US')} lists, ${threads} thread(s)${cfg.memoryLimit ? `, DuckDB memory_limit ${cfg.memoryLimit}` : ''}…`);
    const r = await safely(ctx, 'run.parquet.wall', () => declmatchRun(ctx, day, threads, cfg.memoryLimit, cfg.timeoutSeconds));
    // the store reference on the same files, after the run (the page cache as warm for both), with
    // the run's threads and DuckDB memory limit (`declmatch run` defaults to 3GB)
    const memoryLimit = cfg.memoryLimit ?? '3GB';
    const mb = Math.round(folderBytes(day).bytes / 1e5) / 10;
    await ctx.sampleMachine?.();
    log('store reference: the Parquet files into a DuckDB file, nothing else…');
    let rows = 0;
    const t = await timeIt('store day', async () => void (rows = await storeDay(day, join(ctx.work, 'store.duckdb'), { threads, memoryLimit })), {
      iterations: cfg.lists >= 5_000_000 ? 1 : 2,
      warmup: false,
    });
    const store = rec.seconds('ref.store.day', t, { detail: { rows, mb, threads, memoryLimit } });
    const storeSeconds = store.state === 'completed' ? store.value : NaN;
    const toStore: Ratios = Number.isFinite(storeSeconds) && r ? { store: r.seconds / storeSeconds } : {};
    if (r) parquetWall = recordRun(ctx, 'parquet', r, toStore, { lists: cfg.lists, threads, mb, memoryLimit: cfg.memoryLimit ?? 'default' });
    if (Number.isFinite(parquetWall) && Number.isFinite(storeSeconds)) {
      rec.add('run.parquet.x-store', parquetWall / storeSeconds, 'x', 'lower', { samples: 1, rme: store.rme }, { detail: { runSeconds: round(parquetWall), storeSeconds: round(storeSeconds), threads } });
    }
  }

  const smaller = data.compare;
  if (smaller) {
    log(`declmatch run, Parquet day of ${smaller.lists.toLocaleString('en-US')} lists (the comparison)…`);
    const label = `parquet-${shortCount(smaller.lists)}`;
    const r = await safely(ctx, `run.${label}.wall`, () => declmatchRun(ctx, smaller.days[0]!, threads, cfg.memoryLimit, cfg.timeoutSeconds));
    const w = r ? recordRun(ctx, label, r, {}, { lists: smaller.lists, threads }) : NaN;
    if (Number.isFinite(w) && Number.isFinite(parquetWall)) rec.add(`run.parquet.x-${shortCount(smaller.lists)}`, parquetWall / w, 'x', 'lower', { samples: 1, rme: 0 }, { detail: { seconds: parquetWall, comparedSeconds: w, lists: cfg.lists, comparedLists: smaller.lists } });
  }

  if (data.nights) await nightlyBenchmarks(ctx, cfg, data.nights);

  if (cfg.decide) {
    const day = (parquetSet ?? xmlSet)!.days[0]!;
    await ctx.sampleMachine?.();
    log('decideDay alone on the staged day…');
    await safely(ctx, 'decide', async () => {
      const out = await runChild(['decide', day, BENCH_DATE, String(threads)], Number(process.env.DECLMATCH_HEAP_MB ?? 1536));
      const d = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { seconds: number; stages: { stage: string; seconds: number }[]; peakRssMiB: number };
      // smoke measured decideDay in process already: this one is recorded apart, without its steps
      const name = rec.get('decide') ? 'decide.child' : 'decide';
      const floor = (seconds: number): Ratios => (Number.isFinite(xmlFloorSeconds) ? { floor: seconds / xmlFloorSeconds } : {});
      rec.seconds(name, fromSamples([d.seconds * 1000]), { ratioTo: floor(d.seconds), detail: { lists: cfg.lists, threads, peakRssMiB: d.peakRssMiB } });
      if (name === 'decide') for (const s of d.stages) rec.seconds(s.stage, fromSamples([s.seconds * 1000]), { ratioTo: floor(s.seconds) });
    });
  }
}

/**
 * The nightly runs: `cfg.nightly` Parquet days of `cfg.lists` lists run in turn into one database,
 * each as `run.night-<i>.*`. What grows from the first night to the last is what an operator sees
 * get slower as the history grows: `run.nightly.x-first` (the last night's wall time over the
 * first's) and `run.nightly.decide.x-first` (the same for the decide stage). A night that fails
 * ends the series: the nights after it would not have the history they are meant to have.
 */
async function nightlyBenchmarks(ctx: Ctx, cfg: DayConfig, set: DaySet): Promise<void> {
  const nights = set.days.length;
  const db = join(ctx.work, 'nightly.duckdb');
  const decideOf = (r: RunOutcome) => stageTotals(r).get('decide') ?? 0;
  const ok: RunOutcome[] = [];
  try {
    for (const [i, day] of set.days.entries()) {
      ctx.log(`declmatch run, night ${i + 1} of ${nights}: Parquet day of ${cfg.lists.toLocaleString('en-US')} lists with ${i} day(s) of history…`);
      const label = `night-${i + 1}`;
      const r = await safely(ctx, `run.${label}.wall`, () => declmatchRun(ctx, day, ctx.threads, cfg.memoryLimit, cfg.timeoutSeconds, db));
      if (!r || !Number.isFinite(recordRun(ctx, label, r, {}, { lists: cfg.lists, threads: ctx.threads, historyDays: i }))) break;
      ok.push(r);
    }
  } finally {
    removeDatabase(db);
  }
  if (ok.length !== nights) return;
  const first = ok[0]!;
  const last = ok[nights - 1]!;
  const detail = { nights, lists: cfg.lists, firstSeconds: round(first.seconds), lastSeconds: round(last.seconds) };
  ctx.rec.add('run.nightly.x-first', last.seconds / first.seconds, 'x', 'lower', { samples: 1, rme: 0 }, { detail });
  const d0 = decideOf(first);
  if (d0 > 0) ctx.rec.add('run.nightly.decide.x-first', decideOf(last) / d0, 'x', 'lower', { samples: 1, rme: 0 }, { detail: { nights, firstSeconds: round(d0), lastSeconds: round(decideOf(last)) } });
}

export function shortCount(n: number): string {
  return n >= 1e6 && n % 1e6 === 0 ? `${n / 1e6}m` : n >= 1e3 && n % 1e3 === 0 ? `${n / 1e3}k` : String(n);
}
