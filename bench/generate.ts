/**
 * Generator throughput and peak memory on one large day: `npm run bench:generate -- [lists] [format]`
 * (default 1,000,000 XML lists). Writes into bench/.cache/ (ignored by git) and records the result
 * with the machine in bench/results/generate-<cores>c.json. Budget (issue 2): a 1,000,000-list day
 * in under 10 minutes with peak RSS under 2 GiB.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateDays } from '../src/generate/generator.js';
import { machine } from './machine.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const lists = Number(process.argv[2] ?? 1_000_000);
const format = (process.argv[3] ?? 'xml') as 'xml' | 'csv' | 'parquet';
const out = join(root, 'bench', '.cache', `generate-${lists}-${format}`);
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const t0 = process.hrtime.bigint();
const days = await generateDays({ out, date: '2025-06-12', days: 1, lists, seed: 'bench', format, anomalyRate: 0.05 });
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const peakRssMiB = Math.round(process.resourceUsage().maxRSS / 1024);
const result = {
  name: 'generate',
  state: seconds <= 600 && peakRssMiB <= 2048 ? 'within-budget' : 'over-budget',
  lists,
  format,
  seconds: Math.round(seconds * 10) / 10,
  listsPerSecond: Math.round(lists / seconds),
  peakRssMiB,
  bytesWritten: days[0]?.bytes ?? 0,
  budget: { seconds: 600, peakRssMiB: 2048 },
  machine: await machine(),
  date: new Date().toISOString(),
};
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', `generate-${lists}-${format}-${result.machine.cores}c.json`), JSON.stringify(result, null, 2) + '\n');
process.stdout.write(JSON.stringify(result, null, 2) + '\n');
rmSync(out, { recursive: true, force: true });
