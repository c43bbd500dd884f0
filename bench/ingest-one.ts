/** One ingest run for bench/ingest.ts: prints seconds, bytes, MB/s, peak RSS and a hash of the staged tables. */
import { createHash } from 'node:crypto';
import { openDatabase } from '../src/db/duck.js';
import { ingestDay } from '../src/ingest/ingest.js';
import { RECORD_SPECS } from '../src/spec/fields.js';
import { stagingTable } from '../src/spec/schema.js';

const [dir, threadsArg] = process.argv.slice(2);
const threads = Number(threadsArg ?? 1);
const db = await openDatabase(':memory:', { threads: Math.max(1, threads) });
const t0 = process.hrtime.bigint();
const r = await ingestDay(dir as string, db, { threads });
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const hash = createHash('sha256');
for (const spec of RECORD_SPECS.map((s) => stagingTable(s)).concat(['stg_quarantine'])) {
  const rows = await db.all(`SELECT count(*)::BIGINT AS n, sum(hash(COLUMNS(*)))::VARCHAR AS h FROM (SELECT * FROM ${spec})`);
  hash.update(JSON.stringify(rows, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
}
db.close();
const records = r.ledger.reduce((s, l) => s + l.read, 0);
process.stdout.write(
  JSON.stringify({
    threads,
    seconds: Math.round(seconds * 100) / 100,
    bytes: r.bytes,
    mbPerSecond: Math.round((r.bytes / 1e6 / seconds) * 10) / 10,
    records,
    recordsPerSecond: Math.round(records / seconds),
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    files: r.files,
    hash: hash.digest('hex'),
  }) + '\n',
);
