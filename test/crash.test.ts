/**
 * Crash safety of `declmatch run` at EVERY stage boundary, on the third day of a database that
 * already holds two published days (issue #7, item 1).
 *
 * A seeded three-day XML scenario is generated; days 1 and 2 run into one reference database. For
 * every stage a normal day-3 run records (its `--json` stages and its `run_stages` rows, so that a
 * new stage cannot be missed), day 3 is run in a child process on a fresh copy of the day-2
 * database with DECLMATCH_FAULT_INJECT=kill:stage:<stage> (src/util/timer.ts SIGKILLs the process
 * right after recording that lap). After the kill:
 *   - the child died by SIGKILL;
 *   - the database opens and every published table, view, column comment and history table equals
 *     the day-2 state exactly (rows sorted, run ids, timestamps and timings masked; staging tables
 *     `stg_*` are not published and are left out);
 *   - running day 3 again publishes exactly what an uninterrupted day-3 run published.
 * The points of src/cli/main.ts around the COMMIT are killed the same way: kill:commit (just before
 * it: day 2 stays) and kill:committed (just after it, before the checkpoint: the completed day 3,
 * from the WAL).
 * A rerun of day 3 on the database holding it is killed the same way at a few points (every stage
 * under DECLMATCH_SOAK=1): the published day 3 stays exactly as it was.
 * Then a few kills from the parent at seeded random delays (before, inside or after the
 * transaction): the state is exactly day 2 or exactly the completed day 3, never in between, and a
 * rerun gives the day-3 state. DECLMATCH_SOAK=1 adds more random kill points;
 * DECLMATCH_CRASH_SEED replays another random sequence.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../src/db/duck.js';
import { generateDays } from '../src/generate/generator.js';
import { main } from '../src/cli/main.js';
import { projectRoot } from './xsd.js';

const ROOT = projectRoot();
const SHIM = join(ROOT, 'src', 'cli', 'declmatch.js');
const D1 = '2025-06-12';
const D2 = '2025-06-13';
const D3 = '2025-06-14';
const LISTS = 200;
const SOAK = process.env.DECLMATCH_SOAK === '1';
const SEED = process.env.DECLMATCH_CRASH_SEED ?? '20261123';
const RANDOM_KILLS = Number(process.env.DECLMATCH_CRASH_RANDOM_KILLS ?? (SOAK ? 24 : 3));

let work = '';
let days = '';
/** the database after days 1 and 2, never written again (copied per case) */
let base = '';
/** the database after an uninterrupted day 3 (copied for the kills during a rerun) */
let refD3 = '';
let stateD2: Snapshot;
let stateD3: Snapshot;
/** the stages of an uninterrupted day-3 run, in order */
let stages: string[] = [];
/** wall time of an uninterrupted day-3 child run, and of its decide+publish transaction (seconds) */
let fullSeconds = 0;
let txSeconds = 0;

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}
const show = (r: Result): string => `exit ${r.code} ${r.signal ?? ''}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}`;

/** The child's environment: ours without log level or fault injection, plus `extra`. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.DECLMATCH_LOG_LEVEL;
  if (!extra.DECLMATCH_FAULT_INJECT) delete env.DECLMATCH_FAULT_INJECT;
  return env;
}
/**
 * `declmatch` as ONE process: the shim re-executes itself with a heap limit unless one is given,
 * and a SIGKILL from the parent must reach the process that holds the database.
 */
const NODE_ARGS = ['--max-old-space-size=1536', SHIM];
function cli(extra: Record<string, string>, ...args: string[]): Result {
  const r = spawnSync(process.execPath, [...NODE_ARGS, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 180_000, env: childEnv(extra) });
  if (r.error) throw r.error;
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}
/** one parse thread: the results are the same whatever the thread count (RULES.md §1), and it is quicker on a busy 2-core machine */
/** `cli`, without blocking this process (a kill child runs while this process checks the previous one). */
function cliAsync(extra: Record<string, string>, ...args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...NODE_ARGS, ...args], { cwd: ROOT, env: childEnv(extra), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
/**
 * Day 3 killed with each of `injects` in turn, one child at a time, each on a fresh copy of `from`,
 * started at once: the caller checks (and reruns) one while the next is being killed.
 */
function killInTurn(injects: readonly string[], from: string, name: string): Promise<{ db: string; result: Result }>[] {
  let chain: Promise<unknown> = Promise.resolve();
  return injects.map((inject, i) => {
    const next = chain.then(async () => {
      const db = copyDb(from, join(work, `${name}-${i}.duckdb`));
      return { db, result: await cliAsync({ DECLMATCH_FAULT_INJECT: inject }, ...runArgs(D3, db, '-q')) };
    });
    chain = next.catch(() => undefined);
    return next;
  });
}
const runArgs = (date: string, db: string, ...more: string[]) => ['run', join(days, date), '--db', db, '--threads', '1', '--no-log-file', ...more];

/** Copies a closed database (and its WAL, if one is left) to a fresh path. */
function copyDb(from: string, to: string): string {
  for (const suffix of ['', '.wal']) {
    rmSync(to + suffix, { force: true });
    if (existsSync(from + suffix)) copyFileSync(from + suffix, to + suffix);
  }
  return to;
}
function removeDb(path: string): void {
  for (const suffix of ['', '.wal']) rmSync(path + suffix, { force: true });
  rmSync(`${path}.tmp`, { recursive: true, force: true });
}

type Snapshot = Record<string, string[]>;
/** Columns whose values differ from run to run by design. */
const MASKED: Readonly<Record<string, string>> = { run_id: `'<run>'`, seconds: '0', started_at: `'<time>'`, finished_at: `'<time>'` };

/**
 * Everything a run publishes, as canonical text: every persistent table but the staging tables
 * (`stg_*`, replaced by each ingest, not published) with its rows sorted, every view with its
 * definition, and every column with its type and comment.
 */
async function snapshot(dbFile: string): Promise<Snapshot> {
  const db = await openDatabase(dbFile, { threads: 1 });
  try {
    const out: Snapshot = {};
    const tables = (await db.all(`SELECT table_name AS t FROM duckdb_tables() WHERE NOT temporary AND table_name NOT LIKE 'stg\\_%' ESCAPE '\\' ORDER BY 1`)).map((r) => String(r.t));
    out['(views)'] = (await db.all(`SELECT view_name || ': ' || sql AS v FROM duckdb_views() WHERE NOT internal AND NOT temporary ORDER BY 1`)).map((r) => String(r.v));
    out['(columns)'] = (
      await db.all(`SELECT table_name || '.' || column_name || ' ' || data_type || ' -- ' || coalesce(comment, '') AS c FROM duckdb_columns()
        WHERE NOT internal AND schema_name = 'main' AND table_name NOT LIKE 'stg\\_%' ESCAPE '\\' ORDER BY table_name, column_index`)
    ).map((r) => String(r.c));
    // every table's rows in one query (one round trip instead of one per table)
    const cols = new Map<string, string[]>();
    for (const r of await db.all(`SELECT table_name AS t, column_name AS c FROM duckdb_columns() WHERE schema_name = 'main' ORDER BY table_name, column_index`)) {
      const list = cols.get(String(r.t)) ?? [];
      list.push(String(r.c));
      cols.set(String(r.t), list);
    }
    const parts = tables.map((t) => {
      const shown = (cols.get(t) ?? []).map((c) => `${MASKED[c] ?? `"${c}"::VARCHAR`} AS "${c}"`);
      return `SELECT '${t}' AS t, to_json(x)::VARCHAR AS j FROM (SELECT ${shown.join(', ')} FROM "${t}") x`;
    });
    for (const t of tables) out[t] = [];
    if (parts.length) for (const r of await db.all(parts.join('\nUNION ALL\n'))) out[String(r.t)]?.push(String(r.j));
    for (const t of tables) out[t]?.sort();
    return out;
  } finally {
    db.close();
  }
}

/** Which tables differ, and how, in a few lines (a deepEqual of ~60 tables is unreadable). */
function differences(a: Snapshot, b: Snapshot): string {
  const lines: string[] = [];
  for (const t of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    const x = a[t];
    const y = b[t];
    if (!x || !y) {
      lines.push(`${t}: ${x ? 'only in the first' : 'only in the second'}`);
      continue;
    }
    if (JSON.stringify(x) === JSON.stringify(y)) continue;
    const sx = new Set(x);
    const sy = new Set(y);
    const onlyX = x.filter((r) => !sy.has(r));
    const onlyY = y.filter((r) => !sx.has(r));
    lines.push(`${t}: ${x.length} vs ${y.length} rows; only first e.g. ${onlyX.slice(0, 2).join(' ')}; only second e.g. ${onlyY.slice(0, 2).join(' ')}`);
  }
  return lines.join('\n').slice(0, 6000);
}
function sameState(actual: Snapshot, expected: Snapshot): boolean {
  return JSON.stringify(actual) === JSON.stringify(expected);
}
function assertState(actual: Snapshot, expected: Snapshot, what: string): void {
  if (!sameState(actual, expected)) assert.fail(`${what}; differences (actual vs expected):\n${differences(actual, expected)}`);
}

/** Day 3 run again in this process through the CLI's own entry point (`main`), as an operator would rerun it. */
async function rerunDay3(db: string, context: string): Promise<void> {
  const listeners = process.stdout.listeners('error');
  const code = await main(runArgs(D3, db, '-q'));
  // main() adds an EPIPE handler per call; drop ours so that many reruns do not look like a leak
  for (const l of process.stdout.listeners('error')) if (!listeners.includes(l)) process.stdout.off('error', l as (...a: unknown[]) => void);
  assert.equal(code, 0, `${context}: the rerun of day 3 exits 0`);
}

/** The last of these log messages a killed run wrote tells where the kill landed. */
const LOG_MARKS: readonly (readonly [string, string])[] = [
  ['day published', 'killed after the commit'],
  ['day decided', 'killed while publishing (in the transaction, or just after the commit)'],
  ['ingest done', 'killed while deciding (in the transaction)'],
  ['run started', 'killed while ingesting'],
];

/** Mulberry32 over a hash of the seed text: the random kill delays, replayable with DECLMATCH_CRASH_SEED. */
function prng(seed: string): () => number {
  let h = 2166136261;
  for (const ch of seed) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  let a = h >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'crash-'));
  days = join(work, 'days');
  await generateDays({ out: days, date: D1, days: 3, lists: LISTS, seed: `crash-${SEED}`, format: 'xml', anomalyRate: 0.1 });
  base = join(work, 'day2.duckdb');
  for (const d of [D1, D2]) {
    const r = cli({}, ...runArgs(d, base, '-q'));
    assert.equal(r.code, 0, `day ${d}: ${show(r)}`);
  }
  assert.ok(!existsSync(`${base}.wal`), 'a clean run leaves no WAL behind');
  stateD2 = await snapshot(base);

  // the uninterrupted day 3, for the stage list and the expected state
  const ref = copyDb(base, join(work, 'day3-reference.duckdb'));
  refD3 = ref;
  const t0 = process.hrtime.bigint();
  const r = cli({}, ...runArgs(D3, ref, '--json'));
  fullSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  assert.equal(r.code, 0, show(r));
  const json = JSON.parse(r.stdout) as { stages: { stage: string; seconds: number }[] };
  stateD3 = await snapshot(ref);
  const fromTable = (stateD3.run_stages ?? []).map((row) => JSON.parse(row) as { business_date: string; stage: string }).filter((row) => row.business_date === D3).map((row) => row.stage);
  stages = [...new Set([...json.stages.map((s) => s.stage), ...fromTable])];
  txSeconds = json.stages.filter((s) => s.stage !== 'ingest').reduce((a, s) => a + s.seconds, 0);
});
after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the scenario: day 3 changes the published state, and its stages cover ingest, decide and publish', () => {
  assert.ok(!sameState(stateD2, stateD3), 'day 3 publishes something');
  for (const t of ['decisions', 'decision_reasons', 'return_decisions', 'quarantine', 'inspection_queue', 'runs', 'run_stages', 'ledger', 'input_files'])
    assert.ok(stateD2[t] && stateD2[t].length > 0, `${t} holds rows after day 2`);
  assert.ok(stages.includes('ingest'), stages.join(', '));
  assert.ok(stages.filter((s) => s.startsWith('decide.')).length >= 8, stages.join(', '));
  assert.ok(stages.filter((s) => s.startsWith('publish.')).length >= 3, stages.join(', '));
  assert.equal(new Set(stages).size, stages.length, 'stage names are unique, so a kill hook names one boundary');
});

/** Day 3 after a rerun that follows a killed run which had already committed: the same, plus the killed run's row in `runs`. */
function day3WithAnExtraRun(): Snapshot {
  const runsD3 = (stateD3.runs ?? []).filter((row) => row.includes(`"business_date":"${D3}"`));
  assert.equal(runsD3.length, 1);
  return { ...stateD3, runs: [...(stateD3.runs ?? []), ...runsD3].sort() };
}

test('SIGKILL at every stage boundary of day 3: the day-2 state stays exactly as it was; the rerun publishes the uninterrupted day 3', async (t) => {
  // every stage boundary, then the points of src/cli/main.ts around the COMMIT
  const points = [
    ...stages.map((stage) => ({ inject: `kill:stage:${stage}`, committed: false })),
    { inject: 'kill:commit', committed: false },
    { inject: 'kill:committed', committed: true },
  ];
  t.diagnostic(`stages (${stages.length}): ${stages.join(', ')}; and kill:commit, kill:committed`);
  const killed = killInTurn(points.map((p) => p.inject), base, 'kill');
  for (const [i, p] of points.entries()) {
    const { db, result: k } = await (killed[i] as (typeof killed)[number]);
    assert.equal(k.signal, 'SIGKILL', `${p.inject} killed the run: ${show(k)}`);
    if (p.committed) assertState(await snapshot(db), stateD3, `after ${p.inject} the database holds exactly the completed day 3 (its WAL replayed)`);
    else assertState(await snapshot(db), stateD2, `after ${p.inject} the database holds exactly day 2`);
    await rerunDay3(db, `after ${p.inject}`);
    assertState(await snapshot(db), p.committed ? day3WithAnExtraRun() : stateD3, `after ${p.inject} and a rerun, day 3 is as if uninterrupted`);
    removeDb(db);
  }
});

test('SIGKILL during a rerun of day 3: the published day 3 stays exactly as it was; the next rerun publishes it again', async (t) => {
  // a rerun drops the day's history table and deletes its rows before writing them again: all inside the transaction
  const points = SOAK ? [...stages.map((s) => `kill:stage:${s}`), 'kill:commit'] : ['kill:stage:decide.history', 'kill:stage:publish.statistics', 'kill:commit'];
  t.diagnostic(points.join(', '));
  const killed = killInTurn(points, refD3, 'rerun-kill');
  for (const [i, inject] of points.entries()) {
    const { db, result: k } = await (killed[i] as (typeof killed)[number]);
    assert.equal(k.signal, 'SIGKILL', `${inject} killed the rerun: ${show(k)}`);
    assertState(await snapshot(db), stateD3, `after ${inject} during a rerun the database holds exactly the day 3 published before`);
    await rerunDay3(db, `after ${inject} during a rerun`);
    assertState(await snapshot(db), day3WithAnExtraRun(), `after ${inject} during a rerun and another rerun, day 3 is the same`);
    removeDb(db);
  }
});

test(`SIGKILL from outside at seeded random moments (seed ${SEED}, ${RANDOM_KILLS} kills): exactly day 2 or exactly day 3, never in between`, async (t) => {
  const rand = prng(SEED);
  const landed: string[] = [];
  for (let i = 0; i < RANDOM_KILLS; i++) {
    // even kills: a delay from the start, anywhere in the run; odd kills: a delay from the end of
    // the ingest ('ingest done' in the log), aimed at the decide/publish transaction and the commit
    const fromIngest = i % 2 === 1;
    const delay = fromIngest ? rand() * (txSeconds * 1.5 + 0.2) : rand() * fullSeconds * 1.1;
    const context = `random kill ${i + 1}/${RANDOM_KILLS}, ${delay.toFixed(3)} s after ${fromIngest ? 'the ingest' : 'the start'} (seed ${SEED}, replay with DECLMATCH_CRASH_SEED=${SEED})`;
    const db = copyDb(base, join(work, `random-${i}.duckdb`));
    // not quiet: the run's log lines (written synchronously) tell how far it got when it was killed
    const child = spawn(process.execPath, [...NODE_ARGS, ...runArgs(D3, db)], { cwd: ROOT, env: childEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    const arm = () => (timer ??= setTimeout(() => child.kill('SIGKILL'), delay * 1000));
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      if (fromIngest && stderr.includes('ingest done')) arm();
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
    if (!fromIngest) arm();
    const r = await exited;
    if (timer) clearTimeout(timer);
    assert.ok(r.signal === 'SIGKILL' || r.code === 0, `${context}: killed or finished (${r.code} ${r.signal}) ${stderr.slice(-2000)}`);
    const state = await snapshot(db);
    const completed = sameState(state, stateD3);
    if (!completed && !sameState(state, stateD2)) assert.fail(`${context}: the state is neither day 2 nor the completed day 3; against day 2:\n${differences(state, stateD2)}\nagainst day 3:\n${differences(state, stateD3)}`);
    const where = r.signal !== 'SIGKILL' ? 'finished' : LOG_MARKS.find(([mark]) => stderr.includes(mark))?.[1] ?? 'killed while starting';
    landed.push(`${delay.toFixed(2)} s after ${fromIngest ? 'ingest' : 'start'}: ${where} → ${completed ? 'day 3' : 'day 2'}`);
    if (where === 'finished' || where === 'killed after the commit') assert.ok(completed, `${context}: ${where}, so day 3 is published`);
    // (after 'day decided' the commit may or may not have happened before the kill)
    if (where === 'killed while starting' || where === 'killed while ingesting' || where.startsWith('killed while deciding')) assert.ok(!completed, `${context}: ${where}, so day 3 is not published`);
    await rerunDay3(db, context);
    const again = await snapshot(db);
    // when the killed run had committed, the rerun replaces the day's rows and adds its own attempt to `runs`
    assertState(again, completed ? day3WithAnExtraRun() : stateD3, `${context}: after the rerun`);
    removeDb(db);
  }
  t.diagnostic(`full run ${fullSeconds.toFixed(2)} s, transaction ${txSeconds.toFixed(2)} s; kills: ${landed.join(', ')}`);
});

/** The pids of the processes whose parent is `ppid` (Linux /proc). */
function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // state, ppid, ...
      if (Number(fields[1]) === ppid) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));

test('SIGKILL of the `declmatch` command as users start it (no heap flag: it re-runs itself as a second process) stops the run too', async () => {
  const db = copyDb(base, join(work, 'shim-kill.duckdb'));
  // the second process pauses 3 s after the ingest (DECLMATCH_FAULT_INJECT=pause:stage:ingest);
  // the first one is killed as soon as the ingest is done, so the run is known to be mid-way
  const child = spawn(process.execPath, [SHIM, ...runArgs(D3, db)], { cwd: ROOT, env: childEnv({ DECLMATCH_FAULT_INJECT: 'pause:stage:ingest' }), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let inner: number[] = [];
  const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_code, signal) => res(signal)));
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
    if (!inner.length && stderr.includes('ingest done')) {
      inner = childrenOf(child.pid as number);
      child.kill('SIGKILL');
    }
  });
  assert.equal(await exited, 'SIGKILL', `the command was killed mid-run:\n${stderr.slice(-2000)}`);
  assert.equal(inner.length, 1, 'the command ran its work in one second process');
  const t0 = Date.now();
  while (alive(inner[0]!) && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
  assert.equal(alive(inner[0]!), false, 'the second process is gone too');
  // its leader can be a zombie while its other threads still exit and hold the file lock: retry a while
  let state: Snapshot | null = null;
  for (let tries = 0; state === null; tries++) {
    try {
      state = await snapshot(db);
    } catch (e) {
      if ((e as { code?: string }).code !== 'DB_LOCKED' || tries >= 100) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  assertState(state, stateD2, 'killed mid-run: the day-2 state stays, nothing of day 3 is published');
  await rerunDay3(db, 'after killing the command');
  assertState(await snapshot(db), stateD3, 'the rerun publishes the uninterrupted day 3');
  removeDb(db);
});
