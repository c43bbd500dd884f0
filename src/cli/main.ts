/**
 * cli/ owns the `declmatch` command line: argument parsing, progress, the human summary and exit
 * codes. It calls the stages; it holds no business logic of its own.
 */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { availableParallelism } from 'node:os';
import { DbError, openDatabase } from '../db/duck.js';
import { generateDays, type DaySummary } from '../generate/generator.js';
import { ingestDay } from '../ingest/ingest.js';
import { decideDay, whatIf } from '../match/run.js';
import { compareWithTruth } from '../generate/compare.js';
import { basename } from 'node:path';
import { loadPolicy, PolicyError } from '../policy/policy.js';
import { loadReference } from '../policy/reference.js';
import { DeclmatchError, EXIT, EXIT_CODE_HELP } from './errors.js';
import { makeLogger } from './log.js';
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
function rateOption(v: string): number {
  const n = Number(v);
  if (!/^\d*\.?\d+$/.test(v) || n < 0 || n > 1) throw new InvalidArgumentError('--anomaly-rate must be a number between 0 and 1');
  return n;
}
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

/** Opens the database; one held by another process is exit 75 with a message that says so. */
async function openForCli(path: string, threads: number) {
  try {
    return await openDatabase(resolve(path), { threads });
  } catch (e) {
    if (e instanceof DbError && e.code === 'DB_LOCKED') throw new DeclmatchError('DB_LOCKED', `${path} is in use by another process; try again when it is free`, EXIT.TEMP_FAIL, { cause: e });
    throw e;
  }
}

interface IngestCliOptions {
  db: string;
  threads: number;
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
      `  matching and publishing are not built yet (issue #4, #5): the staging tables are the output for now.`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    progress.stop();
    db.close();
  }
}

interface RunCliOptions extends IngestCliOptions {
  date?: string;
  policy?: string;
  reference?: string;
}

/** ingest + decide one business day. Publishing atomically, statistics and the report are issue #5. */
async function runRun(dayDir: string, o: RunCliOptions): Promise<void> {
  const dir = dayFolder(dayDir);
  const date = businessDate(dir, o.date);
  const policy = loadPolicy(o.policy);
  const reference = loadReference(o.reference);
  const runId = `run-${date}-${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${process.pid}`;
  const log = makeLogger({ quiet: o.quiet }).child({ run_id: runId });
  const db = await openForCli(o.db, o.threads);
  const progress = makeProgress({ quiet: o.quiet || o.json, unit: 'MB' });
  try {
    const t0 = Date.now();
    const ingest = await ingestDay(dir, db, {
      threads: o.threads,
      log: log.child({ stage: 'ingest' }),
      onProgress: (p) => progress.update(Math.round(p.bytes / 1e6), Math.max(1, Math.round(p.bytesTotal / 1e6)), `ingest ${p.files}/${p.filesTotal} files, ${p.records} records`),
    });
    progress.stop();
    const t1 = Date.now();
    const decided = await decideDay(db, { date, runId, policy, reference });
    const t2 = Date.now();
    const returns = await db.all(`SELECT decision, count(*)::INTEGER AS n FROM return_decisions WHERE business_date = DATE '${date}' GROUP BY ALL ORDER BY ALL`);
    const quarantine = await db.all(`SELECT count(*)::INTEGER AS n FROM stg_quarantine`);
    log.info({ stage: 'decide', decisions: decided.counts, seconds: (t2 - t1) / 1000 }, 'day decided');
    const summary = {
      runId,
      businessDate: date,
      db: resolve(o.db),
      decisions: decided.counts,
      returns: Object.fromEntries(returns.map((r) => [String(r.decision), Number(r.n)])),
      quarantineRows: Number(quarantine[0]?.n ?? 0),
      files: ingest.files,
      ledger: ingest.ledger,
      seconds: { ingest: (t1 - t0) / 1000, decide: (t2 - t1) / 1000 },
    };
    if (o.json) {
      process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
      return;
    }
    const fmt = (m: Record<string, number | undefined>) =>
      Object.entries(m)
        .sort()
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none';
    process.stdout.write(
      [
        `declmatch run ${date}: ${resolve(o.db)}`,
        `  decisions: ${fmt(decided.counts)}`,
        `  returns: ${fmt(summary.returns)}`,
        `  quarantine rows: ${summary.quarantineRows}; files: ${ingest.files.read} read, ${ingest.files.malformed} quarantined, ${ingest.files.skipped} skipped, ${ingest.files.unknown} not recognised`,
        `  time: ingest ${summary.seconds.ingest.toFixed(1)} s, decide ${summary.seconds.decide.toFixed(1)} s`,
        `  tables: decisions, decision_reasons, return_decisions (the published set of issue #5 is not built yet)`,
      ].join('\n') + '\n',
    );
  } finally {
    progress.stop();
    db.close();
  }
}

function notBuilt(what: string, issue: number): never {
  throw new DeclmatchError('NOT_BUILT', `declmatch ${what} is not built yet (tracked in issue #${issue}).`, EXIT.UNAVAILABLE);
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
    .description('the quick start (`npm start`): generate a two-day sample into ./out/sample, run both days into out/sample/declmatch.duckdb and check them against the ground truth')
    .option('--out <dir>', 'where to write', 'out/sample')
    .option('-q, --quiet', 'no progress')
    .action(async (opts: { out: string; quiet?: boolean }) => {
      await runGenerate({ out: opts.out, date: '2025-06-12', days: 2, lists: 2000, seed: 'demo', format: 'xml', anomalyRate: 0.05, force: true, quiet: opts.quiet ?? false, logLevel: process.env.DECLMATCH_LOG_LEVEL ?? 'warn' });
      const dbFile = join(resolve(opts.out), 'declmatch.duckdb');
      rmSync(dbFile, { force: true });
      rmSync(`${dbFile}.wal`, { force: true });
      for (const date of ['2025-06-12', '2025-06-13']) {
        process.stdout.write('\n');
        process.env.DECLMATCH_LOG_LEVEL ??= 'warn';
        await runRun(join(resolve(opts.out), date), { db: dbFile, threads: availableParallelism(), quiet: opts.quiet ?? false });
        const db = await openDatabase(dbFile, { threads: 1 });
        try {
          const a = await compareWithTruth(db, join(resolve(opts.out), `${date}.truth`), date);
          process.stdout.write(`  against the ground truth: ${a.listsAgreeing}/${a.lists} lists and ${a.returnsAgreeing}/${a.returns} returns agree\n`);
        } finally {
          db.close();
        }
      }
      process.stdout.write(`\nQuery the results: duckdb ${dbFile} "SELECT decision, count(*) FROM decisions GROUP BY ALL"\n`);
    });

  program
    .command('ingest')
    .description('read a business day (CEB XML, CSV, Parquet) into DuckDB staging tables with quarantine and ledger: the first stage of `run`')
    .argument('<day-dir>', 'folder of the day’s files')
    .requiredOption('--db <file>', 'DuckDB database file')
    .option('--threads <n>', 'parse worker threads (default: the machine’s cores)', intOption('--threads', 1, 256), availableParallelism())
    .option('--json', 'print the result as JSON')
    .option('-q, --quiet', 'no progress, warnings only')
    .action(async (dayDir: string, opts: IngestCliOptions) => runIngest(dayDir, opts));

  program
    .command('run')
    .description('ingest and decide one business day: decisions, reasons and return decisions in the database (publishing, statistics and the report: issue #5)')
    .argument('<day-dir>', 'folder of the day’s files (named YYYY-MM-DD, or give --date)')
    .requiredOption('--db <file>', 'DuckDB database (created if missing; earlier days’ state is read from it)')
    .option('--date <YYYY-MM-DD>', 'business date (default: the folder name)', dateOption)
    .option('--threads <n>', 'parse worker threads (default: the machine’s cores)', intOption('--threads', 1, 256), availableParallelism())
    .option('--policy <file>', 'policy file replacing the bundled one')
    .option('--reference <dir>', 'reference data folder replacing bundled files of the same name')
    .option('--json', 'print the run summary as JSON')
    .option('-q, --quiet', 'no progress, warnings only')
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
    .description('write the HTML report of a published day (not built yet)')
    .requiredOption('--db <file>')
    .option('--date <YYYY-MM-DD>')
    .option('--out <file.html>')
    .action(() => notBuilt('report', 5));
  program
    .command('bench')
    .description('run the benchmark suite (not built yet)')
    .option('--scope <s>')
    .option('--json')
    .action(() => notBuilt('bench', 6));
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
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.OK;
      return EXIT.USAGE;
    }
    if (err instanceof DeclmatchError) {
      process.stderr.write(`declmatch: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof PolicyError) {
      process.stderr.write(`declmatch: ${err.message}\n`);
      return EXIT.DATA;
    }
    if (err instanceof RangeError) {
      process.stderr.write(`declmatch: ${err.message}\n`);
      return EXIT.USAGE;
    }
    const e = err as NodeJS.ErrnoException;
    if (e && typeof e.code === 'string' && ['ENOSPC', 'EACCES', 'EPERM', 'EROFS', 'EIO', 'EMFILE', 'ENOTDIR', 'EISDIR'].includes(e.code)) {
      process.stderr.write(`declmatch: I/O error: ${e.message}\n`);
      return EXIT.IO;
    }
    process.stderr.write(`declmatch: unexpected error (please report it): ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.CRASH;
  }
}
