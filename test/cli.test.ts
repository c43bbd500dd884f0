/**
 * The built `declmatch` command as a child process: help, usage errors and exit codes, and a small
 * `generate`. Runs `node src/cli/declmatch.js` from the project root (the shim loads dist/).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('no package.json above the test file');
    dir = up;
  }
}
const ROOT = projectRoot();
const SHIM = join('src', 'cli', 'declmatch.js');

const temps: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'declmatch-cli-'));
  temps.push(d);
  return d;
}
after(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}
function cli(...args: string[]): Result {
  const env = { ...process.env };
  delete env.DECLMATCH_LOG_LEVEL; // the default levels are part of what is tested
  const r = spawnSync(process.execPath, [SHIM, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const show = (r: Result): string => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

test('--help exits 0 and prints the examples and the exit-code table', () => {
  const r = cli('--help');
  assert.equal(r.code, 0, show(r));
  assert.match(r.stdout, /Usage: declmatch/);
  assert.match(r.stdout, /Examples:/);
  assert.match(r.stdout, /\$ declmatch generate --out/);
  assert.match(r.stdout, /Exit codes:/);
  for (const code of ['0', '1', '2', '3', '64', '65', '66', '73', '74', '75', '130'])
    assert.match(r.stdout, new RegExp(`^\\s+${code}\\s+\\S`, 'm'), `exit code ${code} in the table`);
});

test('an unknown option exits 64', () => {
  const r = cli('--no-such-option');
  assert.equal(r.code, 64, show(r));
  assert.match(r.stderr, /unknown option/);
  const g = cli('generate', '--out', join(tempDir(), 'o'), '--date', '2025-06-12', '--frobnicate');
  assert.equal(g.code, 64, show(g));
});

test('generate without --out exits 64', () => {
  const r = cli('generate', '--date', '2025-06-12');
  assert.equal(r.code, 64, show(r));
  assert.match(r.stderr, /--out/);
});

test('--date 2025-02-30 exits 64', () => {
  const out = join(tempDir(), 'o');
  const r = cli('generate', '--out', out, '--date', '2025-02-30', '--lists', '10');
  assert.equal(r.code, 64, show(r));
  assert.match(r.stderr, /--date/);
  assert.equal(existsSync(out), false, 'nothing written');
});

test('report without --out exits 64; on a database that does not exist exits 66; bench with an unknown scope exits 64', () => {
  const r = cli('report', '--db', 'y');
  assert.equal(r.code, 64, show(r));
  assert.match(r.stderr, /--out/);
  const m = cli('report', '--db', join(tempDir(), 'none.duckdb'), '--out', join(tempDir(), 'r.html'));
  assert.equal(m.code, 66, show(m));
  assert.match(m.stderr, /does not exist/);
  const b = cli('bench', '--scope', 'no-such-scope', '--no-record');
  assert.equal(b.code, 64, show(b));
  assert.match(b.stderr, /scope/);
});

test('run on a folder that does not exist exits 66', () => {
  const r = cli('run', join(tempDir(), 'no-such-day'), '--db', join(tempDir(), 'x.duckdb'));
  assert.equal(r.code, 66, show(r));
});

test('run then verify: a generated day is decided as its ground truth says (exit 0), a wrong truth exits 2', () => {
  const out = tempDir();
  const gen = cli('generate', '--out', out, '--date', '2025-06-12', '--lists', '300', '--seed', 'cli', '-q');
  assert.equal(gen.code, 0, show(gen));
  const db = join(out, 'd.duckdb');
  const run = cli('run', join(out, '2025-06-12'), '--db', db, '--threads', '1', '-q', '--json');
  assert.equal(run.code, 0, show(run));
  const truth = join(out, '2025-06-12.truth', 'decisions.csv');
  const expected = readFileSync(truth, 'utf8').trim().split('\n').length - 1; // drafts get no decision, so not always 300
  assert.ok(expected >= 295 && expected <= 300);
  assert.equal(Object.values(JSON.parse(run.stdout).decisions as Record<string, number>).reduce((a, b) => a + b, 0), expected);
  const ok = cli('verify', join(out, '2025-06-12.truth'), '--db', db);
  assert.equal(ok.code, 0, show(ok));
  assert.match(ok.stdout, new RegExp(`lists ${expected}/${expected} agree`));
  const lines = readFileSync(truth, 'utf8').split('\n');
  lines[1] = (lines[1] ?? '').replace(/,(RELEASE|INSPECT|REVIEW|REJECT|PENDING),/, ',CANCELLED,');
  writeFileSync(truth, lines.join('\n'));
  const bad = cli('verify', join(out, '2025-06-12.truth'), '--db', db);
  assert.equal(bad.code, 2, show(bad));
});

test('generate into an existing non-empty day folder exits 73; with --force it succeeds', () => {
  const out = tempDir();
  const day = join(out, '2025-06-12');
  mkdirSync(day);
  writeFileSync(join(day, 'stale.txt'), 'old');
  const args = ['generate', '--out', out, '--date', '2025-06-12', '--lists', '50', '--quiet'];
  const r = cli(...args);
  assert.equal(r.code, 73, show(r));
  assert.match(r.stderr, /--force/);
  assert.ok(existsSync(join(day, 'stale.txt')), 'the existing folder is left alone');

  const f = cli(...args, '--force');
  assert.equal(f.code, 0, show(f));
  assert.equal(existsSync(join(day, 'stale.txt')), false);
  assert.ok(readdirSync(day).length > 0);
});

test('generate into an existing empty day folder is fine without --force', () => {
  const out = tempDir();
  mkdirSync(join(out, '2025-06-12'));
  const r = cli('generate', '--out', out, '--date', '2025-06-12', '--lists', '20', '--quiet');
  assert.equal(r.code, 0, show(r));
});

test('--policy pointing at a malformed JSON file exits 65 and names the file', () => {
  const dir = tempDir();
  const file = join(dir, 'broken-policy.json');
  writeFileSync(file, '{ "versions": [ { "id": "x", ');
  const out = join(dir, 'o');
  const r = cli('generate', '--out', out, '--date', '2025-06-12', '--lists', '10', '--policy', file);
  assert.equal(r.code, 65, show(r));
  assert.ok(r.stderr.includes('broken-policy.json'), show(r));
  assert.equal(existsSync(join(out, '2025-06-12')), false, 'nothing generated');
});

test('generate --lists 300 --days 1 --json: JSON summary on stdout, JSON-line logs on stderr only', () => {
  const out = tempDir();
  const r = cli('generate', '--out', out, '--date', '2025-06-12', '--lists', '300', '--days', '1', '--json');
  assert.equal(r.code, 0, show(r));
  const summary = JSON.parse(r.stdout) as { days: { date: string; records: Record<string, number>; folder: string }[] };
  assert.equal(summary.days.length, 1);
  assert.equal(summary.days[0]!.date, '2025-06-12');
  assert.equal(summary.days[0]!.records.list, 300);
  assert.ok(existsSync(summary.days[0]!.folder));

  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.ok(lines.length > 0, 'logs were written to stderr');
  for (const line of lines) {
    let rec: { level?: unknown; msg?: unknown };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      assert.fail(`stderr line is not JSON: ${line}`);
    }
    assert.equal(typeof rec.level, 'number', line);
    assert.equal(typeof rec.msg, 'string', line);
  }
  // stdout holds only the summary: no log record leaked into it
  assert.doesNotMatch(r.stdout, /"level":\s*\d+/);
  assert.doesNotMatch(r.stdout, /"msg":/);
});
