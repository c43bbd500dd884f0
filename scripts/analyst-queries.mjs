#!/usr/bin/env node
// Runs every SQL block of the README's "Analyst queries" section against a declmatch database,
// through a stock DuckDB client that is not the project's own: @duckdb/duckdb-wasm (DuckDB 1.4),
// installed on first use into a scratch folder (npm registry only). `--client project` uses the
// project's @duckdb/node-api instead (what `npm test` does, offline).
//
//   node scripts/analyst-queries.mjs out/sample/declmatch.duckdb [--client stock|project] [--scratch DIR]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const WASM = '@duckdb/duckdb-wasm@1.32.0';

/** The SQL statements of the README's "Analyst queries" section, in order. */
export function readmeQueries(readme = readFileSync(join(ROOT, 'README.md'), 'utf8')) {
  const start = readme.indexOf('\n## Analyst queries');
  if (start < 0) throw new Error('README.md has no "## Analyst queries" section');
  const end = readme.indexOf('\n## ', start + 5);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const out = [];
  for (const m of section.matchAll(/```sql\n([\s\S]*?)```/g))
    for (const s of m[1].split(/;\s*\n/)) if (s.trim()) out.push(s.trim().replace(/;$/, ''));
  return out;
}

async function stockClient(dbFile, scratch) {
  if (!existsSync(join(scratch, 'node_modules', '@duckdb', 'duckdb-wasm'))) {
    mkdirSync(scratch, { recursive: true });
    if (!existsSync(join(scratch, 'package.json'))) writeFileSync(join(scratch, 'package.json'), '{"private":true}\n');
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--silent', WASM], { cwd: scratch, stdio: 'inherit' });
  }
  const require = createRequire(join(scratch, 'package.json'));
  const main = require.resolve('@duckdb/duckdb-wasm/dist/duckdb-node-blocking.cjs');
  const duckdb = require(main);
  const dist = dirname(main);
  const bundles = {
    mvp: { mainModule: join(dist, 'duckdb-mvp.wasm'), mainWorker: join(dist, 'duckdb-node-mvp.worker.cjs') },
    eh: { mainModule: join(dist, 'duckdb-eh.wasm'), mainWorker: join(dist, 'duckdb-node-eh.worker.cjs') },
  };
  const db = await duckdb.createDuckDB(bundles, new duckdb.VoidLogger(), duckdb.NODE_RUNTIME);
  await db.instantiate();
  // the wasm file system reads a registered copy of the file: read-only by construction
  db.registerFileBuffer('declmatch.duckdb', new Uint8Array(readFileSync(dbFile)));
  db.open({ path: ':memory:' });
  const c = db.connect();
  const version = c.query('SELECT version() AS v').toArray()[0].toJSON().v;
  c.query(`ATTACH 'declmatch.duckdb' AS published (READ_ONLY)`);
  c.query('USE published');
  return { name: `duckdb-wasm ${version}`, all: async (sql) => c.query(sql).toArray().map((r) => r.toJSON()) };
}

async function projectClient(dbFile) {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const inst = await DuckDBInstance.create(dbFile, { access_mode: 'READ_ONLY' });
  const c = await inst.connect();
  const v = (await c.runAndReadAll('SELECT version() AS v')).getRowObjectsJS()[0].v;
  return { name: `@duckdb/node-api ${v}`, all: async (sql) => (await c.runAndReadAll(sql)).getRowObjectsJS() };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const dbFile = args.find((a) => !a.startsWith('--') && !/^(stock|project)$/.test(a));
  const client = args.includes('--client') ? args[args.indexOf('--client') + 1] : 'stock';
  const scratch = args.includes('--scratch') ? resolve(args[args.indexOf('--scratch') + 1]) : join(tmpdir(), 'declmatch-stock-duckdb');
  if (!dbFile || !existsSync(dbFile)) {
    process.stderr.write('usage: node scripts/analyst-queries.mjs DB_FILE [--client stock|project] [--scratch DIR]\n');
    process.exit(64);
  }
  const db = client === 'project' ? await projectClient(resolve(dbFile)) : await stockClient(resolve(dbFile), scratch);
  const queries = readmeQueries();
  let failed = 0;
  for (const [i, q] of queries.entries()) {
    try {
      const rows = await db.all(q);
      process.stdout.write(`query ${i + 1}: ${rows.length} row(s)  ${q.replace(/\s+/g, ' ').slice(0, 90)}\n`);
    } catch (e) {
      failed++;
      process.stdout.write(`query ${i + 1}: FAILED ${e.message}\n  ${q}\n`);
    }
  }
  process.stdout.write(`${queries.length - failed}/${queries.length} README queries ran with ${db.name}\n`);
  process.exit(failed ? 1 : 0);
}
