/**
 * The benchmark suite's child process, so that a measured run has its own process, its own peak
 * RSS and its own V8 heap:
 *
 *   child.js generate <out> <lists> <format> <days> <seed>
 *   child.js run <result.json> <memory-limit|-> <declmatch arguments…>
 *       runs `declmatch <arguments>` exactly as the command does (cli/main.ts `main`), then writes
 *       { exitCode, seconds, cpuSeconds, peakRssMiB } to result.json; the command's stdout passes
 *       through. A memory limit other than `-` is applied to every DuckDB instance the run opens
 *       (the command has no option for it yet).
 *   child.js decide <dayDir> <date> <threads>
 *       stages the day (in memory), then times decideDay alone; prints one JSON line.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';
import { openDatabase } from '../db/duck.js';
import { generateDays } from '../generate/generator.js';
import { ingestDay } from '../ingest/ingest.js';
import { decideDay } from '../match/run.js';
import { loadPolicy } from '../policy/policy.js';
import { loadReference } from '../policy/reference.js';
import { BENCH_DATE } from './data.js';

const [mode, ...args] = process.argv.slice(2);
const peakRssMiB = () => Math.round(process.resourceUsage().maxRSS / 1024);

if (mode === 'generate') {
  const [out, lists, format, days, seed] = args as [string, string, 'xml' | 'parquet', string, string];
  mkdirSync(out, { recursive: true });
  await generateDays({ out, date: BENCH_DATE, days: Number(days), lists: Number(lists), seed, format, anomalyRate: 0.05 });
} else if (mode === 'run') {
  const [resultFile, memoryLimit, ...argv] = args as [string, string, ...string[]];
  if (memoryLimit !== '-') process.env.DECLMATCH_DUCKDB_MEMORY = memoryLimit; // what `declmatch run` gives DuckDB
  const { main } = (await import('../cli/main.js')) as { main: (argv: readonly string[]) => Promise<number> };
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const exitCode = await main(argv);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  writeFileSync(resultFile, JSON.stringify({ exitCode, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, peakRssMiB: peakRssMiB() }));
  process.exitCode = 0;
} else if (mode === 'decide') {
  const [dayDir, date, threadsArg] = args as [string, string, string];
  const threads = Number(threadsArg);
  const db = await openDatabase(':memory:', { threads });
  try {
    await ingestDay(dayDir, db, { threads });
    const t0 = process.hrtime.bigint();
    const d = await decideDay(db, { date, runId: 'bench-decide', policy: loadPolicy(), reference: loadReference() });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    process.stdout.write(JSON.stringify({ seconds, stages: d.stages, counts: d.counts, peakRssMiB: peakRssMiB() }) + '\n');
  } finally {
    db.close();
  }
} else {
  process.stderr.write(`bench child: unknown mode ${String(mode)}\n`);
  process.exitCode = 64;
}
