/**
 * ingest/ owns reading a business day into DuckDB staging: discover the day's files, parse them
 * in a worker pool into Arrow batches and quarantine rows, load the batches, keep the ledger.
 *
 * discover: lists a day folder and classifies every file. XML by its root element (read from the
 * first bytes, gunzipped if needed, any prefix bound to the CEB namespace), tabular files by name
 * (RULES.md §1). Nothing is dropped: files that cannot be used are reported with a reason.
 */
import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, inflateRawSync } from 'node:zlib';
import { CEB_NAMESPACE, MESSAGE_ROOTS, RECORD_SPECS, type RecordTypeName } from '../spec/fields.js';

export type FileKind = 'xml' | 'csv' | 'parquet';

export interface DayFile {
  /** File name inside the day folder (the input order of latest wins is by this name). */
  name: string;
  path: string;
  bytes: number;
  kind: FileKind;
  /** The record type it holds; null when it is to be skipped or is unusable. */
  recordType: RecordTypeName | null;
  /** Why it is not read ('skipped': a CEB message this pipeline does not read; 'unknown': anything else). */
  verdict: 'read' | 'skipped' | 'unknown';
  detail: string;
}

const TABLES = new Map(RECORD_SPECS.map((s) => [s.table, s.name]));

/** Most bytes the sniffed start of a gzip file may inflate to (CEB XML compresses ~10:1). */
const SNIFF_INFLATE_MAX = 8 * 1024 * 1024;

/**
 * Reads up to `n` bytes from the start of a file, gunzipping a gzip file as far as it goes. What
 * the first `n` compressed bytes inflate to is capped (`SNIFF_INFLATE_MAX`; a gzip bomb's would be
 * ~1000 times `n`): beyond it only the first gzip member is inflated, or the root is left unsniffed
 * (the reader judges the file either way).
 */
function head(path: string, n = 64 * 1024): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const got = readSync(fd, buf, 0, n, 0);
    const b = buf.subarray(0, got);
    if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) {
      try {
        return gunzipSync(b, { finishFlush: 2 /* Z_SYNC_FLUSH: accept a truncated stream */, maxOutputLength: SNIFF_INFLATE_MAX }).subarray(0, n);
      } catch {
        // a gzip header with a broken body: try the raw deflate payload after the 10-byte header
        try {
          return inflateRawSync(b.subarray(10), { finishFlush: 2, maxOutputLength: SNIFF_INFLATE_MAX }).subarray(0, n);
        } catch {
          return Buffer.alloc(0);
        }
      }
    }
    return b;
  } finally {
    closeSync(fd);
  }
}

/**
 * The root element of an XML document from its first bytes: local name and namespace, or null
 * when none can be found (not XML, or the root starts too far in).
 */
export function sniffRoot(bytes: Buffer): { local: string; namespace: string | null } | null {
  let s = bytes.toString('utf8');
  if (s.charCodeAt(0) === 0xfeff) s = s.slice(1);
  let i = 0;
  for (;;) {
    const lt = s.indexOf('<', i);
    if (lt < 0) return null;
    if (s.startsWith('<?', lt)) {
      const e = s.indexOf('?>', lt + 2);
      if (e < 0) return null;
      i = e + 2;
      continue;
    }
    if (s.startsWith('<!--', lt)) {
      const e = s.indexOf('-->', lt + 4);
      if (e < 0) return null;
      i = e + 3;
      continue;
    }
    if (s.startsWith('<!', lt)) return null; // DOCTYPE or other declarations: the reader will refuse the file
    const m = /^<([A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?)([^>]*)>?/.exec(s.slice(lt, lt + 8192));
    if (!m) return null;
    const qname = m[1] ?? '';
    const attrs = m[2] ?? '';
    const colon = qname.indexOf(':');
    const prefix = colon >= 0 ? qname.slice(0, colon) : '';
    const local = colon >= 0 ? qname.slice(colon + 1) : qname;
    const re = prefix ? new RegExp(`xmlns:${prefix}\\s*=\\s*["']([^"']*)["']`) : /xmlns\s*=\s*["']([^"']*)["']/;
    const ns = re.exec(attrs);
    return { local, namespace: ns ? (ns[1] ?? null) : null };
  }
}

export function classify(name: string, path: string, bytes: number): DayFile {
  const lower = name.toLowerCase();
  const base = { name, path, bytes };
  if (lower.endsWith('.csv') || lower.endsWith('.parquet')) {
    const kind: FileKind = lower.endsWith('.csv') ? 'csv' : 'parquet';
    const stem = name.slice(0, name.length - (kind === 'csv' ? 4 : 8));
    const type = TABLES.get(stem) ?? null;
    return type
      ? { ...base, kind, recordType: type, verdict: 'read', detail: '' }
      : { ...base, kind, recordType: null, verdict: 'unknown', detail: `no record type is named ${stem} (expected one of ${[...TABLES.keys()].join(', ')})` };
  }
  if (lower.endsWith('.xml') || lower.endsWith('.xml.gz')) {
    // the first 4 KiB hold the root of any ordinary message; 64 KiB only where they do not (a long
    // comment or prolog): decoding 64 KiB of each of 39,000 files cost the main thread ~15 s
    const root = sniffRoot(head(path, 4096)) ?? sniffRoot(head(path));
    if (!root) return { ...base, kind: 'xml', recordType: null, verdict: 'read', detail: 'root element not found in the first bytes' };
    if (root.namespace === CEB_NAMESPACE && /^CEB\d{3}Message$/.test(root.local)) {
      const type = MESSAGE_ROOTS[root.local];
      return type
        ? { ...base, kind: 'xml', recordType: type, verdict: 'read', detail: root.local }
        : { ...base, kind: 'xml', recordType: null, verdict: 'skipped', detail: `${root.local} is not read by the matching` };
    }
    // a wrong root or namespace: the reader quarantines it with the exact reason
    return { ...base, kind: 'xml', recordType: null, verdict: 'read', detail: `root ${root.local} in namespace ${root.namespace ?? '(none)'}` };
  }
  return { ...base, kind: 'xml', recordType: null, verdict: 'unknown', detail: 'not .xml, .xml.gz, .csv or .parquet' };
}

/** Every file of a day folder, sorted by name, classified. Sub-folders and hidden files are reported as unknown. */
export function discover(dir: string): DayFile[] {
  const out: DayFile[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const path = join(dir, e.name);
    if (!e.isFile()) {
      out.push({ name: e.name, path, bytes: 0, kind: 'xml', recordType: null, verdict: 'unknown', detail: 'not a regular file' });
      continue;
    }
    out.push(classify(e.name, path, statSync(path).size));
  }
  return out;
}
