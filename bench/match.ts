/**
 * Matching and deciding an already-staged day: `npm run bench:match -- [lists]` (default 100,000).
 * Uses the day cached by bench/ingest.ts (generated if missing), ingests it once, then times
 * decideDay. Records the result with the machine in bench/results/.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase } from '../src/db/duck.js';
import { generateDays } from '../src/generate/generator.js';
import { ingestDay } from '../src/ingest/ingest.js';
import { decideDay } from '../src/match/run.js';
import { loadPolicy } from '../src/policy/policy.js';
import { loadReference } from '../src/policy/reference.js';
import { machine } from './machine.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const lists = Number(process.argv[2] ?? 100_000);
const date = '2025-06-12';
const cache = join(root, 'bench', '.cache', `ingest-${lists}-xml`);
if (!existsSync(join(cache, 'manifest.json'))) await generateDays({ out: cache, date, days: 1, lists, seed: 'bench-ingest', format: 'xml', anomalyRate: 0.05 });
const db = await openDatabase(':memory:', { threads: 2 });
const t0 = process.hrtime.bigint();
await ingestDay(join(cache, date), db, { threads: 2 });
const t1 = process.hrtime.bigint();
const d = await decideDay(db, { date, runId: 'bench', policy: loadPolicy(), reference: loadReference() });
const t2 = process.hrtime.bigint();
const result = {
  name: 'match',
  lists,
  ingestSeconds: Number(t1 - t0) / 1e9,
  decideSeconds: Number(t2 - t1) / 1e9,
  decisions: d.counts,
  peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  machine: machine(),
  date: new Date().toISOString(),
};
db.close();
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', `match-${lists}-${result.machine.cores}c.json`), JSON.stringify(result, null, 2) + '\n');
process.stdout.write(JSON.stringify(result, null, 2) + '\n');
