/**
 * report/ owns the HTML report of one business day: a single self-contained page (inline CSS and
 * SVG charts drawn here; no script, no network, no external font) built only from published tables:
 * the stats_* tables of publish/stats.ts, decisions, decision_reasons and, when the run recorded
 * them, run_stages. Everything taken from the data is HTML-escaped. The page carries no clock time,
 * so the same database gives the same bytes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Db } from '../db/duck.js';
import { STATS_METRICS } from '../publish/stats.js';
import { lit } from '../spec/schema.js';


/** Escapes text for HTML element content and attribute values. */
export function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

type Row = Record<string, unknown>;

const num = (v: unknown): number => (v === null || v === undefined ? 0 : typeof v === 'bigint' ? Number(v) : Number(v));
const isNull = (v: unknown) => v === null || v === undefined;

function fmtInt(v: unknown): string {
  if (isNull(v)) return '—';
  const s = typeof v === 'bigint' ? v.toString() : String(Math.round(Number(v)));
  return s.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}
/** An exact decimal text (or number) with thousands separators and `places` decimals. */
function fmtDec(v: unknown, places = 2): string {
  if (isNull(v)) return '—';
  const s = typeof v === 'string' ? v : Number(v).toFixed(places);
  const neg = s.startsWith('-');
  const [i = '0', f = ''] = (neg ? s.slice(1) : s).split('.');
  const frac = places ? `.${f.padEnd(places, '0').slice(0, places)}` : '';
  return `${neg ? '−' : ''}${i.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}${frac}`;
}
function fmtPct(v: unknown, places = 1): string {
  return isNull(v) ? '—' : `${(Number(v) * 100).toFixed(places)} %`;
}
function fmtDuration(v: unknown): string {
  if (isNull(v)) return '—';
  const s = Number(v);
  const a = Math.abs(s);
  const sign = s < 0 ? '−' : '';
  if (a < 60) return `${sign}${a} s`;
  if (a < 3600) return `${sign}${Math.floor(a / 60)} min ${a % 60} s`;
  if (a < 86400) return `${sign}${Math.floor(a / 3600)} h ${Math.floor((a % 3600) / 60)} min`;
  return `${sign}${Math.floor(a / 86400)} d ${Math.floor((a % 86400) / 3600)} h`;
}
function fmtDate(v: unknown): string {
  if (isNull(v)) return '—';
  return v instanceof Date ? v.toISOString().slice(0, 10) : String(v);
}
function fmtTs(v: unknown): string {
  if (isNull(v)) return '—';
  return v instanceof Date ? v.toISOString().slice(0, 19).replace('T', ' ') : String(v);
}
function fmtUnit(v: unknown, unit: string): string {
  switch (unit) {
    case 'CNY':
      return fmtDec(v, 2);
    case 'ratio':
      return fmtPct(v, 2);
    case 'seconds':
      return isNull(v) ? '—' : `${fmtDuration(Math.round(Number(v)))}`;
    default:
      return fmtInt(isNull(v) ? v : Math.round(Number(v)));
  }
}

// ---- charts -------------------------------------------------------------------------------------

export const DECISION_COLORS: Readonly<Record<string, string>> = {
  RELEASE: '#2e7d32',
  INSPECT: '#c62828',
  REVIEW: '#f2a900',
  REJECT: '#37474f',
  PENDING: '#1e6fd9',
  CANCELLED: '#a0a7ad',
};
const DECISIONS = ['RELEASE', 'INSPECT', 'REVIEW', 'REJECT', 'PENDING', 'CANCELLED'] as const;
const MIX_COLUMNS: Record<(typeof DECISIONS)[number], string> = {
  RELEASE: 'released',
  INSPECT: 'inspected',
  REVIEW: 'reviewed',
  REJECT: 'rejected',
  PENDING: 'pending',
  CANCELLED: 'cancelled',
};

interface Seg {
  name: string;
  value: number;
  color: string;
}
interface Bar {
  label: string;
  segs: Seg[];
  /** text shown right of the bar; defaults to the total */
  note?: string;
}

const WIDE_W = 860;
const NARROW_W = 560;
const ROW_H = 24;

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** Horizontal (stacked) bars, one row per item, scaled to the largest total or to `max`. */
function barChart(title: string, bars: Bar[], o: { max?: number; legend?: Seg[]; narrow?: boolean } = {}): string {
  if (!bars.length) return `<p class="empty">${esc(title)}: no data for the day.</p>`;
  const W = o.narrow ? NARROW_W : WIDE_W;
  const LABEL_W = o.narrow ? 240 : 230;
  const NOTE_W = o.narrow ? 110 : 130;
  const labelChars = Math.floor((LABEL_W - 10) / 8.2);
  const legendH = o.legend ? 26 : 0;
  const h = legendH + bars.length * ROW_H + 8;
  const max = o.max ?? Math.max(1, ...bars.map((b) => b.segs.reduce((s, x) => s + x.value, 0)));
  const plotW = W - LABEL_W - NOTE_W;
  const parts: string[] = [];
  if (o.legend) {
    let x = LABEL_W;
    for (const l of o.legend) {
      parts.push(`<rect x="${x}" y="6" width="12" height="12" rx="2" fill="${l.color}"/><text x="${x + 16}" y="16" class="lg">${esc(l.name)}</text>`);
      x += 24 + l.name.length * 7.2;
    }
  }
  bars.forEach((b, i) => {
    const y = legendH + i * ROW_H + 4;
    const total = b.segs.reduce((s, x) => s + x.value, 0);
    parts.push(`<text x="${LABEL_W - 8}" y="${y + 15}" text-anchor="end" class="lb">${esc(truncate(b.label, labelChars))}<title>${esc(b.label)}</title></text>`);
    parts.push(`<rect x="${LABEL_W}" y="${y + 2}" width="${plotW}" height="${ROW_H - 8}" class="track"/>`);
    let x = LABEL_W;
    for (const s of b.segs) {
      if (s.value <= 0) continue;
      const w = (s.value / max) * plotW;
      parts.push(`<rect x="${x.toFixed(2)}" y="${y + 2}" width="${Math.max(w, 0.5).toFixed(2)}" height="${ROW_H - 8}" fill="${s.color}"><title>${esc(`${b.label} — ${s.name}: ${fmtInt(s.value)}`)}</title></rect>`);
      x += w;
    }
    parts.push(`<text x="${LABEL_W + plotW + 8}" y="${y + 15}" class="nt">${esc(b.note ?? fmtInt(total))}</text>`);
  });
  return `<figure><figcaption>${esc(title)}</figcaption><svg viewBox="0 0 ${W} ${h}" width="100%" role="img" aria-label="${esc(title)}">${parts.join('')}</svg></figure>`;
}

const decisionLegend: Seg[] = DECISIONS.map((d) => ({ name: d, value: 0, color: DECISION_COLORS[d] as string }));
function decisionBars(rows: Row[], label: (r: Row) => string): Bar[] {
  return rows.map((r) => ({
    label: label(r),
    segs: DECISIONS.map((d) => ({ name: d, value: num(r[MIX_COLUMNS[d]]), color: DECISION_COLORS[d] as string })),
    note: `${fmtInt(r.lists)} · ¥${fmtDec(r.value_cny, 0)}`,
  }));
}

function table(head: string[], rows: string[][], cls = ''): string {
  if (!rows.length) return '<p class="empty">No rows for the day.</p>';
  return `<table class="${cls}"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

const CSS = `
:root{--fg:#1d2329;--muted:#5f6b76;--line:#dde3e8;--bg:#f6f8fa;--card:#fff;--accent:#1e6fd9}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC","WenQuanYi Micro Hei","Microsoft YaHei",sans-serif;color:var(--fg);background:var(--bg)}
header{background:#12263a;color:#fff;padding:22px 32px}
header h1{margin:0 0 4px;font-size:24px;font-weight:600}
header p{margin:0;color:#c7d3de}
nav{display:flex;flex-wrap:wrap;gap:4px 16px;padding:10px 32px;background:#fff;border-bottom:1px solid var(--line);font-size:13px}
nav a{color:var(--accent);text-decoration:none;white-space:nowrap}
main{max-width:1120px;margin:0 auto;padding:16px 24px 48px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:18px 22px;margin:18px 0}
h2{margin:0 0 12px;font-size:19px;font-weight:600}
h3{margin:18px 0 8px;font-size:15px;font-weight:600;color:var(--muted)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:12px}
.card{border:1px solid var(--line);border-radius:6px;padding:10px 12px;border-top:4px solid var(--c,#1e6fd9)}
.card .v{font-size:22px;font-weight:600;font-variant-numeric:tabular-nums}
.card .k{font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
table{border-collapse:collapse;width:100%;font-size:13.5px;font-variant-numeric:tabular-nums}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:#eef2f5;font-weight:600}
tbody tr:nth-child(even){background:#fafbfc}
td.n,th.n{text-align:right}
table.ex{table-layout:fixed}.ex th:nth-child(1){width:32%}.ex th:nth-child(2){width:13%}.ex th:nth-child(3){width:9%}
.up{color:#2e7d32}.down{color:#c62828}
figure{margin:8px 0 16px}
figcaption{font-weight:600;font-size:14px;margin-bottom:4px}
svg text{font:12px system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;fill:#1d2329}
svg .lb{fill:#1d2329}svg .nt{fill:#5f6b76}svg .lg{fill:#1d2329}
svg .track{fill:#eef2f5}
.empty,.note{color:var(--muted);font-style:italic}
.two{display:grid;grid-template-columns:1fr 1fr;gap:18px}
@media (max-width:900px){.two{grid-template-columns:1fr}}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.detail{word-break:break-word}
.pill{display:inline-block;padding:0 7px;border-radius:10px;color:#fff;font-size:12px;font-weight:600}
footer{color:var(--muted);font-size:12px;text-align:center;margin-top:24px}
@media print{body{background:#fff}section{break-inside:avoid}}
`;

// ---- data -----------------------------------------------------------------------------------------

async function tableExists(db: Db, name: string): Promise<boolean> {
  const r = await db.all(`SELECT count(*)::INTEGER AS n FROM duckdb_tables() WHERE table_name = ${lit(name)}`);
  return Number(r[0]?.n ?? 0) > 0;
}

const SECTIONS: readonly [id: string, title: string][] = [
  ['summary', 'Summary'],
  ['change', 'Change against the previous day'],
  ['decisions', 'Decisions by mode, district and reason'],
  ['match', 'Match rates'],
  ['pending', 'Pending backlog and orphans'],
  ['latency', 'Latency'],
  ['inspection', 'Inspection rate'],
  ['returns', 'Returns'],
  ['breakdowns', 'Offices, platforms, countries'],
  ['stages', 'Slowest stages of the run'],
  ['examples', 'Reasons with evidence'],
];
/** The section ids of the page, in order (`<section id="…">`). */
export const REPORT_SECTIONS: readonly string[] = SECTIONS.map(([id]) => id);

export interface ReportOptions {
  /** Business day, YYYY-MM-DD; default: the latest business_date in decisions. */
  date?: string;
  /** File to write the HTML to (its folder is created). */
  out: string;
}

/**
 * Writes the HTML report of one business day. Throws an Error naming the days present when the day
 * has no decisions, and one saying so when its statistics have not been computed.
 */
export async function writeReport(db: Db, o: ReportOptions): Promise<{ date: string; bytes: number }> {
  const html = await renderReport(db, o.date);
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, html.html);
  return { date: html.date, bytes: Buffer.byteLength(html.html) };
}

/** The report as a string (what writeReport writes). */
export async function renderReport(db: Db, wanted?: string): Promise<{ date: string; html: string }> {
  if (wanted !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(wanted)) throw new Error(`report: the date must be written YYYY-MM-DD, not ${JSON.stringify(wanted)}`);
  if (!(await tableExists(db, 'decisions'))) throw new Error('report: this database has no decisions table: run a business day first');
  const days = (await db.all(`SELECT DISTINCT strftime(business_date, '%Y-%m-%d') AS d FROM decisions ORDER BY 1`)).map((r) => String(r.d));
  if (!days.length) throw new Error('report: this database has no decisions yet: run a business day first');
  const date = wanted ?? (days[days.length - 1] as string);
  if (!days.includes(date)) {
    const shown = days.length > 20 ? [...days.slice(0, 5), '…', ...days.slice(-10)] : days;
    throw new Error(`report: no decisions for business day ${date} in this database; days present: ${shown.join(', ')}`);
  }
  const D = `DATE ${lit(date)}`;
  const hasStats = (await tableExists(db, 'stats_summary')) && Number((await db.all(`SELECT count(*)::INTEGER AS n FROM stats_summary WHERE business_date = ${D}`))[0]?.n ?? 0) > 0;
  if (!hasStats) throw new Error(`report: the statistics of ${date} have not been computed (no stats_summary rows for that day): run the day again to compute them`);

  const q = (sql: string) => db.all(sql);
  const summary = await q(`SELECT metric, unit, value, run_id FROM stats_summary WHERE business_date = ${D}`);
  const metric = new Map(summary.map((r) => [String(r.metric), r.value]));
  const runId = String(summary[0]?.run_id ?? '');
  const change = await q(`SELECT metric, unit, today, previous_date, previous, delta FROM stats_change WHERE business_date = ${D}`);
  const breakdown = await q(`SELECT * FROM stats_breakdown WHERE business_date = ${D} ORDER BY dimension, lists DESC, key`);
  const dim = (d: string) => breakdown.filter((r) => r.dimension === d);
  const match = (await q(`SELECT * FROM stats_match WHERE business_date = ${D}`))[0] ?? {};
  const pending = (await q(`SELECT * FROM stats_pending WHERE business_date = ${D}`))[0] ?? {};
  const pendingAge = await q(`SELECT * FROM stats_pending_age WHERE business_date = ${D} ORDER BY bucket_order`);
  const orphans = await q(`SELECT * FROM stats_orphans WHERE business_date = ${D} ORDER BY record_type`);
  const latency = await q(`SELECT * FROM stats_latency WHERE business_date = ${D} ORDER BY counterpart`);
  const inspection = await q(`SELECT * FROM stats_inspection WHERE business_date = ${D} ORDER BY dimension, key`);
  const returns = await q(`SELECT * FROM stats_returns WHERE business_date = ${D} ORDER BY dimension, returns DESC, key`);
  const stages = (await tableExists(db, 'run_stages'))
    ? await q(`SELECT stage, seconds, rows, run_id FROM run_stages WHERE business_date = ${D}
        AND run_id = coalesce((SELECT max(run_id) FROM run_stages WHERE business_date = ${D} AND run_id = ${lit(runId)}), (SELECT max(run_id) FROM run_stages WHERE business_date = ${D}))
        ORDER BY seconds DESC NULLS LAST, stage LIMIT 12`)
    : null;
  const examples = await q(`WITH r AS (SELECT reason, severity, agent_code, cop_no, detail,
        row_number() OVER (PARTITION BY reason ORDER BY agent_code, cop_no, detail) AS rn, count(*) OVER (PARTITION BY reason) AS n
      FROM decision_reasons WHERE business_date = ${D}),
    dd AS (SELECT agent_code, cop_no, min(decision) AS decision FROM decisions WHERE business_date = ${D} GROUP BY ALL)
    SELECT r.*, dd.decision FROM r LEFT JOIN dd USING (agent_code, cop_no) WHERE rn <= 3 ORDER BY reason, rn`);

  const out: string[] = [];
  const section = (id: string, body: string) => {
    const title = SECTIONS.find(([i]) => i === id)?.[1] ?? id;
    out.push(`<section id="${id}"><h2>${esc(title)}</h2>${body}</section>`);
  };

  // summary
  const card = (k: string, v: string, color = '#1e6fd9') => `<div class="card" style="--c:${color}"><div class="k">${esc(k)}</div><div class="v">${esc(v)}</div></div>`;
  section(
    'summary',
    `<div class="cards">${[
      card('Lists of the day', fmtInt(metric.get('lists')), '#12263a'),
      card('Value (CNY)', fmtDec(metric.get('value_cny'), 0), '#12263a'),
      ...DECISIONS.map((d) => card(d, fmtInt(metric.get(MIX_COLUMNS[d])), DECISION_COLORS[d])),
      card('Both matched', fmtPct(metric.get('both_match_rate')), '#6a1b9a'),
      card('Inspection rate', fmtPct(metric.get('inspection_rate'), 2), DECISION_COLORS.INSPECT),
      card('Pending backlog', fmtInt(metric.get('pending_backlog')), DECISION_COLORS.PENDING),
      card('Returns', fmtInt(metric.get('returns')), '#00838f'),
    ].join('')}</div>
    <p class="note">Lists of the day are the rows of <code>decisions</code> with business_date ${esc(date)}: every list decided or left pending by the run, and the lists cancelled that day. Values are Σ line totalPrice in CNY.</p>`,
  );

  // change
  const order = new Map(STATS_METRICS.map(([m], i) => [m, i]));
  const prevDate = change.find((r) => !isNull(r.previous_date))?.previous_date;
  const changeRows = [...change]
    .sort((a, b) => (order.get(String(a.metric)) ?? 99) - (order.get(String(b.metric)) ?? 99))
    .map((r) => {
      const unit = String(r.unit);
      const d = r.delta;
      const cls = isNull(d) || Number(d) === 0 ? '' : Number(d) > 0 ? 'up' : 'down';
      const delta = isNull(d) ? '—' : `${Number(d) > 0 ? '+' : ''}${unit === 'ratio' ? `${(Number(d) * 100).toFixed(2)} pp` : fmtUnit(d, unit)}`;
      return [esc(String(r.metric).replace(/_/g, ' ')), `<span class="n">${esc(fmtUnit(r.today, unit))}</span>`, esc(fmtUnit(r.previous, unit)), `<span class="${cls}">${esc(delta)}</span>`];
    });
  section(
    'change',
    (prevDate ? `<p>Against ${esc(fmtDate(prevDate))}, the previous business day in this database.</p>` : `<p class="note">No earlier business day in this database: nothing to compare with.</p>`) +
      table(['metric', esc(date), prevDate ? esc(fmtDate(prevDate)) : 'previous', 'change'], changeRows),
  );

  // decisions
  const reasonRows = dim('reason');
  section(
    'decisions',
    barChart('By trade mode', decisionBars(dim('trade_mode'), (r) => String(r.key)), { legend: decisionLegend }) +
      barChart('By customs district', decisionBars(dim('district'), (r) => `${r.key}${r.label ? ` ${r.label}` : ''}`), { legend: decisionLegend }) +
      barChart('By reason (a list counts under each of its reasons)', decisionBars(reasonRows, (r) => String(r.key)), { legend: decisionLegend }) +
      barChart('By decision', decisionBars(dim('decision'), (r) => String(r.key))),
  );

  // match
  const mrate = (k: string, label: string, color: string): Bar => ({ label, segs: [{ name: label, value: num(match[k]), color }], note: fmtPct(match[`${k.replace('_found', '')}_match_rate`], 2) });
  section(
    'match',
    `<p>Of ${esc(fmtInt(match.lists))} lists of the day (cancelled ones excluded; ${esc(fmtInt(match.invalid_lists))} invalid lists count as not found):</p>` +
      barChart('Lists whose counterpart was found', [mrate('order_found', 'order found', '#1e6fd9'), mrate('waybill_found', 'waybill found', '#00838f'), mrate('both_found', 'both found', '#6a1b9a')], { max: Math.max(1, num(match.lists)) }) +
      table(
        ['', 'lists', 'rate', 'holding it after the run'],
        [
          ['order found', fmtInt(match.order_found), fmtPct(match.order_match_rate, 2), fmtInt(match.order_held)],
          ['waybill found', fmtInt(match.waybill_found), fmtPct(match.waybill_match_rate, 2), fmtInt(match.waybill_held)],
          ['both found', fmtInt(match.both_found), fmtPct(match.both_match_rate, 2), '—'],
        ].map((r) => r.map(esc)),
      ),
  );

  // pending
  section(
    'pending',
    `<div class="cards">${[
      card('Pending lists', fmtInt(pending.pending_lists), DECISION_COLORS.PENDING),
      card('New today', fmtInt(pending.new_today), DECISION_COLORS.PENDING),
      card('Carried from earlier days', fmtInt(pending.carried), DECISION_COLORS.PENDING),
      card('Value (CNY)', fmtDec(pending.value_cny, 0), DECISION_COLORS.PENDING),
      card('Oldest age', fmtDuration(pending.max_age_seconds), DECISION_COLORS.PENDING),
      card('Median age', fmtDuration(pending.p50_age_seconds), DECISION_COLORS.PENDING),
    ].join('')}</div>` +
      `<p class="note">Age at the end of the business day (00:00 of the next day) since the list's appTime; the oldest pending list was declared ${esc(fmtTs(pending.oldest_app_time))}.</p>` +
      barChart(
        'Pending lists by age',
        pendingAge.map((r) => ({ label: String(r.bucket), segs: [{ name: String(r.bucket), value: num(r.lists), color: DECISION_COLORS.PENDING as string }], note: `${fmtInt(r.lists)} · ¥${fmtDec(r.value_cny, 0)}` })),
      ) +
      `<h3>Orphan orders and waybills (open past the grace period, held by no list)</h3>` +
      table(
        ['record', 'current', 'held', 'open', 'orphans', 'oldest orphan', '< 7 d', '7–30 d', '30–180 d', '≥ 180 d'],
        orphans.map((r) =>
          [r.record_type, fmtInt(r.current_items), fmtInt(r.held), fmtInt(r.open_items), fmtInt(r.orphans), fmtTs(r.oldest_app_time), fmtInt(r.orphans_under_7d), fmtInt(r.orphans_7_30d), fmtInt(r.orphans_30_180d), fmtInt(r.orphans_180d_plus)].map(esc),
        ),
      ),
  );

  // latency
  const latMax = Math.max(1, ...latency.map((r) => num(r.p99_seconds)));
  section(
    'latency',
    `<p class="note">Seconds from the order's or waybill's appTime to the list's appTime, over the lists of the day that found it; exact percentiles (observed values, quantile_disc).</p>` +
      barChart(
        'Percentiles (p50 / p90 / p99)',
        latency.flatMap((r) =>
          (['p50', 'p90', 'p99'] as const).map((p, i) => ({
            label: `${r.counterpart} ${p}`,
            segs: [{ name: p, value: Math.max(0, num(r[`${p}_seconds`])), color: ['#7fb3f0', '#1e6fd9', '#0d3c78'][i] as string }],
            note: fmtDuration(r[`${p}_seconds`]),
          })),
        ),
        { max: latMax },
      ) +
      table(
        ['counterpart', 'lists', 'p50', 'p90', 'p99', 'min', 'max'],
        latency.map((r) => [r.counterpart, fmtInt(r.lists), fmtDuration(r.p50_seconds), fmtDuration(r.p90_seconds), fmtDuration(r.p99_seconds), fmtDuration(r.min_seconds), fmtDuration(r.max_seconds)].map(esc)),
      ),
  );

  // inspection
  const inspBars = (d: string) =>
    inspection
      .filter((r) => r.dimension === d)
      .map((r) => ({ label: String(r.key), segs: [{ name: 'inspection rate', value: num(r.inspection_rate), color: DECISION_COLORS.INSPECT as string }], note: `${fmtPct(r.inspection_rate, 2)} (${fmtInt(r.inspected)}/${fmtInt(r.eligible)})` }));
  const inspMax = Math.max(0.0001, ...inspection.map((r) => num(r.inspection_rate)));
  section(
    'inspection',
    `<p class="note">Inspection rate = INSPECT / (RELEASE + INSPECT): the share of the lists that reached risk selection that were selected.</p>` +
      `<div class="two"><div>${barChart('By trade mode', inspBars('trade_mode'), { max: inspMax, narrow: true })}</div><div>${barChart('By AEO status of the e-commerce enterprise', inspBars('aeo'), { max: inspMax, narrow: true })}</div></div>` +
      table(
        ['dimension', 'key', 'lists', 'eligible', 'inspected', 'rate', 'risk profile', 'value band', 'random'],
        inspection.map((r) => [r.dimension, r.key, fmtInt(r.lists), fmtInt(r.eligible), fmtInt(r.inspected), fmtPct(r.inspection_rate, 2), fmtInt(r.risk_profile), fmtInt(r.value_band), fmtInt(r.random_sample)].map(esc)),
      ),
  );

  // returns
  const retBars = (d: string, color: (k: string) => string) => returns.filter((r) => r.dimension === d).map((r) => ({ label: String(r.key), segs: [{ name: String(r.key), value: num(r.returns), color: color(String(r.key)) }] }));
  const totalReturns = returns.find((r) => r.dimension === 'all')?.returns;
  section(
    'returns',
    `<p>${esc(fmtInt(totalReturns))} return declarations (CEB213) decided on ${esc(date)}.</p>` +
      `<div class="two"><div>${barChart('By decision', retBars('decision', (k) => (k === 'ACCEPT' ? '#2e7d32' : '#37474f')), { narrow: true })}</div><div>${barChart('By reason', retBars('reason', () => '#00838f'), { narrow: true })}</div></div>`,
  );

  // breakdowns
  const top = (d: string, n = 15) => dim(d).slice(0, n);
  const btable = (d: string, keyName: string) => {
    const rows = dim(d);
    const shown = top(d);
    return (
      table(
        [keyName, 'lists', 'value CNY', ...DECISIONS.map((x) => x.toLowerCase())],
        shown.map((r) => [esc(`${r.key}${r.label ? ` — ${r.label}` : ''}`), esc(fmtInt(r.lists)), esc(fmtDec(r.value_cny)), ...DECISIONS.map((x) => esc(fmtInt(r[MIX_COLUMNS[x]])))]),
      ) + (rows.length > shown.length ? `<p class="note">${rows.length - shown.length} more in stats_breakdown (dimension '${esc(d)}').</p>` : '')
    );
  };
  section(
    'breakdowns',
    `<h3>Customs offices</h3>${btable('customs_office', 'office')}<h3>Platforms (ebpCode)</h3>${btable('ebp_code', 'platform')}` +
      `<h3>Destination countries</h3>${btable('country', 'country')}<h3>Statistics flag</h3>${btable('statistics_flag', 'flag')}<h3>AEO status</h3>${btable('aeo', 'AEO')}`,
  );

  // stages
  if (stages === null || !stages.length) {
    section('stages', `<p class="note">Stage timings not recorded for this run${stages === null ? ' (this database has no run_stages table)' : ''}.</p>`);
  } else {
    const maxS = Math.max(0.000001, ...stages.map((r) => num(r.seconds)));
    section(
      'stages',
      barChart(
        `Slowest stages of run ${String(stages[0]?.run_id ?? '')}`,
        stages.map((r) => ({ label: String(r.stage), segs: [{ name: String(r.stage), value: num(r.seconds), color: '#546e7a' }], note: `${num(r.seconds).toFixed(2)} s` })),
        { max: maxS },
      ) +
        table(
          ['stage', 'seconds', 'rows', 'rows / s'],
          stages.map((r) => [r.stage, num(r.seconds).toFixed(3), fmtInt(r.rows), isNull(r.rows) || num(r.seconds) <= 0 ? '—' : fmtInt(num(r.rows) / num(r.seconds))].map(esc)),
        ),
    );
  }

  // examples
  const byReason = new Map<string, Row[]>();
  for (const r of examples) {
    const k = String(r.reason);
    (byReason.get(k) ?? byReason.set(k, []).get(k)!).push(r);
  }
  const exBody = [...byReason.entries()]
    .map(([reason, rows]) => {
      const n = rows[0]?.n;
      return `<h3><code>${esc(reason)}</code> — ${esc(fmtInt(n))} list${num(n) === 1 ? '' : 's'}</h3>${table(
        ['list (agentCode | copNo)', 'decision', 'severity', 'evidence'],
        rows.map((r) => [
          `<span class="mono">${esc(`${r.agent_code} | ${r.cop_no}`)}</span>`,
          r.decision ? `<span class="pill" style="background:${DECISION_COLORS[String(r.decision)] ?? '#777'}">${esc(r.decision)}</span>` : '—',
          esc(r.severity),
          `<span class="detail">${esc(r.detail ?? '')}</span>`,
        ]),
        'ex',
      )}`;
    })
    .join('');
  section('examples', exBody || '<p class="empty">No reasons on the day.</p>');

  const nav = SECTIONS.map(([id, t]) => `<a href="#${id}">${esc(t)}</a>`).join('\n');
  const html = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>declmatch report — ${esc(date)}</title>
<style>${CSS}</style>
</head>
<body>
<header><h1>Declaration matching — business day ${esc(date)}</h1><p>run ${esc(runId)} · statistics from the stats_* tables · all times China Standard Time</p></header>
<nav>${nav}</nav>
<main>
${out.join('\n')}
<footer>declmatch · generated from the published tables of the database; definitions in the column comments of the stats_* tables</footer>
</main>
</body>
</html>
`;
  return { date, html };
}
