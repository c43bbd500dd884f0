/**
 * cli/ owns the `declmatch` command line: argument parsing, progress, the human summary and exit
 * codes. It calls the stages; it holds no business logic of its own.
 */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { availableParallelism } from 'node:os';
import { DbError, openDatabase } from '../db/duck.js';
import { generateDays, type DaySummary } from '../generate/generator.js';
import { ingestDay } from '../ingest/ingest.js';
import { prepareDay, whatIf, writeDay, type DayDecisions } from '../match/run.js';
import { compareWithTruth } from '../generate/compare.js';
import { basename } from 'node:path';
import { loadPolicy, PolicyError } from '../policy/policy.js';
import { loadReference } from '../policy/reference.js';
import { DeclmatchError, EXIT, EXIT_CODE_HELP } from './errors.js';
import { makeLogger, useColor } from './log.js';
import { ChecksFailed, publishDay, recordRun } from '../publish/publish.js';
import { exportDay } from '../publish/export.js';
import { prepareStatistics } from '../publish/stats.js';
import { writeReceipts } from '../publish/receipts.js';
import { writeReport } from '../report/report.js';
import { timer, type StageTiming } from '../util/timer.js';
import { faultPoint } from '../util/fault.js';
import { runBench } from '../bench/index.js';
import { makeProgress } from './progress.js';

const EXAMPLES = `
Examples:
  $ declmatch generate --out ./days --date 2025-06-12 --days 2 --lists 10000 --seed 7
  $ declmatch generate --out ./days-parquet --date 2025-06-12 --lists 100000 --format parquet
  $ declmatch demo                       # what \`npm start\` runs: a small sample, end to end
  $ declmatch ingest ./days/2025-06-12 --db decl.duckdb
  $ declmatch run ./days/2025-06-12 --db decl.duckdb && declmatch run ./days/2025-06-13 --db decl.duckdb

${EXIT_CODE_HELP}
`;

function intOption(name: string, min: number, max: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be a whole number`);
    const n = Number(v);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}`);
    return n;
  };
}
function fractionOption(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d*\.?\d+$/.test(v) || n < 0 || n > 1) throw new InvalidArgumentError(`${name} must be a number between 0 and 1`);
    return n;
  };
}
const rateOption = fractionOption('--anomaly-rate');
function dateOption(v: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(v) || Number.isNaN(Date.parse(`${v}T00:00:00Z`)) || new Date(`${v}T00:00:00Z`).toISOString().slice(0, 10) !== v)
    throw new InvalidArgumentError('--date must be a real date written YYYY-MM-DD');
  return v;
}

interface GenerateCliOptions {
  out: string;
  date: string;
  days: number;
  lists: number;
  seed: string;
  format: 'xml' | 'csv' | 'parquet';
  anomalyRate: number;
  reference?: string;
  policy?: string;
  force?: boolean;
  quiet?: boolean;
  json?: boolean;
  /** pino level; default info (warn with --quiet) */
  logLevel?: string;
}

function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function printSummary(days: DaySummary[], out: string, secs: number): void {
  const lines = [`declmatch generate: ${days.length} day(s) in ${out} (${secs.toFixed(1)} s)`];
  for (const d of days) {
    const dec = Object.entries(d.decisions)
      .sort()
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    const rec = Object.entries(d.records)
      .sort()
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    const ret = Object.entries(d.returns)
      .sort()
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    lines.push(`  ${d.date}: ${d.files} files, ${humanBytes(d.bytes)}; records: ${rec}`);
    lines.push(`    expected decisions: ${dec || 'none'}; returns: ${ret || 'none'}; quarantine rows: ${d.quarantined}`);
    lines.push(`    input: ${d.folder}`);
    lines.push(`    ground truth: ${d.truth}/{decisions,return_decisions,quarantine}.csv`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

async function runGenerate(o: GenerateCliOptions): Promise<void> {
  const log = makeLogger({ quiet: o.quiet, ...(o.logLevel ? { level: o.logLevel } : {}) }).child({ stage: 'generate' });
  const out = resolve(o.out);
  const reference = loadReference(o.reference);
  const policy = loadPolicy(o.policy);
  // refuse to mix a new day into an old one: same seed must give the same bytes
  const first = Date.parse(`${o.date}T00:00:00Z`) / 1000;
  const dates = Array.from({ length: o.days }, (_, i) => new Date((first + i * 86400) * 1000).toISOString().slice(0, 10));
  for (const date of dates) {
    for (const p of [join(out, date), join(out, `${date}.truth`)]) {
      if (existsSync(p) && (!statSync(p).isDirectory() || readdirSync(p).length > 0)) {
        if (!o.force) throw new DeclmatchError('OUTPUT_EXISTS', `${p} already exists; use --force to replace it`, EXIT.CANT_CREATE);
        rmSync(p, { recursive: true, force: true });
      }
    }
  }
  log.info({ out, date: o.date, days: o.days, lists: o.lists, seed: o.seed, format: o.format, anomalyRate: o.anomalyRate, policy: policy.source }, 'generating');
  const progress = makeProgress({ quiet: o.quiet || o.json, unit: 'lists' });
  const t0 = Date.now();
  let days: DaySummary[];
  try {
    days = await generateDays({
      out,
      date: o.date,
      days: o.days,
      lists: o.lists,
      seed: o.seed,
      format: o.format,
      anomalyRate: o.anomalyRate,
      reference,
      policy,
      onProgress: (p) => progress.update(p.listsDone, p.listsTotal, `day ${p.dayIndex + 1}/${o.days} ${p.day}`),
    });
  } finally {
    progress.stop();
  }
  const secs = (Date.now() - t0) / 1000;
  for (const d of days) log.info({ date: d.date, files: d.files, bytes: d.bytes, decisions: d.decisions, returns: d.returns }, 'day written');
  if (o.json) process.stdout.write(JSON.stringify({ out, seconds: secs, days }, null, 2) + '\n');
  else printSummary(days, out, secs);
}

/** The day folder argument, which must exist (exit 66 otherwise). */
function dayFolder(dayDir: string): string {
  const dir = resolve(dayDir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new DeclmatchError('NO_INPUT', `${dir} is not a folder`, EXIT.NO_INPUT);
  return dir;
}

/** --date, or the day folder's name when it is a date (exit 64 otherwise). */
function businessDate(dir: string, given: string | undefined): string {
  const date = given ?? (/^\d{4}-\d{2}-\d{2}$/.test(basename(dir)) ? basename(dir) : undefined);
  if (!date) throw new DeclmatchError('USAGE', `the business date cannot be read from the folder name ${basename(dir)}; give --date YYYY-MM-DD`, EXIT.USAGE);
  return date;
}

/**
 * Opens the database; one held by another process is exit 75 with a message that says so. DuckDB
 * gets a memory limit (DECLMATCH_DUCKDB_MEMORY, default 3GB, aimed at the 4 GiB budget of issue #6;
 * a 1M-list run peaks at ~3.3 GiB with the Node heap) and spills beyond it to `<db>.tmp/`.
 */
async function openForCli(path: string, threads: number) {
  const file = resolve(path);
  try {
    return await openDatabase(file, { threads, memoryLimit: process.env.DECLMATCH_DUCKDB_MEMORY ?? '3GB', tempDirectory: `${file}.tmp`, vacuum: false });
  } catch (e) {
    if (e instanceof DbError && e.code === 'DB_LOCKED') throw new DeclmatchError('DB_LOCKED', `${path} is in use by another process; try again when it is free`, EXIT.TEMP_FAIL, { cause: e });
    throw e;
  }
}

interface IngestCliOptions {
  db: string;
  threads: number;
  /** 'fast' (default): the CEB entity reader and set-based CSV/Parquet loading; 'reference': fast-xml-parser and row-by-row tabular reading */
  parser?: 'fast' | 'reference';
  json?: boolean;
  quiet?: boolean;
}

async function runIngest(dayDir: string, o: IngestCliOptions): Promise<void> {
  const dir = dayFolder(dayDir);
  const runId = `ingest-${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${process.pid}`;
  const log = makeLogger({ quiet: o.quiet }).child({ run_id: runId, stage: 'ingest' });
  const db = await openForCli(o.db, o.threads);
  const progress = makeProgress({ quiet: o.quiet || o.json, unit: 'MB' });
  const t0 = Date.now();
  try {
    const r = await ingestDay(dir, db, {
      threads: o.threads,
      ...parserOptions(o.parser),
      log,
      onProgress: (p) => {
        const mbps = p.bytes / 1e6 / Math.max(0.001, (Date.now() - t0) / 1000);
        progress.update(Math.round(p.bytes / 1e6), Math.max(1, Math.round(p.bytesTotal / 1e6)), `ingest ${p.files}/${p.filesTotal} files, ${p.records} records, ${mbps.toFixed(1)} MB/s`);
      },
    });
    progress.stop();
    if (o.json) {
      process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      return;
    }
    const lines = [
      `declmatch ingest: ${dir} → ${resolve(o.db)} in ${r.seconds.toFixed(1)} s with ${r.threads} thread(s), ${(r.bytes / 1e6 / Math.max(r.seconds, 0.001)).toFixed(1)} MB/s`,
      `  files: ${r.files.read} read, ${r.files.malformed} quarantined, ${r.files.skipped} skipped, ${r.files.unknown} not recognised (see stg_files)`,
      `  records (read = staged + quarantined):`,
      ...r.ledger.filter((l) => l.read > 0).map((l) => `    ${l.recordType.padEnd(12)} ${String(l.read).padStart(9)} = ${String(l.staged).padStart(9)} + ${String(l.quarantined).padStart(7)}`),
      `  quarantine rows: ${r.quarantineRows} (stg_quarantine)`,
      `  staged only: \`declmatch run\` decides and publishes a day (a later run replaces these staging tables)`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    progress.stop();
    db.close();
  }
}

/** --parser: one switch for the reference paths of XML and tabular input (the differential tests compare them). */
function parserOptions(p: 'fast' | 'reference' | undefined): { parser?: 'fast' | 'reference'; tabular?: 'sql' | 'reference' } {
  return p === 'reference' ? { parser: 'reference', tabular: 'reference' } : {};
}

interface RunCliOptions extends IngestCliOptions {
  date?: string;
  policy?: string;
  reference?: string;
  export?: string;
  exportCsv?: boolean;
  receipts?: string;
  report?: string;
  quarantineThreshold: number;
  logFile?: string | false;
}

/** Set by an action that succeeded with a non-zero outcome (run: 1 = quarantine above the threshold). */
let outcome: number = EXIT.OK;

const DECISION_ORDER = ['RELEASE', 'INSPECT', 'REVIEW', 'PENDING', 'REJECT', 'CANCELLED'] as const;
const DECISION_COLOR: Record<string, string> = { RELEASE: '32', INSPECT: '31', REVIEW: '33', PENDING: '36', REJECT: '35', CANCELLED: '90' };

/**
 * ingest + decide + publish one business day. Staging is committed first (it is not published
 * state); deciding and publishing are one transaction, so a failed or killed run leaves the
 * published state of earlier runs as it was. Exports, receipts and the report are written after
 * the commit from the published tables (they can be written again with the same command).
 */
async function runRun(dayDir: string, o: RunCliOptions): Promise<void> {
  const dir = dayFolder(dayDir);
  const date = businessDate(dir, o.date);
  const policy = loadPolicy(o.policy);
  const reference = loadReference(o.reference);
  const startedAt = new Date();
  const runId = `run-${date}-${startedAt.toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${process.pid}`;
  const dbPath = resolve(o.db);
  const logFile = o.logFile === false ? undefined : resolve(o.logFile ?? join(dirname(dbPath), 'logs', `${runId}.log`));
  const log = makeLogger({ quiet: o.quiet, ...(logFile ? { file: logFile } : {}) }).child({ run_id: runId });
  log.info({ day: dir, date, db: dbPath, policy: policy.source, reference: o.reference ?? null, threads: o.threads }, 'run started');
  const db = await openForCli(dbPath, o.threads);
  // SIGINT/SIGTERM: stop at once. Nothing is committed before the end, so exiting before the commit
  // leaves the published state as it was (the same guarantee as for SIGKILL, tested). After the
  // commit the day is published whole and only the derived outputs (exports, receipts, report) may
  // be missing; during it, the day is published whole or not at all (WAL replay) and `runs` tells.
  let phase: 'before-commit' | 'committing' | 'published' = 'before-commit';
  const onSignal = (sig: NodeJS.Signals) => {
    const said = {
      'before-commit': 'stopped by a signal: nothing of this run is published',
      committing: `stopped by a signal during the commit: the day is published whole or not at all; SELECT status FROM runs WHERE run_id = '${runId}' tells which`,
      published: `stopped by a signal after the day was published (run ${runId}); exports, receipts or the report may be missing or partial: run the same command again to write them`,
    }[phase];
    log.warn({ signal: sig, phase }, said);
    process.exit(sig === 'SIGINT' ? EXIT.SIGINT : EXIT.SIGTERM);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const progress = makeProgress({ quiet: o.quiet || o.json, unit: 'MB' });
  const stages: StageTiming[] = [];
  const lap = timer(stages);
  const base = {
    runId,
    date,
    startedAt,
    policySource: policy.source,
    referenceSource: o.reference ? resolve(o.reference) : null,
    threads: o.threads,
    inputFiles: 0,
    inputBytes: 0,
    recordsRead: 0,
    recordsQuarantined: 0,
  };
  // the row in `runs` of an attempt that published nothing (a failure to write it is only logged)
  const recordFailure = async (status: 'failed' | 'checks_failed', exitCode: number, message: string) => {
    try {
      await recordRun(db, { ...base, status, exitCode, policyId: null, message: message.slice(0, 2000) });
    } catch (e2) {
      log.error({ err: e2 }, 'could not record the failed run');
    }
  };
  try {
    let ingest: Awaited<ReturnType<typeof ingestDay>>;
    try {
      ingest = await ingestDay(dir, db, {
        threads: o.threads,
        ...parserOptions(o.parser),
        log: log.child({ stage: 'ingest' }),
        onProgress: (p) => progress.update(Math.round(p.bytes / 1e6), Math.max(1, Math.round(p.bytesTotal / 1e6)), `ingest ${p.files}/${p.filesTotal} files, ${p.records} records`),
      });
    } catch (e) {
      // a run that stops in the ingest (too many worker deaths, I/O, a bug) still leaves its row in `runs`
      progress.stop();
      await recordFailure('failed', exitCodeOf(e), `ingest: ${(e as Error).message}`);
      log.error({ err: e }, 'ingest failed: nothing published');
      throw e;
    }
    progress.stop();
    const read = ingest.ledger.reduce((s, l) => s + l.read, 0);
    const quarantined = ingest.ledger.reduce((s, l) => s + l.quarantined, 0);
    lap('ingest', read);
    Object.assign(base, { inputFiles: ingest.files.total, inputBytes: ingest.bytes, recordsRead: read, recordsQuarantined: quarantined });

    // the quarantine rate counts bad records and, for whole bad files, one per file
    const bad = quarantined + ingest.files.malformed;
    const rate = bad / Math.max(1, read + ingest.files.malformed);
    let decided: DayDecisions;
    let exitCode: number = EXIT.OK;
    try {
      phase = 'before-commit';
      // decided into temp tables first, outside the transaction (faster: see prepareDay); the
      // transaction writes them with everything else publishing writes
      const decideOpts = { date, runId, policy, reference };
      decided = await prepareDay(db, decideOpts);
      // (the statistics' inputs too, for the same reason)
      const lap = timer(decided.stages);
      await prepareStatistics(db, date, { reference });
      lap('publish.statistics_inputs');
      await db.transaction(async () => {
        await writeDay(db, decideOpts, decided.stages);
        stages.push(...decided.stages);
        log.info({ stage: 'decide', decisions: decided.counts }, 'day decided');
        faultPoint('publish');
        // test hook: a duplicated decision row, which the publish checks must catch (exit 2)
        if (process.env.DECLMATCH_FAULT_INJECT === 'corrupt:decisions')
          await db.run(`INSERT INTO decisions SELECT * FROM decisions WHERE business_date = DATE '${date}' ORDER BY agent_code, cop_no LIMIT 1`);
        ({ exitCode } = await publishDay(db, {
          date,
          runId,
          policy,
          reference,
          stages,
          run: base,
          exitCode: async () => (rate > o.quarantineThreshold ? EXIT.QUARANTINE_ABOVE_THRESHOLD : EXIT.OK),
          statisticsPrepared: true,
        }));
        faultPoint('commit');
        phase = 'committing';
      });
      phase = 'published';
      log.info({ stage: 'publish', exitCode }, 'day published');
      // committed, not yet checkpointed: the day must survive a kill here whole (WAL replay)
      faultPoint('committed');
    } catch (e) {
      const checks = e instanceof ChecksFailed;
      // the code the command will exit with (main maps the error), so that `runs` says the same
      const code = checks ? EXIT.CHECKS_FAILED : exitCodeOf(e);
      await recordFailure(checks ? 'checks_failed' : 'failed', code, (e as Error).message);
      log.error({ err: e }, checks ? 'checks failed: nothing published' : 'run failed: nothing published');
      if (checks) throw new DeclmatchError('CHECKS_FAILED', `${(e as Error).message}; nothing was published`, EXIT.CHECKS_FAILED);
      throw e;
    }

    // derived outputs, from the published tables
    const outputs: string[] = [];
    if (o.export) {
      const t = Date.now();
      const r = await exportDay(db, date, resolve(o.export), { csv: o.exportCsv ?? false });
      outputs.push(`export: ${r.dir} (${r.tables.length} tables, Parquet${o.exportCsv ? ' and CSV' : ''})`);
      stages.push({ stage: 'export', seconds: (Date.now() - t) / 1000 });
    }
    if (o.receipts) {
      const t = Date.now();
      const r = await writeReceipts(db, date, resolve(o.receipts));
      outputs.push(`receipts: ${r.files.length} CEB604 messages, ${r.returns} lists, in ${r.dir}`);
      stages.push({ stage: 'receipts', seconds: (Date.now() - t) / 1000 });
    }
    if (o.report) {
      const t = Date.now();
      const r = await writeReport(db, { date, out: resolve(o.report) });
      outputs.push(`report: ${resolve(o.report)} (${humanBytes(r.bytes)})`);
      stages.push({ stage: 'report', seconds: (Date.now() - t) / 1000 });
    }
    if (logFile) outputs.push(`log: ${logFile}`);
    outcome = exitCode;

    const returns = await db.all(`SELECT decision, count(*)::INTEGER AS n FROM return_decisions WHERE business_date = DATE '${date}' GROUP BY ALL ORDER BY ALL`);
    const qrows = await db.all(`SELECT count(*)::INTEGER AS n FROM quarantine WHERE business_date = DATE '${date}'`);
    const summary = {
      runId,
      businessDate: date,
      status: 'published',
      exitCode,
      db: dbPath,
      decisions: decided!.counts,
      returns: Object.fromEntries(returns.map((r) => [String(r.decision), Number(r.n)])),
      quarantine: { rows: Number(qrows[0]?.n ?? 0), records: quarantined, files: ingest.files.malformed, rate, threshold: o.quarantineThreshold },
      files: ingest.files,
      ledger: ingest.ledger,
      stages,
      outputs,
    };
    if (o.json) {
      process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
      return;
    }
    if (o.quiet) return;
    const color = useColor();
    const paint = (code: string | undefined, s: string) => (color && code ? `\x1b[${code}m${s}\x1b[0m` : s);
    const total = Object.values(decided!.counts).reduce((s, n) => s + (n ?? 0), 0);
    const dec = DECISION_ORDER.filter((k) => decided!.counts[k]).map((k) => paint(DECISION_COLOR[k], `${k} ${decided!.counts[k]}`));
    const top = [...stages].filter((s) => !s.stage.startsWith('decide.') && !s.stage.startsWith('publish.')).map((s) => `${s.stage} ${s.seconds.toFixed(1)} s`);
    const decideSecs = stages.filter((s) => s.stage.startsWith('decide.')).reduce((a, s) => a + s.seconds, 0);
    const publishSecs = stages.filter((s) => s.stage.startsWith('publish.')).reduce((a, s) => a + s.seconds, 0);
    process.stdout.write(
      [
        `declmatch run ${date}: published to ${dbPath} (run ${runId})`,
        `  lists: ${total} — ${dec.join(', ') || 'none'}`,
        `  returns: ${Object.entries(summary.returns).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`,
        `  input: ${ingest.files.read} files read, ${ingest.files.malformed} quarantined whole, ${ingest.files.skipped} skipped, ${ingest.files.unknown} not recognised; ${read} records`,
        `  quarantine: ${summary.quarantine.rows} rows (${(rate * 100).toFixed(2)} % of records${rate > o.quarantineThreshold ? paint('33', `, above the ${(o.quarantineThreshold * 100).toFixed(2)} % threshold: exit 1`) : ''})`,
        `  time: ${[top[0], `decide ${decideSecs.toFixed(1)} s`, `publish ${publishSecs.toFixed(1)} s`, ...top.slice(1)].join(', ')} (all stages: SELECT * FROM run_stages WHERE run_id = '${runId}')`,
        ...outputs.map((x) => `  ${x}`),
        `  query: SELECT decision, count(*) FROM decisions WHERE business_date = DATE '${date}' GROUP BY ALL`,
      ].join('\n') + '\n',
    );
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    progress.stop();
    db.close();
  }
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('declmatch')
    .description('Batch matching of CBEC export declaration lists (CEB603) against orders (CEB303), waybills (CEB505) and receipts (CEB403), with decisions published to DuckDB.')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXAMPLES)
    .exitOverride();

  program
    .command('generate')
    .description('write seeded synthetic business days (CEB XML, CSV or Parquet) with the ground truth of every decision beside each day')
    .requiredOption('--out <dir>', 'output folder: <dir>/<date>/ is a day, <dir>/<date>.truth/ its expected decisions')
    .requiredOption('--date <YYYY-MM-DD>', 'first business day', dateOption)
    .option('--days <k>', 'consecutive business days', intOption('--days', 1, 366), 1)
    .option('--lists <n>', 'declaration lists per day', intOption('--lists', 1, 50_000_000), 10_000)
    .option('--seed <s>', 'random seed: the same seed gives byte-identical output', '1')
    .addOption(new Option('--format <f>', 'file format').choices(['xml', 'csv', 'parquet']).default('xml'))
    .option('--anomaly-rate <r>', 'share of lists with an injected anomaly (0..1)', rateOption, 0.05)
    .option('--reference <dir>', 'reference data folder replacing bundled CSV files of the same name')
    .option('--policy <file>', 'policy file (JSON) replacing the bundled one')
    .option('--force', 'replace day folders that already exist')
    .option('--json', 'print the summary as JSON')
    .option('-q, --quiet', 'no progress, warnings only')
    .action(async (opts: GenerateCliOptions) => runGenerate(opts));

  program
    .command('demo')
    .description('the quick start (`npm start`): generate a two-day sample into ./out/sample, run both days into out/sample/declmatch.duckdb, check them against the ground truth, write the report')
    .option('--out <dir>', 'where to write', 'out/sample')
    .option('-q, --quiet', 'no progress')
    .action(async (opts: { out: string; quiet?: boolean }) => {
      const out = resolve(opts.out);
      await runGenerate({ out, date: '2025-06-12', days: 2, lists: 2000, seed: 'demo', format: 'xml', anomalyRate: 0.05, force: true, quiet: opts.quiet ?? false, logLevel: process.env.DECLMATCH_LOG_LEVEL ?? 'warn' });
      const dbFile = join(out, 'declmatch.duckdb');
      rmSync(dbFile, { force: true });
      rmSync(`${dbFile}.wal`, { force: true });
      const dates = ['2025-06-12', '2025-06-13'];
      let worst: number = EXIT.OK;
      for (const date of dates) {
        process.stdout.write('\n');
        process.env.DECLMATCH_LOG_LEVEL ??= 'warn';
        await runRun(join(out, date), {
          db: dbFile,
          threads: availableParallelism(),
          quiet: false,
          quarantineThreshold: 0.01,
          export: join(out, 'export'),
          receipts: join(out, 'receipts', date),
          ...(date === dates[dates.length - 1] ? { report: join(out, 'report.html') } : {}),
        });
        worst = Math.max(worst, outcome);
        const db = await openDatabase(dbFile, { threads: 1 });
        try {
          const a = await compareWithTruth(db, join(out, `${date}.truth`), date);
          process.stdout.write(`  against the ground truth: ${a.listsAgreeing}/${a.lists} lists and ${a.returnsAgreeing}/${a.returns} returns agree\n`);
          if (a.diffCount) worst = EXIT.CHECKS_FAILED;
        } finally {
          db.close();
        }
      }
      outcome = worst;
      process.stdout.write(
        [
          '',
          'Where to look:',
          `  report:   ${join(out, 'report.html')} (open it in a browser; no network needed)`,
          `  database: ${dbFile}`,
          `            duckdb ${dbFile} "SELECT business_date, decision, count(*) FROM decisions GROUP BY ALL ORDER BY ALL"`,
          `  exports:  ${join(out, 'export')}/<table>/business_date=<date>/data.parquet`,
          `  receipts: ${join(out, 'receipts')}/<date>/CEB604_*.xml`,
          `  logs:     ${join(out, 'logs')}/`,
          '',
        ].join('\n'),
      );
    });

  program
    .command('ingest')
    .description('read a business day (CEB XML, CSV, Parquet) into DuckDB staging tables with quarantine and ledger: the first stage of `run`')
    .argument('<day-dir>', 'folder of the day’s files')
    .requiredOption('--db <file>', 'DuckDB database file')
    .option('--threads <n>', 'parse worker threads (default: the machine’s cores)', intOption('--threads', 1, 256), availableParallelism())
    .addOption(new Option('--parser <kind>', 'input reading: fast (default) or reference (fast-xml-parser, row-by-row tabular; for comparison)').choices(['fast', 'reference']).default('fast'))
    .option('--json', 'print the result as JSON')
    .option('-q, --quiet', 'no progress, warnings only')
    .action(async (dayDir: string, opts: IngestCliOptions) => runIngest(dayDir, opts));

  program
    .command('run')
    .description('ingest, decide and publish one business day into the DuckDB database (RULES.md §11 tables, statistics), optionally with exports, CEB604 receipts and the HTML report')
    .argument('<day-dir>', 'folder of the day’s files (named YYYY-MM-DD, or give --date)')
    .requiredOption('--db <file>', 'DuckDB database (created if missing; earlier days’ state is read from it)')
    .option('--date <YYYY-MM-DD>', 'business date (default: the folder name)', dateOption)
    .option('--threads <n>', 'parse worker threads (default: the machine’s cores)', intOption('--threads', 1, 256), availableParallelism())
    .addOption(new Option('--parser <kind>', 'input reading: fast (default) or reference (fast-xml-parser, row-by-row tabular; for comparison)').choices(['fast', 'reference']).default('fast'))
    .option('--policy <file>', 'policy file replacing the bundled one')
    .option('--reference <dir>', 'reference data folder replacing bundled files of the same name')
    .option('--export <dir>', 'also write the day’s published tables as Parquet, partitioned <dir>/<table>/business_date=<date>/')
    .option('--export-csv', 'with --export: CSV files beside the Parquet ones')
    .option('--receipts <dir>', 'also write CEB604 receipt messages (100 lists each) for the day’s decisions')
    .option('--report <file.html>', 'also write the HTML report of the day')
    .option('--quarantine-threshold <rate>', 'exit 1 (published) when quarantined records / records read is above this', fractionOption('--quarantine-threshold'), 0.01)
    .option('--log-file <file>', 'per-run log file (default: logs/<run_id>.log beside the database)')
    .option('--no-log-file', 'no per-run log file')
    .option('--json', 'print the run record as JSON instead of the summary')
    .option('-q, --quiet', 'no progress, no summary, warnings only')
    .action(async (dayDir: string, opts: RunCliOptions) => runRun(dayDir, opts));
  program
    .command('verify')
    .description('compare a database’s decisions for a day with a generated day’s ground truth (<out>/<date>.truth)')
    .argument('<truth-dir>', 'the ground-truth folder written by `generate`, e.g. days/2025-06-12.truth')
    .requiredOption('--db <file>', 'DuckDB database the day was run into')
    .option('--date <YYYY-MM-DD>', 'business date (default: from the folder name)', dateOption)
    .option('--json', 'print the result as JSON')
    .action(async (truthDir: string, opts: { db: string; date?: string; json?: boolean }) => {
      const dir = resolve(truthDir);
      const date = opts.date ?? /(\d{4}-\d{2}-\d{2})\.truth$/.exec(dir)?.[1];
      if (!date) throw new DeclmatchError('USAGE', 'give --date YYYY-MM-DD (the folder is not named <date>.truth)', EXIT.USAGE);
      if (!existsSync(join(dir, 'decisions.csv'))) throw new DeclmatchError('NO_INPUT', `${dir} holds no decisions.csv`, EXIT.NO_INPUT);
      const db = await openDatabase(resolve(opts.db), { threads: 1 });
      try {
        const a = await compareWithTruth(db, dir, date);
        if (opts.json) process.stdout.write(JSON.stringify(a, null, 2) + '\n');
        else {
          const pct = (n: number, d: number) => (d ? ((100 * n) / d).toFixed(2) : '100.00');
          process.stdout.write(
            [
              `declmatch verify ${date}: lists ${a.listsAgreeing}/${a.lists} agree (${pct(a.listsAgreeing, a.lists)} %), returns ${a.returnsAgreeing}/${a.returns} (${pct(a.returnsAgreeing, a.returns)} %)`,
              ...a.diffs.map((d) => `  ${d}`),
              a.diffCount > a.diffs.length ? `  … ${a.diffCount - a.diffs.length} more` : '',
            ]
              .filter(Boolean)
              .join('\n') + '\n',
          );
        }
        if (a.diffCount > 0) throw new DeclmatchError('CHECKS_FAILED', `${a.diffCount} decision(s) disagree with the ground truth`, EXIT.CHECKS_FAILED);
      } finally {
        db.close();
      }
    });

  program
    .command('diff')
    .description('decide an already-run day under another policy without publishing, and report which decisions would change and why')
    .argument('<day-dir>', 'the day’s folder (named YYYY-MM-DD, or give --date)')
    .requiredOption('--db <file>', 'the database the day was run into')
    .requiredOption('--policy <file>', 'the other policy file')
    .option('--reference <dir>', 'reference data folder')
    .option('--date <YYYY-MM-DD>', 'business date (default: the folder name)', dateOption)
    .option('--json', 'print the result as JSON')
    .action(async (dayDir: string, opts: { db: string; policy: string; reference?: string; date?: string; json?: boolean }) => {
      const date = businessDate(resolve(dayDir), opts.date);
      const policy = loadPolicy(opts.policy);
      const reference = loadReference(opts.reference);
      const db = await openForCli(opts.db, 2);
      try {
        let w;
        try {
          w = await whatIf(db, { date, runId: 'what-if', policy, reference });
        } catch (e) {
          if ((e as Error).message.includes('has not been run')) throw new DeclmatchError('NO_INPUT', (e as Error).message, EXIT.NO_INPUT);
          throw e;
        }
        if (opts.json) process.stdout.write(JSON.stringify(w, null, 2) + '\n');
        else
          process.stdout.write(
            [
              `declmatch diff ${date} under ${w.policy}: ${w.changed} of ${w.lists} lists would change (nothing was published)`,
              ...w.transitions.map((t) => `  ${t.from} → ${t.to}: ${t.count}  e.g. ${t.samples.join(', ')}`),
              ...(w.reasons.length ? ['  reasons:'] : []),
              ...w.reasons.map((r) => `    ${r.reason.padEnd(34)} +${r.added} −${r.removed}`),
            ].join('\n') + '\n',
          );
      } finally {
        db.close();
      }
    });
  program
    .command('report')
    .description('write the self-contained HTML report of a published day (no network needed to view it)')
    .requiredOption('--db <file>', 'the database the day was run into')
    .option('--date <YYYY-MM-DD>', 'business date (default: the latest in the database)', dateOption)
    .requiredOption('--out <file.html>', 'where to write the page')
    .action(async (opts: { db: string; date?: string; out: string }) => {
      const dbPath = resolve(opts.db);
      if (!existsSync(dbPath)) throw new DeclmatchError('NO_INPUT', `${dbPath} does not exist`, EXIT.NO_INPUT);
      const db = await openForCli(dbPath, 2);
      try {
        let r;
        try {
          r = await writeReport(db, { ...(opts.date ? { date: opts.date } : {}), out: resolve(opts.out) });
        } catch (e) {
          if (e instanceof DbError) throw e;
          throw new DeclmatchError('NO_INPUT', (e as Error).message, EXIT.NO_INPUT, { cause: e });
        }
        process.stdout.write(`declmatch report ${r.date}: ${resolve(opts.out)} (${humanBytes(r.bytes)})\n`);
      } finally {
        db.close();
      }
    });
  program
    .command('bench')
    .description('run the benchmark suite, record the results in bench/results/ and check them against bench/budgets.json and the last recorded run (exit 2 on a miss or a regression)')
    .addOption(new Option('--scope <scopes>', 'smoke (seconds, no budgets), hot (per hot path, ~5 min), day100k, day1m, day10m, nightly (eight 100,000-list days in turn); comma-separated').default('hot'))
    .option('--cache <dir>', 'where generated days are kept (default ~/.cache/declmatch-bench, or DECLMATCH_BENCH_CACHE)')
    .option('--threads <n>', 'threads for the runs (default: the machine’s cores)', intOption('--threads', 1, 256))
    .option('--no-record', 'do not write the results to bench/results/')
    .option('--json', 'print the results and checks as JSON')
    .action(async (opts: { scope: string; cache?: string; threads?: number; record: boolean; json?: boolean }) => {
      const r = await runBench({ scope: opts.scope, record: opts.record, ...(opts.json ? { json: true } : {}), ...(opts.cache ? { cache: resolve(opts.cache) } : {}), ...(opts.threads ? { threads: opts.threads } : {}) });
      if (!r.ok) outcome = EXIT.CHECKS_FAILED;
    });
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  // `declmatch ... | head` closes stdout early: that is not an error
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(EXIT.OK);
    throw e;
  });
  const program = buildProgram();
  try {
    outcome = EXIT.OK;
    await program.parseAsync([...argv], { from: 'user' });
    return outcome;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.OK;
      return EXIT.USAGE;
    }
    const code = exitCodeOf(err);
    if (code === EXIT.IO) process.stderr.write(`declmatch: I/O error: ${(err as Error).message}\n`);
    else if (code === EXIT.CRASH) process.stderr.write(`declmatch: unexpected error (please report it): ${(err as Error)?.stack ?? String(err)}\n`);
    else process.stderr.write(`declmatch: ${(err as Error).message}\n`);
    return code;
  }
}

const IO_ERRORS = ['ENOSPC', 'EACCES', 'EPERM', 'EROFS', 'EIO', 'EMFILE', 'ENOTDIR', 'EISDIR'];

/** The exit code of an error that ends a command (other than commander's own). */
function exitCodeOf(err: unknown): number {
  if (err instanceof DeclmatchError) return err.exitCode;
  if (err instanceof PolicyError) return EXIT.DATA;
  if (err instanceof RangeError) return EXIT.USAGE;
  if (err instanceof DbError && err.code === 'DB_OUT_OF_MEMORY') return EXIT.OUT_OF_MEMORY;
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string' && IO_ERRORS.includes(e.code)) return EXIT.IO;
  return EXIT.CRASH;
}
