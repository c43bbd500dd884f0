/**
 * Tabular ingest of a generated Parquet (or CSV) day (issue #6): the SQL path (src/ingest/tabular-sql.ts)
 * and, with --reference, the row-by-row reference path; seconds, rows/s, CPU seconds, peak RSS, and
 * whether both staged the same tables. Each path runs in its own process.
 *
 *   npm run build && node dist/bench/ingest-tabular.js [lists=100000] [--reference] [--csv] [--threads N] [--db FILE] [--cache DIR]
 *
 * The day is generated once into the cache folder (default /tmp/tabfast-cache). --threads is both
 * DuckDB's threads and the parse workers' (default 2); --db ingests into a database file (removed
 * first) instead of memory.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase } from '../src/db/duck.js';
import { generateDays } from '../src/generate/generator.js';
import { ingestDay } from '../src/ingest/ingest.js';
import { RECORD_SPECS } from '../src/spec/fields.js';
import { stagingTable } from '../src/spec/schema.js';
import { machine } from './machine.js';

const here = fileURLToPath(import.meta.url);
const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? (args[i + 1] as string) : fallback;
};

if (args[0] === '--one') {
  // child: one ingest, one JSON line on stdout
  const [, mode, dir, threadsArg, dbPath] = args as [string, 'sql' | 'reference', string, string, string];
  const threads = Number(threadsArg);
  if (dbPath !== ':memory:') for (const f of [dbPath, `${dbPath}.wal`]) rmSync(f, { force: true });
  const db = await openDatabase(dbPath, { threads });
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const r = await ingestDay(dir, db, { threads, tabular: mode });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const sums: Record<string, unknown> = {};
  for (const t of [...RECORD_SPECS.map(stagingTable), 'stg_quarantine', 'stg_files']) {
    sums[t] = await db.all(`SELECT count(*)::BIGINT AS n, sum(hash(COLUMNS(*)))::VARCHAR FROM ${t}`);
  }
  db.close();
  const rows = r.ledger.reduce((s, l) => s + l.read, 0);
  process.stdout.write(
    JSON.stringify(
      {
        mode,
        threads,
        seconds: Math.round(seconds * 100) / 100,
        cpuSeconds: Math.round(((cpu.user + cpu.system) / 1e6) * 100) / 100,
        rows,
        rowsPerSecond: Math.round(rows / seconds),
        mbPerSecond: Math.round((r.bytes / 1e6 / seconds) * 10) / 10,
        quarantineRows: r.quarantineRows,
        files: r.files,
        peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
        tables: JSON.stringify(sums, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)),
      },
      null,
      0,
    ) + '\n',
  );
  process.exit(0);
}

const lists = Number(args.find((a) => /^\d+$/.test(a)) ?? 100_000);
const threads = Number(option('--threads', '2'));
const dbPath = option('--db', ':memory:');
const format = args.includes('--csv') ? 'csv' : 'parquet';
const cache = join(option('--cache', '/tmp/tabfast-cache'), `ingest-${lists}-${format}`);
const date = '2025-06-12';
const day = join(cache, date);
if (!existsSync(join(cache, 'manifest.json'))) {
  process.stderr.write(`generating ${lists} lists as ${format} into ${cache} (once)\n`);
  mkdirSync(cache, { recursive: true });
  await generateDays({ out: cache, date, days: 1, lists, seed: 'bench-ingest-tabular', format, anomalyRate: 0.05 });
}
const bytes = readdirSync(day).reduce((s, f) => s + statSync(join(day, f)).size, 0);

const runs: Record<string, unknown>[] = [];
for (const mode of ['sql', ...(args.includes('--reference') ? ['reference'] : [])]) {
  process.stderr.write(`ingesting by ${mode}…\n`);
  const res = spawnSync(process.execPath, ['--max-old-space-size=2048', here, '--one', mode, day, String(threads), dbPath], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (res.status !== 0) throw new Error(`${mode} ingest failed: ${res.stderr}`);
  runs.push(JSON.parse(res.stdout) as Record<string, unknown>);
}
const [sql, reference] = runs;
const result = {
  name: 'ingest-tabular',
  lists,
  format,
  bytes,
  db: dbPath === ':memory:' ? 'memory' : 'file',
  runs: runs.map(({ tables: _tables, ...r }) => r),
  ...(reference ? { identical: sql?.tables === reference.tables, speedup: Math.round((Number(reference.seconds) / Number(sql?.seconds)) * 10) / 10 } : {}),
  machine: await machine(),
  date: new Date().toISOString(),
};
const out = join(dirname(here), '..', '..', 'bench', 'results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, `ingest-tabular-${lists}-${format}-${result.machine.cores}c.json`), JSON.stringify(result, null, 2) + '\n');
process.stdout.write(JSON.stringify(result, null, 2) + '\n');
