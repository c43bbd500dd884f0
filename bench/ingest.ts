/**
 * Ingest of a generated XML day with 1 and 2 threads: wall time, peak RSS, MB/s, and whether both
 * staged identical tables. `npm run bench:ingest -- [lists]` (default 100,000). The day is
 * generated once into bench/.cache/ (ignored by git). Each thread count runs in its own process
 * so that its peak RSS is its own.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateDays } from '../src/generate/generator.js';
import { machine } from './machine.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const lists = Number(process.argv[2] ?? 100_000);
const cache = join(root, 'bench', '.cache', `ingest-${lists}-xml`);
const date = '2025-06-12';
if (!existsSync(join(cache, 'manifest.json'))) {
  process.stderr.write(`generating ${lists} lists into ${cache} (once)\n`);
  await generateDays({ out: cache, date, days: 1, lists, seed: 'bench-ingest', format: 'xml', anomalyRate: 0.05 });
}

const runs: Record<string, unknown>[] = [];
for (const threads of [1, 2]) {
  const res = spawnSync(process.execPath, ['--max-old-space-size=1536', join(here, 'ingest-one.js'), join(cache, date), String(threads)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (res.status !== 0) throw new Error(`ingest with ${threads} thread(s) failed: ${res.stderr}`);
  runs.push(JSON.parse(res.stdout) as Record<string, unknown>);
}
const result = {
  name: 'ingest',
  lists,
  format: 'xml',
  runs,
  identical: runs[0]?.hash === runs[1]?.hash,
  scaling: Number(runs[0]?.seconds) / Number(runs[1]?.seconds),
  machine: await machine(),
  date: new Date().toISOString(),
};
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', `ingest-${lists}-xml-${result.machine.cores}c.json`), JSON.stringify(result, null, 2) + '\n');
process.stdout.write(JSON.stringify(result, null, 2) + '\n');
