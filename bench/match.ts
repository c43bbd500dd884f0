/**
 * Matching and deciding already-staged days: `npm run bench:match -- [lists] [xml|parquet] [days]`
 * (default 100,000 lists, Parquet, 1 day). Generates the days once into bench/.cache/; stages each
 * day into a database file there (ingest, not timed here), then times deciding it as `declmatch
 * run` does (prepareDay, then writeDay in a transaction), with DuckDB's memory limit as the CLI
 * sets it. With one day the staged file is cached and deciding runs on a copy of it; with several,
 * the days are staged and decided in turn into one database, and each day's time shows how deciding
 * grows with the history kept. Records the result, the time per step and the peak RSS with the
 * machine in bench/results/.
 */
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase, type Db } from '../src/db/duck.js';
import { generateDays } from '../src/generate/generator.js';
import { ingestDay } from '../src/ingest/ingest.js';
import { prepareDay, writeDay } from '../src/match/run.js';
import { loadPolicy } from '../src/policy/policy.js';
import { loadReference } from '../src/policy/reference.js';
import { machine } from './machine.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const lists = Number(process.argv[2] ?? 100_000);
const format = (process.argv[3] ?? 'parquet') as 'xml' | 'parquet';
const days = Number(process.argv[4] ?? 1);
if (!Number.isInteger(days) || days < 1) throw new Error(`days must be a positive integer, not ${process.argv[4]}`);
const first = '2025-06-12';
const dates = Array.from({ length: days }, (_, i) => new Date(Date.parse(first) + i * 86_400_000).toISOString().slice(0, 10));
const cache = join(root, 'bench', '.cache', `match-${lists}-${format}${days > 1 ? `-${days}d` : ''}`);
if (!existsSync(join(cache, 'manifest.json'))) await generateDays({ out: cache, date: first, days, lists, seed: 'bench-match', format, anomalyRate: 0.05 });
const work = join(cache, 'work.duckdb');
for (const f of [work, `${work}.wal`]) rmSync(f, { force: true });
const open = () => openDatabase(work, { threads: 2, memoryLimit: '3GB', tempDirectory: `${work}.tmp` });
const policy = loadPolicy();
const reference = loadReference();

async function decide(db: Db, date: string) {
  const t0 = process.hrtime.bigint();
  const opts = { date, runId: `bench-${date}`, policy, reference };
  const d = await prepareDay(db, opts); // as `declmatch run` does: prepared outside its transaction, written inside
  await db.transaction(async () => {
    await writeDay(db, opts, d.stages);
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { date, decideSeconds: seconds, stages: d.stages.map((s) => ({ stage: s.stage, seconds: Math.round(s.seconds * 100) / 100 })), decisions: d.counts };
}

const perDay: Awaited<ReturnType<typeof decide>>[] = [];
if (days === 1) {
  const staged = join(cache, 'staged.duckdb');
  if (!existsSync(staged)) {
    const db = await openDatabase(staged, { threads: 2 });
    await ingestDay(join(cache, first), db, { threads: 2 });
    db.close();
  }
  copyFileSync(staged, work);
  const db = await open();
  perDay.push(await decide(db, first));
  db.close();
} else {
  const db = await open();
  for (const date of dates) {
    await ingestDay(join(cache, date), db, { threads: 2 });
    perDay.push(await decide(db, date));
    process.stderr.write(`${date}: decided in ${perDay.at(-1)!.decideSeconds.toFixed(1)} s\n`);
  }
  db.close();
}
const last = perDay.at(-1)!;
const result = {
  name: 'match',
  lists,
  format,
  days,
  decideSeconds: last.decideSeconds,
  stages: last.stages,
  decisions: last.decisions,
  ...(days > 1 ? { perDay: perDay.map((d) => ({ date: d.date, decideSeconds: Math.round(d.decideSeconds * 100) / 100, stages: d.stages })) } : {}),
  peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  duckdbMemoryLimit: '3GB',
  machine: await machine(),
  date: new Date().toISOString(),
};
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', `match-${lists}${days > 1 ? `-${days}d` : ''}-${result.machine.cores}c.json`), JSON.stringify(result, null, 2) + '\n');
process.stdout.write(JSON.stringify(result, null, 2) + '\n');
