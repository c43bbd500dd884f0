/**
 * The benchmark data: generated days, made once and kept in a cache folder outside the repository
 * (default `~/.cache/declmatch-bench`, or `DECLMATCH_BENCH_CACHE`, or the `cache` option). Each day
 * set is generated in a child process (its memory is its own) into a `.partial` folder that is
 * renamed into place when complete, so an interrupted generation is never mistaken for data.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DATE = '2025-06-12';
const SEED = 'declmatch-bench';

export function defaultCache(): string {
  return process.env.DECLMATCH_BENCH_CACHE || join(homedir(), '.cache', 'declmatch-bench');
}

export interface DaySet {
  /** folder holding `<date>/`, `<date>.truth/` and manifest.json */
  root: string;
  /** the day folders, in date order */
  days: string[];
  format: 'xml' | 'parquet';
  lists: number;
}

function dates(n: number): string[] {
  const first = Date.parse(`${BENCH_DATE}T00:00:00Z`);
  return Array.from({ length: n }, (_, i) => new Date(first + i * 86_400_000).toISOString().slice(0, 10));
}

/** A generated day set from the cache, generating it first when missing. */
export async function daySet(cache: string, lists: number, format: 'xml' | 'parquet', days: number, log: (s: string) => void): Promise<DaySet> {
  const root = join(cache, `${format}-${lists}-${days}d`);
  const ds = dates(days);
  if (!existsSync(join(root, 'manifest.json'))) {
    mkdirSync(cache, { recursive: true });
    const partial = `${root}.partial-${process.pid}`;
    rmSync(partial, { recursive: true, force: true });
    log(`generating ${days} day(s) of ${lists.toLocaleString('en-US')} lists as ${format} into ${root} (once)`);
    const t0 = Date.now();
    await runChild(['generate', partial, String(lists), format, String(days), SEED], heapFor(lists));
    rmSync(root, { recursive: true, force: true });
    renameSync(partial, root);
    // the files are still being written back to the disk (5.5 GB for a million XML lists): wait for
    // it here rather than measure beside it
    const synced = spawnSync('sync', [], { stdio: 'ignore' });
    log(`  generated in ${((Date.now() - t0) / 1000).toFixed(1)} s${synced.status === 0 ? ' (written to disk)' : ''}`);
  }
  return { root, days: ds.map((d) => join(root, d)), format, lists };
}

function heapFor(lists: number): number {
  return lists > 2_000_000 ? 8192 : 1536;
}

/** Removes a DuckDB database file with its WAL and its spill folder (`<db>.tmp`), where they exist. */
export function removeDatabase(db: string): void {
  for (const f of [db, `${db}.wal`, `${db}.tmp`]) rmSync(f, { recursive: true, force: true });
}

/** Bytes of the files directly in a folder. */
export function folderBytes(dir: string): { files: number; bytes: number } {
  let bytes = 0;
  let files = 0;
  for (const n of readdirSync(dir)) {
    const s = statSync(join(dir, n));
    if (s.isFile()) {
      bytes += s.size;
      files++;
    }
  }
  return { files, bytes };
}

export const CHILD = fileURLToPath(new URL('./child.js', import.meta.url));

/**
 * Runs `child.js` with the arguments; resolves with its stdout, rejects on a non-zero exit. With
 * `cpus`, the child runs on those CPUs only (`taskset -c`, see `allowedCpus`).
 */
export function runChild(args: readonly string[], heapMb = 1536, env: NodeJS.ProcessEnv = process.env, timeoutSeconds?: number, cpus?: readonly number[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const node = [`--max-old-space-size=${heapMb}`, CHILD, ...args];
    const [cmd, argv] = cpus ? ['taskset', ['-c', cpus.join(','), process.execPath, ...node]] : [process.execPath, node];
    const p = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env, ...(timeoutSeconds ? { timeout: timeoutSeconds * 1000, killSignal: 'SIGKILL' as const } : {}) });
    let out = '';
    let err = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-8000)));
    p.on('error', reject);
    p.on('close', (code, signal) => {
      if (code === 0) resolve(out);
      else reject(new Error(`bench child ${args[0]} failed (${signal ?? `exit ${code}`}): ${err.trim().split('\n').slice(-5).join(' | ')}`));
    });
  });
}

/**
 * The CPUs this process may run on (its affinity list, from `taskset -cp`), in order; null where
 * `taskset` (util-linux) is missing or its answer cannot be read: then runs cannot be held to a
 * number of cores.
 */
export function allowedCpus(): number[] | null {
  const r = spawnSync('taskset', ['-cp', String(process.pid)], { encoding: 'utf8' });
  if (r.status !== 0 || typeof r.stdout !== 'string') return null;
  const list = /:\s*([0-9,\-\s]+)$/.exec(r.stdout.trim())?.[1];
  if (!list) return null;
  const cpus: number[] = [];
  for (const part of list.split(',')) {
    const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(part);
    if (!m) return null;
    for (let c = Number(m[1]); c <= Number(m[2] ?? m[1]); c++) cpus.push(c);
  }
  return cpus.length ? cpus : null;
}
