/**
 * Budgets (bench/budgets.json) and the comparison of a run with them and with the last recorded
 * run of the same scope on the same kind of machine. A regression fails only beyond the noise:
 * max(the file's regressionTolerance, the result's measured noise, the previous result's noise).
 */
import { readFileSync } from 'node:fs';
import type { BenchResult, Budget, BudgetFile, CheckLine } from './types.js';

export const DEFAULT_TOLERANCE = 0.15;

export function loadBudgets(file: string): BudgetFile {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as Partial<BudgetFile>;
  if (!Array.isArray(raw.budgets)) throw new Error(`${file}: no "budgets" list`);
  for (const b of raw.budgets) {
    if (typeof b.id !== 'string' || typeof b.result !== 'string' || !Array.isArray(b.scopes) || (b.max === undefined && b.min === undefined))
      throw new Error(`${file}: budget ${JSON.stringify(b.id ?? b)} needs id, result, scopes and max or min`);
  }
  return { regressionTolerance: raw.regressionTolerance ?? DEFAULT_TOLERANCE, budgets: raw.budgets };
}

/** The budget a result is held to in its scope, if any. */
export function budgetFor(r: Pick<BenchResult, 'name' | 'scope'>, budgets: readonly Budget[]): Budget | undefined {
  return budgets.find((b) => b.result === r.name && b.scopes.includes(r.scope));
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const num = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 1 ? x.toFixed(2) : x.toPrecision(3));

/**
 * Results a regression check applies to: not exit codes, not the references (they measure the
 * machine, which the noise accounts for) and not the machine probe itself.
 */
export function regressionChecked(r: Pick<BenchResult, 'name' | 'unit'>): boolean {
  return r.unit !== 'code' && !r.name.startsWith('ref.') && !r.name.startsWith('machine.');
}

/**
 * Budget misses, regressions and errors of `results`, as pass/fail/skip lines. `previous` is the
 * last recorded run's results (same scope, same machine kind) or null.
 */
export function check(results: readonly BenchResult[], budgets: readonly Budget[], previous: readonly BenchResult[] | null, o: { tolerance?: number } = {}): CheckLine[] {
  const tolerance = o.tolerance ?? DEFAULT_TOLERANCE;
  const lines: CheckLine[] = [];
  const scopes = new Set(results.map((r) => r.scope));
  for (const r of results) {
    if (r.state === 'errored') lines.push({ status: 'fail', kind: 'error', name: r.name, scope: r.scope, message: `${r.name}: did not complete: ${r.error ?? 'error'}` });
  }
  // budgets
  for (const b of budgets) {
    for (const scope of b.scopes) {
      if (!scopes.has(scope)) continue;
      const r = results.find((x) => x.name === b.result && x.scope === scope);
      if (!r) {
        lines.push({ status: 'skip', kind: 'budget', name: b.result, scope, message: `${b.id}: ${b.result} was not measured in this run` });
        continue;
      }
      if (r.state !== 'completed') {
        lines.push({ status: 'fail', kind: 'budget', name: b.result, scope, message: `${b.id}: ${b.result} did not complete (${b.meaning})` });
        continue;
      }
      if (r.unit !== b.unit) {
        lines.push({ status: 'fail', kind: 'budget', name: b.result, scope, message: `${b.id}: ${b.result} is in ${r.unit}, the budget in ${b.unit}` });
        continue;
      }
      const over = b.max !== undefined && r.value > b.max;
      const under = b.min !== undefined && r.value < b.min;
      const limit = b.max !== undefined && b.min !== undefined ? `${b.min}…${b.max}` : b.max !== undefined ? `≤ ${b.max}` : `≥ ${b.min}`;
      lines.push({
        status: over || under ? 'fail' : 'pass',
        kind: 'budget',
        name: b.result,
        scope,
        message: `${b.id}: ${b.result} = ${num(r.value)} ${r.unit}, budget ${limit} ${b.unit}${over || under ? ' — MISSED' : ''}`,
      });
    }
  }
  // regressions against the last recorded run
  if (previous) {
    for (const r of results) {
      if (r.state !== 'completed' || !regressionChecked(r)) continue;
      const p = previous.find((x) => x.name === r.name && x.scope === r.scope && x.unit === r.unit && x.state === 'completed');
      if (!p || !(p.value > 0) || !(r.value > 0)) continue;
      const allowed = Math.max(tolerance, r.noise, p.noise);
      // > 1 is worse: how many times the previous cost this one costs
      const worse = r.better === 'lower' ? r.value / p.value : p.value / r.value;
      const change = worse - 1;
      if (change > allowed)
        lines.push({
          status: 'fail',
          kind: 'regression',
          name: r.name,
          scope: r.scope,
          message: `${r.name}: ${num(p.value)} → ${num(r.value)} ${r.unit}, ${pct(change)} worse, beyond the noise allowed (${pct(allowed)})`,
        });
      else if (change < -allowed)
        lines.push({ status: 'pass', kind: 'regression', name: r.name, scope: r.scope, message: `${r.name}: ${num(p.value)} → ${num(r.value)} ${r.unit}, ${pct(-change)} better` });
    }
  }
  return lines;
}
