/**
 * bench/ owns the benchmark suite (issue #6): one benchmark per hot path, whole runs on generated
 * days, the side-by-side references (the byte floor, fast-xml-parser alone, a straightforward
 * ingest), budgets and the regression check, and the recorded history in bench/results/.
 *
 *   runBench({ scope, json, cache })   what `declmatch bench` runs
 *   SCOPES                             smoke, hot, day100k, day1m, day10m
 *   check(results, budgets, previous)  budget misses and regressions beyond the noise
 *   writeResult(run, dir)              bench/results/<scope>-<cores>c-<iso>.json + latest.json
 *
 * Modules: runner (scopes, runBench), hot (micro and meso benchmarks in this process), day (whole
 * runs in child processes), refs/floor (the references), measure (tinybench, noise), data (the
 * generated-data cache), check, results, machine, child (the child-process entry).
 */
export { runBench, SCOPES, summary, type BenchOptions, type BenchOutcome, type ScopeConfig } from './runner.js';
export { check, loadBudgets, budgetFor, DEFAULT_TOLERANCE } from './check.js';
export { writeResult, readLatest, previousResults } from './results.js';
export { defaultCache } from './data.js';
export type { BenchResult, BenchRun, Budget, BudgetFile, CheckLine, Machine, Ratios } from './types.js';
