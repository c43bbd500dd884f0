/**
 * The scopes of the benchmark suite and `runBench`, which runs them, checks them against the
 * budgets and the last recorded run, and records them.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { budgetFor, check, loadBudgets } from './check.js';
import { daySet, defaultCache } from './data.js';
import { dayBenchmarks, dayData, type DayConfig } from './day.js';
import { hotBenchmarks, type Ctx, type HotConfig } from './hot.js';
import { machine } from './machine.js';
import { errorText, fmt, NoiseProbe, Recorder, round } from './measure.js';
import { previousResults, writeResult } from './results.js';
import type { BenchResult, BenchRun, CheckLine } from './types.js';

export interface ScopeConfig {
  description: string;
  hot?: HotConfig;
  day?: DayConfig;
  /** recorded in bench/results by default (smoke is not: it only shows that everything runs) */
  record: boolean;
  /** samples of the noise probe at each sampling (start, between sections, end) */
  probeIterations: number;
}

export const SCOPES: Readonly<Record<string, ScopeConfig>> = {
  smoke: {
    description: 'every benchmark once on a tiny day (300 lists): shows that the suite runs; no timing budgets (CI, tests)',
    hot: { lists: 300, typeMb: 0.25, mixedMb: 0.5, iterations: 2, time: 0, mesoIterations: 1, mesoWarmup: false },
    day: { lists: 300, generatedDays: 2, xml: true, parquet: true, scaling: true, sampleMb: 0, iterations: 2, decide: true, timeoutSeconds: 120, nightly: 3 },
    record: false,
    probeIterations: 5,
  },
  hot: {
    description: 'one benchmark per hot path on a 20,000-list day: parse per message type, Arrow batches, loading, ingest, each decide step, publish, report, with the references',
    hot: { lists: 20_000, typeMb: 4, mixedMb: 16, iterations: 5, time: 500, mesoIterations: 3, mesoWarmup: true },
    record: true,
    probeIterations: 20,
  },
  day100k: {
    description: '`declmatch run` on a 100,000-list day, XML (all cores, 1 and 2 threads, held to 1 and 2 CPUs) and Parquet, decideDay alone, the references on the same files (the store reference for Parquet)',
    day: { lists: 100_000, xml: true, parquet: true, scaling: true, sampleMb: 32, iterations: 5, decide: true, timeoutSeconds: 3600 },
    record: true,
    probeIterations: 20,
  },
  day1m: {
    description: '`declmatch run` on a 1,000,000-list day, XML (all cores, 1 and 2 threads, held to 1 and 2 CPUs) and Parquet, decideDay alone, the references on the same files (the store reference for Parquet)',
    day: { lists: 1_000_000, xml: true, parquet: true, scaling: true, sampleMb: 64, iterations: 3, decide: true, timeoutSeconds: 7200 },
    record: true,
    probeIterations: 20,
  },
  nightly: {
    description: '`declmatch run` on eight 100,000-list Parquet days in turn into one database, as nights of an operator: how much slower the last night is than the first',
    day: { lists: 100_000, xml: false, parquet: false, scaling: false, sampleMb: 0, iterations: 1, decide: false, nightly: 8, timeoutSeconds: 3600 },
    record: true,
    probeIterations: 20,
  },
  day10m: {
    description: '`declmatch run` on a 10,000,000-list Parquet day with DuckDB memory_limit 8 GB, against the 1,000,000-list Parquet day',
    day: { lists: 10_000_000, xml: false, parquet: true, scaling: false, sampleMb: 0, iterations: 3, decide: false, memoryLimit: '8GB', compareParquet: 1_000_000, timeoutSeconds: 7200 },
    record: true,
    probeIterations: 20,
  },
};

export interface BenchOptions {
  /** a scope name, or several separated by commas */
  scope: string;
  /** print the recorded run(s) as JSON on stdout instead of the table */
  json?: boolean;
  /** the data cache (default DECLMATCH_BENCH_CACHE or ~/.cache/declmatch-bench) */
  cache?: string;
  /** where runs are recorded (default bench/results of this checkout) */
  resultsDir?: string;
  /** record the run in resultsDir (default: every scope but smoke) */
  record?: boolean;
  /** the budgets file (default bench/budgets.json of this checkout) */
  budgets?: string;
  /** threads of the runs (default: all cores) */
  threads?: number;
  /** progress on stderr and the table or JSON on stdout (default true) */
  print?: boolean;
}

export interface BenchOutcome {
  results: BenchResult[];
  checks: CheckLine[];
  ok: boolean;
  /** one per scope */
  runs: BenchRun[];
  /** the files written (empty when not recorded) */
  files: string[];
}

/** The checkout this module runs from (the folder of the declmatch package.json). */
export function projectRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const p = join(d, 'package.json');
    if (existsSync(p) && (JSON.parse(readFileSync(p, 'utf8')) as { name?: string }).name === 'declmatch') return d;
    const up = dirname(d);
    if (up === d) throw new Error('bench: cannot find the declmatch checkout (package.json)');
    d = up;
  }
}

export async function runBench(o: BenchOptions): Promise<BenchOutcome> {
  const names = o.scope
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names) if (!Object.hasOwn(SCOPES, n)) throw new RangeError(`unknown bench scope ${JSON.stringify(n)}; scopes: ${Object.keys(SCOPES).join(', ')}`);
  if (!names.length) throw new RangeError(`give a bench scope: ${Object.keys(SCOPES).join(', ')}`);
  const print = o.print ?? true;
  const log = (line: string) => {
    if (print) process.stderr.write(`${line}\n`);
  };
  const root = projectRoot();
  const cache = resolve(o.cache ?? defaultCache());
  const resultsDir = resolve(o.resultsDir ?? join(root, 'bench', 'results'));
  const budgets = loadBudgets(o.budgets ?? join(root, 'bench', 'budgets.json'));
  const threads = Math.max(1, o.threads ?? availableParallelism());
  const m = await machine();
  const out: BenchOutcome = { results: [], checks: [], ok: true, runs: [], files: [] };

  for (const scope of names) {
    const cfg = SCOPES[scope]!;
    const started = new Date();
    const t0 = process.hrtime.bigint();
    log(`declmatch bench ${scope}: ${cfg.description}`);
    log(`  ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Node ${m.node}, DuckDB ${m.duckdb}, load ${m.loadAverage}; ${threads} thread(s); data cache ${cache}`);
    mkdirSync(cache, { recursive: true });
    const work = join(cache, `work-${process.pid}-${scope}`);
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    const rec = new Recorder(scope, log);
    const probe = new NoiseProbe(cfg.probeIterations);
    const ctx: Ctx = { rec, threads, work, log, sampleMachine: () => probe.sample() };
    try {
      // the data first (generated where missing, and written to disk: daySet), then the noise probe
      // and the benchmarks: making the data is neither a benchmark nor the machine's noise
      const hotDays = cfg.hot ? { xml: await daySet(cache, cfg.hot.lists, 'xml', 2, log), parquet: await daySet(cache, cfg.hot.lists, 'parquet', 1, log) } : null;
      const days = cfg.day ? await dayData(cfg.day, cache, log) : null;
      await probe.start();
      if (cfg.hot && hotDays) await hotBenchmarks(ctx, cfg.hot, hotDays.xml, hotDays.parquet);
      if (cfg.day && days) await dayBenchmarks(ctx, cfg.day, days);
    } catch (e) {
      rec.add('scope', NaN, 's', 'lower', { samples: 0, rme: 0, error: `the scope stopped: ${errorText(e)}` });
      if (print) process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    const noise = await probe.end();
    rec.add('machine.probe', noise.mbPerSecond, 'MB/s', 'higher', { samples: noise.samples, rme: noise.noise }, { detail: { samplings: noise.samplings, note: 'a fixed CPU-bound task (scanning 8 MB) at the start of the scope, between its sections and at its end: the median speed; the spread of the samplings is the noise' } });
    rec.add('machine.noise', noise.noise * 100, '%', 'lower', { samples: noise.samples, rme: 0 });
    for (const r of rec.results) {
      if (r.state !== 'completed') continue;
      r.noise = round(Math.max(r.rme, noise.noise), 4);
      const b = budgetFor(r, budgets.budgets);
      if (b) r.budget = { id: b.id, ...(b.max !== undefined ? { max: b.max } : {}), ...(b.min !== undefined ? { min: b.min } : {}) };
    }
    const previous = previousResults(resultsDir, scope, m);
    const checks = check(rec.results, budgets.budgets, previous, { tolerance: budgets.regressionTolerance });
    const ok = !checks.some((c) => c.status === 'fail');
    const run: BenchRun = {
      tool: 'declmatch bench',
      format: 1,
      scope,
      date: started.toISOString(),
      seconds: round(Number(process.hrtime.bigint() - t0) / 1e9),
      machine: m,
      settings: { threads, cache, lists: cfg.day?.lists ?? cfg.hot?.lists ?? null, comparedWith: previous ? 'the last recorded run' : 'no recorded run on this machine kind', tolerance: budgets.regressionTolerance },
      results: rec.results,
      checks,
      ok,
    };
    if (o.record ?? cfg.record) out.files.push(writeResult(run, resultsDir));
    out.runs.push(run);
    out.results.push(...rec.results);
    out.checks.push(...checks);
    out.ok &&= ok;
    log(`declmatch bench ${scope}: ${run.seconds} s, ${ok ? 'ok' : 'FAILED'}${out.files.length ? `; recorded in ${out.files[out.files.length - 1]}` : ''}`);
  }
  if (print) process.stdout.write(o.json ? JSON.stringify(out.runs.length === 1 ? out.runs[0] : out.runs, null, 2) + '\n' : summary(out));
  return out;
}

/** The human table: one line per result, then the checks that did not simply pass. */
export function summary(o: BenchOutcome): string {
  const lines: string[] = [];
  for (const run of o.runs) {
    const noise = run.results.find((r) => r.name === 'machine.noise');
    lines.push(`declmatch bench ${run.scope} — ${run.machine.cores} cores, ${run.machine.cpuModel}, ${run.machine.memoryGiB} GiB, Node ${run.machine.node}, DuckDB ${run.machine.duckdb}, load ${run.machine.loadAverage} (${run.seconds} s)`);
    lines.push(`  machine noise ${noise?.state === 'completed' ? `${noise.value.toFixed(1)} %` : 'not measured'}; ±: the samples' margin of error; ratios: this stage's time / the reference's for the same work`);
    const w = Math.max(...run.results.map((r) => r.name.length), 10);
    for (const r of run.results) {
      const value = r.state === 'completed' ? `${fmt(r.value)} ${r.unit}`.padStart(16) : 'ERROR'.padStart(16);
      const noise = r.state === 'completed' && r.rme ? ` ±${(r.rme * 100).toFixed(0)}%`.padEnd(6) : ''.padEnd(6);
      const ratio = r.ratioTo
        ? '  ' +
          Object.entries(r.ratioTo)
            .map(([k, v]) => `${fmt(v)}× ${k}`)
            .join(', ')
        : '';
      const budget = r.budget ? `  [budget ${r.budget.max !== undefined ? `≤ ${r.budget.max}` : `≥ ${r.budget.min}`}]` : '';
      lines.push(`  ${r.name.padEnd(w)} ${value}${noise}${ratio}${budget}${r.state === 'errored' ? `  ${r.error}` : ''}`);
    }
    const shown = run.checks.filter((c) => c.status !== 'pass' || c.kind === 'budget');
    if (shown.length) lines.push('  checks:', ...shown.map((c) => `    ${c.status.toUpperCase().padEnd(4)} ${c.message}`));
    const failed = run.checks.filter((c) => c.status === 'fail').length;
    lines.push(`  ${failed ? `FAILED: ${failed} check(s)` : 'ok'}; compared with ${run.settings.comparedWith}`);
  }
  return lines.join('\n') + '\n';
}
