/**
 * Exit codes of the `declmatch` command and the one error type the CLI maps to them. Codes follow
 * sysexits(3) where one fits; 0–3 are the run outcomes of RULES.md operators' runbooks.
 */
export const EXIT = {
  OK: 0,
  /** published, but quarantined input above the threshold */
  QUARANTINE_ABOVE_THRESHOLD: 1,
  /** data checks failed before publish; nothing published */
  CHECKS_FAILED: 2,
  /** an unexpected error (a bug): nothing published */
  CRASH: 3,
  USAGE: 64,
  /** bad input data or reference data / policy file */
  DATA: 65,
  NO_INPUT: 66,
  /** the build output is missing or broken */
  SOFTWARE: 70,
  /** out of a resource: DuckDB reached its memory limit and could not spill enough */
  OUT_OF_MEMORY: 71,
  /** an output exists and --force was not given */
  CANT_CREATE: 73,
  IO: 74,
  /** the database is locked by another process; try again later */
  TEMP_FAIL: 75,
  SIGINT: 130,
  SIGTERM: 143,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class DeclmatchError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: ExitCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DeclmatchError';
  }
}

export const EXIT_CODE_HELP = `Exit codes:
  0    success
  1    published, but quarantined input above the threshold (run)
  2    data checks failed; nothing published (run); budgets missed (bench); disagreement (verify)
  3    unexpected error (a bug); nothing published
  64   usage error (unknown option, bad value)
  65   bad input data, reference data or policy file
  66   an input folder or file does not exist
  70   the build output (dist/) is missing or broken: run npm ci
  71   out of memory: DuckDB reached its memory limit (raise DECLMATCH_DUCKDB_MEMORY)
  73   an output already exists (use --force to replace it)
  74   I/O error (disk full, permission denied)
  75   the database is locked by another process; try again later
  130  interrupted (SIGINT); 143 terminated (SIGTERM)`;
