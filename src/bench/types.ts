/** The shapes of the benchmark suite: results as data, budgets, check lines and the recorded run. */

export type Better = 'lower' | 'higher';

/**
 * A stage's cost as a multiple of a reference's cost for the same work (same bytes or same rows):
 * `stage seconds / reference seconds`. Below 1 the stage is faster than the reference.
 *  - floor: reading and tokenising the same files and nothing else, with the same threads;
 *  - fxp: fast-xml-parser alone on the same bytes (one thread);
 *  - naive: the straightforward ingest of the same bytes (fast-xml-parser on whole files + a
 *    row-by-row DuckDB appender into plain tables, one thread); for Arrow building and loading,
 *    the row-by-row appender of the same rows;
 *  - store: keeping the same Parquet files in a DuckDB database file, as they are, nothing else
 *    (`ref.store.day`), with the same threads and memory limit.
 * References measured on a sample are scaled to the stage's bytes by their throughput. Stages
 * that do not read bytes (decide, publish, report) are given against the floor of their day's XML.
 */
export interface Ratios {
  floor?: number;
  fxp?: number;
  naive?: number;
  /** storing the same Parquet files in a DuckDB file (`ref.store.day`) */
  store?: number;
}

export interface BudgetRef {
  id: string;
  max?: number;
  min?: number;
}

export interface BenchResult {
  /** e.g. `parse.fast.list`, `run.xml.wall`; unique within a scope. */
  name: string;
  scope: string;
  value: number;
  unit: string;
  better: Better;
  /** timed samples behind `value` (the median of them when more than one) */
  samples: number;
  /** relative margin of error of the samples (0.05 = ±5 %); 0 for one sample */
  rme: number;
  /** the noise a regression must exceed: max(rme, the scope's measured machine noise) */
  noise: number;
  state: 'completed' | 'errored';
  error?: string;
  budget?: BudgetRef;
  ratioTo?: Ratios;
  /** what was measured: bytes, rows, files, threads, … */
  detail?: Record<string, number | string | boolean | null>;
}

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  platform: string;
  arch: string;
  node: string;
  duckdb: string;
  /** 1-minute load average when the run started (other work on the machine skews wall times) */
  loadAverage: number;
}

/** One entry of bench/budgets.json. */
export interface Budget {
  id: string;
  /** the result it applies to */
  result: string;
  /** the scopes in which that result is held to the budget */
  scopes: string[];
  max?: number;
  min?: number;
  unit: string;
  meaning: string;
}

export interface BudgetFile {
  /** a regression must exceed max(this, the measured noise) to fail a check */
  regressionTolerance: number;
  budgets: Budget[];
}

export interface CheckLine {
  status: 'pass' | 'fail' | 'skip';
  kind: 'budget' | 'regression' | 'error';
  name: string;
  scope: string;
  message: string;
}

/** What one scope's run writes to bench/results/<scope>-<cores>c-<iso>.json. */
export interface BenchRun {
  tool: 'declmatch bench';
  format: 1;
  scope: string;
  date: string;
  seconds: number;
  machine: Machine;
  settings: Record<string, number | string | boolean | null>;
  results: BenchResult[];
  checks: CheckLine[];
  ok: boolean;
}
