/**
 * Matching and deciding an already-staged day: `npm run bench:match -- [lists] [xml|parquet]`
 * (default 100,000 lists, Parquet). Generates the day once into bench/.cache/, stages it into a
 * database file there (ingest, not timed here), then times deciding on a copy of that file as
 * `declmatch run` does (prepareDay, then writeDay in a transaction), with DuckDB's memory limit as the CLI sets it. Records the
 * result, the time per step and the peak RSS with the machine in bench/results/.
 */
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase } from '../src/db/duck.js';
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
const date = '2025-06-12';
const cache = join(root, 'bench', '.cache', `match-${lists}-${format}`);
if (!existsSync(join(cache, 'manifest.json'))) await generateDays({ out: cache, date, days: 1, lists, seed: 'bench-match', format, anomalyRate: 0.05 });
const staged = join(cache, 'staged.duckdb');
if (!existsSync(staged)) {
  const db = await openDatabase(staged, { threads: 2 });
  await ingestDay(join(cache, date), db, { threads: 2 });
  db.close();
}
const work = join(cache, 'work.duckdb');
for (const f of [work, `${work}.wal`]) rmSync(f, { force: true });
copyFileSync(staged, work);
const db = await openDatabase(work, { threads: 2, memoryLimit: '3GB', tempDirectory: `${work}.tmp` });
const t0 = process.hrtime.bigint();
const opts = { date, runId: 'bench', policy: loadPolicy(), reference: loadReference() };
const d = await prepareDay(db, opts); // as `declmatch run` does: prepared outside its transaction, written inside
await db.transaction(async () => {
  await writeDay(db, opts, d.stages);
});
const t1 = process.hrtime.bigint();
db.close();
const result = {
  name: 'match',
  lists,
  format,
  decideSeconds: Number(t1 - t0) / 1e9,
  stages: d.stages.map((s) => ({ stage: s.stage, seconds: Math.round(s.seconds * 100) / 100 })),
  decisions: d.counts,
  peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  duckdbMemoryLimit: '3GB',
  machine: await machine(),
  date: new Date().toISOString(),
};
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', `match-${lists}-${result.machine.cores}c.json`), JSON.stringify(result, null, 2) + '\n');
process.stdout.write(JSON.stringify(result, null, 2) + '\n');
