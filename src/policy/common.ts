/** Shared pieces of the policy and reference-data loaders: the error type, paths and parsers. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type PolicyErrorCode = 'POLICY_INVALID' | 'REFERENCE_INVALID';

/**
 * A policy or reference-data file that cannot be used. `message` is
 * `<file>[ line <n>]: <detail>`; `detail` says what to fix.
 */
export class PolicyError extends Error {
  readonly code: PolicyErrorCode;
  /** Path (or source label) of the offending file. */
  readonly file: string;
  /** 1-based line in the file, when known. */
  readonly line: number | undefined;
  readonly detail: string;
  constructor(code: PolicyErrorCode, file: string, line: number | undefined, detail: string) {
    super(`${file}${line === undefined ? '' : ` line ${line}`}: ${detail}`);
    this.name = 'PolicyError';
    this.code = code;
    this.file = file;
    this.line = line;
    this.detail = detail;
  }
}

let bundledDir: string | undefined;

/**
 * The folder of the bundled defaults: `src/policy/defaults` under the package root, found by
 * walking up from this module to the folder holding package.json (works from `src/` and from the
 * compiled `dist/src/`).
 */
export function bundledDefaultsDir(): string {
  if (bundledDir !== undefined) return bundledDir;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'src', 'policy', 'defaults');
    if (existsSync(join(dir, 'package.json')) && existsSync(candidate)) return (bundledDir = candidate);
    const up = dirname(dir);
    if (up === dir)
      throw new Error(
        `cannot find the bundled policy defaults: no folder above ${fileURLToPath(import.meta.url)} holds package.json and src/policy/defaults`,
      );
    dir = up;
  }
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** True for a real calendar date written `YYYY-MM-DD`. */
export function isDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const y = +m[1]!;
  const mo = +m[2]!;
  const d = +m[3]!;
  if (mo < 1 || mo > 12 || d < 1) return false;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  return d <= (mo === 2 && leap ? 29 : DAYS_IN_MONTH[mo - 1]!);
}

/** True for a month written `YYYY-MM`. */
export function isMonth(s: string): boolean {
  const m = /^(\d{4})-(\d{2})$/.exec(s);
  return m !== null && +m[2]! >= 1 && +m[2]! <= 12;
}

/**
 * Parses a non-negative plain decimal (`123`, `0.25`) exactly as value × 10^scale; returns an error
 * text when it is not one or has more than `scale` digits after the point.
 */
export function parseScaled(text: string, scale: number): bigint | string {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) return `${JSON.stringify(text)} is not a decimal`;
  const frac = (m[2] ?? '').replace(/0+$/, '');
  if (frac.length > scale) return `${JSON.stringify(text)} has more than ${scale} digits after the point`;
  return BigInt(m[1]! + frac.padEnd(scale, '0'));
}

/** Trade modes of RULES.md §3. */
export const TRADE_MODES: readonly string[] = ['9610', '9710', '9810', '1210'];
