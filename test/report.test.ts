/**
 * The HTML report (report/report.ts) of the generated statistics sample: it renders every section
 * from the published tables, escapes what comes from the data, names the days present when asked
 * for a missing one, shows the run's stage timings when recorded, and renders in headless Chromium.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { Db } from '../src/db/duck.js';
import { REPORT_SECTIONS, writeReport } from '../src/report/report.js';
import { SAMPLE_DATES, statsSample } from './stats-sample.js';

const tmp = mkdtempSync(join(tmpdir(), 'declmatch-report-'));
let db: Db;
before(async () => ({ db } = await statsSample(tmp)));
after(() => {
  db?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const [D1, D2] = SAMPLE_DATES;
const HOSTILE = `<script>alert("x")</script> & 'quotes'`;
const root = fileURLToPath(new URL('../..', import.meta.url)); // dist/test/ → the repository

function findChromium(): string | null {
  const names = process.env.CHROMIUM ? [process.env.CHROMIUM] : ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];
  for (const n of names) {
    if (n.includes('/')) {
      if (existsSync(n)) return n;
      continue;
    }
    for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir && existsSync(join(dir, n))) return join(dir, n);
  }
  return null;
}

describe('the HTML report of a day', () => {
  test('defaults to the latest day and holds every section, with no script and nothing fetched from elsewhere', async () => {
    const out = join(tmp, 'latest.html');
    const r = await writeReport(db, { out });
    assert.equal(r.date, D2);
    const html = readFileSync(out, 'utf8');
    assert.equal(r.bytes, statSync(out).size);
    assert.match(html, /^<!DOCTYPE html>/);
    for (const id of REPORT_SECTIONS) assert.match(html, new RegExp(`<section id="${id}"><h2>[^<]+</h2>`), id);
    assert.doesNotMatch(html, /<script|<link|<img|<iframe|@import|url\(|https?:\/\//i);
    assert.match(html, /<svg /);
    assert.match(html, new RegExp(`Against ${D1}, the previous business day`));
    // figures from the statistics tables
    const lists = await db.all(`SELECT count(*)::INTEGER AS n FROM decisions WHERE business_date = DATE '${D2}'`);
    assert.match(html, new RegExp(`<div class="k">Lists of the day</div><div class="v">${lists[0]?.n}</div>`));
    for (const reason of ['ORDER_MISSING', 'RISK_PROFILE', 'INVALID_RECORD']) assert.match(html, new RegExp(`<code>${reason}</code> — \\d+ lists?`), reason);
    assert.match(html, /Stage timings not recorded for this run \(this database has no run_stages table\)/);
  });

  test('the first day has nothing to compare with; the same database gives the same page', async () => {
    const a = await writeReport(db, { date: D1, out: join(tmp, 'd1.html') });
    const b = await writeReport(db, { date: D1, out: join(tmp, 'd1-again.html') });
    assert.equal(a.date, D1);
    const html = readFileSync(join(tmp, 'd1.html'), 'utf8');
    assert.match(html, /No earlier business day in this database: nothing to compare with/);
    assert.equal(html, readFileSync(join(tmp, 'd1-again.html'), 'utf8'));
    assert.equal(a.bytes, b.bytes);
  });

  test('a day that is not in the database is an error naming the days that are', async () => {
    await assert.rejects(writeReport(db, { date: '2024-01-01', out: join(tmp, 'x.html') }), (e: Error) => {
      assert.match(e.message, /2024-01-01/);
      assert.match(e.message, new RegExp(`days present: ${D1}, ${D2}`));
      return true;
    });
    assert.equal(existsSync(join(tmp, 'x.html')), false);
    await assert.rejects(writeReport(db, { date: '13/06/2025', out: join(tmp, 'y.html') }), /YYYY-MM-DD/);
  });

  test('text from the data is escaped: a hostile reason detail, key and stage name', async () => {
    await db.run(`INSERT INTO decision_reasons SELECT business_date, agent_code, cop_no, 'ZZ_HOSTILE', 'R', '${HOSTILE.replace(/'/g, "''")}'
      FROM decisions WHERE business_date = DATE '${D2}' ORDER BY agent_code, cop_no LIMIT 1`);
    await db.run(`INSERT INTO stats_breakdown VALUES (DATE '${D2}', 'hostile', 'ebp_code', '<img src=x onerror=alert(1)>', NULL, 999999, 1, 0, 0, 0, 0, 0, 0)`);
    await db.run(`CREATE TABLE run_stages (run_id VARCHAR, business_date DATE, stage VARCHAR, seconds DOUBLE, rows BIGINT)`);
    await db.run(`INSERT INTO run_stages VALUES ('run-${D2}', DATE '${D2}', 'match', 2.5, 600), ('run-${D2}', DATE '${D2}', 'parse <b>', 4.25, 1200),
      ('run-${D2}', DATE '${D2}', 'load', 0.5, NULL), ('run-${D1}', DATE '${D1}', 'other day', 99, 1)`);
    try {
      const out = join(tmp, 'hostile.html');
      await writeReport(db, { date: D2, out });
      const html = readFileSync(out, 'utf8');
      assert.doesNotMatch(html, /<script|<img|<b>/i);
      assert.ok(html.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quotes&#39;'), 'the detail is shown, escaped');
      assert.ok(html.includes('&lt;img src=x onerror=alert(1)&gt;'));
      assert.match(html, /<code>ZZ_HOSTILE<\/code> — 1 list</);
      // the run's stages, slowest first; another day's are not shown
      const stages = html.slice(html.indexOf('<section id="stages">'), html.indexOf('<section id="examples">'));
      assert.ok(stages.indexOf('parse &lt;b&gt;') < stages.indexOf('>match<'), 'slowest first');
      assert.match(stages, /4\.250/);
      assert.doesNotMatch(stages, /other day|not recorded/);
    } finally {
      await db.run(`DELETE FROM decision_reasons WHERE reason = 'ZZ_HOSTILE'`);
      await db.run(`DELETE FROM stats_breakdown WHERE run_id = 'hostile'`);
      await db.run(`DROP TABLE run_stages`);
    }
  });

  test('renders in headless Chromium (scripts/report-screenshot.sh)', async (t) => {
    const chromium = findChromium();
    if (!chromium) {
      t.skip('no Chromium binary found (chromium, chromium-browser, google-chrome or $CHROMIUM): install it with apt-get install -y chromium; CI does');
      return;
    }
    const html = join(tmp, 'shot.html');
    await writeReport(db, { out: html });
    const png = join(tmp, 'report.png');
    const r = spawnSync('bash', [join(root, 'scripts', 'report-screenshot.sh'), html, png, '1280x4000'], {
      encoding: 'utf8',
      timeout: 90_000,
      env: { ...process.env, CHROMIUM: chromium },
    });
    assert.equal(r.status, 0, `${r.stderr}\n${r.stdout}`);
    const buf = readFileSync(png);
    assert.deepEqual([...buf.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG file');
    assert.deepEqual([buf.readUInt32BE(16), buf.readUInt32BE(20)], [1280, 4000], 'of the window size');
    assert.ok(buf.length > 50_000, `a page with content, not a blank one (${buf.length} bytes)`);
    if (process.env.DECLMATCH_REPORT_SCREENSHOT) copyFileSync(png, process.env.DECLMATCH_REPORT_SCREENSHOT);
  });
});
