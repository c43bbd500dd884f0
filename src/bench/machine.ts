/** The machine a benchmark ran on, recorded beside every result. */
import { arch, cpus, loadavg, platform, totalmem } from 'node:os';
import { openDatabase } from '../db/duck.js';
import type { Machine } from './types.js';

export async function machine(): Promise<Machine> {
  const c = cpus();
  const db = await openDatabase(':memory:', { threads: 1 });
  let duckdb = 'unknown';
  try {
    duckdb = String((await db.all('SELECT version() AS v'))[0]?.v ?? 'unknown');
  } finally {
    db.close();
  }
  return {
    cpuModel: c[0]?.model.trim() ?? 'unknown',
    cores: c.length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    platform: platform(),
    arch: arch(),
    node: process.version,
    duckdb,
    loadAverage: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
}
