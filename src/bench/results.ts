/**
 * Recording runs: bench/results/<scope>-<cores>c-<iso>.json for each run (the history), and
 * bench/results/latest.json, the last run of each scope and machine kind, which the next run is
 * compared with.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchResult, BenchRun, Machine } from './types.js';

export interface LatestEntry {
  file: string;
  date: string;
  ok: boolean;
  machine: Machine;
  results: BenchResult[];
}

/** `<scope>-<cores>c`: runs are compared only with runs of the same scope on as many cores. */
export function latestKey(scope: string, m: Pick<Machine, 'cores'>): string {
  return `${scope}-${m.cores}c`;
}

export function readLatest(dir: string): Record<string, LatestEntry> {
  const f = join(dir, 'latest.json');
  if (!existsSync(f)) return {};
  try {
    return JSON.parse(readFileSync(f, 'utf8')) as Record<string, LatestEntry>;
  } catch {
    return {};
  }
}

/** The last recorded results of this scope on the same kind of machine (cores and CPU model), or null. */
export function previousResults(dir: string, scope: string, m: Machine): BenchResult[] | null {
  const e = readLatest(dir)[latestKey(scope, m)];
  return e && e.machine.cpuModel === m.cpuModel ? e.results : null;
}

/** Writes the run's file and updates latest.json; returns the file's path. */
export function writeResult(run: BenchRun, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const iso = run.date.replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
  const file = join(dir, `${run.scope}-${run.machine.cores}c-${iso}.json`);
  writeFileSync(file, JSON.stringify(run, null, 2) + '\n');
  const latest = readLatest(dir);
  latest[latestKey(run.scope, run.machine)] = { file: file.slice(dir.length + 1), date: run.date, ok: run.ok, machine: run.machine, results: run.results };
  const tmp = join(dir, `.latest.json.${process.pid}`);
  writeFileSync(tmp, JSON.stringify(sortKeys(latest), null, 2) + '\n');
  renameSync(tmp, join(dir, 'latest.json'));
  return file;
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
