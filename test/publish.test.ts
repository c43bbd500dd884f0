/**
 * `declmatch run` as an operator and an analyst see it (child processes, like cron would run it):
 * the published tables of RULES.md §11 with a comment on every column, atomic publish (a run killed
 * with SIGKILL inside the publishing transaction leaves the previous state intact), reruns that
 * replace, exit codes 0/1/2/75, --json, --quiet, the per-run log file, and golden files of the
 * published tables for a small fixed day.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../src/db/duck.js';
import { projectRoot } from './xsd.js';

const ROOT = projectRoot();
const SHIM = join('src', 'cli', 'declmatch.js');
const D1 = '2025-06-12';
const D2 = '2025-06-13';
const PUBLISHED: Readonly<Record<string, readonly string[]>> = {
  // RULES.md §11: the names and at least these columns
  decisions: ['business_date', 'run_id', 'agent_code', 'cop_no', 'invt_no', 'trade_mode', 'customs_code', 'ebp_code', 'ebc_code', 'order_no', 'logistics_code', 'logistics_no', 'decision', 'status_code', 'channel', 'reasons', 'value_cny', 'policy_id'],
  decision_reasons: ['business_date', 'agent_code', 'cop_no', 'reason', 'severity', 'detail'],
  return_decisions: ['business_date', 'run_id', 'agent_code', 'co_el_no', 'invt_no', 'decision', 'status_code', 'reasons', 'policy_id'],
  quarantine: ['business_date', 'run_id', 'file', 'message_guid', 'record_index', 'record_type', 'business_key', 'field', 'code', 'detail'],
  inspection_queue: ['business_date', 'customs_code', 'loct_no', 'position', 'agent_code', 'cop_no', 'invt_no', 'trade_mode', 'priority', 'hits'],
  runs: ['run_id', 'business_date', 'started_at', 'finished_at', 'status', 'policy_id'],
  ledger: ['run_id', 'business_date', 'record_type', 'fate', 'count'],
};
/** Tables whose rows are compared before and after; run-specific columns left out. */
const STATE_TABLES = ['decisions', 'decision_reasons', 'return_decisions', 'quarantine', 'inspection_queue', 'ledger', 'input_files', 'run_stages'];

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}
function cli(...args: string[]): Result {
  return cliEnv({}, ...args);
}
function cliEnv(extra: Record<string, string>, ...args: string[]): Result {
  const env = { ...process.env, ...extra };
  delete env.DECLMATCH_LOG_LEVEL;
  const r = spawnSync(process.execPath, [SHIM, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 180_000, env });
  if (r.error) throw r.error;
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}
const show = (r: Result): string => `exit ${r.code} ${r.signal ?? ''}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr.slice(-3000)}`;
const run = (db: string, date: string, ...more: string[]) => cli('run', join(days, date), '--db', db, '--threads', '2', '--no-log-file', ...more);

let work = '';
let days = '';
before(() => {
  work = mkdtempSync(join(tmpdir(), 'declmatch-publish-'));
  days = join(work, 'days');
  const g = cli('generate', '--out', days, '--date', D1, '--days', '2', '--lists', '300', '--seed', 'publish-test', '--format', 'xml', '--anomaly-rate', '0.1', '-q');
  assert.equal(g.code, 0, show(g));
});
after(() => rmSync(work, { recursive: true, force: true }));


async function query(dbFile: string, sql: string): Promise<Record<string, unknown>[]> {
  const db = await openDatabase(dbFile, { threads: 1 });
  try {
    return await db.all(sql);
  } finally {
    db.close();
  }
}

/** Every published row as canonical text, per table (run ids and timings masked). */
async function snapshot(dbFile: string): Promise<Record<string, string[]>> {
  const db = await openDatabase(dbFile, { threads: 1 });
  try {
    const out: Record<string, string[]> = {};
    const have = new Set((await db.all(`SELECT table_name AS t FROM duckdb_tables() WHERE NOT temporary`)).map((r) => String(r.t)));
    for (const t of [...STATE_TABLES, ...[...have].filter((x) => x.startsWith('stats_')).sort()]) {
      if (!have.has(t)) continue;
      const cols = (await db.all(`SELECT column_name AS c FROM duckdb_columns() WHERE table_name = '${t}' ORDER BY column_index`)).map((r) => String(r.c));
      const shown = cols.map((c) => (c === 'run_id' ? `'<run>' AS run_id` : c === 'seconds' ? `0 AS seconds` : `"${c}"::VARCHAR AS "${c}"`));
      const rows = await db.all(`SELECT ${shown.join(', ')} FROM ${t}`);
      out[t] = rows.map((r) => JSON.stringify(r)).sort();
    }
    return out;
  } finally {
    db.close();
  }
}

test('run publishes the RULES.md §11 tables with a comment on every column, and the statistics', async () => {
  const db = join(work, 'tables.duckdb');
  const r1 = run(db, D1);
  assert.equal(r1.code, 0, show(r1));
  assert.match(r1.stdout, /published to/);
  const truth = readFileSync(join(days, `${D1}.truth`, 'decisions.csv'), 'utf8').trim().split('\n').length - 1;
  assert.match(r1.stdout, new RegExp(`lists: ${truth} — RELEASE \\d+`));
  assert.match(r1.stdout, /time: ingest [\d.]+ s, decide [\d.]+ s, publish [\d.]+ s/);
  for (const [t, cols] of Object.entries(PUBLISHED)) {
    const have = (await query(db, `SELECT column_name AS c FROM duckdb_columns() WHERE table_name = '${t}'`)).map((r) => String(r.c));
    for (const c of cols) assert.ok(have.includes(c), `${t}.${c} is published`);
  }
  const uncommented = await query(
    db,
    `SELECT table_name || '.' || column_name AS c FROM duckdb_columns() WHERE NOT internal AND comment IS NULL
       AND (table_name IN ('decisions','decision_reasons','return_decisions','quarantine','inspection_queue','runs','run_stages','ledger','input_files') OR table_name LIKE 'stats\\_%' ESCAPE '\\')`,
  );
  assert.deepEqual(uncommented, [], 'every published column has a comment');
  const stats = await query(db, `SELECT table_name AS t FROM duckdb_tables() WHERE table_name LIKE 'stats\\_%' ESCAPE '\\' AND estimated_size > 0`);
  assert.ok(stats.length >= 5, `statistics tables with rows: ${stats.map((s) => s.t).join(', ')}`);
  const runs = await query(db, `SELECT status, exit_code, lists_decided + lists_pending AS lists, policy_id FROM runs`);
  assert.equal(runs.length, 1);
  assert.equal(runs[0]?.status, 'published');
  assert.equal(Number(runs[0]?.lists), truth);
  const cur = await query(db, `SELECT count(*)::INTEGER AS n FROM current_decisions`);
  assert.equal(Number(cur[0]?.n), truth);
});

test('a rerun replaces the day, never duplicates; a later day then sees the same state', async () => {
  const db = join(work, 'rerun.duckdb');
  assert.equal(run(db, D1).code, 0);
  assert.equal(run(db, D2).code, 0);
  const first = await snapshot(db);
  const r = run(db, D2);
  assert.equal(r.code, 0, show(r));
  assert.deepEqual(await snapshot(db), first, 'rerunning day 2 gives the same published rows');
  const runs = await query(db, `SELECT business_date::VARCHAR AS d, count(*)::INTEGER AS n FROM runs WHERE status = 'published' GROUP BY ALL ORDER BY ALL`);
  assert.deepEqual(runs.map((x) => [x.d, x.n]), [[D1, 1], [D2, 2]], 'every run attempt is recorded in runs');
  // the README's analyst queries run as written on this two-day database, each returning rows
  const q = spawnSync(process.execPath, ['scripts/analyst-queries.mjs', db, '--client', 'project'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(q.status, 0, q.stdout + q.stderr);
  assert.match(q.stdout, /(\d+)\/\1 README queries ran/);
  assert.doesNotMatch(q.stdout, /: 0 row\(s\)/, 'every README query returns rows on the two-day sample');
});

test('SIGKILL inside the publishing transaction leaves the previous published state intact; the next run publishes', async () => {
  const db = join(work, 'kill.duckdb');
  assert.equal(run(db, D1).code, 0);
  const before1 = await snapshot(db);
  for (const point of ['publish', 'commit']) {
    const k = cliEnv({ DECLMATCH_FAULT_INJECT: `kill:${point}` }, 'run', join(days, D2), '--db', db, '--threads', '2', '--no-log-file');
    assert.ok(k.signal === 'SIGKILL' || k.code === 137, `killed at ${point}: ${show(k)}`);
    assert.deepEqual(await snapshot(db), before1, `after a kill at ${point} the database holds exactly day 1`);
    const runs = await query(db, `SELECT count(*)::INTEGER AS n FROM runs WHERE business_date = DATE '${D2}'`);
    assert.equal(Number(runs[0]?.n), 0, 'no trace of the killed run');
  }
  const ok = run(db, D2);
  assert.equal(ok.code, 0, show(ok));
  const d2 = await query(db, `SELECT count(*)::INTEGER AS n FROM decisions WHERE business_date = DATE '${D2}'`);
  assert.ok(Number(d2[0]?.n) > 300);
  // and it equals a run that was never interrupted
  const clean = join(work, 'clean.duckdb');
  assert.equal(run(clean, D1).code, 0);
  assert.equal(run(clean, D2).code, 0);
  assert.deepEqual(await snapshot(db), await snapshot(clean));
});

test('SIGTERM or SIGINT during a run: exit 143 / 130, nothing published', async () => {
  const db = join(work, 'term.duckdb');
  assert.equal(run(db, D1).code, 0);
  const before1 = await snapshot(db);
  for (const [sig, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
    const child = spawn(process.execPath, [SHIM, 'run', join(days, D2), '--db', db, '--threads', '2', '--no-log-file'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    const exited = new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    await new Promise<void>((res) =>
      child.stderr.on('data', (b: Buffer) => {
        err += b.toString();
        if (err.includes('ingest done')) res(); // stop it inside the run, after staging
      }),
    );
    child.kill(sig);
    assert.equal(await exited, code, `${sig}: ${err.slice(-2000)}`);
    assert.match(err, /stopped by a signal: nothing of this run is published/);
    assert.deepEqual(await snapshot(db), before1, `after ${sig} the database holds exactly day 1`);
  }
  assert.equal(run(db, D2).code, 0, 'the next run publishes');
});

test('SIGTERM after the commit: exit 143, and the day is said to be published, because it is', async () => {
  const db = join(work, 'term-after.duckdb');
  assert.equal(run(db, D1).code, 0);
  // the run pauses 3 s right after its COMMIT; the signal arrives in that window
  const child = spawn(process.execPath, [SHIM, 'run', join(days, D2), '--db', db, '--threads', '2', '--no-log-file'], {
    cwd: ROOT,
    env: { ...process.env, DECLMATCH_FAULT_INJECT: 'pause:committed' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  const exited = new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  await new Promise<void>((res) =>
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString();
      if (err.includes('day published')) res(); // logged after the COMMIT, just before the pause
    }),
  );
  child.kill('SIGTERM');
  assert.equal(await exited, 143, err.slice(-2000));
  assert.match(err, /after the day was published/);
  assert.doesNotMatch(err, /nothing of this run is published/);
  const runs = await query(db, `SELECT status FROM runs WHERE business_date = DATE '${D2}'`);
  assert.deepEqual(runs.map((r) => r.status), ['published']);
  const clean = join(work, 'term-after-clean.duckdb');
  assert.equal(run(clean, D1).code, 0);
  assert.equal(run(clean, D2).code, 0);
  assert.deepEqual(await snapshot(db), await snapshot(clean), 'the day stopped after its commit equals an uninterrupted run');
});

/**
 * Day 1 published, then day 2 run with a fault injected: asserts that the database still holds
 * exactly day 1, and returns the command's result and day 2's rows in `runs`.
 */
async function failedAttempt(name: string, inject: string): Promise<{ r: Result; runs: Record<string, unknown>[] }> {
  const db = join(work, `${name}.duckdb`);
  assert.equal(run(db, D1).code, 0);
  const before1 = await snapshot(db);
  const r = cliEnv({ DECLMATCH_FAULT_INJECT: inject }, 'run', join(days, D2), '--db', db, '--threads', '2', '--no-log-file');
  assert.deepEqual(await snapshot(db), before1, `${name}: nothing of day 2 is published (${show(r)})`);
  const runs = await query(db, `SELECT status, exit_code, message FROM runs WHERE business_date = DATE '${D2}'`);
  return { r, runs };
}

test('a run that stops inside the ingest exits non-zero, publishes nothing, and leaves its row in runs', async () => {
  // every parse worker throws: after 8 in a row the ingest stops
  const { r, runs } = await failedAttempt('ingest-fail', 'throw:.xml');
  assert.notEqual(r.code, 0, show(r));
  assert.match(r.stderr, /parse workers failed in a row/);
  assert.equal(runs.length, 1, 'the attempt is recorded');
  assert.equal(runs[0]?.status, 'failed');
  assert.equal(Number(runs[0]?.exit_code), r.code, 'runs.exit_code is the code the command exited with');
  assert.match(String(runs[0]?.message), /^ingest: .*failed in a row/);
});

test('failed publish checks: exit 2, nothing published, the attempt recorded as checks_failed', async () => {
  const { r, runs } = await failedAttempt('checks', 'corrupt:decisions');
  assert.equal(r.code, 2, show(r));
  assert.match(r.stderr, /more than one decision.*nothing was published/s);
  assert.equal(runs.length, 1);
  assert.equal(runs[0]?.status, 'checks_failed');
  assert.equal(Number(runs[0]?.exit_code), 2);
});

test('quarantined input above the threshold: published, exit 1; --json prints the run record', async () => {
  const db = join(work, 'threshold.duckdb');
  const r = run(db, D1, '--quarantine-threshold', '0', '--json');
  assert.equal(r.code, 1, show(r));
  const j = JSON.parse(r.stdout) as { status: string; exitCode: number; quarantine: { rows: number; rate: number }; stages: { stage: string }[] };
  assert.equal(j.status, 'published');
  assert.equal(j.exitCode, 1);
  assert.ok(j.quarantine.rows > 0 && j.quarantine.rate > 0);
  assert.ok(j.stages.some((s) => s.stage === 'ingest') && j.stages.some((s) => s.stage.startsWith('decide.')) && j.stages.some((s) => s.stage.startsWith('publish.')));
  const runs = await query(db, `SELECT status, exit_code FROM runs`);
  assert.deepEqual(runs.map((x) => [x.status, Number(x.exit_code)]), [['published', 1]]);
  const stages = await query(db, `SELECT count(*)::INTEGER AS n FROM run_stages`);
  assert.ok(Number(stages[0]?.n) >= 10);
});

test('a database held open read-only by an analyst: exit 75 at once, with a message saying so', async () => {
  const db = join(work, 'locked.duckdb');
  assert.equal(run(db, D1).code, 0);
  const holder = spawn(
    process.execPath,
    ['--input-type=module', '-e', `import { DuckDBInstance } from '@duckdb/node-api'; const i = await DuckDBInstance.create(${JSON.stringify(db)}, { access_mode: 'READ_ONLY' }); await i.connect(); console.log('open'); setTimeout(() => {}, 60000);`],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    await new Promise<void>((res, rej) => {
      holder.stdout.on('data', (b: Buffer) => (b.toString().includes('open') ? res() : undefined));
      holder.on('exit', () => rej(new Error('the read-only holder exited')));
    });
    const t0 = Date.now();
    const r = run(db, D2);
    assert.equal(r.code, 75, show(r));
    assert.match(r.stderr, /in use by another process/);
    assert.ok(Date.now() - t0 < 30_000, 'fails fast');
  } finally {
    holder.kill('SIGKILL');
  }
});

test('--quiet prints nothing on success; the per-run log file holds the run as JSON lines', async () => {
  const dir = join(work, 'logs-case');
  mkdirSync(dir, { recursive: true });
  const db = join(dir, 'q.duckdb');
  const r = cli('run', join(days, D1), '--db', db, '--threads', '2', '-q');
  assert.equal(r.code, 0, show(r));
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, '');
  const logs = readdirSync(join(dir, 'logs'));
  assert.equal(logs.length, 1);
  const lines = readFileSync(join(dir, 'logs', logs[0] as string), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { msg: string; run_id: string });
  assert.ok(lines.some((l) => l.msg === 'run started') && lines.some((l) => l.msg === 'day published'));
  assert.ok(lines.every((l) => l.run_id === logs[0]?.replace(/\.log$/, '')));
});

test('golden files: the published tables of a small fixed day', async () => {
  const golden = join(ROOT, 'test', 'golden', 'publish');
  const out = join(work, 'golden');
  const g = cli('generate', '--out', out, '--date', D1, '--lists', '40', '--seed', 'golden', '--format', 'xml', '--anomaly-rate', '0.2', '-q');
  assert.equal(g.code, 0, show(g));
  const db = join(work, 'golden.duckdb');
  const r = cli('run', join(out, D1), '--db', db, '--threads', '1', '--no-log-file', '-q');
  assert.equal(r.code === 0 || r.code === 1, true, show(r));
  const snap = await snapshot(db);
  delete snap.run_stages; // timings
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(golden, { recursive: true });
    for (const f of readdirSync(golden)) rmSync(join(golden, f));
    for (const [t, rows] of Object.entries(snap)) writeFileSync(join(golden, `${t}.jsonl`), rows.join('\n') + '\n');
  }
  assert.ok(existsSync(golden), 'golden files exist (UPDATE_GOLDEN=1 writes them)');
  const files = readdirSync(golden).filter((f) => f.endsWith('.jsonl')).sort();
  assert.deepEqual(files, Object.keys(snap).map((t) => `${t}.jsonl`).sort(), 'the same tables');
  for (const f of files) {
    const want = readFileSync(join(golden, f), 'utf8').trim().split('\n').filter(Boolean);
    assert.deepEqual(snap[f.replace(/\.jsonl$/, '')], want, `${f} as in the golden file`);
  }
});
